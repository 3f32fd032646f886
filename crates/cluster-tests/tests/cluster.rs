//! The reconciler against a real kube-apiserver (hack/cluster): one cluster for the whole run, one
//! namespace, fake kubelet and reconciler process per test. Run with `make cluster-test`, or
//! `cargo test -p sidecarset-cluster-tests --features cluster` (hack/cluster/README.md).

use std::{
    collections::BTreeMap, future::Future, pin::Pin, process::ExitCode, sync::Arc, time::Duration,
};

use anyhow::{Context, Result, ensure};
use k8s_openapi::api::{apps::v1::ControllerRevision, core::v1::Pod};
use kube::{
    Api,
    api::{Patch, PatchParams},
};
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::{Value, json};
use sidecarset_cluster_tests::{
    audit,
    cluster::Cluster,
    kubelet::{FakeKubelet, KubeletConfig},
    observe::{Observer, unavailable},
    pods::{
        self, FILEBEAT_NEW, FILEBEAT_OLD, annotation, container_status, image_id, recorded_hash,
        spec_image,
    },
    proxy::{SlowProxy, StallProxy},
    reconciler::{self, metric_value},
    revisions::ClusterRevisions,
    testns::TestNs,
    wait,
};

mod faults;
use faults::{
    apiserver_restarted_mid_rollout, apiserver_throttles_writes_mid_rollout,
    etcd_compacted_mid_rollout_watches_relist,
};
mod guard;
use guard::forged_patches_are_refused_by_the_api_server;
mod chart;
use chart::chart_installs_and_its_reconciler_rolls_out;
mod monitoring;
use monitoring::dashboard_and_alert_metrics_exist;
mod plugin;
use plugin::kubectl_plugin_prints_status;

const ROLLOUT: Duration = Duration::from_secs(120);

type TestFn = fn(Arc<TestNs>) -> Pin<Box<dyn Future<Output = Result<()>> + Send>>;

macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        vec![$((stringify!($name), (|t| Box::pin($name(t))) as TestFn)),*]
    };
}

fn main() -> ExitCode {
    let mut args = Arguments::from_args();
    // The tests mostly wait on the cluster; four at a time keep two cores busy without starving it.
    if args.test_threads.is_none() {
        args.test_threads = Some(4);
    }
    let tests: Vec<(&'static str, TestFn)> = tests![
        filebeat_story,
        partition_keeps_the_tail_old,
        canary_update_selector,
        paused_then_resumed,
        not_update_never_touches_pods,
        resources_change_is_not_upgradable,
        broken_image_stops_at_the_budget,
        killed_and_restarted_mid_rollout,
        apiserver_restarted_mid_rollout,
        etcd_compacted_mid_rollout_watches_relist,
        apiserver_throttles_writes_mid_rollout,
        conflicting_write_is_retried,
        kruise_injected_pod_is_adopted,
        native_sidecar_upgraded_in_place,
        hot_upgrade_pair_flipped,
        invalid_settings_events_follow_the_error,
        max_unavailable_over_100_percent_is_warned,
        writes_are_paced,
        uninjected_pods_are_counted_never_patched,
        kruise_sidecarset_migrated_with_zero_patches,
        missing_lease_namespace_is_named_at_start,
        revision_history_follows_the_settings,
        revision_history_is_truncated_around_pods_in_use,
        pinned_revision_keeps_scaled_up_pods_on_it,
        leader_cut_off_mid_rollout_hands_over_without_two_writers,
        leader_lease_held_by_apf_hands_over_without_two_writers,
        condition_writes_failing_with_500_never_fail_an_upgrade,
        revision_name_taken_by_other_data_moves_to_the_next_name,
        conflicting_sets_are_reported_on_both_policies,
        missing_pinned_revision_is_reported_before_any_pod,
        standby_clock_20s_ahead_never_takes_a_live_lease,
        forged_patches_are_refused_by_the_api_server,
        chart_installs_and_its_reconciler_rolls_out,
        dashboard_and_alert_metrics_exist,
        kubectl_plugin_prints_status,
    ];
    if args.list {
        let trials = tests
            .iter()
            .map(|(n, _)| Trial::test(*n, || Ok(())))
            .collect();
        return libtest_mimic::run(&args, trials).exit_code();
    }
    // Build first, so that a reconciler that does not compile is reported once, before any cluster.
    if let Err(e) = reconciler::binary() {
        eprintln!("cluster-tests: {e:#}");
        return ExitCode::FAILURE;
    }
    let cluster = match Cluster::from_env_or_start() {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("cluster-tests: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let trials = tests
        .into_iter()
        .map(|(name, f)| {
            let cluster = cluster.clone();
            Trial::test(name, move || run_one(name, cluster, f))
        })
        .collect();
    let whole_run = args.filter.is_none() && args.skip.is_empty() && !args.exact;
    let conclusion = libtest_mimic::run(&args, trials);
    let rbac = if whole_run && !conclusion.has_failed() {
        every_rule_used(&cluster)
    } else {
        println!("rbac: not checked for unused rules (only a whole run that passed uses them all)");
        Ok(())
    };
    // The guard stops the cluster (if this run started it) before the process exits.
    drop(cluster);
    if let Err(e) = rbac {
        eprintln!("rbac: {e:#}");
        return ExitCode::FAILURE;
    }
    conclusion.exit_code()
}

/// Rules of the shipped RBAC that the API server checks without the reconciler making a request of
/// that verb, so that the audit log cannot show them used.
const AUTHORISED_WITHOUT_A_REQUEST: &[(&str, &str, &str)] = &[
    // OwnerReferencesPermissionEnforcement (where enabled) checks `update` on the owner's
    // finalizers when a ControllerRevision names its policy with blockOwnerDeletion.
    (
        "update",
        "policies.kubewarden.io",
        "clusteradmissionpolicies/finalizers",
    ),
];

/// After a whole run: every rule the shipped RBAC grants was used by some test's reconciler (the
/// audit log is the record), so the ServiceAccount holds no permission it does not need.
fn every_rule_used(cluster: &Cluster) -> Result<()> {
    let requests = audit::requests_by(&cluster.audit_log, "system:serviceaccount:", |u| {
        u.starts_with("system:serviceaccount:") && u.contains(":sidecarset-reconciler")
    })?;
    let unused =
        sidecarset_cluster_tests::rbac::unused_rules(&requests, AUTHORISED_WITHOUT_A_REQUEST)?;
    ensure!(
        unused.is_empty(),
        "deploy/reconciler/rbac.yaml grants what no test's reconciler used (verb, group, resource): \
         {unused:?}; drop the rule, or add a test that needs it"
    );
    println!(
        "rbac: every rule of deploy/reconciler/rbac.yaml used ({} requests of the reconciler's ServiceAccounts audited)",
        requests.len()
    );
    Ok(())
}

/// Runs one test in its own runtime and namespace; cleans up whatever the outcome; on failure the
/// message ends with the reconciler's log.
fn run_one(name: &str, cluster: Arc<Cluster>, f: TestFn) -> Result<(), Failed> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failed::from(e.to_string()))?;
    rt.block_on(async move {
        let t = Arc::new(
            TestNs::new(cluster, name)
                .await
                .map_err(|e| Failed::from(format!("{e:#}")))?,
        );
        let res = tokio::time::timeout(Duration::from_secs(300), f(t.clone())).await;
        let cleanup = t.cleanup().await;
        // Every test doubles as a check of the shipped RBAC.
        let res = match res {
            Ok(Ok(())) => Ok(t.ensure_no_forbidden()),
            other => other,
        };
        match res {
            Ok(Ok(())) => cleanup.map_err(|e| Failed::from(format!("cleanup: {e:#}"))),
            Ok(Err(e)) => Err(Failed::from(format!("{e:#}\n{}", t.logs()))),
            Err(_) => Err(Failed::from(format!("timed out after 300 s\n{}", t.logs()))),
        }
    })
}

// === helpers ===

/// The Filebeat story's settings with this `maxUnavailable`.
fn filebeat(max_unavailable: Value) -> Result<Value> {
    let mut s = pods::golden_settings("filebeat-story")?;
    s["updateStrategy"]["maxUnavailable"] = max_unavailable;
    Ok(s)
}

fn with_image(settings: &Value, container: &str, image: &str) -> Result<Value> {
    let mut s = settings.clone();
    pods::set_image(&mut s, container, image)?;
    Ok(s)
}

/// `n` Filebeat-injected Pods, started by the fake kubelet; returns them once all are Ready.
async fn filebeat_pods(
    t: &TestNs,
    settings: &Value,
    n: usize,
    labels: impl Fn(usize) -> Vec<(&'static str, &'static str)>,
    kubelet: KubeletConfig,
) -> Result<(FakeKubelet, BTreeMap<String, Pod>)> {
    let k = t.kubelet(kubelet);
    pods::create_injected(&t.client, &t.ns, settings, n, labels).await?;
    let pods = all_available(t, n).await?;
    Ok((k, pods))
}

async fn all_available(t: &TestNs, n: usize) -> Result<BTreeMap<String, Pod>> {
    wait_pods(
        t,
        &format!("{n} Pods running and ready"),
        Duration::from_secs(60),
        |m| m.len() == n && m.values().all(|p| !unavailable(p)),
    )
    .await
}

/// Polls the namespace's Pods until `pred` holds.
async fn wait_pods(
    t: &TestNs,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&BTreeMap<String, Pod>) -> bool,
) -> Result<BTreeMap<String, Pod>> {
    let pred = &pred;
    wait::until(
        timeout,
        what,
        || async move {
            let m = pods::by_name(&t.client, &t.ns).await?;
            Ok(pred(&m).then_some(m))
        },
        async || describe(t).await,
    )
    .await
}

