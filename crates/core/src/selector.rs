//! Label selectors: matching (`metav1.LabelSelectorAsSelector` semantics) and validation.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use crate::error::SettingsErrors;
use crate::names;

pub type Labels = BTreeMap<String, String>;

/// True when the selector has no requirement at all. Kruise treats an empty `selector` as matching
/// nothing (and validation rejects it), while a general empty selector would match everything.
pub fn is_empty(s: &LabelSelector) -> bool {
    s.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
        && s.match_expressions.as_ref().is_none_or(Vec::is_empty)
}

/// Whether `labels` satisfy every requirement of `s` ([`matches_by`] over a map).
pub fn matches(s: &LabelSelector, labels: &Labels) -> bool {
    matches_by(s, |k| labels.get(k).map(String::as_str))
}

/// `metav1.LabelSelectorAsSelector(s).Matches(labels)` over a label lookup, so that a Pod's labels
/// are read where they are (JSON, a digest) without building a map. An invalid operator matches
/// nothing: validation rejects it up front, and failing closed keeps a bad selector from injecting
/// everywhere.
pub fn matches_by<'a>(s: &LabelSelector, label: impl Fn(&str) -> Option<&'a str>) -> bool {
    let by_labels = s
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| label(k) == Some(v.as_str()));
    by_labels
        && s.match_expressions.iter().flatten().all(|e| {
            let values = e.values.as_deref().unwrap_or(&[]);
            let have = label(&e.key);
            match e.operator.as_str() {
                "In" => have.is_some_and(|v| values.iter().any(|x| x == v)),
                "NotIn" => have.is_none_or(|v| !values.iter().any(|x| x == v)),
                "Exists" => have.is_some(),
                "DoesNotExist" => have.is_none(),
                _ => false,
            }
        })
}

/// Whether a SidecarSet's `selector` picks a Pod, as Kruise's `PodMatchedSidecarSet`
/// (`pkg/control/sidecarcontrol/util.go`) decides: an absent or empty selector selects nothing (where
/// a general empty selector would select everything); validation refuses both anyway.
pub fn selects<'a>(s: Option<&LabelSelector>, label: impl Fn(&str) -> Option<&'a str>) -> bool {
    s.is_some_and(|s| !is_empty(s) && matches_by(s, label))
}

/// The label key of [`NEVER`]: no Pod needs to carry it, since the selector cannot match either way.
pub const NEVER_KEY: &str = "sidecarset.kubewarden.io/never";

/// A selector no label set satisfies that the API server still accepts: `In` with no values would
/// say it more directly, but `ValidateLabelSelector` refuses `In` without values.
pub fn never() -> LabelSelector {
    let req = |op: &str| LabelSelectorRequirement {
        key: NEVER_KEY.into(),
        operator: op.into(),
        values: None,
    };
    LabelSelector {
        match_labels: None,
        match_expressions: Some(vec![req("Exists"), req("DoesNotExist")]),
    }
}

/// The `objectSelector` a set's ClusterAdmissionPolicy gets, so that the API server calls the policy
/// for exactly the Pods [`selects`] picks (Kubewarden's controller copies a policy's
/// `spec.objectSelector` into its webhook whole: `policy_subreconciler_webhook.go`
/// `reconcileMutatingWebhookConfiguration`). The set's selector as it is, except where the two
/// readings of an empty selector part: Kruise's selects nothing, a webhook's everything, so an empty
/// or absent one becomes [`never`]. Validation refuses those anyway; the rule keeps an unvalidated
/// document from widening the webhook to every Pod.
pub fn object_selector(s: Option<&LabelSelector>) -> LabelSelector {
    match s {
        Some(s) if !is_empty(s) => s.clone(),
        _ => never(),
    }
}

/// Whether `updateStrategy.selector` lets a Pod be upgraded (or, with `injectionStrategy.revision`
/// `policy: Partial`, given the latest revision): an absent selector lets every Pod, as in Kruise's
/// upgrade (`pkg/controller/sidecarset/sidecarset_strategy.go` `GetNextUpgradePods`) and webhook
/// (`getSuitableRevisionSidecarSet`).
pub fn update_selects<'a>(
    s: Option<&LabelSelector>,
    label: impl Fn(&str) -> Option<&'a str>,
) -> bool {
    s.is_none_or(|s| matches_by(s, label))
}

