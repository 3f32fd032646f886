//! The reconciler's memory by global allocator (`make bench-memory`; not part of `make test` or CI).
//!
//! One kube-apiserver (hack/cluster), one namespace that grows through the stages (`injected/other`
//! Pods: 0/0, 500/0, 5,000/1,000, 10,000/1,000 by default), the fake kubelet keeping them Ready.
//! At each stage every variant (a reconciler binary and its environment: glibc, glibc with
//! `MALLOC_ARENA_MAX`, mimalloc, jemalloc, the static musl build) is started over the same Pods, one
//! at a time, as the shipped ServiceAccount; once its caches are synced and its first status
//! written, and a few seconds more for the allocator to settle, its resident memory is read from
//! `/proc`, then it is stopped. At the last stage each variant then rolls the Filebeat image over
//! every Pod (the image alternates between two versions, so every variant's rollout changes every
//! Pod) with a raised write budget, and its memory is read before, at the peak, and a minute after
//! the rollout ends.
//!
//! Reported per variant: RSS at each stage; RSS over the empty cluster per injected Pod at the
//! 5,000/1,000 stage (issue 16's measure); RSS growth per cached Pod from the 500-Pod stage to the
//! last; the rollout's peak and what is left a minute after, against before.
//!
//! Environment: `SIDECARSET_BENCH_VARIANTS` (required: whitespace-separated `NAME=BINARY` entries,
//! each optionally followed by `,KEY=VALUE` environment for that variant),
//! `SIDECARSET_BENCH_MEMORY_STAGES` (`injected/other` pairs, whitespace-separated),
//! `SIDECARSET_BENCH_MEMORY_IDLE_SECS` (how long after a rollout memory is read, default 60),
//! `SIDECARSET_BENCH_RECONCILER_ARGS` (extra `run` flags for every variant; default a write budget
//! of 300/s, so that five rollouts of 10,000 Pods take minutes rather than an hour), and the
//! harness's `SIDECARSET_CLUSTER_DIR` / `SIDECARSET_KEEP_CLUSTER`.

