//! The bridge to the core's pure planner: cluster snapshot in, writes and reasons out.
//!
//! Nothing here decides a rule. It converts the core's plan into the writes [`crate::writer`] sends and
//! the per-Pod reasons the `plan` command and Events show.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sidecarset_core::SidecarSet;

use crate::{Error, Result, snapshot::RawPod, status::SetStatus, writer::PodWrite};

/// A Pod the plan leaves alone this round, and why.
#[derive(Clone, Debug, Serialize)]
pub struct LeftAlone {
    pub namespace: String,
    pub name: String,
    #[serde(skip)]
    pub uid: String,
    /// The core's stable reason code (`NotUpgradable`, `KeptByPartition`, …).
    pub code: String,
    pub message: String,
    /// Whether the Pod counts in `matchedPods`.
    pub matched: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub set_name: String,
    pub status: SetStatus,
    /// In the order to send them.
    pub writes: Vec<PodWrite>,
    pub left_alone: Vec<LeftAlone>,
    /// UIDs of Pods that are updated and ready.
    pub updated_ready: BTreeSet<String>,
}

pub type NamespaceLabels = BTreeMap<String, BTreeMap<String, String>>;

/// Plans one round for `set` over the snapshot.
pub fn compute(
    set: &SidecarSet,
    generation: i64,
    pods: &[RawPod],
    namespaces: &NamespaceLabels,
    now: &str,
    set_version: &str,
) -> Result<Plan> {
    let _ = (set, generation, pods, namespaces, now, set_version);
    Err(Error::Plan(
        "the core planner (sidecarset_core::upgrade) is not available yet".into(),
    ))
}
