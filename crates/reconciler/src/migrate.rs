//! `migrate`: Kruise SidecarSets in, one ClusterAdmissionPolicy each out, and a report per set of
//! what moving the cluster's Pods over would do.
//!
//! The report plans a round of each new policy over the Pods as they are (the `plan` command's
//! planner): a clean move has no Pod to patch, since Pods Kruise injected carry Kruise's annotations
//! and hashes, which this project computes byte for byte. Pods the set selects but that lack its
//! sidecars are listed too: neither Kruise nor this project adds containers to a running Pod.
//!
//! Two sets that Kruise's validation would not let coexist
//! (docs/settings-and-validation.md#cross-set-conflicts) are not converted: once they are policies,
//! each is validated alone and nothing would refuse them.

use std::{fmt::Write as _, path::Path};

use clap::Args;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{
    Api, Client,
    api::{ApiResource, DynamicObject, GroupVersionKind, ListParams},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sidecarset_core::{
    SidecarSet,
    conflict::{self, Conflict},
    kruise_object::{self, Converted},
    selector,
    time::now_rfc3339,
    upgrade::PodDigest,
};

use crate::{
    Error, Result,
    policy::RECONCILE_LABEL,
    round::{NamespaceLabels, SetRound},
};

/// The module this release's policies run: the policy published with the same version.
pub const DEFAULT_MODULE: &str = concat!(
    "registry://ghcr.io/sidecarset/policies/sidecarset:v",
    env!("CARGO_PKG_VERSION")
);
/// Set on each policy written: where its settings came from.
pub const MIGRATED_FROM_ANNOTATION: &str = "sidecarset.kubewarden.io/migrated-from";

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Read the SidecarSets from these YAML or JSON files (several documents, or a List, per file)
    /// instead of the cluster's apps.kruise.io SidecarSets.
    #[arg(long = "from-file", value_name = "FILE")]
    pub files: Vec<std::path::PathBuf>,
    /// Only these SidecarSets (by name; repeatable). Default: every one.
    #[arg(long = "sidecarset", value_name = "NAME")]
    pub names: Vec<String>,
    /// The policy module each ClusterAdmissionPolicy runs.
    #[arg(long, default_value = DEFAULT_MODULE, value_name = "URL")]
    pub module: String,
    /// Each policy is named this prefix plus the SidecarSet's name.
    #[arg(long, default_value = "sidecarset-", value_name = "PREFIX")]
    pub policy_prefix: String,
    /// The Kubewarden PolicyServer that runs the policies.
    #[arg(long, default_value = "default", value_name = "NAME")]
    pub policy_server: String,
    /// Write the policies (YAML documents) to this file instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
    /// Do not read the cluster's Pods and Namespaces: policies only, no report (with --from-file,
    /// no cluster is needed at all).
    #[arg(long)]
    pub no_report: bool,
    /// Report on the Pods of this namespace only (default: every namespace).
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Also write the report as JSON to this file (the text report goes to standard error).
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<std::path::PathBuf>,
}

/// What moving one SidecarSet over does to the Pods it selects.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetReport {
    pub sidecar_set: String,
    pub policy: String,
    /// Pods the set matches (selected, active, injected with all its sidecars).
    pub matched_pods: u32,
    /// Of those, on the set's current revision (their hash is the settings' hash).
    pub updated_pods: u32,
    /// Pods the reconciler would write at its first round, as `namespace/name: action`: must be
    /// empty for a clean move (a Pod here is one whose annotations this project reads differently).
    pub would_patch: Vec<String>,
    /// Pods the set selects without its sidecars, as `namespace/name`: never patched.
    pub uninjected: Vec<String>,
    pub notes: Vec<String>,
}

impl SetReport {
    pub fn is_clean(&self) -> bool {
        self.would_patch.is_empty()
    }
}

