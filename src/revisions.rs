//! Reading the ControllerRevisions `injectionStrategy.revision` pins, through Kubewarden's
//! context-aware host calls (`metadata.yml` grants `apps/v1` ControllerRevision): `revisionName` with
//! `kubernetes/get_resource`, `customVersion` with `kubernetes/list_resources_by_namespace` and a
//! label selector, as Kruise's `getControllerRevision` gets or lists them.

use std::collections::BTreeSet;

use kubewarden_policy_sdk::host_capabilities::kubernetes::{
    GetResourceRequest, ListResourcesByNamespaceRequest, get_resource,
};
use kubewarden_policy_sdk::wapc_guest as guest;
use serde_json::Value;
use sidecarset_core::revision::pinned::RevisionSource;

const API_VERSION: &str = "apps/v1";
const KIND: &str = "ControllerRevision";

/// What a revision is read for: its name, hash annotations, number, age and data. Hosts that know
/// field masks send only these. A listing's labels were matched by the API server; a revision read by
/// name is checked for the set's label here.
fn masks(listing: bool) -> BTreeSet<String> {
    let mut m: BTreeSet<String> = ["metadata.name", "metadata.annotations", "data"]
        .map(String::from)
        .into();
    if listing {
        // The newest of several is chosen by number, then age, then name.
        m.extend(["revision", "metadata.creationTimestamp"].map(String::from));
    } else {
        m.insert("metadata.labels".to_string());
    }
    m
}

/// The Kubewarden host.
pub struct HostRevisions;

impl RevisionSource for HostRevisions {
    fn get(&self, namespace: &str, name: &str) -> Result<Value, String> {
        let req = GetResourceRequest {
            api_version: API_VERSION.to_string(),
            kind: KIND.to_string(),
            name: name.to_string(),
            namespace: Some(namespace.to_string()),
            // The host's short cache (5 s in policy-server) is as fresh as Kruise's informer.
            disable_cache: false,
            field_masks: Some(masks(false)),
        };
        get_resource::<Value>(&req).map_err(|e| e.to_string())
    }

    /// The SDK's `list_resources_by_namespace` decodes into a typed `List<T>`; the items are wanted
    /// as JSON, so the call is made here with the same request and the same error wording.
    fn list(&self, namespace: &str, label_selector: &str) -> Result<Vec<Value>, String> {
        const OPERATION: &str = "list_resources_by_namespace";
        let req = ListResourcesByNamespaceRequest {
            api_version: API_VERSION.to_string(),
            kind: KIND.to_string(),
            namespace: namespace.to_string(),
            label_selector: Some(label_selector.to_string()),
            field_selector: None,
            field_masks: Some(masks(true)),
        };
        let msg = serde_json::to_vec(&req).map_err(|e| e.to_string())?;
        let raw = guest::host_call("kubewarden", "kubernetes", OPERATION, &msg)
            .map_err(|e| format!("error invoking host capability kubernetes.{OPERATION}: {e}"))?;
        let mut list: Value = serde_json::from_slice(&raw)
            .map_err(|e| format!("the host's answer to kubernetes.{OPERATION} is not JSON: {e}"))?;
        match list.get_mut("items").map(Value::take) {
            Some(Value::Array(items)) => Ok(items),
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(_) => Err(format!(
                "the host's answer to kubernetes.{OPERATION} has an items field that is not a list"
            )),
        }
    }
}
