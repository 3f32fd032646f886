//! A policy's metadata, one type for its whole journey: read from `metadata.yml`, checked,
//! written by `kwhost annotate` as JSON into the wasm custom section `io.kubewarden.metadata`,
//! and read back from there when a module is loaded or pushed.
//!
//! It is policy-evaluator's `Metadata` (what kwctl reads and writes on both ends): camelCase,
//! unknown keys ignored, `rules` and `mutating` required, the rest defaulted, and the fields in
//! the order kwctl writes them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::wasm::custom_section;

pub const METADATA_SECTION: &str = "io.kubewarden.metadata";

/// The only execution mode this host runs (and the default when a file names none).
pub const WAPC_EXECUTION_MODE: &str = "kubewarden-wapc";

const OPERATIONS: [&str; 5] = ["CREATE", "UPDATE", "DELETE", "CONNECT", "*"];
const SCOPES: [&str; 3] = ["Cluster", "Namespaced", "*"];
const EXECUTION_MODES: [&str; 5] = [WAPC_EXECUTION_MODE, "opa", "gatekeeper", "wasi", "ferricel"];
const POLICY_TYPES: [&str; 2] = ["kubernetes", "raw"];

/// A Kubernetes type a policy may read (`apiVersion` + `kind`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextAwareResource {
    pub api_version: String,
    pub kind: String,
}

/// A webhook rule, serialised as policy-evaluator's `Rule`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub api_groups: Vec<String>,
    pub api_versions: Vec<String>,
    pub resources: Vec<String>,
    pub operations: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// policy-evaluator's `Metadata`: the field order here is the order kwctl writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyMetadata {
    /// What the module answers to `protocol_version`: written by annotate, never taken from
    /// `metadata.yml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    pub rules: Vec<Rule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Required, as policy-evaluator's plain `bool` is: a file or a section without it is
    /// refused, so whatever was read holds `Some`. The `Option` is the shape callers outside
    /// this crate (the root package's tests) compare against.
    #[serde(deserialize_with = "required")]
    pub mutating: Option<bool>,
    #[serde(default = "default_true")]
    pub background_audit: bool,
    #[serde(default = "default_execution_mode")]
    pub execution_mode: String,
    #[serde(default = "default_policy_type")]
    pub policy_type: String,
    #[serde(default)]
    pub context_aware_resources: BTreeSet<ContextAwareResource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_capabilities: Option<BTreeSet<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_kubewarden_version: Option<String>,
    /// The section's JSON as read from a module, keys this type does not model included;
    /// `null` for metadata parsed from a file. Never written.
    #[serde(skip)]
    pub raw: Value,
}

/// serde treats a missing `Option` as `None`; with `deserialize_with` a missing key is an error
/// (`missing field ...`), as for policy-evaluator's `bool`.
fn required<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    bool::deserialize(deserializer).map(Some)
}

fn default_true() -> bool {
    true
}

fn default_execution_mode() -> String {
    WAPC_EXECUTION_MODE.to_owned()
}

fn default_policy_type() -> String {
    "kubernetes".to_owned()
}

impl PolicyMetadata {
    /// Parses and checks a `metadata.yml`; every problem found is reported in one message.
    pub fn from_yaml(text: &str) -> Result<Self> {
        let metadata: Self = serde_yaml::from_str(text)
            .map_err(|e| Error::Input(format!("invalid policy metadata: {e}")))?;
        let problems = metadata.problems();
        if problems.is_empty() {
            Ok(metadata)
        } else {
            Err(Error::Input(format!(
                "invalid policy metadata: {}",
                problems.join("; ")
            )))
        }
    }

    /// The metadata `kwctl annotate` wrote into `module`; `Ok(None)` for a module that was
    /// never annotated.
    pub fn from_module(module: &[u8]) -> Result<Option<Self>> {
        let Some(section) = custom_section(module, METADATA_SECTION)? else {
            return Ok(None);
        };
        let unreadable = |e: serde_json::Error| {
            Error::Load(format!("cannot parse the {METADATA_SECTION} section: {e}"))
        };
        let raw: Value = serde_json::from_slice(section).map_err(unreadable)?;
        let mut metadata = Self::deserialize(&raw).map_err(unreadable)?;
        metadata.raw = raw;
        Ok(Some(metadata))
    }

