//! The set's other source: a Kubewarden `ClusterAdmissionPolicy` carrying the settings, labelled for
//! the reconciler, with the status annotation the reconciler writes back.

use anyhow::{Context, Result};
use kube::{
    Api, Client,
    api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind, PostParams},
};
use serde_json::{Value, json};

// The reconciler's interface, spelled here as a user's manifest spells it rather than imported from
// the reconciler: renaming it there must fail these tests, since it would break users' policies.
pub const RECONCILE_LABEL: &str = "sidecarset.kubewarden.io/reconcile";
pub const STATUS_ANNOTATION: &str = "sidecarset.kubewarden.io/status";
/// Label that ties a policy to one test, so each test's reconciler sees only its own policy.
pub const TEST_LABEL: &str = "cluster-tests.sidecarset.io/ns";

pub fn api_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("policies.kubewarden.io", "v1", "ClusterAdmissionPolicy"),
        "clusteradmissionpolicies",
    )
}

pub struct ClusterPolicy {
    api: Api<DynamicObject>,
    pub name: String,
}

impl ClusterPolicy {
    /// Creates `name` with `settings`; `test_ns` goes in [`TEST_LABEL`].
    pub async fn create(
        client: &Client,
        name: &str,
        test_ns: &str,
        settings: &Value,
    ) -> Result<Self> {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &api_resource());
        let obj = json!({
            "apiVersion": "policies.kubewarden.io/v1",
            "kind": "ClusterAdmissionPolicy",
            "metadata": {"name": name, "labels": {RECONCILE_LABEL: "true", TEST_LABEL: test_ns}},
            "spec": {
                "module": "registry://ghcr.io/sidecarset/policies/sidecarset:v0.1.0",
                "mutating": true,
                "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "operations": ["CREATE"]}],
                "settings": settings,
            }
        });
        let obj: DynamicObject = serde_json::from_value(obj)?;
        api.create(&PostParams::default(), &obj)
            .await
            .with_context(|| format!("creating ClusterAdmissionPolicy {name}"))?;
        Ok(ClusterPolicy {
            api,
            name: name.to_string(),
        })
    }

    /// Creates a whole policy object as given (e.g. one `migrate` wrote), with [`TEST_LABEL`] added.
    pub async fn create_object(client: &Client, test_ns: &str, mut obj: Value) -> Result<Self> {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &api_resource());
        obj["metadata"]["labels"][TEST_LABEL] = json!(test_ns);
        let name = obj["metadata"]["name"]
            .as_str()
            .context("policy without metadata.name")?
            .to_string();
        let obj: DynamicObject = serde_json::from_value(obj)?;
        api.create(&PostParams::default(), &obj)
            .await
            .with_context(|| format!("creating ClusterAdmissionPolicy {name}"))?;
        Ok(ClusterPolicy { api, name })
    }

    /// A policy some other tool created (helm), by name.
    pub fn existing(client: &Client, name: &str) -> Self {
        ClusterPolicy {
            api: Api::all_with(client.clone(), &api_resource()),
            name: name.to_string(),
        }
    }

    /// Replaces `spec.settings` (read, change, PUT with the resourceVersion read; a merge patch would
    /// merge into the old settings instead of replacing them). Returns the new generation.
    pub async fn set_settings(&self, settings: &Value) -> Result<i64> {
        let mut obj = self.get().await?;
        obj.data["spec"]["settings"] = settings.clone();
        let obj = self
            .api
            .replace(&self.name, &PostParams::default(), &obj)
            .await?;
        Ok(obj.metadata.generation.unwrap_or(0))
    }

    pub async fn get(&self) -> Result<DynamicObject> {
        Ok(self.api.get(&self.name).await?)
    }

    /// The reconciler's status annotation, parsed.
    pub async fn status(&self) -> Result<Option<Value>> {
        let obj = self.get().await?;
        Ok(obj
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(STATUS_ANNOTATION))
            .and_then(|s| serde_json::from_str(s).ok()))
    }

    pub async fn delete(&self) -> Result<()> {
        match self.api.delete(&self.name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
