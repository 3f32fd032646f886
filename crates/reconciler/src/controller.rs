//! The controller: `Context`, `reconcile`, `error_policy`, `run` (kube-rs/controller-rs shape).
//!
//! One reconcile handles one SidecarSet (one policy): snapshot the Pod and Namespace caches, let the
//! core plan, write the status annotation when it changed, then apply the plan's Pod writes in order.
//! Level-triggered: nothing is remembered between rounds that the cluster does not also show, except
//! the [`Overlay`] of our own recent writes and what was already announced in Events.

use std::{
    collections::{BTreeSet, HashMap},
    path::PathBuf,
    sync::{Arc, Mutex, RwLock},
    time::Duration,
};

use futures::{StreamExt, channel::mpsc, stream};
use k8s_openapi::api::core::v1::{Namespace, ObjectReference};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{DynamicObject, Patch, PatchParams},
    runtime::{
        Controller, WatchStreamExt,
        controller::{Action, Config as ControllerConfig},
        events::{Event, Reporter},
        reflector::{self, ObjectRef, Store},
        watcher,
    },
};
use serde_json::json;
use sidecarset_core::{
    SidecarSet,
    conflict::Conflict,
    revision::{Revision, history::OverLimit},
    time::now_rfc3339,
    upgrade::{self, BudgetWarning, ConditionUpdate, Options, PodDigest, SetPlanner},
};
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::{
    Error, MANAGER, Result,
    conflicts::PolicySets,
    events::{self, Notice},
    leader::{Leadership, LeaseConfig, LeaseLock},
    metrics::{Metrics, SetLabels},
    pacing::{WriteBudget, WriteRate},
    pod_index::{Changes, Cursor, PodIndex},
    policy::{self, STATUS_ANNOTATION, Target},
    recorder::Recorder,
    revisions::{self, Registered, Revisions, SetRef},
    round::{self, NamespaceLabels, SetRound, Upgraded, upgrade_finished},
    snapshot::{Overlay, WatchedPod, namespace_labels},
    status::SetStatus,
    write_gate::{WriteGate, is_not_leader},
    writer::{ConditionWrite, Outcome, PodWrite, WriteKind, Writer},
};

/// How the controller is run (from the command line).
#[derive(Clone, Debug)]
pub struct Config {
    /// Watch Pods (and the Namespace) of this namespace only.
    pub namespace: Option<String>,
    /// Extra label selector for the policies.
    pub policy_selector: Option<String>,
    /// `--settings FILE` instead of policies.
    pub settings_file: Option<PathBuf>,
    /// `None` disables leader election (single replica, or tests).
    pub lease: Option<LeaseConfig>,
    /// Requeue after a quiet round: the safety net of a level-triggered controller.
    pub resync: Duration,
    /// Requeue while an upgrade is in flight or a write found the Pod stale.
    pub busy_requeue: Duration,
    pub instance: String,
    /// The write budget shared by every Pod, status and Event write (not the Lease).
    pub writes: WriteRate,
    /// Where the sets' ControllerRevisions live (`--revision-namespace`).
    pub revision_namespace: String,
}

/// What one set's past rounds already announced, so Events are sent on change, not every round.
#[derive(Debug, Default)]
struct SetMemory {
    not_upgradable: BTreeSet<String>,
    /// The uninjected count last announced (the Pods themselves may be many: not kept by name).
    uninjected: u32,
    /// Pods whose upgrade was started and not yet seen finished, by UID.
    in_flight: HashMap<String, InFlight>,
    /// What the next `SidecarUpgradeProgress` Event tells.
    progress: Progress,
    /// When the status annotation was last written, and whether a newer one waits for its turn.
    status_written: Option<std::time::Instant>,
    status_deferred: bool,
    invalid: Option<String>,
    /// Conditions left to write after their Pod's upgrade patch landed (the condition patch failed),
    /// by Pod UID: written on their own in the next rounds, merged again from the cache.
    pending_conditions: HashMap<String, PendingCondition>,
    /// The pinned-revision problem last announced.
    pinned: Option<String>,
    /// The clashes with other sets last announced, and the other sets they name.
    conflicts: Vec<String>,
    conflicting: BTreeSet<String>,
    /// The `maxUnavailable` last warned about as letting every matched Pod go at once.
    budget_warning: Option<String>,
    /// The last status logged in `--settings` mode, where there is no object to write it to.
    logged_status: Option<SetStatus>,
    /// The history's size when the active revisions last kept it over `revisionHistoryLimit`.
    over_limit: Option<OverLimit>,
}

/// The Pods whose upgrade started and finished since the last progress Event.
#[derive(Debug, Default)]
struct Progress {
    started: Vec<String>,
    finished: Vec<String>,
    last_sent: Option<std::time::Instant>,
}

#[derive(Debug, Clone)]
struct PendingCondition {
    /// The Pod's id in the Pod index.
    id: usize,
    upgradable: bool,
}

#[derive(Debug, Clone)]
struct InFlight {
    /// The Pod's id in the Pod index.
    id: usize,
    namespace: String,
    name: String,
    hash: String,
    upgraded: Vec<Upgraded>,
}

pub struct Context {
    /// Reads (and the Lease): no write goes through it.
    pub client: Client,
    /// Every write: paced, fenced by leadership, 429s waited out ([`crate::write_gate`]).
    pub writes: Client,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub pods: Arc<PodIndex>,
    pub namespaces: Store<Namespace>,
    pub leadership: Leadership,
    pub config: Config,
    pub budget: Arc<WriteBudget>,
    writer: Writer,
    revisions: Revisions,
    overlay: Mutex<Overlay>,
    /// Each set's incremental planner between its rounds, by policy key.
    planners: Mutex<HashMap<String, Planned>>,
    memory: Mutex<HashMap<String, SetMemory>>,
    /// Set name -> keys of the targets declaring it, for the Pod -> policy mapping.
    set_index: RwLock<HashMap<String, BTreeSet<String>>>,
    /// Every reconciled policy's set, for the cross-set conflicts.
    pub sets: PolicySets,
}

