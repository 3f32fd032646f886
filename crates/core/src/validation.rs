//! Settings validation: the rules of Kruise's SidecarSet validating webhook that apply to one set
//! (docs/settings-and-validation.md#validation), the checks Kruise leaves out
//! (docs/settings-and-validation.md#checks-kruise-leaves-out), and the part of Kubernetes' Pod-create
//! validation that a sidecar definition can break on its own
//! (docs/settings-and-validation.md#pod-validation-of-the-sidecars).
//!
//! Runs on the defaulted settings, as Kruise's webhook does. Every problem is collected.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Container, Probe, ResourceRequirements, Volume};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::error::SettingsErrors;
use crate::quantity::Quantity;
use crate::resources_expr::{self, ExprResource};
use crate::settings::*;
use crate::{names, selector};

/// Every rule, in a fixed order (the joined message is what the user reads); every problem is
/// collected.
pub fn validate(s: &Settings, errs: &mut SettingsErrors) {
    name(&s.name, errs);
    selectors(s, errs);
    if let Some(r) = &s.injection_strategy.revision {
        inject_revision(r, errs);
    }
    revision_namespace(s, errs);
    update_strategy(&s.update_strategy, errs);
    containers(s, errs);
    object_fields(s, errs);
    patch_pod_metadata(s, errs);
}

/// `selector` (required, not empty) and `namespaceSelector` (not empty when set).
fn selectors(s: &Settings, errs: &mut SettingsErrors) {
    match &s.selector {
        None => errs.push(
            "selector",
            "required: a label selector choosing the Pods to inject (e.g. matchLabels)",
        ),
        Some(sel) if selector::is_empty(sel) => errs.push(
            "selector",
            "must not be empty: an empty selector would match nothing (as in Kruise)",
        ),
        Some(sel) => selector::validate(sel, "selector", errs),
    }
    if let Some(sel) = &s.namespace_selector {
        if selector::is_empty(sel) {
            errs.push(
                "namespaceSelector",
                "must not be empty when set; leave it out to match every namespace",
            );
        } else {
            selector::validate(sel, "namespaceSelector", errs);
        }
    }
}

fn revision_namespace(s: &Settings, errs: &mut SettingsErrors) {
    if let Some(ns) = &s.revision_namespace
        && let Err(m) = names::dns1123_label(ns)
    {
        errs.push(
            "revisionNamespace",
            format!("must be a Namespace name (where the reconciler's --revision-namespace keeps the ControllerRevisions): {m}"),
        );
    }
}

/// The volumes, then each init container and container, with names unique across both lists.
fn containers(s: &Settings, errs: &mut SettingsErrors) {
    let no_init = s.init_containers.as_ref().is_none_or(Vec::is_empty);
    let no_containers = s.containers.as_ref().is_none_or(Vec::is_empty);
    if no_init && no_containers {
        errs.push(
            "containers",
            "at least one of containers or initContainers is required",
        );
    }
    let volumes = volumes(s.volumes.as_deref().unwrap_or(&[]), errs);
    let mut seen_names: BTreeMap<String, String> = BTreeMap::new();
    for (list, items, init) in [
        (
            "initContainers",
            s.init_containers.as_deref().unwrap_or(&[]),
            true,
        ),
        ("containers", s.containers.as_deref().unwrap_or(&[]), false),
    ] {
        for (i, c) in items.iter().enumerate() {
            let path = format!("{list}[{i}]");
            sidecar_container(c, &path, init, &volumes, errs);
            for n in c.names_in_pod(init) {
                if let Some(first) = seen_names.insert(n.clone(), path.clone()) {
                    errs.push(format!("{path}.name"), format!("{n:?} is already used by {first}: container names must be unique across containers and initContainers"));
                }
            }
        }
    }
}

/// `imagePullSecrets`, `revisionHistoryLimit` and `customVersion`.
fn object_fields(s: &Settings, errs: &mut SettingsErrors) {
    for (i, r) in s.image_pull_secrets.iter().flatten().enumerate() {
        if r.name.is_empty() {
            errs.push(
                format!("imagePullSecrets[{i}].name"),
                "required: the name of a Secret in the Pod's namespace",
            );
        }
    }
    if let Some(n) = s.revision_history_limit.filter(|n| *n < 0) {
        errs.push(
            "revisionHistoryLimit",
            format!("must be 0 or more, got {n}"),
        );
    }
    if let Some(v) = s.custom_version.as_deref().filter(|v| !v.is_empty())
        && let Err(m) = names::label_value(v)
    {
        errs.push(
            "customVersion",
            format!("is copied into a label, so it {m}"),
        );
    }
}

/// Kruise's validating webhook (`pkg/webhook/sidecarset/validating/sidecarset_create_update_handler.go`
/// `validateSidecarSetInjectionStrategy`): one of `revisionName` and `customVersion`, and a known
/// `policy`. Kruise also reads the revision there and refuses a set whose revision is missing; the
/// policy cannot read the cluster while checking its settings, so that check happens for each Pod
/// (a missing revision refuses the Pod). Empty strings, which Kruise lets through to a lookup that
/// can only fail, are refused here, and both values must be usable in a lookup.
fn inject_revision(r: &InjectRevision, errs: &mut SettingsErrors) {
    let path = "injectionStrategy.revision";
    let name = r.revision_name.as_deref();
    let version = r.custom_version.as_deref();
    if name.is_none() && version.is_none() {
        errs.push(
            path,
            "set revisionName (a ControllerRevision's name) or customVersion (the newest revision labelled with it); both are missing",
        );
    }
    if let Some(n) = name
        && let Err(m) = names::dns1123_subdomain(n)
    {
        errs.push(
            format!("{path}.revisionName"),
            format!("must be a ControllerRevision name, e.g. \"filebeat-68b485f5d7\": {m}"),
        );
    }
    if let Some(v) = version {
        let checked = if v.is_empty() {
            Err("must not be empty".to_string())
        } else {
            names::label_value(v)
        };
        if let Err(m) = checked {
            errs.push(
                format!("{path}.customVersion"),
                format!("is looked up by label, so it {m}"),
            );
        }
    }
    match r.policy.as_deref().unwrap_or("") {
        "" | INJECT_ALWAYS | INJECT_PARTIAL => {}
        other => errs.push(
            format!("{path}.policy"),
            format!("must be {INJECT_ALWAYS} or {INJECT_PARTIAL}, got {other:?}"),
        ),
    }
}

