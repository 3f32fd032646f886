//! `kwhost`: a small waPC host that runs Kubewarden policies the way `kwctl run` does, so the
//! project can test its policy without kwctl (which cannot be installed here).
//!
//! # What it reproduces of kwctl 1.36 (`kwctl run` on a local `.wasm`)
//! - The request: a bare `AdmissionRequest` or an `AdmissionReview`, rebuilt through
//!   policy-evaluator's `AdmissionRequest` (required `uid`, `kind`, `resource`, `operation`,
//!   `userInfo`; camelCase; unknown top-level keys and unset optional fields dropped) with
//!   kwctl's error texts. The patch is computed against that rebuilt `object`.
//! - Settings: `--settings-path` read as YAML and winning over `--settings-json`; `null` is
//!   `{}`; a non-object is refused; `validate_settings` always runs first and its failures
//!   (including guest errors, reported as `Error invoking settings validation callback:
//!   GuestCallFailure("…")`) end the run with `Provided settings are not valid: …` and exit 1.
//! - The output line: policy-evaluator's `AdmissionResponse` (field order, `status` whenever
//!   a message or code was set, `auditAnnotations`/`warnings` always printed), the patch as
//!   standard base64 of a json-patch 4.x diff serialised with sorted keys, no patch for an
//!   empty diff, refusal of a mutated DELETE, guest errors as `internal server error: Guest
//!   call failure: …` with code 500.
//! - Host calls: binding/namespace/operation checks, `--allowed-host-capabilities`, the
//!   context-aware allow list (`--allow-context-aware` grants the annotated module's
//!   `contextAwareResources`, read from the `io.kubewarden.metadata` custom section), and
//!   kwctl's replay sessions for `kubernetes/get_resource`, `list_resources_by_namespace` and
//!   `list_resources_all`, matched in order and by equality.
//! - wasmtime's compilation cache, on by default in the CLI as in kwctl
//!   (`--disable-wasmtime-cache`; `$KWHOST_WASMTIME_CACHE_DIR` moves it), off by default in the
//!   library ([`PolicyOptions::compilation_cache`]).
//!
//! - `kwhost annotate`: `kwctl annotate`'s metadata section (see [`annotate`] for the
//!   differences).
//!
//! # What it does not
//! - No registry or HTTPS modules, no signature verification, no policy CR (`.yml`) input, no
//!   policy groups, no raw policies, no Rego/WASI/CEL execution modes, no
//!   `minimumKubewardenVersion` check, no recording (`--record-host-capabilities-interactions`)
//!   and no live cluster, no OCI/sigstore/DNS/crypto/`can_i` host capabilities.
//! - kwctl's log lines (guest `tracing` output included) are not reproduced; only its
//!   `Error: …` line is.
//! - The replay mismatch texts are this host's own ("Replay error: unexpected request…").
//! - `auditAnnotations` are printed sorted (kwctl's `HashMap` order is unstable).
//! - A time limit (`--timeout-seconds`, [`PolicyOptions::timeout`]) is available although
//!   kwctl has none; when it fires the answer is policy-server's (code 500, "Policy execution
//!   interrupted because it exceeded the allowed execution time").
#![forbid(unsafe_code)]

pub mod annotate;
pub mod error;
pub mod files;
pub mod host;
pub mod metadata;
pub mod oci;
pub mod policy;
pub mod publish;
pub mod replay;
pub mod request;
pub mod response;
pub mod settings;
pub mod sources;
pub mod wasm;

pub use annotate::annotate;
pub use error::{Error, Result};
pub use host::{HostCapabilities, Permissions};
pub use metadata::{ContextAwareResource, PolicyMetadata};
pub use policy::{
    CompilationCache, ContextAware, Evaluation, Policy, PolicyInstance, PolicyOptions,
};
pub use replay::Replay;
pub use request::AdmissionRequest;
pub use response::{AdmissionResponse, SettingsValidation};
