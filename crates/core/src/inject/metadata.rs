//! `patchPodMetadata` (docs/injection.md#patchpodmetadata): annotations written before the sidecars
//! are built.

use serde_json::{Map, Value};

use crate::error::InjectError;
use crate::settings::{PATCH_MERGE_JSON, PATCH_OVERWRITE, PatchPodMetadata};

pub fn apply(
    patches: &[PatchPodMetadata],
    annotations: &mut Map<String, Value>,
) -> Result<(), InjectError> {
    for (i, p) in patches.iter().enumerate() {
        for (key, value) in &p.annotations {
            let existing = annotations.get(key).and_then(Value::as_str).unwrap_or("");
            let new = match p.patch_policy.as_deref().unwrap_or("") {
                PATCH_OVERWRITE => value.clone(),
                PATCH_MERGE_JSON if !existing.is_empty() => merge_patch_json(existing, value)
                    .map_err(|message| InjectError::Setting {
                        field: format!("metadata.annotations[{key}]"),
                        setting: format!("patchPodMetadata[{i}].annotations[{key}]"),
                        message,
                    })?,
                // Retain, and MergePatchJson onto an absent or empty value: only fill what is missing.
                _ if annotations.contains_key(key) && !existing.is_empty() => continue,
                _ => value.clone(),
            };
            annotations.insert(key.clone(), Value::String(new));
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
    fn invalid_existing_json_names_the_pod_field_and_the_setting() {
        let mut a = Map::new();
        a.insert("k".into(), "{broken".into());
        let err = apply(&[patch("MergePatchJson", &[("k", "{}")])], &mut a).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("pod metadata.annotations[k]: existing value is not JSON"),
            "{msg}"
        );
        assert!(
            msg.ends_with("(setting patchPodMetadata[0].annotations[k])"),
            "{msg}"
        );
    }
}
