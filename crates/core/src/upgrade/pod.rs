//! [`PodDigest`]: what planning reads of a Pod, taken from its JSON once per watch event.
//!
//! The planner, the status counts, `plan` and the Events read a small part of a Pod: identity,
//! labels, times, phase, the Ready condition, per container the name, images and readiness, and the
//! Kruise annotations. A digest holds exactly that, with the annotations already parsed, so a round
//! over 100k Pods compares strings instead of walking JSON, and a cache of digests holds a fraction of
//! the Pods' bytes. Values many Pods share (namespace, labels, container specs, images, image IDs,
//! hashes) are shared through an [`Interner`].
//!
//! Two things are kept that the list above does not name, because rules read them: every annotation
//! (`patchPodMetadata` may name any key, and an upgrade rewrites the Kruise ones whole, other sets'
//! entries included) and each container's spec (a Pod that is not upgradable is told which field
//! differs; the specs of a workload's Pods are shared, so this costs one pointer per container).
//!
//! Pods are untrusted input: a digest is made from any JSON value, reading missing fields and wrong
//! types as Go's decoder leaves a zero-valued struct (empty string, empty list, false), and records
//! what makes the value unusable as a Pod to patch ([`PodDigest::problem`]).

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::annotations;

use super::condition::CONDITION_TYPE;
use super::intern::{Interner, LabelSet, Str};
use super::state;
use crate::time::parse_rfc3339;

static EMPTY_LIST: Vec<Value> = Vec::new();

pub(crate) fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

pub(crate) fn list_at<'a>(v: Option<&'a Value>, key: &str) -> &'a [Value] {
    v.and_then(|v| v.get(key))
        .and_then(Value::as_array)
        .map_or(EMPTY_LIST.as_slice(), Vec::as_slice)
}

/// A container of the Pod's spec.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Ctr {
    pub name: Str,
    pub image: Str,
    /// `restartPolicy: Always` (a native sidecar, for an init container).
    pub always: bool,
    /// The whole container as the Pod has it (shared by the Pods that have the same one).
    pub spec: Arc<Value>,
}

impl Ctr {
    fn new(raw: &Value, i: &mut Interner) -> Self {
        let (mut name, mut image, mut always) = ("", "", false);
        for (k, v) in raw.as_object().into_iter().flatten() {
            match k.as_str() {
                "name" => name = v.as_str().unwrap_or(""),
                "image" => image = v.as_str().unwrap_or(""),
                "restartPolicy" => always = v.as_str() == Some("Always"),
                _ => {}
            }
        }
        Ctr {
            name: i.str(name),
            image: i.str(image),
            always,
            spec: i.value(raw),
        }
    }
}

/// A container status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtrStatus {
    pub name: Str,
    pub image: Str,
    pub image_id: Str,
    pub ready: bool,
    pub restarts: i64,
}

impl CtrStatus {
    fn new(raw: &Value, i: &mut Interner) -> Self {
        let (mut name, mut image, mut image_id, mut ready, mut restarts) = ("", "", "", false, 0);
        for (k, v) in raw.as_object().into_iter().flatten() {
            match k.as_str() {
                "name" => name = v.as_str().unwrap_or(""),
                "image" => image = v.as_str().unwrap_or(""),
                "imageID" => image_id = v.as_str().unwrap_or(""),
                "ready" => ready = v.as_bool().unwrap_or(false),
                "restartCount" => restarts = v.as_i64().unwrap_or(0),
                _ => {}
            }
        }
        CtrStatus {
            name: i.str(name),
            image: i.str(image),
            image_id: i.str(image_id),
            ready,
            restarts,
        }
    }
}

/// One annotation; `None` when the value is not a string (the API server never stores one, but
/// a Pod given by hand may carry one, and the Kruise annotations then read as an error).
pub(crate) type Annotation = (Str, Option<Str>);

