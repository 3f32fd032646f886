//! Shared copies of the strings, label sets and container specs that many Pods carry.
//!
//! The Pods of one workload carry the same namespace, labels, container specs, images and image IDs;
//! a fleet of 100k Pods holds a few hundred distinct values of each. [`PodDigest`](super::PodDigest)
//! keeps them behind `Arc`s handed out here, so each distinct value is held once. The interner keeps
//! one reference of its own and forgets the values no digest holds any more from time to time
//! ([`Interner::sweep`]), so it does not grow with the values the fleet had in the past.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hasher};
use std::sync::Arc;

use serde_json::Value;

/// A shared string.
pub type Str = Arc<str>;

/// A Pod's labels, sorted by key.
pub type LabelSet = Arc<[(Str, Str)]>;

/// Hands out shared copies; one per Pod cache.
#[derive(Debug, Default)]
pub struct Interner {
    strs: HashSet<Str>,
    labels: HashSet<LabelSet>,
    /// By a hash of the compact JSON text; equal hashes are told apart by `==`.
    values: HashMap<u64, Vec<Arc<Value>>>,
    /// Values handed out since the last sweep.
    added: usize,
}

impl Interner {
    pub fn str(&mut self, s: &str) -> Str {
        if let Some(v) = self.strs.get(s) {
            return v.clone();
        }
        let v: Str = Arc::from(s);
        self.strs.insert(v.clone());
        self.grew();
        v
    }

    /// `pairs` sorted by key (the caller sorts; a JSON object's keys are unique).
    pub fn labels(&mut self, pairs: Vec<(Str, Str)>) -> LabelSet {
        if let Some(v) = self.labels.get(pairs.as_slice()) {
            return v.clone();
        }
        let v: LabelSet = Arc::from(pairs);
        self.labels.insert(v.clone());
        self.grew();
        v
    }

    pub fn value(&mut self, v: &Value) -> Arc<Value> {
        let bucket = self.values.entry(value_hash(v)).or_default();
        if let Some(found) = bucket.iter().find(|x| x.as_ref() == v) {
            return found.clone();
        }
        let out = Arc::new(v.clone());
        bucket.push(out.clone());
        self.grew();
        out
    }

    /// Forgets every value that only the interner still holds.
    pub fn sweep(&mut self) {
        // Label sets hold strings: forget them first.
        self.labels.retain(|l| Arc::strong_count(l) > 1);
        self.strs.retain(|s| Arc::strong_count(s) > 1);
        self.values.retain(|_, bucket| {
            bucket.retain(|v| Arc::strong_count(v) > 1);
            !bucket.is_empty()
        });
        self.added = 0;
    }

    /// Distinct values held.
    pub fn len(&self) -> usize {
        self.strs.len() + self.labels.len() + self.values.values().map(Vec::len).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sweeps once as many values were added as were held after the last sweep (at least 4096), so
    /// the cost of sweeping stays proportional to the values added.
    fn grew(&mut self) {
        self.added += 1;
        if self.added > 4096 && self.added > self.len() / 2 {
            self.sweep();
        }
    }
}

/// A hash of `v`'s compact JSON text, computed without building the text.
fn value_hash(v: &Value) -> u64 {
    struct HashWriter(DefaultHasher);
    impl std::io::Write for HashWriter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.write(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut w = HashWriter(DefaultHasher::new());
    // Writing into a hasher cannot fail, and a Value always serialises.
    let _ = serde_json::to_writer(&mut w, v);
    w.0.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equal_values_are_shared_and_unused_ones_forgotten() {
        let mut i = Interner::default();
        let a = i.str("filebeat");
        let b = i.str("filebeat");
        assert!(Arc::ptr_eq(&a, &b));
        let c1 = i.value(&json!({"name": "c", "image": "x:1"}));
        let c2 = i.value(&json!({"image": "x:1", "name": "c"}));
        assert!(Arc::ptr_eq(&c1, &c2), "same object, keys in another order");
        let other = i.value(&json!({"name": "c", "image": "x:2"}));
        assert!(!Arc::ptr_eq(&c1, &other));
        let pair = (i.str("app"), i.str("nginx"));
        let l1 = i.labels(vec![pair]);
        let l2 = i.labels(vec![(a.clone(), b.clone())]);
        assert_eq!(i.len(), 7, "3 strings, 2 label sets, 2 specs");
        drop((b, c1, c2, l2));
        i.sweep();
        // "filebeat" (held by `a`), "app" and "nginx" (held by `l1`), `other`, `l1`.
        assert_eq!(i.len(), 5);
        drop((a, other, l1));
        i.sweep();
        assert!(i.is_empty());
    }

    #[test]
    fn sweeps_by_itself_as_values_come_and_go() {
        let mut i = Interner::default();
        for n in 0..100_000 {
            drop(i.str(&n.to_string()));
        }
        assert!(i.len() < 10_000, "{} values held", i.len());
    }
}
