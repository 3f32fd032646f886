//! One set's round as the reconciler carries it out ([`SetRound`]): the core's plan turned into the
//! writes [`crate::writer`] sends, in order, and the Pods left alone with the core's reasons (for the
//! `plan` command and Events).
//!
//! Nothing here decides a rule: the patches, conditions and reasons are the core's, passed through.

use std::{borrow::Borrow, collections::BTreeMap, sync::Arc};

use serde::{Serialize, Serializer, ser::SerializeStruct};
use sidecarset_core::{
    SidecarSet,
    upgrade::{
        self, BudgetWarning, ConditionUpdate, PodDigest, PodPatch, Reason, Round, SetPlanner,
    },
};

use crate::{
    status::SetStatus,
    writer::{PodWrite, WriteKind},
};

/// A Pod the round leaves alone, and the core's reason.
#[derive(Clone, Debug)]
pub struct LeftAlone {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub reason: Reason,
}

impl LeftAlone {
    /// Whether the Pod counts in `matchedPods`.
    pub fn matched(&self) -> bool {
        self.reason.is_matched()
    }

    /// Selected, but created without the set's sidecars (counted in `uninjectedPods`).
    pub fn uninjected(&self) -> bool {
        self.reason.is_uninjected()
    }
}

/// As `plan -o json` shows it: the reason's stable code and sentence, and the reason with its fields
/// as `detail`.
impl Serialize for LeftAlone {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("LeftAlone", 7)?;
        st.serialize_field("namespace", &self.namespace)?;
        st.serialize_field("name", &self.name)?;
        st.serialize_field("code", self.reason.code())?;
        st.serialize_field("message", &self.reason.to_string())?;
        st.serialize_field("matched", &self.matched())?;
        st.serialize_field("uninjected", &self.uninjected())?;
        st.serialize_field("detail", &self.reason)?;
        st.end()
    }
}

/// What one round of one set does: its status, the writes in order, the Pods left alone.
#[derive(Clone, Debug)]
pub struct SetRound {
    pub set_name: String,
    pub round: Round,
    pub status: SetStatus,
    /// In the order to send them: hot-upgrade flips, not-upgradable conditions, upgrades.
    pub writes: Vec<PodWrite>,
    pub left_alone: Vec<LeftAlone>,
    /// The core's warnings (the plan went on without the Pod's condition), as `namespace/name: text`.
    pub warnings: Vec<String>,
    /// `maxUnavailable` lets every matched Pod go at once: accepted, and said loudly.
    pub budget_warning: Option<BudgetWarning>,
}

/// Namespace labels by Namespace name, as the core's planner reads them.
pub type NamespaceLabels = BTreeMap<String, sidecarset_core::selector::Labels>;

impl SetRound {
    /// Plans one round for `set` over a snapshot of Pods (the `plan` and `migrate` commands).
    ///
    /// `set_version` is the policy's resourceVersion: Kruise writes the SidecarSet's resourceVersion
    /// into the hot-upgrade version annotations, and the policy object is this project's SidecarSet.
    /// `max_upgrades` bounds the upgrades written this round (see [`upgrades_per_round`]); `None`
    /// gives every upgrade the round chooses.
    pub fn over_snapshot<P: Borrow<PodDigest>>(
        set: &SidecarSet,
        generation: i64,
        pods: &[P],
        namespaces: &NamespaceLabels,
        now: &str,
        set_version: &str,
        max_upgrades: Option<usize>,
    ) -> SetRound {
        // `plan` reads no revision history: it names the revision as the policy does (collision
        // count 0), which is what the reconciler records unless the set ever had a hash collision.
        let options = upgrade::Options {
            controller_revision: set.revision_name(),
            hot_upgrade_version: set_version.parse().ok(),
            max_upgrades,
        };
        let core = upgrade::plan_digests(set, pods, namespaces, now, &options);
        let mut round = SetRound::new(set, generation, |i| pods.get(i).map(Borrow::borrow), core);
        round.status.latest_revision = set.revision_name().to_string();
        round
    }

