//! `injectionStrategy.revision`: which revision of the set a new Pod gets, as Kruise's Pod webhook
//! chooses it at CREATE (`pkg/webhook/pod/mutating/sidecarset.go` `getSuitableRevisionSidecarSet`,
//! `selectRevisionRandomly`), and the set restored from a recorded ControllerRevision
//! (`pkg/control/sidecarcontrol/history_control.go` `getControllerRevision`,
//! `GetHistorySidecarSet`, `restoreRevisionInfo`).
//!
//! The lookups are the caller's, through a [`RevisionSource`] (the policy: Kubewarden's
//! context-aware host calls; the tests: recorded answers, or what a test cluster holds); the rest is
//! pure.
//!
//! One deliberate difference: Kruise draws `Partial`'s percentage with `rand.Float64()`, so the same
//! Pod evaluated twice may get either revision. Here the draw is a hash of the Pod's identity
//! ([`draw_key`]), so a named Pod always gets the same answer, and an unnamed one the same answer
//! for the same request.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{CUSTOM_VERSION_LABEL, SET_NAME_LABEL};
use crate::SidecarSet;
use crate::annotations;
use crate::error::{InjectError, SettingsErrors};
use crate::selector;
use crate::settings::{self, INJECT_PARTIAL, Settings};

/// Where the policy reads revisions unless `revisionNamespace` says otherwise: the namespace the
/// reconciler's manifests (`deploy/reconciler`) run it in, whose `--revision-namespace` defaults to
/// its own namespace.
pub const DEFAULT_NAMESPACE: &str = "sidecarset-system";

/// Reads ControllerRevisions (`apps/v1`), as JSON objects.
pub trait RevisionSource {
    /// The ControllerRevision `name` in `namespace` (`kubernetes/get_resource`). Not found is an
    /// error, as any other failure.
    fn get(&self, namespace: &str, name: &str) -> Result<Value, String>;
    /// The ControllerRevisions of `namespace` matching `label_selector`, a list of `key=value`
    /// joined by `,` (`kubernetes/list_resources_by_namespace`). None is an empty list.
    fn list(&self, namespace: &str, label_selector: &str) -> Result<Vec<Value>, String>;
}

/// For callers whose sets pin no revision: every lookup fails, saying so.
pub struct NoRevisions;

impl RevisionSource for NoRevisions {
    fn get(&self, namespace: &str, name: &str) -> Result<Value, String> {
        Err(format!(
            "no ControllerRevision lookup is available here (asked for {namespace}/{name})"
        ))
    }
    fn list(&self, namespace: &str, label_selector: &str) -> Result<Vec<Value>, String> {
        Err(format!(
            "no ControllerRevision lookup is available here (asked for {label_selector} in {namespace})"
        ))
    }
}

/// What a Pod's injection needs besides the Pod: where revisions come from, and the request's uid
/// (part of the `Partial` draw for a Pod that has no name yet).
pub struct RevisionContext<'a> {
    pub request_uid: &'a str,
    pub source: &'a dyn RevisionSource,
}

/// The revision `injectionStrategy.revision` pins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pin<'a> {
    /// `revisionName`: that ControllerRevision.
    Name(&'a str),
    /// `customVersion`: the newest revision of the set labelled with it.
    CustomVersion(&'a str),
}

impl Pin<'_> {
    fn setting(&self) -> &'static str {
        match self {
            Pin::Name(_) => "injectionStrategy.revision.revisionName",
            Pin::CustomVersion(_) => "injectionStrategy.revision.customVersion",
        }
    }
}

/// The pin of `settings`; `revisionName` wins over `customVersion` (`getControllerRevision`'s
/// switch tests it first).
pub fn pin(settings: &Settings) -> Option<Pin<'_>> {
    let r = settings.injection_strategy.revision.as_ref()?;
    r.revision_name
        .as_deref()
        .map(Pin::Name)
        .or_else(|| r.custom_version.as_deref().map(Pin::CustomVersion))
}

/// The label selector of a `customVersion` lookup: Kruise's `GetRevisionSelector` plus
/// `MatchingLabels{SidecarSetCustomVersionLabel: version}`.
pub fn custom_version_selector(set_name: &str, version: &str) -> String {
    format!("{SET_NAME_LABEL}={set_name},{CUSTOM_VERSION_LABEL}={version}")
}

