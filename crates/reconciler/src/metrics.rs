//! Prometheus metrics (prometheus-client, OpenMetrics text on `/metrics`).
//!
//! Per set (label `set` = the policy's name, or `file:<name>`): the status counts as gauges, so an alert
//! can compare `updated_ready_pods` with `matched_pods`; Pod writes by kind, so the "one write per Pod
//! per upgrade step" goal is observable in production and not only in a test. Process-wide: the
//! write budget's queue ([`crate::pacing`]), so a throttled rollout shows why it is slow.

use std::{sync::atomic::AtomicU64, time::Instant};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::{Metric, Registry},
};

use crate::{Error, status::SetStatus};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SetLabels {
    pub set: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub set: String,
    pub error: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DropLabels {
    /// `not_leader`: the write's turn came after leadership ended ([`crate::write_gate`]).
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WriteLabels {
    pub set: String,
    /// `upgrade`, `flip`, `not_upgradable`, `status`, `revision_create`, `revision_patch`,
    /// `revision_delete`.
    pub kind: String,
    /// `ok`, `conflict`, `error`.
    pub result: String,
}

pub struct Metrics {
    pub registry: Registry,
    /// The sets with per-set series, so that a set whose policy is gone can be forgotten
    /// ([`Metrics::forget_set`]); prometheus-client's families cannot be listed.
    known_sets: std::sync::Mutex<std::collections::BTreeSet<String>>,
    pub reconciles: Family<SetLabels, Counter>,
    pub failures: Family<ErrorLabels, Counter>,
    pub duration: Family<SetLabels, Histogram>,
    pub writes: Family<WriteLabels, Counter>,
    pub matched: Family<SetLabels, Gauge>,
    pub updated: Family<SetLabels, Gauge>,
    pub ready: Family<SetLabels, Gauge>,
    pub updated_ready: Family<SetLabels, Gauge>,
    pub not_upgradable: Family<SetLabels, Gauge>,
    pub uninjected: Family<SetLabels, Gauge>,
    pub invalid: Family<SetLabels, Gauge>,
    pub conflicts: Family<SetLabels, Gauge>,
    pub pinned_revision_missing: Family<SetLabels, Gauge>,
    pub max_unavailable_all_pods: Family<SetLabels, Gauge>,
    pub paused: Family<SetLabels, Gauge>,
    pub upgrades_pending: Family<SetLabels, Gauge>,
    pub max_unavailable: Family<SetLabels, Gauge>,
    pub leader: Gauge,
    pub writes_queued: Gauge,
    pub writes_throttled: Counter,
    pub write_wait_seconds: Counter<f64, AtomicU64>,
    pub writes_dropped: Family<DropLabels, Counter>,
    pub writes_server_throttled: Counter,
    pub leadership_lost: Counter,
}

/// A metric's name (after the registry's `sidecarset_reconciler` prefix) and help text.
type Help = (&'static str, &'static str);

const RECONCILES: Help = ("reconciles", "Reconciles run");
const FAILURES: Help = (
    "reconcile_failures",
    "Reconciles that failed, by error kind",
);
const DURATION: Help = (
    "reconcile_duration_seconds",
    "Time to read, plan and write one set",
);
const WRITES: Help = ("writes", "API writes made, by kind and result");
const MATCHED: Help = ("matched_pods", "Pods the set matches");
const UPDATED: Help = ("updated_pods", "Matched Pods on the set's current hash");
const READY: Help = ("ready_pods", "Matched Pods ready with consistent sidecars");
const UPDATED_READY: Help = ("updated_ready_pods", "Pods both updated and ready");
const NOT_UPGRADABLE: Help = (
    "not_upgradable_pods",
    "Matched Pods that only a recreation can update",
);
const UNINJECTED: Help = (
    "uninjected_pods",
    "Pods the set selects that were created without its sidecars",
);
const INVALID: Help = ("invalid_settings", "1 when the set's settings are invalid");
const CONFLICTS: Help = (
    "conflicts",
    "Clashes with other sets that can select the same Pods (a container, volume or annotation both declare)",
);
const MAX_UNAVAILABLE_ALL_PODS: Help = (
    "max_unavailable_all_pods",
    "1 when updateStrategy.maxUnavailable lets every matched Pod be unavailable at once",
);
const PAUSED: Help = ("paused", "1 while the set's updateStrategy.paused is true");
const UPGRADES_PENDING: Help = (
    "upgrades_pending",
    "1 when the set's last round had Pods its rollout means to upgrade (chosen, or held back by maxUnavailable or the write budget); 0 when paused, NotUpdate, every Pod updated, or the rest are kept by partition, excluded by updateStrategy.selector or not upgradable in place",
);
const MAX_UNAVAILABLE: Help = (
    "max_unavailable",
    "The set's updateStrategy.maxUnavailable resolved over its matched Pods (Kruise's rounding): how many updated Pods may be unavailable at once",
);
const LEADER: Help = ("leader", "1 while this instance holds the Lease");
const WRITES_QUEUED: Help = (
    "writes_queued",
    "API writes waiting for the write budget (--max-writes-per-second)",
);
const WRITES_THROTTLED: Help = (
    "writes_throttled",
    "API writes that waited for the write budget",
);
const WRITE_WAIT_SECONDS: Help = (
    "write_wait_seconds",
    "Time API writes spent waiting for the write budget",
);

const WRITES_DROPPED: Help = (
    "writes_dropped",
    "API writes never sent, by reason (not_leader: leadership ended while the write waited)",
);
const WRITES_SERVER_THROTTLED: Help = (
    "writes_server_throttled",
    "API writes the API server answered with 429 and that were sent again after Retry-After",
);
const LEADERSHIP_LOST: Help = (
    "leadership_lost",
    "Times this instance stopped leading without giving the Lease up (renew deadline passed, or another holder seen)",
);

const PINNED_REVISION_MISSING: Help = (
    "pinned_revision_missing",
    "1 when the set pins a revision it does not have: the policy refuses every Pod the set matches",
);

/// Registers `metric` and hands it back. Metrics are encoded in the order they are registered.
fn registered<M: Metric + Clone>(registry: &mut Registry, (name, help): Help, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

impl Default for Metrics {
    fn default() -> Self {
        let mut r = Registry::with_prefix("sidecarset_reconciler");
        let per_set = Family::<SetLabels, Gauge>::default;
        let duration = Family::<SetLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0])
        });
        // Field initialisers run in the order written: this is the order of `/metrics`.
        Metrics {
            reconciles: registered(&mut r, RECONCILES, Family::default()),
            failures: registered(&mut r, FAILURES, Family::default()),
            duration: registered(&mut r, DURATION, duration),
            writes: registered(&mut r, WRITES, Family::default()),
            matched: registered(&mut r, MATCHED, per_set()),
            updated: registered(&mut r, UPDATED, per_set()),
            ready: registered(&mut r, READY, per_set()),
            updated_ready: registered(&mut r, UPDATED_READY, per_set()),
            not_upgradable: registered(&mut r, NOT_UPGRADABLE, per_set()),
            uninjected: registered(&mut r, UNINJECTED, per_set()),
            invalid: registered(&mut r, INVALID, per_set()),
            conflicts: registered(&mut r, CONFLICTS, per_set()),
            pinned_revision_missing: registered(&mut r, PINNED_REVISION_MISSING, per_set()),
            max_unavailable_all_pods: registered(&mut r, MAX_UNAVAILABLE_ALL_PODS, per_set()),
            paused: registered(&mut r, PAUSED, per_set()),
            upgrades_pending: registered(&mut r, UPGRADES_PENDING, per_set()),
            max_unavailable: registered(&mut r, MAX_UNAVAILABLE, per_set()),
            leader: registered(&mut r, LEADER, Gauge::default()),
            writes_queued: registered(&mut r, WRITES_QUEUED, Gauge::default()),
            writes_throttled: registered(&mut r, WRITES_THROTTLED, Counter::default()),
            write_wait_seconds: registered(
                &mut r,
                WRITE_WAIT_SECONDS,
                Counter::<f64, AtomicU64>::default(),
            ),
            writes_dropped: registered(&mut r, WRITES_DROPPED, Family::default()),
            writes_server_throttled: registered(
                &mut r,
                WRITES_SERVER_THROTTLED,
                Counter::default(),
            ),
            leadership_lost: registered(&mut r, LEADERSHIP_LOST, Counter::default()),
            registry: r,
            known_sets: std::sync::Mutex::default(),
        }
    }
}