    /// The controller's round from its incremental planner (whose plan names only the Pods it
    /// looked at): the not-upgradable Pods come from the planner.
    pub fn from_planner(
        set: &SidecarSet,
        generation: i64,
        planner: &SetPlanner<Arc<PodDigest>>,
        core: upgrade::Plan,
    ) -> SetRound {
        let lookup = |id: usize| planner.get(id).map(|p| p.as_ref());
        let mut round = SetRound::new(set, generation, lookup, core);
        if round.round == Round::Upgrade {
            for (_, pod, changed) in planner.not_upgradable() {
                round.left_alone.push(LeftAlone {
                    namespace: pod.namespace().to_string(),
                    name: pod.name().to_string(),
                    uid: pod.uid().to_string(),
                    reason: Reason::NotUpgradable {
                        changed: changed.to_vec(),
                    },
                });
            }
        }
        round
    }

    /// Turns the core's plan into writes and reasons; `pod(i)` is the Pod the core calls `i`.
    pub fn new<'a>(
        set: &SidecarSet,
        generation: i64,
        pod: impl Fn(usize) -> Option<&'a PodDigest>,
        core: upgrade::Plan,
    ) -> SetRound {
        let mut writes =
            Vec::with_capacity(core.flips.len() + core.conditions.len() + core.upgrades.len());
        writes.extend(
            core.flips
                .into_iter()
                .map(|p| pod_write(WriteKind::Flip, p)),
        );
        writes.extend(core.conditions.into_iter().map(condition_write));
        writes.extend(
            core.upgrades
                .into_iter()
                .map(|p| pod_write(WriteKind::Upgrade, p)),
        );
        let left_alone = core
            .skipped
            .into_iter()
            .map(|s| LeftAlone {
                uid: pod(s.pod.index)
                    .map(|p| p.uid().to_string())
                    .unwrap_or_default(),
                namespace: s.pod.namespace,
                name: s.pod.name,
                reason: s.reason,
            })
            .collect();
        let warnings = core
            .warnings
            .into_iter()
            .map(|w| format!("{}/{}: {}", w.pod.namespace, w.pod.name, w.message))
            .collect();
        let status = set_status(set, generation, core.status);
        let budget_warning = upgrade::budget_warning(
            set.settings().update_strategy.max_unavailable.as_ref(),
            status.matched_pods as usize,
        );
        SetRound {
            set_name: set.name().to_string(),
            round: core.round,
            status,
            writes,
            left_alone,
            warnings,
            budget_warning,
        }
    }

    /// Whether Pods the round chose wait for the write budget (the next round takes them at once).
    pub fn waits_for_write_budget(&self) -> bool {
        self.left_alone
            .iter()
            .any(|l| matches!(l.reason, Reason::WaitingForWriteBudget { .. }))
    }

    /// Whether the rollout has Pods it means to upgrade: some chosen this round, or held back only by
    /// `maxUnavailable` or the write budget. Pods kept by `partition` or excluded by
    /// `updateStrategy.selector` are where the rollout is meant to stop, so a set with only those left
    /// is done, as is a paused or `NotUpdate` one: an alert on a stalled rollout must not fire for them.
    /// The planner walks the candidates in order and partition keeps the last ones, so "anything chosen
    /// or stopped" is exactly "more candidates than partition keeps", even in a round that names only
    /// the Pods it looked at. A flip round is a hot upgrade's second step under way.
    pub fn upgrades_pending(&self) -> bool {
        match self.round {
            Round::Flips => true,
            Round::Upgrade => {
                self.writes.iter().any(|w| w.kind == WriteKind::Upgrade)
                    || self.left_alone.iter().any(|l| {
                        matches!(
                            l.reason,
                            Reason::MaxUnavailableReached { .. }
                                | Reason::WaitingForWriteBudget { .. }
                        )
                    })
            }
            Round::NotUpdate | Round::Paused | Round::AllUpdated => false,
        }
    }

    /// The Pods only recreating them can update.
    pub fn not_upgradable(&self) -> impl Iterator<Item = &LeftAlone> {
        self.left_alone
            .iter()
            .filter(|l| matches!(l.reason, Reason::NotUpgradable { .. }))
    }
}

