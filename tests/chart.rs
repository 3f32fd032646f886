//! The Helm chart (`charts/sidecarset`) through `helm template` (helm v4 from the Go module proxy,
//! `make tools`):
//!
//! * golden files: each `tests/chart/<case>.values.yaml` renders to `tests/chart/<case>.yaml`
//!   (release `sidecarset` in `sidecarset-system`); `UPDATE_GOLDEN=1 cargo test --test chart`
//!   rewrites them, and an expected file without its values file fails as stale;
//! * `deploy/reconciler/` is the chart's default render (with `createNamespace`), split by
//!   template: the kustomize manifests are generated, never edited beside the chart
//!   (`UPDATE_GOLDEN=1` regenerates them too);
//! * each `tests/chart/errors/<case>.values.yaml` is refused with the message its first line names;
//! * every rendered set is a policy that loads: its settings pass the policy's own
//!   `validate_settings`, its rules and mutating flag are metadata.yml's, its objectSelector is the
//!   set's selector and its context-aware resources are the ones metadata.yml declares and its
//!   settings need.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_json::{Value, json};
use sidecarset_policy::check_settings;

const RELEASE: &str = "sidecarset";
const NAMESPACE: &str = "sidecarset-system";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn update() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some()
}

#[path = "support/tools.rs"]
mod tools;

/// helm as `hack/tools/build-tools.sh` builds it; a clear failure where it is missing.
fn helm() -> PathBuf {
    tools::tool(&root(), "helm").unwrap_or_else(|e| panic!("{e}"))
}

