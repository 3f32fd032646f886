//! Command-line behaviour beyond the recorded kwctl cases.

mod common;

use std::io::Write;
use std::process::{Output, Stdio};

fn kwhost(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = common::kwhost(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or_default()).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

#[test]
fn request_from_stdin_and_file_uri() {
    let review =
        std::fs::read(common::samples_dir().join("requests/pod-create-review.json")).unwrap();
    let out = kwhost(
        &[
            "run",
            "-r",
            "-",
            "--settings-json",
            r#"{"action":"accept"}"#,
            "file://sample-policy.wasm",
        ],
        Some(&review),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.stdout,
        std::fs::read(common::samples_dir().join("expected/accept.stdout")).unwrap()
    );
}

#[test]
fn unsupported_inputs_fail_clearly() {
    for (uri, needle) in [
        ("registry://ghcr.io/x/y:v1", "remote policies"),
        ("policy.yml", "policy custom resources"),
    ] {
        let out = kwhost(&["run", "-r", "requests/pod-create.json", uri], None);
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with("Error: not supported by kwhost: "),
            "{stderr}"
        );
        assert!(stderr.contains(needle), "{stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn without_a_replay_granted_lookups_fail_inside_the_guest() {
    let out = kwhost(
        &[
            "run",
            "-r",
            "requests/pod-create.json",
            "--settings-json",
            r#"{"action":"lookup"}"#,
            "--allow-context-aware",
            "sample-policy-annotated.wasm",
        ],
        None,
    );
    assert!(out.status.success());
    let response: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(response["patchType"], "JSONPatch");
}
