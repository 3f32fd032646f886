//! In-place sidecar upgrades: the pure planner behind the reconciler (docs/upgrade-planning.md,
//! docs/hot-upgrade.md).
//!
//! ```text
//!  Pod JSON --(once per watch event)--> PodDigest
//!  SidecarSet + PodDigests + Namespace labels + now
//!      --> match --> status counts --> [NotUpdate | paused | hot-upgrade flips | all updated | upgrade round]
//!      --> Plan { status, flips, conditions, upgrades (ordered, each one JSON patch), skipped (each with a Reason) }
//! ```
//!
//! [`plan_digests`] does no I/O and never panics on any Pod: it reads digests ([`PodDigest`]: what
//! planning reads of a Pod, its annotations already parsed), costs O(n log n) in the number of Pods,
//! and returns what to write; [`plan`] digests JSON Pods first. The caller (the
//! reconciler) writes status, then the flips in order (stopping at the first failure), then the
//! `conditions` (not-upgradable Pods, before any upgrade), then each upgrade patch followed by its
//! condition, stopping the round at the first failure as Kruise does. Every patch starts with a `test`
//! of `metadata.resourceVersion`, so a Pod changed since it was listed rejects the patch instead of
//! losing the other writer's change; the next round plans again from fresh Pods.
//!
//! # The rules, as Kruise applies them
//!
//! * **Matched** Pods (`matchedPods`): Namespace matches `namespaceSelector` (given labels; a
//!   Namespace whose labels are not given does not match), labels match `selector`, active, named in
//!   `kruise.io/sidecarset-injected-list`, and every sidecar of `containers` present (hot upgrade:
//!   both twins and an entry in the working annotation).
//! * **Updated**: the Pod's `kruise.io/sidecarset-hash` entry equals the set's hash.
//!   **Upgradable**: its `…-hash-without-image` entry equals the set's image-less hash (only images
//!   changed since injection). **Ready**: idle hot twins on the empty image, Running, Ready, not
//!   deleting. **State-consistent**: Kruise's walk (digest images against the status imageID, else
//!   the in-place-update record; docs/upgrade-planning.md#state-consistent).
//! * **Candidates**: not updated, matching `updateStrategy.selector`, upgradable, no Ready sidecar
//!   still finishing an earlier upgrade. Ordered by Kubernetes' `ActivePods`, then
//!   `priorityStrategy`, then `scatterStrategy`; the last `partition` candidates stay old;
//!   `maxUnavailable` bounds the Pods made unavailable, not-ready candidates being taken for free.
//! * **Hot upgrade**: a round that can finish hot upgrades (reset idle twins,
//!   docs/hot-upgrade.md#the-flip) does only that, for every Pod ready for it, whatever the budget,
//!   partition or selector.
//!
//! # Decisions where Kruise could not be copied or left a choice
//!
//! Each is also in docs/differences-from-kruise.md, with its reason.
//!
//! * **`imagePullPolicy` that follows the tag** (docs/upgrade-planning.md#what-may-change-in-place).
//!   The settings are re-applied whole, so a
//!   sidecar without an explicit `imagePullPolicy` gets it from its tag (`:latest` or no tag →
//!   `Always`, else `IfNotPresent`), and moving `filebeat:7.16.2` → `filebeat:latest` changes the
//!   image-less hash: Kruise would call every Pod "not upgradable". The API server lets a running Pod
//!   change `spec.containers[*].image` and `spec.initContainers[*].image` and nothing else of a
//!   container (`ValidatePodUpdate`; resources only through the `resize` subresource), so the Pod's
//!   `imagePullPolicy` cannot follow. Decision: when a Pod's recorded image-less hash differs from the
//!   set's but equals the image-less hash recomputed with every tag-derived policy re-derived from the
//!   image the Pod runs now, the difference is only the tag rule, and the Pod is upgraded: its image
//!   is replaced, its `imagePullPolicy` stays as it is, and the same patch rewrites the Pod's
//!   image-less hash entry to the set's current value (so the next image-only change is upgradable
//!   too). Pods created after the change get the new policy at injection. A policy is taken as
//!   tag-derived when it equals what the tag rule gives (explicit and defaulted values are the same
//!   thing once defaulted). [`PodPatch::pull_policy_followed_tag`] marks such upgrades.
//! * **Native sidecars** (init containers with `restartPolicy: Always`) are upgraded like containers
//!   (Kruise never does): `/spec/initContainers/<i>/image`, completion through
//!   `status.initContainerStatuses`, counted in readiness and consistency. Matching still requires
//!   only `containers`, as Kruise. Hot-upgrade native twins are never swapped (as in Kruise); a Pod
//!   whose hot native sidecar's image differs is reported [`Change::HotUpgradeNativeSidecar`].
//! * **Never lose another set's record.** A `kruise.io/sidecarset-hash` or
//!   `…-inplace-update-state` annotation that does not parse leaves the Pod alone with
//!   [`Reason::UnreadableAnnotation`] (Kruise would overwrite it and drop other sets' entries); the
//!   Pod still counts in the status as Kruise counts it (not updated; not state-consistent).
//!   Such Pods, and Pods whose `patchPodMetadata` MergePatchJson cannot apply, are not candidates
//!   (they take no partition or budget slot).
//! * **Order ties**: Kruise sorts with Go's unstable sort and breaks `priorityStrategy` ties by the
//!   Pods' position in its informer's list (random). Here every sort is stable and ties keep the
//!   input order, then the `ActivePods` order: a plan is a function of its input.
//! * **Hot-upgrade version annotations**: Kruise writes the SidecarSet's resourceVersion; this
//!   project has no SidecarSet object. [`Options::hot_upgrade_version`] is used when it exceeds every
//!   version the Pod's twins carry, else the Pod's highest version + 1 (the sidecar only compares
//!   VERSION with VERSION_ALT, docs/hot-upgrade.md#version-annotations).
//! * The in-place-update record (docs/hashes-and-annotations.md#in-place-update-state) is written in
//!   Kruise's shape
//!   (`{"revision","updateTimestamp","lastContainerStatuses":{"c":{"imageID"}}}`); an existing entry
//!   keeps its fields (Kruise's quirk of keeping revision and timestamp included).
//! * `notUpgradablePods` counts the Pods Kruise would mark not upgradable in an upgrade round (not
//!   updated, selected, image-less hash differing), whatever the round; Pods with an unreadable
//!   annotation are reported with their own reason instead and get no condition.

