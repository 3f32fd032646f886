//! The most Pods unavailable at once, counted across relists.
//!
//! After a watch is answered 410 Gone (or cannot resume once the API server is back), kube's watcher
//! lists again and hands the list over one Pod at a time (`InitApply`). Counting after each of them,
//! as `observe::Observer` does, mixes the Pods already listed (new state) with the ones not yet
//! listed (their state before the outage): a Pod that was unavailable then and is available now
//! still counts while a Pod upgraded since is counted too. On `apiserver_restarted_mid_rollout` that
//! read 3 where the cluster never had more than 2. So this observer counts as kube's reflector
//! stores (kube-runtime `reflector/store.rs`, `Writer::apply_watcher_event`): a relist replaces the
//! whole state once it is complete, and only complete states are counted.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::{
    Api, Client, ResourceExt,
    runtime::{WatchStreamExt, watcher},
};
use sidecarset_cluster_tests::observe::unavailable;

#[derive(Clone, Debug, Default)]
pub struct Seen {
    pub max_unavailable: usize,
    /// The unavailable Pods when the maximum was first reached.
    pub max_seen_at: Vec<String>,
    /// Lists after the first: each a watch that could not resume.
    pub relists: usize,
}

#[derive(Default)]
struct State {
    /// name -> unavailable
    pods: BTreeMap<String, bool>,
    /// A list in progress.
    listing: Option<BTreeMap<String, bool>>,
    lists: usize,
    seen: Seen,
}

impl State {
    fn count(&mut self) {
        let now: Vec<String> = self
            .pods
            .iter()
            .filter(|(_, u)| **u)
            .map(|(n, _)| n.clone())
            .collect();
        if now.len() > self.seen.max_unavailable {
            self.seen.max_unavailable = now.len();
            self.seen.max_seen_at = now;
        }
    }
}

#[must_use = "the observer stops watching when dropped"]
pub struct RelistObserver {
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl RelistObserver {
    /// Starts watching `namespace`'s Pods; returns once the first list is in.
    pub async fn start(client: Client, namespace: &str) -> RelistObserver {
        let state = Arc::new(Mutex::new(State::default()));
        let api: Api<Pod> = Api::namespaced(client, namespace);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let s = state.clone();
        let task = tokio::spawn(async move {
            let mut tx = Some(tx);
            let mut stream = watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed();
            while let Some(ev) = stream.next().await {
                let Ok(ev) = ev else { continue };
                let mut s = s.lock().unwrap_or_else(|p| p.into_inner());
                match ev {
                    watcher::Event::Init => s.listing = Some(BTreeMap::new()),
                    watcher::Event::InitApply(p) => {
                        let (name, u) = (p.name_any(), unavailable(&p));
                        match &mut s.listing {
                            Some(l) => {
                                l.insert(name, u);
                            }
                            None => {
                                s.pods.insert(name, u);
                            }
                        }
                    }
                    watcher::Event::InitDone => {
                        if let Some(l) = s.listing.take() {
                            s.pods = l;
                        }
                        s.lists += 1;
                        s.seen.relists = s.lists - 1;
                        s.count();
                        if let Some(tx) = tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    watcher::Event::Apply(p) => {
                        s.pods.insert(p.name_any(), unavailable(&p));
                        s.count();
                    }
                    watcher::Event::Delete(p) => {
                        s.pods.remove(&p.name_any());
                        s.count();
                    }
                }
            }
        });
        let _ = rx.await;
        RelistObserver { state, task }
    }

    pub fn seen(&self) -> Seen {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .seen
            .clone()
    }
}

impl Drop for RelistObserver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