impl Metrics {
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    pub fn set_status(&self, set: &str, s: &SetStatus) {
        self.known_sets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(set.to_string());
        let l = SetLabels {
            set: set.to_string(),
        };
        self.matched.get_or_create(&l).set(s.matched_pods.into());
        self.updated.get_or_create(&l).set(s.updated_pods.into());
        self.ready.get_or_create(&l).set(s.ready_pods.into());
        self.updated_ready
            .get_or_create(&l)
            .set(s.updated_ready_pods.into());
        self.not_upgradable
            .get_or_create(&l)
            .set(s.not_upgradable_pods.into());
        self.uninjected
            .get_or_create(&l)
            .set(s.uninjected_pods.into());
        self.invalid
            .get_or_create(&l)
            .set(i64::from(s.error.is_some()));
        self.pinned_revision_missing
            .get_or_create(&l)
            .set(i64::from(s.pinned_revision_error.is_some()));
        self.conflicts
            .get_or_create(&l)
            .set(i64::try_from(s.conflicts.len()).unwrap_or(i64::MAX));
        self.paused.get_or_create(&l).set(i64::from(s.paused));
    }

    /// The sets whose status was exported and not forgotten since.
    pub fn sets(&self) -> Vec<String> {
        self.known_sets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Drops every per-set series of `set`: its policy is gone (deleted, or no longer selected by
    /// --policy-selector). Otherwise its gauges would stay at their last values for as long as the
    /// process runs, and an alert on them (invalid settings, a stalled rollout) would never resolve.
    /// The counters with more labels than the set (writes, failures) stay: a stale counter does
    /// not move, so no rate-based alert fires on it.
    pub fn forget_set(&self, set: &str) {
        self.known_sets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(set);
        let l = SetLabels {
            set: set.to_string(),
        };
        for family in [
            &self.matched,
            &self.updated,
            &self.ready,
            &self.updated_ready,
            &self.not_upgradable,
            &self.uninjected,
            &self.invalid,
            &self.conflicts,
            &self.pinned_revision_missing,
            &self.max_unavailable_all_pods,
            &self.paused,
            &self.upgrades_pending,
            &self.max_unavailable,
        ] {
            family.remove(&l);
        }
        self.reconciles.remove(&l);
        self.duration.remove(&l);
    }

    /// Whether the set's rollout has Pods left to upgrade ([`crate::round::SetRound::upgrades_pending`]):
    /// what tells a stalled rollout from a finished partitioned or paused one.
    pub fn set_upgrades_pending(&self, set: &str, pending: bool) {
        self.upgrades_pending
            .get_or_create(&SetLabels {
                set: set.to_string(),
            })
            .set(i64::from(pending));
    }

    /// The counter of writes the fence dropped.
    pub fn writes_dropped_not_leader(&self) -> Counter {
        self.writes_dropped
            .get_or_create(&DropLabels {
                reason: "not_leader".into(),
            })
            .clone()
    }

    pub fn write(&self, set: &str, kind: &str, result: &str) {
        self.writes
            .get_or_create(&WriteLabels {
                set: set.to_string(),
                kind: kind.to_string(),
                result: result.to_string(),
            })
            .inc();
    }

    pub fn failure(&self, set: &str, e: &Error) {
        self.failures
            .get_or_create(&ErrorLabels {
                set: set.to_string(),
                error: e.metric_label().to_string(),
            })
            .inc();
    }

    /// Counts a run and times it until the guard drops.
    pub fn start(&self, set: &str) -> ReconcileTimer<'_> {
        let labels = SetLabels {
            set: set.to_string(),
        };
        self.reconciles.get_or_create(&labels).inc();
        ReconcileTimer {
            metrics: self,
            labels,
            start: Instant::now(),
        }
    }
}

pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    labels: SetLabels,
    start: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.metrics
            .duration
            .get_or_create(&self.labels)
            .observe(self.start.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forgotten_set_leaves_no_per_set_series() {
        let m = Metrics::default();
        let status = SetStatus {
            name: "filebeat".into(),
            matched_pods: 3,
            error: Some("bad".into()),
            ..SetStatus::default()
        };
        m.set_status("gone", &status);
        m.set_status("kept", &status);
        m.set_upgrades_pending("gone", true);
        m.max_unavailable
            .get_or_create(&SetLabels { set: "gone".into() })
            .set(1);
        m.reconciles
            .get_or_create(&SetLabels { set: "gone".into() })
            .inc();
        assert_eq!(m.sets(), ["gone", "kept"]);
        m.forget_set("gone");
        assert_eq!(m.sets(), ["kept"]);
        let text = m.encode();
        assert!(!text.contains("set=\"gone\""), "{text}");
        assert!(
            text.contains("sidecarset_reconciler_invalid_settings{set=\"kept\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn every_error_has_a_distinct_snake_case_label() {
        let errors = [
            Error::Kube(Box::new(kube::Error::LinesCodecMaxLineLengthExceeded)),
            Error::InvalidSettings {
                policy: "p".into(),
                message: "m".into(),
            },
            Error::PodPatch {
                namespace: "n".into(),
                name: "p".into(),
                source: Box::new(kube::Error::LinesCodecMaxLineLengthExceeded),
            },
            Error::NotLeader,
            Error::SettingsFile {
                path: "f".into(),
                message: "m".into(),
            },
            Error::Config("c".into()),
            Error::CacheSync(std::time::Duration::from_secs(1)),
            Error::Json(serde_json::from_str::<u8>("x").unwrap_err()),
            Error::Revision {
                namespace: "n".into(),
                name: "r".into(),
                action: "create",
                source: Box::new(kube::Error::LinesCodecMaxLineLengthExceeded),
            },
            Error::RevisionCollision {
                set: "s".into(),
                attempts: 10,
            },
        ];
        let labels: std::collections::BTreeSet<_> =
            errors.iter().map(Error::metric_label).collect();
        assert_eq!(labels.len(), errors.len(), "{labels:?}");
        assert!(
            labels
                .iter()
                .all(|l| l.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        );
    }

    #[test]
    fn status_counts_and_writes_are_exported_per_set() {
        let m = Metrics::default();
        m.set_status(
            "fb",
            &SetStatus {
                matched_pods: 6,
                updated_pods: 2,
                updated_ready_pods: 1,
                ..Default::default()
            },
        );
        m.write("fb", "upgrade", "ok");
        m.write("fb", "upgrade", "ok");
        m.write("fb", "upgrade", "conflict");
        drop(m.start("fb"));
        let text = m.encode();
        for line in [
            r#"sidecarset_reconciler_matched_pods{set="fb"} 6"#,
            r#"sidecarset_reconciler_updated_pods{set="fb"} 2"#,
            r#"sidecarset_reconciler_updated_ready_pods{set="fb"} 1"#,
            r#"sidecarset_reconciler_writes_total{set="fb",kind="upgrade",result="ok"} 2"#,
            r#"sidecarset_reconciler_writes_total{set="fb",kind="upgrade",result="conflict"} 1"#,
            r#"sidecarset_reconciler_reconciles_total{set="fb"} 1"#,
            r#"sidecarset_reconciler_reconcile_duration_seconds_count{set="fb"} 1"#,
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }

    #[test]
    fn the_write_budget_and_the_budget_warning_are_exported() {
        let m = Metrics::default();
        m.writes_queued.set(3);
        m.writes_throttled.inc();
        m.write_wait_seconds.inc_by(0.25);
        m.max_unavailable_all_pods
            .get_or_create(&SetLabels { set: "fb".into() })
            .set(1);
        let text = m.encode();
        for line in [
            "sidecarset_reconciler_writes_queued 3",
            "sidecarset_reconciler_writes_throttled_total 1",
            "sidecarset_reconciler_write_wait_seconds_total 0.25",
            r#"sidecarset_reconciler_max_unavailable_all_pods{set="fb"} 1"#,
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }

    #[test]
    fn paused_and_pending_upgrades_are_exported_per_set() {
        let m = Metrics::default();
        m.set_status(
            "fb",
            &SetStatus {
                paused: true,
                ..Default::default()
            },
        );
        m.set_status("web", &SetStatus::default());
        m.set_upgrades_pending("web", true);
        m.set_upgrades_pending("fb", false);
        let text = m.encode();
        for line in [
            r#"sidecarset_reconciler_paused{set="fb"} 1"#,
            r#"sidecarset_reconciler_paused{set="web"} 0"#,
            r#"sidecarset_reconciler_upgrades_pending{set="web"} 1"#,
            r#"sidecarset_reconciler_upgrades_pending{set="fb"} 0"#,
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }

    #[test]
    fn failures_are_labelled_by_error_kind() {
        let m = Metrics::default();
        m.failure("fb", &Error::NotLeader);
        let text = m.encode();
        assert!(
            text.contains(
                r#"sidecarset_reconciler_reconcile_failures_total{set="fb",error="not_leader"} 1"#
            ),
            "{text}"
        );
    }
}
