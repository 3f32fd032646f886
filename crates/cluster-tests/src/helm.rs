//! helm (v4, built from the Go module proxy by `hack/tools/build-tools.sh`) against the test
//! cluster, as an administrator: the chart is installed the way a user installs it.

use std::{path::PathBuf, process::Command};

use anyhow::{Context, Result, anyhow, bail};

use crate::{cluster::Cluster, repo_root};

#[path = "../../../tests/support/tools.rs"]
mod tools;

/// The helm binary `hack/tools/build-tools.sh` builds; an error naming `make tools` where missing.
pub fn binary() -> Result<PathBuf> {
    tools::tool(&repo_root(), "helm").map_err(|e| anyhow!(e))
}

/// Runs `helm <args>` with the cluster's administrator kubeconfig; its stdout, or an error with
/// its stderr.
pub fn run(cluster: &Cluster, args: &[&str]) -> Result<String> {
    let bin = binary()?;
    let out = Command::new(&bin)
        .args(args)
        .arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        // helm's own caches and config, not the developer's.
        .env("HELM_CACHE_HOME", cluster.scratch.join("helm/cache"))
        .env("HELM_CONFIG_HOME", cluster.scratch.join("helm/config"))
        .env("HELM_DATA_HOME", cluster.scratch.join("helm/data"))
        .output()
        .with_context(|| format!("running helm {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "helm {} failed ({}):\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// The chart in this repository.
pub fn chart() -> PathBuf {
    repo_root().join("charts/sidecarset")
}