fn name(n: &str, errs: &mut SettingsErrors) {
    if n.is_empty() {
        errs.push(
            "name",
            "required: the SidecarSet's name, which keys the Pod annotations (e.g. \"filebeat\")",
        );
    } else if n.len() > 63 || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        errs.push("name", format!("must be at most 63 letters, digits or '-' (Kruise's SidecarSet name rule), got {n:?}"));
    }
}

fn int_or_percent(v: &IntOrString, path: &str, errs: &mut SettingsErrors) {
    match v {
        IntOrString::Int(n) if *n < 0 => errs.push(path, format!("must be 0 or more, got {n}")),
        IntOrString::Int(_) => {}
        IntOrString::String(s) => {
            let ok = s
                .strip_suffix('%')
                .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()));
            if !ok {
                errs.push(
                    path,
                    format!(
                        "must be a non-negative integer or a percentage like \"10%\", got {s:?}"
                    ),
                );
            }
        }
    }
}

fn is_zero(v: &IntOrString) -> bool {
    // Kruise: any string form counts as set, even "0%".
    matches!(v, IntOrString::Int(0))
}

fn update_strategy(u: &UpdateStrategy, errs: &mut SettingsErrors) {
    let t = u.update_type();
    match t {
        NOT_UPDATE => return,
        ROLLING_UPDATE => {}
        other => {
            errs.push(
                "updateStrategy.type",
                format!("must be RollingUpdate or NotUpdate, got {other:?}"),
            );
            return;
        }
    }
    if let Some(sel) = &u.selector {
        if u.partition.as_ref().is_some_and(|p| !is_zero(p)) {
            errs.push(
                "updateStrategy.partition",
                "cannot be used together with updateStrategy.selector: use one or the other",
            );
        }
        if selector::is_empty(sel) {
            errs.push(
                "updateStrategy.selector",
                "must not be empty when set; leave it out to upgrade every matched Pod",
            );
        } else {
            selector::validate(sel, "updateStrategy.selector", errs);
        }
    }
    if let Some(p) = &u.partition {
        int_or_percent(p, "updateStrategy.partition", errs);
    }
    if let Some(m) = &u.max_unavailable {
        int_or_percent(m, "updateStrategy.maxUnavailable", errs);
    }
    if let Some(ps) = &u.priority_strategy {
        if ps.weight_priority.is_some() && ps.order_priority.is_some() {
            errs.push(
                "updateStrategy.priorityStrategy",
                "set weightPriority or orderPriority, not both",
            );
        }
        for (i, w) in ps.weight_priority.iter().flatten().enumerate() {
            let p = format!("updateStrategy.priorityStrategy.weightPriority[{i}]");
            if !(0..=100).contains(&w.weight) {
                errs.push(
                    format!("{p}.weight"),
                    format!("must be between 0 and 100, got {}", w.weight),
                );
            }
            if selector::is_empty(&w.match_selector) {
                errs.push(
                    format!("{p}.matchSelector"),
                    "required and must not be empty",
                );
            } else {
                selector::validate(&w.match_selector, &format!("{p}.matchSelector"), errs);
            }
        }
        for (i, o) in ps.order_priority.iter().flatten().enumerate() {
            let p = format!("updateStrategy.priorityStrategy.orderPriority[{i}].orderedKey");
            if o.ordered_key.is_empty() {
                errs.push(p, "required: a label key whose value orders the Pods");
            } else if let Err(m) = names::qualified_name(&o.ordered_key) {
                errs.push(p, m);
            }
        }
    }
    let mut seen = BTreeSet::new();
    for (i, t) in u.scatter_strategy.iter().flatten().enumerate() {
        let p = format!("updateStrategy.scatterStrategy[{i}]");
        if t.key.is_empty() {
            errs.push(format!("{p}.key"), "required: a Pod label key");
        }
        if !seen.insert((t.key.clone(), t.value.clone())) {
            errs.push(p, format!("duplicate term {}={}", t.key, t.value));
        }
    }
}

fn volumes(vs: &[Volume], errs: &mut SettingsErrors) -> BTreeSet<String> {
    let mut names_seen = BTreeSet::new();
    for (i, v) in vs.iter().enumerate() {
        let p = format!("volumes[{i}]");
        if let Err(m) = names::dns1123_label(&v.name) {
            errs.push(format!("{p}.name"), m);
        }
        if !names_seen.insert(v.name.clone()) {
            errs.push(
                format!("{p}.name"),
                format!("duplicate volume name {:?}", v.name),
            );
        }
        let sources = serde_json::to_value(v)
            .ok()
            .and_then(|j| {
                j.as_object().map(|o| {
                    o.keys()
                        .filter(|k| *k != "name")
                        .cloned()
                        .collect::<Vec<_>>()
                })
            })
            .unwrap_or_default();
        if sources.len() > 1 {
            errs.push(
                &p,
                format!(
                    "must have exactly one volume source, got {}",
                    sources.join(", ")
                ),
            );
        }
    }
    names_seen
}

fn sidecar_container(
    c: &SidecarContainer,
    path: &str,
    init: bool,
    volumes: &BTreeSet<String>,
    errs: &mut SettingsErrors,
) {
    match c.pod_inject_policy.as_deref() {
        Some(BEFORE_APP_CONTAINER | AFTER_APP_CONTAINER) | None => {}
        Some(other) => errs.push(
            format!("{path}.podInjectPolicy"),
            format!("must be BeforeAppContainer or AfterAppContainer, got {other:?}"),
        ),
    }
    match c.upgrade_strategy.upgrade_type.as_deref() {
        Some(COLD_UPGRADE) | None => {}
        Some(HOT_UPGRADE) => {
            if c.upgrade_strategy
                .hot_upgrade_empty_image
                .as_deref()
                .unwrap_or("")
                .is_empty()
            {
                errs.push(
                    format!("{path}.upgradeStrategy.hotUpgradeEmptyImage"),
                    "required with upgradeType HotUpgrade: the image the idle twin runs (it must start and do nothing)",
                );
            }
        }
        Some(other) => errs.push(
            format!("{path}.upgradeStrategy.upgradeType"),
            format!("must be ColdUpgrade or HotUpgrade, got {other:?}"),
        ),
    }
    share_policy(
        c.share_volume_policy.type_.as_deref(),
        &format!("{path}.shareVolumePolicy.type"),
        errs,
    );
    if let Some(p) = &c.share_volume_device_policy {
        share_policy(
            p.type_.as_deref(),
            &format!("{path}.shareVolumeDevicePolicy.type"),
            errs,
        );
    }
    for (i, t) in c.transfer_env.iter().flatten().enumerate() {
        transfer_env(t, &format!("{path}.transferEnv[{i}]"), errs);
    }
    if let Some(rp) = &c.resources_policy {
        resources_policy(c, rp, &format!("{path}.resourcesPolicy"), init, errs);
    }
    container(&c.container, path, init, volumes, errs);
}

