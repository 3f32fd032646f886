//! The order in which candidates are upgraded (docs/upgrade-planning.md#candidates-and-order):
//! Kubernetes' `ActivePods` order, then `priorityStrategy`, then `scatterStrategy`. Everything here is
//! O(n log n) in the candidates, plus O(n) per scatter term that has at least two matching and two
//! other candidates.

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use crate::settings::{ScatterTerm, UpdatePriorityStrategy};

use super::pod::PodDigest;
use crate::selector;

/// Kubernetes' `controller.ActivePods` "less valuable first" order as a sort key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ActiveKey {
    assigned: bool,
    phase: u8,
    ready: bool,
    /// Both ready: ready for a shorter time first, a missing time before any time.
    ready_since: (bool, Reverse<i128>),
    restarts: Reverse<i64>,
    sidecar_restarts: Reverse<i64>,
    /// A missing creation time first, then newer first.
    created: (bool, Reverse<i128>),
}

fn active_key(p: &PodDigest) -> ActiveKey {
    let phase = match &*p.phase {
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    };
    let ready = p.is_ready();
    let ready_since = match (ready, p.ready_since) {
        (true, Some(t)) => (true, Reverse(t)),
        _ => (false, Reverse(0)),
    };
    let (restarts, sidecar_restarts) = p.max_restarts();
    ActiveKey {
        assigned: p.assigned,
        phase,
        ready,
        ready_since,
        restarts: Reverse(restarts),
        sidecar_restarts: Reverse(sidecar_restarts),
        created: match p.created {
            Some(t) => (true, Reverse(t)),
            None => (false, Reverse(0)),
        },
    }
}

/// `priorityStrategy`'s rank of one Pod (smaller first): `weightPriority` by the sum of the weights
/// of the terms it matches, higher first; else `orderPriority` by the first term whose key it
/// carries, then the integer suffix of that label's value, higher first; none gives -1, which sorts
/// first [quirk].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct PriorityKey(i64, i64);

pub(crate) fn priority_key(strategy: &UpdatePriorityStrategy, p: &PodDigest) -> PriorityKey {
    let weights = strategy.weight_priority.as_deref().unwrap_or(&[]);
    let orders = strategy.order_priority.as_deref().unwrap_or(&[]);
    if !weights.is_empty() {
        let sum: i64 = weights
            .iter()
            .filter(|t| selector::matches_by(&t.match_selector, |k| p.label(k)))
            .map(|t| i64::from(t.weight))
            .sum();
        PriorityKey(-sum, 0)
    } else if !orders.is_empty() {
        let (level, order) = orders
            .iter()
            .enumerate()
            .find_map(|(n, t)| p.label(&t.ordered_key).map(|v| (n as i64, int_suffix(v))))
            .unwrap_or((-1, 0));
        PriorityKey(level, -order)
    } else {
        PriorityKey::default()
    }
}

/// A candidate's place in the upgrade order before `scatterStrategy`: `priorityStrategy`, then
/// `ActivePods`, ties to the caller's id. Kruise sorts by `ActivePods` then by priority with Go's
/// unstable sort, and breaks priority ties by the Pods' position in its informer's list (random);
/// here ties keep the `ActivePods` order, as the docs describe, then the id, so that a plan is a
/// function of its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct OrderKey {
    priority: PriorityKey,
    active: ActiveKey,
}

impl OrderKey {
    pub fn new(priority: PriorityKey, p: &PodDigest) -> Self {
        OrderKey {
            priority,
            active: active_key(p),
        }
    }
}

/// The trailing decimal digits of a label value (`pod-12` → 12); none or an overflow gives 0.
pub(crate) fn int_suffix(v: &str) -> i64 {
    let digits = v.bytes().rev().take_while(u8::is_ascii_digit).count();
    v[v.len() - digits..].parse::<i64>().unwrap_or(0)
}