mod budget;
mod condition;
mod explain;
mod image_match;
mod intern;
mod order;
mod patch;
mod planner;
mod pod;
mod pull_policy;
mod reason;
mod set;
mod state;

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::Value;

use crate::SidecarSet;
use crate::annotations::{self, HashEntry};
use crate::selector;

pub use budget::{BudgetWarning, budget_warning, max_unavailable};
pub use condition::{CONDITION_TYPE, condition_patch, upgradable_condition};
pub use intern::{Interner, Str};
pub use planner::SetPlanner;
pub use pod::{CtrStatus, PodDigest};
pub use reason::{Change, Reason};

use pod::set_hash;
use set::SetCtx;
use state::{Matched, working_map};

/// What the caller knows besides the Pods.
#[derive(Clone, Debug, Default)]
pub struct Options<'a> {
    /// The set's current ControllerRevision name (Kruise's `status.latestRevision`), written as the
    /// hash entry's `controllerRevision`; empty leaves it out.
    pub controller_revision: &'a str,
    /// The version written into `version.sidecarset.kruise.io/<twin>` on a hot upgrade (Kruise: the
    /// SidecarSet's resourceVersion). See the module docs.
    pub hot_upgrade_version: Option<u64>,
    /// The most upgrades one round writes (`None`: all it chooses). A caller whose writes are paced
    /// passes what it can send now: the patches of the others are not built, and they are left with
    /// [`Reason::WaitingForWriteBudget`] for the next round, which plans them again from fresh state.
    /// Nothing else of the plan changes: the budget and partition are those of the whole round.
    pub max_upgrades: Option<usize>,
}

