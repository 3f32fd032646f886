//! The RFC 6902 patches the reconciler sends (docs/upgrade-planning.md#upgrading-one-pod,
//! docs/hot-upgrade.md#the-per-pod-sequence): a `test` of the Pod's resourceVersion (a concurrent
//! writer makes the whole patch fail instead of being overwritten), image replacements (the only
//! container field a running Pod may change), then the annotations that changed. Built as
//! `json_patch::Patch`, the type kube's `Patch::Json` sends: the reconciler sends it as it is.

use std::collections::BTreeMap;

use json_patch::{
    AddOperation, Patch, PatchOperation, ReplaceOperation, TestOperation, jsonptr::PointerBuf,
};
use serde_json::{Map, Value, json};

use crate::annotations::{self, HashEntry};
use crate::settings::PatchPodMetadata;

use super::ContainerChange;
use super::image_match::runs;
use super::pod::{Annotation, PodDigest};
use super::reason::Reason;
use super::set::{SetCtx, Sidecar};
use super::state::{InplaceState, Matched, twins_by_role};
use crate::gojson::write_go_interface;

/// A JSON pointer from unescaped segments (RFC 6901 escaping is done here).
fn pointer<'t>(segments: impl IntoIterator<Item = &'t str>) -> PointerBuf {
    PointerBuf::from_tokens(segments)
}

/// The Pod's annotations as they will be after the patch: the original values overlaid by edits.
pub(crate) struct Annotations<'p> {
    /// Sorted by key; `None` when the Pod has no annotations object.
    original: Option<&'p [Annotation]>,
    edits: BTreeMap<String, String>,
}

impl<'p> Annotations<'p> {
    pub fn new(pod: &'p PodDigest) -> Self {
        Annotations {
            original: pod.annotations.as_deref(),
            edits: BTreeMap::new(),
        }
    }

    fn original(&self, key: &str) -> Option<&'p str> {
        let a = self.original?;
        let at = a.binary_search_by(|(k, _)| (**k).cmp(key)).ok()?;
        a[at].1.as_deref()
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        match self.edits.get(key) {
            Some(v) => Some(v),
            None => self.original(key),
        }
    }

    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.edits.insert(key.into(), value.into());
    }

    /// `add` ops (which also replace) for the keys whose value changes, sorted by key.
    fn ops(&self, out: &mut Vec<PatchOperation>) {
        if self.original.is_none() && !self.edits.is_empty() {
            out.push(PatchOperation::Add(AddOperation {
                path: pointer(["metadata", "annotations"]),
                value: json!({}),
            }));
        }
        for (k, v) in &self.edits {
            if self.original(k) != Some(v.as_str()) {
                out.push(PatchOperation::Add(AddOperation {
                    path: pointer(["metadata", "annotations", k.as_str()]),
                    value: json!(v),
                }));
            }
        }
    }
}

/// What one upgrade or flip writes, before it becomes a patch.
pub(crate) struct Draft<'p> {
    test: PatchOperation,
    images: Vec<PatchOperation>,
    pub changes: Vec<ContainerChange>,
    /// (container, imageID before the change, raw) for the in-place-update record.
    recorded: Vec<(String, String)>,
    pub annotations: Annotations<'p>,
}

impl<'p> Draft<'p> {
    pub fn new(pod: &'p PodDigest) -> Self {
        Draft {
            test: PatchOperation::Test(TestOperation {
                path: pointer(["metadata", "resourceVersion"]),
                value: json!(pod.resource_version()),
            }),
            images: Vec::new(),
            changes: Vec::new(),
            recorded: Vec::new(),
            annotations: Annotations::new(pod),
        }
    }

    fn set_image(&mut self, pod: &PodDigest, name: &str, native: bool, image: &str) {
        let Some((index, c)) = pod.container_in(name, native) else {
            return;
        };
        let list = if native {
            "initContainers"
        } else {
            "containers"
        };
        self.images.push(PatchOperation::Replace(ReplaceOperation {
            path: pointer(["spec", list, &index.to_string(), "image"]),
            value: json!(image),
        }));
        self.changes.push(ContainerChange {
            container: name.to_string(),
            init_container: native,
            from: c.image.to_string(),
            to: image.to_string(),
        });
        let image_id = pod
            .status_of(name, native)
            .map_or("", |s| &*s.image_id)
            .to_string();
        self.recorded.push((name.to_string(), image_id));
    }

