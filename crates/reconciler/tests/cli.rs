//! The command line the cluster tests and the Deployment rely on, and the `plan` report, without a
//! cluster.

use clap::{CommandFactory, Parser};
use serde_json::{Value, json};
use sidecarset_core::upgrade::{Interner, PodDigest};
use sidecarset_reconciler::{
    cli::{self, Cli, Command, Output},
    policy::Target,
    round::NamespaceLabels,
};

#[test]
fn run_accepts_every_documented_flag() {
    let cli = Cli::try_parse_from([
        "sidecarset-reconciler",
        "--log-json",
        "run",
        "--settings",
        "/tmp/settings.yaml",
        "--namespace",
        "shop",
        "--policy-selector",
        "test=a",
        "--metrics-addr",
        "127.0.0.1:0",
        "--lease-namespace",
        "kube-system",
        "--lease-name",
        "l",
        "--identity",
        "me",
        "--lease-duration-seconds",
        "6",
        "--renew-deadline-seconds",
        "4",
        "--retry-period-seconds",
        "1",
        "--resync-seconds",
        "30",
        "--busy-requeue-millis",
        "200",
        "--max-writes-per-second",
        "2.5",
        "--max-write-burst",
        "1",
    ])
    .expect("parses");
    assert!(cli.log_json);
    let Command::Run(r) = cli.command else {
        panic!("run")
    };
    assert_eq!(r.source.namespace.as_deref(), Some("shop"));
    assert_eq!(r.metrics_addr.port(), 0);
    assert_eq!(r.lease_duration_seconds, 6);
    assert_eq!(r.max_writes_per_second, 2.5);
    assert_eq!(r.max_write_burst, 1);
    r.validate().expect("valid");
    assert!(!r.no_leader_election);
    let cli = Cli::try_parse_from(["sidecarset-reconciler", "run", "--no-leader-election"])
        .expect("parses");
    let Command::Run(r) = cli.command else {
        panic!("run")
    };
    assert!(r.no_leader_election);
    // Loopback unless told otherwise: two local processes, or a laptop, expose nothing by default.
    assert_eq!(r.metrics_addr.to_string(), "127.0.0.1:8080");
    // Kruise's manager's client (QPS 30, burst 50).
    assert_eq!((r.max_writes_per_second, r.max_write_burst), (30.0, 50));
}

/// `run` with `args`, parsed and validated: the error text, if any.
fn run_error(args: &[&str]) -> Option<String> {
    let argv = ["sidecarset-reconciler", "run"].iter().chain(args);
    match Cli::try_parse_from(argv) {
        Err(e) => Some(e.to_string()),
        Ok(c) => match c.command {
            Command::Run(r) => r.validate().err().map(|e| e.to_string()),
            Command::Plan(_) | Command::Migrate(_) => None,
        },
    }
}

#[test]
fn a_write_budget_that_could_never_write_is_refused_by_flag_name() {
    for (args, flag) in [
        (
            &["--max-writes-per-second=0"][..],
            "--max-writes-per-second",
        ),
        (&["--max-writes-per-second=-1"], "--max-writes-per-second"),
        (&["--max-writes-per-second=NaN"], "--max-writes-per-second"),
        (&["--max-writes-per-second=inf"], "--max-writes-per-second"),
        (&["--max-writes-per-second=fast"], "--max-writes-per-second"),
        (&["--max-write-burst=0"], "--max-write-burst"),
        (&["--max-write-burst=-1"], "--max-write-burst"),
        (&["--max-write-burst=1.5"], "--max-write-burst"),
    ] {
        let msg = run_error(args).unwrap_or_else(|| panic!("{args:?} accepted"));
        assert!(msg.contains(flag), "{args:?}: {msg}");
    }
    assert_eq!(
        run_error(&["--max-writes-per-second=0.5", "--max-write-burst=1"]),
        None
    );
}

