//! Command line: `run` (the controller) and `plan` (what a round would do now, read-only).

use std::{
    io::Write,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, atomic::AtomicBool},
    time::Duration,
};

use clap::{Args, Parser, Subcommand, ValueEnum};
use k8s_openapi::api::{apps::v1::ControllerRevision, core::v1::Namespace};
use kube::{
    Api, Client,
    api::{DynamicObject, ListParams},
};
use serde::{Serialize, Serializer};
use serde_json::{Value, json};
use sidecarset_core::{
    SidecarSet,
    conflict::{self, Conflict},
    revision::{CUSTOM_VERSION_LABEL, SET_NAME_LABEL, pinned},
    time::now_rfc3339,
    upgrade::{Interner, PodDigest, Reason},
};

use crate::{
    Error, Result, controller,
    leader::LeaseConfig,
    metrics::Metrics,
    pacing::WriteRate,
    policy::{self, SettingsProblem, Target},
    round::{LeftAlone, NamespaceLabels, SetRound},
    server::{self, ServerState},
    snapshot::WatchedPod,
    writer::PodWrite,
};

#[derive(Debug, Parser)]
#[command(
    name = "sidecarset-reconciler",
    version,
    about = "Upgrades SidecarSet sidecars in place on running Pods",
    long_about = "Upgrades SidecarSet sidecars in place on running Pods.\n\n\
        The sets come from ClusterAdmissionPolicies labelled sidecarset.kubewarden.io/reconcile=true \
        (their spec.settings), or from one file with --settings. The Kubernetes client is configured \
        from KUBECONFIG, ~/.kube/config or the in-cluster service account, in that order. Logging: \
        RUST_LOG (default info)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log JSON lines instead of text.
    #[arg(long, global = true, env = "LOG_JSON")]
    pub log_json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the controller.
    Run(RunArgs),
    /// Print, for the cluster as it is, which Pods a round would upgrade now and why each other Pod
    /// is left alone, and the policies whose sets conflict (as Kruise's validation would refuse the
    /// pair). Reads only.
    Plan(PlanArgs),
    /// Write one ClusterAdmissionPolicy per Kruise SidecarSet (from the cluster, or --from-file),
    /// and report per set what moving its Pods over would do: matched Pods, Pods the reconciler would
    /// patch (none for a clean move), Pods selected without the sidecars. Reads only; fails when a
    /// set cannot be converted, two sets conflict (as Kruise's validation refuses them), or a move is
    /// not clean.
    Migrate(crate::migrate::MigrateArgs),
}

