//! A Kruise `SidecarSet` object (`apps.kruise.io/v1alpha1` or `v1beta1`) as this project's
//! settings: the `spec` at the top level plus `name`, which is what a policy carries
//! ([`settings_from_object`], what `sidecarset-reconciler migrate` is built on), and back
//! ([`object_from_settings`], the SidecarSet a Kruise user would create: what the Kruise parity
//! tests give Kruise's own webhooks).
//!
//! v1alpha1 objects are converted as Kruise's conversion webhook converts them to v1beta1
//! (`apis/apps/v1alpha1/sidecarset_conversion.go` `ConvertTo`): a non-empty `spec.namespace` becomes
//! `namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: <ns>}}` and wins over a
//! `namespaceSelector` beside it, and the label `apps.kruise.io/sidecarset-custom-version` becomes
//! `customVersion`.

use serde_json::{Map, Value, json};

use crate::SidecarSet;

pub const GROUP: &str = "apps.kruise.io";
/// v1alpha1's home of `customVersion`.
pub const CUSTOM_VERSION_LABEL: &str = "apps.kruise.io/sidecarset-custom-version";
/// Kruise's label for a Namespace's name (set by the API server since Kubernetes 1.21).
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";
/// Canary SidecarSets exist only on Kruise's master branch; this project has none.
const CANARY_ANNOTATIONS: [&str; 2] = [
    "apps.kruise.io/sidecarset-canary",
    "apps.kruise.io/sidecarset-base",
];

/// A SidecarSet's settings, and what the conversion could not carry over.
#[derive(Clone, Debug, PartialEq)]
pub struct Converted {
    /// The SidecarSet's name (`metadata.name`), also `settings.name`.
    pub name: String,
    pub settings: Value,
    /// Things a user should know before relying on the settings (dropped fields, ignored
    /// annotations), one sentence each.
    pub notes: Vec<String>,
}

/// Why an object cannot become settings. The message names the field and what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotASidecarSet(pub String);

/// The settings for `object`, checked as the policy checks its settings.
pub fn settings_from_object(object: &Value) -> Result<Converted, NotASidecarSet> {
    let err = |m: String| Err(NotASidecarSet(m));
    let api_version = object["apiVersion"].as_str().unwrap_or("");
    let kind = object["kind"].as_str().unwrap_or("");
    let alpha = match api_version {
        "apps.kruise.io/v1alpha1" => true,
        "apps.kruise.io/v1beta1" => false,
        other => {
            return err(format!(
                "apiVersion: must be apps.kruise.io/v1alpha1 or apps.kruise.io/v1beta1, got {other:?}"
            ));
        }
    };
    if kind != "SidecarSet" {
        return err(format!("kind: must be SidecarSet, got {kind:?}"));
    }
    let Some(name) = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    else {
        return err("metadata.name: required (the set's name keys every Pod annotation)".into());
    };
    let mut spec = match object.get("spec") {
        Some(Value::Object(m)) => m.clone(),
        None | Some(Value::Null) => Map::new(),
        Some(_) => return err(format!("SidecarSet {name}: spec: must be an object")),
    };
    let mut notes = Vec::new();
    if alpha {
        from_v1alpha1(object, &mut spec, &mut notes);
    }
    if let Some(Value::Object(pin)) = spec
        .get("injectionStrategy")
        .and_then(|s| s.get("revision"))
    {
        let what = match (pin.get("revisionName"), pin.get("customVersion")) {
            (Some(Value::String(n)), _) => format!("ControllerRevision {n}"),
            (_, Some(Value::String(v))) => {
                format!("the ControllerRevisions labelled {CUSTOM_VERSION_LABEL}={v}")
            }
            _ => "the pinned ControllerRevision".to_string(),
        };
        notes.push(format!(
            "injectionStrategy.revision pins {what}, which Kruise keeps in its own namespace \
             (kruise-system) and deletes with the SidecarSet; the policy reads it in revisionNamespace \
             (default sidecarset-system), where the reconciler records only the current settings: \
             copy it there before Pods are created through the policy and before Kruise's \
             SidecarSets are removed, or every Pod the set matches is refused"
        ));
    }
    let annotations = object.pointer("/metadata/annotations");
    for key in CANARY_ANNOTATIONS {
        if annotations.and_then(|a| a.get(key)).is_some() {
            notes.push(format!(
                "annotation {key} ignored: canary SidecarSets are not part of Kruise v1.9 nor of this \
                 project; the set is converted as an ordinary one"
            ));
        }
    }
    let mut settings = Map::new();
    settings.insert("name".into(), json!(name));
    settings.extend(spec);
    let settings = Value::Object(settings);
    if let Err(e) = SidecarSet::new(&settings) {
        return err(format!("SidecarSet {name}: {e}"));
    }
    Ok(Converted {
        name: name.to_string(),
        settings,
        notes,
    })
}

