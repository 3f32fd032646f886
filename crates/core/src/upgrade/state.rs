//! Per-set views of a Pod's digest and Kruise's predicates over them
//! (docs/upgrade-planning.md#per-pod-predicates).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::annotations::{self, HashEntry};

use super::image_match::{image_equal, is_digest, runs, strip_scheme};
use super::intern::Str;
use super::pod::{Inplace, PodDigest, set_hash};
use super::set::{SetCtx, Tracked};

/// This set's part of `kruise.io/sidecarset-inplace-update-state`.
pub(crate) enum InplaceState<'a> {
    Absent,
    /// Present but not a map of `InPlaceUpdateState` (an empty value included, as Go fails on it).
    Unreadable(&'a str),
    /// Every entry is well formed; other sets' entries are re-read from the Pod when ours is
    /// rewritten ([`parse_all`]), so that nothing is lost.
    Parsed {
        /// This set's `lastContainerStatuses`: container → recorded imageID ("" when omitted).
        ours: &'a [(Str, Str)],
    },
}

impl<'a> InplaceState<'a> {
    pub fn of(pod: &'a PodDigest, set_name: &str) -> Self {
        match &pod.kruise.inplace {
            Inplace::Absent => InplaceState::Absent,
            Inplace::Unreadable(e) => InplaceState::Unreadable(e),
            Inplace::Parsed(sets) => InplaceState::Parsed {
                ours: sets
                    .binary_search_by(|(k, _)| (**k).cmp(set_name))
                    .map_or(&[][..], |at| &sets[at].1),
            },
        }
    }
}

/// Every set's entry of the in-place-update state, checked.
pub(crate) fn parse_all(raw: &str) -> Result<Map<String, Value>, String> {
    let all = match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return Err("must be a JSON object keyed by SidecarSet name".into()),
        Err(e) => return Err(format!("is not JSON: {e}")),
    };
    // Go decodes the whole map into typed structs: one malformed entry fails it all.
    for (name, entry) in &all {
        if let Err(e) = check_entry(entry) {
            return Err(format!("entry {name:?}: {e}"));
        }
    }
    Ok(all)
}

fn check_entry(entry: &Value) -> Result<(), String> {
    let o = match entry {
        Value::Null => return Ok(()),
        Value::Object(o) => o,
        _ => return Err("must be an object".into()),
    };
    for key in ["revision", "updateTimestamp"] {
        if !matches!(
            o.get(key),
            None | Some(Value::Null) | Some(Value::String(_))
        ) {
            return Err(format!("{key} must be a string"));
        }
    }
    match o.get("lastContainerStatuses") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Object(m)) => {
            for (c, s) in m {
                let ok = match s {
                    Value::Null => true,
                    Value::Object(so) => {
                        matches!(
                            so.get("imageID"),
                            None | Some(Value::Null) | Some(Value::String(_))
                        )
                    }
                    _ => false,
                };
                if !ok {
                    return Err(format!(
                        "lastContainerStatuses[{c:?}] must be {{\"imageID\": string}}"
                    ));
                }
            }
            Ok(())
        }
        Some(_) => Err("lastContainerStatuses must be an object".into()),
    }
}

/// Reads a hash annotation whole (`Ok(empty)` when absent), to rewrite it.
pub(crate) fn hash_map(pod: &PodDigest, key: &str) -> Result<annotations::HashEntries, String> {
    match pod.annotation_entry(key) {
        None => Ok(Default::default()),
        Some(None) => Err("must be a string".into()),
        Some(Some(raw)) => annotations::parse_hash_map(raw),
    }
}

/// `kruise.io/sidecarset-working-hotupgrade-container` as a map.
pub(crate) fn working_map(pod: &PodDigest) -> BTreeMap<String, String> {
    pod.kruise
        .working
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Kruise's `GetPodHotUpgradeContainers`: (working, idle); `-2` works unless the annotation names
/// exactly `<name>-1` (docs/hot-upgrade.md#which-twin-is-working).
pub(crate) fn twins_by_role(working: &BTreeMap<String, String>, name: &str) -> (String, String) {
    let (one, two) = (format!("{name}-1"), format!("{name}-2"));
    if working.get(name) == Some(&one) {
        (one, two)
    } else {
        (two, one)
    }
}

/// One matched Pod with what every rule reads, computed once.
pub(crate) struct Matched<'a> {
    /// The Pod's position in the planner's input.
    pub index: usize,
    pub pod: &'a PodDigest,
    /// Whether `kruise.io/sidecarset-hash` reads (the map itself is read again only to rewrite it).
    pub hashes: Result<(), String>,
    pub working: BTreeMap<String, String>,
    pub state: InplaceState<'a>,
    pub updated: bool,
    /// Every tracked sidecar state-consistent (the status' notion,
    /// docs/upgrade-planning.md#status-arithmetic).
    pub consistent: bool,
    /// Kruise's `IsPodReady` for this set (idle twins on the empty image, Running, Ready).
    pub ready: bool,
}

impl<'a> Matched<'a> {
    pub fn new(
        ctx: &SetCtx<'_>,
        index: usize,
        pod: &'a PodDigest,
        working: BTreeMap<String, String>,
    ) -> Self {
        let (hashes, updated) = match set_hash(&pod.kruise.hashes, ctx.name()) {
            Ok(h) => (Ok(()), h == ctx.set.hash()),
            Err(e) => (Err(e.to_string()), false),
        };
        let state = InplaceState::of(pod, ctx.name());
        let consistent = state_consistent(pod, &state, &ctx.tracked);
        let mut m = Matched {
            index,
            pod,
            hashes,
            working,
            state,
            updated,
            consistent,
            ready: false,
        };
        m.ready = m.pod_ready(ctx);
        m
    }