#[derive(Debug, Args, Clone)]
pub struct Source {
    /// Only Pods of this namespace (default: all namespaces); only this Namespace's labels are read.
    #[arg(long, env = "WATCH_NAMESPACE", value_name = "NS")]
    pub namespace: Option<String>,
    /// Extra label selector for the ClusterAdmissionPolicies, ANDed with
    /// sidecarset.kubewarden.io/reconcile=true (e.g. to keep several reconcilers apart).
    #[arg(long, value_name = "SELECTOR")]
    pub policy_selector: Option<String>,
    /// One set from a YAML or JSON file (the settings, or a whole ClusterAdmissionPolicy whose
    /// spec.settings is used) instead of ClusterAdmissionPolicies. No policy object: the status is
    /// logged and exported as metrics, not written anywhere.
    #[arg(long, value_name = "FILE")]
    pub settings: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub source: Source,
    /// Where /metrics, /healthz and /readyz are served (port 0: any free port, logged at start).
    /// Loopback unless told otherwise: the Deployment passes 0.0.0.0:8080 for its probes and scrapes.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    pub metrics_addr: SocketAddr,
    /// Namespace of the leader-election Lease (coordination.k8s.io/v1).
    #[arg(
        long,
        env = "POD_NAMESPACE",
        default_value = "sidecarset-system",
        value_name = "NS"
    )]
    pub lease_namespace: String,
    /// Namespace of the sets' revision history (apps/v1 ControllerRevisions, one per distinct
    /// revision of a set's settings, as Kruise keeps them in its manager's namespace). Default: the
    /// namespace the reconciler runs in ($POD_NAMESPACE, which the Deployment sets), else
    /// sidecarset-system. The RBAC of deploy/reconciler grants controllerrevisions there only.
    #[arg(
        long,
        env = "POD_NAMESPACE",
        default_value = "sidecarset-system",
        value_name = "NS"
    )]
    pub revision_namespace: String,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "sidecarset-reconciler", value_name = "NAME")]
    pub lease_name: String,
    /// This instance's holder identity in the Lease (default: $POD_NAME, the Pod name in a
    /// Deployment; else $HOSTNAME and the process id, so that two processes on one machine are two
    /// candidates).
    #[arg(long, env = "POD_NAME", value_name = "ID")]
    pub identity: Option<String>,
    /// Write without holding a Lease: for a single replica only.
    #[arg(long)]
    pub no_leader_election: bool,
    /// How long a standby waits, after it last saw the Lease change, before it takes the Lease
    /// over (client-go's LeaseDuration). Judged on each replica's own monotonic clock, so clock skew
    /// between nodes does not matter.
    #[arg(long, default_value_t = 15, value_name = "SECONDS")]
    pub lease_duration_seconds: u64,
    /// How long the leader keeps writing after its last successful renewal was sent (client-go's
    /// RenewDeadline): past it, every write is dropped, even while a renewal call still hangs. Must
    /// be shorter than --lease-duration-seconds: the difference is the margin for a write sent just
    /// before the deadline to land.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub renew_deadline_seconds: u64,
    /// How often the leader renews and a standby retries (client-go's RetryPeriod). Must be
    /// shorter than --renew-deadline-seconds.
    #[arg(long, default_value_t = 2, value_name = "SECONDS")]
    pub retry_period_seconds: u64,
    /// Periodic full round per set, even with no event.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub resync_seconds: u64,
    /// Next round while an upgrade is in flight or a Pod was stale.
    #[arg(long, default_value_t = 2000, value_name = "MILLIS")]
    pub busy_requeue_millis: u64,
    /// Write budget: API writes per second, shared by Pod patches, Pod status (condition) patches,
    /// the policy status annotation and Events; not the leader-election Lease. A write over budget
    /// waits its turn: a rollout slows down, it skips no step. An upgraded Pod costs 2 writes on a
    /// first rollout (its condition and its patch), 1 on later ones, plus a status write a second
    /// and a progress Event every 10 s per set, so 30/s upgrades about 14 Pods/s. Default as
    /// Kruise's manager's client (QPS 30, which counts its reads too). Fractions allowed.
    #[arg(long, default_value_t = WriteRate::default().per_second, value_name = "N")]
    pub max_writes_per_second: f64,
    /// Write budget: writes that may go at once after a quiet spell (the token bucket's size).
    /// Default as Kruise's manager's client (burst 50).
    #[arg(long, default_value_t = WriteRate::default().burst, value_name = "N")]
    pub max_write_burst: u32,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub source: Source,
    /// Only this ClusterAdmissionPolicy (by name); its conflicts with the others are still shown.
    #[arg(long, value_name = "NAME")]
    pub policy: Option<String>,
    /// text: one line per Pod; json: the full reports (writes with their patches' changes and
    /// conditions, every other Pod with its reason).
    #[arg(long, short, value_enum, default_value = "text")]
    pub output: Output,
}

impl RunArgs {
    /// Refuses settings that make no sense together, naming the flags.
    pub fn validate(&self) -> Result<()> {
        if !self.no_leader_election && self.renew_deadline_seconds >= self.lease_duration_seconds {
            return Err(Error::Config(format!(
                "--renew-deadline-seconds ({}) must be shorter than --lease-duration-seconds ({}), \
                 or a standby may take the Lease over while the leader still writes",
                self.renew_deadline_seconds, self.lease_duration_seconds
            )));
        }
        if !self.no_leader_election && self.retry_period_seconds >= self.renew_deadline_seconds {
            return Err(Error::Config(format!(
                "--retry-period-seconds ({}) must be shorter than --renew-deadline-seconds ({}), \
                 or the leader cannot renew before its deadline",
                self.retry_period_seconds, self.renew_deadline_seconds
            )));
        }
        if self.retry_period_seconds == 0 || self.resync_seconds == 0 {
            return Err(Error::Config(
                "--retry-period-seconds and --resync-seconds must be at least 1".into(),
            ));
        }
        if !(self.max_writes_per_second.is_finite() && self.max_writes_per_second > 0.0) {
            return Err(Error::Config(format!(
                "--max-writes-per-second must be a number above 0, got {}",
                self.max_writes_per_second
            )));
        }
        if self.revision_namespace.trim().is_empty() {
            return Err(Error::Config(
                "--revision-namespace must name a namespace (default: $POD_NAMESPACE, else \
                 sidecarset-system)"
                    .into(),
            ));
        }
        if self.max_write_burst == 0 {
            return Err(Error::Config(
                "--max-write-burst must be at least 1, or no write could ever go".into(),
            ));
        }
        Ok(())
    }
}

