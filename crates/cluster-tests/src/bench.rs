//! What the harness-less cluster benches (`benches/cluster.rs`, `benches/memory.rs`) share: their
//! `main`, which starts the cluster (or takes the caller's), runs the bench on a two-worker runtime
//! and prints its report.

use std::{
    future::Future,
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Result;

use crate::cluster::Cluster;

/// Runs `bench` against the cluster named by `SIDECARSET_CLUSTER_DIR`, else a new one (stopped after
/// every task using it is gone), and prints the report it returns. `name` prefixes what goes to
/// stderr. Cargo passes `--bench` (and a filter, if given) to a harness-less bench: nothing to filter.
pub fn main<F, Fut>(name: &str, bench: F) -> ExitCode
where
    F: FnOnce(Arc<Cluster>) -> Fut,
    Fut: Future<Output = Result<String>>,
{
    let started = Instant::now();
    let cluster = match Cluster::from_env_or_start() {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("{name}: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let res = rt.block_on(bench(cluster.clone()));
    drop(rt);
    drop(cluster);
    match res {
        Ok(report) => {
            println!("{report}");
            println!(
                "total wall time (cluster start to stop): {}",
                secs(started.elapsed())
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{name} FAILED: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A duration for a report: milliseconds below 10 s, minutes and seconds from 2 min.
pub fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 120.0 {
        format!("{s:.0} s ({}m{:02}s)", d.as_secs() / 60, d.as_secs() % 60)
    } else if s >= 10.0 {
        format!("{s:.1} s")
    } else {
        format!("{:.0} ms", s * 1000.0)
    }
}