impl Context {
    /// `writes` is the write client, whose gate holds `budget` and `leadership`
    /// ([`write_client`]).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: Client,
        writes: Client,
        budget: Arc<WriteBudget>,
        metrics: Arc<Metrics>,
        pods: Arc<PodIndex>,
        namespaces: Store<Namespace>,
        leadership: Leadership,
        config: Config,
    ) -> Self {
        let recorder = Recorder::new(
            writes.clone(),
            Reporter {
                controller: MANAGER.into(),
                instance: Some(config.instance.clone()),
            },
        );
        let revisions = Revisions::new(
            writes.clone(),
            metrics.clone(),
            config.revision_namespace.clone(),
            config.resync,
        );
        Context {
            writer: Writer::new(writes.clone()),
            revisions,
            budget,
            client,
            writes,
            recorder,
            metrics,
            pods,
            namespaces,
            leadership,
            config,
            overlay: Mutex::default(),
            planners: Mutex::default(),
            memory: Mutex::default(),
            set_index: RwLock::default(),
            sets: PolicySets::default(),
        }
    }

    fn index(&self, set_name: &str, key: &str) {
        let mut idx = self.set_index.write().unwrap_or_else(|p| p.into_inner());
        for keys in idx.values_mut() {
            keys.remove(key);
        }
        idx.retain(|_, v| !v.is_empty());
        idx.entry(set_name.to_string())
            .or_default()
            .insert(key.to_string());
    }

    fn targets_of(&self, set_name: &str) -> Vec<String> {
        let idx = self.set_index.read().unwrap_or_else(|p| p.into_inner());
        idx.get(set_name)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Sends one Event (leader only: a standby replica must stay silent).
    async fn event(&self, regarding: &ObjectReference, n: Notice) {
        if !self.leadership.is_leader() {
            return;
        }
        let ev = Event {
            type_: n.type_,
            reason: n.reason.into(),
            note: Some(n.note),
            action: n.action.into(),
            secondary: None,
        };
        // An Event that cannot be sent is not worth failing (and so retrying) the round.
        match self.recorder.publish(&ev, regarding).await {
            Ok(()) => {}
            Err(e) if is_not_leader(&e) => {
                debug!(reason = n.reason, "Event dropped: not the leader")
            }
            Err(e) => warn!(error = %e, reason = n.reason, "could not publish Event"),
        }
    }

    /// The set's planner, brought up to date with the Pod index: the Pods that changed since its
    /// last round are classified again (our own newer writes laid over the cache), or, for new
    /// settings, a relist or a planner this process does not have yet, every Pod.
    ///
    /// Only the Pods the set concerns are put in ([`upgrade::concerns`]: injected by it, or selected
    /// by its labels). `plan` passes every Pod, to give each its reason.
    fn planner(&self, key: &str, set: &SidecarSet, namespaces: NamespaceLabels) -> Planned {
        let keep = |p: &PodDigest| {
            self.config
                .namespace
                .as_deref()
                .is_none_or(|ns| p.namespace() == ns)
                && upgrade::concerns(set, p)
        };
        let mut overlay = self.overlay.lock().unwrap_or_else(|p| p.into_inner());
        overlay.retain(|p| self.pods.holds(p));
        let kept = self
            .planners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key)
            .filter(|p| p.planner.set() == set);
        if let Some(mut p) = kept {
            let (changes, cursor) = self.pods.changes(p.cursor);
            if let Changes::Pods(changed) = changes {
                p.planner.set_namespaces(namespaces);
                for (id, pod) in changed {
                    match pod {
                        Some(pod) if keep(&pod) => p.planner.upsert(id, overlay.resolve(&pod)),
                        _ => {
                            p.planner.remove(id);
                        }
                    }
                }
                p.cursor = cursor;
                return p;
            }
        }
        let (pods, cursor) = self.pods.all(keep);
        let mut planner = SetPlanner::new(set.clone(), namespaces);
        planner.extend(pods.into_iter().map(|(id, p)| (id, overlay.resolve(&p))));
        Planned {
            planner,
            cursor,
            used: std::time::Instant::now(),
        }
    }

    /// Keeps the set's planner for its next round. A planner whose set had no round for two resync
    /// periods is dropped: its policy was deleted (every live set has a round at least once a
    /// period), and it would otherwise hold the digests of all its Pods.
    fn keep_planner(&self, key: &str, mut planned: Planned) {
        planned.used = std::time::Instant::now();
        let idle = self.config.resync * 2;
        let mut planners = self.planners.lock().unwrap_or_else(|p| p.into_inner());
        planners.retain(|_, p| p.used.elapsed() < idle);
        planners.insert(key.to_string(), planned);
    }

    /// Forgets the set's planner (its settings turned invalid: no round until they are fixed).
    fn drop_planner(&self, key: &str) {
        self.planners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// One set's incremental planner and how far it has read the Pod index.
struct Planned {
    planner: SetPlanner<Arc<PodDigest>>,
    cursor: Cursor,
    /// When its last round ended.
    used: std::time::Instant,
}

fn pod_reference(p: &PodDigest) -> ObjectReference {
    pod_reference_of(p.namespace(), p.name(), p.uid())
}

/// An Event's `regarding` for a Pod.
fn pod_reference_of(namespace: &str, name: &str, uid: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: Some(name.into()),
        namespace: Some(namespace.into()),
        uid: Some(uid.into()),
        ..Default::default()
    }
}

/// Controller entry point for a policy object.
pub async fn reconcile(obj: Arc<DynamicObject>, ctx: Arc<Context>) -> Result<Action> {
    let target = Target::from_policy(&obj);
    let span = info_span!("reconcile", policy = %target.key, generation = target.generation);
    let next = reconcile_target(&target, &ctx).instrument(span).await?;
    Ok(match next {
        Next::AwaitChange => Action::await_change(),
        n => Action::requeue(n.delay(&ctx.config)),
    })
}

/// When to look at a set again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Pods the round chose wait for the write budget: at once (the budget paces the writes).
    Continue,
    /// An upgrade is in flight or a Pod was stale: soon.
    Busy,
    /// Nothing to do: the periodic safety net.
    Resync,
    /// Invalid settings: only a spec change helps.
    AwaitChange,
}

impl Next {
    fn delay(self, c: &Config) -> Duration {
        match self {
            Next::Continue => Duration::ZERO,
            Next::Busy => c.busy_requeue,
            Next::Resync | Next::AwaitChange => c.resync,
        }
    }
}

/// Log, count, and retry later; a failed round changes nothing the next one relies on.
pub fn error_policy(obj: Arc<DynamicObject>, err: &Error, ctx: Arc<Context>) -> Action {
    warn!(policy = %obj.name_any(), error = %err, "reconcile failed");
    ctx.metrics.failure(&obj.name_any(), err);
    Action::requeue(Duration::from_secs(10))
}

