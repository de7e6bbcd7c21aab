//! [`serve`]: accepts connections and serves each with hyper (HTTP/1.1 and HTTP/2, by what the
//! client speaks), until a shutdown signal; then stops accepting and lets requests in flight
//! finish.
//!
//! No connection is held forever ([`ConnectionTimeouts`]): an HTTP/1.1 client has
//! [`ConnectionTimeouts::idle`] to send each request head, counted from the moment its connection
//! is idle (so it is also the keep-alive idle timeout); an HTTP/2 connection is pinged, and
//! closed when a ping goes unanswered; and a connection of either kind with no request in flight
//! for [`ConnectionTimeouts::idle`] is shut down gracefully (HTTP/2: `GOAWAY`). A client that
//! stops reading is closed too: a connection with bytes to write that writes none of them for
//! [`ConnectionTimeouts::send_timeout`] fails (nginx's `send_timeout`), and so does one with an
//! answer whose body hyper has not asked for a frame for as long: over HTTP/2, a stream the client
//! gives no flow-control window while it keeps reading the connection (nothing waits to be
//! written then, so the first check cannot see it). Each HTTP/2 answer, and each HTTP/1.1 answer
//! of more than one frame, is watched; the watch is checked four times per timeout.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use crate::body::{BoxError, ProxyBody};
use crate::limit::ClientAddr;
use crate::send_timeout::SendTimeout;

/// How long a client may take to send a request's head, and how long a connection may stay idle
/// (the default [`ConnectionTimeouts::idle`]): a slow client cannot hold a connection open
/// forever.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How often an HTTP/2 connection is pinged (the default
/// [`ConnectionTimeouts::keep_alive_interval`]).
pub const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(20);

/// How long an HTTP/2 ping may go unanswered before the connection is closed (the default
/// [`ConnectionTimeouts::keep_alive_timeout`]).
pub const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a connection may have bytes to write and write none of them (the client reads
/// nothing) before it is closed (the default [`ConnectionTimeouts::send_timeout`]).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// The most bytes a request's head (request line and headers) may take; past it hyper answers
/// 431 before the request reaches crossgate's code.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The most connections served at once; past it, new connections wait in the listener's backlog
/// until one closes (so a flood of idle connections cannot exhaust file descriptors).
pub const MAX_CONNECTIONS: usize = 4096;

/// How long client connections may be held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionTimeouts {
    /// HTTP/1.1: the longest a client may take to send a request head, counted from the moment
    /// its connection is idle too (hyper's header read timeout). Both protocols: the longest a
    /// connection may stay open without a request in flight; then it is shut down gracefully.
    pub idle: Duration,
    /// HTTP/2: how often the proxy pings the client.
    pub keep_alive_interval: Duration,
    /// HTTP/2: how long a ping may go unanswered before the connection is closed (a client that
    /// vanished without closing it).
    pub keep_alive_timeout: Duration,
    /// Both protocols: how long a connection may have bytes to write and write none of them
    /// before it is closed (nginx's `send_timeout`): a client that stops reading fills its
    /// socket, hyper stops pulling the answer's body, and no body timeout can fire. The clock
    /// runs only while a write waits, and restarts at each write that makes progress. Also per
    /// answer: a body hyper has not asked for its next frame for this long (over HTTP/2, a
    /// stream given no flow-control window) closes the connection. `None`: no limit.
    pub send_timeout: Option<Duration>,
}

impl Default for ConnectionTimeouts {
    /// [`HEADER_READ_TIMEOUT`], [`KEEP_ALIVE_INTERVAL`], [`KEEP_ALIVE_TIMEOUT`],
    /// [`SEND_TIMEOUT`].
    fn default() -> ConnectionTimeouts {
        ConnectionTimeouts {
            idle: HEADER_READ_TIMEOUT,
            keep_alive_interval: KEEP_ALIVE_INTERVAL,
            keep_alive_timeout: KEEP_ALIVE_TIMEOUT,
            send_timeout: Some(SEND_TIMEOUT),
        }
    }
}

/// What the proxy serves: a cloneable, sendable service from hyper's requests to the proxy's
/// answers (a mode's service with its layers). Implemented for every such service.
pub trait ProxyService:
    tower_service::Service<
        Request<Incoming>,
        Response = Response<ProxyBody>,
        Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<S> ProxyService for S where
    S: tower_service::Service<
            Request<Incoming>,
            Response = Response<ProxyBody>,
            Error: Into<Box<dyn std::error::Error + Send + Sync>>,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

