//! `transferEnv[].sourceContainerNameFrom.fieldRef`: the name of the source container is read from a Pod
//! label or annotation. Kruise accepts only `metadata.labels['k']` and `metadata.annotations['k']`
//! (Kubernetes' downward-API field paths); the path is checked in that grammar, then read from the raw
//! Pod as the equivalent RFC 9535 JSONPath (`$.metadata.labels['k']`) with `serde_json_path`.

use serde_json::Value;
use serde_json_path::JsonPath;

use crate::names;

/// Checks the path the way Kubernetes' `ConvertDownwardAPIFieldLabel` does for these two forms and
/// returns (`labels` | `annotations`, key).
pub fn parse_metadata_key_path(path: &str) -> Result<(&'static str, &str), String> {
    let hint = "must be metadata.labels['<key>'] or metadata.annotations['<key>']";
    let (kind, rest) = if let Some(r) = path.strip_prefix("metadata.labels[") {
        ("labels", r)
    } else if let Some(r) = path.strip_prefix("metadata.annotations[") {
        ("annotations", r)
    } else {
        return Err(format!("{hint}, got {path:?}"));
    };
    let key = rest
        .strip_suffix(']')
        .and_then(|k| k.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')))
        .ok_or_else(|| format!("{hint}, got {path:?}"))?;
    // Annotation keys are lower-cased before the check, as Kubernetes does.
    let checked = if kind == "annotations" {
        key.to_lowercase()
    } else {
        key.to_string()
    };
    names::qualified_name(&checked).map_err(|m| format!("key {m}"))?;
    Ok((kind, key))
}

/// The RFC 9535 JSONPath that reads a checked downward-API path from a Pod.
pub fn to_jsonpath(path: &str) -> Result<JsonPath, String> {
    let (kind, key) = parse_metadata_key_path(path)?;
    // A qualified name has no quote or backslash, so the key needs no escaping inside '...'.
    let query = format!("$.metadata.{kind}['{key}']");
    JsonPath::parse(&query).map_err(|e| format!("{query}: {e}"))
}

/// The string at `metadata.<labels|annotations>['key']` of the Pod, if any.
pub fn extract(pod: &Value, path: &str) -> Option<String> {
    let query = to_jsonpath(path).ok()?;
    query
        .query(pod)
        .at_most_one()
        .ok()
        .flatten()
        .and_then(Value::as_str)
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_labels_and_annotations() {
        let pod = json!({"metadata": {"labels": {"app.kubernetes.io/name": "web"}, "annotations": {"main": "nginx"}}});
        assert_eq!(
            extract(&pod, "metadata.labels['app.kubernetes.io/name']").as_deref(),
            Some("web")
        );
        assert_eq!(
            extract(&pod, "metadata.annotations['main']").as_deref(),
            Some("nginx")
        );
        assert_eq!(extract(&pod, "metadata.annotations['missing']"), None);
        // A label that is not a string is not a container name.
        let odd = json!({"metadata": {"labels": {"n": 3}}});
        assert_eq!(extract(&odd, "metadata.labels['n']"), None);
    }

    #[test]
    fn keys_with_dots_slashes_and_dashes_are_one_member_name() {
        let q = to_jsonpath("metadata.annotations['sidecar.kruise.io/main-container']").unwrap();
        let pod = json!({"metadata": {"annotations": {
            "sidecar.kruise.io/main-container": "app",
            "sidecar": {"kruise": "wrong"}
        }}});
        assert_eq!(
            q.query(&pod).exactly_one().ok().and_then(Value::as_str),
            Some("app")
        );
    }

    #[test]
    fn rejects_other_paths() {
        assert!(parse_metadata_key_path("metadata.name").is_err());
        assert!(parse_metadata_key_path("metadata.labels").is_err());
        assert!(parse_metadata_key_path("metadata.labels['a b']").is_err());
        assert!(parse_metadata_key_path("metadata.annotations['Main']").is_ok());
    }
}
