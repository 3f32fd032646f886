//! Injection at Pod CREATE (docs/injection.md): match, patch metadata, build the sidecars, merge them into
//! the raw Pod, write the annotations. The Pod stays a `serde_json::Value` throughout, so every field
//! this code does not touch, known to k8s-openapi or not, reaches the API server as the user wrote it.

pub(crate) mod go_encoding;
mod sidecar;

use std::collections::HashSet;

use serde_json::{Map, Value};

pub use sidecar::{IS_INJECTED, SIDECARSET_VERSION, SIDECARSET_VERSION_ALT, is_injected};

use crate::annotations::{self, HashEntry};
use crate::error::InjectError;
use crate::revision::{self, pinned::RevisionContext};
use crate::selector::{self, Labels};
use crate::settings::{AFTER_APP_CONTAINER, BEFORE_APP_CONTAINER};
use crate::sidecarset::SidecarSet;
use sidecar::str_of;

/// What the caller knows of the Pod's Namespace.
#[derive(Clone, Debug)]
pub enum NamespaceLabels {
    /// The set has no namespaceSelector, so nobody looked.
    NotNeeded,
    Found(Labels),
    /// The lookup failed (not found, no permission, host error): the set does not match, as in Kruise.
    LookupFailed(String),
}

pub struct PodContext<'a> {
    /// The AdmissionRequest's namespace, used when the Pod object has none.
    pub request_namespace: &'a str,
    pub namespace_labels: &'a NamespaceLabels,
    /// RFC 3339 UTC time written into the hash annotations' `updateTimestamp`.
    pub now: &'a str,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The set does not apply; the reason is for logs, the warning (if any) for the user.
    Skipped {
        reason: String,
        warning: Option<String>,
    },
    /// The Pod already carries this set's sidecars and annotations as they would be written (an
    /// injected Pod evaluated again): nothing to change.
    Unchanged,
    /// The Pod with this set's sidecars.
    Injected(Value),
}

/// The namespace a Pod will live in: its own, the request's, or `default`
/// (docs/injection.md#candidate-selection).
pub fn pod_namespace<'a>(pod: &'a Value, request_namespace: &'a str) -> &'a str {
    let own = pod
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !own.is_empty() {
        own
    } else if !request_namespace.is_empty() {
        request_namespace
    } else {
        "default"
    }
}

fn skipped(reason: impl Into<String>) -> Outcome {
    Outcome::Skipped {
        reason: reason.into(),
        warning: None,
    }
}

/// Does this set inject into this Pod? Mirrors Kruise's candidate selection
/// (docs/injection.md#when-injection-runs, docs/injection.md#candidate-selection).
fn check_match(set: &SidecarSet, pod: &Value, ctx: &PodContext<'_>) -> Option<Outcome> {
    let s = set.settings();
    if s.injection_strategy.paused {
        return Some(skipped("injectionStrategy.paused is true"));
    }
    if !crate::pod::is_active_json(pod) {
        return Some(skipped("the Pod is not active"));
    }
    if let Some(ns_sel) = &s.namespace_selector {
        match ctx.namespace_labels {
            NamespaceLabels::Found(labels) => {
                if !selector::matches(ns_sel, labels) {
                    return Some(skipped(
                        "the Pod's Namespace does not match namespaceSelector",
                    ));
                }
            }
            NamespaceLabels::LookupFailed(e) => {
                return Some(Outcome::Skipped {
                    reason: "the Pod's Namespace could not be read".to_string(),
                    warning: Some(format!(
                        "sidecarset {}: not injected because Namespace {:?} could not be read for namespaceSelector: {e}",
                        set.name(),
                        pod_namespace(pod, ctx.request_namespace)
                    )),
                });
            }
            NamespaceLabels::NotNeeded => {
                return Some(Outcome::Skipped {
                    reason: "namespaceSelector is set but no Namespace labels were given"
                        .to_string(),
                    warning: Some(format!(
                        "sidecarset {}: not injected: Namespace labels unavailable",
                        set.name()
                    )),
                });
            }
        }
    }
    if selector::selects(s.selector.as_ref(), |k| crate::pod::label(pod, k)) {
        None
    } else {
        Some(skipped("the Pod's labels do not match selector"))
    }
}

