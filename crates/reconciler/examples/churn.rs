//! The reconciler's Pod path under churn, without an API server: how much CPU a fleet's Pod events
//! cost once the caches are synced.
//!
//! ```text
//! cargo run --release -p sidecarset-reconciler --example churn [-- PODS EVENTS_PER_SECOND SECONDS]
//! ```
//!
//! PODS (default 100,000) Filebeat-injected Pods (test_data/golden/filebeat-story) go through the
//! Pod index as the initial list; the set is the story's with the image bumped, `maxUnavailable:
//! 20%`, so every Pod is a candidate. Then, for SECONDS (default 10), EVENTS_PER_SECOND (default 100)
//! watch events arrive evenly spaced (a Pod's new version: Ready flips, as a kubelet reports it), and
//! each is followed by the round the controller would run: the index's changes read into the set's
//! planner, and a round as the reconciler asks for it (lean, patches for what one second of the
//! default write budget pays for). Reported: the first full build of the planner (a settings edit or
//! a start), rounds per second, the mean round, and the CPU time this thread used per second of
//! wall time.

use std::{path::Path, time::Instant};

use kube::runtime::watcher::Event;
use serde_json::{Value, json};
use sidecarset_core::{
    SidecarSet,
    upgrade::{Options, SetPlanner},
};
use sidecarset_reconciler::{
    pod_index::{Changes, PodIndex},
    round::upgrades_per_round,
    snapshot::WatchedPod,
};

fn golden(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../test_data/golden/filebeat-story")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Pod `i` as the watch delivers it: Running, Ready (or not), its containers started.
fn pod(template: &Value, i: usize, version: u64, ready: bool) -> WatchedPod {
    let mut p = template.clone();
    let m = &mut p["metadata"];
    m["name"] = json!(format!("web-{i:06}"));
    m["namespace"] = json!(format!("team-{}", i % 50));
    m["uid"] = json!(format!("uid-{i}"));
    m["resourceVersion"] = json!(version.to_string());
    m["creationTimestamp"] = json!(format!("2026-11-25T{:02}:{:02}:00Z", i / 60 % 24, i % 60));
    p["spec"]["nodeName"] = json!(format!("node-{}", i % 200));
    let statuses: Vec<Value> = p["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            json!({"name": c["name"], "ready": ready, "restartCount": 0,
                   "image": c["image"], "imageID": format!("{}@sha256:{}", c["image"].as_str().unwrap_or(""), "ab".repeat(32))})
        })
        .collect();
    let r = if ready { "True" } else { "False" };
    p["status"] = json!({"phase": "Running",
        "conditions": [{"type": "Ready", "status": r, "lastTransitionTime": "2026-11-25T10:00:05Z"}],
        "containerStatuses": statuses});
    WatchedPod::new(p)
}

/// This thread's CPU time in ns (Linux `schedstat`).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<u64>().expect("a number"));
    let n = args.next().unwrap_or(100_000) as usize;
    let rate = args.next().unwrap_or(100).max(1);
    let seconds = args.next().unwrap_or(10).max(1);

    let template: Value = serde_json::from_str(&golden("expected.json")).expect("JSON");
    let mut settings: Value = serde_yaml::from_str(&golden("settings.yaml")).expect("YAML");
    settings["containers"][0]["image"] = json!("docker.elastic.co/beats/filebeat:7.16.3");
    settings["updateStrategy"]["maxUnavailable"] = json!("20%");
    let set = SidecarSet::new(&settings).expect("valid settings");

    let index = PodIndex::default();
    let t = Instant::now();
    index.apply(Event::Init);
    for i in 0..n {
        index.apply(Event::InitApply(pod(&template, i, 1, true)));
    }
    index.apply(Event::InitDone);
    let listed = t.elapsed();

    let t = Instant::now();
    let (pods, mut cursor) = index.all(|p| p.injected_by(set.name()));
    let mut planner = SetPlanner::new(set.clone(), Default::default());
    planner.extend(pods);
    let built = t.elapsed();
    let opts = Options {
        max_upgrades: Some(upgrades_per_round(20.0)),
        ..Options::default()
    };
    let now = "2026-11-25T11:00:00Z";
    let first = planner.round(now, &opts, false);
    assert_eq!(
        first.status.matched_pods as usize, n,
        "every Pod is matched"
    );
    assert_eq!(first.upgrades.len(), opts.max_upgrades.unwrap_or(0).min(n));

    let events = rate * seconds;
    let gap = std::time::Duration::from_secs_f64(1.0 / rate as f64);
    let (cpu0, wall0) = (thread_cpu_ns(), Instant::now());
    let mut round_ns = 0u128;
    let mut next = Instant::now();
    for e in 0..events {
        let i = (e as usize * 7919) % n;
        index.apply(Event::Apply(pod(&template, i, 2 + e, e % 2 == 0)));
        let t = Instant::now();
        let (changes, at) = index.changes(cursor);
        cursor = at;
        let Changes::Pods(changed) = changes else {
            panic!("the log covers a few events");
        };
        for (id, p) in changed {
            match p {
                Some(p) => planner.upsert(id, p),
                None => drop(planner.remove(id)),
            }
        }
        let plan = planner.round(now, &opts, false);
        round_ns += t.elapsed().as_nanos();
        assert_eq!(plan.status.matched_pods as usize, n);
        next += gap;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let (cpu, wall) = (thread_cpu_ns() - cpu0, wall0.elapsed());
    println!("{n} Pods, {rate} Pod events/s for {seconds} s:");
    println!(
        "  initial list through the index:   {:.2} s",
        listed.as_secs_f64()
    );
    println!(
        "  planner built from the index:     {:.1} ms",
        built.as_secs_f64() * 1e3
    );
    println!(
        "  rounds per second:                {:.1}",
        events as f64 / wall.as_secs_f64()
    );
    println!(
        "  mean round (changes + plan):      {:.1} µs",
        round_ns as f64 / events as f64 / 1e3
    );
    println!(
        "  CPU (this thread, incl. digests): {:.1}% of one core",
        cpu as f64 / wall.as_nanos() as f64 * 100.0
    );
}
