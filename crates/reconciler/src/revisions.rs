//! The set's revision history as `apps/v1` ControllerRevisions, as Kruise's SidecarSet controller keeps
//! it (`registerLatestRevision`, `pkg/controller/sidecarset/sidecarset_processor.go`): the pure rules
//! are the core's ([`sidecarset_core::revision`]); this module lists, creates, patches and deletes.
//!
//! Revisions live in one namespace (`--revision-namespace`, the reconciler's own by default, as Kruise
//! keeps them in its manager's namespace), are listed by the label `kruise.io/sidecarset-name`, and
//! those controlled by another object are left out (Kubernetes' `ListControllerRevisions`). Each is
//! controlled by its ClusterAdmissionPolicy, so the garbage collector deletes them with the policy.
//!
//! Kruise reads them from its informer every round. Here a set's revisions are listed when its first
//! round runs and again once per resync period, and in between kept up to date from the API server's
//! answers to this process's own writes (only the leader writes, and nothing else writes a set's
//! revisions): a round costs no request unless the history changes.
//!
//! Every write goes through the write client's gate (paced, fenced: [`crate::write_gate`]) and is counted in
//! `sidecarset_reconciler_writes_total{kind="revision_create"|"revision_patch"|"revision_delete"}`.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use k8s_openapi::{
    api::apps::v1::ControllerRevision,
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
};
use kube::{
    Api, Client,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
};
use serde_json::{Value, json};
use sidecarset_core::{
    SidecarSet,
    revision::{
        CUSTOM_VERSION_LABEL, Revision, SET_NAME_LABEL,
        history::{self, HistoryPlan, Latest, OverLimit, Recorded, Wanted},
        pinned::missing_pin,
    },
    settings::InjectRevision,
};
use tracing::{info, warn};

use crate::{Error, MANAGER, Result, metrics::Metrics, write_gate::is_not_leader};

/// Kruise retries a taken name without bound; ten different revisions of one set hashing alike is
/// not bad luck but a bug, better reported than looped on.
const MAX_COLLISIONS: i32 = 10;

/// What a round needs to know about the set's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registered {
    /// The ControllerRevision of the current settings (Kruise's `status.latestRevision`).
    pub latest: String,
    /// Kruise's `status.collisionCount`.
    pub collision_count: i32,
    /// The names found taken by other data this round (each raised the collision count).
    pub collided: Vec<String>,
    /// The active revisions keep more than the limit.
    pub over_limit: Option<OverLimit>,
    /// The set pins a revision it does not have (`injectionStrategy.revision`): why the policy will
    /// refuse its Pods (docs/revisions.md#pinned-revisions-checked-ahead).
    pub pinned: Option<String>,
}

/// The owner of a set's revisions and what is persisted about them.
pub struct SetRef<'a> {
    /// The policy's name, or `file:<set>`.
    pub key: &'a str,
    pub set: &'a SidecarSet,
    /// The policy as controller; `None` in `--settings` mode (the revisions are orphans, which
    /// `ListControllerRevisions` keeps).
    pub owner: Option<OwnerReference>,
    /// The collision count the policy's status annotation carries (0 when none).
    pub collision_count: i32,
}

/// One set's revisions as this process knows them.
struct Known {
    owner_uid: Option<String>,
    set_name: String,
    listed: Instant,
    /// What the history planner reads of each revision.
    revisions: Vec<Recorded>,
    /// Every revision listed with the set's label, whoever controls it (name, custom version): what
    /// the policy can pin, since it reads by name or label.
    labelled: Vec<(String, Option<String>)>,
    /// The highest collision count seen: the status annotation may lag our own write of it.
    collision_count: i32,
    /// The last round that had nothing to write, and what it was planned from: a round with the same
    /// settings and the same revisions in use has nothing to write either (most rounds are such).
    settled: Option<Settled>,
}

struct Settled {
    inputs: Inputs,
    in_use: BTreeSet<String>,
    registered: Registered,
}

