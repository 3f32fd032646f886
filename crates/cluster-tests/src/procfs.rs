//! A process's memory and CPU from `/proc` (the reconciler's, in the benches).

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

/// One reading of `/proc/PID/status` and `/proc/PID/stat`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcStatus {
    pub rss_kib: u64,
    /// The resident set's high-water mark since the process started.
    pub hwm_kib: u64,
    /// The anonymous part of the resident set (heap, stacks): what the allocator holds.
    pub anon_kib: u64,
    /// User + system CPU time.
    pub cpu: Duration,
}

impl ProcStatus {
    pub fn read(pid: u32) -> Result<ProcStatus> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("reading /proc/{pid}/status (has the reconciler exited?)"))?;
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        // utime and stime are fields 14 and 15 of stat(5); `rest` starts at field 3.
        let cpu_ticks = ticks(11) + ticks(12);
        Ok(ProcStatus {
            rss_kib: kib("VmRSS:"),
            hwm_kib: kib("VmHWM:"),
            anon_kib: kib("RssAnon:"),
            cpu: Duration::from_secs_f64(cpu_ticks as f64 / clock_ticks() as f64),
        })
    }
}

fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
            .unwrap_or(100)
    })
}

/// The reconciler's RSS every second, for the timeline.
pub struct Sampler {
    samples: Arc<Mutex<Vec<(Instant, ProcStatus)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    pub fn start(pid: u32) -> Sampler {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let out = samples.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                match ProcStatus::read(pid) {
                    Ok(s) => lock(&out).push((Instant::now(), s)),
                    Err(_) => return,
                }
            }
        });
        Sampler { samples, task }
    }

    pub async fn stop(self) -> Vec<(Instant, ProcStatus)> {
        self.task.abort();
        let _ = self.task.await;
        std::mem::take(&mut *lock(&self.samples))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
