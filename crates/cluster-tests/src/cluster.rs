//! One loopback kube-apiserver per test binary run, from `hack/cluster/`.
//!
//! Either the caller started one (`SIDECARSET_CLUSTER_DIR`: `hack/cluster/start.sh DIR` with the audit
//! flags of [`audit_args`] in `SIDECARSET_APISERVER_EXTRA_ARGS`) and stops it, or [`Cluster::start`] starts one in a temp dir and the [`Cluster`] guard stops it on drop.
//! `start.sh` also gets this process's PID (`SIDECARSET_WATCH_PID`): its watchdog stops the cluster if
//! the test process dies without dropping the guard (SIGKILL, abort).
//!
//! A test that restarts the API server or touches etcd gets a cluster of its own
//! ([`Cluster::start_private`]), so the tests running beside it on the shared one see no fault.

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
        let extra = std::env::var("SIDECARSET_APISERVER_EXTRA_ARGS").unwrap_or_default();
        Cluster::start_with("sidecarset-cluster-tests-", &extra, false)
    }

    /// A cluster for one test alone, with `extra_apiserver_args` (word-split, as start.sh takes
    /// `SIDECARSET_APISERVER_EXTRA_ARGS`) on top of the audit flags. A test that restarts the API
    /// server, changes etcd under it or changes its flags needs one: the shared cluster serves the
    /// tests running beside it. About 4 s to start, 1–3 s to stop (when dropped).
    pub fn start_private(extra_apiserver_args: &str) -> Result<Cluster> {
        Cluster::start_with("sidecarset-private-cluster-", extra_apiserver_args, true)
    }

    fn start_with(prefix: &str, extra: &str, private: bool) -> Result<Cluster> {
        let root = tempfile::Builder::new().prefix(prefix).tempdir()?;
        let dir = root.path().join("cluster");
        let scratch = root.path().join("scratch");
        std::fs::create_dir_all(&scratch)?;
        let hack = repo_root().join("hack/cluster");
        let cached = cached_binaries_present(&hack);
        if !cached {
            eprintln!(
                "cluster-tests: kube-apiserver/etcd are not cached in ~/.cache/sidecarset/bin: hack/cluster/start.sh now builds them with hack/cluster/build-apiserver.sh (about 8 min cold on 2 cores)"
            );
        }
        let extra = if extra.trim().is_empty() {
            audit_args(&dir)
        } else {
            format!("{extra} {}", audit_args(&dir))
        };
        let mut cmd = Command::new(hack.join("start.sh"));
        cmd.arg(&dir)
            .env("SIDECARSET_WATCH_PID", std::process::id().to_string())
            .env("SIDECARSET_APISERVER_EXTRA_ARGS", extra);
        if private {
            // Fixed ports meant for the shared cluster would clash with it.
            for port in [
                "SIDECARSET_APISERVER_PORT",
                "SIDECARSET_ETCD_PORT",
                "SIDECARSET_ETCD_PEER_PORT",
            ] {
                cmd.env_remove(port);
            }
        }
        // start.sh's stderr (its progress, and the logs' last lines when it fails) goes to a file:
        // the test harness shows a failing test's message, and a CI log keeps only part of the rest.
        // Not while it builds the binaries: minutes of silence would look like a hang.
        let start_log = scratch.join("start.log");
        if cached {
            cmd.stderr(std::fs::File::create(&start_log)?);
        }
        let status = cmd
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
            let said = std::fs::read_to_string(&start_log).unwrap_or_default();
            let tail: Vec<&str> = said.lines().rev().take(60).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "hack/cluster/start.sh failed ({status}); run hack/cluster/install-deps.sh and hack/cluster/build-apiserver.sh, then hack/cluster/smoke.sh to see why\n--- what start.sh said (last {} lines)\n{}",
                tail.len(),
                tail.join("\n")
            );
        }
        Ok(cluster)
    }

    /// Stops kube-apiserver (`how`) and starts it again with the same command line, so the same
    /// port, certificates, flags and etcd data (`hack/cluster/restart-apiserver.sh`); returns once it
    /// is ready. Blocks for seconds: call it from `spawn_blocking`. Only on a private cluster.
    pub fn restart_apiserver(&self, how: Stop) -> Result<()> {
        self.restart_script(&[how.flag()])
    }

    /// The first half of [`Cluster::restart_apiserver`]: the API server is down, etcd up, until
    /// [`Cluster::start_apiserver`].
    pub fn stop_apiserver(&self, how: Stop) -> Result<()> {
        self.restart_script(&["--stop", how.flag()])
    }

    /// The second half of [`Cluster::restart_apiserver`].
    pub fn start_apiserver(&self) -> Result<()> {
        self.restart_script(&["--start"])
    }

    fn restart_script(&self, args: &[&str]) -> Result<()> {
        let script = repo_root().join("hack/cluster/restart-apiserver.sh");
        let status = Command::new(&script)
            .args(args.iter().filter(|a| !a.is_empty()))
            .arg(&self.dir)
            .status()
            .with_context(|| format!("running {}", script.display()))?;
        if !status.success() {
            bail!(
                "hack/cluster/restart-apiserver.sh {} {} failed ({status}); kube-apiserver.log ends with:\n{}",
                args.join(" "),
                self.dir.display(),
                crate::reconciler::tail(&self.dir.join("kube-apiserver.log"), 20)
            );
        }
        Ok(())
    }

    /// Compacts etcd, physically, past every resourceVersion the API server has handed out, so
    /// that every watch resumed from one is answered 410 Gone (when the watch cache is off, or
    /// starts afresh). Two writes to a key outside the API server's `/registry` prefix come first:
    /// a watch from resourceVersion N starts at revision N + 1, and etcd keeps the revision it
    /// compacts at, so the compaction must be at least two past the newest revision a watcher can
    /// have seen. Returns the revision compacted at. Through etcd's JSON gateway (plain HTTP on
    /// loopback); call it while the API server is stopped, or its own writes race the compaction.
    pub fn compact_etcd(&self) -> Result<u64> {
        let port: u16 = self
            .env_value("SIDECARSET_ETCD_PORT")?
            .parse()
            .context("SIDECARSET_ETCD_PORT in the cluster's env file")?;
        let etcd = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let mut revision = 0;
        for _ in 0..2 {
            // base64 of "/sidecarset-cluster-tests/compaction" and of "1".
            let put = etcd_post(
                etcd,
                "/v3/kv/put",
                r#"{"key":"L3NpZGVjYXJzZXQtY2x1c3Rlci10ZXN0cy9jb21wYWN0aW9u","value":"MQ=="}"#,
            )?;
            revision = put["header"]["revision"]
                .as_str()
                .and_then(|r| r.parse().ok())
                .with_context(|| format!("etcd's answer to a put has no revision: {put}"))?;
        }
        let compacted = etcd_post(
            etcd,
            "/v3/kv/compaction",
            &format!(r#"{{"revision":"{revision}","physical":true}}"#),
        )?;
        if compacted.get("header").is_none() {
            bail!("etcd refused to compact at {revision}: {compacted}");
        }
        Ok(revision)
    }

    /// A value of the cluster's `env` file (written by start.sh, `export KEY=value`).
    fn env_value(&self, key: &str) -> Result<String> {
        let text = std::fs::read_to_string(self.dir.join("env"))?;
        let prefix = format!("export {key}=");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map(|v| v.trim_matches('\'').to_string())
            .with_context(|| format!("{key} not in {}", self.dir.join("env").display()))
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

/// How [`Cluster::restart_apiserver`] stops kube-apiserver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM, as a control-plane upgrade does: requests in flight are answered, watches closed.
    Graceful,
    /// SIGKILL, as a crash or an OOM kill: requests in flight get no answer.
    Kill,
}

impl Stop {
    fn flag(self) -> &'static str {
        match self {
            Stop::Graceful => "",
            Stop::Kill => "--kill",
        }
    }
}

/// A POST of `body` to etcd's JSON gateway; the answer as JSON (an error's too).
fn etcd_post(etcd: std::net::SocketAddr, path: &str, body: &str) -> Result<serde_json::Value> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&etcd, std::time::Duration::from_secs(2))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {etcd}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let (head, payload) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    // The gateway may answer in chunks; the JSON is the part between the first { and the last }.
    let json = match (payload.find('{'), payload.rfind('}')) {
        (Some(a), Some(b)) if a <= b => &payload[a..=b],
        _ => bail!(
            "etcd {path}: {}",
            head.lines().next().unwrap_or("no answer")
        ),
    };
    serde_json::from_str(json).with_context(|| format!("etcd {path}: {json}"))
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