/// A hash annotation (`kruise.io/sidecarset-hash`, `…-hash-without-image`): each set's `hash`,
/// sorted by set name, or why the annotation does not read (the whole annotation is checked, as
/// Go decodes it whole).
pub(crate) type SetHashes = Result<Box<[(Str, Str)]>, Str>;

/// One set's recorded `lastContainerStatuses`: (container, imageID; "" when omitted).
pub(crate) type RecordedIds = Box<[(Str, Str)]>;

/// `kruise.io/sidecarset-inplace-update-state`: each set's [`RecordedIds`], sorted by set name.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Inplace {
    Absent,
    /// Present but not a map of `InPlaceUpdateState` (an empty value included, as Go fails on it).
    Unreadable(Str),
    Parsed(Box<[(Str, RecordedIds)]>),
}

/// The Kruise annotations, parsed once.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Kruise {
    /// `kruise.io/sidecarset-injected-list`.
    pub injected: Box<[Str]>,
    pub hashes: SetHashes,
    /// Each set's `controllerRevision` in `kruise.io/sidecarset-hash`, sorted by set name; only the
    /// non-empty ones (Kruise's `GetPodSidecarSetControllerRevision` reads this annotation only).
    pub revisions: Box<[(Str, Str)]>,
    pub hashes_without_image: SetHashes,
    pub inplace: Inplace,
    /// `kruise.io/sidecarset-working-hotupgrade-container`, sorted; Go ignores a value that does
    /// not parse (empty map).
    pub working: Box<[(Str, Str)]>,
}

/// What the planner reads of one Pod. See the module documentation.
#[derive(Clone, Debug, PartialEq)]
pub struct PodDigest {
    pub(crate) name: Box<str>,
    /// `default` when empty (as Kruise reads it), except for a Pod with a [`Self::problem`], which
    /// is named as it came.
    pub(crate) namespace: Str,
    pub(crate) uid: Box<str>,
    pub(crate) resource_version: Box<str>,
    pub(crate) problem: Option<Box<str>>,
    pub(crate) labels: Option<LabelSet>,
    /// Sorted by key; `None` when `metadata.annotations` is not an object.
    pub(crate) annotations: Option<Box<[Annotation]>>,
    pub(crate) kruise: Kruise,
    pub(crate) phase: Str,
    /// `spec.nodeName` is set.
    pub(crate) assigned: bool,
    pub(crate) deleting: bool,
    /// Nanoseconds since the epoch.
    pub(crate) created: Option<i128>,
    /// The `Ready` condition is True.
    pub(crate) ready: bool,
    pub(crate) ready_since: Option<i128>,
    /// The first `SidecarSetUpgradable` condition.
    pub(crate) upgradable_condition: Option<Arc<Value>>,
    pub(crate) containers: Box<[Ctr]>,
    pub(crate) init_containers: Box<[Ctr]>,
    pub(crate) statuses: Box<[CtrStatus]>,
    pub(crate) init_statuses: Box<[CtrStatus]>,
}

/// The metadata fields read, in one pass over the object instead of a B-tree search per field.
#[derive(Default)]
struct Meta<'a> {
    name: &'a str,
    namespace: &'a str,
    uid: &'a str,
    resource_version: &'a str,
    creation: &'a str,
    labels: Option<&'a Map<String, Value>>,
    annotations: Option<&'a Map<String, Value>>,
    deleting: bool,
}

impl<'a> Meta<'a> {
    fn read(raw: &'a Value) -> Self {
        let mut m = Meta::default();
        for (k, v) in raw
            .get("metadata")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let s = || v.as_str().unwrap_or("");
            match k.as_str() {
                "name" => m.name = s(),
                "namespace" => m.namespace = s(),
                "uid" => m.uid = s(),
                "resourceVersion" => m.resource_version = s(),
                "creationTimestamp" => m.creation = s(),
                "labels" => m.labels = v.as_object(),
                "annotations" => m.annotations = v.as_object(),
                "deletionTimestamp" => m.deleting = !v.is_null(),
                _ => {}
            }
        }
        m
    }

    fn problem(&self, raw: &Value) -> Option<&'static str> {
        if !raw.is_object() {
            Some("not a JSON object")
        } else if self.name.is_empty() {
            Some("metadata.name is missing")
        } else if self.resource_version.is_empty() {
            // The patch's `test` op needs it; every Pod read from the API server has one.
            Some("metadata.resourceVersion is missing")
        } else {
            None
        }
    }
}

