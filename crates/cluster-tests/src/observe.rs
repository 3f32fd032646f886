//! Watches a namespace's Pods and keeps what the rollout tests assert on: the most Pods ever seen
//! unavailable at once, and every UID seen per Pod name (an in-place upgrade keeps the UID).
//!
//! Unavailable, as the tests see it: the Pod is not Ready, or some container's spec image is not the
//! image its status reports (a restart for a new image is under way). Watch events come in
//! resourceVersion order, so the counts are taken over a real sequence of cluster states.
//!
//! A list (the first, or a relist after the watch could not resume: 410 Gone, an API server back
//! from a restart) is handed over whole once it is complete, as kube's reflector store takes it
//! (kube-runtime `reflector/store.rs`, `Writer::apply_watcher_event`): counting after each listed Pod
//! would mix the Pods listed so far (their new state) with the others (their state before the
//! outage), and read more Pods unavailable at once than the cluster ever had.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::{
    Api, Client, ResourceExt,
    runtime::{WatchStreamExt, watcher},
};

use crate::pods::is_ready;

#[derive(Debug, Default, Clone)]
pub struct Observed {
    /// name -> unavailable now
    unavailable: BTreeMap<String, bool>,
    pub max_unavailable: usize,
    /// The state (names of unavailable Pods) when the maximum was first reached.
    pub max_seen_at: Vec<String>,
    pub uids: BTreeMap<String, BTreeSet<String>>,
    pub events: usize,
    /// Lists after the first: each a watch that could not resume.
    pub relists: usize,
    lists: usize,
}

#[must_use = "the observer stops watching when dropped"]
pub struct Observer {
    inner: Arc<Mutex<Observed>>,
    task: tokio::task::JoinHandle<()>,
}

/// Not Ready, or a container whose status does not show its spec image yet.
pub fn unavailable(p: &Pod) -> bool {
    if !is_ready(p) {
        return true;
    }
    let (Some(spec), Some(status)) = (&p.spec, &p.status) else {
        return true;
    };
    let statuses: BTreeMap<&str, &str> = status
        .container_statuses
        .iter()
        .flatten()
        .chain(status.init_container_statuses.iter().flatten())
        .map(|s| (s.name.as_str(), s.image.as_str()))
        .collect();
    spec.containers
        .iter()
        .chain(
            spec.init_containers
                .iter()
                .flatten()
                .filter(|c| c.restart_policy.as_deref() == Some("Always")),
        )
        .any(|c| statuses.get(c.name.as_str()).copied() != c.image.as_deref())
}

/// What a Pod watch feeds, in resourceVersion order.
pub trait PodEvents: Send + 'static {
    fn applied(&mut self, p: &Pod);
    fn deleted(&mut self, _p: &Pod) {}
    /// A complete list, which replaces what was known: by default each Pod applied (for a state
    /// that only grows, such as a log of what was seen).
    fn listed(&mut self, pods: &[Pod]) {
        for p in pods {
            self.applied(p);
        }
    }
    /// After every change of the state: an applied or deleted Pod, or a complete list.
    fn after_event(&mut self) {}
}

/// Watches `namespace`'s Pods into `state` until the task is aborted; returns the task once the
/// first list is in, or an error when the watch ended before it.
pub async fn watch_pods<S: PodEvents>(
    client: Client,
    namespace: &str,
    state: Arc<Mutex<S>>,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let api: Api<Pod> = Api::namespaced(client, namespace);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let mut tx = Some(tx);
        let mut stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        let mut listing: Vec<Pod> = Vec::new();
        while let Some(ev) = stream.next().await {
            let Ok(ev) = ev else { continue };
            let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
            match ev {
                watcher::Event::Apply(p) => s.applied(&p),
                watcher::Event::Delete(p) => s.deleted(&p),
                watcher::Event::Init => {
                    listing.clear();
                    continue;
                }
                watcher::Event::InitApply(p) => {
                    listing.push(p);
                    continue;
                }
                watcher::Event::InitDone => {
                    s.listed(&std::mem::take(&mut listing));
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(());
                    }
                }
            }
            s.after_event();
        }
    });
    match rx.await {
        Ok(()) => Ok(task),
        Err(_) => Err(format!(
            "the Pod watch of namespace {namespace} ended before its first list"
        )),
    }
}

impl PodEvents for Observed {
    fn applied(&mut self, p: &Pod) {
        let name = p.name_any();
        self.uids
            .entry(name.clone())
            .or_default()
            .insert(p.uid().unwrap_or_default());
        self.unavailable.insert(name, unavailable(p));
    }

    fn deleted(&mut self, p: &Pod) {
        self.unavailable.remove(&p.name_any());
    }

    fn listed(&mut self, pods: &[Pod]) {
        self.unavailable.clear();
        for p in pods {
            self.applied(p);
        }
        self.relists = self.lists;
        self.lists += 1;
    }

    fn after_event(&mut self) {
        self.events += 1;
        let now: Vec<String> = self
            .unavailable
            .iter()
            .filter(|(_, u)| **u)
            .map(|(n, _)| n.clone())
            .collect();
        if now.len() > self.max_unavailable {
            self.max_unavailable = now.len();
            self.max_seen_at = now;
        }
    }
}

impl Observer {
    /// Starts watching; returns once the first list is in.
    pub async fn start(client: Client, namespace: &str) -> Observer {
        let inner = Arc::new(Mutex::new(Observed::default()));
        let task = watch_pods(client, namespace, inner.clone())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        Observer { inner, task }
    }

    pub fn snapshot(&self) -> Observed {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