/// One round of one set: plan, write the status, then (leader only) the Pods, and say when to look
/// again.
pub async fn reconcile_target(target: &Target, ctx: &Context) -> Result<Next> {
    let _timer = ctx.metrics.start(&target.key);
    let set = match &target.set {
        Ok(set) => set,
        Err(problem) => return invalid_settings(target, &problem.to_string(), ctx).await,
    };
    settings_valid(target, set, ctx);
    let mut planned = ctx.planner(&target.key, set, namespace_labels(&ctx.namespaces));
    let next = plan_and_write(target, set, &mut planned.planner, ctx).await;
    ctx.keep_planner(&target.key, planned);
    next
}

/// The set's settings are valid (again): index it for its Pods' events, clear the invalid mark.
fn settings_valid(target: &Target, set: &SidecarSet, ctx: &Context) {
    ctx.index(set.name(), &target.key);
    {
        let mut mem = ctx.memory.lock().unwrap_or_else(|p| p.into_inner());
        mem.entry(target.key.clone()).or_default().invalid = None;
    }
    ctx.metrics
        .invalid
        .get_or_create(&SetLabels {
            set: target.key.clone(),
        })
        .set(0);
}

async fn plan_and_write(
    target: &Target,
    set: &SidecarSet,
    planner: &mut SetPlanner<Arc<PodDigest>>,
    ctx: &Context,
) -> Result<Next> {
    let conflicts = ctx.sets.conflicts_of(&target.key, set);
    let round = plan_round(target, set, planner, &conflicts, ctx).await?;
    publish_status(target, &round, ctx).await?;
    if !ctx.leadership.is_leader() {
        return Ok(Next::Busy);
    }
    announce_not_upgradable(target, &round, ctx).await;
    announce_uninjected(target, &round.status, planner, ctx).await;
    announce_budget(target, round.budget_warning.as_ref(), ctx).await;
    announce_conflicts(target, &conflicts, ctx).await;
    announce_pinned(target, round.status.pinned_revision_error.as_deref(), ctx).await;
    let applied = apply(target, &round, planner, ctx).await;
    announce_progress(target, &round, planner, ctx).await;
    let stale = applied?;
    Ok(next_round(target, &round, stale, ctx))
}

/// The revision registered, then the planner's round, with the revision in its status.
async fn plan_round(
    target: &Target,
    set: &SidecarSet,
    planner: &SetPlanner<Arc<PodDigest>>,
    conflicts: &[Conflict],
    ctx: &Context,
) -> Result<SetRound> {
    let registered = register_revision(target, set, planner, ctx).await?;
    let now = now_rfc3339();
    let options = Options {
        controller_revision: &registered.latest,
        hot_upgrade_version: target.set_version().parse().ok(),
        max_upgrades: Some(round::upgrades_per_round(ctx.budget.rate().per_second)),
    };
    let core = planner.round(&now, &options, false);
    let mut round = SetRound::from_planner(set, target.generation, planner, core);
    round.status.latest_revision = registered.latest.clone();
    round.status.collision_count = registered.collision_count;
    round.status.conflicts = conflicts.iter().map(ToString::to_string).collect();
    round.status.pinned_revision_error = registered.pinned.clone();
    for w in &round.warnings {
        warn!(warning = %w, "planner");
    }
    debug!(round = ?round.round, writes = round.writes.len(), "planned");
    Ok(round)
}

/// The round's status as metrics, and on the policy when it changed.
async fn publish_status(target: &Target, round: &SetRound, ctx: &Context) -> Result<()> {
    ctx.metrics.set_status(&target.key, &round.status);
    ctx.metrics
        .set_upgrades_pending(&target.key, round.upgrades_pending());
    ctx.metrics
        .max_unavailable_all_pods
        .get_or_create(&SetLabels {
            set: target.key.clone(),
        })
        .set(i64::from(round.budget_warning.is_some()));
    if let Ok(set) = &target.set {
        let matched = usize::try_from(round.status.matched_pods).unwrap_or(0);
        ctx.metrics
            .max_unavailable
            .get_or_create(&SetLabels {
                set: target.key.clone(),
            })
            .set(upgrade::max_unavailable(
                set.settings().update_strategy.max_unavailable.as_ref(),
                matched,
            ));
    }
    write_status(target, &round.status, Pace::AtMostOncePerSecond, ctx).await
}

/// Pods waiting for the write budget: at once; an upgrade in flight, a stale Pod, a status or a
/// progress Event waiting for its turn: soon.
fn next_round(target: &Target, round: &SetRound, stale: bool, ctx: &Context) -> Next {
    let in_flight = set_memory(ctx, target, |m| {
        !m.in_flight.is_empty()
            || m.status_deferred
            || !m.progress.started.is_empty()
            || !m.progress.finished.is_empty()
    });
    if round.waits_for_write_budget() {
        Next::Continue
    } else if stale || in_flight {
        Next::Busy
    } else {
        Next::Resync
    }
}

/// The collision count the policy's status annotation carries.
fn persisted_collision_count(target: &Target) -> i32 {
    SetStatus::collision_count_in(
        target
            .metadata()
            .and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.get(STATUS_ANNOTATION))
            .map(String::as_str),
    )
}

/// Records the settings' revision (leader only) and says which it is; Events for a failure and a
/// name collision, a log line when active revisions keep the history over its limit.
async fn register_revision(
    target: &Target,
    set: &SidecarSet,
    planner: &SetPlanner<Arc<PodDigest>>,
    ctx: &Context,
) -> Result<Registered> {
    let persisted = persisted_collision_count(target);
    if !ctx.leadership.is_leader() {
        // A standby writes nothing: the name only feeds patches it does not send.
        return Ok(Registered {
            latest: Revision::new(set, 0, persisted).name,
            collision_count: persisted,
            collided: Vec::new(),
            over_limit: None,
            pinned: None,
        });
    }
    let in_use = planner.revisions_in_use().map(str::to_string).collect();
    let s = SetRef {
        key: &target.key,
        set,
        owner: target.policy.as_ref().and_then(revisions::owner_reference),
        collision_count: persisted,
    };
    let reg = match ctx.revisions.register(s, &in_use).await {
        Ok(r) => r,
        Err(e) => {
            if let Some(r) = policy_reference(target) {
                ctx.event(&r, events::revision_failed(&e.to_string())).await;
            }
            return Err(e);
        }
    };
    for taken in &reg.collided {
        warn!(taken = %taken, latest = %reg.latest, collision_count = reg.collision_count, "revision name collision");
        if let Some(r) = policy_reference(target) {
            let n = events::revision_name_collision(
                taken,
                &reg.latest,
                reg.collision_count,
                set.revision_name(),
            );
            ctx.event(&r, n).await;
        }
    }
    let changed = {
        let mut mem = ctx.memory.lock().unwrap_or_else(|p| p.into_inner());
        let m = mem.entry(target.key.clone()).or_default();
        std::mem::replace(&mut m.over_limit, reg.over_limit) != reg.over_limit
    };
    if let Some(o) = reg.over_limit.filter(|_| changed) {
        warn!(limit = o.limit, kept = o.kept, namespace = %ctx.revisions.namespace(), "Pods still name more revisions than revisionHistoryLimit keeps; they are kept until no Pod names them");
    }
    Ok(reg)
}

