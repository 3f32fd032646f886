//! Cross-set conflicts among the policies this reconciler reconciles
//! (docs/settings-and-validation.md#cross-set-conflicts): pairs of sets that can select the same
//! Pods and declare the same container name, a volume of the same name with another spec, or a
//! `patchPodMetadata` key both would write. Kruise refuses the later set of such a pair at
//! admission; each policy here is validated alone, so the reconciler, which sees every set, reports
//! the pair: a Warning Event on both policies, `sidecarset_reconciler_conflicts`, and `conflicts` in
//! the status annotation. The rule is the core's ([`sidecarset_core::conflict`]).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
};

use futures::channel::mpsc;
use kube::{api::DynamicObject, runtime::reflector::Store};
use serde_json::Value;
use sidecarset_core::{
    SidecarSet,
    conflict::{self, Conflict},
};

/// Every reconciled policy's set, as the policy watch has them.
#[derive(Default)]
pub struct PolicySets {
    store: OnceLock<Store<DynamicObject>>,
    /// Parsed settings by policy name: a round reads every policy's settings, parsed once per change.
    parsed: Mutex<HashMap<String, Parsed>>,
    /// Asks for a round of the named policy (its conflicts changed because another one did).
    requeue: OnceLock<mpsc::UnboundedSender<String>>,
}

/// A policy's set as parsed at one generation (`None`: invalid or missing settings, which conflict
/// with nothing).
struct Parsed {
    generation: i64,
    set: Option<Arc<SidecarSet>>,
}

impl PolicySets {
    /// Connects the policy watch's store and the requeue channel (policy mode only: with
    /// `--settings` there is one set and nothing to conflict with).
    pub fn attach(&self, store: Store<DynamicObject>, requeue: mpsc::UnboundedSender<String>) {
        let _ = self.store.set(store);
        let _ = self.requeue.set(requeue);
    }

    /// The clashes of policy `key`'s `set` with every other reconciled policy's set. Within a pair
    /// the older policy comes first, as Kruise refuses the one created later.
    pub fn conflicts_of(&self, key: &str, set: &SidecarSet) -> Vec<Conflict> {
        let Some(store) = self.store.get() else {
            return Vec::new();
        };
        let policies = store.state();
        let created = |name: &str| {
            policies
                .iter()
                .find(|p| p.metadata.name.as_deref() == Some(name))
                .and_then(|p| p.metadata.creation_timestamp.clone())
        };
        let mine = created(key);
        let mut out = Vec::new();
        for p in &policies {
            let Some(name) = p.metadata.name.as_deref().filter(|n| *n != key) else {
                continue;
            };
            let Some(other) = self.parsed(p) else {
                continue;
            };
            let older_first = match (created(name), &mine) {
                (Some(theirs), Some(ours)) => (theirs.0, name) < (ours.0, key),
                _ => name < key,
            };
            let pair = if older_first {
                [(name, other.as_ref()), (key, set)]
            } else {
                [(key, set), (name, other.as_ref())]
            };
            out.extend(conflict::find(&pair));
        }
        out.sort_by_key(|c| c.to_string());
        out
    }

    /// `p`'s set (`None`: invalid or missing settings, which conflict with nothing).
    fn parsed(&self, p: &DynamicObject) -> Option<Arc<SidecarSet>> {
        let name = p.metadata.name.clone()?;
        let generation = p.metadata.generation.unwrap_or(0);
        let mut parsed = self.parsed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = parsed.get(&name).filter(|p| p.generation == generation) {
            return p.set.clone();
        }
        let set = match p.data.pointer("/spec/settings") {
            None | Some(Value::Null) => None,
            Some(settings) => SidecarSet::new(settings).ok().map(Arc::new),
        };
        parsed.insert(
            name,
            Parsed {
                generation,
                set: set.clone(),
            },
        );
        set
    }

    /// A round for each of `names`.
    pub fn requeue<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        if let Some(tx) = self.requeue.get() {
            for n in names {
                let _ = tx.unbounded_send(n.to_string());
            }
        }
    }
}
