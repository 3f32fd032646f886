//! Every Kubewarden policy manifest under `deploy/` must deploy as it reads: its settings pass the
//! policy's own `validate_settings` (a Policy Server refuses to start on invalid settings), and
//! what the policy declares in `metadata.yml` (rules, mutating, contextAwareResources) is what
//! the manifest asks for. Files under a `testdata/` directory are inputs of other tests (Argo
//! CD's health check reads status snapshots there), not manifests to apply, and are skipped.
//!
//! The Filebeat example is also checked as a story: its settings are the golden Filebeat case,
//! the ConfigMap and the Deployment fit them, and a Pod of the Deployment gets the sidecar.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Value, json};
use sidecarset_policy::{NamespaceSource, NoRevisions, check_settings, evaluate};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const POLICY_KINDS: &[&str] = &["ClusterAdmissionPolicy", "AdmissionPolicy"];

fn yaml_documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| {
            Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()))
        })
        .filter(|v| !v.is_null())
        .collect()
}

fn manifest_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "testdata") {
                manifest_files(&path, out);
            }
        } else if path.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(path);
        }
    }
}

/// `(file, document)` for every Kubewarden policy under deploy/.
fn policies() -> Vec<(String, Value)> {
    let mut files = vec![];
    manifest_files(&Path::new(ROOT).join("deploy"), &mut files);
    files
        .iter()
        .flat_map(|path| {
            let name = path.strip_prefix(ROOT).unwrap().display().to_string();
            yaml_documents(path)
                .into_iter()
                .filter(|doc| {
                    doc["apiVersion"]
                        .as_str()
                        .is_some_and(|v| v.starts_with("policies.kubewarden.io/"))
                        && doc["kind"]
                            .as_str()
                            .is_some_and(|k| POLICY_KINDS.contains(&k))
                })
                .map(move |doc| (name.clone(), doc))
        })
        .collect()
}

fn metadata() -> Value {
    yaml_documents(&Path::new(ROOT).join("metadata.yml")).remove(0)
}

/// What is wrong with one policy manifest, one line each.
fn problems(policy: &Value, metadata: &Value) -> Vec<String> {
    let mut out = vec![];
    let kind = policy["kind"].as_str().unwrap_or_default();
    let spec = &policy["spec"];

    let settings = if spec["settings"].is_null() {
        json!({})
    } else {
        spec["settings"].clone()
    };
    let answer = check_settings(&serde_json::to_vec(&settings).unwrap());
    if !answer.valid {
        out.push(format!(
            "settings: validate_settings refuses them: {}",
            answer.message.unwrap_or_default()
        ));
    }

    if spec.get("rules") != metadata.get("rules") {
        out.push(format!(
            "rules: {} != metadata.yml {}",
            spec["rules"], metadata["rules"]
        ));
    }
    if spec.get("mutating") != metadata.get("mutating") {
        out.push(format!(
            "mutating: {} != metadata.yml {} (a mutating policy deployed with mutating: false \
             has every patch turned into a rejection)",
            spec["mutating"], metadata["mutating"]
        ));
    }
    if spec["mode"].as_str() == Some("monitor") {
        out.push("mode: monitor drops every patch; an injector needs protect".to_owned());
    }

    let wants_namespaces = ["namespaceSelector", "namespace"]
        .iter()
        .any(|k| settings.get(*k).is_some());
    match kind {
        "ClusterAdmissionPolicy" => {
            if spec.get("contextAwareResources") != metadata.get("contextAwareResources") {
                out.push(format!(
                    "contextAwareResources: {} != metadata.yml {}",
                    spec["contextAwareResources"], metadata["contextAwareResources"]
                ));
            }
            let selector = &spec["namespaceSelector"];
            if selector.get("matchLabels").is_some() {
                out.push(
                    "namespaceSelector: matchLabels is not carried into Kubewarden's webhook; \
                     use matchExpressions"
                        .to_owned(),
                );
            }
            let excludes_kube_system = selector["matchExpressions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| {
                    e["key"] == "kubernetes.io/metadata.name"
                        && e["operator"] == "NotIn"
                        && e["values"]
                            .as_array()
                            .is_some_and(|v| v.contains(&json!("kube-system")))
                });
            if !excludes_kube_system {
                out.push(
                    "namespaceSelector: needs matchExpressions excluding kube-system \
                     (kubernetes.io/metadata.name NotIn [kube-system, ...])"
                        .to_owned(),
                );
            }
        }
        _ => {
            if wants_namespaces {
                out.push(
                    "settings: a namespaceSelector needs Namespace lookups, which an \
                     AdmissionPolicy cannot make; deploy a ClusterAdmissionPolicy"
                        .to_owned(),
                );
            }
            if settings.pointer("/injectionStrategy/revision").is_some() {
                out.push(
                    "settings: injectionStrategy.revision needs ControllerRevision lookups, which \
                     an AdmissionPolicy cannot make; deploy a ClusterAdmissionPolicy"
                        .to_owned(),
                );
            }
        }
    }

    let ann = |k: &str| metadata["annotations"][k].as_str().unwrap_or_default();
    let module = format!(
        "registry://{}:v{}",
        ann("io.kubewarden.policy.ociUrl"),
        ann("io.kubewarden.policy.version")
    );
    if spec["module"].as_str() != Some(module.as_str()) {
        out.push(format!(
            "module: {} != {module} (metadata.yml's ociUrl and version)",
            spec["module"]
        ));
    }
    out
}