/// Serves `service` on `listener` until `shutdown` completes, then waits for the requests in
/// flight (at most `drain` long); connections are held as [`ConnectionTimeouts::default`] says.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) where
    S: ProxyService,
{
    serve_with(
        listener,
        service,
        shutdown,
        drain,
        ConnectionTimeouts::default(),
    )
    .await;
}

/// [`serve`], with connections held as `timeouts` says.
pub async fn serve_with<S>(
    listener: TcpListener,
    service: S,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
    timeouts: ConnectionTimeouts,
) where
    S: ProxyService,
{
    serve_connections(listener, service, shutdown, drain, timeouts, None).await;
}

/// Workers that accept from one listening socket (each a clone of it, on a runtime of its own),
/// and how many connections each is serving. A worker ahead of the least busy one by more than
/// one connection lets the others accept first, for up to [`Share::DEFER`]: without it the
/// worker that happens to be running takes a burst of new connections whole, and the other
/// core idles while its clients wait (measured: all 64 of a benchmark's connections on one of two
/// workers, one run in three). Kernel hashing (`SO_REUSEPORT`) splits them unevenly too.
#[derive(Clone, Debug)]
pub struct Share {
    index: usize,
    live: Arc<[AtomicUsize]>,
}

impl Share {
    /// How long a worker ahead of the others waits before it accepts anyway (the others may all
    /// be busy, or have been told of the connection already and missed it).
    pub const DEFER: Duration = Duration::from_millis(1);

    /// One share for each of `workers` workers.
    pub fn split(workers: usize) -> Vec<Share> {
        let live: Arc<[AtomicUsize]> = (0..workers.max(1)).map(|_| AtomicUsize::new(0)).collect();
        (0..workers.max(1))
            .map(|index| Share {
                index,
                live: live.clone(),
            })
            .collect()
    }

    /// Whether this worker serves more than one connection more than the least busy one.
    fn ahead(&self) -> bool {
        let mine = self.live[self.index].load(Ordering::Relaxed);
        let least = self
            .live
            .iter()
            .map(|live| live.load(Ordering::Relaxed))
            .min()
            .unwrap_or(mine);
        mine > least + 1
    }

    /// Counts a connection until the guard is dropped.
    fn count(&self) -> Counted {
        self.live[self.index].fetch_add(1, Ordering::Relaxed);
        Counted(self.clone())
    }
}

/// A connection counted in its worker's [`Share`].
struct Counted(Share);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.live[self.0.index].fetch_sub(1, Ordering::Relaxed);
    }
}

/// [`serve_with`] for one of several workers sharing a listening socket (see [`Share`]).
pub async fn serve_shared<S>(
    listener: TcpListener,
    service: S,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
    timeouts: ConnectionTimeouts,
    share: Share,
) where
    S: ProxyService,
{
    serve_connections(listener, service, shutdown, drain, timeouts, Some(share)).await;
}

