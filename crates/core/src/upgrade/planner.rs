//! [`SetPlanner`]: one set's planning state, kept between rounds and updated Pod by Pod.
//!
//! Everything the planner decides about a Pod alone (matched or why not, updated, ready, consistent,
//! upgradable, blocked, its place in the upgrade order) is decided when the Pod is put in
//! ([`SetPlanner::upsert`]) and kept with its contribution to the status counts. A round then only
//! does what depends on the whole fleet: the branch of the round, the budget walk over the ordered
//! candidates (a B-tree, so it reads as many candidates as it chooses), and the patches of the Pods it
//! chooses. After one Pod event a round costs a few B-tree operations, not a pass over the fleet.
//! `scatterStrategy` is the exception: it spreads candidates by the label counts of every matched Pod,
//! so its rounds order all candidates anew.
//!
//! [`super::plan_digests`] is this planner filled with a list of Pods and asked for one round, so the
//! one-shot planner and the reconciler's incremental one are the same code. Ties in the order go to the
//! smaller id: the position in the list for `plan_digests`, the order in which the reconciler first saw
//! each Pod for the incremental planner.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap, btree_map};
use std::sync::Mutex;

use crate::SidecarSet;
use crate::annotations;
use crate::selector;

use super::budget;
use super::condition::upgradable_condition;
use super::intern::Str;
use super::order::{self, OrderKey};
use super::pod::PodDigest;
use super::pull_policy::PullPolicyRule;
use super::set::SetCtx;
use super::state::{self, Matched, working_map};
use super::{
    Change, ConditionUpdate, Options, Plan, PodPatch, PodRef, Reason, Round, Skipped, Status,
    Upgradability, Warning, hot_native_changes, legacy_hash_without_image, match_pod, patch,
    upgradability,
};

/// Whether a not-upgradable Pod's condition must be written.
#[derive(Clone, Debug, PartialEq)]
enum Mark {
    Unchanged,
    Write,
    /// Its condition's message does not read; the round warns and writes nothing.
    Unreadable(String),
}

/// What an upgrade round does with a matched Pod, as far as the Pod alone decides.
#[derive(Clone, Debug, PartialEq)]
enum Fate {
    Updated,
    Excluded,
    Leave(Reason),
    NotUpgradable { changed: Vec<Change>, mark: Mark },
    Candidate(OrderKey),
}

#[derive(Clone, Debug, PartialEq)]
struct MatchedPod {
    updated: bool,
    /// Kruise's `IsPodReady` for this set.
    ready: bool,
    /// Counted in `readyPods` (consistent and ready).
    ready_and_consistent: bool,
    /// Updated but not available: takes a slot of `maxUnavailable`.
    unavailable: bool,
    /// Counted in `notUpgradablePods` (image-less hash differs).
    not_upgradable: bool,
    /// Between a hot upgrade and its flip.
    hot_pending: bool,
    flip_ready: bool,
    fate: Fate,
}

#[derive(Clone, Debug, PartialEq)]
enum Class {
    Unmatched(Reason),
    /// Held inline, not boxed: a from-scratch round classifies every Pod, and an allocation (and
    /// free) per matched Pod cost more than the wider map entries.
    Matched(MatchedPod),
}

struct Entry<P> {
    pod: P,
    class: Class,
}

#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    status: Status,
    unavailable: i64,
}

impl Counts {
    fn add(&mut self, c: &Class, sign: i32) {
        let s = &mut self.status;
        let m = match c {
            Class::Matched(m) => m,
            Class::Unmatched(r) => {
                s.uninjected_pods += sign * i32::from(r.is_uninjected());
                return;
            }
        };
        s.matched_pods += sign;
        s.updated_pods += sign * i32::from(m.updated);
        s.ready_pods += sign * i32::from(m.ready_and_consistent);
        s.updated_ready_pods += sign * i32::from(m.ready_and_consistent && m.updated);
        s.not_upgradable_pods += sign * i32::from(m.not_upgradable);
        self.unavailable += i64::from(sign) * i64::from(m.unavailable);
    }
}