/// Kruise's Pod webhook for one set at CREATE (`pkg/webhook/pod/mutating/sidecarset.go`
/// `sidecarsetMutatingPod`): match the Pod, then choose the revision to inject
/// (`getSuitableRevisionSidecarSet`, [`revision::pinned::resolve`]: the pinned one is looked up
/// only for a Pod the set matches), then inject it.
pub fn inject_at_create(
    set: &SidecarSet,
    pod: &Value,
    ctx: &PodContext<'_>,
    revisions: &RevisionContext<'_>,
) -> Result<Outcome, InjectError> {
    if let Some(skip) = check_match(set, pod, ctx) {
        return Ok(skip);
    }
    let chosen = revision::pinned::resolve(set, pod, ctx.request_namespace, revisions)?;
    inject_matched(&chosen, pod, ctx)
}

/// Injects `set` as it is into a Pod it matches; a pinned revision is not looked up (see
/// [`inject_at_create`]).
pub fn inject(set: &SidecarSet, pod: &Value, ctx: &PodContext<'_>) -> Result<Outcome, InjectError> {
    if let Some(skip) = check_match(set, pod, ctx) {
        return Ok(skip);
    }
    inject_matched(set, pod, ctx)
}

/// Kruise's `buildSidecars` and the merge after it, as phases over a copy of the Pod: the metadata
/// first (so that `patchPodMetadata` is visible to the sidecars built), then the sidecars built for
/// that Pod, merged into its spec, then the annotations that record them. A Pod that already carries
/// all of it comes out equal to the input: [`Outcome::Unchanged`].
fn inject_matched(
    set: &SidecarSet,
    original: &Value,
    ctx: &PodContext<'_>,
) -> Result<Outcome, InjectError> {
    if !original.is_object() {
        return Err(InjectError::Pod {
            field: "object".into(),
            message: "must be a Pod object".into(),
        });
    }
    let mut pod = original.clone();
    let recorded = patch_metadata(set, &mut pod)?;
    let mut built = sidecar::build(set, &pod)?;
    merge_into_spec(set, &mut pod, &mut built)?;
    record_injection(set, &mut pod, recorded, built, ctx.now)?;
    Ok(if pod == *original {
        Outcome::Unchanged
    } else {
        Outcome::Injected(pod)
    })
}

/// The Pod's hash annotations as it arrived.
struct Recorded {
    hashes: annotations::HashEntries,
    hashes_without_image: annotations::HashEntries,
}

/// Reads (and so validates) the hash annotations before anything changes, then applies
/// `patchPodMetadata`.
fn patch_metadata(set: &SidecarSet, pod: &mut Value) -> Result<Recorded, InjectError> {
    let mut annotations = take_object(pod, &["metadata", "annotations"]);
    let recorded = Recorded {
        hashes: existing_hashes(&annotations, annotations::HASH)?,
        hashes_without_image: existing_hashes(&annotations, annotations::HASH_WITHOUT_IMAGE)?,
    };
    let patches = set.settings().patch_pod_metadata.as_deref().unwrap_or(&[]);
    crate::patch_pod_metadata::apply(patches, &mut annotations).map_err(|e| {
        InjectError::Setting {
            field: format!("metadata.annotations[{}]", e.key),
            setting: format!("patchPodMetadata[{}].annotations[{}]", e.index, e.key),
            message: e.message,
        }
    })?;
    put_object(pod, &["metadata", "annotations"], annotations);
    Ok(recorded)
}

/// The built init containers, containers and volumes, and the set's `imagePullSecrets`, into the
/// Pod's spec (taken out of `built`).
fn merge_into_spec(
    set: &SidecarSet,
    pod: &mut Value,
    built: &mut sidecar::Built,
) -> Result<(), InjectError> {
    let spec = pod
        .as_object_mut()
        .and_then(|o| {
            o.entry("spec")
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
        })
        .ok_or_else(|| InjectError::Pod {
            field: "spec".into(),
            message: "must be an object".into(),
        })?;
    check_cross_list_names(spec, built)?;
    if !built.init_containers.is_empty() {
        let mut init = std::mem::take(&mut built.init_containers);
        // Kruise always sorts injected init containers by name (stable).
        init.sort_by(|a, b| str_of(&a.0, "name").cmp(str_of(&b.0, "name")));
        merge_containers(spec, "initContainers", init)?;
    }
    if !built.containers.is_empty() {
        merge_containers(spec, "containers", std::mem::take(&mut built.containers))?;
    }
    if !built.volumes.is_empty() {
        merge_volumes(spec, std::mem::take(&mut built.volumes))?;
    }
    if let Some(secrets) = set.settings().image_pull_secrets.as_ref()
        && !secrets.is_empty()
    {
        merge_pull_secrets(spec, secrets.iter().map(|s| s.name.as_str()))?;
    }
    Ok(())
}

