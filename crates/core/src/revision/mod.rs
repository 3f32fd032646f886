//! Kruise's revision history of a SidecarSet: one `apps/v1` ControllerRevision per distinct revision
//! of the settings, named, labelled and numbered as Kruise does, so that the names written into Pods'
//! `kruise.io/sidecarset-hash` entries (`controllerRevision`) mean the same thing whichever of the
//! two wrote them.
//!
//! - [`data`]: the revision's `data` bytes (Kruise's `getPatch`, `pkg/control/sidecarcontrol/history_control.go`).
//! - [`revision_hash`] and [`revision_name`]: Kubernetes' `HashControllerRevision` and
//!   `ControllerRevisionName` (`pkg/controller/history/controller_history.go`), which Kruise's
//!   `NewRevision` and `CreateControllerRevision` use.
//! - [`Revision`]: a whole revision as `NewRevision` builds it (name, labels, annotations, data).
//! - [`history`]: what to do with the set's existing revisions (Kruise's `registerLatestRevision` and
//!   `truncateHistory`), as a pure plan the reconciler applies.
//! - [`pinned`]: `injectionStrategy.revision`, the revision a new Pod gets (Kruise's
//!   `getSuitableRevisionSidecarSet`), restored from a ControllerRevision the caller looked up.
//!
//! The policy does not read the history to name the current revision: it computes the name from the
//! settings with collision count 0 ([`crate::SidecarSet::revision_name`]), which is the name the
//! reconciler records unless two revisions of the set ever hashed alike (docs/revisions.md#collisions).

use std::collections::BTreeMap;

use crate::SidecarSet;
use crate::annotations;
use crate::hash::safe_encode;

mod data;
pub mod history;
pub mod pinned;

pub use data::data;

/// Label naming the set a revision belongs to (Kruise's `sidecarcontrol.SidecarSetKindName`); the
/// reconciler lists a set's revisions by it.
pub const SET_NAME_LABEL: &str = "kruise.io/sidecarset-name";
/// Label carrying `customVersion` (Kruise's `SidecarSetCustomVersionLabel`).
pub const CUSTOM_VERSION_LABEL: &str = "apps.kruise.io/sidecarset-custom-version";
/// Label carrying the revision's hash (Kubernetes' `history.ControllerRevisionHashLabel`).
pub const HASH_LABEL: &str = "controller.kubernetes.io/hash";

/// `history.ControllerRevisionName` cuts the prefix to this many bytes, so that the name stays a
/// valid object name (253) with the hash appended.
const NAME_PREFIX_MAX: usize = 223;

/// FNV-1 (not FNV-1a), 32 bits: Go's `hash/fnv.New32`, which `HashControllerRevision` uses.
pub fn fnv1_32(bytes: &[u8]) -> u32 {
    const OFFSET: u32 = 2_166_136_261;
    const PRIME: u32 = 16_777_619;
    bytes
        .iter()
        .fold(OFFSET, |h, b| h.wrapping_mul(PRIME) ^ u32::from(*b))
}

/// `history.HashControllerRevision(revision, &collisionCount)`: FNV-1 over the data bytes followed by
/// the collision count in decimal (written even when 0, since Kruise always passes a pointer), printed
/// in decimal and passed through `rand.SafeEncodeString`.
pub fn revision_hash(data: &str, collision_count: i32) -> String {
    let mut bytes = Vec::with_capacity(data.len() + 11);
    bytes.extend_from_slice(data.as_bytes());
    bytes.extend_from_slice(collision_count.to_string().as_bytes());
    safe_encode(&fnv1_32(&bytes).to_string())
}

/// `history.ControllerRevisionName(setName, hash)`: `<set name, cut to 223 bytes>-<hash>`.
pub fn revision_name(set_name: &str, hash: &str) -> String {
    let mut end = set_name.len().min(NAME_PREFIX_MAX);
    // Go cuts bytes; set names are ASCII (validated), so this only guards against a panic.
    while !set_name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}-{hash}", &set_name[..end])
}

/// One ControllerRevision of a set, as Kruise's `sidecarcontrol.NewRevision` builds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revision {
    pub name: String,
    /// [`SET_NAME_LABEL`], [`CUSTOM_VERSION_LABEL`] when `customVersion` is set, [`HASH_LABEL`].
    pub labels: BTreeMap<String, String>,
    /// The set's two hash annotations, which Kruise's SidecarSet webhook puts on every SidecarSet and
    /// `NewRevision` copies (with the rest of the SidecarSet's annotations; a policy's settings carry
    /// no other metadata of the set).
    pub annotations: BTreeMap<String, String>,
    /// `data.raw`: see [`data`].
    pub data: String,
    /// `.revision`.
    pub revision: i64,
}