/// The newest of `revisions` as Kubernetes' `history.SortControllerRevisions` orders them
/// (`.revision`, then creation time, then name), which `getControllerRevision` takes the last of.
/// The API server writes `creationTimestamp` in UTC with whole seconds, so its text sorts as time.
pub fn newest(revisions: Vec<Value>) -> Option<Value> {
    let key = |r: &Value| {
        (
            r["revision"].as_i64().unwrap_or(0),
            r.pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str)
                .map(str::to_owned),
            r.pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(str::to_owned),
        )
    };
    revisions.into_iter().max_by(|a, b| key(a).cmp(&key(b)))
}

/// Which revision a Pod gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// The current settings.
    Latest,
    /// The pinned revision.
    Pinned,
}

/// `getSuitableRevisionSidecarSet` at CREATE, once the pinned revision is found: a paused update
/// strategy or `policy: Always` gives the pinned revision; `Partial` gives it to the Pods the update
/// selector leaves out, and to `p%` of the others when `partition` is a percentage
/// (`selectRevisionRandomly`; an integer or no partition gives the latest). `key` is the Pod's
/// [`draw_key`].
pub fn choose<'a>(
    settings: &Settings,
    pod_label: impl Fn(&str) -> Option<&'a str>,
    key: &str,
) -> Choice {
    let update = &settings.update_strategy;
    if update.paused {
        return Choice::Pinned;
    }
    let policy = settings
        .injection_strategy
        .revision
        .as_ref()
        .and_then(|r| r.policy.as_deref());
    if policy != Some(INJECT_PARTIAL) {
        return Choice::Pinned;
    }
    if !selector::update_selects(update.selector.as_ref(), pod_label) {
        return Choice::Pinned;
    }
    match &update.partition {
        Some(IntOrString::String(p)) => {
            // Validated as digits and '%'; a number too large to parse is over 100%.
            let percent = p.strip_suffix('%').and_then(|d| d.parse::<u64>().ok());
            if percent.is_none_or(|p| draw(key, p)) {
                Choice::Pinned
            } else {
                Choice::Latest
            }
        }
        _ => Choice::Latest,
    }
}

/// What the `Partial` draw is a function of, so that it gives the same answer for the same Pod:
/// the set's name (each set draws on its own, as Kruise's independent draws do), the Pod's
/// namespace and name, and, for a Pod that has no name yet (a workload's Pods are named by the API
/// server after admission from `generateName`, so every Pod of a ReplicaSet arrives the same), the
/// `generateName` and the admission request's uid, which is what tells those Pods apart. The API
/// server gives each webhook call its own uid, so a Pod with a name is answered the same whenever it
/// is evaluated, and one without a name the same for the same request.
pub fn draw_key(set_name: &str, pod: &Value, request_namespace: &str, request_uid: &str) -> String {
    let namespace = crate::inject::pod_namespace(pod, request_namespace);
    let meta = |key: &str| {
        pod.get("metadata")
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let name = meta("name");
    if name.is_empty() {
        format!(
            "{set_name}\n{namespace}/{}\n{request_uid}",
            meta("generateName")
        )
    } else {
        format!("{set_name}\n{namespace}/{name}")
    }
}

/// True for `percent`% of keys: the first 64 bits of the key's SHA-256 as a fraction of 2^64, below
/// `percent / 100`. Kruise's `rand.Float64() <= p`: 100% always, 0% (practically) never.
pub fn draw(key: &str, percent: u64) -> bool {
    if percent >= 100 {
        return true;
    }
    let digest = Sha256::digest(key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u128::from(u64::from_be_bytes(first)) * 100 < u128::from(percent) << 64
}

/// The set to inject into `pod`: `set` itself, or the revision `injectionStrategy.revision` pins,
/// restored. As in Kruise, the pinned revision is read and restored before the choice, so a
/// revision that cannot be found refuses every Pod of the set, also those the choice would give the
/// latest.
pub fn resolve<'s>(
    set: &'s SidecarSet,
    pod: &Value,
    request_namespace: &str,
    rc: &RevisionContext<'_>,
) -> Result<Cow<'s, SidecarSet>, InjectError> {
    let Some(pin) = pin(set.settings()) else {
        return Ok(Cow::Borrowed(set));
    };
    let revision = find(set, pin, rc.source)?;
    let history = restore(set, &revision).map_err(|message| InjectError::Revision {
        setting: pin.setting().into(),
        message,
    })?;
    let key = draw_key(set.name(), pod, request_namespace, rc.request_uid);
    Ok(
        match choose(set.settings(), |k| crate::pod::label(pod, k), &key) {
            Choice::Pinned => Cow::Owned(history),
            Choice::Latest => Cow::Borrowed(set),
        },
    )
}

