//! Applies what the planner decided: the only module that writes Pods.
//!
//! Per Pod and step: the core's JSON patch on the Pod (it starts with a `test` of the resourceVersion
//! the plan read), then, if the planner asks for it, the core's `SidecarSetUpgradable` condition
//! patch through the status subresource (a strategic merge patch, as Kruise sends it). Both are sent
//! as the core built them. Nothing is read back: the patch response is the new Pod, kept in the
//! [`Overlay`](crate::snapshot::Overlay) until the watch catches up. Each of the two writes waits on
//! the write budget ([`crate::pacing`]).

use std::sync::Arc;

use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use sidecarset_core::upgrade::{ConditionUpdate, ContainerChange};

use crate::{Error, MANAGER, pacing::WriteBudget, snapshot::WatchedPod};

/// What the write is for; decides the Event and the metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteKind {
    /// New sidecar image(s), hash entry and in-place-update state.
    Upgrade,
    /// Hot upgrade, second step: the old twin back to the empty image.
    Flip,
    /// Only the condition: the Pod cannot be upgraded in place.
    MarkNotUpgradable,
}

impl WriteKind {
    pub fn label(self) -> &'static str {
        match self {
            WriteKind::Upgrade => "upgrade",
            WriteKind::Flip => "flip",
            WriteKind::MarkNotUpgradable => "not_upgradable",
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
}

#[derive(Debug)]
pub enum Outcome {
    /// Written; the Pod as the API server returned it after the last write.
    Written(Box<WatchedPod>),
    /// The Pod changed since it was read (the `test` failed, or it is gone): nothing was written,
    /// and the next round plans it again from the newer version.
    Stale,
}

pub struct Writer {
    client: Client,
    params: PatchParams,
    budget: Arc<WriteBudget>,
}

impl Writer {
    pub fn new(client: Client, budget: Arc<WriteBudget>) -> Self {
        Writer {
            client,
            budget,
            params: PatchParams {
                field_manager: Some(MANAGER.to_string()),
                ..Default::default()
            },
        }
    }

    pub async fn apply(&self, w: &PodWrite) -> Result<Outcome, Error> {
        let api: Api<WatchedPod> = Api::namespaced(self.client.clone(), &w.namespace);
        let mut latest = None;
        if let Some(patch) = &w.patch {
            self.budget.acquire().await;
            match api
                .patch(&w.name, &self.params, &Patch::Json::<()>(patch.clone()))
                .await
            {
                Ok(p) => latest = Some(p),
                Err(e) if is_stale(&e) => return Ok(Outcome::Stale),
                Err(source) => return Err(rejected(w, source)),
            }
        }
        if let Some(c) = &w.condition {
            // Strategic merge on `status.conditions` merges by `type`: other conditions stay.
            self.budget.acquire().await;
            match api
                .patch_status(&w.name, &self.params, &Patch::Strategic(&c.patch))
                .await
            {
                Ok(p) => latest = Some(p),
                // The Pod went away between the two writes: nothing left to mark.
                Err(kube::Error::Api(s)) if s.code == 404 => return Ok(Outcome::Stale),
                Err(source) => return Err(rejected(w, source)),
            }
        }
        match latest {
            Some(p) => Ok(Outcome::Written(Box::new(p))),
            None => Ok(Outcome::Stale),
        }
    }
}

fn rejected(w: &PodWrite, source: kube::Error) -> Error {
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
