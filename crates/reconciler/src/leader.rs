//! Leader election on a `coordination.k8s.io/v1` Lease, as client-go's `leaderelection` does it.
//!
//! Two replicas run; only the holder of the Lease writes. Three rules keep it to one writer at a
//! time whatever the clocks and the network do (docs/operations.md#one-writer-at-a-time):
//!
//! * **Expiry is judged by the time this process observed the record change**, on its own
//!   monotonic clock, never by comparing the holder's `renewTime` with the local wall clock
//!   (client-go's `observedTime`). A candidate whose wall clock runs 20 s ahead still waits a full
//!   `leaseDurationSeconds` after it last saw the record move.
//! * **Leadership is a deadline, not a flag**: each successful write of the Lease makes this process
//!   leader until `renew deadline` after the moment that write was *sent* ([`Leadership`]). The
//!   deadline passes on its own, whether or not a renewal call is still hanging in an API Priority
//!   and Fairness queue or a stalled proxy. Since `renew deadline < lease duration` and a candidate
//!   starts its wait no earlier than the write landed, the old leader has stopped before anyone
//!   else may start.
//! * **Every Lease call has a timeout** (what is left until the deadline), so a hung call cannot
//!   keep the renewal loop from noticing that leadership is over.
//!
//! The writes themselves are fenced where they are sent ([`crate::write_gate`]): each one checks
//! [`Leadership::is_leader`] after its token from the write budget, right before it goes out.
//!
//! Every write of the Lease is a PUT carrying the resourceVersion that was read, so two candidates
//! racing for an expired Lease cannot both win: the second gets 409 Conflict.
//!
//! The decision ([`decide`]) is pure and the Lease is reached through [`LeaseStore`], so the election
//! is tested with an in-memory store, stores whose calls hang, skewed wall clocks and tokio's paused
//! clock.

use std::{
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::MicroTime,
    jiff::Timestamp,
};
use kube::{
    Api, Client,
    api::{ObjectMeta, PostParams},
};
use tokio::time::Instant;
use tracing::{info, warn};

#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    /// `leaseDurationSeconds`: how long after a candidate last saw the record change it may take
    /// the Lease over (client-go's `LeaseDuration`, 15 s).
    pub duration: Duration,
    /// How long after a successful renewal was sent the leader keeps writing without another one
    /// (client-go's `RenewDeadline`, 10 s). Shorter than `duration`: the difference is the margin
    /// for a write sent just before the deadline to land.
    pub renew_deadline: Duration,
    /// How often the leader renews and a candidate retries (client-go's `RetryPeriod`, 2 s).
    pub retry_period: Duration,
}

/// "Am I the leader, and until when", shared by the renewal loop and every writer.
///
/// Held as a deadline on tokio's monotonic clock, so that it ends by itself: no task has to be
/// running (or unblocked) to take leadership away.
#[derive(Clone, Debug)]
pub struct Leadership(Arc<Deadline>);

#[derive(Debug)]
struct Deadline {
    origin: Instant,
    /// Nanoseconds after `origin` until which this process leads; 0: not leader; `u64::MAX`: always.
    until: AtomicU64,
}

impl Default for Leadership {
    /// Not the leader (yet).
    fn default() -> Self {
        Leadership(Arc::new(Deadline {
            origin: Instant::now(),
            until: AtomicU64::new(0),
        }))
    }
}

impl Leadership {
    /// For runs that need no election (`plan`, `--no-leader-election`).
    pub fn always() -> Self {
        let l = Leadership::default();
        l.0.until.store(u64::MAX, Ordering::SeqCst);
        l
    }

    /// Leading until `deadline` and never after, with no Lease behind it: for the write gate's tests.
    pub fn until(deadline: Instant) -> Self {
        let l = Leadership::default();
        l.lead_until(deadline);
        l
    }

    pub fn is_leader(&self) -> bool {
        self.deadline().is_some_and(|d| Instant::now() < d)
    }

    /// When leadership ends (`None`: not leader; far in the future for [`Leadership::always`]).
    pub fn deadline(&self) -> Option<Instant> {
        match self.0.until.load(Ordering::SeqCst) {
            0 => None,
            u64::MAX => Some(self.0.origin + Duration::from_secs(100 * 365 * 24 * 3600)),
            n => Some(self.0.origin + Duration::from_nanos(n)),
        }
    }