/// The status Kruise writes on the SidecarSet, plus the not-upgradable count
/// (docs/upgrade-planning.md#status-arithmetic).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub matched_pods: i32,
    pub updated_pods: i32,
    pub ready_pods: i32,
    pub updated_ready_pods: i32,
    pub not_upgradable_pods: i32,
    /// Pods the set selects (active, Namespace and labels) that do not carry its sidecars: created
    /// before the set, or while the webhook failed open. Not in `matchedPods`, as in Kruise; never
    /// patched, since a running Pod's containers cannot be added to.
    pub uninjected_pods: i32,
}

/// Which branch of Kruise's reconcile (docs/upgrade-planning.md#a-round) this round takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Round {
    /// `updateStrategy.type: NotUpdate`: status only.
    NotUpdate,
    /// `updateStrategy.paused`: status only.
    Paused,
    /// Hot upgrades to finish: flips only, no new upgrade this round.
    Flips,
    /// Every matched Pod is updated.
    AllUpdated,
    /// Conditions and upgrades.
    Upgrade,
}

/// A Pod named in the plan: its position in the input and its identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodRef {
    pub index: usize,
    pub namespace: String,
    pub name: String,
}

impl PodRef {
    pub fn of(index: usize, pod: &PodDigest) -> Self {
        PodRef {
            index,
            namespace: pod.namespace().to_string(),
            name: pod.name().to_string(),
        }
    }
}

/// One container image the patch replaces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerChange {
    pub container: String,
    /// In `spec.initContainers` (a native sidecar).
    pub init_container: bool,
    pub from: String,
    pub to: String,
}

/// The `SidecarSetUpgradable` condition for one Pod, and the strategic merge patch for its `status`
/// subresource that sets it (guarded by the Pod's `resourceVersion`: [`condition_patch`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConditionUpdate {
    pub pod: PodRef,
    pub upgradable: bool,
    pub condition: Value,
    pub patch: Value,
}

impl ConditionUpdate {
    /// `set_name`'s mark on `pod` as `upgradable`, merged into the Pod's current condition; `None`
    /// when the condition already says so (Kruise patches only on change). An unreadable message is
    /// an error, as in Kruise: overwriting it would drop other sets' marks.
    pub fn of(
        pod: &PodDigest,
        index: usize,
        set_name: &str,
        upgradable: bool,
        now: &str,
    ) -> Result<Option<Self>, String> {
        let old = pod.upgradable_condition.as_deref();
        Ok(
            upgradable_condition(old, set_name, upgradable, now)?.map(|c| ConditionUpdate {
                pod: PodRef::of(index, pod),
                upgradable,
                patch: condition_patch(&c, pod.resource_version()),
                condition: c,
            }),
        )
    }
}

/// `patch` (the core's Pod patch, whose first operation is the `test` of the resourceVersion the
/// plan read) guarded by `resource_version` instead. For the upgrade's own condition, written just
/// before it: that write moved the Pod on by itself, and its precondition made sure nothing else
/// did in between, so the Pod is still the one the plan read, at the version the condition returned.
pub fn retarget(patch: &json_patch::Patch, resource_version: &str) -> json_patch::Patch {
    let mut ops = patch.0.clone();
    if let Some(json_patch::PatchOperation::Test(t)) = ops.first_mut()
        && t.path.as_str() == "/metadata/resourceVersion"
    {
        t.value = Value::String(resource_version.to_string());
    }
    json_patch::Patch(ops)
}

/// One Pod write: an RFC 6902 JSON patch, sent as it is.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodPatch {
    pub pod: PodRef,
    /// Always starts with a `test` of `/metadata/resourceVersion` (the version the plan read), so
    /// the API server refuses it whole once the Pod changed.
    pub patch: json_patch::Patch,
    pub changes: Vec<ContainerChange>,
    /// The Pod's image-less hash differed only by tag-derived pull policies; the patch rewrites it.
    pub pull_policy_followed_tag: bool,
    /// After an upgrade succeeds: the condition marking the set upgradable, when it changes.
    pub condition: Option<ConditionUpdate>,
}

