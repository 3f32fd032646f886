//! Faults of the control plane itself, mid-rollout: kube-apiserver restarted, etcd compacted under
//! the watches, the API server answering 429. Each runs on a cluster of its own
//! ([`Cluster::start_private`]): the shared one serves the tests running beside these, which must
//! not see an API server go away.
//!
//! The rollout is the Filebeat story's (6 Pods, `maxUnavailable: 2`, restarts slow enough that the
//! fault lands mid-rollout), the reconcilers run as the shipped ServiceAccounts under leader
//! election, an observer outside the reconciler counts unavailable Pods (these faults make its watch
//! relist; it counts only complete lists: `observe`), and the audit log is the record of who wrote what. Each test prints one
//! line with its numbers.

use std::{collections::BTreeMap, future::Future, sync::Arc, time::Duration};

use anyhow::{Result, anyhow, ensure};
use k8s_openapi::api::{
    core::v1::Pod,
    flowcontrol::v1::{FlowSchema, PriorityLevelConfiguration},
    rbac::v1::{Role, RoleBinding},
};
use kube::{
    Api, Client,
    api::{ListParams, PostParams, VersionMatch},
    config::{KubeConfigOptions, Kubeconfig},
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sidecarset_cluster_tests::{
    audit,
    cluster::{Cluster, Stop},
    kubelet::{FakeKubelet, KubeletConfig},
    observe::{Observer, unavailable},
    pods::FILEBEAT_NEW,
    policy::ClusterPolicy,
    reconciler::{self, Identity, Reconciler, metric_value},
    testns::TestNs,
    wait,
};

use super::{
    ROLLOUT, count_with_image, filebeat, filebeat_pods, wait_pods, wait_status, with_image,
};

const PODS: usize = 6;
const MAX_UNAVAILABLE: usize = 2;
/// Long enough that a fault started after the first upgrade lands while the rollout still runs.
const RESTART_DELAY: Duration = Duration::from_millis(2500);

/// Runs `body` in a namespace of a cluster started for it with `apiserver_args`; the shared
/// cluster's namespace the harness made stays unused. A failure carries this cluster's reconciler
/// logs and the API server's (the harness shows only the shared namespace's). The body checks the
/// shipped RBAC itself ([`forbidden_outside`]), with the window of its fault.
async fn on_private_cluster<F, Fut>(name: &str, apiserver_args: &str, body: F) -> Result<()>
where
    F: FnOnce(Arc<TestNs>) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let args = apiserver_args.to_string();
    let cluster =
        Arc::new(tokio::task::spawn_blocking(move || Cluster::start_private(&args)).await??);
    let res = async {
        let t = Arc::new(TestNs::new(cluster.clone(), name).await?);
        body(t.clone()).await.map_err(|e| {
            anyhow!(
                "{e:#}\n{}\n--- kube-apiserver.log (last 15 lines)\n{}",
                t.logs(),
                reconciler::tail(&t.cluster.dir.join("kube-apiserver.log"), 15)
            )
        })
    }
    .await;
    // The last reference: dropping it runs stop.sh, which blocks for seconds.
    tokio::task::spawn_blocking(move || drop(cluster)).await?;
    res
}

/// A rollout ready to start: the policy at Filebeat 7.16.2 over 6 running Pods, the observer
/// watching; [`Rollout::bump`] changes the image once the reconcilers run.
struct Rollout {
    policy: ClusterPolicy,
    before: BTreeMap<String, Pod>,
    obs: Observer,
    _kubelet: FakeKubelet,
    new: Value,
}

/// What [`Rollout::finish`] found.
struct Finished {
    most_unavailable: usize,
    /// The observer's lists after its first.
    observer_relists: usize,
    /// Pods with more than one successful patch (the set changed once: one step).
    patched_twice: usize,
    /// The first write (Lease aside) by the standby, if it wrote at all: the handover.
    handover: Option<k8s_openapi::jiff::Timestamp>,
    /// Writes of any kind by the first leader at or after the standby's first.
    old_leader_after_handover: usize,
}

