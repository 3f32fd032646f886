//! Cluster test: kubectl-sidecarset get and describe against a set mid-rollout.

use std::sync::Arc;

use anyhow::{Result, bail};
use sidecarset_cluster_tests::testns::TestNs;

pub async fn kubectl_plugin_prints_status(_t: Arc<TestNs>) -> Result<()> {
    bail!("not written yet")
}