impl PodDigest {
    /// Reads `raw`, sharing repeated values through `interner`.
    pub fn new(raw: &Value, interner: &mut Interner) -> Self {
        let i = interner;
        let meta = Meta::read(raw);
        let problem = meta.problem(raw);
        let namespace = match meta.namespace {
            "" if problem.is_none() => "default",
            ns => ns,
        };
        let labels = meta.labels.map(|l| {
            // A JSON object's keys are unique and (without `preserve_order`) sorted; sort anyway.
            let mut pairs: Vec<(Str, Str)> = l
                .iter()
                .filter_map(|(k, v)| Some((i.str(k), i.str(v.as_str()?))))
                .collect();
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            i.labels(pairs)
        });
        let annotations = meta.annotations.map(|a| {
            let mut pairs: Vec<Annotation> = a
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (i.str(k), v.as_str().map(|s| i.str(s))))
                .collect();
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            pairs.into_boxed_slice()
        });
        let spec = raw.get("spec");
        let status = raw.get("status");
        let mut ready: Option<(bool, Option<i128>)> = None;
        let mut upgradable_condition = None;
        for c in list_at(status, "conditions") {
            match str_at(c, "type") {
                "Ready" if ready.is_none() => {
                    ready = Some((
                        str_at(c, "status") == "True",
                        parse_rfc3339(str_at(c, "lastTransitionTime")),
                    ));
                }
                CONDITION_TYPE if upgradable_condition.is_none() => {
                    upgradable_condition = Some(i.value(c));
                }
                _ => {}
            }
        }
        let ctrs = |key: &str, i: &mut Interner| -> Box<[Ctr]> {
            list_at(spec, key).iter().map(|c| Ctr::new(c, i)).collect()
        };
        let statuses = |key: &str, i: &mut Interner| -> Box<[CtrStatus]> {
            list_at(status, key)
                .iter()
                .map(|c| CtrStatus::new(c, i))
                .collect()
        };
        let mut d = PodDigest {
            name: meta.name.into(),
            namespace: i.str(namespace),
            uid: meta.uid.into(),
            resource_version: meta.resource_version.into(),
            problem: problem.map(Into::into),
            labels,
            annotations,
            kruise: Kruise::empty(),
            phase: i.str(status.map_or("", |s| str_at(s, "phase"))),
            assigned: spec.is_some_and(|s| !str_at(s, "nodeName").is_empty()),
            deleting: meta.deleting,
            created: parse_rfc3339(meta.creation),
            ready: ready.is_some_and(|r| r.0),
            ready_since: ready.and_then(|r| r.1),
            upgradable_condition,
            containers: ctrs("containers", i),
            init_containers: ctrs("initContainers", i),
            statuses: statuses("containerStatuses", i),
            init_statuses: statuses("initContainerStatuses", i),
        };
        d.kruise = Kruise::read(&d, i);
        d
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn uid(&self) -> &str {
        &self.uid
    }

    pub fn resource_version(&self) -> &str {
        &self.resource_version
    }

