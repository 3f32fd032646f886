//! Applies what the planner decided: the only module that writes Pods.
//!
//! Per Pod and step: one JSON patch on the Pod (guarded by a `test` of its resourceVersion), then, if
//! the planner asks for it, the `SidecarSetUpgradable` condition through the status subresource (a
//! strategic merge patch, as Kruise sends it). Nothing is read back: the patch response is the new Pod,
//! kept in the [`Overlay`](crate::snapshot::Overlay) until the watch catches up. Each of the two
//! writes waits on the write budget ([`crate::pacing`]).

use std::sync::Arc;

use json_patch::Patch as JsonPatch;
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use serde_json::{Value, json};
use sidecarset_core::upgrade::ContainerChange;

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
    /// The resourceVersion the plan was made from.
    pub resource_version: String,
    /// JSON patch operations for the Pod; a `test` of `/metadata/resourceVersion` is added when the
    /// planner did not include one, so no write can land on a Pod the plan did not see.
    pub patch: Vec<Value>,
    /// The `SidecarSetUpgradable` condition to set, when it changes.
    pub condition: Option<Value>,
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
        if !w.patch.is_empty() {
            let ops = guarded(&w.patch, &w.resource_version);
            let patch: JsonPatch = serde_json::from_value(Value::Array(ops))?;
            self.budget.acquire().await;
            match api
                .patch(&w.name, &self.params, &Patch::Json::<()>(patch))
                .await
            {
                Ok(p) => latest = Some(p),
                Err(e) if is_stale(&e) => return Ok(Outcome::Stale),
                Err(source) => {
                    return Err(Error::PodPatch {
                        namespace: w.namespace.clone(),
                        name: w.name.clone(),
                        source: Box::new(source),
                    });
                }
            }
        }
        if let Some(cond) = &w.condition {
            // Strategic merge on `status.conditions` merges by `type`: other conditions stay.
            let body = json!({"status": {"conditions": [cond]}});
            self.budget.acquire().await;
            match api
                .patch_status(&w.name, &self.params, &Patch::Strategic(body))
                .await
            {
                Ok(p) => latest = Some(p),
                // The Pod went away between the two writes: nothing left to mark.
                Err(kube::Error::Api(s)) if s.code == 404 => return Ok(Outcome::Stale),
                Err(source) => {
                    return Err(Error::PodPatch {
                        namespace: w.namespace.clone(),
                        name: w.name.clone(),
                        source: Box::new(source),
                    });
                }
            }
        }
        match latest {
            Some(p) => Ok(Outcome::Written(Box::new(p))),
            None => Ok(Outcome::Stale),
        }
    }
}

/// The patch with a leading `test` of the resourceVersion, unless the planner put one in.
pub fn guarded(ops: &[Value], resource_version: &str) -> Vec<Value> {
    let has_test = ops.iter().any(|op| {
        op.get("op").and_then(Value::as_str) == Some("test")
            && op.get("path").and_then(Value::as_str) == Some("/metadata/resourceVersion")
    });
    let mut out = Vec::with_capacity(ops.len() + 1);
    if !has_test {
        out.push(
            json!({"op": "test", "path": "/metadata/resourceVersion", "value": resource_version}),
        );
    }
    out.extend(ops.iter().cloned());
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_op_is_added_once() {
        let ops = vec![json!({"op": "replace", "path": "/spec/containers/0/image", "value": "b"})];
        let g = guarded(&ops, "42");
        assert_eq!(g.len(), 2);
        assert_eq!(g[0]["value"], "42");
        assert_eq!(guarded(&g, "42").len(), 2);
    }
}