impl Rollout {
    async fn prepare(t: &TestNs) -> Result<Rollout> {
        let settings = filebeat(json!(MAX_UNAVAILABLE))?;
        let policy = t.policy(&settings).await?;
        let (kubelet, before) =
            filebeat_pods(t, &settings, PODS, |_| vec![], KubeletConfig::default()).await?;
        kubelet.set_restart_delay(RESTART_DELAY);
        let obs = Observer::start(t.client.clone(), &t.ns).await;
        Ok(Rollout {
            policy,
            before,
            obs,
            _kubelet: kubelet,
            new: with_image(&settings, "filebeat", FILEBEAT_NEW)?,
        })
    }

    /// Waits for the first reconciler's first round: it holds the Lease, so a reconciler started
    /// after this is the standby.
    async fn first_round(&self) -> Result<()> {
        wait_status(&self.policy, "the leader's first round", |s| {
            s["matchedPods"] == PODS
        })
        .await?;
        Ok(())
    }

    /// Changes the image and returns once the first Pod has it: the rollout is under way. Returns
    /// the policy's generation and the Pods upgraded by then.
    async fn bump(&self, t: &TestNs) -> Result<(i64, usize)> {
        let generation = self.policy.set_settings(&self.new).await?;
        let m = wait_pods(t, "the first upgrades", ROLLOUT, |m| {
            count_with_image(m, "filebeat", FILEBEAT_NEW) >= 1
        })
        .await?;
        let upgraded = count_with_image(&m, "filebeat", FILEBEAT_NEW);
        ensure!(
            upgraded < PODS,
            "the rollout finished before the fault; nothing to test"
        );
        Ok((generation, upgraded))
    }

    /// Waits for every Pod to run the new image and the status to say so, then checks the
    /// rollout against the observer and the audit log: `maxUnavailable` kept, no Pod recreated,
    /// every Pod patched exactly once across `leader` and `standby`, and no write by the leader
    /// once the standby wrote.
    async fn finish(
        &self,
        t: &TestNs,
        generation: i64,
        leader: &Identity,
        standby: Option<&Identity>,
    ) -> Result<Finished> {
        let after = wait_pods(t, &format!("all {PODS} upgraded and ready"), ROLLOUT, |m| {
            count_with_image(m, "filebeat", FILEBEAT_NEW) == PODS
                && m.values().all(|p| !unavailable(p))
        })
        .await?;
        wait_status(
            &self.policy,
            "status: every Pod updated and ready at the new generation",
            |s| {
                s["observedGeneration"] == generation
                    && s["updatedPods"] == PODS
                    && s["updatedReadyPods"] == PODS
            },
        )
        .await?;
        let seen = self.obs.snapshot();
        ensure!(
            seen.max_unavailable <= MAX_UNAVAILABLE,
            "{} unavailable at once ({:?}), maxUnavailable {MAX_UNAVAILABLE}",
            seen.max_unavailable,
            seen.max_seen_at
        );
        for (n, p) in &after {
            ensure!(
                p.metadata.uid == self.before[n].metadata.uid,
                "{n} recreated"
            );
        }
        let audit_of = |who: &Identity| audit::requests(&t.cluster.audit_log, &who.user, None);
        let by_leader = audit_of(leader)?;
        let by_standby = standby.map(audit_of).transpose()?.unwrap_or_default();
        let mut patches: BTreeMap<String, usize> = BTreeMap::new();
        for (name, (_, ok)) in audit::pod_writes(&by_leader)
            .into_iter()
            .chain(audit::pod_writes(&by_standby))
        {
            *patches.entry(name).or_default() += ok;
        }
        let patched_twice = patches.values().filter(|n| **n > 1).count();
        for n in after.keys() {
            ensure!(
                patches.get(n) == Some(&1),
                "{n}: {:?} successful patches for one settings change: {patches:?}",
                patches.get(n)
            );
        }
        let handover = audit::writes_in_order(&by_standby)
            .into_iter()
            .filter(|r| r.resource != "leases")
            .find_map(|r| r.received);
        let late: Vec<String> = match handover {
            Some(first) => audit::writes_in_order(&by_leader)
                .into_iter()
                .filter(|r| r.received.is_some_and(|at| at >= first))
                .map(audit::Request::describe)
                .collect(),
            None => Vec::new(),
        };
        ensure!(
            late.is_empty(),
            "the first leader wrote after the standby's first write: {late:?}"
        );
        Ok(Finished {
            most_unavailable: seen.max_unavailable,
            observer_relists: seen.relists,
            patched_twice,
            handover,
            old_leader_after_handover: late.len(),
        })
    }
}

