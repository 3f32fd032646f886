//! Properties of injection over generated Pods and settings: no panic, a Pod the API server accepts as
//! far as names and mounts go, and idempotency.

use std::collections::BTreeSet;

use proptest::prelude::*;
use serde_json::{Value, json};
use sidecarset_core::SidecarSet;
use sidecarset_core::inject::{NamespaceLabels, Outcome, PodContext, inject};

const NAMES: &[&str] = &["app", "agent", "proxy", "log", "init", "web", "envoy"];
const VOLS: &[&str] = &["logs", "cfg", "data", "cache"];
const PATHS: &[&str] = &["/var/log", "/etc/cfg", "/data", "/cache", "/tmp"];

fn env_strategy() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(
        (
            prop::sample::select(vec!["LOG_LEVEL", "POD_NAME", "IS_INJECTED", "REGION"]),
            "[a-z]{0,3}",
        )
            .prop_map(|(n, v)| json!({"name": n, "value": v})),
        0..3,
    )
}

fn mounts_strategy(vols: Vec<&'static str>) -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(
        (
            prop::sample::select(vols),
            prop::sample::select(PATHS.to_vec()),
            prop::option::of(Just("$(POD_NAME)")),
        )
            .prop_map(|(v, p, sub)| match sub {
                Some(s) => json!({"name": v, "mountPath": p, "subPathExpr": s}),
                None => json!({"name": v, "mountPath": p}),
            }),
        0..3,
    )
    .prop_map(|ms| {
        // A valid Pod mounts each path once per container.
        let mut seen = BTreeSet::new();
        ms.into_iter()
            .filter(|m| seen.insert(m["mountPath"].as_str().unwrap_or("").to_string()))
            .collect()
    })
}

fn container_strategy(name: &'static str, vols: Vec<&'static str>) -> impl Strategy<Value = Value> {
    (env_strategy(), mounts_strategy(vols), any::<bool>()).prop_map(move |(env, mounts, with_res)| {
        let mut c = json!({"name": name, "image": format!("{name}:1"), "env": env, "volumeMounts": mounts});
        if with_res {
            c["resources"] = json!({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "100m"}});
        }
        c
    })
}

fn pod_strategy() -> impl Strategy<Value = Value> {
    (
        prop::sample::subsequence(VOLS.to_vec(), 0..=VOLS.len()),
        prop::sample::subsequence(NAMES.to_vec(), 1..4),
        prop::sample::subsequence(vec!["setup", "init", "proxy"], 0..2),
        prop::collection::btree_map(prop::sample::select(vec!["app", "tier", "inject"]), prop::sample::select(vec!["web", "true", "x"]), 0..3),
        prop::collection::btree_map(
            prop::sample::select(vec!["a", "kruise.io/sidecarset-injected-list", "json"]),
            prop::sample::select(vec!["x", "{\"k\":1}", "other-set"]),
            0..2,
        ),
    )
        .prop_flat_map(|(vols, names, init_names, labels, annotations)| {
            let containers: Vec<BoxedStrategy<Value>> = names
                .iter()
                .map(|n| {
                    if vols.is_empty() {
                        Just(json!({"name": n, "image": format!("{n}:1")})).boxed()
                    } else {
                        container_strategy(n, vols.clone()).boxed()
                    }
                })
                .collect();
            let init: Vec<Value> =
                init_names.iter().filter(|n| !names.contains(n)).map(|n| json!({"name": n, "image": "busybox"})).collect();
            (containers, Just((vols, init, labels, annotations)))
        })
        .prop_map(|(containers, (vols, init, labels, annotations))| {
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"namespace": "default", "labels": labels, "annotations": annotations},
                "spec": {
                    "containers": containers,
                    "initContainers": init,
                    "volumes": vols.iter().map(|v| json!({"name": v, "emptyDir": {}})).collect::<Vec<_>>(),
                }
            })
        })
}