    /// The JSON `kwctl annotate` writes into the section.
    pub fn to_section_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("policy metadata always serialises")
    }

    /// Whether the module is a waPC policy, the only kind this host runs.
    pub fn is_wapc(&self) -> bool {
        self.execution_mode == WAPC_EXECUTION_MODE
    }

    /// The webhook-rule and field checks policy-evaluator runs when annotating.
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            rule_problems(&format!("rules[{i}]"), rule, &mut problems);
        }
        if !EXECUTION_MODES.contains(&self.execution_mode.as_str()) {
            problems.push(format!(
                "executionMode: unknown mode {:?} (one of {})",
                self.execution_mode,
                EXECUTION_MODES.join(", ")
            ));
        }
        if !POLICY_TYPES.contains(&self.policy_type.as_str()) {
            problems.push(format!(
                "policyType: unknown type {:?} (kubernetes or raw)",
                self.policy_type
            ));
        }
        for (i, r) in self.context_aware_resources.iter().enumerate() {
            if r.api_version.is_empty() || r.kind.is_empty() {
                problems.push(format!(
                    "contextAwareResources[{i}]: apiVersion and kind must not be empty"
                ));
            }
        }
        if let Some(v) = &self.minimum_kubewarden_version
            && !is_semver(v)
        {
            problems.push(format!(
                "minimumKubewardenVersion: {v:?} is not a semantic version (e.g. 1.10.0)"
            ));
        }
        problems
    }
}

fn rule_problems(at: &str, rule: &Rule, problems: &mut Vec<String>) {
    for (field, values) in [
        ("apiGroups", &rule.api_groups),
        ("apiVersions", &rule.api_versions),
        ("resources", &rule.resources),
        ("operations", &rule.operations),
    ] {
        if values.is_empty() {
            problems.push(format!("{at}.{field}: must list at least one value"));
        } else if values.len() > 1 && values.iter().any(|v| v == "*") {
            problems.push(format!(
                "{at}.{field}: no other value may be listed with '*'"
            ));
        }
    }
    for op in &rule.operations {
        if !OPERATIONS.contains(&op.as_str()) {
            problems.push(format!(
                "{at}.operations: unknown operation {op:?} (one of {})",
                OPERATIONS.join(", ")
            ));
        }
    }
    if let Some(scope) = &rule.scope
        && !SCOPES.contains(&scope.as_str())
    {
        problems.push(format!(
            "{at}.scope: unknown scope {scope:?} (one of {})",
            SCOPES.join(", ")
        ));
    }
    if let Err(e) = check_resources(&rule.resources) {
        problems.push(format!("{at}.resources: {e}"));
    }
}

/// Kubernetes' webhook resource rules, as policy-evaluator transposes them.
fn check_resources(resources: &[String]) -> Result<(), String> {
    let mut wildcard_sub_of: BTreeSet<&str> = BTreeSet::new(); // x/*
    let mut any_resource_with: BTreeSet<&str> = BTreeSet::new(); // */x
    let mut single_wildcard = false;
    let mut plain_resource = false;
    for resource in resources {
        if resource.is_empty() {
            return Err("empty resource is not allowed".to_owned());
        }
        if resource == "*" {
            single_wildcard = true;
        }
        let Some((res, sub)) = resource.split_once('/') else {
            plain_resource |= resource != "*";
            continue;
        };
        if wildcard_sub_of.contains(res) {
            return Err(format!(
                "if '{res}/*' is present, must not specify {resource}"
            ));
        }
        if any_resource_with.contains(sub) {
            return Err(format!(
                "if '*/{sub}' is present, must not specify {resource}"
            ));
        }
        if sub == "*" {
            wildcard_sub_of.insert(res);
        }
        if res == "*" {
            any_resource_with.insert(sub);
        }
    }
    if resources.len() > 1 && resources.iter().any(|r| r == "*/*") {
        return Err("if '*/*' is present, must not specify other resources".to_owned());
    }
    if single_wildcard && plain_resource {
        return Err(
            "if '*' is present, must not specify other resources without subresources".to_owned(),
        );
    }
    Ok(())
}

fn is_semver(version: &str) -> bool {
    semver::Version::parse(version).is_ok()
}

#[cfg(test)]
mod tests {
    use wasm_encoder::{CustomSection, Module, RawSection};

    use super::*;

    const MINIMAL: &str = "rules:\n- apiGroups: ['']\n  apiVersions: [v1]\n  resources: [pods]\n  operations: [CREATE]\nmutating: true\n";

    fn module_with(sections: &[(&str, &[u8])]) -> Vec<u8> {
        let mut module = Module::new();
        module.section(&RawSection { id: 1, data: &[0] });
        for (name, data) in sections {
            module.section(&CustomSection {
                name: (*name).into(),
                data: (*data).into(),
            });
        }
        module.finish()
    }

