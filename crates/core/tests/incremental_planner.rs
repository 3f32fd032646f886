//! The reconciler's incremental planner ([`SetPlanner`] kept between rounds, fed one Pod event at a
//! time) plans exactly as a planner given the fleet as it is now: on random fleets, random strategies
//! and random sequences of Pod events (new Pods, new versions, deletions, Namespace label changes).

mod upgrade_support;

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};
use sidecarset_core::annotations;
use sidecarset_core::upgrade::{self, Interner, Options, Plan, PodDigest, SetPlanner};
use upgrade_support::*;

fn agent(image: &str) -> Value {
    json!({
        "name": "agent",
        "selector": {"matchLabels": {"app": "web"}},
        "containers": [{"name": "agent", "image": image}],
    })
}

/// Pods in every state a round tells apart, as the simulated API server and kubelet leave them.
fn variants() -> Vec<Value> {
    let s1 = set(&agent("agent:1"));
    let s2 = set(&with(
        &agent("agent:2"),
        "/updateStrategy/maxUnavailable",
        json!("100%"),
    ));
    let mut c = Cluster::web(&s1, 3);
    // web-0: upgraded and restarted; web-1: upgraded, kubelet not done yet; web-2: old.
    let plan = c.plan(&s2);
    for w in plan.upgrades.iter().filter(|w| w.pod.name != "web-2") {
        c.apply(w);
    }
    c.kubelet(true);
    let plan = c.plan(&s2);
    for w in plan.upgrades.iter().filter(|w| w.pod.name == "web-1") {
        c.apply(w);
    }
    let [done, restarting, old]: [Value; 3] = c.pods.try_into().expect("three Pods");
    let mut out = vec![done, restarting, old.clone()];
    let mut not_ready = old.clone();
    set_ready(&mut not_ready, false);
    out.push(not_ready);
    out.push(with(&old, "/metadata/labels/app", json!("db")));
    out.push(with(&old, "/metadata/labels/tier", json!("canary")));
    out.push(with(&old, "/metadata/labels/zone", json!("a")));
    out.push(with(&old, "/status/phase", json!("Succeeded")));
    let mut torn = old.clone();
    set_annotation(&mut torn, annotations::HASH, "{not json");
    out.push(torn);
    let mut changed = old.clone();
    set_annotation(
        &mut changed,
        annotations::HASH_WITHOUT_IMAGE,
        r#"{"agent":{"hash":"other","sidecarSetName":"agent"}}"#,
    );
    out.push(changed);
    out.push(with(&old, "/metadata/namespace", json!("frozen")));
    // Selected, but created without the sidecars.
    let mut bare = old.clone();
    bare["metadata"]["annotations"] = json!({});
    out.push(bare);
    out
}

/// Variant `v` as Pod `slot`: its own name, uid, version and times.
fn instance(variants: &[Value], v: usize, slot: usize, version: usize) -> Value {
    let mut p = variants[v % variants.len()].clone();
    let m = &mut p["metadata"];
    m["name"] = json!(format!("pod-{slot}"));
    m["uid"] = json!(format!("uid-{slot}"));
    m["resourceVersion"] = json!(format!("{}", 1000 + version));
    m["creationTimestamp"] = json!(format!("2026-11-25T09:{:02}:00Z", (slot * 7) % 60));
    if let Some(c) = p["status"]["conditions"]
        .as_array_mut()
        .and_then(|c| c.first_mut())
    {
        c["lastTransitionTime"] = json!(format!("2026-11-25T09:30:{:02}Z", (slot * 13) % 60));
    }
    p
}

