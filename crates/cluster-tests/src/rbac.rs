//! The shipped RBAC (`deploy/reconciler/rbac.yaml`), installed for one test: the reconciler runs as
//! a ServiceAccount with exactly the rules users install, not as `system:masters`, so a missing rule
//! is a 403 in the audit log and a rule no test uses shows up unused ([`unused_rules`]).
//!
//! The file is applied as written but for where it points: its namespace (`sidecarset-system`)
//! becomes the test's namespace (the Lease's and the revisions'), the bindings name the test's
//! ServiceAccounts, and the ClusterRoleBinding gets a name of its own per test.

use std::collections::BTreeSet;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::{audit, repo_root};

/// The namespace the shipped file names, replaced by the test's.
const SHIPPED_NAMESPACE: &str = "sidecarset-system";
/// The ServiceAccount the shipped file binds.
pub const SERVICE_ACCOUNT: &str = "sidecarset-reconciler";

/// The username a ServiceAccount's requests carry (and the audit log records).
pub fn service_account_user(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// The groups the API server gives a ServiceAccount's token.
pub fn service_account_groups(namespace: &str) -> Vec<String> {
    vec![
        "system:serviceaccounts".into(),
        format!("system:serviceaccounts:{namespace}"),
        "system:authenticated".into(),
    ]
}

/// The shipped file's documents, as JSON.
pub fn shipped() -> Result<Vec<Value>> {
    let path = repo_root().join("deploy/reconciler/rbac.yaml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let v: Value = serde::Deserialize::deserialize(doc)?;
        if !v.is_null() {
            docs.push(v);
        }
    }
    Ok(docs)
}

fn typed<T: DeserializeOwned>(v: Value) -> Result<T> {
    Ok(serde_json::from_value(v)?)
}

/// Applies the shipped RBAC for `namespace`, binding each of `service_accounts` (in `namespace`).
pub async fn install(client: &Client, namespace: &str, service_accounts: &[&str]) -> Result<()> {
    let params = PatchParams::apply("cluster-tests").force();
    let subjects: Vec<Value> = service_accounts
        .iter()
        .map(|sa| json!({"kind": "ServiceAccount", "name": sa, "namespace": namespace}))
        .collect();
    for mut doc in shipped()? {
        let kind = doc["kind"].as_str().unwrap_or_default().to_string();
        let name = doc["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if doc["metadata"]["namespace"] == SHIPPED_NAMESPACE {
            doc["metadata"]["namespace"] = json!(namespace);
        }
        if doc.get("subjects").is_some() {
            doc["subjects"] = json!(subjects);
        }
        match kind.as_str() {
            "ClusterRole" => {
                let api: Api<ClusterRole> = Api::all(client.clone());
                api.patch(&name, &params, &Patch::Apply(typed::<ClusterRole>(doc)?))
                    .await?;
            }
            "ClusterRoleBinding" => {
                let own = format!("{name}-{namespace}");
                doc["metadata"]["name"] = json!(own);
                let api: Api<ClusterRoleBinding> = Api::all(client.clone());
                api.patch(
                    &own,
                    &params,
                    &Patch::Apply(typed::<ClusterRoleBinding>(doc)?),
                )
                .await?;
            }
            "Role" => {
                let api: Api<Role> = Api::namespaced(client.clone(), namespace);
                api.patch(&name, &params, &Patch::Apply(typed::<Role>(doc)?))
                    .await?;
            }
            "RoleBinding" => {
                let api: Api<RoleBinding> = Api::namespaced(client.clone(), namespace);
                api.patch(&name, &params, &Patch::Apply(typed::<RoleBinding>(doc)?))
                    .await?;
            }
            other => bail!("deploy/reconciler/rbac.yaml: unexpected kind {other:?}"),
        }
    }
    Ok(())
}

/// One permission a rule grants: `verb group/resource[/subresource]`.
pub type Grant = (String, String, String);

/// Every (verb, group, resource) the shipped rules grant.
pub fn granted() -> Result<BTreeSet<Grant>> {
    let mut out = BTreeSet::new();
    for doc in shipped()? {
        let rules: Vec<PolicyRule> = match doc["kind"].as_str() {
            Some("ClusterRole" | "Role") => {
                serde_json::from_value(doc["rules"].clone()).unwrap_or_default()
            }
            _ => continue,
        };
        for r in rules {
            for g in r.api_groups.unwrap_or_default() {
                for res in r.resources.clone().unwrap_or_default() {
                    for v in &r.verbs {
                        out.insert((v.clone(), g.clone(), res.clone()));
                    }
                }
            }
        }
    }
    Ok(out)
}

/// What one audited request used, as a [`Grant`].
pub fn used(r: &audit::Request) -> Grant {
    let resource = if r.subresource.is_empty() {
        r.resource.clone()
    } else {
        format!("{}/{}", r.resource, r.subresource)
    };
    (r.verb.clone(), r.group.clone(), resource)
}

/// The grants no request in `requests` used, less those in `not_requests` (rules the API server
/// checks without a request of that verb being made, each with its reason at the call site).
pub fn unused_rules(
    requests: &[audit::Request],
    not_requests: &[(&str, &str, &str)],
) -> Result<BTreeSet<Grant>> {
    let used: BTreeSet<Grant> = requests.iter().map(used).collect();
    let exempt: BTreeSet<Grant> = not_requests
        .iter()
        .map(|(v, g, r)| (v.to_string(), g.to_string(), r.to_string()))
        .collect();
    Ok(granted()?
        .into_iter()
        .filter(|g| !used.contains(g) && !exempt.contains(g))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_rules_are_read_as_grants() {
        let g = granted().unwrap();
        for want in [
            ("patch", "", "pods"),
            ("patch", "", "pods/status"),
            ("update", "coordination.k8s.io", "leases"),
            ("create", "events.k8s.io", "events"),
        ] {
            let want = (want.0.into(), want.1.into(), want.2.into());
            assert!(g.contains(&want), "{want:?} not in {g:?}");
        }
    }
}
