//! `kwhost annotate`: what `kwctl annotate -m metadata.yml -u README.md -o out.wasm in.wasm`
//! writes, so that a machine without kwctl can build `annotated-policy.wasm`.
//!
//! The metadata file is read as policy-evaluator's `Metadata` (camelCase, unknown keys ignored,
//! `rules` and `mutating` required, the webhook-rule checks it runs), the module is instantiated
//! to ask `protocol_version`, the README becomes `io.kubewarden.policy.usage`, and the JSON is
//! written, in policy-evaluator's field order and with sorted maps, into the custom section
//! `io.kubewarden.metadata`.
//!
//! Deliberate differences from kwctl: no `io.kubewarden.kwctl` annotation (kwctl did not write
//! this module, and claiming a kwctl version would be false); the module is not re-emitted
//! through walrus, so every other byte stays as built (kwctl's rewrite usually shrinks it);
//! only `kubewarden-wapc` modules (the only mode this host runs); no host-capability heuristics.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::metadata::{ContextAwareResource, METADATA_SECTION, replace_custom_section};
use crate::policy::Policy;

pub const USAGE_ANNOTATION: &str = "io.kubewarden.policy.usage";

const OPERATIONS: [&str; 5] = ["CREATE", "UPDATE", "DELETE", "CONNECT", "*"];
const SCOPES: [&str; 3] = ["Cluster", "Namespaced", "*"];
const EXECUTION_MODES: [&str; 5] = ["kubewarden-wapc", "opa", "gatekeeper", "wasi", "ferricel"];
const POLICY_TYPES: [&str; 2] = ["kubernetes", "raw"];

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
    /// Set from the module, never from the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    pub rules: Vec<Rule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    pub mutating: bool,
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
}

fn default_true() -> bool {
    true
}

fn default_execution_mode() -> String {
    "kubewarden-wapc".to_owned()
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

    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            for (field, values) in [
                ("apiGroups", &rule.api_groups),
                ("apiVersions", &rule.api_versions),
                ("resources", &rule.resources),
                ("operations", &rule.operations),
            ] {
                if values.is_empty() {
                    problems.push(format!("rules[{i}].{field}: must list at least one value"));
                } else if values.len() > 1 && values.iter().any(|v| v == "*") {
                    problems.push(format!(
                        "rules[{i}].{field}: no other value may be listed with '*'"
                    ));
                }
            }
            for op in &rule.operations {
                if !OPERATIONS.contains(&op.as_str()) {
                    problems.push(format!(
                        "rules[{i}].operations: unknown operation {op:?} (one of {})",
                        OPERATIONS.join(", ")
                    ));
                }
            }
            if let Some(scope) = &rule.scope
                && !SCOPES.contains(&scope.as_str())
            {
                problems.push(format!(
                    "rules[{i}].scope: unknown scope {scope:?} (one of {})",
                    SCOPES.join(", ")
                ));
            }
            if let Err(e) = check_resources(&rule.resources) {
                problems.push(format!("rules[{i}].resources: {e}"));
            }
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

/// The annotated module: `module` with its metadata section replaced by `metadata` plus the
/// protocol version the module reports and, when given, the usage text.
pub fn annotate(module: &[u8], metadata: &PolicyMetadata, usage: Option<&str>) -> Result<Vec<u8>> {
    if metadata.execution_mode != "kubewarden-wapc" {
        return Err(Error::Unsupported(format!(
            "annotating {} modules; only kubewarden-wapc policies run here",
            metadata.execution_mode
        )));
    }
    // Drop a previous annotation first: its execution mode or type must not decide the load.
    let bare = replace_custom_section(module, METADATA_SECTION, b"{}")?;
    let policy = Policy::from_bytes(&bare)?;
    let protocol_version = match policy.protocol_version() {
        Some("v1") => "v1",
        Some(other) => {
            return Err(Error::Load(format!(
                "the module answered protocol_version with {other:?}; only v1 is known"
            )));
        }
        None => {
            return Err(Error::Load(
                "the module does not answer protocol_version: is it a Kubewarden waPC policy?"
                    .to_owned(),
            ));
        }
    };

    let mut metadata = metadata.clone();
    metadata.protocol_version = Some(protocol_version.to_owned());
    if let Some(usage) = usage {
        metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(USAGE_ANNOTATION.to_owned(), usage.to_owned());
    }
    let json = serde_json::to_vec(&metadata).expect("policy metadata always serialises");
    replace_custom_section(module, METADATA_SECTION, &json)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "rules:\n- apiGroups: ['']\n  apiVersions: [v1]\n  resources: [pods]\n  operations: [CREATE]\nmutating: true\n";

    #[test]
    fn defaults_and_field_order_follow_policy_evaluator() {
        let m = PolicyMetadata::from_yaml(&format!("{MINIMAL}contextAware: true\n")).unwrap();
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"rules":[{"apiGroups":[""],"apiVersions":["v1"],"resources":["pods"],"operations":["CREATE"]}],"mutating":true,"backgroundAudit":true,"executionMode":"kubewarden-wapc","policyType":"kubernetes","contextAwareResources":[]}"#
        );
    }

    #[test]
    fn missing_required_fields_are_named() {
        let err = PolicyMetadata::from_yaml("rules: []\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("mutating"), "{err}");
        let err = PolicyMetadata::from_yaml("mutating: false\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("rules"), "{err}");
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
}
