//! The pure rules of SidecarSet: no I/O, no Kubernetes client, no waPC.
//!
//! ```text
//!  settings (JSON) --parse--> Settings --defaults--> --validate--> SidecarSet (+ hash, image-less hash)
//!                                                                     |
//!  AdmissionRequest.object (raw JSON Pod) --------- inject ----------+--> Pod with sidecars + annotations
//! ```
#![forbid(unsafe_code)]

pub mod annotations;
pub mod conflict;
pub mod defaults;
pub mod error;
pub mod fieldpath;
pub mod gojson;
pub mod hash;
pub mod image;
pub mod inject;
pub mod kruise_object;
pub mod names;
pub mod patch_pod_metadata;
pub mod pod;
pub mod quantity;
pub mod resources_expr;
pub mod revision;
pub mod selector;
pub mod settings;
mod sidecarset;
pub mod time;
pub mod upgrade;
pub mod validation;

pub use error::{FieldError, InjectError, SettingsErrors};
pub use sidecarset::SidecarSet;