use std::{
    path::PathBuf,
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::{coordination::v1::Lease, core::v1::Pod};
use kube::{Api, Client, api::ListParams};
use serde_json::{Value, json};
use sidecarset_cluster_tests::{
    bench,
    cluster::Cluster,
    kubelet::KubeletConfig,
    pods::{self, FILEBEAT_NEW, FILEBEAT_OLD},
    policy::ClusterPolicy,
    procfs::{ProcStatus, Sampler},
    reconciler::{self, Launch, Reconciler},
    testns::TestNs,
};

const PARALLEL_CREATES: usize = 16;
/// Long enough for a list of 11,000 Pods and its first round on two cores, with room to spare.
const SYNC_TIMEOUT: Duration = Duration::from_secs(300);
/// After the first round: the rounds that follow it and the allocators' deferred work are done by
/// then (jemalloc gives dirty pages back over 10 s, `dirty_decay_ms`; a reading after 5 s caught
/// it holding the initial list's pages).
const SETTLE: Duration = Duration::from_secs(15);
const DEFAULT_STAGES: &[(usize, usize)] = &[(0, 0), (500, 0), (5_000, 1_000), (10_000, 1_000)];
const DEFAULT_ARGS: &str = "--max-writes-per-second 300 --max-write-burst 300";

fn main() -> ExitCode {
    let env = match BenchEnv::from_env() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("bench-memory: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    bench::main("bench-memory", |cluster| run(&env, cluster))
}

/// A reconciler build and how it is run.
struct Variant {
    name: String,
    bin: PathBuf,
    env: Vec<(String, String)>,
}

struct BenchEnv {
    variants: Vec<Variant>,
    stages: Vec<(usize, usize)>,
    idle: Duration,
    args: Vec<String>,
}

impl BenchEnv {
    fn from_env() -> Result<BenchEnv> {
        let spec = std::env::var("SIDECARSET_BENCH_VARIANTS").unwrap_or_default();
        ensure!(
            !spec.trim().is_empty(),
            "SIDECARSET_BENCH_VARIANTS is not set: run `make bench-memory`, which builds each allocator's reconciler and names them (NAME=BINARY[,KEY=VALUE...] ...)"
        );
        let variants = spec
            .split_whitespace()
            .map(parse_variant)
            .collect::<Result<Vec<_>>>()?;
        let stages = match std::env::var("SIDECARSET_BENCH_MEMORY_STAGES") {
            Ok(v) if !v.trim().is_empty() => v
                .split_whitespace()
                .map(|s| {
                    let (a, b) = s.split_once('/').with_context(|| {
                        format!("SIDECARSET_BENCH_MEMORY_STAGES: {s:?} is not INJECTED/OTHER")
                    })?;
                    Ok((a.parse()?, b.parse()?))
                })
                .collect::<Result<Vec<(usize, usize)>>>()
                .with_context(|| format!("SIDECARSET_BENCH_MEMORY_STAGES={v}"))?,
            _ => DEFAULT_STAGES.to_vec(),
        };
        ensure!(
            stages
                .windows(2)
                .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1),
            "SIDECARSET_BENCH_MEMORY_STAGES: the Pods only grow from one stage to the next"
        );
        ensure!(
            stages.last().is_some_and(|s| s.0 > 0),
            "SIDECARSET_BENCH_MEMORY_STAGES: the last stage needs injected Pods to roll out over"
        );
        let idle = match std::env::var("SIDECARSET_BENCH_MEMORY_IDLE_SECS") {
            Ok(v) if !v.trim().is_empty() => Duration::from_secs(
                v.trim()
                    .parse()
                    .with_context(|| format!("SIDECARSET_BENCH_MEMORY_IDLE_SECS={v}"))?,
            ),
            _ => Duration::from_secs(60),
        };
        let args = std::env::var("SIDECARSET_BENCH_RECONCILER_ARGS")
            .ok()
            .filter(|a| !a.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_ARGS.to_string())
            .split_whitespace()
            .map(str::to_string)
            .collect();
        Ok(BenchEnv {
            variants,
            stages,
            idle,
            args,
        })
    }
}

fn parse_variant(entry: &str) -> Result<Variant> {
    let mut parts = entry.split(',');
    let head = parts.next().unwrap_or_default();
    let (name, bin) = head.split_once('=').with_context(|| {
        format!("SIDECARSET_BENCH_VARIANTS: {entry:?} is not NAME=BINARY[,KEY=VALUE...]")
    })?;
    let bin = PathBuf::from(bin);
    ensure!(
        bin.is_file(),
        "SIDECARSET_BENCH_VARIANTS: {name}'s binary {} is not a file",
        bin.display()
    );
    let env = parts
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .with_context(|| {
                    format!("SIDECARSET_BENCH_VARIANTS: {kv:?} in {name} is not KEY=VALUE")
                })
        })
        .collect::<Result<_>>()?;
    Ok(Variant {
        name: name.to_string(),
        bin,
        env,
    })
}

/// One variant's figures.
#[derive(Default)]
struct Measured {
    /// Per stage: memory once synced and settled, and the time to the first status.
    stages: Vec<(ProcStatus, Duration)>,
    rollout: Option<RolloutMemory>,
}

struct RolloutMemory {
    took: Duration,
    before: ProcStatus,
    peak_rss_kib: u64,
    after: ProcStatus,
}

async fn run(env: &BenchEnv, cluster: Arc<Cluster>) -> Result<String> {
    let t = TestNs::new(cluster, "bench-memory").await?;
    let res = measure(env, &t).await;
    t.cleanup().await?;
    res
}