/// The settings a history plan reads.
#[derive(PartialEq)]
struct Inputs {
    data: String,
    custom_version: Option<String>,
    history_limit: Option<i32>,
    pinned: Option<InjectRevision>,
}

impl Inputs {
    fn of(set: &SidecarSet) -> Inputs {
        let s = set.settings();
        Inputs {
            data: set.revision_data().to_string(),
            custom_version: s.custom_version.clone(),
            history_limit: s.revision_history_limit,
            pinned: s.injection_strategy.revision.clone(),
        }
    }
}

pub struct Revisions {
    /// The write client ([`crate::write_gate`]); its reads pass the gate untouched.
    client: Client,
    metrics: Arc<Metrics>,
    namespace: String,
    /// How long a listing is trusted before the next round lists again.
    relist: Duration,
    known: Mutex<HashMap<String, Known>>,
}

impl Revisions {
    pub fn new(client: Client, metrics: Arc<Metrics>, namespace: String, relist: Duration) -> Self {
        Revisions {
            client,
            metrics,
            namespace,
            relist,
            known: Mutex::default(),
        }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    fn api(&self) -> Api<ControllerRevision> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Registers the current settings' revision and truncates the history: Kruise's
    /// `registerLatestRevision`. `in_use` are the revisions the set's Pods name. A failed write fails
    /// the round, as in Kruise, except a failed deletion, which is logged (Kruise's `truncateHistory`
    /// error is logged too).
    pub async fn register(&self, s: SetRef<'_>, in_use: &BTreeSet<String>) -> Result<Registered> {
        let mut known = self.take_known(&s).await?;
        let res = self.register_known(&s, in_use, &mut known).await;
        if res.is_ok() {
            let mut all = self.known.lock().unwrap_or_else(|p| p.into_inner());
            // A live set lists again within a relist period; an older entry is a deleted policy's.
            all.retain(|_, k| k.listed.elapsed() < self.relist * 2);
            all.insert(s.key.to_string(), known);
        }
        res
    }

    async fn register_known(
        &self,
        s: &SetRef<'_>,
        in_use: &BTreeSet<String>,
        known: &mut Known,
    ) -> Result<Registered> {
        let cc = known.collision_count.max(s.collision_count);
        let inputs = Inputs::of(s.set);
        if let Some(done) = known.settled.as_ref().filter(|d| {
            d.inputs == inputs && &d.in_use == in_use && d.registered.collision_count == cc
        }) {
            return Ok(done.registered.clone());
        }
        known.settled = None;
        let plan = plan(s.set, &known.revisions, in_use);
        let writes = !matches!(plan.latest, Latest::Reuse { .. })
            || plan.relabel.is_some()
            || !plan.delete.is_empty();
        let mut reg = Registered {
            latest: String::new(),
            collision_count: cc,
            collided: Vec::new(),
            over_limit: plan.over_limit,
            pinned: None,
        };
        let latest = match &plan.latest {
            Latest::Reuse { name } => name.clone(),
            Latest::Bump { name, revision } => {
                let body = json!({"revision": revision});
                let cr = self.patch(s.key, name, &body).await?;
                info!(revision = %name, number = revision, "rolled back to an earlier revision: its number bumped");
                replace(&mut known.revisions, &cr);
                name.clone()
            }
            Latest::Create { revision } => {
                let cr = self.create(s, *revision, &mut reg).await?;
                let name = cr.metadata.name.clone().unwrap_or_default();
                replace(&mut known.revisions, &cr);
                known.labelled.push((name.clone(), custom_version(&cr)));
                name
            }
        };
        known.collision_count = reg.collision_count;
        if let Some(version) = &plan.relabel {
            let body = json!({"metadata": {"labels": {CUSTOM_VERSION_LABEL: version}}});
            let cr = self.patch(s.key, &latest, &body).await?;
            replace(&mut known.revisions, &cr);
            for l in known.labelled.iter_mut().filter(|l| l.0 == latest) {
                l.1 = custom_version(&cr);
            }
        }
        for name in &plan.delete {
            if self.delete(s.key, name).await {
                known.revisions.retain(|r| &r.name != name);
            }
        }
        reg.latest = latest;
        reg.pinned = missing_pin(
            s.set,
            &self.namespace,
            known
                .labelled
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_deref())),
        );
        if !writes {
            known.settled = Some(Settled {
                inputs,
                in_use: in_use.clone(),
                registered: reg.clone(),
            });
        }
        Ok(reg)
    }

    /// The set's known revisions, listed again when there are none yet, the listing is older than
    /// the relist period, or the policy is another object with the same name.
    async fn take_known(&self, s: &SetRef<'_>) -> Result<Known> {
        let owner_uid = s.owner.as_ref().map(|o| o.uid.clone());
        let kept = self
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(s.key)
            .filter(|k| {
                k.owner_uid == owner_uid
                    && k.set_name == s.set.name()
                    && k.listed.elapsed() < self.relist
            });
        if let Some(k) = kept {
            return Ok(k);
        }
        let lp = ListParams::default().labels(&format!("{SET_NAME_LABEL}={}", s.set.name()));
        let listed = self.api().list(&lp).await.map_err(|e| Error::Revision {
            namespace: self.namespace.clone(),
            name: format!("{SET_NAME_LABEL}={}", s.set.name()),
            action: "list",
            source: Box::new(e),
        })?;
        let revisions = listed
            .items
            .iter()
            .filter(|r| controlled_by(r, owner_uid.as_deref()))
            .map(recorded)
            .collect();
        let labelled = listed
            .items
            .iter()
            .map(|r| {
                (
                    r.metadata.name.clone().unwrap_or_default(),
                    custom_version(r),
                )
            })
            .collect();
        Ok(Known {
            owner_uid,
            set_name: s.set.name().to_string(),
            listed: Instant::now(),
            revisions,
            labelled,
            collision_count: 0,
            settled: None,
        })
    }

    /// Kruise's `CreateControllerRevision`: a taken name with the same data is that revision; with
    /// other data the collision count goes up and the next name is tried.
    async fn create(
        &self,
        s: &SetRef<'_>,
        number: i64,
        reg: &mut Registered,
    ) -> Result<ControllerRevision> {
        let first = Revision::new(s.set, number, reg.collision_count);
        let mut rev = first.clone();
        let wanted: Value = serde_json::from_str(&rev.data)?;
        for _ in 0..MAX_COLLISIONS {
            let body = body(&rev, &self.namespace, s.owner.as_ref())?;
            let req = kube::core::Request::new(self.api().resource_url())
                .create(&post_params(), body)
                .map_err(|e| Error::Kube(Box::new(kube::Error::BuildRequest(e))))?;
            let res = self.client.request::<ControllerRevision>(req).await;
            self.count(s.key, "revision_create", res.is_ok());
            match res {
                Ok(cr) => {
                    info!(revision = %rev.name, number, "recorded a new revision");
                    return Ok(cr);
                }
                Err(kube::Error::Api(e)) if e.code == 409 && e.reason == "AlreadyExists" => {
                    let taken = self
                        .api()
                        .get(&rev.name)
                        .await
                        .map_err(|e| self.error(&rev.name, "get", e))?;
                    if taken.data.as_ref().map(|d| &d.0) == Some(&wanted) {
                        return Ok(taken);
                    }
                    warn!(revision = %rev.name, "the revision name is taken by other data: a hash collision; trying the next collision count");
                    reg.collided.push(rev.name.clone());
                    reg.collision_count += 1;
                    rev = first.renamed(s.set.name(), reg.collision_count);
                }
                Err(e) => return Err(self.error(&rev.name, "create", e)),
            }
        }
        Err(Error::RevisionCollision {
            set: s.set.name().to_string(),
            attempts: MAX_COLLISIONS,
        })
    }

    async fn patch(&self, key: &str, name: &str, body: &Value) -> Result<ControllerRevision> {
        let res = self
            .api()
            .patch(name, &patch_params(), &Patch::Merge(body))
            .await;
        self.count(key, "revision_patch", res.is_ok());
        res.map_err(|e| self.error(name, "patch", e))
    }

    /// Whether the revision is gone (deleted now, or already).
    async fn delete(&self, key: &str, name: &str) -> bool {
        let res = self.api().delete(name, &DeleteParams::default()).await;
        self.count(key, "revision_delete", res.is_ok());
        match res {
            Ok(_) => {
                info!(revision = %name, "deleted a revision beyond revisionHistoryLimit");
                true
            }
            Err(kube::Error::Api(e)) if e.code == 404 => true,
            Err(e) => {
                warn!(revision = %name, error = %e, "could not delete a revision beyond revisionHistoryLimit; trying again next round");
                false
            }
        }
    }

    fn count(&self, key: &str, kind: &str, ok: bool) {
        self.metrics
            .write(key, kind, if ok { "ok" } else { "error" });
    }

    fn error(&self, name: &str, action: &'static str, e: kube::Error) -> Error {
        if is_not_leader(&e) {
            return Error::NotLeader;
        }
        Error::Revision {
            namespace: self.namespace.clone(),
            name: name.to_string(),
            action,
            source: Box::new(e),
        }
    }
}

