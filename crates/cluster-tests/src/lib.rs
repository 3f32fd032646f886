//! Harness for the reconciler's cluster tests (`tests/cluster.rs`).
//!
//! ```text
//!  Cluster (hack/cluster/start.sh, one per test binary run, audit log on)
//!    └─ per test: TestNs (a namespace, the shipped RBAC bound to its ServiceAccounts)
//!                                       ── FakeKubelet (plays the kubelet: writes Pod status)
//!                                       ── Reconciler (the real binary, a subprocess, --namespace NS,
//!                                          as the ServiceAccount, under leader election)
//!                                       ── Observer (watches Pods: max unavailable, UIDs)
//!                                       ── Audit (the API server's audit log: the reconciler's requests)
//! ```
//!
//! Pods are made by the policy's own injection (`sidecarset_core::inject`) from the settings under
//! `test_data/golden/`, then created; nothing here writes a sidecar by hand. A pinned revision
//! (`injectionStrategy.revision`) is read from the test API server as the policy's host reads it
//! (`revisions`).
#![forbid(unsafe_code)]

pub mod audit;
pub mod bench;
pub mod cluster;
pub mod helm;
pub mod kubelet;
pub mod observe;
pub mod pods;
pub mod policy;
pub mod procfs;
pub mod proxy;
pub mod rbac;
pub mod reconciler;
pub mod revisions;
pub mod testns;
pub mod wait;

use std::path::PathBuf;

/// The repository root (this crate is `crates/cluster-tests`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."))
}
