//! The Kubewarden policy: a thin waPC adapter over `sidecarset-core`.
//!
//! `validate` parses the request, dispatches on kind and operation, looks up the Pod's Namespace when
//! the set has a `namespaceSelector` and the pinned ControllerRevision when it has
//! `injectionStrategy.revision`, calls the core and answers with the whole mutated Pod (the host
//! computes the JSON patch). `validate_settings` answers with every settings problem at once.

use kubewarden_policy_sdk::request::ValidationRequest;
use kubewarden_policy_sdk::response::ValidationResponse;
use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use kubewarden_policy_sdk::wapc_guest as guest;
use serde_json::Value;
use sidecarset_core::SidecarSet;
use sidecarset_core::inject::{self, NamespaceLabels, Outcome, PodContext};
use sidecarset_core::revision::pinned::RevisionContext;

mod namespace;
mod revisions;
mod set_cache;

pub use namespace::{HostNamespaces, NamespaceSource};
pub use revisions::HostRevisions;
pub use sidecarset_core::revision::pinned::{NoRevisions, RevisionSource};
pub use sidecarset_core::time::format_rfc3339;

#[allow(unsafe_code)] // waPC finds the policy by this unmangled symbol
#[unsafe(no_mangle)]
pub extern "C" fn wapc_init() {
    guest::register_function("validate", validate);
    guest::register_function("validate_settings", validate_settings);
    guest::register_function(
        "protocol_version",
        kubewarden_policy_sdk::protocol_version_guest,
    );
}

fn validate(payload: &[u8]) -> guest::CallResult {
    let now = sidecarset_core::time::now_rfc3339();
    let response = evaluate(payload, &HostNamespaces, &HostRevisions, &now);
    Ok(serde_json::to_vec(&response)?)
}

/// Our own settings validation, not the SDK's typed helper: that one stops at the first serde error and
/// kwctl wraps it in a guest-call error; users get every problem, each with its field path.
fn validate_settings(payload: &[u8]) -> guest::CallResult {
    Ok(serde_json::to_vec(&check_settings(payload))?)
}

pub fn check_settings(payload: &[u8]) -> SettingsValidationResponse {
    let parsed = serde_json::from_slice::<Value>(payload)
        .map_err(|e| format!("settings are not JSON: {e}"))
        .and_then(|v| SidecarSet::new(&v).map_err(|e| e.to_string()));
    match parsed {
        Ok(_) => SettingsValidationResponse {
            valid: true,
            message: None,
        },
        Err(message) => SettingsValidationResponse {
            valid: false,
            message: Some(message),
        },
    }
}

fn accept(warnings: Vec<String>) -> ValidationResponse {
    ValidationResponse {
        accepted: true,
        message: None,
        code: None,
        mutated_object: None,
        audit_annotations: None,
        warnings: (!warnings.is_empty()).then_some(warnings),
    }
}

fn reject(message: String, code: u16) -> ValidationResponse {
    ValidationResponse {
        accepted: false,
        message: Some(message),
        code: Some(code),
        mutated_object: None,
        audit_annotations: None,
        warnings: None,
    }
}

/// The whole of `validate`, with the Namespace and ControllerRevision sources and the clock passed in
/// so that tests run it natively with test doubles.
pub fn evaluate(
    payload: &[u8],
    namespaces: &dyn NamespaceSource,
    revisions: &dyn RevisionSource,
    now: &str,
) -> ValidationResponse {
    let request = match ValidationRequest::<Value>::new(payload) {
        Ok(r) => r,
        Err(e) => return reject(format!("cannot read the validation request: {e}"), 400),
    };
    let set = match set_cache::prepared(request.settings) {
        Ok(s) => s,
        Err(e) => return reject(format!("invalid settings: {e}"), 500),
    };
    let req = &request.request;
    // Only Pods at creation get sidecars: a Pod's containers are immutable afterwards.
    if req.kind.kind != "Pod"
        || !req.kind.group.is_empty()
        || req.operation != "CREATE"
        || !req.sub_resource.is_empty()
    {
        return accept(vec![]);
    }
    let pod = &req.object;
    let labels = if set.needs_namespace_labels() {
        let ns = inject::pod_namespace(pod, &req.namespace);
        match namespaces.labels(ns) {
            Ok(l) => NamespaceLabels::Found(l),
            Err(e) => NamespaceLabels::LookupFailed(e),
        }
    } else {
        NamespaceLabels::NotNeeded
    };
    let ctx = PodContext {
        request_namespace: &req.namespace,
        namespace_labels: &labels,
        now,
    };
    let pinned = RevisionContext {
        request_uid: &req.uid,
        source: revisions,
    };
    match inject::inject_at_create(&set, pod, &ctx, &pinned) {
        Ok(Outcome::Skipped { warning, .. }) => accept(warning.into_iter().collect()),
        Ok(Outcome::Unchanged) => accept(vec![]),
        Ok(Outcome::Injected(mutated)) => ValidationResponse {
            mutated_object: Some(mutated),
            ..accept(vec![])
        },
        // Kruise's webhook fails the request on these; the message says what to fix.
        Err(e) => reject(format!("sidecarset {}: {e}", set.name()), 500),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_validation_reports_every_problem_in_one_message() {
        let r = check_settings(br#"{"name":"x","selectorr":{},"containers":[{"name":"a","image":"i","podInjectPolicy":"Sometimes"}]}"#);
        assert!(!r.valid);
        assert_eq!(
            r.message.as_deref(),
            Some(
                "selectorr: unknown field \"selectorr\", did you mean \"selector\"?; \
                 selector: required: a label selector choosing the Pods to inject (e.g. matchLabels); \
                 containers[0].podInjectPolicy: must be BeforeAppContainer or AfterAppContainer, got \"Sometimes\""
            )
        );
        let r = check_settings(br#"{"name":"x","containers":[{"name":"a","image":"i"},{"name":"b","image":"i","podInjectPolicy":"Sometimes"}]}"#);
        assert_eq!(
            r.message.as_deref(),
            Some(
                "selector: required: a label selector choosing the Pods to inject (e.g. matchLabels); \
                 containers[1].podInjectPolicy: must be BeforeAppContainer or AfterAppContainer, got \"Sometimes\""
            )
        );
    }

    #[test]
    fn valid_and_malformed_settings() {
        let ok = check_settings(br#"{"name":"x","selector":{"matchLabels":{"a":"b"}},"containers":[{"name":"a","image":"i"}]}"#);
        assert!(ok.valid && ok.message.is_none());
        let bad = check_settings(b"{not json");
        assert!(!bad.valid);
        assert!(bad.message.unwrap().starts_with("settings are not JSON: "));
    }

    #[test]
    fn unreadable_requests_are_refused_not_panicked_on() {
        let r = evaluate(
            b"[]",
            &HostNamespaces,
            &HostRevisions,
            "2026-11-25T10:00:00Z",
        );
        assert!(!r.accepted);
        assert_eq!(r.code, Some(400));
    }
}