/// The ClusterAdmissionPolicy for one converted SidecarSet.
///
/// The webhook's Namespace exclusion is Kruise's own (`config/webhook/patch_manifests.yaml`,
/// `mpod.kb.io`: Namespaces labelled `control-plane` are skipped), so the policy sees the Pods
/// Kruise's webhook saw; Kubewarden adds its own Namespace. The context-aware lookups are granted
/// only as the settings need them: the Namespace for a `namespaceSelector`, ControllerRevisions for
/// `injectionStrategy.revision`.
///
/// The `objectSelector` is the set's selector ([`selector::object_selector`]): the API server then
/// sends the policy only the Pods the set selects, where each Pod it sends costs a round trip to the
/// policy server whether or not the set selects it. The set's `namespaceSelector` is not
/// carried over: Kubewarden's controller keeps only the `matchExpressions` of a policy's
/// `namespaceSelector` (`policy_subreconciler_webhook.go` `namespaceSelector`), so a `matchLabels`
/// there would be dropped and the webhook would be wider than the set; the policy checks it.
pub fn policy_object(c: &Converted, args: &MigrateArgs, source: &str) -> Value {
    // Converted settings have passed `SidecarSet::new`, whose defaults leave `selector` as written.
    let set_selector: Option<LabelSelector> = c
        .settings
        .get("selector")
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    let mut spec = json!({
        "module": args.module,
        "policyServer": args.policy_server,
        "mode": "protect",
        "mutating": true,
        "backgroundAudit": false,
        "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"],
                   "operations": ["CREATE"]}],
        "namespaceSelector": {"matchExpressions": [{"key": "control-plane", "operator": "DoesNotExist"}]},
        "objectSelector": selector::object_selector(set_selector.as_ref()),
        "settings": c.settings,
    });
    let mut lookups = Vec::new();
    if c.settings.get("namespaceSelector").is_some() {
        lookups.push(json!({"apiVersion": "v1", "kind": "Namespace"}));
    }
    if c.settings.pointer("/injectionStrategy/revision").is_some() {
        lookups.push(json!({"apiVersion": "apps/v1", "kind": "ControllerRevision"}));
    }
    if !lookups.is_empty() {
        spec["contextAwareResources"] = Value::Array(lookups);
    }
    json!({
        "apiVersion": "policies.kubewarden.io/v1",
        "kind": "ClusterAdmissionPolicy",
        "metadata": {
            "name": format!("{}{}", args.policy_prefix, c.name),
            "labels": {RECONCILE_LABEL: "true"},
            "annotations": {MIGRATED_FROM_ANNOTATION: source},
        },
        "spec": spec,
    })
}