async fn invalid_settings(target: &Target, message: &str, ctx: &Context) -> Result<Next> {
    ctx.drop_planner(&target.key);
    let status = SetStatus::invalid(
        target.generation,
        message.to_string(),
        persisted_collision_count(target),
    );
    ctx.metrics.set_status(&target.key, &status);
    ctx.metrics.set_upgrades_pending(&target.key, false);
    // No budget applies while no Pod is touched.
    ctx.metrics
        .max_unavailable_all_pods
        .get_or_create(&SetLabels {
            set: target.key.clone(),
        })
        .set(0);
    ctx.metrics.failure(
        &target.key,
        &Error::InvalidSettings {
            policy: target.key.clone(),
            message: message.to_string(),
        },
    );
    let changed = {
        let mut mem = ctx.memory.lock().unwrap_or_else(|p| p.into_inner());
        let m = mem.entry(target.key.clone()).or_default();
        let changed = m.invalid.as_deref() != Some(message);
        m.invalid = Some(message.to_string());
        changed
    };
    if changed {
        error!(error = %message, "invalid settings: no Pod is touched until they are fixed");
        if let Some(r) = policy_reference(target) {
            ctx.event(&r, events::invalid_settings(message)).await;
        }
    }
    write_status(target, &status, Pace::Now, ctx).await?;
    // A fix changes the spec, which triggers a new round.
    Ok(Next::AwaitChange)
}

fn policy_reference(target: &Target) -> Option<ObjectReference> {
    target
        .policy
        .as_ref()
        .map(|p| p.object_ref(&policy::api_resource()))
}

/// How soon a changed status is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pace {
    /// At once (a round that will not be followed by another soon).
    Now,
    /// At most once a [`STATUS_EVERY`] per set: during a rollout the counts change every round,
    /// and a write per round would cost as much as the upgrades. A change that has to wait is
    /// written by a round the set is requeued for ([`next_round`]).
    AtMostOncePerSecond,
}

const STATUS_EVERY: Duration = Duration::from_secs(1);

/// Writes the status annotation, only when it says something new.
async fn write_status(
    target: &Target,
    status: &SetStatus,
    pace: Pace,
    ctx: &Context,
) -> Result<()> {
    let Some(obj) = &target.policy else {
        // `--settings` mode: no policy object, so the status goes to the log (and the metrics).
        let mut mem = ctx.memory.lock().unwrap_or_else(|p| p.into_inner());
        let m = mem.entry(target.key.clone()).or_default();
        if m.logged_status.as_ref() != Some(status) {
            info!(status = %status.to_annotation(), "status");
            m.logged_status = Some(status.clone());
        }
        return Ok(());
    };
    let current = obj
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(STATUS_ANNOTATION))
        .map(String::as_str);
    if status.same_as(current) || !ctx.leadership.is_leader() {
        set_memory(ctx, target, |m| m.status_deferred = false);
        return Ok(());
    }
    let wait = pace == Pace::AtMostOncePerSecond
        && set_memory(ctx, target, |m| {
            let recent = m.status_written.is_some_and(|t| t.elapsed() < STATUS_EVERY);
            m.status_deferred = recent;
            recent
        });
    if wait {
        return Ok(());
    }
    set_memory(ctx, target, |m| {
        m.status_written = Some(std::time::Instant::now())
    });
    let api: Api<DynamicObject> = Api::all_with(ctx.writes.clone(), &policy::api_resource());
    let body = json!({"metadata": {"annotations": {STATUS_ANNOTATION: status.to_annotation()}}});
    let params = PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    let res = api.patch(&target.key, &params, &Patch::Merge(&body)).await;
    ctx.metrics.write(
        &target.key,
        "status",
        if res.is_ok() { "ok" } else { "error" },
    );
    match res {
        Err(e) if is_not_leader(&e) => return Err(Error::NotLeader),
        r => r?,
    };
    debug!(?status, "status annotation written");
    Ok(())
}

/// `f` over the set's memory.
fn set_memory<T>(ctx: &Context, target: &Target, f: impl FnOnce(&mut SetMemory) -> T) -> T {
    let mut mem = ctx.memory.lock().unwrap_or_else(|p| p.into_inner());
    f(mem.entry(target.key.clone()).or_default())
}

/// Kruise sends `NotUpgradablePods` every round; here only when the set of such Pods changes.
async fn announce_not_upgradable(target: &Target, round: &SetRound, ctx: &Context) {
    let now: BTreeSet<String> = round
        .not_upgradable()
        .map(|l| format!("{}/{}", l.namespace, l.name))
        .collect();
    let changed = {
        let mut mem = ctx.memory.lock().unwrap_or_else(|p| p.into_inner());
        let m = mem.entry(target.key.clone()).or_default();
        let changed = m.not_upgradable != now;
        m.not_upgradable = now.clone();
        changed
    };
    if !changed || now.is_empty() {
        return;
    }
    let example = round
        .not_upgradable()
        .next()
        .map(|l| format!("{}/{}: {}", l.namespace, l.name, l.reason))
        .unwrap_or_default();
    if let Some(r) = policy_reference(target) {
        ctx.event(&r, events::not_upgradable_pods(now.len(), &example))
            .await;
    }
    for l in round.not_upgradable() {
        let r = pod_reference_of(&l.namespace, &l.name, &l.uid);
        let n = events::pod_not_upgradable(&round.set_name, &l.reason.to_string());
        ctx.event(&r, n).await;
    }
}