/// The status annotation's counts and the set's identity. The revision fields and the conflicts are
/// the caller's (it knows the revision history, [`crate::revisions`], and the other sets).
fn set_status(set: &SidecarSet, generation: i64, c: upgrade::Status) -> SetStatus {
    let strategy = &set.settings().update_strategy;
    let count = |n: i32| u32::try_from(n).unwrap_or(0);
    SetStatus {
        observed_generation: generation,
        name: set.name().to_string(),
        matched_pods: count(c.matched_pods),
        updated_pods: count(c.updated_pods),
        ready_pods: count(c.ready_pods),
        updated_ready_pods: count(c.updated_ready_pods),
        not_upgradable_pods: count(c.not_upgradable_pods),
        uninjected_pods: count(c.uninjected_pods),
        hash: set.hash().to_string(),
        latest_revision: String::new(),
        collision_count: 0,
        paused: strategy.paused,
        update_type: strategy.update_type().to_string(),
        conflicts: Vec::new(),
        pinned_revision_error: None,
        error: None,
    }
}

/// The API writes one upgraded Pod costs on a first rollout: its condition (on a later rollout it
/// already says upgradable, and is not written) and its patch. Events and the status annotation are
/// per round, not per Pod (docs/upgrade-planning.md#events).
pub const WRITES_PER_UPGRADE: f64 = 2.0;

/// How many upgrades a round writes: what one second of the write budget pays for (at least one).
/// A round that chose more leaves them for the next round (requeued at once while busy), so a round
/// takes about a second of writes, and upgrades that finish meanwhile are seen by the next round,
/// instead of after minutes of writes for Pods chosen in the first one. The planner builds patches
/// only for these.
pub fn upgrades_per_round(writes_per_second: f64) -> usize {
    let n = (writes_per_second / WRITES_PER_UPGRADE).floor();
    if n.is_finite() && n >= 1.0 {
        n as usize
    } else {
        1
    }
}

fn pod_write(kind: WriteKind, p: PodPatch) -> PodWrite {
    PodWrite {
        kind,
        pod_id: p.pod.index,
        namespace: p.pod.namespace,
        name: p.pod.name,
        patch: Some(p.patch),
        condition: p.condition,
        changes: p.changes,
    }
}

fn condition_write(c: ConditionUpdate) -> PodWrite {
    PodWrite::condition_only(WriteKind::MarkNotUpgradable, c)
}

/// A sidecar this process upgraded, and the image ID its container reported before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upgraded {
    pub container: String,
    pub native: bool,
    pub image_id_before: String,
}

