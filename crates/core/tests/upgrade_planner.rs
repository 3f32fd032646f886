//! The upgrade planner (docs/upgrade-planning.md, docs/hot-upgrade.md) over Pods made by the real
//! injection, in a simulated cluster (`upgrade_support`): patches are applied as the API server would,
//! the kubelet restarts changed containers.

mod upgrade_support;

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sidecarset_core::annotations;
use sidecarset_core::upgrade::{self, Change, Options, Reason, Round, Status};
use upgrade_support::*;

fn agent(image: &str) -> Value {
    json!({
        "name": "logs",
        "selector": {"matchLabels": {"app": "web"}},
        "containers": [{"name": "agent", "image": image, "command": ["sleep", "infinity"]}]
    })
}

fn strategy(settings: &Value, key: &str, v: Value) -> Value {
    with(settings, &format!("/updateStrategy/{key}"), v)
}

fn bumped(settings: &Value, image: &str) -> Value {
    with(settings, "/containers/0/image", json!(image))
}

fn reasons(plan: &upgrade::Plan) -> BTreeMap<String, String> {
    plan.skipped
        .iter()
        .map(|s| (s.pod.name.clone(), s.reason.code().to_string()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The Filebeat story, end to end.

fn filebeat_settings(image: &str) -> Value {
    json!({
        "name": "filebeat",
        "selector": {"matchLabels": {"kruise.io/inject-filebeat": "true"}},
        "updateStrategy": {"type": "RollingUpdate", "maxUnavailable": 1},
        "containers": [{
            "name": "filebeat",
            "image": image,
            "args": ["-c", "/etc/filebeat.yml", "-e"],
            "env": [{"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}}],
            "resources": {"limits": {"memory": "200Mi"}, "requests": {"cpu": "100m", "memory": "100Mi"}},
            "securityContext": {"runAsUser": 0},
            "livenessProbe": {"exec": {"command": ["sh", "-c", "filebeat test config -c /etc/filebeat.yml"]}, "initialDelaySeconds": 10, "periodSeconds": 30},
            "readinessProbe": {"exec": {"command": ["sh", "-c", "filebeat test output -c /etc/filebeat.yml"]}, "periodSeconds": 30},
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

/// The nginx Pods of the story, from the golden case's AdmissionRequest.
fn nginx_pods(n: usize) -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../test_data/golden/filebeat-story/request.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let req: Value = serde_json::from_str(&text).expect("request.json is JSON");
    (0..n)
        .map(|i| {
            with(
                &req["object"],
                "/metadata/name",
                json!(format!("nginx-{i}")),
            )
        })
        .collect()
}

#[test]
fn filebeat_story_upgrades_six_pods_one_at_a_time_in_place() {
    const OLD: &str = "docker.elastic.co/beats/filebeat:7.16.2";
    const NEW: &str = "docker.elastic.co/beats/filebeat:7.16.3";
    let v1 = set(&filebeat_settings(OLD));
    let mut cluster = Cluster::new(&v1, nginx_pods(6));
    let uids: Vec<Value> = cluster
        .pods
        .iter()
        .map(|p| p["metadata"]["uid"].clone())
        .collect();

    let plan = cluster.plan(&v1);
    assert_eq!(plan.round, Round::AllUpdated);
    assert_eq!(
        plan.status,
        Status {
            matched_pods: 6,
            updated_pods: 6,
            ready_pods: 6,
            updated_ready_pods: 6,
            not_upgradable_pods: 0,
            uninjected_pods: 0,
        }
    );

    let v2 = set(&filebeat_settings(NEW));
    assert_eq!(
        v1.hash_without_image(),
        v2.hash_without_image(),
        "an image bump keeps the image-less hash"
    );
    let mut upgraded = Vec::new();
    for round in 0..6 {
        let plan = cluster.plan(&v2);
        assert_eq!(plan.round, Round::Upgrade, "round {round}");
        assert_eq!(plan.status.updated_pods, round);
        assert_eq!(plan.status.updated_ready_pods, round);
        assert_eq!(
            plan.upgrades.len(),
            1,
            "maxUnavailable 1: one Pod per round"
        );
        let w = &plan.upgrades[0];
        assert_eq!(w.changes.len(), 1);
        assert_eq!(
            (
                w.changes[0].container.as_str(),
                w.changes[0].from.as_str(),
                w.changes[0].to.as_str()
            ),
            ("filebeat", OLD, NEW)
        );
        let c = w.condition.as_ref().expect("the Pod is marked upgradable");
        assert_eq!(c.condition["status"], "True");
        assert!(
            plan.skipped.iter().all(|s| matches!(
                s.reason,
                Reason::AlreadyUpdated | Reason::MaxUnavailableReached { .. }
            )),
            "{:?}",
            plan.skipped
        );
        let name = w.pod.name.clone();
        let old_id = cluster.pod(&name)["status"]["containerStatuses"][0]["imageID"].clone();
        cluster.apply(w);
        upgraded.push(name.clone());

        // Between the patch and the kubelet restart the Pod is updated but unavailable: no other
        // Pod may be taken.
        let mid = cluster.plan(&v2);
        assert_eq!(mid.status.updated_pods, round + 1);
        assert_eq!(mid.status.updated_ready_pods, round, "not consistent yet");
        assert!(mid.upgrades.is_empty(), "the budget is used by {name}");
        let unavailable = cluster
            .pods
            .iter()
            .filter(|p| {
                pod_hash(p, "filebeat") == v2.hash()
                    && p["status"]["containerStatuses"][0]["image"] != NEW
            })
            .count();
        assert!(unavailable <= 1);

        let pod = cluster.pod(&name);
        assert_eq!(container_image(pod, "filebeat"), NEW);
        assert_eq!(container_image(pod, "nginx"), "nginx:1.27");
        let state: Value = serde_json::from_str(
            annotation(pod, annotations::INPLACE_UPDATE_STATE).expect("state written"),
        )
        .unwrap();
        assert_eq!(
            state["filebeat"]["lastContainerStatuses"]["filebeat"]["imageID"],
            old_id
        );
        assert_eq!(state["filebeat"]["revision"], v2.hash());
        cluster.kubelet(true);
    }
    let plan = cluster.plan(&v2);
    assert_eq!(plan.round, Round::AllUpdated);
    assert_eq!(
        plan.status,
        Status {
            matched_pods: 6,
            updated_pods: 6,
            ready_pods: 6,
            updated_ready_pods: 6,
            not_upgradable_pods: 0,
            uninjected_pods: 0,
        }
    );
    upgraded.sort();
    assert_eq!(
        upgraded,
        (0..6).map(|i| format!("nginx-{i}")).collect::<Vec<_>>()
    );
    for (p, uid) in cluster.pods.iter().zip(uids) {
        assert_eq!(
            p["metadata"]["uid"], uid,
            "the same Pods, upgraded in place"
        );
        assert_eq!(
            p["status"]["containerStatuses"][1]["restartCount"], 0,
            "nginx never restarted"
        );
    }
}

#[test]
fn the_first_patch_is_exactly_the_image_hash_and_state() {
    let v1 = set(&filebeat_settings(
        "docker.elastic.co/beats/filebeat:7.16.2",
    ));
    let v2 = set(&filebeat_settings(
        "docker.elastic.co/beats/filebeat:7.16.3",
    ));
    let cluster = Cluster::new(&v1, nginx_pods(1));
    let plan = cluster.plan(&v2);
    let patch = ops(&plan.upgrades[0].patch);
    let patch = patch.as_array().unwrap();
    let paths: Vec<&str> = patch.iter().map(|o| o["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "/metadata/resourceVersion",
            "/spec/containers/0/image",
            "/metadata/annotations/kruise.io~1sidecarset-hash",
            "/metadata/annotations/kruise.io~1sidecarset-inplace-update-state",
        ]
    );
    let hash: Value = serde_json::from_str(patch[2]["value"].as_str().unwrap()).unwrap();
    assert_eq!(
        hash,
        json!({"filebeat": {"updateTimestamp": NOW, "hash": v2.hash(), "sidecarSetName": "filebeat", "sidecarList": ["filebeat"]}})
    );
    let old_id = image_id("docker.elastic.co/beats/filebeat:7.16.2");
    assert_eq!(
        patch[3]["value"],
        format!(
            r#"{{"filebeat":{{"revision":"{}","updateTimestamp":"{NOW}","lastContainerStatuses":{{"filebeat":{{"imageID":"{old_id}"}}}}}}}}"#,
            v2.hash()
        )
    );
    // A Pod changed since it was listed rejects the patch.
    let mut moved = cluster.pods[0].clone();
    moved["metadata"]["resourceVersion"] = json!("999999");
    assert!(apply_json_patch(&moved, &ops(&plan.upgrades[0].patch)).is_err());
}

// ---------------------------------------------------------------------------------------------
// Matched Pods: docs/upgrade-planning.md#what-is-matched.

#[test]
fn matched_pods_need_selector_active_injected_and_every_sidecar() {
    let s = set(&agent("agent:1"));
    let mut c = Cluster::web(&s, 8);
    c.pod_mut("web-1")["metadata"]["labels"]["app"] = json!("db");
    c.pod_mut("web-2")["status"]["phase"] = json!("Succeeded");
    c.pod_mut("web-3")["metadata"]["deletionTimestamp"] = json!("2026-11-25T09:59:00Z");
    set_annotation(c.pod_mut("web-4"), annotations::INJECTED_LIST, "other");
    let p5 = c.pod_mut("web-5");
    p5["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .retain(|c| c["name"] != "agent");
    c.pod_mut("web-6")["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    c.pods.push(json!("not a Pod"));
    let plan = c.plan(&set(&agent("agent:2")));
    assert_eq!(plan.status.matched_pods, 2, "web-0 and web-7");
    assert_eq!(
        plan.status.uninjected_pods, 2,
        "web-4 and web-5: selected and active, without the sidecars"
    );
    let r = reasons(&plan);
    assert_eq!(r["web-1"], "NotSelected");
    assert_eq!(r["web-2"], "NotActive");
    assert_eq!(r["web-3"], "NotActive");
    assert_eq!(r["web-4"], "NotInjected");
    assert_eq!(
        plan.reason_of("web-5"),
        Some(&Reason::SidecarsMissing {
            containers: vec!["agent".into()]
        })
    );
    assert_eq!(r["web-6"], "InvalidPod");
    assert_eq!(plan.skipped.last().unwrap().reason.code(), "InvalidPod");
    assert_eq!(plan.skipped.last().unwrap().pod.index, 8);
    assert!(
        plan.skipped
            .iter()
            .all(|s| !s.reason.is_matched() || s.pod.name.starts_with("web-7"))
    );
    assert_eq!(names(&plan.upgrades), ["web-0"]);
}

#[test]
fn namespace_selector_needs_the_namespace_labels() {
    let settings = with(
        &agent("agent:1"),
        "/namespaceSelector",
        json!({"matchLabels": {"env": "prod"}}),
    );
    let s = set(&settings);
    let prod: BTreeMap<String, String> = [("env".to_string(), "prod".to_string())].into();
    let pods: Vec<Value> = ["prod", "dev", "gone"]
        .iter()
        .enumerate()
        .map(|(i, ns)| {
            let p = with(
                &app_pod(&format!("web-{ns}"), json!({"app": "web"})),
                "/metadata/namespace",
                json!(ns),
            );
            started(injected(&s, &p, Some(prod.clone())), i)
        })
        .collect();
    let mut c = Cluster::from_pods(pods);
    c.namespaces.insert("prod".into(), prod);
    c.namespaces.insert(
        "dev".into(),
        [("env".to_string(), "dev".to_string())].into(),
    );
    let plan = c.plan(&set(&bumped(&settings, "agent:2")));
    assert_eq!(plan.status.matched_pods, 1);
    assert_eq!(names(&plan.upgrades), ["web-prod"]);
    assert_eq!(
        plan.reason_of("web-gone"),
        Some(&Reason::NamespaceNotSelected {
            namespace: "gone".into()
        })
    );
    assert_eq!(reasons(&plan)["web-dev"], "NamespaceNotSelected");
}

// ---------------------------------------------------------------------------------------------
// Predicates and the status: docs/upgrade-planning.md#per-pod-predicates,
// docs/upgrade-planning.md#status-arithmetic.

#[test]
fn status_counts_updated_ready_and_consistent_pods() {
    let s1 = set(&agent("agent:1"));
    let s2 = set(&strategy(&agent("agent:2"), "maxUnavailable", json!(2)));
    let mut c = Cluster::web(&s1, 4);
    set_ready(c.pod_mut("web-3"), false);
    let plan = c.plan(&s2);
    assert_eq!(
        plan.status,
        Status {
            matched_pods: 4,
            updated_pods: 0,
            ready_pods: 3,
            updated_ready_pods: 0,
            not_upgradable_pods: 0,
            uninjected_pods: 0,
        }
    );
    // The not-ready Pod is taken for free, then two within the budget.
    assert_eq!(names(&plan.upgrades), ["web-3", "web-0", "web-1"]);
    c.apply_plan(&plan);
    let plan = c.plan(&s2);
    assert_eq!(plan.status.updated_pods, 3);
    assert_eq!(
        plan.status.ready_pods, 1,
        "upgraded Pods are not consistent until restarted"
    );
    assert_eq!(plan.status.updated_ready_pods, 0);
    assert!(plan.upgrades.is_empty(), "two updated Pods are unavailable");
    assert_eq!(
        plan.reason_of("web-2"),
        Some(&Reason::MaxUnavailableReached {
            max_unavailable: 2,
            unavailable: 3
        })
    );
    c.kubelet(true);
    let plan = c.plan(&s2);
    assert_eq!(plan.status.ready_pods, 4);
    assert_eq!(plan.status.updated_ready_pods, 3);
    assert_eq!(names(&plan.upgrades), ["web-2"]);
    assert_eq!(plan.reason_of("web-0"), Some(&Reason::AlreadyUpdated));
}

#[test]
fn a_ready_sidecar_still_on_its_old_image_id_blocks_a_new_upgrade() {
    let base = strategy(&agent("agent:1"), "maxUnavailable", json!("100%"));
    let mut c = Cluster::web(&set(&base), 2);
    let s2 = set(&bumped(&base, "agent:2"));
    c.apply_plan(&c.plan(&s2));
    // Before the kubelet restarts the sidecars, the settings move on again.
    set_container_ready(c.pod_mut("web-1"), "agent", false);
    let s3 = set(&bumped(&base, "agent:3"));
    let plan = c.plan(&s3);
    assert_eq!(
        plan.reason_of("web-0"),
        Some(&Reason::UpgradeInProgress {
            containers: vec!["agent".into()]
        })
    );
    assert_eq!(
        names(&plan.upgrades),
        ["web-1"],
        "a sidecar that is not Ready (crash-looping on a bad image) may be replaced"
    );
}

// ---------------------------------------------------------------------------------------------
// Order: docs/upgrade-planning.md#candidates-and-order.

fn ready_since(pod: &mut Value, t: &str) {
    pod["status"]["conditions"][0]["lastTransitionTime"] = json!(t);
}

#[test]
fn candidates_follow_kubernetes_active_pods_order() {
    let s1 = set(&agent("agent:1"));
    let mut c = Cluster::web(&s1, 7);
    // Built in the reverse of the expected order.
    let oldest = c.pod_mut("web-0");
    oldest["metadata"]["creationTimestamp"] = json!("2026-11-25T08:00:00Z");
    ready_since(oldest, "2026-11-25T09:00:00Z");
    let newer = c.pod_mut("web-1");
    newer["metadata"]["creationTimestamp"] = json!("2026-11-25T08:30:00Z");
    ready_since(newer, "2026-11-25T09:00:00Z");
    let restarts = c.pod_mut("web-2");
    restarts["metadata"]["creationTimestamp"] = json!("2026-11-25T08:00:00Z");
    ready_since(restarts, "2026-11-25T09:00:00Z");
    restarts["status"]["containerStatuses"][1]["restartCount"] = json!(5);
    ready_since(c.pod_mut("web-3"), "2026-11-25T09:50:00Z");
    set_ready(c.pod_mut("web-4"), false);
    let pending = c.pod_mut("web-5");
    pending["status"]["phase"] = json!("Pending");
    set_ready(pending, false);
    let unscheduled = c.pod_mut("web-6");
    unscheduled["status"]["phase"] = json!("Pending");
    unscheduled["spec"]["nodeName"] = json!("");
    set_ready(unscheduled, false);

    let s2 = set(&strategy(
        &agent("agent:2"),
        "maxUnavailable",
        json!("100%"),
    ));
    let plan = c.plan(&s2);
    assert_eq!(
        names(&plan.upgrades),
        [
            "web-6", "web-5", "web-4", "web-3", "web-2", "web-1", "web-0"
        ]
    );
}

#[test]
fn priority_by_weight_then_active_order() {
    let s1 = set(&agent("agent:1"));
    let mut c = Cluster::web(&s1, 4);
    for (name, labels) in [
        ("web-0", json!({"app": "web"})),
        ("web-1", json!({"app": "web", "tier": "a"})),
        ("web-2", json!({"app": "web", "tier": "a", "zone": "x"})),
        ("web-3", json!({"app": "web", "zone": "x"})),
    ] {
        c.pod_mut(name)["metadata"]["labels"] = labels;
    }
    let settings = strategy(
        &strategy(&agent("agent:2"), "maxUnavailable", json!("100%")),
        "priorityStrategy",
        json!({"weightPriority": [
            {"weight": 50, "matchSelector": {"matchLabels": {"tier": "a"}}},
            {"weight": 30, "matchSelector": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["x"]}]}}
        ]}),
    );
    let plan = c.plan(&set(&settings));
    assert_eq!(names(&plan.upgrades), ["web-2", "web-1", "web-3", "web-0"]);
}

#[test]
fn priority_by_order_unlabelled_first_then_term_then_higher_suffix() {
    let s1 = set(&agent("agent:1"));
    let mut c = Cluster::web(&s1, 5);
    for (name, labels) in [
        ("web-0", json!({"app": "web", "prio": "p-2"})),
        ("web-1", json!({"app": "web", "prio": "p-10"})),
        ("web-2", json!({"app": "web", "second": "7"})),
        ("web-3", json!({"app": "web"})),
        (
            "web-4",
            json!({"app": "web", "prio": "none", "second": "99"}),
        ),
    ] {
        c.pod_mut(name)["metadata"]["labels"] = labels;
    }
    let settings = strategy(
        &strategy(&agent("agent:2"), "maxUnavailable", json!("100%")),
        "priorityStrategy",
        json!({"orderPriority": [{"orderedKey": "prio"}, {"orderedKey": "second"}]}),
    );
    let plan = c.plan(&set(&settings));
    // No key: -1 sorts first [quirk]; then `prio` by higher suffix ("none" counts 0); then `second`.
    assert_eq!(
        names(&plan.upgrades),
        ["web-3", "web-1", "web-0", "web-4", "web-2"]
    );
}

#[test]
fn scatter_spreads_matching_pods_as_in_the_docs_example() {
    let s1 = set(&agent("agent:1"));
    let mut c = Cluster::web(&s1, 10);
    for i in 0..3 {
        c.pod_mut(&format!("web-{i}"))["metadata"]["labels"]["foo"] = json!("bar");
    }
    let settings = strategy(
        &strategy(&agent("agent:2"), "maxUnavailable", json!("100%")),
        "scatterStrategy",
        json!([{"key": "foo", "value": "bar"}]),
    );
    let plan = c.plan(&set(&settings));
    let order = names(&plan.upgrades);
    let at: Vec<usize> = ["web-0", "web-1", "web-2"]
        .iter()
        .map(|n| order.iter().position(|x| x == n).unwrap() + 1)
        .collect();
    assert_eq!(at, [1, 6, 10], "{order:?}");
}

// ---------------------------------------------------------------------------------------------
// Partition and maxUnavailable: docs/upgrade-planning.md#partition-and-maxunavailable.

fn upgraded_with(key: &str, v: Value, pods: usize) -> (usize, upgrade::Plan) {
    let s1 = set(&agent("agent:1"));
    let c = Cluster::web(&s1, pods);
    let mut settings = strategy(&agent("agent:2"), "maxUnavailable", json!("100%"));
    settings = strategy(&settings, key, v);
    let plan = c.plan(&set(&settings));
    (plan.upgrades.len(), plan)
}

#[test]
fn partition_keeps_the_tail_of_the_order() {
    let (n, plan) = upgraded_with("partition", json!(3), 10);
    assert_eq!(n, 7);
    assert_eq!(
        names(&plan.upgrades),
        (0..7).map(|i| format!("web-{i}")).collect::<Vec<_>>()
    );
    assert_eq!(
        plan.reason_of("web-9"),
        Some(&Reason::KeptByPartition { partition: 3 })
    );
    assert_eq!(
        upgraded_with("partition", json!("25%"), 10).0,
        7,
        "ceil(2.5) = 3 kept"
    );
    assert_eq!(
        upgraded_with("partition", json!("99%"), 10).0,
        1,
        "not 100%: one goes"
    );
    assert_eq!(upgraded_with("partition", json!("100%"), 10).0, 0);
    assert_eq!(upgraded_with("partition", json!(10), 10).0, 0);
    assert_eq!(upgraded_with("partition", json!(0), 10).0, 10);
}

#[test]
fn partition_counts_only_the_candidates() {
    let s1 = set(&strategy(&agent("agent:1"), "maxUnavailable", json!(4)));
    let mut c = Cluster::web(&s1, 10);
    let s2 = set(&strategy(&agent("agent:2"), "maxUnavailable", json!(4)));
    c.apply_plan(&c.plan(&s2));
    c.kubelet(true);
    let settings = strategy(
        &strategy(&agent("agent:2"), "maxUnavailable", json!("100%")),
        "partition",
        json!(3),
    );
    let plan = c.plan(&set(&settings));
    assert_eq!(plan.status.updated_pods, 4);
    assert_eq!(plan.upgrades.len(), 3, "6 candidates, 3 kept");
}

#[test]
fn max_unavailable_int_and_percent_round_up() {
    let (n, plan) = upgraded_with("maxUnavailable", json!(2), 10);
    assert_eq!(n, 2);
    assert_eq!(
        plan.reason_of("web-5"),
        Some(&Reason::MaxUnavailableReached {
            max_unavailable: 2,
            unavailable: 2
        })
    );
    assert_eq!(upgraded_with("maxUnavailable", json!("25%"), 10).0, 3);
    assert_eq!(
        upgraded_with("maxUnavailable", json!("15%"), 10).0,
        2,
        "ceil(1.5)"
    );
    assert_eq!(
        upgraded_with("maxUnavailable", json!("1%"), 10).0,
        1,
        "#1812"
    );
    assert_eq!(upgraded_with("maxUnavailable", json!(0), 10).0, 0);
    let (n, plan) = upgraded_with("maxUnavailable", json!("100%"), 10);
    assert_eq!(n, 10);
    assert!(plan.upgrades.iter().all(|u| u.changes[0].to == "agent:2"));
}

#[test]
fn a_write_budget_defers_chosen_pods_without_changing_the_round() {
    let s1 = set(&agent("agent:1"));
    let c = Cluster::web(&s1, 10);
    let s2 = set(&strategy(&agent("agent:2"), "maxUnavailable", json!(6)));
    let whole = c.plan(&s2);
    let opts = Options {
        max_upgrades: Some(4),
        ..Options::default()
    };
    let paced = upgrade::plan(&s2, &c.pods, &c.namespaces, NOW, &opts);
    assert_eq!(paced.status, whole.status);
    assert_eq!(
        paced.upgrades[..],
        whole.upgrades[..4],
        "the first four, same patches"
    );
    for u in &whole.upgrades[4..] {
        assert_eq!(
            paced.reason_of(&u.pod.name),
            Some(&Reason::WaitingForWriteBudget { max_upgrades: 4 })
        );
    }
    // Past the budget, the reasons are the whole round's.
    assert_eq!(paced.reason_of("web-9"), whole.reason_of("web-9"));
    assert_eq!(paced.skipped.len(), whole.skipped.len() + 2);
}

#[test]
fn not_ready_candidates_are_taken_for_free_and_max_unavailable_zero_takes_only_them() {
    let s1 = set(&agent("agent:1"));
    let mut c = Cluster::web(&s1, 5);
    set_ready(c.pod_mut("web-2"), false);
    set_ready(c.pod_mut("web-4"), false);
    let plan = c.plan(&set(&strategy(
        &agent("agent:2"),
        "maxUnavailable",
        json!(1),
    )));
    assert_eq!(names(&plan.upgrades), ["web-2", "web-4", "web-0"]);
    let plan = c.plan(&set(&strategy(
        &agent("agent:2"),
        "maxUnavailable",
        json!(0),
    )));
    assert_eq!(names(&plan.upgrades), ["web-2", "web-4"]);
    assert_eq!(reasons(&plan)["web-0"], "MaxUnavailableReached");
}

// ---------------------------------------------------------------------------------------------
// updateStrategy: selector, paused, NotUpdate.

#[test]
fn update_selector_upgrades_only_the_canaries() {
    let s1 = set(&agent("agent:1"));
    let mut c = Cluster::web(&s1, 4);
    c.pod_mut("web-2")["metadata"]["labels"]["canary"] = json!("true");
    let settings = strategy(
        &strategy(&agent("agent:2"), "maxUnavailable", json!("100%")),
        "selector",
        json!({"matchLabels": {"canary": "true"}}),
    );
    let plan = c.plan(&set(&settings));
    assert_eq!(names(&plan.upgrades), ["web-2"]);
    assert_eq!(
        plan.reason_of("web-0"),
        Some(&Reason::ExcludedByUpdateSelector)
    );
    assert_eq!(plan.status.matched_pods, 4);
}

#[test]
fn paused_and_not_update_write_only_the_status() {
    let s1 = set(&agent("agent:1"));
    let c = Cluster::web(&s1, 3);
    let paused = c.plan(&set(&strategy(&agent("agent:2"), "paused", json!(true))));
    assert_eq!(paused.round, Round::Paused);
    assert!(paused.upgrades.is_empty() && paused.flips.is_empty() && paused.conditions.is_empty());
    assert_eq!(paused.status.matched_pods, 3);
    assert_eq!(paused.reason_of("web-1"), Some(&Reason::Paused));
    let not_update = c.plan(&set(&strategy(
        &agent("agent:2"),
        "type",
        json!("NotUpdate"),
    )));
    assert_eq!(not_update.round, Round::NotUpdate);
    assert!(not_update.upgrades.is_empty());
    assert_eq!(
        not_update.reason_of("web-0"),
        Some(&Reason::NotUpdateStrategy)
    );
}

// ---------------------------------------------------------------------------------------------
// What may change in place: docs/upgrade-planning.md#what-may-change-in-place.

#[test]
fn a_non_image_change_is_not_upgradable_and_says_what_changed() {
    let v1 = set(&filebeat_settings(
        "docker.elastic.co/beats/filebeat:7.16.2",
    ));
    let mut c = Cluster::new(&v1, nginx_pods(3));
    let changed = with(
        &filebeat_settings("docker.elastic.co/beats/filebeat:7.16.3"),
        "/containers/0/resources/limits/memory",
        json!("300Mi"),
    );
    let plan = c.plan(&set(&changed));
    assert!(plan.upgrades.is_empty());
    assert_eq!(plan.status.not_upgradable_pods, 3);
    assert_eq!(
        plan.reason_of("nginx-0"),
        Some(&Reason::NotUpgradable {
            changed: vec![Change::Field {
                container: "filebeat".into(),
                field: "resources".into()
            }]
        })
    );
    assert_eq!(plan.conditions.len(), 3);
    let cond = &plan.conditions[0].condition;
    assert_eq!(cond["status"], "False");
    assert_eq!(cond["reason"], "UpdateImmutableField");
    assert_eq!(cond["message"], r#"{"filebeat":false}"#);
    assert!(
        plan.reason_of("nginx-0")
            .unwrap()
            .to_string()
            .contains("filebeat.resources changed"),
        "{}",
        plan.reason_of("nginx-0").unwrap()
    );
    c.apply_plan(&plan);
    let again = c.plan(&set(&changed));
    assert!(
        again.conditions.is_empty(),
        "the condition is written only when it changes"
    );
    assert_eq!(again.status.not_upgradable_pods, 3);

    let env = with(
        &filebeat_settings("docker.elastic.co/beats/filebeat:7.16.2"),
        "/containers/0/env/0",
        json!({"name": "POD_NAMESPACE", "value": "x"}),
    );
    let plan = c.plan(&set(&env));
    assert_eq!(
        plan.reason_of("nginx-1"),
        Some(&Reason::NotUpgradable {
            changed: vec![Change::Field {
                container: "filebeat".into(),
                field: "env".into()
            }]
        })
    );
}

#[test]
fn a_pull_policy_that_follows_the_tag_does_not_block_the_image_change() {
    const OLD: &str = "docker.elastic.co/beats/filebeat:7.16.2";
    let v1 = set(&filebeat_settings(OLD));
    let mut c = Cluster::new(&v1, nginx_pods(2));
    assert_eq!(
        c.pods[0]["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );
    let latest = set(&filebeat_settings(
        "docker.elastic.co/beats/filebeat:latest",
    ));
    assert_ne!(
        v1.hash_without_image(),
        latest.hash_without_image(),
        "the tag rule changes the image-less hash"
    );
    let plan = c.plan(&latest);
    assert_eq!(plan.status.not_upgradable_pods, 0);
    assert_eq!(plan.upgrades.len(), 1);
    let w = &plan.upgrades[0];
    assert!(w.pull_policy_followed_tag);
    let ops = ops(&w.patch);
    let ops = ops.as_array().unwrap();
    assert!(
        ops.iter()
            .all(|o| !o["path"].as_str().unwrap().contains("imagePullPolicy"))
    );
    let rewritten = ops
        .iter()
        .find(|o| o["path"] == "/metadata/annotations/kruise.io~1sidecarset-hash-without-image")
        .expect("the image-less hash entry is rewritten");
    let v: Value = serde_json::from_str(rewritten["value"].as_str().unwrap()).unwrap();
    assert_eq!(v["filebeat"]["hash"], latest.hash_without_image());
    c.apply(w);
    c.kubelet(true);
    assert_eq!(
        c.pods[w.pod.index]["spec"]["containers"][0]["imagePullPolicy"], "IfNotPresent",
        "a running Pod's pull policy cannot change"
    );
    // The next image-only change is upgradable for the rewritten Pod; the other one is upgradable
    // through the rule again.
    let next = set(&filebeat_settings(
        "docker.elastic.co/beats/filebeat:7.16.4",
    ));
    let plan = c.plan(&next);
    assert_eq!(plan.status.not_upgradable_pods, 0);
    assert_eq!(plan.upgrades.len(), 1);

    // An explicit policy that does not follow the tag is a real change.
    let explicit = with(
        &filebeat_settings("docker.elastic.co/beats/filebeat:7.16.3"),
        "/containers/0/imagePullPolicy",
        json!("Always"),
    );
    let fresh = Cluster::new(&v1, nginx_pods(1));
    let plan = fresh.plan(&set(&explicit));
    assert_eq!(
        plan.reason_of("nginx-0"),
        Some(&Reason::NotUpgradable {
            changed: vec![Change::Field {
                container: "filebeat".into(),
                field: "imagePullPolicy".into()
            }]
        })
    );
}

#[test]
fn removed_and_added_sidecars_are_named() {
    let two = json!({
        "name": "logs",
        "selector": {"matchLabels": {"app": "web"}},
        "containers": [
            {"name": "agent", "image": "agent:1"},
            {"name": "helper", "image": "helper:1"}
        ]
    });
    let s = set(&two);
    let c = Cluster::web(&s, 1);
    let plan = c.plan(&set(&agent("agent:2")));
    assert_eq!(
        plan.reason_of("web-0"),
        Some(&Reason::NotUpgradable {
            changed: vec![
                Change::Field {
                    container: "agent".into(),
                    field: "command".into()
                },
                Change::SidecarRemoved {
                    container: "helper".into()
                }
            ]
        })
    );
    let added = with(
        &two,
        "/initContainers",
        json!([{"name": "proxy", "image": "proxy:1", "restartPolicy": "Always"}]),
    );
    let plan = c.plan(&set(&added));
    assert_eq!(
        plan.reason_of("web-0"),
        Some(&Reason::NotUpgradable {
            changed: vec![Change::SidecarAdded {
                container: "proxy".into()
            }]
        })
    );
}

// ---------------------------------------------------------------------------------------------
// Other sets' records and unreadable annotations.

#[test]
fn only_this_sets_sidecars_and_records_change() {
    let metrics = json!({
        "name": "metrics",
        "selector": {"matchLabels": {"app": "web"}},
        "updateStrategy": {"maxUnavailable": "100%"},
        "containers": [{"name": "exporter", "image": "exporter:1"}]
    });
    let logs1 = set(&agent("agent:1"));
    let m1 = set(&metrics);
    let pod = injected(
        &m1,
        &injected(&logs1, &app_pod("web-0", json!({"app": "web"})), None),
        None,
    );
    let mut c = Cluster::from_pods(vec![started(pod, 0)]);
    // The metrics set upgrades its exporter first.
    let m2 = set(&with(&metrics, "/containers/0/image", json!("exporter:2")));
    c.apply_plan(&c.plan(&m2));
    c.kubelet(true);
    let before = c.pods[0].clone();
    let plan = c.plan(&set(&agent("agent:2")));
    assert_eq!(plan.upgrades.len(), 1);
    assert_eq!(plan.upgrades[0].changes.len(), 1);
    assert_eq!(plan.upgrades[0].changes[0].container, "agent");
    c.apply_plan(&plan);
    let pod = &c.pods[0];
    assert_eq!(container_image(pod, "exporter"), "exporter:2");
    assert_eq!(container_image(pod, "app"), "nginx:1.27");
    assert_eq!(
        pod_hash(pod, "metrics"),
        m2.hash(),
        "the other set's hash entry is kept"
    );
    let state = |p: &Value| -> Value {
        serde_json::from_str(annotation(p, annotations::INPLACE_UPDATE_STATE).unwrap()).unwrap()
    };
    assert_eq!(state(pod)["metrics"], state(&before)["metrics"]);
    assert!(state(pod)["logs"]["lastContainerStatuses"]["agent"].is_object());
}

#[test]
fn unreadable_annotations_leave_the_pod_alone() {
    let s1 = set(&strategy(
        &agent("agent:1"),
        "maxUnavailable",
        json!("100%"),
    ));
    let mut c = Cluster::web(&s1, 4);
    set_annotation(c.pod_mut("web-0"), annotations::HASH, "garbage");
    set_annotation(c.pod_mut("web-1"), annotations::INPLACE_UPDATE_STATE, "{");
    set_annotation(c.pod_mut("web-2"), annotations::HASH_WITHOUT_IMAGE, "[1]");
    let plan = c.plan(&set(&strategy(
        &agent("agent:2"),
        "maxUnavailable",
        json!("100%"),
    )));
    assert_eq!(names(&plan.upgrades), ["web-3"]);
    assert_eq!(plan.status.matched_pods, 4);
    assert_eq!(
        plan.status.ready_pods, 3,
        "an unreadable state record is not consistent"
    );
    for (pod, key) in [
        ("web-0", annotations::HASH),
        ("web-1", annotations::INPLACE_UPDATE_STATE),
        ("web-2", annotations::HASH_WITHOUT_IMAGE),
    ] {
        match plan.reason_of(pod) {
            Some(Reason::UnreadableAnnotation { key: k, .. }) => assert_eq!(k, key),
            other => panic!("{pod}: {other:?}"),
        }
    }
    assert!(plan.conditions.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Hot upgrade: docs/hot-upgrade.md.

fn envoy(image: &str) -> Value {
    json!({
        "name": "mesh",
        "selector": {"matchLabels": {"app": "web"}},
        "updateStrategy": {"maxUnavailable": 1},
        "containers": [{
            "name": "envoy",
            "image": image,
            "upgradeStrategy": {"upgradeType": "HotUpgrade", "hotUpgradeEmptyImage": "example.com/empty:1.0"}
        }]
    })
}

#[test]
fn hot_upgrade_upgrades_the_idle_twin_then_flips() {
    let v1 = set(&envoy("envoy:1"));
    let mut c = Cluster::web(&v1, 2);
    let v2 = set(&envoy("envoy:2"));

    let plan = c.plan(&v2);
    assert_eq!(plan.round, Round::Upgrade);
    assert_eq!(names(&plan.upgrades), ["web-0"]);
    let w = &plan.upgrades[0];
    assert_eq!(w.changes[0].container, "envoy-2");
    assert_eq!(w.changes[0].from, "example.com/empty:1.0");
    c.apply(w);
    let p = c.pod("web-0");
    assert_eq!(container_image(p, "envoy-2"), "envoy:2");
    assert_eq!(container_image(p, "envoy-1"), "envoy:1");
    assert_eq!(
        annotation(p, annotations::WORKING_HOT_UPGRADE),
        Some(r#"{"envoy":"envoy-2"}"#)
    );
    assert_eq!(
        annotation(p, &annotations::version_key("envoy-2")),
        Some("2")
    );
    assert_eq!(
        annotation(p, &annotations::version_alt_key("envoy-2")),
        Some("1")
    );
    assert_eq!(
        annotation(p, &annotations::version_alt_key("envoy-1")),
        Some("2")
    );

    // Not consistent yet: no flip, and the Pod holds the budget.
    let plan = c.plan(&v2);
    assert!(plan.flips.is_empty() && plan.upgrades.is_empty());
    assert_eq!(
        plan.reason_of("web-0"),
        Some(&Reason::HotUpgradeFlipPending)
    );
    assert_eq!(
        plan.status.ready_pods, 1,
        "the old twin is not the empty image"
    );

    c.kubelet(true);
    let plan = c.plan(&v2);
    assert_eq!(plan.round, Round::Flips);
    assert_eq!(names(&plan.flips), ["web-0"]);
    assert_eq!(plan.reason_of("web-1"), Some(&Reason::WaitingForFlips));
    let flip = &plan.flips[0];
    assert_eq!(flip.changes[0].container, "envoy-1");
    assert_eq!(flip.changes[0].to, "example.com/empty:1.0");
    assert!(
        ops(&flip.patch)
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["path"] != "/metadata/annotations/kruise.io~1sidecarset-hash"),
        "a flip leaves the hash alone"
    );
    c.apply_plan(&plan);
    let p = c.pod("web-0");
    assert_eq!(
        annotation(p, &annotations::version_key("envoy-1")),
        Some("0")
    );
    assert_eq!(
        annotation(p, &annotations::version_alt_key("envoy-2")),
        Some("0")
    );
    c.kubelet(true);

    let plan = c.plan(&v2);
    assert_eq!(names(&plan.upgrades), ["web-1"]);
    assert_eq!(plan.status.updated_ready_pods, 1);
    c.apply_plan(&plan);
    c.kubelet(true);
    c.apply_plan(&c.plan(&v2));
    c.kubelet(true);
    let plan = c.plan(&v2);
    assert_eq!(plan.round, Round::AllUpdated);
    assert_eq!(plan.status.updated_ready_pods, 2);

    // The next upgrade swaps roles: envoy-1 (now empty) gets the image.
    let v3 = set(&envoy("envoy:3"));
    let plan = c.plan(&v3);
    assert_eq!(plan.upgrades[0].changes[0].container, "envoy-1");
}

#[test]
fn a_digest_pinned_empty_image_is_the_empty_image() {
    let v1 = set(&envoy("envoy:1"));
    let mut c = Cluster::web(&v1, 1);
    let pinned = format!("example.com/empty:1.0@{}", digest_of("empty"));
    let i = c.pods[0]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c["name"] == "envoy-2")
        .unwrap();
    c.pods[0]["spec"]["containers"][i]["image"] = json!(pinned);
    c.kubelet(true);
    let plan = c.plan(&v1);
    assert_eq!(
        plan.round,
        Round::AllUpdated,
        "no flip of an idle twin that runs the pinned empty image"
    );
    assert_eq!(plan.status.ready_pods, 1);
}

// ---------------------------------------------------------------------------------------------
// Native sidecars and digests.

fn native(proxy: &str) -> Value {
    json!({
        "name": "mesh",
        "selector": {"matchLabels": {"app": "web"}},
        "containers": [{"name": "agent", "image": "agent:1"}],
        "initContainers": [
            {"name": "proxy", "image": proxy, "restartPolicy": "Always"},
            {"name": "migrate", "image": "migrate:1"}
        ]
    })
}

#[test]
fn native_sidecars_are_upgraded_in_place_and_complete_through_init_statuses() {
    let v1 = set(&native("proxy:1"));
    let mut c = Cluster::web(&v1, 1);
    let v2 = set(&native("proxy:2"));
    let plan = c.plan(&v2);
    assert_eq!(plan.upgrades.len(), 1);
    let w = &plan.upgrades[0];
    let i = c.pods[0]["spec"]["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c["name"] == "proxy")
        .unwrap();
    assert_eq!(
        ops(&w.patch)[1],
        json!({"op": "replace", "path": format!("/spec/initContainers/{i}/image"), "value": "proxy:2"})
    );
    assert!(w.changes[0].init_container);
    assert_eq!(
        w.changes.len(),
        1,
        "the plain init container is never touched"
    );
    c.apply(w);
    let mid = c.plan(&v2);
    assert_eq!(mid.status.updated_pods, 1);
    assert_eq!(
        mid.status.updated_ready_pods, 0,
        "proxy still reports its old imageID"
    );
    c.kubelet(true);
    let done = c.plan(&v2);
    assert_eq!(done.status.updated_ready_pods, 1);
    assert_eq!(done.round, Round::AllUpdated);
}

#[test]
fn digest_images_complete_when_the_reported_digest_matches() {
    let (d1, d2) = (digest_of("one"), digest_of("two"));
    let v1 = set(&agent(&format!("busybox@{d1}")));
    let mut c = Cluster::web(&v1, 1);
    let v2 = set(&agent(&format!("busybox@{d2}")));
    c.apply_plan(&c.plan(&v2));
    assert_eq!(c.plan(&v2).status.updated_ready_pods, 0);
    c.kubelet(true);
    assert_eq!(
        c.pods[0]["status"]["containerStatuses"][0]["imageID"],
        format!("docker-pullable://busybox@{d2}")
    );
    assert_eq!(c.plan(&v2).status.updated_ready_pods, 1);
}

#[test]
fn tag_at_digest_rewrites_by_a_signature_policy_are_understood() {
    let v1 = set(&json!({
        "name": "logs",
        "selector": {"matchLabels": {"app": "web"}},
        "containers": [{"name": "agent", "image": "busybox:1.36"}, {"name": "helper", "image": "helper:1"}]
    }));
    let mut c = Cluster::web(&v1, 1);
    // A verifying policy pinned the images at admission.
    let pin = |c: &mut Cluster, name: &str| {
        for x in c.pods[0]["spec"]["containers"].as_array_mut().unwrap() {
            if x["name"] == name {
                let img = x["image"].as_str().unwrap().to_string();
                x["image"] = json!(format!("{img}@{}", digest_of(&img)));
            }
        }
    };
    pin(&mut c, "agent");
    pin(&mut c, "helper");
    c.kubelet(true);
    assert_eq!(c.plan(&v1).status.updated_ready_pods, 1);
    let v2 = set(&json!({
        "name": "logs",
        "selector": {"matchLabels": {"app": "web"}},
        "containers": [{"name": "agent", "image": "busybox:1.37"}, {"name": "helper", "image": "helper:1"}]
    }));
    let plan = c.plan(&v2);
    assert_eq!(plan.upgrades.len(), 1);
    let changed: Vec<&str> = plan.upgrades[0]
        .changes
        .iter()
        .map(|c| c.container.as_str())
        .collect();
    assert_eq!(
        changed,
        ["agent"],
        "the pinned helper is the settings' helper:1"
    );
    c.apply_plan(&plan);
    // The verifying policy pins the new image on our update too.
    pin(&mut c, "agent");
    assert_eq!(
        c.plan(&v2).status.updated_ready_pods,
        0,
        "old digest still running"
    );
    c.kubelet(true);
    let done = c.plan(&v2);
    assert_eq!(done.status.updated_ready_pods, 1);
    assert_eq!(done.round, Round::AllUpdated);
}

// ---------------------------------------------------------------------------------------------
// Determinism and robustness.

#[test]
fn a_plan_is_a_function_of_its_input_and_never_panics_on_junk() {
    let s1 = set(&agent("agent:1"));
    let c = Cluster::web(&s1, 5);
    let s2 = set(&strategy(&agent("agent:2"), "maxUnavailable", json!(3)));
    assert_eq!(c.plan(&s2), c.plan(&s2));
    let mut pods = c.pods.clone();
    pods.extend([
        json!(null),
        json!([]),
        json!({"metadata": {"name": "x", "resourceVersion": "1", "labels": {"app": "web"},
                             "annotations": {"kruise.io/sidecarset-injected-list": "logs"}},
               "spec": {"containers": {"agent": 1}}, "status": "weird"}),
        json!({"metadata": {"name": "y", "resourceVersion": "1", "labels": {"app": 3}, "annotations": []}}),
    ]);
    let plan = upgrade::plan(&s2, &pods, &BTreeMap::new(), NOW, &Options::default());
    assert_eq!(plan.status.matched_pods, 5);
    assert_eq!(plan.skipped.len(), pods.len() - plan.upgrades.len());
}

#[test]
fn the_empty_structs_of_a_stored_container_are_not_changes() {
    // Injection writes, and the API server stores on every container, `resources: {}` and a
    // resourceFieldRef's `divisor: "0"`; the settings have neither.
    let env = json!({
        "name": "logs",
        "selector": {"matchLabels": {"app": "web"}},
        "containers": [{
            "name": "agent",
            "image": "agent:1",
            "env": [{"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}]
        }]
    });
    let c = Cluster::web(&set(&env), 1);
    let pod_agent = &c.pods[0]["spec"]["containers"][0];
    assert_eq!(pod_agent["resources"], json!({}));
    assert_eq!(
        pod_agent["env"][0]["valueFrom"]["resourceFieldRef"]["divisor"],
        "0"
    );
    let changed = with(&env, "/containers/0/command", json!(["run"]));
    assert_eq!(
        c.plan(&set(&changed)).reason_of("web-0"),
        Some(&Reason::NotUpgradable {
            changed: vec![Change::Field {
                container: "agent".into(),
                field: "command".into()
            }]
        })
    );
}