/// Kruise's `mergeSidecarVolumes`: a volume the Pod already has (by name) wins.
fn merge_volumes(spec: &mut Map<String, Value>, injected: Vec<Value>) -> Result<(), InjectError> {
    let mut vols = take_list(spec, "volumes")?;
    for v in injected {
        if !vols.iter().any(|p| str_of(p, "name") == str_of(&v, "name")) {
            vols.push(v);
        }
    }
    spec.insert("volumes".into(), Value::Array(vols));
    Ok(())
}

/// The Pod's pull secrets de-duplicated by name (the first of a name stays; entries without a string
/// name count as the name ""), then the set's that it lacks.
///
/// One pass with a set of the names seen: the list is the Pod's (about 100k entries fit in a 3 MB
/// request), and comparing each entry with those kept before took 66 s at 100k (native, release).
fn merge_pull_secrets<'a>(
    spec: &mut Map<String, Value>,
    names: impl Iterator<Item = &'a str>,
) -> Result<(), InjectError> {
    let pod_secrets = take_list(spec, "imagePullSecrets")?;
    let mut seen = HashSet::with_capacity(pod_secrets.len());
    let keep: Vec<bool> = pod_secrets
        .iter()
        .map(|s| seen.insert(str_of(s, "name")))
        .collect();
    let added: Vec<&str> = names.filter(|n| seen.insert(n)).collect();
    let mut out: Vec<Value> = pod_secrets
        .into_iter()
        .zip(keep)
        .filter_map(|(s, keep)| keep.then_some(s))
        .collect();
    out.extend(
        added
            .into_iter()
            .map(|name| serde_json::json!({ "name": name })),
    );
    spec.insert("imagePullSecrets".into(), Value::Array(out));
    Ok(())
}

/// The annotations that record the injection: both hash maps, the injected list, the hot-upgrade
/// working twins, and the sidecars' own (hot-upgrade versions).
fn record_injection(
    set: &SidecarSet,
    pod: &mut Value,
    recorded: Recorded,
    built: sidecar::Built,
    now: &str,
) -> Result<(), InjectError> {
    let mut annotations = take_object(pod, &["metadata", "annotations"]);
    let Recorded {
        mut hashes,
        mut hashes_without_image,
    } = recorded;
    let entry = |hash: &str, revision: &str| HashEntry {
        update_timestamp: Some(now.to_string()),
        hash: hash.to_string(),
        sidecar_set_name: set.name().to_string(),
        sidecar_list: Some(built.sidecar_list.clone()),
        controller_revision: revision.to_string(),
    };
    // Kruise's webhook (`buildSidecars`, `pkg/webhook/pod/mutating/sidecarset.go`) writes
    // `sidecarSet.Status.LatestRevision` into the `kruise.io/sidecarset-hash` entry only; the image-less
    // entry has none.
    upsert_entry(
        &mut hashes,
        set.name(),
        entry(set.hash(), set.revision_name()),
    );
    upsert_entry(
        &mut hashes_without_image,
        set.name(),
        entry(set.hash_without_image(), ""),
    );
    annotations.insert(
        annotations::HASH.into(),
        Value::String(annotations::encode_hash_map(&hashes)),
    );
    annotations.insert(
        annotations::HASH_WITHOUT_IMAGE.into(),
        Value::String(annotations::encode_hash_map(&hashes_without_image)),
    );
    let list = annotations::merge_injected_list(
        annotations
            .get(annotations::INJECTED_LIST)
            .and_then(Value::as_str),
        set.name(),
    );
    annotations.insert(annotations::INJECTED_LIST.into(), Value::String(list));
    if !built.hot_upgrade_working.is_empty() {
        merge_working(&mut annotations, built.hot_upgrade_working)?;
    }
    for (k, v) in built.annotations {
        annotations.insert(k, Value::String(v));
    }
    put_object(pod, &["metadata", "annotations"], annotations);
    Ok(())
}

