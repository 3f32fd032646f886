//! Every recorded `kwctl run` case, replayed through the built `kwhost` binary: stdout byte for
//! byte, the exit code, and the `Error:` report.

mod common;

use std::path::Path;

use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    name: String,
    args: Vec<String>,
}

struct Outcome {
    name: String,
    problems: Vec<String>,
}

fn substitute(arg: &str) -> String {
    arg.replace("{dir}", ".")
        .replace("{annotated_wasm}", "sample-policy-annotated.wasm")
        .replace("{wasm}", "sample-policy.wasm")
}

/// kwctl's `.stderr` keeps only its report from the `Error:` line on (its log lines are left
/// out), so compare the same slice of ours.
fn error_report(stderr: &str) -> Option<&str> {
    let start = if stderr.starts_with("Error:") {
        0
    } else {
        stderr.find("\nError:")? + 1
    };
    Some(&stderr[start..])
}

fn run_case(dir: &Path, case: &Case) -> Outcome {
    let expected = |ext: &str| {
        let path = dir.join("expected").join(format!("{}.{ext}", case.name));
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    };
    let expected_stdout = expected("stdout");
    let expected_rc: i32 = String::from_utf8(expected("rc"))
        .unwrap()
        .trim()
        .parse()
        .expect("an exit code");
    let expected_stderr = String::from_utf8(expected("stderr")).unwrap();

    let args: Vec<String> = case.args.iter().map(|a| substitute(a)).collect();
    let output = common::kwhost(&args).output().expect("kwhost runs");
    let stderr = String::from_utf8_lossy(&output.stderr);

    let mut problems = Vec::new();
    if output.stdout != expected_stdout {
        problems.push(format!(
            "stdout differs\n  kwctl:  {}\n  kwhost: {}",
            String::from_utf8_lossy(&expected_stdout).trim_end(),
            String::from_utf8_lossy(&output.stdout).trim_end()
        ));
    }
    if output.status.code() != Some(expected_rc) {
        problems.push(format!(
            "exit code: kwctl {expected_rc}, kwhost {:?}",
            output.status.code()
        ));
    }
    let ours = error_report(&stderr);
    if expected_stderr.is_empty() {
        if let Some(report) = ours {
            problems.push(format!("kwctl reported no error, kwhost did: {report}"));
        }
    } else if ours != Some(expected_stderr.as_str()) {
        problems.push(format!(
            "error report differs\n  kwctl:  {}\n  kwhost: {}",
            expected_stderr.trim_end(),
            ours.unwrap_or("(none)").trim_end()
        ));
    }
    if !problems.is_empty() {
        problems.push(format!(
            "kwhost {}\n  full stderr: {stderr}",
            args.join(" ")
        ));
    }
    Outcome {
        name: case.name.clone(),
        problems,
    }
}

#[test]
fn every_recorded_kwctl_case_matches() {
    let dir = common::samples_dir();
    let cases: Vec<Case> =
        serde_json::from_slice(&std::fs::read(dir.join("cases.json")).unwrap()).unwrap();
    assert!(!cases.is_empty(), "cases.json lists no case");

    // Fill the compilation cache once per module, then run the rest two at a time.
    let (warm, rest): (Vec<&Case>, Vec<&Case>) = {
        let mut seen = std::collections::HashSet::new();
        cases
            .iter()
            .partition(|c| seen.insert(c.args.last().cloned()))
    };
    let mut outcomes: Vec<Outcome> = warm.iter().map(|c| run_case(&dir, c)).collect();
    let (left, right) = rest.split_at(rest.len() / 2);
    std::thread::scope(|scope| {
        let a = scope.spawn(|| left.iter().map(|c| run_case(&dir, c)).collect::<Vec<_>>());
        let b = scope.spawn(|| right.iter().map(|c| run_case(&dir, c)).collect::<Vec<_>>());
        outcomes.extend(a.join().unwrap());
        outcomes.extend(b.join().unwrap());
    });

    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.problems.is_empty()).collect();
    for outcome in &failed {
        eprintln!("case {}:\n{}\n", outcome.name, outcome.problems.join("\n"));
    }
    eprintln!(
        "kwctl samples: {} of {} cases match",
        outcomes.len() - failed.len(),
        outcomes.len()
    );
    assert!(
        failed.is_empty(),
        "{} case(s) differ from kwctl: {}",
        failed.len(),
        failed
            .iter()
            .map(|o| o.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
}

#[test]
fn error_report_slicing() {
    assert_eq!(error_report("Error: x\n"), Some("Error: x\n"));
    assert_eq!(error_report("warning: y\nError: x\n"), Some("Error: x\n"));
    assert_eq!(error_report("warning: y\n"), None);
}
