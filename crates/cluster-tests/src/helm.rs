//! helm (v4, built from the Go module proxy by `hack/tools/build-tools.sh`) against the test
//! cluster, as an administrator: the chart is installed the way a user installs it.

use std::{path::PathBuf, process::Command};

use anyhow::{Context, Result, bail, ensure};

use crate::{cluster::Cluster, repo_root};

/// The helm binary `hack/tools/build-tools.sh` builds; an error naming `make tools` where missing.
pub fn binary() -> Result<PathBuf> {
    let out = Command::new(repo_root().join("hack/tools/build-tools.sh"))
        .arg("--print")
        .output()
        .context("running hack/tools/build-tools.sh --print")?;
    ensure!(
        out.status.success(),
        "hack/tools/build-tools.sh --print failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = String::from_utf8(out.stdout)?
        .lines()
        .find_map(|l| l.strip_prefix("helm ").map(PathBuf::from))
        .context("hack/tools/build-tools.sh --print names no helm")?;
    ensure!(
        path.is_file(),
        "{} is missing: build it with `make tools` (hack/tools/build-tools.sh)",
        path.display()
    );
    Ok(path)
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
