//! `migrate` without a cluster: SidecarSet files to policies, and the report over given Pods.

use clap::Parser;
use serde_json::{Value, json};
use sidecarset_core::{
    SidecarSet,
    inject::{self, NamespaceLabels as InjectNamespace, Outcome, PodContext},
    kruise_object,
    upgrade::{Interner, PodDigest},
};
use sidecarset_reconciler::{
    cli::{Cli, Command},
    migrate::{self, MigrateArgs},
    round::NamespaceLabels,
};

const FILE: &str = r#"
apiVersion: apps.kruise.io/v1beta1
kind: SidecarSet
metadata: {name: filebeat}
spec:
  selector: {matchLabels: {app: web}}
  containers: [{name: filebeat, image: "elastic/filebeat:7.16.2"}]
---
apiVersion: v1
kind: List
items:
- apiVersion: apps.kruise.io/v1alpha1
  kind: SidecarSet
  metadata:
    name: mesh
    labels: {apps.kruise.io/sidecarset-custom-version: v3}
  spec:
    namespace: shop
    selector: {matchLabels: {mesh: "on"}}
    containers: [{name: proxy, image: "envoy:1", podInjectPolicy: BeforeAppContainer}]
- apiVersion: apps.kruise.io/v1beta1
  kind: SidecarSet
  metadata: {name: broken}
  spec:
    selector: {matchLabels: {app: web}}
    containers: [{name: x, image: "x:1", podInjectPolicy: Sometimes}]
"#;

fn args(extra: &[&str]) -> MigrateArgs {
    let mut argv = vec!["sidecarset-reconciler", "migrate", "--no-report"];
    argv.extend_from_slice(extra);
    match Cli::parse_from(argv).command {
        Command::Migrate(a) => a,
        other => panic!("{other:?}"),
    }
}

fn objects() -> Vec<Value> {
    let dir = std::env::temp_dir().join(format!("sidecarset-migrate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sidecarsets.yaml");
    std::fs::write(&path, FILE).unwrap();
    let objects = migrate::objects_from_file(&path).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    objects
}

#[test]
fn every_document_and_list_item_is_read() {
    let objects = objects();
    let names: Vec<&str> = objects
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["filebeat", "mesh", "broken"]);
}

#[test]
fn a_policy_per_set_with_kruises_webhook_scope_and_the_lookup_only_when_needed() {
    let a = args(&[
        "--module",
        "registry://example/p:v1",
        "--policy-server",
        "ps",
    ]);
    let objects = objects();
    let fb = kruise_object::settings_from_object(&objects[0]).unwrap();
    let p = migrate::policy_object(&fb, &a, "apps.kruise.io/v1beta1 SidecarSet filebeat");
    assert_eq!(p["kind"], "ClusterAdmissionPolicy");
    assert_eq!(p["metadata"]["name"], "sidecarset-filebeat");
    assert_eq!(
        p["metadata"]["labels"]["sidecarset.kubewarden.io/reconcile"],
        "true"
    );
    assert_eq!(p["spec"]["module"], "registry://example/p:v1");
    assert_eq!(p["spec"]["policyServer"], "ps");
    assert_eq!(p["spec"]["mutating"], true);
    assert_eq!(
        p["spec"]["namespaceSelector"],
        json!({"matchExpressions": [{"key": "control-plane", "operator": "DoesNotExist"}]})
    );
    // The API server sends the policy only the Pods the set selects (tests/object_selector.rs).
    assert_eq!(
        p["spec"]["objectSelector"],
        json!({"matchLabels": {"app": "web"}})
    );
    assert!(p["spec"].get("contextAwareResources").is_none());
    assert_eq!(p["spec"]["settings"]["name"], "filebeat");
    // The policy's own settings check accepts what migrate writes.
    assert!(SidecarSet::new(&p["spec"]["settings"]).is_ok());

    let mesh = kruise_object::settings_from_object(&objects[1]).unwrap();
    let p = migrate::policy_object(&mesh, &a, "apps.kruise.io/v1alpha1 SidecarSet mesh");
    assert_eq!(
        p["spec"]["contextAwareResources"],
        json!([{"apiVersion": "v1", "kind": "Namespace"}])
    );
    assert_eq!(p["spec"]["settings"]["customVersion"], "v3");
    // v1alpha1's `namespace` is checked by the policy, not the webhook: only the Pod selector.
    assert_eq!(
        p["spec"]["objectSelector"],
        json!({"matchLabels": {"mesh": "on"}})
    );
    assert_eq!(
        p["spec"]["settings"]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "shop"
    );

    // A pinned revision is read through a ControllerRevision lookup: granted, beside the Namespace.
    let mut pinned = objects[1].clone();
    pinned["spec"]["injectionStrategy"] =
        json!({"revision": {"customVersion": "v2", "policy": "Partial"}});
    let c = kruise_object::settings_from_object(&pinned).unwrap();
    let p = migrate::policy_object(&c, &a, "apps.kruise.io/v1alpha1 SidecarSet mesh");
    assert_eq!(
        p["spec"]["contextAwareResources"],
        json!([{"apiVersion": "v1", "kind": "Namespace"},
               {"apiVersion": "apps/v1", "kind": "ControllerRevision"}])
    );
    let mut only_pinned = objects[0].clone();
    only_pinned["spec"]["injectionStrategy"] =
        json!({"revision": {"revisionName": "filebeat-6f7887fffd"}});
    let c = kruise_object::settings_from_object(&only_pinned).unwrap();
    assert!(SidecarSet::new(&c.settings).is_ok());
    let p = migrate::policy_object(&c, &a, "apps.kruise.io/v1beta1 SidecarSet filebeat");
    assert_eq!(
        p["spec"]["contextAwareResources"],
        json!([{"apiVersion": "apps/v1", "kind": "ControllerRevision"}])
    );
}