/// One set's Pods, classified as they arrive. `P` is how the Pods are held (`&PodDigest`,
/// `Arc<PodDigest>`); ids are the caller's.
pub struct SetPlanner<P> {
    set: SidecarSet,
    namespaces: BTreeMap<String, selector::Labels>,
    ns_memo: HashMap<Str, bool>,
    /// Memoises image-less hashes; rounds only read the planner (and may share it), so it sits
    /// behind a lock.
    rule: Mutex<PullPolicyRule>,
    pods: BTreeMap<usize, Entry<P>>,
    idx: Indexes,
    /// How many of the Pods name each ControllerRevision in this set's hash entry: the revisions
    /// history truncation must keep (Kruise's `filterActiveRevisions`).
    revisions: BTreeMap<Str, usize>,
}

/// What the Pods contribute to a round, kept as they come and go.
#[derive(Default)]
struct Indexes {
    candidates: BTreeSet<(OrderKey, usize)>,
    /// Not-upgradable Pods whose condition must be written (or does not read).
    marks: BTreeSet<usize>,
    flips: BTreeSet<usize>,
    /// Matched Pods that cannot be upgraded in place (a condition written or not).
    stuck: BTreeSet<usize>,
    /// Selected Pods without the set's sidecars ([`Reason::is_uninjected`]).
    uninjected: BTreeSet<usize>,
    counts: Counts,
}

impl Indexes {
    fn add(&mut self, id: usize, class: &Class) {
        self.counts.add(class, 1);
        let m = match class {
            Class::Matched(m) => m,
            Class::Unmatched(r) => {
                if r.is_uninjected() {
                    self.uninjected.insert(id);
                }
                return;
            }
        };
        match &m.fate {
            Fate::Candidate(key) => {
                self.candidates.insert((*key, id));
            }
            Fate::NotUpgradable { mark, .. } => {
                self.stuck.insert(id);
                if *mark != Mark::Unchanged {
                    self.marks.insert(id);
                }
            }
            _ => {}
        }
        if m.flip_ready {
            self.flips.insert(id);
        }
    }

    fn forget(&mut self, id: usize, class: &Class) {
        self.counts.add(class, -1);
        if let Class::Matched(m) = class
            && let Fate::Candidate(key) = &m.fate
        {
            self.candidates.remove(&(*key, id));
        }
        self.marks.remove(&id);
        self.flips.remove(&id);
        self.stuck.remove(&id);
        self.uninjected.remove(&id);
    }
}

/// Counts (`add`) or uncounts the ControllerRevision `pod` names for `set`.
fn count_revision(counts: &mut BTreeMap<Str, usize>, set: &str, pod: &PodDigest, add: bool) {
    let Some(name) = pod.controller_revision(set) else {
        return;
    };
    if add {
        // The key is allocated only for a revision not counted yet.
        match counts.get_mut(name) {
            Some(n) => *n += 1,
            None => {
                counts.insert(Str::from(name), 1);
            }
        }
    } else if let Some(n) = counts.get_mut(name) {
        *n -= 1;
        if *n == 0 {
            counts.remove(name);
        }
    }
}

/// Takes a Pod that leaves the planner (or is replaced) out of the indexes and revision counts.
fn forget<P: Borrow<PodDigest>>(
    idx: &mut Indexes,
    revisions: &mut BTreeMap<Str, usize>,
    set: &str,
    id: usize,
    old: &Entry<P>,
) {
    idx.forget(id, &old.class);
    count_revision(revisions, set, old.pod.borrow(), false);
}

impl<P: Borrow<PodDigest>> SetPlanner<P> {
    /// `namespaces`: Namespace labels by name, read only when the set has a `namespaceSelector`.
    pub fn new(set: SidecarSet, namespaces: BTreeMap<String, selector::Labels>) -> Self {
        SetPlanner {
            rule: Mutex::new(PullPolicyRule::new(&set)),
            set,
            namespaces,
            ns_memo: HashMap::new(),
            pods: BTreeMap::new(),
            idx: Indexes::default(),
            revisions: BTreeMap::new(),
        }
    }

    pub fn set(&self) -> &SidecarSet {
        &self.set
    }

    /// Puts in (or replaces) the Pod `id`.
    pub fn upsert(&mut self, id: usize, pod: P) {
        self.extend([(id, pod)]);
    }