pub async fn run(args: RunArgs) -> Result<()> {
    args.validate()?;
    let kube_config = kube::Config::infer()
        .await
        .map_err(kube::Error::InferConfig)?;
    let client = Client::try_from(kube_config.clone())?;
    let identity = args
        .identity
        .clone()
        .unwrap_or_else(|| format!("{}-{}", hostname(), std::process::id()));
    if !args.no_leader_election {
        lease_namespace_exists(&client, &args.lease_namespace).await?;
    }
    let config = controller::Config {
        namespace: args.source.namespace.clone(),
        policy_selector: args.source.policy_selector.clone(),
        settings_file: args.source.settings.clone(),
        lease: (!args.no_leader_election).then(|| LeaseConfig {
            namespace: args.lease_namespace.clone(),
            name: args.lease_name.clone(),
            identity: identity.clone(),
            duration: Duration::from_secs(args.lease_duration_seconds),
            renew_deadline: Duration::from_secs(args.renew_deadline_seconds),
            retry_period: Duration::from_secs(args.retry_period_seconds),
        }),
        resync: Duration::from_secs(args.resync_seconds),
        busy_requeue: Duration::from_millis(args.busy_requeue_millis),
        instance: identity,
        writes: WriteRate {
            per_second: args.max_writes_per_second,
            burst: args.max_write_burst,
        },
        revision_namespace: args.revision_namespace.clone(),
    };
    let metrics = Arc::new(Metrics::default());
    let ready = Arc::new(AtomicBool::new(false));
    let state = ServerState {
        metrics: metrics.clone(),
        ready: ready.clone(),
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::serve(args.metrics_addr, state, async {
        let _ = stop_rx.await;
    }));
    let res = controller::run(kube_config, config, metrics, ready).await;
    let _ = stop_tx.send(());
    let _ = server.await;
    res
}

/// Leader election writes a Lease in `--lease-namespace`: a namespace that does not exist would only
/// show as a retried warning, so it is refused at start, naming the ways out.
async fn lease_namespace_exists(client: &Client, namespace: &str) -> Result<()> {
    if Api::<Namespace>::all(client.clone())
        .get_opt(namespace)
        .await?
        .is_some()
    {
        return Ok(());
    }
    Err(Error::Config(format!(
        "the leader-election Lease goes in namespace {namespace:?}, which does not exist: create it \
         (kubectl create namespace {namespace}), choose another with --lease-namespace, or run a \
         single replica with --no-leader-election"
    )))
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "sidecarset-reconciler".to_string())
}

/// The `plan` command: one list of each kind, one plan per set, nothing written.
pub async fn plan(args: PlanArgs, out: &mut impl Write) -> Result<()> {
    let client = Client::try_default().await?;
    let (pods, namespaces) = read_cluster(&client, args.source.namespace.as_deref()).await?;
    let targets = match &args.source.settings {
        Some(path) => vec![Target::from_file(path)?],
        None => {
            // Every policy, even with --policy: its conflicts are with the others.
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &policy::api_resource());
            let lp = ListParams::default().labels(&policy::policy_selector(
                args.source.policy_selector.as_deref(),
            ));
            api.list(&lp)
                .await?
                .items
                .iter()
                .map(Target::from_policy)
                .collect()
        }
    };
    let mut reports = reports_of(
        &targets,
        args.policy.as_deref(),
        &pods,
        &namespaces,
        &now_rfc3339(),
    );
    check_pins(&client, &targets, &mut reports).await;
    match args.output {
        Output::Json => {
            writeln!(out, "{}", serde_json::to_string_pretty(&reports)?).ok();
        }
        Output::Text => print_text(&reports, out),
    }
    Ok(())
}

/// Each pinned set's revision looked up as the policy would look it up (in the set's
/// `revisionNamespace`, among the revisions labelled with the set's name), and a missing one put in
/// the report's status: the policy would refuse every Pod the set matches.
async fn check_pins(client: &Client, targets: &[Target], reports: &mut [PlanReport]) {
    for r in reports.iter_mut() {
        let PlanReport::Planned { policy, round, .. } = r else {
            continue;
        };
        let Some(set) = targets
            .iter()
            .find(|t| &t.key == policy)
            .and_then(|t| t.set.as_ref().ok())
            .filter(|s| pinned::pin(s.settings()).is_some())
        else {
            continue;
        };
        let namespace = set.revision_namespace();
        let api: Api<ControllerRevision> = Api::namespaced(client.clone(), namespace);
        let lp = ListParams::default().labels(&format!("{SET_NAME_LABEL}={}", set.name()));
        round.status.pinned_revision_error = match api.list(&lp).await {
            Ok(list) => pinned::missing_pin(
                set,
                namespace,
                list.items.iter().map(|r| {
                    let name = r.metadata.name.as_deref().unwrap_or_default();
                    let version = r
                        .metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(CUSTOM_VERSION_LABEL))
                        .map(String::as_str);
                    (name, version)
                }),
            ),
            Err(e) => Some(format!(
                "cannot list the set's ControllerRevisions in namespace {namespace:?} to check its pinned revision: {e}"
            )),
        };
    }
}

