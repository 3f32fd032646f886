//! Leader election on a `coordination.k8s.io/v1` Lease, as client-go's `leaderelection` does it.
//!
//! Two replicas run; only the holder of the Lease starts the controller (and so writes). The holder
//! renews every `renew` period; a candidate takes the Lease over once `renewTime + leaseDurationSeconds`
//! has passed. Every write of the Lease is a PUT carrying the resourceVersion that was read, so two
//! candidates racing for an expired Lease cannot both win: the second gets 409 Conflict.
//!
//! A leader that cannot renew before its own lease would expire stops leading (the process exits and
//! the Deployment restarts it as a candidate), because past that point another replica may already
//! be writing.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::MicroTime,
    jiff::{SignedDuration, Timestamp},
};
use kube::{
    Api, Client,
    api::{ObjectMeta, PostParams},
};
use tracing::{info, warn};

#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub duration: Duration,
    pub renew: Duration,
}

/// Shared "am I the leader" flag: the writer checks it before every write.
#[derive(Clone, Debug, Default)]
pub struct Leadership(Arc<AtomicBool>);

impl Leadership {
    /// For runs that need no election (`plan`, `--no-leader-election`).
    pub fn always() -> Self {
        Leadership(Arc::new(AtomicBool::new(true)))
    }
    pub fn is_leader(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    fn set(&self, v: bool) {
        self.0.store(v, Ordering::SeqCst);
    }
}

pub struct LeaseLock {
    api: Api<Lease>,
    cfg: LeaseConfig,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Attempt {
    Acquired,
    Renewed,
    HeldBy(String),
}

impl LeaseLock {
    pub fn new(client: Client, cfg: LeaseConfig) -> Self {
        LeaseLock {
            api: Api::namespaced(client, &cfg.namespace),
            cfg,
        }
    }

    fn duration_secs(&self) -> i32 {
        i32::try_from(self.cfg.duration.as_secs().max(1)).unwrap_or(i32::MAX)
    }

    /// One round of client-go's `tryAcquireOrRenew`.
    pub async fn try_acquire_or_renew(&self) -> Result<Attempt, kube::Error> {
        let now = MicroTime(Timestamp::now());
        let Some(mut lease) = self.api.get_opt(&self.cfg.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.cfg.name.clone()),
                    namespace: Some(self.cfg.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.cfg.identity.clone()),
                    lease_duration_seconds: Some(self.duration_secs()),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            self.api.create(&PostParams::default(), &lease).await?;
            return Ok(Attempt::Acquired);
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let mine = holder == self.cfg.identity;
        if !mine && !holder.is_empty() && !expired(spec, now.0) {
            return Ok(Attempt::HeldBy(holder));
        }
        if !mine {
            spec.acquire_time = Some(now.clone());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.holder_identity = Some(self.cfg.identity.clone());
        spec.lease_duration_seconds = Some(self.duration_secs());
        spec.renew_time = Some(now);
        // `replace` sends metadata.resourceVersion: a concurrent writer makes this a 409.
        self.api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await?;
        Ok(if mine {
            Attempt::Renewed
        } else {
            Attempt::Acquired
        })
    }

    /// Gives the Lease up on shutdown so the other replica takes over at once instead of after
    /// `leaseDurationSeconds` (client-go's `ReleaseOnCancel`).
    pub async fn release(&self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.cfg.name).await? else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(&self.cfg.identity) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        self.api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await?;
        Ok(())
    }

    /// Blocks until this instance holds the Lease.
    pub async fn acquire(&self, leadership: &Leadership) {
        let mut last_holder = String::new();
        loop {
            match self.try_acquire_or_renew().await {
                Ok(Attempt::Acquired | Attempt::Renewed) => {
                    info!(lease = %self.cfg.name, identity = %self.cfg.identity, "became leader");
                    leadership.set(true);
                    return;
                }
                Ok(Attempt::HeldBy(h)) => {
                    if h != last_holder {
                        info!(holder = %h, "lease held by another instance; waiting");
                        last_holder = h;
                    }
                }
                Err(e) => warn!(error = %e, "lease acquisition failed; retrying"),
            }
            tokio::time::sleep(self.cfg.renew).await;
        }
    }

    /// Renews until renewing has failed for longer than the lease duration; then clears the flag and
    /// returns (the caller stops writing and exits).
    pub async fn keep_renewing(&self, leadership: &Leadership) {
        let mut last_ok = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.cfg.renew).await;
            match self.try_acquire_or_renew().await {
                Ok(Attempt::Renewed | Attempt::Acquired) => last_ok = tokio::time::Instant::now(),
                Ok(Attempt::HeldBy(h)) => {
                    warn!(holder = %h, "lost the lease");
                    break;
                }
                Err(e) => {
                    warn!(error = %e, "lease renewal failed");
                    // Stop a renew period early: another replica may take over at expiry.
                    if last_ok.elapsed() + self.cfg.renew >= self.cfg.duration {
                        break;
                    }
                }
            }
        }
        leadership.set(false);
    }
}

fn expired(spec: &LeaseSpec, now: Timestamp) -> bool {
    let Some(renew) = spec.renew_time.as_ref().or(spec.acquire_time.as_ref()) else {
        return true;
    };
    let secs = i64::from(spec.lease_duration_seconds.unwrap_or(0));
    renew.0 + SignedDuration::from_secs(secs) < now
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_expires_after_its_duration_from_the_last_renewal() {
        let t0: Timestamp = "2026-07-01T10:00:00Z".parse().unwrap();
        let spec = LeaseSpec {
            renew_time: Some(MicroTime(t0)),
            lease_duration_seconds: Some(15),
            ..Default::default()
        };
        assert!(!expired(&spec, t0 + SignedDuration::from_secs(15)));
        assert!(expired(&spec, t0 + SignedDuration::from_secs(16)));
        assert!(expired(&LeaseSpec::default(), t0));
    }
}