/// `kruise.io/sidecarset-working-hotupgrade-container`: the working twin of each hot sidecar, added
/// to the entries other sets wrote.
fn merge_working(
    annotations: &mut Map<String, Value>,
    working: Vec<(String, String)>,
) -> Result<(), InjectError> {
    let raw = annotations
        .get(annotations::WORKING_HOT_UPGRADE)
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut merged: std::collections::BTreeMap<String, String> = if raw.is_empty() {
        Default::default()
    } else {
        serde_json::from_str(raw).map_err(|e| InjectError::Pod {
            field: format!("metadata.annotations[{}]", annotations::WORKING_HOT_UPGRADE),
            message: format!("must be a JSON object of container names: {e}"),
        })?
    };
    merged.extend(working);
    annotations.insert(
        annotations::WORKING_HOT_UPGRADE.into(),
        Value::String(serde_json::to_string(&merged).unwrap_or_default()),
    );
    Ok(())
}

/// Keeps the incoming entry's timestamp when the sidecars did not change, so that evaluating an
/// injected Pod again (audit scans, a second policy run) yields no patch: the timestamp says when the
/// sidecars were last set, not when the Pod was last looked at.
///
/// The revision name is always the current one, even when the hash is unchanged: a revision also
/// records `volumes`, `imagePullSecrets` and `patchPodMetadata`, which the hash does not cover, and
/// the Pod has just been injected from the current settings (as Kruise's webhook, which writes a whole
/// new entry whenever it injects). Evaluating it again under the same settings changes nothing.
fn upsert_entry(map: &mut annotations::HashEntries, name: &str, mut new: HashEntry) {
    if let Some(old) = map.get(name) {
        let same = old.hash == new.hash
            && old.sidecar_list == new.sidecar_list
            && old.sidecar_set_name == new.sidecar_set_name;
        if same && old.update_timestamp.is_some() {
            new.update_timestamp = old.update_timestamp.clone();
        }
    }
    map.insert(name.to_string(), new);
}

fn existing_hashes(
    annotations: &Map<String, Value>,
    key: &str,
) -> Result<annotations::HashEntries, InjectError> {
    match annotations.get(key) {
        None | Some(Value::Null) => Ok(Default::default()),
        Some(Value::String(raw)) => {
            annotations::parse_hash_map(raw).map_err(|message| InjectError::Pod {
                field: format!("metadata.annotations[{key}]"),
                message,
            })
        }
        Some(_) => Err(InjectError::Pod {
            field: format!("metadata.annotations[{key}]"),
            message: "must be a string".into(),
        }),
    }
}