    #[test]
    fn defaults_and_field_order_follow_policy_evaluator() {
        let m = PolicyMetadata::from_yaml(&format!("{MINIMAL}contextAware: true\n")).unwrap();
        assert_eq!(
            String::from_utf8(m.to_section_json()).unwrap(),
            r#"{"rules":[{"apiGroups":[""],"apiVersions":["v1"],"resources":["pods"],"operations":["CREATE"]}],"mutating":true,"backgroundAudit":true,"executionMode":"kubewarden-wapc","policyType":"kubernetes","contextAwareResources":[]}"#
        );
        assert_eq!(m.raw, Value::Null, "a file leaves raw empty");
    }

    #[test]
    fn missing_required_fields_are_named() {
        for (text, field) in [
            ("rules: []\n", "missing field `mutating`"),
            ("mutating: false\n", "missing field `rules`"),
            ("rules: []\nmutating: null\n", "expected a boolean"),
        ] {
            let err = PolicyMetadata::from_yaml(text).unwrap_err().to_string();
            assert!(err.contains(field), "{text:?}: {err}");
        }
    }

    #[test]
    fn every_rule_problem_is_reported() {
        let text = "rules:\n- apiGroups: []\n  apiVersions: ['*', v1]\n  resources: ['*', pods]\n  operations: [CREATE, PATCH]\n  scope: Everywhere\nmutating: true\nexecutionMode: kubewarden\nminimumKubewardenVersion: '1.10'\n";
        let err = PolicyMetadata::from_yaml(text).unwrap_err().to_string();
        for needle in [
            "rules[0].apiGroups: must list at least one value",
            "rules[0].apiVersions: no other value may be listed with '*'",
            "rules[0].operations: unknown operation \"PATCH\"",
            "rules[0].scope: unknown scope \"Everywhere\"",
            "rules[0].resources: if '*' is present, must not specify other resources without subresources",
            "executionMode: unknown mode \"kubewarden\"",
            "minimumKubewardenVersion: \"1.10\" is not a semantic version",
        ] {
            assert!(err.contains(needle), "missing {needle:?} in {err}");
        }
    }

    #[test]
    fn resource_rules() {
        let ok = |r: &[&str]| check_resources(&r.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(ok(&["*", "a/b", "a/*", "*/b"]).is_ok());
        assert!(ok(&["a/*", "a"]).is_ok());
        assert!(ok(&["a/*", "a/x"]).is_err());
        assert!(ok(&["*/a", "x/a"]).is_err());
        assert!(ok(&["*/*", "pods"]).is_err());
        assert!(ok(&[""]).is_err());
    }

    #[test]
    fn semantic_versions() {
        assert!(is_semver("1.10.0"));
        assert!(is_semver("1.36.0-beta.1"));
        assert!(!is_semver("1.10"));
        assert!(!is_semver("v1.10.0"));
        assert!(!is_semver("01.2.3"), "no leading zeros");
        assert!(!is_semver("1.2.3-"), "an empty pre-release");
    }

    #[test]
    fn reads_the_section_back_with_the_keys_it_does_not_model() {
        let json = br#"{"rules":[],"mutating":true,"contextAwareResources":[{"apiVersion":"v1","kind":"Namespace"}],"futureKey":1}"#;
        let module = module_with(&[("producers", b"x"), (METADATA_SECTION, json)]);
        let metadata = PolicyMetadata::from_module(&module).unwrap().unwrap();
        assert_eq!(metadata.execution_mode, WAPC_EXECUTION_MODE);
        assert!(metadata.is_wapc());
        assert_eq!(metadata.mutating, Some(true));
        assert!(metadata.background_audit);
        assert!(
            metadata
                .context_aware_resources
                .contains(&ContextAwareResource {
                    api_version: "v1".into(),
                    kind: "Namespace".into()
                })
        );
        assert_eq!(metadata.raw["futureKey"], 1);
    }

    #[test]
    fn unannotated_and_unreadable_sections() {
        let module = module_with(&[("name", b"abc")]);
        assert_eq!(PolicyMetadata::from_module(&module).unwrap(), None);
        for json in [
            &b"{not json"[..],
            br#"{"rules":[]}"#,
            br#"{"mutating":true}"#,
        ] {
            let module = module_with(&[(METADATA_SECTION, json)]);
            let e = PolicyMetadata::from_module(&module)
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("cannot parse the io.kubewarden.metadata section: "),
                "{e}"
            );
        }
    }

    #[test]
    fn a_written_section_reads_back_as_written() {
        let mut written = PolicyMetadata::from_yaml(MINIMAL).unwrap();
        written.protocol_version = Some("v1".to_owned());
        let module = module_with(&[(METADATA_SECTION, &written.to_section_json())]);
        let read = PolicyMetadata::from_module(&module).unwrap().unwrap();
        assert_eq!(read.to_section_json(), written.to_section_json());
        assert_eq!(read.raw, serde_json::to_value(&written).unwrap());
    }
}
