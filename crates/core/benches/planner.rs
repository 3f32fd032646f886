//! One reconcile's planning (`sidecarset_core::upgrade::plan_digests`) over 1k, 10k, 100k and 150k
//! matched Pods, from their digests (the reconciler makes a Pod's digest once per watch event, not
//! per round). Goal: 100k Pods in under 100 ms.
//!
//! The Pods are the Filebeat story's, made by the real injection and upgraded by the planner itself
//! (so hashes and records are what a cluster would hold), then cloned with distinct names,
//! resourceVersions and creation/ready times (so the ActivePods sort has work to do). Mix: 40%
//! updated, 40% to upgrade, 10% to upgrade but not Ready, 10% updated and still restarting.
//!
//! Scenarios: `max1` (Kruise's default `maxUnavailable: 1`) and `wide` (`maxUnavailable: 20%`,
//! `weightPriority` and `scatterStrategy`: the whole ordering path, and a patch for 20% of the Pods).
//!
//! `digest/filebeat-pod`: one Pod read into its digest, what each watch event costs.
//!
//! `cargo bench -p sidecarset-core --bench planner`
//!
//! With `PLANNER_ONE_ROUND=<n>` the binary makes `n` Pods, plans one `wide-paced` round from scratch
//! and exits, for an instruction count that other load does not move:
//! `valgrind --tool=callgrind --toggle-collect='planner::one_round' <bench binary>`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion};
use serde_json::{Value, json};
use sidecarset_core::upgrade::{self, Interner, Options, PodDigest, Round, SetPlanner};

#[path = "../tests/upgrade_support/mod.rs"]
mod upgrade_support;
use upgrade_support::{Cluster, NOW, app_pod, set, set_ready, with};

const OLD: &str = "docker.elastic.co/beats/filebeat:7.16.2";
const NEW: &str = "docker.elastic.co/beats/filebeat:7.16.3";