    /// This set's entry of `kruise.io/sidecarset-inplace-update-state`, created on the first in-place
    /// update, otherwise keeping its revision and timestamp [quirk], with the imageIDs the changed
    /// containers had. Other sets' entries are kept as they are
    /// (docs/hashes-and-annotations.md#in-place-update-state).
    pub fn record_state(
        &mut self,
        state: &InplaceState<'_>,
        ctx: &SetCtx<'_>,
        now: &str,
    ) -> Result<(), Reason> {
        let mut all = match state {
            InplaceState::Absent => Map::new(),
            InplaceState::Unreadable(e) => {
                return Err(Reason::UnreadableAnnotation {
                    key: annotations::INPLACE_UPDATE_STATE.into(),
                    error: e.to_string(),
                });
            }
            InplaceState::Parsed { .. } => self
                .annotations
                .get(annotations::INPLACE_UPDATE_STATE)
                .map(super::state::parse_all)
                .transpose()
                .map_err(|error| Reason::UnreadableAnnotation {
                    key: annotations::INPLACE_UPDATE_STATE.into(),
                    error,
                })?
                .unwrap_or_default(),
        };
        let mut entry = match all.remove(ctx.name()) {
            Some(Value::Object(o)) => o,
            _ => {
                let mut o = Map::new();
                o.insert("revision".into(), json!(ctx.set.hash()));
                o.insert("updateTimestamp".into(), json!(now));
                o
            }
        };
        let mut last = match entry.remove("lastContainerStatuses") {
            Some(Value::Object(o)) => o,
            _ => Map::new(),
        };
        for (name, id) in &self.recorded {
            // `imageID` is omitempty: a container without a status is recorded as `{}`.
            let v = if id.is_empty() {
                json!({})
            } else {
                json!({"imageID": id})
            };
            last.insert(name.clone(), v);
        }
        let mut out = String::from("{");
        let mut names: Vec<&String> = all.keys().collect();
        let ours = ctx.name().to_string();
        names.push(&ours);
        names.sort();
        for (i, name) in names.into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            crate::gojson::write_go_string(&mut out, name);
            out.push(':');
            if *name == ours {
                write_state_entry(&mut out, &entry, &last);
            } else if let Some(v) = all.get(name.as_str()) {
                write_go_interface(&mut out, v);
            }
        }
        out.push('}');
        self.annotations.set(annotations::INPLACE_UPDATE_STATE, out);
        Ok(())
    }

    /// The patch: always the resourceVersion `test` first, so no write lands on a Pod the plan did
    /// not see (the reconciler adds nothing).
    pub fn into_patch(self) -> Patch {
        let mut ops = Vec::with_capacity(2 + self.images.len() + self.annotations.edits.len());
        ops.push(self.test);
        ops.extend(self.images);
        self.annotations.ops(&mut ops);
        Patch(ops)
    }
}

/// One `InPlaceUpdateState` in Go's field order: revision, updateTimestamp, lastContainerStatuses,
/// then whatever else an existing entry carried.
fn write_state_entry(out: &mut String, entry: &Map<String, Value>, last: &Map<String, Value>) {
    out.push('{');
    out.push_str("\"revision\":");
    write_go_interface(out, entry.get("revision").unwrap_or(&json!("")));
    out.push_str(",\"updateTimestamp\":");
    write_go_interface(out, entry.get("updateTimestamp").unwrap_or(&Value::Null));
    out.push_str(",\"lastContainerStatuses\":");
    write_go_interface(out, &Value::Object(last.clone()));
    let mut rest: Vec<(&String, &Value)> = entry
        .iter()
        .filter(|(k, _)| k.as_str() != "revision" && k.as_str() != "updateTimestamp")
        .collect();
    rest.sort_by(|a, b| a.0.cmp(b.0));
    for (k, v) in rest {
        out.push(',');
        crate::gojson::write_go_string(out, k);
        out.push(':');
        write_go_interface(out, v);
    }
    out.push('}');
}

