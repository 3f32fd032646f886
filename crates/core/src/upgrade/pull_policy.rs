//! The tag-derived `imagePullPolicy` rule (docs/upgrade-planning.md#what-may-change-in-place): see
//! the module docs of [`crate::upgrade`] for the decision.
//!
//! Settings are re-applied whole, so a sidecar whose settings leave `imagePullPolicy` out gets it
//! from its image's tag: `filebeat:7.16.2` → `IfNotPresent`, `filebeat:latest` → `Always`. That
//! policy is hashed, so moving to or from `:latest` changes the image-less hash and Kruise's rule
//! would call every Pod "not upgradable". This module recognises that case: the Pod's recorded
//! image-less hash equals the set's image-less hash recomputed with each tag-derived policy
//! re-derived from the image the Pod runs now.

use std::collections::HashMap;

use serde_json::Value;

use crate::{SidecarSet, hash, image};

use super::pod::PodDigest;

/// A container of the settings whose policy may follow its tag.
struct Derivable {
    /// In `initContainers` (else `containers`) of the settings, at this index.
    init: bool,
    index: usize,
    /// The Pod container whose image decides the old policy; for a hot-upgrade sidecar the
    /// working twin is looked up at plan time.
    name: String,
    hot: bool,
    native: bool,
    current: &'static str,
}

pub(crate) struct PullPolicyRule {
    containers: Option<Vec<Value>>,
    init: Option<Vec<Value>>,
    derivable: Vec<Derivable>,
    memo: HashMap<Vec<&'static str>, String>,
}

fn to_values(list: &Option<Vec<crate::settings::SidecarContainer>>) -> Option<Vec<Value>> {
    // The same conversion `SidecarSet` hashes, so an unmodified input gives its image-less hash.
    list.as_ref().map(|l| {
        l.iter()
            .filter_map(|c| serde_json::to_value(c).ok())
            .collect()
    })
}

impl PullPolicyRule {
    pub fn new(set: &SidecarSet) -> Self {
        let s = set.settings();
        let mut derivable = Vec::new();
        for (init, list) in [(false, &s.containers), (true, &s.init_containers)] {
            for (index, c) in list.iter().flatten().enumerate() {
                let img = c.container.image.as_deref().unwrap_or("");
                let policy = c.container.image_pull_policy.as_deref().unwrap_or("");
                let derived = image::default_pull_policy(img);
                // Explicit and derived policies are indistinguishable once defaulted; a policy that
                // equals the tag rule's is treated as derived (an explicit one that happens to agree
                // behaves the same for this rule).
                if policy == derived {
                    derivable.push(Derivable {
                        init,
                        index,
                        name: c.name().to_string(),
                        hot: c.is_hot_upgrade(),
                        native: init,
                        current: derived,
                    });
                }
            }
        }
        PullPolicyRule {
            containers: to_values(&s.containers),
            init: to_values(&s.init_containers),
            derivable,
            memo: HashMap::new(),
        }
    }

    /// The image the Pod runs for a settings container, if the Pod has it.
    fn old_image<'a>(
        d: &Derivable,
        pod: &'a PodDigest,
        working: &dyn Fn(&str) -> String,
    ) -> Option<&'a str> {
        if d.hot && !d.native {
            return pod.image_of(&working(&d.name), false);
        }
        if d.native {
            pod.image_of(&d.name, true)
        } else {
            pod.image_of(&d.name, false)
        }
    }

    /// Whether the Pod's recorded image-less hash is the set's up to tag-derived pull policies.
    pub fn explains(
        &mut self,
        pod: &PodDigest,
        working: &dyn Fn(&str) -> String,
        recorded: &str,
    ) -> bool {
        if self.derivable.is_empty() || recorded.is_empty() {
            return false;
        }
        let key: Vec<&'static str> = self
            .derivable
            .iter()
            .map(|d| match Self::old_image(d, pod, working) {
                Some(img) => image::default_pull_policy(img),
                None => d.current,
            })
            .collect();
        if key
            .iter()
            .zip(&self.derivable)
            .all(|(k, d)| *k == d.current)
        {
            // Same policies as now: the difference lies elsewhere.
            return false;
        }
        if let Some(h) = self.memo.get(&key) {
            return h == recorded;
        }
        let (mut containers, mut init) = (self.containers.clone(), self.init.clone());
        for (d, policy) in self.derivable.iter().zip(&key) {
            let list = if d.init { &mut init } else { &mut containers };
            if let Some(Value::Object(o)) = list.as_mut().and_then(|l| l.get_mut(d.index)) {
                o.insert(
                    "imagePullPolicy".into(),
                    Value::String((*policy).to_string()),
                );
            }
        }
        let h = hash::sidecarset_hash_without_image(containers.as_deref(), init.as_deref());
        let hit = h == recorded;
        self.memo.insert(key, h);
        hit
    }
}
