//! What to do with a set's recorded revisions this round: Kruise's `registerLatestRevision`,
//! `updateCustomVersionLabel` and `truncateHistory` (`pkg/controller/sidecarset/sidecarset_processor.go`)
//! as a pure function. The reconciler lists the revisions, calls [`plan`], and applies the result.
//!
//! - The newest revision (by `.revision`) holds the current data: it is reused.
//! - An older one does (a rollback): its `.revision` is bumped to the next number, which makes it the
//!   newest again (`history.UpdateControllerRevision`).
//! - None does: a new revision is created with the next number (max + 1, or 1).
//! - `customVersion` set and not on the latest revision's label: the label is put there.
//! - More than `max(1, revisionHistoryLimit)` revisions: the oldest are deleted, never the latest and
//!   never an active one (a Pod's `controllerRevision`, `injectionStrategy.revision.revisionName`, or
//!   the newest revision labelled `injectionStrategy.revision.customVersion`). When the active ones
//!   keep the count over the limit, the plan says so (Kruise logs an error and goes on).
//!
//! Revisions are equal when their data are equal as JSON documents (Kruise compares the bytes; the
//! bytes of equal documents written by Kruise or by this project are the same, so the answer is too).

use std::cmp::Ordering;

use serde_json::Value;

/// `truncateHistory`'s default when `revisionHistoryLimit` is unset.
pub const DEFAULT_HISTORY_LIMIT: i32 = 10;

/// One of the set's ControllerRevisions as listed (revisions controlled by another object left out).
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    pub name: String,
    /// `.revision`.
    pub revision: i64,
    /// `metadata.creationTimestamp` in nanoseconds: orders revisions with the same number.
    pub created: Option<i128>,
    /// `data`, as the API server returned it.
    pub data: Value,
    /// The [`super::CUSTOM_VERSION_LABEL`] label.
    pub custom_version: Option<String>,
}

/// What the settings ask for.
#[derive(Clone, Copy, Debug, Default)]
pub struct Wanted<'a> {
    /// The current revision's data, parsed ([`super::data`]).
    pub data: &'a Value,
    /// `customVersion`.
    pub custom_version: Option<&'a str>,
    /// `revisionHistoryLimit`.
    pub history_limit: Option<i32>,
    /// `injectionStrategy.revision.revisionName`.
    pub pinned_name: Option<&'a str>,
    /// `injectionStrategy.revision.customVersion`.
    pub pinned_custom_version: Option<&'a str>,
}

/// Which revision is the latest after this round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Latest {
    /// The newest revision already holds the current data.
    Reuse { name: String },
    /// An older revision holds it: set its `.revision` to `revision` (a rollback).
    Bump { name: String, revision: i64 },
    /// No revision holds it: create one numbered `revision`.
    Create { revision: i64 },
}

/// The active revisions kept the history over its limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverLimit {
    pub limit: usize,
    /// How many revisions remain after the deletions.
    pub kept: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryPlan {
    pub latest: Latest,
    /// Put this value in the latest revision's custom-version label.
    pub relabel: Option<String>,
    /// Revisions to delete, oldest first.
    pub delete: Vec<String>,
    pub over_limit: Option<OverLimit>,
}

/// One entry of the sorted history; `name` is `None` for the revision about to be created.
struct Entry<'a> {
    name: Option<&'a str>,
    revision: i64,
    created: Option<i128>,
    custom_version: Option<&'a str>,
}

/// Kubernetes' `history.SortControllerRevisions`: by `.revision`, then creation time, then name.
fn by_revision(a: &Recorded, b: &Recorded) -> Ordering {
    a.revision
        .cmp(&b.revision)
        .then(a.created.cmp(&b.created))
        .then_with(|| a.name.cmp(&b.name))
}

