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
//!
//! The decision ([`decide`]) is pure and the Lease is reached through [`LeaseStore`], so the election
//! is tested with an in-memory store and tokio's paused clock.

use std::{
    future::Future,
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

/// Where the Lease lives: the API server, or memory in tests. `replace` must fail when the Lease's
/// resourceVersion is not the one read (the API server answers 409).
pub trait LeaseStore: Send + Sync {
    fn get(&self) -> impl Future<Output = Result<Option<Lease>, kube::Error>> + Send;
    fn create(&self, lease: &Lease) -> impl Future<Output = Result<(), kube::Error>> + Send;
    fn replace(&self, lease: &Lease) -> impl Future<Output = Result<(), kube::Error>> + Send;
}

/// The API server's Lease.
pub struct ApiLeaseStore {
    api: Api<Lease>,
    name: String,
}

impl ApiLeaseStore {
    pub fn new(client: Client, cfg: &LeaseConfig) -> Self {
        ApiLeaseStore {
            api: Api::namespaced(client, &cfg.namespace),
            name: cfg.name.clone(),
        }
    }
}

impl LeaseStore for ApiLeaseStore {
    async fn get(&self) -> Result<Option<Lease>, kube::Error> {
        self.api.get_opt(&self.name).await
    }
    async fn create(&self, lease: &Lease) -> Result<(), kube::Error> {
        self.api
            .create(&PostParams::default(), lease)
            .await
            .map(drop)
    }
    async fn replace(&self, lease: &Lease) -> Result<(), kube::Error> {
        // `replace` sends metadata.resourceVersion: a concurrent writer makes this a 409.
        self.api
            .replace(&self.name, &PostParams::default(), lease)
            .await
            .map(drop)
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Attempt {
    Acquired,
    Renewed,
    HeldBy(String),
}

/// What to do with the Lease as read (client-go's `tryAcquireOrRenew` without the I/O).
#[derive(Debug, PartialEq)]
pub enum Decision {
    /// No Lease yet: create this one.
    Create(Lease),
    /// Write this Lease back (renewal, or take-over of an expired or released one).
    Write(Lease, Attempt),
    /// Someone else holds a live Lease.
    HeldBy(String),
}

pub fn decide(current: Option<Lease>, cfg: &LeaseConfig, now: Timestamp) -> Decision {
    let duration = i32::try_from(cfg.duration.as_secs().max(1)).unwrap_or(i32::MAX);
    let now = MicroTime(now);
    let Some(mut lease) = current else {
        return Decision::Create(Lease {
            metadata: ObjectMeta {
                name: Some(cfg.name.clone()),
                namespace: Some(cfg.namespace.clone()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(cfg.identity.clone()),
                lease_duration_seconds: Some(duration),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..Default::default()
            }),
        });
    };
    let spec = lease.spec.get_or_insert_with(Default::default);
    let holder = spec.holder_identity.clone().unwrap_or_default();
    let mine = holder == cfg.identity;
    if !mine && !holder.is_empty() && !expired(spec, now.0) {
        return Decision::HeldBy(holder);
    }
    if !mine {
        spec.acquire_time = Some(now.clone());
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    }
    spec.holder_identity = Some(cfg.identity.clone());
    spec.lease_duration_seconds = Some(duration);
    spec.renew_time = Some(now);
    let attempt = if mine {
        Attempt::Renewed
    } else {
        Attempt::Acquired
    };
    Decision::Write(lease, attempt)
}

fn expired(spec: &LeaseSpec, now: Timestamp) -> bool {
    let Some(renew) = spec.renew_time.as_ref().or(spec.acquire_time.as_ref()) else {
        return true;
    };
    let secs = i64::from(spec.lease_duration_seconds.unwrap_or(0));
    renew.0 + SignedDuration::from_secs(secs) < now
}

/// The wall clock for Lease timestamps; tests move it with tokio's paused clock.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

pub struct LeaseLock<S = ApiLeaseStore> {
    store: S,
    cfg: LeaseConfig,
    clock: Clock,
}

impl LeaseLock<ApiLeaseStore> {
    pub fn new(client: Client, cfg: LeaseConfig) -> Self {
        LeaseLock::with_store(
            ApiLeaseStore::new(client, &cfg),
            cfg,
            Arc::new(Timestamp::now),
        )
    }
}

impl<S: LeaseStore> LeaseLock<S> {
    pub fn with_store(store: S, cfg: LeaseConfig, clock: Clock) -> Self {
        LeaseLock { store, cfg, clock }
    }

    /// One round of client-go's `tryAcquireOrRenew`.
    pub async fn try_acquire_or_renew(&self) -> Result<Attempt, kube::Error> {
        let current = self.store.get().await?;
        match decide(current, &self.cfg, (self.clock)()) {
            Decision::Create(lease) => {
                self.store.create(&lease).await?;
                Ok(Attempt::Acquired)
            }
            Decision::Write(lease, attempt) => {
                self.store.replace(&lease).await?;
                Ok(attempt)
            }
            Decision::HeldBy(h) => Ok(Attempt::HeldBy(h)),
        }
    }

    /// Gives the Lease up on shutdown so the other replica takes over at once instead of after
    /// `leaseDurationSeconds` (client-go's `ReleaseOnCancel`).
    pub async fn release(&self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.store.get().await? else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(&self.cfg.identity) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        self.store.replace(&lease).await
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

    /// Renews until renewing has failed for longer than the lease duration allows; then clears the
    /// flag and returns (the caller stops writing and exits).
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn cfg(identity: &str) -> LeaseConfig {
        LeaseConfig {
            namespace: "sidecarset-system".into(),
            name: "sidecarset-reconciler".into(),
            identity: identity.into(),
            duration: Duration::from_secs(15),
            renew: Duration::from_secs(5),
        }
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_lease_expires_after_its_duration_from_the_last_renewal() {
        let t0 = t("2026-07-01T10:00:00Z");
        let spec = LeaseSpec {
            renew_time: Some(MicroTime(t0)),
            lease_duration_seconds: Some(15),
            ..Default::default()
        };
        assert!(!expired(&spec, t0 + SignedDuration::from_secs(15)));
        assert!(expired(&spec, t0 + SignedDuration::from_secs(16)));
        assert!(expired(&LeaseSpec::default(), t0));
    }

    #[test]
    fn a_live_lease_of_another_is_respected_and_an_expired_one_taken_over() {
        let t0 = t("2026-07-01T10:00:00Z");
        let Decision::Create(lease) = decide(None, &cfg("a"), t0) else {
            panic!("no lease: create")
        };
        assert_eq!(lease.spec.as_ref().unwrap().lease_transitions, Some(0));
        let later = t0 + SignedDuration::from_secs(10);
        assert_eq!(
            decide(Some(lease.clone()), &cfg("b"), later),
            Decision::HeldBy("a".into())
        );
        let Decision::Write(renewed, Attempt::Renewed) =
            decide(Some(lease.clone()), &cfg("a"), later)
        else {
            panic!("the holder renews")
        };
        assert_eq!(
            renewed.spec.as_ref().unwrap().renew_time,
            Some(MicroTime(later))
        );
        let expired_at = t0 + SignedDuration::from_secs(16);
        let Decision::Write(taken, Attempt::Acquired) = decide(Some(lease), &cfg("b"), expired_at)
        else {
            panic!("an expired lease is taken over")
        };
        let spec = taken.spec.unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("b"));
        assert_eq!(spec.lease_transitions, Some(1));
        assert_eq!(spec.acquire_time, Some(MicroTime(expired_at)));
    }

    /// An API server's Lease in memory: resourceVersion checked on replace, failures injectable.
    #[derive(Default)]
    struct MemStore {
        lease: Mutex<Option<Lease>>,
        version: Mutex<u64>,
        down: AtomicBool,
    }

    fn conflict() -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure("conflict", "Conflict")
                .with_code(409)
                .boxed(),
        )
    }

    impl LeaseStore for Arc<MemStore> {
        async fn get(&self) -> Result<Option<Lease>, kube::Error> {
            if self.down.load(Ordering::SeqCst) {
                return Err(conflict());
            }
            Ok(self.lease.lock().unwrap().clone())
        }
        async fn create(&self, lease: &Lease) -> Result<(), kube::Error> {
            let mut cur = self.lease.lock().unwrap();
            if cur.is_some() {
                return Err(conflict());
            }
            let mut l = lease.clone();
            let mut v = self.version.lock().unwrap();
            *v += 1;
            l.metadata.resource_version = Some(v.to_string());
            *cur = Some(l);
            Ok(())
        }
        async fn replace(&self, lease: &Lease) -> Result<(), kube::Error> {
            let mut cur = self.lease.lock().unwrap();
            let mut v = self.version.lock().unwrap();
            if self.down.load(Ordering::SeqCst)
                || cur
                    .as_ref()
                    .and_then(|c| c.metadata.resource_version.clone())
                    != lease.metadata.resource_version
            {
                return Err(conflict());
            }
            *v += 1;
            let mut l = lease.clone();
            l.metadata.resource_version = Some(v.to_string());
            *cur = Some(l);
            Ok(())
        }
    }

    /// Wall time that follows tokio's (paused) clock from a fixed start.
    fn fake_clock() -> Clock {
        let start = tokio::time::Instant::now();
        let t0 = t("2026-07-01T10:00:00Z");
        Arc::new(move || {
            t0 + SignedDuration::try_from(start.elapsed()).unwrap_or(SignedDuration::ZERO)
        })
    }

    #[tokio::test(start_paused = true)]
    async fn one_leader_at_a_time_and_a_takeover_after_expiry() {
        let store = Arc::new(MemStore::default());
        let clock = fake_clock();
        let a = LeaseLock::with_store(store.clone(), cfg("a"), clock.clone());
        let b = LeaseLock::with_store(store.clone(), cfg("b"), clock.clone());
        assert_eq!(a.try_acquire_or_renew().await.unwrap(), Attempt::Acquired);
        assert_eq!(
            b.try_acquire_or_renew().await.unwrap(),
            Attempt::HeldBy("a".into())
        );
        // `a` stops renewing (crashed): `b` waits out the 15 s and takes over, not before.
        let lb = Leadership::default();
        let waiting = tokio::spawn(async move {
            b.acquire(&lb).await;
            (tokio::time::Instant::now(), lb.is_leader())
        });
        let start = tokio::time::Instant::now();
        let (at, leader) = waiting.await.unwrap();
        assert!(leader);
        let waited = at - start;
        assert!(
            waited > Duration::from_secs(15) && waited <= Duration::from_secs(20),
            "{waited:?}"
        );
        let held = store.lease.lock().unwrap().clone().unwrap();
        assert_eq!(held.spec.unwrap().holder_identity.as_deref(), Some("b"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_leader_that_cannot_renew_steps_down_before_its_lease_expires() {
        let store = Arc::new(MemStore::default());
        let a = LeaseLock::with_store(store.clone(), cfg("a"), fake_clock());
        let la = Leadership::default();
        a.acquire(&la).await;
        assert!(la.is_leader());
        store.down.store(true, Ordering::SeqCst);
        let start = tokio::time::Instant::now();
        a.keep_renewing(&la).await;
        assert!(!la.is_leader());
        // Renewals at 5 s and 10 s fail; at 10 s one more period would reach the 15 s expiry.
        assert_eq!(start.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_released_lease_is_taken_at_once() {
        let store = Arc::new(MemStore::default());
        let clock = fake_clock();
        let a = LeaseLock::with_store(store.clone(), cfg("a"), clock.clone());
        let b = LeaseLock::with_store(store.clone(), cfg("b"), clock);
        a.try_acquire_or_renew().await.unwrap();
        a.release().await.unwrap();
        assert_eq!(b.try_acquire_or_renew().await.unwrap(), Attempt::Acquired);
        // Releasing a Lease one does not hold changes nothing.
        a.release().await.unwrap();
        assert_eq!(
            a.try_acquire_or_renew().await.unwrap(),
            Attempt::HeldBy("b".into())
        );
    }
}
