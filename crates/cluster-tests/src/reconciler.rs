//! The reconciler binary as a subprocess: built once per run, one process per test (or two, for the
//! kill-and-restart test), logs kept in the scratch dir and shown when a test fails.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::Duration,
};

use anyhow::{Context, Result, anyhow, bail};

use crate::{
    cluster::{Cluster, admin_groups},
    repo_root,
};

/// The binary: `SIDECARSET_RECONCILER_BIN`, or `cargo build -p sidecarset-reconciler` (once per run,
/// a no-op when it is up to date), so a test never runs a stale build.
pub fn binary() -> Result<PathBuf> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    built_once(&BIN, "sidecarset-reconciler", "SIDECARSET_RECONCILER_BIN")
}

/// The kubectl plugin (`kubectl-sidecarset`, a second binary of the same package), located and
/// built as [`binary`] is: `SIDECARSET_KUBECTL_PLUGIN_BIN`, or cargo.
pub fn plugin_binary() -> Result<PathBuf> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    built_once(&BIN, "kubectl-sidecarset", "SIDECARSET_KUBECTL_PLUGIN_BIN")
}

/// [`build`] once per run and per binary, its outcome (a path or the error) kept in `cell`.
fn built_once(
    cell: &'static OnceLock<Result<PathBuf, String>>,
    bin: &str,
    env: &str,
) -> Result<PathBuf> {
    cell.get_or_init(|| build(bin, env).map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!(e))
}

// One definition of which variables a nested cargo must not inherit, shared with the root tests.
#[path = "../../../tests/support/mod.rs"]
mod cargo_env;

/// `bin` of package sidecarset-reconciler: the file `env` names, or a build.
fn build(bin: &str, env: &str) -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(env).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if !p.is_file() {
            bail!("{env}={} is not a file", p.display());
        }
        return Ok(p);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cargo_env::without_test_cargo_env(&mut cmd);
    let out = cmd
        .current_dir(repo_root())
        .args([
            "build",
            "--package",
            "sidecarset-reconciler",
            "--bin",
            bin,
            "--message-format=json-render-diagnostics",
        ])
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {cargo} build -p sidecarset-reconciler --bin {bin}"))?;
    if !out.status.success() {
        bail!(
            "`cargo build -p sidecarset-reconciler --bin {bin}` failed ({}): the cluster tests need the binary (crates/reconciler, a workspace member); see the compiler output above",
            out.status
        );
    }
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] == "compiler-artifact"
            && msg["target"]["name"] == bin
            && let Some(exe) = msg["executable"].as_str()
        {
            return Ok(PathBuf::from(exe));
        }
    }
    bail!("cargo built {bin} but reported no executable")
}

/// Where the set comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// `ClusterAdmissionPolicy` objects with this extra label selector (`key=value`).
    Policies { selector: String },
    /// `--settings FILE`.
    File(PathBuf),
}

pub struct Reconciler {
    child: Option<Child>,
    pub log: PathBuf,
    pub metrics_addr: SocketAddr,
}

/// Runs `sidecarset-reconciler <args>` to completion as `user` (a one-shot command such as
/// `migrate` or `plan`), with the same environment as [`Reconciler::launch`].
pub fn run_once(
    cluster: &Cluster,
    user: &str,
    name: &str,
    args: &[&str],
) -> Result<std::process::Output> {
    let bin = binary()?;
    let kubeconfig = cluster.scratch.join(format!("{name}.kubeconfig"));
    cluster.impersonating_kubeconfig(user, &admin_groups(), None, &kubeconfig)?;
    Command::new(&bin)
        .args(args)
        .env("KUBECONFIG", &kubeconfig)
        .env("RUST_LOG", "warn")
        .env_remove("WATCH_NAMESPACE")
        .env_remove("POD_NAMESPACE")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {} {}", bin.display(), args.join(" ")))
}

/// How a reconciler process is started, beyond its flags.
#[derive(Clone, Copy, Debug, Default)]
pub struct Launch<'a> {
    /// Replaces the API server URL (a proxy).
    pub server: Option<&'a str>,
    /// The process's clock moved by this (libfaketime's `FAKETIME` offset, e.g. `+20s`).
    pub skew: Option<&'a str>,
    /// This binary instead of [`binary`]'s (a build with another allocator).
    pub bin: Option<&'a Path>,
    /// Extra environment (e.g. `MALLOC_ARENA_MAX`).
    pub env: &'a [(&'a str, &'a str)],
}

/// Who a reconciler process runs as: an impersonated user and its groups.
#[derive(Clone, Debug)]
pub struct Identity {
    pub user: String,
    pub groups: Vec<String>,
}