/// The pinned ControllerRevision, read in the set's revision namespace. Kruise answers a missing
/// one with an error, which refuses the Pod; so does this.
fn find(set: &SidecarSet, pin: Pin<'_>, source: &dyn RevisionSource) -> Result<Value, InjectError> {
    let namespace = set.revision_namespace();
    let fix = format!(
        "the Pods this set matches are refused until then, as Kruise refuses them: list the set's \
         revisions with `kubectl get controllerrevisions -n {namespace} -l {SET_NAME_LABEL}={}` \
         and pin one of them, or point revisionNamespace at the reconciler's --revision-namespace \
         if they live elsewhere",
        set.name()
    );
    let error = |message: String| InjectError::Revision {
        setting: pin.setting().into(),
        message,
    };
    match pin {
        Pin::Name(name) => {
            let revision = source.get(namespace, name).map_err(|e| {
                error(format!(
                    "cannot read ControllerRevision {name:?} in namespace {namespace:?}: {e}; {fix}"
                ))
            })?;
            recorded_for(set, &revision).map_err(|e| {
                error(format!(
                    "ControllerRevision {name:?} in namespace {namespace:?} {e}; the Pods this set \
                     matches are refused until it pins one of its own, listed by `kubectl get \
                     controllerrevisions -n {namespace} -l {SET_NAME_LABEL}={}`",
                    set.name()
                ))
            })?;
            Ok(revision)
        }
        Pin::CustomVersion(version) => {
            let selector = custom_version_selector(set.name(), version);
            let found = source.list(namespace, &selector).map_err(|e| {
                error(format!(
                    "cannot list the ControllerRevisions labelled {selector} in namespace {namespace:?}: {e}; {fix}"
                ))
            })?;
            newest(found).ok_or_else(|| {
                error(format!(
                    "no ControllerRevision labelled {selector} in namespace {namespace:?} \
                     (the reconciler labels the revision it records while the settings' customVersion is {version:?}); {fix}"
                ))
            })
        }
    }
}

/// Whether `revision` records this set: it carries the set's `kruise.io/sidecarset-name` label, as
/// every revision the reconciler (or Kruise) records does. Kruise reads a pinned `revisionName`
/// without looking (`getControllerRevision`), so a set could be pinned to another set's revision,
/// or to any ControllerRevision someone able to write the namespace put there, and inject its
/// containers; here such a revision refuses the Pod
/// (docs/revisions.md#pinned-injection).
pub fn recorded_for(set: &SidecarSet, revision: &Value) -> Result<(), String> {
    let label = revision
        .pointer("/metadata/labels")
        .and_then(|l| l.get(SET_NAME_LABEL))
        .and_then(Value::as_str);
    match label {
        Some(l) if l == set.name() => Ok(()),
        Some(other) => Err(format!(
            "records set {other:?} (label {SET_NAME_LABEL}), not {:?}: a set is only pinned to its own revisions",
            set.name()
        )),
        None => Err(format!(
            "has no {SET_NAME_LABEL} label, so it is no revision of set {:?}: a set is only pinned to its own revisions",
            set.name()
        )),
    }
}

