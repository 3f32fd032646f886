//! Cross-set conflicts (docs/settings-and-validation.md#cross-set-conflicts): pairs of sets that can
//! select the same Pods and would fight over a container, a volume or an annotation. Kruise refuses
//! the later set of such a pair at admission
//! (`pkg/webhook/sidecarset/validating/sidecarset_create_update_handler.go` `validateSidecarConflict`);
//! a policy is validated alone, so here the reconciler reports the pair and `migrate` refuses it.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::Volume;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::SidecarSet;
use crate::quantity::Quantity;
use crate::settings::{PATCH_OVERWRITE, PATCH_RETAIN, PatchPodMetadata};

/// What two sets clash on. Each names the thing both sets declare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Clash {
    /// A `containers[].name` of both sets.
    Container(String),
    /// An `initContainers[].name` of both sets.
    InitContainer(String),
    /// A `volumes[].name` of both sets whose (defaulted) volumes differ.
    Volume(String),
    /// A `patchPodMetadata` annotation key of both sets, `Overwrite` in at least one and `Retain` in
    /// neither.
    Annotation(String),
}

impl Clash {
    /// The field of the later set. Kruise's refusal names `spec.containers` for an init container
    /// too; here it is the list the name is in.
    pub fn field(&self) -> &'static str {
        match self {
            Clash::Container(_) => "spec.containers",
            Clash::InitContainer(_) => "spec.initContainers",
            Clash::Volume(_) => "spec.volumes",
            Clash::Annotation(_) => "spec.patchPodMetadata",
        }
    }

    /// The container, volume or annotation key both sets declare.
    pub fn name(&self) -> &str {
        match self {
            Clash::Container(n)
            | Clash::InitContainer(n)
            | Clash::Volume(n)
            | Clash::Annotation(n) => n,
        }
    }

    /// A stable CamelCase word for the kind of clash: an Event reason suffix or a metric label.
    pub fn code(&self) -> &'static str {
        match self {
            Clash::Container(_) => "ContainerName",
            Clash::InitContainer(_) => "InitContainerName",
            Clash::Volume(_) => "VolumeSpec",
            Clash::Annotation(_) => "AnnotationKey",
        }
    }
}

/// One clash between two sets that can select the same Pods. `first` comes before `second` in the
/// list given to [`find`]; Kruise refuses `second` when it is created after `first`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub first: String,
    pub second: String,
    pub clash: Clash,
}

impl Conflict {
    /// Whether `name` is one of the two sets.
    pub fn involves(&self, name: &str) -> bool {
        self.first == name || self.second == name
    }

    /// The other set of the pair, when `name` is one of them.
    pub fn other(&self, name: &str) -> Option<&str> {
        if self.first == name {
            Some(&self.second)
        } else if self.second == name {
            Some(&self.first)
        } else {
            None
        }
    }
}

/// Kruise's refusal of `second` (a `field.Invalid` error: field, value, detail, in its words),
/// prefixed with `second`'s name so that the line names both sets wherever it is shown.
impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (first, name) = (&self.first, self.clash.name());
        write!(
            f,
            "{}: {}: Invalid value: {name:?}: ",
            self.second,
            self.clash.field()
        )?;
        match &self.clash {
            Clash::Container(_) | Clash::InitContainer(_) => {
                write!(f, "container {name} already exist in {first}")
            }
            Clash::Volume(_) => write!(f, "volume {name} is in conflict with sidecarset {first}"),
            Clash::Annotation(_) => {
                write!(
                    f,
                    "annotation {name} is in conflict with sidecarset {first}"
                )
            }
        }
    }
}

/// Every clash between two of `sets` (each a name the caller reports it by, and the set), pair by
/// pair in list order and, within a pair, in the order Kruise checks: init containers, containers,
/// volumes, annotations, each in `second`'s order.
///
/// Kruise checks one new set against a map built from all the others, in which a later set's entry
/// hides an earlier one's: it names one set per clash, and an annotation key that is `MergePatchJson`
/// in the set it remembered hides an `Overwrite` of the same key in another. Pair by pair, every
/// clash is found and names both sets.
///
/// Two entries of the same name are one set given twice and never conflict, as Kruise skips the
/// set it validates when it meets it among the others.
pub fn find(sets: &[(&str, &SidecarSet)]) -> Vec<Conflict> {
    let mut out = Vec::new();
    for (j, &(second, b)) in sets.iter().enumerate() {
        for &(first, a) in &sets[..j] {
            if first == second || !may_select_same_pods(a, b) {
                continue;
            }
            out.extend(clashes(a, b).into_iter().map(|clash| Conflict {
                first: first.to_string(),
                second: second.to_string(),
                clash,
            }));
        }
    }
    out
}