/// One list of the Pods (of `namespace`, or all) as digests, and of the Namespaces' labels.
pub async fn read_cluster(
    client: &Client,
    namespace: Option<&str>,
) -> Result<(Vec<PodDigest>, NamespaceLabels)> {
    let pod_api: Api<WatchedPod> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let mut interner = Interner::default();
    let pods: Vec<PodDigest> = pod_api
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .map(|p| PodDigest::new(&p.value(), &mut interner))
        .collect();
    let namespaces: NamespaceLabels = match namespace {
        Some(ns) => Api::<Namespace>::all(client.clone())
            .get_opt(ns)
            .await?
            .into_iter()
            .collect::<Vec<_>>(),
        None => {
            Api::<Namespace>::all(client.clone())
                .list(&ListParams::default())
                .await?
                .items
        }
    }
    .into_iter()
    .filter_map(|n| Some((n.metadata.name?, n.metadata.labels.unwrap_or_default())))
    .collect();
    Ok((pods, namespaces))
}

/// What `plan` says about one policy.
#[derive(Clone, Debug)]
pub enum PlanReport {
    /// Settings that give no set: no Pod is touched.
    Invalid {
        policy: String,
        problem: SettingsProblem,
    },
    /// The round the reconciler would run now, and the set's conflicts with other policies' sets.
    Planned {
        policy: String,
        round: Box<SetRound>,
        conflicts: Vec<Conflict>,
    },
}

impl PlanReport {
    /// As `plan -o json` prints it: the status, the writes with their changes and conditions, every
    /// other Pod with its reason.
    pub fn to_json(&self) -> Value {
        match self {
            PlanReport::Invalid { policy, problem } => {
                json!({"policy": policy, "error": problem.to_string()})
            }
            PlanReport::Planned {
                policy,
                round,
                conflicts,
            } => {
                let conflicts: Vec<Value> = conflicts
                    .iter()
                    .map(|c| {
                        json!({"with": c.other(policy), "field": c.clash.field(),
                               "name": c.clash.name(), "message": c.to_string()})
                    })
                    .collect();
                let writes: Vec<Value> = round
                    .writes
                    .iter()
                    .map(|w| {
                        json!({"namespace": w.namespace, "name": w.name, "action": w.kind.label(),
                               "changes": w.changes, "condition": w.condition.as_ref().map(|c| &c.condition)})
                    })
                    .collect();
                json!({"policy": policy, "set": round.set_name, "round": round.round,
                       "status": round.status, "writes": writes, "leftAlone": round.left_alone,
                       "warnings": round.warnings,
                       "budgetWarning": round.budget_warning.as_ref().map(ToString::to_string),
                       "conflicts": conflicts})
            }
        }
    }
}

