//! Where a SidecarSet comes from: a Kubewarden `ClusterAdmissionPolicy` that opted in, or a file.
//!
//! The policy is read as a `DynamicObject`: only `metadata` and `spec.settings` matter here, and a
//! typed copy of Kubewarden's CRD would have to follow its schema for no gain.

use std::path::Path;

use kube::{
    api::{ApiResource, DynamicObject, GroupVersionKind},
    core::ObjectMeta,
};
use serde_json::Value;
use sidecarset_core::{SettingsErrors, SidecarSet};

use crate::{Error, Result};

/// Policies this reconciler acts on carry this label with the value `"true"`.
pub const RECONCILE_LABEL: &str = "sidecarset.kubewarden.io/reconcile";
/// The status annotation written on the policy (JSON of [`crate::status::SetStatus`]).
pub const STATUS_ANNOTATION: &str = "sidecarset.kubewarden.io/status";

pub fn api_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("policies.kubewarden.io", "v1", "ClusterAdmissionPolicy"),
        "clusteradmissionpolicies",
    )
}

/// The label selector that finds opted-in policies, plus the operator's own (tests use it to keep
/// several reconcilers apart on one API server).
pub fn policy_selector(extra: Option<&str>) -> String {
    match extra.filter(|s| !s.trim().is_empty()) {
        Some(e) => format!("{RECONCILE_LABEL}=true,{e}"),
        None => format!("{RECONCILE_LABEL}=true"),
    }
}

/// Why a target has no set: nothing is touched until the settings are fixed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SettingsProblem {
    #[error("spec.settings is missing")]
    Missing,
    /// Every problem validation found, each naming its field.
    #[error("{0}")]
    Invalid(#[from] SettingsErrors),
}

/// One SidecarSet to reconcile, whatever its source.
#[derive(Clone, Debug)]
pub struct Target {
    /// The policy's name, or `file:<set name>` for `--settings`.
    pub key: String,
    /// The policy object, when there is one: status and Events go to it.
    pub policy: Option<DynamicObject>,
    pub generation: i64,
    /// The set, or why the settings are not usable.
    pub set: std::result::Result<SidecarSet, SettingsProblem>,
}

impl Target {
    pub fn from_policy(obj: &DynamicObject) -> Target {
        let key = obj.metadata.name.clone().unwrap_or_default();
        let set = match obj.data.pointer("/spec/settings") {
            None | Some(Value::Null) => Err(SettingsProblem::Missing),
            Some(settings) => SidecarSet::new(settings).map_err(SettingsProblem::from),
        };
        Target {
            key,
            policy: Some(obj.clone()),
            generation: obj.metadata.generation.unwrap_or(0),
            set,
        }
    }

    /// `--settings FILE`: YAML or JSON, either the settings themselves or a whole policy object
    /// (whose `spec.settings` is used), so the file a user applies can be given as is.
    pub fn from_file(path: &Path) -> Result<Target> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::SettingsFile {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let doc: Value = serde_yaml::from_str(&text).map_err(|e| Error::SettingsFile {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let settings = doc.pointer("/spec/settings").cloned().unwrap_or(doc);
        let set = SidecarSet::new(&settings).map_err(SettingsProblem::from);
        let name = match &set {
            Ok(s) => s.name().to_string(),
            Err(_) => settings
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("unnamed")
                .to_string(),
        };
        Ok(Target {
            key: format!("file:{name}"),
            policy: None,
            generation: 0,
            set,
        })
    }

    pub fn set_name(&self) -> Option<&str> {
        self.set.as_ref().ok().map(SidecarSet::name)
    }

    pub fn metadata(&self) -> Option<&ObjectMeta> {
        self.policy.as_ref().map(|p| &p.metadata)
    }

    /// The policy's resourceVersion (`1` without a policy object): Kruise writes the SidecarSet's
    /// resourceVersion into the hot-upgrade version annotations, and the policy is this project's
    /// SidecarSet.
    pub fn set_version(&self) -> &str {
        self.metadata()
            .and_then(|m| m.resource_version.as_deref())
            .unwrap_or("1")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(settings: Option<Value>) -> DynamicObject {
        let mut obj = json!({
            "apiVersion": "policies.kubewarden.io/v1",
            "kind": "ClusterAdmissionPolicy",
            "metadata": {"name": "filebeat-sidecar", "generation": 4, "resourceVersion": "99",
                "labels": {RECONCILE_LABEL: "true"}},
            "spec": {"module": "registry://ghcr.io/sidecarset/policy:v0.1.0", "mutating": true},
        });
        if let Some(s) = settings {
            obj["spec"]["settings"] = s;
        }
        serde_json::from_value(obj).unwrap()
    }

    fn settings() -> Value {
        json!({"name": "filebeat", "selector": {"matchLabels": {"app": "web"}},
               "containers": [{"name": "filebeat", "image": "elastic/filebeat:7.16.3"}]})
    }

    #[test]
    fn a_policy_gives_its_name_generation_and_set() {
        let t = Target::from_policy(&policy(Some(settings())));
        assert_eq!(t.key, "filebeat-sidecar");
        assert_eq!(t.generation, 4);
        assert_eq!(t.set_name(), Some("filebeat"));
        assert_eq!(
            t.metadata().unwrap().resource_version.as_deref(),
            Some("99")
        );
        assert_eq!(t.set_version(), "99");
    }

    #[test]
    fn missing_or_invalid_settings_are_errors_naming_the_field() {
        let t = Target::from_policy(&policy(None));
        assert_eq!(t.set.unwrap_err(), SettingsProblem::Missing);
        assert_eq!(
            SettingsProblem::Missing.to_string(),
            "spec.settings is missing"
        );
        let mut bad = settings();
        bad["containers"][0]["image"] = json!("");
        let err = Target::from_policy(&policy(Some(bad)))
            .set
            .unwrap_err()
            .to_string();
        assert!(err.contains("containers[0].image"), "{err}");
    }

    #[test]
    fn a_settings_file_may_be_the_settings_or_the_whole_policy() {
        let dir =
            std::env::temp_dir().join(format!("sidecarset-policy-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bare = dir.join("settings.yaml");
        std::fs::write(&bare, serde_yaml::to_string(&settings()).unwrap()).unwrap();
        let whole = dir.join("policy.json");
        std::fs::write(
            &whole,
            serde_json::to_string(&policy(Some(settings()))).unwrap(),
        )
        .unwrap();
        for path in [&bare, &whole] {
            let t = Target::from_file(path).unwrap();
            assert_eq!(t.key, "file:filebeat");
            assert!(t.policy.is_none());
            assert!(t.set.is_ok(), "{:?}", t.set);
        }
        let missing = Target::from_file(&dir.join("nope.yaml")).unwrap_err();
        assert_eq!(missing.metric_label(), "settings_file");
        assert!(missing.to_string().contains("nope.yaml"), "{missing}");
        let broken = dir.join("broken.yaml");
        std::fs::write(&broken, "name: [unclosed").unwrap();
        assert!(Target::from_file(&broken).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_selector_always_requires_the_opt_in_label() {
        assert_eq!(
            policy_selector(None),
            "sidecarset.kubewarden.io/reconcile=true"
        );
        assert_eq!(
            policy_selector(Some("  ")),
            "sidecarset.kubewarden.io/reconcile=true"
        );
        assert_eq!(
            policy_selector(Some("team=a")),
            "sidecarset.kubewarden.io/reconcile=true,team=a"
        );
        let ar = api_resource();
        assert_eq!(ar.plural, "clusteradmissionpolicies");
        assert_eq!(ar.api_version, "policies.kubewarden.io/v1");
    }
}