/// How many uninjected Pods an Event names.
const UNINJECTED_EXAMPLES: usize = 3;

/// A Warning on the policy when the number of selected Pods without the sidecars changes (to a
/// non-zero number): they are never patched, so only a person recreating them helps.
async fn announce_uninjected(
    target: &Target,
    status: &SetStatus,
    planner: &SetPlanner<Arc<PodDigest>>,
    ctx: &Context,
) {
    let count = status.uninjected_pods;
    let changed = {
        let mut mem = ctx.memory.lock().unwrap_or_else(|p| p.into_inner());
        let m = mem.entry(target.key.clone()).or_default();
        let changed = m.uninjected != count;
        m.uninjected = count;
        changed
    };
    if !changed || count == 0 {
        return;
    }
    let examples: Vec<String> = planner
        .uninjected()
        .take(UNINJECTED_EXAMPLES)
        .map(|(_, p, _)| format!("{}/{}", p.namespace(), p.name()))
        .collect();
    warn!(
        count,
        ?examples,
        "Pods selected by the set lack its sidecars"
    );
    if let Some(r) = policy_reference(target) {
        ctx.event(&r, events::uninjected_pods(count as usize, &examples))
            .await;
    }
}

/// A Warning on the policy when the revision it pins goes missing (or the problem changes): its Pods
/// will be refused at admission, which nothing else says before a Deployment fails to scale.
async fn announce_pinned(target: &Target, problem: Option<&str>, ctx: &Context) {
    let changed = set_memory(ctx, target, |m| {
        let changed = m.pinned.as_deref() != problem;
        m.pinned = problem.map(str::to_string);
        changed
    });
    let Some(problem) = problem.filter(|_| changed) else {
        return;
    };
    warn!(%problem, "pinned revision");
    if let Some(r) = policy_reference(target) {
        ctx.event(&r, events::pinned_revision_missing(problem))
            .await;
    }
}

/// A Warning on the policy whenever its clashes with other sets change (to some), and a round for
/// the other sets involved before or now, whose own clashes changed with these.
async fn announce_conflicts(target: &Target, conflicts: &[Conflict], ctx: &Context) {
    let now: Vec<String> = conflicts.iter().map(ToString::to_string).collect();
    let others: BTreeSet<String> = conflicts
        .iter()
        .filter_map(|c| c.other(&target.key).map(str::to_string))
        .collect();
    let Some(before) = set_memory(ctx, target, |m| {
        (m.conflicts != now).then(|| {
            m.conflicts = now.clone();
            std::mem::replace(&mut m.conflicting, others.clone())
        })
    }) else {
        return;
    };
    ctx.sets.requeue(others.union(&before).map(String::as_str));
    if now.is_empty() {
        info!("no more conflicts with other sets");
        return;
    }
    warn!(conflicts = ?now, "the set conflicts with other sets that can select the same Pods");
    if let Some(r) = policy_reference(target) {
        ctx.event(&r, events::conflicting_sets(&now)).await;
    }
}

/// A budget that lets every matched Pod go at once is accepted, as Kruise does, and said loudly: a
/// Warning Event on the policy whenever the warning appears or the setting changes.
async fn announce_budget(target: &Target, warning: Option<&BudgetWarning>, ctx: &Context) {
    let now = warning.map(|w| w.setting().to_string());
    let changed = {
        let mut mem = ctx.memory.lock().unwrap_or_else(|p| p.into_inner());
        let m = mem.entry(target.key.clone()).or_default();
        let changed = m.budget_warning != now;
        m.budget_warning = now;
        changed
    };
    let Some(w) = warning.filter(|_| changed) else {
        return;
    };
    warn!(warning = %w, "maxUnavailable");
    if let Some(r) = policy_reference(target) {
        ctx.event(&r, events::max_unavailable_all_pods(&w.to_string()))
            .await;
    }
}

/// Applies the round's writes in order, after the conditions left to do from earlier rounds; each
/// written Pod goes into the planner as the API server answered (the next round sees it before the
/// watch does). Returns whether a Pod was stale or a condition is still left to do (so the round is
/// retried soon).
async fn apply(
    target: &Target,
    round: &SetRound,
    planner: &mut SetPlanner<Arc<PodDigest>>,
    ctx: &Context,
) -> Result<bool> {
    let mut again = write_pending_conditions(target, round, planner, ctx).await?;
    for w in &round.writes {
        if !ctx.leadership.is_leader() {
            return Err(Error::NotLeader);
        }
        let Some(before) = planner.get(w.pod_id).cloned() else {
            continue;
        };
        let kind = w.kind.label();
        match ctx.writer.apply(w).await {
            Ok(Outcome::Written(after, condition)) => {
                ctx.metrics.write(&target.key, kind, "ok");
                if let ConditionWrite::Pending(c, error) = condition {
                    condition_left_to_do(target, &before, c, &error, ctx);
                    again = true;
                }
                wrote(ctx, planner, w.pod_id, &before, &after);
                announce_write(target, round, w, &before, ctx).await;
            }
            Ok(Outcome::Stale) => {
                ctx.metrics.write(&target.key, kind, "conflict");
                info!(pod = %format!("{}/{}", w.namespace, w.name), "Pod changed since it was read; planning it again next round");
                again = true;
            }
            // The fence dropped the write: nothing was sent, and nothing failed.
            Err(Error::NotLeader) => return Err(Error::NotLeader),
            Err(e) => {
                ctx.metrics.write(&target.key, kind, "error");
                let text = e.to_string();
                ctx.event(
                    &pod_reference(&before),
                    events::upgrade_failed_on_pod(&round.set_name, &text),
                )
                .await;
                if let Some(pr) = policy_reference(target) {
                    ctx.event(
                        &pr,
                        events::upgrade_failed_on_policy(&w.namespace, &w.name, &text),
                    )
                    .await;
                }
                // Kruise aborts the round on the first failed Pod; so does this.
                return Err(e);
            }
        }
    }
    Ok(again)
}

/// A written Pod, as the API server returned it, into the overlay and the planner.
fn wrote(
    ctx: &Context,
    planner: &mut SetPlanner<Arc<PodDigest>>,
    id: usize,
    before: &PodDigest,
    after: &WatchedPod,
) {
    let after = ctx.pods.digest(&after.value());
    ctx.overlay
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .wrote(before, after.clone());
    planner.upsert(id, Arc::new(after));
}

