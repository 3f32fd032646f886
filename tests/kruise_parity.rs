//! Kruise parity: every golden case (`test_data/golden/`, layout in `tests/golden.rs`) through
//! OpenKruise v1.9.1's own webhooks (`hack/kruise-harness`, built and cached by its `build.sh`)
//! and through the built `policy.wasm` in kwhost, comparing the Pod each leaves stored.
//!
//! Both get the same request: the case's, with its object as the API server sends it to a
//! webhook (decoded, defaulted and encoded again by the harness's `stored`, so that Kruise's
//! patch, which is relative to that encoding, applies), and the same recorded revisions: the
//! ControllerRevisions the case's `replay.yml` answers the policy's lookups with are stored in
//! Kruise's namespace before its sets are created. Kruise gets the case's settings as
//! SidecarSets ([`kruise_harness::sidecar_set`]), created in order through its SidecarSet defaulting and
//! validating webhooks and stored as its controller leaves them, and sees every set in one call
//! of its Pod webhook; the policy gets one policy per set, called in order, as the API server
//! calls one webhook per policy.
//!
//! Each case is then one of:
//! - **identical**: the two patches give the same Pod (as JSON values), or both refuse at the same
//!   step (the same SidecarSet, or the Pod);
//! - **same stored Pod**: the Pods differ, but not once the API server has decoded, defaulted and
//!   encoded them (e.g. `resources: {}`, which the typed encoding always writes);
//! - **a difference**, which must be listed in `test_data/kruise-differences.yaml` with what
//!   differs, its kind and why. An unlisted difference fails, and so does a listed case that no
//!   longer differs, or differs in another way (stale entries);
//! - **drawn at random by Kruise** (`kruise-random` in the differences file): Kruise's answer is a
//!   random draw (`injectionStrategy.revision.policy: Partial` with a percentage), so the case may
//!   come out identical or as a stored-Pod difference from one run to the next; anything else fails.
//!
//! Normalised before comparing, and nothing else: the hash entries' `updateTimestamp` written
//! during the run (Kruise's by the harness, the policy's here, both to the golden clock; recorded
//! ones from the fixtures stay), and the hash-entry fields listed under `everywhere` in the
//! differences file (an entry there is stale once both sides write the same values).
//!
//! Needs Go (the harness is Kruise's Go code): without it the test fails and says so. The
//! harness binary is cached in `~/.cache/sidecarset/bin` by a hash of its sources; one harness
//! process serves every case.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use kwhost::Replay;
use serde_json::{Map, Value, json};

#[path = "support/golden_case.rs"]
mod golden_case;
#[path = "support/policy_wasm.rs"]
mod policy_wasm;
mod support;

use golden_case::{case_dirs, read_json, read_yaml, root};
use kruise_harness::{Harness, KRUISE_NAMESPACE, kruise_configuration, sidecar_set};
use policy_wasm::{normalise_timestamps, policy, rfc3339, unix_now};

const DIFFERENCES: &str = "test_data/kruise-differences.yaml";

/// The hash annotations, whose entries the `everywhere` normalisations edit.
const HASH_ANNOTATIONS: [&str; 2] = [
    "kruise.io/sidecarset-hash",
    "kruise.io/sidecarset-hash-without-image",
];

/// The kinds of difference a `cases` entry may name.
const KINDS: [&str; 5] = [
    "kruise-refuses",
    "policy-refuses",
    "refusal-step",
    "stored-pod",
    KRUISE_RANDOM,
];

/// A case whose Kruise answer is a random draw: identical or a stored-Pod difference.
const KRUISE_RANDOM: &str = "kruise-random";

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap()
}

// === the harness ===

// === settings as Kruise sees them ===

// === cases and outcomes ===

struct Case {
    name: String,
    settings: Vec<Value>,
    request: Value,
    namespace: Option<Value>,
    replay: Option<Replay>,
    /// The ControllerRevisions `replay.yml` answers with, in Kruise's namespace.
    revisions: Vec<Value>,
}

/// Every ControllerRevision a replay session answers with (got or listed), once each, moved to
/// Kruise's namespace, where Kruise's Pod webhook reads them.
fn recorded_revisions(replay: Option<&Replay>) -> Vec<Value> {
    use kwhost::replay::RecordedResponse;
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    for exchange in replay.iter().flat_map(|r| r.exchanges()) {
        let (Some(("apps/v1", "ControllerRevision")), RecordedResponse::Success { payload }) =
            (exchange.request.kubernetes_resource(), &exchange.response)
        else {
            continue;
        };
        let answer: Value = serde_json::from_str(payload).expect("replay payloads are JSON");
        let found = match answer.get("items") {
            Some(Value::Array(items)) => items.clone(),
            _ => vec![answer],
        };
        for mut revision in found {
            revision["metadata"]["namespace"] = json!(KRUISE_NAMESPACE);
            let name = revision["metadata"]["name"].as_str().unwrap_or_default();
            out.insert(name.to_owned(), revision);
        }
    }
    out.into_values().collect()
}