/// Kubernetes' `ValidateLabelSelector`: keys are qualified names, values label values, operators known,
/// In/NotIn with values and Exists/DoesNotExist without.
pub fn validate(s: &LabelSelector, path: &str, errs: &mut SettingsErrors) {
    for (k, v) in s.match_labels.iter().flatten() {
        if let Err(m) = names::qualified_name(k) {
            errs.push(format!("{path}.matchLabels"), format!("key {m}"));
        }
        if let Err(m) = names::label_value(v) {
            errs.push(format!("{path}.matchLabels[{k}]"), m);
        }
    }
    for (i, e) in s.match_expressions.iter().flatten().enumerate() {
        let p = format!("{path}.matchExpressions[{i}]");
        if let Err(m) = names::qualified_name(&e.key) {
            errs.push(format!("{p}.key"), m);
        }
        let n = e.values.as_ref().map_or(0, Vec::len);
        match e.operator.as_str() {
            "In" | "NotIn" => {
                if n == 0 {
                    errs.push(
                        format!("{p}.values"),
                        format!("must be non-empty when operator is {}", e.operator),
                    );
                }
            }
            "Exists" | "DoesNotExist" => {
                if n != 0 {
                    errs.push(
                        format!("{p}.values"),
                        format!("must be empty when operator is {}", e.operator),
                    );
                }
            }
            other => errs.push(
                format!("{p}.operator"),
                format!("must be In, NotIn, Exists or DoesNotExist, got {other:?}"),
            ),
        }
        for (j, v) in e.values.iter().flatten().enumerate() {
            if let Err(m) = names::label_value(v) {
                errs.push(format!("{p}.values[{j}]"), m);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(v: serde_json::Value) -> LabelSelector {
        serde_json::from_value(v).unwrap()
    }
    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn match_labels_and_expressions() {
        let s = sel(json!({"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]},
                                 {"key": "skip", "operator": "DoesNotExist"},
                                 {"key": "env", "operator": "NotIn", "values": ["prod"]}]}));
        assert!(matches(&s, &labels(&[("app", "web"), ("tier", "a")])));
        assert!(!matches(&s, &labels(&[("app", "web"), ("tier", "c")])));
        assert!(!matches(
            &s,
            &labels(&[("app", "web"), ("tier", "a"), ("skip", "")])
        ));
        assert!(!matches(
            &s,
            &labels(&[("app", "web"), ("tier", "a"), ("env", "prod")])
        ));
        assert!(matches(
            &s,
            &labels(&[("app", "web"), ("tier", "b"), ("env", "dev")])
        ));
        assert!(!matches(&s, &labels(&[("tier", "a")])));
    }

    #[test]
    fn unknown_operator_matches_nothing_and_is_reported() {
        let s = sel(json!({"matchExpressions": [{"key": "a", "operator": "Exist"}]}));
        assert!(!matches(&s, &labels(&[("a", "1")])));
        let mut errs = SettingsErrors::default();
        validate(&s, "selector", &mut errs);
        assert_eq!(
            errs.to_string(),
            "selector.matchExpressions[0].operator: must be In, NotIn, Exists or DoesNotExist, got \"Exist\""
        );
    }

    #[test]
    fn an_empty_or_absent_selector_becomes_one_that_matches_nothing_and_validates() {
        for s in [
            None,
            Some(sel(json!({}))),
            Some(sel(json!({"matchExpressions": []}))),
        ] {
            let o = object_selector(s.as_ref());
            assert_eq!(o, never());
            assert!(!matches(&o, &labels(&[])));
            assert!(!matches(&o, &labels(&[(NEVER_KEY, "")])));
            let mut errs = SettingsErrors::default();
            validate(&o, "objectSelector", &mut errs);
            assert!(errs.is_empty(), "{errs}");
        }
        let web = sel(json!({"matchLabels": {"app": "web"}}));
        assert_eq!(object_selector(Some(&web)), web);
    }

    #[test]
    fn emptiness() {
        assert!(is_empty(&sel(json!({}))));
        assert!(is_empty(&sel(json!({"matchLabels": {}}))));
        assert!(!is_empty(&sel(json!({"matchLabels": {"a": "b"}}))));
    }
}
