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
//!
//! A new connection has [`ConnectionTimeouts::header`] (shorter than the idle timeout) to send
//! its first request head, or it is closed: a client that connects and then sends a byte now and
//! then holds a slot that long at most. Connections are counted across every worker
//! ([`Connections`]): at most so many in all, so many from one client IP; when all are in use,
//! idle keep-alive connections are closed first to make room (as nginx does), and the rest wait
//! in the listen backlog. An `accept` that fails for want of descriptors (`EMFILE`) closes idle
//! connections too, backs off (10 ms doubling to 1 s) and is logged once a second, never in a
//! loop. An HTTP/1.1 client that half-closes its side after its request (`shutdown(SHUT_WR)`)
//! still gets its answer.

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
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::body::{BoxError, ProxyBody};
use crate::budget::{ConnectionLimits, Connections, Refused};
use crate::send_timeout::SendTimeout;

/// How long a client may take to send a request's head, and how long a connection may stay idle
/// (the default [`ConnectionTimeouts::idle`]): a slow client cannot hold a connection open
/// forever.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a new connection has to send its first request head (the default
/// [`ConnectionTimeouts::header`]; nginx's `client_header_timeout` is 60 s, Envoy sets none by
/// default: shorter here, because a slot held by a client that sends nothing is what a slowloris
/// attack is made of).
pub const FIRST_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The most streams an HTTP/2 client may have open at once on one connection (the default
/// [`ConnectionTimeouts::max_streams`], `SETTINGS_MAX_CONCURRENT_STREAMS`; nginx's
/// `http2_max_concurrent_streams` is 128 too).
pub const MAX_STREAMS: u32 = 128;

/// How many idle keep-alive connections a worker closes at once when every connection is in use,
/// or descriptors run out (nginx closes 32 of its reusable connections then).
pub const EVICT_AT_ONCE: usize = 32;

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

/// How long client connections may be held, and how many HTTP/2 streams each may open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionTimeouts {
    /// How long a new connection has to send its first request head (both protocols: until
    /// its first request begins); then it is closed.
    pub header: Duration,
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
    /// HTTP/2: the most streams open at once on one connection
    /// (`SETTINGS_MAX_CONCURRENT_STREAMS`).
    pub max_streams: u32,
}

impl Default for ConnectionTimeouts {
    /// [`FIRST_HEADER_TIMEOUT`], [`HEADER_READ_TIMEOUT`], [`KEEP_ALIVE_INTERVAL`],
    /// [`KEEP_ALIVE_TIMEOUT`], [`SEND_TIMEOUT`], [`MAX_STREAMS`].
    fn default() -> ConnectionTimeouts {
        ConnectionTimeouts {
            header: FIRST_HEADER_TIMEOUT,
            idle: HEADER_READ_TIMEOUT,
            keep_alive_interval: KEEP_ALIVE_INTERVAL,
            keep_alive_timeout: KEEP_ALIVE_TIMEOUT,
            send_timeout: Some(SEND_TIMEOUT),
            max_streams: MAX_STREAMS,
        }
    }
}

/// The peer address of the connection a request came on: `serve` puts it in every request's
/// extensions (the rate limits and the budgets count clients by it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::SocketAddr);

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

/// [`serve`], with connections held as `timeouts` says (and counted within
/// [`ConnectionLimits::default`]).
pub async fn serve_with<S>(
    listener: TcpListener,
    service: S,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
    timeouts: ConnectionTimeouts,
) where
    S: ProxyService,
{
    let share = Share::split(1, Connections::new(ConnectionLimits::default()))
        .pop()
        .map(|share| Share {
            balance: false,
            ..share
        });
    if let Some(share) = share {
        serve_connections(listener, service, shutdown, drain, timeouts, share).await;
    }
}

/// Workers that accept from one listening socket (each a clone of it, on a runtime of its own),
/// and how many connections each is serving. A worker ahead of the least busy one by more than
/// one connection lets the others accept first, for up to [`Share::DEFER`]: without it the
/// worker that happens to be running takes a burst of new connections whole, and the other
/// core idles while its clients wait (measured: all 64 of a benchmark's connections on one of two
/// workers, one run in three). Kernel hashing (`SO_REUSEPORT`) splits them unevenly too.
/// The share also carries the process's [`Connections`], counted across every worker.
#[derive(Clone, Debug)]
pub struct Share {
    index: usize,
    live: Arc<[AtomicUsize]>,
    connections: Arc<Connections>,
    balance: bool,
}

impl Share {
    /// How long a worker ahead of the others waits before it accepts anyway (the others may all
    /// be busy, or have been told of the connection already and missed it).
    pub const DEFER: Duration = Duration::from_millis(1);