/// `helm template` with these values files and flags: stdout, or stderr as the error.
fn template(values: &[&Path], extra: &[&str]) -> Result<String, String> {
    let mut cmd = Command::new(helm());
    cmd.args(["template", RELEASE])
        .arg(root().join("charts/sidecarset"))
        .args(["--namespace", NAMESPACE]);
    for v in values {
        cmd.arg("--values").arg(v);
    }
    cmd.args(extra);
    let out = cmd.output().expect("running helm template");
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn documents(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).expect("helm's output is YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

/// Compares (or with UPDATE_GOLDEN writes) one expected file; the problem, if any.
fn check_golden(path: &Path, actual: &str) -> Option<String> {
    if update() {
        fs::write(path, actual).unwrap();
        return None;
    }
    match fs::read_to_string(path) {
        Err(_) => Some(format!(
            "{}: missing (run UPDATE_GOLDEN=1 cargo test --test chart)",
            path.display()
        )),
        Ok(expected) if expected != actual => {
            let line = expected
                .lines()
                .zip(actual.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
            Some(format!(
                "{}: differs from the chart's render from line {} on:\n  expected: {:?}\n  rendered: {:?}\n(run UPDATE_GOLDEN=1 cargo test --test chart if the change is meant)",
                path.display(),
                line + 1,
                expected.lines().nth(line).unwrap_or("<end>"),
                actual.lines().nth(line).unwrap_or("<end>"),
            ))
        }
        Ok(_) => None,
    }
}

fn cases(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".values.yaml").map(str::to_owned)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn renders_match_the_golden_files() {
    let dir = root().join("tests/chart");
    let cases = cases(&dir);
    assert!(
        cases.iter().any(|c| c == "default") && cases.iter().any(|c| c == "full"),
        "tests/chart needs default.values.yaml and full.values.yaml, found {cases:?}"
    );
    let mut problems = vec![];
    for case in &cases {
        let values = dir.join(format!("{case}.values.yaml"));
        match template(&[&values], &[]) {
            Ok(text) => problems.extend(check_golden(&dir.join(format!("{case}.yaml")), &text)),
            Err(e) => problems.push(format!("{case}: helm template failed: {e}")),
        }
    }
    for entry in fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(case) = name.strip_suffix(".yaml")
            && !case.ends_with(".values")
            && !cases.iter().any(|c| c == case)
        {
            problems.push(format!(
                "tests/chart/{name}: stale, no {case}.values.yaml renders it; delete it"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The template a document came from (`# Source: sidecarset/templates/<file>`), its file name.
fn by_template(text: &str) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for doc in text.split("\n---\n") {
        let doc = doc.trim_start_matches("---\n");
        let Some(source) = doc
            .lines()
            .find_map(|l| l.strip_prefix("# Source: sidecarset/templates/"))
        else {
            continue;
        };
        let body: Vec<&str> = doc
            .lines()
            .filter(|l| !l.starts_with("# Source: "))
            .collect();
        let body = body.join("\n");
        let body = body.trim_matches('\n');
        if body
            .lines()
            .all(|l| l.trim().is_empty() || l.starts_with('#'))
        {
            continue;
        }
        let entry = out.entry(source.to_owned()).or_default();
        if !entry.is_empty() {
            entry.push_str("---\n");
        }
        entry.push_str(body);
        entry.push('\n');
    }
    out
}

/// deploy/reconciler/<file> for each template of the default render; what it holds.
fn deploy_files() -> BTreeMap<String, String> {
    let text = template(&[], &["--set", "createNamespace=true"]).expect("default render");
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    for (source, body) in by_template(&text) {
        // One file for the workload: the Deployment with its Service and disruption budget.
        let file = match source.as_str() {
            "service.yaml" | "poddisruptionbudget.yaml" => "deployment.yaml".to_owned(),
            other => other.to_owned(),
        };
        let entry = files.entry(file).or_default();
        if !entry.is_empty() {
            entry.push_str("---\n");
        }
        entry.push_str(&body);
    }
    for body in files.values_mut() {
        // Applied with kubectl (-k), not installed by Helm: say so, or `helm list` users and
        // tools that trust the label would look for a release that does not exist.
        let body_kubectl = body.replace(
            "app.kubernetes.io/managed-by: Helm",
            "app.kubernetes.io/managed-by: kubectl",
        );
        *body = format!(
            "# Generated from charts/sidecarset by tests/chart.rs (helm template sidecarset \
             charts/sidecarset\n# --namespace sidecarset-system --set createNamespace=true): edit \
             the chart, then run\n# UPDATE_GOLDEN=1 cargo test --test chart.\n{body_kubectl}"
        );
    }
    let resources: Vec<String> = [
        "namespace.yaml",
        "serviceaccount.yaml",
        "rbac.yaml",
        "deployment.yaml",
        "validating-admission-policy.yaml",
    ]
    .iter()
    .filter(|f| files.contains_key(**f))
    .map(|f| format!("  - {f}\n"))
    .collect();
    assert_eq!(
        resources.len(),
        files.len(),
        "the default render has templates the kustomization does not list: {:?}",
        files.keys().collect::<Vec<_>>()
    );
    files.insert(
        "kustomization.yaml".into(),
        format!(
            "# Generated by tests/chart.rs from charts/sidecarset: edit the chart, then run \
             UPDATE_GOLDEN=1 cargo test --test chart.\napiVersion: kustomize.config.k8s.io/v1beta1\n\
             kind: Kustomization\nresources:\n{}",
            resources.concat()
        ),
    );
    files
}

#[test]
fn deploy_reconciler_is_the_charts_default_render() {
    let dir = root().join("deploy/reconciler");
    let files = deploy_files();
    let mut problems = vec![];
    for (name, body) in &files {
        problems.extend(check_golden(&dir.join(name), body));
    }
    for entry in fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if !files.contains_key(&name) {
            problems.push(format!(
                "deploy/reconciler/{name}: not generated from the chart; put it in \
                 charts/sidecarset/templates or delete it"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn bad_values_are_refused_with_a_message_that_names_the_value() {
    let dir = root().join("tests/chart/errors");
    let cases = cases(&dir);
    assert!(!cases.is_empty(), "tests/chart/errors holds no case");
    let mut problems = vec![];
    for case in cases {
        let path = dir.join(format!("{case}.values.yaml"));
        let text = fs::read_to_string(&path).unwrap();
        let want = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# error: "))
            .unwrap_or_else(|| {
                panic!(
                    "{}: first line must be `# error: <message>`",
                    path.display()
                )
            });
        match template(&[&path], &[]) {
            Ok(_) => problems.push(format!("{case}: rendered, but should fail with {want:?}")),
            Err(e) if !e.contains(want) => {
                problems.push(format!("{case}: failed with {e:?}, not {want:?}"))
            }
            Err(_) => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn metadata() -> Value {
    let text = fs::read_to_string(root().join("metadata.yml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

/// What is wrong with one rendered set, one line each.
fn set_problems(policy: &Value, metadata: &Value) -> Vec<String> {
    let spec = &policy["spec"];
    let settings = &spec["settings"];
    let mut out = vec![];
    let answer = check_settings(&serde_json::to_vec(settings).unwrap());
    if !answer.valid {
        out.push(format!(
            "settings: validate_settings refuses them: {}",
            answer.message.unwrap_or_default()
        ));
    }
    for key in ["rules", "mutating"] {
        if spec.get(key) != metadata.get(key) {
            out.push(format!(
                "{key}: {} != metadata.yml {}",
                spec[key], metadata[key]
            ));
        }
    }
    if spec["mode"] != "protect" {
        out.push(format!(
            "mode: {}, but monitor drops every patch",
            spec["mode"]
        ));
    }
    if policy["metadata"]["labels"]["sidecarset.kubewarden.io/reconcile"] != "true" {
        out.push("metadata.labels: no sidecarset.kubewarden.io/reconcile: \"true\"".into());
    }
    if spec["namespaceSelector"].get("matchLabels").is_some() {
        out.push("namespaceSelector: matchLabels never reaches Kubewarden's webhook".into());
    }
    let expected_object_selector = &settings["selector"];
    if spec["objectSelector"] != *expected_object_selector {
        out.push(format!(
            "objectSelector: {} is not the set's selector {}",
            spec["objectSelector"], expected_object_selector
        ));
    }
    let mut wanted = vec![];
    if settings.get("namespaceSelector").is_some() {
        wanted.push(json!({"apiVersion": "v1", "kind": "Namespace"}));
    }
    if settings.pointer("/injectionStrategy/revision").is_some() {
        wanted.push(json!({"apiVersion": "apps/v1", "kind": "ControllerRevision"}));
    }
    let granted = spec["contextAwareResources"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if granted != wanted {
        out.push(format!(
            "contextAwareResources: {granted:?}, but the settings need {wanted:?}"
        ));
    }
    let declared = metadata["contextAwareResources"].as_array().unwrap();
    for r in &granted {
        if !declared.contains(r) {
            out.push(format!(
                "contextAwareResources: {r} is not declared in metadata.yml"
            ));
        }
    }
    out
}

#[test]
fn rendered_sets_load_as_the_policy_declares() {
    let metadata = metadata();
    let text = template(&[&root().join("tests/chart/full.values.yaml")], &[]).unwrap();
    let docs = documents(&text);
    let sets: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] == "ClusterAdmissionPolicy")
        .collect();
    assert_eq!(sets.len(), 3, "full.values.yaml has three sets");
    let mut problems = vec![];
    for set in &sets {
        for p in set_problems(set, &metadata) {
            problems.push(format!("{}: {p}", set["metadata"]["name"]));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // A pinned set gets the PolicyServers' read access to ControllerRevisions where the reconciler
    // records them, and the policy is pointed there.
    let role = docs
        .iter()
        .find(|d| {
            d["kind"] == "Role"
                && d["metadata"]["name"] == "sidecarset-reconciler-policy-server-revisions"
        })
        .expect("a Role for the PolicyServers");
    assert_eq!(role["metadata"]["namespace"], "sidecarset-revisions");
    assert_eq!(
        role["rules"],
        json!([{"apiGroups": ["apps"], "resources": ["controllerrevisions"], "verbs": ["get", "list"]}])
    );
    let pinned = sets
        .iter()
        .find(|s| {
            s["spec"]["settings"]
                .pointer("/injectionStrategy/revision")
                .is_some()
        })
        .unwrap();
    assert_eq!(
        pinned["spec"]["settings"]["revisionNamespace"],
        "sidecarset-revisions"
    );
    // The guard lets the reconciler write exactly the pinned set's patchPodMetadata keys (anchored,
    // quoted) besides the listed expressions.
    let guard = docs
        .iter()
        .find(|d| d["kind"] == "ValidatingAdmissionPolicy")
        .unwrap();
    let keys = guard["spec"]["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "patchPodMetadataKeys")
        .unwrap();
    // A CEL list of strings: JSON's syntax.
    let keys: Vec<String> = serde_json::from_str(keys["expression"].as_str().unwrap()).unwrap();
    assert_eq!(
        keys,
        [
            r"^team\.example\.com/",
            r"^example\.com/log-agent$",
            "^oom-score$"
        ]
    );
    assert!(
        !docs
            .iter()
            .any(|d| d["kind"] == "ValidatingAdmissionPolicyBinding"
                && d["spec"].get("paramRef").is_some()),
        "the guard's binding has a parameter: a missing one refuses every Pod write in the cluster"
    );
}

#[test]
fn without_a_pinned_set_the_policy_server_gets_nothing() {
    let docs = documents(&template(&[], &[]).unwrap());
    assert!(
        !docs.iter().any(|d| d["metadata"]["name"]
            .as_str()
            .is_some_and(|n| n.contains("policy-server"))),
        "the default render grants the PolicyServer something"
    );
    let forced =
        documents(&template(&[], &["--set", "policyServerRbac.controllerRevisions=true"]).unwrap());
    assert!(
        forced
            .iter()
            .any(|d| d["kind"] == "RoleBinding"
                && d["subjects"][0] == json!({"kind": "ServiceAccount", "name": "policy-server", "namespace": "kubewarden"})),
        "controllerRevisions=true grants nothing"
    );
}

#[test]
fn chart_version_is_the_workspaces() {
    let chart: Value = serde_yaml::from_str(
        &fs::read_to_string(root().join("charts/sidecarset/Chart.yaml")).unwrap(),
    )
    .unwrap();
    let cargo = fs::read_to_string(root().join("crates/reconciler/Cargo.toml")).unwrap();
    let version = cargo
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .unwrap();
    assert_eq!(chart["version"], version, "Chart.yaml version");
    assert_eq!(chart["appVersion"], version, "Chart.yaml appVersion");
    // Artifact Hub's image list is text that `helm package --app-version` does not rewrite.
    let images = chart["annotations"]["artifacthub.io/images"]
        .as_str()
        .unwrap();
    assert!(
        images.contains(&format!("sidecarset-reconciler:v{version}\n")),
        "Chart.yaml annotations.artifacthub.io/images must name v{version}: {images}"
    );
}

#[test]
fn every_alert_has_a_runbook_section_in_docs_alerts_md() {
    let rules: Value = serde_yaml::from_str(
        &fs::read_to_string(root().join("charts/sidecarset/files/prometheus-rules.yaml")).unwrap(),
    )
    .unwrap();
    let doc = fs::read_to_string(root().join("docs/alerts.md")).unwrap();
    let anchors: Vec<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(str::to_lowercase)
        .collect();
    let prefix = "https://github.com/sidecarset/sidecarset/blob/main/docs/alerts.md#";
    let mut problems = vec![];
    for group in rules["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            let Some(alert) = rule["alert"].as_str() else {
                continue;
            };
            let url = rule["annotations"]["runbook_url"]
                .as_str()
                .unwrap_or_default();
            match url.strip_prefix(prefix) {
                Some(anchor)
                    if anchor == alert.to_lowercase() && anchors.iter().any(|a| a == anchor) => {}
                _ => problems.push(format!(
                    "{alert}: runbook_url {url:?} is not {prefix}{} with a `## {alert}` section",
                    alert.to_lowercase()
                )),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
