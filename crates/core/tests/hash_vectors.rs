//! Replays the reference vectors produced by real Go (`hack/hash-vectors`, which encodes with
//! `k8s.io/api` v0.32 and Kruise's SidecarContainer) against the pure-Rust encoder and hash.

use serde_json::Value;
use sidecarset_core::gojson::encode_hash_input;
use sidecarset_core::hash::{sidecarset_hash, sidecarset_hash_without_image};

const VECTORS: &str = include_str!("data/hash_vectors.json");

fn list<'a>(vector: &'a Value, key: &str) -> Option<&'a [Value]> {
    vector.get(key).map(|v| {
        v.as_array()
            .map(Vec::as_slice)
            .unwrap_or_else(|| panic!("{key} must be an array"))
    })
}

fn field<'a>(vector: &'a Value, key: &str) -> &'a str {
    vector[key]
        .as_str()
        .unwrap_or_else(|| panic!("missing {key}"))
}

#[test]
fn hash_vectors_match_go_byte_for_byte() {
    let vectors: Vec<Value> = serde_json::from_str(VECTORS).expect("hash_vectors.json parses");
    assert!(
        vectors.len() >= 40,
        "expected the full vector set, got {}",
        vectors.len()
    );

    let mut failures = Vec::new();
    for vector in &vectors {
        let name = field(vector, "name");
        let containers = list(vector, "containers");
        let init = list(vector, "initContainers");

        let checks = [
            ("encoded", encode_hash_input(containers, init, false)),
            (
                "encodedWithoutImage",
                encode_hash_input(containers, init, true),
            ),
            ("hash", sidecarset_hash(containers, init)),
            (
                "hashWithoutImage",
                sidecarset_hash_without_image(containers, init),
            ),
        ];
        for (key, got) in checks {
            let want = field(vector, key);
            if got != want {
                failures.push(format!("{name}.{key}:\n  want {want}\n  got  {got}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn hash_ignores_plain_init_containers() {
    let vectors: Vec<Value> = serde_json::from_str(VECTORS).expect("hash_vectors.json parses");
    let vector = vectors
        .iter()
        .find(|v| v["name"] == "plain-init-ignored")
        .expect("vector plain-init-ignored");
    let containers = list(vector, "containers");
    assert_eq!(
        sidecarset_hash(containers, list(vector, "initContainers")),
        sidecarset_hash(containers, None)
    );
}