    /// Leads until `deadline` (a later renewal moves it on).
    fn lead_until(&self, deadline: Instant) {
        let nanos = deadline.saturating_duration_since(self.0.origin).as_nanos();
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX - 1).max(1);
        self.0.until.store(nanos, Ordering::SeqCst);
    }

    fn revoke(&self) {
        self.0.until.store(0, Ordering::SeqCst);
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

/// Why a Lease call did not give an answer.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("{0}")]
    Api(#[from] kube::Error),
    #[error("no answer before the deadline")]
    TimedOut,
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

/// `held_live`: whether the holder's Lease is still valid by this process's observation (the
/// record last changed less than its `leaseDurationSeconds` ago on the local monotonic clock).
/// `now` only stamps `acquireTime` and `renewTime`, which others read for display, never for expiry.
pub fn decide(
    current: Option<Lease>,
    cfg: &LeaseConfig,
    now: Timestamp,
    held_live: bool,
) -> Decision {
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
    if !mine && !holder.is_empty() && held_live {
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

/// The record as last seen and when (client-go's `observedRecord` and `observedTime`).
#[derive(Debug)]
struct Observed {
    spec: LeaseSpec,
    at: Instant,
}

/// The record's own `leaseDurationSeconds` (client-go judges by the record's, not its own, so
/// replicas with different flags agree).
fn record_duration(spec: &LeaseSpec) -> Duration {
    Duration::from_secs(u64::try_from(spec.lease_duration_seconds.unwrap_or(0)).unwrap_or(0))
}

/// The wall clock for Lease timestamps; tests move it with tokio's paused clock, or skew it.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

pub struct LeaseLock<S = ApiLeaseStore> {
    store: S,
    cfg: LeaseConfig,
    clock: Clock,
    observed: Mutex<Option<Observed>>,
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
        LeaseLock {
            store,
            cfg,
            clock,
            observed: Mutex::new(None),
        }
    }

    /// Notes the record as read now; says whether its holder's lease is live by our observation.
    fn observe(&self, spec: Option<&LeaseSpec>, now: Instant) -> bool {
        let mut observed = self.observed.lock().unwrap_or_else(|p| p.into_inner());
        let Some(spec) = spec else {
            *observed = None;
            return false;
        };
        let changed = observed.as_ref().is_none_or(|o| &o.spec != spec);
        if changed {
            *observed = Some(Observed {
                spec: spec.clone(),
                at: now,
            });
        }
        observed
            .as_ref()
            .is_some_and(|o| o.at + record_duration(&o.spec) > now)
    }

    /// One round of client-go's `tryAcquireOrRenew`, every call bounded by `deadline`.
    pub async fn try_acquire_or_renew(&self, deadline: Instant) -> Result<Attempt, LeaseError> {
        let current = bounded(deadline, self.store.get()).await?;
        let live = self.observe(
            current.as_ref().and_then(|l| l.spec.as_ref()),
            Instant::now(),
        );
        let (lease, attempt) = match decide(current, &self.cfg, (self.clock)(), live) {
            Decision::Create(lease) => {
                bounded(deadline, self.store.create(&lease)).await?;
                (lease, Attempt::Acquired)
            }
            Decision::Write(lease, attempt) => {
                bounded(deadline, self.store.replace(&lease)).await?;
                (lease, attempt)
            }
            Decision::HeldBy(h) => return Ok(Attempt::HeldBy(h)),
        };
        // Our own write is a change of the record too: a later read of it is not news.
        self.observe(lease.spec.as_ref(), Instant::now());
        Ok(attempt)
    }

    /// Gives the Lease up on shutdown so the other replica takes over at once instead of after
    /// `leaseDurationSeconds` (client-go's `ReleaseOnCancel`). Only while still leading: a Lease
    /// this process may have lost is left alone.
    pub async fn release(&self, leadership: &Leadership) -> Result<(), LeaseError> {
        let Some(deadline) = leadership.deadline().filter(|_| leadership.is_leader()) else {
            return Ok(());
        };
        let Some(mut lease) = bounded(deadline, self.store.get()).await? else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(&self.cfg.identity) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        // Stop writing before the Lease says anyone may take over.
        leadership.revoke();
        bounded(deadline, self.store.replace(&lease)).await
    }

    /// Blocks until this instance holds the Lease.
    pub async fn acquire(&self, leadership: &Leadership) {
        let mut last_holder = String::new();
        loop {
            let sent = Instant::now();
            match self
                .try_acquire_or_renew(sent + self.cfg.renew_deadline)
                .await
            {
                Ok(Attempt::Acquired | Attempt::Renewed) => {
                    leadership.lead_until(sent + self.cfg.renew_deadline);
                    info!(lease = %self.cfg.name, identity = %self.cfg.identity, "became leader");
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
            tokio::time::sleep(self.cfg.retry_period).await;
        }
    }

    /// Renews every retry period; each success moves the leadership deadline to `renew deadline`
    /// after that renewal was sent. Returns once the deadline has passed without one, or another
    /// holder is seen (leadership is over by then: the caller stops and exits).
    pub async fn keep_renewing(&self, leadership: &Leadership) {
        loop {
            tokio::time::sleep(self.cfg.retry_period).await;
            let Some(deadline) = leadership.deadline().filter(|d| Instant::now() < *d) else {
                warn!(lease = %self.cfg.name, "renew deadline passed without a renewal");
                break;
            };
            let sent = Instant::now();
            match self.try_acquire_or_renew(deadline).await {
                Ok(Attempt::Renewed | Attempt::Acquired) => {
                    leadership.lead_until(sent + self.cfg.renew_deadline);
                }
                Ok(Attempt::HeldBy(h)) => {
                    warn!(holder = %h, "lost the lease");
                    break;
                }
                Err(e) => {
                    warn!(error = %e, "lease renewal failed");
                    if Instant::now() >= deadline {
                        warn!(lease = %self.cfg.name, "renew deadline passed without a renewal");
                        break;
                    }
                }
            }
        }
        leadership.revoke();
    }
}

/// A Lease call that gives up at `deadline`.
async fn bounded<T>(
    deadline: Instant,
    call: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, LeaseError> {
    match tokio::time::timeout_at(deadline, call).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(LeaseError::TimedOut),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use k8s_openapi::jiff::SignedDuration;

    use super::*;

    fn cfg(identity: &str) -> LeaseConfig {
        LeaseConfig {
            namespace: "sidecarset-system".into(),
            name: "sidecarset-reconciler".into(),
            identity: identity.into(),
            duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_live_lease_of_another_is_respected_and_an_expired_one_taken_over() {
        let t0 = t("2026-07-01T10:00:00Z");
        let Decision::Create(lease) = decide(None, &cfg("a"), t0, false) else {
            panic!("no lease: create")
        };
        assert_eq!(lease.spec.as_ref().unwrap().lease_transitions, Some(0));
        let later = t0 + SignedDuration::from_secs(10);
        assert_eq!(
            decide(Some(lease.clone()), &cfg("b"), later, true),
            Decision::HeldBy("a".into())
        );
        let Decision::Write(renewed, Attempt::Renewed) =
            decide(Some(lease.clone()), &cfg("a"), later, true)
        else {
            panic!("the holder renews")
        };
        assert_eq!(
            renewed.spec.as_ref().unwrap().renew_time,
            Some(MicroTime(later))
        );
        // The wall clock plays no part in expiry: only the observation does.
        let Decision::Write(taken, Attempt::Acquired) = decide(Some(lease), &cfg("b"), t0, false)
        else {
            panic!("an expired lease is taken over")
        };
        let spec = taken.spec.unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("b"));
        assert_eq!(spec.lease_transitions, Some(1));
        assert_eq!(spec.acquire_time, Some(MicroTime(t0)));
    }

    #[tokio::test(start_paused = true)]
    async fn leadership_is_a_deadline_that_passes_by_itself() {
        let l = Leadership::default();
        assert!(!l.is_leader());
        l.lead_until(Instant::now() + Duration::from_secs(10));
        assert!(l.is_leader());
        tokio::time::sleep(Duration::from_millis(9_999)).await;
        assert!(l.is_leader());
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(!l.is_leader(), "no task had to run for leadership to end");
        assert!(Leadership::always().is_leader());
    }

    /// An API server's Lease in memory: resourceVersion checked on replace; per candidate, calls
    /// that fail at once (`down`) or never answer (`hang`), as a stalled connection or a request held
    /// by API Priority and Fairness.
    #[derive(Default)]
    struct MemStore {
        lease: Mutex<Option<Lease>>,
        version: Mutex<u64>,
    }

    #[derive(Clone, Default)]
    struct Link {
        store: Arc<MemStore>,
        down: Arc<AtomicBool>,
        hang: Arc<AtomicBool>,
    }

    impl Link {
        fn to(store: &Arc<MemStore>) -> Self {
            Link {
                store: store.clone(),
                ..Default::default()
            }
        }
        async fn reach(&self) -> Result<(), kube::Error> {
            if self.hang.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            if self.down.load(Ordering::SeqCst) {
                return Err(conflict());
            }
            Ok(())
        }
    }

    fn conflict() -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure("conflict", "Conflict")
                .with_code(409)
                .boxed(),
        )
    }

    impl LeaseStore for Link {
        async fn get(&self) -> Result<Option<Lease>, kube::Error> {
            self.reach().await?;
            Ok(self.store.lease.lock().unwrap().clone())
        }
        async fn create(&self, lease: &Lease) -> Result<(), kube::Error> {
            self.reach().await?;
            let mut cur = self.store.lease.lock().unwrap();
            if cur.is_some() {
                return Err(conflict());
            }
            let mut l = lease.clone();
            let mut v = self.store.version.lock().unwrap();
            *v += 1;
            l.metadata.resource_version = Some(v.to_string());
            *cur = Some(l);
            Ok(())
        }
        async fn replace(&self, lease: &Lease) -> Result<(), kube::Error> {
            self.reach().await?;
            let mut cur = self.store.lease.lock().unwrap();
            let mut v = self.store.version.lock().unwrap();
            if cur
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

    impl MemStore {
        fn holder(&self) -> Option<String> {
            let l = self.lease.lock().unwrap();
            l.as_ref()?.spec.as_ref()?.holder_identity.clone()
        }
        fn transitions(&self) -> i32 {
            let l = self.lease.lock().unwrap();
            l.as_ref()
                .and_then(|l| l.spec.as_ref()?.lease_transitions)
                .unwrap_or(0)
        }
    }

    /// Wall time that follows tokio's (paused) clock from a fixed start, `skew` ahead.
    fn clock(skew: SignedDuration) -> Clock {
        let start = Instant::now();
        let t0 = t("2026-07-01T10:00:00Z") + skew;
        Arc::new(move || {
            t0 + SignedDuration::try_from(start.elapsed()).unwrap_or(SignedDuration::ZERO)
        })
    }

    /// A candidate as the controller runs it: acquire, then renew until leadership is over; then
    /// it stands again (the process restarts as a candidate).
    fn candidate(lock: Arc<LeaseLock<Link>>, l: Leadership) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                lock.acquire(&l).await;
                lock.keep_renewing(&l).await;
            }
        })
    }

    /// Checks every 10 ms of (paused) time for `span` that the two are never leaders at once;
    /// returns the first instants at which each was leader.
    async fn never_two_leaders(
        a: &Leadership,
        b: &Leadership,
        span: Duration,
    ) -> (Option<Duration>, Option<Duration>) {
        let start = Instant::now();
        let (mut first_a, mut first_b) = (None, None);
        while start.elapsed() < span {
            let (la, lb) = (a.is_leader(), b.is_leader());
            assert!(!(la && lb), "two leaders at {:?}", start.elapsed());
            if la && first_a.is_none() {
                first_a = Some(start.elapsed());
            }
            if lb && first_b.is_none() {
                first_b = Some(start.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        (first_a, first_b)
    }

    #[tokio::test(start_paused = true)]
    async fn a_candidate_whose_clock_runs_ahead_never_takes_a_live_lease() {
        // Either way round: the standby 20 s ahead of the leader, or 20 s behind it (more than the
        // 15 s lease duration both times).
        for skew in [20, -20] {
            let store = Arc::new(MemStore::default());
            let a = Arc::new(LeaseLock::with_store(
                Link::to(&store),
                cfg("a"),
                clock(SignedDuration::ZERO),
            ));
            let (la, lb) = (Leadership::default(), Leadership::default());
            a.acquire(&la).await;
            let b = Arc::new(LeaseLock::with_store(
                Link::to(&store),
                cfg("b"),
                clock(SignedDuration::from_secs(skew)),
            ));
            let tasks = [candidate(a, la.clone()), candidate(b, lb.clone())];
            let (_, first_b) = never_two_leaders(&la, &lb, Duration::from_secs(120)).await;
            assert_eq!(
                first_b, None,
                "skew {skew} s: the standby took a live Lease"
            );
            assert!(la.is_leader());
            assert_eq!(store.holder().as_deref(), Some("a"));
            assert_eq!(store.transitions(), 0);
            tasks.iter().for_each(|t| t.abort());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_leader_whose_renewals_hang_stops_at_the_renew_deadline_before_the_takeover() {
        let store = Arc::new(MemStore::default());
        let link_a = Link::to(&store);
        let a = Arc::new(LeaseLock::with_store(
            link_a.clone(),
            cfg("a"),
            clock(SignedDuration::ZERO),
        ));
        let b = Arc::new(LeaseLock::with_store(
            Link::to(&store),
            cfg("b"),
            clock(SignedDuration::from_secs(20)),
        ));
        let (la, lb) = (Leadership::default(), Leadership::default());
        a.acquire(&la).await;
        let tasks = [candidate(a, la.clone()), candidate(b, lb.clone())];
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(la.is_leader() && !lb.is_leader());
        // From now on a's Lease calls never answer; its last successful renewal was sent at most
        // one retry period ago.
        link_a.hang.store(true, Ordering::SeqCst);
        let hung_at = Instant::now();
        let (_, first_b) = never_two_leaders(&la, &lb, Duration::from_secs(60)).await;
        assert!(!la.is_leader(), "a stopped leading");
        let took_over = first_b.expect("the standby took over");
        // b saw the record change last at most a retry period before the hang, and waits a full
        // lease duration from then: at least 13 s after the hang, at most 15 s + two retries.
        assert!(
            took_over >= Duration::from_secs(13) && took_over <= Duration::from_secs(19),
            "{took_over:?}"
        );
        assert_eq!(store.holder().as_deref(), Some("b"));
        assert_eq!(store.transitions(), 1);
        let _ = hung_at;
        tasks.iter().for_each(|t| t.abort());
    }

    #[tokio::test(start_paused = true)]
    async fn leadership_ends_at_the_renew_deadline_while_the_renewal_call_still_hangs() {
        let store = Arc::new(MemStore::default());
        let link = Link::to(&store);
        let a = LeaseLock::with_store(link.clone(), cfg("a"), clock(SignedDuration::ZERO));
        let la = Leadership::default();
        let acquired = Instant::now();
        a.acquire(&la).await;
        link.hang.store(true, Ordering::SeqCst);
        let renewing = async {
            a.keep_renewing(&la).await;
            Instant::now()
        };
        let watching = async {
            while la.is_leader() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Instant::now()
        };
        let (returned, ended) = tokio::join!(renewing, watching);
        assert_eq!(
            ended - acquired,
            Duration::from_secs(10),
            "the renew deadline"
        );
        assert_eq!(
            returned - acquired,
            Duration::from_secs(10),
            "the hung call timed out then"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_leader_that_cannot_renew_steps_down_before_its_lease_expires() {
        let store = Arc::new(MemStore::default());
        let link = Link::to(&store);
        let a = LeaseLock::with_store(link.clone(), cfg("a"), clock(SignedDuration::ZERO));
        let la = Leadership::default();
        let start = Instant::now();
        a.acquire(&la).await;
        assert!(la.is_leader());
        link.down.store(true, Ordering::SeqCst);
        a.keep_renewing(&la).await;
        assert!(!la.is_leader());
        // Renewals at 2, 4, 6, 8 and 10 s fail; the deadline is 10 s after the acquiring write.
        assert_eq!(start.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_standby_takes_over_a_full_lease_duration_after_the_leader_stopped_renewing() {
        let store = Arc::new(MemStore::default());
        let a = LeaseLock::with_store(Link::to(&store), cfg("a"), clock(SignedDuration::ZERO));
        let b = LeaseLock::with_store(Link::to(&store), cfg("b"), clock(SignedDuration::ZERO));
        let (la, lb) = (Leadership::default(), Leadership::default());
        a.acquire(&la).await;
        // `a` crashed right after acquiring: `b` sees the record at 0 s, unchanged since.
        let start = Instant::now();
        b.acquire(&lb).await;
        assert!(lb.is_leader());
        let waited = start.elapsed();
        assert!(
            waited > Duration::from_secs(15) && waited <= Duration::from_secs(17),
            "{waited:?}"
        );
        assert_eq!(store.holder().as_deref(), Some("b"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_released_lease_is_taken_at_once() {
        let store = Arc::new(MemStore::default());
        let a = LeaseLock::with_store(Link::to(&store), cfg("a"), clock(SignedDuration::ZERO));
        let b = LeaseLock::with_store(Link::to(&store), cfg("b"), clock(SignedDuration::ZERO));
        let (la, lb) = (Leadership::default(), Leadership::default());
        a.acquire(&la).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        assert_eq!(
            b.try_acquire_or_renew(deadline).await.unwrap(),
            Attempt::HeldBy("a".into())
        );
        a.release(&la).await.unwrap();
        assert!(!la.is_leader(), "stops writing before giving the Lease up");
        b.acquire(&lb).await;
        assert!(lb.is_leader());
        // Releasing a Lease one does not hold changes nothing.
        a.release(&la).await.unwrap();
        assert_eq!(store.holder().as_deref(), Some("b"));
    }
}