async fn serve_connections<S>(
    listener: TcpListener,
    service: S,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
    timeouts: ConnectionTimeouts,
    share: Option<Share>,
) where
    S: ProxyService,
{
    // Each connection holds a receiver until it is done: `closed` tells when all are.
    let (stop, stopping) = watch::channel(());
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.idle)
        .max_buf_size(MAX_HEAD_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(timeouts.keep_alive_interval)
        .keep_alive_timeout(timeouts.keep_alive_timeout)
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
        if share.as_ref().is_some_and(Share::ahead) {
            tokio::select! {
                () = tokio::time::sleep(Share::DEFER) => {}
                () = &mut shutdown => break,
            }
        }
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
        let counted = share.as_ref().map(Share::count);
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let connection = builder
            .serve_connection_with_upgrades(
                TokioIo::new(SendTimeout::new(stream, timeouts.send_timeout)),
                TowerToHyperService::new(WithPeer {
                    inner: service.clone(),
                    peer,
                    activity: activity.clone(),
                }),
            )
            .into_owned();
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            // One timer for both deadlines, the idle one and the next check of the send timeout
            // per answer (a body whose frame hyper has held that long: an HTTP/2 stream the
            // client gives no window, while it reads the rest), checked four times per timeout:
            // one timer to poll at each wake-up, not two.
            let every = timeouts
                .send_timeout
                .map(|timeout| (timeout / 4).max(Duration::from_millis(10)));
            let mut idle_at = Instant::now() + timeouts.idle;
            let mut check_at = every.map(|every| Instant::now() + every);
            let mut closing = false;
            let timer = tokio::time::sleep_until(next_deadline(idle_at, check_at, closing));
            let mut timer = std::pin::pin!(timer);
            {
                // Made once: a `changed()` made anew at each wake-up would join the channel's
                // waiters and leave them again every time.
                let mut stop = std::pin::pin!(stopping.changed());
                loop {
                    tokio::select! {
                        biased;
                        ended = connection.as_mut() => {
                            if let Err(e) = ended {
                                tracing::debug!(target: "crossgate_proxy", %peer, "connection ended: {e}");
                            }
                            break;
                        }
                        _ = stop.as_mut(), if !closing => {
                            closing = true;
                            connection.as_mut().graceful_shutdown();
                        }
                        () = timer.as_mut() => {
                            let now = Instant::now();
                            if let (Some(timeout), Some(every), Some(at)) = (timeouts.send_timeout, every, check_at) {
                                if now >= at {
                                    if let Some(held) = activity.longest_hold().filter(|held| *held >= timeout) {
                                        tracing::warn!(
                                            target: "crossgate_proxy",
                                            %peer,
                                            "closing a connection: it has taken no bytes of an answer for {} ms (send timeout; over HTTP/2, no flow-control window for the stream)",
                                            held.as_millis()
                                        );
                                        break;
                                    }
                                    check_at = Some(now + every);
                                }
                            }
                            if !closing && now >= idle_at {
                                match activity.idle_deadline(timeouts.idle) {
                                    Some(next) => idle_at = next,
                                    None => {
                                        tracing::debug!(
                                            target: "crossgate_proxy",
                                            %peer,
                                            "closing a connection idle for {} ms",
                                            timeouts.idle.as_millis()
                                        );
                                        closing = true;
                                        connection.as_mut().graceful_shutdown();
                                    }
                                }
                            }
                            timer.as_mut().reset(next_deadline(idle_at, check_at, closing));
                        }
                    }
                }
            }
            drop(stopping);
            drop(counted);
            drop(permit);
        });
    }
    drop(stopping);
    tracing::info!(target: "crossgate_proxy", "shutting down: finishing requests in flight");
    let _ = stop.send(());
    if tokio::time::timeout(drain, stop.closed()).await.is_err() {
        tracing::warn!(target: "crossgate_proxy", "requests still in flight after {drain:?}; stopping");
    }
}

/// When a connection's timer must fire next: at the idle deadline (unless the connection is
/// closing already) or at the next check of the send timeout, whichever comes first; a day away
/// when neither applies (the timer is reset before then).
fn next_deadline(idle_at: Instant, check_at: Option<Instant>, closing: bool) -> Instant {
    let idle_at = (!closing).then_some(idle_at);
    match (idle_at, check_at) {
        (Some(a), Some(b)) => a.min(b),
        (Some(at), None) | (None, Some(at)) => at,
        (None, None) => Instant::now() + Duration::from_secs(24 * 60 * 60),
    }
}

/// What a connection is doing: the requests whose answer is not finished (head and body), and
/// when the last one began or ended.
#[derive(Debug)]
struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `opened`.
    last: AtomicU64,
    /// The bodies being streamed (more than one frame): each slot holds when hyper last took a
    /// frame from it without coming back for the next (milliseconds after `opened`, plus one),
    /// or 0 while hyper is asking it for one.
    held: std::sync::Mutex<Vec<Arc<AtomicU64>>>,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last: AtomicU64::new(0),
            held: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn millis(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A new slot in `held`, holding from now.
    fn hold(&self) -> Arc<AtomicU64> {
        let slot = Arc::new(AtomicU64::new(self.millis() + 1));
        if let Ok(mut all) = self.held.lock() {
            all.push(slot.clone());
        }
        slot
    }

    /// How long the body hyper has been holding a frame of the longest (without asking for the
    /// next) has been held: over HTTP/2, a stream the client gives no flow-control window.
    fn longest_hold(&self) -> Option<Duration> {
        let now = self.millis();
        let held = self.held.lock().ok()?;
        held.iter()
            .map(|slot| slot.load(Ordering::Relaxed))
            .filter(|&since| since > 0)
            .min()
            .map(|since| Duration::from_millis(now.saturating_sub(since - 1)))
    }

    fn touch(&self) {
        self.last.store(self.millis(), Ordering::Relaxed);
    }

    /// A request begins: its answer is in flight until the guard is dropped (with the body).
    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.touch();
        InFlight(self.clone())
    }

    /// When the connection will have been idle for `idle`, or `None` if it already has.
    fn idle_deadline(&self, idle: Duration) -> Option<Instant> {
        let now = Instant::now();
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return Some(now + idle);
        }
        let due = self.opened + Duration::from_millis(self.last.load(Ordering::Relaxed)) + idle;
        (due > now).then_some(due)
    }
}

