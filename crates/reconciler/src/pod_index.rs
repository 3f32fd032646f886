//! The Pod cache: one [`PodDigest`] per Pod, made once per watch event (Linkerd's policy-controller
//! indexes are the model: the watch feeds the index, rounds read the index, never the raw object).
//!
//! A watch event's Pod is read into a digest and dropped, so the cache holds what planning reads and
//! nothing else (about a tenth of the Pod's JSON, see docs/numbers.md), and a round compares strings
//! instead of walking JSON. The initial list is read page by page (kube's watcher lists with
//! `limit`/`continue`), and each page's Pods are digested and dropped before the next page arrives,
//! so the list never holds the whole fleet's JSON either.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, RwLock},
};

use kube::runtime::watcher::Event;
use serde_json::Value;
use sidecarset_core::upgrade::{Interner, PodDigest};

use crate::snapshot::WatchedPod;

/// How many Pod changes the index remembers for the sets' planners; a planner that fell further
/// behind (or saw a relist) reads every Pod again.
const LOG_CAPACITY: usize = 1 << 18;

/// The digests of the watched Pods. Each Pod (by `namespace/name`) gets an id, stable while the
/// Pod exists; ids order ties in the upgrade order, so they follow the order Pods were first seen.
#[derive(Default)]
pub struct PodIndex {
    state: RwLock<State>,
    synced: tokio::sync::Notify,
}

#[derive(Default)]
struct State {
    ids: HashMap<Box<str>, usize>,
    pods: HashMap<usize, Arc<PodDigest>>,
    next_id: usize,
    /// Pods of a (re)list in progress: swapped in whole when it is done, as kube's reflector does,
    /// so a relist never shows a half-empty cache.
    relist: Option<HashMap<Box<str>, Arc<PodDigest>>>,
    /// Ids of changed Pods, oldest first, numbered from `log_start`.
    log: VecDeque<usize>,
    log_start: u64,
    /// Bumped when the whole cache is replaced (a relist): readers start over.
    epoch: u64,
    interner: Interner,
    synced: bool,
}

/// Where a reader of the index is: read up to `seq` of epoch `epoch`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    epoch: u64,
    seq: u64,
}

/// What changed since a [`Cursor`].
pub enum Changes {
    /// Everything: read every Pod again ([`PodIndex::all`]).
    All,
    /// These Pods changed: the digest now, or `None` when deleted.
    Pods(Vec<(usize, Option<Arc<PodDigest>>)>),
}

fn key(p: &PodDigest) -> Box<str> {
    format!("{}/{}", p.namespace(), p.name()).into_boxed_str()
}

impl State {
    fn changed(&mut self, id: usize) {
        if self.log.len() == LOG_CAPACITY {
            self.log.pop_front();
            self.log_start += 1;
        }
        self.log.push_back(id);
    }

    fn cursor(&self) -> Cursor {
        Cursor {
            epoch: self.epoch,
            seq: self.log_start + self.log.len() as u64,
        }
    }

    fn put(&mut self, d: Arc<PodDigest>) {
        let next = &mut self.next_id;
        let id = *self.ids.entry(key(&d)).or_insert_with(|| {
            *next += 1;
            *next
        });
        self.pods.insert(id, d);
        self.changed(id);
    }

