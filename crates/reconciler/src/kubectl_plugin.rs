//! `kubectl sidecarset` (the `kubectl-sidecarset` binary): the sets' status, as a user reads it.
//!
//! Everything here is pure: rows are built from the policy objects and Events the binary fetched,
//! and rendered with `now` passed in, so the output is tested byte for byte without a cluster. The
//! layout is kubectl's own: `get` is a table through Go's `text/tabwriter` with 3 spaces of padding
//! (cli-runtime's printers), `describe` the same writer with 2 (kubectl's `tabbedString`), and ages
//! are apimachinery's `duration.HumanDuration`, so that the output sits beside `kubectl get` and
//! `kubectl describe` output without looking foreign.

use std::{collections::BTreeMap, path::PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use k8s_openapi::{
    api::core::v1::Event,
    jiff::{SignedDuration, Timestamp},
};
use kube::api::DynamicObject;
use serde::Serialize;
use serde_json::Value;

use crate::{
    policy::{RECONCILE_LABEL, STATUS_ANNOTATION},
    status::SetStatus,
};

#[derive(Debug, Parser)]
#[command(
    name = "kubectl-sidecarset",
    bin_name = "kubectl sidecarset",
    version,
    about = "The status of SidecarSets kept as Kubewarden ClusterAdmissionPolicies",
    long_about = "The status of SidecarSets kept as Kubewarden ClusterAdmissionPolicies.\n\n\
        A set is a ClusterAdmissionPolicy labelled sidecarset.kubewarden.io/reconcile=true; its \
        status is the sidecarset.kubewarden.io/status annotation the reconciler writes. The client \
        is configured as kubectl's: --kubeconfig, else KUBECONFIG, else ~/.kube/config, else the \
        in-cluster service account."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// Path to the kubeconfig file to use (instead of KUBECONFIG or ~/.kube/config).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The name of the kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One line per set: its Pods' counts from the status the reconciler wrote.
    Get(GetArgs),
    /// One set in full: its settings' selector and update strategy, every status field, its Events.
    Describe(DescribeArgs),
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// Policy names (default: every set).
    pub names: Vec<String>,
    /// Output format: the table (default), wide (more columns), json or yaml (the rows' data).
    #[arg(short, long, value_enum, value_name = "FORMAT")]
    pub output: Option<GetOutput>,
    /// Print the table without its header line.
    #[arg(long)]
    pub no_headers: bool,
    /// Extra label selector, ANDed with sidecarset.kubewarden.io/reconcile=true (not with names,
    /// as kubectl).
    #[arg(short = 'l', long, value_name = "SELECTOR", conflicts_with = "names")]
    pub selector: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GetOutput {
    Wide,
    Json,
    Yaml,
}

#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// The policy's name.
    pub name: String,
    /// List the set's Events (as kubectl describe's --show-events).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub show_events: bool,
}

/// What a policy's status annotation says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reported {
    /// No annotation: the reconciler has not written one yet (or does not select the policy).
    Missing,
    Status(Box<SetStatus>),
    /// An annotation that is not a status: shown as such rather than as zeros.
    Unreadable(String),
}

/// One set: the policy's name and metadata, and its status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetRow {
    pub name: String,
    pub created: Option<Timestamp>,
    pub generation: Option<i64>,
    pub labels: BTreeMap<String, String>,
    pub reported: Reported,
}

impl SetRow {
    pub fn from_policy(obj: &DynamicObject) -> SetRow {
        let m = &obj.metadata;
        let reported = match m
            .annotations
            .as_ref()
            .and_then(|a| a.get(STATUS_ANNOTATION))
        {
            None => Reported::Missing,
            Some(text) => match serde_json::from_str::<SetStatus>(text) {
                Ok(s) => Reported::Status(Box::new(s)),
                Err(e) => Reported::Unreadable(e.to_string()),
            },
        };
        SetRow {
            name: m.name.clone().unwrap_or_default(),
            created: m.creation_timestamp.as_ref().map(|t| t.0),
            generation: m.generation,
            labels: m.labels.clone().unwrap_or_default(),
            reported,
        }
    }

    pub fn status(&self) -> Option<&SetStatus> {
        match &self.reported {
            Reported::Status(s) => Some(s),
            _ => None,
        }
    }

