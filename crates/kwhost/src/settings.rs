//! Where `kwctl run` takes settings from.

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::files;

/// `--settings-path` wins over `--settings-json` (kwctl ignores the latter silently); neither
/// gives `null`, which becomes `{}` later.
pub fn load(settings_path: Option<&Path>, settings_json: Option<&str>) -> Result<Value> {
    if let Some(path) = settings_path {
        return from_yaml(&files::read_text(path, "settings file")?);
    }
    match settings_json {
        Some(text) => serde_json::from_str(text)
            .map_err(|e| Error::Input(format!("cannot parse settings JSON: {e}"))),
        None => Ok(Value::Null),
    }
}

/// YAML is a superset of JSON, which is why kwctl reads settings files as YAML.
pub fn from_yaml(text: &str) -> Result<Value> {
    serde_yaml::from_str(text).map_err(|e| Error::Input(format!("cannot parse settings: {e}")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn yaml_and_json_files() {
        assert_eq!(
            from_yaml("action: reject\nmessage: \"a & b\"\n").unwrap(),
            json!({"action": "reject", "message": "a & b"})
        );
        assert_eq!(
            from_yaml(r#"{"action": "accept"}"#).unwrap(),
            json!({"action": "accept"})
        );
        assert_eq!(from_yaml("- a\n- b\n").unwrap(), json!(["a", "b"]));
    }

    #[test]
    fn json_flag_and_none() {
        assert_eq!(load(None, Some(r#"{"a":1}"#)).unwrap(), json!({"a": 1}));
        assert_eq!(load(None, None).unwrap(), Value::Null);
    }
}