/// The core's history plan over the listed revisions.
fn plan(set: &SidecarSet, recorded: &[Recorded], in_use: &BTreeSet<String>) -> HistoryPlan {
    let data: Value = serde_json::from_str(set.revision_data()).unwrap_or(Value::Null);
    let s = set.settings();
    let pinned = s.injection_strategy.revision.as_ref();
    let wanted = Wanted {
        data: &data,
        custom_version: s.custom_version.as_deref(),
        history_limit: s.revision_history_limit,
        pinned_name: pinned.and_then(|r| r.revision_name.as_deref()),
        pinned_custom_version: pinned.and_then(|r| r.custom_version.as_deref()),
    };
    history::plan(recorded, &wanted, |name| in_use.contains(name))
}

fn recorded(r: &ControllerRevision) -> Recorded {
    let created = r.metadata.creation_timestamp.as_ref().map(|t| {
        let ts = t.0;
        i128::from(ts.as_second()) * 1_000_000_000 + i128::from(ts.subsec_nanosecond())
    });
    Recorded {
        name: r.metadata.name.clone().unwrap_or_default(),
        revision: r.revision,
        created,
        data: r.data.as_ref().map_or(Value::Null, |d| d.0.clone()),
        custom_version: custom_version(r),
    }
}

fn custom_version(r: &ControllerRevision) -> Option<String> {
    r.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(CUSTOM_VERSION_LABEL).cloned())
}