#[test]
fn the_default_module_is_this_releases_policy() {
    let a = args(&[]);
    assert_eq!(
        a.module,
        format!(
            "registry://ghcr.io/sidecarset/policies/sidecarset:v{}",
            env!("CARGO_PKG_VERSION")
        )
    );
}

fn pod(name: &str, app: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop", "uid": format!("u-{name}"),
            "resourceVersion": "5", "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {"app": app}},
        "spec": {"containers": [{"name": "app", "image": "nginx"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    })
}

/// `pod` injected by `settings`, running and ready.
fn injected(settings: &Value, name: &str) -> Value {
    let set = SidecarSet::new(settings).unwrap();
    let ctx = PodContext {
        request_namespace: "shop",
        namespace_labels: &InjectNamespace::NotNeeded,
        now: "2026-01-01T00:00:00Z",
    };
    let Outcome::Injected(mut p) = inject::inject(&set, &pod(name, "web"), &ctx).unwrap() else {
        panic!("not injected")
    };
    let statuses: Vec<Value> = p["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| json!({"name": c["name"], "image": c["image"], "imageID": "id", "ready": true}))
        .collect();
    p["status"]["containerStatuses"] = json!(statuses);
    p
}

#[test]
fn the_report_counts_matched_would_patch_and_uninjected_pods() {
    let objects = objects();
    let fb = kruise_object::settings_from_object(&objects[0]).unwrap();
    let mut newer = fb.settings.clone();
    newer["containers"][0]["image"] = json!("elastic/filebeat:7.16.3");
    let digest = |v: &Value| PodDigest::new(v, &mut Interner::default());
    let pods = vec![
        digest(&injected(&fb.settings, "web-0")),
        digest(&injected(&fb.settings, "web-1")),
        digest(&injected(&newer, "web-2")),
        digest(&pod("web-3", "web")),
        digest(&pod("db-0", "db")),
    ];
    let sets = vec![(fb, "sidecarset-filebeat".to_string())];
    let r = migrate::reports(
        &sets,
        &pods,
        &NamespaceLabels::new(),
        "2026-07-01T00:00:00Z",
    );
    assert_eq!(r.len(), 1);
    let r = &r[0];
    assert_eq!(r.matched_pods, 3);
    assert_eq!(r.updated_pods, 2);
    assert_eq!(r.uninjected, ["shop/web-3"]);
    // web-2 runs another revision: the first round would bring it to the SidecarSet's.
    assert_eq!(r.would_patch, ["shop/web-2: upgrade"]);
    assert!(!r.is_clean());
    let text = migrate::report_text(std::slice::from_ref(r), &[], &["broken: why".into()]);
    assert!(
        text.contains(
            "SidecarSet filebeat -> ClusterAdmissionPolicy sidecarset-filebeat: NOT CLEAN"
        ),
        "{text}"
    );
    assert!(text.contains("without sidecars (recreate to inject): shop/web-3"));
    assert!(text.contains("not converted: broken: why"));
}

#[tokio::test]
async fn from_files_without_a_cluster_writes_the_convertible_policies_and_fails_on_the_rest() {
    let dir = std::env::temp_dir().join(format!("sidecarset-migrate-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sidecarsets.yaml");
    std::fs::write(&path, FILE).unwrap();
    let a = args(&["--from-file", path.to_str().unwrap()]);
    let (mut policies, mut report) = (Vec::new(), Vec::new());
    let err = migrate::migrate(&a, &mut policies, &mut report)
        .await
        .unwrap_err()
        .to_string();
    std::fs::remove_dir_all(&dir).ok();
    assert!(err.contains("1 SidecarSet(s) not converted"), "{err}");
    let report = String::from_utf8(report).unwrap();
    assert!(
        report.contains("not converted: SidecarSet broken: containers[0].podInjectPolicy"),
        "{report}"
    );
    let docs: Vec<Value> =
        serde_yaml::Deserializer::from_str(std::str::from_utf8(&policies).unwrap())
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
    let names: Vec<&str> = docs
        .iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sidecarset-filebeat", "sidecarset-mesh"]);

    let only = args(&["--from-file", "/nonexistent", "--sidecarset", "filebeat"]);
    let err = migrate::migrate(&only, &mut Vec::new(), &mut Vec::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent"), "{err}");
}

/// Three sets for the same Pods: `mesh` and `logs` share the container `agent` and give the volume
/// `log` two different sources; `audit` declares `log` as `mesh` does once defaulted (no clash) and
/// so unlike `logs`; `other-team` uses `agent` for Pods the others never select.
const CONFLICTING: &str = r#"
apiVersion: apps.kruise.io/v1beta1
kind: SidecarSet
metadata: {name: mesh}
spec:
  selector: {matchLabels: {app: web}}
  containers: [{name: agent, image: "envoy:1"}]
  volumes: [{name: log, emptyDir: {}}]
---
apiVersion: apps.kruise.io/v1beta1
kind: SidecarSet
metadata: {name: audit}
spec:
  selector: {matchExpressions: [{key: app, operator: In, values: [web, api]}]}
  containers: [{name: auditor, image: "audit:1"}]
  volumes: [{name: log}]
---
apiVersion: apps.kruise.io/v1beta1
kind: SidecarSet
metadata: {name: logs}
spec:
  selector: {matchLabels: {app: web, tier: front}}
  containers: [{name: agent, image: "filebeat:7"}]
  volumes: [{name: log, hostPath: {path: /var/log}}]
---
apiVersion: apps.kruise.io/v1beta1
kind: SidecarSet
metadata: {name: other-team}
spec:
  selector: {matchLabels: {app: db}}
  containers: [{name: agent, image: "agent:2"}]
"#;

#[test]
fn a_conflicting_pair_is_refused_naming_both_sets_and_the_field() {
    let dir = std::env::temp_dir().join(format!("sidecarset-conflict-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sidecarsets.yaml");
    std::fs::write(&path, CONFLICTING).unwrap();
    let objects = migrate::objects_from_file(&path).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let sets: Vec<_> = objects
        .iter()
        .map(|o| {
            let c = kruise_object::settings_from_object(o).unwrap();
            let source = format!("SidecarSet {}", c.name);
            (c, source)
        })
        .collect();
    let (kept, conflicts) = migrate::refuse_conflicts(sets);
    let kept: Vec<&str> = kept.iter().map(|(c, _)| c.name.as_str()).collect();
    assert_eq!(kept, ["other-team"]);
    let lines: Vec<String> = conflicts.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            r#"logs: spec.containers: Invalid value: "agent": container agent already exist in mesh"#,
            r#"logs: spec.volumes: Invalid value: "log": volume log is in conflict with sidecarset mesh"#,
            r#"logs: spec.volumes: Invalid value: "log": volume log is in conflict with sidecarset audit"#,
        ]
    );
    let text = migrate::report_text(&[], &conflicts, &[]);
    assert!(
        text.starts_with(
            r#"conflict, neither mesh nor logs converted: logs: spec.containers: Invalid value: "agent""#
        ),
        "{text}"
    );
}

#[tokio::test]
async fn migrate_writes_no_policy_for_either_set_of_a_pair_and_fails() {
    let dir = std::env::temp_dir().join(format!("sidecarset-conflict-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sidecarsets.yaml");
    std::fs::write(&path, CONFLICTING).unwrap();
    let json = dir.join("report.json");
    let a = args(&[
        "--from-file",
        path.to_str().unwrap(),
        "--report-json",
        json.to_str().unwrap(),
    ]);
    let (mut policies, mut report) = (Vec::new(), Vec::new());
    let err = migrate::migrate(&a, &mut policies, &mut report)
        .await
        .unwrap_err()
        .to_string();
    let body: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        err.contains("neither of each pair was converted: mesh and logs; audit and logs"),
        "{err}"
    );
    let report = String::from_utf8(report).unwrap();
    assert!(
        report.contains(
            r#"conflict, neither audit nor logs converted: logs: spec.volumes: Invalid value: "log": volume log is in conflict with sidecarset audit"#
        ),
        "{report}"
    );
    assert_eq!(
        body["conflicts"][0],
        json!({"sidecarSets": ["mesh", "logs"], "field": "spec.containers", "name": "agent",
               "message": r#"logs: spec.containers: Invalid value: "agent": container agent already exist in mesh"#})
    );
    let docs: Vec<Value> =
        serde_yaml::Deserializer::from_str(std::str::from_utf8(&policies).unwrap())
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
    let names: Vec<&str> = docs
        .iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sidecarset-other-team"]);
}