fn settings(image: &str) -> Value {
    json!({
        "name": "filebeat",
        "selector": {"matchLabels": {"app": "web"}},
        "updateStrategy": {"maxUnavailable": 1},
        "containers": [{
            "name": "filebeat",
            "image": image,
            "args": ["-c", "/etc/filebeat.yml", "-e"],
            "env": [{"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}}],
            "resources": {"limits": {"memory": "200Mi"}, "requests": {"cpu": "100m", "memory": "100Mi"}},
            "volumeMounts": [
                {"name": "config", "mountPath": "/etc/filebeat.yml", "readOnly": true, "subPath": "filebeat.yml"},
                {"name": "log", "mountPath": "/var/log/nginx"}
            ]
        }],
        "volumes": [
            {"name": "config", "configMap": {"name": "filebeat-config"}},
            {"name": "log", "emptyDir": {}}
        ]
    })
}

/// `2026-11-01T00:00:00Z` plus `s` seconds.
fn time(s: usize) -> String {
    let (d, s) = (s / 86_400, s % 86_400);
    format!(
        "2026-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        11 + d / 30,
        1 + d % 30,
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// The four kinds of Pod, as a cluster would hold them.
fn templates() -> [Value; 4] {
    let v1 = set(&settings(OLD));
    let v2 = set(&with(
        &settings(NEW),
        "/updateStrategy/maxUnavailable",
        json!("100%"),
    ));
    let mut c = Cluster::new(
        &v1,
        (0..4)
            .map(|i| app_pod(&format!("t-{i}"), json!({"app": "web"})))
            .collect(),
    );
    // t-0 upgraded and restarted, t-3 upgraded and restarting; t-1 and t-2 on the old sidecar.
    let plan = upgrade::plan(&v2, &c.pods, &BTreeMap::new(), NOW, &Options::default());
    for w in plan.upgrades.iter().filter(|w| w.pod.name == "t-0") {
        c.apply(w);
    }
    c.kubelet(true);
    let plan = upgrade::plan(&v2, &c.pods, &BTreeMap::new(), NOW, &Options::default());
    for w in plan.upgrades.iter().filter(|w| w.pod.name == "t-3") {
        c.apply(w);
    }
    set_ready(&mut c.pods[2], false);
    let [a, b, d, e]: [Value; 4] = c.pods.try_into().expect("four Pods");
    [a, b, d, e]
}

fn pods(n: usize, t: &[Value; 4]) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let kind = match i % 10 {
                0..=3 => 0,
                4..=7 => 1,
                8 => 2,
                _ => 3,
            };
            let mut p = t[kind].clone();
            let m = &mut p["metadata"];
            m["name"] = json!(format!("web-{i}"));
            m["uid"] = json!(format!("uid-{i}"));
            m["resourceVersion"] = json!(format!("{}", 1000 + i));
            m["creationTimestamp"] = json!(time(i * 7 % 1_000_000));
            m["labels"]["zone"] = json!(format!("z{}", i % 3));
            m["labels"]["tier"] = json!(if i % 4 == 0 { "canary" } else { "main" });
            p["status"]["conditions"][0]["lastTransitionTime"] =
                json!(time(i * 13 % 1_000_000 + 3600));
            p
        })
        .collect()
}

fn strategy_wide(s: &Value) -> Value {
    let s = with(s, "/updateStrategy/maxUnavailable", json!("20%"));
    let s = with(
        &s,
        "/updateStrategy/priorityStrategy",
        json!({"weightPriority": [{"weight": 10, "matchSelector": {"matchLabels": {"tier": "canary"}}}]}),
    );
    with(
        &s,
        "/updateStrategy/scatterStrategy",
        json!([{"key": "zone", "value": "z0"}]),
    )
}

/// This thread's CPU time in ns (Linux `schedstat`): unlike criterion's wall clock, not inflated
/// when other processes share the cores.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn report_cpu_time(
    pods: &[PodDigest],
    n: usize,
    max1: &sidecarset_core::SidecarSet,
    wide: &sidecarset_core::SidecarSet,
) {
    let none = BTreeMap::new();
    for (name, s, opts) in [
        ("max1", max1, Options::default()),
        ("wide", wide, Options::default()),
        ("wide-paced", wide, paced()),
    ] {
        let runs = (200_000 / n).clamp(5, 50);
        let Some(t0) = thread_cpu_ns() else { return };
        for _ in 0..runs {
            black_box(upgrade::plan_digests(s, black_box(pods), &none, NOW, &opts));
        }
        let Some(t1) = thread_cpu_ns() else { return };
        let mean = (t1 - t0) / runs as u64;
        println!(
            "plan/{name}/{n}: thread CPU time, mean of {runs}: {:.2} ms",
            mean as f64 / 1e6
        );
    }
}

/// The reconciler's round after one Pod event: its [`SetPlanner`] kept from the last round, the
/// Pod put in again (a new version of it), and a round that does not name every other Pod.
/// `wide` has a `scatterStrategy`, whose order depends on every matched Pod's labels: its rounds
/// order all candidates anew.
fn event_round(
    c: &mut Criterion,
    n: usize,
    pods: &[PodDigest],
    name: &str,
    set: &sidecarset_core::SidecarSet,
) {
    let mut planner: SetPlanner<&PodDigest> = SetPlanner::new(set.clone(), BTreeMap::new());
    planner.extend(pods.iter().enumerate());
    let opts = paced();
    let full = planner.round(NOW, &opts, true);
    let lean = planner.round(NOW, &opts, false);
    assert_eq!(lean.upgrades, full.upgrades, "a lean round writes the same");
    let mut g = c.benchmark_group("event-round");
    let mut i = 0usize;
    g.bench_function(BenchmarkId::new(name, n), |b| {
        b.iter(|| {
            // Pods change one at a time, as the watch delivers them.
            i = (i + 7919) % n;
            planner.upsert(i, &pods[i]);
            black_box(planner.round(NOW, &opts, false))
        })
    });
    g.finish();
}