#[test]
fn every_policy_manifest_deploys_as_metadata_yml_declares() {
    let metadata = metadata();
    let policies = policies();
    assert!(
        policies
            .iter()
            .any(|(f, _)| f == "deploy/filebeat/policy.yaml"),
        "deploy/filebeat/policy.yaml was not found among {:?}",
        policies.iter().map(|(f, _)| f).collect::<Vec<_>>()
    );
    let mut report = vec![];
    for (file, policy) in &policies {
        for p in problems(policy, &metadata) {
            report.push(format!("{file} ({}): {p}", policy["metadata"]["name"]));
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
}

#[test]
fn each_kind_of_mistake_is_reported() {
    type Edit = fn(&mut Value);
    let cases: &[(&str, Edit)] = &[
        ("settings", |p| {
            p["spec"]["settings"]["containers"][0]
                .as_object_mut()
                .unwrap()
                .remove("image");
        }),
        ("settings", |p| {
            p["spec"]["settings"]["selectorr"] = json!({})
        }),
        ("rules", |p| {
            p["spec"]["rules"][0]["operations"] = json!(["CREATE", "UPDATE"])
        }),
        ("mutating", |p| p["spec"]["mutating"] = json!(false)),
        ("mode", |p| p["spec"]["mode"] = json!("monitor")),
        ("contextAwareResources", |p| {
            p["spec"]
                .as_object_mut()
                .unwrap()
                .remove("contextAwareResources");
        }),
        (
            "namespaceSelector",
            |p| {
                p["spec"]["namespaceSelector"] =
                    json!({"matchLabels": {"kubernetes.io/metadata.name": "default"}})
            },
        ),
        ("module", |p| {
            p["spec"]["module"] = json!("registry://ghcr.io/sidecarset/policies/sidecarset:v0.0.1")
        }),
        ("settings", |p| {
            p["kind"] = json!("AdmissionPolicy");
            p["spec"]["settings"]["namespaceSelector"] = json!({"matchLabels": {"team": "a"}});
        }),
        ("settings: injectionStrategy.revision", |p| {
            p["kind"] = json!("AdmissionPolicy");
            p["spec"]["settings"]["injectionStrategy"] =
                json!({"revision": {"revisionName": "filebeat-6f7887fffd"}});
        }),
    ];
    let metadata = metadata();
    let filebeat = yaml_documents(&Path::new(ROOT).join("deploy/filebeat/policy.yaml")).remove(0);
    for (field, edit) in cases {
        let mut policy = filebeat.clone();
        edit(&mut policy);
        let found = problems(&policy, &metadata);
        assert!(
            found.iter().any(|p| p.starts_with(field)),
            "a {field} mistake went unnoticed: {found:?}"
        );
    }
}

struct NoNamespaces;

impl NamespaceSource for NoNamespaces {
    fn labels(&self, namespace: &str) -> Result<BTreeMap<String, String>, String> {
        Err(format!(
            "the Filebeat settings should not look up {namespace}"
        ))
    }
}

#[test]
fn the_filebeat_story_fits_together() {
    let dir = Path::new(ROOT).join("deploy/filebeat");
    let policy = yaml_documents(&dir.join("policy.yaml")).remove(0);
    let settings = &policy["spec"]["settings"];
    let golden =
        yaml_documents(&Path::new(ROOT).join("test_data/golden/filebeat-story/settings.yaml"))
            .remove(0);
    assert_eq!(
        settings, &golden,
        "deploy/filebeat/policy.yaml's settings differ from test_data/golden/filebeat-story/settings.yaml"
    );

    // The ConfigMap is the one the sidecar mounts, with the key its subPath names.
    let configmap = yaml_documents(&dir.join("configmap.yaml")).remove(0);
    let volume = settings["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "config")
        .expect("a `config` volume in the settings");
    assert_eq!(configmap["kind"], "ConfigMap");
    assert_eq!(configmap["metadata"]["name"], volume["configMap"]["name"]);
    let sub_path = settings["containers"][0]["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "config")
        .and_then(|m| m["subPath"].as_str())
        .expect("the config mount's subPath");
    assert!(
        configmap["data"][sub_path].is_string(),
        "configmap.yaml has no data key {sub_path:?}"
    );

    // A Pod the Deployment creates gets the sidecar, exactly once.
    let deployment = yaml_documents(&dir.join("nginx.yaml")).remove(0);
    assert_eq!(deployment["kind"], "Deployment");
    assert_eq!(
        configmap["metadata"]["namespace"], deployment["metadata"]["namespace"],
        "the ConfigMap must live in the app's namespace"
    );
    let template = &deployment["spec"]["template"];
    let namespace = deployment["metadata"]["namespace"].as_str().unwrap();
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": "nginx-7d9c5b6f4-",
            "namespace": namespace,
            "labels": template["metadata"]["labels"],
        },
        "spec": template["spec"],
    });
    let payload = |object: &Value| {
        serde_json::to_vec(&json!({
            "settings": settings,
            "request": {
                "uid": "deploy-manifests",
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "namespace": namespace,
                "operation": "CREATE",
                "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
                "object": object,
            }
        }))
        .unwrap()
    };
    let now = "2026-11-25T10:00:00Z";
    let response = evaluate(&payload(&pod), &NoNamespaces, &NoRevisions, now);
    assert!(response.accepted, "{:?}", response.message);
    let injected = response
        .mutated_object
        .expect("the nginx Pod should get the filebeat sidecar");
    let names: Vec<&str> = injected["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["filebeat", "nginx"]);
    assert_eq!(
        injected["metadata"]["annotations"]["kruise.io/sidecarset-injected-list"],
        "filebeat"
    );
    let again = evaluate(&payload(&injected), &NoNamespaces, &NoRevisions, now);
    assert!(again.accepted && again.mutated_object.is_none());

    // Without the opt-in label nothing happens.
    let mut other = pod.clone();
    other["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("kruise.io/inject-filebeat");
    let response = evaluate(&payload(&other), &NoNamespaces, &NoRevisions, now);
    assert!(response.accepted && response.mutated_object.is_none());
}
