//! The built `policy.wasm` in the project's waPC host (`kwhost`), as `kwctl run` evaluates it:
//! shared by `tests/artifact.rs`, `tests/kruise_parity.rs` and `tests/fuzz_policy_wasm.rs` (each
//! includes it with `#[path]`, and also has `mod support;` and `support/golden_case.rs`).
//!
//! The module is built here with the same cargo command as `make policy.wasm` (cargo decides
//! whether it is stale, so a plain `cargo test` never tests an old build), then annotated in
//! memory with `metadata.yml` and the README as `make annotated-policy.wasm` does, so the
//! `contextAwareResources` grant comes from the metadata users ship.

// Each including test uses its own part of this file.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use kwhost::{CompilationCache, ContextAware, Policy, PolicyMetadata, PolicyOptions};
use serde_json::Value;

use crate::golden_case::{NOW, read, root};

/// `cargo build --locked --target=wasm32-wasip1 --release -p sidecarset-policy`, as the
/// Makefile's `policy.wasm` target runs it; the path of the module comes from cargo itself.
pub fn build_policy_wasm() -> PathBuf {
    build_wasm("sidecarset-policy", "sidecarset_policy")
}

/// `cargo build --locked --target=wasm32-wasip1 --release -p <package>` (as the Makefile builds the
/// policy and the benches' modules); the path of the module, target `<target>`, comes from cargo.
pub fn build_wasm(package: &str, target: &str) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = crate::support::without_test_cargo_env(&mut Command::new(&cargo))
        .current_dir(root())
        .args([
            "build",
            "--locked",
            "--target=wasm32-wasip1",
            "--release",
            "-p",
            package,
            "--message-format=json-render-diagnostics",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", cargo.to_string_lossy()));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "building {package} for wasm32-wasip1 failed (is the target installed? `rustup target add wasm32-wasip1`):\n{stderr}"
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == target)
        .flat_map(|m| m["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f.as_str().map(PathBuf::from))
        .find(|f| f.extension().is_some_and(|e| e == "wasm"))
        .unwrap_or_else(|| panic!("cargo reported no {target}.wasm artifact\n{stderr}"))
}

/// The annotated module, loaded once for every test of this file.
pub fn policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| {
        let wasm = build_policy_wasm();
        let module = fs::read(&wasm).unwrap_or_else(|e| panic!("{}: {e}", wasm.display()));
        let metadata = PolicyMetadata::from_yaml(&read(&root().join("metadata.yml")))
            .unwrap_or_else(|e| panic!("metadata.yml: {e}"));
        let usage = read(&root().join("README.md"));
        let annotated = kwhost::annotate(&module, &metadata, Some(&usage))
            .unwrap_or_else(|e| panic!("annotating {}: {e}", wasm.display()));
        let options = PolicyOptions {
            compilation_cache: CompilationCache::Directory(
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("kwhost-wasmtime-cache"),
            ),
            context_aware: ContextAware::TrustMetadata,
            ..PolicyOptions::default()
        };
        let policy = Policy::from_bytes_with(&annotated, options)
            .unwrap_or_else(|e| panic!("loading {}: {e}", wasm.display()));
        assert!(
            policy.warnings().is_empty(),
            "load warnings: {:?}",
            policy.warnings()
        );
        policy
    })
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// RFC 3339 UTC, whole seconds (`metav1.Time`), which sorts as text: the policy's own formatter.
pub fn rfc3339(unix_secs: u64) -> String {
    sidecarset_policy::format_rfc3339(unix_secs)
}

/// The module reads the real clock; golden.rs passes [`NOW`]. Every `updateTimestamp` written
/// while the case ran (inside `[from, to]`) becomes [`NOW`]; recorded ones from the fixtures,
/// outside the window, are left as they are so that keeping them is still checked.
pub fn normalise_timestamps(pod: &mut Value, from: &str, to: &str) {
    const KEY: &str = r#""updateTimestamp":""#;
    let Some(annotations) = pod
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for value in annotations.values_mut() {
        let Some(text) = value.as_str() else { continue };
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find(KEY) {
            let (head, tail) = rest.split_at(at + KEY.len());
            out.push_str(head);
            let ts = tail.get(..NOW.len()).unwrap_or("");
            if ts.len() == NOW.len() && (from..=to).contains(&ts) {
                out.push_str(NOW);
                rest = &tail[NOW.len()..];
            } else {
                rest = tail;
            }
        }
        out.push_str(rest);
        *value = Value::String(out);
    }
}
