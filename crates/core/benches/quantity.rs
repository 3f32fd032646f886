//! The quantity work the policy does per admission request: defaulting normalizes every
//! `resources` value (parse, `RoundUp(Milli)`, serialize), `resourcesPolicy` evaluates its
//! expressions against the target containers' totals.
//!
//! `normalize/<input>`: [`normalize_resource_quantity`] on typical strings, from the int64 fast
//! path (`100m`, `1Gi`) to the arbitrary-precision one (`123456789012345678901234567890`).
//! `evaluate/<expr>`: [`evaluate_expr`] with the variable bound to an aggregated quantity.
//!
//! `cargo bench -p sidecarset-core --bench quantity`

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use sidecarset_core::quantity::{Quantity, normalize_resource_quantity};
use sidecarset_core::resources_expr::evaluate_expr;

/// (input, what defaulting stores).
const INPUTS: &[(&str, &str)] = &[
    ("100m", "100m"),
    ("1Gi", "1Gi"),
    ("0.5", "500m"),
    ("1e3", "1e3"),
    ("1.5Gi", "1536Mi"),
    (
        "123456789012345678901234567890",
        "123456789012345678901234567890",
    ),
];

/// (expression, aggregated value, result).
const EXPRESSIONS: &[(&str, &str, &str)] = &[
    ("max(cpu*50%, 50m)", "1500m", "750m"),
    ("memory - 100Mi", "2Gi", "1948Mi"),
    (
        "cpu + 0.25",
        "123456789012345678901234567890",
        "123456789012345678901234567890250m",
    ),
];

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("normalize");
    for (input, stored) in INPUTS {
        // What is timed must be the real work: check its result once.
        assert_eq!(normalize_resource_quantity(input).as_deref(), Ok(*stored));
        group.bench_function(*input, |b| {
            b.iter(|| normalize_resource_quantity(black_box(input)))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("evaluate");
    for (expr, aggregated, result) in EXPRESSIONS {
        let aggregated = Quantity::parse(aggregated).expect("a valid quantity");
        let got = evaluate_expr(expr, &aggregated).map(|q| q.to_go_string());
        assert_eq!(got.as_deref(), Ok(*result), "{expr}");
        group.bench_function(*expr, |b| {
            b.iter(|| evaluate_expr(black_box(expr), black_box(&aggregated)))
        });
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bench(&mut c);
    c.final_summary();
}