    /// One share for each of `workers` workers, all counting their connections in
    /// `connections`.
    pub fn split(workers: usize, connections: Arc<Connections>) -> Vec<Share> {
        let live: Arc<[AtomicUsize]> = (0..workers.max(1)).map(|_| AtomicUsize::new(0)).collect();
        (0..workers.max(1))
            .map(|index| Share {
                index,
                live: live.clone(),
                connections: connections.clone(),
                balance: true,
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
    serve_connections(listener, service, shutdown, drain, timeouts, share).await;
}

/// The connections of one worker, for closing idle keep-alive ones first when every connection
/// is in use (or descriptors ran out).
#[derive(Default)]
struct Registry {
    next: u64,
    live: std::collections::HashMap<u64, Arc<Activity>>,
}

impl Registry {
    fn add(registry: &std::sync::Mutex<Registry>, activity: &Arc<Activity>) -> u64 {
        let mut registry = registry.lock().unwrap_or_else(|e| e.into_inner());
        registry.next += 1;
        let id = registry.next;
        registry.live.insert(id, activity.clone());
        id
    }

    fn remove(registry: &std::sync::Mutex<Registry>, id: u64) {
        let mut registry = registry.lock().unwrap_or_else(|e| e.into_inner());
        registry.live.remove(&id);
    }

    /// Tells up to [`EVICT_AT_ONCE`] idle keep-alive connections (a request served, none in
    /// flight), the longest idle first, to close; returns how many.
    fn evict(registry: &std::sync::Mutex<Registry>) -> usize {
        let registry = registry.lock().unwrap_or_else(|e| e.into_inner());
        let mut idle: Vec<&Arc<Activity>> = registry
            .live
            .values()
            .filter(|activity| activity.idle_keep_alive())
            .collect();
        idle.sort_by_key(|activity| activity.last.load(Ordering::Relaxed));
        let evicted = idle.len().min(EVICT_AT_ONCE);
        for activity in idle.into_iter().take(EVICT_AT_ONCE) {
            activity.evict.notify_one();
        }
        evicted
    }
}

/// Logs a recurring event at most once a second, with how many times it happened since.
struct EverySecond {
    last: Option<Instant>,
    count: u64,
}

impl EverySecond {
    fn new() -> EverySecond {
        EverySecond {
            last: None,
            count: 0,
        }
    }

    /// Counts the event; `Some(count)` when it is time to log it.
    fn due(&mut self) -> Option<u64> {
        self.count += 1;
        let now = Instant::now();
        match self.last {
            Some(last) if now.duration_since(last) < Duration::from_secs(1) => None,
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.count))
            }
        }
    }
}

