//! `kwhost annotate`: what `kwctl annotate -m metadata.yml -u README.md -o out.wasm in.wasm`
//! writes, so that a machine without kwctl can build `annotated-policy.wasm`.
//!
//! The metadata file is read and checked as [`PolicyMetadata`], the module is instantiated to
//! ask `protocol_version`, the README becomes `io.kubewarden.policy.usage`, and the JSON is
//! written, in policy-evaluator's field order and with sorted maps, into the custom section
//! `io.kubewarden.metadata`: any earlier one is removed, the new one goes last.
//!
//! Deliberate differences from kwctl: no `io.kubewarden.kwctl` annotation (kwctl did not write
//! this module, and claiming a kwctl version would be false); the module is not re-emitted
//! through walrus, so every other byte stays as built (kwctl's rewrite usually shrinks it);
//! only `kubewarden-wapc` modules (the only mode this host runs); no host-capability heuristics.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::metadata::{METADATA_SECTION, PolicyMetadata};
use crate::policy::Policy;
use crate::wasm::{replace_custom_section, without_custom_section};

pub const USAGE_ANNOTATION: &str = "io.kubewarden.policy.usage";

/// The annotated module: `module` with its metadata section replaced by `metadata` plus the
/// protocol version the module reports and, when given, the usage text.
pub fn annotate(module: &[u8], metadata: &PolicyMetadata, usage: Option<&str>) -> Result<Vec<u8>> {
    if !metadata.is_wapc() {
        return Err(Error::Unsupported(format!(
            "annotating {} modules; only kubewarden-wapc policies run here",
            metadata.execution_mode
        )));
    }
    // Drop a previous annotation first: its execution mode or type must not decide the load.
    let policy = Policy::from_bytes(&without_custom_section(module, METADATA_SECTION)?)?;
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
    replace_custom_section(module, METADATA_SECTION, &metadata.to_section_json())
}