/// A request whose answer is not finished.
#[derive(Debug)]
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An answer's body, holding its request's [`InFlight`] until hyper is done with it, and
/// telling its connection's [`Activity`] when hyper holds one of its frames (a body of one frame,
/// most answers, is never tracked).
#[derive(Debug)]
struct Answer {
    body: ProxyBody,
    in_flight: Option<InFlight>,
    held: Option<Arc<AtomicU64>>,
}

impl Body for Answer {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Some(held) = &this.held {
            held.store(0, Ordering::Relaxed);
        }
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        if let (Poll::Ready(Some(Ok(_))), Some(in_flight)) = (&polled, &this.in_flight) {
            if !this.body.is_end_stream() {
                let activity = &in_flight.0;
                match &this.held {
                    Some(held) => held.store(activity.millis() + 1, Ordering::Relaxed),
                    None => this.held = Some(activity.hold()),
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        if let (Some(held), Some(in_flight)) = (&self.held, &self.in_flight) {
            if let Ok(mut all) = in_flight.0.held.lock() {
                all.retain(|slot| !Arc::ptr_eq(slot, held));
            }
        }
    }
}

/// Marks each request with the address of the connection it came on ([`ClientAddr`]), for the
/// per-client rate limits, and counts it in its connection's [`Activity`].
#[derive(Clone)]
struct WithPeer<S> {
    inner: S,
    peer: std::net::SocketAddr,
    activity: Arc<Activity>,
}

impl<S> tower_service::Service<Request<Incoming>> for WithPeer<S>
where
    S: tower_service::Service<Request<Incoming>, Response = Response<ProxyBody>>,
{
    type Response = Response<Answer>;
    type Error = S::Error;
    type Future = Answering<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Incoming>) -> Self::Future {
        request.extensions_mut().insert(ClientAddr(self.peer));
        // HTTP/2: hyper asks a body for its first frame only once the stream has window, so a
        // stream the client gives none is watched from the start.
        let watched = request.version() == http::Version::HTTP_2;
        Answering {
            in_flight: Some(self.activity.begin()),
            watched,
            future: self.inner.call(request),
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner service's future, its body then wrapped in an [`Answer`].
    struct Answering<F> {
        #[pin]
        future: F,
        in_flight: Option<InFlight>,
        watched: bool,
    }
}

impl<F, E> Future for Answering<F>
where
    F: Future<Output = Result<Response<ProxyBody>, E>>,
{
    type Output = Result<Response<Answer>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = std::task::ready!(this.future.poll(cx))?;
        let in_flight = this.in_flight.take();
        let held = match &in_flight {
            Some(in_flight) if *this.watched => Some(in_flight.0.hold()),
            _ => None,
        };
        Poll::Ready(Ok(response.map(|body| Answer {
            body,
            in_flight,
            held,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_more_than_one_connection_ahead_lets_the_others_accept() {
        let shares = Share::split(2);
        let (first, second) = (&shares[0], &shares[1]);
        assert!(!first.ahead() && !second.ahead(), "none to start with");
        let one = first.count();
        assert!(!first.ahead(), "one ahead is within the slack");
        let two = first.count();
        assert!(first.ahead(), "two ahead waits for the others");
        assert!(!second.ahead());
        let theirs = second.count();
        assert!(!first.ahead());
        drop((theirs, two));
        assert!(!first.ahead(), "closed connections are no longer counted");
        drop(one);
        assert_eq!(first.live[0].load(Ordering::Relaxed), 0);
        assert_eq!(Share::split(0).len(), 1, "always at least one worker");
    }
}