    /// What makes the value unusable as a Pod to patch, if anything.
    pub fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }

    /// Whether `kruise.io/sidecarset-injected-list` names the set: only such Pods can match it.
    pub fn injected_by(&self, set_name: &str) -> bool {
        self.kruise.injected.iter().any(|n| &**n == set_name)
    }

    /// The ControllerRevision this set's `kruise.io/sidecarset-hash` entry names, if any (Kruise's
    /// `GetPodSidecarSetControllerRevision`).
    pub fn controller_revision(&self, set_name: &str) -> Option<&str> {
        let r = &self.kruise.revisions;
        let at = r.binary_search_by(|(k, _)| (**k).cmp(set_name)).ok()?;
        Some(&r[at].1)
    }

    /// The sets named in `kruise.io/sidecarset-injected-list`.
    pub fn injected_sets(&self) -> impl Iterator<Item = &str> {
        self.kruise.injected.iter().map(|n| &**n)
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        let l = self.labels.as_deref()?;
        let at = l.binary_search_by(|(k, _)| (**k).cmp(key)).ok()?;
        Some(&l[at].1)
    }

    /// The value of a string annotation.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotation_entry(key)?.as_deref()
    }

    /// `Some(None)`: present, not a string.
    pub(crate) fn annotation_entry(&self, key: &str) -> Option<&Option<Str>> {
        let a = self.annotations.as_deref()?;
        let at = a.binary_search_by(|(k, _)| (**k).cmp(key)).ok()?;
        Some(&a[at].1)
    }

    /// Kubernetes' `IsPodActive`: not Succeeded, not Failed, not being deleted.
    pub fn is_active(&self) -> bool {
        crate::pod::is_active(&self.phase, self.deleting)
    }

    /// `podutil.IsPodReady`: the Ready condition is True.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Kruise's `IsRunningAndReady`: phase Running, Ready=True, not being deleted.
    pub fn is_running_and_ready(&self) -> bool {
        &*self.phase == "Running" && self.ready && !self.deleting
    }

    /// The status of a container (`native`: of an init container) by name.
    pub fn status_of(&self, name: &str, native: bool) -> Option<&CtrStatus> {
        let list = if native {
            &self.init_statuses
        } else {
            &self.statuses
        };
        list.iter().find(|s| &*s.name == name)
    }

    pub(crate) fn container(&self, name: &str) -> Option<(usize, &Ctr)> {
        self.containers
            .iter()
            .enumerate()
            .find(|(_, c)| &*c.name == name)
    }

    pub(crate) fn init_container(&self, name: &str) -> Option<(usize, &Ctr)> {
        self.init_containers
            .iter()
            .enumerate()
            .find(|(_, c)| &*c.name == name)
    }

    /// `(index, container)` in `spec.initContainers` (`native`) or `spec.containers`.
    pub(crate) fn container_in(&self, name: &str, native: bool) -> Option<(usize, &Ctr)> {
        if native {
            self.init_container(name)
        } else {
            self.container(name)
        }
    }

    /// Kruise's `util.GetContainer`: init containers first, then containers.
    pub(crate) fn has_any_container(&self, name: &str) -> bool {
        self.init_container(name).is_some() || self.container(name).is_some()
    }

    pub(crate) fn image_of(&self, name: &str, native: bool) -> Option<&str> {
        self.container_in(name, native).map(|(_, c)| &*c.image)
    }

    /// Kubernetes' `maxContainerRestarts`: (regular containers, restartable init containers).
    pub(crate) fn max_restarts(&self) -> (i64, i64) {
        let regular = self.statuses.iter().map(|s| s.restarts).max().unwrap_or(0);
        let sidecar = self
            .init_statuses
            .iter()
            .filter(|s| self.init_container(&s.name).is_some_and(|(_, c)| c.always))
            .map(|s| s.restarts)
            .max()
            .unwrap_or(0);
        (regular.max(0), sidecar.max(0))
    }
}

impl Kruise {
    fn empty() -> Self {
        Kruise {
            injected: Box::new([]),
            hashes: Ok(Box::new([])),
            revisions: Box::new([]),
            hashes_without_image: Ok(Box::new([])),
            inplace: Inplace::Absent,
            working: Box::new([]),
        }
    }

