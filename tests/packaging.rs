//! The policy's identity is written in three places: `Cargo.toml` (the crate, the release tag),
//! `metadata.yml` (annotated into the module, read by kwctl and the policy-server) and
//! `artifacthub-pkg.yml` (the catalogue entry). Kubewarden's release jobs fail when the tag, the
//! Cargo version and the metadata version differ; this test fails earlier, on any field the
//! three share, and checks that the release workflows call Kubewarden's reusable workflows
//! with inputs they have.

use std::path::Path;

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The pinned release of kubewarden/github-actions (its v7.0.1 tag, pinned by commit as every
/// action is: hack/check-workflows.sh) and the inputs its reusable workflows take
/// (reusable-release-policy-rust.yml: `oci-target`, required; `artifacthub`, optional).
const GITHUB_ACTIONS_REF: &str = "143b9e4b11ddc47370482267383586e6f1bc7efe";
const TEST_WORKFLOW: &str =
    "kubewarden/github-actions/.github/workflows/reusable-test-policy-rust.yml";
const RELEASE_WORKFLOW: &str =
    "kubewarden/github-actions/.github/workflows/reusable-release-policy-rust.yml";
const RELEASE_INPUTS: &[&str] = &["oci-target", "artifacthub"];

struct Cargo {
    name: String,
    version: String,
    description: String,
}

struct Package {
    cargo: Cargo,
    metadata: Value,
    artifacthub: Value,
}

fn yaml_file(name: &str) -> Value {
    let path = Path::new(ROOT).join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{name} is not YAML: {e}"))
}

fn package() -> Package {
    Package {
        cargo: Cargo {
            name: env!("CARGO_PKG_NAME").to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            description: env!("CARGO_PKG_DESCRIPTION").to_owned(),
        },
        metadata: yaml_file("metadata.yml"),
        artifacthub: yaml_file("artifacthub-pkg.yml"),
    }
}

fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// A YAML document held in a string annotation (ArtifactHub's `kubewarden/rules` and
/// `kubewarden/contextAwareResources`).
fn embedded_yaml(v: &Value, pointer: &str) -> Option<Value> {
    text(v, pointer)
        .map(|s| serde_yaml::from_str(s).unwrap_or_else(|e| panic!("{pointer} is not YAML: {e}")))
}

/// Every field on which the three files disagree, one line each.
fn disagreements(p: &Package) -> Vec<String> {
    let md = &p.metadata;
    let ah = &p.artifacthub;
    let ann = |key: &str| {
        md.get("annotations")
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let mut out = vec![];
    let mut same = |what: &str, a: &str, b: &str| {
        if a != b {
            out.push(format!("{what}: {a:?} != {b:?}"));
        }
    };

    let title = ann("io.kubewarden.policy.title");
    let version = ann("io.kubewarden.policy.version");
    let oci_url = ann("io.kubewarden.policy.ociUrl");
    let source = ann("io.kubewarden.policy.source");

    // Name: Kubewarden names the crate `<title>-policy` and publishes `…/policies/<title>`.
    same(
        "name (metadata title vs artifacthub name)",
        title,
        text(ah, "/name").unwrap_or_default(),
    );
    same(
        "name (Cargo package vs <metadata title>-policy)",
        &p.cargo.name,
        &format!("{title}-policy"),
    );
    same(
        "name (metadata ociUrl's last segment vs title)",
        oci_url.rsplit('/').next().unwrap_or_default(),
        title,
    );

    // Version: the tag vX.Y.Z, Cargo's version and the annotation must be one.
    same("version (Cargo vs metadata)", &p.cargo.version, version);
    same(
        "version (Cargo vs artifacthub)",
        &p.cargo.version,
        text(ah, "/version").unwrap_or_default(),
    );
    same(
        "version (artifacthub containersImages[0].image)",
        text(ah, "/containersImages/0/image").unwrap_or_default(),
        &format!("{oci_url}:v{}", p.cargo.version),
    );
    same(
        "version (artifacthub links[0], the release's policy.wasm)",
        text(ah, "/links/0/url").unwrap_or_default(),
        &format!(
            "{source}/releases/download/v{}/policy.wasm",
            p.cargo.version
        ),
    );

    same(
        "description (Cargo vs metadata)",
        &p.cargo.description,
        ann("io.kubewarden.policy.description"),
    );
    same(
        "description (metadata vs artifacthub)",
        ann("io.kubewarden.policy.description"),
        text(ah, "/description").unwrap_or_default(),
    );

    same(
        "displayName",
        ann("io.artifacthub.displayName"),
        text(ah, "/displayName").unwrap_or_default(),
    );
    same(
        "license",
        ann("io.kubewarden.policy.license"),
        text(ah, "/license").unwrap_or_default(),
    );
    same(
        "homeURL",
        ann("io.kubewarden.policy.url"),
        text(ah, "/homeURL").unwrap_or_default(),
    );
    same(
        "resources",
        ann("io.artifacthub.resources"),
        text(ah, "/annotations/kubewarden~1resources").unwrap_or_default(),
    );
    let keywords: Vec<&str> = ann("io.artifacthub.keywords")
        .split(',')
        .map(str::trim)
        .collect();
    let ah_keywords: Vec<&str> = ah
        .get("keywords")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if keywords != ah_keywords {
        out.push(format!("keywords: {keywords:?} != {ah_keywords:?}"));
    }
    let author = ann("io.kubewarden.policy.author");
    let maintainer = format!(
        "{} <{}>",
        text(ah, "/maintainers/0/name").unwrap_or_default(),
        text(ah, "/maintainers/0/email").unwrap_or_default()
    );
    if author != maintainer {
        out.push(format!("maintainers: {author:?} != {maintainer:?}"));
    }

    let rules = embedded_yaml(ah, "/annotations/kubewarden~1rules");
    if rules.as_ref() != md.get("rules") {
        out.push(format!(
            "rules: metadata {:?} != artifacthub {rules:?}",
            md.get("rules")
        ));
    }
    let mutating = md.get("mutating").and_then(Value::as_bool);
    let ah_mutating = text(ah, "/annotations/kubewarden~1mutation");
    if mutating.map(|m| m.to_string()).as_deref() != ah_mutating {
        out.push(format!(
            "mutating: metadata {mutating:?} != artifacthub kubewarden/mutation {ah_mutating:?}"
        ));
    }
    let context_aware = embedded_yaml(ah, "/annotations/kubewarden~1contextAwareResources");
    if context_aware.as_ref() != md.get("contextAwareResources") {
        out.push(format!(
            "contextAwareResources: metadata {:?} != artifacthub {context_aware:?}",
            md.get("contextAwareResources")
        ));
    }
    out
}

#[test]
fn cargo_metadata_and_artifacthub_agree() {
    let problems = disagreements(&package());
    assert!(
        problems.is_empty(),
        "Cargo.toml, metadata.yml and artifacthub-pkg.yml disagree:\n  {}",
        problems.join("\n  ")
    );
}

/// The comparison must see each kind of drift; otherwise the test above proves nothing.
#[test]
fn each_kind_of_drift_is_reported() {
    type Edit = fn(&mut Package);
    let cases: &[(&str, Edit)] = &[
        ("name", |p| p.artifacthub["name"] = "other".into()),
        ("name", |p| p.cargo.name = "sidecar-policy".into()),
        ("version", |p| p.cargo.version = "9.9.9".into()),
        ("version", |p| {
            p.metadata["annotations"]["io.kubewarden.policy.version"] = "0.0.9".into()
        }),
        ("version", |p| p.artifacthub["version"] = "0.0.9".into()),
        ("version", |p| {
            p.artifacthub["containersImages"][0]["image"] =
                "ghcr.io/x/policies/sidecarset:v0.0.1".into()
        }),
        ("description", |p| {
            p.cargo.description = "something else".into()
        }),
        ("description", |p| {
            p.artifacthub["description"] = "something else".into()
        }),
        ("rules", |p| {
            p.metadata["rules"][0]["operations"] = serde_json::json!(["CREATE", "UPDATE"])
        }),
        ("rules", |p| {
            p.artifacthub["annotations"]["kubewarden/rules"] =
                "- apiGroups: ['']\n  apiVersions: [v1]\n  resources: [pods]\n  operations: [UPDATE]\n"
                    .into()
        }),
        ("mutating", |p| p.metadata["mutating"] = false.into()),
        ("mutating", |p| {
            p.artifacthub["annotations"]["kubewarden/mutation"] = "false".into()
        }),
        ("contextAwareResources", |p| {
            p.metadata["contextAwareResources"] = serde_json::json!([])
        }),
        ("keywords", |p| {
            p.artifacthub["keywords"] = serde_json::json!(["sidecar"])
        }),
    ];
    for (field, edit) in cases {
        let mut p = package();
        edit(&mut p);
        let problems = disagreements(&p);
        assert!(
            problems.iter().any(|line| line.starts_with(field)),
            "a {field} change went unnoticed: {problems:?}"
        );
    }
}

fn workflows() -> Vec<(String, Value)> {
    let dir = Path::new(ROOT).join(".github/workflows");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.strip_prefix(ROOT).unwrap().display().to_string();
            (name.clone(), yaml_file(&name))
        })
        .collect()
}