/// The Pod's upgrade landed and its condition did not: remembered, to be written on its own.
fn condition_left_to_do(
    target: &Target,
    pod: &PodDigest,
    c: ConditionUpdate,
    error: &str,
    ctx: &Context,
) {
    ctx.metrics
        .write(&target.key, WriteKind::Condition.label(), "error");
    warn!(pod = %format!("{}/{}", pod.namespace(), pod.name()), %error, "the upgrade landed but its SidecarSetUpgradable condition did not; writing the condition on its own next round");
    set_memory(ctx, target, |m| {
        m.pending_conditions.insert(
            pod.uid().to_string(),
            PendingCondition {
                id: c.pod.index,
                upgradable: c.upgradable,
            },
        )
    });
}

/// The conditions left to do: each merged again from the Pod as the cache has it now (another set
/// may have marked it meanwhile) and written on its own, guarded by that version. A Pod gone, or
/// whose condition already says so, needs nothing more. Returns whether one is still left.
async fn write_pending_conditions(
    target: &Target,
    round: &SetRound,
    planner: &mut SetPlanner<Arc<PodDigest>>,
    ctx: &Context,
) -> Result<bool> {
    let pending: Vec<(String, PendingCondition)> = {
        let mem = ctx.memory.lock().unwrap_or_else(|p| p.into_inner());
        match mem.get(&target.key) {
            Some(m) if !m.pending_conditions.is_empty() => m
                .pending_conditions
                .iter()
                .map(|(uid, p)| (uid.clone(), p.clone()))
                .collect(),
            _ => return Ok(false),
        }
    };
    let forget = |uid: &str| {
        let mut mem = ctx.memory.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = mem.get_mut(&target.key) {
            m.pending_conditions.remove(uid);
        }
    };
    let now = now_rfc3339();
    let mut left = false;
    for (uid, p) in pending {
        let Some(before) = planner.get(p.id).filter(|d| d.uid() == uid).cloned() else {
            forget(&uid);
            continue;
        };
        let update = match ConditionUpdate::of(&before, p.id, &round.set_name, p.upgradable, &now) {
            Ok(Some(c)) => c,
            Ok(None) => {
                forget(&uid);
                continue;
            }
            Err(message) => {
                warn!(pod = %format!("{}/{}", before.namespace(), before.name()), %message, "the condition left to do cannot be merged");
                forget(&uid);
                continue;
            }
        };
        let w = PodWrite::condition_only(WriteKind::Condition, update);
        let kind = w.kind.label();
        match ctx.writer.apply(&w).await {
            Ok(Outcome::Written(after, _)) => {
                ctx.metrics.write(&target.key, kind, "ok");
                forget(&uid);
                wrote(ctx, planner, p.id, &before, &after);
            }
            Ok(Outcome::Stale) => {
                ctx.metrics.write(&target.key, kind, "conflict");
                left = true;
            }
            Err(Error::NotLeader) => return Err(Error::NotLeader),
            Err(e) => {
                ctx.metrics.write(&target.key, kind, "error");
                warn!(error = %e, "the condition left to do failed again; trying next round");
                left = true;
            }
        }
    }
    Ok(left)
}

async fn announce_write(
    target: &Target,
    round: &SetRound,
    w: &PodWrite,
    before: &PodDigest,
    ctx: &Context,
) {
    let images = w.images_text();
    match w.kind {
        WriteKind::Upgrade => {
            info!(pod = %format!("{}/{}", w.namespace, w.name), %images, "sidecar upgrade started");
            let upgraded = w
                .changes
                .iter()
                .map(|c| Upgraded {
                    container: c.container.clone(),
                    native: c.init_container,
                    image_id_before: before
                        .status_of(&c.container, c.init_container)
                        .map_or("", |s| &*s.image_id)
                        .to_string(),
                })
                .collect();
            set_memory(ctx, target, |m| {
                m.in_flight.insert(
                    before.uid().to_string(),
                    InFlight {
                        id: w.pod_id,
                        namespace: w.namespace.clone(),
                        name: w.name.clone(),
                        hash: round.status.hash.clone(),
                        upgraded,
                    },
                );
                m.progress
                    .started
                    .push(format!("{}/{}", w.namespace, w.name));
            });
        }
        WriteKind::Flip => {
            info!(pod = %format!("{}/{}", w.namespace, w.name), "hot upgrade: old twin reset to the empty image");
            // Kruise's per-Pod Event for the flip, kept for the tools that watch for it.
            ctx.event(
                &pod_reference(before),
                events::hot_upgrade_reset(&round.set_name, &w.containers().join(", ")),
            )
            .await;
        }
        WriteKind::MarkNotUpgradable | WriteKind::Condition => {}
    }
}

/// Notes the Pods whose upgrade this process started that are now updated with their upgraded
/// sidecars Ready on a new image ID, then tells the rollout's progress on the policy: at most every
/// [`events::PROGRESS_EVERY`] while Pods started or finished, and once when every matched Pod is
/// updated and ready.
async fn announce_progress(
    target: &Target,
    round: &SetRound,
    planner: &SetPlanner<Arc<PodDigest>>,
    ctx: &Context,
) {
    let notice = {
        let mut mem = ctx.memory.lock().unwrap_or_else(|p| p.into_inner());
        let Some(m) = mem.get_mut(&target.key) else {
            return;
        };
        let mut finished = Vec::new();
        m.in_flight.retain(|uid, f| {
            let Some(pod) = planner.get(f.id).filter(|p| p.uid() == uid) else {
                return false; // deleted
            };
            if f.hash != round.status.hash {
                return false; // superseded by a newer change of the settings
            }
            let done = planner.is_updated(f.id) && upgrade_finished(pod, &f.upgraded);
            if done {
                info!(pod = %format!("{}/{}", f.namespace, f.name), "sidecar upgrade finished");
                finished.push(format!("{}/{}", f.namespace, f.name));
            }
            !done
        });
        let p = &mut m.progress;
        p.finished.extend(finished);
        let st = &round.status;
        let complete = st.matched_pods > 0 && st.updated_ready_pods == st.matched_pods;
        let something = !p.started.is_empty() || !p.finished.is_empty();
        let due = p
            .last_sent
            .is_none_or(|t| t.elapsed() >= events::PROGRESS_EVERY);
        (something && (due || complete)).then(|| {
            p.last_sent = Some(std::time::Instant::now());
            events::upgrade_progress(
                &std::mem::take(&mut p.started),
                &std::mem::take(&mut p.finished),
                st.updated_ready_pods,
                st.matched_pods,
            )
        })
    };
    if let (Some(n), Some(r)) = (notice, policy_reference(target)) {
        ctx.event(&r, n).await;
    }
}