/// The clashes of `b` with `a`, two sets known to select common Pods.
fn clashes(a: &SidecarSet, b: &SidecarSet) -> Vec<Clash> {
    let (sa, sb) = (a.settings(), b.settings());
    let names = |l: &Option<Vec<crate::settings::SidecarContainer>>| -> Vec<String> {
        l.iter().flatten().map(|c| c.name().to_string()).collect()
    };
    let mut out = Vec::new();
    // Only the same list: Kruise compares init containers with init containers and containers with
    // containers; a name in both lists refuses the Pod at injection instead
    // (docs/injection.md#refusals).
    let init_a = names(&sa.init_containers);
    for n in names(&sb.init_containers) {
        if init_a.contains(&n) {
            out.push(Clash::InitContainer(n));
        }
    }
    let containers_a = names(&sa.containers);
    for n in names(&sb.containers) {
        if containers_a.contains(&n) {
            out.push(Clash::Container(n));
        }
    }
    let volumes_a: Vec<Volume> = sa.volumes.iter().flatten().map(as_stored).collect();
    for v in sb.volumes.iter().flatten() {
        let v = as_stored(v);
        if volumes_a.iter().any(|w| w.name == v.name && *w != v) {
            out.push(Clash::Volume(v.name));
        }
    }
    let policies_a = replacing_keys(&sa.patch_pod_metadata);
    for p in sb.patch_pod_metadata.iter().flatten() {
        let policy = policy_of(p);
        if policy == PATCH_RETAIN {
            continue;
        }
        for key in p.annotations.keys() {
            if let Some(&other) = policies_a.get(key.as_str())
                && (policy == PATCH_OVERWRITE || other == PATCH_OVERWRITE)
            {
                out.push(Clash::Annotation(key.clone()));
            }
        }
    }
    out
}

/// A defaulted volume as Kruise compares it (`reflect.DeepEqual`): as stored, that is after its
/// SidecarSet webhook re-encoded the defaulted object, which writes each quantity in Go's form
/// (`1024Mi` is stored as `1Gi`). Both sets are defaulted already, so a volume written with and
/// without a default value is the same volume.
fn as_stored(v: &Volume) -> Volume {
    let mut v = v.clone();
    let go_form = |q: &mut K8sQuantity| {
        if let Ok(parsed) = Quantity::from_json_str(&q.0) {
            q.0 = parsed.to_go_string();
        }
    };
    if let Some(size) = v.empty_dir.as_mut().and_then(|e| e.size_limit.as_mut()) {
        go_form(size);
    }
    let claim = v
        .ephemeral
        .as_mut()
        .and_then(|e| e.volume_claim_template.as_mut())
        .and_then(|t| t.spec.resources.as_mut());
    if let Some(r) = claim {
        for list in [&mut r.limits, &mut r.requests] {
            list.iter_mut().flatten().for_each(|(_, q)| go_form(q));
        }
    }
    v
}

/// Annotation key -> patch policy, for the entries that change a Pod's value (`Retain` only adds a
/// missing key, so it cannot undo another set's patch).
fn replacing_keys(patches: &Option<Vec<PatchPodMetadata>>) -> BTreeMap<&str, &str> {
    patches
        .iter()
        .flatten()
        .filter(|p| policy_of(p) != PATCH_RETAIN)
        .flat_map(|p| {
            p.annotations
                .keys()
                .map(move |k| (k.as_str(), policy_of(p)))
        })
        .collect()
}

fn policy_of(p: &PatchPodMetadata) -> &str {
    p.patch_policy.as_deref().unwrap_or(PATCH_RETAIN)
}