/// A name must be unique across a Pod's containers and initContainers. Kruise would build such a Pod
/// and leave the API server to refuse it with a message about duplicate names; refusing here says which
/// setting collides with which Pod container.
fn check_cross_list_names(
    spec: &Map<String, Value>,
    built: &sidecar::Built,
) -> Result<(), InjectError> {
    let lists = [
        ("initContainers", &built.init_containers, "containers"),
        ("containers", &built.containers, "initContainers"),
    ];
    for (injected_into, injected, other) in lists {
        let others = spec
            .get(other)
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        for (c, _) in injected.iter() {
            let name = str_of(c, "name");
            if let Some(i) = others.iter().position(|o| str_of(o, "name") == name) {
                return Err(InjectError::Setting {
                    field: format!("spec.{other}[{i}].name"),
                    setting: format!("{injected_into}: {name}"),
                    message: format!(
                        "the Pod already has {} named {name:?}; container names must be unique across containers and initContainers",
                        if other == "initContainers" {
                            "an init container"
                        } else {
                            "a container"
                        }
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Kruise's `mergeSidecarContainers`: a Pod container of the same name is replaced in place; the others
/// go before (BeforeAppContainer) or after (AfterAppContainer) the Pod's own, in collection order.
fn merge_containers(
    spec: &mut Map<String, Value>,
    key: &str,
    injected: Vec<(Value, String)>,
) -> Result<(), InjectError> {
    let mut pod_list = take_list(spec, key)?;
    let (mut before, mut after) = (Vec::new(), Vec::new());
    for (c, policy) in injected {
        let name = str_of(&c, "name").to_string();
        if let Some(slot) = pod_list.iter_mut().find(|p| str_of(p, "name") == name) {
            *slot = c;
            continue;
        }
        match policy.as_str() {
            BEFORE_APP_CONTAINER => before.push(c),
            AFTER_APP_CONTAINER => after.push(c),
            _ => after.push(c),
        }
    }
    before.extend(pod_list);
    before.extend(after);
    spec.insert(key.into(), Value::Array(before));
    Ok(())
}

fn take_list(spec: &mut Map<String, Value>, key: &str) -> Result<Vec<Value>, InjectError> {
    match spec.remove(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(InjectError::Pod {
            field: format!("spec.{key}"),
            message: "must be a list".into(),
        }),
    }
}

fn take_object(pod: &mut Value, path: &[&str]) -> Map<String, Value> {
    let mut cur = pod;
    for p in &path[..path.len() - 1] {
        match cur.get_mut(*p) {
            Some(next) => cur = next,
            None => return Map::new(),
        }
    }
    match cur
        .as_object_mut()
        .and_then(|o| o.remove(path[path.len() - 1]))
    {
        Some(Value::Object(o)) => o,
        _ => Map::new(),
    }
}

fn put_object(pod: &mut Value, path: &[&str], value: Map<String, Value>) {
    let mut cur = pod;
    for p in &path[..path.len() - 1] {
        let Some(o) = cur.as_object_mut() else { return };
        cur = o
            .entry(p.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if cur.is_null() {
            *cur = Value::Object(Map::new());
        }
    }
    if let Some(o) = cur.as_object_mut()
        && (!value.is_empty() || o.contains_key(path[path.len() - 1]))
    {
        o.insert(path[path.len() - 1].to_string(), Value::Object(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(volume_path: &str) -> SidecarSet {
        SidecarSet::new(&json!({
            "name": "log", "selector": {"matchLabels": {"app": "web"}},
            "containers": [{"name": "agent", "image": "agent:1",
                            "volumeMounts": [{"name": "logs", "mountPath": "/logs"}]}],
            "volumes": [{"name": "logs", "hostPath": {"path": volume_path}}],
        }))
        .unwrap()
    }

    fn run(set: &SidecarSet, pod: &Value, now: &str) -> Value {
        let ctx = PodContext {
            request_namespace: "default",
            namespace_labels: &NamespaceLabels::NotNeeded,
            now,
        };
        match inject(set, pod, &ctx).unwrap() {
            Outcome::Injected(p) => p,
            Outcome::Unchanged => pod.clone(),
            other => panic!("{other:?}"),
        }
    }

    fn entry(pod: &Value, key: &str) -> HashEntry {
        let raw = pod["metadata"]["annotations"][key].as_str().unwrap();
        annotations::parse_hash_map(raw)
            .unwrap()
            .remove("log")
            .unwrap()
    }

    fn web() -> Value {
        json!({"metadata": {"name": "p", "labels": {"app": "web"}},
               "spec": {"containers": [{"name": "app", "image": "nginx"}]}})
    }

    /// The merge as it was before it kept a set of the names seen (one comparison with every entry
    /// kept so far): the reference for the output.
    fn merge_pull_secrets_by_comparison(pod: Vec<Value>, names: &[&str]) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        for sec in pod {
            if !out
                .iter()
                .any(|o| str_of(o, "name") == str_of(&sec, "name"))
            {
                out.push(sec);
            }
        }
        for name in names {
            if !out.iter().any(|o| str_of(o, "name") == *name) {
                out.push(json!({ "name": name }));
            }
        }
        out
    }

    fn merged_pull_secrets(pod: Vec<Value>, names: &[&str]) -> Value {
        let mut spec = Map::new();
        spec.insert("imagePullSecrets".into(), Value::Array(pod));
        merge_pull_secrets(&mut spec, names.iter().copied()).unwrap();
        spec.remove("imagePullSecrets").unwrap()
    }

    #[test]
    fn pull_secrets_keep_the_first_of_each_name_as_the_comparison_did() {
        // Entries without a string name (none, a number, not an object) all count as the name "".
        let pod = vec![
            json!({"name": "b"}),
            json!({"name": "a", "note": 1}),
            json!({"name": "b", "note": 2}),
            json!({}),
            json!({"name": 7}),
            json!("reg"),
            json!({"name": ""}),
            json!({"name": "a"}),
        ];
        let names = ["c", "a", "c", ""];
        let merged = merged_pull_secrets(pod.clone(), &names);
        assert_eq!(
            merged,
            json!([{"name": "b"}, {"name": "a", "note": 1}, {}, {"name": "c"}])
        );
        assert_eq!(
            merged,
            Value::Array(merge_pull_secrets_by_comparison(pod, &names))
        );
        assert_eq!(
            merged_pull_secrets(vec![json!({"name": "x"}), json!({"name": "x"})], &["", "y"]),
            json!([{"name": "x"}, {"name": ""}, {"name": "y"}])
        );
    }

    #[test]
    fn a_pod_with_100k_pull_secrets_is_merged_in_one_pass() {
        // 100k entries fit in a 3 MB request; each name twice, so half are dropped. Compared with
        // every entry kept before, this is 2.5e9 comparisons.
        let pod: Vec<Value> = (0..100_000)
            .map(|i| json!({"name": format!("s{}", i % 50_000)}))
            .collect();
        let merged = merged_pull_secrets(pod, &["s7", "reg"]);
        let merged = merged.as_array().unwrap();
        assert_eq!(merged.len(), 50_001);
        assert_eq!(merged[0], json!({"name": "s0"}));
        assert_eq!(merged[49_999], json!({"name": "s49999"}));
        assert_eq!(merged[50_000], json!({"name": "reg"}));
    }

    #[test]
    fn a_merge_patch_that_cannot_apply_names_the_pod_field_and_the_setting() {
        let s = SidecarSet::new(&json!({
            "name": "log", "selector": {"matchLabels": {"app": "web"}},
            "containers": [{"name": "agent", "image": "agent:1"}],
            "patchPodMetadata": [{"annotations": {"k": "{}"}, "patchPolicy": "MergePatchJson"}],
        }))
        .unwrap();
        let mut pod = web();
        pod["metadata"]["annotations"] = json!({"k": "{broken"});
        let ctx = PodContext {
            request_namespace: "default",
            namespace_labels: &NamespaceLabels::NotNeeded,
            now: "2026-01-01T00:00:00Z",
        };
        let msg = inject(&s, &pod, &ctx).unwrap_err().to_string();
        assert!(
            msg.starts_with("pod metadata.annotations[k]: existing value is not JSON"),
            "{msg}"
        );
        assert!(
            msg.ends_with("(setting patchPodMetadata[0].annotations[k])"),
            "{msg}"
        );
    }

    #[test]
    fn the_hash_entry_names_the_revision_and_the_image_less_one_does_not() {
        let s = set("/var/log");
        let pod = run(&s, &web(), "2026-01-01T00:00:00Z");
        assert_eq!(
            entry(&pod, annotations::HASH).controller_revision,
            s.revision_name()
        );
        assert!(s.revision_name().starts_with("log-"));
        assert_eq!(
            entry(&pod, annotations::HASH_WITHOUT_IMAGE).controller_revision,
            ""
        );
        // Evaluated again under the same settings: nothing changes.
        let ctx = PodContext {
            request_namespace: "default",
            namespace_labels: &NamespaceLabels::NotNeeded,
            now: "2026-01-02T00:00:00Z",
        };
        assert_eq!(inject(&s, &pod, &ctx).unwrap(), Outcome::Unchanged);
    }

    #[test]
    fn a_revision_change_the_hash_does_not_see_renames_the_revision_and_keeps_the_timestamp() {
        let (a, b) = (set("/var/log"), set("/srv/log"));
        assert_eq!(a.hash(), b.hash(), "volumes are not in the hash");
        assert_ne!(
            a.revision_name(),
            b.revision_name(),
            "but are in the revision"
        );
        let pod = run(&a, &web(), "2026-01-01T00:00:00Z");
        let again = run(&b, &pod, "2026-01-02T00:00:00Z");
        let e = entry(&again, annotations::HASH);
        assert_eq!(e.controller_revision, b.revision_name());
        assert_eq!(e.update_timestamp.as_deref(), Some("2026-01-01T00:00:00Z"));
    }
}
