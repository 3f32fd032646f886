//! `policy.wasm` in the test host (kwhost, wasmtime) against two floors on the same SDK and release
//! profile: a no-op policy that accepts (`benches/noop-policy`, goal 1.5x), and a no-op *mutating*
//! policy that returns the Pod with one annotation added (`benches/noop-mutator`, goal 1.3x on the
//! Filebeat Pod), so that the host's parse and diff of a returned Pod is in the floor too. Each
//! evaluation is the whole round trip the host does: serialise the payload, call `validate` in a
//! reused instance, parse the answer, diff the mutated Pod into a JSON patch. Also prints the module
//! sizes, plain and annotated.
//!
//! And against Kruise: OpenKruise v1.9.1's own Pod webhook handler (`PodCreateHandler.Handle`,
//! in-process in `hack/kruise-harness`, timed by the harness in a warm loop) on the same Filebeat
//! Pod, as the API server sends it to a webhook (the harness's `stored` form, given to both); goal
//! 0.33x. Kruise's figure is the handler alone (no admission HTTP, no JSON of the review), policy.wasm's
//! the whole host round trip above, so the ratio is in Kruise's favour. Needs Go, as the parity
//! test does.
//!
//! `make bench` builds the modules first; by hand: `cargo build --locked --target wasm32-wasip1
//! --release -p sidecarset-policy -p noop-policy -p noop-mutator` then `cargo bench --bench wasm`.
//! `POLICY_WASM` / `NOOP_POLICY_WASM` / `NOOP_MUTATOR_WASM` point elsewhere.

use std::hint::black_box;
use std::path::PathBuf;

use kruise_harness::Harness;
use kwhost::{AdmissionRequest, Policy, PolicyMetadata};
use serde_json::{Map, Value, json};

mod support;

fn module(env: &str, file: &str) -> PathBuf {
    let path = std::env::var_os(env).map_or_else(
        || {
            support::target_dir()
                .join("wasm32-wasip1/release")
                .join(file)
        },
        PathBuf::from,
    );
    assert!(
        path.is_file(),
        "{} is missing: run `make bench`, or `cargo build --locked --target wasm32-wasip1 --release \
         -p sidecarset-policy -p noop-policy -p noop-mutator` (or set {env})",
        path.display()
    );
    path
}

struct Case {
    request: AdmissionRequest,
    settings: Map<String, Value>,
}

fn case(name: &str) -> Case {
    let request = AdmissionRequest::from_input(&support::request(name)).expect("valid request");
    let settings = kwhost::policy::settings_object(&support::settings(name)).expect("object");
    Case { request, settings }
}

fn main() {
    let policy_path = module("POLICY_WASM", "sidecarset_policy.wasm");
    let noop_path = module("NOOP_POLICY_WASM", "noop_policy.wasm");
    let policy = Policy::load(&policy_path).expect("policy.wasm loads");
    let noop = Policy::load(&noop_path).expect("noop policy loads");
    let mutator_path = module("NOOP_MUTATOR_WASM", "noop_mutator.wasm");
    let mutator = Policy::load(&mutator_path).expect("noop mutator loads");
    let (matching, other) = (case(support::MATCHING), case(support::NOT_MATCHING));
    let harness = Harness::build();
    let kruise_input = kruise_input(&harness);
    let as_sent = Case {
        request: AdmissionRequest::from_input(&kruise_input["request"]).expect("valid request"),
        settings: matching.settings.clone(),
    };

    let mut p = policy.instantiate();
    let mut n = noop.instantiate();
    let mut m = mutator.instantiate();
    // Time only what answers correctly: the Filebeat Pod gets a patch, the other Pod none.
    let eval = |i: &mut kwhost::PolicyInstance<'_>, c: &Case| {
        i.evaluate_admission_request(&c.request, &c.settings, None)
            .expect("evaluation runs")
            .response
    };
    let r = eval(&mut p, &matching);
    assert!(r.allowed && r.patch.is_some(), "{r:?}");
    let r = eval(&mut p, &other);
    assert!(r.allowed && r.patch.is_none(), "{r:?}");
    let r = eval(&mut n, &matching);
    assert!(r.allowed && r.patch.is_none(), "{r:?}");
    let r = eval(&mut m, &matching);
    assert!(r.allowed && r.patch.is_some(), "the mutator patches: {r:?}");

    let mut c = support::criterion();
    let mut g = c.benchmark_group("wasm");
    g.bench_function("policy-filebeat-as-sent", |b| {
        b.iter(|| eval(&mut p, black_box(&as_sent)))
    });
    g.bench_function("noop-mutator-filebeat", |b| {
        b.iter(|| eval(&mut m, black_box(&matching)))
    });
    for (label, case) in [("filebeat", &matching), ("no-match", &other)] {
        g.bench_function(format!("policy-{label}"), |b| {
            b.iter(|| eval(&mut p, black_box(case)))
        });
        g.bench_function(format!("noop-{label}"), |b| {
            b.iter(|| eval(&mut n, black_box(case)))
        });
    }
    g.finish();
    c.final_summary();

    if !support::filtered() {
        support::print_ratios(
            "policy.wasm vs. the no-op policy in kwhost (reused instance)",
            &[
                (
                    "wasm",
                    "policy-filebeat",
                    "noop-filebeat",
                    "filebeat Pod",
                    1.5,
                ),
                (
                    "wasm",
                    "policy-filebeat",
                    "noop-mutator-filebeat",
                    "filebeat Pod against the no-op mutator",
                    1.3,
                ),
                (
                    "wasm",
                    "policy-no-match",
                    "noop-no-match",
                    "non-matching Pod",
                    1.5,
                ),
            ],
        );
        print_kruise(&harness, &kruise_input);
        print_sizes(&policy_path, &noop_path);
    }
}