    /// Why the set does not work as written, if it does not: what the ERROR column and the warnings
    /// under the table show.
    pub fn problem(&self) -> Option<String> {
        match &self.reported {
            Reported::Missing => None,
            Reported::Unreadable(e) => Some(format!("{STATUS_ANNOTATION} does not parse: {e}")),
            Reported::Status(s) => match (&s.error, &s.pinned_revision_error) {
                (Some(e), _) => Some(format!("invalid settings: {e}")),
                (None, Some(p)) => Some(format!("pinned revision: {p}")),
                (None, None) => None,
            },
        }
    }
}

/// Whether a policy is a set: the reconciler acts only on policies that opted in.
pub fn is_set(obj: &DynamicObject) -> bool {
    obj.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(RECONCILE_LABEL))
        .is_some_and(|v| v == "true")
}

/// apimachinery's `duration.HumanDuration`, which kubectl's AGE columns use: about two significant
/// figures, and up to 2 s in the future taken as clock skew ("0s").
pub fn human_duration(d: SignedDuration) -> String {
    // Go's int(d.Seconds()) truncates toward zero, as as_secs does.
    let seconds = d.as_secs();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        return format!("{}d{h}h", hours / 24);
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        return format!("{}y{dy}d", hours / 24 / 365);
    }
    format!("{}y", hours / 24 / 365)
}

/// kubectl's `translateTimestampSince`: the age of `t` at `now`, `<unknown>` without one.
pub fn age(t: Option<Timestamp>, now: Timestamp) -> String {
    match t {
        Some(t) => human_duration(now.duration_since(t)),
        None => "<unknown>".into(),
    }
}

/// Go's `text/tabwriter` with kubectl's settings (minwidth 0, padding `padding`, padded with spaces,
/// no flags): cells are tab-terminated, a column is as wide as its widest cell in a block of
/// consecutive lines that have it, plus the padding; a line's last cell is never padded. The same
/// algorithm rather than a per-table width, so that a describe section aligns exactly as kubectl
/// aligns it (a line without a tab ends the block above it).
pub fn tabwrite(text: &str, padding: usize) -> String {
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut out = String::with_capacity(text.len() * 2);
    let mut widths = Vec::new();
    format_block(&lines, &mut widths, 0, lines.len(), padding, &mut out);
    out
}

fn cell_width(s: &str) -> usize {
    s.chars().count()
}

fn format_block(
    lines: &[Vec<&str>],
    widths: &mut Vec<usize>,
    mut line0: usize,
    line1: usize,
    padding: usize,
    out: &mut String,
) {
    let column = widths.len();
    let mut this = line0;
    while this < line1 {
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        write_lines(lines, widths, line0, this, out);
        line0 = this;
        let mut width = 0;
        while this < line1 && column + 1 < lines[this].len() {
            width = width.max(cell_width(lines[this][column]) + padding);
            this += 1;
        }
        widths.push(width);
        format_block(lines, widths, line0, this, padding, out);
        widths.pop();
        line0 = this;
    }
    write_lines(lines, widths, line0, line1, out);
}

fn write_lines(
    lines: &[Vec<&str>],
    widths: &[usize],
    line0: usize,
    line1: usize,
    out: &mut String,
) {
    for (i, line) in lines.iter().enumerate().take(line1).skip(line0) {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if let Some(w) = widths.get(j) {
                out.extend(std::iter::repeat_n(' ', w.saturating_sub(cell_width(cell))));
            }
        }
        if i + 1 < lines.len() {
            out.push('\n');
        }
    }
}

