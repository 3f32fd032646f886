//! Fuzzing `validate` (the policy's `evaluate`, natively, with each golden case's Namespace and
//! ControllerRevision answers): golden requests as they are, with changes that keep their Pod valid,
//! and with arbitrary edits to the Pod or the request (wrong types in any position, removals,
//! duplicated and grown lists, nesting past serde_json's limit); generated Pods in golden requests;
//! generated sets; and a few requests near the API server's 3 MB limit.
//!
//! What must hold for every input: no panic, and an answer the policy server can use (accepted with
//! no message, or refused with a message and code 400/500, a mutation only when accepted and only to
//! an object). Where the Pod was valid, the mutated Pod fed back in must come back unchanged.
//!
//! `SIDECARSET_FUZZ_CASES=N` sets the cases per property (docs/development.md).

use std::time::{Duration, Instant};

use kubewarden_policy_sdk::response::ValidationResponse;
use proptest::prelude::*;
use sidecarset_policy::evaluate;

#[path = "support/fuzz_inputs.rs"]
mod fuzz_inputs;
#[path = "support/golden_case.rs"]
mod golden_case;

use fuzz_inputs::{
    ValidateInput, config, generated_pod, generated_set, golden_inputs, large_inputs,
    validate_input,
};
use golden_case::NOW;

fn well_formed(r: &ValidationResponse) -> Result<(), TestCaseError> {
    prop_assert!(serde_json::to_vec(r).is_ok());
    if r.accepted {
        prop_assert!(r.message.is_none() && r.code.is_none(), "{:?}", r);
        if let Some(pod) = &r.mutated_object {
            prop_assert!(pod.is_object(), "mutated into {}", pod);
        }
    } else {
        prop_assert!(
            r.message.as_deref().is_some_and(|m| !m.trim().is_empty()),
            "{:?}",
            r
        );
        prop_assert!(matches!(r.code, Some(400 | 500)), "{:?}", r);
        prop_assert!(r.mutated_object.is_none(), "{:?}", r);
    }
    if let Some(warnings) = &r.warnings {
        prop_assert!(!warnings.is_empty() && warnings.iter().all(|w| !w.trim().is_empty()));
    }
    Ok(())
}

fn run(input: &ValidateInput) -> ValidationResponse {
    let case = input.case();
    evaluate(&input.payload(), case, case, NOW)
}

/// Evaluates `input`, checks the answer, and for a valid Pod that was injected, that evaluating the
/// result changes nothing more.
fn check(input: &ValidateInput) -> Result<ValidationResponse, TestCaseError> {
    let response = run(input);
    well_formed(&response)?;
    if let (true, Some(mutated)) = (input.valid_pod, &response.mutated_object) {
        let again = run(&input.with_object(mutated.clone()));
        prop_assert!(
            again.accepted && again.mutated_object.is_none(),
            "{} ({}): not idempotent: evaluated again, {:?}\nfirst result:\n{:#}",
            input.case().name,
            input.kind,
            again,
            mutated
        );
    }
    Ok(response)
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn requests_from_the_golden_cases_valid_changed_and_broken(input in validate_input()) {
        check(&input)?;
    }

    #[test]
    fn generated_pods(input in generated_pod()) {
        check(&input)?;
    }

    #[test]
    fn generated_sets(input in generated_set()) {
        check(&input)?;
    }
}

#[test]
fn every_golden_request_is_answered_and_idempotent() {
    for input in golden_inputs() {
        if let Err(e) = check(&input) {
            panic!("{}: {e}", input.case().name);
        }
    }
}

/// Informational only (speed is measured by benches, not asserted here): the time each large input
/// took in this build.
#[test]
fn large_requests_are_answered_and_idempotent() {
    let mut slowest = (Duration::ZERO, "");
    for input in large_inputs() {
        let started = Instant::now();
        let result = check(&input);
        let took = started.elapsed();
        if let Err(e) = result {
            panic!("{}: {e}", input.kind);
        }
        println!(
            "{:>10.1?}  {} ({} bytes)",
            took,
            input.kind,
            input.payload().len()
        );
        slowest = slowest.max((took, input.kind));
    }
    println!("slowest: {} in {:.1?}", slowest.1, slowest.0);
}
