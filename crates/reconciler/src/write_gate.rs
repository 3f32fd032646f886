//! The write gate: a layer in the write client's stack that every API write of the reconciler
//! passes at the moment it is sent (Pod and Pod-status patches, the policy's status annotation,
//! Events, ControllerRevisions; not the Lease, which has a client of its own).
//!
//! For each write (any method but GET, HEAD and OPTIONS):
//!
//! 1. **Pace**: wait for a token of the write budget ([`crate::pacing`]).
//! 2. **Fence**: then check [`Leadership`]. A write still queued when leadership ended is dropped,
//!    never sent, and counted (`sidecarset_reconciler_writes_dropped_total{reason="not_leader"}`);
//!    the caller gets [`NotLeader`]. Checking here, after the token and not when the round started,
//!    is what keeps an old leader's queue of writes from landing after a standby took over
//!    (docs/operations.md#one-writer-at-a-time).
//! 3. **Server throttling**: a 429 answer is waited out for its `Retry-After` (1 s when it has
//!    none), then the write goes through 1 and 2 again. It is not a failure: the write is late, as
//!    with the client budget. kube's own retry layer is off in this client, since it would resend
//!    from below the fence.
//!
//! Reads pass untouched: they come from the watches, or are the few GETs a write needs.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use prometheus_client::metrics::counter::Counter;
use tower::{BoxError, Layer, Service};
use tracing::{debug, warn};

use crate::{leader::Leadership, metrics::Metrics, pacing::WriteBudget};

/// The error a fenced write ends with (inside `kube::Error::Service`): see [`is_not_leader`].
#[derive(Debug, thiserror::Error)]
#[error("write dropped: this instance is no longer the leader")]
pub struct NotLeader;

/// Whether a failed request was a write the fence dropped.
pub fn is_not_leader(e: &kube::Error) -> bool {
    match e {
        kube::Error::Service(e) => e.downcast_ref::<NotLeader>().is_some(),
        _ => false,
    }
}

/// How long a 429 without `Retry-After` is waited out (client-go's default for a missing header).
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// A `Retry-After` longer than this is cut to it: a write waiting minutes would hold its round, and
/// the leadership deadline is checked again after the wait anyway.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct WriteGate {
    budget: Arc<WriteBudget>,
    leadership: Leadership,
    dropped: Counter,
    server_throttled: Counter,
}

impl WriteGate {
    pub fn new(budget: Arc<WriteBudget>, leadership: Leadership, metrics: &Metrics) -> Self {
        WriteGate {
            budget,
            leadership,
            dropped: metrics.writes_dropped_not_leader(),
            server_throttled: metrics.writes_server_throttled.clone(),
        }
    }

    pub fn budget(&self) -> &Arc<WriteBudget> {
        &self.budget
    }

    /// Waits for the budget, then says whether the write may go.
    async fn admit(&self) -> Result<(), NotLeader> {
        self.budget.acquire().await;
        if self.leadership.is_leader() {
            Ok(())
        } else {
            self.dropped.inc();
            Err(NotLeader)
        }
    }
}

impl<S> Layer<S> for WriteGate {
    type Service = Gated<S>;
    fn layer(&self, inner: S) -> Gated<S> {
        Gated {
            inner,
            gate: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Gated<S> {
    inner: S,
    gate: WriteGate,
}

fn is_write(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The request again, for a resend after a 429 (kube's bodies are buffered bytes; a streamed one
/// cannot be resent and its 429 is handed back as it is).
fn copy(req: &Request<Body>) -> Option<Request<Body>> {
    let mut again = Request::new(req.body().try_clone()?);
    *again.method_mut() = req.method().clone();
    *again.uri_mut() = req.uri().clone();
    *again.version_mut() = req.version();
    *again.headers_mut() = req.headers().clone();
    *again.extensions_mut() = req.extensions().clone();
    Some(again)
}

fn retry_after<B>(res: &Response<B>) -> Duration {
    res.headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(DEFAULT_RETRY_AFTER, Duration::from_secs)
        .min(MAX_RETRY_AFTER)
}

impl<S, B> Service<Request<Body>> for Gated<S>
where
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Send + 'static,
{
    type Response = Response<B>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<B>, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        if !is_write(req.method()) {
            let fut = self.inner.call(req);
            return Box::pin(async move { fut.await.map_err(Into::into) });
        }
        // The service that was polled ready serves this call; a clone takes its place for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let gate = self.gate.clone();
        Box::pin(async move {
            let mut req = req;
            gate.admit().await?;
            loop {
                let again = copy(&req);
                let res = inner.call(req).await.map_err(Into::into)?;
                let Some(next) = again.filter(|_| res.status() == StatusCode::TOO_MANY_REQUESTS)
                else {
                    return Ok(res);
                };
                let wait = retry_after(&res);
                gate.server_throttled.inc();
                warn!(
                    wait_seconds = wait.as_secs_f64(),
                    uri = %next.uri(),
                    "the API server throttled a write (429); sending it again after Retry-After"
                );
                drop(res);
                tokio::time::sleep(wait).await;
                gate.admit().await?;
                futures::future::poll_fn(|cx| inner.poll_ready(cx))
                    .await
                    .map_err(Into::into)?;
                debug!(uri = %next.uri(), "resending the throttled write");
                req = next;
            }
        })
    }
}