/// A Pod left alone, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Skipped {
    pub pod: PodRef,
    pub reason: Reason,
}

/// Something the caller should log: the plan went on without it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Warning {
    pub pod: PodRef,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    pub status: Status,
    pub round: Round,
    /// Hot-upgrade flips, in input order; the caller stops at the first failure.
    pub flips: Vec<PodPatch>,
    /// `SidecarSetUpgradable` to write before any upgrade (Pods marked not upgradable).
    pub conditions: Vec<ConditionUpdate>,
    /// The Pods to upgrade now, in upgrade order.
    pub upgrades: Vec<PodPatch>,
    /// Every other input Pod with its reason, in input order.
    pub skipped: Vec<Skipped>,
    pub warnings: Vec<Warning>,
}

impl Plan {
    pub fn reason_of(&self, name: &str) -> Option<&Reason> {
        self.skipped
            .iter()
            .find(|s| s.pod.name == name)
            .map(|s| &s.reason)
    }
}

/// Decides whether a Pod is matched (docs/upgrade-planning.md#what-is-matched); `Err` is why not.
fn match_pod(
    ctx: &SetCtx<'_>,
    pod: &PodDigest,
    namespaces: &BTreeMap<String, selector::Labels>,
    ns_memo: &mut HashMap<Str, bool>,
) -> Result<BTreeMap<String, String>, Reason> {
    let s = ctx.set.settings();
    if let Some(problem) = pod.problem() {
        return Err(Reason::InvalidPod {
            problem: problem.to_string(),
        });
    }
    if let Some(ns_sel) = &s.namespace_selector {
        let ok = match ns_memo.get(&pod.namespace) {
            Some(ok) => *ok,
            None => {
                let ok = namespaces
                    .get(pod.namespace())
                    .is_some_and(|labels| selector::matches(ns_sel, labels));
                ns_memo.insert(pod.namespace.clone(), ok);
                ok
            }
        };
        if !ok {
            return Err(Reason::NamespaceNotSelected {
                namespace: pod.namespace().to_string(),
            });
        }
    }
    if !selector::selects(s.selector.as_ref(), |k| pod.label(k)) {
        return Err(Reason::NotSelected);
    }
    if !pod.is_active() {
        return Err(Reason::NotActive);
    }
    if !pod.injected_by(ctx.name()) {
        return Err(Reason::NotInjected);
    }
    let working = if ctx.has_hot {
        working_map(pod)
    } else {
        BTreeMap::new()
    };
    let mut missing = Vec::new();
    for sc in ctx.sidecars.iter().filter(|c| !c.native) {
        if sc.hot.is_some() {
            let (a, b) = sc.twins();
            for twin in [a, b] {
                if !pod.has_any_container(&twin) {
                    missing.push(twin);
                }
            }
            if !working.contains_key(&sc.name) {
                missing.push(format!("{} (working annotation)", sc.name));
            }
        } else if !pod.has_any_container(&sc.name) {
            missing.push(sc.name.clone());
        }
    }
    if !missing.is_empty() {
        return Err(Reason::SidecarsMissing {
            containers: missing,
        });
    }
    Ok(working)
}

/// Whether a candidate may be upgraded, as far as its image-less hash says.
enum Upgradability {
    Yes,
    /// Only tag-derived pull policies differ: upgrade and rewrite the image-less entry.
    PullPolicyFollowedTag(annotations::HashEntries),
    No(Vec<Change>),
    Unreadable(String),
}