/// The value of `version.sidecarset.kruise.io/<twin>` for a twin upgraded now. Kruise writes the
/// SidecarSet's resourceVersion; this project has no SidecarSet object, so the caller may pass a
/// version, and any value must exceed what the Pod's twins carry (the sidecar compares VERSION with
/// VERSION_ALT: docs/hot-upgrade.md#version-annotations), else the Pod's highest version + 1 is used.
fn hot_version(pod: &PodDigest, sc: &Sidecar, requested: Option<u64>) -> String {
    let (a, b) = sc.twins();
    let highest = [&a, &b]
        .iter()
        .flat_map(|t| [annotations::version_key(t), annotations::version_alt_key(t)])
        .filter_map(|k| pod.annotation(&k).and_then(|v| v.parse::<u64>().ok()))
        .max()
        .unwrap_or(0);
    match requested {
        Some(v) if v > highest => v.to_string(),
        _ => highest.saturating_add(1).to_string(),
    }
}

/// Kruise's `findContainerToHotUpgrade` (docs/hot-upgrade.md#which-twin-is-upgraded): (twin to
/// upgrade, the other one).
fn twin_to_upgrade(m: &Matched<'_>, sc: &Sidecar, empty: &str) -> (String, String) {
    let (one, two) = sc.twins();
    let image = |n: &str| m.pod.image_of(n, false).unwrap_or("");
    if runs(image(&one), empty) {
        return (one, two);
    }
    if runs(image(&two), empty) {
        return (two, one);
    }
    let (r1, r2) = (m.ready_and_consistent(&one), m.ready_and_consistent(&two));
    if r1 && !r2 {
        return (two, one);
    }
    if !r1 && r2 {
        return (one, two);
    }
    let (working, idle) = twins_by_role(&m.working, &sc.name);
    (idle, working)
}

pub(crate) struct UpgradeInput<'x> {
    pub now: &'x str,
    pub controller_revision: &'x str,
    pub hot_upgrade_version: Option<u64>,
    /// `Some(parsed image-less map)` to rewrite this set's entry (pull-policy rule) or convert a
    /// legacy value.
    pub rewrite_hash_without_image: Option<annotations::HashEntries>,
}

/// The patch that upgrades one Pod (docs/upgrade-planning.md#upgrading-one-pod): new images, this
/// set's hash entries, its in-place-update record, then `patchPodMetadata`.
pub(crate) fn upgrade<'p>(
    ctx: &SetCtx<'_>,
    m: &Matched<'p>,
    input: &UpgradeInput<'_>,
) -> Result<Draft<'p>, Reason> {
    let mut d = Draft::new(m.pod);
    replace_images(ctx, m, input.hot_upgrade_version, &mut d);
    write_hash_entries(ctx, m.pod, input, &mut d)?;
    d.record_state(&m.state, ctx, input.now)?;
    apply_patch_pod_metadata(
        ctx.set
            .settings()
            .patch_pod_metadata
            .as_deref()
            .unwrap_or(&[]),
        &mut d.annotations,
    )?;
    Ok(d)
}

/// Each sidecar on the set's image: a cold one replaced where it differs, a hot one through its idle
/// twin (which then becomes the working one). Hot native twins are never swapped (Kruise never
/// upgrades init containers; docs/hot-upgrade.md#native-sidecar-twins).
fn replace_images(
    ctx: &SetCtx<'_>,
    m: &Matched<'_>,
    requested_version: Option<u64>,
    d: &mut Draft<'_>,
) {
    let pod = m.pod;
    let mut working = m.working.clone();
    let mut working_changed = false;
    for sc in &ctx.sidecars {
        match (&sc.hot, sc.native) {
            (Some(_), true) => {}
            (None, native) => {
                if pod
                    .image_of(&sc.name, native)
                    .is_some_and(|img| !runs(img, &sc.image))
                {
                    d.set_image(pod, &sc.name, native, &sc.image);
                }
            }
            (Some(empty), false) => {
                if let Some(target) = swap_hot_twin(m, sc, empty, requested_version, d) {
                    working.insert(sc.name.clone(), target);
                    working_changed = true;
                }
            }
        }
    }
    if working_changed {
        let mut out = String::new();
        let v = serde_json::to_value(&working).unwrap_or(Value::Null);
        write_go_interface(&mut out, &v);
        d.annotations.set(annotations::WORKING_HOT_UPGRADE, out);
    }
}

