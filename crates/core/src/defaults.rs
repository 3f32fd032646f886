//! Defaults exactly as Kruise's SidecarSet mutating webhook applies them (`SetDefaultsSidecarSet`), before
//! hashing: the hash covers the defaulted containers, so a missing default is a different hash.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, HTTPGetAction, ObjectFieldSelector, Probe, Volume,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::image;
use crate::quantity::normalize_resource_quantity;
use crate::settings::{
    AFTER_APP_CONTAINER, BEFORE_APP_CONTAINER, COLD_UPGRADE, INJECT_ALWAYS, PATCH_RETAIN,
    ROLLING_UPDATE, SHARE_DISABLED, Settings, SidecarContainer,
};

/// The label the API server puts on every Namespace (Kubernetes >= 1.21).
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";
const DEFAULT_MODE: i32 = 0o644;

pub fn apply(s: &mut Settings) {
    // v1alpha1 `namespace` becomes a namespaceSelector and wins over one given beside it (Kruise's conversion).
    if let Some(ns) = s.namespace.take().filter(|ns| !ns.is_empty()) {
        s.namespace_selector = Some(LabelSelector {
            match_labels: Some(BTreeMap::from([(NAMESPACE_NAME_LABEL.to_string(), ns)])),
            match_expressions: None,
        });
    }
    let us = &mut s.update_strategy;
    us.type_.get_or_insert_with(|| ROLLING_UPDATE.to_string());
    us.max_unavailable.get_or_insert(IntOrString::Int(1));
    us.partition.get_or_insert(IntOrString::Int(0));
    for c in s.init_containers.iter_mut().flatten() {
        sidecar_container(c, AFTER_APP_CONTAINER);
    }
    for c in s.containers.iter_mut().flatten() {
        sidecar_container(c, BEFORE_APP_CONTAINER);
    }
    for v in s.volumes.iter_mut().flatten() {
        volume(v);
    }
    s.revision_history_limit.get_or_insert(10);
    for p in s.patch_pod_metadata.iter_mut().flatten() {
        if p.patch_policy.as_deref().unwrap_or("").is_empty() {
            p.patch_policy = Some(PATCH_RETAIN.to_string());
        }
    }
    if let Some(r) = s.injection_strategy.revision.as_mut()
        && r.policy.as_deref().unwrap_or("").is_empty()
    {
        r.policy = Some(INJECT_ALWAYS.to_string());
    }
}

fn set_if_empty(field: &mut Option<String>, value: &str) {
    if field.as_deref().unwrap_or("").is_empty() {
        *field = Some(value.to_string());
    }
}

fn sidecar_container(c: &mut SidecarContainer, inject_policy: &str) {
    set_if_empty(&mut c.pod_inject_policy, inject_policy);
    set_if_empty(&mut c.upgrade_strategy.upgrade_type, COLD_UPGRADE);
    set_if_empty(&mut c.share_volume_policy.type_, SHARE_DISABLED);
    for t in c.transfer_env.iter_mut().flatten() {
        if let Some(f) = t
            .source_container_name_from
            .as_mut()
            .and_then(|f| f.field_ref.as_mut())
        {
            field_selector(f);
        }
    }
    container(&mut c.container);
}

/// `SetDefaults_Container` plus what Kruise's `setDefaultContainer` adds. Not the startup probe: Kruise
/// forgets it, and defaulting it here would change the hash of every set that has one.
pub fn container(c: &mut Container) {
    if c.image_pull_policy.as_deref().unwrap_or("").is_empty() {
        c.image_pull_policy =
            Some(image::default_pull_policy(c.image.as_deref().unwrap_or("")).to_string());
    }
    set_if_empty(&mut c.termination_message_path, "/dev/termination-log");
    set_if_empty(&mut c.termination_message_policy, "File");
    for p in c.ports.iter_mut().flatten() {
        set_if_empty(&mut p.protocol, "TCP");
    }
    for e in c.env.iter_mut().flatten() {
        if let Some(f) = e.value_from.as_mut().and_then(|v| v.field_ref.as_mut()) {
            field_selector(f);
        }
        // Not a default, but what Go's decode-encode round trip does to every quantity before Kruise
        // hashes it: a non-canonical divisor ("1000m") would otherwise hash differently.
        if let Some(d) = e
            .value_from
            .as_mut()
            .and_then(|v| v.resource_field_ref.as_mut())
            .and_then(|r| r.divisor.as_mut())
            && let Ok(q) = crate::quantity::Quantity::parse(&d.0)
        {
            d.0 = q.canonical();
        }
    }
    if let Some(r) = c.resources.as_mut() {
        for list in [r.limits.as_mut(), r.requests.as_mut()]
            .into_iter()
            .flatten()
        {
            resource_list(list);
        }
    }
    for p in [c.liveness_probe.as_mut(), c.readiness_probe.as_mut()]
        .into_iter()
        .flatten()
    {
        probe(p);
    }
    if let Some(l) = c.lifecycle.as_mut() {
        for h in [l.post_start.as_mut(), l.pre_stop.as_mut()]
            .into_iter()
            .flatten()
        {
            if let Some(g) = h.http_get.as_mut() {
                http_get(g);
            }
        }
    }
}

/// Rounds every quantity up to milli precision and writes it canonically (`SetDefaults_ResourceList`).
/// An unparsable quantity is left for validation to report.
fn resource_list(list: &mut BTreeMap<String, Quantity>) {
    for q in list.values_mut() {
        if let Ok(n) = normalize_resource_quantity(&q.0) {
            q.0 = n;
        }
    }
}

