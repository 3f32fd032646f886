//! `kubectl sidecarset`'s output for fixture policies and Events, byte for byte. The expected
//! tables were also checked against Go's text/tabwriter with kubectl's settings (the cells joined by
//! tabs, written through `tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)` for get, padding 2 for describe).

use clap::Parser;
use k8s_openapi::{
    api::core::v1::Event,
    jiff::{SignedDuration, Timestamp},
};
use kube::api::DynamicObject;
use serde_json::{Value, json};
use sidecarset_reconciler::{
    kubectl_plugin::{
        Cli, Command, EventRow, GetOutput, Reported, SetRow, format_selector, not_a_set, not_found,
        render_data, render_describe, render_table, warnings,
    },
    status::SetStatus,
};

fn now() -> Timestamp {
    "2026-12-07T01:00:00Z".parse().unwrap()
}

fn ago(secs: i64) -> String {
    (now() - SignedDuration::from_secs(secs)).to_string()
}

fn policy(name: &str, created_ago: i64, generation: i64, status: Option<&str>) -> DynamicObject {
    let mut obj = json!({
        "apiVersion": "policies.kubewarden.io/v1",
        "kind": "ClusterAdmissionPolicy",
        "metadata": {
            "name": name,
            "uid": format!("uid-{name}"),
            "generation": generation,
            "creationTimestamp": ago(created_ago),
            "labels": {"sidecarset.kubewarden.io/reconcile": "true", "team": "logs"},
        },
        "spec": {"module": "registry://ghcr.io/sidecarset/policy:v0.1.0", "settings": settings()},
    });
    if let Some(s) = status {
        obj["metadata"]["annotations"] = json!({"sidecarset.kubewarden.io/status": s});
    }
    serde_json::from_value(obj).unwrap()
}

fn settings() -> Value {
    json!({
        "name": "filebeat",
        "selector": {
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}],
        },
        "updateStrategy": {"type": "RollingUpdate", "maxUnavailable": "50%", "partition": 1},
        "initContainers": [{"name": "init-log", "image": "busybox:1.36"}],
        "containers": [
            {"name": "filebeat", "image": "docker.elastic.co/beats/filebeat:7.16.3"},
            {"name": "logrotate", "image": "logrotate:2"},
        ],
    })
}

fn healthy() -> SetStatus {
    SetStatus {
        observed_generation: 2,
        name: "filebeat".into(),
        matched_pods: 6,
        updated_pods: 4,
        ready_pods: 6,
        updated_ready_pods: 4,
        not_upgradable_pods: 1,
        uninjected_pods: 2,
        hash: "w6xv4d4b2zd9fc9b7x7xx2zb59b5d2w8v2zzv2b2v5bz4fdf7b9xv7w4v86z4dx".into(),
        latest_revision: "filebeat-7b9f6c5d8".into(),
        collision_count: 0,
        paused: false,
        update_type: "RollingUpdate".into(),
        ..Default::default()
    }
}

/// Four sets in no order: one mid-rollout, one the reconciler has not reached, one with invalid
/// settings, one paused with a conflict and a missing pinned revision.
fn rows() -> Vec<SetRow> {
    let invalid = SetStatus::invalid(3, "containers[0].image: required".into(), 1);
    let paused = SetStatus {
        observed_generation: 5,
        name: "log-agent".into(),
        matched_pods: 12,
        updated_pods: 0,
        ready_pods: 11,
        paused: true,
        update_type: "RollingUpdate".into(),
        latest_revision: "log-agent-5c6d7f".into(),
        hash: "h2".into(),
        conflicts: vec!["container log-agent is also declared by policy shipper".into()],
        pinned_revision_error: Some("revision v7 of set log-agent does not exist".into()),
        ..Default::default()
    };
    [
        policy(
            "filebeat-sidecar",
            3 * 3600,
            2,
            Some(&healthy().to_annotation()),
        ),
        policy("a-new-set", 45, 1, None),
        policy("broken", 49 * 3600, 3, Some(&invalid.to_annotation())),
        policy("log-agent", 190, 6, Some(&paused.to_annotation())),
    ]
    .iter()
    .map(SetRow::from_policy)
    .collect()
}

#[test]
fn get_prints_kruises_columns_and_this_projects_sorted_by_name() {
    assert_eq!(
        render_table(&rows(), false, false, now()),
        "\
NAME               MATCHED   UPDATED   READY    UNINJECTED   NOT-UPGRADABLE   PAUSED   LATEST REVISION      AGE
a-new-set          <none>    <none>    <none>   <none>       <none>           <none>   <none>               45s
broken             0         0         0        0            0                false    <none>               2d1h
filebeat-sidecar   6         4         6        2            1                false    filebeat-7b9f6c5d8   3h
log-agent          12        0         11       0            0                true     log-agent-5c6d7f     3m10s
"
    );
}

