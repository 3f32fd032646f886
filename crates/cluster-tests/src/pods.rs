//! Pods as the policy makes them: a plain Pod, run through the real injection with the settings of a
//! golden case, then created in the test's namespace.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::core::v1::Pod;
use kube::{Api, Client, api::PostParams};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sidecarset_core::{
    SidecarSet,
    inject::{self, NamespaceLabels, Outcome, PodContext},
    revision::pinned::{NoRevisions, RevisionContext, RevisionSource},
};

use crate::repo_root;

/// The settings of `test_data/golden/<case>/settings.yaml`, as JSON.
pub fn golden_settings(case: &str) -> Result<Value> {
    let p = repo_root()
        .join("test_data/golden")
        .join(case)
        .join("settings.yaml");
    let text = std::fs::read_to_string(&p).with_context(|| p.display().to_string())?;
    Ok(serde_yaml::from_str(&text)?)
}

/// The AdmissionRequest of `test_data/golden/<case>/request.json`.
pub fn golden_request(case: &str) -> Result<Value> {
    let p = repo_root()
        .join("test_data/golden")
        .join(case)
        .join("request.json");
    let text = std::fs::read_to_string(&p).with_context(|| p.display().to_string())?;
    Ok(serde_json::from_str(&text)?)
}

/// The Pod object of `test_data/golden/<case>/request.json`.
pub fn golden_pod(case: &str) -> Result<Value> {
    Ok(golden_request(case)?["object"].clone())
}

/// The Filebeat story's nginx Pod (the golden request's object), named, without its owner (nothing
/// here is a ReplicaSet) and bound to a node so that it counts as scheduled.
pub fn nginx_pod(name: &str, extra_labels: &[(&str, &str)]) -> Result<Value> {
    let mut pod = golden_pod("filebeat-story")?;
    named(&mut pod, name, extra_labels);
    Ok(pod)
}

/// Gives a golden Pod a name and extra labels, drops what a test cluster cannot honour.
pub fn named(pod: &mut Value, name: &str, extra_labels: &[(&str, &str)]) {
    let meta = &mut pod["metadata"];
    if let Some(m) = meta.as_object_mut() {
        m.remove("generateName");
        m.remove("ownerReferences");
        m.remove("namespace");
        m.insert("name".into(), json!(name));
    }
    for (k, v) in extra_labels {
        meta["labels"][*k] = json!(v);
    }
    pod["spec"]["nodeName"] = json!("node-1");
}

/// A Pod of the golden Filebeat story's Deployment as its ReplicaSet creates it: no name yet (the
/// API server makes one from `generateName`), bound to a node; without its owner, which a test
/// cluster does not have.
pub fn deployment_pod() -> Result<Value> {
    let mut pod = golden_pod("filebeat-story")?;
    if let Some(m) = pod["metadata"].as_object_mut() {
        m.remove("ownerReferences");
        m.remove("namespace");
    }
    pod["spec"]["nodeName"] = json!("node-1");
    Ok(pod)
}

/// Runs the policy's injection of `settings` on `pod` (as the admission webhook would at CREATE),
/// for settings that pin no revision.
pub fn inject(settings: &Value, pod: &Value, namespace: &str) -> Result<Value> {
    inject_with(settings, pod, namespace, "cluster-test", &NoRevisions)
}

/// The same with the ControllerRevision lookups of `injectionStrategy.revision` answered by
/// `revisions` (e.g. [`crate::revisions::ClusterRevisions`]); `request_uid` is the admission
/// request's uid.
pub fn inject_with(
    settings: &Value,
    pod: &Value,
    namespace: &str,
    request_uid: &str,
    revisions: &dyn RevisionSource,
) -> Result<Value> {
    let set = SidecarSet::new(settings).map_err(|e| anyhow!("settings: {e}"))?;
    let ctx = PodContext {
        request_namespace: namespace,
        namespace_labels: &NamespaceLabels::NotNeeded,
        now: &now(),
    };
    let pinned = RevisionContext {
        request_uid,
        source: revisions,
    };
    match inject::inject_at_create(&set, pod, &ctx, &pinned).map_err(|e| anyhow!("inject: {e}"))? {
        Outcome::Injected(p) => Ok(p),
        Outcome::Unchanged => Ok(pod.clone()),
        Outcome::Skipped { reason, .. } => bail!("the policy did not inject: {reason}"),
    }
}

pub async fn create(client: &Client, namespace: &str, pod: &Value) -> Result<Pod> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let typed: Pod = serde_json::from_value(pod.clone())?;
    Ok(api.create(&PostParams::default(), &typed).await?)
}

/// `n` Filebeat-injected nginx Pods named `web-0..`, created; `labels(i)` adds labels to Pod `i`.
pub async fn create_injected(
    client: &Client,
    namespace: &str,
    settings: &Value,
    n: usize,
    labels: impl Fn(usize) -> Vec<(&'static str, &'static str)>,
) -> Result<Vec<Pod>> {
    let mut out = Vec::new();
    for i in 0..n {
        let pod = nginx_pod(&format!("web-{i}"), &labels(i))?;
        let injected = inject(settings, &pod, namespace)?;
        out.push(create(client, namespace, &injected).await?);
    }
    Ok(out)
}

pub fn now() -> String {
    let ts = k8s_openapi::jiff::Timestamp::now();
    k8s_openapi::jiff::Timestamp::from_second(ts.as_second())
        .unwrap_or(ts)
        .to_string()
}