#[test]
fn lease_timings_out_of_client_go_order_are_refused_by_flag_name() {
    for (flags, named) in [
        (
            [
                "--lease-duration-seconds=5",
                "--renew-deadline-seconds=5",
                "--retry-period-seconds=1",
            ],
            "--renew-deadline-seconds (5) must be shorter than --lease-duration-seconds (5)",
        ),
        (
            [
                "--lease-duration-seconds=15",
                "--renew-deadline-seconds=4",
                "--retry-period-seconds=4",
            ],
            "--retry-period-seconds (4) must be shorter than --renew-deadline-seconds (4)",
        ),
    ] {
        let mut args = vec!["sidecarset-reconciler", "run"];
        args.extend(flags);
        let err = Cli::try_parse_from(args).map(|c| match c.command {
            Command::Run(r) => r.validate(),
            Command::Plan(_) | Command::Migrate(_) => Ok(()),
        });
        let msg = err.expect("parses").expect_err("refused").to_string();
        assert!(msg.contains(named), "{msg}");
    }
}

#[test]
fn help_documents_the_flags() {
    let mut cmd = Cli::command();
    let run = cmd
        .find_subcommand_mut("run")
        .expect("run")
        .render_long_help()
        .to_string();
    for flag in [
        "--settings",
        "--namespace",
        "--metrics-addr",
        "--no-leader-election",
        "--lease-namespace",
        "--lease-name",
        "--identity",
        "--lease-duration-seconds",
        "--renew-deadline-seconds",
        "--retry-period-seconds",
        "--policy-selector",
        "--max-writes-per-second",
        "--max-write-burst",
    ] {
        assert!(run.contains(flag), "run --help lacks {flag}:\n{run}");
    }
    let plan = cmd
        .find_subcommand_mut("plan")
        .expect("plan")
        .render_long_help()
        .to_string();
    for flag in ["--settings", "--namespace", "--policy", "--output"] {
        assert!(plan.contains(flag), "plan --help lacks {flag}:\n{plan}");
    }
    let cli = Cli::try_parse_from(["x", "plan", "-o", "json", "--policy", "p"]).expect("parses");
    assert!(matches!(cli.command, Command::Plan(p) if matches!(p.output, Output::Json)));
}