fn share_policy(v: Option<&str>, path: &str, errs: &mut SettingsErrors) {
    match v {
        Some(SHARE_ENABLED | SHARE_DISABLED) | None => {}
        Some(other) => errs.push(path, format!("must be enabled or disabled, got {other:?}")),
    }
}

fn transfer_env(t: &TransferEnvVar, path: &str, errs: &mut SettingsErrors) {
    let has_name = t.env_name.as_deref().is_some_and(|n| !n.is_empty())
        || t.env_names
            .as_ref()
            .is_some_and(|n| n.iter().any(|n| !n.is_empty()));
    if !has_name {
        errs.push(
            path,
            "set envName or envNames: the variables to copy from the source container",
        );
    }
    match &t.source_container_name_from {
        Some(from) => match &from.field_ref {
            None => errs.push(
                format!("{path}.sourceContainerNameFrom.fieldRef"),
                "required: e.g. {fieldPath: \"metadata.labels['app-container']\"}",
            ),
            Some(f) => {
                let p = format!("{path}.sourceContainerNameFrom.fieldRef");
                if f.api_version.as_deref().unwrap_or("v1") != "v1" {
                    errs.push(
                        format!("{p}.apiVersion"),
                        format!(
                            "must be v1, got {:?}",
                            f.api_version.as_deref().unwrap_or("")
                        ),
                    );
                }
                if let Err(m) = crate::fieldpath::parse_metadata_key_path(&f.field_path) {
                    errs.push(format!("{p}.fieldPath"), m);
                }
            }
        },
        None => {
            if t.source_container_name.as_deref().unwrap_or("").is_empty() {
                errs.push(path, "set sourceContainerName or sourceContainerNameFrom: the app container to copy from");
            }
        }
    }
}

fn resources_policy(
    c: &SidecarContainer,
    rp: &ResourcesPolicy,
    path: &str,
    init: bool,
    errs: &mut SettingsErrors,
) {
    if init && !c.is_native_sidecar() {
        errs.push(
            path,
            "is only allowed on initContainers with restartPolicy: Always (native sidecars)",
        );
    }
    let r = c.container.resources.as_ref();
    if r.is_some_and(|r| {
        r.limits.as_ref().is_some_and(|l| !l.is_empty())
            || r.requests.as_ref().is_some_and(|l| !l.is_empty())
    }) {
        errs.push(path, "cannot be used together with resources.limits or resources.requests: the policy computes them");
    }
    if rp.target_containers_mode != "sum" && rp.target_containers_mode != "max" {
        errs.push(
            format!("{path}.targetContainersMode"),
            format!("must be sum or max, got {:?}", rp.target_containers_mode),
        );
    }
    let re = rp.target_containers_name_regex.as_deref().unwrap_or(".*");
    if re.is_empty() {
        errs.push(
            format!("{path}.targetContainersNameRegex"),
            "must not be empty (leave it out for \".*\")",
        );
    } else if let Err(e) = regex_lite::Regex::new(re) {
        errs.push(
            format!("{path}.targetContainersNameRegex"),
            format!("is not a valid regular expression: {e}"),
        );
    }
    let e = &rp.resources_expr;
    let mut any = false;
    for (kind, pair) in [("limits", &e.limits), ("requests", &e.requests)] {
        for (res, resource, expr) in [
            (
                "cpu",
                ExprResource::Cpu,
                pair.as_ref().and_then(|p| p.cpu.as_deref()),
            ),
            (
                "memory",
                ExprResource::Memory,
                pair.as_ref().and_then(|p| p.memory.as_deref()),
            ),
        ] {
            if let Some(x) = expr.filter(|x| !x.is_empty()) {
                any = true;
                // Each field with its own variable, as Kruise's `validateResourceExprLimits`:
                // `cpu` in a memory field is an undefined variable.
                if let Err(m) = resources_expr::validate_expr_for(x, resource) {
                    errs.push(format!("{path}.resourcesExpr.{kind}.{res}"), m);
                }
            }
        }
    }
    if !any {
        errs.push(
            format!("{path}.resourcesExpr"),
            "set at least one of limits or requests (cpu or memory expressions)",
        );
    }
}

const PULL_POLICIES: &[&str] = &["Always", "Never", "IfNotPresent"];

/// The part of Kubernetes' container validation a sidecar definition can break on its own
/// (`ValidatePodCreate`'s container checks, `pkg/apis/core/validation/validation.go`), in the order
/// Kubernetes reports them.
fn container(
    c: &Container,
    path: &str,
    init: bool,
    volumes: &BTreeSet<String>,
    errs: &mut SettingsErrors,
) {
    identity(c, path, errs);
    restart_policy_and_probes(c, path, init, errs);
    ports(c, path, errs);
    for (i, e) in c.env.iter().flatten().enumerate() {
        if let Err(m) = names::env_var_name(&e.name) {
            errs.push(format!("{path}.env[{i}].name"), m);
        }
    }
    if let Some(r) = &c.resources {
        resources(r, path, errs);
    }
    volume_mounts_and_devices(c, path, volumes, errs);
}

/// Name, image and the enumerated policies.
fn identity(c: &Container, path: &str, errs: &mut SettingsErrors) {
    if let Err(m) = names::dns1123_label(&c.name) {
        errs.push(format!("{path}.name"), m);
    }
    if c.image.as_deref().unwrap_or("").trim().is_empty() {
        errs.push(format!("{path}.image"), "required: the sidecar's image");
    }
    if let Some(p) = c
        .image_pull_policy
        .as_deref()
        .filter(|p| !PULL_POLICIES.contains(p))
    {
        errs.push(
            format!("{path}.imagePullPolicy"),
            format!("must be Always, Never or IfNotPresent, got {p:?}"),
        );
    }
    if let Some(p) = c
        .termination_message_policy
        .as_deref()
        .filter(|p| *p != "File" && *p != "FallbackToLogsOnError")
    {
        errs.push(
            format!("{path}.terminationMessagePolicy"),
            format!("must be File or FallbackToLogsOnError, got {p:?}"),
        );
    }
}