/// `reconcile_failures_total` by its `error` label, from `/metrics` text.
fn failures(metrics: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("sidecarset_reconciler_reconcile_failures_total{"))
    {
        let error = line
            .split("error=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("?");
        let v: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        *out.entry(error.to_string()).or_default() += v;
    }
    out
}

/// When the API server was away: from before it was stopped until it answered `/readyz` again.
type Outage = (k8s_openapi::jiff::Timestamp, k8s_openapi::jiff::Timestamp);

/// Fails when the API server refused a request of this test's ServiceAccounts (403: the shipped
/// RBAC lacks a rule), except during `outage`; returns the 403s of the outage. kube-apiserver
/// serves requests as soon as it listens, before its RBAC informers have synced, and refuses what
/// it cannot find a rule for yet: the restarts here saw the reconcilers' Lease reads refused in
/// the ~50 ms between "Serving securely" and "Caches are synced" in its log.
fn forbidden_outside(t: &TestNs, outage: Option<Outage>) -> Result<usize> {
    let during = |r: &audit::Request| {
        outage.is_some_and(|(from, to)| r.received.is_some_and(|at| at >= from && at <= to))
    };
    let forbidden: Vec<audit::Request> = t
        .audit_service_accounts()?
        .into_iter()
        .filter(|r| r.code == 403)
        .collect();
    let outside: Vec<String> = forbidden
        .iter()
        .filter(|r| !during(r))
        .map(|r| format!("{} {}", r.describe(), r.group))
        .collect();
    ensure!(
        outside.is_empty(),
        "the shipped RBAC (deploy/reconciler/rbac.yaml) refused {} request(s) of the reconciler: {outside:?}",
        outside.len()
    );
    Ok(forbidden.len())
}

/// The Pod watch's `410 Gone` answers in a reconciler's log: kube's watcher hands each one up as
/// an error (which the reconciler logs) and relists (kube-runtime `watcher.rs`,
/// `step_trampolined`: a `WatchEvent::Error` with code 410 goes back to the empty state).
fn pod_watch_expired(r: &Reconciler) -> usize {
    strip_ansi(&std::fs::read_to_string(&r.log).unwrap_or_default())
        .lines()
        .filter(|l| l.contains("Pod watch error") && l.contains("Expired"))
        .count()
}

/// The log without its terminal colours (the reconciler colours its text log even into a file).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) && c != '[' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The reconciler's lists of Pods received after `since` (the relists), from the audit log.
fn pod_lists_since(
    t: &TestNs,
    who: &Identity,
    since: k8s_openapi::jiff::Timestamp,
) -> Result<usize> {
    Ok(
        audit::requests(&t.cluster.audit_log, &who.user, Some(&t.ns))?
            .iter()
            .filter(|r| r.verb == "list" && r.resource == "pods")
            .filter(|r| r.received.is_some_and(|at| at > since))
            .count(),
    )
}

fn handover_text(f: &Finished, leader_running: bool) -> String {
    match f.handover {
        None => format!(
            "the leader kept the Lease ({}), the standby wrote nothing",
            if leader_running {
                "still running"
            } else {
                "exited"
            }
        ),
        Some(_) => format!(
            "handed over to the standby; writes by the old leader after the handover: {}",
            f.old_leader_after_handover
        ),
    }
}

/// What a restart test found after its rollout.
struct AfterRestart {
    finished: Finished,
    leader_running: bool,
    /// The writer's Pod watch answered 410 (its log), and its Pod lists after the fault (the audit
    /// log: relists).
    expired: usize,
    relists: usize,
    /// 403s while the API server was starting.
    forbidden_at_start: usize,
    failed: BTreeMap<String, f64>,
}