    /// Puts in (or replaces) several Pods, sharing the per-set work between them.
    pub fn extend(&mut self, pods: impl IntoIterator<Item = (usize, P)>) {
        let ctx = SetCtx::new(&self.set);
        let rule = self.rule.get_mut().unwrap_or_else(|p| p.into_inner());
        let mut classify_one =
            |pod: &PodDigest| classify(&ctx, &self.namespaces, &mut self.ns_memo, rule, pod);
        let mut pods = pods.into_iter();
        let mut next = None;
        if self.pods.is_empty() {
            // A planner filled from scratch (`plan_digests`, the reconciler's first round) with ids
            // in increasing order: its map of Pods is built in bulk, not a B-tree insert per Pod.
            // The first id out of order ends this and goes on one Pod at a time.
            let mut entries: Vec<(usize, Entry<P>)> = Vec::with_capacity(pods.size_hint().0);
            for (id, pod) in pods.by_ref() {
                if entries.last().is_some_and(|(last, _)| *last >= id) {
                    next = Some((id, pod));
                    break;
                }
                let class = classify_one(pod.borrow());
                self.idx.add(id, &class);
                count_revision(&mut self.revisions, self.set.name(), pod.borrow(), true);
                entries.push((id, Entry { pod, class }));
            }
            self.pods = BTreeMap::from_iter(entries);
        }
        for (id, pod) in next.into_iter().chain(pods) {
            let class = classify_one(pod.borrow());
            // One search of the map per Pod, whether it replaces one or not.
            let entry = match self.pods.entry(id) {
                btree_map::Entry::Occupied(mut o) => {
                    forget(
                        &mut self.idx,
                        &mut self.revisions,
                        self.set.name(),
                        id,
                        o.get(),
                    );
                    o.insert(Entry { pod, class });
                    o.into_mut()
                }
                btree_map::Entry::Vacant(v) => v.insert(Entry { pod, class }),
            };
            self.idx.add(id, &entry.class);
            count_revision(
                &mut self.revisions,
                self.set.name(),
                entry.pod.borrow(),
                true,
            );
        }
    }

    pub fn remove(&mut self, id: usize) -> Option<P> {
        let old = self.pods.remove(&id)?;
        forget(
            &mut self.idx,
            &mut self.revisions,
            self.set.name(),
            id,
            &old,
        );
        Some(old.pod)
    }

    /// Whether a Pod of the planner names the ControllerRevision `name` in this set's hash entry.
    ///
    /// Every Pod put in counts, matched or not: the reconciler puts in the Pods whose injected list
    /// names the set, a superset of Kruise's matched Pods, so a revision a Pod still names is never
    /// deleted (a terminated Pod's too, at the cost of keeping one revision longer).
    pub fn revision_in_use(&self, name: &str) -> bool {
        self.revisions.contains_key(name)
    }

    /// The ControllerRevisions the Pods name (see [`Self::revision_in_use`]), sorted.
    pub fn revisions_in_use(&self) -> impl Iterator<Item = &str> {
        self.revisions.keys().map(|k| &**k)
    }

    /// New Namespace labels: the Pods of the Namespaces whose labels changed (appeared, went) are
    /// classified again, when the set has a `namespaceSelector`.
    pub fn set_namespaces(&mut self, namespaces: BTreeMap<String, selector::Labels>) {
        if namespaces == self.namespaces {
            return;
        }
        let changed: BTreeSet<String> = namespaces
            .keys()
            .chain(self.namespaces.keys())
            .filter(|ns| namespaces.get(*ns) != self.namespaces.get(*ns))
            .cloned()
            .collect();
        self.namespaces = namespaces;
        self.ns_memo.clear();
        if !self.set.needs_namespace_labels() {
            return;
        }
        let again: Vec<usize> = self
            .pods
            .iter()
            .filter(|(_, e)| changed.contains(e.pod.borrow().namespace()))
            .map(|(id, _)| *id)
            .collect();
        let pods: Vec<(usize, P)> = again
            .into_iter()
            .filter_map(|id| Some((id, self.remove(id)?)))
            .collect();
        self.extend(pods);
    }

