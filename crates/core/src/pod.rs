//! What injection and the upgrade planner both read of a Pod, whether as JSON (at admission) or as a
//! digest (in the planner): written once here.

use serde_json::Value;

/// Kubernetes' `IsPodActive` (`pkg/controller/controller_utils.go`), which Kruise's webhook and
/// controller both apply: not Succeeded, not Failed, not being deleted.
pub fn is_active(phase: &str, being_deleted: bool) -> bool {
    !matches!(phase, "Succeeded" | "Failed") && !being_deleted
}

/// [`is_active`] of a Pod as JSON.
pub fn is_active_json(pod: &Value) -> bool {
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("");
    let being_deleted = pod
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null());
    is_active(phase, being_deleted)
}

/// A label of a Pod as JSON (a non-string value is no label).
pub fn label<'a>(pod: &'a Value, key: &str) -> Option<&'a str> {
    pod.get("metadata")?.get("labels")?.get(key)?.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn active_is_neither_finished_nor_deleting() {
        assert!(is_active("Running", false));
        assert!(is_active("", false));
        assert!(!is_active("Succeeded", false));
        assert!(!is_active("Failed", false));
        assert!(!is_active("Pending", true));
        let pod = json!({"metadata": {"deletionTimestamp": null}, "status": {"phase": "Pending"}});
        assert!(is_active_json(&pod));
        let pod = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}});
        assert!(!is_active_json(&pod));
    }

    #[test]
    fn labels_are_strings_only() {
        let pod = json!({"metadata": {"labels": {"app": "web", "n": 1}}});
        assert_eq!(label(&pod, "app"), Some("web"));
        assert_eq!(label(&pod, "n"), None);
        assert_eq!(label(&json!({}), "app"), None);
    }
}
