//! The prepared set (parsed, defaulted, validated, hashed) of the last settings seen.
//!
//! Kubewarden sends the settings with every request, and preparing them is half of an injection
//! (serde over k8s-openapi types, Kruise's defaults, every validation rule, two hashes over Go-style
//! JSON). The policy-server and kwctl reuse one module instance for many requests with the same
//! settings, so the instance keeps the last prepared set and reuses it when the next request's settings
//! are equal, value for value. A policy instance serves one policy, so one entry is enough; anything
//! else (new settings, another policy sharing the instance) is a miss that prepares the set again.

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::Value;
use sidecarset_core::{SettingsErrors, SidecarSet};

thread_local! {
    // wasm32-wasip1 runs one thread per instance; natively each test thread has its own entry.
    static LAST: RefCell<Option<(Value, Rc<SidecarSet>)>> = const { RefCell::new(None) };
}

/// The prepared set for `settings`, from the cache when the previous call had equal settings.
/// Invalid settings are not cached: their error is computed again, as it should be rare.
pub fn prepared(settings: Value) -> Result<Rc<SidecarSet>, SettingsErrors> {
    let hit = LAST.with_borrow(|last| {
        last.as_ref()
            .filter(|(cached, _)| *cached == settings)
            .map(|(_, set)| Rc::clone(set))
    });
    if let Some(set) = hit {
        return Ok(set);
    }
    let set = Rc::new(SidecarSet::new(&settings)?);
    LAST.set(Some((settings, Rc::clone(&set))));
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(image: &str) -> Value {
        json!({"name": "fb", "selector": {"matchLabels": {"a": "b"}},
               "containers": [{"name": "fb", "image": image}]})
    }

    #[test]
    fn equal_settings_reuse_the_prepared_set_and_new_settings_replace_it() {
        let a = prepared(settings("fb:1")).unwrap();
        let again = prepared(settings("fb:1")).unwrap();
        assert!(Rc::ptr_eq(&a, &again), "equal settings must hit the cache");
        let b = prepared(settings("fb:2")).unwrap();
        assert!(!Rc::ptr_eq(&a, &b));
        assert_ne!(a.hash(), b.hash(), "the new image must give a new hash");
        let back = prepared(settings("fb:1")).unwrap();
        assert_eq!(back.hash(), a.hash());
    }

    #[test]
    fn invalid_settings_are_refused_every_time_and_do_not_evict() {
        let good = prepared(settings("fb:1")).unwrap();
        let bad = json!({"name": "fb", "selector": {"matchLabels": {"a": "b"}}});
        assert!(prepared(bad.clone()).is_err());
        assert!(prepared(bad).is_err());
        assert!(Rc::ptr_eq(&good, &prepared(settings("fb:1")).unwrap()));
    }
}
