//! `plan`'s output, byte for byte: `-o json` and the text, for policies that take each branch (an
//! upgrade round with every kind of Pod, a budget letting every Pod go, a paused set, `NotUpdate`,
//! settings that do not validate, a policy without settings), each variant of one set and so in
//! conflict with the others over its container. The expected files are under
//! `tests/plan_output/`; `UPDATE_PLAN_OUTPUT=1` rewrites them (a change of output is a change users see).

use std::path::Path;

use serde_json::{Value, json};
use sidecarset_core::upgrade::{Interner, PodDigest};
use sidecarset_reconciler::{cli, policy::Target, round::NamespaceLabels};

fn policy(name: &str, settings: Option<Value>) -> Target {
    let mut obj = json!({
        "apiVersion": "policies.kubewarden.io/v1",
        "kind": "ClusterAdmissionPolicy",
        "metadata": {"name": name, "generation": 3, "resourceVersion": "77",
            "labels": {"sidecarset.kubewarden.io/reconcile": "true"}},
        "spec": {"module": "registry://ghcr.io/sidecarset/policy:v0.1.0", "mutating": true},
    });
    if let Some(s) = settings {
        obj["spec"]["settings"] = s;
    }
    Target::from_policy(&serde_json::from_value(obj).unwrap())
}

fn settings(extra: Value) -> Value {
    let mut s = json!({"name": "filebeat", "selector": {"matchLabels": {"app": "web"}},
        "containers": [{"name": "filebeat", "image": "elastic/filebeat:7.16.3"}]});
    if let (Some(o), Value::Object(e)) = (s.as_object_mut(), extra) {
        o.extend(e);
    }
    s
}

/// A Pod injected with `filebeat:7.16.2`, its image-less hash `without_image`.
fn injected(name: &str, ns: &str, labels: Value, without_image: &str, ready: bool) -> PodDigest {
    let entry = |h: &str| {
        json!({"filebeat": {"hash": h, "sidecarSetName": "filebeat", "sidecarList": ["filebeat"]}})
            .to_string()
    };
    let status = if ready { "True" } else { "False" };
    let pod = json!({
        "metadata": {"name": name, "namespace": ns, "uid": format!("u-{name}"),
            "resourceVersion": "5", "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": labels,
            "annotations": {"kruise.io/sidecarset-injected-list": "filebeat",
                "kruise.io/sidecarset-hash": entry("old"),
                "kruise.io/sidecarset-hash-without-image": entry(without_image)}},
        "spec": {"containers": [{"name": "app", "image": "nginx"},
                                {"name": "filebeat", "image": "elastic/filebeat:7.16.2"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": status}],
            "containerStatuses": [
                {"name": "app", "ready": ready, "imageID": "a"},
                {"name": "filebeat", "ready": ready, "imageID": "b"}]}
    });
    PodDigest::new(&pod, &mut Interner::default())
}

fn bare(name: &str, ns: &str, labels: Value) -> PodDigest {
    let pod = json!({
        "metadata": {"name": name, "namespace": ns, "uid": format!("u-{name}"),
            "resourceVersion": "5", "creationTimestamp": "2026-01-01T00:00:00Z", "labels": labels},
        "spec": {"containers": [{"name": "app", "image": "nginx"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    });
    PodDigest::new(&pod, &mut Interner::default())
}

#[test]
fn plan_output_is_unchanged() {
    let base = sidecarset_core::SidecarSet::new(&settings(json!({}))).unwrap();
    let h = base.hash_without_image();
    let web = json!({"app": "web"});
    let pods = vec![
        injected("web-0", "shop", web.clone(), h, true),
        injected("web-1", "shop", web.clone(), h, true),
        injected("web-2", "shop", web.clone(), h, false),
        injected("web-3", "shop", web.clone(), "changed-resources", true),
        injected("db-0", "shop", json!({"app": "db"}), h, true),
        injected("web-4", "other", web.clone(), h, true),
        bare("web-9", "shop", web.clone()),
        bare("db-9", "shop", json!({"app": "db"})),
        bare("x-1", "other", json!({})),
    ];
    let namespaces = NamespaceLabels::from([
        (
            "shop".to_string(),
            [("team".to_string(), "a".to_string())].into(),
        ),
        ("other".to_string(), Default::default()),
    ]);
    let targets = vec![
        policy("default", Some(settings(json!({})))),
        policy(
            "all-at-once",
            Some(settings(
                json!({"updateStrategy": {"maxUnavailable": "150%", "partition": 1}}),
            )),
        ),
        policy(
            "paused",
            Some(settings(json!({"updateStrategy": {"paused": true}}))),
        ),
        policy(
            "not-update",
            Some(settings(json!({"updateStrategy": {"type": "NotUpdate"}}))),
        ),
        policy(
            "team-a",
            Some(settings(
                json!({"namespaceSelector": {"matchLabels": {"team": "a"}}}),
            )),
        ),
        policy(
            "invalid",
            Some(
                json!({"name": "filebeat", "selector": {"matchLabels": {"app": "web"}},
                "containers": [{"name": "filebeat", "image": ""}]}),
            ),
        ),
        policy("missing", None),
    ];
    let reports = cli::reports(&targets, &pods, &namespaces, "2026-07-01T00:00:00Z");
    let json_out = format!("{}\n", serde_json::to_string_pretty(&reports).unwrap());
    let mut text = Vec::new();
    cli::print_text(&reports, &mut text);
    let text_out = String::from_utf8(text).unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/plan_output");
    for (file, got) in [("expected.json", &json_out), ("expected.txt", &text_out)] {
        let path = dir.join(file);
        if std::env::var_os("UPDATE_PLAN_OUTPUT").is_some() {
            std::fs::write(&path, got).unwrap();
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_PLAN_OUTPUT=1 writes it)", path.display()));
        assert_eq!(got, &want, "{} differs", path.display());
    }
}

#[test]
fn plan_for_one_policy_still_shows_its_conflicts_with_the_others() {
    let targets = vec![
        policy("logs", Some(settings(json!({})))),
        policy(
            "elsewhere",
            Some(settings(
                json!({"selector": {"matchLabels": {"app": "db"}}}),
            )),
        ),
        policy(
            "mesh",
            Some(
                json!({"name": "mesh", "selector": {"matchLabels": {"app": "web"}},
                "containers": [{"name": "filebeat", "image": "envoy:1"}]}),
            ),
        ),
    ];
    let reports = cli::reports_of(
        &targets,
        Some("logs"),
        &[],
        &NamespaceLabels::new(),
        "2026-07-01T00:00:00Z",
    );
    let mut text = Vec::new();
    cli::print_text(&reports, &mut text);
    let text = String::from_utf8(text).unwrap();
    assert!(text.starts_with("policy logs\n"), "{text}");
    assert!(!text.contains("policy elsewhere\n") && !text.contains("policy mesh\n"));
    let conflicts: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("  conflict"))
        .collect();
    assert_eq!(
        conflicts,
        [
            r#"  conflict with policy mesh: mesh: spec.containers: Invalid value: "filebeat": container filebeat already exist in logs"#
        ]
    );
    assert_eq!(
        serde_json::to_value(&reports).unwrap()[0]["conflicts"],
        json!([{"with": "mesh", "field": "spec.containers", "name": "filebeat",
                "message": r#"mesh: spec.containers: Invalid value: "filebeat": container filebeat already exist in logs"#}])
    );
}
