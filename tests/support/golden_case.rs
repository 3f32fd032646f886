//! The golden cases (`test_data/golden/<case>/`, the layout `tests/golden.rs` documents) and the
//! fixture readers, once for every test that reads them (each includes this file with `#[path]`): a
//! case loaded with what answers its context-aware lookups, for the golden and the fuzz tests.

// Each including test uses its own part of this file.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use kwhost::Replay;
use kwhost::replay::{HostRequest, RecordedResponse};
use serde_json::{Value, json};
use sidecarset_policy::{NamespaceSource, RevisionSource};

/// The fixed clock of every evaluation of a case: the hash annotations' `updateTimestamp`.
pub const NOW: &str = "2026-11-25T10:00:00Z";

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn golden_dir() -> PathBuf {
    root().join("test_data/golden")
}

/// A fixture's text; a missing one names its path.
pub fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn read_json(path: &Path) -> Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn read_yaml(path: &Path) -> Value {
    serde_yaml::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One golden case with what answers its lookups.
#[derive(Debug)]
pub struct Case {
    pub name: String,
    /// One set, or several applied one after the other.
    pub settings: Vec<Value>,
    pub request: Value,
    namespace: Result<Value, String>,
    replay: Option<Replay>,
}

impl Case {
    pub fn load(dir: &Path) -> Self {
        let settings = match read_yaml(&dir.join("settings.yaml")) {
            Value::Array(items) => items,
            one => vec![one],
        };
        let namespace = if dir.join("namespace-error.txt").exists() {
            Err(fs::read_to_string(dir.join("namespace-error.txt"))
                .unwrap()
                .trim()
                .to_string())
        } else if dir.join("namespace.json").exists() {
            Ok(read_json(&dir.join("namespace.json")))
        } else {
            Err("this case has no namespace.json".to_string())
        };
        let replay_path = dir.join("replay.yml");
        Self {
            name: dir.file_name().unwrap().to_string_lossy().into_owned(),
            settings,
            request: read_json(&dir.join("request.json")),
            namespace,
            replay: replay_path.exists().then(|| {
                Replay::from_file(&replay_path)
                    .unwrap_or_else(|e| panic!("{}: {e}", replay_path.display()))
            }),
        }
    }

    /// The kwctl replay session `tests/artifact.rs` answers this case's host calls from.
    pub fn replay(&self) -> Option<&Replay> {
        self.replay.as_ref()
    }

    fn recorded(
        &self,
        asked: String,
        matches: impl Fn(&HostRequest) -> bool,
    ) -> Result<Value, String> {
        let exchange = self
            .replay
            .iter()
            .flat_map(Replay::exchanges)
            .find(|e| matches(&e.request))
            .ok_or_else(|| format!("replay.yml records no lookup of {asked}"))?;
        match &exchange.response {
            RecordedResponse::Success { payload } => {
                serde_json::from_str(payload).map_err(|e| format!("replay.yml payload: {e}"))
            }
            RecordedResponse::Error { message } => Err(message.clone()),
        }
    }
}

/// The case's Namespace (`namespace.json`, or `namespace-error.txt`: the lookup fails with that text)
/// and ControllerRevision answers (the ControllerRevision exchanges of `replay.yml`), found by what is
/// asked, not in order (the order is kwhost's business, in `tests/artifact.rs`): a Pod asking for
/// another namespace gets "not found".
impl NamespaceSource for Case {
    fn labels(&self, namespace: &str) -> Result<BTreeMap<String, String>, String> {
        let ns = self.namespace.clone()?;
        if ns.pointer("/metadata/name").and_then(Value::as_str) != Some(namespace) {
            return Err(format!("namespaces \"{namespace}\" not found"));
        }
        serde_json::from_value(ns.pointer("/metadata/labels").cloned().unwrap_or(json!({})))
            .map_err(|e| e.to_string())
    }
}

impl RevisionSource for Case {
    fn get(&self, namespace: &str, name: &str) -> Result<Value, String> {
        self.recorded(format!("ControllerRevision {namespace}/{name}"), |r| {
            matches!(r, HostRequest::KubernetesGetResource(g)
                if g.kind == "ControllerRevision" && g.name == name && g.namespace.as_deref() == Some(namespace))
        })
    }
    fn list(&self, namespace: &str, label_selector: &str) -> Result<Vec<Value>, String> {
        let list = self.recorded(
            format!("ControllerRevisions {label_selector} in {namespace}"),
            |r| {
                matches!(r, HostRequest::KubernetesListResourceNamespace(l)
                if l.kind == "ControllerRevision" && l.namespace == namespace
                    && l.label_selector.as_deref() == Some(label_selector))
            },
        )?;
        Ok(list["items"].as_array().cloned().unwrap_or_default())
    }
}

/// Every golden case's directory (with a request and settings), sorted.
pub fn case_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(golden_dir())
        .expect("test_data/golden exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("request.json").exists() && p.join("settings.yaml").exists())
        .collect();
    dirs.sort();
    dirs
}

/// Every golden case, sorted by name.
pub fn corpus() -> &'static [Case] {
    static CORPUS: OnceLock<Vec<Case>> = OnceLock::new();
    CORPUS.get_or_init(|| case_dirs().iter().map(|d| Case::load(d)).collect())
}