impl Reconciler {
    /// Starts `sidecarset-reconciler run` for one namespace, as `who` (an impersonated identity, so
    /// the audit log tells its requests apart), under leader election on a Lease in `namespace`.
    /// `log_name` names the log file in the scratch dir and is the Lease holder identity; `launch`
    /// says what else changes (a proxy's URL, a skewed clock, another binary, environment).
    pub fn launch(
        cluster: &Cluster,
        namespace: &str,
        who: &Identity,
        source: &Source,
        log_name: &str,
        extra: &[&str],
        launch: &Launch<'_>,
    ) -> Result<Reconciler> {
        let Launch {
            server,
            skew,
            bin,
            env,
        } = *launch;
        let bin = match bin {
            Some(b) => b.to_path_buf(),
            None => binary()?,
        };
        let kubeconfig = cluster.scratch.join(format!("{log_name}.kubeconfig"));
        cluster.impersonating_kubeconfig(&who.user, &who.groups, server, &kubeconfig)?;
        let log = cluster.scratch.join(format!("{log_name}.log"));
        let file = std::fs::File::create(&log)?;
        let metrics_addr = free_port()?;
        let mut cmd = Command::new(&bin);
        cmd.arg("run")
            .args(["--namespace", namespace])
            // Each test's revision history in its own namespace: tests share set names.
            .args(["--revision-namespace", namespace])
            .args(["--metrics-addr", &metrics_addr.to_string()])
            // Leader election as deployed, on a Lease in the test's namespace (the shipped Role's).
            .args(["--lease-namespace", namespace])
            // Rounds come quickly while an upgrade is in flight, so tests do not wait on the default 2 s.
            .args(["--busy-requeue-millis", "300"])
            .args(["--identity", log_name]);
        match source {
            Source::Policies { selector } => cmd.args(["--policy-selector", selector]),
            Source::File(path) => cmd.arg("--settings").arg(path),
        };
        cmd.args(extra)
            .env("KUBECONFIG", &kubeconfig)
            .env(
                "RUST_LOG",
                std::env::var("SIDECARSET_RECONCILER_LOG")
                    .unwrap_or_else(|_| "info,sidecarset_reconciler=debug".into()),
            )
            .env_remove("WATCH_NAMESPACE")
            .env_remove("POD_NAMESPACE")
            .env_remove("POD_NAME")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some(offset) = skew {
            cmd.env("LD_PRELOAD", faketime_library()?)
                .env("FAKETIME", offset);
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(Reconciler {
            child: Some(child),
            log,
            metrics_addr,
        })
    }

    /// SIGKILL (what a node failure or an OOM kill does): no shutdown code runs.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut c) = self.child.take() {
            c.kill()?;
            c.wait()?;
        }
        Ok(())
    }

    /// Fails if the process has exited (it should run until killed).
    pub fn check_running(&mut self) -> Result<()> {
        if let Some(c) = &mut self.child
            && let Some(status) = c.try_wait()?
        {
            bail!(
                "the reconciler exited ({status}); its log ends with:\n{}",
                tail(&self.log, 40)
            );
        }
        Ok(())
    }

    /// The process ID while it runs (for `/proc/PID/status`: the cluster benchmark reads its memory).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `/metrics` as text (OpenMetrics).
    pub fn metrics(&self) -> Result<String> {
        http_get(self.metrics_addr, "/metrics")
    }

    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log, lines)
    }
}

impl Drop for Reconciler {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// libfaketime's multi-threaded preload library (Debian's `faketime` package).
fn faketime_library() -> Result<PathBuf> {
    let candidates = [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
        "/usr/lib/faketime/libfaketimeMT.so.1",
    ];
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .with_context(|| {
            format!(
                "a reconciler with a skewed clock needs libfaketime, not found at {candidates:?}: \
                 apt-get install faketime (hack/install-deps.sh does)"
            )
        })
}

/// The last `n` lines of a file.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A free loopback port (released just before the reconciler binds it).
pub fn free_port() -> Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

/// A plain HTTP/1.1 GET: the metrics endpoint is on loopback and speaks plain HTTP.
pub fn http_get(addr: SocketAddr, path: &str) -> Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    let (head, body) = buf.split_once("\r\n\r\n").unwrap_or((&buf, ""));
    if !head.starts_with("HTTP/1.1 200") {
        bail!("GET {path}: {}", head.lines().next().unwrap_or(""));
    }
    Ok(body.to_string())
}

/// The value of one sample of a metric, e.g. `metric_value(text, "sidecarset_reconciler_writes_total", &[("kind", "upgrade")])`,
/// summed over the samples that carry all the given labels.
pub fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_values_are_summed_over_matching_samples() {
        let text = "# TYPE x counter\nx_total{set=\"a\",kind=\"upgrade\",result=\"ok\"} 3\nx_total{set=\"a\",kind=\"upgrade\",result=\"conflict\"} 2\nx_total{set=\"a\",kind=\"status\",result=\"ok\"} 7\nx_totalnot 9\n";
        assert_eq!(metric_value(text, "x_total", &[("kind", "upgrade")]), 5.0);
        assert_eq!(metric_value(text, "x_total", &[("result", "ok")]), 10.0);
        assert_eq!(metric_value(text, "x_total", &[("kind", "flip")]), 0.0);
    }
}
