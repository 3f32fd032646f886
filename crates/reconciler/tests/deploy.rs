//! The manifests under deploy/reconciler (the chart's default render, tests/chart.rs) agree with
//! the binary: its flags parse, its probe paths are served, and the RBAC grants exactly what the
//! code uses.

use std::{collections::BTreeSet, path::Path};

use clap::Parser;
use serde_json::Value;
use sidecarset_reconciler::cli::{Cli, Command};

fn docs(file: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/reconciler")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect()
}

fn kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// `(apiGroup, resource, verb, resourceName or "")` for every rule.
fn grants(role: &Value) -> BTreeSet<(String, String, String, String)> {
    let s = |v: &Value| v.as_str().unwrap().to_string();
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_array().unwrap() {
        let names: Vec<String> = rule["resourceNames"]
            .as_array()
            .map(|a| a.iter().map(s).collect())
            .unwrap_or_else(|| vec![String::new()]);
        for g in rule["apiGroups"].as_array().unwrap() {
            for r in rule["resources"].as_array().unwrap() {
                for v in rule["verbs"].as_array().unwrap() {
                    for n in &names {
                        out.insert((s(g), s(r), s(v), n.clone()));
                    }
                }
            }
        }
    }
    out
}

fn set(items: &[(&str, &str, &str, &str)]) -> BTreeSet<(String, String, String, String)> {
    items
        .iter()
        .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()))
        .collect()
}

#[test]
fn rbac_grants_only_what_the_reconciler_uses() {
    let rbac = docs("rbac.yaml");
    let cluster = kind(&rbac, "ClusterRole");
    assert_eq!(cluster.len(), 1);
    assert_eq!(
        grants(cluster[0]),
        set(&[
            ("", "pods", "list", ""),
            ("", "pods", "watch", ""),
            ("", "pods", "patch", ""),
            ("", "pods/status", "patch", ""),
            ("", "namespaces", "get", ""),
            ("", "namespaces", "list", ""),
            ("", "namespaces", "watch", ""),
            (
                "policies.kubewarden.io",
                "clusteradmissionpolicies",
                "list",
                ""
            ),
            (
                "policies.kubewarden.io",
                "clusteradmissionpolicies",
                "watch",
                ""
            ),
            (
                "policies.kubewarden.io",
                "clusteradmissionpolicies",
                "patch",
                ""
            ),
            (
                "policies.kubewarden.io",
                "clusteradmissionpolicies/finalizers",
                "update",
                ""
            ),
            ("events.k8s.io", "events", "create", ""),
            ("events.k8s.io", "events", "patch", ""),
        ])
    );
    let roles = kind(&rbac, "Role");
    assert_eq!(roles.len(), 2);
    let role = |name: &str| {
        let r = roles
            .iter()
            .find(|r| r["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no Role {name}"));
        assert_eq!(r["metadata"]["namespace"], "sidecarset-system");
        grants(r)
    };
    assert_eq!(
        role("sidecarset-reconciler-revisions"),
        set(&[
            ("apps", "controllerrevisions", "list", ""),
            ("apps", "controllerrevisions", "get", ""),
            ("apps", "controllerrevisions", "create", ""),
            ("apps", "controllerrevisions", "patch", ""),
            ("apps", "controllerrevisions", "delete", ""),
        ])
    );
    assert_eq!(
        role("sidecarset-reconciler-leader-election"),
        set(&[
            ("coordination.k8s.io", "leases", "create", ""),
            (
                "coordination.k8s.io",
                "leases",
                "get",
                "sidecarset-reconciler"
            ),
            (
                "coordination.k8s.io",
                "leases",
                "update",
                "sidecarset-reconciler"
            ),
        ])
    );
    for binding in kind(&rbac, "ClusterRoleBinding")
        .into_iter()
        .chain(kind(&rbac, "RoleBinding"))
    {
        assert_eq!(binding["subjects"][0]["name"], "sidecarset-reconciler");
        assert_eq!(binding["subjects"][0]["namespace"], "sidecarset-system");
    }
}

#[test]
fn the_deployment_runs_two_locked_down_replicas_the_binary_accepts() {
    let all = docs("deployment.yaml");
    let d = kind(&all, "Deployment")[0];
    assert_eq!(d["spec"]["replicas"], 2);
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "sidecarset-reconciler");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let c = &pod["containers"][0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert!(c["resources"]["requests"]["cpu"].is_string());
    assert!(c["resources"]["requests"]["memory"].is_string());
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");

    let mut argv = vec!["sidecarset-reconciler".to_string()];
    argv.extend(
        c["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string()),
    );
    let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    let Command::Run(run) = cli.command else {
        panic!("the Deployment must run `run`")
    };
    run.validate().expect("valid flags");
    assert!(!run.no_leader_election, "two replicas need leader election");
    assert_eq!(run.lease_namespace, "sidecarset-system");
    assert_eq!(run.revision_namespace, "sidecarset-system");
    assert_eq!(run.metrics_addr.port(), 8080);
    assert_eq!(c["ports"][0]["containerPort"], 8080);
    let env: Vec<&str> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        env.contains(&"POD_NAME") && env.contains(&"POD_NAMESPACE"),
        "{env:?}"
    );
}

#[test]
fn every_manifest_is_in_the_kustomization() {
    let k = &docs("kustomization.yaml")[0];
    let listed: BTreeSet<&str> = k["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/reconciler");
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().to_string();
        if name != "kustomization.yaml" {
            assert!(
                listed.contains(name.as_str()),
                "{name} is not in kustomization.yaml"
            );
        }
    }
}
