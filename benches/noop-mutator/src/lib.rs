//! A mutating policy that does the least a mutating Kubewarden policy can: parse the
//! `ValidationRequest`, add one annotation to the Pod, return the whole Pod. The host then parses it
//! and diffs it into a JSON patch, as it does for `policy.wasm`. `benches/wasm.rs` compares the
//! policy's Filebeat injection with this floor: what is left is the policy's own work.

use kubewarden_policy_sdk::request::ValidationRequest;
use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use kubewarden_policy_sdk::wapc_guest as guest;
use serde_json::{Value, json};

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
    // Parsed as the policy parses it: the whole request and settings as JSON values.
    let request = ValidationRequest::<Value>::new(payload)?;
    let mut pod = request.request.object;
    let metadata = &mut pod["metadata"];
    if !metadata["annotations"].is_object() {
        metadata["annotations"] = json!({});
    }
    metadata["annotations"]["noop-mutator.sidecarset.dev/seen"] = json!("true");
    kubewarden_policy_sdk::mutate_request(pod)
}

fn validate_settings(_payload: &[u8]) -> guest::CallResult {
    Ok(serde_json::to_vec(&SettingsValidationResponse {
        valid: true,
        message: None,
    })?)
}