#[test]
fn workflows_call_kubewardens_reusable_workflows_with_existing_inputs() {
    let title = text(
        &package().metadata,
        "/annotations/io.kubewarden.policy.title",
    )
    .unwrap()
    .to_owned();
    let mut tests = 0;
    let mut releases = 0;
    for (file, workflow) in workflows() {
        let jobs = workflow["jobs"]
            .as_object()
            .unwrap_or_else(|| panic!("{file}: no jobs"));
        for (name, job) in jobs {
            let Some(uses) = job.get("uses").and_then(Value::as_str) else {
                continue;
            };
            let (target, reference) = uses
                .split_once('@')
                .unwrap_or_else(|| panic!("{file} jobs.{name}: {uses} is not pinned"));
            if !target.starts_with("kubewarden/github-actions/") {
                continue;
            }
            assert_eq!(
                reference, GITHUB_ACTIONS_REF,
                "{file} jobs.{name}: pin kubewarden/github-actions at {GITHUB_ACTIONS_REF}"
            );
            let inputs: Vec<&String> = job
                .get("with")
                .and_then(Value::as_object)
                .map(|w| w.keys().collect())
                .unwrap_or_default();
            match target {
                TEST_WORKFLOW => {
                    tests += 1;
                    assert!(
                        inputs.is_empty(),
                        "{file} jobs.{name}: the test workflow is called without inputs, got {inputs:?}"
                    );
                }
                RELEASE_WORKFLOW => {
                    releases += 1;
                    for input in &inputs {
                        assert!(
                            RELEASE_INPUTS.contains(&input.as_str()),
                            "{file} jobs.{name}: {RELEASE_WORKFLOW} has no input {input:?} (it takes {RELEASE_INPUTS:?})"
                        );
                    }
                    assert_eq!(
                        job["with"]["oci-target"].as_str(),
                        Some(
                            format!("ghcr.io/${{{{ github.repository_owner }}}}/policies/{title}")
                                .as_str()
                        ),
                        "{file} jobs.{name}: oci-target (no tag: the workflow adds it)"
                    );
                    for permission in ["contents", "packages", "id-token"] {
                        assert_eq!(
                            job["permissions"][permission].as_str(),
                            Some("write"),
                            "{file} jobs.{name}: needs permissions.{permission}: write (push to ghcr.io, keyless cosign)"
                        );
                    }
                    let needs = job.get("needs").map(Value::to_string).unwrap_or_default();
                    assert!(
                        needs.contains("test"),
                        "{file} jobs.{name}: release only after the tests (needs: test)"
                    );
                }
                other => panic!("{file} jobs.{name}: unexpected reusable workflow {other}"),
            }
        }
    }
    assert!(tests >= 1, "no workflow runs {TEST_WORKFLOW}");
    assert_eq!(
        releases, 1,
        "exactly one workflow should run {RELEASE_WORKFLOW}"
    );
}