fn settings_strategy() -> impl Strategy<Value = Value> {
    let sidecar = (
        prop::sample::select(vec!["agent", "proxy", "log", "sidecar"]),
        prop::sample::select(vec!["BeforeAppContainer", "AfterAppContainer"]),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::sample::subsequence(VOLS.to_vec(), 0..2),
    )
        .prop_map(|(name, policy, share, hot, transfer, vols)| {
            let mut c = json!({"name": name, "image": format!("{name}:2"), "podInjectPolicy": policy,
                "shareVolumePolicy": {"type": if share { "enabled" } else { "disabled" }},
                "volumeMounts": vols.iter().enumerate().map(|(i, v)| json!({"name": v, "mountPath": format!("/sidecar/{i}")})).collect::<Vec<_>>()});
            if hot {
                c["upgradeStrategy"] = json!({"upgradeType": "HotUpgrade", "hotUpgradeEmptyImage": "empty:1"});
            }
            if transfer {
                c["transferEnv"] = json!([{"sourceContainerName": "app", "envNames": ["LOG_LEVEL", "REGION"]}]);
            }
            c
        });
    (
        prop::collection::vec(sidecar, 1..3),
        prop::option::of(prop::sample::select(vec!["proxy", "init", "warmup"])),
        any::<bool>(),
        prop::option::of(prop::sample::select(vec!["Retain", "Overwrite", "MergePatchJson"])),
    )
        .prop_map(|(containers, init, native, patch)| {
            let mut seen = BTreeSet::new();
            let containers: Vec<Value> = containers.into_iter().filter(|c| seen.insert(c["name"].as_str().unwrap().to_string())).collect();
            let mut s = json!({
                "name": "prop-set",
                "selector": {"matchLabels": {"app": "web"}},
                "containers": containers,
                "volumes": VOLS.iter().map(|v| json!({"name": v, "configMap": {"name": v}})).collect::<Vec<_>>(),
            });
            if let Some(i) = init.filter(|i| !seen.contains(*i)) {
                let mut ic = json!({"name": i, "image": "init:1"});
                if native {
                    ic["restartPolicy"] = json!("Always");
                }
                s["initContainers"] = json!([ic]);
            }
            if let Some(p) = patch {
                s["patchPodMetadata"] = json!([{"annotations": {"json": "{\"set\":true}"}, "patchPolicy": p}]);
            }
            s
        })
}

fn names_of(pod: &Value) -> Vec<String> {
    ["containers", "initContainers"]
        .iter()
        .flat_map(|k| pod["spec"][k].as_array().cloned().unwrap_or_default())
        .map(|c| c["name"].as_str().unwrap_or("").to_string())
        .collect()
}

fn check_accepted_by_api_server(pod: &Value) -> Result<(), TestCaseError> {
    let names = names_of(pod);
    let unique: BTreeSet<&String> = names.iter().collect();
    prop_assert_eq!(
        unique.len(),
        names.len(),
        "duplicate container names: {:?}",
        names
    );
    let vols: BTreeSet<&str> = pod["spec"]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str())
        .collect();
    prop_assert_eq!(
        vols.len(),
        pod["spec"]["volumes"].as_array().map_or(0, Vec::len),
        "duplicate volume names"
    );
    for k in ["containers", "initContainers"] {
        for c in pod["spec"][k].as_array().into_iter().flatten() {
            let mut paths = BTreeSet::new();
            for m in c["volumeMounts"].as_array().into_iter().flatten() {
                let v = m["name"].as_str().unwrap_or("");
                prop_assert!(
                    vols.contains(v),
                    "{} mounts undeclared volume {v}",
                    c["name"]
                );
                prop_assert!(
                    paths.insert(m["mountPath"].as_str().unwrap_or("").to_string()),
                    "{} mounts a path twice",
                    c["name"]
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn injection_is_safe_valid_and_idempotent(pod in pod_strategy(), settings in settings_strategy()) {
        let set = match SidecarSet::new(&settings) {
            Ok(s) => s,
            Err(e) => return Err(TestCaseError::fail(format!("generated settings must be valid: {e}"))),
        };
        let ns = NamespaceLabels::NotNeeded;
        let ctx = PodContext { request_namespace: "default", namespace_labels: &ns, now: "2026-11-25T10:00:00Z" };
        match inject(&set, &pod, &ctx) {
            Ok(Outcome::Injected(out)) => {
                check_accepted_by_api_server(&out)?;
                match inject(&set, &out, &ctx) {
                    Ok(Outcome::Unchanged) => {}
                    other => prop_assert!(false, "a second injection changed the Pod: {:?}", other),
                }
            }
            Ok(Outcome::Unchanged) => prop_assert!(false, "a Pod without the hash annotations came out unchanged"),
            Ok(Outcome::Skipped { .. }) => {
                prop_assert_ne!(pod["metadata"]["labels"]["app"].as_str(), Some("web"), "a matching Pod was skipped");
            }
            Err(e) => {
                // The only refusals generated Pods can earn, both Kruise's: a name taken in the
                // other container list, and a MergePatchJson annotation whose Pod value is not JSON.
                let msg = e.to_string();
                let clash = msg.contains("must be unique across containers and initContainers");
                let not_json = msg.contains("existing value is not JSON") && pod["metadata"]["annotations"]["json"].as_str().is_some_and(|v| serde_json::from_str::<Value>(v).is_err());
                prop_assert!(clash || not_json, "unexpected refusal: {}", msg);
            }
        }
    }
}