/// What the reconciler checks before any Pod comes (docs/revisions.md#pinned-revisions-checked-ahead):
/// whether the set's pin names one of `revisions`, the set's own revisions in `namespace` (those the
/// API server lists with its `kruise.io/sidecarset-name` label: their names, and their custom-version
/// labels). `None` when the set pins nothing or the pinned revision is there; else what the Pods
/// of the set will be refused for, and how to fix it. `namespace` is where the reconciler keeps the
/// revisions: a set whose `revisionNamespace` is another one reads where no revision is recorded.
pub fn missing_pin<'r>(
    set: &SidecarSet,
    namespace: &str,
    revisions: impl IntoIterator<Item = (&'r str, Option<&'r str>)>,
) -> Option<String> {
    let pin = pin(set.settings())?;
    let read_from = set.revision_namespace();
    if read_from != namespace {
        return Some(format!(
            "{}: revisionNamespace is {read_from:?}, but the reconciler records the set's revisions \
             in {namespace:?} (its --revision-namespace): the policy would read the pinned revision \
             where none is recorded; set revisionNamespace to {namespace:?}",
            pin.setting()
        ));
    }
    let mut revisions = revisions.into_iter();
    let found = match pin {
        Pin::Name(name) => revisions.any(|(n, _)| n == name),
        Pin::CustomVersion(v) => revisions.any(|(_, cv)| cv == Some(v)),
    };
    if found {
        return None;
    }
    let what = match pin {
        Pin::Name(name) => format!("revisionName {name:?} is not one of the set's revisions"),
        Pin::CustomVersion(v) => {
            format!("no revision of the set carries customVersion {v:?}")
        }
    };
    Some(format!(
        "{}: {what} in namespace {namespace:?} (label {SET_NAME_LABEL}={}): every Pod the set \
         matches will be refused at admission until it is; pin one listed by `kubectl get \
         controllerrevisions -n {namespace} -l {SET_NAME_LABEL}={}`",
        pin.setting(),
        set.name(),
        set.name()
    ))
}

