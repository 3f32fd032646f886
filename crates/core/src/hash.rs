//! Kruise's SidecarSet hashes (`kruise.io/sidecarset-hash` and `…-hash-without-image`).
//!
//! Pods injected by Kruise carry these values; the reconciler decides "updated" and "upgradable" by
//! comparing them, so they must be reproduced byte for byte: SHA-256 of the Go JSON encoding
//! ([`crate::gojson`]), lowercase hex, then Kruise's lossy `SafeEncodeString`.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::gojson::encode_hash_input;

/// `k8s.io/apimachinery/pkg/util/rand` alphabet: no vowels, no look-alike digits.
const ALPHANUMS: &[u8; 27] = b"bcdfghjklmnpqrstvwxz2456789";

/// Kruise's `rand.SafeEncodeString`: each character `c` becomes `ALPHANUMS[c % 27]`.
///
/// Go sizes the output in bytes but fills it per rune, so a non-ASCII input leaves trailing NUL
/// bytes; that is reproduced, although hashes only ever feed it ASCII hex.
pub fn safe_encode(hex: &str) -> String {
    let mut out = String::with_capacity(hex.len());
    let mut chars = 0usize;
    for c in hex.chars() {
        out.push(char::from(ALPHANUMS[(c as usize) % ALPHANUMS.len()]));
        chars += 1;
    }
    out.extend(std::iter::repeat_n('\0', hex.len() - chars));
    out
}

/// `kruise.io/sidecarset-hash` of the (defaulted) containers and init containers.
pub fn sidecarset_hash(containers: Option<&[Value]>, init_containers: Option<&[Value]>) -> String {
    hash_of(&encode_hash_input(containers, init_containers, false))
}

/// `kruise.io/sidecarset-hash-without-image`: the same with every container's and init container's
/// `image` blanked (`upgradeStrategy.hotUpgradeEmptyImage` is kept).
pub fn sidecarset_hash_without_image(
    containers: Option<&[Value]>,
    init_containers: Option<&[Value]>,
) -> String {
    hash_of(&encode_hash_input(containers, init_containers, true))
}

fn hash_of(encoded: &str) -> String {
    safe_encode(&sha256_hex(encoded.as_bytes()))
}

fn sha256_hex(data: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(data);
    let mut out = String::with_capacity(64);
    for byte in digest.iter() {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // The four vectors of Kruise's own unit tests (`pkg/control/sidecarcontrol/hash_test.go`;
    // docs/hashes-and-annotations.md#the-hash).
    fn kruise_container(native: bool) -> Value {
        let mut c = json!({"name": "container1", "image": "test-image"});
        if native {
            c["restartPolicy"] = json!("Always");
        }
        c
    }

    #[test]
    fn kruise_vector_containers() {
        let containers = [kruise_container(false)];
        assert_eq!(
            sidecarset_hash(Some(&containers), None),
            "w26c4x8fz245642fdv499b464248f974xddx4x55z5dw55bc6x66464fxz77dc78"
        );
    }

    #[test]
    fn kruise_vector_containers_without_image() {
        let containers = [kruise_container(false)];
        assert_eq!(
            sidecarset_hash_without_image(Some(&containers), None),
            "8wzddb4dvv9c6x8zdc77z4z75987424f457dfv6724ddw6zbdx467wz5x24fc759"
        );
    }

    #[test]
    fn kruise_vector_native_init() {
        let containers = [kruise_container(false)];
        let init = [kruise_container(true)];
        assert_eq!(
            sidecarset_hash(Some(&containers), Some(&init)),
            "4xwx4d4844vd4v9x79wb4xbxf4xb29475cc4446v8cz2c2f2f5c5bw448vd42z8w"
        );
    }

    #[test]
    fn kruise_vector_native_init_without_image() {
        let containers = [kruise_container(false)];
        let init = [kruise_container(true)];
        assert_eq!(
            sidecarset_hash_without_image(Some(&containers), Some(&init)),
            "5725fw8bwbx249bw57v5892c847dzf48bww9zb7c86xb95264fdz26654847b2c8"
        );
    }

    #[test]
    fn safe_encode_maps_hex_digits() {
        assert_eq!(safe_encode("0123456789abcdef"), "456789bcdfvwxz24");
        assert_eq!(safe_encode(""), "");
        // Go's byte-sized buffer filled per rune.
        assert_eq!(safe_encode("é"), "w\0");
    }

    #[test]
    fn sha256_known_answer() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