    /// This set's entry of `kruise.io/sidecarset-hash`, read in full.
    pub fn entry(&self, name: &str) -> Option<HashEntry> {
        hash_map(self.pod, annotations::HASH).ok()?.remove(name)
    }

    fn pod_ready(&self, ctx: &SetCtx<'_>) -> bool {
        for (sc, empty) in ctx.hot_containers() {
            let (_, idle) = twins_by_role(&self.working, &sc.name);
            if !empty.is_empty()
                && self
                    .pod
                    .image_of(&idle, false)
                    .is_some_and(|img| !runs(img, empty))
            {
                return false;
            }
        }
        self.pod.is_running_and_ready()
    }

    /// Some hot sidecar's idle twin does not run the empty image: the Pod is between the upgrade
    /// and the flip (Kruise's `isPodSidecarInHotUpgrading`).
    pub fn in_hot_upgrade(&self, ctx: &SetCtx<'_>) -> bool {
        ctx.hot_containers().any(|(sc, empty)| {
            let (_, idle) = twins_by_role(&self.working, &sc.name);
            !runs(self.pod.image_of(&idle, false).unwrap_or(""), empty)
        })
    }

    /// Ready for the flip: the sidecars other than idle twins are consistent, and the Pod is Running
    /// and Ready or every container status but the idle twins' is Ready.
    pub fn flip_ready(&self, ctx: &SetCtx<'_>) -> bool {
        let idle: Vec<String> = ctx
            .hot_containers()
            .map(|(sc, _)| twins_by_role(&self.working, &sc.name).1)
            .collect();
        let names: Vec<&Tracked> = ctx
            .tracked
            .iter()
            .filter(|t| t.native || !idle.contains(&t.name))
            .collect();
        if !state_consistent(self.pod, &self.state, &names) {
            return false;
        }
        self.pod.is_running_and_ready()
            || self
                .pod
                .statuses
                .iter()
                .all(|s| idle.iter().any(|i| **i == *s.name) || s.ready)
    }

    /// Kruise's consistency gate: tracked sidecars that are Ready but not state-consistent (an
    /// earlier upgrade still running). Empty when the Pod may be upgraded.
    pub fn upgrades_in_progress(&self, ctx: &SetCtx<'_>) -> Vec<String> {
        ctx.tracked
            .iter()
            .filter(|t| {
                container_ready(self.pod, &t.name, t.native)
                    && !state_consistent(self.pod, &self.state, &[*t])
            })
            .map(|t| t.name.clone())
            .collect()
    }

    /// Whether one container is Ready and consistent (for choosing the hot twin to upgrade).
    pub fn ready_and_consistent(&self, name: &str) -> bool {
        let t = Tracked {
            name: name.to_string(),
            native: false,
        };
        container_ready(self.pod, name, false) && state_consistent(self.pod, &self.state, &[&t])
    }
}

pub(crate) fn container_ready(pod: &PodDigest, name: &str, native: bool) -> bool {
    pod.status_of(name, native).is_some_and(|s| s.ready)
}

/// Kruise's `IsPodStateConsistent` for the listed containers, extended to native sidecars (walked
/// after the containers, completed through `status.initContainerStatuses`):
/// docs/upgrade-planning.md#state-consistent.
pub(crate) fn state_consistent<T: std::borrow::Borrow<Tracked>>(
    pod: &PodDigest,
    state: &InplaceState<'_>,
    names: &[T],
) -> bool {
    if pod.containers.len() != pod.statuses.len() {
        return false;
    }
    let has_native = names.iter().any(|t| t.borrow().native);
    if has_native && pod.init_containers.len() != pod.init_statuses.len() {
        return false;
    }
    let listed = |n: &str, native: bool| {
        names.iter().any(|t| {
            let t = t.borrow();
            t.native == native && t.name == n
        })
    };
    let mut all_digest = true;
    'walk: for (specs, native) in [(&pod.containers, false), (&pod.init_containers, true)] {
        if native && !has_native {
            break;
        }
        for c in specs {
            let (name, image) = (&*c.name, &*c.image);
            if !listed(name, native) {
                continue;
            }
            if !is_digest(image) {
                // At the first tag image the record decides (Kruise breaks out of its walk here).
                all_digest = false;
                break 'walk;
            }
            let Some(status) = pod.status_of(name, native) else {
                return false;
            };
            if !image_equal(image, strip_scheme(&status.image_id)) {
                return false;
            }
        }
    }
    if all_digest {
        return true;
    }
    let ours = match state {
        InplaceState::Absent => return true,
        InplaceState::Unreadable(_) => return false,
        InplaceState::Parsed { ours, .. } => ours,
    };
    for (statuses, specs, native) in [
        (&pod.statuses, &pod.containers, false),
        (&pod.init_statuses, &pod.init_containers, true),
    ] {
        if native && !has_native {
            continue;
        }
        for cs in statuses {
            let name = &*cs.name;
            if !listed(name, native) {
                continue;
            }
            if let Some((_, old_id)) = ours.iter().rev().find(|(c, _)| &**c == name) {
                let spec_image = specs
                    .iter()
                    .find(|c| &*c.name == name)
                    .map_or("", |c| &*c.image);
                // Still the recorded image ID while the spec asks for another image: the kubelet
                // has not restarted the container yet.
                if *old_id == cs.image_id && spec_image != &*cs.image {
                    return false;
                }
            }
        }
    }
    true
}