impl Case {
    fn load(dir: &Path) -> Self {
        let settings = match read_yaml(&dir.join("settings.yaml")) {
            Value::Array(items) => items,
            one => vec![one],
        };
        let ns = dir.join("namespace.json");
        let replay = dir.join("replay.yml");
        let replay = replay.exists().then(|| {
            Replay::from_file(&replay).unwrap_or_else(|e| panic!("{}: {e}", replay.display()))
        });
        Case {
            name: dir.file_name().unwrap().to_string_lossy().into_owned(),
            settings,
            request: read_json(&dir.join("request.json")),
            namespace: ns.exists().then(|| read_json(&ns)),
            revisions: recorded_revisions(replay.as_ref()),
            replay,
        }
    }
}

fn golden_cases() -> Vec<Case> {
    case_dirs().iter().map(|d| Case::load(d)).collect()
}

#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    /// A SidecarSet (a policy's settings) is refused before any Pod is seen.
    RefusedSet { set: String, message: String },
    /// The Pod is refused.
    RefusedPod { code: i64, message: String },
    /// The Pod after the patch.
    Pod(Value),
}

impl Outcome {
    fn describe(&self) -> String {
        match self {
            Outcome::RefusedSet { set, message } => format!("refuses SidecarSet {set}: {message}"),
            Outcome::RefusedPod { code, message } => format!("refuses the Pod ({code}): {message}"),
            Outcome::Pod(_) => "admits the Pod".to_owned(),
        }
    }
}

fn kruise_outcome(answer: &Value) -> Outcome {
    if let Some(set) = answer.get("refusedSidecarSet") {
        return Outcome::RefusedSet {
            set: set.as_str().unwrap_or_default().to_owned(),
            message: answer["message"].as_str().unwrap_or_default().to_owned(),
        };
    }
    if answer["allowed"] != true {
        return Outcome::RefusedPod {
            code: answer["code"].as_i64().unwrap_or_default(),
            message: answer["message"].as_str().unwrap_or_default().to_owned(),
        };
    }
    Outcome::Pod(answer["pod"].clone())
}

/// The policy, one instance per set in order (each sees the previous one's Pod), as the API
/// server calls one webhook per policy. Settings are checked first, as policy-server does when
/// it starts.
fn policy_outcome(case: &Case, request: &Value) -> Outcome {
    for settings in &case.settings {
        let v = policy()
            .validate_settings(settings)
            .unwrap_or_else(|e| panic!("{}: validate_settings: {e}", case.name));
        if !v.valid {
            return Outcome::RefusedSet {
                set: settings["name"].as_str().unwrap_or_default().to_owned(),
                message: v.message.unwrap_or_default(),
            };
        }
    }
    let from = rfc3339(unix_now());
    let mut object = request["object"].clone();
    for settings in &case.settings {
        let mut req = request.clone();
        req["object"] = object.clone();
        let response = policy()
            .evaluate(&req, settings, case.replay.as_ref())
            .unwrap_or_else(|e| panic!("{}: evaluate: {e}", case.name));
        if !response.allowed {
            let status = response.status.unwrap_or_default();
            return Outcome::RefusedPod {
                code: status.code.map_or(0, i64::from),
                message: status.message.unwrap_or_default(),
            };
        }
        if let Some(ops) = response.patch_operations() {
            let patch: json_patch::Patch = serde_json::from_value(ops)
                .unwrap_or_else(|e| panic!("{}: not a JSON patch: {e}", case.name));
            json_patch::patch(&mut object, &patch).unwrap_or_else(|e| {
                panic!("{}: the policy's patch does not apply: {e}", case.name)
            });
        }
    }
    let to = rfc3339(unix_now());
    normalise_timestamps(&mut object, &from, &to);
    Outcome::Pod(object)
}

// === the differences file ===

#[derive(Debug)]
struct Everywhere {
    field: String,
}

#[derive(Debug)]
struct Listed {
    kind: String,
}

struct Differences {
    everywhere: Vec<Everywhere>,
    cases: BTreeMap<String, Listed>,
}