/// One line per Pod: images, readiness, recorded hashes.
async fn describe(t: &TestNs) -> String {
    let Ok(m) = pods::by_name(&t.client, &t.ns).await else {
        return "(cannot list Pods)".into();
    };
    m.values()
        .map(|p| {
            let spec = p.spec.as_ref();
            let images: Vec<String> = spec
                .map(|s| {
                    s.init_containers
                        .iter()
                        .flatten()
                        .chain(s.containers.iter())
                        .map(|c| {
                            let st = container_status(p, &c.name)
                                .map(|s| format!("{} ready={}", s.image, s.ready))
                                .unwrap_or_else(|| "-".into());
                            format!(
                                "{}={} [{}]",
                                c.name,
                                c.image.clone().unwrap_or_default(),
                                st
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            format!(
                "  {} ready={} unavailable={} hash={} {}",
                p.metadata.name.clone().unwrap_or_default(),
                pods::is_ready(p),
                unavailable(p),
                annotation(p, sidecarset_core::annotations::HASH).unwrap_or_default(),
                images.join(" ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn image_of(p: &Pod, c: &str) -> String {
    spec_image(p, c).unwrap_or_default()
}

fn count_with_image(m: &BTreeMap<String, Pod>, c: &str, image: &str) -> usize {
    m.values().filter(|p| image_of(p, c) == image).count()
}

/// Waits for the policy's status annotation to satisfy `pred`.
async fn wait_status(
    policy: &sidecarset_cluster_tests::policy::ClusterPolicy,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Result<Value> {
    let pred = &pred;
    wait::until(
        ROLLOUT,
        what,
        || async move { Ok(policy.status().await?.filter(|s| pred(s))) },
        async || format!("{:?}", policy.status().await),
    )
    .await
}

/// Waits until the reconciler's metrics show it has planned the set over `matched` Pods (file mode
/// has no status annotation; the gauge is the proof that a round ran).
async fn wait_round(r: &reconciler::Reconciler, set: &str, matched: usize) -> Result<String> {
    wait::until(
        Duration::from_secs(60),
        &format!("the reconciler's metrics to show matched_pods={matched} for set {set}"),
        || async move {
            let text = match r.metrics() {
                Ok(t) => t,
                Err(_) => return Ok(None),
            };
            let v = metric_value(&text, "sidecarset_reconciler_matched_pods", &[("set", set)]);
            Ok((v == matched as f64).then_some(text))
        },
        async || r.metrics().unwrap_or_else(|e| format!("{e:#}")),
    )
    .await
}

/// Successful writes to each Pod object (status writes excluded), from the audit log.
fn successful_pod_writes(t: &TestNs) -> Result<BTreeMap<String, usize>> {
    Ok(audit::pod_writes(&t.audit()?)
        .into_iter()
        .map(|(k, (_, ok))| (k, ok))
        .collect())
}

fn ensure_untouched(t: &TestNs, names: &[&str]) -> Result<()> {
    let writes = successful_pod_writes(t)?;
    for n in names {
        ensure!(
            writes.get(*n).copied().unwrap_or(0) == 0,
            "Pod {n} was written by the reconciler: {:?}",
            audit::summary(&t.audit()?)
        );
    }
    Ok(())
}

// === tests ===

/// The README's story: 6 Pods injected with Filebeat 7.16.2, the policy's settings bumped to 7.16.3,
/// every Pod upgraded in place within maxUnavailable, status reaching updatedReadyPods = matchedPods.
/// Also counts the reconciler's API requests per upgraded Pod.
async fn filebeat_story(t: Arc<TestNs>) -> Result<()> {
    let settings = filebeat(json!(2))?;
    let policy = t.policy(&settings).await?;
    let (kubelet, before) =
        filebeat_pods(&t, &settings, 6, |_| vec![], KubeletConfig::default()).await?;
    let mut rec = t.reconciler(&t.policy_source(), &[], None)?;
    wait_status(&policy, "status: 6 matched, 6 updated and ready", |s| {
        s["matchedPods"] == 6 && s["updatedReadyPods"] == 6 && s["observedGeneration"] == 1
    })
    .await?;
    ensure_untouched(&t, &["web-0", "web-1", "web-2", "web-3", "web-4", "web-5"])?;

    let obs = Observer::start(t.client.clone(), &t.ns).await;
    let new = with_image(&settings, "filebeat", FILEBEAT_NEW)?;
    let generation = policy.set_settings(&new).await?;
    ensure!(
        generation == 2,
        "a settings change bumps the generation (got {generation})"
    );
    let status = wait_status(
        &policy,
        "status: 6 updated and ready at generation 2",
        |s| {
            s["observedGeneration"] == generation
                && s["matchedPods"] == 6
                && s["updatedPods"] == 6
                && s["updatedReadyPods"] == 6
        },
    )
    .await?;
    let after = all_available(&t, 6).await?;
    let new_hash = pods::settings_hash(&new)?;
    ensure!(status["hash"] == new_hash.as_str(), "status hash {status}");

    let seen = obs.snapshot();
    for (name, p) in &after {
        let old = &before[name];
        ensure!(
            p.metadata.uid == old.metadata.uid,
            "{name}: recreated (UID changed)"
        );
        ensure!(
            seen.uids[name].len() == 1,
            "{name}: several UIDs seen: {:?}",
            seen.uids[name]
        );
        ensure!(
            image_of(p, "filebeat") == FILEBEAT_NEW,
            "{name}: filebeat {}",
            image_of(p, "filebeat")
        );
        ensure!(
            image_of(p, "nginx") == "nginx:1.27",
            "{name}: the app container was changed"
        );
        let fb = container_status(p, "filebeat").context("filebeat status")?;
        ensure!(
            fb.image_id == image_id(FILEBEAT_NEW),
            "{name}: filebeat runs {}",
            fb.image_id
        );
        let app = container_status(p, "nginx").context("nginx status")?;
        ensure!(app.restart_count == 0, "{name}: the app restarted");
        ensure!(
            recorded_hash(p, "filebeat").as_deref() == Some(new_hash.as_str()),
            "{name}: hash"
        );
        let state: Value = serde_json::from_str(
            &annotation(p, sidecarset_core::annotations::INPLACE_UPDATE_STATE)
                .with_context(|| format!("{name}: no in-place-update state"))?,
        )?;
        ensure!(
            state["filebeat"]["lastContainerStatuses"]["filebeat"]["imageID"]
                == image_id(FILEBEAT_OLD).as_str(),
            "{name}: in-place-update state {state}"
        );
        let cond = pods::upgradable_condition(p)
            .with_context(|| format!("{name}: no SidecarSetUpgradable condition"))?;
        ensure!(cond.status == "True", "{name}: condition {cond:?}");
    }
    ensure!(
        seen.max_unavailable <= 2,
        "{} Pods unavailable at once ({:?}), maxUnavailable is 2",
        seen.max_unavailable,
        seen.max_seen_at
    );
    ensure!(
        seen.max_unavailable >= 1,
        "the observer never saw an upgrade in progress"
    );
    ensure!(
        kubelet.restarts() == 6,
        "kubelet restarted {} containers, want 6 (filebeat only)",
        kubelet.restarts()
    );

    // API requests per upgraded Pod (the audit log of the reconciler's identity).
    let reqs = t.audit()?;
    let writes = audit::pod_writes(&reqs);
    let status_writes = reqs
        .iter()
        .filter(|r| r.resource == "pods" && r.subresource == "status" && r.is_write() && r.ok())
        .count();
    for name in after.keys() {
        let (attempted, ok) = writes.get(name).copied().unwrap_or((0, 0));
        ensure!(
            ok == 1,
            "{name}: {ok} successful Pod writes for one upgrade step (attempted {attempted})"
        );
    }
    ensure!(
        status_writes <= 6,
        "{status_writes} condition writes for 6 Pods"
    );
    let all = t.audit_all()?;
    let pod_reqs = reqs.iter().filter(|r| r.resource == "pods").count();
    println!(
        "api-requests filebeat_story: 6 Pods upgraded; reconciler requests in the namespace: {} ({:.2}/Pod), on pods: {} ({:.2}/Pod); Pod writes {} (attempted {}), condition writes {}; everywhere (incl. policy status, Events, watches): {}; {:?}",
        reqs.len(),
        reqs.len() as f64 / 6.0,
        pod_reqs,
        pod_reqs as f64 / 6.0,
        writes.values().map(|w| w.1).sum::<usize>(),
        writes.values().map(|w| w.0).sum::<usize>(),
        status_writes,
        all.len(),
        audit::summary(&all)
    );
    rec.check_running()?;
    Ok(())
}

/// partition 2 of 6: four Pods upgraded, two kept old, and they stay old.
async fn partition_keeps_the_tail_old(t: Arc<TestNs>) -> Result<()> {
    let mut settings = filebeat(json!(6))?;
    settings["updateStrategy"]["partition"] = json!(2);
    let (_kubelet, _) =
        filebeat_pods(&t, &settings, 6, |_| vec![], KubeletConfig::default()).await?;
    let source = t.settings_file(&with_image(&settings, "filebeat", FILEBEAT_NEW)?, "new")?;
    let mut rec = t.reconciler(&source, &[], None)?;
    let m = wait_pods(&t, "4 Pods on the new image and ready", ROLLOUT, |m| {
        count_with_image(m, "filebeat", FILEBEAT_NEW) >= 4 && m.values().all(|p| !unavailable(p))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later = pods::by_name(&t.client, &t.ns).await?;
    ensure!(
        count_with_image(&later, "filebeat", FILEBEAT_NEW) == 4,
        "partition 2 of 6 must leave exactly 2 Pods old:\n{}",
        describe(&t).await
    );
    let old: Vec<&str> = later
        .iter()
        .filter(|(_, p)| image_of(p, "filebeat") == FILEBEAT_OLD)
        .map(|(n, _)| n.as_str())
        .collect();
    ensure!(old.len() == 2, "old Pods {old:?}");
    ensure_untouched(&t, &old)?;
    ensure!(m.len() == 6);
    rec.check_running()?;
    Ok(())
}

/// updateStrategy.selector: only the canary Pods are upgraded.
async fn canary_update_selector(t: Arc<TestNs>) -> Result<()> {
    let mut settings = filebeat(json!(6))?;
    settings["updateStrategy"]["selector"] = json!({"matchLabels": {"canary": "true"}});
    let canary = |i: usize| {
        if i.is_multiple_of(3) {
            vec![("canary", "true")]
        } else {
            vec![]
        }
    };
    let (_kubelet, _) = filebeat_pods(&t, &settings, 6, canary, KubeletConfig::default()).await?;
    let source = t.settings_file(&with_image(&settings, "filebeat", FILEBEAT_NEW)?, "new")?;
    let mut rec = t.reconciler(&source, &[], None)?;
    wait_pods(&t, "the 2 canaries on the new image", ROLLOUT, |m| {
        ["web-0", "web-3"].iter().all(|n| {
            m.get(*n)
                .is_some_and(|p| image_of(p, "filebeat") == FILEBEAT_NEW && !unavailable(p))
        })
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later = pods::by_name(&t.client, &t.ns).await?;
    for n in ["web-1", "web-2", "web-4", "web-5"] {
        ensure!(
            image_of(&later[n], "filebeat") == FILEBEAT_OLD,
            "{n} is not a canary but was upgraded"
        );
    }
    ensure_untouched(&t, &["web-1", "web-2", "web-4", "web-5"])?;
    rec.check_running()?;
    Ok(())
}

/// paused: a round runs (status shows it) and touches nothing; unpausing upgrades everything.
async fn paused_then_resumed(t: Arc<TestNs>) -> Result<()> {
    let settings = filebeat(json!(3))?;
    let policy = t.policy(&settings).await?;
    let (_kubelet, _) =
        filebeat_pods(&t, &settings, 6, |_| vec![], KubeletConfig::default()).await?;
    let mut rec = t.reconciler(&t.policy_source(), &[], None)?;
    wait_status(&policy, "status: 6 updated", |s| s["updatedPods"] == 6).await?;

    let mut paused = with_image(&settings, "filebeat", FILEBEAT_NEW)?;
    paused["updateStrategy"]["paused"] = json!(true);
    let generation = policy.set_settings(&paused).await?;
    wait_status(&policy, "status of the paused generation", |s| {
        s["observedGeneration"] == generation
            && s["paused"] == true
            && s["matchedPods"] == 6
            && s["updatedPods"] == 0
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let m = pods::by_name(&t.client, &t.ns).await?;
    ensure!(
        count_with_image(&m, "filebeat", FILEBEAT_OLD) == 6,
        "paused, yet:\n{}",
        describe(&t).await
    );
    ensure_untouched(&t, &["web-0", "web-1", "web-2", "web-3", "web-4", "web-5"])?;

    paused["updateStrategy"]["paused"] = json!(false);
    let generation = policy.set_settings(&paused).await?;
    wait_status(
        &policy,
        "status: 6 updated and ready after unpausing",
        |s| {
            s["observedGeneration"] == generation
                && s["updatedReadyPods"] == 6
                && s["paused"] == false
        },
    )
    .await?;
    let m = all_available(&t, 6).await?;
    ensure!(count_with_image(&m, "filebeat", FILEBEAT_NEW) == 6);
    rec.check_running()?;
    Ok(())
}

/// type NotUpdate: the set only injects; the reconciler plans (its metrics show it) and writes no Pod.
async fn not_update_never_touches_pods(t: Arc<TestNs>) -> Result<()> {
    let mut settings = filebeat(json!(6))?;
    settings["updateStrategy"]["type"] = json!("NotUpdate");
    let (_kubelet, _) =
        filebeat_pods(&t, &settings, 6, |_| vec![], KubeletConfig::default()).await?;
    let source = t.settings_file(&with_image(&settings, "filebeat", FILEBEAT_NEW)?, "new")?;
    let mut rec = t.reconciler(&source, &[], None)?;
    let text = wait_round(&rec, "file:filebeat", 6).await?;
    ensure!(
        metric_value(
            &text,
            "sidecarset_reconciler_updated_pods",
            &[("set", "file:filebeat")]
        ) == 0.0,
        "updated_pods should be 0:\n{text}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let m = pods::by_name(&t.client, &t.ns).await?;
    ensure!(
        count_with_image(&m, "filebeat", FILEBEAT_OLD) == 6,
        "NotUpdate, yet:\n{}",
        describe(&t).await
    );
    let writes: Vec<String> = t
        .audit()?
        .iter()
        .filter(|r| r.resource == "pods" && r.is_write())
        .map(|r| r.describe())
        .collect();
    ensure!(writes.is_empty(), "NotUpdate wrote Pods: {writes:?}");
    rec.check_running()?;
    Ok(())
}

/// A resources change cannot be applied in place: no Pod spec is written; the condition and the
/// Events say why.
async fn resources_change_is_not_upgradable(t: Arc<TestNs>) -> Result<()> {
    let settings = filebeat(json!(6))?;
    let policy = t.policy(&settings).await?;
    let (_kubelet, _) =
        filebeat_pods(&t, &settings, 6, |_| vec![], KubeletConfig::default()).await?;
    let mut rec = t.reconciler(&t.policy_source(), &[], None)?;
    wait_status(&policy, "status: 6 updated", |s| s["updatedPods"] == 6).await?;

    let mut changed = with_image(&settings, "filebeat", FILEBEAT_NEW)?;
    changed["containers"][0]["resources"]["limits"]["memory"] = json!("300Mi");
    let generation = policy.set_settings(&changed).await?;
    wait_status(&policy, "status: 6 not upgradable", |s| {
        s["observedGeneration"] == generation
            && s["notUpgradablePods"] == 6
            && s["updatedPods"] == 0
    })
    .await?;
    let m = wait_pods(
        &t,
        "every Pod marked SidecarSetUpgradable=False",
        Duration::from_secs(60),
        |m| {
            m.values()
                .all(|p| pods::upgradable_condition(p).is_some_and(|c| c.status == "False"))
        },
    )
    .await?;
    for (n, p) in &m {
        let c = pods::upgradable_condition(p).context("condition")?;
        ensure!(
            c.reason.as_deref() == Some("UpdateImmutableField"),
            "{n}: {c:?}"
        );
        let msg: Value = serde_json::from_str(c.message.as_deref().unwrap_or(""))
            .context("condition message is JSON")?;
        ensure!(msg == json!({"filebeat": false}), "{n}: message {msg}");
        ensure!(
            image_of(p, "filebeat") == FILEBEAT_OLD,
            "{n}: image changed"
        );
    }
    ensure_untouched(&t, &["web-0", "web-1", "web-2", "web-3", "web-4", "web-5"])?;
    let pod_events = t
        .events(&t.ns, "SidecarNotUpgradable", Some("web-0"))
        .await?;
    let note = pod_events
        .iter()
        .filter_map(|e| e.note.clone())
        .next()
        .context("no SidecarNotUpgradable Event on Pod web-0")?;
    ensure!(
        note.contains("resources"),
        "the Pod's Event does not say what changed: {note}"
    );
    let policy_events = t
        .events("default", "NotUpgradablePods", Some(&policy.name))
        .await?;
    let note = policy_events
        .iter()
        .filter_map(|e| e.note.clone())
        .next()
        .context("no NotUpgradablePods Event on the policy")?;
    ensure!(
        note.contains('6') && note.contains("resources"),
        "policy Event: {note}"
    );
    rec.check_running()?;
    Ok(())
}

/// An image that never becomes ready: the rollout stops once maxUnavailable Pods are unavailable.
async fn broken_image_stops_at_the_budget(t: Arc<TestNs>) -> Result<()> {
    let settings = filebeat(json!(2))?;
    let (kubelet, _) =
        filebeat_pods(&t, &settings, 6, |_| vec![], KubeletConfig::default()).await?;
    kubelet.break_image(FILEBEAT_NEW);
    let obs = Observer::start(t.client.clone(), &t.ns).await;
    let source = t.settings_file(&with_image(&settings, "filebeat", FILEBEAT_NEW)?, "new")?;
    let mut rec = t.reconciler(&source, &[], None)?;
    wait_pods(&t, "2 Pods on the broken image", ROLLOUT, |m| {
        count_with_image(m, "filebeat", FILEBEAT_NEW) >= 2
            && m.values()
                .filter(|p| image_of(p, "filebeat") == FILEBEAT_NEW)
                .all(|p| container_status(p, "filebeat").is_some_and(|s| s.image == FILEBEAT_NEW))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let m = pods::by_name(&t.client, &t.ns).await?;
    ensure!(
        count_with_image(&m, "filebeat", FILEBEAT_NEW) == 2,
        "the rollout went past maxUnavailable=2 with a never-ready image:\n{}",
        describe(&t).await
    );
    let seen = obs.snapshot();
    ensure!(
        seen.max_unavailable == 2,
        "max unavailable seen {} ({:?})",
        seen.max_unavailable,
        seen.max_seen_at
    );
    rec.check_running()?;
    Ok(())
}

/// SIGKILL mid-rollout, then a new process: it resumes from what the Pods record, never upgrades a
/// Pod twice, never exceeds the budget.
async fn killed_and_restarted_mid_rollout(t: Arc<TestNs>) -> Result<()> {
    let settings = filebeat(json!(2))?;
    let (kubelet, before) =
        filebeat_pods(&t, &settings, 6, |_| vec![], KubeletConfig::default()).await?;
    kubelet.set_restart_delay(Duration::from_millis(2500));
    let obs = Observer::start(t.client.clone(), &t.ns).await;
    let source = t.settings_file(&with_image(&settings, "filebeat", FILEBEAT_NEW)?, "new")?;
    let mut first = t.reconciler(&source, &[], None)?;
    wait_pods(&t, "the first upgrades", ROLLOUT, |m| {
        count_with_image(m, "filebeat", FILEBEAT_NEW) >= 1
    })
    .await?;
    first.check_running()?;
    first.kill()?;
    let at_kill = count_with_image(
        &pods::by_name(&t.client, &t.ns).await?,
        "filebeat",
        FILEBEAT_NEW,
    );
    ensure!(
        at_kill < 6,
        "the rollout finished before the kill; nothing to resume"
    );
    let mut second = t.reconciler(&source, &[], None)?;
    let after = wait_pods(
        &t,
        "all 6 upgraded and ready after the restart",
        ROLLOUT,
        |m| {
            count_with_image(m, "filebeat", FILEBEAT_NEW) == 6
                && m.values().all(|p| !unavailable(p))
        },
    )
    .await?;
    let seen = obs.snapshot();
    ensure!(
        seen.max_unavailable <= 2,
        "{} unavailable at once ({:?})",
        seen.max_unavailable,
        seen.max_seen_at
    );
    for (n, p) in &after {
        ensure!(p.metadata.uid == before[n].metadata.uid, "{n} recreated");
    }
    let writes = successful_pod_writes(&t)?;
    for n in after.keys() {
        ensure!(
            writes.get(n).copied().unwrap_or(0) == 1,
            "{n}: {} successful writes across the two processes (killed after {at_kill} upgrades): {:?}",
            writes.get(n).copied().unwrap_or(0),
            writes
        );
    }
    println!("killed_and_restarted_mid_rollout: killed after {at_kill} of 6 Pods were upgraded");
    second.check_running()?;
    Ok(())
}

/// Another writer changes the Pods between the reconciler's read and its patch (a proxy delays what
/// the reconciler sends by 300 ms while the Pods are annotated every 100 ms): the guarded write is
/// refused (the condition, which goes first, by its resourceVersion precondition; or the Pod
/// patch, by its `test`), the Pod re-planned, the upgrade completes, and the other writer's data is
/// all there.
async fn conflicting_write_is_retried(t: Arc<TestNs>) -> Result<()> {
    let settings = filebeat(json!(2))?;
    let (_kubelet, _) =
        filebeat_pods(&t, &settings, 4, |_| vec![], KubeletConfig::default()).await?;
    let proxy = SlowProxy::start(t.cluster.apiserver_addr()?, Duration::from_millis(300)).await?;
    let source = t.settings_file(&with_image(&settings, "filebeat", FILEBEAT_NEW)?, "new")?;

    // The other writer: an annotation per Pod, a counter, every 100 ms until a conflict was seen.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let api: Api<Pod> = Api::namespaced(t.client.clone(), &t.ns);
    let writer = {
        let (stop, api) = (stop.clone(), api.clone());
        tokio::spawn(async move {
            let mut last: BTreeMap<String, u64> = BTreeMap::new();
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) && i < 1200 {
                i += 1;
                for n in 0..4 {
                    let name = format!("web-{n}");
                    let body = json!({"metadata": {"annotations": {"cluster-tests/writer": i.to_string()}}});
                    if api
                        .patch(&name, &PatchParams::default(), &Patch::Merge(&body))
                        .await
                        .is_ok()
                    {
                        last.insert(name, i);
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            last
        })
    };
    let mut rec = t.reconciler(&source, &[], Some(&format!("https://{}", proxy.addr)))?;
    let conflicts = wait::until(
        ROLLOUT,
        "a reconciler Pod write refused because the Pod changed",
        || async {
            let refused: Vec<String> = t
                .audit()?
                .iter()
                .filter(|r| r.resource == "pods" && r.verb == "patch" && !r.ok())
                .map(|r| r.describe())
                .collect();
            Ok((!refused.is_empty()).then_some(refused))
        },
        async || format!("{:?}", audit::summary(&t.audit().unwrap_or_default())),
    )
    .await?;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let last = writer.await?;
    let after = wait_pods(&t, "all 4 upgraded and ready", ROLLOUT, |m| {
        count_with_image(m, "filebeat", FILEBEAT_NEW) == 4 && m.values().all(|p| !unavailable(p))
    })
    .await?;
    let new_hash = pods::settings_hash(&with_image(&settings, "filebeat", FILEBEAT_NEW)?)?;
    for (n, p) in &after {
        let want = last.get(n).context("the writer never wrote")?.to_string();
        ensure!(
            annotation(p, "cluster-tests/writer").as_deref() == Some(want.as_str()),
            "{n}: the other writer's last value {want} was lost: {:?}",
            annotation(p, "cluster-tests/writer")
        );
        ensure!(
            recorded_hash(p, "filebeat").as_deref() == Some(new_hash.as_str()),
            "{n}: hash"
        );
    }
    let writes = audit::pod_writes(&t.audit()?);
    for n in after.keys() {
        ensure!(
            writes.get(n).is_some_and(|w| w.1 == 1),
            "{n}: writes {:?}",
            writes.get(n)
        );
    }
    println!(
        "conflicting_write_is_retried: {} refused patch(es), e.g. {:?}; Pod writes (attempted, ok): {writes:?}",
        conflicts.len(),
        conflicts.first()
    );
    rec.check_running()?;
    Ok(())
}

/// A Pod that Kruise injected (its annotations: controllerRevision, another set's legacy entry) is
/// adopted: matched, upgraded in place, the other set's records kept.
async fn kruise_injected_pod_is_adopted(t: Arc<TestNs>) -> Result<()> {
    let settings = pods::golden_settings("pod-already-injected-by-kruise")?;
    let old_settings = with_image(&settings, "agent", "busybox:1.35")?;
    let old_hash = pods::settings_hash(&old_settings)?;
    let old_hash_wo = pods::settings_hash_without_image(&old_settings)?;
    let _kubelet = t.kubelet(KubeletConfig::default());
    for i in 0..2 {
        let mut pod = pods::golden_pod("pod-already-injected-by-kruise")?;
        pods::named(&mut pod, &format!("kruise-{i}"), &[]);
        // The golden case's hash values are placeholders; Kruise would have written the real ones.
        let ann = &mut pod["metadata"]["annotations"];
        for (key, from, to) in [
            (sidecarset_core::annotations::HASH, "oldhash", &old_hash),
            (
                sidecarset_core::annotations::HASH_WITHOUT_IMAGE,
                "oldhash2",
                &old_hash_wo,
            ),
        ] {
            let mut v: Value = serde_json::from_str(ann[key].as_str().context("annotation")?)?;
            ensure!(v["log-agent"]["hash"] == from, "golden case changed: {v}");
            v["log-agent"]["hash"] = json!(to);
            ann[key] = json!(serde_json::to_string(&v)?);
        }
        pods::create(&t.client, &t.ns, &pod).await?;
    }
    let before = all_available(&t, 2).await?;
    let source = t.settings_file(&settings, "new")?;
    let mut rec = t.reconciler(&source, &[], None)?;
    let after = wait_pods(&t, "the Kruise Pods upgraded and ready", ROLLOUT, |m| {
        count_with_image(m, "agent", "busybox:1.36") == 2 && m.values().all(|p| !unavailable(p))
    })
    .await?;
    let new_hash = pods::settings_hash(&settings)?;
    for (n, p) in &after {
        ensure!(p.metadata.uid == before[n].metadata.uid, "{n} recreated");
        let h: Value = serde_json::from_str(
            &annotation(p, sidecarset_core::annotations::HASH).context("hash")?,
        )?;
        ensure!(h["log-agent"]["hash"] == new_hash.as_str(), "{n}: {h}");
        let recorded: Value = serde_json::from_str(
            &annotation(&before[n], sidecarset_core::annotations::HASH).context("hash")?,
        )?;
        ensure!(
            h["other-set"] == recorded["other-set"],
            "{n}: another set's entry was not kept: {h}"
        );
        ensure!(
            annotation(p, sidecarset_core::annotations::INJECTED_LIST).as_deref()
                == Some("log-agent,other-set"),
            "{n}: injected list changed"
        );
        ensure!(image_of(p, "app") == "nginx:1.27");
        ensure!(
            container_status(p, "app").is_some_and(|s| s.restart_count == 0),
            "{n}: app restarted"
        );
        ensure!(
            container_status(p, "agent").is_some_and(|s| s.image_id == image_id("busybox:1.36")),
            "{n}: agent not running the new image"
        );
    }
    rec.check_running()?;
    Ok(())
}

/// A native sidecar (init container with restartPolicy Always) upgraded in place; the plain init
/// container and the app are left alone.
async fn native_sidecar_upgraded_in_place(t: Arc<TestNs>) -> Result<()> {
    let settings = pods::golden_settings("native-sidecar-rolling-update")?;
    let _kubelet = t.kubelet(KubeletConfig::default());
    for i in 0..2 {
        let mut pod = pods::golden_pod("native-sidecar-rolling-update")?;
        pods::named(&mut pod, &format!("native-{i}"), &[]);
        let injected = pods::inject(&settings, &pod, &t.ns)?;
        pods::create(&t.client, &t.ns, &injected).await?;
    }
    let before = all_available(&t, 2).await?;
    let new_image = "envoyproxy/envoy:v1.31.1";
    let new = with_image(&settings, "proxy", new_image)?;
    let source = t.settings_file(&new, "new")?;
    let mut rec = t.reconciler(&source, &[], None)?;
    let after = wait_pods(&t, "the native sidecars upgraded and ready", ROLLOUT, |m| {
        count_with_image(m, "proxy", new_image) == 2 && m.values().all(|p| !unavailable(p))
    })
    .await?;
    let new_hash = pods::settings_hash(&new)?;
    for (n, p) in &after {
        let b = &before[n];
        ensure!(p.metadata.uid == b.metadata.uid, "{n} recreated");
        let st = p.status.as_ref().context("status")?;
        let proxy = st
            .init_container_statuses
            .iter()
            .flatten()
            .find(|s| s.name == "proxy")
            .context("proxy status")?;
        ensure!(
            proxy.image_id == image_id(new_image) && proxy.ready,
            "{n}: proxy {proxy:?}"
        );
        ensure!(
            image_of(p, "migrate") == image_of(b, "migrate"),
            "{n}: plain init container changed"
        );
        ensure!(image_of(p, "agent") == "busybox:1.36", "{n}: agent changed");
        for c in st.container_statuses.iter().flatten() {
            ensure!(c.restart_count == 0, "{n}: {} restarted", c.name);
        }
        ensure!(
            recorded_hash(p, "log-agent").as_deref() == Some(new_hash.as_str()),
            "{n}: hash"
        );
    }
    rec.check_running()?;
    Ok(())
}

/// Hot upgrade: the idle twin gets the new image, then (once it is ready) the old one is reset to
/// the empty image; two Pod writes per Pod, one per step.
async fn hot_upgrade_pair_flipped(t: Arc<TestNs>) -> Result<()> {
    let settings = pods::golden_settings("hot-upgrade-pair")?;
    let empty = settings["containers"][0]["upgradeStrategy"]["hotUpgradeEmptyImage"]
        .as_str()
        .context("hotUpgradeEmptyImage")?
        .to_string();
    let _kubelet = t.kubelet(KubeletConfig::default());
    for i in 0..2 {
        let mut pod = pods::golden_pod("hot-upgrade-pair")?;
        pods::named(&mut pod, &format!("hot-{i}"), &[]);
        let injected = pods::inject(&settings, &pod, &t.ns)?;
        pods::create(&t.client, &t.ns, &injected).await?;
    }
    let before = all_available(&t, 2).await?;
    for (n, p) in &before {
        ensure!(
            image_of(p, "envoy-2") == empty,
            "{n}: injection did not leave envoy-2 empty"
        );
    }
    let obs = Observer::start(t.client.clone(), &t.ns).await;
    let new_image = "envoyproxy/envoy:v1.31.1";
    let source = t.settings_file(&with_image(&settings, "envoy", new_image)?, "new")?;
    let mut rec = t.reconciler(&source, &[], None)?;
    let working = |p: &Pod| {
        annotation(p, sidecarset_core::annotations::WORKING_HOT_UPGRADE)
            .and_then(|a| serde_json::from_str::<Value>(&a).ok())
            .map(|v| v["envoy"].as_str().unwrap_or("").to_string())
    };
    let after = wait_pods(
        &t,
        "envoy-2 working on the new image, envoy-1 reset to the empty image",
        ROLLOUT,
        |m| {
            m.len() == 2
                && m.values().all(|p| {
                    working(p).as_deref() == Some("envoy-2")
                        && image_of(p, "envoy-2") == new_image
                        && image_of(p, "envoy-1") == empty
                        && !unavailable(p)
                })
        },
    )
    .await?;
    for (n, p) in &after {
        ensure!(p.metadata.uid == before[n].metadata.uid, "{n} recreated");
        ensure!(
            annotation(p, "version.sidecarset.kruise.io/envoy-1").as_deref() == Some("0"),
            "{n}: the reset twin's version must be 0"
        );
        ensure!(
            container_status(p, "app").is_none_or(|s| s.restart_count == 0),
            "{n}: app restarted"
        );
    }
    let seen = obs.snapshot();
    ensure!(
        seen.max_unavailable <= 1,
        "{} unavailable at once, maxUnavailable 1",
        seen.max_unavailable
    );
    let writes = audit::pod_writes(&t.audit()?);
    for n in after.keys() {
        let (attempted, ok) = writes.get(n).copied().unwrap_or((0, 0));
        ensure!(
            ok == 2,
            "{n}: {ok} successful Pod writes for a hot upgrade (upgrade + flip), attempted {attempted}"
        );
    }
    println!(
        "api-requests hot_upgrade_pair_flipped: Pod writes (attempted, ok) per Pod: {writes:?}; all: {:?}",
        audit::summary(&t.audit()?)
    );
    rec.check_running()?;
    Ok(())
}

/// Settings turned invalid with one error, then another, then the first again: each error text is
/// its own `InvalidSettings` Event (the second is not hidden under the first's text), and the first
/// text again counts up its own Event's series.
async fn invalid_settings_events_follow_the_error(t: Arc<TestNs>) -> Result<()> {
    let settings = filebeat(json!(1))?;
    let policy = t.policy(&settings).await?;
    let mut rec = t.reconciler(&t.policy_source(), &[], None)?;
    wait_status(&policy, "a first valid round", |s| {
        s["observedGeneration"] == 1 && s.get("error").is_none()
    })
    .await?;
    let mut bad_partition = settings.clone();
    bad_partition["updateStrategy"]["partition"] = json!("ten");
    let mut bad_budget = settings.clone();
    bad_budget["updateStrategy"]["maxUnavailable"] = json!(-1);
    for (bad, field) in [
        (&bad_partition, "updateStrategy.partition"),
        (&bad_budget, "updateStrategy.maxUnavailable"),
        (&bad_partition, "updateStrategy.partition"),
    ] {
        let generation = policy.set_settings(bad).await?;
        // The Event is sent before the status is written: once the status shows it, the Event is out.
        wait_status(
            &policy,
            &format!("status: {field} invalid at generation {generation}"),
            |s| {
                s["observedGeneration"] == generation
                    && s["error"].as_str().is_some_and(|e| e.contains(field))
            },
        )
        .await?;
    }
    let events = t
        .events("default", "InvalidSettings", Some(&policy.name))
        .await?;
    let describe = || {
        events
            .iter()
            .map(|e| {
                format!(
                    "{:?} (series {:?})",
                    e.note,
                    e.series.as_ref().map(|s| s.count)
                )
            })
            .collect::<Vec<_>>()
    };
    ensure!(
        events.len() == 2,
        "want one InvalidSettings Event per error text, got {:?}",
        describe()
    );
    let with = |field: &str| {
        events
            .iter()
            .find(|e| e.note.as_deref().is_some_and(|n| n.contains(field)))
    };
    let partition = with("updateStrategy.partition")
        .with_context(|| format!("no Event names the partition error: {:?}", describe()))?;
    let budget = with("updateStrategy.maxUnavailable")
        .with_context(|| format!("no Event names the maxUnavailable error: {:?}", describe()))?;
    ensure!(
        partition.series.as_ref().map(|s| s.count) == Some(2),
        "the partition error was reported twice: {:?}",
        describe()
    );
    ensure!(
        budget.series.is_none(),
        "the maxUnavailable error was reported once: {:?}",
        describe()
    );
    rec.check_running()?;
    Ok(())
}

/// `maxUnavailable: "150%"` is accepted (every Pod goes at once, as Kruise does) and said loudly: a
/// Warning Event on the policy and the per-set gauge, which drops back once the budget is sane.
async fn max_unavailable_over_100_percent_is_warned(t: Arc<TestNs>) -> Result<()> {
    let settings = filebeat(json!("150%"))?;
    let policy = t.policy(&settings).await?;
    let (_kubelet, _) =
        filebeat_pods(&t, &settings, 3, |_| vec![], KubeletConfig::default()).await?;
    let mut rec = t.reconciler(&t.policy_source(), &[], None)?;
    wait_status(&policy, "status: 3 matched", |s| s["matchedPods"] == 3).await?;
    let gauge = |text: &str| {
        metric_value(
            text,
            "sidecarset_reconciler_max_unavailable_all_pods",
            &[("set", &policy.name)],
        )
    };
    let events = wait::until(
        Duration::from_secs(30),
        "a MaxUnavailableAllPods Event on the policy",
        || async {
            let e = t
                .events("default", "MaxUnavailableAllPods", Some(&policy.name))
                .await?;
            Ok((!e.is_empty()).then_some(e))
        },
        async || rec.log_tail(20),
    )
    .await?;
    let e = &events[0];
    ensure!(e.type_.as_deref() == Some("Warning"), "{e:?}");
    let note = e.note.clone().unwrap_or_default();
    ensure!(
        note.contains("150%") && note.contains("every matched Pod (now 3)"),
        "{note}"
    );
    ensure!(gauge(&rec.metrics()?) == 1.0, "{}", rec.metrics()?);

    let generation = policy.set_settings(&filebeat(json!(1))?).await?;
    wait_status(&policy, "the sane budget's round", |s| {
        s["observedGeneration"] == generation
    })
    .await?;
    ensure!(gauge(&rec.metrics()?) == 0.0, "{}", rec.metrics()?);
    let again = t
        .events("default", "MaxUnavailableAllPods", Some(&policy.name))
        .await?;
    ensure!(again.len() == 1, "warned again: {again:?}");
    rec.check_running()?;
    Ok(())
}

/// `--max-writes-per-second 2 --max-write-burst 1`: the rollout still completes (updatedReadyPods
/// reaches matchedPods), and the API server never receives the reconciler's writes (Pods, their
/// status, the policy, Events) faster than the budget allows.
async fn writes_are_paced(t: Arc<TestNs>) -> Result<()> {
    const RATE: f64 = 2.0;
    let settings = filebeat(json!(2))?;
    let policy = t.policy(&settings).await?;
    let (_kubelet, _) =
        filebeat_pods(&t, &settings, 4, |_| vec![], KubeletConfig::default()).await?;
    let mut rec = t.reconciler(
        &t.policy_source(),
        &["--max-writes-per-second", "2", "--max-write-burst", "1"],
        None,
    )?;
    wait_status(&policy, "status: 4 updated and ready", |s| {
        s["updatedReadyPods"] == 4
    })
    .await?;
    let changed_at = k8s_openapi::jiff::Timestamp::now();
    let started = std::time::Instant::now();
    let generation = policy
        .set_settings(&with_image(&settings, "filebeat", FILEBEAT_NEW)?)
        .await?;
    wait_status(&policy, "status: 4 upgraded and ready", |s| {
        s["observedGeneration"] == generation
            && s["matchedPods"] == 4
            && s["updatedPods"] == 4
            && s["updatedReadyPods"] == 4
    })
    .await?;
    let took = started.elapsed().as_secs_f64();
    let done_at = k8s_openapi::jiff::Timestamp::now();
    let m = all_available(&t, 4).await?;
    ensure!(count_with_image(&m, "filebeat", FILEBEAT_NEW) == 4);

    let all = t.audit_all()?;
    // The Lease's renewals are not paced (a renewal queued behind a rollout would let it expire).
    let paced: Vec<audit::Request> = all
        .iter()
        .filter(|r| r.resource != "leases")
        .cloned()
        .collect();
    let writes = audit::writes_in_order(&paced);
    let rollout: Vec<&audit::Request> = writes
        .iter()
        .copied()
        .filter(|r| r.received.is_some_and(|at| at > changed_at))
        .collect();
    ensure!(
        rollout.len() >= 8,
        "{} writes for 4 upgraded Pods: {:?}",
        rollout.len(),
        audit::summary(&all)
    );
    // A token bucket grants at most burst + rate * w writes in any w seconds; one more is allowed
    // for requests that a busy machine delivered late and the next one on time.
    for w in [1.0, 2.0, 5.0] {
        let n = audit::max_writes_within(&writes, w);
        let allowed = 1.0 + RATE * w + 1.0;
        ensure!(
            n as f64 <= allowed,
            "{n} writes within {w} s, the budget allows {allowed}: {:?}",
            writes.iter().map(|r| r.describe()).collect::<Vec<_>>()
        );
    }
    let text = rec.metrics()?;
    let throttled = metric_value(&text, "sidecarset_reconciler_writes_throttled_total", &[]);
    ensure!(throttled >= 1.0, "no write waited:\n{text}");
    // Writes received before the status said done all waited their turn: the first from the
    // bucket, each other one 1/RATE s later.
    let before_done = rollout
        .iter()
        .filter(|r| r.received.is_some_and(|at| at <= done_at))
        .count();
    ensure!(
        took + 0.1 >= (before_done as f64 - 1.0) / RATE,
        "{before_done} writes in {took:.1} s"
    );
    println!(
        "api-requests writes_are_paced: 4 Pods upgraded in {took:.1} s at 2 writes/s; {} writes ({:.2} per Pod), throttled {throttled}; {:?}",
        rollout.len(),
        rollout.len() as f64 / 4.0,
        audit::summary(&rollout.iter().map(|r| (*r).clone()).collect::<Vec<_>>())
    );
    rec.check_running()?;
    Ok(())
}

/// Two Pods the set selects but created before it (no sidecar): counted in `uninjectedPods` and the
/// gauge, announced by a Warning Event on the policy, and never written while the others are upgraded.
async fn uninjected_pods_are_counted_never_patched(t: Arc<TestNs>) -> Result<()> {
    let settings = filebeat(json!(3))?;
    let policy = t.policy(&settings).await?;
    let (_kubelet, _) =
        filebeat_pods(&t, &settings, 3, |_| vec![], KubeletConfig::default()).await?;
    for name in ["bare-0", "bare-1"] {
        pods::create(&t.client, &t.ns, &pods::nginx_pod(name, &[])?).await?;
    }
    all_available(&t, 5).await?;
    let mut rec = t.reconciler(&t.policy_source(), &[], None)?;
    wait_status(&policy, "status: 3 matched, 2 uninjected", |s| {
        s["matchedPods"] == 3 && s["uninjectedPods"] == 2
    })
    .await?;
    let events = wait::until(
        Duration::from_secs(30),
        "an UninjectedPods Event on the policy",
        || async {
            let e = t
                .events("default", "UninjectedPods", Some(&policy.name))
                .await?;
            Ok((!e.is_empty()).then_some(e))
        },
        async || rec.log_tail(20),
    )
    .await?;
    let note = events[0].note.clone().unwrap_or_default();
    ensure!(
        events[0].type_.as_deref() == Some("Warning"),
        "{:?}",
        events[0]
    );
    ensure!(
        note.starts_with("2 Pod(s) match the set")
            && note.contains(&format!("{}/bare-0", t.ns))
            && note.contains(&format!("{}/bare-1", t.ns)),
        "{note}"
    );
    let gauge = metric_value(
        &rec.metrics()?,
        "sidecarset_reconciler_uninjected_pods",
        &[("set", &policy.name)],
    );
    ensure!(gauge == 2.0, "uninjected_pods gauge {gauge}");

    let generation = policy
        .set_settings(&with_image(&settings, "filebeat", FILEBEAT_NEW)?)
        .await?;
    wait_status(&policy, "the 3 injected Pods upgraded", |s| {
        s["observedGeneration"] == generation && s["updatedReadyPods"] == 3
    })
    .await?;
    ensure_untouched(&t, &["bare-0", "bare-1"])?;
    let later = pods::by_name(&t.client, &t.ns).await?;
    for name in ["bare-0", "bare-1"] {
        let p = &later[name];
        ensure!(
            p.spec.as_ref().is_some_and(|s| s.containers.len() == 1),
            "{name} was given containers: {p:?}"
        );
    }
    let again = t
        .events("default", "UninjectedPods", Some(&policy.name))
        .await?;
    ensure!(
        again.len() == 1 && again[0].series.is_none(),
        "the same count was announced again: {again:?}"
    );
    rec.check_running()?;
    Ok(())
}

/// `migrate` against a cluster where Kruise ran: a v1beta1 SidecarSet object, three Pods exactly as
/// Kruise's own Pod webhook injects them (hack/kruise-harness, not hand-written) and one Pod created
/// before the set. The report is clean (3 matched, nothing to patch, the bare Pod listed); the
/// policy it writes, once applied, adopts the Pods with zero Pod writes and records the settings'
/// ControllerRevision under Kruise's name.
async fn kruise_sidecarset_migrated_with_zero_patches(t: Arc<TestNs>) -> Result<()> {
    let mut settings = pods::golden_settings("filebeat-story")?;
    // SidecarSets are cluster-scoped: a name of this test's own.
    let set_name = format!("fb-{}", t.ns);
    settings["name"] = json!(set_name);
    let object = kruise_harness::sidecar_set(&settings);
    let harness = kruise_harness::Harness::build();
    let mut bare = pods::nginx_pod("bare-0", &[])?;
    bare["metadata"]["namespace"] = json!(t.ns);
    let stored = harness.stored(&[&bare]).remove(0);
    // The golden CREATE request (Kruise's hooks read its options), for this Pod in this namespace.
    let mut request = pods::golden_request("filebeat-story")?;
    request["namespace"] = json!(t.ns);
    request["object"] = stored;
    let answer = harness
        .call(
            "inject",
            &[json!({"sidecarSets": [&object], "namespaces": [], "request": request})],
        )
        .remove(0);
    ensure!(answer["allowed"] == true, "Kruise refused: {answer}");
    let kruise_pod = answer["pod"].clone();
    ensure!(
        kruise_pod["spec"]["containers"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["name"] == "filebeat")),
        "Kruise did not inject: {answer}"
    );

    let ar = kube::api::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("apps.kruise.io", "v1beta1", "SidecarSet"),
        "sidecarsets",
    );
    let sets: kube::Api<kube::api::DynamicObject> = kube::Api::all_with(t.client.clone(), &ar);
    sets.create(&Default::default(), &serde_json::from_value(object)?)
        .await
        .context("creating the Kruise SidecarSet")?;
    let kruise_revision = answer["revisions"][&set_name]
        .as_str()
        .context("the harness names Kruise's revision")?
        .to_string();
    let result = migrate_and_adopt(&t, &set_name, &kruise_pod, &bare, &kruise_revision).await;
    let _ = sets.delete(&set_name, &Default::default()).await;
    result
}

async fn migrate_and_adopt(
    t: &TestNs,
    set_name: &str,
    kruise_pod: &Value,
    bare: &Value,
    kruise_revision: &str,
) -> Result<()> {
    let _kubelet = t.kubelet(KubeletConfig::default());
    for i in 0..3 {
        let mut p = kruise_pod.clone();
        pods::named(&mut p, &format!("kruise-{i}"), &[]);
        pods::create(&t.client, &t.ns, &p).await?;
    }
    let mut b = bare.clone();
    pods::named(&mut b, "bare-0", &[]);
    pods::create(&t.client, &t.ns, &b).await?;
    all_available(t, 4).await?;

    let dir = tempfile::tempdir()?;
    let (policies, report) = (
        dir.path().join("policies.yaml"),
        dir.path().join("report.json"),
    );
    let out = t.reconciler_command(&[
        "migrate",
        "--sidecarset",
        set_name,
        // Other tests' Pods share the cluster (and the Filebeat labels).
        "--namespace",
        &t.ns,
        "-o",
        policies.to_str().context("path")?,
        "--report-json",
        report.to_str().context("path")?,
    ])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.success(),
        "migrate failed: {}\n{stderr}",
        out.status
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&report)?)?;
    let r = &report["sets"][0];
    ensure!(
        r["matchedPods"] == 3
            && r["updatedPods"] == 3
            && r["wouldPatch"] == json!([])
            && r["uninjected"] == json!([format!("{}/bare-0", t.ns)]),
        "report: {report}\n{stderr}"
    );
    ensure!(
        stderr.contains("clean: no Pod would be patched"),
        "{stderr}"
    );
    let policy: Value = serde_yaml::from_str(&std::fs::read_to_string(&policies)?)?;
    ensure!(
        policy["spec"]["settings"]["name"] == set_name,
        "migrated policy: {policy}"
    );
    let policy = t.policy_object(policy).await?;
    let mut rec = t.reconciler(&t.policy_source(), &[], None)?;
    wait_status(
        &policy,
        "status: 3 matched and updated, 1 uninjected",
        |s| s["matchedPods"] == 3 && s["updatedReadyPods"] == 3 && s["uninjectedPods"] == 1,
    )
    .await?;
    ensure_untouched(t, &["kruise-0", "kruise-1", "kruise-2", "bare-0"])?;
    // The reconciler records the settings' revision under the name Kruise's controller gave it.
    wait_revisions(
        t,
        set_name,
        &format!("the settings' revision recorded as Kruise's {kruise_revision}"),
        &[(kruise_revision, 1)],
    )
    .await?;
    rec.check_running()?;
    Ok(())
}

// === revision history ===

/// The set's ControllerRevisions in the test's namespace (the reconciler's --revision-namespace).
async fn revisions(t: &TestNs, set: &str) -> Result<BTreeMap<String, ControllerRevision>> {
    let api: Api<ControllerRevision> = Api::namespaced(t.client.clone(), &t.ns);
    let lp = kube::api::ListParams::default().labels(&format!("kruise.io/sidecarset-name={set}"));
    Ok(api
        .list(&lp)
        .await?
        .items
        .into_iter()
        .map(|r| (r.metadata.name.clone().unwrap_or_default(), r))
        .collect())
}

/// The settings' revision name is already taken by a ControllerRevision with other data (a hash
/// collision, or a leftover): the reconciler reads the one it found (`get`), counts the collision
/// and records the revision under the next name, as Kruise's `createControllerRevision` does.
async fn revision_name_taken_by_other_data_moves_to_the_next_name(t: Arc<TestNs>) -> Result<()> {
    let settings = filebeat(json!(1))?;
    let taken = pods::settings_revision(&settings)?;
    let squatter: ControllerRevision = serde_json::from_value(json!({
        "metadata": {"name": taken, "namespace": t.ns},
        "data": {"not": "this set's"},
        "revision": 1
    }))?;
    Api::<ControllerRevision>::namespaced(t.client.clone(), &t.ns)
        .create(&Default::default(), &squatter)
        .await?;
    let policy = t.policy(&settings).await?;
    let _rec = t.reconciler(&t.policy_source(), &[], None)?;
    let status = wait_status(&policy, "a collision counted", |s| {
        s["collisionCount"] == 1 && s["latestRevision"].as_str().is_some_and(|r| r != taken)
    })
    .await?;
    let latest = status["latestRevision"]
        .as_str()
        .context("latestRevision")?;
    wait_revisions(
        &t,
        "filebeat",
        &format!("the revision recorded as {latest}"),
        &[(latest, 1)],
    )
    .await?;
    let gets = t
        .audit()?
        .iter()
        .filter(|r| r.resource == "controllerrevisions" && r.verb == "get" && r.ok())
        .count();
    ensure!(gets >= 1, "the taken name was not read back");
    Ok(())
}

/// Waits until the set's revisions are exactly `want` (name → `.revision`).
async fn wait_revisions(
    t: &TestNs,
    set: &str,
    what: &str,
    want: &[(&str, i64)],
) -> Result<BTreeMap<String, ControllerRevision>> {
    let want: BTreeMap<String, i64> = want.iter().map(|(n, r)| (n.to_string(), *r)).collect();
    let want = &want;
    wait::until(
        ROLLOUT,
        what,
        || async move {
            let revs = revisions(t, set).await?;
            let now: BTreeMap<String, i64> =
                revs.iter().map(|(n, r)| (n.clone(), r.revision)).collect();
            Ok((&now == want).then_some(revs))
        },
        async || {
            revisions(t, set).await.map_or_else(
                |e| format!("{e:#}"),
                |r| {
                    format!(
                        "{:?}",
                        r.iter().map(|(n, r)| (n, r.revision)).collect::<Vec<_>>()
                    )
                },
            )
        },
    )
    .await
}

/// Every Pod's hash entry names `revision`.
fn ensure_pods_name(m: &BTreeMap<String, Pod>, revision: &str) -> Result<()> {
    for (name, p) in m {
        let got = pods::recorded_revision(p, "filebeat");
        ensure!(
            got.as_deref() == Some(revision),
            "{name}: controllerRevision {got:?}, want {revision}"
        );
    }
    Ok(())
}

/// A settings change records a second revision (number 2), a rollback bumps the first to 3, a
/// customVersion labels the latest; the revisions are Kruise's (name, labels, annotations, data
/// bytes), controlled by the policy, and the Pods' hash entries name the revision they run, from
/// injection (the policy) and from each upgrade (the reconciler).
async fn revision_history_follows_the_settings(t: Arc<TestNs>) -> Result<()> {
    let v1 = filebeat(json!(2))?;
    let v2 = with_image(&v1, "filebeat", FILEBEAT_NEW)?;
    let (first, second) = (pods::settings_revision(&v1)?, pods::settings_revision(&v2)?);
    let policy = t.policy(&v1).await?;
    let (_kubelet, before) =
        filebeat_pods(&t, &v1, 2, |_| vec![], KubeletConfig::default()).await?;
    ensure_pods_name(&before, &first)?;
    let mut rec = t.reconciler(&t.policy_source(), &[], None)?;
    wait_status(
        &policy,
        "status: latestRevision of the first settings",
        |s| s["latestRevision"] == first.as_str() && s["collisionCount"] == 0,
    )
    .await?;
    let revs = wait_revisions(&t, "filebeat", "one revision", &[(&first, 1)]).await?;
    check_revision(&t, &revs[&first], &v1, &policy).await?;

    let g2 = policy.set_settings(&v2).await?;
    wait_status(&policy, "status: the second revision, Pods upgraded", |s| {
        s["observedGeneration"] == g2
            && s["latestRevision"] == second.as_str()
            && s["updatedReadyPods"] == 2
    })
    .await?;
    let revs = wait_revisions(
        &t,
        "filebeat",
        "a second revision numbered 2",
        &[(&first, 1), (&second, 2)],
    )
    .await?;
    check_revision(&t, &revs[&second], &v2, &policy).await?;
    ensure_pods_name(&all_available(&t, 2).await?, &second)?;

    let g3 = policy.set_settings(&v1).await?;
    wait_status(&policy, "status: rolled back, Pods upgraded", |s| {
        s["observedGeneration"] == g3
            && s["latestRevision"] == first.as_str()
            && s["updatedReadyPods"] == 2
    })
    .await?;
    wait_revisions(
        &t,
        "filebeat",
        "the first revision bumped to 3",
        &[(&first, 3), (&second, 2)],
    )
    .await?;
    let after = all_available(&t, 2).await?;
    ensure_pods_name(&after, &first)?;
    ensure!(count_with_image(&after, "filebeat", FILEBEAT_OLD) == 2);

    // customVersion is not in the data: no new revision, the latest one is labelled.
    let mut tagged = v1.clone();
    tagged["customVersion"] = json!("v1-final");
    policy.set_settings(&tagged).await?;
    wait::until(
        ROLLOUT,
        "the latest revision labelled with the custom version",
        || {
            let (t, first) = (&t, &first);
            async move {
                let revs = revisions(t, "filebeat").await?;
                let label = revs
                    .get(first)
                    .and_then(|r| r.metadata.labels.as_ref())
                    .and_then(|l| l.get("apps.kruise.io/sidecarset-custom-version"))
                    .cloned();
                Ok((label.as_deref() == Some("v1-final") && revs.len() == 2).then_some(()))
            }
        },
        async || {
            format!(
                "{:?}",
                revisions(&t, "filebeat")
                    .await
                    .map(|r| r.into_values().map(|r| r.metadata).collect::<Vec<_>>())
            )
        },
    )
    .await?;

    let text = rec.metrics()?;
    let writes = |kind: &str| {
        metric_value(
            &text,
            "sidecarset_reconciler_writes_total",
            &[("kind", kind), ("result", "ok")],
        )
    };
    ensure!(
        writes("revision_create") == 2.0 && writes("revision_patch") == 2.0,
        "two creations, one bump and one relabel expected:\n{text}"
    );
    ensure!(
        writes("revision_delete") == 0.0,
        "nothing to truncate:\n{text}"
    );
    rec.check_running()?;
    Ok(())
}

/// One recorded revision against the core's: labels, annotations, the policy as controller, and the
/// data bytes as the API server holds them.
async fn check_revision(
    t: &TestNs,
    r: &ControllerRevision,
    settings: &Value,
    policy: &sidecarset_cluster_tests::policy::ClusterPolicy,
) -> Result<()> {
    let set = sidecarset_core::SidecarSet::new(settings).map_err(|e| anyhow::anyhow!("{e}"))?;
    let want = sidecarset_core::revision::Revision::new(&set, r.revision, 0);
    let name = r.metadata.name.clone().unwrap_or_default();
    ensure!(name == want.name, "name {name} != {}", want.name);
    ensure!(
        r.metadata.labels.as_ref() == Some(&want.labels),
        "{name}: labels {:?}",
        r.metadata.labels
    );
    ensure!(
        r.metadata.annotations.as_ref() == Some(&want.annotations),
        "{name}: annotations {:?}",
        r.metadata.annotations
    );
    let uid = policy.get().await?.metadata.uid;
    let owners = r.metadata.owner_references.clone().unwrap_or_default();
    ensure!(
        owners.len() == 1
            && owners[0].api_version == "policies.kubewarden.io/v1"
            && owners[0].kind == "ClusterAdmissionPolicy"
            && owners[0].name == policy.name
            && Some(&owners[0].uid) == uid.as_ref()
            && owners[0].controller == Some(true)
            && owners[0].block_owner_deletion == Some(true),
        "{name}: owner references {owners:?}"
    );
    // The data as the API server returns it, bytes and all.
    let api: Api<ControllerRevision> = Api::namespaced(t.client.clone(), &t.ns);
    let req = kube::core::Request::new(api.resource_url())
        .get(&name, &kube::api::GetParams::default())?;
    let text = t.client.request_text(req).await?;
    ensure!(
        text.contains(&format!("\"data\":{},", want.data))
            || text.contains(&format!("\"data\":{}}}", want.data)),
        "{name}: the stored data is not the core's bytes:\n{text}\nwant {}",
        want.data
    );
    Ok(())
}

/// revisionHistoryLimit 1: a revision the Pods still name is kept past the limit (paused, they stay
/// on it), one no Pod names is deleted, and the kept one goes once the Pods moved on.
async fn revision_history_is_truncated_around_pods_in_use(t: Arc<TestNs>) -> Result<()> {
    let mut a = filebeat(json!(2))?;
    a["revisionHistoryLimit"] = json!(1);
    a["updateStrategy"]["paused"] = json!(true);
    let b = with_image(&a, "filebeat", FILEBEAT_NEW)?;
    let c = with_image(&a, "filebeat", "docker.elastic.co/beats/filebeat:7.17.0")?;
    let [ra, rb, rc] = [&a, &b, &c].map(|s| pods::settings_revision(s).unwrap_or_default());
    let policy = t.policy(&a).await?;
    let (_kubelet, before) = filebeat_pods(&t, &a, 2, |_| vec![], KubeletConfig::default()).await?;
    ensure_pods_name(&before, &ra)?;
    let mut rec = t.reconciler(&t.policy_source(), &[], None)?;
    wait_revisions(&t, "filebeat", "the first revision", &[(&ra, 1)]).await?;

    policy.set_settings(&b).await?;
    wait_status(&policy, "latestRevision b", |s| {
        s["latestRevision"] == rb.as_str()
    })
    .await?;
    wait_revisions(
        &t,
        "filebeat",
        "b recorded, a kept past the limit (the paused Pods name it)",
        &[(&ra, 1), (&rb, 2)],
    )
    .await?;

    policy.set_settings(&c).await?;
    wait_status(&policy, "latestRevision c", |s| {
        s["latestRevision"] == rc.as_str()
    })
    .await?;
    wait_revisions(
        &t,
        "filebeat",
        "c recorded, b deleted (no Pod names it), a kept",
        &[(&ra, 1), (&rc, 3)],
    )
    .await?;
    ensure_pods_name(&pods::by_name(&t.client, &t.ns).await?, &ra)?;

    let mut resumed = c.clone();
    resumed["updateStrategy"]["paused"] = json!(false);
    let g = policy.set_settings(&resumed).await?;
    wait_status(&policy, "Pods upgraded to c", |s| {
        s["observedGeneration"] == g && s["updatedReadyPods"] == 2
    })
    .await?;
    // Unpausing is no new revision (updateStrategy is not in the data); a is deleted once no Pod
    // names it.
    wait_revisions(&t, "filebeat", "only c left", &[(&rc, 3)]).await?;
    ensure_pods_name(&all_available(&t, 2).await?, &rc)?;
    rec.check_running()?;
    Ok(())
}

/// injectionStrategy.revision with a partitioned rollout: the image changes, the partition keeps
/// every Pod where it is, and the settings pin the first revision the reconciler recorded. The
/// Deployment scaled up: its new Pods, injected as the policy injects them (the pinned revision read
/// from the API server), get the first revision's sidecar and name it, and the reconciler leaves them
/// there; lowering the partition moves exactly the Pods it frees to the latest revision.
async fn pinned_revision_keeps_scaled_up_pods_on_it(t: Arc<TestNs>) -> Result<()> {
    let mut v1 = filebeat(json!(6))?;
    // Where the reconciler of this test records revisions (its --revision-namespace).
    v1["revisionNamespace"] = json!(t.ns);
    let first = pods::settings_revision(&v1)?;
    let policy = t.policy(&v1).await?;
    let (_kubelet, before) =
        filebeat_pods(&t, &v1, 3, |_| vec![], KubeletConfig::default()).await?;
    let mut rec = t.reconciler(&t.policy_source(), &[], None)?;
    wait_revisions(&t, "filebeat", "the first revision", &[(&first, 1)]).await?;

    let mut v2 = with_image(&v1, "filebeat", FILEBEAT_NEW)?;
    v2["updateStrategy"]["partition"] = json!(6);
    v2["injectionStrategy"] = json!({"revision": {"revisionName": first}});
    let second = pods::settings_revision(&v2)?;
    let g2 = policy.set_settings(&v2).await?;
    wait_status(&policy, "status: the new revision, no Pod upgraded", |s| {
        s["observedGeneration"] == g2
            && s["latestRevision"] == second.as_str()
            && s["matchedPods"] == 3
            && s["updatedPods"] == 0
    })
    .await?;
    wait_revisions(
        &t,
        "filebeat",
        "the new revision recorded as 2",
        &[(&first, 1), (&second, 2)],
    )
    .await?;

    // Scaled up from 3 to 6.
    let scaled = scale_up(&t, &v2, 3).await?;
    let m = all_available(&t, 6).await?;
    let old_hash = pods::settings_hash(&v1)?;
    for name in &scaled {
        let p = &m[name];
        ensure!(
            image_of(p, "filebeat") == FILEBEAT_OLD,
            "{name}: the pinned revision's image expected, got {}",
            image_of(p, "filebeat")
        );
        ensure!(
            recorded_hash(p, "filebeat").as_deref() == Some(old_hash.as_str()),
            "{name}: the pinned revision's hash expected"
        );
    }
    ensure_pods_name(&m, &first)?;

    // The reconciler sees the 6 Pods, plans them, and the partition keeps all of them.
    wait_status(&policy, "status: 6 matched, none updated", |s| {
        s["observedGeneration"] == g2 && s["matchedPods"] == 6 && s["updatedPods"] == 0
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later = pods::by_name(&t.client, &t.ns).await?;
    ensure!(
        count_with_image(&later, "filebeat", FILEBEAT_OLD) == 6,
        "the partition must keep every Pod on the pinned revision:\n{}",
        describe(&t).await
    );
    let names: Vec<&str> = later.keys().map(String::as_str).collect();
    ensure_untouched(&t, &names)?;

    // Partition 4 of 6: two Pods move to the latest revision, four stay on the pinned one.
    v2["updateStrategy"]["partition"] = json!(4);
    let g3 = policy.set_settings(&v2).await?;
    wait_status(&policy, "status: 2 updated and ready", |s| {
        s["observedGeneration"] == g3 && s["updatedReadyPods"] == 2
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    ensure_split_by_revision(&t, (&first, &second)).await?;
    ensure!(before.len() == 3);
    rec.check_running()?;
    Ok(())
}

/// `n` more Pods of the Deployment, each injected as the policy injects it at CREATE, the pinned
/// revision read from the API server; their generated names.
async fn scale_up(t: &TestNs, settings: &Value, n: usize) -> Result<Vec<String>> {
    let api: Api<Pod> = Api::namespaced(t.client.clone(), &t.ns);
    let mut names = Vec::new();
    for i in 0..n {
        let revisions = ClusterRevisions::lookup(&t.client, settings).await?;
        let pod = pods::deployment_pod()?;
        let injected =
            pods::inject_with(settings, &pod, &t.ns, &format!("scale-up-{i}"), &revisions)?;
        let typed: Pod = serde_json::from_value(injected)?;
        let created = api.create(&Default::default(), &typed).await?;
        names.push(created.metadata.name.unwrap_or_default());
    }
    Ok(names)
}

/// Partition 4 of 6: two Pods on the new image naming the `second` revision, four on the old one
/// naming the `first`.
async fn ensure_split_by_revision(t: &TestNs, (first, second): (&str, &str)) -> Result<()> {
    let after = all_available(t, 6).await?;
    ensure!(
        count_with_image(&after, "filebeat", FILEBEAT_NEW) == 2
            && count_with_image(&after, "filebeat", FILEBEAT_OLD) == 4,
        "partition 4 of 6 must upgrade exactly 2 Pods:\n{}",
        describe(t).await
    );
    for (name, p) in &after {
        let want = if image_of(p, "filebeat") == FILEBEAT_NEW {
            second
        } else {
            first
        };
        ensure!(
            pods::recorded_revision(p, "filebeat").as_deref() == Some(want),
            "{name}: controllerRevision {:?}, want {want}",
            pods::recorded_revision(p, "filebeat")
        );
    }
    Ok(())
}

/// `run` with leader election and a Lease namespace that does not exist stops at once, naming the
/// namespace and the three ways out, instead of retrying a failing Lease write forever.
async fn missing_lease_namespace_is_named_at_start(t: Arc<TestNs>) -> Result<()> {
    let missing = format!("{}-nope", t.ns);
    let out = t.reconciler_command(&[
        "run",
        "--lease-namespace",
        &missing,
        "--metrics-addr",
        "127.0.0.1:0",
        "--namespace",
        &t.ns,
    ])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(!out.status.success(), "run started: {stderr}");
    for needle in [
        format!("namespace \"{missing}\", which does not exist"),
        format!("kubectl create namespace {missing}"),
        "--lease-namespace".to_string(),
        "--no-leader-election".to_string(),
    ] {
        ensure!(stderr.contains(&needle), "{needle:?} not in: {stderr}");
    }
    Ok(())
}

// === faults ===

/// Two replicas under leader election, each as its own ServiceAccount bound to the shipped RBAC.
/// The leader's connection to the API server stalls mid-rollout (the proxy stops forwarding and
/// closes nothing, as a dead link or a wedged middlebox does): its Lease renewals hang, its
/// leadership passes at the renew deadline, and the standby takes over after a lease duration and
/// finishes the rollout. The audit log is the record: no write of the old leader's identity after
/// the standby's first, every Pod upgraded by exactly one successful patch, and the observer never
/// saw more Pods unavailable than `maxUnavailable`.
async fn leader_cut_off_mid_rollout_hands_over_without_two_writers(t: Arc<TestNs>) -> Result<()> {
    handover_mid_rollout(
        &t,
        "leader_cut_off_mid_rollout_hands_over_without_two_writers",
        Cut::Stall,
    )
    .await
}

/// API Priority and Fairness holds only the leader's Lease requests (a FlowSchema for its
/// ServiceAccount on `leases` into a priority level with no seats, as a busy API server can) while
/// its Pod writes still go through: its renewals hang, its leadership ends at the renew deadline and
/// its queued writes are dropped; the standby takes over. The audit log shows no write of the old
/// leader after the standby's first.
async fn leader_lease_held_by_apf_hands_over_without_two_writers(t: Arc<TestNs>) -> Result<()> {
    handover_mid_rollout(
        &t,
        "leader_lease_held_by_apf_hands_over_without_two_writers",
        Cut::LeasesHeld,
    )
    .await
}

/// How the leader is cut off mid-rollout.
enum Cut {
    /// Its connection stalls ([`StallProxy`]).
    Stall,
    /// API Priority and Fairness queues its Lease requests without end.
    LeasesHeld,
}

/// The leader rolls an upgrade out with the standby waiting; after its first upgrades it is cut
/// off; the standby finishes. Checked from the observer and the audit log: `maxUnavailable` kept,
/// no write of the old leader's identity after the standby's first, each Pod patched once, the old
/// leader exited.
async fn handover_mid_rollout(t: &TestNs, test: &str, cut: Cut) -> Result<()> {
    const PODS: usize = 6;
    const MAX_UNAVAILABLE: usize = 2;
    let settings = filebeat(json!(MAX_UNAVAILABLE))?;
    let (kubelet, before) =
        filebeat_pods(t, &settings, PODS, |_| vec![], KubeletConfig::default()).await?;
    // Slow restarts keep the rollout going for a while, so the cut falls in its middle. A leader
    // whose Lease requests are held goes on writing Pods until its renew deadline (10 s): the
    // rollout must outlast that for the standby to have something left to do.
    kubelet.set_restart_delay(Duration::from_millis(match cut {
        Cut::Stall => 3000,
        Cut::LeasesHeld => 9000,
    }));
    let obs = Observer::start(t.client.clone(), &t.ns).await;
    let proxy = StallProxy::start(t.cluster.apiserver_addr()?).await?;
    let via_proxy = format!("https://{}", proxy.addr);
    let policy = t.policy(&settings).await?;
    let (leader, standby) = (t.service_account(), t.standby_account());
    let server = matches!(cut, Cut::Stall).then_some(via_proxy.as_str());
    let mut a = t.reconciler_as(&leader, &t.policy_source(), &[], server)?;
    wait_status(&policy, "the leader's first round", |s| {
        s["matchedPods"] == PODS
    })
    .await?;
    let mut b = t.reconciler_as(&standby, &t.policy_source(), &[], None)?;
    policy
        .set_settings(&with_image(&settings, "filebeat", FILEBEAT_NEW)?)
        .await?;
    wait_pods(t, "the leader's first upgrades", ROLLOUT, |m| {
        count_with_image(m, "filebeat", FILEBEAT_NEW) >= 1
    })
    .await?;
    let held = match cut {
        Cut::Stall => {
            proxy.stall();
            None
        }
        Cut::LeasesHeld => Some(hold_leases(t, &leader.user).await?),
    };
    let cut_at = k8s_openapi::jiff::Timestamp::now();
    let after = wait_pods(
        t,
        &format!("all {PODS} upgraded and ready, by the standby"),
        ROLLOUT,
        |m| {
            count_with_image(m, "filebeat", FILEBEAT_NEW) == PODS
                && m.values().all(|p| !unavailable(p))
        },
    )
    .await;
    if let Some(held) = held {
        held.release(t).await?;
    }
    let after = after?;
    let at_cut = obs.snapshot();
    ensure!(
        at_cut.max_unavailable <= MAX_UNAVAILABLE,
        "{} unavailable at once ({:?}), maxUnavailable {MAX_UNAVAILABLE}",
        at_cut.max_unavailable,
        at_cut.max_seen_at
    );
    for (n, p) in &after {
        ensure!(p.metadata.uid == before[n].metadata.uid, "{n} recreated");
    }
    let audit_of =
        |who: &reconciler::Identity| audit::requests(&t.cluster.audit_log, &who.user, None);
    let (by_a, by_b) = (audit_of(&leader)?, audit_of(&standby)?);
    let b_first = audit::writes_in_order(&by_b)
        .into_iter()
        .filter(|r| r.resource != "leases")
        .find_map(|r| r.received)
        .context("the standby never wrote")?;
    let a_late: Vec<String> = audit::writes_in_order(&by_a)
        .into_iter()
        .filter(|r| r.received.is_some_and(|at| at >= b_first))
        .map(audit::Request::describe)
        .collect();
    ensure!(
        a_late.is_empty(),
        "the old leader wrote after the standby's first write: {a_late:?}"
    );
    let mut patches: BTreeMap<String, usize> = BTreeMap::new();
    for (name, (_, ok)) in audit::pod_writes(&by_a)
        .into_iter()
        .chain(audit::pod_writes(&by_b))
    {
        *patches.entry(name).or_default() += ok;
    }
    for n in after.keys() {
        ensure!(
            patches.get(n) == Some(&1),
            "{n}: {:?} successful patches across the two replicas: {patches:?}",
            patches.get(n)
        );
    }
    let a_upgrades = audit::pod_writes(&by_a)
        .values()
        .map(|(_, ok)| ok)
        .sum::<usize>();
    let a_last = audit::writes_in_order(&by_a)
        .into_iter()
        .filter(|r| r.resource != "leases")
        .filter_map(|r| r.received)
        .next_back();
    let secs = |from: k8s_openapi::jiff::Timestamp, to: k8s_openapi::jiff::Timestamp| {
        (to.as_millisecond() - from.as_millisecond()) as f64 / 1000.0
    };
    let handover = secs(cut_at, b_first);
    let gap = a_last.map_or(f64::NAN, |l| secs(l, b_first));
    // The cut-off leader stops within the renew deadline, and exits once it knows it lost.
    let exit_by = tokio::time::Instant::now() + Duration::from_secs(60);
    while a.check_running().is_ok() {
        ensure!(
            tokio::time::Instant::now() < exit_by,
            "the cut-off leader still runs 60 s after the rollout finished:\n{}",
            a.log_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    b.check_running()?;
    println!(
        "{test}: the old leader upgraded {a_upgrades} of {PODS} Pods; the standby's first write \
         {handover:.1} s after the cut, {gap:.1} s after the old leader's last; writes by the old \
         leader after it: 0; most unavailable {} of {MAX_UNAVAILABLE} allowed; every Pod patched once",
        at_cut.max_unavailable
    );
    Ok(())
}

/// API Priority and Fairness objects that queue `user`'s Lease requests without end: a priority
/// level with no seats of its own, lending none and borrowing none.
struct HeldLeases {
    flow_schema: String,
    priority_level: String,
}

async fn hold_leases(t: &TestNs, user: &str) -> Result<HeldLeases> {
    use k8s_openapi::api::flowcontrol::v1::{FlowSchema, PriorityLevelConfiguration};
    let name = format!("{}-hold-leases", t.ns);
    let pl: PriorityLevelConfiguration = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"type": "Limited", "limited": {
            "nominalConcurrencyShares": 0, "lendablePercent": 0, "borrowingLimitPercent": 0,
            "limitResponse": {"type": "Queue",
                              "queuing": {"queues": 1, "handSize": 1, "queueLengthLimit": 100}}}}
    }))?;
    Api::<PriorityLevelConfiguration>::all(t.client.clone())
        .create(&Default::default(), &pl)
        .await
        .context("creating the PriorityLevelConfiguration")?;
    let fs: FlowSchema = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "priorityLevelConfiguration": {"name": name},
            "matchingPrecedence": 50,
            "distinguisherMethod": {"type": "ByUser"},
            "rules": [{
                "subjects": [{"kind": "User", "user": {"name": user}}],
                "resourceRules": [{"verbs": ["*"], "apiGroups": ["coordination.k8s.io"],
                                   "resources": ["leases"], "namespaces": ["*"]}]
            }]
        }
    }))?;
    Api::<FlowSchema>::all(t.client.clone())
        .create(&Default::default(), &fs)
        .await
        .context("creating the FlowSchema")?;
    Ok(HeldLeases {
        flow_schema: name.clone(),
        priority_level: name,
    })
}

impl HeldLeases {
    async fn release(self, t: &TestNs) -> Result<()> {
        use k8s_openapi::api::flowcontrol::v1::{FlowSchema, PriorityLevelConfiguration};
        Api::<FlowSchema>::all(t.client.clone())
            .delete(&self.flow_schema, &Default::default())
            .await?;
        Api::<PriorityLevelConfiguration>::all(t.client.clone())
            .delete(&self.priority_level, &Default::default())
            .await?;
        Ok(())
    }
}

// === cross-set conflicts ===

/// Waits for an Event `reason` on the policy `policy` (policy Events go to `default`).
async fn wait_policy_event(t: &TestNs, reason: &str, policy: &str) -> Result<()> {
    wait::until(
        Duration::from_secs(30),
        &format!("a {reason} Event on policy {policy}"),
        || async {
            let evs = t.events("default", reason, Some(policy)).await?;
            Ok((!evs.is_empty()).then_some(()))
        },
        async || String::new(),
    )
    .await
}

/// The per-set gauge `metric` of `set` on the reconciler's `/metrics` is `want`.
fn ensure_set_gauge(
    rec: &reconciler::Reconciler,
    metric: &str,
    set: &str,
    want: f64,
) -> Result<()> {
    let text = rec.metrics()?;
    let got = metric_value(&text, metric, &[("set", set)]);
    ensure!(
        got == want,
        "{metric}{{set={set:?}}} is {got}, want {want}:\n{text}"
    );
    Ok(())
}

/// Two policies whose sets select the same Pods and both declare a container `filebeat` (Kruise
/// refuses the later one): the reconciler reports the pair on both policies (status `conflicts`,
/// a `SidecarSetConflict` Warning, the gauge), naming the older policy as the one already holding
/// the container; renaming the later set's container clears both, the older one's through the
/// round the change asks for.
async fn conflicting_sets_are_reported_on_both_policies(t: Arc<TestNs>) -> Result<()> {
    let first = filebeat(json!(1))?;
    let mut second = first.clone();
    second["name"] = json!("filebeat-copy");
    let (a_name, b_name) = (format!("{}-a", t.ns), format!("{}-b", t.ns));
    let a = t.policy_named(&a_name, &first).await?;
    // Creation timestamps have a resolution of a second: the older policy must be older.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let b = t.policy_named(&b_name, &second).await?;
    let rec = t.reconciler(&t.policy_source(), &[], None)?;
    let clash = format!("container filebeat already exist in {a_name}");
    for p in [&a, &b] {
        let status = wait_status(p, "the conflict in the status", |s| {
            s["conflicts"]
                .as_array()
                .is_some_and(|c| c.len() == 1 && c[0].as_str().is_some_and(|m| m.contains(&clash)))
        })
        .await?;
        ensure!(
            status["conflicts"][0]
                .as_str()
                .is_some_and(|m| m.starts_with(&format!("{b_name}: spec.containers"))),
            "{status}"
        );
        wait_policy_event(&t, "SidecarSetConflict", &p.name).await?;
        ensure_set_gauge(&rec, "sidecarset_reconciler_conflicts", &p.name, 1.0)?;
    }
    let mut renamed = second.clone();
    renamed["containers"][0]["name"] = json!("filebeat-copy");
    b.set_settings(&renamed).await?;
    for p in [&a, &b] {
        wait_status(p, "no conflict left", |s| {
            s.get("conflicts").is_none() && s["name"].is_string()
        })
        .await?;
    }
    Ok(())
}

/// A set pinned (`injectionStrategy.revision.revisionName`) to a revision it does not have: the
/// policy would refuse every Pod the set matches, so the reconciler says so before any Pod comes
/// (status `pinnedRevisionError`, a `PinnedRevisionMissing` Warning, the gauge); pinning the
/// revision the reconciler recorded clears it.
async fn missing_pinned_revision_is_reported_before_any_pod(t: Arc<TestNs>) -> Result<()> {
    let mut settings = filebeat(json!(1))?;
    settings["revisionNamespace"] = json!(t.ns);
    settings["injectionStrategy"] = json!({"revision": {"revisionName": "filebeat-nope"}});
    let policy = t.policy(&settings).await?;
    let rec = t.reconciler(&t.policy_source(), &[], None)?;
    let status = wait_status(&policy, "the missing pinned revision in the status", |s| {
        s["pinnedRevisionError"].as_str().is_some_and(|e| {
            e.contains("revisionName \"filebeat-nope\" is not one of the set's revisions")
        })
    })
    .await?;
    wait_policy_event(&t, "PinnedRevisionMissing", &policy.name).await?;
    ensure_set_gauge(
        &rec,
        "sidecarset_reconciler_pinned_revision_missing",
        &policy.name,
        1.0,
    )?;
    let reconciler::Source::Policies { selector } = t.policy_source() else {
        anyhow::bail!("a policy source");
    };
    let out =
        t.reconciler_command(&["plan", "--namespace", &t.ns, "--policy-selector", &selector])?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success()
            && text.contains("PINNED REVISION MISSING: injectionStrategy.revision.revisionName: revisionName \"filebeat-nope\""),
        "plan: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let latest = status["latestRevision"]
        .as_str()
        .context("latestRevision")?;
    settings["injectionStrategy"] = json!({"revision": {"revisionName": latest}});
    policy.set_settings(&settings).await?;
    wait_status(&policy, "the pin fixed", |s| {
        s.get("pinnedRevisionError").is_none() && s["observedGeneration"] == 2
    })
    .await?;
    Ok(())
}

/// Two replicas whose clocks are 20 s apart (the standby's ahead, through libfaketime: more than the
/// 15 s lease duration) while the leader rolls an upgrade out: the standby judges the Lease by when
/// it saw the record change, on its own clock, so it never takes the Lease of a leader that renews.
/// (Comparing the holder's `renewTime` with its own clock, it took it within 40 s.)
async fn standby_clock_20s_ahead_never_takes_a_live_lease(t: Arc<TestNs>) -> Result<()> {
    use k8s_openapi::api::coordination::v1::Lease;
    const PODS: usize = 4;
    let settings = filebeat(json!(1))?;
    let (kubelet, _) =
        filebeat_pods(&t, &settings, PODS, |_| vec![], KubeletConfig::default()).await?;
    // Slow restarts stretch the rollout over the whole window below.
    kubelet.set_restart_delay(Duration::from_millis(8000));
    let policy = t.policy(&settings).await?;
    let (leader, standby) = (t.service_account(), t.standby_account());
    let mut a = t.reconciler_as(&leader, &t.policy_source(), &[], None)?;
    wait_status(&policy, "the leader's first round", |s| {
        s["matchedPods"] == PODS
    })
    .await?;
    let mut b = t.reconciler_skewed(&standby, &t.policy_source(), &[], None, Some("+20s"))?;
    policy
        .set_settings(&with_image(&settings, "filebeat", FILEBEAT_NEW)?)
        .await?;
    let leases: Api<Lease> = Api::namespaced(t.client.clone(), &t.ns);
    let start = tokio::time::Instant::now();
    while start.elapsed() < Duration::from_secs(45) {
        let lease = leases.get("sidecarset-reconciler").await?;
        let spec = lease.spec.unwrap_or_default();
        ensure!(
            spec.lease_transitions.unwrap_or(0) == 0,
            "the Lease changed hands after {:?}: {spec:?}",
            start.elapsed()
        );
        a.check_running()?;
        b.check_running()?;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let by_b = audit::requests(&t.cluster.audit_log, &standby.user, None)?;
    let b_writes: Vec<String> = by_b
        .iter()
        .filter(|r| r.is_write())
        .map(audit::Request::describe)
        .collect();
    ensure!(b_writes.is_empty(), "the standby wrote: {b_writes:?}");
    let renewals = audit::requests(&t.cluster.audit_log, &leader.user, None)?
        .iter()
        .filter(|r| r.resource == "leases" && r.verb == "update" && r.ok())
        .count();
    println!(
        "standby_clock_20s_ahead_never_takes_a_live_lease: 45 s with the standby 20 s ahead, {renewals} renewals by the leader, 0 Lease transitions, 0 writes by the standby"
    );
    Ok(())
}

/// The API server answers the reconciler's `SidecarSetUpgradable` condition writes with 500 (a
/// validating webhook on `pods/status` for its ServiceAccount that cannot be reached, with
/// `failurePolicy: Fail`: "failed calling webhook"). The upgrades go ahead, no `SidecarUpgradeFailed`
/// is sent, and once the API server accepts the condition again it is written on its own and ends
/// True on every Pod.
async fn condition_writes_failing_with_500_never_fail_an_upgrade(t: Arc<TestNs>) -> Result<()> {
    use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
    const PODS: usize = 3;
    let settings = filebeat(json!(1))?;
    let (_kubelet, _) =
        filebeat_pods(&t, &settings, PODS, |_| vec![], KubeletConfig::default()).await?;
    let policy = t.policy(&settings).await?;
    let who = t.service_account();
    let ca = std::fs::read(t.cluster.dir.join("pki/ca.crt"))?;
    let closed = reconciler::free_port()?;
    let name = format!("{}-fail-status", t.ns);
    let webhook: ValidatingWebhookConfiguration = serde_json::from_value(json!({
        "metadata": {"name": name},
        "webhooks": [{
            "name": "fail-status.cluster-tests.sidecarset.io",
            "clientConfig": {"url": format!("https://{closed}/"),
                             "caBundle": k8s_openapi::ByteString(ca)},
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"],
                       "resources": ["pods/status"], "scope": "Namespaced"}],
            "matchConditions": [{"name": "the-reconciler",
                                 "expression": format!("request.userInfo.username == '{}'", who.user)}],
            "failurePolicy": "Fail", "sideEffects": "None", "admissionReviewVersions": ["v1"],
            "timeoutSeconds": 2
        }]
    }))?;
    let hooks: Api<ValidatingWebhookConfiguration> = Api::all(t.client.clone());
    hooks.create(&Default::default(), &webhook).await?;
    let rec = t.reconciler(&t.policy_source(), &[], None)?;
    wait_status(&policy, "the first round", |s| s["matchedPods"] == PODS).await?;
    policy
        .set_settings(&with_image(&settings, "filebeat", FILEBEAT_NEW)?)
        .await?;
    let upgraded = wait_pods(&t, "all upgraded while conditions fail", ROLLOUT, |m| {
        count_with_image(m, "filebeat", FILEBEAT_NEW) == PODS && m.values().all(|p| !unavailable(p))
    })
    .await;
    let refused = audit::requests(&t.cluster.audit_log, &who.user, Some(&t.ns))?
        .iter()
        .filter(|r| r.subresource == "status" && r.code == 500)
        .count();
    hooks.delete(&name, &Default::default()).await?;
    upgraded?;
    ensure!(refused >= PODS, "{refused} condition writes answered 500");
    let all_true = wait_pods(&t, "every condition True", ROLLOUT, |m| {
        m.values().all(|p| {
            pods::upgradable_condition(p).is_some_and(|c| {
                c.status == "True"
                    && c.message
                        .as_deref()
                        .is_some_and(|m| m.contains("\"filebeat\":true"))
            })
        })
    })
    .await;
    let failed = t.events(&t.ns, "SidecarUpgradeFailed", None).await?.len()
        + t.events("default", "SidecarUpgradeFailed", Some(&policy.name))
            .await?
            .len();
    ensure!(failed == 0, "{failed} SidecarUpgradeFailed Events");
    all_true?;
    let text = rec.metrics()?;
    let errors = metric_value(
        &text,
        "sidecarset_reconciler_writes_total",
        &[("kind", "condition"), ("result", "error")],
    );
    ensure!(
        errors >= PODS as f64,
        "condition errors counted: {errors}\n{text}"
    );
    ensure!(
        metric_value(
            &text,
            "sidecarset_reconciler_reconcile_failures_total",
            &[("error", "pod_patch")]
        ) == 0.0,
        "a failed condition failed a round:\n{text}"
    );
    println!(
        "condition_writes_failing_with_500_never_fail_an_upgrade: {refused} condition writes answered 500, \
         {PODS} Pods upgraded, 0 SidecarUpgradeFailed, every condition True once the API server accepted them"
    );
    Ok(())
}
