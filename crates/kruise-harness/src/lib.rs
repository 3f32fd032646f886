//! The Rust side of `hack/kruise-harness`: OpenKruise v1.9.1's own SidecarSet and Pod webhooks,
//! run in-process by a Go binary, for the tests and benchmarks that compare this project with
//! Kruise's code rather than with a reading of it (`tests/kruise_parity.rs`, `benches/wasm.rs`,
//! the `migrate` cluster test). The binary's subcommands and their JSON are documented at the top
//! of `hack/kruise-harness/main.go`.
//!
//! Needs Go: [`Harness::build`] runs `hack/kruise-harness/build.sh` (cached by a hash of the
//! sources in `~/.cache/sidecarset/bin`) and fails, saying what to install, without it.
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use sidecarset_core::kruise_object;

/// Kruise's namespace (kruise-manager's POD_NAMESPACE), where its configuration ConfigMap and its
/// ControllerRevisions live.
pub const KRUISE_NAMESPACE: &str = "kruise-system";

/// A label given to a SidecarSet with `patchPodMetadata`, so that the kruise-configuration rule
/// made from its `allowedPatchPodMetadataKeys` applies to it alone.
pub const WHITELIST_LABEL: &str = "sidecarset.kubewarden.io/policy";

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

pub struct Harness(PathBuf);

impl Harness {
    /// `hack/kruise-harness/build.sh`: the cached binary, or a build of it.
    pub fn build() -> Self {
        let go = Command::new("go").arg("version").output();
        if !go.as_ref().is_ok_and(|o| o.status.success()) {
            panic!(
                "the Kruise parity test runs OpenKruise's own Go code (hack/kruise-harness) and \
                 needs Go >= 1.23: install Go (https://go.dev/dl/) and put `go` on PATH ({})",
                go.map_or_else(|e| e.to_string(), |o| o.status.to_string())
            );
        }
        let script = root().join("hack/kruise-harness/build.sh");
        let output = Command::new(&script)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            output.status.success(),
            "{} failed:\n{}",
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        let path = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        assert!(
            Path::new(&path).is_file(),
            "{} printed {path:?}, which is not a file",
            script.display()
        );
        Harness(PathBuf::from(path))
    }

    /// One process for every input: one answer line per input value, in order.
    pub fn call(&self, subcommand: &str, inputs: &[Value]) -> Vec<Value> {
        if inputs.is_empty() {
            return Vec::new();
        }
        let mut child = Command::new(&self.0)
            .arg(subcommand)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.0.display()));
        let mut stdin = child.stdin.take().unwrap();
        let mut text = String::new();
        for input in inputs {
            text.push_str(&serde_json::to_string(input).unwrap());
            text.push('\n');
        }
        // Written from another thread: the harness answers each input before reading the next,
        // so a large input written here would fill both pipes.
        let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
        let output = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "kruise-harness {subcommand} failed: {}\n{stderr}",
            output.status
        );
        let answers: Vec<Value> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("kruise-harness {subcommand}: {e}: {l}"))
            })
            .collect();
        assert_eq!(
            answers.len(),
            inputs.len(),
            "kruise-harness {subcommand}: one answer per input\n{stderr}"
        );
        for (input, answer) in inputs.iter().zip(&answers) {
            if let Some(e) = answer.get("error") {
                panic!(
                    "kruise-harness {subcommand}: {e}\ninput: {}",
                    serde_json::to_string(input).unwrap()
                );
            }
        }
        answers
    }

    /// Objects as the API server holds them (see the harness's `stored`).
    pub fn stored(&self, objects: &[&Value]) -> Vec<Value> {
        let inputs: Vec<Value> = objects.iter().map(|o| json!({"object": o})).collect();
        self.call("stored", &inputs)
            .into_iter()
            .map(|a| a["object"].clone())
            .collect()
    }
}

/// A policy's settings as the SidecarSet a Kruise user would create
/// ([`kruise_object::object_from_settings`]), labelled for its [`kruise_configuration`] rule when it
/// has `patchPodMetadata`.
pub fn sidecar_set(settings: &Value) -> Value {
    let mut object = kruise_object::object_from_settings(settings);
    if object["spec"].get("patchPodMetadata").is_some() {
        object["metadata"]["labels"] = json!({WHITELIST_LABEL: object["metadata"]["name"]});
    }
    object
}

/// Kruise reads the keys `patchPodMetadata` may write from a cluster-wide list in its
/// configuration ConfigMap (`pkg/control/sidecarcontrol/util.go`
/// `ValidateSidecarSetPatchMetadataWhitelist`; without a list it refuses every set with
/// `patchPodMetadata`). The policy's `allowedPatchPodMetadataKeys` is that list for one set; an
/// absent or empty one allows any key, which is the expression `.*`.
pub fn kruise_configuration(settings: &[Value]) -> Option<Value> {
    let rules: Vec<Value> = settings
        .iter()
        .filter(|s| s.get("patchPodMetadata").is_some())
        .map(|s| {
            let keys = s
                .get("allowedPatchPodMetadataKeys")
                .and_then(Value::as_array)
                .filter(|k| !k.is_empty())
                .cloned()
                .unwrap_or_else(|| vec![json!(".*")]);
            json!({
                "selector": {"matchLabels": {WHITELIST_LABEL: s["name"]}},
                "allowedAnnotationKeyExprs": keys,
            })
        })
        .collect();
    (!rules.is_empty()).then(|| {
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "kruise-configuration", "namespace": KRUISE_NAMESPACE},
            "data": {
                "SidecarSet_PatchPodMetadata_WhiteList":
                    serde_json::to_string(&json!({"rules": rules})).unwrap(),
            },
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_become_the_sidecar_set_kruise_would_see() {
        let settings = json!({
            "name": "log",
            "namespace": "team-a",
            "namespaceSelector": {"matchLabels": {"x": "y"}},
            "selector": {"matchLabels": {"app": "web"}},
            "containers": [{"name": "c", "image": "busybox"}],
            "patchPodMetadata": [{"annotations": {"a/b": "c"}, "patchPolicy": "Retain"}],
            "allowedPatchPodMetadataKeys": ["^a/"],
        });
        assert_eq!(
            sidecar_set(&settings),
            json!({
                "apiVersion": "apps.kruise.io/v1beta1",
                "kind": "SidecarSet",
                "metadata": {"name": "log", "labels": {WHITELIST_LABEL: "log"}},
                "spec": {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "team-a"}},
                    "selector": {"matchLabels": {"app": "web"}},
                    "containers": [{"name": "c", "image": "busybox"}],
                    "patchPodMetadata": [{"annotations": {"a/b": "c"}, "patchPolicy": "Retain"}],
                },
            })
        );
        let no_keys = json!({"name": "other", "patchPodMetadata": []});
        let plain = json!({"name": "plain"});
        let cm = kruise_configuration(&[settings, no_keys, plain.clone()]).unwrap();
        let list: Value = serde_json::from_str(
            cm["data"]["SidecarSet_PatchPodMetadata_WhiteList"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            list,
            json!({"rules": [
                {"selector": {"matchLabels": {WHITELIST_LABEL: "log"}}, "allowedAnnotationKeyExprs": ["^a/"]},
                {"selector": {"matchLabels": {WHITELIST_LABEL: "other"}}, "allowedAnnotationKeyExprs": [".*"]},
            ]})
        );
        assert_eq!(kruise_configuration(&[plain]), None);
    }
}