/// A value made safe for one cell: tabs and line breaks would break the table apart.
fn cell(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

fn or_none(s: &str) -> String {
    if s.is_empty() {
        "<none>".into()
    } else {
        cell(s)
    }
}

pub const HEADERS: [&str; 9] = [
    "NAME",
    "MATCHED",
    "UPDATED",
    "READY",
    "UNINJECTED",
    "NOT-UPGRADABLE",
    "PAUSED",
    "LATEST REVISION",
    "AGE",
];

pub const WIDE_HEADERS: [&str; 6] = [
    "SET",
    "UPDATED-READY",
    "HASH",
    "COLLISIONS",
    "CONFLICTS",
    "ERROR",
];

/// One row's cells, default columns then (with `wide`) the wide ones. Without a status the counts
/// are `<none>`, as kubectl prints a printer column whose path is absent.
fn row_cells(row: &SetRow, wide: bool, now: Timestamp) -> Vec<String> {
    let status = row.status();
    let count = |f: fn(&SetStatus) -> u32| status.map_or("<none>".into(), |s| f(s).to_string());
    let mut cells = vec![
        cell(&row.name),
        count(|s| s.matched_pods),
        count(|s| s.updated_pods),
        count(|s| s.ready_pods),
        count(|s| s.uninjected_pods),
        count(|s| s.not_upgradable_pods),
        status.map_or("<none>".into(), |s| s.paused.to_string()),
        status.map_or("<none>".into(), |s| or_none(&s.latest_revision)),
        age(row.created, now),
    ];
    if wide {
        cells.extend([
            status.map_or("<none>".into(), |s| or_none(&s.name)),
            count(|s| s.updated_ready_pods),
            status.map_or("<none>".into(), |s| or_none(&s.hash)),
            status.map_or("<none>".into(), |s| s.collision_count.to_string()),
            status.map_or("<none>".into(), |s| s.conflicts.len().to_string()),
            row.problem().map_or("<none>".into(), |p| cell(&p)),
        ]);
    }
    cells
}

/// `get`'s table, sorted by name.
pub fn render_table(rows: &[SetRow], wide: bool, no_headers: bool, now: Timestamp) -> String {
    let mut sorted: Vec<&SetRow> = rows.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut text = String::new();
    if !no_headers {
        let mut headers: Vec<&str> = HEADERS.to_vec();
        if wide {
            headers.extend(WIDE_HEADERS);
        }
        text.push_str(&headers.join("\t"));
        text.push('\n');
    }
    for r in sorted {
        text.push_str(&row_cells(r, wide, now).join("\t"));
        text.push('\n');
    }
    tabwrite(&text, 3)
}

/// What `get` says on stderr under the table: sets that do not work as written would otherwise look
/// like sets with no Pods (invalid settings zero every count).
pub fn warnings(rows: &[SetRow]) -> Vec<String> {
    let mut sorted: Vec<&SetRow> = rows.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = Vec::new();
    for r in sorted {
        if let Some(p) = r.problem() {
            out.push(format!("Warning: {}: {}", r.name, cell(&p)));
        }
        for c in r
            .status()
            .map(|s| s.conflicts.as_slice())
            .unwrap_or_default()
        {
            out.push(format!("Warning: {}: conflict: {}", r.name, cell(c)));
        }
    }
    out
}

/// One row as `-o json`/`-o yaml` print it: the policy's name and metadata, and the status exactly
/// as the annotation holds it (`null` without one).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RowData<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    pub status: Option<&'a SetStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_error: Option<String>,
}

/// `-o json`/`-o yaml`: a list of [`RowData`], sorted by name (a list even for one name, so a script
/// reads every answer the same way).
pub fn render_data(rows: &[SetRow], output: GetOutput) -> Result<String, String> {
    let mut sorted: Vec<&SetRow> = rows.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let data: Vec<RowData<'_>> = sorted
        .iter()
        .map(|r| RowData {
            name: &r.name,
            creation_timestamp: r.created.map(|t| t.to_string()),
            generation: r.generation,
            status: r.status(),
            status_error: match &r.reported {
                Reported::Unreadable(e) => Some(e.clone()),
                _ => None,
            },
        })
        .collect();
    match output {
        GetOutput::Json => serde_json::to_string_pretty(&data)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string()),
        GetOutput::Yaml => serde_yaml::to_string(&data).map_err(|e| e.to_string()),
        GetOutput::Wide => Err("wide is a table".into()),
    }
}

/// kubectl's message for names the API server does not have.
pub fn not_found(name: &str) -> String {
    format!(
        "Error from server (NotFound): clusteradmissionpolicies.policies.kubewarden.io \"{name}\" not found"
    )
}

/// A policy that exists but is no set: the reconciler never acts on it, so it has no status.
pub fn not_a_set(name: &str) -> String {
    format!(
        "error: clusteradmissionpolicies.policies.kubewarden.io \"{name}\" is not a SidecarSet: it lacks the label {RECONCILE_LABEL}=true"
    )
}

