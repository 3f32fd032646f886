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
use serde_json::{Value, value::RawValue};
use sidecarset_core::upgrade::PodDigest;

/// A Pod as the API server sent it: its JSON text, parsed only when it is digested, with the slim
/// `ObjectMeta` copy (name, namespace, uid, resourceVersion) that kube's `Api` and watcher need.
/// Never cached: the index keeps its digest.
///
/// Text rather than a `serde_json::Value` because kube's watcher holds a whole list page (500 Pods)
/// before the first of them is digested: as `Value` trees a page is about 23 MB (a Pod's tree is
/// nine times its JSON), as text about 2.5 MB. Each Pod is then parsed alone, digested and dropped,
/// so the tree's memory is reused from one Pod to the next instead of a page's worth being freed at
/// once into the allocator's arenas, where it stayed resident (docs/numbers.md, memory).
#[derive(Clone, Debug)]
pub struct WatchedPod {
    meta: ObjectMeta,
    raw: Box<RawValue>,
}

impl PartialEq for WatchedPod {
    fn eq(&self, other: &Self) -> bool {
        self.meta == other.meta && self.raw.get() == other.raw.get()
    }
}

/// The four identity fields of a Pod's metadata; serde skips the rest of the text unparsed.
#[derive(Deserialize, Default)]
struct Identity {
    #[serde(default)]
    metadata: IdentityMeta,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct IdentityMeta {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
}

impl WatchedPod {
    /// A Pod from its JSON value (tests, examples, anything not read off the wire).
    pub fn new(value: Value) -> Self {
        let raw =
            serde_json::value::to_raw_value(&value).unwrap_or_else(|_| RawValue::NULL.to_owned());
        Self::from_raw(raw)
    }

    fn from_raw(raw: Box<RawValue>) -> Self {
        // Only the four fields are read; a Pod whose metadata is not an object has none of them,
        // which the watcher and the digest treat as they treat a Pod without a name.
        let m = serde_json::from_str::<Identity>(raw.get())
            .unwrap_or_default()
            .metadata;
        let meta = ObjectMeta {
            name: m.name,
            namespace: m.namespace,
            uid: m.uid,
            resource_version: m.resource_version,
            ..Default::default()
        };
        WatchedPod { meta, raw }
    }

    /// The Pod's JSON, parsed (each call parses the text again: digest it once).
    pub fn value(&self) -> Value {
        serde_json::from_str(self.raw.get()).unwrap_or(Value::Null)
    }

    /// The Pod's `metadata.resourceVersion`.
    pub fn resource_version(&self) -> Option<&str> {
        self.meta.resource_version.as_deref()
    }
}

impl<'de> Deserialize<'de> for WatchedPod {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(d).map(WatchedPod::from_raw)
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

    /// The wire's shapes: a list page (kube's `ObjectList`, whose flattened type fields must not
    /// route the items through serde's buffered content, which cannot hold raw JSON) and a watch
    /// event (an adjacently tagged enum).
    #[test]
    fn watched_pods_read_from_list_pages_and_watch_events() {
        let pod = json!({"metadata": {"name": "p", "namespace": "ns", "uid": "u",
            "resourceVersion": "7", "managedFields": [{"manager": "kubelet"}]},
            "spec": {"containers": [{"name": "app", "image": "nginx"}]}});
        let list = json!({"kind": "PodList", "apiVersion": "v1",
            "metadata": {"resourceVersion": "9", "continue": "c"}, "items": [pod.clone(), pod]})
        .to_string();
        let list: kube::core::ObjectList<WatchedPod> =
            serde_json::from_str(&list).expect("a list page of WatchedPods");
        assert_eq!(list.items.len(), 2);
        assert_eq!(list.metadata.continue_.as_deref(), Some("c"));
        assert_eq!(list.items[0].meta().name.as_deref(), Some("p"));
        assert_eq!(list.items[0].resource_version(), Some("7"));
        assert_eq!(
            list.items[0].value()["spec"]["containers"][0]["image"],
            "nginx"
        );

        let event = r#"{"type":"MODIFIED","object":{"metadata":{"name":"q","namespace":"ns","resourceVersion":"8"}}}"#;
        match serde_json::from_str::<kube::core::WatchEvent<WatchedPod>>(event) {
            Ok(kube::core::WatchEvent::Modified(p)) => {
                assert_eq!(p.meta().name.as_deref(), Some("q"));
                assert_eq!(p.value()["metadata"]["resourceVersion"], "8");
            }
            other => panic!("want a MODIFIED event, got {other:?}"),
        }
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
