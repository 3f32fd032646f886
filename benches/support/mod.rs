//! What both benchmarks share: the golden fixtures, where criterion writes, and the ratio table
//! printed at the end of a run (medians from criterion's own estimates of that run).

#![allow(dead_code)] // each bench uses its own part

use std::path::{Path, PathBuf};

use criterion::Criterion;
use serde_json::Value;

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The filebeat story's Pod (matches the set) and the same set with a Pod that does not ask for it.
pub const MATCHING: &str = "filebeat-story";
pub const NOT_MATCHING: &str = "filebeat-no-label";

/// A golden case's file, parsed; a missing or malformed fixture names its path.
fn fixture(case: &str, file: &str, parse: fn(&str) -> Result<Value, String>) -> Value {
    let p = Path::new(ROOT)
        .join("test_data/golden")
        .join(case)
        .join(file);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    parse(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub fn request(case: &str) -> Value {
    fixture(case, "request.json", |t| {
        serde_json::from_str(t).map_err(|e| e.to_string())
    })
}

pub fn settings(case: &str) -> Value {
    fixture(case, "settings.yaml", |t| {
        serde_yaml::from_str(t).map_err(|e| e.to_string())
    })
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|d| {
            if d.is_absolute() {
                d
            } else {
                Path::new(ROOT).join(d)
            }
        })
        .unwrap_or_else(|| Path::new(ROOT).join("target"))
}

fn criterion_dir() -> PathBuf {
    target_dir().join("criterion")
}

pub fn criterion() -> Criterion {
    Criterion::default()
        .output_directory(&criterion_dir())
        .configure_from_args()
}

/// The median of `group/function` as this run measured it, in nanoseconds.
pub fn median_ns(group: &str, function: &str) -> f64 {
    let p = criterion_dir()
        .join(group)
        .join(function)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run the whole bench, not a filtered part, to get the ratio table)",
            p.display()
        )
    });
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    v["median"]["point_estimate"]
        .as_f64()
        .unwrap_or_else(|| panic!("{}: no median.point_estimate", p.display()))
}

/// Prints `| measured | median | floor | median | ratio | goal |` rows in Markdown.
pub fn print_ratios(title: &str, rows: &[(&str, &str, &str, &str, f64)]) {
    println!("\n{title}\n");
    println!("| measured | median | floor | median | ratio | goal |");
    println!("|---|---:|---|---:|---:|---:|");
    for (group, subject, floor, label, goal) in rows {
        let (s, f) = (median_ns(group, subject), median_ns(group, floor));
        let ratio = s / f;
        let mark = if ratio <= *goal { "ok" } else { "MISSED" };
        println!(
            "| {label}: {group}/{subject} | {} | {group}/{floor} | {} | {ratio:.2}x | {goal}x {mark} |",
            human(s),
            human(f)
        );
    }
}

pub fn human(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// A filter argument (`cargo bench --bench wasm -- noop`) runs a part: no ratio table then.
pub fn filtered() -> bool {
    // criterion's options that take a value: their value is not a filter.
    const WITH_VALUE: &[&str] = &[
        "--warm-up-time",
        "--measurement-time",
        "--sample-size",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--profile-time",
        "--save-baseline",
        "--baseline",
        "--load-baseline",
        "--color",
        "--output-format",
        "--plotting-backend",
        "--format",
    ];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if WITH_VALUE.contains(&a.as_str()) {
            args.next();
        } else if !a.starts_with('-') {
            return true;
        }
    }
    false
}