// === run ===

/// Starts the caches, waits for them, takes the Lease, then runs until a signal or a lost Lease.
pub async fn run(
    kube_config: kube::Config,
    config: Config,
    metrics: Arc<Metrics>,
    ready: Arc<std::sync::atomic::AtomicBool>,
) -> Result<()> {
    let client = Client::try_from(kube_config.clone())?;
    let leadership = match config.lease {
        Some(_) => Leadership::default(),
        None => Leadership::always(),
    };
    let budget = WriteBudget::new(config.writes, &metrics);
    let writes = write_client(
        kube_config,
        WriteGate::new(budget.clone(), leadership.clone(), &metrics),
    )?;
    let pods = Arc::new(PodIndex::default());
    let (namespaces, ns_writer) = reflector::store::<Namespace>();
    let pod_events = watch_pods(&client, config.namespace.as_deref(), pods.clone());
    let ns_events = watch_namespaces(&client, config.namespace.as_deref(), ns_writer);
    wait_for_caches(&pods, &namespaces).await?;
    ready.store(true, std::sync::atomic::Ordering::SeqCst);

    let Some(lease) = HeldLease::take(&client, &config, leadership, metrics.clone()).await else {
        return Ok(()); // a signal came while waiting for the Lease
    };
    let ctx = Arc::new(Context::new(
        client.clone(),
        writes,
        budget,
        metrics.clone(),
        pods,
        namespaces,
        lease.leadership.clone(),
        config.clone(),
    ));
    let lost = lease.lost.clone();
    let stop = async move {
        tokio::select! {
            _ = shutdown_signal() => info!("signal: shutting down"),
            _ = lease_lost(lost) => warn!("lease lost: stopping"),
        }
    };
    let controller = async {
        match &config.settings_file {
            Some(path) => run_file(path.clone(), ctx, pod_events, ns_events, stop).await,
            None => {
                run_policies(client, &config, ctx, pod_events, ns_events, stop).await;
                Ok(())
            }
        }
    };
    // On a signal, rounds in flight finish (their writes are still fenced). On a lost Lease they
    // are not waited for past a moment: one may hang on a stalled connection, and the process must
    // exit so that it restarts as a candidate (controller-runtime drops its graceful shutdown too).
    let lost = lease.lost.clone();
    let result = tokio::select! {
        r = controller => r,
        _ = async { lease_lost(lost).await; tokio::time::sleep(LOST_LEASE_GRACE).await } => {
            warn!(grace = ?LOST_LEASE_GRACE, "lease lost: not waiting longer for rounds in flight");
            Err(Error::NotLeader)
        }
    };
    metrics.leader.set(0);
    lease.end().await?;
    result
}

/// The client every write goes through: `gate` over a client of its own, so that the fence is
/// checked when the request is sent. That client's retry layer is off: it would resend a 429 from
/// below the gate, past the fence; the gate waits 429s out itself.
pub fn write_client(mut config: kube::Config, gate: WriteGate) -> Result<Client> {
    use tower::Layer;
    config.default_retry = false;
    let namespace = config.default_namespace.clone();
    let below = Client::try_from(config)?;
    let send = tower::service_fn(move |req| {
        let below = below.clone();
        async move { below.send(req).await }
    });
    Ok(Client::new(gate.layer(send), namespace))
}

/// The Pod watch, feeding the index; each event names the sets the Pod carries, whose policies are
/// then reconciled.
fn watch_pods(
    client: &Client,
    namespace: Option<&str>,
    index: Arc<PodIndex>,
) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded::<String>();
    let api: Api<WatchedPod> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    // The first list is read in pages of 500 (limit/continue), each page digested and dropped
    // before the next (crate::pod_index), so a 100k-Pod list never holds the fleet's JSON at once.
    // Not the streaming list: it needs the API server's WatchList feature and an etcd that answers
    // progress requests (hack/cluster/README.md), and pages bound the memory as well.
    let watch = watcher(api, watcher::Config::default().page_size(500))
        .default_backoff()
        .for_each(move |res| {
            match res {
                Ok(event) => {
                    for p in index.apply(event) {
                        for name in p.injected_sets() {
                            let _ = tx.unbounded_send(name.to_string());
                        }
                    }
                }
                Err(e) => warn!(error = %e, "Pod watch error"),
            }
            futures::future::ready(())
        });
    tokio::spawn(watch.instrument(info_span!("watch", resource = "pods")));
    rx
}

/// The Namespace watch (only `namespace`'s, when given), feeding the store; any change reconciles
/// every set (a `namespaceSelector` may now match differently).
fn watch_namespaces(
    client: &Client,
    namespace: Option<&str>,
    writer: reflector::store::Writer<Namespace>,
) -> mpsc::UnboundedReceiver<()> {
    let (tx, rx) = mpsc::unbounded::<()>();
    let config = match namespace {
        Some(ns) => watcher::Config::default().fields(&format!("metadata.name={ns}")),
        None => watcher::Config::default(),
    };
    let watch = reflector::reflector(
        writer,
        watcher(Api::<Namespace>::all(client.clone()), config),
    )
    .default_backoff()
    .touched_objects()
    .for_each(move |res| {
        match res {
            Ok(_) => {
                let _ = tx.unbounded_send(());
            }
            Err(e) => warn!(error = %e, "Namespace watch error"),
        }
        futures::future::ready(())
    });
    tokio::spawn(watch.instrument(info_span!("watch", resource = "namespaces")));
    rx
}

async fn wait_for_caches(pods: &PodIndex, namespaces: &Store<Namespace>) -> Result<()> {
    let sync = Duration::from_secs(120);
    tokio::time::timeout(sync, async {
        pods.wait_until_synced().await;
        let _ = namespaces.wait_until_ready().await;
    })
    .await
    .map_err(|_| Error::CacheSync(sync))?;
    info!(
        pods = pods.len(),
        namespaces = namespaces.state().len(),
        "caches synced"
    );
    Ok(())
}