#[test]
fn no_headers_drops_the_header_line_only() {
    let rows: Vec<SetRow> = rows()
        .into_iter()
        .filter(|r| r.name != "a-new-set")
        .collect();
    assert_eq!(
        render_table(&rows, false, true, now()),
        "\
broken             0    0   0    0   0   false   <none>               2d1h
filebeat-sidecar   6    4   6    2   1   false   filebeat-7b9f6c5d8   3h
log-agent          12   0   11   0   0   true    log-agent-5c6d7f     3m10s
"
    );
}

#[test]
fn wide_adds_the_set_hash_conflicts_and_the_error() {
    assert_eq!(
        render_table(&rows(), true, false, now()),
        "\
NAME               MATCHED   UPDATED   READY    UNINJECTED   NOT-UPGRADABLE   PAUSED   LATEST REVISION      AGE     SET         UPDATED-READY   HASH                                                              COLLISIONS   CONFLICTS   ERROR
a-new-set          <none>    <none>    <none>   <none>       <none>           <none>   <none>               45s     <none>      <none>          <none>                                                            <none>       <none>      <none>
broken             0         0         0        0            0                false    <none>               2d1h    <none>      0               <none>                                                            1            0           invalid settings: containers[0].image: required
filebeat-sidecar   6         4         6        2            1                false    filebeat-7b9f6c5d8   3h      filebeat    4               w6xv4d4b2zd9fc9b7x7xx2zb59b5d2w8v2zzv2b2v5bz4fdf7b9xv7w4v86z4dx   0            0           <none>
log-agent          12        0         11       0            0                true     log-agent-5c6d7f     3m10s   log-agent   0               h2                                                                0            1           pinned revision: revision v7 of set log-agent does not exist
"
    );
}

#[test]
fn sets_that_do_not_work_as_written_are_warned_about_under_the_table() {
    assert_eq!(
        warnings(&rows()),
        [
            "Warning: broken: invalid settings: containers[0].image: required",
            "Warning: log-agent: pinned revision: revision v7 of set log-agent does not exist",
            "Warning: log-agent: conflict: container log-agent is also declared by policy shipper",
        ]
    );
    let mut unreadable = policy("odd", 10, 1, Some("{not json"));
    let row = SetRow::from_policy(&unreadable);
    assert!(matches!(row.reported, Reported::Unreadable(_)), "{row:?}");
    assert_eq!(
        render_table(std::slice::from_ref(&row), true, true, now()),
        "odd   <none>   <none>   <none>   <none>   <none>   <none>   <none>   10s   <none>   <none>   <none>   <none>   <none>   sidecarset.kubewarden.io/status does not parse: key must be a string at line 1 column 2\n"
    );
    // A multi-line error stays on its row.
    unreadable.metadata.annotations = Some(
        [(
            "sidecarset.kubewarden.io/status".to_string(),
            SetStatus::invalid(1, "first\tline\nsecond line".into(), 0).to_annotation(),
        )]
        .into(),
    );
    assert_eq!(
        warnings(&[SetRow::from_policy(&unreadable)]),
        ["Warning: odd: invalid settings: first line second line"]
    );
}

#[test]
fn json_and_yaml_hold_the_status_as_the_annotation_does() {
    let rows: Vec<SetRow> = rows()
        .into_iter()
        .filter(|r| r.name == "a-new-set" || r.name == "broken")
        .collect();
    let text = render_data(&rows, GetOutput::Json).unwrap();
    assert_eq!(
        text,
        r#"[
  {
    "name": "a-new-set",
    "creationTimestamp": "2026-12-07T00:59:15Z",
    "generation": 1,
    "status": null
  },
  {
    "name": "broken",
    "creationTimestamp": "2026-12-05T00:00:00Z",
    "generation": 3,
    "status": {
      "observedGeneration": 3,
      "matchedPods": 0,
      "updatedPods": 0,
      "readyPods": 0,
      "updatedReadyPods": 0,
      "notUpgradablePods": 0,
      "uninjectedPods": 0,
      "collisionCount": 1,
      "paused": false,
      "error": "containers[0].image: required"
    }
  }
]
"#
    );
    assert_eq!(
        render_data(&rows[..1], GetOutput::Yaml).unwrap(),
        "- name: a-new-set\n  creationTimestamp: 2026-12-07T00:59:15Z\n  generation: 1\n  status: null\n"
    );
    assert_eq!(render_data(&[], GetOutput::Json).unwrap(), "[]\n");
}

