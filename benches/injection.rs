//! Native injection of the Filebeat Pod through the policy's `validate` (request bytes in,
//! response bytes out) against the floor of any JSON-in, JSON-out policy: serde_json parsing the
//! same request into a `Value` and serialising it again. Goal: within 3x. The same for a Pod with
//! 100k imagePullSecrets (a 2.6 MB request), where a merge by comparison took a minute.
//!
//! `cargo bench --bench injection`

use std::collections::BTreeMap;
use std::hint::black_box;

use serde_json::json;
use sidecarset_policy::{NamespaceSource, NoRevisions};

mod support;

/// The filebeat set has no namespaceSelector: a lookup would be a bug, so it fails loudly.
struct NoLookups;

impl NamespaceSource for NoLookups {
    fn labels(&self, namespace: &str) -> Result<BTreeMap<String, String>, String> {
        panic!("the filebeat set must not look up Namespace {namespace}")
    }
}

const NOW: &str = "2026-11-25T10:00:00Z";

fn main() {
    let payload = serde_json::to_vec(&json!({
        "request": support::request(support::MATCHING),
        "settings": support::settings(support::MATCHING),
    }))
    .expect("fixture serialises");

    // What is timed must be what the golden test checks: an injected Pod.
    let response = sidecarset_policy::evaluate(&payload, &NoLookups, &NoRevisions, NOW);
    assert!(
        response.accepted && response.mutated_object.is_some(),
        "{response:?}"
    );

    let mut c = support::criterion();
    let mut g = c.benchmark_group("native");
    g.bench_function("policy-validate", |b| {
        b.iter(|| {
            let r = sidecarset_policy::evaluate(black_box(&payload), &NoLookups, &NoRevisions, NOW);
            serde_json::to_vec(&r).expect("response serialises")
        })
    });
    g.bench_function("serde-json-roundtrip", |b| {
        b.iter(|| {
            let v: serde_json::Value =
                serde_json::from_slice(black_box(&payload)).expect("fixture is JSON");
            serde_json::to_vec(&v).expect("value serialises")
        })
    });
    g.finish();

    // The Pod's imagePullSecrets are merged by name; 100k of them (about 3 MB of request, each name
    // twice) is what a one-pass merge must take in stride.
    let large = pull_secrets_payload(100_000);
    let response = sidecarset_policy::evaluate(&large, &NoLookups, &NoRevisions, NOW);
    let merged = response
        .mutated_object
        .as_ref()
        .and_then(|p| p.pointer("/spec/imagePullSecrets"))
        .and_then(serde_json::Value::as_array)
        .map_or(0, Vec::len);
    assert_eq!(merged, 50_002, "{:?}", response.message);
    let mut g = c.benchmark_group("native-large");
    g.sample_size(10);
    g.bench_function("pull-secrets-100k", |b| {
        b.iter(|| {
            let r = sidecarset_policy::evaluate(black_box(&large), &NoLookups, &NoRevisions, NOW);
            serde_json::to_vec(&r).expect("response serialises")
        })
    });
    g.bench_function("pull-secrets-100k-serde-json-roundtrip", |b| {
        b.iter(|| {
            let v: serde_json::Value =
                serde_json::from_slice(black_box(&large)).expect("payload is JSON");
            serde_json::to_vec(&v).expect("value serialises")
        })
    });
    g.finish();
    c.final_summary();

    if !support::filtered() {
        support::print_ratios(
            "Native injection (policy validate vs. serde_json parse+serialise of the same request)",
            &[
                (
                    "native",
                    "policy-validate",
                    "serde-json-roundtrip",
                    "filebeat Pod",
                    3.0,
                ),
                (
                    "native-large",
                    "pull-secrets-100k",
                    "pull-secrets-100k-serde-json-roundtrip",
                    "100k imagePullSecrets",
                    3.0,
                ),
            ],
        );
    }
}

/// The image-pull-secrets case (set: `reg`, `shared`) with `count` Pod secrets, each name twice.
fn pull_secrets_payload(count: usize) -> Vec<u8> {
    const CASE: &str = "image-pull-secrets";
    let mut request = support::request(CASE);
    request["object"]["spec"]["imagePullSecrets"] = (0..count)
        .map(|i| json!({"name": format!("pull-secret-{}", i % (count / 2))}))
        .collect();
    serde_json::to_vec(&json!({"request": request, "settings": support::settings(CASE)}))
        .expect("fixture serialises")
}