impl Revision {
    /// The revision of `set`'s current settings, numbered `revision`, named with `collision_count`.
    pub fn new(set: &SidecarSet, revision: i64, collision_count: i32) -> Revision {
        let data = set.revision_data().to_string();
        let hash = revision_hash(&data, collision_count);
        let mut labels = BTreeMap::from([(SET_NAME_LABEL.to_string(), set.name().to_string())]);
        if let Some(v) = set
            .settings()
            .custom_version
            .as_deref()
            .filter(|v| !v.is_empty())
        {
            labels.insert(CUSTOM_VERSION_LABEL.to_string(), v.to_string());
        }
        labels.insert(HASH_LABEL.to_string(), hash.clone());
        let annotations = BTreeMap::from([
            (annotations::HASH.to_string(), set.hash().to_string()),
            (
                annotations::HASH_WITHOUT_IMAGE.to_string(),
                set.hash_without_image().to_string(),
            ),
        ]);
        Revision {
            name: revision_name(set.name(), &hash),
            labels,
            annotations,
            data,
            revision,
        }
    }

    /// The same revision under the name `collision_count` gives, after its name was found taken by
    /// other data (Kruise's `CreateControllerRevision` retry). Only the name changes: Kruise renames the
    /// clone and leaves its [`HASH_LABEL`] as `NewRevision` computed it.
    pub fn renamed(&self, set_name: &str, collision_count: i32) -> Revision {
        Revision {
            name: revision_name(set_name, &revision_hash(&self.data, collision_count)),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(extra: serde_json::Value) -> SidecarSet {
        let mut s = json!({"name": "log", "selector": {"matchLabels": {"a": "b"}},
            "containers": [{"name": "c", "image": "busybox:1"}]});
        if let (Some(o), Some(e)) = (s.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        SidecarSet::new(&s).unwrap()
    }

    #[test]
    fn fnv1_is_not_fnv1a() {
        // Published FNV-1 32-bit test values (FNV-1a gives 0xe40c292c for "a").
        assert_eq!(fnv1_32(b""), 0x811c_9dc5);
        assert_eq!(fnv1_32(b"a"), 0x050c_5d7e);
        assert_eq!(fnv1_32(b"foobar"), 0x31f0_b262);
    }

    #[test]
    fn the_hash_covers_the_collision_count_zero_included() {
        let h0 = revision_hash("{}", 0);
        assert_eq!(h0, safe_encode(&fnv1_32(b"{}0").to_string()));
        assert_ne!(h0, safe_encode(&fnv1_32(b"{}").to_string()));
        assert_ne!(h0, revision_hash("{}", 1));
        assert_eq!(
            revision_hash("{}", 1),
            safe_encode(&fnv1_32(b"{}1").to_string())
        );
    }

    #[test]
    fn the_name_prefix_is_cut_to_223_bytes() {
        assert_eq!(revision_name("log", "abc"), "log-abc");
        let long = "x".repeat(300);
        let name = revision_name(&long, "h");
        assert_eq!(name.len(), 225);
        assert!(name.ends_with("x-h"));
    }

    #[test]
    fn a_revision_carries_kruise_labels_and_the_set_hashes() {
        let s = set(json!({"customVersion": "v2"}));
        let r = Revision::new(&s, 3, 0);
        assert_eq!(r.name, format!("log-{}", r.labels[HASH_LABEL]));
        assert_eq!(r.name, s.revision_name());
        assert_eq!(r.labels[SET_NAME_LABEL], "log");
        assert_eq!(r.labels[CUSTOM_VERSION_LABEL], "v2");
        assert_eq!(r.labels.len(), 3);
        assert_eq!(r.annotations[annotations::HASH], s.hash());
        assert_eq!(
            r.annotations[annotations::HASH_WITHOUT_IMAGE],
            s.hash_without_image()
        );
        assert_eq!(r.revision, 3);
        let plain = Revision::new(&set(json!({})), 1, 0);
        assert!(!plain.labels.contains_key(CUSTOM_VERSION_LABEL));
        // customVersion is not part of the data: same name with or without it.
        assert_eq!(plain.name, r.name);
    }

    #[test]
    fn renaming_after_a_collision_keeps_data_and_hash_label() {
        let s = set(json!({}));
        let r = Revision::new(&s, 1, 0);
        let again = r.renamed(s.name(), 1);
        assert_ne!(again.name, r.name);
        assert_eq!(again.name, Revision::new(&s, 1, 1).name);
        assert_eq!(
            again.labels, r.labels,
            "Kruise leaves the hash label as it was"
        );
        assert_eq!(again.data, r.data);
    }
}
