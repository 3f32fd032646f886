//! The `SidecarSetUpgradable` Pod condition (docs/upgrade-planning.md#the-upgradable-condition):
//! informational, shared by every set on the Pod through a JSON message `{"<set>": true|false, …}`.

use serde_json::{Map, Value, json};

use super::pod::str_at;

pub const CONDITION_TYPE: &str = "SidecarSetUpgradable";
const REASON_ALL: &str = "AllSidecarsetUpgradable";
const REASON_SOME: &str = "UpdateImmutableField";

/// The condition the Pod should carry once `set_name` is marked `upgradable`, or `None` when the
/// Pod's current condition already says so (Kruise patches only on change).
///
/// `old` is the Pod's current condition of this type, if any. `lastTransitionTime` becomes `now` only
/// when the condition is new or its status flips. An existing message that is not a JSON object is
/// an error, as in Kruise (whose round then stops): overwriting it would drop other sets' marks.
pub fn upgradable_condition(
    old: Option<&Value>,
    set_name: &str,
    upgradable: bool,
    now: &str,
) -> Result<Option<Value>, String> {
    let mut marks: Map<String, Value> = match old.map(|c| str_at(c, "message")).unwrap_or("") {
        "" => Map::new(),
        msg => match serde_json::from_str::<Value>(msg) {
            Ok(Value::Object(m)) => m,
            // Go decodes `null` into a nil map; treat it as empty rather than fail.
            Ok(Value::Null) => Map::new(),
            Ok(_) => {
                return Err(format!(
                    "message of condition {CONDITION_TYPE} is not a JSON object"
                ));
            }
            Err(e) => {
                return Err(format!(
                    "message of condition {CONDITION_TYPE} is not JSON: {e}"
                ));
            }
        },
    };
    marks.insert(set_name.to_string(), Value::Bool(upgradable));
    // Kruise: `v == false` on interface{} values, so only a JSON `false` counts as not upgradable.
    let all = !marks.values().any(|v| *v == Value::Bool(false));
    let (status, reason) = if all {
        ("True", REASON_ALL)
    } else {
        ("False", REASON_SOME)
    };
    let mut message = String::new();
    crate::gojson::write_go_interface(&mut message, &Value::Object(marks));

    let mut cond = match old {
        Some(Value::Object(o)) => o.clone(),
        _ => Map::new(),
    };
    let same_status = old.is_some_and(|c| str_at(c, "status") == status);
    if let Some(o) = old
        && same_status
        && str_at(o, "reason") == reason
        && str_at(o, "message") == message
    {
        return Ok(None);
    }
    cond.insert("type".into(), json!(CONDITION_TYPE));
    cond.insert("status".into(), json!(status));
    cond.insert("reason".into(), json!(reason));
    cond.insert("message".into(), json!(message));
    if !same_status || !cond.contains_key("lastTransitionTime") {
        cond.insert("lastTransitionTime".into(), json!(now));
    }
    Ok(Some(Value::Object(cond)))
}

/// The strategic merge patch for the Pod's `status` subresource that sets `condition`
/// (conditions merge by `type`), guarded by the `resourceVersion` the condition was computed from.
///
/// The message carries every set's mark, merged from the Pod as read: without the guard, two sets
/// marking one Pod at once would each write their merge and the last would drop the other's entry.
/// A `resourceVersion` in a patch is a precondition for kube-apiserver (409 Conflict when the Pod
/// moved on), so a lost race is a conflict, and the next round merges again from the newer Pod
/// (Kruise's `updatePodSidecarSetUpgradableCondition` re-reads the Pod for the same reason).
pub fn condition_patch(condition: &Value, resource_version: &str) -> Value {
    json!({"metadata": {"resourceVersion": resource_version}, "status": {"conditions": [condition]}})
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_patch_is_guarded_by_the_resource_version_it_was_merged_from() {
        let c = json!({"type": CONDITION_TYPE, "status": "True"});
        assert_eq!(
            condition_patch(&c, "42"),
            json!({"metadata": {"resourceVersion": "42"},
                   "status": {"conditions": [{"type": CONDITION_TYPE, "status": "True"}]}})
        );
    }

    use super::*;

    fn pod(conds: Value) -> Value {
        json!({"status": {"conditions": conds}})
    }

    /// The Pod's condition of our type, as the digest keeps it.
    fn ours(pod: &Value) -> Option<&Value> {
        pod.pointer("/status/conditions")?
            .as_array()?
            .iter()
            .find(|c| str_at(c, "type") == CONDITION_TYPE)
    }

    #[test]
    fn new_condition_then_no_change() {
        let p = pod(json!([]));
        let c = upgradable_condition(ours(&p), "b", false, "T1")
            .unwrap()
            .unwrap();
        assert_eq!(
            c,
            json!({"type": CONDITION_TYPE, "status": "False", "reason": REASON_SOME,
                   "message": "{\"b\":false}", "lastTransitionTime": "T1"})
        );
        let again = pod(json!([c]));
        assert_eq!(
            upgradable_condition(ours(&again), "b", false, "T2").unwrap(),
            None
        );
    }

    #[test]
    fn marks_are_shared_and_sorted_and_transition_time_moves_on_flip_only() {
        let p = pod(
            json!([{"type": CONDITION_TYPE, "status": "False", "reason": REASON_SOME,
                            "message": "{\"z\":true,\"a\":false}", "lastTransitionTime": "T0"}]),
        );
        let c = upgradable_condition(ours(&p), "m", true, "T1")
            .unwrap()
            .unwrap();
        assert_eq!(c["message"], "{\"a\":false,\"m\":true,\"z\":true}");
        assert_eq!(c["status"], "False");
        assert_eq!(c["lastTransitionTime"], "T0", "status unchanged");
        let c = upgradable_condition(ours(&p), "a", true, "T1")
            .unwrap()
            .unwrap();
        assert_eq!(c["status"], "True");
        assert_eq!(c["reason"], REASON_ALL);
        assert_eq!(c["lastTransitionTime"], "T1");
    }

    #[test]
    fn unreadable_message_is_an_error() {
        let p = pod(json!([{"type": CONDITION_TYPE, "status": "True", "message": "oops"}]));
        assert!(upgradable_condition(ours(&p), "a", true, "T").is_err());
    }
}
