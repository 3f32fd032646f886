//! A small simulated cluster for planner tests: Pods made by the real injection, an API server that
//! applies RFC 6902 patches (the `test` op included) and bumps resourceVersions, and a kubelet that
//! restarts containers whose spec image changed.
#![allow(dead_code)]

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use sidecarset_core::SidecarSet;
use sidecarset_core::annotations;
use sidecarset_core::inject::{NamespaceLabels, Outcome, PodContext, inject};
use sidecarset_core::selector::Labels;
use sidecarset_core::upgrade::{self, Options, Plan, PodPatch};

pub const NOW: &str = "2026-11-25T10:00:00Z";

pub fn set(settings: &Value) -> SidecarSet {
    SidecarSet::new(settings).unwrap_or_else(|e| panic!("settings rejected: {e}\n{settings:#}"))
}

/// Sets `pointer` (creating objects on the way) in a copy of `v`.
pub fn with(v: &Value, pointer: &str, x: Value) -> Value {
    let mut out = v.clone();
    let mut cur = &mut out;
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    for (i, p) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        if let Ok(n) = p.parse::<usize>()
            && cur.is_array()
        {
            if last {
                cur[n] = x;
                return out;
            }
            cur = &mut cur[n];
            continue;
        }
        let obj = cur.as_object_mut().expect("an object on the path");
        if last {
            obj.insert((*p).to_string(), x);
            return out;
        }
        cur = obj.entry(*p).or_insert_with(|| json!({}));
    }
    out
}

/// A Pod with one app container, as a Deployment would create it.
pub fn app_pod(name: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}
    })
}

/// Runs the real injection (as the admission policy does at CREATE).
pub fn injected(set: &SidecarSet, pod: &Value, ns_labels: Option<Labels>) -> Value {
    let labels = match ns_labels {
        Some(l) => NamespaceLabels::Found(l),
        None => NamespaceLabels::NotNeeded,
    };
    let ctx = PodContext {
        request_namespace: "default",
        namespace_labels: &labels,
        now: NOW,
    };
    match inject(set, pod, &ctx).expect("injection succeeds") {
        Outcome::Injected(p) => p,
        Outcome::Unchanged => pod.clone(),
        other => panic!("not injected: {other:?}"),
    }
}

fn sha(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn digest_of(s: &str) -> String {
    format!("sha256:{}", sha(s))
}

/// What a container runtime reports as `imageID` for an image: the digest when the spec names one,
/// else a digest made up from the reference (a new tag always gives a new ID).
pub fn image_id(image: &str) -> String {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, d.to_string()),
        None => (image, digest_of(image)),
    };
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let repo = match name[last_slash..].rfind(':') {
        Some(i) => &name[..last_slash + i],
        None => name,
    };
    format!("docker-pullable://{repo}@{digest}")
}

fn running_status(c: &Value) -> Value {
    let image = c["image"].as_str().unwrap_or("");
    json!({
        "name": c["name"], "image": image, "imageID": image_id(image),
        "ready": true, "started": true, "restartCount": 0, "state": {"running": {}}
    })
}

fn init_status(c: &Value) -> Value {
    if c["restartPolicy"] == "Always" {
        return running_status(c);
    }
    let image = c["image"].as_str().unwrap_or("");
    json!({
        "name": c["name"], "image": image, "imageID": image_id(image),
        "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}
    })
}

/// The Pod as the API server and kubelet make it: uid, resourceVersion, creation time, scheduled,
/// Running and Ready, every container started from its spec image.
pub fn started(mut pod: Value, n: usize) -> Value {
    let meta = pod["metadata"].as_object_mut().expect("metadata");
    meta.insert("uid".into(), json!(format!("uid-{n}")));
    meta.insert("resourceVersion".into(), json!(format!("{}", 100 + n)));
    // One creation time for all: ties in Kubernetes' ActivePods order keep the input order.
    meta.insert("creationTimestamp".into(), json!("2026-11-25T09:00:00Z"));
    pod["spec"]["nodeName"] = json!("node-1");
    let statuses: Vec<Value> = pod["spec"]["containers"]
        .as_array()
        .map(|cs| cs.iter().map(running_status).collect())
        .unwrap_or_default();
    let init: Vec<Value> = pod["spec"]["initContainers"]
        .as_array()
        .map(|cs| cs.iter().map(init_status).collect())
        .unwrap_or_default();
    pod["status"] = json!({
        "phase": "Running",
        "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-25T09:30:00Z"},
            {"type": "ContainersReady", "status": "True"}
        ],
        "containerStatuses": statuses,
    });
    if !init.is_empty() {
        pod["status"]["initContainerStatuses"] = json!(init);
    }
    pod
}

pub fn set_ready(pod: &mut Value, ready: bool) {
    let status = if ready { "True" } else { "False" };
    for c in pod["status"]["conditions"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        if c["type"] == "Ready" {
            c["status"] = json!(status);
        }
    }
}