    fn read(pod: &PodDigest, i: &mut Interner) -> Self {
        let injected = pod
            .annotation(annotations::INJECTED_LIST)
            .map(|l| {
                annotations::parse_injected_list(l)
                    .into_iter()
                    .map(|n| i.str(n))
                    .collect()
            })
            .unwrap_or_default();
        let working = pod
            .annotation(annotations::WORKING_HOT_UPGRADE)
            .and_then(|raw| {
                serde_json::from_str::<std::collections::BTreeMap<String, String>>(raw).ok()
            })
            .map(|m| m.iter().map(|(k, v)| (i.str(k), i.str(v))).collect())
            .unwrap_or_default();
        let (hashes, revisions) = read_hashes(pod.annotation_entry(annotations::HASH), i);
        Kruise {
            injected,
            hashes,
            revisions,
            hashes_without_image: read_hashes(
                pod.annotation_entry(annotations::HASH_WITHOUT_IMAGE),
                i,
            )
            .0,
            inplace: read_inplace(pod.annotation(annotations::INPLACE_UPDATE_STATE), i),
            working,
        }
    }
}

/// A hash annotation's `hash` per set, and its non-empty `controllerRevision` per set.
fn read_hashes(entry: Option<&Option<Str>>, i: &mut Interner) -> (SetHashes, Box<[(Str, Str)]>) {
    let raw = match entry {
        None => return (Ok(Box::new([])), Box::new([])),
        Some(None) => return (Err(i.str("must be a string")), Box::new([])),
        Some(Some(raw)) => raw,
    };
    if raw.trim().is_empty() {
        return (Ok(Box::new([])), Box::new([]));
    }
    match annotations::parse_hash_map(raw) {
        // A BTreeMap: sorted by set name.
        Ok(map) => (
            Ok(map
                .iter()
                .map(|(k, e)| (i.str(k), i.str(&e.hash)))
                .collect()),
            map.iter()
                .filter(|(_, e)| !e.controller_revision.is_empty())
                .map(|(k, e)| (i.str(k), i.str(&e.controller_revision)))
                .collect(),
        ),
        Err(e) => (Err(i.str(&e)), Box::new([])),
    }
}

fn read_inplace(raw: Option<&str>, i: &mut Interner) -> Inplace {
    let Some(raw) = raw else {
        return Inplace::Absent;
    };
    let all = match state::parse_all(raw) {
        Ok(all) => all,
        Err(e) => return Inplace::Unreadable(i.str(&e)),
    };
    let mut sets: Vec<(Str, RecordedIds)> = all
        .iter()
        .map(|(set, entry)| {
            let last = entry
                .get("lastContainerStatuses")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(c, s)| (i.str(c), i.str(str_at(s, "imageID"))))
                        .collect()
                })
                .unwrap_or_default();
            (i.str(set), last)
        })
        .collect();
    sets.sort_by(|a, b| a.0.cmp(&b.0));
    Inplace::Parsed(sets.into_boxed_slice())
}

