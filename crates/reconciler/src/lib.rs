//! The SidecarSet reconciler: upgrades injected sidecars in place on running Pods.
//!
//! ```text
//!  ClusterAdmissionPolicy (label sidecarset.kubewarden.io/reconcile=true)   or   --settings FILE
//!        | spec.settings
//!        v
//!  SidecarSet::new (core: parse, default, validate, hash)
//!        |                      Pod reflector ----+  Namespace reflector --+
//!        v                                        v                        v
//!  controller::reconcile ---- snapshot ----> core planner (pure) ----> SetRound
//!        |                                                               |
//!        +-- writer: one guarded JSON patch per Pod, SidecarSetUpgradable condition,
//!        |           status annotation on the policy, Events            (leader only,
//!        |           each write paced by one token bucket: pacing)
//!        +-- metrics, tracing
//! ```
//!
//! The rules (which Pods match, which may be upgraded, in which order, how many at once) belong to
//! `sidecarset_core::upgrade`; this crate only reads the cluster, hands the planner a snapshot and
//! applies what it returns, so the policy and the reconciler can never disagree on a rule.
#![forbid(unsafe_code)]

pub mod cli;
pub mod conflicts;
pub mod controller;
pub mod events;
pub mod kubectl_plugin;
pub mod leader;
pub mod metrics;
pub mod migrate;
pub mod pacing;
pub mod pod_index;
pub mod policy;
pub mod recorder;
pub mod revisions;
pub mod round;
pub mod server;
pub mod snapshot;
pub mod status;
pub mod telemetry;
pub mod write_gate;
pub mod writer;

use std::time::Duration;

/// Everything that can fail in a reconcile. Each variant has a stable `metric_label` so that the
/// failure counter does not grow a label value per message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Boxed: `kube::Error` is large and every `Result` here would carry its size.
    #[error("Kubernetes API: {0}")]
    Kube(#[source] Box<kube::Error>),

    #[error("policy {policy}: invalid settings: {message}")]
    InvalidSettings { policy: String, message: String },

    #[error("pod {namespace}/{name}: patch rejected: {source}")]
    PodPatch {
        namespace: String,
        name: String,
        #[source]
        source: Box<kube::Error>,
    },

    #[error("this instance is not the leader")]
    NotLeader,

    #[error("reading {path}: {message}")]
    SettingsFile { path: String, message: String },

    #[error("command line: {0}")]
    Config(String),

    #[error("the informer caches did not sync within {0:?}")]
    CacheSync(Duration),

    #[error("serialising: {0}")]
    Json(#[from] serde_json::Error),

    #[error(
        "ControllerRevision {namespace}/{name}: {action} failed: {source} (the reconciler needs \
         list, get, create, patch and delete on controllerrevisions in its --revision-namespace)"
    )]
    Revision {
        namespace: String,
        name: String,
        action: &'static str,
        #[source]
        source: Box<kube::Error>,
    },

    #[error(
        "set {set}: every ControllerRevision name up to collision count {attempts} is taken by other \
         data; delete the set's stale ControllerRevisions (label kruise.io/sidecarset-name={set})"
    )]
    RevisionCollision { set: String, attempts: i32 },
}

impl Error {
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::InvalidSettings { .. } => "invalid_settings",
            Error::PodPatch { .. } => "pod_patch",
            Error::NotLeader => "not_leader",
            Error::SettingsFile { .. } => "settings_file",
            Error::Config(_) => "config",
            Error::CacheSync(_) => "cache_sync",
            Error::Json(_) => "json",
            Error::Revision { .. } => "revision",
            Error::RevisionCollision { .. } => "revision_collision",
        }
    }
}

impl From<kube::Error> for Error {
    fn from(e: kube::Error) -> Self {
        Error::Kube(Box::new(e))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Who writes: the field manager and the Events' reporting controller.
pub const MANAGER: &str = "sidecarset-reconciler";