/// The plan for `existing` (any order). `in_use(name)` says whether a Pod's hash entry names the
/// revision.
pub fn plan(
    existing: &[Recorded],
    wanted: &Wanted<'_>,
    in_use: impl Fn(&str) -> bool,
) -> HistoryPlan {
    let mut sorted: Vec<&Recorded> = existing.iter().collect();
    sorted.sort_by(|a, b| by_revision(a, b));
    let next = sorted.last().map_or(1, |r| r.revision.saturating_add(1));
    let mut entries: Vec<Entry<'_>> = sorted
        .iter()
        .map(|r| Entry {
            name: Some(&r.name),
            revision: r.revision,
            created: r.created,
            custom_version: r.custom_version.as_deref(),
        })
        .collect();
    let equal = sorted.iter().rposition(|r| &r.data == wanted.data);
    let (latest, latest_label) = match equal {
        Some(i) if i + 1 == sorted.len() => (
            Latest::Reuse {
                name: sorted[i].name.clone(),
            },
            sorted[i].custom_version.as_deref(),
        ),
        Some(i) => {
            // `replaceRevision`: the bumped revision moves to the end, with its new number.
            let mut moved = entries.remove(i);
            moved.revision = next;
            entries.push(moved);
            let name = sorted[i].name.clone();
            (
                Latest::Bump {
                    name,
                    revision: next,
                },
                sorted[i].custom_version.as_deref(),
            )
        }
        None => {
            entries.push(Entry {
                name: None,
                revision: next,
                created: None,
                custom_version: wanted.custom_version.filter(|v| !v.is_empty()),
            });
            (Latest::Create { revision: next }, wanted.custom_version)
        }
    };
    let relabel = wanted
        .custom_version
        .filter(|v| !v.is_empty() && Some(*v) != latest_label)
        .map(str::to_string);
    let (delete, over_limit) = truncate(&entries, wanted, in_use);
    HistoryPlan {
        latest,
        relabel,
        delete,
        over_limit,
    }
}

