//! Pods as the planner wants them: raw JSON, read once from the watch, never re-serialised.
//!
//! The core's planner works on `serde_json::Value` Pods (as injection does), so the Pod cache holds
//! exactly that: a [`RawPod`] is the Pod's JSON plus a slim `ObjectMeta` copy (name, namespace, uid,
//! resourceVersion) that kube's reflector needs to key its store. Converting 100k typed Pods to JSON on
//! every reconcile would cost more than planning them.
//!
//! The cache lags the API server. After this reconciler patches a Pod it keeps the patched copy the API
//! server answered with (the [`Overlay`]) and uses it instead of the cached one until the watch delivers
//! a newer version, so a Pod is never planned twice from the same stale state (Kruise's
//! "expectations", without the wait).

use std::{
    borrow::Cow,
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use k8s_openapi::{
    NamespaceResourceScope, api::core::v1::Namespace, apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{Resource, runtime::reflector::Store};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A Pod as JSON, keyed for the reflector by a slim copy of its identity.
#[derive(Clone, Debug, PartialEq)]
pub struct RawPod {
    meta: ObjectMeta,
    pub raw: Value,
}

impl RawPod {
    pub fn new(mut raw: Value) -> Self {
        prune(&mut raw);
        let s = |k: &str| {
            raw.pointer(&format!("/metadata/{k}"))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let meta = ObjectMeta {
            name: s("name"),
            namespace: s("namespace"),
            uid: s("uid"),
            resource_version: s("resourceVersion"),
            ..Default::default()
        };
        RawPod { meta, raw }
    }

    pub fn name(&self) -> &str {
        self.meta.name.as_deref().unwrap_or("")
    }
    pub fn namespace(&self) -> &str {
        self.meta.namespace.as_deref().unwrap_or("")
    }
    pub fn uid(&self) -> &str {
        self.meta.uid.as_deref().unwrap_or("")
    }
    pub fn resource_version(&self) -> &str {
        self.meta.resource_version.as_deref().unwrap_or("")
    }
    /// Whether `kruise.io/sidecarset-injected-list` names the set: only such Pods can match it.
    pub fn injected_by(&self, set_name: &str) -> bool {
        self.annotation(sidecarset_core::annotations::INJECTED_LIST)
            .is_some_and(|l| {
                sidecarset_core::annotations::parse_injected_list(l).contains(&set_name)
            })
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.raw
            .get("metadata")?
            .get("annotations")?
            .get(key)?
            .as_str()
    }
}

/// Fields dropped from cached Pods: the planner reads none of them, and each costs heap for every
/// Pod of the cluster (a JSON object costs a B-tree node of several hundred bytes however few keys it
/// has). `managedFields` is often the largest part of a Pod; `spec.volumes` holds the service-account
/// token projection on every Pod. Kept: all of metadata but managedFields, every container field
/// (the planner compares the sidecars' with the settings), conditions, and the container statuses'
/// name, ready, image, imageID and restartCount. Pods no set injected keep only metadata and phase.
/// `plan::tests` checks that pruning changes no plan.
const PRUNED_SPEC: [&str; 4] = [
    "volumes",
    "tolerations",
    "affinity",
    "topologySpreadConstraints",
];
const PRUNED_STATUS: [&str; 4] = ["podIPs", "hostIPs", "resourceClaimStatuses", "resize"];
const PRUNED_CONTAINER_STATUS: [&str; 9] = [
    "state",
    "lastState",
    "containerID",
    "started",
    "volumeMounts",
    "resources",
    "allocatedResources",
    "allocatedResourcesStatus",
    "user",
];

pub fn prune(raw: &mut Value) {
    if let Some(m) = raw.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    let injected = raw
        .pointer(&format!(
            "/metadata/annotations/{}",
            sidecarset_core::annotations::INJECTED_LIST.replace('/', "~1")
        ))
        .is_some();
    if !injected {
        // No set injected it, so no set matches it: the planner reads its metadata (selectors) and
        // phase (whether it is active) only to say why it is left alone. Most Pods of a cluster are
        // such Pods. A later annotation arrives as a new version through the watch, pruned anew.
        if let Some(obj) = raw.as_object_mut() {
            obj.remove("spec");
            let phase = obj
                .get("status")
                .and_then(|s| s.get("phase"))
                .cloned()
                .unwrap_or(Value::Null);
            if phase.is_null() {
                obj.remove("status");
            } else {
                obj.insert("status".into(), serde_json::json!({ "phase": phase }));
            }
        }
        return;
    }
    if let Some(spec) = raw.get_mut("spec").and_then(Value::as_object_mut) {
        for k in PRUNED_SPEC {
            spec.remove(k);
        }
    }
    if let Some(status) = raw.get_mut("status").and_then(Value::as_object_mut) {
        for k in PRUNED_STATUS {
            status.remove(k);
        }
        for list in [
            "containerStatuses",
            "initContainerStatuses",
            "ephemeralContainerStatuses",
        ] {
            for cs in status
                .get_mut(list)
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
                .filter_map(Value::as_object_mut)
            {
                for k in PRUNED_CONTAINER_STATUS {
                    cs.remove(k);
                }
            }
        }
    }
}

impl<'de> Deserialize<'de> for RawPod {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(RawPod::new)
    }
}

impl Serialize for RawPod {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

impl Resource for RawPod {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        "Pod".into()
    }
    fn group(_: &()) -> Cow<'_, str> {
        "".into()
    }
    fn version(_: &()) -> Cow<'_, str> {
        "v1".into()
    }
    fn plural(_: &()) -> Cow<'_, str> {
        "pods".into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.meta
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.meta
    }
}

