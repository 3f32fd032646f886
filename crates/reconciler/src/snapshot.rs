//! A Pod as the watch and the API's answers deliver it ([`WatchedPod`], read once into a digest and
//! dropped, see [`crate::pod_index`]), and the [`Overlay`] of this process's own writes.
//!
//! The cache lags the API server. After this reconciler patches a Pod it keeps the digest of the
//! patched Pod the API server answered with and uses it instead of the cached one until the watch
//! delivers a newer version, so a Pod is never planned twice from the same stale state (Kruise's
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
use sidecarset_core::upgrade::PodDigest;

/// A Pod as JSON, with the slim `ObjectMeta` copy (name, namespace, uid, resourceVersion) that
/// kube's `Api` and watcher need. Never cached: the index keeps its digest.
#[derive(Clone, Debug, PartialEq)]
pub struct WatchedPod {
    meta: ObjectMeta,
    pub raw: Value,
}

impl WatchedPod {
    pub fn new(raw: Value) -> Self {
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
        WatchedPod { meta, raw }
    }
}

impl<'de> Deserialize<'de> for WatchedPod {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(WatchedPod::new)
    }
}

impl Serialize for WatchedPod {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

impl Resource for WatchedPod {
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
    pod: Arc<PodDigest>,
}

impl Overlay {
    /// Records that `before` (a version the cache may hold) was replaced by `after` (the API server's
    /// answer to our write).
    pub fn wrote(&mut self, before: &PodDigest, after: PodDigest) {
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
    pub fn resolve(&mut self, cached: &Arc<PodDigest>) -> Arc<PodDigest> {
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
    pub fn retain(&mut self, live: impl Fn(&PodDigest) -> bool) {
        self.entries.retain(|_, e| live(&e.pod));
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
    use sidecarset_core::upgrade::Interner;

    fn pod(rv: &str) -> PodDigest {
        PodDigest::new(
            &json!({"metadata": {"name": "p", "namespace": "ns", "uid": "u1", "resourceVersion": rv}}),
            &mut Interner::default(),
        )
    }

    #[test]
    fn watched_pods_keep_their_identity_for_the_api() {
        let p = WatchedPod::new(json!({"metadata": {"name": "p", "namespace": "ns",
            "uid": "u", "resourceVersion": "3"}}));
        assert_eq!(p.meta().name.as_deref(), Some("p"));
        assert_eq!(p.meta().resource_version.as_deref(), Some("3"));
    }

    #[test]
    fn overlay_hides_stale_cache_until_the_watch_catches_up() {
        let mut o = Overlay::default();
        let cached = |rv: &str| Arc::new(pod(rv));
        o.wrote(&pod("1"), pod("2"));
        // The cache still has 1: use our copy.
        assert_eq!(o.resolve(&cached("1")).resource_version(), "2");
        // A status write on top of our patch: 2 is stale too now.
        o.wrote(&pod("2"), pod("3"));
        assert_eq!(o.resolve(&cached("2")).resource_version(), "3");
        assert_eq!(o.resolve(&cached("1")).resource_version(), "3");
        // The cache reached 3 (or anything newer): the entry goes.
        assert_eq!(o.resolve(&cached("3")).resource_version(), "3");
        assert!(o.is_empty());
    }
}
