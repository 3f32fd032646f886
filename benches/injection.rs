//! Native injection of the Filebeat Pod through the policy's `validate` (request bytes in,
//! response bytes out) against the floor of any JSON-in, JSON-out policy: serde_json parsing the
//! same request into a `Value` and serialising it again. Goal: within 3x.
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
    c.final_summary();

    if !support::filtered() {
        support::print_ratios(
            "Native injection of the Filebeat Pod (policy validate vs. serde_json parse+serialise)",
            &[(
                "native",
                "policy-validate",
                "serde-json-roundtrip",
                "filebeat Pod",
                3.0,
            )],
        );
    }
}