/// Whether two sets can select a common Pod, as Kruise decides before comparing them: their
/// namespace selectors overlap, or one of them has none (`pkg/webhook/sidecarset/validating/utils.go`
/// `isSidecarSetNamespaceOverlapping`), and their selectors overlap. v1alpha1's `namespace` is a
/// namespace selector by then (the defaults convert it, as Kruise's conversion does).
pub fn may_select_same_pods(a: &SidecarSet, b: &SidecarSet) -> bool {
    let (sa, sb) = (a.settings(), b.settings());
    let namespaces = match (&sa.namespace_selector, &sb.namespace_selector) {
        (Some(x), Some(y)) => selectors_overlap(x, y),
        _ => true,
    };
    let pods = match (&sa.selector, &sb.selector) {
        (Some(x), Some(y)) => selectors_overlap(x, y),
        // Validation refuses a set without a selector, and such a set selects nothing.
        _ => false,
    };
    namespaces && pods
}

/// Kruise's `IsSelectorOverlapping` (`pkg/util/selector.go`): neither selector rules the other out
/// on a key ([`rules_out`]).
///
/// This is looser than "some label set matches both": it looks at one key at a time, so
/// `{a: x, b: y}` and `{a: x, b: z}` are told apart but `{app: web}` and `{mesh Exists}` are taken
/// not to overlap (the second needs a key the first does not mention), nor are `{a NotIn [x]}` and
/// `{a Exists}` (the first's `NotIn` is not recorded). Kept as Kruise has it: a pair Kruise accepts
/// is not reported.
pub fn selectors_overlap(a: &LabelSelector, b: &LabelSelector) -> bool {
    !(rules_out(a, b) || rules_out(b, a))
}

/// Kruise's marker for `Exists` among a key's allowed values.
const ANY: &str = "ALL";

