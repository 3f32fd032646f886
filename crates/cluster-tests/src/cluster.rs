//! One loopback kube-apiserver per test binary run, from `hack/cluster/`.
//!
//! Either the caller started one (`SIDECARSET_CLUSTER_DIR`: `hack/cluster/start.sh DIR` with the audit
//! flags of [`audit_args`] in `SIDECARSET_APISERVER_EXTRA_ARGS`) and stops it, or [`Cluster::start`] starts one in a temp dir and the [`Cluster`] guard stops it on drop.
//! `start.sh` also gets this process's PID (`SIDECARSET_WATCH_PID`): its watchdog stops the cluster if
//! the test process dies without dropping the guard (SIGKILL, abort).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};
use kube::{
    Client, Config,
    config::{KubeConfigOptions, Kubeconfig},
};

use crate::repo_root;

pub struct Cluster {
    /// The cluster dir (`start.sh DIR`): kubeconfig, logs, pids.
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    /// The API server's audit log (Metadata level, one JSON line per request).
    pub audit_log: PathBuf,
    /// Scratch space for the tests (reconciler logs, kubeconfigs, settings files).
    pub scratch: PathBuf,
    /// Ours to stop: the temp dir that holds the cluster dir, removed after `stop.sh`.
    owned: Option<tempfile::TempDir>,
}

/// The flags that turn the audit log on (also what a caller-started cluster needs).
pub fn audit_args(dir: &Path) -> String {
    format!(
        "--audit-policy-file={} --audit-log-path={} --audit-log-maxsize=0",
        repo_root()
            .join("crates/cluster-tests/audit-policy.yaml")
            .display(),
        dir.join("audit.log").display()
    )
}

impl Cluster {
    /// The cluster named by `SIDECARSET_CLUSTER_DIR`, else a new one.
    pub fn from_env_or_start() -> Result<Cluster> {
        match std::env::var_os("SIDECARSET_CLUSTER_DIR").filter(|d| !d.is_empty()) {
            Some(dir) => Cluster::existing(PathBuf::from(dir)),
            None => Cluster::start(),
        }
    }

    fn existing(dir: PathBuf) -> Result<Cluster> {
        let kubeconfig = dir.join("kubeconfig");
        let audit_log = dir.join("audit.log");
        if !kubeconfig.is_file() {
            bail!(
                "SIDECARSET_CLUSTER_DIR={} has no kubeconfig: start it with hack/cluster/start.sh (or unset it and let the tests start their own)",
                dir.display()
            );
        }
        if !audit_log.is_file() {
            bail!(
                "SIDECARSET_CLUSTER_DIR={} has no audit.log: the API request counts need the audit log; start the cluster with SIDECARSET_APISERVER_EXTRA_ARGS=\"{}\" hack/cluster/start.sh DIR",
                dir.display(),
                audit_args(&dir)
            );
        }
        let scratch = tempfile::Builder::new()
            .prefix("sidecarset-cluster-tests-")
            .tempdir()?
            .keep();
        Ok(Cluster {
            dir,
            kubeconfig,
            audit_log,
            scratch,
            owned: None,
        })
    }

    /// Starts a cluster with `hack/cluster/start.sh`. If kube-apiserver and etcd are not in the cache
    /// (`~/.cache/sidecarset/bin`), start.sh builds them first with `hack/cluster/build-apiserver.sh`
    /// (about 8 minutes cold on two cores; Go >= 1.21 needed, see hack/cluster/README.md).
    pub fn start() -> Result<Cluster> {
        let root = tempfile::Builder::new()
            .prefix("sidecarset-cluster-tests-")
            .tempdir()?;
        let dir = root.path().join("cluster");
        let scratch = root.path().join("scratch");
        std::fs::create_dir_all(&scratch)?;
        let hack = repo_root().join("hack/cluster");
        if !cached_binaries_present(&hack) {
            eprintln!(
                "cluster-tests: kube-apiserver/etcd are not cached in ~/.cache/sidecarset/bin: hack/cluster/start.sh now builds them with hack/cluster/build-apiserver.sh (about 8 min cold on 2 cores)"
            );
        }
        let extra = match std::env::var("SIDECARSET_APISERVER_EXTRA_ARGS") {
            Ok(e) if !e.trim().is_empty() => format!("{e} {}", audit_args(&dir)),
            _ => audit_args(&dir),
        };
        let status = Command::new(hack.join("start.sh"))
            .arg(&dir)
            .env("SIDECARSET_WATCH_PID", std::process::id().to_string())
            .env("SIDECARSET_APISERVER_EXTRA_ARGS", extra)
            .status()
            .context("running hack/cluster/start.sh (needs bash, openssl, curl: hack/cluster/install-deps.sh)")?;
        let cluster = Cluster {
            kubeconfig: dir.join("kubeconfig"),
            audit_log: dir.join("audit.log"),
            dir,
            scratch,
            owned: Some(root),
        };
        if !status.success() {
            // The guard still runs stop.sh on whatever half-started.
            bail!(
                "hack/cluster/start.sh failed ({status}); run hack/cluster/install-deps.sh and hack/cluster/build-apiserver.sh, then hack/cluster/smoke.sh to see why"
            );
        }
        Ok(cluster)
    }

