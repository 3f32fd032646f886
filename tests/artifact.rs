//! The built `policy.wasm`, evaluated in the project's waPC host (`kwhost`) the way `kwctl run`
//! evaluates it: every golden case of `test_data/golden/` (see `tests/golden.rs` for the layout),
//! with the returned JSON patch applied to the request's object and compared with the expected
//! Pod; the injected Pod evaluated again must give no patch; invalid settings must be refused with
//! the message the native `validate_settings` gives.
//!
//! Context-aware calls go through kwctl replay sessions: a case that gives golden.rs a Namespace
//! lookup answer (`namespace.json` / `namespace-error.txt`) carries `replay.yml` saying the same
//! (found, not found, lookup error), and a case whose settings pin a revision
//! (`injectionStrategy.revision`) carries the ControllerRevision get or list; the module must ask
//! for them, exactly as recorded.
//!
//! How the module is built and loaded: `tests/support/policy_wasm.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use kwhost::replay::{HostRequest, RecordedResponse};
use kwhost::{Error, Replay};
use serde_json::{Value, json};
use sidecarset_policy::{NamespaceSource, NoRevisions, check_settings, evaluate};

#[path = "support/golden_case.rs"]
mod golden_case;
#[path = "support/policy_wasm.rs"]
mod policy_wasm;
mod support;

use golden_case::{NOW, case_dirs, read, read_json, read_yaml, root};
use policy_wasm::{normalise_timestamps, policy, rfc3339, unix_now};

/// How a failed host call reaches the policy: the SDK's prefix (the policy words its own list call
/// the same), then kwhost's (kwctl's) wording of a callback error, then the recorded message.
fn lookup_error_prefix(request: &HostRequest) -> String {
    let operation = match request {
        HostRequest::KubernetesListResourceNamespace(_) => "list_resources_by_namespace",
        _ => "get_resource",
    };
    format!(
        "error invoking host capability kubernetes.{operation}: Host error: Callback evaluation failure: "
    )
}

fn settings_list(dir: &Path) -> Vec<Value> {
    match read_yaml(&dir.join("settings.yaml")) {
        Value::Array(items) => items,
        one => vec![one],
    }
}

struct Case {
    dir: PathBuf,
    name: String,
    settings: Vec<Value>,
    request: Value,
    replay: Option<Replay>,
}

impl Case {
    fn load(dir: PathBuf) -> Self {
        let replay_path = dir.join("replay.yml");
        let replay = replay_path.exists().then(|| {
            Replay::from_file(&replay_path)
                .unwrap_or_else(|e| panic!("{}: {e}", replay_path.display()))
        });
        Self {
            name: dir.file_name().unwrap().to_string_lossy().into_owned(),
            settings: settings_list(&dir),
            request: read_json(&dir.join("request.json")),
            replay,
            dir,
        }
    }

    fn expected_pod(&self) -> Option<Value> {
        let p = self.dir.join("expected.json");
        p.exists().then(|| read_json(&p))
    }

