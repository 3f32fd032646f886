//! The library API used in-process, against the same sample policy kwctl answered for.

mod common;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kwhost::{CompilationCache, ContextAware, Error, Policy, PolicyOptions, Replay};
use serde_json::{Value, json};

fn options(context_aware: ContextAware) -> PolicyOptions {
    PolicyOptions {
        compilation_cache: CompilationCache::Directory(common::wasmtime_cache_dir()),
        context_aware,
        ..Default::default()
    }
}

fn plain() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| {
        Policy::load_with(
            common::samples_dir().join("sample-policy.wasm"),
            options(ContextAware::Deny),
        )
        .unwrap()
    })
}

fn annotated_trusted() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| {
        Policy::load_with(
            common::samples_dir().join("sample-policy-annotated.wasm"),
            options(ContextAware::TrustMetadata),
        )
        .unwrap()
    })
}

fn request() -> Value {
    serde_json::from_slice(
        &std::fs::read(common::samples_dir().join("requests/pod-create.json")).unwrap(),
    )
    .unwrap()
}

fn expected_line(case: &str) -> String {
    let path = common::samples_dir().join(format!("expected/{case}.stdout"));
    String::from_utf8(std::fs::read(path).unwrap())
        .unwrap()
        .trim_end()
        .to_owned()
}

#[test]
fn metadata_and_protocol_version() {
    assert_eq!(plain().protocol_version(), Some("v1"));
    assert!(plain().metadata().is_none());
    let metadata = annotated_trusted().metadata().unwrap();
    assert_eq!(metadata.execution_mode, "kubewarden-wapc");
    assert_eq!(
        annotated_trusted().permissions().context_aware_resources,
        metadata.context_aware_resources
    );
}

#[test]
fn one_instance_serves_many_evaluations() {
    let mut instance = plain().instantiate();
    let mutate = json!({"action": "mutate"});
    let accept = json!({"action": "accept"});
    for _ in 0..25 {
        let response = instance.evaluate(&request(), &mutate, None).unwrap();
        assert_eq!(response.to_kwctl_line(), expected_line("mutate"));
        let response = instance.evaluate(&request(), &accept, None).unwrap();
        assert_eq!(response.to_kwctl_line(), expected_line("accept"));
    }
}

#[test]
fn guest_errors_do_not_poison_the_instance() {
    let mut instance = plain().instantiate();
    let error = instance
        .evaluate(&request(), &json!({"action": "error"}), None)
        .unwrap();
    assert_eq!(error.to_kwctl_line(), expected_line("guest-error"));
    let accept = instance
        .evaluate(&request(), &json!({"action": "accept"}), None)
        .unwrap();
    assert_eq!(accept.to_kwctl_line(), expected_line("accept"));
}

#[test]
fn patch_operations_decode() {
    let response = plain()
        .evaluate(&request(), &json!({"action": "mutate"}), None)
        .unwrap();
    let ops = response.patch_operations().unwrap();
    assert_eq!(
        ops[0],
        json!({"op": "add", "path": "/metadata/annotations", "value": {"sample/mutated": "yes"}})
    );
    assert_eq!(
        ops.as_array().unwrap().last().unwrap()["path"],
        "/spec/containers/1"
    );
}

#[test]
fn replay_is_reusable_and_unused_exchanges_are_counted() {
    let replay =
        Replay::from_file(&common::samples_dir().join("replay/namespace-found.yml")).unwrap();
    let mut instance = annotated_trusted().instantiate();
    for _ in 0..5 {
        let evaluation = instance
            .run(&request(), &json!({"action": "lookup"}), Some(&replay))
            .unwrap();
        assert_eq!(
            evaluation.response.to_kwctl_line(),
            expected_line("annotated-lookup-found")
        );
        assert_eq!(evaluation.unused_exchanges, 0);
    }
    let evaluation = instance
        .run(&request(), &json!({"action": "accept"}), Some(&replay))
        .unwrap();
    assert_eq!(evaluation.unused_exchanges, 1);
}

#[test]
fn run_validates_settings_first() {
    let err = plain()
        .run(&request(), &json!({"action": "bogus"}), None)
        .unwrap_err();
    assert!(matches!(err, Error::InvalidSettings(_)));
    let stderr = std::fs::read_to_string(
        common::samples_dir().join("expected/settings-invalid-value.stderr"),
    )
    .unwrap();
    assert_eq!(format!("Error: {err}\n"), stderr);
    let validation = plain()
        .validate_settings(&json!({"action": "accept"}))
        .unwrap();
    assert!(validation.valid);
}

#[test]
fn policies_evaluate_from_several_threads() {
    let policy = plain();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(move || {
                    policy
                        .evaluate(&request(), &json!({"action": "warn"}), None)
                        .unwrap()
                        .to_kwctl_line()
                })
            })
            .collect();
        for handle in handles {
            assert_eq!(
                handle.join().unwrap(),
                expected_line("audit-annotations-and-warnings")
            );
        }
    });
}

/// A waPC guest that answers `protocol_version` and `validate_settings` but never returns
/// from `validate` (the three calls differ in the length of their names).
const SPINNER: &str = r#"
(module
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "\"v1\"")
  (data (i32.const 16) "{\"valid\":true}")
  (func (export "wapc_init"))
  (func (export "__guest_call") (param $op_len i32) (param $msg_len i32) (result i32)
    (if (i32.eq (local.get $op_len) (i32.const 16))
      (then (call $guest_response (i32.const 0) (i32.const 4)) (return (i32.const 1))))
    (if (i32.eq (local.get $op_len) (i32.const 17))
      (then (call $guest_response (i32.const 16) (i32.const 14)) (return (i32.const 1))))
    (loop $forever (br $forever))
    (i32.const 0)))
"#;

#[test]
fn the_time_limit_answers_like_policy_server_and_the_instance_recovers() {
    let wasm = wat::parse_str(SPINNER).unwrap();
    let policy = Policy::from_bytes_with(
        &wasm,
        PolicyOptions {
            timeout: Some(Duration::from_millis(200)),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(policy.protocol_version(), Some("v1"));
    let mut instance = policy.instantiate();
    for _ in 0..2 {
        let started = Instant::now();
        let response = instance.evaluate(&request(), &json!({}), None).unwrap();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(
            response.to_kwctl_line(),
            r#"{"uid":"sample-0001","allowed":false,"status":{"message":"Policy execution interrupted because it exceeded the allowed execution time","code":500},"auditAnnotations":null,"warnings":null}"#
        );
        assert!(instance.validate_settings(&json!({})).unwrap().valid);
    }
}
