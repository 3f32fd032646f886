//! `kwhost annotate` against the module kwctl annotated: same section, same JSON bytes (but for
//! the `io.kubewarden.kwctl` annotation, which only kwctl writes), and an annotated module that
//! `kwhost run` treats as kwctl's.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use kwhost::metadata::METADATA_SECTION;
use kwhost::wasm::custom_section;

const KWCTL_ANNOTATION: &str = r#""io.kubewarden.kwctl":"1.36.0-beta.1","#;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn out_path(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kwhost-annotate");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn kwhost(args: &[&str]) -> Output {
    common::kwhost(args).output().expect("kwhost runs")
}

fn annotate(output: &Path, usage: Option<&Path>) -> Output {
    let metadata = fixture("sample-metadata.yml");
    let mut args = vec![
        "annotate".to_owned(),
        "-m".to_owned(),
        metadata.display().to_string(),
        "-o".to_owned(),
        output.display().to_string(),
    ];
    if let Some(usage) = usage {
        args.extend(["-u".to_owned(), usage.display().to_string()]);
    }
    args.push("sample-policy.wasm".to_owned());
    kwhost(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn section(module: &Path) -> String {
    let bytes = std::fs::read(module).unwrap();
    let section = custom_section(&bytes, METADATA_SECTION)
        .unwrap()
        .unwrap_or_else(|| panic!("{} has no {METADATA_SECTION} section", module.display()));
    String::from_utf8(section.to_vec()).unwrap()
}

#[test]
fn metadata_section_matches_kwctls() {
    let output = out_path("sample-annotated.wasm");
    let out = annotate(&output, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let kwctls = section(&common::samples_dir().join("sample-policy-annotated.wasm"));
    assert!(
        kwctls.contains(KWCTL_ANNOTATION),
        "the sample no longer carries {KWCTL_ANNOTATION}: update this test"
    );
    assert_eq!(section(&output), kwctls.replacen(KWCTL_ANNOTATION, "", 1));

    // Nothing but the section changes: the module is the one that was built.
    let original = std::fs::read(common::samples_dir().join("sample-policy.wasm")).unwrap();
    let annotated = std::fs::read(&output).unwrap();
    assert!(annotated.starts_with(&original));
}

#[test]
fn usage_comes_from_the_file_and_reannotating_replaces_the_section() {
    let usage = out_path("usage.md");
    std::fs::write(&usage, "# Sample\n\nSays \"hello\" to every Pod.\n").unwrap();
    let first = out_path("with-usage.wasm");
    assert!(annotate(&first, Some(&usage)).status.success());
    let metadata: serde_json::Value = serde_json::from_str(&section(&first)).unwrap();
    assert_eq!(
        metadata["annotations"]["io.kubewarden.policy.usage"],
        "# Sample\n\nSays \"hello\" to every Pod.\n"
    );

    let again = out_path("reannotated.wasm");
    let out = kwhost(&[
        "annotate",
        "-m",
        &fixture("sample-metadata.yml").display().to_string(),
        "-o",
        &again.display().to_string(),
        &first.display().to_string(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&again).unwrap();
    let count = bytes
        .windows(METADATA_SECTION.len())
        .filter(|w| *w == METADATA_SECTION.as_bytes())
        .count();
    assert_eq!(count, 1, "one metadata section after re-annotating");
    assert!(!section(&again).contains("policy.usage"));
}

/// kwctl's recorded answer for the annotated sample, reproduced with our annotation: the
/// `contextAwareResources` grant is read back from the section we wrote.
#[test]
fn annotated_module_grants_its_context_aware_resources() {
    let output = out_path("sample-annotated-for-run.wasm");
    assert!(annotate(&output, None).status.success());
    let out = kwhost(&[
        "run",
        "--request-path",
        "requests/pod-create.json",
        "--settings-path",
        "settings/lookup.yml",
        "--allow-context-aware",
        "--replay-host-capabilities-interactions",
        "replay/namespace-found.yml",
        &output.display().to_string(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected =
        std::fs::read(common::samples_dir().join("expected/annotated-lookup-found.stdout"))
            .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&expected)
    );
}

#[test]
fn bad_metadata_and_modules_fail_with_the_reason() {
    let bad = out_path("bad-metadata.yml");
    std::fs::write(
        &bad,
        "rules:\n- apiGroups: ['']\n  apiVersions: [v1]\n  resources: [pods]\n  operations: []\n",
    )
    .unwrap();
    let out = kwhost(&[
        "annotate",
        "-m",
        &bad.display().to_string(),
        "-o",
        &out_path("never.wasm").display().to_string(),
        "sample-policy.wasm",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("Error: invalid policy metadata: ") && stderr.contains("mutating"),
        "{stderr}"
    );

    let not_wasm = out_path("not.wasm");
    std::fs::write(&not_wasm, b"hello").unwrap();
    let out = kwhost(&[
        "annotate",
        "-m",
        &fixture("sample-metadata.yml").display().to_string(),
        "-o",
        &out_path("never.wasm").display().to_string(),
        &not_wasm.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a WebAssembly module"), "{stderr}");
    assert!(!out_path("never.wasm").exists());
}