async fn measure(env: &BenchEnv, t: &TestNs) -> Result<String> {
    let mut settings = pods::golden_settings("filebeat-story")?;
    settings["updateStrategy"]["maxUnavailable"] = json!("20%");
    let policy = t.policy(&settings).await?;
    let _kubelet = t.kubelet(KubeletConfig {
        restart_delay: Duration::from_millis(200),
        ..KubeletConfig::default()
    });
    let mut measured: Vec<Measured> = env.variants.iter().map(|_| Measured::default()).collect();
    let (mut injected, mut other) = (0, 0);
    for &(want_injected, want_other) in &env.stages {
        create_pods(t, &settings, injected..want_injected, injected_pod)?.await?;
        create_pods(t, &settings, other..want_other, other_pod)?.await?;
        (injected, other) = (want_injected, want_other);
        wait_ready(&t.client, &t.ns, injected + other).await?;
        let generation = policy.get().await?.metadata.generation.unwrap_or(1);
        for (v, m) in env.variants.iter().zip(&mut measured) {
            let (mut rec, synced) = start_synced(env, t, v, &policy, generation, injected).await?;
            tokio::time::sleep(SETTLE).await;
            let pid = rec.pid().context("the reconciler has no PID")?;
            let p = ProcStatus::read(pid)?;
            rec.check_running()?;
            rec.kill()?;
            eprintln!(
                "bench-memory: {injected}/{other} {}: RSS {} (anon {}), synced in {:.2} s",
                v.name,
                mib(p.rss_kib),
                mib(p.anon_kib),
                synced.as_secs_f64()
            );
            m.stages.push((p, synced));
        }
    }

    // --- a rollout per variant, over the last stage's Pods ---
    let mut current = settings;
    for (i, (v, m)) in env.variants.iter().zip(&mut measured).enumerate() {
        let generation = policy.get().await?.metadata.generation.unwrap_or(1);
        let (mut rec, _) = start_synced(env, t, v, &policy, generation, injected).await?;
        tokio::time::sleep(SETTLE).await;
        let pid = rec.pid().context("the reconciler has no PID")?;
        let before = ProcStatus::read(pid)?;
        let sampler = Sampler::start(pid);
        let image = if i % 2 == 0 {
            FILEBEAT_NEW
        } else {
            FILEBEAT_OLD
        };
        pods::set_image(&mut current, "filebeat", image)?;
        let edited = Instant::now();
        let generation = policy.set_settings(&current).await?;
        eprintln!(
            "bench-memory: {} rolling out {image} over {injected} Pods",
            v.name
        );
        wait_status(
            &policy,
            generation,
            injected,
            "updatedReadyPods",
            SYNC_TIMEOUT * 4,
        )
        .await?;
        let took = edited.elapsed();
        tokio::time::sleep(env.idle).await;
        let after = ProcStatus::read(pid)?;
        let samples = sampler.stop().await;
        rec.check_running()?;
        rec.kill()?;
        let peak_rss_kib = samples
            .iter()
            .map(|(_, s)| s.rss_kib)
            .chain([before.rss_kib, after.rss_kib])
            .max()
            .unwrap_or(0);
        eprintln!(
            "bench-memory: {} rollout in {:.0} s: RSS {} before, {} peak, {} {} s after",
            v.name,
            took.as_secs_f64(),
            mib(before.rss_kib),
            mib(peak_rss_kib),
            mib(after.rss_kib),
            env.idle.as_secs()
        );
        m.rollout = Some(RolloutMemory {
            took,
            before,
            peak_rss_kib,
            after,
        });
    }
    Ok(report(env, &measured))
}

fn injected_pod(settings: &Value, ns: &str, i: usize) -> Result<Value> {
    let mut pod = pods::golden_pod("filebeat-story")?;
    pods::named(&mut pod, &format!("web-{i}"), &[]);
    pods::inject(settings, &pod, ns)
}

/// A Pod the set does not select (and so never injected): what every other workload is.
fn other_pod(_: &Value, _: &str, i: usize) -> Result<Value> {
    let mut pod = pods::golden_pod("filebeat-story")?;
    pods::named(
        &mut pod,
        &format!("other-{i}"),
        &[("kruise.io/inject-filebeat", "false")],
    );
    Ok(pod)
}

