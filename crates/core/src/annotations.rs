//! The Pod annotations SidecarSet reads and writes, with Kruise's keys and JSON shapes
//! (docs/hashes-and-annotations.md#pod-annotations), so that Pods injected by Kruise and by this
//! policy are interchangeable.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const HASH: &str = "kruise.io/sidecarset-hash";
pub const HASH_WITHOUT_IMAGE: &str = "kruise.io/sidecarset-hash-without-image";
pub const INJECTED_LIST: &str = "kruise.io/sidecarset-injected-list";
pub const WORKING_HOT_UPGRADE: &str = "kruise.io/sidecarset-working-hotupgrade-container";
pub const INPLACE_UPDATE_STATE: &str = "kruise.io/sidecarset-inplace-update-state";

pub fn version_key(container: &str) -> String {
    format!("version.sidecarset.kruise.io/{container}")
}
pub fn version_alt_key(container: &str) -> String {
    format!("versionalt.sidecarset.kruise.io/{container}")
}

/// One set's entry in `kruise.io/sidecarset-hash` (Go's `SidecarSetUpgradeSpec`; field order is Go's).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HashEntry {
    /// `metav1.Time`: RFC 3339 in UTC, or `null` for a legacy entry.
    #[serde(default)]
    pub update_timestamp: Option<String>,
    #[serde(default)]
    pub hash: String,
    #[serde(default)]
    pub sidecar_set_name: String,
    /// Go's nil slice prints `null`; a set with only plain init containers has `[]`.
    #[serde(default)]
    pub sidecar_list: Option<Vec<String>>,
    #[serde(
        default,
        rename = "controllerRevision",
        skip_serializing_if = "String::is_empty"
    )]
    pub controller_revision: String,
}

/// A hash annotation's entries by set name (Kruise's `map[string]SidecarSetUpgradeSpec`), sorted as
/// Go encodes a map.
pub type HashEntries = BTreeMap<String, HashEntry>;

/// Reads a hash annotation: the current shape, or the legacy `{"<set>": "<hash>"}` which is converted.
/// Anything else is an error, as in Kruise (the Pod is refused rather than its history guessed).
pub fn parse_hash_map(raw: &str) -> Result<HashEntries, String> {
    if raw.trim().is_empty() {
        return Ok(HashEntries::new());
    }
    let value: Value = serde_json::from_str(raw).map_err(|e| format!("is not JSON: {e}"))?;
    let Value::Object(obj) = value else {
        return Err("must be a JSON object keyed by SidecarSet name".to_string());
    };
    let mut out = HashEntries::new();
    for (name, v) in obj {
        let entry = match v {
            Value::String(hash) => HashEntry {
                sidecar_set_name: name.clone(),
                hash,
                ..Default::default()
            },
            Value::Object(_) => {
                serde_json::from_value(v).map_err(|e| format!("entry {name:?}: {e}"))?
            }
            other => {
                return Err(format!(
                    "entry {name:?} must be an object or a string, got {other}"
                ));
            }
        };
        out.insert(name, entry);
    }
    Ok(out)
}

pub fn encode_hash_map(map: &HashEntries) -> String {
    // BTreeMap keys are sorted like Go's map encoding; struct fields keep Go's order.
    serde_json::to_string(map).unwrap_or_default()
}

/// `kruise.io/sidecarset-injected-list`: comma-joined, sorted, de-duplicated set names.
pub fn merge_injected_list(existing: Option<&str>, name: &str) -> String {
    let mut names = parse_injected_list(existing.unwrap_or(""));
    names.push(name);
    names.sort_unstable();
    names.dedup();
    names.join(",")
}

pub fn parse_injected_list(raw: &str) -> Vec<&str> {
    raw.split(',').filter(|s| !s.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_entries_are_converted_to_the_current_shape() {
        let m = parse_hash_map(r#"{"old":"abc"}"#).unwrap();
        assert_eq!(
            encode_hash_map(&m),
            r#"{"old":{"updateTimestamp":null,"hash":"abc","sidecarSetName":"old","sidecarList":null}}"#
        );
    }

    #[test]
    fn current_entries_round_trip_in_go_field_order() {
        let raw = r#"{"a":{"updateTimestamp":"2026-07-01T10:00:00Z","hash":"h","sidecarSetName":"a","sidecarList":["x"],"controllerRevision":"a-1"}}"#;
        assert_eq!(encode_hash_map(&parse_hash_map(raw).unwrap()), raw);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_hash_map("not json").is_err());
        assert!(parse_hash_map("[1]").is_err());
        assert!(parse_hash_map(r#"{"a":1}"#).is_err());
    }

    #[test]
    fn injected_list_is_sorted_and_unique() {
        assert_eq!(merge_injected_list(Some("b,a"), "a"), "a,b");
        assert_eq!(merge_injected_list(None, "x"), "x");
    }
}