/// One Event as describe lists it, from the `core/v1` view kubectl reads (the reconciler writes
/// `events.k8s.io/v1`; the API server serves both).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRow {
    pub type_: String,
    pub reason: String,
    /// `eventTime`, else `firstTimestamp`.
    pub first: Option<Timestamp>,
    /// `series.lastObservedTime`, else `lastTimestamp`: only for a repeated Event.
    pub last: Option<Timestamp>,
    /// The series' count, else `count`.
    pub count: i32,
    /// `source.component`, else `reportingComponent`.
    pub from: String,
    pub message: String,
}

impl EventRow {
    pub fn from_event(e: &Event) -> EventRow {
        let first = e
            .event_time
            .as_ref()
            .map(|t| t.0)
            .or_else(|| e.first_timestamp.as_ref().map(|t| t.0));
        let (last, count) = match &e.series {
            Some(s) => (
                s.last_observed_time.as_ref().map(|t| t.0),
                s.count.unwrap_or(0),
            ),
            None => (e.last_timestamp.as_ref().map(|t| t.0), e.count.unwrap_or(0)),
        };
        let from = e
            .source
            .as_ref()
            .and_then(|s| s.component.clone())
            .filter(|c| !c.is_empty())
            .or_else(|| e.reporting_component.clone())
            .unwrap_or_default();
        EventRow {
            type_: e.type_.clone().unwrap_or_default(),
            reason: e.reason.clone().unwrap_or_default(),
            first,
            last,
            count,
            from,
            message: e.message.clone().unwrap_or_default(),
        }
    }

    /// When the Event was last seen: what the list is sorted by.
    fn seen(&self) -> Option<Timestamp> {
        self.last.or(self.first)
    }

    /// kubectl's Age cell: `5m`, or `30s (x4 over 5m)` for a series.
    fn age(&self, now: Timestamp) -> String {
        let first = age(self.first, now);
        if self.count > 1 {
            format!("{} (x{} over {first})", age(self.last, now), self.count)
        } else {
            first
        }
    }
}

/// `metav1.FormatLabelSelector` for a selector in JSON: `k=v` and expressions, sorted by key;
/// `<none>` for an absent or empty one.
pub fn format_selector(sel: Option<&Value>) -> String {
    let Some(sel) = sel.filter(|s| !s.is_null()) else {
        return "<none>".into();
    };
    let mut parts: Vec<(String, String)> = Vec::new();
    if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in m {
            parts.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or_default())));
        }
    }
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
        let values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let text = match e
            .get("operator")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            other => format!("{key} {other} ({})", values.join(",")),
        };
        parts.push((key.to_string(), text));
    }
    parts.sort();
    if parts.is_empty() {
        return "<none>".into();
    }
    parts
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(",")
}

fn json_scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The update strategy on one line, as the settings spell it (defaults are the core's business: a
/// field left out is left out here too).
fn update_strategy(settings: &Value) -> String {
    let Some(u) = settings.get("updateStrategy").filter(|u| !u.is_null()) else {
        return "<none>".into();
    };
    let mut parts = vec![
        u.get("type")
            .and_then(Value::as_str)
            .unwrap_or("RollingUpdate")
            .to_string(),
    ];
    for key in ["maxUnavailable", "partition"] {
        if let Some(v) = u.get(key).filter(|v| !v.is_null()) {
            parts.push(format!("{key} {}", json_scalar(v)));
        }
    }
    if let Some(s) = u.get("selector").filter(|s| !s.is_null()) {
        parts.push(format!("selector {}", format_selector(Some(s))));
    }
    if u.get("paused").and_then(Value::as_bool) == Some(true) {
        parts.push("paused".into());
    }
    parts.join(", ")
}

/// kubectl's multi-line cell (its `printLabelsMultiline`): the first value after the label, the
/// others each on a line of their own in the same column.
fn multiline(out: &mut String, label: &str, values: &[String]) {
    if values.is_empty() {
        out.push_str(&format!("{label}\t<none>\n"));
        return;
    }
    for (i, v) in values.iter().enumerate() {
        let prefix = if i == 0 { label } else { "" };
        out.push_str(&format!("{prefix}\t{}\n", cell(v)));
    }
}

fn containers(settings: &Value, key: &str) -> Vec<String> {
    settings
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            format!(
                "{}: {}",
                c.get("name").and_then(Value::as_str).unwrap_or_default(),
                c.get("image").and_then(Value::as_str).unwrap_or("<none>")
            )
        })
        .collect()
}

