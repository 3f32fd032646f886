//! A SidecarSet ready to use: settings parsed, defaulted, validated and hashed once.

use serde_json::Value;

use crate::error::SettingsErrors;
use crate::settings::{Settings, SidecarContainer};
use crate::{defaults, hash, revision, validation};

#[derive(Clone, Debug, PartialEq)]
pub struct SidecarSet {
    settings: Settings,
    hash: String,
    hash_without_image: String,
    /// Each sidecar's core/v1 Container as JSON (`initContainers`, then `containers`): serialised
    /// once here rather than on every injection.
    container_values: Vec<Value>,
    /// The revision's data (Kruise's `getPatch`) and its ControllerRevision name with collision count 0.
    revision_data: String,
    revision_name: String,
}

impl SidecarSet {
    /// Parses, defaults (as Kruise's SidecarSet webhook does) and validates a settings document.
    pub fn new(value: &Value) -> Result<Self, SettingsErrors> {
        let (mut settings, mut errs) = Settings::parse_partial(value);
        if errs.iter().any(|e| e.path.is_empty()) {
            return Err(errs); // not even an object
        }
        defaults::apply(&mut settings);
        let mut checks = SettingsErrors::default();
        validation::validate(&settings, &mut checks);
        // A key whose value did not parse was left out; its follow-on complaints would mislead.
        let broken: Vec<String> = errs
            .iter()
            .map(|e| top_level_key(&e.path).to_string())
            .collect();
        errs.0.extend(
            checks
                .0
                .into_iter()
                .filter(|e| !broken.iter().any(|b| b == top_level_key(&e.path))),
        );
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(Self::from_defaulted(settings))
    }

    /// Wraps settings that are already defaulted and valid: computes what every injection reuses.
    fn from_defaulted(settings: Settings) -> Self {
        let revision_data = revision::data(&settings);
        let revision_name =
            revision::revision_name(&settings.name, &revision::revision_hash(&revision_data, 0));
        Self::with_revision(settings, None, None, revision_data, revision_name)
    }

    /// A recorded revision of a set, as Kruise's `GetHistorySidecarSet` restores it
    /// (`pkg/control/sidecarcontrol/history_control.go`): `settings` hold the revision's lists, the
    /// hashes are the revision's annotations (`None`: computed from the containers, as
    /// `restoreRevisionInfo` does when an annotation is empty) and the name is the revision's.
    pub(crate) fn restored(
        settings: Settings,
        hash: Option<String>,
        hash_without_image: Option<String>,
        revision_name: String,
    ) -> Self {
        let revision_data = revision::data(&settings);
        Self::with_revision(
            settings,
            hash,
            hash_without_image,
            revision_data,
            revision_name,
        )
    }

    fn with_revision(
        settings: Settings,
        hash: Option<String>,
        hash_without_image: Option<String>,
        revision_data: String,
        revision_name: String,
    ) -> Self {
        let (containers, init) = hash_inputs(&settings);
        let hash =
            hash.unwrap_or_else(|| hash::sidecarset_hash(containers.as_deref(), init.as_deref()));
        let hash_without_image = hash_without_image.unwrap_or_else(|| {
            hash::sidecarset_hash_without_image(containers.as_deref(), init.as_deref())
        });
        let container_values = settings
            .init_containers
            .iter()
            .flatten()
            .chain(settings.containers.iter().flatten())
            .map(|sc| {
                serde_json::to_value(&sc.container)
                    .unwrap_or_else(|_| serde_json::json!({"name": sc.name()}))
            })
            .collect();
        Self {
            settings,
            hash,
            hash_without_image,
            container_values,
            revision_data,
            revision_name,
        }
    }

    /// The core/v1 Container of `initContainers[i]` (`init`) or `containers[i]`, as JSON.
    pub(crate) fn container_value(&self, init: bool, i: usize) -> Option<&Value> {
        let offset = if init {
            0
        } else {
            self.settings.init_containers.as_ref().map_or(0, Vec::len)
        };
        self.container_values.get(offset + i)
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }
    pub fn name(&self) -> &str {
        &self.settings.name
    }
    /// Kruise's `kruise.io/sidecarset-hash` of the defaulted containers.
    pub fn hash(&self) -> &str {
        &self.hash
    }
    /// The same hash with every image blanked: equal before and after an image-only change.
    pub fn hash_without_image(&self) -> &str {
        &self.hash_without_image
    }
    /// The `data` of the settings' ControllerRevision ([`revision::data`]).
    pub fn revision_data(&self) -> &str {
        &self.revision_data
    }
    /// The name of the settings' ControllerRevision as the reconciler records it while the set has had
    /// no hash collision (collision count 0): what the policy writes as `controllerRevision`.
    pub fn revision_name(&self) -> &str {
        &self.revision_name
    }
    /// The namespace whose ControllerRevisions `injectionStrategy.revision` names
    /// (`revisionNamespace`, by default the reconciler's default namespace).
    pub fn revision_namespace(&self) -> &str {
        self.settings
            .revision_namespace
            .as_deref()
            .unwrap_or(revision::pinned::DEFAULT_NAMESPACE)
    }
    /// Whether matching a Pod needs its Namespace's labels.
    pub fn needs_namespace_labels(&self) -> bool {
        self.settings.namespace_selector.is_some()
    }
}

fn top_level_key(path: &str) -> &str {
    let end = path.find(['.', '[']).unwrap_or(path.len());
    &path[..end]
}

fn to_values(list: &Option<Vec<SidecarContainer>>) -> Option<Vec<Value>> {
    list.as_ref().map(|l| {
        l.iter()
            .filter_map(|c| serde_json::to_value(c).ok())
            .collect()
    })
}

fn hash_inputs(s: &Settings) -> (Option<Vec<Value>>, Option<Vec<Value>>) {
    (to_values(&s.containers), to_values(&s.init_containers))
}
