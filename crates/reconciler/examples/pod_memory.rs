//! Memory held per cached Pod, measured with dhat's heap profiler.
//!
//! ```text
//! cargo run --release -p sidecarset-reconciler --example pod_memory [-- PODS]
//! ```
//!
//! The Pod is the Filebeat story's injected Pod (test_data/golden/filebeat-story/expected.json)
//! completed with what the API server and the kubelet add (uid, resourceVersion, managedFields, the
//! service-account token volume, status with conditions and container statuses), so it is the object
//! the watch delivers. Each Pod is fed to the reconciler's Pod index as the watch feeds it (a distinct
//! name and uid each), and the heap growth is divided by the number of Pods: that is what the
//! reconciler keeps per Pod, index keys, hash-map slack and shared values included. For comparison,
//! the whole Pod as a `serde_json::Value` and the typed `k8s_openapi` Pod (Kruise's informer keeps
//! the Go equivalent) are measured in kube's reflector store.

use std::path::Path;

use k8s_openapi::api::core::v1::Pod;
use kube::runtime::{reflector::store::Writer, watcher::Event};
use serde_json::{Value, json};
use sidecarset_core::{SidecarSet, upgrade::SetPlanner};
use sidecarset_reconciler::{pod_index::PodIndex, snapshot::WatchedPod};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn filebeat_pod() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../test_data/golden/filebeat-story/expected.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut pod: Value = serde_json::from_str(&text).expect("expected.json is JSON");
    let m = &mut pod["metadata"];
    m["namespace"] = json!("shop");
    m["resourceVersion"] = json!("1234567");
    m["creationTimestamp"] = json!("2026-11-25T10:00:00Z");
    m["generateName"] = json!("web-7d9c6b5f4-");
    m["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "name": "web-7d9c6b5f4", "uid": "0d3f7a2e-8c1b-4b7e-9f61-6a2f0f5c9e11",
        "controller": true, "blockOwnerDeletion": true}]);
    // What no digest keeps: present in the watch, so it is in the bytes parsed.
    m["managedFields"] = json!([
        {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
         "time": "2026-11-25T10:00:00Z", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:metadata": {"f:generateName": {}, "f:labels": {".": {}, "f:app": {}}},
                      "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:image": {}}}}}},
        {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "subresource": "status",
         "time": "2026-11-25T10:00:05Z", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:status": {"f:conditions": {}, "f:containerStatuses": {}, "f:podIP": {}}}}
    ]);
    let spec = &mut pod["spec"];
    spec["nodeName"] = json!("worker-3");
    spec["serviceAccountName"] = json!("default");
    spec["schedulerName"] = json!("default-scheduler");
    spec["dnsPolicy"] = json!("ClusterFirst");
    spec["restartPolicy"] = json!("Always");
    spec["terminationGracePeriodSeconds"] = json!(30);
    spec["tolerations"] = json!([
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]);
    if let Some(vols) = spec["volumes"].as_array_mut() {
        vols.push(json!({"name": "kube-api-access-x7k2p", "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}));
    }
    let statuses: Vec<Value> = spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| json!({"name": c["name"], "ready": true, "restartCount": 0, "started": true,
            "image": c["image"], "imageID": format!("{}@sha256:{}", c["image"].as_str().unwrap_or(""), "ab".repeat(32)),
            "containerID": format!("containerd://{}", "cd".repeat(32)),
            "state": {"running": {"startedAt": "2026-11-25T10:00:04Z"}}}))
        .collect();
    let conditions: Vec<Value> = [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ]
    .iter()
    .map(|t| json!({"type": t, "status": "True", "lastTransitionTime": "2026-11-25T10:00:05Z"}))
    .collect();
    pod["status"] = json!({"phase": "Running", "hostIP": "10.0.0.13", "podIP": "10.244.3.17",
        "podIPs": [{"ip": "10.244.3.17"}], "qosClass": "Burstable", "startTime": "2026-11-25T10:00:00Z",
        "conditions": conditions, "containerStatuses": statuses});
    pod
}

/// Heap bytes held by a reflector store of `n` Pods of type `K`, parsed from watch bytes, per Pod.
fn per_pod<K>(watch: &[Vec<u8>]) -> f64
where
    K: kube::Resource<DynamicType = ()> + serde::de::DeserializeOwned + Clone + 'static,
{
    let before = dhat::HeapStats::get().curr_bytes;
    let mut writer: Writer<K> = Writer::default();
    for bytes in watch {
        let obj: K = serde_json::from_slice(bytes).expect("a Pod");
        writer.apply_watcher_event(&Event::Apply(obj));
    }
    let store = writer.as_reader();
    assert_eq!(store.state().len(), watch.len());
    let held = dhat::HeapStats::get().curr_bytes - before;
    drop(store);
    drop(writer);
    held as f64 / watch.len() as f64
}

/// Heap bytes held per Pod by `n` Pods parsed from watch bytes as `serde_json::Value` trees: what
/// a list page held before `WatchedPod` kept the text (src/snapshot.rs).
fn per_pod_value(watch: &[Vec<u8>]) -> f64 {
    let before = dhat::HeapStats::get().curr_bytes;
    let held: Vec<serde_json::Value> = watch
        .iter()
        .map(|b| serde_json::from_slice(b).expect("a Pod"))
        .collect();
    let bytes = dhat::HeapStats::get().curr_bytes - before;
    drop(held);
    bytes as f64 / watch.len() as f64
}

/// Heap bytes held by the reconciler's Pod index of `n` Pods, parsed from watch bytes, per Pod;
/// then what the set's incremental planner adds per Pod on top of it.
fn per_pod_digest(watch: &[Vec<u8>]) -> (f64, f64, usize) {
    let before = dhat::HeapStats::get().curr_bytes;
    let index = PodIndex::default();
    for bytes in watch {
        let obj: WatchedPod = serde_json::from_slice(bytes).expect("a Pod");
        index.apply(Event::Apply(obj));
    }
    assert_eq!(index.len(), watch.len());
    let held = dhat::HeapStats::get().curr_bytes - before;
    let shared = index.shared_values();
    let set = filebeat_set();
    let before = dhat::HeapStats::get().curr_bytes;
    let (pods, _) = index.all(|p| p.injected_by(set.name()));
    let mut planner = SetPlanner::new(set, Default::default());
    planner.extend(pods);
    let planned = dhat::HeapStats::get().curr_bytes - before;
    drop(planner);
    drop(index);
    let n = watch.len() as f64;
    (held as f64 / n, planned as f64 / n, shared)
}

/// The Filebeat story's set, its image bumped (every Pod a candidate of the planner).
fn filebeat_set() -> SidecarSet {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../test_data/golden/filebeat-story/settings.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut s: Value = serde_yaml::from_str(&text).expect("YAML");
    s["containers"][0]["image"] = json!("docker.elastic.co/beats/filebeat:7.16.3");
    SidecarSet::new(&s).expect("valid settings")
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("PODS: a number"))
        .unwrap_or(10_000);
    let template = filebeat_pod();
    let watch: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let mut p = template.clone();
            p["metadata"]["name"] = json!(format!("web-7d9c6b5f4-{i:05}"));
            p["metadata"]["uid"] = json!(format!("6f1c2b7e-1d4a-4c3b-9a8e-{i:012}"));
            // Each Pod injected at its own second: its hash annotations are its own, not shared.
            let at = format!(
                "2026-11-25T{:02}:{:02}:{:02}Z",
                10 + i / 3600,
                i / 60 % 60,
                i % 60
            );
            if let Some(a) = p["metadata"]["annotations"].as_object_mut() {
                for v in a.values_mut() {
                    if let Some(text) = v.as_str() {
                        *v = json!(text.replace("2026-11-25T10:00:00Z", &at));
                    }
                }
            }
            serde_json::to_vec(&p).expect("serialisable")
        })
        .collect();
    // The same Pod had no set injected it (the policy's label was absent, say).
    let plain: Vec<Vec<u8>> = watch
        .iter()
        .map(|bytes| {
            let mut p: Value = serde_json::from_slice(bytes).expect("JSON");
            if let Some(a) = p["metadata"]["annotations"].as_object_mut() {
                a.retain(|k, _| !k.starts_with("kruise.io/"));
            }
            serde_json::to_vec(&p).expect("serialisable")
        })
        .collect();
    let json_bytes = watch[0].len();
    let (digest, planner, shared) = per_pod_digest(&watch);
    let (digest_plain, planner_plain, _) = per_pod_digest(&plain);
    let raw = per_pod::<WatchedPod>(&watch);
    let value = per_pod_value(&watch);
    let typed = per_pod::<Pod>(&watch);
    println!("{n} Pods (dhat: heap bytes held per Pod):");
    println!("  watch JSON of the Filebeat-injected Pod (managedFields included): {json_bytes}");
    println!("  PodDigest in the reconciler's index, Filebeat-injected Pod:     {digest:.0}");
    println!("  PodDigest, the same Pod not injected by any set:                {digest_plain:.0}");
    println!("  the set's incremental planner, per Pod it injected:             {planner:.0}");
    println!(
        "  the set's incremental planner, per Pod it did not inject:       {planner_plain:.0}"
    );
    println!("  WatchedPod (the Pod's JSON text, as a list page holds it):      {raw:.0}");
    println!("  whole Pod as a serde_json::Value tree:                          {value:.0}");
    println!("  typed k8s_openapi Pod in a reflector store (for comparison):    {typed:.0}");
    println!("  values shared by the {n} digests (strings, label sets, specs):  {shared}");
}