    pub fn len(&self) -> usize {
        self.pods.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    pub fn get(&self, id: usize) -> Option<&P> {
        self.pods.get(&id).map(|e| &e.pod)
    }

    pub fn status(&self) -> Status {
        self.idx.counts.status
    }

    /// Whether the Pod runs this set's current sidecars (its hash entry is the set's).
    pub fn is_updated(&self, id: usize) -> bool {
        self.pods
            .get(&id)
            .is_some_and(|e| matches!(&e.class, Class::Matched(m) if m.updated))
    }

    /// The matched Pods that cannot be upgraded in place, and what changed, in id order.
    pub fn not_upgradable(&self) -> impl Iterator<Item = (usize, &P, &[Change])> {
        self.idx.stuck.iter().filter_map(|id| {
            let e = self.pods.get(id)?;
            match &e.class {
                Class::Matched(m) => match &m.fate {
                    Fate::NotUpgradable { changed, .. } => Some((*id, &e.pod, changed.as_slice())),
                    _ => None,
                },
                Class::Unmatched(_) => None,
            }
        })
    }

    /// The Pods the set selects that lack its sidecars, and why, in id order.
    pub fn uninjected(&self) -> impl Iterator<Item = (usize, &P, &Reason)> {
        self.idx.uninjected.iter().filter_map(|id| {
            let e = self.pods.get(id)?;
            match &e.class {
                Class::Unmatched(r) => Some((*id, &e.pod, r)),
                Class::Matched(_) => None,
            }
        })
    }

    /// One round. With `every_reason`, [`Plan::skipped`] names every other Pod with its reason (a
    /// pass over the fleet); without, it names only the Pods the round looked at.
    pub fn round(&self, now: &str, options: &Options<'_>, every_reason: bool) -> Plan {
        let ctx = SetCtx::new(&self.set);
        let strategy = &self.set.settings().update_strategy;
        let mut out = RoundOut {
            plan: Plan {
                status: self.idx.counts.status,
                round: Round::Upgrade,
                flips: Vec::new(),
                conditions: Vec::new(),
                upgrades: Vec::new(),
                skipped: Vec::new(),
                warnings: Vec::new(),
            },
            reasons: Vec::new(),
        };
        let st = self.idx.counts.status;
        if strategy.is_not_update() || strategy.paused {
            out.plan.round = if strategy.is_not_update() {
                Round::NotUpdate
            } else {
                Round::Paused
            };
        } else if ctx.has_hot && self.flip_round(&ctx, now, &mut out) {
            out.plan.round = Round::Flips;
        } else if st.updated_pods >= st.matched_pods {
            out.plan.round = Round::AllUpdated;
        } else {
            self.upgrade_round(&ctx, now, options, every_reason, &mut out);
        }
        if every_reason {
            self.every_reason(&mut out);
        } else {
            let mut reasons = std::mem::take(&mut out.reasons);
            reasons.sort_unstable_by_key(|(id, _)| *id);
            out.plan.skipped = reasons
                .into_iter()
                .filter_map(|(id, r)| {
                    Some(Skipped {
                        pod: self.pod_ref(id)?,
                        reason: r,
                    })
                })
                .collect();
        }
        out.plan
    }

    fn pod_ref(&self, id: usize) -> Option<PodRef> {
        Some(PodRef::of(id, self.pods.get(&id)?.pod.borrow()))
    }

    fn matched(&self, ctx: &SetCtx<'_>, id: usize) -> Option<Matched<'_>> {
        let pod = self.pods.get(&id)?.pod.borrow();
        let working = if ctx.has_hot {
            working_map(pod)
        } else {
            BTreeMap::new()
        };
        Some(Matched::new(ctx, id, pod, working))
    }

    /// Hot upgrades to finish: a round with flips does nothing else. `true` when there are flips.
    fn flip_round(&self, ctx: &SetCtx<'_>, now: &str, out: &mut RoundOut) -> bool {
        for &id in &self.idx.flips {
            let Some(m) = self.matched(ctx, id) else {
                continue;
            };
            match patch::flip(ctx, &m, now) {
                Ok(d) => out.plan.flips.push(PodPatch {
                    pod: PodRef::of(m.index, m.pod),
                    changes: d.changes.clone(),
                    pull_policy_followed_tag: false,
                    condition: None,
                    patch: d.into_patch(),
                }),
                Err(r) => {
                    out.reasons.push((id, r));
                }
            }
        }
        if out.plan.flips.is_empty() {
            // No flip: the round goes on, and a flip that could not be built says nothing.
            out.reasons.clear();
            return false;
        }
        true
    }

    fn upgrade_round(
        &self,
        ctx: &SetCtx<'_>,
        now: &str,
        options: &Options<'_>,
        every_reason: bool,
        out: &mut RoundOut,
    ) {
        for &id in &self.idx.marks {
            let Some(e) = self.pods.get(&id) else {
                continue;
            };
            let Class::Matched(m) = &e.class else {
                continue;
            };
            let Fate::NotUpgradable { mark, .. } = &m.fate else {
                continue;
            };
            let Some(pod) = self.pod_ref(id) else {
                continue;
            };
            match mark {
                Mark::Write => {
                    if let Ok(Some(c)) =
                        ConditionUpdate::of(e.pod.borrow(), id, ctx.name(), false, now)
                    {
                        out.plan.conditions.push(c);
                    }
                }
                Mark::Unreadable(message) => out.plan.warnings.push(Warning {
                    pod,
                    message: message.clone(),
                }),
                Mark::Unchanged => {}
            }
        }
        let chosen = self.choose(ctx, options.max_upgrades, every_reason, out);
        for id in chosen {
            self.write_upgrade(ctx, id, now, options, out);
        }
    }

    /// The candidates in upgrade order: priority and `ActivePods` as kept, then `scatterStrategy`.
    fn ordered_candidates(&self) -> Box<dyn Iterator<Item = usize> + '_> {
        let strategy = &self.set.settings().update_strategy;
        let Some(terms) = strategy.scatter_strategy.as_ref().filter(|t| !t.is_empty()) else {
            return Box::new(self.idx.candidates.iter().map(|(_, id)| *id));
        };
        // The matched Pods in id order: a candidate's place in `view` is found by its id.
        let (ids, view): (Vec<usize>, Vec<&PodDigest>) = self
            .pods
            .iter()
            .filter(|(_, e)| matches!(e.class, Class::Matched(_)))
            .map(|(id, e)| (*id, e.pod.borrow()))
            .unzip();
        let cand: Vec<usize> = self
            .idx
            .candidates
            .iter()
            .filter_map(|(_, id)| ids.binary_search(id).ok())
            .collect();
        let spread = order::scatter(terms, &view, cand);
        Box::new(spread.into_iter().map(move |i| ids[i]))
    }

    /// Partition, then maxUnavailable, then the write budget: the Pods upgraded now. Without
    /// `every_reason` the walk stops as soon as the round is decided.
    fn choose(
        &self,
        ctx: &SetCtx<'_>,
        max_upgrades: Option<usize>,
        every_reason: bool,
        out: &mut RoundOut,
    ) -> Vec<usize> {
        let strategy = &ctx.set.settings().update_strategy;
        let total = usize::try_from(self.idx.counts.status.matched_pods).unwrap_or(0);
        let partition = budget::partition(strategy.partition.as_ref(), total);
        let keep_from = self.idx.candidates.len().saturating_sub(partition);
        let max_unavailable = budget::max_unavailable(strategy.max_unavailable.as_ref(), total);
        let max_upgrades = max_upgrades.unwrap_or(usize::MAX);
        let mut unavailable = self.idx.counts.unavailable;
        let mut chosen: Vec<usize> = Vec::new();
        let mut stopped: Vec<usize> = Vec::new();
        for (pos, id) in self.ordered_candidates().enumerate() {
            if pos >= keep_from {
                if !every_reason {
                    break;
                }
                out.reasons
                    .push((id, Reason::KeptByPartition { partition }));
            } else if !stopped.is_empty() {
                // Past the first Pod the budget stopped: all wait, ready or not (as Kruise).
                if !every_reason {
                    break;
                }
                stopped.push(id);
            } else if !self.is_ready(id) {
                // A not-ready Pod is unavailable already: upgrading it costs nothing [quirk].
                chosen.push(id);
            } else if unavailable >= max_unavailable {
                stopped.push(id);
            } else {
                unavailable += 1;
                chosen.push(id);
            }
            // One Pod past the write budget tells the caller there is more to do.
            if !every_reason && chosen.len() > max_upgrades {
                break;
            }
        }
        for id in stopped {
            out.reasons.push((
                id,
                Reason::MaxUnavailableReached {
                    max_unavailable,
                    unavailable,
                },
            ));
        }
        if chosen.len() > max_upgrades {
            for id in chosen.split_off(max_upgrades) {
                out.reasons
                    .push((id, Reason::WaitingForWriteBudget { max_upgrades }));
            }
        }
        chosen
    }

    fn is_ready(&self, id: usize) -> bool {
        self.pods
            .get(&id)
            .is_some_and(|e| matches!(&e.class, Class::Matched(m) if m.ready))
    }
}

/// What a round builds besides the plan: the reasons it found for Pods it looked at (one each).
struct RoundOut {
    plan: Plan,
    reasons: Vec<(usize, Reason)>,
}

/// Everything the planner decides about one Pod alone.
fn classify(
    ctx: &SetCtx<'_>,
    namespaces: &BTreeMap<String, selector::Labels>,
    ns_memo: &mut HashMap<Str, bool>,
    rule: &mut PullPolicyRule,
    pod: &PodDigest,
) -> Class {
    let working = match match_pod(ctx, pod, namespaces, ns_memo) {
        Ok(w) => w,
        Err(r) => return Class::Unmatched(r),
    };
    let m = Matched::new(ctx, 0, pod, working);
    let strategy = &ctx.set.settings().update_strategy;
    let selected = selector::update_selects(strategy.selector.as_ref(), |k| pod.label(k));
    // The timestamps `now` would go into are not kept: only the verdict is.
    let u = (!m.updated && selected).then(|| upgradability(ctx, &m, rule, ""));
    let hot_pending = ctx.has_hot && m.in_hot_upgrade(ctx);
    Class::Matched(MatchedPod {
        updated: m.updated,
        ready: m.ready,
        ready_and_consistent: m.consistent && m.ready,
        unavailable: m.updated && (!m.consistent || !m.ready),
        not_upgradable: matches!(u, Some(Upgradability::No(_))),
        hot_pending,
        flip_ready: hot_pending && m.flip_ready(ctx),
        fate: fate(ctx, &m, selected, u),
    })
}

/// The candidate checks of an upgrade round, in Kruise's order.
fn fate(ctx: &SetCtx<'_>, m: &Matched<'_>, selected: bool, u: Option<Upgradability>) -> Fate {
    if m.updated {
        return Fate::Updated;
    }
    if !selected {
        return Fate::Excluded;
    }
    if let Err(error) = &m.hashes {
        return Fate::Leave(Reason::UnreadableAnnotation {
            key: annotations::HASH.into(),
            error: error.clone(),
        });
    }
    let not_upgradable = |changed: Vec<Change>| {
        let old = m.pod.upgradable_condition.as_deref();
        let mark = match upgradable_condition(old, ctx.name(), false, "") {
            Ok(Some(_)) => Mark::Write,
            Ok(None) => Mark::Unchanged,
            Err(message) => Mark::Unreadable(message),
        };
        Fate::NotUpgradable { changed, mark }
    };
    match u {
        Some(Upgradability::Yes | Upgradability::PullPolicyFollowedTag(_)) => {}
        Some(Upgradability::No(changed)) => return not_upgradable(changed),
        Some(Upgradability::Unreadable(error)) => {
            return Fate::Leave(Reason::UnreadableAnnotation {
                key: annotations::HASH_WITHOUT_IMAGE.into(),
                error,
            });
        }
        None => return Fate::Excluded,
    }
    // An unreadable record makes every Ready sidecar look busy: say what is wrong instead.
    if let state::InplaceState::Unreadable(error) = &m.state {
        return Fate::Leave(Reason::UnreadableAnnotation {
            key: annotations::INPLACE_UPDATE_STATE.into(),
            error: error.to_string(),
        });
    }
    let busy = m.upgrades_in_progress(ctx);
    if !busy.is_empty() {
        return Fate::Leave(Reason::UpgradeInProgress { containers: busy });
    }
    let hot_native = hot_native_changes(ctx, m);
    if !hot_native.is_empty() {
        return not_upgradable(hot_native);
    }
    let patches = ctx
        .set
        .settings()
        .patch_pod_metadata
        .as_deref()
        .unwrap_or(&[]);
    if !patches.is_empty() {
        let mut view = patch::Annotations::new(m.pod);
        if let Err(r) = patch::apply_patch_pod_metadata(patches, &mut view) {
            return Fate::Leave(r);
        }
    }
    let priority = ctx
        .set
        .settings()
        .update_strategy
        .priority_strategy
        .as_ref()
        .map(|ps| order::priority_key(ps, m.pod))
        .unwrap_or_default();
    Fate::Candidate(OrderKey::new(priority, m.pod))
}

impl<P: Borrow<PodDigest>> SetPlanner<P> {
    /// The patch that upgrades one chosen Pod (Kruise's `updateSidecarImageAndHash`), and its condition.
    fn write_upgrade(
        &self,
        ctx: &SetCtx<'_>,
        id: usize,
        now: &str,
        options: &Options<'_>,
        out: &mut RoundOut,
    ) {
        let Some(m) = self.matched(ctx, id) else {
            return;
        };
        let verdict = {
            let mut rule = self.rule.lock().unwrap_or_else(|p| p.into_inner());
            upgradability(ctx, &m, &mut rule, now)
        };
        let followed = match verdict {
            Upgradability::PullPolicyFollowedTag(map) => Some(map),
            _ => None,
        };
        let pull_policy_followed_tag = followed.is_some();
        let input = patch::UpgradeInput {
            now,
            controller_revision: options.controller_revision,
            hot_upgrade_version: options.hot_upgrade_version,
            rewrite_hash_without_image: followed.or_else(|| legacy_hash_without_image(&m)),
        };
        match patch::upgrade(ctx, &m, &input) {
            Ok(d) => {
                let condition = match ConditionUpdate::of(m.pod, m.index, ctx.name(), true, now) {
                    Ok(c) => c,
                    Err(message) => {
                        out.plan.warnings.push(Warning {
                            pod: PodRef::of(m.index, m.pod),
                            message,
                        });
                        None
                    }
                };
                out.plan.upgrades.push(PodPatch {
                    pod: PodRef::of(m.index, m.pod),
                    changes: d.changes.clone(),
                    patch: d.into_patch(),
                    pull_policy_followed_tag,
                    condition,
                });
            }
            Err(r) => {
                out.reasons.push((id, r));
            }
        }
    }