/// Pods this process wrote, until the watch catches up. Keyed by UID.
#[derive(Debug, Default)]
pub struct Overlay {
    entries: HashMap<String, OverlayEntry>,
}

#[derive(Debug)]
struct OverlayEntry {
    /// Versions known to be older than `pod` (what the cache may still show).
    stale: Vec<String>,
    pod: Arc<RawPod>,
}

impl Overlay {
    /// Records that `before` (a version the cache may hold) was replaced by `after` (the API server's
    /// answer to our write).
    pub fn wrote(&mut self, before: &RawPod, after: RawPod) {
        let after = Arc::new(after);
        let entry = self
            .entries
            .entry(after.uid().to_string())
            .or_insert_with(|| OverlayEntry {
                stale: Vec::new(),
                pod: after.clone(),
            });
        entry.stale.push(before.resource_version().to_string());
        if entry.pod.resource_version() != after.resource_version() {
            let old = std::mem::replace(&mut entry.pod, after);
            entry.stale.push(old.resource_version().to_string());
        }
    }

    /// The freshest copy of a cached Pod: ours while the cache still shows a version we replaced.
    /// An entry the cache has caught up with is dropped.
    pub fn resolve(&mut self, cached: &Arc<RawPod>) -> Arc<RawPod> {
        let uid = cached.uid();
        match self.entries.get(uid) {
            Some(e) if e.stale.iter().any(|v| v == cached.resource_version()) => e.pod.clone(),
            Some(_) => {
                self.entries.remove(uid);
                cached.clone()
            }
            None => cached.clone(),
        }
    }

    /// Forgets Pods that left the cache (deleted), so the overlay cannot grow without bound.
    pub fn retain_uids(&mut self, live: &std::collections::HashSet<&str>) {
        self.entries.retain(|uid, _| live.contains(uid.as_str()));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Namespace labels by name, for `namespaceSelector`.
pub fn namespace_labels(store: &Store<Namespace>) -> BTreeMap<String, BTreeMap<String, String>> {
    store
        .state()
        .iter()
        .filter_map(|ns| {
            Some((
                ns.metadata.name.clone()?,
                ns.metadata.labels.clone().unwrap_or_default(),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(rv: &str) -> RawPod {
        RawPod::new(
            json!({"metadata": {"name": "p", "namespace": "ns", "uid": "u1",
            "resourceVersion": rv, "managedFields": [{"manager": "x"}]}}),
        )
    }

    #[test]
    fn injected_by_reads_the_injected_list() {
        let p = RawPod::new(json!({"metadata": {"name": "p",
            "annotations": {"kruise.io/sidecarset-injected-list": "a,filebeat"}}}));
        assert!(p.injected_by("filebeat"));
        assert!(!p.injected_by("file"));
        assert!(!pod("1").injected_by("filebeat"));
    }

    #[test]
    fn pods_no_set_injected_keep_only_metadata_and_phase() {
        let p = RawPod::new(json!({"metadata": {"name": "p", "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c"}]},
            "status": {"phase": "Succeeded", "conditions": []}}));
        assert_eq!(
            p.raw,
            json!({"metadata": {"name": "p", "labels": {"a": "b"}}, "status": {"phase": "Succeeded"}})
        );
    }

    #[test]
    fn managed_fields_are_not_kept() {
        assert!(pod("1").raw.pointer("/metadata/managedFields").is_none());
        assert_eq!(pod("1").resource_version(), "1");
    }

    #[test]
    fn overlay_hides_stale_cache_until_the_watch_catches_up() {
        let mut o = Overlay::default();
        let pod = |rv: &str| Arc::new(pod(rv));
        o.wrote(&pod("1"), (*pod("2")).clone());
        // The cache still has 1: use our copy.
        assert_eq!(o.resolve(&pod("1")).resource_version(), "2");
        // A status write on top of our patch: 2 is stale too now.
        o.wrote(&pod("2"), (*pod("3")).clone());
        assert_eq!(o.resolve(&pod("2")).resource_version(), "3");
        assert_eq!(o.resolve(&pod("1")).resource_version(), "3");
        // The cache reached 3 (or anything newer): the entry goes.
        assert_eq!(o.resolve(&pod("3")).resource_version(), "3");
        assert!(o.is_empty());
    }
}