/// `GetHistorySidecarSet`: the set with the revision's `containers`, `initContainers`, `volumes`,
/// `imagePullSecrets` and `patchPodMetadata` (the revision's data is
/// `{"spec": {"$patch": "replace", …}}`, so the restored spec is these lists and nothing else, an
/// absent one empty), the revision's hash annotations (computed from its containers when empty, as
/// `restoreRevisionInfo` does) and the revision's name, which the Pod's hash entry records. Like
/// Kruise, the restored lists are not defaulted again: a revision holds them as recorded.
///
/// A revision whose lists this policy cannot read (a field it does not know, a wrong type) is an
/// error naming the field: Kruise would drop unknown fields and inject the rest.
pub fn restore(set: &SidecarSet, revision: &Value) -> Result<SidecarSet, String> {
    let name = revision
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let Some(spec) = revision.pointer("/data/spec").filter(|s| s.is_object()) else {
        return Err(format!(
            "ControllerRevision {name:?} has no data.spec object, so it is not a SidecarSet revision"
        ));
    };
    let mut errs = SettingsErrors::default();
    // Only the name and the five lists: `$patch: replace` replaces the whole spec, and injection
    // reads nothing else (the Pod was matched against the current settings). Not a clone of the
    // settings either, which would bring the deep copies of every k8s-openapi type into policy.wasm.
    let mut s = Settings {
        name: set.name().to_owned(),
        ..Settings::default()
    };
    s.containers =
        settings::parse_sidecar_list(spec.get("containers"), "data.spec.containers", &mut errs);
    s.init_containers = settings::parse_sidecar_list(
        spec.get("initContainers"),
        "data.spec.initContainers",
        &mut errs,
    );
    s.volumes = list(spec, "volumes", &mut errs);
    s.image_pull_secrets = list(spec, "imagePullSecrets", &mut errs);
    s.patch_pod_metadata = list(spec, "patchPodMetadata", &mut errs);
    if !errs.is_empty() {
        return Err(format!(
            "ControllerRevision {name:?} cannot be read by this policy: {errs}"
        ));
    }
    let annotation = |key: &str| {
        revision
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    Ok(SidecarSet::restored(
        s,
        annotation(annotations::HASH),
        annotation(annotations::HASH_WITHOUT_IMAGE),
        name.to_owned(),
    ))
}

fn list<T: DeserializeOwned + Serialize>(
    spec: &Value,
    key: &str,
    errs: &mut SettingsErrors,
) -> Option<Vec<T>> {
    // As `Option<Vec<T>>`, the type the settings parser reads these lists as: the same instance of
    // the generic parser, which keeps policy.wasm from carrying a second copy of it.
    match spec.get(key) {
        None | Some(Value::Null) => None,
        Some(v) => {
            settings::parse_value::<Option<Vec<T>>>(v, &format!("data.spec.{key}"), errs).flatten()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::revision::Revision;
    use serde_json::json;
    use std::cell::RefCell;

    fn settings(image: &str, extra: Value) -> Value {
        let mut s = json!({"name": "log", "selector": {"matchLabels": {"app": "web"}},
            "containers": [{"name": "agent", "image": image,
                            "volumeMounts": [{"name": "cfg", "mountPath": "/etc/agent"}]}],
            "volumes": [{"name": "cfg", "configMap": {"name": format!("cfg-{image}")}}]});
        if let (Some(o), Some(e)) = (s.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        s
    }

    fn set(extra: Value) -> SidecarSet {
        SidecarSet::new(&settings("agent:2", extra)).unwrap()
    }

    #[test]
    fn a_pin_is_checked_ahead_against_the_sets_own_revisions() {
        let by_name = set(json!({"injectionStrategy": {"revision": {"revisionName": "log-1"}}}));
        let ns = DEFAULT_NAMESPACE;
        assert_eq!(missing_pin(&by_name, ns, [("log-1", None)]), None);
        let missing = missing_pin(&by_name, ns, [("log-2", Some("v1"))]).unwrap();
        assert!(
            missing.starts_with(
                "injectionStrategy.revision.revisionName: revisionName \"log-1\" is not one of the set's revisions in namespace \"sidecarset-system\""
            ),
            "{missing}"
        );
        let by_version = set(json!({"injectionStrategy": {"revision": {"customVersion": "v1"}}}));
        assert_eq!(missing_pin(&by_version, ns, [("log-2", Some("v1"))]), None);
        assert!(missing_pin(&by_version, ns, [("log-1", None)]).is_some());
        assert_eq!(missing_pin(&set(json!({})), ns, []), None, "no pin");
        let elsewhere = missing_pin(&by_name, "sidecars", [("log-1", None)]).unwrap();
        assert!(
            elsewhere.contains("revisionNamespace is \"sidecarset-system\""),
            "{elsewhere}"
        );
    }

    #[test]
    fn a_pinned_revision_must_carry_the_sets_label() {
        let s = set(json!({}));
        let labelled = |labels: Value| json!({"metadata": {"name": "x", "labels": labels}});
        assert_eq!(
            recorded_for(&s, &labelled(json!({SET_NAME_LABEL: "log"}))),
            Ok(())
        );
        let other = recorded_for(&s, &labelled(json!({SET_NAME_LABEL: "envoy"}))).unwrap_err();
        assert!(other.starts_with("records set \"envoy\""), "{other}");
        let none = recorded_for(&s, &json!({"metadata": {"name": "x"}})).unwrap_err();
        assert!(
            none.starts_with("has no kruise.io/sidecarset-name label"),
            "{none}"
        );
    }

    /// A recorded revision of `settings`, as the reconciler writes it.
    fn recorded(settings: &Value, number: i64, created: &str) -> Value {
        let r = Revision::new(&SidecarSet::new(settings).unwrap(), number, 0);
        json!({"apiVersion": "apps/v1", "kind": "ControllerRevision",
               "metadata": {"name": r.name, "namespace": DEFAULT_NAMESPACE, "labels": r.labels,
                            "annotations": r.annotations, "creationTimestamp": created},
               "data": serde_json::from_str::<Value>(&r.data).unwrap(), "revision": number})
    }

    /// Answers from fixed revisions and records what was asked.
    #[derive(Default)]
    struct Fixed {
        revisions: Vec<Value>,
        asked: RefCell<Vec<String>>,
    }

    impl RevisionSource for Fixed {
        fn get(&self, namespace: &str, name: &str) -> Result<Value, String> {
            self.asked
                .borrow_mut()
                .push(format!("get {namespace}/{name}"));
            self.revisions
                .iter()
                .find(|r| r["metadata"]["name"] == name)
                .cloned()
                .ok_or_else(|| format!("controllerrevisions.apps {name:?} not found"))
        }
        fn list(&self, namespace: &str, label_selector: &str) -> Result<Vec<Value>, String> {
            self.asked
                .borrow_mut()
                .push(format!("list {namespace} {label_selector}"));
            let wanted: Vec<(&str, &str)> = label_selector
                .split(',')
                .filter_map(|kv| kv.split_once('='))
                .collect();
            Ok(self
                .revisions
                .iter()
                .filter(|r| {
                    wanted
                        .iter()
                        .all(|(k, v)| r["metadata"]["labels"][*k] == *v)
                })
                .cloned()
                .collect())
        }
    }

    fn web(labels: Value) -> Value {
        json!({"metadata": {"generateName": "web-5d4f8b6c9-", "labels": labels},
               "spec": {"containers": [{"name": "app", "image": "nginx"}]}})
    }

    fn labels(pairs: &[(&str, &str)]) -> crate::selector::Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn choice(extra: Value, pod_labels: &[(&str, &str)], key: &str) -> Choice {
        let labels = labels(pod_labels);
        choose(
            set(extra).settings(),
            |k| labels.get(k).map(String::as_str),
            key,
        )
    }

    #[test]
    fn the_revision_name_wins_over_the_custom_version() {
        let s = set(
            json!({"injectionStrategy": {"revision": {"customVersion": "v1", "revisionName": "log-1"}}}),
        );
        assert_eq!(pin(s.settings()), Some(Pin::Name("log-1")));
        let s = set(json!({"injectionStrategy": {"revision": {"customVersion": "v1"}}}));
        assert_eq!(pin(s.settings()), Some(Pin::CustomVersion("v1")));
        assert_eq!(pin(set(json!({})).settings()), None);
        assert_eq!(
            custom_version_selector("log", "v1"),
            "kruise.io/sidecarset-name=log,apps.kruise.io/sidecarset-custom-version=v1"
        );
    }

    #[test]
    fn the_newest_is_by_number_then_creation_then_name() {
        let r = |name: &str, n: i64, created: Option<&str>| json!({"metadata": {"name": name, "creationTimestamp": created}, "revision": n});
        let name = |v: Option<Value>| v.map(|r| r["metadata"]["name"].clone());
        // The list's order does not matter.
        let list = vec![r("c", 3, None), r("a", 1, None), r("b", 2, None)];
        assert_eq!(name(newest(list)), Some(json!("c")));
        let same = vec![
            r("x", 2, Some("2026-01-02T00:00:00Z")),
            r("y", 2, Some("2026-01-01T00:00:00Z")),
        ];
        assert_eq!(name(newest(same)), Some(json!("x")));
        let twins = vec![
            r("b", 2, Some("2026-01-01T00:00:00Z")),
            r("a", 2, Some("2026-01-01T00:00:00Z")),
        ];
        assert_eq!(name(newest(twins)), Some(json!("b")));
        assert_eq!(newest(vec![]), None);
    }

    #[test]
    fn always_and_a_paused_update_give_the_pinned_revision() {
        let always = json!({"injectionStrategy": {"revision": {"revisionName": "r"}}});
        assert_eq!(choice(always, &[], "k"), Choice::Pinned);
        let paused = json!({"updateStrategy": {"paused": true, "selector": {"matchLabels": {"canary": "true"}}},
                            "injectionStrategy": {"revision": {"revisionName": "r", "policy": "Partial"}}});
        assert_eq!(choice(paused, &[("canary", "true")], "k"), Choice::Pinned);
    }

    #[test]
    fn partial_gives_the_pinned_revision_to_pods_the_update_selector_leaves_out() {
        let partial = json!({"updateStrategy": {"selector": {"matchLabels": {"canary": "true"}}},
                             "injectionStrategy": {"revision": {"revisionName": "r", "policy": "Partial"}}});
        assert_eq!(
            choice(partial.clone(), &[("canary", "true")], "k"),
            Choice::Latest
        );
        assert_eq!(choice(partial, &[("app", "web")], "k"), Choice::Pinned);
    }

    #[test]
    fn partial_without_a_percentage_gives_the_latest() {
        let with = |partition: Value| {
            json!({"updateStrategy": {"partition": partition},
                   "injectionStrategy": {"revision": {"revisionName": "r", "policy": "Partial"}}})
        };
        assert_eq!(
            choice(
                json!({"injectionStrategy": {"revision": {"revisionName": "r", "policy": "Partial"}}}),
                &[],
                "k"
            ),
            Choice::Latest
        );
        assert_eq!(choice(with(json!(3)), &[], "k"), Choice::Latest);
        assert_eq!(choice(with(json!("100%")), &[], "k"), Choice::Pinned);
        assert_eq!(choice(with(json!("0%")), &[], "k"), Choice::Latest);
    }

    #[test]
    fn the_draw_gives_about_p_percent_and_the_same_pod_the_same_answer() {
        let pod = web(json!({"app": "web"}));
        let keys: Vec<String> = (0..20_000)
            .map(|i| draw_key("log", &pod, "shop", &format!("{i:08x}-request")))
            .collect();
        for p in [10, 25, 50, 90] {
            let pinned = keys.iter().filter(|k| draw(k, p)).count();
            let share = pinned as f64 / keys.len() as f64 * 100.0;
            assert!(
                (share - p as f64).abs() < 1.5,
                "{p}%: {share:.2}% of 20,000 Pods drew the pinned revision"
            );
            // The same key, the same answer, however often it is asked.
            assert!(keys.iter().all(|k| draw(k, p) == draw(k, p)));
        }
        // A higher percentage keeps every Pod a lower one pinned: the draw is a threshold.
        assert!(keys.iter().all(|k| !draw(k, 25) || draw(k, 50)));
        assert!(keys.iter().all(|k| draw(k, 100)));
        assert!(keys.iter().all(|k| !draw(k, 0)));
    }

    #[test]
    fn the_draw_key_is_the_pods_name_or_its_generate_name_and_the_request() {
        let named = json!({"metadata": {"name": "db-0", "namespace": "shop"}});
        assert_eq!(draw_key("log", &named, "other", "u1"), "log\nshop/db-0");
        assert_eq!(
            draw_key("log", &named, "other", "u1"),
            draw_key("log", &named, "other", "u2"),
            "a named Pod draws the same in every request"
        );
        let unnamed = web(json!({}));
        assert_eq!(
            draw_key("log", &unnamed, "shop", "u1"),
            "log\nshop/web-5d4f8b6c9-\nu1"
        );
        assert_ne!(
            draw_key("log", &unnamed, "shop", "u1"),
            draw_key("log", &unnamed, "shop", "u2")
        );
        assert_ne!(
            draw_key("log", &unnamed, "shop", "u1"),
            draw_key("mesh", &unnamed, "shop", "u1"),
            "each set draws on its own"
        );
    }

    #[test]
    fn a_restored_revision_has_its_lists_hashes_and_name() {
        let old = settings(
            "agent:1",
            json!({"imagePullSecrets": [{"name": "reg"}],
                   "patchPodMetadata": [{"annotations": {"a/b": "c"}}]}),
        );
        let rev = recorded(&old, 1, "2026-01-01T00:00:00Z");
        let current = set(json!({"injectionStrategy": {"revision": {"revisionName": "x"}}}));
        let restored = restore(&current, &rev).unwrap();
        let want = SidecarSet::new(&old).unwrap();
        assert_eq!(restored.name(), "log");
        assert_eq!(restored.revision_name(), rev["metadata"]["name"]);
        assert_eq!(restored.hash(), want.hash());
        assert_eq!(restored.hash_without_image(), want.hash_without_image());
        let s = restored.settings();
        // The recorded containers hold Go's empty structs (`resources: {}`), which the settings'
        // do not; the hashes above say they are the same containers to Kruise.
        let images = |s: &Settings| {
            s.containers
                .iter()
                .flatten()
                .map(|c| c.container.image.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(images(s), [Some("agent:1".to_string())]);
        assert_eq!(s.volumes, want.settings().volumes);
        assert_eq!(s.image_pull_secrets, want.settings().image_pull_secrets);
        assert_eq!(s.patch_pod_metadata, want.settings().patch_pod_metadata);
        assert_eq!(s.init_containers, None);
    }

    #[test]
    fn hashes_come_from_the_annotations_and_are_computed_when_absent() {
        let old = settings("agent:1", json!({}));
        let mut rev = recorded(&old, 1, "2026-01-01T00:00:00Z");
        let current = set(json!({}));
        rev["metadata"]["annotations"]["kruise.io/sidecarset-hash"] = json!("recorded");
        assert_eq!(restore(&current, &rev).unwrap().hash(), "recorded");
        rev["metadata"]["annotations"]["kruise.io/sidecarset-hash"] = json!("");
        rev["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("annotations");
        let restored = restore(&current, &rev).unwrap();
        let want = SidecarSet::new(&old).unwrap();
        assert_eq!(restored.hash(), want.hash());
        assert_eq!(restored.hash_without_image(), want.hash_without_image());
    }

    #[test]
    fn an_unreadable_revision_names_the_field() {
        let current = set(json!({}));
        let mut rev = recorded(&settings("agent:1", json!({})), 1, "2026-01-01T00:00:00Z");
        rev["data"]["spec"]["containers"][0]["imagePullPolicyy"] = json!("Always");
        let e = restore(&current, &rev).unwrap_err();
        assert!(
            e.contains("data.spec.containers[0].imagePullPolicyy: unknown field"),
            "{e}"
        );
        let e = restore(
            &current,
            &json!({"metadata": {"name": "log-1"}, "data": {}}),
        )
        .unwrap_err();
        assert_eq!(
            e,
            "ControllerRevision \"log-1\" has no data.spec object, so it is not a SidecarSet revision"
        );
    }

    fn resolved(s: &SidecarSet, pod: &Value, source: &Fixed) -> Result<String, String> {
        let rc = RevisionContext {
            request_uid: "u1",
            source,
        };
        resolve(s, pod, "shop", &rc)
            .map(|c| c.revision_name().to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_pinned_name_is_read_in_the_revision_namespace() {
        let rev = recorded(&settings("agent:1", json!({})), 1, "2026-01-01T00:00:00Z");
        let name = rev["metadata"]["name"].as_str().unwrap().to_string();
        let source = Fixed {
            revisions: vec![rev],
            ..Default::default()
        };
        let s = set(json!({"revisionNamespace": "kruise-system",
                           "injectionStrategy": {"revision": {"revisionName": name}}}));
        assert_eq!(resolved(&s, &web(json!({})), &source), Ok(name.clone()));
        assert_eq!(
            source.asked.borrow().as_slice(),
            [format!("get kruise-system/{name}")]
        );
        // Nothing pinned: no lookup.
        let plain = set(json!({}));
        assert_eq!(
            resolved(&plain, &web(json!({})), &source),
            Ok(plain.revision_name().to_string())
        );
        assert_eq!(source.asked.borrow().len(), 1);
    }

    #[test]
    fn a_custom_version_picks_the_newest_labelled_revision_of_the_set() {
        let v = |image: &str| settings(image, json!({"customVersion": "stable"}));
        let revisions = vec![
            recorded(&v("agent:1.2"), 4, "2026-01-04T00:00:00Z"),
            recorded(&v("agent:1.1"), 2, "2026-01-02T00:00:00Z"),
            recorded(&settings("agent:1.3", json!({})), 5, "2026-01-05T00:00:00Z"),
        ];
        let want = revisions[0]["metadata"]["name"]
            .as_str()
            .unwrap()
            .to_string();
        let source = Fixed {
            revisions,
            ..Default::default()
        };
        let s = set(json!({"injectionStrategy": {"revision": {"customVersion": "stable"}}}));
        assert_eq!(resolved(&s, &web(json!({})), &source), Ok(want));
        assert_eq!(
            source.asked.borrow().as_slice(),
            [
                "list sidecarset-system kruise.io/sidecarset-name=log,apps.kruise.io/sidecarset-custom-version=stable"
            ]
        );
    }

    #[test]
    fn a_missing_revision_refuses_even_a_pod_that_would_get_the_latest() {
        let source = Fixed::default();
        let s = set(
            json!({"updateStrategy": {"selector": {"matchLabels": {"canary": "true"}}},
                           "injectionStrategy": {"revision": {"revisionName": "log-gone", "policy": "Partial"}}}),
        );
        let e = resolved(&s, &web(json!({"canary": "true"})), &source).unwrap_err();
        assert!(
            e.starts_with(
                "injectionStrategy.revision.revisionName: cannot read ControllerRevision \"log-gone\" in namespace \"sidecarset-system\": controllerrevisions.apps \"log-gone\" not found; "
            ),
            "{e}"
        );
        assert!(e.contains("revisionNamespace"), "{e}");
        let s = set(json!({"injectionStrategy": {"revision": {"customVersion": "none"}}}));
        let e = resolved(&s, &web(json!({})), &source).unwrap_err();
        assert!(
            e.starts_with("injectionStrategy.revision.customVersion: no ControllerRevision labelled kruise.io/sidecarset-name=log,apps.kruise.io/sidecarset-custom-version=none in namespace \"sidecarset-system\""),
            "{e}"
        );
    }
}
