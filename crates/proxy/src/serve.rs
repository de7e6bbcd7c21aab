//! [`serve`]: accepts connections and serves each with hyper (HTTP/1.1 and HTTP/2, by what the
//! client speaks), until a shutdown signal; then stops accepting and lets requests in flight
//! finish.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::body::ProxyBody;
use crate::limit::ClientAddr;

/// How long a client may take to send a request's head: a slow client cannot hold a connection
/// open forever.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The most bytes a request's head (request line and headers) may take; past it hyper answers
/// 431 before the request reaches crossgate's code.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The most connections served at once; past it, new connections wait in the listener's backlog
/// until one closes (so a flood of idle connections cannot exhaust file descriptors).
pub const MAX_CONNECTIONS: usize = 4096;

/// Serves `service` on `listener` until `shutdown` completes, then waits for the requests in
/// flight (at most `drain` long).
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) where
    S: tower_service::Service<Request<Incoming>, Response = Response<ProxyBody>>
        + Clone
        + Send
        + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Future: Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES);
    builder
        .http2()
        .max_header_list_size(u32::try_from(MAX_HEAD_BYTES).unwrap_or(u32::MAX));
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors, a connection reset before accept: keep serving,
                    // after a pause that keeps a persistent error from spinning the loop.
                    tracing::warn!(target: "crossgate_proxy", "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = builder
            .serve_connection_with_upgrades(
                TokioIo::new(stream),
                TowerToHyperService::new(WithPeer {
                    inner: service.clone(),
                    peer,
                }),
            )
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(target: "crossgate_proxy", %peer, "connection ended: {e}");
            }
            drop(permit);
        });
    }
    tracing::info!(target: "crossgate_proxy", "shutting down: finishing requests in flight");
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(target: "crossgate_proxy", "requests still in flight after {drain:?}; stopping");
    }
}

/// Marks each request with the address of the connection it came on ([`ClientAddr`]), for the
/// per-client rate limits.
#[derive(Clone)]
struct WithPeer<S> {
    inner: S,
    peer: std::net::SocketAddr,
}

impl<S> tower_service::Service<Request<Incoming>> for WithPeer<S>
where
    S: tower_service::Service<Request<Incoming>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Incoming>) -> S::Future {
        request.extensions_mut().insert(ClientAddr(self.peer));
        self.inner.call(request)
    }
}
