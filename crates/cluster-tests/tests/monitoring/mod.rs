//! Cluster test: every metric the Grafana dashboard and the PrometheusRule name is one the reconciler exports.
//!
//! Both files (charts/sidecarset/files/) are plain text that nothing compiles against the reconciler:
//! a metric renamed in crates/reconciler/src/metrics.rs would leave a panel empty and an alert that
//! never fires, with promtool and the dashboard checks (hack/check-monitoring.sh) still passing. So
//! the names are read out of the queries and looked up in a real reconciler's `/metrics`, scraped in
//! the middle of a rollout that a never-ready image holds at `maxUnavailable` (the stall
//! SidecarSetRolloutStalled is for), so that the per-set families have samples.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use sidecarset_cluster_tests::{
    kubelet::KubeletConfig, pods::FILEBEAT_NEW, reconciler::metric_value, testns::TestNs, wait,
};

use super::{ROLLOUT, filebeat, filebeat_pods, wait_status, with_image};

const PREFIX: &str = "sidecarset_reconciler_";

/// Metrics from outside the reconciler that the queries may name: none, every panel and alert is
/// about the reconciler's own metrics. One added here (`up`, a kube-state-metrics series) is a
/// dependency of the chart's monitoring on another exporter: say which in its comment.
const OTHER_METRICS: &[&str] = &[];

pub async fn dashboard_and_alert_metrics_exist(t: Arc<TestNs>) -> Result<()> {
    lexer_finds_metric_names()?;
    let queries = queries()?;
    ensure!(
        queries.len() >= 20,
        "only {} queries read from the dashboard and the rules: the files were not read as meant",
        queries.len()
    );

    let settings = filebeat(json!(1))?;
    let policy = t.policy(&settings).await?;
    // A second set with invalid settings: its failed rounds are what puts the failures family on
    // /metrics at all (a family with no label set yet is not encoded).
    let mut bad = settings.clone();
    bad["updateStrategy"]["partition"] = json!("ten");
    let invalid = t.policy_named(&format!("{}-invalid", t.ns), &bad).await?;
    let (kubelet, _) =
        filebeat_pods(&t, &settings, 3, |_| vec![], KubeletConfig::default()).await?;
    kubelet.break_image(FILEBEAT_NEW);
    let mut rec = t.reconciler(&t.policy_source(), &[], None)?;
    wait_status(&policy, "status: 3 matched and ready", |s| {
        s["matchedPods"] == 3 && s["updatedReadyPods"] == 3
    })
    .await?;
    policy
        .set_settings(&with_image(&settings, "filebeat", FILEBEAT_NEW)?)
        .await?;
    let set = [("set", policy.name.as_str())];
    let invalid_set = [("set", invalid.name.as_str())];
    wait::until(
        ROLLOUT,
        "the rollout held at maxUnavailable 1 by the never-ready image, and the invalid set, in the metrics",
        || async {
            let text = rec.metrics()?;
            let held = metric_value(&text, "sidecarset_reconciler_updated_pods", &set) == 1.0
                && metric_value(&text, "sidecarset_reconciler_upgrades_pending", &set) == 1.0
                && metric_value(&text, "sidecarset_reconciler_writes_total", &set) >= 1.0
                && metric_value(&text, "sidecarset_reconciler_invalid_settings", &invalid_set) == 1.0
                && metric_value(
                    &text,
                    "sidecarset_reconciler_reconcile_failures_total",
                    &invalid_set,
                ) >= 1.0;
            Ok(held.then_some(()))
        },
        async || rec.log_tail(20),
    )
    .await?;
    // Held, not moving on: a few rounds later still one Pod updated, and upgrades still pending.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let text = rec.metrics()?;
    ensure!(
        metric_value(&text, "sidecarset_reconciler_updated_pods", &set) == 1.0
            && metric_value(&text, "sidecarset_reconciler_upgrades_pending", &set) == 1.0
            && metric_value(&text, "sidecarset_reconciler_paused", &set) == 0.0,
        "the held rollout's gauges moved:\n{text}"
    );

    let exported = Exported::parse(&text);
    let mut used: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut foreign: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (origin, q) in &queries {
        for name in metric_names(q) {
            let to = if name.starts_with(PREFIX) {
                &mut used
            } else if OTHER_METRICS.contains(&name.as_str()) {
                continue;
            } else {
                &mut foreign
            };
            to.entry(name).or_default().insert(origin.clone());
        }
    }
    if !foreign.is_empty() {
        bail!(
            "the dashboard or the rules name metrics from outside {PREFIX}* that are not allowed \
             (OTHER_METRICS): {foreign:#?}"
        );
    }
    ensure!(
        used.len() >= 15,
        "only {} reconciler metrics named: {:?}",
        used.len(),
        used.keys()
    );

    let mut missing = Vec::new();
    let mut declared_only = Vec::new();
    for (name, origins) in &used {
        match exported.find(name) {
            Found::Sample => {}
            Found::TypeOnly(family) => declared_only.push(format!("{name} ({family})")),
            Found::No => missing.push(format!("{name} (in {origins:?})")),
        }
    }
    ensure!(
        missing.is_empty(),
        "named by the dashboard or the rules, not exported by the reconciler:\n  {}\n/metrics:\n{text}",
        missing.join("\n  ")
    );
    // Every family the files name was given a sample above (the rollout, the invalid set's
    // failures); a `# TYPE` alone would mean a metric that the story no longer sets.
    ensure!(
        declared_only.is_empty(),
        "declared but without a sample: {declared_only:?}\n{text}"
    );
    println!(
        "monitoring: {} reconciler metrics named by {} queries, each exported with a sample: {:?}",
        used.len(),
        queries.len(),
        used.keys()
    );
    // A deleted policy's series go (within the reconciler's 10 s sweep): its gauges would otherwise
    // stay at their last values, and SidecarSetInvalidSettings would never resolve.
    invalid.delete().await?;
    let gone = format!("set=\"{}\"", invalid.name);
    wait::until(
        Duration::from_secs(30),
        "the deleted policy's series to leave /metrics",
        || {
            let gone = &gone;
            let rec = &rec;
            async move {
                Ok(rec.metrics().ok().filter(|m| {
                    // The counters that carry more than the set (writes, failures) stay: a
                    // stale counter does not move, so no rate alert fires on it.
                    !m.lines().any(|l| {
                        l.contains(gone.as_str())
                            && !l.starts_with("sidecarset_reconciler_writes_total")
                            && !l.starts_with("sidecarset_reconciler_reconcile_failures_total")
                    })
                }))
            }
        },
        async || rec.metrics().unwrap_or_default(),
    )
    .await?;
    ensure!(
        metric_value(&rec.metrics()?, "sidecarset_reconciler_matched_pods", &set) == 3.0,
        "the live set's series went with the deleted one's"
    );
    rec.check_running()?;
    Ok(())
}

