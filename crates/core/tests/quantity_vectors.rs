//! Replays what Kubernetes' own `resource.Quantity` answers (k8s.io/apimachinery v0.32.10, the
//! version OpenKruise v1.9.1 builds with) against the port in `sidecarset_core::quantity`.
//!
//! The vectors come from `hack/quantity-vectors`, which runs the inputs of its `cases.json`
//! through Go. After changing `cases.json`, regenerate (Go toolchain and module proxy needed):
//!
//! ```text
//! cd hack/quantity-vectors && GOFLAGS=-mod=mod go run .
//! ```
//!
//! `vectors_cover_the_generator_inputs` fails until that is done.

use std::fmt::Write;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use sidecarset_core::quantity::{Format, MILLI, Quantity, normalize_resource_quantity};

const VECTORS: &str = include_str!("data/quantity_vectors.json");
const CASES: &str = include_str!("../../../hack/quantity-vectors/cases.json");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Vectors {
    parse: Vec<ParseVector>,
    arithmetic: Vec<ArithmeticVector>,
    constructors: Vec<ConstructorVector>,
}

/// `ParseQuantity(input)`: Go's error, or what Go answers about the parsed quantity.
#[derive(Deserialize)]
#[serde(untagged, deny_unknown_fields)]
enum ParseVector {
    Refused {
        input: String,
        error: String,
    },
    #[serde(rename_all = "camelCase")]
    Parsed {
        input: String,
        format: String,
        /// `String()`: the remembered text if Go kept it, else canonical.
        string: String,
        /// `CanonicalizeBytes`.
        canonical: String,
        /// `RoundUp(Milli)` then `MarshalJSON`: what defaulting stores.
        normalized: String,
        milli_value: i64,
        value: i64,
    },
}

/// `a.Add(b)`, `a.Cmp(b)`, `a.Neg()`, and `a.Add(-b)` (how Kruise's calculator subtracts).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ArithmeticVector {
    a: String,
    b: String,
    sum: String,
    sum_format: String,
    cmp: i8,
    neg_a: String,
    neg_a_milli_value: i64,
    difference: String,
}

/// `NewMilliQuantity(value, format)` and `NewQuantity(value, format)`, printed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConstructorVector {
    value: i64,
    format: String,
    milli: String,
    plain: String,
}

/// The generator's inputs.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Cases {
    parse: Vec<String>,
    arithmetic: Vec<(String, String)>,
    constructors: Vec<ConstructorCase>,
}

#[derive(Deserialize, PartialEq, Debug)]
#[serde(deny_unknown_fields)]
struct ConstructorCase {
    value: i64,
    format: String,
}

