//! The policy's settings: a SidecarSet `spec` (v1beta1, with v1alpha1's `namespace` accepted) plus `name`.
//!
//! Parsing is strict and exhaustive: every unknown key and every type error is reported with its field
//! path, all of them at once, because a user fixing settings by trial and error through `kwctl run` or a
//! policy-server restart deserves the whole list.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, LocalObjectReference, ObjectFieldSelector, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{SettingsErrors, join_path};

pub const BEFORE_APP_CONTAINER: &str = "BeforeAppContainer";
pub const AFTER_APP_CONTAINER: &str = "AfterAppContainer";
pub const COLD_UPGRADE: &str = "ColdUpgrade";
pub const HOT_UPGRADE: &str = "HotUpgrade";
pub const SHARE_ENABLED: &str = "enabled";
pub const SHARE_DISABLED: &str = "disabled";
pub const ROLLING_UPDATE: &str = "RollingUpdate";
pub const NOT_UPDATE: &str = "NotUpdate";
pub const PATCH_RETAIN: &str = "Retain";
pub const PATCH_OVERWRITE: &str = "Overwrite";
pub const PATCH_MERGE_JSON: &str = "MergePatchJson";
/// `injectionStrategy.revision.policy` (Kruise's `SidecarSetInjectRevisionPolicy`).
pub const INJECT_ALWAYS: &str = "Always";
pub const INJECT_PARTIAL: &str = "Partial";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// The SidecarSet's name: keys every annotation this set writes on a Pod.
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// v1alpha1's `spec.namespace`; converted to a `namespaceSelector` as Kruise's conversion does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_containers: Option<Vec<SidecarContainer>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub containers: Option<Vec<SidecarContainer>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<Volume>>,
    #[serde(default)]
    pub update_strategy: UpdateStrategy,
    #[serde(default)]
    pub injection_strategy: InjectionStrategy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_pod_metadata: Option<Vec<PatchPodMetadata>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_version: Option<String>,
    /// Replaces Kruise's cluster-wide `SidecarSet_PatchPodMetadata_WhiteList`: regular expressions
    /// (Go-style unanchored search) an annotation key of `patchPodMetadata` must match. Empty = any key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_patch_pod_metadata_keys: Option<Vec<String>>,
    /// Where the policy reads the ControllerRevisions `injectionStrategy.revision` names: the
    /// reconciler's `--revision-namespace`, which the policy cannot see (Kruise reads its own
    /// namespace, `webhookutil.GetNamespace()`). `None` means
    /// [`crate::revision::pinned::DEFAULT_NAMESPACE`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_namespace: Option<String>,
}

/// A core/v1 Container plus Kruise's sidecar fields.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SidecarContainer {
    #[serde(flatten)]
    pub container: Container,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_inject_policy: Option<String>,
    #[serde(default)]
    pub upgrade_strategy: UpgradeStrategy,
    #[serde(default)]
    pub share_volume_policy: ShareVolumePolicy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_volume_device_policy: Option<ShareVolumePolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_env: Option<Vec<TransferEnvVar>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources_policy: Option<ResourcesPolicy>,
}

/// The keys of [`SidecarContainer`] that are Kruise's, not core/v1 Container's.
const SIDECAR_KEYS: &[&str] = &[
    "podInjectPolicy",
    "upgradeStrategy",
    "shareVolumePolicy",
    "shareVolumeDevicePolicy",
    "transferEnv",
    "resourcesPolicy",
];

