//! Reading the labels of the Pod's Namespace for `namespaceSelector`.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Namespace;
use kubewarden_policy_sdk::host_capabilities::kubernetes::{GetResourceRequest, get_resource};

/// Where Namespace labels come from: the Kubewarden host in production, a fixture in tests.
pub trait NamespaceSource {
    fn labels(&self, namespace: &str) -> Result<BTreeMap<String, String>, String>;
}

/// The context-aware host call `kubernetes/get_resource` (needs `contextAwareResources` v1/Namespace).
pub struct HostNamespaces;

impl NamespaceSource for HostNamespaces {
    fn labels(&self, namespace: &str) -> Result<BTreeMap<String, String>, String> {
        let req = GetResourceRequest {
            api_version: "v1".to_string(),
            kind: "Namespace".to_string(),
            name: namespace.to_string(),
            namespace: None,
            // Served from the host's 5 s cache: a label change reaches injection within seconds.
            disable_cache: false,
            // Only labels are needed; hosts that know field masks send less.
            field_masks: Some(BTreeSet::from(["metadata.labels".to_string()])),
        };
        let ns: Namespace = get_resource(&req).map_err(|e| e.to_string())?;
        Ok(ns.metadata.labels.unwrap_or_default())
    }
}