    /// Replaces the cache with a completed relist, keeping the ids of Pods that stay.
    fn swap_in(&mut self, pods: HashMap<Box<str>, Arc<PodDigest>>) {
        let mut ids = HashMap::with_capacity(pods.len());
        let mut by_id = HashMap::with_capacity(pods.len());
        for (k, d) in pods {
            let id = match self.ids.get(&k) {
                Some(id) => *id,
                None => {
                    self.next_id += 1;
                    self.next_id
                }
            };
            by_id.insert(id, d);
            ids.insert(k, id);
        }
        self.ids = ids;
        self.pods = by_id;
        self.epoch += 1;
        self.log_start += self.log.len() as u64;
        self.log.clear();
    }
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
                let d = Arc::new(PodDigest::new(&p.value(), &mut st.interner));
                st.relist
                    .get_or_insert_with(HashMap::new)
                    .insert(key(&d), d.clone());
                vec![d]
            }
            Event::InitDone => {
                if let Some(pods) = st.relist.take() {
                    st.swap_in(pods);
                }
                st.interner.sweep();
                if !st.synced {
                    st.synced = true;
                    self.synced.notify_waiters();
                }
                Vec::new()
            }
            Event::Apply(p) => {
                let d = Arc::new(PodDigest::new(&p.value(), &mut st.interner));
                st.put(d.clone());
                vec![d]
            }
            Event::Delete(p) => {
                // Read like any other event, so the key follows the digest's rules (an empty
                // namespace is `default`).
                let gone = PodDigest::new(&p.value(), &mut Interner::default());
                let Some(id) = st.ids.remove(&key(&gone)) else {
                    return Vec::new();
                };
                st.changed(id);
                st.pods.remove(&id).into_iter().collect()
            }
        }
    }

    /// A digest of a Pod read outside the watch (a write's answer), sharing the cache's values.
    pub fn digest(&self, raw: &Value) -> PodDigest {
        let mut st = self.state.write().unwrap_or_else(|p| p.into_inner());
        PodDigest::new(raw, &mut st.interner)
    }

    /// The cached Pods that `keep` selects, with their ids, and where the index is now.
    pub fn all(&self, keep: impl Fn(&PodDigest) -> bool) -> (Vec<(usize, Arc<PodDigest>)>, Cursor) {
        let st = self.state.read().unwrap_or_else(|p| p.into_inner());
        let pods = st
            .pods
            .iter()
            .filter(|(_, p)| keep(p))
            .map(|(id, p)| (*id, p.clone()))
            .collect();
        (pods, st.cursor())
    }

    /// What changed since `from` (each changed Pod once), and where the index is now.
    pub fn changes(&self, from: Cursor) -> (Changes, Cursor) {
        let st = self.state.read().unwrap_or_else(|p| p.into_inner());
        let now = st.cursor();
        if from.epoch != st.epoch || from.seq < st.log_start {
            return (Changes::All, now);
        }
        let skip = usize::try_from(from.seq - st.log_start).unwrap_or(usize::MAX);
        let mut seen = std::collections::HashSet::new();
        let pods = st
            .log
            .iter()
            .skip(skip)
            .filter(|id| seen.insert(**id))
            .map(|id| (*id, st.pods.get(id).cloned()))
            .collect();
        (Changes::Pods(pods), now)
    }

    /// Whether the cache holds this Pod (same namespace, name and UID), in any version.
    pub fn holds(&self, pod: &PodDigest) -> bool {
        let st = self.state.read().unwrap_or_else(|p| p.into_inner());
        st.ids
            .get(&key(pod))
            .and_then(|id| st.pods.get(id))
            .is_some_and(|p| p.uid() == pod.uid())
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
        let (a, _) = idx.all(|p| p.name() == "a");
        assert_eq!(a[0].1.resource_version(), "3");
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

    #[test]
    fn readers_get_each_changed_pod_once_and_start_over_after_a_relist() {
        let idx = PodIndex::default();
        idx.apply(Event::Init);
        idx.apply(Event::InitApply(pod("a", "1")));
        idx.apply(Event::InitDone);
        let (all, at) = idx.all(|_| true);
        assert_eq!(all.len(), 1);
        let a = all[0].0;
        idx.apply(Event::Apply(pod("b", "2")));
        idx.apply(Event::Apply(pod("a", "3")));
        idx.apply(Event::Apply(pod("a", "4")));
        let (Changes::Pods(changed), at2) = idx.changes(at) else {
            panic!("a log reader gets the changes")
        };
        let got: Vec<(usize, Option<&str>)> = changed
            .iter()
            .map(|(id, p)| (*id, p.as_ref().map(|p| p.resource_version())))
            .collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            got.contains(&(a, Some("4"))),
            "the latest version, once: {got:?}"
        );
        idx.apply(Event::Delete(pod("a", "5")));
        let (Changes::Pods(changed), at3) = idx.changes(at2) else {
            panic!("a log reader gets the changes")
        };
        assert_eq!(changed.len(), 1);
        assert!(changed[0].1.is_none(), "deleted");
        assert_eq!(changed[0].0, a);
        // A Pod of the same name later is another Pod: another id.
        idx.apply(Event::Apply(pod("a", "6")));
        let (all, _) = idx.all(|p| p.name() == "a");
        assert_ne!(all[0].0, a);
        idx.apply(Event::Init);
        idx.apply(Event::InitApply(pod("b", "7")));
        idx.apply(Event::InitDone);
        assert!(matches!(idx.changes(at3).0, Changes::All));
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