fn repo_file(path: &str) -> Result<String> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))
}

/// Every query: the dashboard's panel targets and variable queries, the rules' `expr`s, each with
/// where it came from.
fn queries() -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let dashboard: Value = serde_json::from_str(&repo_file(
        "charts/sidecarset/files/grafana-dashboard.json",
    )?)?;
    let mut panels: Vec<&Value> = Vec::new();
    for p in dashboard["panels"].as_array().into_iter().flatten() {
        panels.push(p);
        panels.extend(p["panels"].as_array().into_iter().flatten());
    }
    for p in panels {
        for target in p["targets"].as_array().into_iter().flatten() {
            if let Some(e) = target["expr"].as_str() {
                out.push((
                    format!("panel {:?}", p["title"].as_str().unwrap_or("?")),
                    e.to_string(),
                ));
            }
        }
    }
    for v in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let q = v["query"]["query"].as_str().or(v["query"].as_str());
        if v["type"] == "query"
            && let Some(q) = q
        {
            // label_values(SELECTOR, LABEL): the label is no metric.
            let selector = q
                .strip_prefix("label_values(")
                .and_then(|r| r.rsplit_once(','))
                .map_or(q, |(s, _)| s);
            out.push((
                format!("variable {:?}", v["name"].as_str().unwrap_or("?")),
                selector.to_string(),
            ));
        }
    }
    let rules: serde_yaml::Value =
        serde_yaml::from_str(&repo_file("charts/sidecarset/files/prometheus-rules.yaml")?)?;
    for g in rules["groups"].as_sequence().into_iter().flatten() {
        for r in g["rules"].as_sequence().into_iter().flatten() {
            let name = r["alert"].as_str().or(r["record"].as_str()).unwrap_or("?");
            let e = r["expr"]
                .as_str()
                .with_context(|| format!("rule {name} has no expr"))?;
            out.push((format!("rule {name}"), e.to_string()));
        }
    }
    Ok(out)
}