/// Kruise's `isDisjoint(a, b)`: a key `a` pins through `matchLabels`, `In` or `Exists` on which `b`
/// asks for something `a` does not allow; or a key `b` requires to exist that `a` does not mention.
///
/// Ported as written, marker included: on this side a label value `ALL` reads as any value and
/// `NotIn [ALL]` rules out `Exists` (the other direction still rules out `a: ALL` against `a: b`).
fn rules_out(a: &LabelSelector, b: &LabelSelector) -> bool {
    let mut allowed: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in a.match_labels.iter().flatten() {
        allowed.insert(k, vec![v]);
    }
    for e in a.match_expressions.iter().flatten() {
        match e.operator.as_str() {
            // Appended, so `In` widens a `matchLabels` or `In` of the same key.
            "In" => allowed
                .entry(&e.key)
                .or_default()
                .extend(e.values.iter().flatten().map(String::as_str)),
            "Exists" => {
                allowed.insert(&e.key, vec![ANY]);
            }
            _ => {}
        }
    }
    let any = |vs: &[&str]| vs.contains(&ANY);
    for (k, v) in b.match_labels.iter().flatten() {
        if let Some(vs) = allowed.get(k.as_str())
            && !any(vs)
            && !vs.contains(&v.as_str())
        {
            return true;
        }
    }
    for e in b.match_expressions.iter().flatten() {
        let vs = allowed.get(e.key.as_str());
        let values = e.values.as_deref().unwrap_or(&[]);
        let ruled_out = match e.operator.as_str() {
            "In" => {
                vs.is_some_and(|vs| !any(vs) && !values.iter().any(|x| vs.contains(&x.as_str())))
            }
            "NotIn" => vs.is_some_and(|vs| vs.iter().all(|v| values.iter().any(|x| x == v))),
            "Exists" => vs.is_none(),
            "DoesNotExist" => vs.is_some(),
            _ => false,
        };
        if ruled_out {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn sel(v: Value) -> LabelSelector {
        serde_json::from_value(v).unwrap()
    }

    fn exp(key: &str, op: &str, values: &[&str]) -> Value {
        if values.is_empty() {
            json!({"key": key, "operator": op})
        } else {
            json!({"key": key, "operator": op, "values": values})
        }
    }

    /// `pkg/util/selector_test.go` `TestSelectorConflict` (also in
    /// `pkg/webhook/sidecarset/validating/sidecarset_validating_test.go`), in order.
    #[test]
    fn kruise_selector_conflict_cases() {
        let cases = [
            (
                json!({"matchLabels": {"a": "h"}}),
                json!({"matchLabels": {"a": "h"}}),
                true,
            ),
            (
                json!({"matchLabels": {"a": "h"}}),
                json!({"matchLabels": {"a": "i"}}),
                false,
            ),
            (
                json!({"matchLabels": {"a": "h"}}),
                json!({"matchLabels": {"b": "i"}}),
                true,
            ),
            (
                json!({"matchLabels": {"a": "h", "b": "i", "c": "j"}}),
                json!({"matchLabels": {"a": "h", "b": "x", "c": "j"}}),
                false,
            ),
            (
                json!({"matchLabels": {"a": "h"}}),
                json!({"matchExpressions": [exp("a", "In", &["h", "i", "j"])]}),
                true,
            ),
            (
                json!({"matchLabels": {"a": "h"}}),
                json!({"matchExpressions": [exp("a", "In", &["i", "j"])]}),
                false,
            ),
            (
                json!({"matchExpressions": [exp("a", "NotIn", &["h", "i"])]}),
                json!({"matchLabels": {"a": "h"}}),
                false,
            ),
            (
                json!({"matchLabels": {"a": "h"}}),
                json!({"matchExpressions": [exp("a", "Exists", &[])]}),
                true,
            ),
            (
                json!({"matchExpressions": [exp("a", "DoesNotExist", &[])]}),
                json!({"matchLabels": {"a": "h"}}),
                false,
            ),
        ];
        for (i, (a, b, want)) in cases.into_iter().enumerate() {
            let (a, b) = (sel(a), sel(b));
            assert_eq!(selectors_overlap(&a, &b), want, "case {i}");
            assert_eq!(selectors_overlap(&b, &a), want, "case {i} swapped");
        }
    }

    #[test]
    fn kruise_looseness_is_kept() {
        // A Pod labelled app=web, mesh=on matches both; Kruise's per-key rule does not see it.
        let web = sel(json!({"matchLabels": {"app": "web"}}));
        let mesh = sel(json!({"matchExpressions": [exp("mesh", "Exists", &[])]}));
        assert!(!selectors_overlap(&web, &mesh));
        let not_x = sel(json!({"matchExpressions": [exp("a", "NotIn", &["x"])]}));
        let any_a = sel(json!({"matchExpressions": [exp("a", "Exists", &[])]}));
        assert!(!selectors_overlap(&not_x, &any_a));
        // In widens matchLabels of the same key (one direction only: the other still pins a=y), and
        // after Exists it stays any value.
        let widened = sel(json!({"matchLabels": {"a": "x"},
            "matchExpressions": [exp("a", "In", &["y"])]}));
        let y = sel(json!({"matchLabels": {"a": "y"}}));
        assert!(!rules_out(&widened, &y));
        assert!(rules_out(&y, &widened));
        let any_then_in = sel(json!({"matchExpressions": [exp("a", "Exists", &[]),
            exp("a", "In", &["y"])]}));
        assert!(!rules_out(
            &any_then_in,
            &sel(json!({"matchLabels": {"a": "z"}}))
        ));
        // NotIn rules out only the values the other allows, all of them.
        let in_xy = sel(json!({"matchExpressions": [exp("a", "In", &["x", "y"])]}));
        assert!(!selectors_overlap(
            &in_xy,
            &sel(json!({"matchExpressions": [exp("a", "NotIn", &["x", "y", "z"])]}))
        ));
        assert!(selectors_overlap(
            &in_xy,
            &sel(json!({"matchExpressions": [exp("a", "NotIn", &["x"])]}))
        ));
    }

    #[test]
    fn kruises_any_marker_is_kept() {
        // One direction lets a=ALL through against a=b, the other rules it out: no overlap.
        let all = sel(json!({"matchLabels": {"a": "ALL"}}));
        let b = sel(json!({"matchLabels": {"a": "b"}}));
        assert!(!rules_out(&all, &b));
        assert!(rules_out(&b, &all));
        assert!(!selectors_overlap(&all, &b));
        let any_a = sel(json!({"matchExpressions": [exp("a", "Exists", &[])]}));
        let not_all = sel(json!({"matchExpressions": [exp("a", "NotIn", &["ALL"])]}));
        assert!(rules_out(&any_a, &not_all));
    }

    fn set(name: &str, extra: Value) -> SidecarSet {
        let mut s = json!({"name": name, "selector": {"matchLabels": {"a": "b"}}});
        s.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        if s.get("containers").is_none() && s.get("initContainers").is_none() {
            s["containers"] = json!([{"name": format!("{name}-only"), "image": "x:1"}]);
        }
        SidecarSet::new(&s).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn messages(sets: &[(&str, &SidecarSet)]) -> Vec<String> {
        find(sets).iter().map(ToString::to_string).collect()
    }

    /// `sidecarset_validating_test.go` `TestSidecarSetNameConflict`: the list's set first, the new
    /// one second.
    #[test]
    fn kruise_name_conflict_cases() {
        // test1: same container and init container names, same volume: two errors.
        let lists = json!({
            "containers": [{"name": "container-name", "image": "x:1"}],
            "initContainers": [{"name": "init-name", "image": "x:1"}],
            "volumes": [{"name": "volume-name"}],
        });
        let (one, two) = (set("sidecarset1", lists.clone()), set("sidecarset2", lists));
        assert_eq!(
            messages(&[("sidecarset1", &one), ("sidecarset2", &two)]),
            [
                r#"sidecarset2: spec.initContainers: Invalid value: "init-name": container init-name already exist in sidecarset1"#,
                r#"sidecarset2: spec.containers: Invalid value: "container-name": container container-name already exist in sidecarset1"#,
            ]
        );
        // test2: the same namespace selector: one error.
        let in_ns = |app: &str| {
            json!({"namespaceSelector": {"matchLabels": {"app": app}},
                "containers": [{"name": "container-name", "image": "x:1"}]})
        };
        let (one, two) = (
            set("sidecarset1", in_ns("nginx")),
            set("sidecarset2", in_ns("nginx")),
        );
        let found = find(&[("sidecarset1", &one), ("sidecarset2", &two)]);
        assert_eq!(
            found,
            [Conflict {
                first: "sidecarset1".into(),
                second: "sidecarset2".into(),
                clash: Clash::Container("container-name".into()),
            }]
        );
        // test3: namespace selectors that cannot both hold: none.
        let three = set("sidecarset1", in_ns("redis"));
        assert!(find(&[("sidecarset1", &three), ("sidecarset2", &two)]).is_empty());
        // One namespace selector only: the namespaces may overlap.
        let anywhere = set(
            "sidecarset3",
            json!({"containers": [{"name": "container-name", "image": "x:1"}]}),
        );
        assert_eq!(find(&[("a", &three), ("b", &anywhere)]).len(), 1);
    }

    /// `sidecarset_validating_test.go` `TestSidecarSetPodMetadataConflict`.
    #[test]
    fn kruise_pod_metadata_conflict_cases() {
        let patch = |policy: &str, key: &str, value: &str| json!({"patchPodMetadata": [{"patchPolicy": policy, "annotations": {key: value}}]});
        let cases = [
            // Overwrite against MergePatchJson: refused.
            (
                patch("MergePatchJson", "key1", "\"value1\""),
                patch("Overwrite", "key1", "value1"),
                vec![
                    r#"sidecarset2: spec.patchPodMetadata: Invalid value: "key1": annotation key1 is in conflict with sidecarset sidecarset1"#,
                ],
            ),
            // Different keys.
            (
                patch("Overwrite", "key2", "value2"),
                patch("Retain", "key1", "value1"),
                vec![],
            ),
            // MergePatchJson on both sides merges.
            (
                patch("MergePatchJson", "oom-score", r#"{"envoy": 1}"#),
                patch("MergePatchJson", "oom-score", r#"{"log-agent": 1}"#),
                vec![],
            ),
        ];
        for (i, (listed, new, want)) in cases.into_iter().enumerate() {
            let (one, two) = (set("sidecarset1", listed), set("sidecarset2", new));
            assert_eq!(
                messages(&[("sidecarset1", &one), ("sidecarset2", &two)]),
                want,
                "case {i}"
            );
        }
        // Retain on either side never conflicts, even against Overwrite.
        let (one, two) = (
            set("sidecarset1", patch("Overwrite", "k", "v")),
            set("sidecarset2", patch("Retain", "k", "v")),
        );
        assert!(find(&[("sidecarset1", &one), ("sidecarset2", &two)]).is_empty());
        assert!(find(&[("sidecarset2", &two), ("sidecarset1", &one)]).is_empty());
    }

    /// `sidecarset_validating_test.go` `TestSidecarSetVolumeConflict`.
    #[test]
    fn kruise_volume_conflict_cases() {
        let vols = |v: Value| json!({"volumes": v});
        let cases = [
            (
                vols(json!([{"name": "volume-3"}, {"name": "volume-4"}])),
                vols(json!([{"name": "volume-1"}, {"name": "volume-2"}])),
                vec![],
            ),
            (
                vols(
                    json!([{"name": "volume-2", "hostPath": {"path": "/home/work"}},
                    {"name": "volume-3"}]),
                ),
                vols(json!([{"name": "volume-1"},
                    {"name": "volume-2", "hostPath": {"path": "/home/work"}}])),
                vec![],
            ),
            (
                vols(
                    json!([{"name": "volume-2", "hostPath": {"path": "/home/work-2"}},
                    {"name": "volume-3"}]),
                ),
                vols(json!([{"name": "volume-1"},
                    {"name": "volume-2", "hostPath": {"path": "/home/work-1"}}])),
                vec![
                    r#"sidecarset2: spec.volumes: Invalid value: "volume-2": volume volume-2 is in conflict with sidecarset sidecarset1"#,
                ],
            ),
        ];
        for (i, (listed, new, want)) in cases.into_iter().enumerate() {
            let (one, two) = (set("sidecarset1", listed), set("sidecarset2", new));
            assert_eq!(
                messages(&[("sidecarset1", &one), ("sidecarset2", &two)]),
                want,
                "case {i}"
            );
        }
        // Compared after defaulting: a default written out is the same volume.
        let (one, two) = (
            set(
                "sidecarset1",
                vols(json!([{"name": "c", "configMap": {"name": "x"}}])),
            ),
            set(
                "sidecarset2",
                vols(json!([{"name": "c", "configMap": {"name": "x", "defaultMode": 420}}])),
            ),
        );
        assert!(find(&[("sidecarset1", &one), ("sidecarset2", &two)]).is_empty());
        // Quantities compare as stored: 1024Mi is stored as 1Gi, 1000Mi stays itself.
        let sized = |name: &str, size: &str| {
            set(
                name,
                vols(json!([{"name": "cache", "emptyDir": {"sizeLimit": size}}])),
            )
        };
        let (one, two) = (sized("sidecarset1", "1Gi"), sized("sidecarset2", "1024Mi"));
        assert!(find(&[("sidecarset1", &one), ("sidecarset2", &two)]).is_empty());
        let three = sized("sidecarset3", "1000Mi");
        assert_eq!(
            find(&[("sidecarset1", &one), ("sidecarset3", &three)]).len(),
            1
        );
    }

    #[test]
    fn only_the_same_list_and_overlapping_selectors_count() {
        let c = json!({"containers": [{"name": "agent", "image": "x:1"}]});
        let i = json!({"initContainers": [{"name": "agent", "image": "x:1"}]});
        let (a, b) = (set("a", c.clone()), set("b", i));
        assert!(find(&[("a", &a), ("b", &b)]).is_empty());
        let mut elsewhere = c.clone();
        elsewhere["selector"] = json!({"matchLabels": {"a": "c"}});
        let (a, b) = (set("a", c), set("b", elsewhere));
        assert!(find(&[("a", &a), ("b", &b)]).is_empty());
    }

    #[test]
    fn every_pair_is_reported_in_list_order_naming_both() {
        let c = json!({"containers": [{"name": "agent", "image": "x:1"}]});
        let (a, b, x) = (set("a", c.clone()), set("b", c.clone()), set("x", c));
        let found = find(&[("a", &a), ("b", &b), ("x", &x)]);
        let pairs: Vec<(&str, &str)> = found
            .iter()
            .map(|c| (c.first.as_str(), c.second.as_str()))
            .collect();
        assert_eq!(pairs, [("a", "b"), ("a", "x"), ("b", "x")]);
        assert_eq!(found[1].other("x"), Some("a"));
        assert_eq!(found[1].other("b"), None);
        assert!(found[2].involves("b") && !found[2].involves("a"));
        assert_eq!(found[0].clash.code(), "ContainerName");
        assert_eq!(found[0].clash.field(), "spec.containers");
        // The same set given twice is not a pair.
        assert!(find(&[("a", &a), ("a", &a)]).is_empty());
    }
}