fn strategy(n: usize) -> Value {
    // The Namespace selector is not hashed: Pods injected without it are this set's too.
    let base = with(
        &agent("agent:2"),
        "/namespaceSelector",
        json!({"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["frozen"]}]}),
    );
    match n % 7 {
        0 => base,
        1 => with(&base, "/updateStrategy/maxUnavailable", json!(3)),
        2 => with(&base, "/updateStrategy/maxUnavailable", json!("50%")),
        3 => with(
            &with(&base, "/updateStrategy/maxUnavailable", json!("100%")),
            "/updateStrategy/partition",
            json!(2),
        ),
        4 => with(
            &with(&base, "/updateStrategy/maxUnavailable", json!(2)),
            "/updateStrategy/priorityStrategy",
            json!({"weightPriority": [{"weight": 5, "matchSelector": {"matchLabels": {"tier": "canary"}}}]}),
        ),
        5 => with(
            &with(&base, "/updateStrategy/maxUnavailable", json!(4)),
            "/updateStrategy/scatterStrategy",
            json!([{"key": "zone", "value": "a"}]),
        ),
        _ => with(
            &base,
            "/updateStrategy/selector",
            json!({"matchLabels": {"tier": "canary"}}),
        ),
    }
}

/// Indexes differ (slot ids against list positions); everything else must not.
fn normalised(mut p: Plan) -> Plan {
    for c in p.upgrades.iter_mut().filter_map(|u| u.condition.as_mut()) {
        c.pod.index = 0;
    }
    for r in p
        .flips
        .iter_mut()
        .chain(p.upgrades.iter_mut())
        .map(|u| &mut u.pod)
        .chain(p.conditions.iter_mut().map(|c| &mut c.pod))
        .chain(p.skipped.iter_mut().map(|s| &mut s.pod))
        .chain(p.warnings.iter_mut().map(|w| &mut w.pod))
    {
        r.index = 0;
    }
    p
}

#[derive(Clone, Debug)]
enum Op {
    Put { slot: usize, variant: usize },
    Delete { slot: usize },
    Freeze(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..24usize, 0..64usize).prop_map(|(slot, variant)| Op::Put { slot, variant }),
        2 => (0..24usize).prop_map(|slot| Op::Delete { slot }),
        1 => any::<bool>().prop_map(Op::Freeze),
    ]
}

fn namespaces(frozen: bool) -> BTreeMap<String, BTreeMap<String, String>> {
    let team = if frozen { "frozen" } else { "web" };
    BTreeMap::from([
        ("default".to_string(), BTreeMap::new()),
        (
            "frozen".to_string(),
            BTreeMap::from([("team".to_string(), team.to_string())]),
        ),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn incremental_rounds_plan_as_a_fresh_planner(
        strategy_n in 0..7usize,
        max_upgrades in prop_oneof![Just(None), (1..4usize).prop_map(Some)],
        ops in prop::collection::vec(op(), 1..60),
    ) {
        let variants = variants();
        let s = set(&strategy(strategy_n));
        let mut interner = Interner::default();
        let mut planner: SetPlanner<PodDigest> = SetPlanner::new(s.clone(), namespaces(false));
        let mut live: BTreeMap<usize, PodDigest> = BTreeMap::new();
        let mut frozen = false;
        let opts = Options { max_upgrades, ..Options::default() };
        for (version, op) in ops.into_iter().enumerate() {
            match op {
                Op::Put { slot, variant } => {
                    let d = PodDigest::new(&instance(&variants, variant, slot, version), &mut interner);
                    live.insert(slot, d.clone());
                    planner.upsert(slot, d);
                }
                Op::Delete { slot } => {
                    live.remove(&slot);
                    planner.remove(slot);
                }
                Op::Freeze(f) => {
                    frozen = f;
                    planner.set_namespaces(namespaces(f));
                }
            }
            let fleet: Vec<&PodDigest> = live.values().collect();
            let fresh = upgrade::plan_digests(&s, &fleet, &namespaces(frozen), NOW, &opts);
            let kept = planner.round(NOW, &opts, true);
            prop_assert_eq!(normalised(kept), normalised(fresh.clone()));
            // A round that does not enumerate every Pod writes the same and counts the same.
            let lean = planner.round(NOW, &opts, false);
            prop_assert_eq!(lean.status, fresh.status);
            prop_assert_eq!(lean.round, fresh.round);
            let lean = normalised(lean);
            let fresh = normalised(fresh);
            prop_assert_eq!(&lean.flips, &fresh.flips);
            prop_assert_eq!(&lean.conditions, &fresh.conditions);
            prop_assert_eq!(&lean.upgrades, &fresh.upgrades);
            prop_assert_eq!(&lean.warnings, &fresh.warnings);
            for s in &lean.skipped {
                prop_assert!(fresh.skipped.contains(s), "{:?} not in the full round", s);
            }
            if fresh.round == upgrade::Round::Upgrade {
                let stuck: Vec<&str> = fresh
                    .skipped
                    .iter()
                    .filter(|s| s.reason.code() == "NotUpgradable")
                    .map(|s| s.pod.name.as_str())
                    .collect();
                let kept: Vec<&str> = planner.not_upgradable().map(|(_, p, _)| p.name()).collect();
                prop_assert_eq!(kept, stuck, "the not-upgradable Pods the reconciler announces");
            }
            let uninjected: Vec<&str> = fresh
                .skipped
                .iter()
                .filter(|s| s.reason.is_uninjected())
                .map(|s| s.pod.name.as_str())
                .collect();
            let kept: Vec<&str> = planner.uninjected().map(|(_, p, _)| p.name()).collect();
            prop_assert_eq!(kept, uninjected, "the uninjected Pods the reconciler announces");
            let waits = |p: &Plan| p.skipped.iter().any(|s| s.reason.code() == "WaitingForWriteBudget");
            prop_assert_eq!(waits(&lean), waits(&fresh), "both tell that more is to be written");
        }
    }
}

/// The revisions the planner's Pods name follow the Pods: injected under one revision, upgraded to
/// the next (the patch names it), removed.
#[test]
fn revisions_in_use_follow_the_pods() {
    let s1 = set(&agent("agent:1"));
    let s2 = set(&with(
        &agent("agent:2"),
        "/updateStrategy/maxUnavailable",
        json!("100%"),
    ));
    let (r1, r2) = (
        s1.revision_name().to_string(),
        s2.revision_name().to_string(),
    );
    assert_ne!(r1, r2);
    let mut c = Cluster::web(&s1, 2);
    let mut interner = Interner::default();
    let mut planner: SetPlanner<PodDigest> = SetPlanner::new(s2.clone(), BTreeMap::new());
    for (i, p) in c.pods.iter().enumerate() {
        planner.upsert(i, PodDigest::new(p, &mut interner));
    }
    assert!(planner.revision_in_use(&r1) && !planner.revision_in_use(&r2));

    let options = Options {
        controller_revision: &r2,
        ..Options::default()
    };
    let plan = planner.round(upgrade_support::NOW, &options, false);
    assert_eq!(plan.upgrades.len(), 2);
    c.apply(&plan.upgrades[0]);
    planner.upsert(0, PodDigest::new(&c.pods[0], &mut interner));
    assert!(planner.revision_in_use(&r1) && planner.revision_in_use(&r2));
    let entry: Value =
        serde_json::from_str(upgrade_support::annotation(&c.pods[0], annotations::HASH).unwrap())
            .unwrap();
    assert_eq!(entry["agent"]["controllerRevision"], r2.as_str());

    planner.remove(1);
    assert!(
        !planner.revision_in_use(&r1),
        "the last Pod naming it is gone"
    );
    assert!(planner.revision_in_use(&r2));
}
