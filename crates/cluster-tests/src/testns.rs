//! One test's world: a namespace, the reconciler(s) it starts, its policy, and cleanup.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
};

use anyhow::Result;
use k8s_openapi::api::{core::v1::Namespace, core::v1::Pod, events::v1::Event};
use kube::{
    Api, Client,
    api::{DeleteParams, ListParams, PostParams},
};
use serde_json::{Value, json};

use crate::{
    audit,
    cluster::Cluster,
    kubelet::{FakeKubelet, KubeletConfig},
    policy::{ClusterPolicy, TEST_LABEL},
    rbac,
    reconciler::{Identity, Launch, Reconciler, Source},
};

/// A second ServiceAccount bound to the same shipped rules, for a standby replica whose requests
/// the audit log must tell from the leader's.
pub const STANDBY_SERVICE_ACCOUNT: &str = "sidecarset-reconciler-standby";

pub struct TestNs {
    pub cluster: Arc<Cluster>,
    pub client: Client,
    pub ns: String,
    /// The identity every reconciler of this test impersonates unless told otherwise: the shipped
    /// ServiceAccount, in this namespace (see [`audit`] and [`rbac`]).
    pub user: String,
    logs: Mutex<Vec<PathBuf>>,
    policies: Mutex<Vec<String>>,
}

impl TestNs {
    pub async fn new(cluster: Arc<Cluster>, name: &str) -> Result<TestNs> {
        let client = cluster.client().await?;
        // Unique across runs on one cluster (a caller-started cluster lives for the whole run only, but a
        // deleted namespace never goes away on a cluster without a namespace controller).
        let ns = format!("{}-{:x}", name.replace('_', "-"), std::process::id());
        let api: Api<Namespace> = Api::all(client.clone());
        let obj: Namespace = serde_json::from_value(json!({
            "metadata": {"name": ns, "labels": {"cluster-tests.sidecarset.io/test": name.replace('_', "-")}}
        }))?;
        api.create(&PostParams::default(), &obj).await?;
        rbac::install(
            &client,
            &ns,
            &[rbac::SERVICE_ACCOUNT, STANDBY_SERVICE_ACCOUNT],
        )
        .await?;
        Ok(TestNs {
            user: rbac::service_account_user(&ns, rbac::SERVICE_ACCOUNT),
            cluster,
            client,
            ns,
            logs: Mutex::default(),
            policies: Mutex::default(),
        })
    }

    pub fn kubelet(&self, config: KubeletConfig) -> FakeKubelet {
        FakeKubelet::start(self.client.clone(), &self.ns, config)
    }

    /// The shipped ServiceAccount of this test, held to the shipped RBAC.
    pub fn service_account(&self) -> Identity {
        self.service_account_named(rbac::SERVICE_ACCOUNT)
    }

    /// The standby's ServiceAccount ([`STANDBY_SERVICE_ACCOUNT`]).
    pub fn standby_account(&self) -> Identity {
        self.service_account_named(STANDBY_SERVICE_ACCOUNT)
    }

    fn service_account_named(&self, name: &str) -> Identity {
        Identity {
            user: rbac::service_account_user(&self.ns, name),
            groups: rbac::service_account_groups(&self.ns),
        }
    }

    /// Starts a reconciler for this namespace as the shipped ServiceAccount; `server` overrides the
    /// API server URL (a proxy).
    pub fn reconciler(
        &self,
        source: &Source,
        extra: &[&str],
        server: Option<&str>,
    ) -> Result<Reconciler> {
        self.reconciler_as(&self.service_account(), source, extra, server)
    }

    /// [`TestNs::reconciler`] as `who`.
    pub fn reconciler_as(
        &self,
        who: &Identity,
        source: &Source,
        extra: &[&str],
        server: Option<&str>,
    ) -> Result<Reconciler> {
        self.reconciler_skewed(who, source, extra, server, None)
    }

    /// [`TestNs::reconciler_as`] with the process's clock moved by `skew` (e.g. `+20s`).
    pub fn reconciler_skewed(
        &self,
        who: &Identity,
        source: &Source,
        extra: &[&str],
        server: Option<&str>,
        skew: Option<&str>,
    ) -> Result<Reconciler> {
        let launch = Launch {
            server,
            skew,
            ..Launch::default()
        };
        self.reconciler_launch(who, source, extra, &launch)
    }

    /// [`TestNs::reconciler_as`] with everything [`Launch`] can change (another binary, environment).
    pub fn reconciler_launch(
        &self,
        who: &Identity,
        source: &Source,
        extra: &[&str],
        launch: &Launch<'_>,
    ) -> Result<Reconciler> {
        let n = self.logs.lock().unwrap_or_else(|p| p.into_inner()).len();
        let name = format!("{}-reconciler-{n}", self.ns);
        let r = Reconciler::launch(&self.cluster, &self.ns, who, source, &name, extra, launch)?;
        self.logs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(r.log.clone());
        Ok(r)
    }

