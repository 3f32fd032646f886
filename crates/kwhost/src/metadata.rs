//! The metadata `kwctl annotate` embeds: JSON in the wasm custom section
//! `io.kubewarden.metadata`.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

pub const METADATA_SECTION: &str = "io.kubewarden.metadata";

/// A Kubernetes type a policy may read (`apiVersion` + `kind`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextAwareResource {
    pub api_version: String,
    pub kind: String,
}

/// The part of policy-evaluator's `Metadata` this host acts on; the whole JSON stays in `raw`.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    pub protocol_version: Option<String>,
    pub execution_mode: String,
    pub policy_type: String,
    pub mutating: Option<bool>,
    pub context_aware_resources: BTreeSet<ContextAwareResource>,
    pub raw: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetadataFields {
    protocol_version: Option<String>,
    #[serde(default = "default_execution_mode")]
    execution_mode: String,
    #[serde(default = "default_policy_type")]
    policy_type: String,
    mutating: Option<bool>,
    #[serde(default)]
    context_aware_resources: BTreeSet<ContextAwareResource>,
}

fn default_execution_mode() -> String {
    "kubewarden-wapc".to_owned()
}

fn default_policy_type() -> String {
    "kubernetes".to_owned()
}

impl Metadata {
    /// `Ok(None)` for a module that was never annotated.
    pub fn from_module(bytes: &[u8]) -> Result<Option<Self>> {
        let Some(section) = custom_section(bytes, METADATA_SECTION)? else {
            return Ok(None);
        };
        let raw: Value = serde_json::from_slice(section).map_err(|e| {
            Error::Load(format!("cannot parse the {METADATA_SECTION} section: {e}"))
        })?;
        let fields = MetadataFields::deserialize(&raw).map_err(|e| {
            Error::Load(format!("cannot parse the {METADATA_SECTION} section: {e}"))
        })?;
        Ok(Some(Self {
            protocol_version: fields.protocol_version,
            execution_mode: fields.execution_mode,
            policy_type: fields.policy_type,
            mutating: fields.mutating,
            context_aware_resources: fields.context_aware_resources,
            raw,
        }))
    }
}

/// The payload of the first custom section called `name`. The binary format is simple enough
/// (magic, version, then `id, LEB128 size, bytes` per section) that a parser crate is not
/// worth its weight here.
pub fn custom_section<'a>(module: &'a [u8], name: &str) -> Result<Option<&'a [u8]>> {
    Ok(sections(module)?
        .into_iter()
        .find(|s| s.custom_name == Some(name.as_bytes()))
        .map(|s| &module[s.payload]))
}

/// The module with every custom section called `name` removed and one holding `payload`
/// appended. Other sections are copied byte for byte, so the code is the code that was built.
pub fn replace_custom_section(module: &[u8], name: &str, payload: &[u8]) -> Result<Vec<u8>> {
    let sections = sections(module)?;
    let mut out = Vec::with_capacity(module.len() + name.len() + payload.len() + 10);
    out.extend_from_slice(&module[..8]);
    for section in sections
        .iter()
        .filter(|s| s.custom_name != Some(name.as_bytes()))
    {
        out.extend_from_slice(&module[section.whole.clone()]);
    }
    let name_len = u32::try_from(name.len())
        .map_err(|_| Error::Input("custom section name too long".to_owned()))?;
    let mut body = Vec::with_capacity(name.len() + payload.len() + 5);
    write_leb_u32(&mut body, name_len);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    let body_len = u32::try_from(body.len())
        .map_err(|_| Error::Input(format!("the {name} section would exceed 4 GiB")))?;
    out.push(0);
    write_leb_u32(&mut out, body_len);
    out.extend_from_slice(&body);
    Ok(out)
}

struct Section<'a> {
    /// Id, size and contents.
    whole: std::ops::Range<usize>,
    /// For custom sections (id 0): the name, and the bytes after it.
    custom_name: Option<&'a [u8]>,
    payload: std::ops::Range<usize>,
}