    /// Every Pod the round did not write, with its reason, in id order.
    fn every_reason(&self, out: &mut RoundOut) {
        let round = out.plan.round;
        let written: BTreeSet<usize> = out
            .plan
            .flips
            .iter()
            .chain(&out.plan.upgrades)
            .map(|p| p.pod.index)
            .collect();
        // The reasons found, in id order: sorted through (id, position) pairs, so the reasons
        // themselves are not moved about by the sort.
        let found = std::mem::take(&mut out.reasons);
        let mut order: Vec<(usize, usize)> = found
            .iter()
            .enumerate()
            .map(|(at, (id, _))| (*id, at))
            .collect();
        order.sort_unstable();
        let mut found: Vec<Option<Reason>> = found.into_iter().map(|(_, r)| Some(r)).collect();
        let mut order = order.into_iter().peekable();
        out.plan.skipped.reserve(self.pods.len() - written.len());
        for (id, e) in &self.pods {
            let mut reason = None;
            while let Some(&(fid, at)) = order.peek() {
                if fid > *id {
                    break;
                }
                order.next();
                if fid == *id {
                    reason = found[at].take();
                }
            }
            if written.contains(id) {
                continue;
            }
            let reason = match (&e.class, reason) {
                (Class::Unmatched(r), _) => r.clone(),
                (Class::Matched(_), Some(r)) => r,
                (Class::Matched(m), None) => match matched_reason(m, round) {
                    Some(r) => r,
                    None => continue,
                },
            };
            out.plan.skipped.push(Skipped {
                pod: PodRef::of(*id, e.pod.borrow()),
                reason,
            });
        }
    }
}

/// Why a matched Pod the round did not write to is left alone, when the Pod alone says it.
fn matched_reason(m: &MatchedPod, round: Round) -> Option<Reason> {
    let updated = || {
        if m.hot_pending {
            Reason::HotUpgradeFlipPending
        } else {
            Reason::AlreadyUpdated
        }
    };
    Some(match round {
        Round::NotUpdate if m.updated => Reason::AlreadyUpdated,
        Round::NotUpdate => Reason::NotUpdateStrategy,
        Round::Paused if m.updated => Reason::AlreadyUpdated,
        Round::Paused => Reason::Paused,
        Round::Flips if m.updated => updated(),
        Round::Flips => Reason::WaitingForFlips,
        Round::AllUpdated => updated(),
        Round::Upgrade => match &m.fate {
            Fate::Updated => updated(),
            Fate::Excluded => Reason::ExcludedByUpdateSelector,
            Fate::Leave(r) => r.clone(),
            Fate::NotUpgradable { changed, .. } => Reason::NotUpgradable {
                changed: changed.clone(),
            },
            // A candidate the round did not reach (only without every reason asked).
            Fate::Candidate(_) => return None,
        },
    })
}