impl Serialize for PlanReport {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

/// One report per target: the round a reconciler would run now over `pods`, nothing written, and
/// the conflicts among the targets' sets. Pure, so the `plan` output is tested without a cluster.
pub fn reports(
    targets: &[Target],
    pods: &[PodDigest],
    namespaces: &NamespaceLabels,
    now: &str,
) -> Vec<PlanReport> {
    reports_of(targets, None, pods, namespaces, now)
}

/// [`reports`] for the policy named `only` (every one when `None`), its conflicts found among all
/// `targets`.
pub fn reports_of(
    targets: &[Target],
    only: Option<&str>,
    pods: &[PodDigest],
    namespaces: &NamespaceLabels,
    now: &str,
) -> Vec<PlanReport> {
    let sets: Vec<(&str, &SidecarSet)> = targets
        .iter()
        .filter_map(|t| Some((t.key.as_str(), t.set.as_ref().ok()?)))
        .collect();
    let conflicts = conflict::find(&sets);
    targets
        .iter()
        .filter(|t| only.is_none_or(|n| t.key == n))
        .map(|t| match &t.set {
            Err(problem) => PlanReport::Invalid {
                policy: t.key.clone(),
                problem: problem.clone(),
            },
            Ok(set) => PlanReport::Planned {
                policy: t.key.clone(),
                conflicts: conflicts
                    .iter()
                    .filter(|c| c.involves(&t.key))
                    .cloned()
                    .collect(),
                round: Box::new(SetRound::over_snapshot(
                    set,
                    t.generation,
                    pods,
                    namespaces,
                    now,
                    t.set_version(),
                    None,
                )),
            },
        })
        .collect()
}

/// The text output: per policy, the status line, the writes, then the Pods left alone.
pub fn print_text(reports: &[PlanReport], out: &mut impl Write) {
    for r in reports {
        match r {
            PlanReport::Invalid { policy, problem } => {
                let _ = writeln!(out, "policy {policy}");
                let _ = writeln!(out, "  invalid settings, no Pod is touched: {problem}");
            }
            PlanReport::Planned {
                policy,
                round,
                conflicts,
            } => {
                let _ = writeln!(out, "policy {policy}");
                print_status(round, out);
                if let Some(e) = &round.status.pinned_revision_error {
                    let _ = writeln!(out, "  PINNED REVISION MISSING: {e}");
                }
                print_writes(&round.writes, out);
                print_left_alone(&round.left_alone, out);
                for w in &round.warnings {
                    let _ = writeln!(out, "  warning: {w}");
                }
                for c in conflicts {
                    let _ = writeln!(
                        out,
                        "  conflict with policy {}: {c}",
                        c.other(policy).unwrap_or_default()
                    );
                }
            }
        }
    }
}

fn print_status(round: &SetRound, out: &mut impl Write) {
    let st = &round.status;
    let _ = writeln!(
        out,
        "  set {}: round {:?}; matched {} updated {} ready {} updatedReady {} notUpgradable {} uninjected {}",
        round.set_name,
        round.round,
        st.matched_pods,
        st.updated_pods,
        st.ready_pods,
        st.updated_ready_pods,
        st.not_upgradable_pods,
        st.uninjected_pods
    );
    if let Some(w) = &round.budget_warning {
        let _ = writeln!(out, "  WARNING: {w}");
    }
}

fn print_writes(writes: &[PodWrite], out: &mut impl Write) {
    let _ = writeln!(out, "  would write now ({}):", writes.len());
    for w in writes {
        let what = if w.changes.is_empty() {
            let cond = w.condition.as_ref().map(|c| &c.condition);
            let field = |k: &str| cond.and_then(|c| c.get(k)).and_then(Value::as_str);
            format!(
                "condition {}={} ({})",
                field("type").unwrap_or(""),
                field("status").unwrap_or(""),
                field("message").unwrap_or("")
            )
        } else {
            w.changes
                .iter()
                .map(|c| format!("{} {} -> {}", c.container, c.from, c.to))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "    {} {}/{}: {what}",
            w.kind.label(),
            w.namespace,
            w.name
        );
    }
}

/// Not-matched Pods for these reasons are only counted in text output: in a real cluster they are
/// most Pods, and the reason says nothing about the Pod.
fn counted_only(reason: &Reason) -> bool {
    matches!(
        reason,
        Reason::NotSelected | Reason::NamespaceNotSelected { .. }
    )
}

/// `namespace/name: message (Code)`.
fn print_reason(l: &LeftAlone, out: &mut impl Write) {
    let _ = writeln!(
        out,
        "    {}/{}: {} ({})",
        l.namespace,
        l.name,
        l.reason,
        l.reason.code()
    );
}

fn print_left_alone(left: &[LeftAlone], out: &mut impl Write) {
    let (matched, other): (Vec<_>, Vec<_>) = left.iter().partition(|l| l.matched());
    let (uninjected, other): (Vec<_>, Vec<_>) = other.into_iter().partition(|l| l.uninjected());
    let _ = writeln!(out, "  left alone ({} matched):", matched.len());
    for l in &matched {
        print_reason(l, out);
    }
    if !uninjected.is_empty() {
        let _ = writeln!(
            out,
            "  selected but created without the sidecars ({}), never patched: recreate them to inject:",
            uninjected.len()
        );
        for l in &uninjected {
            let _ = writeln!(out, "    {}/{}: {}", l.namespace, l.name, l.reason.code());
        }
    }
    let mut counted = std::collections::BTreeMap::<&str, usize>::new();
    let _ = writeln!(out, "  not matched ({}):", other.len());
    for l in &other {
        if counted_only(&l.reason) {
            *counted.entry(l.reason.code()).or_default() += 1;
            continue;
        }
        print_reason(l, out);
    }
    for (code, n) in counted {
        let _ = writeln!(out, "    {n} Pod(s): {code}");
    }
}
