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
use sidecarset_core::SidecarSet;

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

/// One SidecarSet to reconcile, whatever its source.
#[derive(Clone, Debug)]
pub struct Target {
    /// The policy's name, or `file:<set name>` for `--settings`.
    pub key: String,
    /// The policy object, when there is one: status and Events go to it.
    pub policy: Option<DynamicObject>,
    pub generation: i64,
    /// The set, or why the settings are not usable.
    pub set: std::result::Result<SidecarSet, String>,
}

impl Target {
    pub fn from_policy(obj: &DynamicObject) -> Target {
        let key = obj.metadata.name.clone().unwrap_or_default();
        let set = match obj.data.pointer("/spec/settings") {
            None | Some(Value::Null) => Err("spec.settings is missing".to_string()),
            Some(settings) => SidecarSet::new(settings).map_err(|e| e.to_string()),
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
        let set = SidecarSet::new(&settings).map_err(|e| e.to_string());
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
}

/// The set name a policy declares, read without validating everything (the Pod → policy mapping
/// runs on every Pod event and must stay cheap).
pub fn declared_set_name(obj: &DynamicObject) -> Option<&str> {
    obj.data
        .pointer("/spec/settings/name")
        .and_then(Value::as_str)
}