/// What a client over its IP's connection limit reads before its connection is closed (an
/// HTTP/1 client; an HTTP/2 one sees the connection close).
const PER_IP_REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
retry-after: 1\r\n\
connection: close\r\n\
content-length: 104\r\n\r\n\
{\"error\":\"busy\",\"detail\":\"too many connections from this client: close some (--max-connections-per-ip)\"}";

async fn serve_connections<S>(
    listener: TcpListener,
    service: S,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
    timeouts: ConnectionTimeouts,
    share: Share,
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
        .half_close(true)
        .max_buf_size(MAX_HEAD_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(timeouts.keep_alive_interval)
        .keep_alive_timeout(timeouts.keep_alive_timeout)
        .max_concurrent_streams(timeouts.max_streams)
        .max_header_list_size(u32::try_from(MAX_HEAD_BYTES).unwrap_or(u32::MAX));
    let connections = share.connections.clone();
    let registry = Arc::new(std::sync::Mutex::new(Registry::default()));
    let mut shutdown = std::pin::pin!(shutdown);
    // `accept` failures for want of descriptors: backed off, logged once a second.
    let mut backoff = Duration::ZERO;
    let mut accept_failed = EverySecond::new();
    let mut over_ip = EverySecond::new();
    'serving: loop {
        // Every connection in use: close idle keep-alive ones (this worker's) to make room, and
        // wait for one to end; new connections wait in the listen backlog meanwhile.
        while connections.full() {
            let freed = connections.freed();
            let mut freed = std::pin::pin!(freed);
            freed.as_mut().enable();
            if !connections.full() {
                break;
            }
            Registry::evict(&registry);
            tokio::select! {
                () = freed => {}
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
                () = &mut shutdown => break 'serving,
            }
        }
        if share.balance && share.ahead() {
            tokio::select! {
                () = tokio::time::sleep(Share::DEFER) => {}
                () = &mut shutdown => break 'serving,
            }
        }
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => {
                    backoff = Duration::ZERO;
                    pair
                }
                Err(e) => {
                    // Out of descriptors (EMFILE, ENFILE, or no memory for a socket): make room
                    // by closing idle connections, and back off so that a persistent error does
                    // not spin the loop. A connection reset before it was accepted: go on.
                    let starved = is_starved(&e);
                    if let Some(count) = accept_failed.due() {
                        tracing::warn!(
                            target: "crossgate_proxy",
                            "accept failed ({count} times since the last report): {e}"
                        );
                    }
                    if starved {
                        Registry::evict(&registry);
                        backoff = (backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                        tokio::select! {
                            () = tokio::time::sleep(backoff) => {}
                            () = &mut shutdown => break 'serving,
                        }
                    }
                    continue;
                }
            },
            () = &mut shutdown => break 'serving,
        };
        let ticket = match connections.admit(peer.ip()) {
            Ok(ticket) => ticket,
            Err(refused) => {
                if let Some(count) = over_ip.due() {
                    let why = match refused {
                        Refused::PerIp => format!(
                            "its IP has {} connections open (--max-connections-per-ip)",
                            connections.limits().per_ip
                        ),
                        Refused::Full => format!(
                            "all {} connections are in use (--max-connections)",
                            connections.limits().max
                        ),
                    };
                    tracing::warn!(
                        target: "crossgate_proxy",
                        %peer,
                        "refused a connection ({count} since the last report): {why}"
                    );
                }
                // Best effort, never waiting: the socket's buffer is empty, so the whole answer
                // fits in it.
                let _ = stream.try_write(PER_IP_REFUSAL);
                drop(stream);
                continue;
            }
        };
        let counted = share.count();
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let id = Registry::add(&registry, &activity);
        let registry = registry.clone();
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
            // One timer for the deadlines (the first request head's, then the idle one, and the
            // next check of the send timeout per answer: a body whose frame hyper has held that
            // long, an HTTP/2 stream the client gives no window while it reads the rest,
            // checked four times per timeout): one timer to poll at each wake-up, not three.
            let every = timeouts
                .send_timeout
                .map(|timeout| (timeout / 4).max(Duration::from_millis(10)));
            let mut idle_at = after(timeouts.header.min(timeouts.idle));
            let mut check_at = every.map(after);
            let mut closing = false;
            let timer = tokio::time::sleep_until(next_deadline(idle_at, check_at, closing));
            let mut timer = std::pin::pin!(timer);
            {
                // Made once: a `changed()` made anew at each wake-up would join the channel's
                // waiters and leave them again every time.
                let mut stop = std::pin::pin!(stopping.changed());
                let mut evicted = std::pin::pin!(activity.evict.notified());
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
                        () = evicted.as_mut(), if !closing => {
                            tracing::debug!(target: "crossgate_proxy", %peer, "closing an idle keep-alive connection: every connection is in use");
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
                                    check_at = Some(after(every));
                                }
                            }
                            if !closing && now >= idle_at {
                                if !activity.begun() {
                                    tracing::debug!(
                                        target: "crossgate_proxy",
                                        %peer,
                                        "closing a connection that sent no request head in {} ms",
                                        timeouts.header.min(timeouts.idle).as_millis()
                                    );
                                    break;
                                }
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
            Registry::remove(&registry, id);
            drop(stopping);
            drop(counted);
            drop(ticket);
        });
    }
    drop(stopping);
    tracing::info!(target: "crossgate_proxy", "shutting down: finishing requests in flight");
    let _ = stop.send(());
    if tokio::time::timeout(drain, stop.closed()).await.is_err() {
        tracing::warn!(target: "crossgate_proxy", "requests still in flight after {drain:?}; stopping");
    }
}

/// Whether an `accept` failed for want of a resource (the process's or the system's descriptors,
/// buffer space, memory), as opposed to one connection's failure: then the loop backs off.
fn is_starved(error: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        use rustix::io::Errno;
        let starved = [Errno::MFILE, Errno::NFILE, Errno::NOBUFS, Errno::NOMEM];
        if let Some(code) = error.raw_os_error() {
            return starved.iter().any(|errno| errno.raw_os_error() == code);
        }
    }
    error.kind() == std::io::ErrorKind::OutOfMemory
}

/// `duration` from now; far away (a year) when that cannot be told (a duration near
/// `u64::MAX` seconds, from a caller of the library: never a panic).
fn after(duration: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(duration)
        .or_else(|| now.checked_add(Duration::from_secs(365 * 24 * 60 * 60)))
        .unwrap_or(now)
}