/// `truncateHistory` over the history as `registerLatestRevision` left it (latest last).
fn truncate(
    entries: &[Entry<'_>],
    wanted: &Wanted<'_>,
    in_use: impl Fn(&str) -> bool,
) -> (Vec<String>, Option<OverLimit>) {
    let limit = wanted
        .history_limit
        .unwrap_or(DEFAULT_HISTORY_LIMIT)
        .max(1)
        .unsigned_abs() as usize;
    if entries.len() <= limit {
        return (Vec::new(), None);
    }
    let pinned_by_version = newest_with_version(entries, wanted.pinned_custom_version);
    let active = |i: usize, name: &str| {
        in_use(name) || wanted.pinned_name == Some(name) || pinned_by_version == Some(i)
    };
    let mut excess = entries.len() - limit;
    let mut delete = Vec::new();
    // The last entry is the latest: never deleted.
    for (i, e) in entries[..entries.len() - 1].iter().enumerate() {
        if excess == 0 {
            break;
        }
        match e.name {
            Some(name) if !active(i, name) => {
                delete.push(name.to_string());
                excess -= 1;
            }
            _ => {}
        }
    }
    let over = (excess > 0).then_some(OverLimit {
        limit,
        kept: limit + excess,
    });
    (delete, over)
}

/// `filterActiveRevisions`: the newest (sorted as Kubernetes sorts) entry labelled `version`.
fn newest_with_version(entries: &[Entry<'_>], version: Option<&str>) -> Option<usize> {
    let version = version?;
    entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.custom_version == Some(version))
        .max_by(|(_, a), (_, b)| {
            a.revision
                .cmp(&b.revision)
                .then(a.created.cmp(&b.created))
                .then_with(|| a.name.cmp(&b.name))
        })
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(name: &str, revision: i64, data: Value) -> Recorded {
        Recorded {
            name: name.into(),
            revision,
            created: Some(i128::from(revision) * 1_000),
            data,
            custom_version: None,
        }
    }

    fn wanted(data: &Value) -> Wanted<'_> {
        Wanted {
            data,
            ..Default::default()
        }
    }

    fn none(_: &str) -> bool {
        false
    }

    #[test]
    fn the_first_revision_is_created_as_number_one() {
        let d = json!({"v": 1});
        let p = plan(&[], &wanted(&d), none);
        assert_eq!(p.latest, Latest::Create { revision: 1 });
        assert_eq!((p.relabel, p.delete, p.over_limit), (None, vec![], None));
    }

    #[test]
    fn new_data_is_the_next_number_after_the_highest() {
        let d = json!({"v": 3});
        let existing = [rec("a", 4, json!({"v": 1})), rec("b", 1, json!({"v": 2}))];
        let p = plan(&existing, &wanted(&d), none);
        assert_eq!(p.latest, Latest::Create { revision: 5 });
    }

    #[test]
    fn the_newest_revision_with_the_data_is_reused() {
        let d = json!({"v": 2});
        let existing = [rec("a", 1, json!({"v": 1})), rec("b", 2, json!({"v": 2}))];
        let p = plan(&existing, &wanted(&d), none);
        assert_eq!(p.latest, Latest::Reuse { name: "b".into() });
    }

    #[test]
    fn a_rollback_bumps_the_older_revision_to_the_next_number() {
        let d = json!({"v": 1});
        let existing = [rec("a", 1, json!({"v": 1})), rec("b", 2, json!({"v": 2}))];
        let p = plan(&existing, &wanted(&d), none);
        assert_eq!(
            p.latest,
            Latest::Bump {
                name: "a".into(),
                revision: 3
            }
        );
    }

    #[test]
    fn the_last_of_several_equal_revisions_is_bumped() {
        // Two revisions with the same data (made by two controllers, or by hand): Kruise takes the
        // last of `FindEqualRevisions` in sorted order.
        let d = json!({"v": 1});
        let existing = [
            rec("a", 1, json!({"v": 1})),
            rec("c", 2, json!({"v": 1})),
            rec("b", 3, json!({"v": 2})),
        ];
        let p = plan(&existing, &wanted(&d), none);
        assert_eq!(
            p.latest,
            Latest::Bump {
                name: "c".into(),
                revision: 4
            }
        );
    }

    #[test]
    fn equal_numbers_are_ordered_by_creation_then_name() {
        let d = json!({"v": 9});
        let mut a = rec("a", 1, json!({"v": 1}));
        let mut b = rec("b", 1, json!({"v": 9}));
        a.created = Some(2);
        b.created = Some(1);
        // b is older than a, so a is the newest: b's data means a rollback.
        let p = plan(&[a.clone(), b.clone()], &wanted(&d), none);
        assert_eq!(
            p.latest,
            Latest::Bump {
                name: "b".into(),
                revision: 2
            }
        );
        b.created = Some(2);
        // Same time: by name, so b is the newest and is reused.
        let p = plan(&[b, a], &wanted(&d), none);
        assert_eq!(p.latest, Latest::Reuse { name: "b".into() });
    }

    #[test]
    fn the_custom_version_label_goes_on_the_latest_when_it_differs() {
        let d = json!({"v": 1});
        let mut a = rec("a", 1, json!({"v": 1}));
        let w = Wanted {
            custom_version: Some("v2"),
            ..wanted(&d)
        };
        assert_eq!(
            plan(std::slice::from_ref(&a), &w, none).relabel.as_deref(),
            Some("v2")
        );
        a.custom_version = Some("v2".into());
        assert_eq!(plan(std::slice::from_ref(&a), &w, none).relabel, None);
        // A created revision carries the label already; no customVersion never removes one.
        let other = json!({"v": 2});
        let w2 = Wanted {
            custom_version: Some("v3"),
            ..wanted(&other)
        };
        assert_eq!(plan(std::slice::from_ref(&a), &w2, none).relabel, None);
        assert_eq!(plan(&[a], &wanted(&d), none).relabel, None);
    }

    fn five() -> Vec<Recorded> {
        (1..=5)
            .map(|i| rec(&format!("r{i}"), i, json!({"v": i})))
            .collect()
    }

    #[test]
    fn truncation_keeps_the_limit_deleting_the_oldest_first() {
        let d = json!({"v": 5});
        let w = Wanted {
            history_limit: Some(2),
            ..wanted(&d)
        };
        let p = plan(&five(), &w, none);
        assert_eq!(p.delete, ["r1", "r2", "r3"]);
        assert_eq!(p.over_limit, None);
        // Unset: 10, nothing to delete.
        assert!(plan(&five(), &wanted(&d), none).delete.is_empty());
    }

    #[test]
    fn a_limit_of_zero_keeps_one_and_a_new_revision_counts() {
        let d = json!({"v": 6});
        let w = Wanted {
            history_limit: Some(0),
            ..wanted(&d)
        };
        let p = plan(&five(), &w, none);
        assert_eq!(p.latest, Latest::Create { revision: 6 });
        assert_eq!(p.delete, ["r1", "r2", "r3", "r4", "r5"]);
    }

    #[test]
    fn active_revisions_are_never_deleted() {
        let d = json!({"v": 5});
        let mut revs = five();
        revs[3].custom_version = Some("canary".into());
        revs[1].custom_version = Some("canary".into());
        let w = Wanted {
            history_limit: Some(1),
            pinned_name: Some("r3"),
            pinned_custom_version: Some("canary"),
            ..wanted(&d)
        };
        let p = plan(&revs, &w, |n| n == "r1");
        // r1: a Pod; r3: revisionName; r4: newest "canary" (r2, an older "canary", may go).
        assert_eq!(p.delete, ["r2"]);
        assert_eq!(p.over_limit, Some(OverLimit { limit: 1, kept: 4 }));
    }

    #[test]
    fn a_bumped_revision_is_the_latest_and_is_kept() {
        let d = json!({"v": 1});
        let w = Wanted {
            history_limit: Some(2),
            ..wanted(&d)
        };
        let p = plan(&five(), &w, none);
        assert_eq!(
            p.latest,
            Latest::Bump {
                name: "r1".into(),
                revision: 6
            }
        );
        assert_eq!(p.delete, ["r2", "r3", "r4"]);
    }
}