/// The rollout of a restart test: a leader, then a standby, the image changed, `fault` run (in a
/// blocking thread; it returns once the API server is ready again) when the first Pod has been
/// upgraded, then the rollout to its end, checked.
async fn restarted_rollout(
    t: &TestNs,
    fault: impl FnOnce(Arc<Cluster>) -> Result<()> + Send + 'static,
) -> Result<(AfterRestart, usize, f64, f64)> {
    let r = Rollout::prepare(t).await?;
    let (leader, standby) = (t.service_account(), t.standby_account());
    let mut a = t.reconciler_as(&leader, &t.policy_source(), &[], None)?;
    r.first_round().await?;
    let mut b = t.reconciler_as(&standby, &t.policy_source(), &[], None)?;
    let (generation, upgraded) = r.bump(t).await?;
    let started = std::time::Instant::now();
    let fault_at = k8s_openapi::jiff::Timestamp::now();
    let cluster = t.cluster.clone();
    tokio::task::spawn_blocking(move || fault(cluster)).await??;
    let ready_at = k8s_openapi::jiff::Timestamp::now();
    let down = started.elapsed().as_secs_f64();
    let finished = r.finish(t, generation, &leader, Some(&standby)).await?;
    let took = started.elapsed().as_secs_f64();
    let leader_running = a.check_running().is_ok();
    b.check_running()?;
    let (writer, writer_id) = match finished.handover {
        Some(_) => (&b, &standby),
        None => (&a, &leader),
    };
    let after = AfterRestart {
        leader_running,
        expired: pod_watch_expired(writer),
        relists: pod_lists_since(t, writer_id, fault_at)?,
        forbidden_at_start: forbidden_outside(t, Some((fault_at, ready_at)))?,
        failed: failures(&writer.metrics().unwrap_or_default()),
        finished,
    };
    Ok((after, upgraded, down, took))
}

/// kube-apiserver stopped gracefully (SIGTERM, as a control-plane upgrade does) and started again
/// on the same port, certificates and etcd while a rollout is under way: the rollout finishes,
/// every Pod is patched once, `maxUnavailable` is kept, and there is one writer throughout.
pub(super) async fn apiserver_restarted_mid_rollout(_shared: Arc<TestNs>) -> Result<()> {
    on_private_cluster(
        "apiserver_restarted_mid_rollout",
        // No flags of its own: start.sh's watch termination grace is what lets a SIGTERM restart
        // take seconds rather than the minute open watches would hold it (hack/cluster/README.md).
        "",
        |t| async move {
            let (x, upgraded, down, took) =
                restarted_rollout(&t, |c| c.restart_apiserver(Stop::Graceful)).await?;
            let f = &x.finished;
            println!(
                "apiserver_restarted_mid_rollout: kube-apiserver restarted (SIGTERM) after {upgraded} of {PODS} Pods \
                 were upgraded, ready again {down:.1} s later; rollout done {took:.1} s after the restart began; \
                 most unavailable {} of {MAX_UNAVAILABLE} allowed (the observer relisted {} time(s)); Pods patched \
                 more than once: {}; {}; the writer's Pod watch answered 410 {} time(s), {} Pod list(s) after the \
                 restart; 403s while the API server started: {}; reconcile failures {:?}",
                f.most_unavailable,
                f.observer_relists,
                f.patched_twice,
                handover_text(f, x.leader_running),
                x.expired,
                x.relists,
                x.forbidden_at_start,
                x.failed,
            );
            Ok(())
        },
    )
    .await
}