    /// golden.rs's verdict, with the replay's lookup errors worded as they reach the guest through
    /// a host.
    fn expected_verdict(&self) -> Value {
        let p = self.dir.join("expected-response.json");
        if !p.exists() {
            return json!({"accepted": true});
        }
        let mut text = read(&p);
        let as_json = |s: &str| serde_json::to_string(s).unwrap();
        let inner = |s: String| s[1..s.len() - 1].to_owned();
        let mut seen = BTreeSet::new();
        for exchange in self.replay.iter().flat_map(Replay::exchanges) {
            if let RecordedResponse::Error { message } = &exchange.response {
                let prefix = lookup_error_prefix(&exchange.request);
                if seen.insert((prefix.clone(), message.clone())) {
                    text = text.replace(
                        &inner(as_json(message)),
                        &inner(as_json(&format!("{prefix}{message}"))),
                    );
                }
            }
        }
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// golden.rs gives a Namespace lookup answer to exactly these cases (a `namespaceSelector`,
    /// or v1alpha1's `namespace`, which becomes one).
    fn looks_up_namespaces(&self) -> bool {
        self.dir.join("namespace.json").exists() || self.dir.join("namespace-error.txt").exists()
    }

    /// Settings that pin a revision, which the policy looks up for every Pod they match.
    fn looks_up_revisions(&self) -> bool {
        self.settings
            .iter()
            .any(|s| s.pointer("/injectionStrategy/revision").is_some())
    }
}

/// What happened to one Pod through every set in turn, as golden.rs's `run` reports it.
struct Outcome {
    pod: Option<Value>,
    verdict: Value,
    /// Steps that returned a patch.
    patched_steps: usize,
    /// The decoded patches, for failure messages.
    patches: Vec<Value>,
}

fn run_case(case: &Case, object: &Value, problems: &mut Vec<String>) -> Outcome {
    let mut object = object.clone();
    let mut warnings: Vec<Value> = Vec::new();
    let mut patched_steps = 0;
    let mut patches = Vec::new();
    let mut lookups = 0;
    for (step, settings) in case.settings.iter().enumerate() {
        let mut request = case.request.clone();
        request["object"] = object.clone();
        let evaluation = match policy().run(&request, settings, case.replay.as_ref()) {
            Ok(e) => e,
            Err(e) => {
                problems.push(format!("step {step}: kwhost refused the run: {e}"));
                return Outcome {
                    pod: None,
                    verdict: json!({"error": e.to_string()}),
                    patched_steps,
                    patches,
                };
            }
        };
        if let Some(replay) = &case.replay {
            lookups += replay.exchanges().len() - evaluation.unused_exchanges;
        }
        let response = evaluation.response;
        if response.uid != case.request["uid"] {
            problems.push(format!("step {step}: uid {:?} not echoed", response.uid));
        }
        if !response.allowed {
            let status = response.status.unwrap_or_default();
            return Outcome {
                pod: None,
                verdict: json!({"accepted": false, "message": status.message, "code": status.code}),
                patched_steps,
                patches,
            };
        }
        warnings.extend(
            response
                .warnings
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(Value::String),
        );
        if let Some(ops) = response.patch_operations() {
            if response.patch_type.as_deref() != Some("JSONPatch") {
                problems.push(format!("step {step}: patch without patchType JSONPatch"));
            }
            patches.push(ops.clone());
            let patch: json_patch::Patch = serde_json::from_value(ops)
                .unwrap_or_else(|e| panic!("{}: step {step}: not a JSON patch: {e}", case.name));
            if let Err(e) = json_patch::patch(&mut object, &patch) {
                problems.push(format!(
                    "step {step}: the patch does not apply to the request's object: {e}"
                ));
            }
            patched_steps += 1;
        } else if response.patch.is_some() {
            problems.push(format!("step {step}: the patch is not base64 JSON"));
        }
    }
    if case.replay.is_some() && lookups == 0 {
        problems.push("the replay session was never used: no lookup".to_owned());
    }
    let mut verdict = json!({"accepted": true});
    if !warnings.is_empty() {
        verdict["warnings"] = Value::Array(warnings);
    }
    Outcome {
        pod: Some(object),
        verdict,
        patched_steps,
        patches,
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap()
}

fn check_case(case: &Case) -> Vec<String> {
    let mut problems = Vec::new();

    // The replay session must tell the same story as the native fixture, and exist exactly
    // where a lookup happens.
    let looks_up = case.looks_up_namespaces() || case.looks_up_revisions();
    match (&case.replay, looks_up) {
        (None, true) => problems.push(
            "settings have a namespaceSelector or injectionStrategy.revision but the case has no replay.yml"
                .to_owned(),
        ),
        (Some(_), false) => {
            problems.push("replay.yml in a case whose settings never look up".to_owned())
        }
        (Some(replay), true) => check_replay_matches_fixture(case, replay, &mut problems),
        (None, false) => {}
    }

    let from = rfc3339(unix_now());
    let mut outcome = run_case(case, &case.request["object"], &mut problems);
    let to = rfc3339(unix_now());
    if let Some(pod) = outcome.pod.as_mut() {
        normalise_timestamps(pod, &from, &to);
    }

    let expected_pod = case.expected_pod();
    if outcome.pod != expected_pod {
        problems.push(format!(
            "Pod differs\n--- expected\n{}\n--- through policy.wasm\n{}",
            expected_pod.as_ref().map_or("(refused)".into(), pretty),
            outcome.pod.as_ref().map_or("(refused)".into(), pretty),
        ));
    }
    let expected_verdict = case.expected_verdict();
    if outcome.verdict != expected_verdict {
        problems.push(format!(
            "response differs\n--- expected\n{}\n--- through policy.wasm\n{}",
            pretty(&expected_verdict),
            pretty(&outcome.verdict)
        ));
    }
    if outcome.patched_steps > 0 && expected_pod.as_ref() == Some(&case.request["object"]) {
        problems.push("a patch was returned although the Pod must not change".to_owned());
    }

    // The injected Pod, evaluated again, gets no patch (kwctl prints none for an empty diff).
    // With several sets only the chain is checked, as golden.rs does: sets that claim the same
    // container name undo each other's change one step at a time.
    if let Some(pod) = &outcome.pod {
        let again = run_case(case, pod, &mut problems);
        let single = case.settings.len() == 1;
        if again.verdict["accepted"] != true
            || again.pod.as_ref() != Some(pod)
            || (single && again.patched_steps > 0)
        {
            problems.push(format!(
                "re-evaluating the injected Pod is not a no-op: {}, patches {}",
                again.verdict,
                Value::Array(again.patches)
            ));
        }
    }
    problems
}

/// The Namespace exchanges say what `namespace.json` / `namespace-error.txt` say (the
/// ControllerRevision ones are golden.rs's own fixture).
fn check_replay_matches_fixture(case: &Case, replay: &Replay, problems: &mut Vec<String>) {
    let found = case.dir.join("namespace.json");
    let error = case.dir.join("namespace-error.txt");
    let namespace_lookups = replay
        .exchanges()
        .iter()
        .filter(|e| e.request.kubernetes_resource() == Some(("v1", "Namespace")));
    for exchange in namespace_lookups {
        match &exchange.response {
            RecordedResponse::Success { payload } => {
                let recorded: Value = serde_json::from_str(payload)
                    .unwrap_or_else(|e| panic!("{}: replay payload: {e}", case.name));
                if !found.exists() || recorded != read_json(&found) {
                    problems.push(
                        "replay.yml answers with a Namespace other than namespace.json".to_owned(),
                    );
                }
            }
            RecordedResponse::Error { message } => {
                if !error.exists() || message != read(&error).trim() {
                    problems.push(
                        "replay.yml fails with a message other than namespace-error.txt".to_owned(),
                    );
                }
            }
        }
    }
}

fn golden_cases() -> Vec<Case> {
    case_dirs().into_iter().map(Case::load).collect()
}

#[test]
fn golden_cases_through_policy_wasm() {
    let cases = golden_cases();
    assert!(
        cases.len() >= 30,
        "expected at least 30 golden cases, found {}",
        cases.len()
    );
    let outcomes: Vec<(&Case, Vec<String>)> = cases.iter().map(|c| (c, check_case(c))).collect();

    // The three lookup outcomes must all be among the cases, or this test proves less than it says.
    let with_replay = |pred: &dyn Fn(&kwhost::replay::RecordedResponse) -> bool| {
        cases
            .iter()
            .filter_map(|c| c.replay.as_ref())
            .flat_map(|r| r.exchanges())
            .any(|e| pred(&e.response))
    };
    use kwhost::replay::RecordedResponse::{Error as Failed, Success};
    assert!(
        with_replay(&|r| matches!(r, Success { .. })),
        "no replayed Namespace found"
    );
    assert!(
        with_replay(&|r| matches!(r, Failed { message } if message.ends_with("not found"))),
        "no replayed Namespace not found"
    );
    assert!(
        with_replay(&|r| matches!(r, Failed { message } if !message.ends_with("not found"))),
        "no replayed lookup error"
    );
    // And the revision lookups: a get found and not found, a list with and without items.
    let revision_lookup = |pred: &dyn Fn(&kwhost::replay::Exchange) -> bool| {
        cases
            .iter()
            .filter_map(|c| c.replay.as_ref())
            .flat_map(|r| r.exchanges())
            .filter(|e| e.request.kubernetes_resource() == Some(("apps/v1", "ControllerRevision")))
            .any(pred)
    };
    let items = |r: &kwhost::replay::RecordedResponse| match r {
        Success { payload } => serde_json::from_str::<Value>(payload).unwrap()["items"]
            .as_array()
            .map(Vec::len),
        Failed { .. } => None,
    };
    let get =
        |e: &kwhost::replay::Exchange| matches!(e.request, HostRequest::KubernetesGetResource(_));
    assert!(
        revision_lookup(&|e| get(e) && matches!(e.response, Success { .. })),
        "no replayed ControllerRevision found by name"
    );
    assert!(
        revision_lookup(&|e| get(e)
            && matches!(&e.response, Failed { message } if message.ends_with("not found"))),
        "no replayed ControllerRevision not found"
    );
    assert!(
        revision_lookup(&|e| !get(e) && items(&e.response).is_some_and(|n| n > 1)),
        "no replayed ControllerRevision list with several revisions"
    );
    assert!(
        revision_lookup(&|e| !get(e) && items(&e.response) == Some(0)),
        "no replayed empty ControllerRevision list"
    );

    let failed: Vec<String> = outcomes
        .iter()
        .filter(|(_, p)| !p.is_empty())
        .map(|(c, p)| format!("{}:\n{}", c.name, p.join("\n")))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} golden case(s) differ through policy.wasm:\n\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n\n")
    );
}

