//! The status a policy carries in its `sidecarset.kubewarden.io/status` annotation.
//!
//! Kubewarden owns the policy's `status` (its CRD has a status subresource the policy server writes), so
//! this reconciler keeps Kruise's SidecarSet status fields in an annotation instead; the Argo CD health
//! check under `deploy/argocd/` reads it. Field names are Kruise's, so dashboards written for
//! SidecarSet need only a different path.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetStatus {
    /// `metadata.generation` of the policy these counts were computed for.
    pub observed_generation: i64,
    /// The SidecarSet's name (`settings.name`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub matched_pods: u32,
    pub updated_pods: u32,
    pub ready_pods: u32,
    pub updated_ready_pods: u32,
    /// Matched Pods whose recorded image-less hash differs from the settings': only recreating
    /// them applies the change (docs/upgrade-planning.md#what-may-change-in-place).
    pub not_upgradable_pods: u32,
    /// Pods the set selects that were created without its sidecars (before the set, or while the
    /// webhook failed open): not matched, never patched; recreating them injects them.
    #[serde(default)]
    pub uninjected_pods: u32,
    /// Kruise's `kruise.io/sidecarset-hash` of the current settings.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hash: String,
    /// Kruise's `latestRevision`: the ControllerRevision recording the current settings (the name
    /// the reconciler writes into Pods' hash entries as `controllerRevision`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub latest_revision: String,
    /// Kruise's `collisionCount`: how many times a revision name of this set was found taken by other
    /// data. Kept across rounds (and through invalid settings): new revisions are named with it.
    #[serde(default)]
    pub collision_count: i32,
    /// `updateStrategy.paused`, repeated so a health check need not parse the settings.
    #[serde(default)]
    pub paused: bool,
    /// `updateStrategy.type` (`RollingUpdate` or `NotUpdate`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub update_type: String,
    /// Clashes with other reconciled sets that can select the same Pods (Kruise refuses the later
    /// set of such a pair; docs/settings-and-validation.md#cross-set-conflicts), one message each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<String>,
    /// The set pins a revision it does not have: the policy refuses every Pod the set matches until
    /// it is fixed (docs/revisions.md#pinned-revisions-checked-ahead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_revision_error: Option<String>,
    /// Set when the settings are invalid; then no Pod is touched and every count is 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl SetStatus {
    /// Invalid settings: no counts, the message, and the collision count kept (it names revisions to
    /// come).
    pub fn invalid(generation: i64, message: String, collision_count: i32) -> Self {
        SetStatus {
            observed_generation: generation,
            error: Some(message),
            collision_count,
            ..Default::default()
        }
    }

    /// The collision count an annotation carries: 0 when there is none or it does not read.
    pub fn collision_count_in(annotation: Option<&str>) -> i32 {
        annotation
            .and_then(|a| serde_json::from_str::<SetStatus>(a).ok())
            .map_or(0, |s| s.collision_count.max(0))
    }

    pub fn to_annotation(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Whether `current` (the annotation as it is) already says the same: only a change is written,
    /// so a quiet cluster sees no writes at all.
    pub fn same_as(&self, current: Option<&str>) -> bool {
        current
            .and_then(|c| serde_json::from_str::<SetStatus>(c).ok())
            .is_some_and(|c| &c == self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unchanged_status_is_not_rewritten_even_if_spelled_differently() {
        let s = SetStatus {
            observed_generation: 2,
            matched_pods: 3,
            ..Default::default()
        };
        let respelled = r#"{ "matchedPods": 3, "observedGeneration": 2, "updatedPods": 0,
            "readyPods": 0, "updatedReadyPods": 0, "notUpgradablePods": 0 }"#;
        assert!(s.same_as(Some(respelled)));
        assert!(!s.same_as(Some("not json")));
        assert!(!s.same_as(None));
    }

    #[test]
    fn invalid_settings_carry_the_message() {
        let s = SetStatus::invalid(4, "containers[0].image: required".into(), 2);
        assert_eq!(
            s.to_annotation(),
            r#"{"observedGeneration":4,"matchedPods":0,"updatedPods":0,"readyPods":0,"updatedReadyPods":0,"notUpgradablePods":0,"uninjectedPods":0,"collisionCount":2,"paused":false,"error":"containers[0].image: required"}"#
        );
    }

    #[test]
    fn the_collision_count_is_read_back_and_defaults_to_zero() {
        let s = SetStatus {
            latest_revision: "log-123".into(),
            collision_count: 3,
            ..Default::default()
        };
        let text = s.to_annotation();
        assert!(
            text.contains(r#""latestRevision":"log-123","collisionCount":3"#),
            "{text}"
        );
        assert_eq!(SetStatus::collision_count_in(Some(&text)), 3);
        assert_eq!(
            SetStatus::collision_count_in(Some(r#"{"matchedPods":1}"#)),
            0
        );
        assert_eq!(SetStatus::collision_count_in(Some("junk")), 0);
        assert_eq!(SetStatus::collision_count_in(None), 0);
    }
}