/// etcd compacted past every watch's resourceVersion while kube-apiserver, with its watch cache
/// off, is down (killed: a crash), then kube-apiserver started again: every watch resumed from its
/// resourceVersion is answered 410 Gone by etcd itself, and the reconciler must relist and carry on.
/// The rollout finishes, every Pod patched once, `maxUnavailable` kept; the writer's log shows the
/// 410 and the audit log its relist.
pub(super) async fn etcd_compacted_mid_rollout_watches_relist(_shared: Arc<TestNs>) -> Result<()> {
    on_private_cluster(
        "etcd_compacted_mid_rollout_watches_relist",
        // Every watch goes to etcd, so its 410 is etcd's compaction and not a fresh watch cache's
        // window.
        "--watch-cache=false",
        |t| async move {
            let compacted_at = Arc::new(std::sync::Mutex::new(None));
            let at = compacted_at.clone();
            let (x, upgraded, down, took) = restarted_rollout(&t, move |c| {
                c.stop_apiserver(Stop::Kill)?;
                // While nothing can write, so no watch can have seen the revision compacted at.
                let compacted = c.compact_etcd();
                c.start_apiserver()?;
                *at.lock().unwrap_or_else(|p| p.into_inner()) = Some(compacted?);
                Ok(())
            })
            .await?;
            let compacted = compacted_at
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_default();
            ensure!(
                x.expired >= 1,
                "the writer's Pod watch was never answered 410 Gone after etcd was compacted at revision {compacted}"
            );
            ensure!(
                x.relists >= 1,
                "the writer did not list Pods again after its watch expired"
            );
            let f = &x.finished;
            println!(
                "etcd_compacted_mid_rollout_watches_relist: kube-apiserver (--watch-cache=false) killed after {upgraded} \
                 of {PODS} Pods were upgraded, etcd compacted at revision {compacted}, ready again {down:.1} s later; \
                 the writer's Pod watch answered 410 {} time(s) and relisted ({} Pod list(s)); rollout done {took:.1} s \
                 after the kill; most unavailable {} of {MAX_UNAVAILABLE} allowed (the observer relisted {} time(s)); \
                 Pods patched more than once: {}; {}; 403s while the API server started: {}; reconcile failures {:?}",
                x.expired,
                x.relists,
                f.most_unavailable,
                f.observer_relists,
                f.patched_twice,
                handover_text(f, x.leader_running),
                x.forbidden_at_start,
                x.failed,
            );
            Ok(())
        },
    )
    .await
}

/// The user whose slow reads hold the throttled priority level's only seat.
const HOG: &str = "sidecarset-cluster-tests-hog";
const THROTTLED: &str = "sidecarset-cluster-tests-throttled";

fn typed<T: DeserializeOwned>(v: Value) -> Result<T> {
    Ok(serde_json::from_value(v)?)
}

/// An API Priority and Fairness priority level of one seat that rejects what does not fit
/// (`limitResponse: Reject`: a 429 at once, no queue), lending and borrowing nothing, and two
/// FlowSchemas into it: the reconciler's Pod writes (`patch` on `pods` and `pods/status`), and
/// the hog's lists. Returns once the API server's APF controller has taken the FlowSchemas in.
async fn throttle(t: &TestNs) -> Result<()> {
    let pl: Api<PriorityLevelConfiguration> = Api::all(t.client.clone());
    pl.create(
        &PostParams::default(),
        &typed(json!({
            "metadata": {"name": THROTTLED},
            "spec": {"type": "Limited", "limited": {
                "nominalConcurrencyShares": 1,
                "lendablePercent": 0,
                "borrowingLimitPercent": 0,
                "limitResponse": {"type": "Reject"},
            }},
        }))?,
    )
    .await?;
    let fs: Api<FlowSchema> = Api::all(t.client.clone());
    let sa = t.service_account();
    let sa_name = sa.user.rsplit(':').next().unwrap_or_default();
    for (name, subject, verbs, resources) in [
        (
            format!("{THROTTLED}-reconciler"),
            json!({"kind": "ServiceAccount", "serviceAccount": {"namespace": t.ns, "name": sa_name}}),
            json!(["patch"]),
            json!(["pods", "pods/status"]),
        ),
        (
            format!("{THROTTLED}-hog"),
            json!({"kind": "User", "user": {"name": HOG}}),
            json!(["list"]),
            json!(["pods"]),
        ),
    ] {
        fs.create(
            &PostParams::default(),
            &typed(json!({
                "metadata": {"name": name},
                "spec": {
                    "priorityLevelConfiguration": {"name": THROTTLED},
                    // Ahead of the suggested `service-accounts` (9000); system:masters stays exempt.
                    "matchingPrecedence": 1000,
                    "distinguisherMethod": {"type": "ByUser"},
                    "rules": [{
                        "subjects": [subject],
                        "resourceRules": [{
                            "verbs": verbs, "apiGroups": [""], "resources": resources,
                            "namespaces": [t.ns],
                        }],
                    }],
                },
            }))?,
        )
        .await?;
        // The APF controller marks a FlowSchema `Dangling: False` once it has the priority level
        // it names: from then on requests are classified into it.
        let fs = &fs;
        wait::until(
            Duration::from_secs(30),
            &format!("FlowSchema {name} taken in"),
            || {
                let name = name.clone();
                async move {
                    let s = fs.get(&name).await?;
                    let taken = s
                        .status
                        .and_then(|s| s.conditions)
                        .unwrap_or_default()
                        .iter()
                        .any(|c| {
                            c.type_.as_deref() == Some("Dangling")
                                && c.status.as_deref() == Some("False")
                        });
                    Ok(taken.then_some(()))
                }
            },
            async || format!("{:?}", fs.get(&name).await.map(|s| s.status)),
        )
        .await?;
    }
    let roles: Api<Role> = Api::namespaced(t.client.clone(), &t.ns);
    roles
        .create(
            &PostParams::default(),
            &typed(json!({
                "metadata": {"name": HOG},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
            }))?,
        )
        .await?;
    let bindings: Api<RoleBinding> = Api::namespaced(t.client.clone(), &t.ns);
    bindings
        .create(
            &PostParams::default(),
            &typed(json!({
                "metadata": {"name": HOG},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": HOG},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": HOG}],
            }))?,
        )
        .await?;
    Ok(())
}

