//! The Pod cache: one [`PodDigest`] per Pod, made once per watch event (Linkerd's policy-controller
//! indexes are the model: the watch feeds the index, rounds read the index, never the raw object).
//!
//! A watch event's Pod is read into a digest and dropped, so the cache holds what planning reads and
//! nothing else (about a tenth of the Pod's JSON, see README "Numbers"), and a round compares strings
//! instead of walking JSON. The initial list is read page by page (kube's watcher lists with
//! `limit`/`continue`), and each page's Pods are digested and dropped before the next page arrives,
//! so the list never holds the whole fleet's JSON either.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use kube::runtime::watcher::Event;
use serde_json::Value;
use sidecarset_core::upgrade::{Interner, PodDigest};

use crate::snapshot::WatchedPod;

/// The digests of the watched Pods, by `namespace/name`.
#[derive(Default)]
pub struct PodIndex {
    state: RwLock<State>,
    synced: tokio::sync::Notify,
}

#[derive(Default)]
struct State {
    pods: HashMap<Box<str>, Arc<PodDigest>>,
    /// Pods of a (re)list in progress: swapped in whole when it is done, as kube's reflector does,
    /// so a relist never shows a half-empty cache.
    relist: Option<HashMap<Box<str>, Arc<PodDigest>>>,
    interner: Interner,
    synced: bool,
}

fn key(p: &PodDigest) -> Box<str> {
    format!("{}/{}", p.namespace(), p.name()).into_boxed_str()
}

impl PodIndex {
    /// Applies one watch event; returns the Pods it touched (for the sets they name).
    pub fn apply(&self, event: Event<WatchedPod>) -> Vec<Arc<PodDigest>> {
        let mut st = self.state.write().unwrap_or_else(|p| p.into_inner());
        let st = &mut *st;
        match event {
            Event::Init => {
                st.relist = Some(HashMap::new());
                Vec::new()
            }
            Event::InitApply(p) => {
                let d = Arc::new(PodDigest::new(&p.raw, &mut st.interner));
                st.relist
                    .get_or_insert_with(HashMap::new)
                    .insert(key(&d), d.clone());
                vec![d]
            }
            Event::InitDone => {
                if let Some(pods) = st.relist.take() {
                    st.pods = pods;
                }
                st.interner.sweep();
                if !st.synced {
                    st.synced = true;
                    self.synced.notify_waiters();
                }
                Vec::new()
            }
            Event::Apply(p) => {
                let d = Arc::new(PodDigest::new(&p.raw, &mut st.interner));
                st.pods.insert(key(&d), d.clone());
                vec![d]
            }
            Event::Delete(p) => {
                let d = PodDigest::new(&p.raw, &mut st.interner);
                st.pods.remove(&key(&d)).into_iter().collect()
            }
        }
    }

    /// A digest of a Pod read outside the watch (a write's answer), sharing the cache's values.
    pub fn digest(&self, raw: &Value) -> PodDigest {
        let mut st = self.state.write().unwrap_or_else(|p| p.into_inner());
        PodDigest::new(raw, &mut st.interner)
    }

    /// The cached Pods that `keep` selects, in no particular order.
    pub fn select(&self, keep: impl Fn(&PodDigest) -> bool) -> Vec<Arc<PodDigest>> {
        let st = self.state.read().unwrap_or_else(|p| p.into_inner());
        st.pods.values().filter(|p| keep(p)).cloned().collect()
    }

    /// Whether the cache holds this Pod (same namespace, name and UID), in any version.
    pub fn holds(&self, pod: &PodDigest) -> bool {
        let st = self.state.read().unwrap_or_else(|p| p.into_inner());
        st.pods.get(&key(pod)).is_some_and(|p| p.uid() == pod.uid())
    }

    pub fn len(&self) -> usize {
        self.state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .pods
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Distinct shared values (strings, label sets, container specs) held for the cached Pods.
    pub fn shared_values(&self) -> usize {
        self.state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .interner
            .len()
    }

    /// Waits for the first complete list.
    pub async fn wait_until_synced(&self) {
        loop {
            let notified = self.synced.notified();
            if self.state.read().unwrap_or_else(|p| p.into_inner()).synced {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, rv: &str) -> WatchedPod {
        WatchedPod::new(
            json!({"metadata": {"name": name, "namespace": "ns", "uid": name,
            "resourceVersion": rv,
            "annotations": {"kruise.io/sidecarset-injected-list": "filebeat"}}}),
        )
    }

    #[test]
    fn a_relist_replaces_the_cache_only_when_complete() {
        let idx = PodIndex::default();
        idx.apply(Event::Init);
        idx.apply(Event::InitApply(pod("a", "1")));
        assert!(idx.is_empty(), "nothing shown before the list is complete");
        idx.apply(Event::InitDone);
        assert_eq!(idx.len(), 1);
        idx.apply(Event::Apply(pod("b", "2")));
        idx.apply(Event::Apply(pod("a", "3")));
        assert_eq!(idx.len(), 2);
        let a = idx.select(|p| p.name() == "a");
        assert_eq!(a[0].resource_version(), "3");
        // A relist after a watch gap: "a" was deleted meanwhile.
        idx.apply(Event::Init);
        idx.apply(Event::InitApply(pod("b", "4")));
        assert_eq!(
            idx.len(),
            2,
            "the old cache serves until the relist is done"
        );
        idx.apply(Event::InitDone);
        assert_eq!(idx.len(), 1);
        let gone = idx.apply(Event::Delete(pod("b", "5")));
        assert_eq!(gone.len(), 1);
        assert!(idx.is_empty());
    }

    #[tokio::test]
    async fn synced_after_the_first_list() {
        let idx = Arc::new(PodIndex::default());
        let waiter = {
            let idx = idx.clone();
            tokio::spawn(async move { idx.wait_until_synced().await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        idx.apply(Event::Init);
        idx.apply(Event::InitDone);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("synced")
            .expect("no panic");
        // Later waiters return at once.
        idx.wait_until_synced().await;
    }
}