/// Whether an upgrade this process started is visibly finished, for the `SidecarUpgradeFinished`
/// Event only (rollout decisions are the core's): the Pod is Ready and every upgraded container is
/// Ready with an image ID other than the one it had before the patch (the kubelet restarted it on
/// the new image).
pub fn upgrade_finished(pod: &PodDigest, upgraded: &[Upgraded]) -> bool {
    pod.is_ready()
        && upgraded.iter().all(|u| {
            pod.status_of(&u.container, u.native).is_some_and(|s| {
                s.ready && !s.image_id.is_empty() && *s.image_id != *u.image_id_before
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn set(extra: Value) -> SidecarSet {
        let mut s = json!({
            "name": "filebeat",
            "selector": {"matchLabels": {"app": "web"}},
            "containers": [{"name": "filebeat", "image": "elastic/filebeat:7.16.3"}],
        });
        if let (Some(o), Value::Object(e)) = (s.as_object_mut(), extra) {
            o.extend(e);
        }
        SidecarSet::new(&s).expect("valid settings")
    }

    /// A Pod injected with `filebeat:7.16.2` by a set whose image-less hash is `without_image`.
    fn digest(pod: &Value) -> PodDigest {
        PodDigest::new(pod, &mut upgrade::Interner::default())
    }

    fn digests(pods: &[Value]) -> Vec<PodDigest> {
        pods.iter().map(digest).collect()
    }

    fn injected(name: &str, without_image: &str, ready: bool) -> Value {
        let anns = json!({
            "kruise.io/sidecarset-injected-list": "filebeat",
            "kruise.io/sidecarset-hash": json!({"filebeat": {"hash": "old",
                "sidecarSetName": "filebeat", "sidecarList": ["filebeat"]}}).to_string(),
            "kruise.io/sidecarset-hash-without-image": json!({"filebeat": {"hash": without_image,
                "sidecarSetName": "filebeat", "sidecarList": ["filebeat"]}}).to_string(),
        });
        let status = if ready { "True" } else { "False" };
        json!({
            "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"),
                "resourceVersion": "7", "creationTimestamp": "2026-01-01T00:00:00Z",
                "labels": {"app": "web"}, "annotations": anns},
            "spec": {"containers": [
                {"name": "app", "image": "nginx:1.27"},
                {"name": "filebeat", "image": "elastic/filebeat:7.16.2"}]},
            "status": {"phase": "Running",
                "conditions": [{"type": "Ready", "status": status}],
                "containerStatuses": [
                    {"name": "app", "ready": ready, "image": "nginx:1.27", "imageID": "nginx@sha256:aa"},
                    {"name": "filebeat", "ready": ready, "image": "elastic/filebeat:7.16.2",
                     "imageID": "filebeat@sha256:01"}]}
        })
    }

    #[test]
    fn an_image_bump_becomes_guarded_upgrades_within_max_unavailable() {
        let s = set(json!({}));
        let pods: Vec<Value> = (0..3)
            .map(|i| injected(&format!("p{i}"), s.hash_without_image(), true))
            .collect();
        let plan = SetRound::over_snapshot(
            &s,
            3,
            &digests(&pods),
            &NamespaceLabels::new(),
            "2026-07-01T00:00:00Z",
            "12",
            None,
        );
        assert_eq!(plan.status.matched_pods, 3);
        assert_eq!(plan.status.updated_pods, 0);
        assert_eq!(plan.status.observed_generation, 3);
        assert_eq!(plan.status.hash, s.hash());
        assert_eq!(plan.status.update_type, "RollingUpdate");
        // maxUnavailable defaults to 1: one Pod now, the two others wait for the budget.
        assert_eq!(plan.writes.len(), 1, "{:?}", plan.writes);
        let w = &plan.writes[0];
        assert_eq!(w.kind, WriteKind::Upgrade);
        assert_eq!(w.images_text(), "filebeat=elastic/filebeat:7.16.3");
        assert_eq!(w.changes[0].from, "elastic/filebeat:7.16.2");
        assert!(!w.changes[0].init_container);
        let ops = serde_json::to_value(w.patch.as_ref().expect("a Pod patch")).unwrap();
        assert_eq!(
            ops[0],
            json!({"op": "test", "path": "/metadata/resourceVersion", "value": "7"}),
            "the core's guard, sent as it is"
        );
        let waiting: Vec<_> = plan
            .left_alone
            .iter()
            .filter(|l| l.reason.code() == "MaxUnavailableReached")
            .collect();
        assert_eq!(waiting.len(), 2);
        assert!(
            waiting
                .iter()
                .all(|l| l.matched() && l.uid.starts_with("uid-p"))
        );
        let shown = serde_json::to_value(waiting[0]).unwrap();
        assert_eq!(shown["code"], "MaxUnavailableReached");
        assert_eq!(shown["detail"]["reason"], "MaxUnavailableReached");
        assert_eq!(shown["matched"], true);
    }

    #[test]
    fn a_change_that_is_not_image_only_marks_the_condition_and_writes_no_patch() {
        let s = set(json!({}));
        let pods = vec![injected("p0", "some-other-hash", true)];
        let plan = SetRound::over_snapshot(
            &s,
            1,
            &digests(&pods),
            &NamespaceLabels::new(),
            "2026-07-01T00:00:00Z",
            "1",
            None,
        );
        assert_eq!(plan.status.not_upgradable_pods, 1);
        assert_eq!(plan.writes.len(), 1);
        let w = &plan.writes[0];
        assert_eq!(w.kind, WriteKind::MarkNotUpgradable);
        assert!(w.patch.is_none(), "no Pod spec change: {:?}", w.patch);
        let cond = &w.condition.as_ref().expect("condition").condition;
        assert_eq!(cond["type"], "SidecarSetUpgradable");
        assert_eq!(cond["status"], "False");
        assert_eq!(plan.left_alone[0].reason.code(), "NotUpgradable");
    }

    #[test]
    fn paused_sets_write_nothing_and_say_so() {
        let s = set(json!({"updateStrategy": {"paused": true}}));
        let pods = vec![injected("p0", s.hash_without_image(), true)];
        let plan = SetRound::over_snapshot(
            &s,
            1,
            &digests(&pods),
            &NamespaceLabels::new(),
            "2026-07-01T00:00:00Z",
            "1",
            None,
        );
        assert!(plan.writes.is_empty());
        assert!(plan.status.paused);
        assert_eq!(plan.round, Round::Paused);
        assert_eq!(plan.left_alone[0].reason.code(), "Paused");
    }

    #[test]
    fn unmatched_pods_are_reported_as_not_matched() {
        let s = set(json!({}));
        let mut p = injected("p0", s.hash_without_image(), true);
        p["metadata"]["labels"]["app"] = json!("db");
        let plan = SetRound::over_snapshot(
            &s,
            1,
            &[digest(&p)],
            &NamespaceLabels::new(),
            "2026-07-01T00:00:00Z",
            "1",
            None,
        );
        assert_eq!(plan.status.matched_pods, 0);
        assert!(!plan.left_alone[0].matched());
        assert_eq!(plan.left_alone[0].reason.code(), "NotSelected");
    }

    #[test]
    fn a_round_writes_about_a_second_of_the_write_budget() {
        assert_eq!(upgrades_per_round(30.0), 15);
        assert_eq!(upgrades_per_round(100.0), 50);
        assert_eq!(upgrades_per_round(2.0), 1, "at least one");
        assert_eq!(upgrades_per_round(0.5), 1);
        let s = set(json!({"updateStrategy": {"maxUnavailable": 3}}));
        let pods: Vec<Value> = (0..3)
            .map(|i| injected(&format!("p{i}"), s.hash_without_image(), true))
            .collect();
        let paced = SetRound::over_snapshot(
            &s,
            1,
            &digests(&pods),
            &NamespaceLabels::new(),
            "t",
            "1",
            Some(1),
        );
        assert_eq!(paced.writes.len(), 1);
        assert_eq!(paced.status.matched_pods, 3);
        let waiting: Vec<&str> = paced
            .left_alone
            .iter()
            .filter(|l| l.reason.code() == "WaitingForWriteBudget")
            .map(|l| l.name.as_str())
            .collect();
        assert_eq!(waiting.len(), 2, "{:?}", paced.left_alone);
    }

    #[test]
    fn an_upgrade_is_finished_once_ready_on_a_new_image_id() {
        let pod = digest(&injected("p0", "x", true));
        let up = |before: &str| {
            vec![Upgraded {
                container: "filebeat".into(),
                native: false,
                image_id_before: before.into(),
            }]
        };
        // Same image ID as before the patch: the kubelet has not restarted it yet.
        assert!(!upgrade_finished(&pod, &up("filebeat@sha256:01")));
        assert!(upgrade_finished(&pod, &up("filebeat@sha256:00")));
        let not_ready = digest(&injected("p0", "x", false));
        assert!(!upgrade_finished(&not_ready, &up("filebeat@sha256:00")));
        let native = vec![Upgraded {
            container: "filebeat".into(),
            native: true,
            image_id_before: String::new(),
        }];
        assert!(!upgrade_finished(&pod, &native), "no init container status");
    }

    /// Makes an admission-output Pod look like one read from the API server after the kubelet ran it.
    fn as_listed(mut pod: Value, i: usize, ready: bool) -> Value {
        let m = &mut pod["metadata"];
        m["name"] = json!(format!("pod-{i}"));
        m["namespace"] = json!("shop");
        m["uid"] = json!(format!("uid-{i}"));
        m["resourceVersion"] = json!(format!("{}", 100 + i));
        m["creationTimestamp"] = json!(format!("2026-01-01T00:00:{:02}Z", i % 60));
        m["managedFields"] = json!([{"manager": "kubelet", "fieldsV1": {"f:status": {}}}]);
        pod["spec"]["nodeName"] = json!(format!("node-{}", i % 3));
        pod["spec"]["tolerations"] = json!([{"operator": "Exists"}]);
        let status_of = |c: &Value| {
            json!({"name": c["name"], "ready": ready, "restartCount": i % 2, "started": true,
                   "image": c["image"], "imageID": format!("{}@sha256:{i:064}", c["image"].as_str().unwrap_or("")),
                   "containerID": "containerd://x", "state": {"running": {"startedAt": "2026-01-01T00:01:00Z"}}})
        };
        let statuses: Vec<Value> = pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(status_of)
            .collect();
        let init: Vec<Value> = pod["spec"]["initContainers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(status_of)
            .collect();
        let r = if ready { "True" } else { "False" };
        pod["status"] = json!({"phase": "Running", "podIPs": [{"ip": "10.0.0.1"}],
            "conditions": [{"type": "Ready", "status": r, "lastTransitionTime": "2026-01-01T00:02:00Z"},
                           {"type": "PodScheduled", "status": "True"}],
            "containerStatuses": statuses, "initContainerStatuses": init});
        pod
    }

    /// The reconciler plans from digests made by its Pod index, and only over the Pods whose injected
    /// list names the set. Neither may change a plan: for every golden case, its injected Pod and its
    /// original Pod (as listed, ready or not), planned with the case's settings and with every
    /// sidecar image bumped, give the same plan as the core's planner over the full JSON Pods.
    #[test]
    fn digests_from_the_watch_and_only_the_pods_the_set_concerns_change_no_plan() {
        use kube::runtime::watcher::Event;

        use crate::{pod_index::PodIndex, snapshot::WatchedPod};

        let golden =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test_data/golden");
        let mut compared = 0;
        let mut upgrades = 0;
        let mut dirs: Vec<_> = std::fs::read_dir(&golden)
            .expect("test_data/golden")
            .map(|e| e.unwrap().path())
            .collect();
        dirs.sort();
        for dir in dirs {
            let (Ok(settings), Ok(expected), Ok(request)) = (
                std::fs::read_to_string(dir.join("settings.yaml")),
                std::fs::read_to_string(dir.join("expected.json")),
                std::fs::read_to_string(dir.join("request.json")),
            ) else {
                continue; // a refusal case: no injected Pod to plan
            };
            let settings: Value = serde_yaml::from_str(&settings).unwrap();
            let Ok(set) = SidecarSet::new(&settings) else {
                continue;
            };
            let mut bumped = settings.clone();
            for list in ["containers", "initContainers"] {
                for c in bumped[list].as_array_mut().into_iter().flatten() {
                    let img = format!("{}-bumped", c["image"].as_str().unwrap_or("x"));
                    c["image"] = json!(img);
                }
            }
            let bumped = SidecarSet::new(&bumped).expect("an image bump stays valid");
            let injected: Value = serde_json::from_str(&expected).unwrap();
            let original: Value =
                serde_json::from_str::<Value>(&request).unwrap()["object"].clone();
            let full: Vec<Value> = (0..8)
                .map(|i| {
                    let base = if i % 4 == 3 { &original } else { &injected };
                    as_listed(base.clone(), i, i % 3 != 1)
                })
                .collect();
            // As the controller gets them: through the watch into the index, in list order.
            let index = PodIndex::default();
            index.apply(Event::Init);
            let watched: Vec<std::sync::Arc<PodDigest>> = full
                .iter()
                .flat_map(|p| index.apply(Event::InitApply(WatchedPod::new(p.clone()))))
                .collect();
            index.apply(Event::InitDone);
            for s in [&set, &bumped] {
                let opts = upgrade::Options::default();
                let ns = NamespaceLabels::from([("shop".to_string(), BTreeMap::new())]);
                let a = upgrade::plan(s, &full, &ns, "2026-07-01T00:00:00Z", &opts);
                let b = upgrade::plan_digests(s, &watched, &ns, "2026-07-01T00:00:00Z", &opts);
                assert_eq!(
                    a,
                    b,
                    "{}: the index's digests changed the plan",
                    dir.display()
                );
                // The controller plans only the Pods the set concerns.
                let only: Vec<_> = watched
                    .iter()
                    .filter(|p| upgrade::concerns(s, p))
                    .cloned()
                    .collect();
                let c = upgrade::plan_digests(s, &only, &ns, "2026-07-01T00:00:00Z", &opts);
                let writes = |p: &upgrade::Plan| {
                    let named = |v: &[PodPatch]| -> Vec<(String, json_patch::Patch)> {
                        v.iter()
                            .map(|u| (u.pod.name.clone(), u.patch.clone()))
                            .collect()
                    };
                    let conds: Vec<(String, Value)> = p
                        .conditions
                        .iter()
                        .map(|c| (c.pod.name.clone(), c.patch.clone()))
                        .collect();
                    (
                        p.status,
                        p.round,
                        named(&p.flips),
                        named(&p.upgrades),
                        conds,
                    )
                };
                assert_eq!(
                    writes(&a),
                    writes(&c),
                    "{}: leaving out Pods the set did not inject changed the plan",
                    dir.display()
                );
                upgrades += a.upgrades.len();
                compared += 1;
            }
        }
        assert!(compared >= 40, "only {compared} plans compared");
        assert!(
            upgrades > 0,
            "no plan upgraded anything: the comparison proves little"
        );
    }

    /// `upgrades_pending` on both ways a round is planned: the snapshot (`plan`) and the controller's
    /// incremental planner, which names only the Pods it looked at.
    fn pending_both_ways(s: &SidecarSet, pods: &[Value], max_upgrades: Option<usize>) -> bool {
        let ds = digests(pods);
        let ns = NamespaceLabels::new();
        let now = "2026-07-01T00:00:00Z";
        let snapshot = SetRound::over_snapshot(s, 1, &ds, &ns, now, "1", max_upgrades);
        let mut planner = SetPlanner::new(s.clone(), ns);
        planner.extend(ds.into_iter().map(Arc::new).enumerate());
        let options = upgrade::Options {
            controller_revision: s.revision_name(),
            hot_upgrade_version: Some(1),
            max_upgrades,
        };
        let core = planner.round(now, &options, false);
        let incremental = SetRound::from_planner(s, 1, &planner, core);
        assert_eq!(
            snapshot.upgrades_pending(),
            incremental.upgrades_pending(),
            "snapshot {:?} vs incremental {:?}",
            snapshot.left_alone,
            incremental.left_alone
        );
        snapshot.upgrades_pending()
    }

    /// `p{i}` already on the set's current hash, the kubelet not having restarted it yet when not
    /// `ready`: it takes a slot of maxUnavailable.
    fn updated(s: &SidecarSet, i: usize, ready: bool) -> Value {
        let mut p = injected(&format!("u{i}"), s.hash_without_image(), ready);
        p["metadata"]["annotations"]["kruise.io/sidecarset-hash"] = json!(
            json!({"filebeat": {"hash": s.hash(), "sidecarSetName": "filebeat",
                "sidecarList": ["filebeat"]}})
            .to_string()
        );
        p
    }

    #[test]
    fn upgrades_are_pending_only_while_the_rollout_means_to_upgrade_more_pods() {
        let plain = set(json!({}));
        let old = |s: &SidecarSet, n: usize| -> Vec<Value> {
            (0..n)
                .map(|i| injected(&format!("p{i}"), s.hash_without_image(), true))
                .collect()
        };
        assert!(
            pending_both_ways(&plain, &old(&plain, 3), None),
            "a rollout starting"
        );
        assert!(
            pending_both_ways(&plain, &old(&plain, 3), Some(0)),
            "chosen Pods waiting for the write budget"
        );
        let mut stuck = old(&plain, 2);
        stuck.push(updated(&plain, 0, false));
        assert!(
            pending_both_ways(&plain, &stuck, None),
            "held back by maxUnavailable: the stall the alert is for"
        );
        let mut done = vec![updated(&plain, 0, true), updated(&plain, 1, true)];
        assert!(!pending_both_ways(&plain, &done, None), "every Pod updated");

        let partition = set(json!({"updateStrategy": {"partition": 2}}));
        let mut kept = old(&partition, 2);
        kept.push(updated(&partition, 0, true));
        assert!(
            !pending_both_ways(&partition, &kept, None),
            "a partitioned rollout that reached its partition is finished"
        );
        kept.push(injected("p9", partition.hash_without_image(), true));
        assert!(
            pending_both_ways(&partition, &kept, None),
            "one more Pod than partition keeps"
        );

        let paused = set(json!({"updateStrategy": {"paused": true}}));
        assert!(!pending_both_ways(&paused, &old(&paused, 3), None));
        let not_update = set(json!({"updateStrategy": {"type": "NotUpdate"}}));
        assert!(!pending_both_ways(&not_update, &old(&not_update, 3), None));
        let canary =
            set(json!({"updateStrategy": {"selector": {"matchLabels": {"canary": "true"}}}}));
        assert!(
            !pending_both_ways(&canary, &old(&canary, 3), None),
            "no Pod is in the canary selector"
        );
        done.push(injected("p0", "some-other-hash", true));
        assert!(
            !pending_both_ways(&plain, &done, None),
            "only a recreation updates the last Pod"
        );
    }
}
