//! Why the planner leaves a Pod alone: machine-readable, with a sentence for humans.

use std::fmt;

use serde::Serialize;

/// Why a Pod is neither upgraded nor flipped in this round.
///
/// The first group are Pods that do not count as matched (they are not in `matchedPods`); the rest
/// are matched Pods (see [`Reason::is_matched`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason")]
pub enum Reason {
    /// The value cannot be handled as a Pod (not an object, no name, no resourceVersion).
    InvalidPod { problem: String },
    /// Succeeded, Failed, or being deleted.
    NotActive,
    /// The set has a namespaceSelector and the Pod's Namespace does not match it, or its labels
    /// were not given (Kruise: a Namespace that cannot be read does not match).
    NamespaceNotSelected { namespace: String },
    /// The Pod's labels do not match the set's `selector`.
    NotSelected,
    /// `kruise.io/sidecarset-injected-list` does not name the set.
    NotInjected,
    /// The Pod lacks some of the set's containers (hot upgrade: a twin or the working annotation).
    SidecarsMissing { containers: Vec<String> },

    /// The Pod's hash entry already equals the set's hash.
    AlreadyUpdated,
    /// `updateStrategy.type: NotUpdate`: the set only injects.
    NotUpdateStrategy,
    /// `updateStrategy.paused: true`.
    Paused,
    /// The Pod is between the two steps of a hot upgrade: the new twin runs, the old one waits to be
    /// reset to the empty image once the new one is consistent and ready.
    HotUpgradeFlipPending,
    /// Other Pods finish a hot upgrade this round (flips), and a round with flips upgrades nothing
    /// (Kruise ends the reconcile there); the Pod is looked at again next round.
    WaitingForFlips,
    /// `updateStrategy.selector` does not match the Pod's labels.
    ExcludedByUpdateSelector,
    /// A Kruise annotation the planner must read or rewrite is not in a shape it understands; the Pod
    /// is left alone rather than have another set's record overwritten.
    UnreadableAnnotation { key: String, error: String },
    /// Something other than images changed since the Pod was injected (its image-less hash differs),
    /// and Kubernetes lets a running Pod change only images: the Pod keeps its sidecars until it is
    /// recreated.
    NotUpgradable { changed: Vec<Change> },
    /// A previous upgrade of these sidecars has not completed (the container is Ready but still runs
    /// the old image ID).
    UpgradeInProgress { containers: Vec<String> },
    /// Kept on the old version by `updateStrategy.partition`.
    KeptByPartition { partition: usize },
    /// Upgrading it now would exceed `updateStrategy.maxUnavailable`.
    MaxUnavailableReached {
        max_unavailable: i64,
        unavailable: i64,
    },
    /// Chosen, but this round already writes as many upgrades as the caller can send now
    /// ([`super::Options::max_upgrades`]); the next round takes it.
    WaitingForWriteBudget { max_upgrades: usize },
}

impl Reason {
    /// Whether the Pod counts in `matchedPods`.
    pub fn is_matched(&self) -> bool {
        !matches!(
            self,
            Reason::InvalidPod { .. }
                | Reason::NotActive
                | Reason::NamespaceNotSelected { .. }
                | Reason::NotSelected
                | Reason::NotInjected
                | Reason::SidecarsMissing { .. }
        )
    }

    /// A Pod the set selects (active, Namespace and labels match) that does not carry its sidecars.
    pub fn is_uninjected(&self) -> bool {
        matches!(self, Reason::NotInjected | Reason::SidecarsMissing { .. })
    }

