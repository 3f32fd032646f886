//! The chart as a user meets it: `helm install` into the test kube-apiserver (Kubewarden's CRDs
//! installed, no controllers, no kubelet), the objects the API server accepted, then the
//! reconciler run as the chart's ServiceAccount, under the chart's RBAC and guard and with the
//! chart's Deployment flags, through one rollout that `helm upgrade` of the set's image starts; then
//! `helm uninstall`, which must leave none of the release's cluster-scoped objects behind.
//!
//! The release gets a full name of its own (`fullnameOverride`) because the ClusterRole, its
//! binding and the guard are cluster-scoped and the tests run side by side.

use std::{collections::BTreeMap, sync::Arc};

use anyhow::{Context, Result, bail, ensure};
use kube::{
    Api,
    api::{DynamicObject, GroupVersionKind},
    discovery::{self, Scope},
};
use serde::Deserialize;
use serde_json::{Value, json};
use sidecarset_cluster_tests::{
    audit, helm,
    kubelet::KubeletConfig,
    observe::Observer,
    pods::{FILEBEAT_NEW, FILEBEAT_OLD},
    policy::{ClusterPolicy, TEST_LABEL},
    rbac,
    reconciler::Identity,
    testns::TestNs,
};

use super::{all_available, count_with_image, filebeat, filebeat_pods, wait_status, with_image};

const RELEASE: &str = "sidecarset";

/// The run flags the test harness sets itself (a free metrics port, the Lease holder's name, quick
/// rounds): the chart's values for them are checked instead of passed.
const HARNESS_FLAGS: &[&str] = &[
    "--metrics-addr",
    "--namespace",
    "--revision-namespace",
    "--lease-namespace",
    "--busy-requeue-millis",
    "--policy-selector",
];

fn values(t: &TestNs, fullname: &str, settings: &Value) -> Value {
    let mut settings = settings.clone();
    // The set's name comes from `sets[].name`.
    settings.as_object_mut().unwrap().remove("name");
    json!({
        "fullnameOverride": fullname,
        "reconciler": {
            "watchNamespace": t.ns,
            "policySelector": format!("{TEST_LABEL}={}", t.ns),
        },
        "setDefaults": {
            "policyPrefix": format!("{}-", t.ns),
            "labels": {TEST_LABEL: t.ns},
        },
        "sets": [{"name": "filebeat", "settings": settings}],
    })
}

fn write_values(t: &TestNs, name: &str, v: &Value) -> Result<String> {
    let path = t
        .cluster
        .scratch
        .join(format!("{}-{name}.values.yaml", t.ns));
    std::fs::write(&path, serde_yaml::to_string(v)?)?;
    Ok(path.to_string_lossy().into_owned())
}

fn documents(text: &str) -> Result<Vec<Value>> {
    let mut out = vec![];
    for doc in serde_yaml::Deserializer::from_str(text) {
        let v = Value::deserialize(doc)?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

/// Reads every object of the release's manifest back from the API server; `kind -> names`.
async fn accepted(t: &TestNs, manifest: &[Value]) -> Result<BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for doc in manifest {
        let api_version = doc["apiVersion"].as_str().context("apiVersion")?;
        let kind = doc["kind"].as_str().context("kind")?;
        let name = doc["metadata"]["name"].as_str().context("metadata.name")?;
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (ar, caps) = discovery::pinned_kind(&t.client, &gvk)
            .await
            .with_context(|| format!("the API server serves no {api_version} {kind}"))?;
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Cluster => Api::all_with(t.client.clone(), &ar),
            Scope::Namespaced => {
                let ns = doc["metadata"]["namespace"].as_str().unwrap_or(&t.ns);
                Api::namespaced_with(t.client.clone(), ns, &ar)
            }
        };
        let obj = api
            .get(name)
            .await
            .with_context(|| format!("{kind} {name} of the release is not on the API server"))?;
        let labels = obj.metadata.labels.unwrap_or_default();
        ensure!(
            labels
                .get("app.kubernetes.io/managed-by")
                .map(String::as_str)
                == Some("Helm"),
            "{kind} {name}: not labelled as Helm's: {labels:?}"
        );
        out.entry(kind.to_owned())
            .or_default()
            .push(name.to_owned());
    }
    Ok(out)
}

