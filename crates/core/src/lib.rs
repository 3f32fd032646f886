//! The pure rules of SidecarSet: no I/O, no Kubernetes client, no waPC.
#![forbid(unsafe_code)]

pub mod gojson;
pub mod hash;
pub mod quantity;
pub mod resources_expr;