/// `describe`: the policy, a summary of its settings (`spec.settings`, when it has any), every
/// status field, and the Events about it, oldest first as kubectl lists them.
pub fn render_describe(
    row: &SetRow,
    settings: Option<&Value>,
    events: Option<&[EventRow]>,
    now: Timestamp,
) -> String {
    let mut head = String::new();
    head.push_str(&format!("Name:\t{}\n", cell(&row.name)));
    let set_name = row
        .status()
        .map(|s| s.name.clone())
        .filter(|n| !n.is_empty())
        .or_else(|| {
            settings
                .and_then(|s| s.get("name"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_default();
    head.push_str(&format!("Set:\t{}\n", or_none(&set_name)));
    let labels: Vec<String> = row.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    multiline(&mut head, "Labels:", &labels);
    head.push_str(&format!(
        "CreationTimestamp:\t{}\n",
        row.created.map_or("<unknown>".into(), |t| t
            .strftime("%a, %d %b %Y %H:%M:%S %z")
            .to_string())
    ));
    head.push_str(&format!(
        "Generation:\t{}\n",
        row.generation.map_or("<none>".into(), |g| g.to_string())
    ));
    match settings {
        None => head.push_str("Settings:\t<none>\n"),
        Some(s) => {
            head.push_str("Settings:\n");
            head.push_str(&format!(
                "  Selector:\t{}\n",
                format_selector(s.get("selector"))
            ));
            if let Some(ns) = s.get("namespace").and_then(Value::as_str) {
                head.push_str(&format!("  Namespace:\t{}\n", cell(ns)));
            }
            head.push_str(&format!(
                "  Namespace Selector:\t{}\n",
                format_selector(s.get("namespaceSelector"))
            ));
            head.push_str(&format!("  Update Strategy:\t{}\n", update_strategy(s)));
            let init = containers(s, "initContainers");
            if !init.is_empty() {
                multiline(&mut head, "  Init Containers:", &init);
            }
            multiline(&mut head, "  Containers:", &containers(s, "containers"));
        }
    }
    match &row.reported {
        Reported::Missing => {
            head.push_str("Status:\t<none> (the reconciler has not written one)\n");
        }
        Reported::Unreadable(e) => {
            head.push_str(&format!(
                "Status:\t<unreadable: {STATUS_ANNOTATION} does not parse: {}>\n",
                cell(e)
            ));
        }
        Reported::Status(s) => {
            head.push_str("Status:\n");
            let observed = match row.generation {
                Some(g) if g > s.observed_generation => format!(
                    "{} (the policy is at generation {g}: the counts are for older settings)",
                    s.observed_generation
                ),
                _ => s.observed_generation.to_string(),
            };
            let fields: [(&str, String); 12] = [
                ("Observed Generation", observed),
                ("Matched Pods", s.matched_pods.to_string()),
                ("Updated Pods", s.updated_pods.to_string()),
                ("Ready Pods", s.ready_pods.to_string()),
                ("Updated Ready Pods", s.updated_ready_pods.to_string()),
                ("Not Upgradable Pods", s.not_upgradable_pods.to_string()),
                ("Uninjected Pods", s.uninjected_pods.to_string()),
                ("Paused", s.paused.to_string()),
                ("Update Type", or_none(&s.update_type)),
                ("Hash", or_none(&s.hash)),
                ("Latest Revision", or_none(&s.latest_revision)),
                ("Collision Count", s.collision_count.to_string()),
            ];
            for (k, v) in fields {
                head.push_str(&format!("  {k}:\t{v}\n"));
            }
            multiline(&mut head, "  Conflicts:", &s.conflicts);
            for (k, v) in [
                ("Pinned Revision Error", &s.pinned_revision_error),
                ("Error", &s.error),
            ] {
                let v = v.as_deref().map_or("<none>".into(), cell);
                head.push_str(&format!("  {k}:\t{v}\n"));
            }
        }
    }
    let Some(events) = events else {
        return tabwrite(&head, 2);
    };
    if events.is_empty() {
        head.push_str("Events:\t<none>\n");
        return tabwrite(&head, 2);
    }
    // kubectl flushes before the Events table: its columns align on their own.
    let mut sorted: Vec<&EventRow> = events.iter().collect();
    sorted.sort_by_key(|e| e.seen());
    let mut table = String::from("Events:\n  Type\tReason\tAge\tFrom\tMessage\n");
    table.push_str("  ----\t------\t----\t----\t-------\n");
    for e in sorted {
        table.push_str(&format!(
            "  {}\t{}\t{}\t{}\t{}\n",
            cell(&e.type_),
            cell(&e.reason),
            e.age(now),
            cell(&e.from),
            cell(&e.message)
        ));
    }
    tabwrite(&head, 2) + &tabwrite(&table, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(secs: i64) -> SignedDuration {
        SignedDuration::from_secs(secs)
    }

    const MS: i64 = 1_000_000;

    fn ns(n: i64) -> SignedDuration {
        SignedDuration::from_nanos(n)
    }

    #[test]
    fn human_duration_is_apimachinerys() {
        const H: i64 = 3600;
        const DAY: i64 = 24 * H;
        const YEAR: i64 = 365 * DAY;
        // apimachinery's own table (duration_test.go, TestHumanDuration and its boundaries).
        let cases: &[(SignedDuration, &str)] = &[
            (d(1), "1s"),
            (d(70), "70s"),
            (d(190), "3m10s"),
            (d(70 * 60), "70m"),
            (d(47 * H), "47h"),
            (d(49 * H), "2d1h"),
            (d((8 * 24 + 2) * H), "8d"),
            (d(367 * DAY), "367d"),
            (d(2 * YEAR + 25 * H), "2y1d"),
            (d(8 * YEAR + 2 * H), "8y"),
            (d(-2), "<invalid>"),
            (ns(-2_000_000_000 + 1), "0s"),
            (d(0), "0s"),
            (ns(1_000_000_000 - MS), "0s"),
            (ns(120_000_000_000 - MS), "119s"),
            (d(120), "2m"),
            (d(121), "2m1s"),
            (ns(600_000_000_000 - MS), "9m59s"),
            (d(600), "10m"),
            (d(601), "10m"),
            (ns(3 * H * 1_000_000_000 - MS), "179m"),
            (d(3 * H), "3h"),
            (d(3 * H + 60), "3h1m"),
            (ns(8 * H * 1_000_000_000 - MS), "7h59m"),
            (d(8 * H), "8h"),
            (d(8 * H + 59 * 60), "8h"),
            (ns(2 * DAY * 1_000_000_000 - MS), "47h"),
            (d(2 * DAY), "2d"),
            (d(2 * DAY + H), "2d1h"),
            (ns(8 * DAY * 1_000_000_000 - MS), "7d23h"),
            (d(8 * DAY), "8d"),
            (d(8 * DAY + 23 * H), "8d"),
            (ns(2 * YEAR * 1_000_000_000 - MS), "729d"),
            (d(2 * YEAR), "2y"),
            (d(2 * YEAR + 23 * H), "2y"),
            (d(2 * YEAR + 23 * H + 59 * 60), "2y"),
            (ns((2 * YEAR + DAY) * 1_000_000_000 - MS), "2y"),
            (d(2 * YEAR + DAY), "2y1d"),
            (d(3 * YEAR), "3y"),
            (d(7 * YEAR), "7y"),
            (ns(8 * YEAR * 1_000_000_000 - MS), "7y364d"),
            (d(8 * YEAR), "8y"),
            (d(8 * YEAR + 364 * DAY), "8y"),
            (d(9 * YEAR), "9y"),
            // The brief's examples.
            (d(45), "45s"),
            (d(5 * 60), "5m"),
        ];
        for (dur, want) in cases {
            assert_eq!(human_duration(*dur), *want, "{dur:?}");
        }
    }

    #[test]
    fn tabwriter_aligns_blocks_as_gos() {
        // Go: tabwriter.NewWriter(&buf, 0, 8, 2, ' ', 0) over the same input.
        let text = "a:\t1\nlonger:\t2\nSection:\n  x:\t3\n  yy yy:\t4\nlast\tcell\t\n";
        assert_eq!(
            tabwrite(text, 2),
            "a:       1\nlonger:  2\nSection:\n  x:      3\n  yy yy:  4\nlast      cell  \n"
        );
        // A line with fewer cells ends the block of the columns it lacks only (Go's output, checked
        // with go run).
        assert_eq!(
            tabwrite("a\tb\tc\nlong\tx\naa\tbbbb\tc\n", 1),
            "a    b c\nlong x\naa   bbbb c\n"
        );
        assert_eq!(tabwrite("é\tx\nab\ty\n", 1), "é  x\nab y\n");
        assert_eq!(tabwrite("", 3), "");
    }
}
