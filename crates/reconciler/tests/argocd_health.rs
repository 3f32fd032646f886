//! The Argo CD health check (deploy/argocd), run with a vendored Lua against the sample policies its
//! `health_test.yaml` lists, in Argo CD's own test format.

use std::path::{Path, PathBuf};

use mlua::{Lua, LuaSerdeExt, Table};
use serde::Deserialize;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/argocd/policies.kubewarden.io/ClusterAdmissionPolicy")
}

#[derive(Deserialize)]
struct Suite {
    tests: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Case {
    health_status: Expected,
    input_path: String,
}

#[derive(Deserialize, Debug, PartialEq)]
struct Expected {
    status: String,
    message: String,
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Runs the script as Argo CD does: the object in the global `obj`, the chunk returns `hs`.
fn health(script: &str, object: &serde_json::Value) -> Expected {
    let lua = Lua::new();
    let obj = lua.to_value(object).expect("object to Lua");
    lua.globals().set("obj", obj).expect("set obj");
    let hs: Table = lua
        .load(script)
        .set_name("health.lua")
        .eval()
        .unwrap_or_else(|e| panic!("health.lua failed: {e}"));
    Expected {
        status: hs.get("status").expect("hs.status"),
        message: hs.get("message").expect("hs.message"),
    }
}

#[test]
fn every_sample_gets_the_expected_health() {
    let dir = dir();
    let script = read(&dir.join("health.lua"));
    let suite: Suite = serde_yaml::from_str(&read(&dir.join("health_test.yaml"))).unwrap();
    assert!(suite.tests.len() >= 10, "the suite lost cases");
    let mut failures = Vec::new();
    for case in &suite.tests {
        let object: serde_json::Value =
            serde_yaml::from_str(&read(&dir.join(&case.input_path))).unwrap();
        let got = health(&script, &object);
        if got != case.health_status {
            failures.push(format!(
                "{}: expected {:?}, got {:?}",
                case.input_path, case.health_status, got
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every sample is listed, so none is silently untested.
    let listed: Vec<&str> = suite.tests.iter().map(|c| c.input_path.as_str()).collect();
    for entry in std::fs::read_dir(dir.join("testdata")).unwrap() {
        let name = format!("testdata/{}", entry.unwrap().file_name().to_string_lossy());
        assert!(
            listed.contains(&name.as_str()),
            "{name} is not in health_test.yaml"
        );
    }
}

#[test]
fn the_status_the_reconciler_writes_is_read_by_the_check() {
    // The annotation as `SetStatus::to_annotation` spells it, not as a hand-written sample.
    let status = sidecarset_reconciler::status::SetStatus {
        observed_generation: 2,
        name: "filebeat".into(),
        matched_pods: 4,
        updated_pods: 4,
        ready_pods: 3,
        updated_ready_pods: 3,
        update_type: "RollingUpdate".into(),
        ..Default::default()
    };
    let mut object = serde_json::json!({
        "metadata": {"name": "p", "generation": 2,
            "labels": {"sidecarset.kubewarden.io/reconcile": "true"},
            "annotations": {"sidecarset.kubewarden.io/status": status.to_annotation()}}
    });
    let script = read(&dir().join("health.lua"));
    assert_eq!(health(&script, &object).status, "Progressing");
    let done = sidecarset_reconciler::status::SetStatus {
        updated_ready_pods: 4,
        ..status.clone()
    };
    object["metadata"]["annotations"]["sidecarset.kubewarden.io/status"] =
        done.to_annotation().into();
    assert_eq!(health(&script, &object).status, "Healthy");
    let invalid = sidecarset_reconciler::status::SetStatus::invalid(2, "bad \u{1F600}".into(), 0);
    object["metadata"]["annotations"]["sidecarset.kubewarden.io/status"] =
        invalid.to_annotation().into();
    let got = health(&script, &object);
    assert_eq!(got.status, "Degraded");
    assert_eq!(got.message, "invalid settings: bad \u{1F600}");
}

#[test]
fn the_configmap_patch_carries_the_same_script() {
    let cm: serde_json::Value =
        serde_yaml::from_str(&read(&dir().join("../../argocd-cm-patch.yaml"))).unwrap();
    let embedded =
        cm["data"]["resource.customizations.health.policies.kubewarden.io_ClusterAdmissionPolicy"]
            .as_str()
            .expect("the health key in argocd-cm-patch.yaml");
    assert_eq!(
        embedded,
        read(&dir().join("health.lua")),
        "deploy/argocd/argocd-cm-patch.yaml is out of date with health.lua"
    );
}