/// When a connection's timer must fire next: at the idle deadline (unless the connection is
/// closing already) or at the next check of the send timeout, whichever comes first; a day away
/// when neither applies (the timer is reset before then).
fn next_deadline(idle_at: Instant, check_at: Option<Instant>, closing: bool) -> Instant {
    let idle_at = (!closing).then_some(idle_at);
    match (idle_at, check_at) {
        (Some(a), Some(b)) => a.min(b),
        (Some(at), None) | (None, Some(at)) => at,
        (None, None) => after(Duration::from_secs(24 * 60 * 60)),
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
    /// Whether a request has begun on it: until then, it has [`ConnectionTimeouts::header`].
    begun: std::sync::atomic::AtomicBool,
    /// Told when every connection is in use and this one is idle: close.
    evict: Notify,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last: AtomicU64::new(0),
            held: std::sync::Mutex::new(Vec::new()),
            begun: std::sync::atomic::AtomicBool::new(false),
            evict: Notify::new(),
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

    /// Whether a request has begun on this connection.
    fn begun(&self) -> bool {
        self.begun.load(Ordering::Relaxed)
    }

    /// Whether it is an idle keep-alive connection: a request served, none in flight.
    fn idle_keep_alive(&self) -> bool {
        self.begun() && self.in_flight.load(Ordering::Relaxed) == 0
    }

    /// A request begins: its answer is in flight until the guard is dropped (with the body).
    fn begin(self: &Arc<Self>) -> InFlight {
        self.begun.store(true, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.touch();
        InFlight(self.clone())
    }

    /// When the connection will have been idle for `idle`, or `None` if it already has.
    fn idle_deadline(&self, idle: Duration) -> Option<Instant> {
        let now = Instant::now();
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return Some(after(idle));
        }
        let due = self
            .opened
            .checked_add(Duration::from_millis(self.last.load(Ordering::Relaxed)))
            .and_then(|last| last.checked_add(idle))
            .unwrap_or_else(|| after(idle));
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
    /// The upstream request's place in [`crate::budget::Upstreams`], given back with the body.
    #[allow(dead_code, reason = "held for its Drop")]
    upstream: Option<crate::budget::InFlight>,
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
        let mut response = std::task::ready!(this.future.poll(cx))?;
        let upstream = response
            .extensions_mut()
            .remove::<crate::budget::InFlight>();
        let in_flight = this.in_flight.take();
        let held = match &in_flight {
            Some(in_flight) if *this.watched => Some(in_flight.0.hold()),
            _ => None,
        };
        Poll::Ready(Ok(response.map(|body| Answer {
            body,
            in_flight,
            held,
            upstream,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_more_than_one_connection_ahead_lets_the_others_accept() {
        let shares = Share::split(2, Connections::new(ConnectionLimits::default()));
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
        let connections = Connections::new(ConnectionLimits::default());
        assert_eq!(
            Share::split(0, connections).len(),
            1,
            "always at least one worker"
        );
    }

    #[test]
    fn the_refusal_for_too_many_connections_is_a_whole_http_answer() {
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let mut response = httparse::Response::new(&mut headers);
        let head = match response.parse(PER_IP_REFUSAL) {
            Ok(httparse::Status::Complete(head)) => head,
            other => panic!("not a whole head: {other:?}"),
        };
        assert_eq!(response.code, Some(503));
        let length = response
            .headers
            .iter()
            .find(|h| h.name == "content-length")
            .map(|h| {
                std::str::from_utf8(h.value)
                    .unwrap()
                    .parse::<usize>()
                    .unwrap()
            });
        let body = &PER_IP_REFUSAL[head..];
        assert_eq!(length, Some(body.len()), "content-length matches the body");
        let json: serde_json::Value = serde_json::from_slice(body).expect("JSON");
        assert_eq!(json["error"], "busy");
    }

    #[test]
    fn accept_failures_for_want_of_descriptors_back_off_and_others_do_not() {
        assert!(is_starved(&std::io::Error::from_raw_os_error(24)), "EMFILE");
        assert!(is_starved(&std::io::Error::from_raw_os_error(23)), "ENFILE");
        assert!(
            !is_starved(&std::io::Error::from_raw_os_error(103)),
            "ECONNABORTED"
        );
    }

    #[test]
    fn huge_durations_make_far_deadlines_not_panics() {
        let far = after(Duration::MAX);
        assert!(far > Instant::now() + Duration::from_secs(60 * 60));
        let activity = Arc::new(Activity::new());
        let request = activity.begin();
        assert!(activity.idle_deadline(Duration::MAX).is_some(), "in flight");
        drop(request);
        assert!(activity.idle_deadline(Duration::MAX).is_some(), "idle");
    }
}
