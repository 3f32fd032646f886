//! A revision's `data`: the bytes Kruise's `getPatch` (`pkg/control/sidecarcontrol/history_control.go`)
//! stores and hashes.
//!
//! `getPatch` encodes the whole SidecarSet with Go's `encoding/json`, decodes that into a
//! `map[string]interface{}`, copies five fields of `spec` (`copySidecarSetSpecRevision`) next to
//! `"$patch": "replace"`, and encodes the map again. So the bytes are Go's struct encoding (its
//! `omitempty` rules decide which keys exist) re-printed as a decoded document: object keys sorted at
//! every depth, every number a `float64`, a list that was empty or absent (`omitempty` dropped it) as
//! `null`. The containers are the defaulted ones, encoded by the same schema as the hash.

use serde_json::Value;

use crate::gojson::{SpecList, encode_list, write_go_interface};
use crate::settings::Settings;

/// The `data.raw` of the revision of `settings` (defaulted, as the SidecarSet is stored).
pub fn data(settings: &Settings) -> String {
    let containers = values(settings.containers.as_deref());
    let init_containers = values(settings.init_containers.as_deref());
    let volumes = values(settings.volumes.as_deref());
    let secrets = values(settings.image_pull_secrets.as_deref());
    let metadata = values(settings.patch_pod_metadata.as_deref());
    // Keys in Go's map order (sorted): `$` sorts before letters.
    let fields = [
        ("containers", SpecList::Containers, &containers),
        ("imagePullSecrets", SpecList::ImagePullSecrets, &secrets),
        ("initContainers", SpecList::Containers, &init_containers),
        ("patchPodMetadata", SpecList::PatchPodMetadata, &metadata),
        ("volumes", SpecList::Volumes, &volumes),
    ];
    let mut out = String::with_capacity(1024);
    out.push_str(r#"{"spec":{"$patch":"replace""#);
    for (key, kind, items) in fields {
        out.push_str(",\"");
        out.push_str(key);
        out.push_str("\":");
        write_field(&mut out, kind, items);
    }
    out.push_str("}}");
    out
}

/// The items of a list setting as JSON; `None` for an absent or empty list, which Go's `omitempty`
/// leaves out of the first encoding and the map lookup then reads as `nil`.
fn values<T: serde::Serialize>(list: Option<&[T]>) -> Option<Vec<Value>> {
    let list = list.filter(|l| !l.is_empty())?;
    Some(
        list.iter()
            .map(|item| serde_json::to_value(item).unwrap_or(Value::Null))
            .collect(),
    )
}

fn write_field(out: &mut String, kind: SpecList, items: &Option<Vec<Value>>) {
    let Some(items) = items else {
        out.push_str("null");
        return;
    };
    let encoded = encode_list(kind, Some(items));
    // The encoder writes valid JSON; were it ever not to, its text is still the best answer.
    match serde_json::from_str::<Value>(&encoded) {
        Ok(decoded) => write_go_interface(out, &decoded),
        Err(_) => out.push_str(&encoded),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SidecarSet;
    use serde_json::json;

    fn data_of(settings: Value) -> String {
        data(SidecarSet::new(&settings).unwrap().settings())
    }

    fn base() -> Value {
        json!({"name": "log", "selector": {"matchLabels": {"a": "b"}},
               "containers": [{"name": "c", "image": "busybox:1"}]})
    }

    #[test]
    fn the_defaulted_container_is_recorded_with_sorted_keys() {
        let d = data_of(base());
        assert_eq!(
            d,
            concat!(
                r#"{"spec":{"$patch":"replace","containers":[{"image":"busybox:1","imagePullPolicy":"IfNotPresent","#,
                r#""name":"c","podInjectPolicy":"BeforeAppContainer","resources":{},"shareVolumePolicy":{"type":"disabled"},"#,
                r#""terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","#,
                r#""upgradeStrategy":{"upgradeType":"ColdUpgrade"}}],"#,
                r#""imagePullSecrets":null,"initContainers":null,"patchPodMetadata":null,"volumes":null}}"#
            )
        );
    }

    #[test]
    fn an_empty_list_is_null_like_an_absent_one() {
        let mut s = base();
        s["volumes"] = json!([]);
        s["imagePullSecrets"] = json!([]);
        assert_eq!(data_of(s), data_of(base()));
    }

    #[test]
    fn volumes_secrets_and_metadata_are_go_encoded() {
        let mut s = base();
        s["containers"][0]["volumeMounts"] = json!([{"name": "v", "mountPath": "/v"}]);
        s["volumes"] = json!([
            {"name": "v", "emptyDir": {"sizeLimit": "1024Mi"}},
            {"name": "h", "hostPath": {"path": "/x"}},
            {"name": "n", "nfs": {"server": "s", "path": "/p", "readOnly": false}},
        ]);
        s["imagePullSecrets"] = json!([{"name": "reg"}]);
        s["patchPodMetadata"] = json!([{"annotations": {"b": "<2>", "a": "1"}}]);
        let d = data_of(s);
        // sizeLimit canonical as Go prints it; hostPath.type defaulted to "" and printed (a pointer);
        // nfs.readOnly false dropped (omitempty).
        assert!(
            d.contains(r#""volumes":[{"emptyDir":{"sizeLimit":"1Gi"},"name":"v"},{"hostPath":{"path":"/x","type":""},"name":"h"},{"name":"n","nfs":{"path":"/p","server":"s"}}]"#),
            "{d}"
        );
        assert!(d.contains(r#""imagePullSecrets":[{"name":"reg"}]"#), "{d}");
        assert!(
            d.contains(r#""patchPodMetadata":[{"annotations":{"a":"1","b":"\u003c2\u003e"},"patchPolicy":"Retain"}]"#),
            "{d}"
        );
    }

    #[test]
    fn numbers_go_through_float64() {
        let mut s = base();
        s["containers"][0]["ports"] = json!([{"containerPort": 8080}]);
        s["containers"][0]["securityContext"] = json!({"runAsUser": 9007199254740993_i64});
        let d = data_of(s);
        assert!(
            d.contains(r#""ports":[{"containerPort":8080,"protocol":"TCP"}]"#),
            "{d}"
        );
        assert!(d.contains(r#""runAsUser":9007199254740992"#), "{d}");
    }
}