/// Hot upgrade, first step: the new image on the twin to upgrade, and the version annotations that
/// tell the sidecars which one is newer. `None` (nothing written) when the other twin already runs
/// the new image; else the twin that now works.
fn swap_hot_twin(
    m: &Matched<'_>,
    sc: &Sidecar,
    empty: &str,
    requested_version: Option<u64>,
    d: &mut Draft<'_>,
) -> Option<String> {
    let pod = m.pod;
    let (target, other) = twin_to_upgrade(m, sc, empty);
    if runs(pod.image_of(&other, false).unwrap_or(""), &sc.image) {
        return None;
    }
    d.set_image(pod, &target, false, &sc.image);
    let version = hot_version(pod, sc, requested_version);
    let older_version = pod
        .annotation(&annotations::version_key(&other))
        .unwrap_or("")
        .to_string();
    d.annotations
        .set(annotations::version_key(&target), version.clone());
    d.annotations
        .set(annotations::version_alt_key(&target), older_version);
    d.annotations
        .set(annotations::version_alt_key(&other), version);
    Some(target)
}

/// This set's `kruise.io/sidecarset-hash` entry, rewritten even when no image differed
/// (docs/upgrade-planning.md#upgrading-one-pod, step 4), and its image-less entry when the
/// pull-policy rule or a legacy value asks for it.
fn write_hash_entries(
    ctx: &SetCtx<'_>,
    pod: &PodDigest,
    input: &UpgradeInput<'_>,
    d: &mut Draft<'_>,
) -> Result<(), Reason> {
    let mut hashes = super::state::hash_map(pod, annotations::HASH).map_err(|error| {
        Reason::UnreadableAnnotation {
            key: annotations::HASH.into(),
            error,
        }
    })?;
    hashes.insert(
        ctx.name().to_string(),
        HashEntry {
            update_timestamp: Some(input.now.to_string()),
            hash: ctx.set.hash().to_string(),
            sidecar_set_name: ctx.name().to_string(),
            sidecar_list: Some(ctx.sidecar_list.clone()),
            controller_revision: input.controller_revision.to_string(),
        },
    );
    d.annotations
        .set(annotations::HASH, annotations::encode_hash_map(&hashes));
    if let Some(map) = &input.rewrite_hash_without_image {
        d.annotations.set(
            annotations::HASH_WITHOUT_IMAGE,
            annotations::encode_hash_map(map),
        );
    }
    Ok(())
}

/// The flip (docs/hot-upgrade.md#the-flip): reset idle twins that still run the old version to the
/// empty image.
pub(crate) fn flip<'p>(ctx: &SetCtx<'_>, m: &Matched<'p>, now: &str) -> Result<Draft<'p>, Reason> {
    let pod = m.pod;
    let mut d = Draft::new(pod);
    for (sc, empty) in ctx.hot_containers() {
        let (working, idle) = twins_by_role(&m.working, &sc.name);
        if pod
            .image_of(&idle, false)
            .is_none_or(|img| runs(img, empty))
        {
            continue;
        }
        d.set_image(pod, &idle, false, empty);
        d.annotations.set(annotations::version_key(&idle), "0");
        d.annotations
            .set(annotations::version_alt_key(&working), "0");
    }
    // The hash entry is not touched by a flip (Kruise #1054).
    d.record_state(&m.state, ctx, now)?;
    Ok(d)
}

/// `patchPodMetadata` re-applied as Kruise's `PatchPodMetadata` does (Retain only adds a missing key,
/// Overwrite sets, MergePatchJson merges into a non-empty value;
/// docs/upgrade-planning.md#upgrading-one-pod, step 7).
pub(crate) fn apply_patch_pod_metadata(
    patches: &[PatchPodMetadata],
    annotations: &mut Annotations<'_>,
) -> Result<(), Reason> {
    crate::patch_pod_metadata::apply(patches, annotations).map_err(|e| {
        Reason::UnreadableAnnotation {
            key: e.key,
            error: format!("patchPodMetadata MergePatchJson: {}", e.message),
        }
    })
}

impl crate::patch_pod_metadata::AnnotationsMut for Annotations<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        Annotations::get(self, key)
    }

    fn set(&mut self, key: &str, value: String) {
        Annotations::set(self, key, value);
    }
}
