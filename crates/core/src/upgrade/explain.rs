//! Why a Pod is not upgradable, as far as the Pod shows it (the reason and the condition's Event).
//!
//! The Pod records only a hash of the sidecars it was injected with, so the planner cannot know what
//! changed; it compares the settings' sidecars with the Pod's containers field by field, ignoring what
//! injection itself adds (shared volume mounts, `IS_INJECTED`, transferred env vars, computed
//! resources, hot-upgrade version env vars). When no field differs, the change is in a setting the Pod
//! does not show ([`Change::NotVisible`]).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::inject::{IS_INJECTED, SIDECARSET_VERSION, SIDECARSET_VERSION_ALT, go_encoding};
use crate::settings::SidecarContainer;

use super::pod::str_at;
use super::reason::Change;
use super::set::SetCtx;
use super::state::{Matched, twins_by_role};

/// Keys compared through their own rules (or never: the name differs for hot twins, the image is
/// what an upgrade changes).
const SPECIAL: &[&str] = &["name", "image", "env", "volumeMounts", "volumeDevices"];

/// The best-effort list of differences; never empty.
pub(crate) fn changes(ctx: &SetCtx<'_>, m: &Matched<'_>) -> Vec<Change> {
    let s = ctx.set.settings();
    let mut out = Vec::new();
    let mut in_settings: BTreeSet<&str> = BTreeSet::new();
    for (native, list) in [(false, &s.containers), (true, &s.init_containers)] {
        for sc in list.iter().flatten() {
            if native && !sc.is_native_sidecar() {
                // Plain init containers have finished; nothing of them is upgraded.
                continue;
            }
            in_settings.insert(sc.name());
            let pod_name = if sc.is_hot_upgrade() && !native {
                twins_by_role(&m.working, sc.name()).0
            } else {
                sc.name().to_string()
            };
            match m.pod.container_in(&pod_name, native) {
                Some((_, pod_c)) => compare(sc, &pod_c.spec, &mut out),
                None => out.push(Change::SidecarAdded {
                    container: sc.name().to_string(),
                }),
            }
        }
    }
    // Sidecars the Pod got from this set that the settings no longer have.
    if let Some(list) = m.entry(ctx.name()).and_then(|e| e.sidecar_list) {
        for name in list {
            if !in_settings.contains(name.as_str()) {
                out.push(Change::SidecarRemoved {
                    container: name.clone(),
                });
            }
        }
    }
    if out.is_empty() {
        out.push(Change::NotVisible);
    }
    out
}

fn compare(sc: &SidecarContainer, pod_c: &Value, out: &mut Vec<Change>) {
    let mut want = serde_json::to_value(&sc.container).unwrap_or(Value::Null);
    // As injected, and as the API server stores any container: `resources: {}` when unset, a
    // divisor on every resourceFieldRef.
    if let Some(w) = want.as_object_mut() {
        go_encoding::container(w);
    }
    let (Some(want), Some(have)) = (want.as_object(), pod_c.as_object()) else {
        return;
    };
    let mut field = |f: &str| {
        out.push(Change::Field {
            container: sc.name().to_string(),
            field: f.to_string(),
        })
    };
    let computed_resources = sc.resources_policy.is_some();
    let keys: BTreeSet<&String> = want.keys().chain(have.keys()).collect();
    for k in keys {
        if SPECIAL.contains(&k.as_str()) || (computed_resources && k == "resources") {
            continue;
        }
        if want.get(k.as_str()).filter(|v| !v.is_null())
            != have.get(k.as_str()).filter(|v| !v.is_null())
        {
            field(k);
        }
    }
    if !env_matches(sc, want.get("env"), have.get("env")) {
        field("env");
    }
    for key in ["volumeMounts", "volumeDevices"] {
        if !items_match(
            want.get(key),
            have.get(key),
            sc.shares_volumes() || sc.shares_devices(),
        ) {
            field(key);
        }
    }
}

fn items(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// Every env var of the settings is on the Pod with the same definition, and the Pod has no other
/// var than those injection adds.
fn env_matches(sc: &SidecarContainer, want: Option<&Value>, have: Option<&Value>) -> bool {
    let (want, have) = (items(want), items(have));
    let all_there = want.iter().all(|w| {
        have.iter()
            .any(|h| str_at(h, "name") == str_at(w, "name") && h == w)
    });
    if !all_there {
        return false;
    }
    if sc.shares_volumes() {
        // subPathExpr vars of app containers are copied in; extras cannot be told apart.
        return true;
    }
    let transferred: BTreeSet<&str> = sc
        .transfer_env
        .iter()
        .flatten()
        .flat_map(|t| {
            t.env_names
                .iter()
                .flatten()
                .map(String::as_str)
                .chain(t.env_name.as_deref())
        })
        .collect();
    have.iter().all(|h| {
        let n = str_at(h, "name");
        matches!(n, IS_INJECTED | SIDECARSET_VERSION | SIDECARSET_VERSION_ALT)
            || transferred.contains(n)
            || want.iter().any(|w| str_at(w, "name") == n)
    })
}

/// The settings' items are all on the Pod; when nothing is shared, the Pod has no others.
fn items_match(want: Option<&Value>, have: Option<&Value>, shared: bool) -> bool {
    let (want, have) = (items(want), items(have));
    want.iter().all(|w| have.contains(w)) && (shared || have.iter().all(|h| want.contains(h)))
}