/// `restartPolicy` (only `Always`, only on init containers: a native sidecar), what a plain init
/// container may not have, and each probe.
fn restart_policy_and_probes(c: &Container, path: &str, init: bool, errs: &mut SettingsErrors) {
    match (init, c.restart_policy.as_deref()) {
        (_, None) | (true, Some("Always")) => {}
        (true, Some(other)) => errs.push(
            format!("{path}.restartPolicy"),
            format!("must be Always (a native sidecar) or left out, got {other:?}"),
        ),
        (false, Some(_)) => errs.push(
            format!("{path}.restartPolicy"),
            "is only allowed on initContainers (as Always, for native sidecars)",
        ),
    }
    let plain_init = init && c.restart_policy.as_deref() != Some("Always");
    if plain_init {
        for (field, set) in [
            ("lifecycle", c.lifecycle.is_some()),
            ("livenessProbe", c.liveness_probe.is_some()),
            ("readinessProbe", c.readiness_probe.is_some()),
            ("startupProbe", c.startup_probe.is_some()),
        ] {
            if set {
                errs.push(
                    format!("{path}.{field}"),
                    "is not allowed on an init container unless restartPolicy is Always",
                );
            }
        }
    }
    for (field, p, kind) in [
        ("livenessProbe", &c.liveness_probe, ProbeKind::Liveness),
        ("readinessProbe", &c.readiness_probe, ProbeKind::Readiness),
        ("startupProbe", &c.startup_probe, ProbeKind::Startup),
    ] {
        if let Some(p) = p {
            probe(p, &format!("{path}.{field}"), kind, errs);
        }
    }
}

/// Port numbers, protocols, and unique IANA service names.
fn ports(c: &Container, path: &str, errs: &mut SettingsErrors) {
    let mut port_names = BTreeSet::new();
    for (i, p) in c.ports.iter().flatten().enumerate() {
        let pp = format!("{path}.ports[{i}]");
        if !(1..=65535).contains(&p.container_port) {
            errs.push(
                format!("{pp}.containerPort"),
                format!("must be between 1 and 65535, got {}", p.container_port),
            );
        }
        if let Some(h) = p.host_port.filter(|h| !(0..=65535).contains(h)) {
            errs.push(
                format!("{pp}.hostPort"),
                format!("must be between 1 and 65535, got {h}"),
            );
        }
        if let Some(proto) = p
            .protocol
            .as_deref()
            .filter(|x| !["TCP", "UDP", "SCTP"].contains(x))
        {
            errs.push(
                format!("{pp}.protocol"),
                format!("must be TCP, UDP or SCTP, got {proto:?}"),
            );
        }
        if let Some(n) = p.name.as_deref().filter(|n| !n.is_empty()) {
            let ok = n.len() <= 15
                && n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && n.chars().any(|c| c.is_ascii_lowercase())
                && !n.starts_with('-')
                && !n.ends_with('-')
                && !n.contains("--");
            if !ok {
                errs.push(format!("{pp}.name"), format!("must be an IANA service name (at most 15 lower-case letters, digits or '-', with a letter), got {n:?}"));
            }
            if !port_names.insert(n.to_string()) {
                errs.push(format!("{pp}.name"), format!("duplicate port name {n:?}"));
            }
        }
    }
}

/// Every quantity parses, and no request exceeds its limit.
fn resources(r: &ResourceRequirements, path: &str, errs: &mut SettingsErrors) {
    let mut parsed: BTreeMap<(&str, &str), Quantity> = BTreeMap::new();
    for (kind, list) in [("limits", &r.limits), ("requests", &r.requests)] {
        for (res, q) in list.iter().flatten() {
            match Quantity::parse(&q.0) {
                Ok(v) => {
                    parsed.insert((kind, res.as_str()), v);
                }
                Err(e) => errs.push(format!("{path}.resources.{kind}.{res}"), e.to_string()),
            }
        }
    }
    for ((kind, res), req) in &parsed {
        if *kind == "requests"
            && let Some(lim) = parsed.get(&("limits", res))
            && req > lim
        {
            errs.push(
                format!("{path}.resources.requests.{res}"),
                format!(
                    "must be less than or equal to the {res} limit ({})",
                    lim.canonical()
                ),
            );
        }
    }
}

