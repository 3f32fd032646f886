//! The policy's ControllerRevision lookups (`injectionStrategy.revision`) against the test API server:
//! what Kubewarden's host answers the policy, from the cluster the reconciler records its revisions in.

use anyhow::{Result, anyhow};
use k8s_openapi::api::apps::v1::ControllerRevision;
use kube::{Api, Client, api::ListParams};
use serde_json::Value;
use sidecarset_core::{
    SidecarSet,
    revision::pinned::{self, Pin, RevisionSource},
};

/// The answer to the one lookup a set's settings make, read from the API server: a get of
/// `revisionName`, or a list by the `customVersion` label selector, in the settings'
/// `revisionNamespace`. The policy's injection is synchronous, so the request is made beforehand,
/// as the Pod arrives; a lookup other than the one made is refused, which a test would notice.
pub struct ClusterRevisions {
    asked: Asked,
    answer: Result<Vec<Value>, String>,
}

#[derive(Debug, PartialEq)]
enum Asked {
    Nothing,
    Get { namespace: String, name: String },
    List { namespace: String, selector: String },
}

impl ClusterRevisions {
    /// Makes the lookup `settings` call for. API errors (a revision not found included) become the
    /// lookup's error, as the host reports them.
    pub async fn lookup(client: &Client, settings: &Value) -> Result<Self> {
        let set = SidecarSet::new(settings).map_err(|e| anyhow!("settings: {e}"))?;
        let namespace = set.revision_namespace().to_string();
        let api: Api<ControllerRevision> = Api::namespaced(client.clone(), &namespace);
        let json = |r: ControllerRevision| serde_json::to_value(r).map_err(|e| e.to_string());
        Ok(match pinned::pin(set.settings()) {
            None => Self {
                asked: Asked::Nothing,
                answer: Ok(Vec::new()),
            },
            Some(Pin::Name(name)) => Self {
                answer: match api.get(name).await {
                    Ok(r) => json(r).map(|v| vec![v]),
                    Err(e) => Err(e.to_string()),
                },
                asked: Asked::Get {
                    namespace,
                    name: name.to_string(),
                },
            },
            Some(Pin::CustomVersion(version)) => {
                let selector = pinned::custom_version_selector(set.name(), version);
                Self {
                    answer: match api.list(&ListParams::default().labels(&selector)).await {
                        Ok(list) => list.items.into_iter().map(json).collect(),
                        Err(e) => Err(e.to_string()),
                    },
                    asked: Asked::List {
                        namespace,
                        selector,
                    },
                }
            }
        })
    }

    fn answer(&self, asked: Asked) -> Result<Vec<Value>, String> {
        if asked != self.asked {
            return Err(format!(
                "the test looked up {:?}, the policy asks for {asked:?}",
                self.asked
            ));
        }
        self.answer.clone()
    }
}

impl RevisionSource for ClusterRevisions {
    fn get(&self, namespace: &str, name: &str) -> Result<Value, String> {
        let asked = Asked::Get {
            namespace: namespace.to_string(),
            name: name.to_string(),
        };
        self.answer(asked)?
            .pop()
            .ok_or_else(|| format!("ControllerRevision {namespace}/{name}: no answer"))
    }

    fn list(&self, namespace: &str, label_selector: &str) -> Result<Vec<Value>, String> {
        self.answer(Asked::List {
            namespace: namespace.to_string(),
            selector: label_selector.to_string(),
        })
    }
}
