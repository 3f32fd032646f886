//! The Events this reconciler sends, and their texts: one function per Event so the wording is
//! tested without a cluster and stays the same on the policy and on the Pod.
//!
//! Reasons: Kruise's `NotUpgradablePods` and `ResetContainerSucceed` keep Kruise's names (tools that
//! watch for them keep working); `SidecarUpgradeStarted` / `Finished` / `Failed` and
//! `SidecarNotUpgradable` are this project's (Kruise sends no Event per upgraded Pod), and so is
//! `MaxUnavailableAllPods` (Kruise accepts such a budget silently).

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

/// On the Pod whose sidecar image(s) were just replaced.
pub fn upgrade_started_on_pod(set: &str, images: &str) -> Notice {
    notice(
        EventType::Normal,
        "SidecarUpgradeStarted",
        "Upgrade",
        format!("sidecarset {set}: upgrading in place to {images}"),
    )
}

pub fn upgrade_started_on_policy(namespace: &str, pod: &str, images: &str) -> Notice {
    notice(
        EventType::Normal,
        "SidecarUpgradeStarted",
        "Upgrade",
        format!("pod {namespace}/{pod}: upgrading in place to {images}"),
    )
}

pub fn upgrade_finished_on_pod(set: &str) -> Notice {
    notice(
        EventType::Normal,
        "SidecarUpgradeFinished",
        "Upgrade",
        format!("sidecarset {set}: sidecars restarted on the new image and ready"),
    )
}

pub fn upgrade_finished_on_policy(namespace: &str, pod: &str) -> Notice {
    notice(
        EventType::Normal,
        "SidecarUpgradeFinished",
        "Upgrade",
        format!("pod {namespace}/{pod}: sidecars restarted on the new image and ready"),
    )
}

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
    fn started_and_finished_say_what_and_where() {
        assert_eq!(
            upgrade_started_on_pod("filebeat", "filebeat=elastic/filebeat:7.16.3").note,
            "sidecarset filebeat: upgrading in place to filebeat=elastic/filebeat:7.16.3"
        );
        assert_eq!(
            upgrade_started_on_policy("shop", "web-1", "filebeat=x").note,
            "pod shop/web-1: upgrading in place to filebeat=x"
        );
        assert_eq!(
            upgrade_finished_on_pod("fb").reason,
            "SidecarUpgradeFinished"
        );
        assert_eq!(
            upgrade_finished_on_policy("shop", "web-1").note,
            "pod shop/web-1: sidecars restarted on the new image and ready"
        );
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
