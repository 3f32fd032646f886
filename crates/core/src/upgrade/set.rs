//! What the planner needs from the settings, derived once per plan.

use crate::SidecarSet;

/// One sidecar of the set, as the upgrade sees it.
pub(crate) struct Sidecar {
    /// The name in the settings (hot upgrade: the twins are `<name>-1` and `<name>-2`).
    pub name: String,
    pub image: String,
    /// An init container with `restartPolicy: Always` (a Kubernetes native sidecar).
    pub native: bool,
    /// `Some(hotUpgradeEmptyImage)` for a HotUpgrade container.
    pub hot: Option<String>,
}

impl Sidecar {
    pub fn twins(&self) -> (String, String) {
        (format!("{}-1", self.name), format!("{}-2", self.name))
    }
}

/// A container of the Pod that belongs to the set and whose upgrades are tracked.
pub(crate) struct Tracked {
    pub name: String,
    pub native: bool,
}

pub(crate) struct SetCtx<'s> {
    pub set: &'s SidecarSet,
    /// `containers` in settings order, then the native sidecars of `initContainers`.
    pub sidecars: Vec<Sidecar>,
    /// Sorted names of containers and native sidecars: the hash entry's `sidecarList`.
    pub sidecar_list: Vec<String>,
    /// Pod containers whose consistency counts (Kruise's `GetSidecarContainersInPod`: the containers,
    /// both twins of a hot one; here also cold native sidecars, which this project upgrades), sorted.
    pub tracked: Vec<Tracked>,
    pub has_hot: bool,
}

impl<'s> SetCtx<'s> {
    pub fn new(set: &'s SidecarSet) -> Self {
        let s = set.settings();
        let mut sidecars = Vec::new();
        for c in s.containers.iter().flatten() {
            sidecars.push(Sidecar {
                name: c.name().to_string(),
                image: c.container.image.clone().unwrap_or_default(),
                native: false,
                hot: c.is_hot_upgrade().then(|| {
                    c.upgrade_strategy
                        .hot_upgrade_empty_image
                        .clone()
                        .unwrap_or_default()
                }),
            });
        }
        for c in s
            .init_containers
            .iter()
            .flatten()
            .filter(|c| c.is_native_sidecar())
        {
            sidecars.push(Sidecar {
                name: c.name().to_string(),
                image: c.container.image.clone().unwrap_or_default(),
                native: true,
                hot: c.is_hot_upgrade().then(|| {
                    c.upgrade_strategy
                        .hot_upgrade_empty_image
                        .clone()
                        .unwrap_or_default()
                }),
            });
        }
        let mut sidecar_list: Vec<String> = sidecars.iter().map(|c| c.name.clone()).collect();
        sidecar_list.sort();
        sidecar_list.dedup();
        let mut tracked = Vec::new();
        for c in &sidecars {
            match (&c.hot, c.native) {
                (Some(_), false) => {
                    let (a, b) = c.twins();
                    tracked.push(Tracked {
                        name: a,
                        native: false,
                    });
                    tracked.push(Tracked {
                        name: b,
                        native: false,
                    });
                }
                // Hot native twins are never upgraded (as in Kruise), so never tracked.
                (Some(_), true) => {}
                (None, native) => tracked.push(Tracked {
                    name: c.name.clone(),
                    native,
                }),
            }
        }
        tracked.sort_by(|a, b| a.name.cmp(&b.name));
        tracked.dedup_by(|a, b| a.name == b.name);
        let has_hot = sidecars.iter().any(|c| c.hot.is_some() && !c.native);
        SetCtx {
            set,
            sidecars,
            sidecar_list,
            tracked,
            has_hot,
        }
    }

    pub fn name(&self) -> &'s str {
        self.set.name()
    }

    /// The containers (not native sidecars) that are hot-upgraded.
    pub fn hot_containers(&self) -> impl Iterator<Item = (&Sidecar, &str)> {
        self.sidecars
            .iter()
            .filter(|c| !c.native)
            .filter_map(|c| c.hot.as_deref().map(|e| (c, e)))
    }
}