/// Kruise's `parseUpdateScatterTerms`: `value: "*"` becomes one term per value of that label among
/// the matched Pods (in Pod order); duplicates are dropped.
fn expand_terms(terms: &[ScatterTerm], all: &[&PodDigest]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut push = |k: &str, v: &str, out: &mut Vec<(String, String)>| {
        let t = (k.to_string(), v.to_string());
        if seen.insert(t.clone()) {
            out.push(t);
        }
    };
    for t in terms {
        if t.value != "*" {
            push(&t.key, &t.value, &mut out);
            continue;
        }
        for p in all {
            if let Some(v) = p.label(&t.key) {
                push(&t.key, v, &mut out);
            }
        }
    }
    out
}

/// Per label key: how many Pods carry each value, and how many lack the key.
struct KeyCounts<'a> {
    values: HashMap<&'a str, usize>,
    missing: usize,
}

fn count_keys<'a>(
    keys: &HashSet<&str>,
    pods: impl Iterator<Item = &'a PodDigest> + Clone,
) -> HashMap<String, KeyCounts<'a>> {
    let mut out = HashMap::new();
    for k in keys {
        // Label values are interned: counted by where their text is (a multiply to hash, not the
        // text), then added up by text (equal values from different interners count together).
        let mut by_place: HashMap<
            (usize, usize),
            (&'a str, usize),
            BuildHasherDefault<PlaceHasher>,
        > = HashMap::default();
        let mut missing = 0;
        for p in pods.clone() {
            match p.label(k) {
                Some(v) => {
                    by_place
                        .entry((v.as_ptr() as usize, v.len()))
                        .or_insert((v, 0))
                        .1 += 1;
                }
                None => missing += 1,
            }
        }
        let mut values = HashMap::new();
        for (v, n) in by_place.into_values() {
            *values.entry(v).or_insert(0) += n;
        }
        out.insert(k.to_string(), KeyCounts { values, missing });
    }
    out
}

/// Hashes the place of a borrowed text (integers only): FxHash's multiply, rotated so that the low
/// bits the table indexes by are not the pointers' always-zero alignment bits.
#[derive(Default)]
struct PlaceHasher(u64);

impl Hasher for PlaceHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0xf135_7aea_2e62_a9c5);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }
}