/// Kubernetes' `ListControllerRevisions` filter: no controller, or this owner.
fn controlled_by(r: &ControllerRevision, owner_uid: Option<&str>) -> bool {
    let controller = r
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true));
    match controller {
        None => true,
        Some(c) => Some(c.uid.as_str()) == owner_uid,
    }
}

/// Puts the API server's answer in place of the revision of the same name.
fn replace(revisions: &mut Vec<Recorded>, cr: &ControllerRevision) {
    let r = recorded(cr);
    revisions.retain(|old| old.name != r.name);
    revisions.push(r);
}

/// The request body, with `data` spliced in as the core's bytes: a `serde_json::Value` would print
/// them again its own way (no `\u003c` escapes, `1e21` for `1e+21`), and the API server keeps a
/// RawExtension's bytes as sent, so these are Kruise's bytes in the cluster too.
fn body(rev: &Revision, namespace: &str, owner: Option<&OwnerReference>) -> Result<Vec<u8>> {
    let meta = ObjectMeta {
        name: Some(rev.name.clone()),
        namespace: Some(namespace.to_string()),
        labels: Some(rev.labels.clone()),
        annotations: Some(rev.annotations.clone()),
        owner_references: owner.map(|o| vec![o.clone()]),
        ..Default::default()
    };
    let head = json!({"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": meta,
                      "revision": rev.revision});
    let mut text = serde_json::to_string(&head)?;
    text.pop();
    text.push_str(",\"data\":");
    text.push_str(&rev.data);
    text.push('}');
    Ok(text.into_bytes())
}

