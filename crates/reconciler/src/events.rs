//! The Events this reconciler sends, and their texts: one function per Event so the wording is
//! tested without a cluster and stays the same on the policy and on the Pod.
//!
//! Reasons: Kruise's `NotUpgradablePods` and `ResetContainerSucceed` keep Kruise's names (tools that
//! watch for them keep working); `SidecarUpgradeProgress` (on the policy, one for many Pods),
//! `SidecarUpgradeFailed` and `SidecarNotUpgradable` (per Pod: a Pod that needs a person) are this
//! project's, and so is `MaxUnavailableAllPods` (Kruise accepts such a budget silently).

use kube::runtime::events::EventType;

/// `events.k8s.io/v1` refuses a note over 1 kB.
pub const MAX_NOTE: usize = 1024;

/// One Event, before it is addressed to an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub type_: EventType,
    pub reason: &'static str,
    pub action: &'static str,
    pub note: String,
}

fn notice(type_: EventType, reason: &'static str, action: &'static str, note: String) -> Notice {
    Notice {
        type_,
        reason,
        action,
        note: truncate(&note, MAX_NOTE),
    }
}

/// On the policy: its settings are refused, so no Pod is touched.
pub fn invalid_settings(message: &str) -> Notice {
    notice(
        EventType::Warning,
        "InvalidSettings",
        "Validate",
        format!("invalid settings, no Pod is touched until they are fixed: {message}"),
    )
}

/// On the policy, when its clashes with other sets change (to some): both sets can select the same
/// Pods and declare the same container, volume or annotation, so the webhook that runs later
/// replaces or overwrites what the other injected.
pub fn conflicting_sets(conflicts: &[String]) -> Notice {
    notice(
        EventType::Warning,
        "SidecarSetConflict",
        "Validate",
        format!(
            "this set and another that can select the same Pods declare the same thing, and the \
             webhook that runs later overwrites the other's (Kruise refuses the later set): {}",
            conflicts.join("; ")
        ),
    )
}

/// On the policy, when the revision it pins turns out missing (or another): every Pod the set
/// matches will be refused at admission until it is fixed.
pub fn pinned_revision_missing(problem: &str) -> Notice {
    notice(
        EventType::Warning,
        "PinnedRevisionMissing",
        "Validate",
        problem.to_string(),
    )
}

/// On the policy: its `maxUnavailable` lets every matched Pod be unavailable at once (the core's
/// `budget_warning` says why).
pub fn max_unavailable_all_pods(warning: &str) -> Notice {
    notice(
        EventType::Warning,
        "MaxUnavailableAllPods",
        "Plan",
        format!(
            "{warning}; accepted as Kruise does, but a rollout takes every matched Pod down together"
        ),
    )
}

/// On the policy, Kruise's wording; `example` is one Pod's reason, so the Event alone says why.
pub fn not_upgradable_pods(count: usize, example: &str) -> Notice {
    let mut note = format!(
        "SidecarSet in-place update detected {count} not upgradable pod(s) in this round, will skip them."
    );
    if !example.is_empty() {
        note.push_str(" For example: ");
        note.push_str(example);
    }
    notice(EventType::Normal, "NotUpgradablePods", "Plan", note)
}

/// On the policy, when the number of selected Pods without the set's sidecars changes; `examples` are
/// a few of them as `namespace/name`.
pub fn uninjected_pods(count: usize, examples: &[String]) -> Notice {
    let mut note = format!(
        "{count} Pod(s) match the set but were created without its sidecars (before the set existed, \
         or while the webhook failed open); a running Pod cannot be given containers, so they are \
         left alone: recreate them (e.g. kubectl rollout restart) to inject"
    );
    if !examples.is_empty() {
        note.push_str(". For example: ");
        note.push_str(&examples.join(", "));
    }
    notice(EventType::Warning, "UninjectedPods", "Plan", note)
}

/// On a Pod the set cannot upgrade in place.
pub fn pod_not_upgradable(set: &str, why: &str) -> Notice {
    notice(
        EventType::Normal,
        "SidecarNotUpgradable",
        "Plan",
        format!("sidecarset {set}: {why}"),
    )
}

/// On the policy, at most every [`PROGRESS_EVERY`] while a rollout goes on and once more when
/// it is done: the Pods whose upgrade started and finished since the last such Event, and where the
/// rollout stands. One Event for many Pods instead of two per Pod on the Pod and the policy: the
/// kubelet already records each sidecar's restart on its Pod, and Kruise sends no per-Pod Event
/// either (docs/upgrade-planning.md#events).
pub fn upgrade_progress(
    started: &[String],
    finished: &[String],
    updated_ready: u32,
    matched: u32,
) -> Notice {
    let mut note = format!("{updated_ready} of {matched} matched Pods updated and ready");
    for (what, pods) in [("started", started), ("finished", finished)] {
        if !pods.is_empty() {
            note.push_str(&format!("; {what} {}: {}", pods.len(), pods.join(", ")));
        }
    }
    notice(EventType::Normal, "SidecarUpgradeProgress", "Upgrade", note)
}

/// How often at most a rollout's progress is told on the policy.
pub const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

pub fn upgrade_failed_on_pod(set: &str, error: &str) -> Notice {
    notice(
        EventType::Warning,
        "SidecarUpgradeFailed",
        "Upgrade",
        format!("sidecarset {set}: {error}"),
    )
}

