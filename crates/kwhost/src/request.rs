//! The admission request as kwctl hands it to a policy.
//!
//! kwctl does not forward the request file verbatim: it parses it into policy-evaluator's
//! `AdmissionRequest` and serialises that again. Required fields, the error texts, which keys
//! survive and the `object` the patch is computed against all come from that round trip, so
//! the struct below mirrors policy-evaluator's field for field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// policy-evaluator's `AdmissionRequest` (admission.k8s.io/v1 request, camelCase).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest {
    pub uid: String,
    pub kind: GroupVersionKind,
    pub resource: GroupVersionResource,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_resource: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_kind: Option<GroupVersionKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_resource: Option<GroupVersionResource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_sub_resource: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub operation: String,
    pub user_info: UserInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_object: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Value>,
}

/// No serde defaults on purpose: kwctl requires `group` even when it is `""`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupVersionKind {
    pub group: String,
    pub version: String,
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupVersionResource {
    pub group: String,
    pub version: String,
    pub resource: String,
}

/// k8s-openapi's `authentication/v1 UserInfo`: every field optional, unknown keys ignored.
/// `expecting` keeps type-error texts identical to k8s-openapi's hand-written visitor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(expecting = "UserInfo")]
pub struct UserInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra: Option<BTreeMap<String, Vec<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

impl AdmissionRequest {
    /// Builds the request from a request file's JSON the way `kwctl run` does: an
    /// `AdmissionReview` (top-level `kind: AdmissionReview`) contributes its `.request`, anything
    /// else is taken as a bare `AdmissionRequest`.
    pub fn from_input(input: &Value) -> Result<Self> {
        let Some(object) = input.as_object() else {
            return Err(Error::Request("Invalid request object".to_owned()));
        };
        let request = if object.get("kind").and_then(Value::as_str) == Some("AdmissionReview") {
            object
                .get("request")
                .ok_or_else(|| Error::Request("invalid AdmissionReview object".to_owned()))?
        } else {
            input
        };
        Self::deserialize(request).map_err(|e| {
            Error::Request(format!(
                "cannot build AdmissionRequest object from given input: {e}"
            ))
        })
    }

    /// The request as the guest receives it (camelCase, unset optional fields left out).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("AdmissionRequest always serialises")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn minimal() -> Value {
        json!({
            "uid": "u1",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "operation": "CREATE",
            "userInfo": {"username": "alice"},
        })
    }

    #[test]
    fn unknown_top_level_keys_and_nulls_are_dropped() {
        let mut input = minimal();
        input["extraTopLevelKey"] = json!("dropped?");
        input["oldObject"] = Value::Null;
        input["object"] = json!({"spec": {"futureField": 1}});
        input["dryRun"] = json!(false);
        let rebuilt = AdmissionRequest::from_input(&input).unwrap().to_value();
        assert_eq!(
            rebuilt,
            json!({
                "uid": "u1",
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "operation": "CREATE",
                "userInfo": {"username": "alice"},
                "object": {"spec": {"futureField": 1}},
                "dryRun": false,
            })
        );
    }

    #[test]
    fn unknown_keys_inside_user_info_are_dropped_but_object_is_kept_whole() {
        let mut input = minimal();
        input["userInfo"] = json!({"username": "a", "surprise": true, "groups": ["g"]});
        let rebuilt = AdmissionRequest::from_input(&input).unwrap().to_value();
        assert_eq!(
            rebuilt["userInfo"],
            json!({"username": "a", "groups": ["g"]})
        );
    }

    #[test]
    fn admission_review_contributes_its_request() {
        let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": minimal()});
        assert_eq!(
            AdmissionRequest::from_input(&review).unwrap(),
            AdmissionRequest::from_input(&minimal()).unwrap()
        );
        let broken = json!({"kind": "AdmissionReview"});
        assert_eq!(
            AdmissionRequest::from_input(&broken)
                .unwrap_err()
                .to_string(),
            "invalid AdmissionReview object"
        );
    }

    #[test]
    fn missing_fields_fail_with_kwctl_text() {
        for field in ["uid", "kind", "resource", "operation", "userInfo"] {
            let mut input = minimal();
            input.as_object_mut().unwrap().remove(field);
            assert_eq!(
                AdmissionRequest::from_input(&input)
                    .unwrap_err()
                    .to_string(),
                format!(
                    "cannot build AdmissionRequest object from given input: missing field `{field}`"
                )
            );
        }
        let mut input = minimal();
        input["resource"] = json!({"version": "v1", "resource": "pods"});
        assert_eq!(
            AdmissionRequest::from_input(&input)
                .unwrap_err()
                .to_string(),
            "cannot build AdmissionRequest object from given input: missing field `group`"
        );
    }

    #[test]
    fn non_object_input_is_refused() {
        assert_eq!(
            AdmissionRequest::from_input(&json!([1]))
                .unwrap_err()
                .to_string(),
            "Invalid request object"
        );
    }
}