/// This process's hold on the Lease; without leader election, always the leader.
struct HeldLease {
    leadership: Leadership,
    lock: Option<Arc<LeaseLock>>,
    /// The renewal loop, stopped before the Lease is released.
    renewing: Option<tokio::task::JoinHandle<()>>,
    /// Turns true when renewing stops (the Lease is lost).
    lost: Option<tokio::sync::watch::Receiver<bool>>,
}

impl HeldLease {
    /// Waits for the Lease and keeps renewing it; `None` when a signal comes first.
    async fn take(
        client: &Client,
        config: &Config,
        leadership: Leadership,
        metrics: Arc<Metrics>,
    ) -> Option<HeldLease> {
        let Some(cfg) = config.lease.clone() else {
            metrics.leader.set(1);
            return Some(HeldLease {
                leadership,
                lock: None,
                renewing: None,
                lost: None,
            });
        };
        let lock = Arc::new(LeaseLock::new(client.clone(), cfg));
        tokio::select! {
            _ = lock.acquire(&leadership) => {}
            _ = shutdown_signal() => return None,
        }
        metrics.leader.set(1);
        let (lost_tx, lost_rx) = tokio::sync::watch::channel(false);
        let (renew, l) = (lock.clone(), leadership.clone());
        let renewing = tokio::spawn(async move {
            renew.keep_renewing(&l).await;
            metrics.leader.set(0);
            metrics.leadership_lost.inc();
            let _ = lost_tx.send(true);
        });
        Some(HeldLease {
            leadership,
            lock: Some(lock),
            renewing: Some(renewing),
            lost: Some(lost_rx),
        })
    }

    /// After the controller stopped: a Lease still held is released (the next replica takes over at
    /// once); a lost one is an error, so the process exits and restarts as a candidate.
    async fn end(&self) -> Result<()> {
        let Some(lock) = &self.lock else {
            return Ok(());
        };
        // A renewal landing after the release would take the Lease back.
        if let Some(r) = &self.renewing {
            r.abort();
        }
        if !self.leadership.is_leader() {
            return Err(Error::NotLeader);
        }
        if let Err(e) = lock.release(&self.leadership).await {
            warn!(error = %e, "could not release the lease");
        }
        Ok(())
    }
}

/// How long rounds in flight may go on after the Lease was lost.
const LOST_LEASE_GRACE: Duration = Duration::from_secs(2);

/// Resolves when the Lease is lost; never without leader election.
async fn lease_lost(lost: Option<tokio::sync::watch::Receiver<bool>>) {
    match lost {
        Some(mut rx) => {
            if rx.wait_for(|lost| *lost).await.is_err() {
                // The renewal task is gone without saying: it was aborted at shutdown.
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

/// The policies' controller: one reconcile per policy, on its own changes, its Pods' events (by the
/// sets they carry) and any Namespace change.
async fn run_policies(
    client: Client,
    config: &Config,
    ctx: Arc<Context>,
    pod_events: mpsc::UnboundedReceiver<String>,
    ns_events: mpsc::UnboundedReceiver<()>,
    stop: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let ar = policy::api_resource();
    let api: Api<DynamicObject> = Api::all_with(client, &ar);
    let wc = watcher::Config::default()
        .labels(&policy::policy_selector(config.policy_selector.as_deref()));
    let (targets, ar2) = (ctx.clone(), ar.clone());
    let pod_triggers = pod_events.flat_map(move |set_name| {
        let refs: Vec<ObjectRef<DynamicObject>> = targets
            .targets_of(&set_name)
            .into_iter()
            .map(|k| ObjectRef::new_with(&k, ar2.clone()))
            .collect();
        stream::iter(refs)
    });
    let controller = Controller::new_with(api, wc, ar.clone());
    tokio::spawn(forget_gone_sets(controller.store(), ctx.metrics.clone()));
    let (requeue_tx, requeue_rx) = mpsc::unbounded::<String>();
    ctx.sets.attach(controller.store(), requeue_tx);
    let conflict_triggers = requeue_rx.map(move |key| ObjectRef::new_with(&key, ar.clone()));
    controller
        .with_config(ControllerConfig::default().concurrency(4))
        .reconcile_on(pod_triggers)
        .reconcile_on(conflict_triggers)
        .reconcile_all_on(ns_events)
        .graceful_shutdown_on(stop)
        .run(reconcile, error_policy, ctx)
        .for_each(|res| {
            if let Err(e) = res {
                debug!(error = %e, "controller");
            }
            futures::future::ready(())
        })
        .await;
}

/// Drops the metrics of sets whose policy left the store (deleted, or no longer selected), so that
/// their gauges do not stay at their last values and an alert on them resolves. Deletions reach no
/// reconcile (the controller is triggered by applied objects, and a set with invalid settings
/// schedules no requeue), so the store is compared with the sets the metrics know, every 10 s. A set
/// is known only once a reconcile of its policy ran, which the controller does for objects in its
/// store, and a relist swaps the store whole: a set missing from it is gone.
async fn forget_gone_sets(store: Store<DynamicObject>, metrics: Arc<Metrics>) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let live: std::collections::BTreeSet<String> =
            store.state().iter().map(|p| p.name_any()).collect();
        for set in metrics.sets() {
            if !live.contains(&set) {
                debug!(policy = %set, "policy gone; forgetting its metrics");
                metrics.forget_set(&set);
            }
        }
    }
}

/// `--settings FILE`: one set, no policy object; rounds on Pod and Namespace events and on requeue.
async fn run_file(
    path: PathBuf,
    ctx: Arc<Context>,
    mut pods: mpsc::UnboundedReceiver<String>,
    mut namespaces: mpsc::UnboundedReceiver<()>,
    stop: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let target = Target::from_file(&path)?;
    let mut stop = std::pin::pin!(stop);
    let mut wait = Duration::ZERO;
    loop {
        tokio::select! {
            _ = &mut stop => return Ok(()),
            _ = tokio::time::sleep(wait) => {}
            Some(_) = pods.next() => {}
            Some(_) = namespaces.next() => {}
        }
        // Collapse a burst of events into one round.
        while pods.try_recv().is_ok() {}
        while namespaces.try_recv().is_ok() {}
        let span = info_span!("reconcile", set = %target.key);
        wait = match reconcile_target(&target, &ctx).instrument(span).await {
            Ok(next) => next.delay(&ctx.config),
            Err(e) => {
                warn!(error = %e, "reconcile failed");
                ctx.metrics.failure(&target.key, &e);
                Duration::from_secs(10)
            }
        };
    }
}

pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
