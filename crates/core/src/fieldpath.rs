//! `transferEnv[].sourceContainerNameFrom.fieldRef`: the name of the source container is read from a Pod
//! label or annotation. Kruise accepts only `metadata.labels['k']` and `metadata.annotations['k']`,
//! so two map lookups on the raw Pod read it; a JSONPath engine cost 150 KB of policy.wasm for this.

use serde_json::Value;

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

/// The string at `metadata.<labels|annotations>['key']` of the Pod, if any.
pub fn extract(pod: &Value, path: &str) -> Option<String> {
    let (kind, key) = parse_metadata_key_path(path).ok()?;
    pod.get("metadata")?
        .get(kind)?
        .get(key)?
        .as_str()
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
    }

    #[test]
    fn rejects_other_paths() {
        assert!(parse_metadata_key_path("metadata.name").is_err());
        assert!(parse_metadata_key_path("metadata.labels").is_err());
        assert!(parse_metadata_key_path("metadata.labels['a b']").is_err());
        assert!(parse_metadata_key_path("metadata.annotations['Main']").is_ok());
    }
}