fn from_json<T: DeserializeOwned>(text: &str, name: &str) -> T {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn vectors() -> Vectors {
    from_json(VECTORS, "tests/data/quantity_vectors.json")
}

/// Go's `resource.Format` constant values.
fn format(name: &str) -> Format {
    match name {
        "DecimalExponent" => Format::DecimalExponent,
        "BinarySI" => Format::BinarySI,
        "DecimalSI" => Format::DecimalSI,
        _ => panic!("unknown format {name:?} in the vectors"),
    }
}

fn parse(input: &str) -> Quantity {
    Quantity::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"))
}

/// Records `what` as a failure unless `got == want`.
fn check<T: PartialEq + std::fmt::Debug>(failures: &mut String, what: &str, got: T, want: T) {
    if got != want {
        let _ = writeln!(failures, "{what}:\n  want {want:?}\n  got  {got:?}");
    }
}

fn assert_no_failures(failures: &str) {
    assert!(failures.is_empty(), "mismatches with Go:\n{failures}");
}

#[test]
fn parse_matches_go() {
    let mut failures = String::new();
    for vector in vectors().parse {
        match vector {
            ParseVector::Refused { input, error } => check(
                &mut failures,
                &format!("{input:?} error"),
                Quantity::parse(&input).map_err(|e| e.to_string()).err(),
                Some(error),
            ),
            ParseVector::Parsed {
                input,
                format: name,
                string,
                canonical,
                normalized,
                milli_value,
                value,
            } => {
                let Ok(got) = Quantity::parse(&input) else {
                    check(&mut failures, &format!("{input:?}"), "refused", "parsed");
                    continue;
                };
                let what = |op: &str| format!("{input:?} {op}");
                check(&mut failures, &what("format"), got.format(), format(&name));
                check(&mut failures, &what("String()"), got.to_go_string(), string);
                check(
                    &mut failures,
                    &what("canonical"),
                    got.canonical(),
                    canonical,
                );
                check(
                    &mut failures,
                    &what("MilliValue"),
                    got.go_milli_value(),
                    milli_value,
                );
                check(&mut failures, &what("Value"), got.go_value(), value);
                let mut rounded = got.clone();
                rounded.round_up(MILLI);
                let after_round_up = rounded.to_go_string();
                check(
                    &mut failures,
                    &what("RoundUp(Milli)"),
                    after_round_up,
                    normalized.clone(),
                );
                check(
                    &mut failures,
                    &what("normalize_resource_quantity"),
                    normalize_resource_quantity(&input).map_err(|e| e.to_string()),
                    Ok(normalized),
                );
            }
        }
    }
    assert_no_failures(&failures);
}

#[test]
fn arithmetic_matches_go() {
    let mut failures = String::new();
    for v in vectors().arithmetic {
        let (a, b) = (parse(&v.a), parse(&v.b));
        let what = |op: &str| format!("{:?} {op} {:?}", v.a, v.b);
        let mut sum = a.clone();
        sum.add(&b).expect("small values");
        check(&mut failures, &what("+"), sum.to_go_string(), v.sum.clone());
        check(
            &mut failures,
            &what("+ (format)"),
            sum.format(),
            format(&v.sum_format),
        );
        check(&mut failures, &what("cmp"), a.cmp(&b) as i8, v.cmp);
        let mut neg_a = a.clone();
        neg_a.neg();
        check(
            &mut failures,
            &format!("-{:?}", v.a),
            neg_a.to_go_string(),
            v.neg_a.clone(),
        );
        check(
            &mut failures,
            &format!("MilliValue(-{:?})", v.a),
            neg_a.go_milli_value(),
            v.neg_a_milli_value,
        );
        let mut neg_b = b.clone();
        neg_b.neg();
        let mut difference = a.clone();
        difference.add(&neg_b).expect("small values");
        check(
            &mut failures,
            &what("-"),
            difference.to_go_string(),
            v.difference.clone(),
        );
    }
    assert_no_failures(&failures);
}

#[test]
fn constructors_match_go() {
    let mut failures = String::new();
    for v in vectors().constructors {
        let f = format(&v.format);
        check(
            &mut failures,
            &format!("NewMilliQuantity({}, {})", v.value, v.format),
            Quantity::new_milli(v.value, f).canonical(),
            v.milli,
        );
        check(
            &mut failures,
            &format!("NewQuantity({}, {})", v.value, v.format),
            Quantity::new(v.value, f).canonical(),
            v.plain,
        );
    }
    assert_no_failures(&failures);
}

/// The committed vectors answer exactly the generator's current inputs, in order.
#[test]
fn vectors_cover_the_generator_inputs() {
    let cases: Cases = from_json(CASES, "hack/quantity-vectors/cases.json");
    let vectors = vectors();
    let parsed: Vec<&str> = vectors
        .parse
        .iter()
        .map(|v| match v {
            ParseVector::Refused { input, .. } | ParseVector::Parsed { input, .. } => {
                input.as_str()
            }
        })
        .collect();
    assert_same_inputs("parse", &parsed, &cases.parse);
    let pairs: Vec<(&str, &str)> = vectors
        .arithmetic
        .iter()
        .map(|v| (v.a.as_str(), v.b.as_str()))
        .collect();
    let case_pairs: Vec<(&str, &str)> = cases
        .arithmetic
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    assert_same_inputs("arithmetic", &pairs, &case_pairs);
    let constructors: Vec<ConstructorCase> = vectors
        .constructors
        .iter()
        .map(|v| ConstructorCase {
            value: v.value,
            format: v.format.clone(),
        })
        .collect();
    assert_same_inputs("constructors", &constructors, &cases.constructors);
}

fn assert_same_inputs<A, B>(list: &str, vectors: &[A], cases: &[B])
where
    A: PartialEq<B> + std::fmt::Debug,
    B: std::fmt::Debug,
{
    let stale = "tests/data/quantity_vectors.json is stale: regenerate it with \
                 `cd hack/quantity-vectors && GOFLAGS=-mod=mod go run .`";
    if let Some(i) =
        (0..vectors.len().max(cases.len())).find(|&i| match (vectors.get(i), cases.get(i)) {
            (Some(v), Some(c)) => v != c,
            _ => true,
        })
    {
        panic!(
            "{stale}\n{list}[{i}]: the vectors have {:?}, cases.json has {:?}",
            vectors.get(i),
            cases.get(i)
        );
    }
}