    /// The API server's address (from the kubeconfig), for a proxy in front of it.
    pub fn apiserver_addr(&self) -> Result<std::net::SocketAddr> {
        let kc: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(&self.kubeconfig)?)?;
        let server = kc["clusters"][0]["cluster"]["server"]
            .as_str()
            .context("kubeconfig without a server")?;
        let hostport = server.trim_start_matches("https://").trim_end_matches('/');
        Ok(hostport.parse()?)
    }

    pub async fn client(&self) -> Result<Client> {
        let kc = Kubeconfig::read_from(&self.kubeconfig)?;
        let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
        Ok(Client::try_from(config)?)
    }

    /// A kubeconfig that impersonates `user` in `groups` (`system:masters` for cluster-admin rights;
    /// a ServiceAccount's groups to be held to its RBAC), so the audit log tells this user's requests
    /// from the test's own. `server` replaces the API server URL (a proxy in front of it).
    pub fn impersonating_kubeconfig(
        &self,
        user: &str,
        groups: &[String],
        server: Option<&str>,
        path: &Path,
    ) -> Result<()> {
        let mut kc: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(&self.kubeconfig)?)?;
        if let Some(server) = server {
            for c in kc
                .get_mut("clusters")
                .and_then(serde_yaml::Value::as_sequence_mut)
                .context("kubeconfig without clusters")?
            {
                if let Some(m) = c
                    .get_mut("cluster")
                    .and_then(serde_yaml::Value::as_mapping_mut)
                {
                    m.insert("server".into(), server.into());
                }
            }
        }
        let users = kc
            .get_mut("users")
            .and_then(serde_yaml::Value::as_sequence_mut)
            .context("kubeconfig without users")?;
        for u in users {
            let Some(m) = u
                .get_mut("user")
                .and_then(serde_yaml::Value::as_mapping_mut)
            else {
                continue;
            };
            m.insert("as".into(), user.into());
            m.insert(
                "as-groups".into(),
                serde_yaml::Value::Sequence(groups.iter().map(|g| g.as_str().into()).collect()),
            );
        }
        std::fs::write(path, serde_yaml::to_string(&kc)?)?;
        Ok(())
    }
}

/// The groups of an administrator (the tests' one-shot commands: `migrate` and `plan` run on a
/// laptop with the user's own rights, not the reconciler's).
pub fn admin_groups() -> Vec<String> {
    vec!["system:masters".into(), "system:authenticated".into()]
}

fn cached_binaries_present(hack: &Path) -> bool {
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#"source "$1/lib.sh" && [ -x "$(apiserver_bin)" ] && [ -x "$(etcd_bin)" ]"#)
        .arg("lib")
        .arg(hack)
        .status();
    out.is_ok_and(|s| s.success())
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let Some(root) = self.owned.take() else {
            return;
        };
        let keep = std::env::var_os("SIDECARSET_KEEP_CLUSTER").is_some();
        let mut cmd = Command::new(repo_root().join("hack/cluster/stop.sh"));
        if keep {
            cmd.arg("--keep-dir");
        }
        match cmd.arg(&self.dir).status() {
            Ok(s) if s.success() => {}
            other => eprintln!(
                "cluster-tests: hack/cluster/stop.sh {} failed: {other:?}",
                self.dir.display()
            ),
        }
        if keep {
            eprintln!(
                "cluster-tests: SIDECARSET_KEEP_CLUSTER: kept {}",
                root.keep().display()
            );
        }
    }
}
