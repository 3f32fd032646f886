//! The client-side write budget: one token bucket that every API write of the reconciler waits on.
//!
//! `maxUnavailable: 20%` of 100k Pods is 20,000 patches in one round; sent as fast as the API server
//! answers, they crowd out every other client of it. controller-runtime gives each client a
//! QPS/burst limiter (20 and 30 when unset; Kruise's manager sets 30 and 50 with its
//! `--rest-config-qps`/`--rest-config-burst`, in its `main.go`); kube-rs has none, so this is that
//! limiter with Kruise's manager's values, for writes only (reads come from the watch caches):
//! Pod patches, status-condition patches, the policy's status annotation and Events share it. The
//! leader-election Lease does not: a renewal queued behind a rollout would let the Lease expire.
//!
//! A write that waits is late, not dropped: a slow budget slows the rollout and skips no step (the
//! one write dropped is one whose turn comes after leadership ended: [`crate::write_gate`]).
//! Waiters are served in the order they asked (each takes its slot under the lock, then sleeps
//! without it).
//!
//! Written here rather than taken from `governor`: its waits run on `futures-timer`'s own thread and
//! clock, which tokio's paused test clock does not drive, and what it adds over these lines (keyed
//! limiters, jitter) is not needed.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use prometheus_client::metrics::{counter::Counter, gauge::Gauge};
use tokio::time::Instant;

use crate::metrics::Metrics;

/// `--max-writes-per-second` and `--max-write-burst`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WriteRate {
    /// Tokens added per second.
    pub per_second: f64,
    /// The bucket's size: writes that may go at once after a quiet spell.
    pub burst: u32,
}

impl Default for WriteRate {
    /// Kruise's manager's client (`--rest-config-qps` 30, `--rest-config-burst` 50), which counts its
    /// reads too: this budget counts writes only.
    fn default() -> Self {
        WriteRate {
            per_second: 30.0,
            burst: 50,
        }
    }
}

#[derive(Debug)]
struct Bucket {
    /// Below zero: slots already promised to waiters.
    tokens: f64,
    at: Instant,
}

pub struct WriteBudget {
    rate: WriteRate,
    bucket: Mutex<Bucket>,
    queued: Gauge,
    throttled: Counter,
    waited: Counter<f64, std::sync::atomic::AtomicU64>,
}

impl WriteBudget {
    /// A full bucket.
    pub fn new(rate: WriteRate, metrics: &Metrics) -> Arc<Self> {
        Arc::new(WriteBudget {
            rate,
            bucket: Mutex::new(Bucket {
                tokens: f64::from(rate.burst),
                at: Instant::now(),
            }),
            queued: metrics.writes_queued.clone(),
            throttled: metrics.writes_throttled.clone(),
            waited: metrics.write_wait_seconds.clone(),
        })
    }

    pub fn rate(&self) -> WriteRate {
        self.rate
    }

    /// Takes the next slot; returns how long until it is due.
    fn reserve(&self) -> Duration {
        let mut b = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let refill = now.saturating_duration_since(b.at).as_secs_f64() * self.rate.per_second;
        b.tokens = (b.tokens + refill).min(f64::from(self.rate.burst));
        b.at = now;
        b.tokens -= 1.0;
        if b.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-b.tokens / self.rate.per_second)
        }
    }

    /// Waits for a token. Cancelled while waiting, the slot is not given back: the budget errs on
    /// the slow side.
    pub async fn acquire(&self) {
        let wait = self.reserve();
        if wait.is_zero() {
            return;
        }
        self.throttled.inc();
        self.waited.inc_by(wait.as_secs_f64());
        self.queued.inc();
        let _queued = Dequeue(&self.queued);
        tokio::time::sleep(wait).await;
    }
}

/// Takes a waiter off the gauge however its wait ends.
struct Dequeue<'a>(&'a Gauge);

impl Drop for Dequeue<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(per_second: f64, burst: u32) -> (Arc<WriteBudget>, Metrics) {
        let m = Metrics::default();
        (WriteBudget::new(WriteRate { per_second, burst }, &m), m)
    }

    fn ms(d: Duration) -> u128 {
        d.as_millis()
    }

    #[tokio::test(start_paused = true)]
    async fn the_burst_goes_at_once_then_one_write_per_interval() {
        let (b, m) = budget(2.0, 3);
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..6 {
            b.acquire().await;
            at.push(ms(start.elapsed()));
        }
        assert_eq!(at, [0, 0, 0, 500, 1000, 1500]);
        assert_eq!(m.writes_throttled.get(), 3);
        assert!((m.write_wait_seconds.get() - 1.5).abs() < 1e-9);
        assert_eq!(m.writes_queued.get(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_spell_refills_up_to_the_burst_and_no_more() {
        let (b, _) = budget(10.0, 2);
        for _ in 0..2 {
            b.acquire().await;
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
        let start = Instant::now();
        for _ in 0..3 {
            b.acquire().await;
        }
        assert_eq!(
            ms(start.elapsed()),
            100,
            "two from the bucket, the third waits"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_writers_share_the_budget_and_are_counted_while_they_wait() {
        let (b, m) = budget(4.0, 1);
        let start = Instant::now();
        let tasks: Vec<_> = (0..5)
            .map(|_| {
                let b = b.clone();
                tokio::spawn(async move {
                    b.acquire().await;
                    ms(start.elapsed())
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(m.writes_queued.get(), 4, "one went, four wait");
        let mut done = Vec::new();
        for t in tasks {
            done.push(t.await.unwrap());
        }
        done.sort_unstable();
        assert_eq!(done, [0, 250, 500, 750, 1000]);
        assert_eq!(m.writes_queued.get(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_wait_leaves_the_queue() {
        let (b, m) = budget(1.0, 1);
        b.acquire().await;
        let r = tokio::time::timeout(Duration::from_millis(100), b.acquire()).await;
        assert!(r.is_err(), "the second write waits a second");
        assert_eq!(m.writes_queued.get(), 0);
    }
}