fn probe(p: &mut Probe) {
    for (field, default) in [
        (&mut p.timeout_seconds, 1),
        (&mut p.period_seconds, 10),
        (&mut p.success_threshold, 1),
        (&mut p.failure_threshold, 3),
    ] {
        if field.unwrap_or(0) == 0 {
            *field = Some(default);
        }
    }
    if let Some(g) = p.http_get.as_mut() {
        http_get(g);
    }
}

fn http_get(g: &mut HTTPGetAction) {
    set_if_empty(&mut g.path, "/");
    set_if_empty(&mut g.scheme, "HTTP");
}

fn field_selector(f: &mut ObjectFieldSelector) {
    set_if_empty(&mut f.api_version, "v1");
}

/// `SetDefaults_Volume` and the per-source defaults of `SetDefaultPodVolumes`.
pub fn volume(v: &mut Volume) {
    let has_source = {
        let mut probe = serde_json::to_value(&*v).unwrap_or_default();
        if let Some(o) = probe.as_object_mut() {
            o.remove("name");
        }
        probe.as_object().is_some_and(|o| !o.is_empty())
    };
    if !has_source {
        v.empty_dir = Some(EmptyDirVolumeSource::default());
    }
    if let Some(h) = v.host_path.as_mut() {
        h.type_.get_or_insert_with(String::new);
    }
    if let Some(s) = v.secret.as_mut() {
        s.default_mode.get_or_insert(DEFAULT_MODE);
    }
    if let Some(c) = v.config_map.as_mut() {
        c.default_mode.get_or_insert(DEFAULT_MODE);
    }
    if let Some(d) = v.downward_api.as_mut() {
        d.default_mode.get_or_insert(DEFAULT_MODE);
        for i in d.items.iter_mut().flatten() {
            if let Some(f) = i.field_ref.as_mut() {
                field_selector(f);
            }
        }
    }
    if let Some(p) = v.projected.as_mut() {
        p.default_mode.get_or_insert(DEFAULT_MODE);
        for src in p.sources.iter_mut().flatten() {
            for i in src
                .downward_api
                .iter_mut()
                .flat_map(|d| d.items.iter_mut().flatten())
            {
                if let Some(f) = i.field_ref.as_mut() {
                    field_selector(f);
                }
            }
            if let Some(t) = src.service_account_token.as_mut() {
                t.expiration_seconds.get_or_insert(3600);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn defaulted(v: serde_json::Value) -> serde_json::Value {
        let mut s = Settings::parse(&v).unwrap();
        apply(&mut s);
        serde_json::to_value(&s).unwrap()
    }

    #[test]
    fn sidecar_container_defaults_match_kruise() {
        let s = defaulted(json!({
            "containers": [{"name": "c", "image": "nginx:1.27",
                "ports": [{"containerPort": 80}],
                "env": [{"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                        {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1024Ki"}}}],
                "resources": {"limits": {"cpu": "0.5", "memory": "1024Mi"}},
                "livenessProbe": {"httpGet": {"port": 80}},
                "startupProbe": {"httpGet": {"port": 80}},
                "lifecycle": {"preStop": {"httpGet": {"port": 80}}}}],
            "initContainers": [{"name": "i", "image": "busybox"}],
        }));
        let c = &s["containers"][0];
        assert_eq!(c["podInjectPolicy"], "BeforeAppContainer");
        assert_eq!(c["upgradeStrategy"], json!({"upgradeType": "ColdUpgrade"}));
        assert_eq!(c["shareVolumePolicy"], json!({"type": "disabled"}));
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(c["terminationMessagePolicy"], "File");
        assert_eq!(c["ports"][0]["protocol"], "TCP");
        assert_eq!(c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
        assert_eq!(
            c["env"][1]["valueFrom"]["resourceFieldRef"]["divisor"],
            "1Mi"
        );
        assert_eq!(
            c["resources"]["limits"],
            json!({"cpu": "500m", "memory": "1Gi"})
        );
        assert_eq!(
            c["livenessProbe"],
            json!({"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                   "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
        );
        assert_eq!(
            c["startupProbe"],
            json!({"httpGet": {"port": 80}}),
            "Kruise does not default startupProbe"
        );
        assert_eq!(c["lifecycle"]["preStop"]["httpGet"]["scheme"], "HTTP");
        let i = &s["initContainers"][0];
        assert_eq!(i["podInjectPolicy"], "AfterAppContainer");
        assert_eq!(i["imagePullPolicy"], "Always");
        assert_eq!(
            s["updateStrategy"],
            json!({"type": "RollingUpdate", "paused": false, "partition": 0, "maxUnavailable": 1})
        );
        assert_eq!(s["revisionHistoryLimit"], 10);
    }

    #[test]
    fn volume_defaults() {
        let s = defaulted(json!({"volumes": [
            {"name": "a"}, {"name": "b", "configMap": {"name": "x"}}, {"name": "c", "hostPath": {"path": "/x"}},
            {"name": "d", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}]}));
        let v = &s["volumes"];
        assert_eq!(v[0], json!({"name": "a", "emptyDir": {}}));
        assert_eq!(v[1]["configMap"]["defaultMode"], 420);
        assert_eq!(v[2]["hostPath"]["type"], "");
        assert_eq!(v[3]["projected"]["defaultMode"], 420);
        assert_eq!(
            v[3]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"],
            3600
        );
    }

    #[test]
    fn alpha_namespace_becomes_a_namespace_selector_and_wins() {
        let s = defaulted(
            json!({"namespace": "prod", "namespaceSelector": {"matchLabels": {"x": "y"}}}),
        );
        assert_eq!(
            s["namespaceSelector"],
            json!({"matchLabels": {"kubernetes.io/metadata.name": "prod"}})
        );
        assert!(s.get("namespace").is_none());
    }
}