/// An Event as the API server serves an `events.k8s.io/v1` Event in `core/v1` (what kubectl reads).
fn event(reason: &str, secs_ago: i64, series: Option<(i32, i64)>, message: &str) -> Event {
    let mut e = json!({
        "metadata": {"name": format!("filebeat-sidecar.{secs_ago}"), "namespace": "default"},
        "involvedObject": {"kind": "ClusterAdmissionPolicy", "name": "filebeat-sidecar",
            "apiVersion": "policies.kubewarden.io/v1", "uid": "uid-filebeat-sidecar"},
        "reason": reason,
        "message": message,
        "type": if reason.starts_with("Sidecar") { "Normal" } else { "Warning" },
        "eventTime": (now() - SignedDuration::from_secs(secs_ago)).strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string(),
        "reportingComponent": "sidecarset-reconciler",
        "reportingInstance": "sidecarset-reconciler-7d9c-x2",
        "source": {},
    });
    if let Some((count, last_ago)) = series {
        e["series"] = json!({"count": count,
            "lastObservedTime": (now() - SignedDuration::from_secs(last_ago)).strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()});
    }
    serde_json::from_value(e).unwrap()
}

fn events() -> Vec<EventRow> {
    [
        event(
            "SidecarUpgradeProgress",
            30,
            None,
            "4 of 6 matched Pods updated and ready; finished 2: shop/web-2, shop/web-3",
        ),
        event(
            "UninjectedPods",
            600,
            Some((3, 120)),
            "2 Pod(s) match the set but were created without its sidecars",
        ),
        event(
            "SidecarUpgradeProgress",
            90,
            None,
            "2 of 6 matched Pods updated and ready; started 2: shop/web-0, shop/web-1\n",
        ),
    ]
    .iter()
    .map(EventRow::from_event)
    .collect()
}

#[test]
fn an_events_age_and_source_are_kubectls() {
    let e = &events()[1];
    assert_eq!(e.count, 3);
    assert_eq!(e.from, "sidecarset-reconciler");
    assert_eq!(e.type_, "Warning");
    let mut with_source = event("X", 5, None, "m");
    with_source.source = Some(k8s_openapi::api::core::v1::EventSource {
        component: Some("kubelet".into()),
        host: Some("node-1".into()),
    });
    assert_eq!(EventRow::from_event(&with_source).from, "kubelet");
}

#[test]
fn describe_shows_settings_every_status_field_and_the_events_by_when_last_seen() {
    let row = SetRow::from_policy(&policy(
        "filebeat-sidecar",
        3 * 3600,
        3,
        Some(&healthy().to_annotation()),
    ));
    let settings = settings();
    assert_eq!(
        render_describe(&row, Some(&settings), Some(&events()), now()),
        "\
Name:               filebeat-sidecar
Set:                filebeat
Labels:             sidecarset.kubewarden.io/reconcile=true
                    team=logs
CreationTimestamp:  Sun, 06 Dec 2026 22:00:00 +0000
Generation:         3
Settings:
  Selector:            app=web,tier in (a,b)
  Namespace Selector:  <none>
  Update Strategy:     RollingUpdate, maxUnavailable 50%, partition 1
  Init Containers:     init-log: busybox:1.36
  Containers:          filebeat: docker.elastic.co/beats/filebeat:7.16.3
                       logrotate: logrotate:2
Status:
  Observed Generation:    2 (the policy is at generation 3: the counts are for older settings)
  Matched Pods:           6
  Updated Pods:           4
  Ready Pods:             6
  Updated Ready Pods:     4
  Not Upgradable Pods:    1
  Uninjected Pods:        2
  Paused:                 false
  Update Type:            RollingUpdate
  Hash:                   w6xv4d4b2zd9fc9b7x7xx2zb59b5d2w8v2zzv2b2v5bz4fdf7b9xv7w4v86z4dx
  Latest Revision:        filebeat-7b9f6c5d8
  Collision Count:        0
  Conflicts:              <none>
  Pinned Revision Error:  <none>
  Error:                  <none>
Events:
  Type     Reason                  Age               From                   Message
  ----     ------                  ----              ----                   -------
  Warning  UninjectedPods          2m (x3 over 10m)  sidecarset-reconciler  2 Pod(s) match the set but were created without its sidecars
  Normal   SidecarUpgradeProgress  90s               sidecarset-reconciler  2 of 6 matched Pods updated and ready; started 2: shop/web-0, shop/web-1
  Normal   SidecarUpgradeProgress  30s               sidecarset-reconciler  4 of 6 matched Pods updated and ready; finished 2: shop/web-2, shop/web-3
"
    );
}