pub fn set_container_ready(pod: &mut Value, name: &str, ready: bool) {
    for key in ["containerStatuses", "initContainerStatuses"] {
        for s in pod["status"][key].as_array_mut().into_iter().flatten() {
            if s["name"] == name {
                s["ready"] = json!(ready);
            }
        }
    }
}

pub fn annotation<'a>(pod: &'a Value, key: &str) -> Option<&'a str> {
    pod["metadata"]["annotations"][key].as_str()
}

pub fn set_annotation(pod: &mut Value, key: &str, value: &str) {
    pod["metadata"]["annotations"][key] = json!(value);
}

pub fn container_image<'a>(pod: &'a Value, name: &str) -> &'a str {
    for key in ["containers", "initContainers"] {
        if let Some(c) = pod["spec"][key]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        {
            return c["image"].as_str().unwrap_or("");
        }
    }
    panic!("no container {name}")
}

/// A Pod patch as the API server receives it: its JSON.
pub fn ops(patch: &json_patch::Patch) -> Value {
    serde_json::to_value(patch).expect("a patch serialises")
}

fn unescape(s: &str) -> String {
    s.replace("~1", "/").replace("~0", "~")
}

/// RFC 6902 `test`, `add`, `replace`, `remove`; all or nothing, as the API server applies it.
pub fn apply_json_patch(doc: &Value, patch: &Value) -> Result<Value, String> {
    let mut out = doc.clone();
    for op in patch.as_array().ok_or("a patch is an array")? {
        let path = op["path"].as_str().ok_or("op without path")?;
        match op["op"].as_str().unwrap_or("") {
            "test" => {
                if out.pointer(path) != Some(&op["value"]) {
                    return Err(format!("test failed at {path}"));
                }
            }
            "replace" => {
                let at = out.pointer_mut(path).ok_or(format!("replace: no {path}"))?;
                *at = op["value"].clone();
            }
            "add" => {
                let (parent, last) = path.rsplit_once('/').ok_or("bad path")?;
                let last = unescape(last);
                match out.pointer_mut(parent).ok_or(format!("add: no {parent}"))? {
                    Value::Object(o) => {
                        o.insert(last, op["value"].clone());
                    }
                    Value::Array(a) if last == "-" => a.push(op["value"].clone()),
                    Value::Array(a) => {
                        let i: usize = last.parse().map_err(|_| "bad index")?;
                        a.insert(i, op["value"].clone());
                    }
                    _ => return Err(format!("add: {parent} is not a container")),
                }
            }
            "remove" => {
                let (parent, last) = path.rsplit_once('/').ok_or("bad path")?;
                let last = unescape(last);
                match out.pointer_mut(parent) {
                    Some(Value::Object(o)) => {
                        o.remove(&last).ok_or(format!("remove: no {path}"))?;
                    }
                    _ => return Err(format!("remove: no {path}")),
                }
            }
            other => return Err(format!("unexpected op {other}")),
        }
    }
    Ok(out)
}

/// The strategic merge of a `SidecarSetUpgradable` condition patch into the Pod's status.
fn merge_condition(pod: &mut Value, patch: &Value) {
    let cond = &patch["status"]["conditions"][0];
    let conds = pod["status"]["conditions"]
        .as_array_mut()
        .expect("status.conditions");
    match conds.iter_mut().find(|c| c["type"] == cond["type"]) {
        Some(c) => *c = cond.clone(),
        None => conds.push(cond.clone()),
    }
}

/// Checks what every Pod patch must be: the resourceVersion `test` first, then image replacements of
/// the named containers only, then annotations.
pub fn check_patch_shape(pod: &Value, patch: &Value, containers: &[&str]) {
    let ops = patch.as_array().expect("a JSON patch is an array");
    assert_eq!(
        ops[0],
        json!({"op": "test", "path": "/metadata/resourceVersion", "value": pod["metadata"]["resourceVersion"]}),
        "the first op guards the resourceVersion"
    );
    for op in &ops[1..] {
        let path = op["path"].as_str().expect("path");
        assert_ne!(op["op"], "test", "one test op only");
        if let Some(rest) = path.strip_prefix("/spec/") {
            let (list, rest) = rest.split_once('/').expect("/spec/<list>/<i>/image");
            let (i, field) = rest.split_once('/').expect("/spec/<list>/<i>/image");
            assert!(list == "containers" || list == "initContainers", "{path}");
            assert_eq!(
                field, "image",
                "only images change on a running Pod: {path}"
            );
            assert_eq!(op["op"], "replace", "{path}");
            let i: usize = i.parse().expect("index");
            let name = pod["spec"][list][i]["name"]
                .as_str()
                .expect("container name");
            assert!(
                containers.contains(&name),
                "{path} names {name}, not one of the set's containers {containers:?}"
            );
        } else {
            assert!(
                path.starts_with("/metadata/annotations"),
                "only images and annotations are written: {path}"
            );
        }
    }
}