/// This set's `hash` in a parsed hash annotation ("" when the set has no entry).
pub(crate) fn set_hash<'a>(hashes: &'a SetHashes, set: &str) -> Result<&'a str, &'a str> {
    match hashes {
        Ok(entries) => Ok(entries
            .binary_search_by(|(k, _)| (**k).cmp(set))
            .map_or("", |at| &entries[at].1)),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn digest(v: Value) -> PodDigest {
        PodDigest::new(&v, &mut Interner::default())
    }

    #[test]
    fn problems_are_named_and_the_namespace_defaults_only_for_usable_pods() {
        assert_eq!(digest(json!([1])).problem(), Some("not a JSON object"));
        let nameless = digest(json!({"metadata": {"resourceVersion": "1"}}));
        assert_eq!(nameless.problem(), Some("metadata.name is missing"));
        assert_eq!(nameless.namespace(), "");
        let no_rv = digest(json!({"metadata": {"name": "p"}}));
        assert_eq!(no_rv.problem(), Some("metadata.resourceVersion is missing"));
        let ok = digest(json!({"metadata": {"name": "p", "resourceVersion": "7"}}));
        assert_eq!((ok.problem(), ok.namespace()), (None, "default"));
    }

    #[test]
    fn annotations_keep_strings_and_mark_other_values() {
        let d = digest(
            json!({"metadata": {"name": "p", "resourceVersion": "1", "annotations": {
            "a": "x", "b": 3, "c": null,
            "kruise.io/sidecarset-hash": 3,
            "kruise.io/sidecarset-injected-list": "one,two"}}}),
        );
        assert_eq!(d.annotation("a"), Some("x"));
        assert_eq!(d.annotation("b"), None);
        assert_eq!(d.annotation_entry("b"), Some(&None));
        assert_eq!(d.annotation_entry("c"), None, "null reads as absent");
        assert_eq!(
            d.kruise.hashes.as_ref().err().map(|e| &**e),
            Some("must be a string")
        );
        assert!(d.injected_by("two") && !d.injected_by("on"));
    }

    #[test]
    fn every_set_entry_of_the_kruise_annotations_is_parsed() {
        let d = digest(
            json!({"metadata": {"name": "p", "resourceVersion": "1", "annotations": {
            "kruise.io/sidecarset-hash": r#"{"b":{"hash":"hb"},"a":"legacy"}"#,
            "kruise.io/sidecarset-hash-without-image": "not json",
            "kruise.io/sidecarset-inplace-update-state":
                r#"{"a":{"lastContainerStatuses":{"c":{"imageID":"i"},"d":{}}}}"#}}}),
        );
        assert_eq!(set_hash(&d.kruise.hashes, "a"), Ok("legacy"));
        assert_eq!(set_hash(&d.kruise.hashes, "b"), Ok("hb"));
        assert_eq!(set_hash(&d.kruise.hashes, "z"), Ok(""));
        assert!(set_hash(&d.kruise.hashes_without_image, "a").is_err());
        assert_eq!(
            d.controller_revision("a"),
            None,
            "a legacy entry names none"
        );
        assert_eq!(d.controller_revision("z"), None);
        let Inplace::Parsed(sets) = &d.kruise.inplace else {
            panic!("{:?}", d.kruise.inplace)
        };
        assert_eq!(&*sets[0].0, "a");
        let ids: Vec<(&str, &str)> = sets[0].1.iter().map(|(c, i)| (&**c, &**i)).collect();
        assert_eq!(ids, [("c", "i"), ("d", "")]);
    }

    #[test]
    fn the_controller_revision_of_each_set_is_kept() {
        let d = digest(
            json!({"metadata": {"name": "p", "resourceVersion": "1", "annotations": {
            "kruise.io/sidecarset-hash":
                r#"{"a":{"hash":"ha","controllerRevision":"a-123"},"b":{"hash":"hb","controllerRevision":""}}"#,
            "kruise.io/sidecarset-hash-without-image":
                r#"{"c":{"hash":"hc","controllerRevision":"c-9"}}"#}}}),
        );
        assert_eq!(d.controller_revision("a"), Some("a-123"));
        assert_eq!(d.controller_revision("b"), None, "empty is none");
        assert_eq!(
            d.controller_revision("c"),
            None,
            "the image-less annotation is not read, as in Kruise"
        );
    }

    #[test]
    fn pods_of_one_workload_share_their_specs_and_labels() {
        let mut i = Interner::default();
        let pod = |name: &str| {
            json!({"metadata": {"name": name, "resourceVersion": "1", "labels": {"app": "a"}},
                   "spec": {"containers": [{"name": "app", "image": "nginx", "args": ["x"]}]}})
        };
        let (a, b) = (
            PodDigest::new(&pod("a"), &mut i),
            PodDigest::new(&pod("b"), &mut i),
        );
        assert!(Arc::ptr_eq(&a.containers[0].spec, &b.containers[0].spec));
        assert!(Arc::ptr_eq(
            a.labels.as_ref().unwrap(),
            b.labels.as_ref().unwrap()
        ));
        assert_eq!(a.label("app"), Some("a"));
    }
}