pub async fn chart_installs_and_its_reconciler_rolls_out(t: Arc<TestNs>) -> Result<()> {
    let fullname = format!("{}-r", t.ns);
    ensure!(
        fullname.len() <= 63,
        "{fullname}: longer than a label value"
    );
    let settings = filebeat(json!(2))?;
    let install_values = write_values(&t, "install", &values(&t, &fullname, &settings))?;
    let chart = helm::chart();
    let chart = chart.to_string_lossy();
    // No --wait: nothing runs the Deployment here (no controller manager, no kubelet).
    helm::run(
        &t.cluster,
        &[
            "install",
            RELEASE,
            &chart,
            "--namespace",
            &t.ns,
            "--values",
            &install_values,
            "--timeout",
            "60s",
        ],
    )?;
    let manifest = documents(&helm::run(
        &t.cluster,
        &["get", "manifest", RELEASE, "--namespace", &t.ns],
    )?)?;
    let kinds = accepted(&t, &manifest).await?;
    let count = |k: &str| kinds.get(k).map_or(0, Vec::len);
    for (kind, n) in [
        ("ServiceAccount", 1),
        ("ClusterRole", 1),
        ("ClusterRoleBinding", 1),
        ("Role", 2),
        ("RoleBinding", 2),
        ("Deployment", 1),
        ("Service", 1),
        ("PodDisruptionBudget", 1),
        ("ValidatingAdmissionPolicy", 1),
        ("ValidatingAdmissionPolicyBinding", 1),
        ("ClusterAdmissionPolicy", 1),
    ] {
        ensure!(
            count(kind) == n,
            "{n} {kind} expected in the release, found {:?}",
            kinds.get(kind)
        );
    }
    ensure!(
        kinds.values().map(Vec::len).sum::<usize>() == manifest.len(),
        "the release holds objects this test does not know: {kinds:?}"
    );

    // The set as the chart wrote it: the Pods are injected with the policy's settings as stored.
    let policy = ClusterPolicy::existing(&t.client, &format!("{}-filebeat", t.ns));
    let stored = policy.get().await?;
    let stored_settings = stored.data["spec"]["settings"].clone();
    ensure!(
        stored_settings["name"] == "filebeat"
            && stored.data["spec"]["objectSelector"] == settings["selector"],
        "the set's policy: {}",
        stored.data["spec"]
    );
    let (_kubelet, before) = filebeat_pods(
        &t,
        &stored_settings,
        6,
        |_| vec![],
        KubeletConfig::default(),
    )
    .await?;

    // The reconciler as the Deployment runs it: the chart's ServiceAccount and flags.
    let deployment = manifest
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .context("no Deployment")?;
    let pod_spec = &deployment["spec"]["template"]["spec"];
    let account = pod_spec["serviceAccountName"]
        .as_str()
        .context("serviceAccountName")?;
    ensure!(account == fullname, "the Deployment runs as {account}");
    let args: Vec<String> = pod_spec["containers"][0]["args"]
        .as_array()
        .context("args")?
        .iter()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect();
    ensure!(
        args.first().map(String::as_str) == Some("run"),
        "args {args:?}"
    );
    let flag = |name: &str| {
        args.iter()
            .find_map(|a| a.strip_prefix(&format!("{name}=")).map(str::to_owned))
    };
    for (name, want) in [
        ("--namespace", t.ns.clone()),
        ("--revision-namespace", t.ns.clone()),
        ("--lease-namespace", t.ns.clone()),
        ("--policy-selector", format!("{TEST_LABEL}={}", t.ns)),
    ] {
        ensure!(
            flag(name).as_deref() == Some(want.as_str()),
            "{name} in {args:?}: want {want}"
        );
    }
    let passed: Vec<&str> = args[1..]
        .iter()
        .filter(|a| !HARNESS_FLAGS.iter().any(|f| a.split('=').next() == Some(f)))
        .map(String::as_str)
        .collect();
    let who = Identity {
        user: rbac::service_account_user(&t.ns, account),
        groups: rbac::service_account_groups(&t.ns),
    };
    let _rec = t.reconciler_as(&who, &t.policy_source(), &passed, None)?;
    wait_status(&policy, "status: 6 matched, 6 updated and ready", |s| {
        s["matchedPods"] == 6 && s["updatedReadyPods"] == 6 && s["observedGeneration"] == 1
    })
    .await?;

    // The rollout a user starts: `helm upgrade` with the new image in the values.
    let obs = Observer::start(t.client.clone(), &t.ns).await;
    let new = with_image(&settings, "filebeat", FILEBEAT_NEW)?;
    let upgrade_values = write_values(&t, "upgrade", &values(&t, &fullname, &new))?;
    helm::run(
        &t.cluster,
        &[
            "upgrade",
            RELEASE,
            &chart,
            "--namespace",
            &t.ns,
            "--values",
            &upgrade_values,
            "--timeout",
            "60s",
        ],
    )?;
    wait_status(
        &policy,
        "status: 6 updated and ready at generation 2",
        |s| s["observedGeneration"] == 2 && s["updatedPods"] == 6 && s["updatedReadyPods"] == 6,
    )
    .await?;
    let after = all_available(&t, 6).await?;
    ensure!(
        count_with_image(&after, "filebeat", FILEBEAT_NEW) == 6
            && count_with_image(&before, "filebeat", FILEBEAT_OLD) == 6,
        "images before/after"
    );
    for (name, p) in &after {
        ensure!(
            p.metadata.uid == before[name].metadata.uid,
            "{name}: recreated (UID changed)"
        );
    }
    let seen = obs.snapshot();
    ensure!(
        seen.max_unavailable <= 2,
        "{} Pods unavailable at once, maxUnavailable 2: {:?}",
        seen.max_unavailable,
        seen.max_seen_at
    );
    // The status annotation the reconciler wrote survived helm's server-side apply of the policy.
    ensure!(
        policy.status().await?.is_some(),
        "the status annotation is gone after helm upgrade"
    );

    // Every request of the chart's ServiceAccount passed its RBAC and guard.
    t.ensure_no_forbidden()?;
    let writes = audit::requests(&t.cluster.audit_log, &who.user, None)?
        .iter()
        .filter(|r| r.is_write())
        .count();
    ensure!(writes > 0, "the audit log shows no write of {}", who.user);

    helm::run(
        &t.cluster,
        &[
            "uninstall",
            RELEASE,
            "--namespace",
            &t.ns,
            "--timeout",
            "60s",
        ],
    )?;
    for doc in manifest.iter().filter(|d| {
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "ValidatingAdmissionPolicy",
            "ClusterAdmissionPolicy",
        ]
        .contains(&d["kind"].as_str().unwrap_or_default())
    }) {
        if let Ok(left) = accepted(&t, std::slice::from_ref(doc)).await {
            bail!("helm uninstall left {left:?}");
        }
    }
    println!(
        "chart: {} objects installed and accepted ({}), 6 Pods upgraded in place by helm upgrade \
         as {account}, {} writes, most unavailable {} of 2",
        manifest.len(),
        kinds
            .iter()
            .map(|(k, v)| format!("{k} {}", v.len()))
            .collect::<Vec<_>>()
            .join(", "),
        writes,
        seen.max_unavailable
    );
    Ok(())
}
