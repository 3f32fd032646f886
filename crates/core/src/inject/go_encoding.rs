//! What Kruise's patch writes that the settings do not: the empty structs of Go's encoding.
//!
//! Kruise's Pod webhook answers with the difference between two `json.Marshal`s of its Go Pod
//! (`pkg/webhook/pod/mutating/pod_create_update_handler.go` `Handle`, `PatchResponseFromRaw`), so
//! a container or volume it adds is written the way Go writes the struct, and `omitempty` never
//! omits a struct: a container without resources carries `"resources": {}`, a `resourceFieldRef`
//! without a divisor `"divisor": "0"` (a `resource.Quantity`), an ephemeral volume's claim
//! template `"metadata": {"creationTimestamp": null}`. The API server stores the same Pod either
//! way (it decodes the patched object into the same structs); writing them too makes the policy's
//! patch the one Kruise sends, byte for byte. Only what this set adds goes through here: the
//! Pod's own containers and volumes are left as they came.

use serde_json::{Map, Value, json};

/// An injected container: `resources` and every env var's `resourceFieldRef.divisor`.
pub(crate) fn container(c: &mut Map<String, Value>) {
    if c.get("resources").is_none_or(Value::is_null) {
        c.insert("resources".into(), json!({}));
    }
    for e in c
        .get_mut("env")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        divisor(e.pointer_mut("/valueFrom/resourceFieldRef"));
    }
}

/// An injected volume: the divisors of its downward API items (plain or projected), and an
/// ephemeral volume's claim template metadata.
pub(crate) fn volume(v: &mut Value) {
    downward_api_items(v.pointer_mut("/downwardAPI/items"));
    for source in v
        .pointer_mut("/projected/sources")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        downward_api_items(source.pointer_mut("/downwardAPI/items"));
    }
    if let Some(Value::Object(template)) = v.pointer_mut("/ephemeral/volumeClaimTemplate") {
        // ObjectMeta is a struct; its zero CreationTimestamp encodes as null.
        let metadata = template.entry("metadata").or_insert_with(|| json!({}));
        if let Value::Object(m) = metadata
            && !m.contains_key("creationTimestamp")
        {
            m.insert("creationTimestamp".into(), Value::Null);
        }
    }
}

fn downward_api_items(items: Option<&mut Value>) {
    for item in items.and_then(Value::as_array_mut).into_iter().flatten() {
        divisor(item.get_mut("resourceFieldRef"));
    }
}

fn divisor(field_ref: Option<&mut Value>) {
    if let Some(Value::Object(r)) = field_ref
        && r.get("divisor").is_none_or(Value::is_null)
    {
        r.insert("divisor".into(), json!("0"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_gets_go_empty_structs_and_keeps_what_it_has() {
        let mut c = json!({
            "name": "c",
            "env": [
                {"name": "A", "value": "1"},
                {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
                {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
            ],
        });
        container(c.as_object_mut().unwrap());
        assert_eq!(c["resources"], json!({}));
        assert_eq!(c["env"][0], json!({"name": "A", "value": "1"}));
        assert_eq!(c["env"][1]["valueFrom"]["resourceFieldRef"]["divisor"], "0");
        assert_eq!(
            c["env"][2]["valueFrom"]["resourceFieldRef"]["divisor"],
            "1Mi"
        );

        let mut limited = json!({"name": "c", "resources": {"limits": {"cpu": "1"}}});
        container(limited.as_object_mut().unwrap());
        assert_eq!(limited["resources"], json!({"limits": {"cpu": "1"}}));
        assert!(limited.get("env").is_none());
    }

    #[test]
    fn a_volume_gets_divisors_and_claim_template_metadata() {
        let item = json!({"path": "cpu", "resourceFieldRef": {"containerName": "c", "resource": "limits.cpu"}});
        let mut v = json!({
            "name": "v",
            "downwardAPI": {"items": [item.clone(), {"path": "n", "fieldRef": {"fieldPath": "metadata.name"}}]},
        });
        volume(&mut v);
        assert_eq!(
            v["downwardAPI"]["items"][0]["resourceFieldRef"]["divisor"],
            "0"
        );
        assert!(
            v["downwardAPI"]["items"][1]
                .get("resourceFieldRef")
                .is_none()
        );

        let mut p = json!({"name": "p", "projected": {"sources": [{"downwardAPI": {"items": [item]}}, {"configMap": {"name": "x"}}]}});
        volume(&mut p);
        assert_eq!(
            p["projected"]["sources"][0]["downwardAPI"]["items"][0]["resourceFieldRef"]["divisor"],
            "0"
        );
        assert_eq!(
            p["projected"]["sources"][1],
            json!({"configMap": {"name": "x"}})
        );

        let mut e = json!({"name": "e", "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}}});
        volume(&mut e);
        assert_eq!(
            e["ephemeral"]["volumeClaimTemplate"]["metadata"],
            json!({"creationTimestamp": null})
        );
        let mut labelled = json!({"name": "e", "ephemeral": {"volumeClaimTemplate": {"metadata": {"labels": {"a": "b"}}, "spec": {}}}});
        volume(&mut labelled);
        assert_eq!(
            labelled["ephemeral"]["volumeClaimTemplate"]["metadata"],
            json!({"labels": {"a": "b"}, "creationTimestamp": null})
        );

        let mut plain = json!({"name": "x", "emptyDir": {}});
        volume(&mut plain);
        assert_eq!(plain, json!({"name": "x", "emptyDir": {}}));
    }
}
