//! Applies what the planner decided: the only module that writes Pods.
//!
//! Per Pod and step: if the planner asks for it, the core's `SidecarSetUpgradable` condition patch
//! through the status subresource (a strategic merge patch, as Kruise sends it, guarded by the
//! resourceVersion the plan read), then the core's JSON patch on the Pod (it starts with a `test` of
//! that resourceVersion; after the condition, of the version the condition returned). Nothing is
//! read back: the patch response is the new Pod, kept in the
//! [`Overlay`](crate::snapshot::Overlay) until the watch catches up.
//!
//! The condition goes first because it says the Pod *can* be upgraded in place, which is true
//! before the upgrade as after it, and because the Pod is quiet then: right after the image patch
//! the kubelet writes the Pod's status as it restarts the sidecar, and a condition sent then would
//! lose its resourceVersion precondition to it almost every time (docs/operations.md#the-upgrade-and-its-condition).
//!
//! The two writes are not one transaction. A condition that fails (other than because the Pod moved
//! on, which makes the whole write stale) does not stop the upgrade: the Pod patch goes, and the
//! write is reported with its condition still to do ([`ConditionWrite::Pending`]), never as a
//! failed upgrade; the controller writes the condition on its own in a later round, merged again
//! from the cache.
//!
//! The client passed in is the write client: its stack paces, fences and waits out 429s
//! ([`crate::write_gate`]), so nothing here waits for a token or checks leadership itself.

use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use sidecarset_core::upgrade::{ConditionUpdate, ContainerChange, retarget};

use crate::{Error, MANAGER, snapshot::WatchedPod, write_gate::is_not_leader};

/// What the write is for; decides the Event and the metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteKind {
    /// New sidecar image(s), hash entry and in-place-update state.
    Upgrade,
    /// Hot upgrade, second step: the old twin back to the empty image.
    Flip,
    /// Only the condition: the Pod cannot be upgraded in place.
    MarkNotUpgradable,
    /// Only the condition, left to do after its Pod's upgrade patch landed.
    Condition,
}

impl WriteKind {
    pub fn label(self) -> &'static str {
        match self {
            WriteKind::Upgrade => "upgrade",
            WriteKind::Flip => "flip",
            WriteKind::MarkNotUpgradable => "not_upgradable",
            WriteKind::Condition => "condition",
        }
    }
}

/// One Pod's writes for this round.
#[derive(Clone, Debug)]
pub struct PodWrite {
    pub kind: WriteKind,
    /// The Pod's id in the reconciler's Pod index (its position in the list, for a plan over one).
    pub pod_id: usize,
    pub namespace: String,
    pub name: String,
    /// The core's JSON patch for the Pod (`None`: only the condition). It starts with a `test` of
    /// `/metadata/resourceVersion`, so no write can land on a Pod the plan did not see.
    pub patch: Option<json_patch::Patch>,
    /// The `SidecarSetUpgradable` condition and its status patch, when the condition changes.
    pub condition: Option<ConditionUpdate>,
    /// The container images the patch replaces (for Events, logs and completion tracking).
    pub changes: Vec<ContainerChange>,
}

impl PodWrite {
    pub fn containers(&self) -> Vec<&str> {
        self.changes.iter().map(|c| c.container.as_str()).collect()
    }

