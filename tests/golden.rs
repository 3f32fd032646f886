//! Golden injection cases, discovered from `test_data/golden/<case>/`:
//!
//! - `settings.yaml`: one SidecarSet's settings, or a YAML list of them applied one after the other
//!   (several policies, in the order the API server calls their webhooks);
//! - `request.json`: the AdmissionRequest;
//! - `namespace.json` (optional): the Namespace object the context-aware lookup returns, or
//!   `namespace-error.txt`: the lookup fails with that text;
//! - `replay.yml` (with a Namespace lookup or `injectionStrategy.revision`): a kwctl replay session of
//!   the context-aware calls the policy makes, for `tests/artifact.rs`; here its ControllerRevision
//!   answers (found, listed, not found) are the revision lookups' answers;
//! - `expected.json`: the Pod after injection (absent when the request is refused);
//! - `expected-response.json` (optional): `{accepted, message?, warnings?}` when it matters.
//!
//! Each case runs the policy's `evaluate` natively, compares, then feeds the injected Pod back and
//! requires no further change. `UPDATE_GOLDEN=1 cargo test --test golden` rewrites the expected files.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sidecarset_policy::evaluate;

#[path = "support/golden_case.rs"]
mod golden_case;

use golden_case::{Case, NOW, golden_dir, read_json};

/// Runs every set in order; returns the final Pod, and the last response's verdict.
fn run(settings: &[Value], request: &Value, case: &Case) -> (Option<Value>, Value) {
    let mut object = request["object"].clone();
    let mut verdict = json!({"accepted": true});
    let mut warnings: Vec<Value> = vec![];
    for s in settings {
        let mut req = request.clone();
        req["object"] = object.clone();
        let payload = serde_json::to_vec(&json!({"request": req, "settings": s})).unwrap();
        let resp = evaluate(&payload, case, case, NOW);
        if !resp.accepted {
            verdict = json!({"accepted": false, "message": resp.message, "code": resp.code});
            return (None, verdict);
        }
        warnings.extend(
            resp.warnings
                .unwrap_or_default()
                .into_iter()
                .map(Value::String),
        );
        if let Some(m) = resp.mutated_object {
            object = m;
        }
    }
    if !warnings.is_empty() {
        verdict["warnings"] = Value::Array(warnings);
    }
    (Some(object), verdict)
}

fn check_or_update(path: &Path, actual: Option<&Value>, update: bool, failures: &mut Vec<String>) {
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap() + "\n";
    match (actual, path.exists()) {
        (Some(v), _) if update => fs::write(path, pretty(v)).unwrap(),
        (None, true) if update => fs::remove_file(path).unwrap(),
        (None, false) => {}
        (None, true) => failures.push(format!(
            "{}: stale: this case produces no such file",
            path.display()
        )),
        (Some(_), false) => failures.push(format!(
            "{}: missing (run with UPDATE_GOLDEN=1)",
            path.display()
        )),
        (Some(v), true) => {
            let expected = read_json(path);
            if &expected != v {
                failures.push(format!(
                    "{}: differs\n--- expected\n{}\n--- actual\n{}",
                    path.display(),
                    pretty(&expected),
                    pretty(v)
                ));
            }
        }
    }
}

#[test]
fn golden_cases() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = vec![];
    let mut count = 0;
    let mut dirs: Vec<PathBuf> = fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    for dir in dirs.iter().filter(|d| d.is_dir()) {
        if !dir.join("request.json").exists() || !dir.join("settings.yaml").exists() {
            failures.push(format!(
                "{}: a case needs request.json and settings.yaml (stale directory?)",
                dir.display()
            ));
            continue;
        }
        count += 1;
        let case = Case::load(dir);
        let (settings, request) = (&case.settings, &case.request);
        let (pod, verdict) = run(settings, request, &case);
        check_or_update(
            &dir.join("expected.json"),
            pod.as_ref(),
            update,
            &mut failures,
        );
        let interesting = verdict != json!({"accepted": true});
        check_or_update(
            &dir.join("expected-response.json"),
            interesting.then_some(&verdict),
            update,
            &mut failures,
        );

        // Idempotency: the injected Pod, evaluated again by every set, changes no more.
        if let Some(pod) = pod {
            let mut again = request.clone();
            again["object"] = pod.clone();
            let (pod2, verdict2) = run(settings, &again, &case);
            if pod2.as_ref() != Some(&pod) || verdict2["accepted"] != json!(true) {
                failures.push(format!(
                    "{}: not idempotent: a second evaluation changed the Pod to\n{}\n({verdict2})",
                    dir.display(),
                    serde_json::to_string_pretty(&pod2).unwrap()
                ));
            }
        }
    }
    for f in fs::read_dir(golden_dir()).unwrap() {
        let p = f.unwrap().path();
        if p.is_file() {
            failures.push(format!(
                "{}: stray file: cases are directories",
                p.display()
            ));
        }
    }
    assert!(
        count >= 30,
        "expected at least 30 golden cases, found {count}"
    );
    assert!(
        failures.is_empty(),
        "{} golden failure(s):\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
