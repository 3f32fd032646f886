//! Fuzzing settings validation: arbitrary JSON, documents shaped like a SidecarSet spec with wrong
//! types mixed in, and the corpus (every golden set, every refused one of
//! `test_data/invalid-settings/`) perturbed, through the core's parse-default-validate
//! (`SidecarSet::new`) and the policy's `validate_settings` answer (`check_settings`).
//!
//! What must hold for every input: no panic; the same verdict twice; the policy valid exactly when the
//! core is, with the core's message; a refusal has at least one problem, each with a message and
//! naming a field of the settings (the document itself only when it is not an object).
//!
//! `SIDECARSET_FUZZ_CASES=N` sets the cases per property (docs/development.md).

use proptest::prelude::*;
use serde_json::Value;
use sidecarset_core::SidecarSet;
use sidecarset_policy::check_settings;

#[path = "support/fuzz_inputs.rs"]
mod fuzz_inputs;
#[path = "support/golden_case.rs"]
mod golden_case;

use fuzz_inputs::{
    any_json, apply_edits, config, edits, settings_corpus, settings_near_valid, settings_shaped,
};

/// The keys a settings document may have: a problem with a field the document lacks
/// (`selector: required`) names one of them.
use sidecarset_core::settings::TOP_LEVEL_KEYS;

/// `path` is `key` or under it (`containers`, `containers[0].name`).
fn under(path: &str, key: &str) -> bool {
    path.strip_prefix(key)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
}

fn check(doc: &Value) -> Result<(), TestCaseError> {
    let verdict = SidecarSet::new(doc);
    prop_assert_eq!(&SidecarSet::new(doc), &verdict, "not deterministic");
    match &verdict {
        Ok(set) => {
            prop_assert!(!set.name().is_empty());
            prop_assert!(!set.hash().is_empty() && !set.hash_without_image().is_empty());
        }
        Err(errs) => {
            prop_assert!(!errs.is_empty(), "refused without a problem");
            let keys: Vec<&str> = match doc {
                Value::Object(o) => o.keys().map(String::as_str).collect(),
                _ => vec![],
            };
            for e in errs.iter() {
                prop_assert!(!e.message.trim().is_empty(), "no message: {:?}", e);
                if doc.is_object() || doc.is_null() {
                    prop_assert!(
                        TOP_LEVEL_KEYS
                            .iter()
                            .chain(&keys)
                            .any(|k| under(&e.path, k)),
                        "{:?} names no field of the settings",
                        e
                    );
                } else {
                    prop_assert!(e.path.is_empty(), "{:?}", e);
                    prop_assert!(
                        e.message.starts_with("settings must be an object"),
                        "{:?}",
                        e
                    );
                }
            }
        }
    }
    let bytes = serde_json::to_vec(doc).expect("a JSON value serialises");
    let answer = check_settings(&bytes);
    // What the policy reads is the bytes: serde_json reads some floats back a last digit off, which
    // shows in a type error's message, and refuses more than 128 levels of nesting.
    let read: Value = match serde_json::from_slice(&bytes) {
        Ok(read) => read,
        Err(e) => {
            prop_assert!(!answer.valid);
            prop_assert_eq!(answer.message, Some(format!("settings are not JSON: {e}")));
            return Ok(());
        }
    };
    let verdict = SidecarSet::new(&read);
    prop_assert_eq!(answer.valid, verdict.is_ok());
    prop_assert_eq!(answer.message, verdict.err().map(|e| e.to_string()));
    Ok(())
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn arbitrary_json_settings(doc in any_json()) {
        check(&doc)?;
    }

    #[test]
    fn settings_shaped_like_a_sidecarset(doc in settings_shaped()) {
        check(&doc)?;
    }

    #[test]
    fn valid_settings_with_one_field_generated(doc in settings_near_valid()) {
        check(&doc)?;
    }

    #[test]
    fn corpus_settings_perturbed(at in any::<prop::sample::Index>(), edits in edits(4)) {
        let doc = apply_edits(at.get(settings_corpus()).clone(), &edits);
        check(&doc)?;
    }
}

#[test]
fn the_corpus_as_it_is() {
    for doc in settings_corpus() {
        if let Err(e) = check(doc) {
            panic!("{e}\n{doc:#}");
        }
    }
}