/// Holds the throttled priority level's seat: one list after another, each asking for a
/// resourceVersion far ahead, which the watch cache waits 3 s for before it answers 504
/// (`watch_cache.go`, `waitUntilFreshAndBlock`, `blockTimeout`). One at a time, so that the hog's
/// own rejections stay few and the API server's Retry-After stays at 1 s (it doubles when a
/// priority level keeps dropping 3 requests a second: `dropped_requests_tracker.go`,
/// `updateRetryAfterIfNeededLocked`).
struct Hog {
    stop: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<(usize, usize)>,
}

impl Hog {
    async fn start(t: &TestNs) -> Result<Hog> {
        let path = t.cluster.scratch.join(format!("{}-hog.kubeconfig", t.ns));
        t.cluster.impersonating_kubeconfig(
            HOG,
            &["system:authenticated".to_string()],
            None,
            &path,
        )?;
        let mut config = kube::Config::from_custom_kubeconfig(
            Kubeconfig::read_from(&path)?,
            &KubeConfigOptions::default(),
        )
        .await?;
        // kube would resend the hog's own 429s and 504s.
        config.default_retry = false;
        let api: Api<Pod> = Api::namespaced(Client::try_from(config)?, &t.ns);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let far_ahead = ListParams::default()
                .at(&u32::MAX.to_string())
                .matching(VersionMatch::NotOlderThan);
            let (mut held, mut refused) = (0, 0);
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                match api.list(&far_ahead).await {
                    Err(kube::Error::Api(s)) if s.code == 429 => {
                        refused += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(kube::Error::Api(s)) if s.code == 504 => held += 1,
                    _ => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
            (held, refused)
        });
        Ok(Hog { stop, task })
    }

    /// Stops after the list in flight (at most 3 s); returns the lists that held the seat and
    /// those refused.
    async fn stop(self) -> Result<(usize, usize)> {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(self.task.await?)
    }
}

/// The reconciler's 429s in the audit log, each with whether the next attempt at the same write
/// (verb, Pod, subresource) was answered 2xx.
fn throttled_then_resent(reqs: &[audit::Request]) -> Vec<(String, bool)> {
    let mut ordered: Vec<&audit::Request> = reqs.iter().collect();
    ordered.sort_by_key(|r| r.received);
    ordered
        .iter()
        .enumerate()
        .filter(|(_, r)| r.code == 429)
        .map(|(i, r)| {
            let same = |o: &&&audit::Request| {
                o.verb == r.verb && o.name == r.name && o.subresource == r.subresource
            };
            let resent = ordered[i + 1..]
                .iter()
                .filter(same)
                .find(|o| o.code != 429)
                .is_some_and(|o| o.ok());
            (r.describe(), resent)
        })
        .collect()
}