/// As the reconciler plans: patches built only for what one second of its default write budget
/// pays for (`upgrades_per_round`: 20 writes/s, 6 writes per upgraded Pod).
fn paced() -> Options<'static> {
    Options {
        max_upgrades: Some(3),
        ..Options::default()
    }
}

/// One `wide-paced` round from scratch, its plan dropped too (as criterion's loop does): what
/// `PLANNER_ONE_ROUND` counts.
#[inline(never)]
fn one_round(
    set: &sidecarset_core::SidecarSet,
    pods: &[PodDigest],
    none: &BTreeMap<String, sidecarset_core::selector::Labels>,
) -> usize {
    let p = upgrade::plan_digests(set, black_box(pods), none, NOW, &paced());
    black_box(p).skipped.len()
}

fn main() {
    let t = templates();
    let max1 = set(&settings(NEW));
    let wide = set(&strategy_wide(&settings(NEW)));
    let none = BTreeMap::new();
    let opts = Options::default();

    if let Some(n) = std::env::var("PLANNER_ONE_ROUND")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
    {
        let mut interner = Interner::default();
        let pods: Vec<PodDigest> = pods(n, &t)
            .iter()
            .map(|p| PodDigest::new(p, &mut interner))
            .collect();
        // A round first, uncounted: the counted one then starts where criterion's iterations do
        // (after a round's plan was dropped, not after the setup's frees).
        drop(upgrade::plan_digests(&wide, &pods, &none, NOW, &paced()));
        let skipped = one_round(&wide, &pods, &none);
        println!("plan/wide-paced/{n}: one round, {skipped} Pods skipped");
        return;
    }

    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1));
    for n in [1_000usize, 10_000, 100_000, 150_000] {
        let mut interner = Interner::default();
        let pods: Vec<PodDigest> = pods(n, &t)
            .iter()
            .map(|p| PodDigest::new(p, &mut interner))
            .collect();
        // What is timed must be a real round: check its shape once.
        for s in [&max1, &wide] {
            let p = upgrade::plan_digests(s, &pods, &none, NOW, &opts);
            assert_eq!(p.round, Round::Upgrade);
            assert_eq!(p.status.matched_pods as usize, n);
            assert_eq!(p.status.updated_pods as usize, n / 2);
        }
        // max1: the restarting 10% hold the budget; the not-ready 10% come first and go for free.
        let p = upgrade::plan_digests(&max1, &pods, &none, NOW, &opts);
        assert_eq!(p.upgrades.len(), n / 10);
        // wide: up to 10% more (the Ready ones within the 20% budget), in priority/scatter order.
        let p = upgrade::plan_digests(&wide, &pods, &none, NOW, &opts);
        assert!(p.upgrades.len() > n / 10 && p.upgrades.len() <= n / 5 + n / 10);
        println!("plan/wide/{n}: {} Pod patches per round", p.upgrades.len());
        report_cpu_time(&pods, n, &max1, &wide);
        let mut g = c.benchmark_group("plan");
        if n >= 10_000 {
            g.sample_size(10);
        }
        let paced = paced();
        for (name, s, opts) in [
            ("max1", &max1, &opts),
            ("wide", &wide, &opts),
            ("wide-paced", &wide, &paced),
        ] {
            g.bench_with_input(BenchmarkId::new(name, n), &pods, |b, pods| {
                b.iter(|| upgrade::plan_digests(s, black_box(pods), &none, NOW, opts))
            });
        }
        g.finish();
        event_round(&mut c, n, &pods, "max1", &max1);
        event_round(&mut c, n, &pods, "wide", &wide);
    }
    // What one watch event costs the reconciler before any round: reading the Pod into its digest
    // (the interner already holds the fleet's shared values, as it does in a running reconciler).
    let one = pods(1, &t).remove(0);
    let mut interner = Interner::default();
    let _kept = PodDigest::new(&one, &mut interner);
    c.bench_function("digest/filebeat-pod", |b| {
        b.iter(|| PodDigest::new(black_box(&one), &mut interner))
    });
    c.final_summary();
}