fn load_differences(problems: &mut Vec<String>) -> Differences {
    let path = root().join(DIFFERENCES);
    let doc = read_yaml(&path);
    let text = |entry: &Value, key: &str, at: &str, problems: &mut Vec<String>| -> String {
        match entry.get(key).and_then(Value::as_str) {
            Some(s) if !s.trim().is_empty() => s.to_owned(),
            _ => {
                problems.push(format!(
                    "{DIFFERENCES}: {at}: `{key}` must say {}",
                    match key {
                        "differs" => "what differs",
                        "why" => "why the difference stays",
                        "hashEntryField" => "which field of the hash entries to leave out",
                        _ => "one of the kinds",
                    }
                ));
                String::new()
            }
        }
    };
    let mut everywhere = Vec::new();
    for (i, entry) in doc["everywhere"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let at = format!("everywhere[{i}]");
        text(entry, "differs", &at, problems);
        text(entry, "why", &at, problems);
        everywhere.push(Everywhere {
            field: text(entry, "hashEntryField", &at, problems),
        });
    }
    let mut cases = BTreeMap::new();
    for (name, entry) in doc["cases"].as_object().cloned().unwrap_or_default() {
        let at = format!("cases.{name}");
        text(&entry, "differs", &at, problems);
        text(&entry, "why", &at, problems);
        let kind = text(&entry, "kind", &at, problems);
        if !KINDS.contains(&kind.as_str()) {
            problems.push(format!(
                "{DIFFERENCES}: {at}: kind {kind:?} is not one of {KINDS:?}"
            ));
        }
        cases.insert(name, Listed { kind });
    }
    for key in doc.as_object().map(Map::keys).into_iter().flatten() {
        if key != "everywhere" && key != "cases" {
            problems.push(format!(
                "{DIFFERENCES}: unknown key {key:?} (the keys are everywhere and cases)"
            ));
        }
    }
    Differences { everywhere, cases }
}

/// The entries of a hash annotation in the object form (`{"<set>": {...}}`), by set.
fn hash_entries(pod: &Value, annotation: &str) -> Map<String, Value> {
    pod.pointer(&format!(
        "/metadata/annotations/{}",
        annotation.replace('/', "~1")
    ))
    .and_then(Value::as_str)
    .and_then(|text| serde_json::from_str::<Map<String, Value>>(text).ok())
    .unwrap_or_default()
}

/// What each side wrote in `field` of every hash entry: (annotation, set) -> value.
fn hash_entry_field(pod: &Value, field: &str) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    for annotation in HASH_ANNOTATIONS {
        for (set, entry) in hash_entries(pod, annotation) {
            if let Some(v) = entry.get(field) {
                out.insert((annotation.to_owned(), set), v.clone());
            }
        }
    }
    out
}

/// Leaves `"<field>":"<string>"` out of the hash annotations' text, keeping every other byte (a
/// reparse would reorder the keys and hide a difference of order).
fn strip_hash_entry_field(pod: &mut Value, field: &str) {
    let Some(annotations) = pod
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let key = format!("\"{field}\":\"");
    for annotation in HASH_ANNOTATIONS {
        let Some(Value::String(text)) = annotations.get_mut(annotation) else {
            continue;
        };
        while let Some(at) = text.find(&key) {
            let value_end = text[at + key.len()..]
                .find('"')
                .map_or(text.len(), |e| at + key.len() + e + 1);
            if text[..at].ends_with(',') {
                text.replace_range(at - 1..value_end, "");
            } else if text[value_end..].starts_with(',') {
                text.replace_range(at..value_end + 1, "");
            } else {
                text.replace_range(at..value_end, "");
            }
        }
    }
}

// === comparing ===

#[derive(Clone, Debug, PartialEq)]
enum Class {
    Identical,
    SameStoredPod,
    Differs { kind: &'static str, detail: String },
}

/// Pretty JSON of both, with the lines that differ (a longest-common-subsequence diff).
fn line_diff(kruise: &Value, policy: &Value) -> String {
    let (a, b) = (pretty(kruise), pretty(policy));
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            (i, j) = (i + 1, j + 1);
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push(format!("+ {:>4} {}", j + 1, b[j]));
            j += 1;
        } else {
            out.push(format!("- {:>4} {}", i + 1, a[i]));
            i += 1;
        }
    }
    const MAX: usize = 80;
    if out.len() > MAX {
        let more = out.len() - MAX;
        out.truncate(MAX);
        out.push(format!("... {more} more lines"));
    }
    format!(
        "(- Kruise's stored Pod, + the policy's, by line of pretty JSON)\n{}",
        out.join("\n")
    )
}