/// The API server answers the reconciler's Pod writes with 429 (API Priority and Fairness: a
/// priority level of one seat that rejects, that seat held by a hog) for a while mid-rollout:
/// each write waits out `Retry-After` and is sent again, the rollout finishes, every Pod patched
/// once, `maxUnavailable` kept; `/metrics` counts the 429s as throttling, not as failures.
pub(super) async fn apiserver_throttles_writes_mid_rollout(_shared: Arc<TestNs>) -> Result<()> {
    on_private_cluster(
        "apiserver_throttles_writes_mid_rollout",
        // 150 seats in all, so a priority level of 1 share among the suggested ones' 245 gets
        // ceil(150 * 1 / 246) = 1 seat (`apf_controller.go`, `finishQueueSetReconfigsLocked`).
        "--max-requests-inflight=100 --max-mutating-requests-inflight=50",
        |t| async move {
            throttle(&t).await?;
            let r = Rollout::prepare(&t).await?;
            let leader = t.service_account();
            let mut a = t.reconciler_as(&leader, &t.policy_source(), &[], None)?;
            r.first_round().await?;
            let (generation, upgraded) = r.bump(&t).await?;
            let hog = Hog::start(&t).await?;
            let started = std::time::Instant::now();
            // Held until the reconciler has been refused a few times (a write every Retry-After),
            // at most 20 s.
            let refused = |t: &TestNs| -> Result<usize> {
                Ok(t.audit()?.iter().filter(|r| r.code == 429).count())
            };
            while refused(&t)? < 3 && started.elapsed() < Duration::from_secs(20) {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let (held, hog_refused) = hog.stop().await?;
            let hold = started.elapsed().as_secs_f64();
            let f = r.finish(&t, generation, &leader, None).await?;
            let took = started.elapsed().as_secs_f64();
            let reqs = t.audit()?;
            let pairs = throttled_then_resent(&reqs);
            ensure!(
                !pairs.is_empty(),
                "the API server never answered the reconciler 429 while the hog held the seat ({held} hog lists held it, {hog_refused} refused): {:?}",
                audit::summary(&reqs)
            );
            let lost: Vec<&String> = pairs.iter().filter(|(_, ok)| !ok).map(|(d, _)| d).collect();
            ensure!(
                lost.is_empty(),
                "429s not followed by a successful resend: {lost:?}; {:?}",
                audit::summary(&reqs)
            );
            let text = a.metrics()?;
            let server_throttled =
                metric_value(&text, "sidecarset_reconciler_writes_server_throttled_total", &[]);
            ensure!(
                server_throttled >= pairs.len() as f64,
                "writes_server_throttled_total {server_throttled}, the audit log has {} 429s",
                pairs.len()
            );
            let failed = failures(&text);
            ensure!(
                failed.get("pod_patch").copied().unwrap_or(0.0) == 0.0,
                "a 429 counted as a failed Pod patch: {failed:?}"
            );
            let waits: Vec<String> = strip_ansi(&std::fs::read_to_string(&a.log)?)
                .lines()
                .filter(|l| l.contains("the API server throttled a write (429)"))
                .filter_map(|l| l.split("wait_seconds=").nth(1))
                .filter_map(|w| w.split_whitespace().next())
                .map(|w| w.trim_end_matches(|c: char| !c.is_ascii_digit()).to_string())
                .collect();
            println!(
                "apiserver_throttles_writes_mid_rollout: after {upgraded} of {PODS} Pods were upgraded, one APF seat held for {hold:.1} s \
                 ({held} hog lists); the API server answered the reconciler 429 {} time(s) ({:?}), each followed by a successful resend \
                 (Retry-After waits {waits:?} s); writes_server_throttled_total {server_throttled}; reconcile failures {failed:?}; \
                 rollout done {took:.1} s after the throttling began; most unavailable {} of {MAX_UNAVAILABLE} allowed; \
                 Pods patched more than once: {}",
                pairs.len(),
                audit::summary(
                    &reqs
                        .iter()
                        .filter(|r| r.code == 429)
                        .cloned()
                        .collect::<Vec<_>>()
                ),
                f.most_unavailable,
                f.patched_twice,
            );
            forbidden_outside(&t, None)?;
            a.check_running()?;
            Ok(())
        },
    )
    .await
}
