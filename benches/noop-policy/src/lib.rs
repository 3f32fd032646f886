//! A policy that does what every Kubewarden policy must (parse the `ValidationRequest`, answer) and
//! nothing else: the floor `benches/wasm.rs` compares `policy.wasm` with.

use kubewarden_policy_sdk::request::ValidationRequest;
use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use kubewarden_policy_sdk::wapc_guest as guest;
use serde_json::Value;

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
    // Parsed as the policy parses it (the whole request and settings as JSON values), so the
    // comparison isolates the policy's own work.
    let request = ValidationRequest::<Value>::new(payload)?;
    std::hint::black_box(&request);
    kubewarden_policy_sdk::accept_request()
}

fn validate_settings(_payload: &[u8]) -> guest::CallResult {
    Ok(serde_json::to_vec(&SettingsValidationResponse {
        valid: true,
        message: None,
    })?)
}