/// Mounts and devices name declared volumes, at unique paths.
fn volume_mounts_and_devices(
    c: &Container,
    path: &str,
    volumes: &BTreeSet<String>,
    errs: &mut SettingsErrors,
) {
    let mut mount_paths = BTreeSet::new();
    for (i, m) in c.volume_mounts.iter().flatten().enumerate() {
        let mp = format!("{path}.volumeMounts[{i}]");
        if !volumes.contains(&m.name) {
            errs.push(format!("{mp}.name"), format!("volume {:?} is not declared in volumes: declare it there (a Pod volume of the same name wins at injection)", m.name));
        }
        if m.mount_path.is_empty() {
            errs.push(format!("{mp}.mountPath"), "required");
        } else if !mount_paths.insert(m.mount_path.clone()) {
            errs.push(
                format!("{mp}.mountPath"),
                format!("{:?} is mounted twice", m.mount_path),
            );
        }
        if m.sub_path.as_deref().is_some_and(|s| !s.is_empty())
            && m.sub_path_expr.as_deref().is_some_and(|s| !s.is_empty())
        {
            errs.push(&mp, "subPath and subPathExpr are mutually exclusive");
        }
    }
    for (i, d) in c.volume_devices.iter().flatten().enumerate() {
        let dp = format!("{path}.volumeDevices[{i}]");
        if !volumes.contains(&d.name) {
            errs.push(
                format!("{dp}.name"),
                format!("volume {:?} is not declared in volumes", d.name),
            );
        }
        if d.device_path.is_empty() {
            errs.push(format!("{dp}.devicePath"), "required");
        } else if mount_paths.contains(&d.device_path) {
            errs.push(
                format!("{dp}.devicePath"),
                format!("{:?} is already used by a volumeMount", d.device_path),
            );
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

/// The checks Kubernetes' Pod validation makes of a probe (`validateProbe`, `validateHTTPGetAction`
/// and the liveness and startup `successThreshold` rule), which Kruise's SidecarSet webhook runs
/// on the sidecars (`pkg/webhook/sidecarset/validating/sidecarset_create_update_handler.go`
/// `validateContainersForSidecarSet`, through `ValidatePodCreate`). Kruise defaults the liveness
/// and readiness probes first but not the startup probe (`apis/apps/defaults/v1beta1.go`
/// `setDefaultContainerV1beta1`), so a startup probe without `successThreshold` or without its
/// `httpGet` `path` and `scheme` is refused there: here too, saying what to write.
fn probe(p: &Probe, path: &str, kind: ProbeKind, errs: &mut SettingsErrors) {
    let not_defaulted = if kind == ProbeKind::Startup {
        " (Kruise does not default a startup probe)"
    } else {
        ""
    };
    let handlers = [
        p.exec.is_some(),
        p.http_get.is_some(),
        p.tcp_socket.is_some(),
        p.grpc.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if handlers != 1 {
        errs.push(
            path,
            format!("must have exactly one of exec, httpGet, tcpSocket or grpc, got {handlers}"),
        );
    }
    if let Some(g) = &p.http_get {
        if g.path.as_deref().unwrap_or("").is_empty() {
            errs.push(
                format!("{path}.httpGet.path"),
                format!("required{not_defaulted}: write the path to probe, e.g. path: /"),
            );
        }
        let scheme = g.scheme.as_deref().unwrap_or("");
        if !matches!(scheme, "HTTP" | "HTTPS") {
            errs.push(
                format!("{path}.httpGet.scheme"),
                format!("must be HTTP or HTTPS{not_defaulted}, got {scheme:?}"),
            );
        }
    }
    for (f, v) in [
        ("initialDelaySeconds", p.initial_delay_seconds),
        ("timeoutSeconds", p.timeout_seconds),
        ("periodSeconds", p.period_seconds),
        ("successThreshold", p.success_threshold),
        ("failureThreshold", p.failure_threshold),
    ] {
        if let Some(v) = v.filter(|v| *v < 0) {
            errs.push(format!("{path}.{f}"), format!("must be 0 or more, got {v}"));
        }
    }
    if kind != ProbeKind::Readiness {
        match p.success_threshold {
            Some(1) => {}
            Some(s) => errs.push(
                format!("{path}.successThreshold"),
                format!("must be 1 for liveness and startup probes, got {s}"),
            ),
            None => errs.push(
                format!("{path}.successThreshold"),
                format!("must be 1{not_defaulted}: write successThreshold: 1"),
            ),
        }
    }
}

fn patch_pod_metadata(s: &Settings, errs: &mut SettingsErrors) {
    let allowed: Vec<regex_lite::Regex> = s
        .allowed_patch_pod_metadata_keys
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, r)| match regex_lite::Regex::new(r) {
            Ok(re) => Some(re),
            Err(e) => {
                errs.push(
                    format!("allowedPatchPodMetadataKeys[{i}]"),
                    format!("is not a valid regular expression: {e}"),
                );
                None
            }
        })
        .collect();
    let restrict = s
        .allowed_patch_pod_metadata_keys
        .as_ref()
        .is_some_and(|l| !l.is_empty());
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, p) in s.patch_pod_metadata.iter().flatten().enumerate() {
        let path = format!("patchPodMetadata[{i}]");
        if p.annotations.is_empty() {
            errs.push(
                format!("{path}.annotations"),
                "must have at least one annotation",
            );
        }
        let policy = p.patch_policy.as_deref().unwrap_or(PATCH_RETAIN);
        if ![PATCH_RETAIN, PATCH_OVERWRITE, PATCH_MERGE_JSON].contains(&policy) {
            errs.push(
                format!("{path}.patchPolicy"),
                format!("must be Retain, Overwrite or MergePatchJson, got {policy:?}"),
            );
        }
        for (k, v) in &p.annotations {
            let kp = format!("{path}.annotations[{k}]");
            if let Err(m) = names::qualified_name(k) {
                errs.push(&kp, format!("key {m}"));
            }
            if let Some(first) = seen.insert(k, i) {
                errs.push(&kp, format!("key is already patched by patchPodMetadata[{first}]: a key may appear in one entry only"));
            }
            if restrict && !allowed.iter().any(|re| re.is_match(k)) {
                errs.push(&kp, "key is not allowed by allowedPatchPodMetadataKeys");
            }
            if policy == PATCH_MERGE_JSON {
                match serde_json::from_str::<serde_json::Value>(v) {
                    Ok(serde_json::Value::Null) => {
                        errs.push(&kp, "a MergePatchJson value must not be null")
                    }
                    Ok(_) => {}
                    Err(e) => errs.push(&kp, format!("a MergePatchJson value must be JSON: {e}")),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::SidecarSet;

    fn base() -> Value {
        json!({"name": "log-agent", "selector": {"matchLabels": {"app": "web"}},
               "containers": [{"name": "agent", "image": "busybox:1.36"}]})
    }

    /// Applies `patch` (a JSON merge patch) to a valid base and returns every error message.
    fn errors_with(patch: Value) -> Vec<String> {
        let mut s = base();
        json_merge(&mut s, patch);
        match SidecarSet::new(&s) {
            Ok(_) => vec![],
            Err(e) => e.iter().map(ToString::to_string).collect(),
        }
    }

    fn json_merge(t: &mut Value, p: Value) {
        match (t, p) {
            (Value::Object(t), Value::Object(p)) => {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(&k);
                    } else {
                        json_merge(t.entry(k).or_insert(Value::Null), v);
                    }
                }
            }
            (t, p) => *t = p,
        }
    }

    #[track_caller]
    fn expect(patch: Value, wanted: &str) {
        let errs = errors_with(patch);
        assert!(
            errs.iter().any(|e| e == wanted),
            "wanted {wanted:?} in {errs:#?}"
        );
    }

    #[test]
    fn the_base_is_valid() {
        assert_eq!(errors_with(json!({})), Vec::<String>::new());
    }

    #[test]
    fn name_rules() {
        expect(
            json!({"name": null}),
            "name: required: the SidecarSet's name, which keys the Pod annotations (e.g. \"filebeat\")",
        );
        expect(
            json!({"name": "a_b"}),
            "name: must be at most 63 letters, digits or '-' (Kruise's SidecarSet name rule), got \"a_b\"",
        );
    }

    #[test]
    fn selector_rules() {
        expect(
            json!({"selector": null}),
            "selector: required: a label selector choosing the Pods to inject (e.g. matchLabels)",
        );
        expect(
            json!({"selector": {"matchLabels": null}}),
            "selector: must not be empty: an empty selector would match nothing (as in Kruise)",
        );
        expect(
            json!({"selector": {"matchExpressions": [{"key": "a", "operator": "In"}]}}),
            "selector.matchExpressions[0].values: must be non-empty when operator is In",
        );
        expect(
            json!({"namespaceSelector": {}}),
            "namespaceSelector: must not be empty when set; leave it out to match every namespace",
        );
    }

    #[test]
    fn injection_revision_rules() {
        for ok in [
            json!({"revisionName": "filebeat-68b485f5d7"}),
            json!({"customVersion": "v1.2", "policy": "Partial"}),
            json!({"revisionName": "a", "customVersion": "b", "policy": "Always"}),
        ] {
            let errs = errors_with(json!({"injectionStrategy": {"revision": ok}}));
            assert_eq!(errs, Vec::<String>::new(), "{ok}");
        }
        expect(
            json!({"injectionStrategy": {"revision": {"policy": "Partial"}}}),
            "injectionStrategy.revision: set revisionName (a ControllerRevision's name) or customVersion (the newest revision labelled with it); both are missing",
        );
        expect(
            json!({"injectionStrategy": {"revision": {"revisionName": "Bad_Name"}}}),
            "injectionStrategy.revision.revisionName: must be a ControllerRevision name, e.g. \"filebeat-68b485f5d7\": must be a DNS-1123 subdomain, got \"Bad_Name\"",
        );
        expect(
            json!({"injectionStrategy": {"revision": {"customVersion": ""}}}),
            "injectionStrategy.revision.customVersion: is looked up by label, so it must not be empty",
        );
        expect(
            json!({"injectionStrategy": {"revision": {"customVersion": "a b"}}}),
            "injectionStrategy.revision.customVersion: is looked up by label, so it must be a label value (empty, or at most 63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric), got \"a b\"",
        );
        expect(
            json!({"injectionStrategy": {"revision": {"revisionName": "a", "policy": "Sometimes"}}}),
            "injectionStrategy.revision.policy: must be Always or Partial, got \"Sometimes\"",
        );
        expect(
            json!({"revisionNamespace": "Kruise_System"}),
            "revisionNamespace: must be a Namespace name (where the reconciler's --revision-namespace keeps the ControllerRevisions): must be a DNS-1123 label (at most 63 lower-case letters, digits or '-', starting and ending with a letter or digit), got \"Kruise_System\"",
        );
        assert_eq!(
            errors_with(json!({"revisionNamespace": "kruise-system"})),
            Vec::<String>::new()
        );
    }

    #[test]
    fn update_strategy_rules() {
        expect(
            json!({"updateStrategy": {"type": "Rolling"}}),
            "updateStrategy.type: must be RollingUpdate or NotUpdate, got \"Rolling\"",
        );
        expect(
            json!({"updateStrategy": {"partition": 1, "selector": {"matchLabels": {"canary": "true"}}}}),
            "updateStrategy.partition: cannot be used together with updateStrategy.selector: use one or the other",
        );
        assert_eq!(
            errors_with(
                json!({"updateStrategy": {"partition": 0, "selector": {"matchLabels": {"canary": "true"}}}})
            ),
            Vec::<String>::new()
        );
        expect(
            json!({"updateStrategy": {"maxUnavailable": "ten"}}),
            "updateStrategy.maxUnavailable: must be a non-negative integer or a percentage like \"10%\", got \"ten\"",
        );
        expect(
            json!({"updateStrategy": {"partition": -1}}),
            "updateStrategy.partition: must be 0 or more, got -1",
        );
        assert_eq!(
            errors_with(json!({"updateStrategy": {"maxUnavailable": 0}})),
            Vec::<String>::new(),
            "0 is legal"
        );
        expect(
            json!({"updateStrategy": {"priorityStrategy": {"weightPriority": [{"weight": 101, "matchSelector": {"matchLabels": {"a": "b"}}}], "orderPriority": [{"orderedKey": "x"}]}}}),
            "updateStrategy.priorityStrategy: set weightPriority or orderPriority, not both",
        );
        expect(
            json!({"updateStrategy": {"priorityStrategy": {"weightPriority": [{"weight": 101, "matchSelector": {"matchLabels": {"a": "b"}}}]}}}),
            "updateStrategy.priorityStrategy.weightPriority[0].weight: must be between 0 and 100, got 101",
        );
        expect(
            json!({"updateStrategy": {"priorityStrategy": {"orderPriority": [{"orderedKey": ""}]}}}),
            "updateStrategy.priorityStrategy.orderPriority[0].orderedKey: required: a label key whose value orders the Pods",
        );
        expect(
            json!({"updateStrategy": {"scatterStrategy": [{"key": "zone", "value": "a"}, {"key": "zone", "value": "a"}]}}),
            "updateStrategy.scatterStrategy[1]: duplicate term zone=a",
        );
        // NotUpdate skips the rolling-update checks, as in Kruise.
        assert_eq!(
            errors_with(json!({"updateStrategy": {"type": "NotUpdate", "maxUnavailable": "ten"}})),
            Vec::<String>::new()
        );
    }

    #[test]
    fn needs_a_container() {
        expect(
            json!({"containers": []}),
            "containers: at least one of containers or initContainers is required",
        );
    }

    #[test]
    fn sidecar_container_enums() {
        expect(
            json!({"containers": [{"name": "a", "image": "i"}, {"name": "b", "image": "i", "podInjectPolicy": "Sometimes"}]}),
            "containers[1].podInjectPolicy: must be BeforeAppContainer or AfterAppContainer, got \"Sometimes\"",
        );
        expect(
            json!({"containers": [{"name": "a", "image": "i", "shareVolumePolicy": {"type": "on"}}]}),
            "containers[0].shareVolumePolicy.type: must be enabled or disabled, got \"on\"",
        );
        expect(
            json!({"containers": [{"name": "a", "image": "i", "shareVolumeDevicePolicy": {"type": "Enabled"}}]}),
            "containers[0].shareVolumeDevicePolicy.type: must be enabled or disabled, got \"Enabled\"",
        );
        expect(
            json!({"containers": [{"name": "a", "image": "i", "upgradeStrategy": {"upgradeType": "Hot"}}]}),
            "containers[0].upgradeStrategy.upgradeType: must be ColdUpgrade or HotUpgrade, got \"Hot\"",
        );
        expect(
            json!({"containers": [{"name": "a", "image": "i", "upgradeStrategy": {"upgradeType": "HotUpgrade"}}]}),
            "containers[0].upgradeStrategy.hotUpgradeEmptyImage: required with upgradeType HotUpgrade: the image the idle twin runs (it must start and do nothing)",
        );
    }

    #[test]
    fn transfer_env_rules() {
        let c = |t: Value| json!({"containers": [{"name": "a", "image": "i", "transferEnv": [t]}]});
        expect(
            c(json!({"sourceContainerNameFrom": {}, "envName": "X"})),
            "containers[0].transferEnv[0].sourceContainerNameFrom.fieldRef: required: e.g. {fieldPath: \"metadata.labels['app-container']\"}",
        );
        expect(
            c(
                json!({"sourceContainerNameFrom": {"fieldRef": {"fieldPath": "metadata.name"}}, "envName": "X"}),
            ),
            "containers[0].transferEnv[0].sourceContainerNameFrom.fieldRef.fieldPath: must be metadata.labels['<key>'] or metadata.annotations['<key>'], got \"metadata.name\"",
        );
        expect(
            c(
                json!({"sourceContainerNameFrom": {"fieldRef": {"apiVersion": "v2", "fieldPath": "metadata.labels['a']"}}, "envName": "X"}),
            ),
            "containers[0].transferEnv[0].sourceContainerNameFrom.fieldRef.apiVersion: must be v1, got \"v2\"",
        );
        expect(
            c(json!({"envName": "X"})),
            "containers[0].transferEnv[0]: set sourceContainerName or sourceContainerNameFrom: the app container to copy from",
        );
        expect(
            c(json!({"sourceContainerName": "app"})),
            "containers[0].transferEnv[0]: set envName or envNames: the variables to copy from the source container",
        );
    }

    #[test]
    fn resources_policy_rules() {
        let rp = json!({"targetContainersMode": "avg", "targetContainersNameRegex": "(", "resourcesExpr": {}});
        let errs = errors_with(
            json!({"containers": [{"name": "a", "image": "i", "resources": {"limits": {"cpu": "1"}}, "resourcesPolicy": rp}]}),
        );
        let has = |s: &str| errs.iter().any(|e| e.starts_with(s));
        assert!(
            has("containers[0].resourcesPolicy: cannot be used together with resources.limits"),
            "{errs:#?}"
        );
        assert!(
            has(
                "containers[0].resourcesPolicy.targetContainersMode: must be sum or max, got \"avg\""
            ),
            "{errs:#?}"
        );
        assert!(
            has(
                "containers[0].resourcesPolicy.targetContainersNameRegex: is not a valid regular expression"
            ),
            "{errs:#?}"
        );
        assert!(
            has(
                "containers[0].resourcesPolicy.resourcesExpr: set at least one of limits or requests"
            ),
            "{errs:#?}"
        );
        expect(
            json!({"initContainers": [{"name": "b", "image": "i", "resourcesPolicy": {"targetContainersMode": "sum", "resourcesExpr": {"requests": {"cpu": "cpu"}}}}]}),
            "initContainers[0].resourcesPolicy: is only allowed on initContainers with restartPolicy: Always (native sidecars)",
        );
    }

    #[test]
    fn each_resources_expr_field_binds_its_own_variable() {
        let policy = |limits: Value| {
            json!({"containers": [{"name": "a", "image": "i", "resourcesPolicy": {
                "targetContainersMode": "sum", "resourcesExpr": {"limits": limits}}}]})
        };
        assert_eq!(
            errors_with(policy(
                json!({"cpu": "cpu*50%", "memory": "max(memory, 50Mi)"})
            )),
            Vec::<String>::new()
        );
        let errs = errors_with(policy(json!({"memory": "cpu*2"})));
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(
            errs[0].starts_with(
                "containers[0].resourcesPolicy.resourcesExpr.limits.memory: invalid expression:"
            ),
            "{errs:#?}"
        );
    }

    #[test]
    fn container_rules_from_pod_validation() {
        expect(
            json!({"containers": [{"name": "Agent", "image": "i"}]}),
            "containers[0].name: must be a DNS-1123 label (at most 63 lower-case letters, digits or '-', starting and ending with a letter or digit), got \"Agent\"",
        );
        expect(
            json!({"containers": [{"name": "a"}]}),
            "containers[0].image: required: the sidecar's image",
        );
        expect(
            json!({"containers": [{"name": "a", "image": "i"}], "initContainers": [{"name": "a", "image": "i"}]}),
            "containers[0].name: \"a\" is already used by initContainers[0]: container names must be unique across containers and initContainers",
        );
        expect(
            json!({"containers": [{"name": "a", "image": "i", "upgradeStrategy": {"upgradeType": "HotUpgrade", "hotUpgradeEmptyImage": "e"}}, {"name": "a-2", "image": "i"}]}),
            "containers[1].name: \"a-2\" is already used by containers[0]: container names must be unique across containers and initContainers",
        );
        expect(
            json!({"containers": [{"name": "a", "image": "i", "volumeMounts": [{"name": "logs", "mountPath": "/l"}]}]}),
            "containers[0].volumeMounts[0].name: volume \"logs\" is not declared in volumes: declare it there (a Pod volume of the same name wins at injection)",
        );
        expect(
            json!({"containers": [{"name": "a", "image": "i", "imagePullPolicy": "Sometimes"}]}),
            "containers[0].imagePullPolicy: must be Always, Never or IfNotPresent, got \"Sometimes\"",
        );
        expect(
            json!({"containers": [{"name": "a", "image": "i", "restartPolicy": "Always"}]}),
            "containers[0].restartPolicy: is only allowed on initContainers (as Always, for native sidecars)",
        );
        expect(
            json!({"initContainers": [{"name": "b", "image": "i", "readinessProbe": {"exec": {"command": ["true"]}}}]}),
            "initContainers[0].readinessProbe: is not allowed on an init container unless restartPolicy is Always",
        );
        expect(
            json!({"containers": [{"name": "a", "image": "i", "livenessProbe": {}}]}),
            "containers[0].livenessProbe: must have exactly one of exec, httpGet, tcpSocket or grpc, got 0",
        );
        expect(
            json!({"containers": [{"name": "a", "image": "i", "ports": [{"containerPort": 0}]}]}),
            "containers[0].ports[0].containerPort: must be between 1 and 65535, got 0",
        );
        expect(
            json!({"volumes": [{"name": "v", "emptyDir": {}, "configMap": {"name": "c"}}]}),
            "volumes[0]: must have exactly one volume source, got configMap, emptyDir",
        );
        expect(
            json!({"containers": [{"name": "a", "image": "i", "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "2"}}}]}),
            "containers[0].resources.requests.cpu: must be less than or equal to the cpu limit (1)",
        );
    }

    #[test]
    fn a_startup_probe_is_not_defaulted_so_it_must_be_complete() {
        let startup = |probe: Value| {
            errors_with(json!({"containers": [{"name": "a", "image": "i", "startupProbe": probe}]}))
        };
        assert_eq!(
            startup(json!({"httpGet": {"port": 8080}})),
            vec![
                "containers[0].startupProbe.httpGet.path: required (Kruise does not default a startup probe): write the path to probe, e.g. path: /",
                "containers[0].startupProbe.httpGet.scheme: must be HTTP or HTTPS (Kruise does not default a startup probe), got \"\"",
                "containers[0].startupProbe.successThreshold: must be 1 (Kruise does not default a startup probe): write successThreshold: 1",
            ]
        );
        assert_eq!(
            startup(
                json!({"httpGet": {"port": 8080, "path": "/", "scheme": "HTTPS"}, "successThreshold": 1})
            ),
            Vec::<String>::new()
        );
        assert_eq!(
            startup(json!({"exec": {"command": ["true"]}, "successThreshold": 2})),
            vec![
                "containers[0].startupProbe.successThreshold: must be 1 for liveness and startup probes, got 2"
            ]
        );
        // Timeouts, periods and thresholds of 0 pass Kubernetes' Pod validation (non-negative).
        assert_eq!(
            startup(json!({"tcpSocket": {"port": 80}, "successThreshold": 1})),
            Vec::<String>::new()
        );
        // Init containers (native sidecars) are checked the same way.
        expect(
            json!({"initContainers": [{"name": "n", "image": "i", "restartPolicy": "Always", "startupProbe": {"exec": {"command": ["true"]}}}]}),
            "initContainers[0].startupProbe.successThreshold: must be 1 (Kruise does not default a startup probe): write successThreshold: 1",
        );
    }

    #[test]
    fn liveness_and_readiness_probes_are_defaulted_then_checked() {
        // Defaulting fills path, scheme and successThreshold in: nothing to complain about.
        for field in ["livenessProbe", "readinessProbe"] {
            assert_eq!(
                errors_with(
                    json!({"containers": [{"name": "a", "image": "i", field: {"httpGet": {"port": 80}}}]})
                ),
                Vec::<String>::new(),
                "{field}"
            );
        }
        // A value that was written is checked.
        expect(
            json!({"containers": [{"name": "a", "image": "i", "readinessProbe": {"httpGet": {"port": 80, "scheme": "FTP"}}}]}),
            "containers[0].readinessProbe.httpGet.scheme: must be HTTP or HTTPS, got \"FTP\"",
        );
    }

    #[test]
    fn native_sidecars_are_accepted_with_rolling_update() {
        // Kruise refuses this ("The initContainer in-place upgrade is not currently supported"); our
        // reconciler upgrades native sidecars in place.
        assert_eq!(
            errors_with(
                json!({"initContainers": [{"name": "p", "image": "i", "restartPolicy": "Always"}]})
            ),
            Vec::<String>::new()
        );
    }

    #[test]
    /// Go's RE2 dialect as Kruise compiles it: ASCII `\d`/`\w`, ASCII POSIX classes, `(?i)`; no
    /// Unicode property classes (refused here, where Go would accept them).
    fn regexes_use_the_ascii_re2_dialect() {
        let ok = json!({"allowedPatchPodMetadataKeys": ["(?i)^EXAMPLE\\.com/\\w+$", "^[[:alpha:]]+\\d$"],
            "patchPodMetadata": [{"annotations": {"example.com/x_1": "1", "abc7": "2"}}]});
        assert_eq!(errors_with(ok), Vec::<String>::new());
        let errs = errors_with(json!({"allowedPatchPodMetadataKeys": ["\\p{Greek}"],
            "patchPodMetadata": [{"annotations": {"a": "1"}}]}));
        assert!(
            errs.iter().any(|e| e
                .starts_with("allowedPatchPodMetadataKeys[0]: is not a valid regular expression")),
            "{errs:#?}"
        );
        // `\d` is [0-9] in Go, not Unicode's Nd: an Arabic-Indic digit is no digit.
        let re = regex_lite::Regex::new("^\\d$").unwrap();
        assert!(re.is_match("7") && !re.is_match("\u{0667}"));
    }

    #[test]
    fn patch_pod_metadata_rules() {
        expect(
            json!({"patchPodMetadata": [{"annotations": {}}]}),
            "patchPodMetadata[0].annotations: must have at least one annotation",
        );
        expect(
            json!({"patchPodMetadata": [{"annotations": {"a": "1"}, "patchPolicy": "Merge"}]}),
            "patchPodMetadata[0].patchPolicy: must be Retain, Overwrite or MergePatchJson, got \"Merge\"",
        );
        expect(
            json!({"patchPodMetadata": [{"annotations": {"a": "1"}}, {"annotations": {"a": "2"}}]}),
            "patchPodMetadata[1].annotations[a]: key is already patched by patchPodMetadata[0]: a key may appear in one entry only",
        );
        expect(
            json!({"patchPodMetadata": [{"annotations": {"a": "{"}, "patchPolicy": "MergePatchJson"}]}),
            "patchPodMetadata[0].annotations[a]: a MergePatchJson value must be JSON: EOF while parsing an object at line 1 column 1",
        );
        expect(
            json!({"allowedPatchPodMetadataKeys": ["^example\\.com/"], "patchPodMetadata": [{"annotations": {"other.io/x": "1"}}]}),
            "patchPodMetadata[0].annotations[other.io/x]: key is not allowed by allowedPatchPodMetadataKeys",
        );
        assert_eq!(
            errors_with(
                json!({"allowedPatchPodMetadataKeys": ["^example\\.com/"], "patchPodMetadata": [{"annotations": {"example.com/x": "1"}}]})
            ),
            Vec::<String>::new()
        );
    }

    #[test]
    fn values_kruise_leaves_unchecked() {
        expect(
            json!({"revisionHistoryLimit": -1}),
            "revisionHistoryLimit: must be 0 or more, got -1",
        );
        expect(
            json!({"customVersion": "v 1"}),
            "customVersion: is copied into a label, so it must be a label value (empty, or at most 63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric), got \"v 1\"",
        );
    }

    #[test]
    fn all_problems_are_reported_at_once() {
        let errs = errors_with(
            json!({"name": null, "selector": null, "containers": [{"name": "A", "podInjectPolicy": "x"}], "bogus": 1}),
        );
        assert!(!errs.is_empty(), "{errs:#?}");
        // Unknown keys stop before value checks (the document's shape is wrong), and are all reported.
        let errs = errors_with(
            json!({"name": null, "selector": null, "containers": [{"name": "A", "podInjectPolicy": "x"}]}),
        );
        assert!(errs.len() >= 5, "{errs:#?}");
    }
}