fn sections(module: &[u8]) -> Result<Vec<Section<'_>>> {
    let malformed = |what: &str| Error::Load(format!("not a WebAssembly module: {what}"));
    if module.len() < 8 || &module[..4] != b"\0asm" {
        return Err(malformed("bad magic number"));
    }
    let mut found = Vec::new();
    let mut pos = 8;
    while pos < module.len() {
        let start = pos;
        let id = module[pos];
        pos += 1;
        let size = read_leb_u32(module, &mut pos).ok_or_else(|| malformed("bad section size"))?;
        let end = pos
            .checked_add(size as usize)
            .filter(|&end| end <= module.len())
            .ok_or_else(|| malformed("section runs past the end"))?;
        let (custom_name, payload) = if id == 0 {
            let mut inner = pos;
            let len = read_leb_u32(module, &mut inner).ok_or_else(|| malformed("bad name"))?;
            let name_end = inner
                .checked_add(len as usize)
                .filter(|&e| e <= end)
                .ok_or_else(|| malformed("bad custom section name"))?;
            (Some(&module[inner..name_end]), name_end..end)
        } else {
            (None, pos..end)
        };
        found.push(Section {
            whole: start..end,
            custom_name,
            payload,
        });
        pos = end;
    }
    Ok(found)
}

fn write_leb_u32(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn read_leb_u32(bytes: &[u8], pos: &mut usize) -> Option<u32> {
    let mut result: u32 = 0;
    for shift in (0..35).step_by(7) {
        let byte = *bytes.get(*pos)?;
        *pos += 1;
        result |= u32::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(result);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module_with_sections(sections: &[(u8, Vec<u8>)]) -> Vec<u8> {
        let mut out = b"\0asm\x01\0\0\0".to_vec();
        for (id, payload) in sections {
            out.push(*id);
            let mut size = payload.len() as u32;
            loop {
                let byte = (size & 0x7f) as u8;
                size >>= 7;
                if size == 0 {
                    out.push(byte);
                    break;
                }
                out.push(byte | 0x80);
            }
            out.extend_from_slice(payload);
        }
        out
    }

    fn custom(name: &str, data: &[u8]) -> (u8, Vec<u8>) {
        let mut payload = vec![name.len() as u8];
        payload.extend_from_slice(name.as_bytes());
        payload.extend_from_slice(data);
        (0, payload)
    }

    #[test]
    fn finds_the_metadata_section_among_others() {
        let json = br#"{"mutating":true,"contextAwareResources":[{"apiVersion":"v1","kind":"Namespace"}]}"#;
        let module = module_with_sections(&[
            (1, vec![0]),
            custom("producers", b"x"),
            custom(METADATA_SECTION, json),
        ]);
        let metadata = Metadata::from_module(&module).unwrap().unwrap();
        assert_eq!(metadata.execution_mode, "kubewarden-wapc");
        assert_eq!(metadata.mutating, Some(true));
        assert!(
            metadata
                .context_aware_resources
                .contains(&ContextAwareResource {
                    api_version: "v1".into(),
                    kind: "Namespace".into()
                })
        );
    }

    #[test]
    fn unannotated_and_malformed_modules() {
        let module = module_with_sections(&[custom("name", b"abc")]);
        assert_eq!(Metadata::from_module(&module).unwrap(), None);
        assert!(custom_section(b"nope", "x").is_err());
        let mut truncated = module_with_sections(&[custom("name", b"abc")]);
        truncated.truncate(truncated.len() - 1);
        assert!(custom_section(&truncated, "x").is_err());
    }

    #[test]
    fn replacing_a_custom_section_keeps_the_rest_byte_for_byte() {
        let big = vec![7u8; 300]; // a size that needs two LEB128 bytes
        let module = module_with_sections(&[
            (1, vec![0]),
            custom(METADATA_SECTION, b"{\"old\":1}"),
            (10, big.clone()),
        ]);
        let out = replace_custom_section(&module, METADATA_SECTION, br#"{"new":2}"#).unwrap();
        let expected = module_with_sections(&[
            (1, vec![0]),
            (10, big),
            custom(METADATA_SECTION, br#"{"new":2}"#),
        ]);
        assert_eq!(out, expected);
        assert_eq!(
            custom_section(&out, METADATA_SECTION).unwrap(),
            Some(&br#"{"new":2}"#[..])
        );
        let long = vec![b'x'; 200];
        let out = replace_custom_section(&out, METADATA_SECTION, &long).unwrap();
        assert_eq!(
            custom_section(&out, METADATA_SECTION).unwrap(),
            Some(&long[..])
        );
        assert!(replace_custom_section(b"nope", "x", b"").is_err());
    }
}