fn upgradability(
    ctx: &SetCtx<'_>,
    m: &Matched<'_>,
    rule: &mut pull_policy::PullPolicyRule,
    now: &str,
) -> Upgradability {
    let recorded = match set_hash(&m.pod.kruise.hashes_without_image, ctx.name()) {
        Ok(h) => h,
        Err(e) => return Upgradability::Unreadable(e.to_string()),
    };
    if recorded == ctx.set.hash_without_image() {
        return Upgradability::Yes;
    }
    let working = |name: &str| state::twins_by_role(&m.working, name).0;
    if rule.explains(m.pod, &working, recorded) {
        let mut map = match state::hash_map(m.pod, annotations::HASH_WITHOUT_IMAGE) {
            Ok(map) => map,
            Err(e) => return Upgradability::Unreadable(e),
        };
        map.insert(
            ctx.name().to_string(),
            HashEntry {
                update_timestamp: Some(now.to_string()),
                hash: ctx.set.hash_without_image().to_string(),
                sidecar_set_name: ctx.name().to_string(),
                sidecar_list: Some(ctx.sidecar_list.clone()),
                controller_revision: String::new(),
            },
        );
        return Upgradability::PullPolicyFollowedTag(map);
    }
    if recorded.is_empty() {
        return Upgradability::No(vec![Change::NoRecord]);
    }
    Upgradability::No(explain::changes(ctx, m))
}

/// A hot-upgrade native sidecar whose image differs cannot be upgraded (twins in initContainers are
/// never swapped).
fn hot_native_changes(ctx: &SetCtx<'_>, m: &Matched<'_>) -> Vec<Change> {
    ctx.sidecars
        .iter()
        .filter(|c| c.native && c.hot.is_some())
        .filter(|c| {
            let (working, _) = state::twins_by_role(&m.working, &c.name);
            m.pod
                .image_of(&working, true)
                .is_some_and(|img| !image_match::runs(img, &c.image))
        })
        .map(|c| Change::HotUpgradeNativeSidecar {
            container: c.name.clone(),
        })
        .collect()
}

/// The legacy `{"<set>": "<hash>"}` image-less annotation, converted when the Pod is patched anyway
/// (Kruise converts it on upgrade too).
fn legacy_hash_without_image(m: &Matched<'_>) -> Option<annotations::HashEntries> {
    let raw = m.pod.annotation(annotations::HASH_WITHOUT_IMAGE)?;
    let v: Value = serde_json::from_str(raw).ok()?;
    if !v.as_object()?.values().any(Value::is_string) {
        return None;
    }
    annotations::parse_hash_map(raw).ok()
}

/// Whether a round of `set` needs to see `pod`: the set injected it, or the Pod's labels match the
/// set's `selector` (an uninjected Pod, counted in [`Status::uninjected_pods`]). Leaving every other
/// Pod out changes neither the status nor the writes, and spares classifying the rest of a cluster.
pub fn concerns(set: &SidecarSet, pod: &PodDigest) -> bool {
    pod.injected_by(set.name())
        || selector::selects(set.settings().selector.as_ref(), |k| pod.label(k))
}

/// Plans one round of in-place upgrades for `set` over Pods as JSON: [`plan_digests`] over their
/// digests.
pub fn plan<P: Borrow<Value>>(
    set: &SidecarSet,
    pods: &[P],
    namespaces: &BTreeMap<String, selector::Labels>,
    now: &str,
    options: &Options<'_>,
) -> Plan {
    let mut interner = Interner::default();
    let digests: Vec<PodDigest> = pods
        .iter()
        .map(|p| PodDigest::new(p.borrow(), &mut interner))
        .collect();
    plan_digests(set, &digests, namespaces, now, options)
}

/// Plans one round of in-place upgrades for `set` over `pods`.
///
/// `namespaces` maps Namespace names to their labels, needed only when the set has a
/// `namespaceSelector`. `now` (RFC 3339, UTC) is written into the timestamps. `pods` may be owned
/// digests or references (`&[&PodDigest]`, `&[Arc<PodDigest>]`), so a cache is never copied.
pub fn plan_digests<P: Borrow<PodDigest>>(
    set: &SidecarSet,
    pods: &[P],
    namespaces: &BTreeMap<String, selector::Labels>,
    now: &str,
    options: &Options<'_>,
) -> Plan {
    let mut planner = SetPlanner::new(set.clone(), namespaces.clone());
    planner.extend(pods.iter().enumerate().map(|(i, p)| (i, p.borrow())));
    planner.round(now, options, true)
}