fn post_params() -> PostParams {
    PostParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    }
}

fn patch_params() -> PatchParams {
    PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    }
}

/// The policy as the controller of its revisions: `blockOwnerDeletion`, so a foreground deletion of
/// the policy waits for them (Kubernetes' `NewControllerRef`).
pub fn owner_reference(policy: &kube::api::DynamicObject) -> Option<OwnerReference> {
    let ar = crate::policy::api_resource();
    Some(OwnerReference {
        api_version: ar.api_version,
        kind: ar.kind,
        name: policy.metadata.name.clone()?,
        uid: policy.metadata.uid.clone()?,
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::runtime::RawExtension;

    fn set(image: &str) -> SidecarSet {
        SidecarSet::new(
            &json!({"name": "log", "selector": {"matchLabels": {"a": "b"}},
            "containers": [{"name": "c", "image": image, "env": [{"name": "X", "value": "<&>"}]}]}),
        )
        .unwrap()
    }

    fn cr(name: &str, owner: Option<&str>) -> ControllerRevision {
        ControllerRevision {
            metadata: ObjectMeta {
                name: Some(name.into()),
                owner_references: owner.map(|uid| {
                    vec![OwnerReference {
                        uid: uid.into(),
                        controller: Some(true),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            },
            data: Some(RawExtension(json!({}))),
            revision: 1,
        }
    }

    #[test]
    fn revisions_controlled_by_another_object_are_not_the_sets() {
        assert!(controlled_by(&cr("a", None), Some("u1")));
        assert!(controlled_by(&cr("a", Some("u1")), Some("u1")));
        assert!(!controlled_by(&cr("a", Some("u2")), Some("u1")));
        assert!(!controlled_by(&cr("a", Some("u2")), None));
        let mut not_controller = cr("a", Some("u2"));
        not_controller.metadata.owner_references.as_mut().unwrap()[0].controller = None;
        assert!(controlled_by(&not_controller, Some("u1")));
    }

    #[test]
    fn the_body_carries_the_core_bytes_as_data() {
        let s = set("busybox:1");
        let rev = Revision::new(&s, 2, 0);
        let owner = OwnerReference {
            api_version: "policies.kubewarden.io/v1".into(),
            kind: "ClusterAdmissionPolicy".into(),
            name: "p".into(),
            uid: "u".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        };
        let text = String::from_utf8(body(&rev, "ns", Some(&owner)).unwrap()).unwrap();
        assert!(
            text.ends_with(&format!(",\"data\":{}}}", s.revision_data())),
            "{text}"
        );
        assert!(s.revision_data().contains(r#"\u003c\u0026\u003e"#));
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["metadata"]["name"], s.revision_name());
        assert_eq!(v["metadata"]["namespace"], "ns");
        assert_eq!(v["revision"], 2);
        assert_eq!(v["metadata"]["labels"][SET_NAME_LABEL], "log");
        assert_eq!(
            v["metadata"]["ownerReferences"][0]["blockOwnerDeletion"],
            true
        );
        assert_eq!(v["data"]["spec"]["$patch"], "replace");
    }

    #[test]
    fn the_plan_compares_data_as_documents() {
        let s = set("busybox:1");
        let mut same = cr("log-1", None);
        same.data = Some(RawExtension(
            serde_json::from_str(s.revision_data()).unwrap(),
        ));
        let p = plan(&s, &[recorded(&same)], &BTreeSet::new());
        assert_eq!(
            p.latest,
            Latest::Reuse {
                name: "log-1".into()
            }
        );
        let p = plan(
            &set("busybox:2"),
            &[recorded(&cr("log-1", None))],
            &BTreeSet::new(),
        );
        assert_eq!(p.latest, Latest::Create { revision: 2 });
    }
}