    /// A short identifier, stable across releases, for logs and metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::InvalidPod { .. } => "InvalidPod",
            Reason::NotActive => "NotActive",
            Reason::NamespaceNotSelected { .. } => "NamespaceNotSelected",
            Reason::NotSelected => "NotSelected",
            Reason::NotInjected => "NotInjected",
            Reason::SidecarsMissing { .. } => "SidecarsMissing",
            Reason::AlreadyUpdated => "AlreadyUpdated",
            Reason::NotUpdateStrategy => "NotUpdateStrategy",
            Reason::Paused => "Paused",
            Reason::HotUpgradeFlipPending => "HotUpgradeFlipPending",
            Reason::WaitingForFlips => "WaitingForFlips",
            Reason::ExcludedByUpdateSelector => "ExcludedByUpdateSelector",
            Reason::UnreadableAnnotation { .. } => "UnreadableAnnotation",
            Reason::NotUpgradable { .. } => "NotUpgradable",
            Reason::UpgradeInProgress { .. } => "UpgradeInProgress",
            Reason::KeptByPartition { .. } => "KeptByPartition",
            Reason::MaxUnavailableReached { .. } => "MaxUnavailableReached",
            Reason::WaitingForWriteBudget { .. } => "WaitingForWriteBudget",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::InvalidPod { problem } => write!(f, "not a usable Pod: {problem}"),
            Reason::NotActive => f.write_str("the Pod is finished or being deleted"),
            Reason::NamespaceNotSelected { namespace } => write!(
                f,
                "Namespace {namespace:?} does not match namespaceSelector (or its labels are unknown)"
            ),
            Reason::NotSelected => f.write_str("the Pod's labels do not match selector"),
            Reason::NotInjected => {
                f.write_str(
                    "selected, but created without the set's sidecars (not in its \
                     kruise.io/sidecarset-injected-list); recreate the Pod to inject them",
                )
            }
            Reason::SidecarsMissing { containers } => write!(
                f,
                "selected, but the Pod lacks the set's sidecar(s) {}; recreate the Pod to inject them",
                containers.join(", ")
            ),
            Reason::AlreadyUpdated => f.write_str("already runs the current sidecars"),
            Reason::NotUpdateStrategy => {
                f.write_str("updateStrategy.type is NotUpdate: the set never upgrades Pods")
            }
            Reason::Paused => f.write_str("updateStrategy.paused is true"),
            Reason::HotUpgradeFlipPending => f.write_str(
                "hot upgrade in progress: the old twin is reset to the empty image once the new one is consistent and ready",
            ),
            Reason::WaitingForFlips => f.write_str(
                "this round only completes hot upgrades of other Pods; upgrades resume next round",
            ),
            Reason::ExcludedByUpdateSelector => {
                f.write_str("updateStrategy.selector does not match the Pod's labels")
            }
            Reason::UnreadableAnnotation { key, error } => write!(
                f,
                "annotation {key} cannot be read ({error}); the Pod is left alone so that no record is lost"
            ),
            Reason::NotUpgradable { changed } => {
                f.write_str("not upgradable in place: ")?;
                for (i, c) in changed.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str(
                    " (only images change on a running Pod; the Pod gets the new sidecars when it is recreated)",
                )
            }
            Reason::UpgradeInProgress { containers } => write!(
                f,
                "a previous upgrade of {} has not completed (Ready, but still on the old image ID)",
                containers.join(", ")
            ),
            Reason::KeptByPartition { partition } => write!(
                f,
                "kept on the old version by updateStrategy.partition ({partition} Pod(s))"
            ),
            Reason::MaxUnavailableReached {
                max_unavailable,
                unavailable,
            } => write!(
                f,
                "updateStrategy.maxUnavailable reached ({unavailable} unavailable, at most {max_unavailable})"
            ),
            Reason::WaitingForWriteBudget { max_upgrades } => write!(
                f,
                "to be upgraded: waits for the next round (this one writes {max_upgrades} upgrades, what the write budget allows)"
            ),
        }
    }
}

/// What keeps a Pod from an in-place upgrade, as far as the Pod shows it.
///
/// The Pod only records a hash of the sidecars it was injected with, so this is a best-effort
/// comparison of the settings with the Pod's containers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind")]
pub enum Change {
    /// A container field differs between the settings and the Pod.
    Field { container: String, field: String },
    /// The Pod runs a sidecar of this set that the settings no longer have.
    SidecarRemoved { container: String },
    /// The settings have a (native) sidecar the Pod was not injected with.
    SidecarAdded { container: String },
    /// The image of a hot-upgrade native sidecar changed; twins in `initContainers` are never
    /// swapped (as in Kruise).
    HotUpgradeNativeSidecar { container: String },
    /// The Pod has no `kruise.io/sidecarset-hash-without-image` entry for this set.
    NoRecord,
    /// The difference is in a hashed setting the Pod does not show as is (`podInjectPolicy`,
    /// `upgradeStrategy`, `shareVolumePolicy`, `transferEnv`, `resourcesPolicy`, …).
    NotVisible,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Field { container, field } => write!(f, "{container}.{field} changed"),
            Change::SidecarRemoved { container } => {
                write!(f, "sidecar {container} was removed from the settings")
            }
            Change::SidecarAdded { container } => {
                write!(f, "sidecar {container} was added to the settings")
            }
            Change::HotUpgradeNativeSidecar { container } => write!(
                f,
                "the image of hot-upgrade native sidecar {container} changed (native twins are never swapped)"
            ),
            Change::NoRecord => f.write_str("the Pod has no image-less hash for this set"),
            Change::NotVisible => f.write_str(
                "a setting other than an image changed (not visible on the Pod: podInjectPolicy, upgradeStrategy, shareVolumePolicy, transferEnv or resourcesPolicy)",
            ),
        }
    }
}