#[test]
fn golden_cases_against_kruise() {
    let mut problems = Vec::new();
    let differences = load_differences(&mut problems);
    let cases = golden_cases();
    assert!(
        cases.len() >= 30,
        "expected at least 30 golden cases, found {}",
        cases.len()
    );
    let harness = Harness::build();

    // The requests as the API server sends them, to both sides.
    let objects: Vec<&Value> = cases.iter().map(|c| &c.request["object"]).collect();
    let requests: Vec<Value> = cases
        .iter()
        .zip(harness.stored(&objects))
        .map(|(case, object)| {
            let mut request = case.request.clone();
            request["object"] = object;
            request
        })
        .collect();

    let inputs: Vec<Value> = cases
        .iter()
        .zip(&requests)
        .map(|(case, request)| {
            json!({
                "sidecarSets": case.settings.iter().map(sidecar_set).collect::<Vec<_>>(),
                "namespaces": case.namespace.iter().collect::<Vec<_>>(),
                "configMaps": kruise_configuration(&case.settings).into_iter().collect::<Vec<_>>(),
                "controllerRevisions": case.revisions,
                "request": request,
                "now": golden_case::NOW,
            })
        })
        .collect();
    let kruise: Vec<Outcome> = harness
        .call("inject", &inputs)
        .iter()
        .map(kruise_outcome)
        .collect();
    let ours: Vec<Outcome> = cases
        .iter()
        .zip(&requests)
        .map(|(case, request)| policy_outcome(case, request))
        .collect();

    // The `everywhere` entries: stale once no case's sides write different values.
    for e in &differences.everywhere {
        let used = kruise.iter().zip(&ours).any(|pair| match pair {
            (Outcome::Pod(k), Outcome::Pod(p)) => {
                hash_entry_field(k, &e.field) != hash_entry_field(p, &e.field)
            }
            _ => false,
        });
        if !used {
            problems.push(format!(
                "{DIFFERENCES}: everywhere: hashEntryField {:?} is stale: in every case both sides write the same values (remove the entry)",
                e.field
            ));
        }
    }
    let normalise = |outcome: &Outcome| match outcome {
        Outcome::Pod(pod) => {
            let mut pod = pod.clone();
            for e in &differences.everywhere {
                strip_hash_entry_field(&mut pod, &e.field);
            }
            Outcome::Pod(pod)
        }
        other => other.clone(),
    };
    let kruise: Vec<Outcome> = kruise.iter().map(normalise).collect();
    let ours: Vec<Outcome> = ours.iter().map(normalise).collect();

    // Pods that differ as patched go through the API server's decoding once more.
    let unequal: Vec<usize> = (0..cases.len())
        .filter(|&i| matches!((&kruise[i], &ours[i]), (Outcome::Pod(k), Outcome::Pod(p)) if k != p))
        .collect();
    let to_store: Vec<&Value> = unequal
        .iter()
        .flat_map(|&i| match (&kruise[i], &ours[i]) {
            (Outcome::Pod(k), Outcome::Pod(p)) => [k, p],
            _ => unreachable!(),
        })
        .collect();
    let stored = harness.stored(&to_store);
    let stored: BTreeMap<usize, (&Value, &Value)> = unequal
        .iter()
        .zip(stored.chunks(2))
        .map(|(&i, pair)| (i, (&pair[0], &pair[1])))
        .collect();

    let classes: Vec<Class> = (0..cases.len())
        .map(|i| match (&kruise[i], &ours[i]) {
            (Outcome::Pod(k), Outcome::Pod(p)) if k == p => Class::Identical,
            (Outcome::Pod(_), Outcome::Pod(_)) => {
                let (k, p) = stored[&i];
                if k == p {
                    Class::SameStoredPod
                } else {
                    Class::Differs {
                        kind: "stored-pod",
                        detail: line_diff(k, p),
                    }
                }
            }
            (Outcome::RefusedSet { set: a, .. }, Outcome::RefusedSet { set: b, .. }) if a == b => {
                Class::Identical
            }
            (Outcome::RefusedPod { .. }, Outcome::RefusedPod { .. }) => Class::Identical,
            (k, p) => Class::Differs {
                kind: match (k, p) {
                    (_, Outcome::Pod(_)) => "kruise-refuses",
                    (Outcome::Pod(_), _) => "policy-refuses",
                    _ => "refusal-step",
                },
                detail: format!("Kruise {}\nthe policy {}", k.describe(), p.describe()),
            },
        })
        .collect();

    let names: BTreeSet<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    for listed in differences.cases.keys() {
        if !names.contains(listed.as_str()) {
            problems.push(format!(
                "{DIFFERENCES}: cases.{listed}: no golden case of that name (remove the entry)"
            ));
        }
    }
    let (mut identical, mut refused_by_both, mut same_stored, mut documented) = (0, 0, 0, 0);
    let mut random = 0;
    for (i, case) in cases.iter().enumerate() {
        let listed = differences.cases.get(&case.name);
        let label = match (&classes[i], listed) {
            (Class::Identical | Class::SameStoredPod, Some(l)) if l.kind == KRUISE_RANDOM => {
                random += 1;
                "drawn at random by Kruise (the same this time)"
            }
            (
                Class::Differs {
                    kind: "stored-pod", ..
                },
                Some(l),
            ) if l.kind == KRUISE_RANDOM => {
                random += 1;
                "drawn at random by Kruise (the other revision this time)"
            }
            (Class::Identical, None) => {
                identical += 1;
                if !matches!(kruise[i], Outcome::Pod(_)) {
                    refused_by_both += 1;
                }
                "identical"
            }
            (Class::SameStoredPod, None) => {
                same_stored += 1;
                "same stored Pod"
            }
            (Class::Identical | Class::SameStoredPod, Some(_)) => {
                problems.push(format!(
                    "{}: listed in {DIFFERENCES} but no longer differs from Kruise (remove the entry)",
                    case.name
                ));
                "stale entry"
            }
            (Class::Differs { kind, detail }, None) => {
                problems.push(format!(
                    "{}: differs from Kruise ({kind}), and {DIFFERENCES} does not list it:\n{detail}",
                    case.name
                ));
                "unlisted difference"
            }
            (Class::Differs { kind, detail }, Some(l)) if l.kind != *kind => {
                problems.push(format!(
                    "{}: {DIFFERENCES} lists a {} difference, but it is a {kind} one now:\n{detail}",
                    case.name, l.kind
                ));
                "difference of another kind"
            }
            (Class::Differs { .. }, Some(_)) => {
                documented += 1;
                "documented difference"
            }
        };
        println!("{:<60} {label}", case.name);
        // `KRUISE_PARITY_SHOW=1 cargo test --test kruise_parity -- --nocapture` shows how the
        // Pods of a "same stored Pod" case differ as patched.
        if classes[i] == Class::SameStoredPod
            && std::env::var_os("KRUISE_PARITY_SHOW").is_some()
            && let (Outcome::Pod(k), Outcome::Pod(p)) = (&kruise[i], &ours[i])
        {
            println!("{}", line_diff(k, p));
        }
    }
    let summary = format!(
        "kruise parity: {} cases: {identical} identical ({refused_by_both} of them refused by both), \
         {same_stored} same stored Pod, {documented} documented differences, {random} drawn at \
         random by Kruise",
        cases.len()
    );
    println!("{summary}");
    assert!(
        problems.is_empty(),
        "{summary}\n{} problem(s):\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

#[test]
fn stripping_a_hash_entry_field_keeps_every_other_byte() {
    let mut pod = json!({"metadata": {"annotations": {
        "kruise.io/sidecarset-hash": r#"{"a":{"hash":"h","controllerRevision":"a-1"},"b":{"controllerRevision":"b-2","hash":"g"},"c":{"controllerRevision":"c-3"},"d":"legacy"}"#,
        "other": r#"{"controllerRevision":"x"}"#,
    }}});
    assert_eq!(hash_entry_field(&pod, "controllerRevision").len(), 3);
    strip_hash_entry_field(&mut pod, "controllerRevision");
    assert_eq!(
        pod["metadata"]["annotations"]["kruise.io/sidecarset-hash"],
        r#"{"a":{"hash":"h"},"b":{"hash":"g"},"c":{},"d":"legacy"}"#
    );
    assert_eq!(
        pod["metadata"]["annotations"]["other"],
        r#"{"controllerRevision":"x"}"#
    );
    let objects = json!({"metadata": {"annotations": {
        "kruise.io/sidecarset-hash-without-image": r#"{"a":{"hash":"h","controllerRevision":"a-1"}}"#,
    }}});
    assert_eq!(
        hash_entry_field(&objects, "controllerRevision"),
        BTreeMap::from([(
            (
                "kruise.io/sidecarset-hash-without-image".to_owned(),
                "a".to_owned()
            ),
            json!("a-1")
        )])
    );
}

#[test]
fn line_diff_shows_the_lines_that_differ() {
    let diff = line_diff(&json!({"a": 1, "b": 2}), &json!({"a": 1, "b": 3}));
    assert!(diff.contains("-    3   \"b\": 2"), "{diff}");
    assert!(diff.contains("+    3   \"b\": 3"), "{diff}");
    assert!(!diff.contains("\"a\""), "{diff}");
}