/// The metric names a PromQL expression reads: identifiers that are not functions, keywords,
/// label names (matchers, `by`/`without`/`on`/`ignoring`/`group_*` lists), strings or durations.
fn metric_names(expr: &str) -> BTreeSet<String> {
    // Aggregation operators too: `sum by (le) (...)` puts no parenthesis right after `sum`.
    const KEYWORDS: &[&str] = &[
        "and",
        "or",
        "unless",
        "offset",
        "bool",
        "inf",
        "nan",
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
        "limitk",
        "limit_ratio",
    ];
    const LABEL_LISTS: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let b = expr.as_bytes();
    let mut names = BTreeSet::new();
    let mut i = 0;
    // After `by`, `without`, ...: the parenthesised list that follows holds label names.
    let mut labels_next = false;
    while i < b.len() {
        let c = b[i] as char;
        match c {
            '"' | '\'' | '`' => {
                i += 1;
                while i < b.len() && b[i] as char != c {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            '{' | '[' => {
                let close = if c == '{' { b'}' } else { b']' };
                while i < b.len() && b[i] != close {
                    if b[i] == b'"' {
                        i += 1;
                        while i < b.len() && b[i] != b'"' {
                            i += if b[i] == b'\\' { 2 } else { 1 };
                        }
                    }
                    i += 1;
                }
                i += 1;
            }
            '(' if labels_next => {
                while i < b.len() && b[i] != b')' {
                    i += 1;
                }
                i += 1;
                labels_next = false;
            }
            '0'..='9' | '.' => {
                // A number or a duration (`30m`, `1e3`): digits and the letters glued to them.
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                    i += 1;
                }
            }
            '$' => {
                // A Grafana variable outside a matcher or range.
                i += 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':')
                {
                    i += 1;
                }
                let word = &expr[start..i];
                labels_next = false;
                let next = expr[i..].trim_start().chars().next();
                let lower = word.to_ascii_lowercase();
                if LABEL_LISTS.contains(&lower.as_str()) {
                    labels_next = true;
                } else if KEYWORDS.contains(&lower.as_str()) || next == Some('(') {
                    // A keyword, or a function call.
                } else {
                    names.insert(word.to_string());
                }
            }
            _ => i += 1,
        }
    }
    names
}

/// The name extraction on expressions shaped like the files' own, so that a lexer that stopped
/// seeing names (and so found nothing missing) fails here.
fn lexer_finds_metric_names() -> Result<()> {
    let cases: [(&str, &[&str]); 4] = [
        (
            r#"histogram_quantile(0.9, sum by (le) (rate(sidecarset_reconciler_reconcile_duration_seconds_bucket{job=~"$job", set=~"$set"}[$__rate_interval])))"#,
            &["sidecarset_reconciler_reconcile_duration_seconds_bucket"],
        ),
        (
            "max without (instance, pod) (sidecarset_reconciler_updated_pods offset 30m) \
             and on (set) group_left (pod) up == 0 or absent(kube_pod_info)",
            &["kube_pod_info", "sidecarset_reconciler_updated_pods", "up"],
        ),
        (
            r#"sum without (error) (rate(a_total{error!~"x|y", s="{b}"}[10m])) / b_total > bool 0.5"#,
            &["a_total", "b_total"],
        ),
        (
            "sidecarset_reconciler_writes_queued > 0 and deriv(sidecarset_reconciler_writes_queued[15m]) >= 0",
            &["sidecarset_reconciler_writes_queued"],
        ),
    ];
    for (expr, want) in cases {
        let got: Vec<String> = metric_names(expr).into_iter().collect();
        ensure!(
            got == want,
            "metric names of {expr:?}: {got:?}, want {want:?}"
        );
    }
    Ok(())
}

enum Found {
    Sample,
    /// Declared by `# TYPE` (the family named here) with no sample yet.
    TypeOnly(String),
    No,
}

/// What an OpenMetrics exposition holds: the names its samples carry, and its families by type.
struct Exported {
    samples: BTreeSet<String>,
    families: BTreeMap<String, String>,
}

impl Exported {
    fn parse(text: &str) -> Self {
        let mut samples = BTreeSet::new();
        let mut families = BTreeMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut it = rest.split_whitespace();
                if let (Some(name), Some(kind)) = (it.next(), it.next()) {
                    families.insert(name.to_string(), kind.to_string());
                }
            } else if !line.starts_with('#') && !line.trim().is_empty() {
                let end = line.find(['{', ' ']).unwrap_or(line.len());
                samples.insert(line[..end].to_string());
            }
        }
        Exported { samples, families }
    }

    /// A query names a counter as `<family>_total` and a histogram as `<family>_bucket`, `_sum` or
    /// `_count`; OpenMetrics declares the family without the suffix.
    fn find(&self, name: &str) -> Found {
        if self.samples.contains(name) {
            return Found::Sample;
        }
        let suffixes: &[(&str, &str)] = &[
            ("_total", "counter"),
            ("_bucket", "histogram"),
            ("_sum", "histogram"),
            ("_count", "histogram"),
        ];
        let family = suffixes
            .iter()
            .find_map(|(suffix, kind)| {
                let base = name.strip_suffix(suffix)?;
                (self.families.get(base).map(String::as_str) == Some(*kind)).then_some(base)
            })
            .or_else(|| {
                self.families
                    .get(name)
                    .filter(|k| *k == "gauge" || *k == "unknown")
                    .map(|_| name)
            });
        match family {
            Some(f) => Found::TypeOnly(format!("# TYPE {f} {}", self.families[f])),
            None => Found::No,
        }
    }
}