/// The v1beta1 SidecarSet with these settings: `name` becomes `metadata.name`, the rest the `spec`,
/// except v1alpha1's `namespace`, which becomes the `namespaceSelector` Kruise's conversion makes of
/// it, and this project's own keys: `allowedPatchPodMetadataKeys` (Kruise keeps that list in its
/// cluster-wide configuration ConfigMap) and `revisionNamespace` (Kruise reads revisions in its own
/// namespace).
pub fn object_from_settings(settings: &Value) -> Value {
    let mut spec = settings.as_object().cloned().unwrap_or_default();
    let name = spec.remove("name").unwrap_or(Value::Null);
    spec.remove("allowedPatchPodMetadataKeys");
    spec.remove("revisionNamespace");
    if let Some(ns) = spec.remove("namespace").filter(|n| n.as_str() != Some("")) {
        spec.insert(
            "namespaceSelector".into(),
            json!({"matchLabels": {NAMESPACE_NAME_LABEL: ns}}),
        );
    }
    json!({
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "SidecarSet",
        "metadata": {"name": name},
        "spec": spec,
    })
}

fn from_v1alpha1(object: &Value, spec: &mut Map<String, Value>, notes: &mut Vec<String>) {
    match spec.remove("namespace") {
        Some(Value::String(ns)) if !ns.is_empty() => {
            if spec.contains_key("namespaceSelector") {
                notes.push(format!(
                    "spec.namespaceSelector dropped: spec.namespace {ns:?} wins, as in Kruise's \
                     v1alpha1 conversion"
                ));
            }
            spec.insert(
                "namespaceSelector".into(),
                json!({"matchLabels": {NAMESPACE_NAME_LABEL: ns}}),
            );
        }
        _ => {}
    }
    if let Some(v) = object
        .pointer("/metadata/labels")
        .and_then(|l| l.get(CUSTOM_VERSION_LABEL))
        .and_then(Value::as_str)
    {
        spec.insert("customVersion".into(), json!(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filebeat(api_version: &str) -> Value {
        json!({
            "apiVersion": api_version,
            "kind": "SidecarSet",
            "metadata": {"name": "filebeat", "resourceVersion": "7"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "containers": [{"name": "filebeat", "image": "elastic/filebeat:7.16.2"}]
            },
            "status": {"matchedPods": 3}
        })
    }

    #[test]
    fn a_v1beta1_spec_becomes_the_settings_with_its_name() {
        let c = settings_from_object(&filebeat("apps.kruise.io/v1beta1")).unwrap();
        assert_eq!(c.name, "filebeat");
        assert_eq!(
            c.settings,
            json!({
                "name": "filebeat",
                "selector": {"matchLabels": {"app": "web"}},
                "containers": [{"name": "filebeat", "image": "elastic/filebeat:7.16.2"}]
            })
        );
        assert!(c.notes.is_empty());
    }

    #[test]
    fn v1alpha1_namespace_and_custom_version_label_are_converted_as_kruise_does() {
        let mut o = filebeat("apps.kruise.io/v1alpha1");
        o["spec"]["namespace"] = json!("shop");
        o["spec"]["namespaceSelector"] = json!({"matchLabels": {"team": "a"}});
        o["metadata"]["labels"] = json!({CUSTOM_VERSION_LABEL: "v2"});
        let c = settings_from_object(&o).unwrap();
        assert_eq!(
            c.settings["namespaceSelector"],
            json!({"matchLabels": {"kubernetes.io/metadata.name": "shop"}})
        );
        assert!(c.settings.get("namespace").is_none());
        assert_eq!(c.settings["customVersion"], "v2");
        assert_eq!(c.notes.len(), 1);
        assert!(c.notes[0].starts_with("spec.namespaceSelector dropped"));
    }

    #[test]
    fn an_empty_v1alpha1_namespace_keeps_the_selector() {
        let mut o = filebeat("apps.kruise.io/v1alpha1");
        o["spec"]["namespace"] = json!("");
        o["spec"]["namespaceSelector"] = json!({"matchLabels": {"team": "a"}});
        let c = settings_from_object(&o).unwrap();
        assert_eq!(
            c.settings["namespaceSelector"],
            json!({"matchLabels": {"team": "a"}})
        );
        assert!(c.notes.is_empty());
    }

    #[test]
    fn wrong_objects_and_invalid_specs_say_which_field() {
        let e = |o: Value| settings_from_object(&o).unwrap_err().0;
        assert_eq!(
            e(json!({"apiVersion": "apps/v1", "kind": "Deployment"})),
            "apiVersion: must be apps.kruise.io/v1alpha1 or apps.kruise.io/v1beta1, got \"apps/v1\""
        );
        let mut o = filebeat("apps.kruise.io/v1beta1");
        o["kind"] = json!("CloneSet");
        assert_eq!(e(o), "kind: must be SidecarSet, got \"CloneSet\"");
        let mut o = filebeat("apps.kruise.io/v1beta1");
        o["metadata"] = json!({});
        assert!(e(o).starts_with("metadata.name: required"));
        let mut o = filebeat("apps.kruise.io/v1beta1");
        o["spec"]["containers"][0]["podInjectPolicy"] = json!("Sometimes");
        let m = e(o);
        assert!(
            m.starts_with("SidecarSet filebeat: ") && m.contains("containers[0].podInjectPolicy"),
            "{m}"
        );
    }

    #[test]
    fn settings_and_objects_convert_both_ways() {
        let o = filebeat("apps.kruise.io/v1beta1");
        let c = settings_from_object(&o).unwrap();
        let back = object_from_settings(&c.settings);
        assert_eq!(back["metadata"], json!({"name": "filebeat"}));
        assert_eq!(back["spec"], o["spec"]);
        let mut s = c.settings.clone();
        s["namespace"] = json!("shop");
        s["allowedPatchPodMetadataKeys"] = json!(["^a$"]);
        s["revisionNamespace"] = json!("kruise-system");
        let back = object_from_settings(&s);
        assert_eq!(
            back["spec"]["namespaceSelector"],
            json!({"matchLabels": {"kubernetes.io/metadata.name": "shop"}})
        );
        assert!(back["spec"].get("namespace").is_none());
        assert!(back["spec"].get("allowedPatchPodMetadataKeys").is_none());
        assert!(back["spec"].get("revisionNamespace").is_none());
    }

    #[test]
    fn a_pinned_revision_is_noted_with_where_the_policy_reads_it() {
        let mut o = filebeat("apps.kruise.io/v1beta1");
        o["spec"]["injectionStrategy"] =
            json!({"revision": {"revisionName": "filebeat-6f7887fffd", "policy": "Always"}});
        let c = settings_from_object(&o).unwrap();
        assert_eq!(c.notes.len(), 1, "{:?}", c.notes);
        assert!(
            c.notes[0].starts_with("injectionStrategy.revision pins ControllerRevision filebeat-6f7887fffd, which Kruise keeps in its own namespace (kruise-system)"),
            "{}",
            c.notes[0]
        );
        o["spec"]["injectionStrategy"] = json!({"revision": {"customVersion": "stable"}});
        let c = settings_from_object(&o).unwrap();
        assert!(c.notes[0].contains(&format!("labelled {CUSTOM_VERSION_LABEL}=stable")));
    }

    #[test]
    fn canary_annotations_are_noted() {
        let mut o = filebeat("apps.kruise.io/v1beta1");
        o["metadata"]["annotations"] = json!({"apps.kruise.io/sidecarset-canary": "true"});
        let c = settings_from_object(&o).unwrap();
        assert_eq!(c.notes.len(), 1);
        assert!(c.notes[0].contains("canary"));
    }
}
