//! `patchPodMetadata` (docs/injection.md#patchpodmetadata): Kruise's `PatchPodMetadata`
//! (`pkg/control/sidecarcontrol/util.go`), the one rule both injection (before the sidecars are built)
//! and the upgrade (re-applied with the new images) apply to a Pod's annotations.

use serde_json::{Map, Value};

use crate::settings::{PATCH_MERGE_JSON, PATCH_OVERWRITE, PATCH_RETAIN, PatchPodMetadata};

/// A Pod's annotations as the caller holds them (JSON at admission, a digest with edits in the
/// planner).
pub trait AnnotationsMut {
    /// A string annotation's value.
    fn get(&self, key: &str) -> Option<&str>;
    fn set(&mut self, key: &str, value: String);
}

impl AnnotationsMut for Map<String, Value> {
    fn get(&self, key: &str) -> Option<&str> {
        Map::get(self, key).and_then(Value::as_str)
    }

    fn set(&mut self, key: &str, value: String) {
        self.insert(key.to_string(), Value::String(value));
    }
}

/// A `MergePatchJson` entry that cannot apply.
#[derive(Debug, PartialEq)]
pub struct MergeError {
    /// The entry of `patchPodMetadata`.
    pub index: usize,
    pub key: String,
    pub message: String,
}

/// Applies each entry in order: `Retain` (the default) adds a key the Pod does not have,
/// `Overwrite` sets it, `MergePatchJson` merges into a non-empty value (else sets it). An unknown
/// policy does nothing, as in Kruise (validation refuses one).
pub fn apply(
    patches: &[PatchPodMetadata],
    annotations: &mut impl AnnotationsMut,
) -> Result<(), MergeError> {
    for (index, p) in patches.iter().enumerate() {
        for (key, value) in &p.annotations {
            let existing = annotations.get(key);
            let new = match p.patch_policy.as_deref().unwrap_or(PATCH_RETAIN) {
                PATCH_OVERWRITE => value.clone(),
                PATCH_MERGE_JSON => match existing.filter(|old| !old.is_empty()) {
                    Some(old) => merge_patch_json(old, value).map_err(|message| MergeError {
                        index,
                        key: key.clone(),
                        message,
                    })?,
                    None => value.clone(),
                },
                PATCH_RETAIN | "" if existing.is_none() => value.clone(),
                _ => continue,
            };
            annotations.set(key, new);
        }
    }
    Ok(())
}

/// RFC 7386 merge of `patch` onto `existing`, both JSON texts, re-encoded as Go's `json.Marshal` would
/// (compact, keys sorted, `<`, `>`, `&` escaped) so the annotation reads as Kruise writes it.
pub fn merge_patch_json(existing: &str, patch: &str) -> Result<String, String> {
    let doc: Value =
        serde_json::from_str(existing).map_err(|e| format!("existing value is not JSON: {e}"))?;
    let patch: Value =
        serde_json::from_str(patch).map_err(|e| format!("merge patch is not JSON: {e}"))?;
    if doc.is_null() || patch.is_null() {
        return Err("a JSON merge patch cannot merge null".to_string());
    }
    let mut merged = doc.clone();
    merge(&mut merged, &patch);
    if merged == doc {
        // Already merged (a second evaluation): keep the Pod's text rather than re-encode it, so that
        // evaluating an injected Pod again yields no patch. Kruise would rewrite it in Go's form.
        return Ok(existing.to_string());
    }
    let mut out = String::new();
    crate::gojson::write_go_interface(&mut out, &merged);
    Ok(out)
}

fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = prune_nulls(patch);
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

fn prune_nulls(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), prune_nulls(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn patch(policy: &str, pairs: &[(&str, &str)]) -> PatchPodMetadata {
        PatchPodMetadata {
            annotations: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            patch_policy: Some(policy.to_string()),
        }
    }

    #[test]
    fn policies() {
        let mut a = Map::new();
        a.insert("keep".into(), "pod".into());
        a.insert("over".into(), "pod".into());
        a.insert("merge".into(), r#"{"app":1,"drop":true}"#.into());
        apply(
            &[
                patch("Retain", &[("keep", "set"), ("new", "set")]),
                patch("Overwrite", &[("over", "set")]),
                patch(
                    "MergePatchJson",
                    &[
                        ("merge", r#"{"log-agent":2,"drop":null}"#),
                        ("fresh", r#"{"a":1}"#),
                    ],
                ),
            ],
            &mut a,
        )
        .unwrap();
        assert_eq!(a["keep"], "pod");
        assert_eq!(a["new"], "set");
        assert_eq!(a["over"], "set");
        assert_eq!(a["merge"], r#"{"app":1,"log-agent":2}"#);
        assert_eq!(a["fresh"], r#"{"a":1}"#);
    }

    #[test]
    fn merge_patch_edge_cases() {
        assert_eq!(
            merge_patch_json("[1]", r#"{"a":null,"b":"<x>"}"#).unwrap(),
            r#"{"b":"\u003cx\u003e"}"#
        );
        assert_eq!(merge_patch_json(r#"{"a":1}"#, "2").unwrap(), "2");
        assert_eq!(
            merge_patch_json(r#"{ "b":2, "a":1 }"#, r#"{"a":1}"#).unwrap(),
            r#"{ "b":2, "a":1 }"#,
            "no-op merges keep the text"
        );
        assert!(merge_patch_json("null", "{}").is_err());
        assert!(merge_patch_json("{", "{}").is_err());
    }

    #[test]
    fn numbers_are_written_as_gos_float64() {
        // Kruise decodes both documents into interface{}: every number is a float64.
        assert_eq!(
            merge_patch_json(r#"{"a":1.0}"#, r#"{"b":1e21,"c":0.5}"#).unwrap(),
            r#"{"a":1,"b":1e+21,"c":0.5}"#
        );
    }

    #[test]
    fn a_merge_that_cannot_apply_names_the_entry_and_key() {
        let mut a = Map::new();
        a.insert("k".into(), "{broken".into());
        let err = apply(
            &[
                patch("Retain", &[("x", "1")]),
                patch("MergePatchJson", &[("k", "{}")]),
            ],
            &mut a,
        )
        .unwrap_err();
        assert_eq!((err.index, err.key.as_str()), (1, "k"));
        assert!(
            err.message.starts_with("existing value is not JSON"),
            "{}",
            err.message
        );
    }

    #[test]
    fn retain_keeps_a_present_key_even_when_empty() {
        // Kruise's `retainPatchPodMetadata` adds only keys the Pod does not have.
        let mut a = Map::new();
        a.insert("empty".into(), "".into());
        apply(
            &[patch("Retain", &[("empty", "set"), ("absent", "set")])],
            &mut a,
        )
        .unwrap();
        assert_eq!(a["empty"], "");
        assert_eq!(a["absent"], "set");
    }
}