/// Never asked for in these tests: a lookup reaching it is a bug in the test.
struct NoNamespaces;

impl NamespaceSource for NoNamespaces {
    fn labels(&self, namespace: &str) -> Result<BTreeMap<String, String>, String> {
        Err(format!(
            "no Namespace lookup expected (asked for {namespace:?})"
        ))
    }
}

#[test]
fn invalid_settings_are_refused_with_the_native_messages() {
    let dir = root().join("test_data/invalid-settings");
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("test_data/invalid-settings exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 5,
        "expected at least 5 invalid settings files in {}",
        dir.display()
    );

    let request = read_json(&root().join("test_data/golden/filebeat-story/request.json"));
    let mut problems = Vec::new();
    for path in &paths {
        let name = path.file_name().unwrap().to_string_lossy();
        let settings = read_yaml(path);
        let native = check_settings(serde_json::to_string(&settings).unwrap().as_bytes());
        let Some(message) = native.message.clone().filter(|_| !native.valid) else {
            problems.push(format!(
                "{name}: the native validate_settings accepts these settings"
            ));
            continue;
        };

        // validate_settings itself.
        match policy().validate_settings(&settings) {
            Ok(v) if !v.valid && v.message.as_deref() == Some(message.as_str()) => {}
            other => problems.push(format!(
                "{name}: validate_settings through policy.wasm answered {other:?}, natively {message:?}"
            )),
        }
        // What `kwctl run` reports: the run stops before `validate`.
        match policy().run(&request, &settings, None) {
            Err(Error::InvalidSettings(m)) if m == message => {}
            other => problems.push(format!(
                "{name}: kwhost run gave {other:?}, expected InvalidSettings({message:?})"
            )),
        }
        // A host that skips the settings check (policy-server validated them at start-up and
        // they changed since) still gets a refusal, the same as natively.
        let payload =
            serde_json::to_vec(&json!({"request": request, "settings": settings})).unwrap();
        let native = evaluate(&payload, &NoNamespaces, &NoRevisions, NOW);
        match policy().evaluate(&request, &settings, None) {
            Ok(r)
                if !r.allowed
                    && r.status.as_ref().and_then(|s| s.message.clone()) == native.message
                    && r.status.as_ref().and_then(|s| s.code) == native.code => {}
            other => problems.push(format!(
                "{name}: validate through policy.wasm gave {other:?}, natively {:?} ({:?})",
                native.message, native.code
            )),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn annotation_carries_the_shipped_metadata() {
    let metadata = policy().metadata().expect("the module is annotated");
    assert_eq!(policy().protocol_version(), Some("v1"));
    assert_eq!(metadata.mutating, Some(true));
    assert_eq!(
        metadata.raw["annotations"]["io.kubewarden.policy.usage"],
        read(&root().join("README.md"))
    );
    assert!(
        metadata
            .context_aware_resources
            .iter()
            .any(|r| r.api_version == "v1" && r.kind == "Namespace"),
        "metadata.yml must grant v1/Namespace for namespaceSelector"
    );
    assert!(
        metadata
            .context_aware_resources
            .iter()
            .any(|r| r.api_version == "apps/v1" && r.kind == "ControllerRevision"),
        "metadata.yml must grant apps/v1/ControllerRevision for injectionStrategy.revision"
    );
}

#[test]
fn timestamp_normalisation_only_touches_the_window() {
    let mut pod = json!({"metadata": {"annotations": {
        "a": r#"{"x":{"updateTimestamp":"2030-01-01T00:00:05Z","hash":"h"},"y":{"updateTimestamp":"2020-01-01T00:00:00Z"}}"#,
        "b": 3
    }}});
    normalise_timestamps(&mut pod, "2030-01-01T00:00:00Z", "2030-01-01T00:00:09Z");
    assert_eq!(
        pod["metadata"]["annotations"]["a"],
        r#"{"x":{"updateTimestamp":"2026-11-25T10:00:00Z","hash":"h"},"y":{"updateTimestamp":"2020-01-01T00:00:00Z"}}"#
    );
    assert_eq!(rfc3339(1_782_900_000), "2026-07-01T10:00:00Z");
}