/// Kruise's `ScatterSorter` (docs/upgrade-planning.md#scatter-strategy): spreads the candidates
/// matching each term evenly among the others, with the ratio of matching Pods among all matched Pods
/// as a guide.
pub(crate) fn scatter(terms: &[ScatterTerm], pods: &[&PodDigest], cand: Vec<usize>) -> Vec<usize> {
    let terms = expand_terms(terms, pods);
    if terms.is_empty() || cand.len() <= 1 {
        return cand;
    }
    let keys: HashSet<&str> = terms.iter().map(|(k, _)| k.as_str()).collect();
    let cand_counts = count_keys(&keys, cand.iter().map(|&i| pods[i]));
    let all_counts = count_keys(&keys, pods.iter().copied());
    // Pods "matching" a term in the re-interleave: label value == term value, a missing label
    // counting as "" (so a "" term matches Pods without the key).
    let matching = |counts: &HashMap<String, KeyCounts<'_>>, k: &str, v: &str| {
        counts.get(k).map_or(0, |c| {
            c.values.get(v).copied().unwrap_or(0) + if v.is_empty() { c.missing } else { 0 }
        })
    };
    let ordered: Vec<(String, String)> = if terms.len() == 1 {
        terms
    } else {
        // With several terms: only terms some candidate carries (key present, equal value), most
        // matched first, ties in declaration order.
        let mut counted: Vec<((String, String), usize)> = terms
            .into_iter()
            .map(|t| {
                let n = cand_counts
                    .get(t.0.as_str())
                    .and_then(|c| c.values.get(t.1.as_str()).copied())
                    .unwrap_or(0);
                (t, n)
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        counted.sort_by_key(|(_, n)| Reverse(*n));
        counted.into_iter().map(|(t, _)| t).collect()
    };
    let mut cand = cand;
    for (k, v) in &ordered {
        let matched_n = matching(&cand_counts, k, v);
        let unmatched_n = cand.len() - matched_n.min(cand.len());
        if matched_n <= 1 || unmatched_n <= 1 {
            continue;
        }
        let total_matched = matching(&all_counts, k, v);
        let total_unmatched = pods.len().saturating_sub(total_matched);
        cand = scatter_by_term(k, v, pods, cand, total_matched, total_unmatched);
    }
    cand
}

fn scatter_by_term(
    key: &str,
    value: &str,
    pods: &[&PodDigest],
    cand: Vec<usize>,
    total_matched: usize,
    total_unmatched: usize,
) -> Vec<usize> {
    let (mut matched, mut unmatched): (Vec<usize>, Vec<usize>) = cand
        .iter()
        .partition(|&&i| pods[i].label(key).unwrap_or("") == value);
    // The last matching candidate is kept for the very end.
    let Some(last) = matched.pop() else {
        return cand;
    };
    let total_matched = total_matched.saturating_sub(1);
    let g = group_by_density(
        total_matched,
        total_unmatched,
        matched.len(),
        unmatched.len(),
    );
    let mut out = Vec::with_capacity(cand.len());
    let remainder = g.unmatched_remainder.min(unmatched.len());
    out.extend(unmatched.drain(..remainder));
    let (mut mi, mut ui) = (0usize, 0usize);
    for _ in 0..g.group_num {
        let take = g.matched_size.min(matched.len() - mi);
        out.extend_from_slice(&matched[mi..mi + take]);
        mi += take;
        let take = g.unmatched_size.min(unmatched.len() - ui);
        out.extend_from_slice(&unmatched[ui..ui + take]);
        ui += take;
    }
    out.extend_from_slice(&matched[mi..]);
    out.extend_from_slice(&unmatched[ui..]);
    out.push(last);
    out
}

#[derive(Debug, PartialEq)]
struct Group {
    group_num: usize,
    matched_size: usize,
    unmatched_size: usize,
    unmatched_remainder: usize,
}

/// Go's `math.Round(float64(a) / float64(b))` with `b` at least 1.
fn round_div(a: usize, b: usize) -> usize {
    (a as f64 / b.max(1) as f64).round() as usize
}

fn scatter_group(matched: usize, unmatched: usize) -> Group {
    let group_num = matched.min(unmatched);
    Group {
        group_num,
        matched_size: round_div(matched, group_num),
        unmatched_size: round_div(unmatched, group_num),
        unmatched_remainder: 0,
    }
}

/// Kruise's `calculateGroupByDensity`, float32 comparison included.
fn group_by_density(
    total_matched: usize,
    total_unmatched: usize,
    update_matched: usize,
    update_unmatched: usize,
) -> Group {
    let total = scatter_group(total_matched, total_unmatched);
    let update = scatter_group(update_matched, update_unmatched);
    let ratio = |u: usize, m: usize| u as f32 / m as f32;
    if ratio(total_unmatched, total_matched) >= ratio(update_unmatched, update_matched) {
        return update;
    }
    let ms = total.matched_size.max(1);
    let us = total.unmatched_size.max(1);
    let group_num = (update_matched / ms).min(update_unmatched / us);
    Group {
        group_num,
        matched_size: ms,
        unmatched_size: us,
        unmatched_remainder: update_unmatched - group_num * us,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes() {
        assert_eq!(int_suffix("o-10"), 10);
        assert_eq!(int_suffix("abc"), 0);
        assert_eq!(int_suffix(""), 0);
        assert_eq!(
            int_suffix("x99999999999999999999"),
            0,
            "overflow counts as 0"
        );
        assert_eq!(int_suffix("é7"), 7);
    }

    #[test]
    fn density_groups() {
        // The docs example: 3 of 10 match; the last one is kept aside first.
        assert_eq!(
            group_by_density(2, 7, 2, 7),
            Group {
                group_num: 2,
                matched_size: 1,
                unmatched_size: 4,
                unmatched_remainder: 0
            }
        );
        // Candidates sparser in matching Pods than the whole: the whole's group sizes win and the
        // unmatched left over go first.
        assert_eq!(
            group_by_density(4, 4, 2, 6),
            Group {
                group_num: 2,
                matched_size: 1,
                unmatched_size: 1,
                unmatched_remainder: 4
            }
        );
    }
}