fn create_pods<'a>(
    t: &'a TestNs,
    settings: &'a Value,
    range: std::ops::Range<usize>,
    make: fn(&Value, &str, usize) -> Result<Value>,
) -> Result<impl Future<Output = Result<()>> + 'a> {
    let n = range.len();
    Ok(async move {
        if n == 0 {
            return Ok(());
        }
        let started = Instant::now();
        futures::stream::iter(range)
            .map(|i| async move {
                let pod = make(settings, &t.ns, i)?;
                pods::create(&t.client, &t.ns, &pod).await.map(drop)
            })
            .buffer_unordered(PARALLEL_CREATES)
            .try_collect::<Vec<()>>()
            .await?;
        eprintln!(
            "bench-memory: {n} Pods created in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    })
}

/// Every Pod of the namespace Ready (the fake kubelet's work), counted from paged lists.
async fn wait_ready(client: &Client, ns: &str, n: usize) -> Result<()> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let deadline = Instant::now() + SYNC_TIMEOUT;
    loop {
        let mut ready = 0;
        let mut lp = ListParams::default().limit(1000);
        loop {
            let page = api.list(&lp).await?;
            ready += page.items.iter().filter(|p| pods::is_ready(p)).count();
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(c) => lp = lp.continue_token(&c),
                None => break,
            }
        }
        if ready == n {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("{ready} of {n} Pods Ready after {SYNC_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// `v` started and its caches synced, its status written for `generation` over `injected` Pods.
async fn start_synced(
    env: &BenchEnv,
    t: &TestNs,
    v: &Variant,
    policy: &ClusterPolicy,
    generation: i64,
    injected: usize,
) -> Result<(Reconciler, Duration)> {
    let env_vars: Vec<(&str, &str)> = v
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // The previous variant was killed holding the Lease, which this one would wait out (15 s)
    // before its first round: the Lease goes with it (the shipped Role names the Lease, so each
    // start cannot take a new one).
    let leases: Api<Lease> = Api::namespaced(t.client.clone(), &t.ns);
    match leases
        .delete("sidecarset-reconciler", &Default::default())
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 => {}
        Err(e) => return Err(e).context("deleting the previous variant's Lease"),
    }
    let args: Vec<&str> = env.args.iter().map(String::as_str).collect();
    let started = Instant::now();
    let mut rec = t.reconciler_launch(
        &t.service_account(),
        &t.policy_source(),
        &args,
        &Launch {
            bin: Some(&v.bin),
            env: &env_vars,
            ..Launch::default()
        },
    )?;
    // Ready, then a round of this process's own: the policy's status still says what the previous
    // variant wrote, so the round is read from its metrics (a round done, every Pod counted updated
    // and ready).
    let addr = rec.metrics_addr;
    let deadline = Instant::now() + SYNC_TIMEOUT;
    loop {
        let state = if reconciler::http_get(addr, "/readyz").is_err() {
            "not ready".to_string()
        } else {
            let text = reconciler::http_get(addr, "/metrics")?;
            let rounds =
                reconciler::metric_value(&text, "sidecarset_reconciler_reconciles_total", &[]);
            let ready =
                reconciler::metric_value(&text, "sidecarset_reconciler_updated_ready_pods", &[]);
            if rounds > 0.0 && ready == injected as f64 {
                break;
            }
            format!("{rounds} rounds, {ready} of {injected} Pods updated and ready")
        };
        rec.check_running()?;
        if Instant::now() >= deadline {
            bail!(
                "{}: {state} after {SYNC_TIMEOUT:?}\n{}",
                v.name,
                rec.log_tail(30)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let synced = started.elapsed();
    wait_status(
        policy,
        generation,
        injected,
        "updatedReadyPods",
        SYNC_TIMEOUT,
    )
    .await?;
    rec.check_running()?;
    Ok((rec, synced))
}

async fn wait_status(
    policy: &ClusterPolicy,
    generation: i64,
    n: usize,
    field: &str,
    timeout: Duration,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let s = policy.status().await?.unwrap_or(Value::Null);
        if s["observedGeneration"] == generation && s["matchedPods"] == n && s[field] == n {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("status not at generation {generation} with {n} {field} after {timeout:?}: {s}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn report(env: &BenchEnv, measured: &[Measured]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let stages = &env.stages;
    let _ = writeln!(
        out,
        "\n## Reconciler memory by allocator (make bench-memory; RSS after sync + first status + {} s)\n",
        SETTLE.as_secs()
    );
    let _ = write!(out, "| variant |");
    for (i, o) in stages {
        let _ = write!(out, " {i}/{o} Pods |");
    }
    let _ = writeln!(
        out,
        " per injected Pod over empty (5,000/1,000) | growth per cached Pod, 500 → last |"
    );
    let _ = write!(out, "|---|");
    for _ in stages {
        let _ = write!(out, "---:|");
    }
    let _ = writeln!(out, "---:|---:|");
    let at = |m: &Measured, want: (usize, usize)| {
        stages
            .iter()
            .position(|s| *s == want)
            .and_then(|i| m.stages.get(i))
            .map(|(p, _)| p.rss_kib)
    };
    for (v, m) in env.variants.iter().zip(measured) {
        let _ = write!(out, "| {} |", v.name);
        for (p, _) in &m.stages {
            let _ = write!(out, " {} |", mib(p.rss_kib));
        }
        let per_injected = match (at(m, (0, 0)), at(m, (5_000, 1_000))) {
            (Some(empty), Some(full)) => format!(
                "{:.2} KB",
                (full as f64 - empty as f64) * 1024.0 / 5_000.0 / 1000.0
            ),
            _ => "—".into(),
        };
        let last = stages.last().copied().unwrap_or_default();
        let growth = match (at(m, (500, 0)), at(m, last)) {
            (Some(a), Some(b)) if last.0 + last.1 > 500 => format!(
                "{:.2} KB",
                (b as f64 - a as f64) * 1024.0 / (last.0 + last.1 - 500) as f64 / 1000.0
            ),
            _ => "—".into(),
        };
        let _ = writeln!(out, " {per_injected} | {growth} |");
    }
    let _ = writeln!(
        out,
        "\n| variant | rollout ({} injected Pods) | CPU | RSS before | peak | {} s after | after − before | anon before / after |",
        stages.last().map_or(0, |s| s.0),
        env.idle.as_secs()
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for (v, m) in env.variants.iter().zip(measured) {
        if let Some(r) = &m.rollout {
            let _ = writeln!(
                out,
                "| {} | {:.0} s | {:.1} s | {} | {} | {} | {:+.1} MiB | {} / {} |",
                v.name,
                r.took.as_secs_f64(),
                r.after.cpu.saturating_sub(r.before.cpu).as_secs_f64(),
                mib(r.before.rss_kib),
                mib(r.peak_rss_kib),
                mib(r.after.rss_kib),
                (r.after.rss_kib as f64 - r.before.rss_kib as f64) / 1024.0,
                mib(r.before.anon_kib),
                mib(r.after.anon_kib)
            );
        }
    }
    let per_stage = |f: &dyn Fn(&(ProcStatus, Duration)) -> Duration| {
        env.variants
            .iter()
            .zip(measured)
            .map(|(v, m)| {
                let stages: Vec<String> = m
                    .stages
                    .iter()
                    .map(|s| format!("{:.2} s", f(s).as_secs_f64()))
                    .collect();
                format!("{} {}", v.name, stages.join(" / "))
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let _ = writeln!(
        out,
        "\nCPU from start to settled, per stage: {}",
        per_stage(&|(p, _)| p.cpu)
    );
    let _ = writeln!(
        out,
        "Time from start to this process's first round counting every Pod, per stage: {}",
        per_stage(&|(_, d)| *d)
    );
    let _ = writeln!(
        out,
        "Reconciler flags beyond the harness's: {}",
        env.args.join(" ")
    );
    out
}