    pub fn policy_source(&self) -> Source {
        Source::Policies {
            selector: format!("{TEST_LABEL}={}", self.ns),
        }
    }

    /// Writes `settings` as a `--settings` file (YAML) and returns its source.
    pub fn settings_file(&self, settings: &Value, name: &str) -> Result<Source> {
        let p = self
            .cluster
            .scratch
            .join(format!("{}-{name}.yaml", self.ns));
        std::fs::write(&p, serde_yaml::to_string(settings)?)?;
        Ok(Source::File(p))
    }

    pub async fn policy(&self, settings: &Value) -> Result<ClusterPolicy> {
        self.policy_named(&self.ns, settings).await
    }

    /// [`TestNs::policy`] under another name (a test with several policies).
    pub async fn policy_named(&self, name: &str, settings: &Value) -> Result<ClusterPolicy> {
        let p = ClusterPolicy::create(&self.client, name, &self.ns, settings).await?;
        self.policies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(p.name.clone());
        Ok(p)
    }

    /// [`TestNs::policy`] for a whole policy object.
    pub async fn policy_object(&self, obj: Value) -> Result<ClusterPolicy> {
        let p = ClusterPolicy::create_object(&self.client, &self.ns, obj).await?;
        self.policies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(p.name.clone());
        Ok(p)
    }

    /// Runs `sidecarset-reconciler <args>` once against the cluster, as an administrator of its own
    /// name (`migrate` and `plan` run on a laptop with the user's rights, not the ServiceAccount's).
    pub fn reconciler_command(&self, args: &[&str]) -> Result<std::process::Output> {
        let n = self.logs.lock().unwrap_or_else(|p| p.into_inner()).len();
        crate::reconciler::run_once(
            &self.cluster,
            &format!("admin:{}", self.ns),
            &format!("{}-command-{n}", self.ns),
            args,
        )
    }

    /// The reconciler's requests in this namespace, from the audit log.
    pub fn audit(&self) -> Result<Vec<audit::Request>> {
        audit::requests(&self.cluster.audit_log, &self.user, Some(&self.ns))
    }

    /// The reconciler's requests anywhere (cluster-scoped objects and Events in `default` included).
    pub fn audit_all(&self) -> Result<Vec<audit::Request>> {
        audit::requests(&self.cluster.audit_log, &self.user, None)
    }

    /// Every request of this test's ServiceAccounts, anywhere.
    pub fn audit_service_accounts(&self) -> Result<Vec<audit::Request>> {
        let prefix = format!("system:serviceaccount:{}:", self.ns);
        audit::requests_by(&self.cluster.audit_log, &prefix, |u| u.starts_with(&prefix))
    }

    /// Fails when the API server refused any request of this test's ServiceAccounts (403): the
    /// shipped RBAC lacks a rule the reconciler needs.
    pub fn ensure_no_forbidden(&self) -> Result<()> {
        let forbidden: Vec<String> = self
            .audit_service_accounts()?
            .iter()
            .filter(|r| r.code == 403)
            .map(|r| format!("{} {}", r.describe(), r.group))
            .collect();
        anyhow::ensure!(
            forbidden.is_empty(),
            "the shipped RBAC (deploy/reconciler/rbac.yaml) refused {} request(s) of the reconciler: {:?}",
            forbidden.len(),
            forbidden
        );
        Ok(())
    }

    /// Events in `namespace` with `reason` whose `regarding` object is named `regarding` (any when `None`).
    pub async fn events(
        &self,
        namespace: &str,
        reason: &str,
        regarding: Option<&str>,
    ) -> Result<Vec<Event>> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), namespace);
        Ok(api
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some(reason))
            .filter(|e| {
                regarding
                    .is_none_or(|n| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(n))
            })
            .collect())
    }

    /// The last lines of every reconciler log of this test, for a failure message.
    pub fn logs(&self) -> String {
        let logs = self.logs.lock().unwrap_or_else(|p| p.into_inner()).clone();
        logs.iter()
            .map(|l| {
                format!(
                    "--- {} (last 30 lines)\n{}",
                    l.display(),
                    crate::reconciler::tail(l, 30)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Pods go at once (`gracePeriodSeconds: 0`: there is no kubelet to confirm a graceful stop), then
    /// the policies and the namespace (which stays Terminating: no namespace controller runs).
    pub async fn cleanup(&self) -> Result<()> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.ns);
        let force = DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        };
        pods.delete_collection(&force, &ListParams::default())
            .await?;
        let names = self
            .policies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for name in names {
            let api: Api<kube::api::DynamicObject> =
                Api::all_with(self.client.clone(), &crate::policy::api_resource());
            let _ = api.delete(&name, &DeleteParams::default()).await;
        }
        let ns: Api<Namespace> = Api::all(self.client.clone());
        let _ = ns.delete(&self.ns, &DeleteParams::default()).await;
        Ok(())
    }
}
