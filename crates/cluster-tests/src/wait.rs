//! Polling with a deadline: the cluster converges asynchronously.

use std::{future::Future, time::Duration};

use anyhow::{Result, bail};

/// Polls `f` every 200 ms until it returns `Ok(Some(v))`, for at most `timeout`. `Ok(None)` means
/// "not yet"; an `Err` ends the wait at once. On timeout the error names `what` and the last state
/// `describe` gives.
pub async fn until<T, F, Fut>(
    timeout: Duration,
    what: &str,
    mut f: F,
    describe: impl AsyncFnOnce() -> String,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await? {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= deadline {
            let state = describe().await;
            bail!("timed out after {timeout:?} waiting for {what}; last state:\n{state}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
