//! The wasm binary, as far as this host handles it itself: the magic number, and the custom
//! sections where `kwctl annotate` keeps a policy's metadata, read with wasmparser and written
//! with wasm-encoder. Every other section is copied byte for byte, size prefix included, so the
//! code stays the code that was built.

use std::borrow::Cow;
use std::ops::Range;

use wasm_encoder::{CustomSection, Section};
use wasmparser::{Encoding, Parser, Payload};

use crate::error::{Error, Result};

/// The first bytes of every wasm binary.
pub const WASM_MAGIC: &[u8] = b"\0asm";

/// The magic number and version that open every module.
const HEADER_LEN: usize = 8;

/// One section as it lies in the module.
struct SectionSpan<'a> {
    /// Id, size and contents.
    whole: Range<usize>,
    /// For a custom section: its name and the bytes after the name.
    custom: Option<(&'a str, &'a [u8])>,
}

impl SectionSpan<'_> {
    fn is_custom(&self, name: &str) -> bool {
        matches!(self.custom, Some((n, _)) if n == name)
    }
}

/// The data of the first custom section called `name`.
pub fn custom_section<'a>(module: &'a [u8], name: &str) -> Result<Option<&'a [u8]>> {
    Ok(sections(module)?
        .into_iter()
        .find_map(|s| s.custom.filter(|(n, _)| *n == name).map(|(_, data)| data)))
}

/// The module with every custom section called `name` removed and one holding `data` appended
/// after the last section, so that annotating an annotated module gives the same bytes.
pub fn replace_custom_section(module: &[u8], name: &str, data: &[u8]) -> Result<Vec<u8>> {
    // wasm-encoder asserts that sizes fit in a u32; a name's length prefix takes at most 5 bytes.
    if u32::try_from(name.len() + data.len() + 5).is_err() {
        return Err(Error::Input(format!(
            "the {name} section would exceed 4 GiB"
        )));
    }
    let mut out = without_custom_section(module, name)?;
    CustomSection {
        name: Cow::Borrowed(name),
        data: Cow::Borrowed(data),
    }
    .append_to(&mut out);
    Ok(out)
}

/// The module with every custom section called `name` removed.
pub fn without_custom_section(module: &[u8], name: &str) -> Result<Vec<u8>> {
    let sections = sections(module)?;
    let mut out = Vec::with_capacity(module.len());
    out.extend_from_slice(&module[..HEADER_LEN]);
    for section in sections.iter().filter(|s| !s.is_custom(name)) {
        out.extend_from_slice(&module[section.whole.clone()]);
    }
    Ok(out)
}

/// Every section of a core module, in order. wasmparser gives where each section's contents
/// lie; a section's id and size sit between the end of the one before and its contents.
fn sections(module: &[u8]) -> Result<Vec<SectionSpan<'_>>> {
    let malformed = |what: String| Error::Load(format!("not a WebAssembly module: {what}"));
    // wasmparser's own text for this spans lines (both byte arrays).
    if !module.starts_with(WASM_MAGIC) {
        return Err(malformed("bad magic number".to_owned()));
    }
    let mut found = Vec::new();
    let mut start = HEADER_LEN;
    for payload in Parser::new(0).parse_all(module) {
        let payload = payload.map_err(|e| malformed(e.to_string()))?;
        if let Payload::Version {
            encoding: Encoding::Component,
            ..
        } = payload
        {
            return Err(malformed("a component, not a core module".to_owned()));
        }
        let Some((_, contents)) = payload.as_section() else {
            continue;
        };
        let custom = match &payload {
            Payload::CustomSection(reader) => Some((reader.name(), reader.data())),
            _ => None,
        };
        found.push(SectionSpan {
            whole: start..contents.end,
            custom,
        });
        start = contents.end;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use wasm_encoder::{CustomSection, Module, RawSection};

    use super::*;

    fn module(sections: &[&dyn Fn(&mut Module)]) -> Vec<u8> {
        let mut module = Module::new();
        for add in sections {
            add(&mut module);
        }
        module.finish()
    }

    fn custom<'a>(name: &'a str, data: &'a [u8]) -> impl Fn(&mut Module) + 'a {
        move |m| {
            m.section(&CustomSection {
                name: name.into(),
                data: data.into(),
            });
        }
    }

    fn raw(id: u8, data: &[u8]) -> impl Fn(&mut Module) + '_ {
        move |m| {
            m.section(&RawSection { id, data });
        }
    }

    #[test]
    fn finds_the_first_section_of_that_name() {
        let module = module(&[
            &raw(1, &[0]),
            &custom("producers", b"x"),
            &custom("meta", b"first"),
            &custom("meta", b"second"),
        ]);
        assert_eq!(
            custom_section(&module, "meta").unwrap(),
            Some(&b"first"[..])
        );
        assert_eq!(custom_section(&module, "other").unwrap(), None);
    }

    #[test]
    fn malformed_modules_are_refused() {
        let e = custom_section(b"nope, not wasm", "x").unwrap_err();
        assert_eq!(e.to_string(), "not a WebAssembly module: bad magic number");
        let mut truncated = module(&[&custom("name", b"abc")]);
        truncated.truncate(truncated.len() - 1);
        assert!(custom_section(&truncated, "x").is_err());
        assert!(replace_custom_section(b"nope", "x", b"").is_err());
        let component = b"\0asm\x0d\0\x01\0";
        let e = custom_section(component, "x").unwrap_err();
        assert!(e.to_string().contains("a component"), "{e}");
    }

    #[test]
    fn replacing_moves_the_section_to_the_end_and_keeps_the_rest_byte_for_byte() {
        let big = vec![7u8; 300]; // a size that needs two LEB128 bytes
        let module_in = module(&[
            &raw(1, &[0]),
            &custom("meta", br#"{"old":1}"#),
            &custom("debug", &big),
            &custom("meta", br#"{"older":0}"#),
        ]);
        let out = replace_custom_section(&module_in, "meta", br#"{"new":2}"#).unwrap();
        let expected = module(&[
            &raw(1, &[0]),
            &custom("debug", &big),
            &custom("meta", br#"{"new":2}"#),
        ]);
        assert_eq!(out, expected);
        let long = vec![b'x'; 200];
        let out = replace_custom_section(&out, "meta", &long).unwrap();
        assert_eq!(custom_section(&out, "meta").unwrap(), Some(&long[..]));
        assert_eq!(
            without_custom_section(&out, "meta").unwrap(),
            module(&[&raw(1, &[0]), &custom("debug", &big)])
        );
    }

    /// A size written with more LEB128 bytes than it needs (as some linkers pad) is copied as is.
    #[test]
    fn padded_section_sizes_are_copied_unchanged() {
        let mut module_in = b"\0asm\x01\0\0\0".to_vec();
        module_in.extend_from_slice(&[1, 0x81, 0x80, 0x80, 0x80, 0x00, 0]); // type section, size 1 in 5 bytes
        let out = replace_custom_section(&module_in, "meta", b"{}").unwrap();
        assert!(out.starts_with(&module_in));
        assert_eq!(without_custom_section(&out, "meta").unwrap(), module_in);
    }
}