/// The motivating upgrade: Filebeat 7.16.2 to 7.16.3 across the fleet.
pub const FILEBEAT_OLD: &str = "docker.elastic.co/beats/filebeat:7.16.2";
pub const FILEBEAT_NEW: &str = "docker.elastic.co/beats/filebeat:7.16.3";

/// The image ID a container runtime would report for `image`: the repository and a digest that only
/// this image string has (a tag bump gives a new ID); a digest reference reports its own digest.
pub fn image_id(image: &str) -> String {
    if let Some((repo, digest)) = image.split_once('@') {
        return format!("{repo}@{digest}");
    }
    let repo = match image.rsplit_once(':') {
        Some((r, tag)) if !tag.contains('/') => r,
        _ => image,
    };
    let digest = Sha256::digest(image.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{repo}@sha256:{hex}")
}

/// Sets the image of container `name` (in `containers` or `initContainers`) in settings.
pub fn set_image(settings: &mut Value, name: &str, image: &str) -> Result<()> {
    for list in ["containers", "initContainers"] {
        if let Some(cs) = settings[list].as_array_mut() {
            for c in cs {
                if c["name"] == name {
                    c["image"] = json!(image);
                    return Ok(());
                }
            }
        }
    }
    bail!("settings have no container {name}")
}

/// A container's image in a Pod's spec (containers, then initContainers).
pub fn spec_image(pod: &Pod, container: &str) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == container)
        .and_then(|c| c.image.clone())
}

/// A container's status (containerStatuses, then initContainerStatuses).
pub fn container_status(
    pod: &Pod,
    container: &str,
) -> Option<k8s_openapi::api::core::v1::ContainerStatus> {
    let st = pod.status.as_ref()?;
    st.container_statuses
        .iter()
        .flatten()
        .chain(st.init_container_statuses.iter().flatten())
        .find(|c| c.name == container)
        .cloned()
}

pub fn annotation(pod: &Pod, key: &str) -> Option<String> {
    pod.metadata.annotations.as_ref()?.get(key).cloned()
}

/// The hash this Pod records for set `set` (`kruise.io/sidecarset-hash`).
pub fn recorded_hash(pod: &Pod, set: &str) -> Option<String> {
    let v: Value =
        serde_json::from_str(&annotation(pod, sidecarset_core::annotations::HASH)?).ok()?;
    match &v[set] {
        Value::String(s) => Some(s.clone()),
        e => e["hash"].as_str().map(str::to_string),
    }
}

/// The ControllerRevision this Pod's `kruise.io/sidecarset-hash` entry for `set` names.
pub fn recorded_revision(pod: &Pod, set: &str) -> Option<String> {
    let v: Value =
        serde_json::from_str(&annotation(pod, sidecarset_core::annotations::HASH)?).ok()?;
    v[set]["controllerRevision"].as_str().map(str::to_string)
}

/// The ControllerRevision name of `settings` as the policy writes it (collision count 0).
pub fn settings_revision(settings: &Value) -> Result<String> {
    Ok(SidecarSet::new(settings)
        .map_err(|e| anyhow!("settings: {e}"))?
        .revision_name()
        .to_string())
}

/// The current hash of `settings` (what an updated Pod records).
pub fn settings_hash(settings: &Value) -> Result<String> {
    Ok(SidecarSet::new(settings)
        .map_err(|e| anyhow!("settings: {e}"))?
        .hash()
        .to_string())
}

pub fn settings_hash_without_image(settings: &Value) -> Result<String> {
    Ok(SidecarSet::new(settings)
        .map_err(|e| anyhow!("settings: {e}"))?
        .hash_without_image()
        .to_string())
}

/// The `SidecarSetUpgradable` condition of a Pod.
pub fn upgradable_condition(pod: &Pod) -> Option<k8s_openapi::api::core::v1::PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "SidecarSetUpgradable")
        .cloned()
}

pub fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Pods by name.
pub async fn by_name(client: &Client, namespace: &str) -> Result<BTreeMap<String, Pod>> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    Ok(api
        .list(&Default::default())
        .await?
        .items
        .into_iter()
        .map(|p| (p.metadata.name.clone().unwrap_or_default(), p))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_ids_change_with_the_tag_and_keep_the_repository() {
        let a = image_id("docker.elastic.co/beats/filebeat:7.16.2");
        let b = image_id("docker.elastic.co/beats/filebeat:7.16.3");
        assert!(
            a.starts_with("docker.elastic.co/beats/filebeat@sha256:"),
            "{a}"
        );
        assert_ne!(a, b);
        assert_eq!(image_id("localhost:5000/x"), image_id("localhost:5000/x"));
        assert!(image_id("localhost:5000/x").starts_with("localhost:5000/x@sha256:"));
        let d = format!("busybox@sha256:{}", "1".repeat(64));
        assert_eq!(image_id(&d), d);
    }

    #[test]
    fn the_golden_filebeat_pod_is_injected_by_the_policy() {
        let settings = golden_settings("filebeat-story").unwrap();
        let pod = nginx_pod("web-0", &[("canary", "true")]).unwrap();
        let injected = inject(&settings, &pod, "ns").unwrap();
        let names: Vec<&str> = injected["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["filebeat", "nginx"]);
        assert_eq!(injected["metadata"]["labels"]["canary"], "true");
        assert_eq!(injected["spec"]["nodeName"], "node-1");
        let typed: Pod = serde_json::from_value(injected).unwrap();
        assert_eq!(
            recorded_hash(&typed, "filebeat").unwrap(),
            settings_hash(&settings).unwrap()
        );
    }
}