fn pod(name: &str, labels: Value, hash_without_image: &str) -> PodDigest {
    let entry = |h: &str| {
        json!({"filebeat": {"hash": h, "sidecarSetName": "filebeat", "sidecarList": ["filebeat"]}})
            .to_string()
    };
    let pod = json!({
        "metadata": {"name": name, "namespace": "shop", "uid": format!("u-{name}"),
            "resourceVersion": "5", "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": labels,
            "annotations": {"kruise.io/sidecarset-injected-list": "filebeat",
                "kruise.io/sidecarset-hash": entry("old"),
                "kruise.io/sidecarset-hash-without-image": entry(hash_without_image)}},
        "spec": {"containers": [{"name": "app", "image": "nginx"},
                                {"name": "filebeat", "image": "elastic/filebeat:7.16.2"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [
                {"name": "app", "ready": true, "imageID": "a"},
                {"name": "filebeat", "ready": true, "imageID": "b"}]}
    });
    PodDigest::new(&pod, &mut Interner::default())
}

/// A `web` Pod created before the set existed: no sidecar, no Kruise annotation.
fn uninjected(name: &str) -> PodDigest {
    let pod = json!({
        "metadata": {"name": name, "namespace": "shop", "uid": format!("u-{name}"),
            "resourceVersion": "5", "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "nginx"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    });
    PodDigest::new(&pod, &mut Interner::default())
}

/// The Filebeat set (7.16.3, `app: web`) with `extra` settings, as a `--settings` file in its own
/// directory (removed by the test).
fn settings_file(tag: &str, extra: &str) -> (std::path::PathBuf, Target) {
    let dir = std::env::temp_dir().join(format!("sidecarset-plan-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("settings.yaml");
    std::fs::write(
        &file,
        format!(
            "name: filebeat\nselector: {{matchLabels: {{app: web}}}}\n{extra}\
             containers: [{{name: filebeat, image: 'elastic/filebeat:7.16.3'}}]\n"
        ),
    )
    .unwrap();
    let target = Target::from_file(&file).unwrap();
    (dir, target)
}

#[test]
fn plan_says_what_it_would_upgrade_and_why_every_other_pod_waits() {
    let (dir, target) = settings_file("test", "");
    let set = target.set.as_ref().unwrap();
    let web = json!({"app": "web"});
    let pods = vec![
        pod("web-0", web.clone(), set.hash_without_image()),
        pod("web-1", web.clone(), set.hash_without_image()),
        pod("web-2", web, "changed-resources"),
        pod("db-0", json!({"app": "db"}), set.hash_without_image()),
        uninjected("web-9"),
    ];
    let reports = cli::reports(
        std::slice::from_ref(&target),
        &pods,
        &NamespaceLabels::new(),
        "2026-07-01T00:00:00Z",
    );
    let json = serde_json::to_value(&reports).unwrap();
    assert_eq!(json[0]["status"]["matchedPods"], 3);
    assert_eq!(json[0]["status"]["uninjectedPods"], 1);
    // `plan` names the revision as the policy does.
    assert_eq!(json[0]["status"]["latestRevision"], set.revision_name());
    assert_eq!(json[0]["status"]["collisionCount"], 0);
    let mut out = Vec::new();
    cli::print_text(&reports, &mut out);
    let text = String::from_utf8(out).unwrap();
    let expect = [
        "policy file:filebeat",
        "  set filebeat: round Upgrade; matched 3 updated 0 ready 3 updatedReady 0 notUpgradable 1 uninjected 1",
        "    upgrade shop/web-0: filebeat elastic/filebeat:7.16.2 -> elastic/filebeat:7.16.3",
        "    not_upgradable shop/web-2: condition SidecarSetUpgradable=False ({\"filebeat\":false})",
        "  left alone (2 matched):",
        "    shop/web-1: updateStrategy.maxUnavailable reached (1 unavailable, at most 1) (MaxUnavailableReached)",
        "  selected but created without the sidecars (1), never patched: recreate them to inject:",
        "    shop/web-9: NotInjected",
        "  not matched (1):",
        "    1 Pod(s): NotSelected",
    ];
    for line in expect {
        assert!(
            text.lines().any(|l| l == line),
            "missing line {line:?} in:\n{text}"
        );
    }
    assert!(
        text.contains("shop/web-2: not upgradable in place"),
        "{text}"
    );
    assert!(!text.contains("WARNING"), "maxUnavailable 1 of 3:\n{text}");
    assert_eq!(json[0]["budgetWarning"], Value::Null);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn plan_says_loudly_when_max_unavailable_lets_every_pod_go() {
    let (dir, target) = settings_file("150", "updateStrategy: {maxUnavailable: '150%'}\n");
    let set = target.set.as_ref().unwrap();
    let pods: Vec<PodDigest> = (0..3)
        .map(|i| {
            pod(
                &format!("web-{i}"),
                json!({"app": "web"}),
                set.hash_without_image(),
            )
        })
        .collect();
    let reports = cli::reports(
        std::slice::from_ref(&target),
        &pods,
        &NamespaceLabels::new(),
        "2026-07-01T00:00:00Z",
    );
    let mut out = Vec::new();
    cli::print_text(&reports, &mut out);
    let text = String::from_utf8(out).unwrap();
    let warning = text
        .lines()
        .find(|l| l.starts_with("  WARNING: "))
        .unwrap_or_else(|| panic!("no WARNING line in:\n{text}"));
    assert!(
        warning.contains("\"150%\"") && warning.contains("every matched Pod (now 3)"),
        "{warning}"
    );
    let upgrades = text
        .lines()
        .filter(|l| l.starts_with("    upgrade "))
        .count();
    assert_eq!(upgrades, 3, "what the warning means: all 3 at once\n{text}");
    assert!(serde_json::to_value(&reports).unwrap()[0]["budgetWarning"].is_string());
    std::fs::remove_dir_all(&dir).ok();
}
