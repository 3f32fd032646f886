//! The guest's `ValidationResponse` and the `AdmissionResponse` kwctl prints from it.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// policy-server's answer when the epoch deadline fires.
pub const TIMEOUT_MESSAGE: &str =
    "Policy execution interrupted because it exceeded the allowed execution time";

/// What a guest's `validate` returns (SDK `ValidationResponse`, snake_case). The SDK always
/// writes all six keys, nulls included; hand-written guests may leave the optional ones out.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ValidationResponse {
    pub accepted: bool,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub code: Option<u16>,
    #[serde(default)]
    pub mutated_object: Option<Value>,
    #[serde(default)]
    pub audit_annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
}

/// What a guest's `validate_settings` returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsValidation {
    pub valid: bool,
    #[serde(default)]
    pub message: Option<String>,
}

/// policy-evaluator's `AdmissionResponse`. Field order, `skip_serializing_if` and the always
/// printed `auditAnnotations`/`warnings` are what make `kwctl run`'s line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    pub uid: String,
    pub allowed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AdmissionResponseStatus>,
    /// A `BTreeMap` where kwctl has a `HashMap`: with two or more keys kwctl's order is not
    /// stable between runs, this one is sorted.
    #[serde(default)]
    pub audit_annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionResponseStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
}

impl AdmissionResponse {
    pub fn reject(uid: String, message: String, code: u16) -> Self {
        Self {
            uid,
            allowed: false,
            status: Some(AdmissionResponseStatus {
                message: Some(message),
                code: Some(code),
            }),
            ..Default::default()
        }
    }

    pub fn reject_internal_server_error(uid: String, message: impl std::fmt::Display) -> Self {
        Self::reject(uid, format!("internal server error: {message}"), 500)
    }

    /// policy-evaluator's `from_policy_validation_response`: the patch is the json-patch 4.x
    /// diff from the request's (re-serialised) object to `mutated_object`, an empty diff is no
    /// patch, and `status` appears whenever the guest set a message or a code.
    pub fn from_validation_response(
        uid: String,
        request_object: Option<&Value>,
        response: ValidationResponse,
    ) -> Self {
        if response.mutated_object.is_some() && request_object.is_none() {
            return Self {
                uid,
                allowed: false,
                status: Some(AdmissionResponseStatus {
                    message: Some(
                        "Incoming object is null, which happens only with DELETE operations, but the policy is attempting a mutation. This is not allowed"
                            .to_owned(),
                    ),
                    code: None,
                }),
                ..Default::default()
            };
        }
        let patch = match (&response.mutated_object, request_object) {
            (Some(mutated), Some(original)) => encode_patch(original, mutated),
            _ => None,
        };
        let status = (response.message.is_some() || response.code.is_some()).then_some(
            AdmissionResponseStatus {
                message: response.message,
                code: response.code,
            },
        );
        Self {
            uid,
            allowed: response.accepted,
            patch_type: patch.as_ref().map(|_| "JSONPatch".to_owned()),
            patch,
            status,
            audit_annotations: response.audit_annotations,
            warnings: response.warnings,
        }
    }

    /// The line `kwctl run` prints (without the trailing newline).
    pub fn to_kwctl_line(&self) -> String {
        serde_json::to_string(self).expect("AdmissionResponse always serialises")
    }

    /// The decoded RFC 6902 operations, for tests that assert on the patch rather than bytes.
    pub fn patch_operations(&self) -> Option<Value> {
        let bytes = STANDARD.decode(self.patch.as_ref()?).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// Standard padded base64 of the compact JSON patch, or `None` for an empty diff.
pub fn encode_patch(original: &Value, mutated: &Value) -> Option<String> {
    let diff = json_patch::diff(original, mutated);
    if diff.0.is_empty() {
        return None;
    }
    let text = serde_json::to_string(&diff).expect("a JSON patch always serialises");
    Some(STANDARD.encode(text))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn guest(value: Value) -> ValidationResponse {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn accepted_without_message_has_no_status_but_prints_nulls() {
        let r = AdmissionResponse::from_validation_response(
            "u".into(),
            Some(&json!({})),
            guest(json!({"accepted": true})),
        );
        assert_eq!(
            r.to_kwctl_line(),
            r#"{"uid":"u","allowed":true,"auditAnnotations":null,"warnings":null}"#
        );
    }

    #[test]
    fn message_without_code_gives_status_without_code() {
        let r = AdmissionResponse::from_validation_response(
            "u".into(),
            None,
            guest(json!({"accepted": true, "message": "m", "code": null, "mutated_object": null})),
        );
        assert_eq!(
            r.to_kwctl_line(),
            r#"{"uid":"u","allowed":true,"status":{"message":"m"},"auditAnnotations":null,"warnings":null}"#
        );
    }

    #[test]
    fn identical_mutation_gives_no_patch() {
        let object = json!({"a": 1});
        let r = AdmissionResponse::from_validation_response(
            "u".into(),
            Some(&object),
            guest(json!({"accepted": true, "mutated_object": {"a": 1}})),
        );
        assert_eq!(r.patch, None);
        assert_eq!(r.patch_type, None);
    }

    #[test]
    fn patch_values_have_sorted_keys() {
        let r = AdmissionResponse::from_validation_response(
            "u".into(),
            Some(&json!({})),
            guest(json!({"accepted": true, "mutated_object": {"m": {"b": 1, "a": 2}}})),
        );
        let bytes = STANDARD.decode(r.patch.unwrap()).unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"[{"op":"add","path":"/m","value":{"a":2,"b":1}}]"#
        );
    }

    /// kwctl's bytes depend on serde_json sorting object keys; a dependency that turns on
    /// `preserve_order` for this build would silently change every patch.
    #[test]
    fn serde_json_sorts_keys_in_this_build() {
        let value: Value = serde_json::from_str(r#"{"b":1,"a":2}"#).unwrap();
        assert_eq!(value.to_string(), r#"{"a":2,"b":1}"#);
    }

    #[test]
    fn mutating_a_delete_is_refused_without_code() {
        let r = AdmissionResponse::from_validation_response(
            "u".into(),
            None,
            guest(json!({"accepted": true, "mutated_object": {"a": 1}})),
        );
        assert!(!r.allowed);
        assert_eq!(r.status.unwrap().code, None);
    }
}