pub fn upgrade_failed_on_policy(namespace: &str, pod: &str, error: &str) -> Notice {
    notice(
        EventType::Warning,
        "SidecarUpgradeFailed",
        "Upgrade",
        format!("pod {namespace}/{pod}: {error}"),
    )
}

/// Hot upgrade, second step (Kruise's reason).
pub fn hot_upgrade_reset(set: &str, containers: &str) -> Notice {
    notice(
        EventType::Normal,
        "ResetContainerSucceed",
        "HotUpgrade",
        format!("sidecarset {set}: reset {containers} to the empty image"),
    )
}

/// On the policy: a write of its revision history failed, so the round stopped before any Pod write
/// (as Kruise's `registerLatestRevision` failure does); it is retried.
pub fn revision_failed(error: &str) -> Notice {
    notice(
        EventType::Warning,
        "RevisionFailed",
        "Record",
        format!("could not record the settings' revision, no Pod is touched until it is: {error}"),
    )
}

/// On the policy: the name of a new revision was taken by other data (two revisions of the set hash
/// alike), so the collision count went up. The policy names revisions with collision count 0 and
/// cannot see this, so new Pods name `policy_name` until the reconciler upgrades them.
pub fn revision_name_collision(taken: &str, latest: &str, count: i32, policy_name: &str) -> Notice {
    notice(
        EventType::Warning,
        "RevisionNameCollision",
        "Record",
        format!(
            "ControllerRevision {taken} already holds other settings (a hash collision); the \
             current settings are recorded as {latest} (collisionCount {count}). Pods the policy \
             injects name {policy_name} in their kruise.io/sidecarset-hash entry; the reconciler \
             writes {latest} when it upgrades a Pod"
        ),
    )
}

/// Cuts `s` to at most `n` bytes on a character boundary, marking the cut.
pub fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mark = "…";
    let mut end = n.saturating_sub(mark.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{mark}", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_upgradable_pods_keeps_kruises_wording() {
        let n = not_upgradable_pods(3, "");
        assert_eq!(n.reason, "NotUpgradablePods");
        assert_eq!(n.type_, EventType::Normal);
        assert_eq!(
            n.note,
            "SidecarSet in-place update detected 3 not upgradable pod(s) in this round, will skip them."
        );
        let n = not_upgradable_pods(1, "filebeat.resources changed");
        assert!(
            n.note.ends_with(" For example: filebeat.resources changed"),
            "{}",
            n.note
        );
    }

    #[test]
    fn failures_are_warnings_and_name_the_pod_on_the_policy() {
        let n = upgrade_failed_on_policy("shop", "web-1", "422: spec: Forbidden");
        assert_eq!(n.type_, EventType::Warning);
        assert_eq!(n.reason, "SidecarUpgradeFailed");
        assert_eq!(n.note, "pod shop/web-1: 422: spec: Forbidden");
        let n = upgrade_failed_on_pod("filebeat", "boom");
        assert_eq!(n.note, "sidecarset filebeat: boom");
        assert_eq!(invalid_settings("x").type_, EventType::Warning);
        let n = max_unavailable_all_pods("updateStrategy.maxUnavailable \"150%\" is over 100%");
        assert_eq!(n.type_, EventType::Warning);
        assert_eq!(n.reason, "MaxUnavailableAllPods");
        assert!(
            n.note.starts_with("updateStrategy.maxUnavailable \"150%\""),
            "{}",
            n.note
        );
    }

    #[test]
    fn progress_names_the_pods_started_and_finished_and_where_the_rollout_stands() {
        let n = upgrade_progress(
            &["shop/web-2".into(), "shop/web-3".into()],
            &["shop/web-0".into()],
            1,
            4,
        );
        assert_eq!(
            (n.type_, n.reason),
            (EventType::Normal, "SidecarUpgradeProgress")
        );
        assert_eq!(
            n.note,
            "1 of 4 matched Pods updated and ready; started 2: shop/web-2, shop/web-3; finished 1: shop/web-0"
        );
        assert_eq!(
            upgrade_progress(&[], &[], 4, 4).note,
            "4 of 4 matched Pods updated and ready"
        );
        // Thousands of names still make one Event of at most the API's size.
        let many: Vec<String> = (0..5000).map(|i| format!("shop/web-{i}")).collect();
        assert!(upgrade_progress(&many, &[], 0, 5000).note.len() <= MAX_NOTE);
        assert_eq!(
            hot_upgrade_reset("fb", "a-1").reason,
            "ResetContainerSucceed"
        );
    }

    #[test]
    fn revision_events_are_warnings_naming_both_names() {
        let n = revision_name_collision("fb-1", "fb-2", 1, "fb-1");
        assert_eq!(
            (n.type_, n.reason),
            (EventType::Warning, "RevisionNameCollision")
        );
        assert!(
            n.note
                .starts_with("ControllerRevision fb-1 already holds other settings"),
            "{}",
            n.note
        );
        assert!(
            n.note.contains("recorded as fb-2 (collisionCount 1)"),
            "{}",
            n.note
        );
        let n = revision_failed("403 forbidden");
        assert_eq!((n.type_, n.reason), (EventType::Warning, "RevisionFailed"));
        assert!(n.note.ends_with(": 403 forbidden"));
    }

    #[test]
    fn notes_never_exceed_the_api_limit_even_mid_character() {
        let long = "é".repeat(2000);
        let n = pod_not_upgradable("fb", &long);
        assert!(n.note.len() <= MAX_NOTE, "{}", n.note.len());
        assert!(n.note.ends_with('…'));
        assert_eq!(truncate("short", 10), "short");
    }
}