impl SidecarContainer {
    pub fn name(&self) -> &str {
        &self.container.name
    }
    pub fn is_hot_upgrade(&self) -> bool {
        self.upgrade_strategy.upgrade_type.as_deref() == Some(HOT_UPGRADE)
    }
    /// Injected as hot-upgrade twins (`<name>-1`, `<name>-2`): a HotUpgrade container, or native
    /// sidecar; Kruise's `buildSidecars` injects a plain init container once, whatever its
    /// `upgradeType`. `init`: the sidecar is one of `initContainers`.
    pub fn has_hot_twins(&self, init: bool) -> bool {
        self.is_hot_upgrade() && (!init || self.is_native_sidecar())
    }
    /// The names the sidecar takes in a Pod.
    pub fn names_in_pod(&self, init: bool) -> Vec<String> {
        if self.has_hot_twins(init) {
            vec![format!("{}-1", self.name()), format!("{}-2", self.name())]
        } else {
            vec![self.name().to_string()]
        }
    }
    /// A Kubernetes native sidecar: an init container that keeps running.
    pub fn is_native_sidecar(&self) -> bool {
        self.container.restart_policy.as_deref() == Some("Always")
    }
    pub fn shares_volumes(&self) -> bool {
        // Kruise shares unless the policy is exactly "disabled" (defaulting guarantees a value).
        self.share_volume_policy.type_.as_deref() != Some(SHARE_DISABLED)
    }
    pub fn shares_devices(&self) -> bool {
        self.share_volume_device_policy
            .as_ref()
            .and_then(|p| p.type_.as_deref())
            == Some(SHARE_ENABLED)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeStrategy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hot_upgrade_empty_image: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ShareVolumePolicy {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferEnvVar {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_container_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_container_name_from: Option<SourceContainerNameSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_names: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceContainerNameSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<ObjectFieldSelector>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourcesPolicy {
    #[serde(default)]
    pub target_containers_mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_containers_name_regex: Option<String>,
    #[serde(default)]
    pub resources_expr: ResourcesExpr,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourcesExpr {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<ResourceExprPair>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<ResourceExprPair>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceExprPair {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateStrategy {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(default)]
    pub paused: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<IntOrString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_strategy: Option<UpdatePriorityStrategy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scatter_strategy: Option<Vec<ScatterTerm>>,
}

impl UpdateStrategy {
    /// `type` as defaulting leaves it: `RollingUpdate` unless set.
    pub fn update_type(&self) -> &str {
        self.type_.as_deref().unwrap_or(ROLLING_UPDATE)
    }

    pub fn is_not_update(&self) -> bool {
        self.update_type() == NOT_UPDATE
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdatePriorityStrategy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_priority: Option<Vec<OrderPriorityTerm>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_priority: Option<Vec<WeightPriorityTerm>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderPriorityTerm {
    #[serde(default)]
    pub ordered_key: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightPriorityTerm {
    #[serde(default)]
    pub weight: i32,
    #[serde(default)]
    pub match_selector: LabelSelector,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScatterTerm {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub value: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InjectionStrategy {
    #[serde(default)]
    pub paused: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<InjectRevision>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InjectRevision {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchPodMetadata {
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_policy: Option<String>,
}

// === parsing ===

/// The keys a settings document may have; any other is refused by name.
pub const TOP_LEVEL_KEYS: &[&str] = &[
    "name",
    "selector",
    "namespace",
    "namespaceSelector",
    "initContainers",
    "containers",
    "volumes",
    "updateStrategy",
    "injectionStrategy",
    "imagePullSecrets",
    "revisionHistoryLimit",
    "patchPodMetadata",
    "customVersion",
    "allowedPatchPodMetadataKeys",
    "revisionNamespace",
];

impl Settings {
    /// Parses a settings document, reporting every unknown key and type error with its path.
    /// This does not apply defaults nor check values: see [`crate::SidecarSet::new`].
    pub fn parse(value: &Value) -> Result<Settings, SettingsErrors> {
        let (s, errs) = Self::parse_partial(value);
        if errs.is_empty() { Ok(s) } else { Err(errs) }
    }

    /// Like [`Settings::parse`], but also returns what could be parsed, so that value checks can run
    /// beside the shape errors and the user sees every problem at once.
    pub fn parse_partial(value: &Value) -> (Settings, SettingsErrors) {
        let mut errs = SettingsErrors::default();
        let empty = Map::new();
        let obj = match value {
            Value::Object(o) => o,
            // policy-server passes `{}` for absent settings; kwctl too. `null` is the same thing.
            Value::Null => &empty,
            other => {
                errs.push(
                    "",
                    format!("settings must be an object, got {}", json_type(other)),
                );
                return (Settings::default(), errs);
            }
        };
        for key in obj.keys() {
            if !TOP_LEVEL_KEYS.contains(&key.as_str()) {
                errs.push(key.clone(), unknown_field_message(key, TOP_LEVEL_KEYS));
            }
        }
        let mut s = Settings::default();
        macro_rules! field {
            ($key:literal, $target:expr) => {
                if let Some(v) = obj.get($key).filter(|v| !v.is_null()) {
                    if let Some(parsed) = parse_value(v, $key, &mut errs) {
                        $target = parsed;
                    }
                }
            };
        }
        field!("name", s.name);
        field!("selector", s.selector);
        field!("namespace", s.namespace);
        field!("namespaceSelector", s.namespace_selector);
        field!("volumes", s.volumes);
        field!("updateStrategy", s.update_strategy);
        field!("injectionStrategy", s.injection_strategy);
        field!("imagePullSecrets", s.image_pull_secrets);
        field!("revisionHistoryLimit", s.revision_history_limit);
        field!("patchPodMetadata", s.patch_pod_metadata);
        field!("customVersion", s.custom_version);
        field!(
            "allowedPatchPodMetadataKeys",
            s.allowed_patch_pod_metadata_keys
        );
        field!("revisionNamespace", s.revision_namespace);
        s.init_containers =
            parse_sidecar_list(obj.get("initContainers"), "initContainers", &mut errs);
        s.containers = parse_sidecar_list(obj.get("containers"), "containers", &mut errs);
        (s, errs)
    }
}

pub(crate) fn parse_sidecar_list(
    value: Option<&Value>,
    path: &str,
    errs: &mut SettingsErrors,
) -> Option<Vec<SidecarContainer>> {
    let items = match value? {
        Value::Null => return None,
        Value::Array(items) => items,
        other => {
            errs.push(
                path,
                format!("must be a list of containers, got {}", json_type(other)),
            );
            return None;
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        if let Some(c) = parse_sidecar_container(item, &item_path, errs) {
            out.push(c);
        }
    }
    Some(out)
}

/// The Container part goes through k8s-openapi's type (so a type error names e.g.
/// `containers[0].livenessProbe.periodSeconds`), Kruise's part through ours.
fn parse_sidecar_container(
    item: &Value,
    path: &str,
    errs: &mut SettingsErrors,
) -> Option<SidecarContainer> {
    let Value::Object(obj) = item else {
        errs.push(
            path,
            format!("must be a container object, got {}", json_type(item)),
        );
        return None;
    };
    let (mut kruise, mut core) = (Map::new(), Map::new());
    for (k, v) in obj {
        if SIDECAR_KEYS.contains(&k.as_str()) {
            kruise.insert(k.clone(), v.clone());
        } else {
            core.insert(k.clone(), v.clone());
        }
    }
    let before = errs.len();
    let container: Option<Container> = parse_value(&Value::Object(core), path, errs);
    #[derive(Deserialize, Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Extras {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pod_inject_policy: Option<String>,
        #[serde(default)]
        upgrade_strategy: UpgradeStrategy,
        #[serde(default)]
        share_volume_policy: ShareVolumePolicy,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        share_volume_device_policy: Option<ShareVolumePolicy>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transfer_env: Option<Vec<TransferEnvVar>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resources_policy: Option<ResourcesPolicy>,
    }
    let extras: Option<Extras> = parse_value(&Value::Object(kruise), path, errs);
    if errs.len() != before {
        return None;
    }
    let (container, e) = (container?, extras?);
    Some(SidecarContainer {
        container,
        pod_inject_policy: e.pod_inject_policy,
        upgrade_strategy: e.upgrade_strategy,
        share_volume_policy: e.share_volume_policy,
        share_volume_device_policy: e.share_volume_device_policy,
        transfer_env: e.transfer_env,
        resources_policy: e.resources_policy,
    })
}

/// Deserializes `value` as `T`, then serializes it back: a key present in the input but absent from
/// the round trip is one `T` does not know, which serde alone would silently drop.
pub(crate) fn parse_value<T: DeserializeOwned + Serialize>(
    value: &Value,
    path: &str,
    errs: &mut SettingsErrors,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(parsed) => {
            match serde_json::to_value(&parsed) {
                Ok(back) => report_unknown_keys(value, &back, path, errs),
                Err(e) => errs.push(path, format!("cannot be re-encoded: {e}")),
            }
            Some(parsed)
        }
        Err(e) => {
            let inner = e.path().to_string();
            let at = if inner == "." {
                path.to_string()
            } else {
                join_path(path, &inner)
            };
            errs.push(at, e.into_inner().to_string());
            None
        }
    }
}

fn report_unknown_keys(input: &Value, back: &Value, path: &str, errs: &mut SettingsErrors) {
    match (input, back) {
        (Value::Object(i), Value::Object(b)) => {
            for (k, v) in i {
                let p = join_path(path, k);
                match b.get(k) {
                    None if !v.is_null() => {
                        let known: Vec<&str> = b.keys().map(String::as_str).collect();
                        errs.push(
                            p,
                            format!("unknown field \"{k}\"{}", did_you_mean(k, &known)),
                        );
                    }
                    None => {}
                    Some(bv) => report_unknown_keys(v, bv, &p, errs),
                }
            }
        }
        (Value::Array(i), Value::Array(b)) => {
            for (idx, (iv, bv)) in i.iter().zip(b).enumerate() {
                report_unknown_keys(iv, bv, &format!("{path}[{idx}]"), errs);
            }
        }
        _ => {}
    }
}

fn unknown_field_message(key: &str, known: &[&str]) -> String {
    format!("unknown field \"{key}\"{}", did_you_mean(key, known))
}

/// A hint for typos: the known key at the smallest edit distance, when it is close.
fn did_you_mean(key: &str, known: &[&str]) -> String {
    let best = known
        .iter()
        .map(|k| (edit_distance(&key.to_lowercase(), &k.to_lowercase()), *k))
        .min();
    match best {
        Some((d, k)) if d <= 2.max(key.len() / 4) && d > 0 => format!(", did you mean \"{k}\"?"),
        Some((0, k)) => format!(", did you mean \"{k}\"? (keys are case-sensitive)"),
        _ => String::new(),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(v: Value) -> Vec<String> {
        Settings::parse(&v)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn parses_a_full_sidecarset_spec() {
        let s = Settings::parse(&json!({
            "name": "log-agent",
            "selector": {"matchLabels": {"app": "web"}},
            "containers": [{"name": "filebeat", "image": "filebeat:8.6", "podInjectPolicy": "AfterAppContainer",
                             "shareVolumePolicy": {"type": "enabled"},
                             "transferEnv": [{"sourceContainerName": "app", "envName": "LOG_LEVEL"}]}],
            "volumes": [{"name": "cfg", "configMap": {"name": "fb"}}],
            "updateStrategy": {"type": "RollingUpdate", "maxUnavailable": "10%", "partition": 2},
            "imagePullSecrets": [{"name": "reg"}],
        }))
        .unwrap();
        let c = &s.containers.as_ref().unwrap()[0];
        assert_eq!(c.name(), "filebeat");
        assert_eq!(c.container.image.as_deref(), Some("filebeat:8.6"));
        assert!(c.shares_volumes());
        assert_eq!(
            s.update_strategy.max_unavailable,
            Some(IntOrString::String("10%".into()))
        );
        assert_eq!(s.update_strategy.partition, Some(IntOrString::Int(2)));
    }

    #[test]
    fn reports_every_unknown_key_with_its_path() {
        let errs = errors(json!({
            "name": "x",
            "selectr": {},
            "containers": [{"name": "a", "image": "i", "imagePullPolicyy": "Always",
                             "livenessProbe": {"httpGet": {"port": 80, "pathh": "/"}},
                             "upgradeStrategy": {"upgradeTyp": "HotUpgrade"}}],
            "updateStrategy": {"maxUnavailible": 1},
        }));
        assert!(
            errs.contains(
                &"selectr: unknown field \"selectr\", did you mean \"selector\"?".to_string()
            ),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("containers[0].imagePullPolicyy: unknown field")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("containers[0].livenessProbe.httpGet.pathh: unknown field")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("containers[0].upgradeStrategy.upgradeTyp: unknown field")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("updateStrategy.maxUnavailible: unknown field")),
            "{errs:?}"
        );
        assert_eq!(errs.len(), 5, "{errs:?}");
    }

    #[test]
    fn reports_type_errors_with_their_path_and_keeps_going() {
        let errs = errors(json!({
            "containers": [{"name": "a", "livenessProbe": {"periodSeconds": "ten"}}, {"name": 7}],
            "revisionHistoryLimit": "ten",
        }));
        assert!(
            errs.iter()
                .any(|e| e.starts_with("containers[0].livenessProbe.periodSeconds: invalid type")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("containers[1].name: invalid type")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("revisionHistoryLimit: invalid type")),
            "{errs:?}"
        );
    }

    #[test]
    fn rejects_non_object_settings() {
        assert_eq!(
            errors(json!([1])),
            vec!["settings must be an object, got a list"]
        );
        assert!(Settings::parse(&Value::Null).is_ok());
    }
}