/// The Filebeat case as the harness's `inject`/`bench` input, its Pod in the form the API server
/// sends to webhooks.
fn kruise_input(harness: &Harness) -> Value {
    let mut request = support::request(support::MATCHING);
    let stored = harness.stored(&[&request["object"]]);
    request["object"] = stored[0].clone();
    json!({
        "sidecarSets": [kruise_harness::sidecar_set(&support::settings(support::MATCHING))],
        "namespaces": [],
        "request": request,
    })
}

/// Kruise's handler on the same Pod, five warm loops of 2,000 calls (the median of their means),
/// against policy.wasm's median from this run.
fn print_kruise(harness: &Harness, input: &Value) {
    let answer = &harness.call("inject", std::slice::from_ref(input))[0];
    assert!(
        answer["allowed"] == true && answer["patch"].as_array().is_some_and(|p| !p.is_empty()),
        "Kruise injects the Filebeat Pod: {answer}"
    );
    let mut runs: Vec<f64> = (0..5)
        .map(|_| {
            let mut i = input.clone();
            i["iterations"] = json!(2000);
            harness.call("bench", &[i])[0]["nsPerOp"]
                .as_f64()
                .expect("nsPerOp")
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    let kruise = runs[2];
    let ours = support::median_ns("wasm", "policy-filebeat-as-sent");
    let ratio = ours / kruise;
    let mark = if ratio <= 0.33 { "ok" } else { "MISSED" };
    println!("\npolicy.wasm vs. Kruise v1.9.1's Pod webhook handler, Filebeat Pod as sent\n");
    println!("| measured | median | Kruise | median of 5 | ratio | goal |");
    println!("|---|---:|---|---:|---:|---:|");
    println!(
        "| wasm/policy-filebeat-as-sent | {} | PodCreateHandler.Handle (hack/kruise-harness) | {} | {ratio:.2}x | 0.33x {mark} |",
        support::human(ours),
        support::human(kruise)
    );
    println!(
        "(Kruise's 5 runs: {})",
        runs.iter()
            .map(|r| support::human(*r))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// Sizes as users get the modules. Annotation is kwhost's (kwctl is not installable here): the
/// metadata section plus README.md as usage text, what `make annotated-policy.wasm` does.
fn print_sizes(policy: &PathBuf, noop: &PathBuf) {
    let bytes = std::fs::read(policy).expect("policy.wasm readable");
    let metadata = std::fs::read_to_string(PathBuf::from(support::ROOT).join("metadata.yml"))
        .expect("metadata.yml readable");
    let usage = std::fs::read_to_string(PathBuf::from(support::ROOT).join("README.md"))
        .expect("README.md readable");
    let metadata = PolicyMetadata::from_yaml(&metadata).expect("metadata.yml is valid");
    let annotated = kwhost::annotate(&bytes, &metadata, Some(&usage)).expect("annotates");
    let noop_len = std::fs::metadata(noop).expect("noop readable").len();
    println!("\nModule sizes (bytes)\n");
    println!("| module | bytes | MB |");
    println!("|---|---:|---:|");
    for (name, len) in [
        ("policy.wasm", bytes.len() as u64),
        (
            "annotated-policy.wasm (kwhost annotate)",
            annotated.len() as u64,
        ),
        ("noop_policy.wasm", noop_len),
    ] {
        println!("| {name} | {len} | {:.2} |", len as f64 / 1e6);
    }
}