#[test]
fn describe_without_status_settings_or_events_says_none() {
    let mut obj = policy("a-new-set", 45, 1, None);
    obj.metadata.labels = None;
    let row = SetRow::from_policy(&obj);
    assert_eq!(
        render_describe(&row, None, Some(&[]), now()),
        "\
Name:               a-new-set
Set:                <none>
Labels:             <none>
CreationTimestamp:  Mon, 07 Dec 2026 00:59:15 +0000
Generation:         1
Settings:           <none>
Status:             <none> (the reconciler has not written one)
Events:             <none>
"
    );
    // --show-events=false: no Events line at all.
    assert_eq!(
        render_describe(&row, None, None, now()),
        "\
Name:               a-new-set
Set:                <none>
Labels:             <none>
CreationTimestamp:  Mon, 07 Dec 2026 00:59:15 +0000
Generation:         1
Settings:           <none>
Status:             <none> (the reconciler has not written one)
"
    );
}

#[test]
fn describe_shows_an_invalid_sets_error_and_conflicts() {
    let row = &rows()[3];
    let text = render_describe(row, None, Some(&[]), now());
    assert!(
        text.contains(
            "  Conflicts:              container log-agent is also declared by policy shipper\n  Pinned Revision Error:  revision v7 of set log-agent does not exist\n  Error:                  <none>\n"
        ),
        "{text}"
    );
    let broken = &rows()[2];
    let text = render_describe(broken, None, Some(&[]), now());
    assert!(
        text.contains("  Error:                  containers[0].image: required\n"),
        "{text}"
    );
}

#[test]
fn selectors_read_as_kubectl_prints_them() {
    assert_eq!(format_selector(None), "<none>");
    assert_eq!(format_selector(Some(&json!({}))), "<none>");
    assert_eq!(
        format_selector(Some(&json!({
            "matchLabels": {"z": "1", "a": "2"},
            "matchExpressions": [
                {"key": "m", "operator": "NotIn", "values": ["x"]},
                {"key": "b", "operator": "Exists"},
                {"key": "c", "operator": "DoesNotExist"},
            ],
        }))),
        "a=2,b,!c,m notin (x),z=1"
    );
}

#[test]
fn names_that_are_no_sets_are_errors_in_kubectls_words() {
    assert_eq!(
        not_found("nope"),
        r#"Error from server (NotFound): clusteradmissionpolicies.policies.kubewarden.io "nope" not found"#
    );
    assert_eq!(
        not_a_set("psp"),
        r#"error: clusteradmissionpolicies.policies.kubewarden.io "psp" is not a SidecarSet: it lacks the label sidecarset.kubewarden.io/reconcile=true"#
    );
}

#[test]
fn the_command_line_takes_kubectls_flags() {
    let cli = Cli::try_parse_from([
        "kubectl-sidecarset",
        "get",
        "a",
        "b",
        "-o",
        "wide",
        "--no-headers",
        "--context",
        "kind-dev",
        "--kubeconfig",
        "/tmp/kc",
    ])
    .unwrap();
    assert_eq!(cli.connection.context.as_deref(), Some("kind-dev"));
    assert_eq!(
        cli.connection.kubeconfig.as_deref(),
        Some(std::path::Path::new("/tmp/kc"))
    );
    let Command::Get(get) = cli.command else {
        panic!("not get")
    };
    assert_eq!(get.names, ["a", "b"]);
    assert_eq!(get.output, Some(GetOutput::Wide));
    assert!(get.no_headers);

    let cli = Cli::try_parse_from(["kubectl-sidecarset", "describe", "x", "--show-events=false"])
        .unwrap();
    let Command::Describe(d) = cli.command else {
        panic!("not describe")
    };
    assert_eq!((d.name.as_str(), d.show_events), ("x", false));

    for bad in [
        &["kubectl-sidecarset", "get", "a", "-l", "team=x"][..],
        &["kubectl-sidecarset", "get", "-o", "table"],
        &["kubectl-sidecarset", "describe"],
    ] {
        assert!(Cli::try_parse_from(bad).is_err(), "{bad:?}");
    }
    let version = Cli::try_parse_from(["kubectl-sidecarset", "--version"]).unwrap_err();
    assert_eq!(version.kind(), clap::error::ErrorKind::DisplayVersion);
}