/// The SidecarSet objects of one file: YAML or JSON, several documents, `List`s flattened.
pub fn objects_from_file(path: &Path) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::SettingsFile {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let v = Value::deserialize(doc).map_err(|e| Error::SettingsFile {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        match v {
            Value::Null => {}
            Value::Object(ref m) if m.get("items").is_some_and(Value::is_array) => {
                out.extend(m["items"].as_array().into_iter().flatten().cloned());
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

/// The cluster's SidecarSets: v1beta1 (Kruise's storage version since v1.9), else v1alpha1 (an
/// older Kruise serves only that).
pub async fn objects_from_cluster(client: &Client) -> Result<Vec<Value>> {
    let mut last = None;
    for version in ["v1beta1", "v1alpha1"] {
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(kruise_object::GROUP, version, "SidecarSet"),
            "sidecarsets",
        );
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        match api.list(&ListParams::default()).await {
            Ok(list) => {
                return list
                    .items
                    .into_iter()
                    .map(|mut o| {
                        o.types = Some(kube::api::TypeMeta {
                            api_version: format!("{}/{version}", kruise_object::GROUP),
                            kind: "SidecarSet".into(),
                        });
                        serde_json::to_value(o).map_err(Error::from)
                    })
                    .collect();
            }
            Err(kube::Error::Api(e)) if e.code == 404 => last = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Config(format!(
        "the cluster serves no apps.kruise.io SidecarSet (v1beta1 nor v1alpha1: {}); give the \
         SidecarSets with --from-file",
        last.map(|e| e.message).unwrap_or_default()
    )))
}

/// One report per converted set, from a planning round over the Pods as they are.
pub fn reports(
    sets: &[(Converted, String)],
    pods: &[PodDigest],
    namespaces: &NamespaceLabels,
    now: &str,
) -> Vec<SetReport> {
    sets.iter()
        .filter_map(|(c, policy)| {
            let set = SidecarSet::new(&c.settings).ok()?;
            let p = SetRound::over_snapshot(&set, 0, pods, namespaces, now, "1", None);
            Some(SetReport {
                sidecar_set: c.name.clone(),
                policy: policy.clone(),
                matched_pods: p.status.matched_pods,
                updated_pods: p.status.updated_pods,
                would_patch: p
                    .writes
                    .iter()
                    .map(|w| format!("{}/{}: {}", w.namespace, w.name, w.kind.label()))
                    .collect(),
                uninjected: p
                    .left_alone
                    .iter()
                    .filter(|l| l.uninjected())
                    .map(|l| format!("{}/{}", l.namespace, l.name))
                    .collect(),
                notes: c.notes.clone(),
            })
        })
        .collect()
}

/// Sets out of `sets` that can select the same Pods and clash, as Kruise's validation refuses them
/// (`conflict::find`, by SidecarSet name): both sets of each such pair are taken out, since Kruise
/// would have refused whichever came second and the order here is only the order of the input.
/// Returns the sets kept and every conflict found.
pub fn refuse_conflicts(
    sets: Vec<(Converted, String)>,
) -> (Vec<(Converted, String)>, Vec<Conflict>) {
    // Converted settings have passed `SidecarSet::new` already.
    let built: Vec<(String, SidecarSet)> = sets
        .iter()
        .filter_map(|(c, _)| Some((c.name.clone(), SidecarSet::new(&c.settings).ok()?)))
        .collect();
    let named: Vec<(&str, &SidecarSet)> = built.iter().map(|(n, s)| (n.as_str(), s)).collect();
    let conflicts = conflict::find(&named);
    let kept = sets
        .into_iter()
        .filter(|(c, _)| !conflicts.iter().any(|x| x.involves(&c.name)))
        .collect();
    (kept, conflicts)
}

/// The report as a person reads it.
pub fn report_text(reports: &[SetReport], conflicts: &[Conflict], failed: &[String]) -> String {
    let mut out = String::new();
    for r in reports {
        let verdict = if r.is_clean() {
            "clean: no Pod would be patched"
        } else {
            "NOT CLEAN: the reconciler would patch Pods"
        };
        let _ = writeln!(
            out,
            "SidecarSet {} -> ClusterAdmissionPolicy {}: {verdict}",
            r.sidecar_set, r.policy
        );
        let _ = writeln!(
            out,
            "  matched {} (updated {}), would patch {}, selected without sidecars {}",
            r.matched_pods,
            r.updated_pods,
            r.would_patch.len(),
            r.uninjected.len()
        );
        for w in &r.would_patch {
            let _ = writeln!(out, "  would patch {w}");
        }
        for u in &r.uninjected {
            let _ = writeln!(out, "  without sidecars (recreate to inject): {u}");
        }
        for n in &r.notes {
            let _ = writeln!(out, "  note: {n}");
        }
    }
    for c in conflicts {
        let _ = writeln!(
            out,
            "conflict, neither {} nor {} converted: {c}",
            c.first, c.second
        );
    }
    for f in failed {
        let _ = writeln!(out, "not converted: {f}");
    }
    out
}

/// The whole command. Policies go to `--output` or `policies_out`; the report to `report_out`.
/// Fails (after writing what it could) when a SidecarSet cannot be converted, two conflict, or a
/// move is not clean.
pub async fn migrate(
    args: &MigrateArgs,
    policies_out: &mut impl std::io::Write,
    report_out: &mut impl std::io::Write,
) -> Result<()> {
    let client = if args.files.is_empty() || !args.no_report {
        Some(Client::try_default().await?)
    } else {
        None
    };
    let objects = match (&client, args.files.is_empty()) {
        (Some(c), true) => objects_from_cluster(c).await?,
        _ => {
            let mut all = Vec::new();
            for f in &args.files {
                all.extend(objects_from_file(f)?);
            }
            all
        }
    };
    let (sets, failed) = convert_all(&objects, args);
    let (sets, conflicts) = refuse_conflicts(sets);
    write_policies(&sets, args, policies_out)?;
    let named: Vec<(Converted, String)> = sets
        .into_iter()
        .map(|(c, _)| {
            let policy = format!("{}{}", args.policy_prefix, c.name);
            (c, policy)
        })
        .collect();
    let reports = match (&client, args.no_report) {
        (Some(c), false) => {
            let (pods, namespaces) = crate::cli::read_cluster(c, args.namespace.as_deref()).await?;
            reports(&named, &pods, &namespaces, &now_rfc3339())
        }
        _ => Vec::new(),
    };
    let _ = report_out.write_all(report_text(&reports, &conflicts, &failed).as_bytes());
    if let Some(path) = &args.report_json {
        let conflicts: Vec<Value> = conflicts
            .iter()
            .map(|c| {
                json!({"sidecarSets": [c.first, c.second], "field": c.clash.field(),
                       "name": c.clash.name(), "message": c.to_string()})
            })
            .collect();
        let body = json!({"sets": reports, "conflicts": conflicts, "notConverted": failed});
        std::fs::write(path, serde_json::to_vec_pretty(&body)?).map_err(|e| {
            Error::SettingsFile {
                path: path.display().to_string(),
                message: e.to_string(),
            }
        })?;
    }
    verdict(&reports, &conflicts, &failed)
}

/// The policies as YAML documents, to `--output` or `policies_out`.
fn write_policies(
    sets: &[(Converted, String)],
    args: &MigrateArgs,
    policies_out: &mut impl std::io::Write,
) -> Result<()> {
    let mut yaml = String::new();
    for (c, source) in sets {
        let policy = policy_object(c, args, source);
        yaml.push_str("---\n");
        yaml.push_str(&serde_yaml::to_string(&policy).map_err(|e| Error::Config(e.to_string()))?);
    }
    match &args.output {
        Some(path) => std::fs::write(path, &yaml).map_err(|e| Error::SettingsFile {
            path: path.display().to_string(),
            message: e.to_string(),
        }),
        None => policies_out
            .write_all(yaml.as_bytes())
            .map_err(|e| Error::Config(format!("writing the policies: {e}"))),
    }
}

/// The command fails when a SidecarSet was not converted, two conflict, or a move is not clean.
fn verdict(reports: &[SetReport], conflicts: &[Conflict], failed: &[String]) -> Result<()> {
    if !failed.is_empty() {
        return Err(Error::Config(format!(
            "{} SidecarSet(s) not converted (see above)",
            failed.len()
        )));
    }
    if !conflicts.is_empty() {
        let mut pairs: Vec<String> = conflicts
            .iter()
            .map(|c| format!("{} and {}", c.first, c.second))
            .collect();
        pairs.dedup();
        return Err(Error::Config(format!(
            "SidecarSets that can select the same Pods clash, so neither of each pair was \
             converted: {} (see above); as policies nothing would refuse them, and the later \
             webhook would replace the other's sidecar or annotation: change the field named, or \
             make the selectors disjoint",
            pairs.join("; ")
        )));
    }
    let unclean: Vec<&str> = reports
        .iter()
        .filter(|r| !r.is_clean())
        .map(|r| r.sidecar_set.as_str())
        .collect();
    if !unclean.is_empty() {
        return Err(Error::Config(format!(
            "not a clean move: the reconciler would patch Pods of {} (see above); check the \
             settings before applying the policies",
            unclean.join(", ")
        )));
    }
    Ok(())
}

/// Converts the objects `--sidecarset` selects; failures are kept as messages.
fn convert_all(objects: &[Value], args: &MigrateArgs) -> (Vec<(Converted, String)>, Vec<String>) {
    let mut sets = Vec::new();
    let mut failed = Vec::new();
    for o in objects {
        let name = o.pointer("/metadata/name").and_then(Value::as_str);
        if !args.names.is_empty() && !name.is_some_and(|n| args.names.iter().any(|x| x == n)) {
            continue;
        }
        let source = format!(
            "{} SidecarSet {}",
            o["apiVersion"].as_str().unwrap_or("?"),
            name.unwrap_or("?")
        );
        match kruise_object::settings_from_object(o) {
            Ok(c) => sets.push((c, source)),
            Err(e) => failed.push(e.0),
        }
    }
    for n in &args.names {
        if !sets.iter().any(|(c, _)| &c.name == n) && !failed.iter().any(|f| f.contains(n.as_str()))
        {
            failed.push(format!("--sidecarset {n}: no such SidecarSet"));
        }
    }
    (sets, failed)
}