    /// `container=image, …` after the write.
    pub fn images_text(&self) -> String {
        self.changes
            .iter()
            .map(|c| format!("{}={}", c.container, c.to))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A write of the condition alone.
    pub fn condition_only(kind: WriteKind, c: ConditionUpdate) -> Self {
        PodWrite {
            kind,
            pod_id: c.pod.index,
            namespace: c.pod.namespace.clone(),
            name: c.pod.name.clone(),
            patch: None,
            condition: Some(c),
            changes: Vec::new(),
        }
    }
}

/// What became of the condition of a write whose Pod patch landed.
#[derive(Debug)]
pub enum ConditionWrite {
    /// None was asked for, or it was written.
    Done,
    /// Its patch failed and the Pod's upgrade went ahead (the message says how it failed): to be
    /// written on its own later.
    Pending(ConditionUpdate, String),
}

#[derive(Debug)]
pub enum Outcome {
    /// Written; the Pod as the API server returned it after the last write that landed.
    Written(Box<WatchedPod>, ConditionWrite),
    /// The Pod changed since it was read (the `test` or the resourceVersion precondition failed, or
    /// it is gone): nothing was written, and the next round plans it again from the newer version.
    Stale,
}

pub struct Writer {
    client: Client,
    params: PatchParams,
}

impl Writer {
    /// `client`: the write client ([`crate::write_gate`]).
    pub fn new(client: Client) -> Self {
        Writer {
            client,
            params: PatchParams {
                field_manager: Some(MANAGER.to_string()),
                ..Default::default()
            },
        }
    }

    pub async fn apply(&self, w: &PodWrite) -> Result<Outcome, Error> {
        let api: Api<WatchedPod> = Api::namespaced(self.client.clone(), &w.namespace);
        let Some(patch) = &w.patch else {
            let Some(c) = &w.condition else {
                return Ok(Outcome::Stale);
            };
            return match self.condition(&api, w, &c.patch).await {
                Ok(p) => Ok(Outcome::Written(Box::new(p), ConditionWrite::Done)),
                Err(e) if is_stale(&e) => Ok(Outcome::Stale),
                Err(e) => Err(rejected(w, e)),
            };
        };
        let mut pending = None;
        let mut patch = patch.clone();
        if let Some(c) = &w.condition {
            match self.condition(&api, w, &c.patch).await {
                Ok(p) => {
                    let version = p.resource_version();
                    patch = retarget(&patch, version.unwrap_or_default());
                }
                // The Pod moved on since the plan read it: the upgrade's `test` would fail too.
                Err(e) if is_stale(&e) => return Ok(Outcome::Stale),
                Err(e) if is_not_leader(&e) => return Err(Error::NotLeader),
                // The Pod is unchanged (nothing landed): the upgrade goes as planned.
                Err(e) => pending = Some((c.clone(), e.to_string())),
            }
        }
        let patched = match api
            .patch(&w.name, &self.params, &Patch::Json::<()>(patch))
            .await
        {
            Ok(p) => p,
            Err(e) if is_stale(&e) => return Ok(Outcome::Stale),
            Err(e) => return Err(rejected(w, e)),
        };
        let condition = match pending {
            Some((c, error)) => ConditionWrite::Pending(c, error),
            None => ConditionWrite::Done,
        };
        Ok(Outcome::Written(Box::new(patched), condition))
    }

    /// Strategic merge on `status.conditions` merges by `type`: other conditions stay.
    async fn condition(
        &self,
        api: &Api<WatchedPod>,
        w: &PodWrite,
        patch: &serde_json::Value,
    ) -> Result<WatchedPod, kube::Error> {
        api.patch_status(&w.name, &self.params, &Patch::Strategic(patch))
            .await
    }
}

fn rejected(w: &PodWrite, source: kube::Error) -> Error {
    if is_not_leader(&source) {
        return Error::NotLeader;
    }
    Error::PodPatch {
        namespace: w.namespace.clone(),
        name: w.name.clone(),
        source: Box::new(source),
    }
}

/// Whether a failed patch means "the Pod is not the one the plan saw" rather than a real refusal.
///
/// kube-apiserver answers a failed JSON-patch `test` with 422 `Invalid`, an empty `details` and the
/// generic message below (checked against 1.36; a path that no longer exists gets the same answer,
/// which is also staleness: container lists cannot change on a live Pod). A Pod validation failure is
/// also 422 but names the field, so it is reported, not retried. 404 (deleted) and 409 are staleness
/// too.
pub fn is_stale(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => {
            s.code == 404
                || s.code == 409
                || (s.code == 422
                    && s.message
                        == "the server rejected our request due to an error in our request")
        }
        _ => false,
    }
}