/// Pods in a simulated cluster.
pub struct Cluster {
    pub pods: Vec<Value>,
    pub namespaces: BTreeMap<String, Labels>,
    next_rv: u64,
}

impl Cluster {
    /// `pods` are injected by `set` and started.
    pub fn new(set: &SidecarSet, pods: Vec<Value>) -> Self {
        let pods = pods
            .iter()
            .enumerate()
            .map(|(i, p)| started(injected(set, p, None), i))
            .collect();
        Cluster::from_pods(pods)
    }

    pub fn from_pods(pods: Vec<Value>) -> Self {
        Cluster {
            pods,
            namespaces: BTreeMap::new(),
            next_rv: 1000,
        }
    }

    /// `n` Pods `web-0…` with labels `app: web`, injected and started.
    pub fn web(set: &SidecarSet, n: usize) -> Self {
        Cluster::new(
            set,
            (0..n)
                .map(|i| app_pod(&format!("web-{i}"), json!({"app": "web"})))
                .collect(),
        )
    }

    pub fn plan(&self, set: &SidecarSet) -> Plan {
        upgrade::plan(set, &self.pods, &self.namespaces, NOW, &Options::default())
    }

    pub fn pod(&self, name: &str) -> &Value {
        self.pods
            .iter()
            .find(|p| p["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no Pod {name}"))
    }

    pub fn pod_mut(&mut self, name: &str) -> &mut Value {
        self.pods
            .iter_mut()
            .find(|p| p["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no Pod {name}"))
    }

    /// The API server: applies one Pod write of the plan (shape checked) and its condition.
    pub fn apply(&mut self, w: &PodPatch) {
        let i = w.pod.index;
        let pod = &self.pods[i];
        assert_eq!(pod["metadata"]["name"], w.pod.name.as_str());
        let mut names: Vec<&str> = w.changes.iter().map(|c| c.container.as_str()).collect();
        names.sort();
        let patch = ops(&w.patch);
        check_patch_shape(pod, &patch, &names);
        let mut out = apply_json_patch(pod, &patch).expect("the patch applies");
        self.next_rv += 1;
        out["metadata"]["resourceVersion"] = json!(self.next_rv.to_string());
        if let Some(c) = &w.condition {
            merge_condition(&mut out, &c.patch);
        }
        self.pods[i] = out;
    }

    /// Applies a whole plan as the reconciler does: conditions, flips, upgrades.
    pub fn apply_plan(&mut self, plan: &Plan) {
        for c in &plan.conditions {
            merge_condition(&mut self.pods[c.pod.index], &c.patch);
        }
        for w in plan.flips.iter().chain(&plan.upgrades) {
            self.apply(w);
        }
    }

    /// The kubelet: every container whose spec image differs from what runs is restarted on it and
    /// becomes Ready (`healthy`) or not.
    pub fn kubelet(&mut self, healthy: bool) {
        for pod in &mut self.pods {
            restart_changed(pod, healthy);
        }
    }
}

/// Containers whose status image differs from the spec are restarted on the spec image.
pub fn restart_changed(pod: &mut Value, healthy: bool) {
    let mut all_ready = true;
    for (spec_key, status_key) in [
        ("containers", "containerStatuses"),
        ("initContainers", "initContainerStatuses"),
    ] {
        let specs: Map<String, Value> = pod["spec"][spec_key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| (c["name"].as_str().unwrap_or("").to_string(), c.clone()))
            .collect();
        for s in pod["status"][status_key]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            let name = s["name"].as_str().unwrap_or("").to_string();
            let Some(spec) = specs.get(&name) else {
                continue;
            };
            let image = spec["image"].as_str().unwrap_or("");
            if s["image"] != image {
                s["image"] = json!(image);
                s["imageID"] = json!(image_id(image));
                s["restartCount"] = json!(s["restartCount"].as_i64().unwrap_or(0) + 1);
                s["ready"] = json!(healthy);
            }
            if spec_key == "containers" && s["ready"] != true {
                all_ready = false;
            }
        }
    }
    set_ready(pod, all_ready);
}

/// The hash entry's `hash` of `set` on the Pod.
pub fn pod_hash(pod: &Value, set: &str) -> String {
    let raw = annotation(pod, annotations::HASH).unwrap_or("{}");
    let v: Value = serde_json::from_str(raw).expect("hash annotation is JSON");
    v[set]["hash"].as_str().unwrap_or("").to_string()
}

pub fn names(ps: &[PodPatch]) -> Vec<&str> {
    ps.iter().map(|p| p.pod.name.as_str()).collect()
}
