//! Budgets: what one client, and all of them together, may hold of the process's descriptors and
//! of its upstreams. A hostile client can open thousands of connections, fan one HTTP/2
//! connection out into hundreds of streams, or hold connections open a byte at a time; each of
//! these is bounded here, with a flag in the CLI and a clear error when reached.
//!
//! - [`Descriptors`]: the process's descriptor limit (`RLIMIT_NOFILE`), raised from its soft to
//!   its hard value at start, and [`Descriptors::plan`], which splits it between client
//!   connections, upstream requests, idle pooled upstream connections and a reserve, so that the
//!   proxy never runs out of descriptors however it is attacked.
//! - [`Connections`]: client connections, counted across every worker: at most
//!   [`ConnectionLimits::max`] in all (past it, new connections wait in the listen backlog while
//!   idle keep-alive connections are closed to make room, as nginx does), and at most
//!   [`ConnectionLimits::per_ip`] from one client IP (IPv6 counted by its /64, as the rate limits
//!   do); a connection past that is closed at once, after a `503` for an HTTP/1 client.
//! - [`Admit`]: requests that go upstream, counted until their answer's body ends: at most
//!   [`UpstreamLimits::in_flight`] in all and [`UpstreamLimits::per_ip`] for one client; past
//!   either, `503` JSON with `Retry-After` ([`ProxyError::Busy`]) before anything is sent.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};

use crate::body::ProxyBody;
use crate::error::ProxyError;
use crate::limit::ip_key;
use crate::serve::ClientAddr;

/// Descriptors kept out of every budget: listening sockets, each worker's runtime (epoll,
/// eventfd), the admin listener, logs, a policy file read on SIGHUP.
pub const RESERVED_DESCRIPTORS: u64 = 64;

/// Descriptors reserved for each worker besides [`RESERVED_DESCRIPTORS`].
pub const RESERVED_PER_WORKER: u64 = 8;

/// The default most client connections from one IP (nginx and Envoy set none by default; a
/// browser opens at most 6 HTTP/1.1 connections per host, or one HTTP/2 connection).
pub const DEFAULT_CONNECTIONS_PER_IP: usize = 256;

/// The default most upstream requests in flight for one client IP (nginx's `limit_conn` counts
/// requests this way over HTTP/2).
pub const DEFAULT_REQUESTS_PER_IP: usize = 256;

/// The default most upstream requests in flight in all, when the descriptor limit allows it
/// (Envoy's circuit breakers default to 1,024 requests per cluster).
pub const DEFAULT_UPSTREAM_REQUESTS: usize = 1024;

/// The default most idle pooled connections per upstream host, per worker and per pool.
pub const DEFAULT_IDLE_PER_HOST: usize = 32;

/// The default most client connections, when the descriptor limit allows it.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;

/// How long a client is told to wait (`Retry-After`) when a budget is full.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The process's descriptor limit (`RLIMIT_NOFILE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descriptors {
    /// The soft limit found at start.
    pub soft_before: u64,
    /// The soft limit now (raised to the hard one, when that was possible).
    pub soft: u64,
    /// The hard limit.
    pub hard: u64,
}

/// How the descriptor limit is split: each a number of descriptors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Client connections, in all.
    pub connections: usize,
    /// Upstream requests in flight, in all (each holds at most one upstream connection).
    pub upstream_requests: usize,
    /// Idle pooled upstream connections per host (per worker and pool).
    pub idle_per_host: usize,
    /// What is left for idle pooled upstream connections, and the reserve.
    pub reserve: u64,
}

/// What the operator asked for (`None`: the default, fitted to the limit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wanted {
    /// `--max-connections`.
    pub connections: Option<usize>,
    /// `--max-upstream-requests`.
    pub upstream_requests: Option<usize>,
    /// `--max-upstream-per-host` (idle pooled connections per host).
    pub idle_per_host: Option<usize>,
}

/// Why the descriptor limit cannot hold what was asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanError {
    /// What it says, naming the flags and the numbers.
    pub message: String,
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PlanError {}

impl Descriptors {
    /// Reads `RLIMIT_NOFILE` and raises its soft value to the hard one (as nginx's
    /// `worker_rlimit_nofile`, and systemd's default for services, do). A hard limit of
    /// "infinity" is raised to 1,048,576 at most (Linux's `nr_open` default).
    #[cfg(unix)]
    pub fn raise() -> std::io::Result<Descriptors> {
        use rustix::process::{Resource, getrlimit, setrlimit};
        const CEILING: u64 = 1 << 20;
        let limit = getrlimit(Resource::Nofile);
        let soft_before = limit.current.unwrap_or(CEILING);
        let hard = limit.maximum.unwrap_or(CEILING);
        let mut soft = soft_before;
        if soft_before < hard {
            let mut raised = limit;
            raised.current = Some(hard.min(CEILING));
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => soft = hard.min(CEILING),
                Err(e) => {
                    tracing::warn!(
                        target: "crossgate_proxy",
                        "cannot raise the descriptor limit from {soft_before} to {hard}: {e}"
                    );
                }
            }
        }
        Ok(Descriptors {
            soft_before,
            soft,
            hard,
        })
    }

    /// Reads `RLIMIT_NOFILE` without changing it.
    #[cfg(unix)]
    pub fn current() -> std::io::Result<Descriptors> {
        use rustix::process::{Resource, getrlimit};
        const CEILING: u64 = 1 << 20;
        let limit = getrlimit(Resource::Nofile);
        let soft = limit.current.unwrap_or(CEILING);
        Ok(Descriptors {
            soft_before: soft,
            soft,
            hard: limit.maximum.unwrap_or(CEILING),
        })
    }

    /// Elsewhere: a limit of 8,192 assumed.
    #[cfg(not(unix))]
    pub fn current() -> std::io::Result<Descriptors> {
        Descriptors::raise()
    }

    /// Elsewhere: a limit of 8,192 assumed.
    #[cfg(not(unix))]
    pub fn raise() -> std::io::Result<Descriptors> {
        Ok(Descriptors {
            soft_before: 8192,
            soft: 8192,
            hard: 8192,
        })
    }

    /// Splits the soft limit for `workers` workers: the reserve first, then the upstream
    /// requests (a quarter of the rest, at most [`DEFAULT_UPSTREAM_REQUESTS`]), idle pooled
    /// upstream connections (an eighth, at most 512), and client connections (what is left, at
    /// most [`DEFAULT_MAX_CONNECTIONS`]). Numbers given in `wanted` are kept, and refused when
    /// they do not fit together.
    pub fn plan(&self, workers: usize, wanted: Wanted) -> Result<Plan, PlanError> {
        let workers = u64::try_from(workers.max(1)).unwrap_or(u64::MAX);
        let reserve =
            RESERVED_DESCRIPTORS.saturating_add(RESERVED_PER_WORKER.saturating_mul(workers));
        let available = self.soft.saturating_sub(reserve);
        if available < 32 {
            return Err(PlanError {
                message: format!(
                    "the descriptor limit is {} (ulimit -n), too low for a proxy: it needs {} \
                     for itself and at least 32 for connections; raise it with `ulimit -n 4096`",
                    self.soft, reserve
                ),
            });
        }
        let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        let upstream_requests = wanted
            .upstream_requests
            .unwrap_or_else(|| to_usize(available / 4).min(DEFAULT_UPSTREAM_REQUESTS));
        let idle = to_usize(available / 8).min(512);
        let idle_per_host = wanted
            .idle_per_host
            .unwrap_or(DEFAULT_IDLE_PER_HOST)
            .min(idle.max(1));
        let left = to_usize(available)
            .saturating_sub(upstream_requests)
            .saturating_sub(idle);
        let connections = match wanted.connections {
            Some(n) => n,
            None => left.min(DEFAULT_MAX_CONNECTIONS),
        };
        let need = u64::try_from(connections)
            .unwrap_or(u64::MAX)
            .saturating_add(u64::try_from(upstream_requests).unwrap_or(u64::MAX))
            .saturating_add(u64::try_from(idle).unwrap_or(u64::MAX))
            .saturating_add(reserve);
        if need > self.soft || connections == 0 || upstream_requests == 0 {
            return Err(PlanError {
                message: format!(
                    "--max-connections {connections} and --max-upstream-requests \
                     {upstream_requests} need {need} descriptors with the {} kept for idle \
                     upstream connections and the {reserve} reserved, but this process may open \
                     {} (ulimit -n, hard limit {}): lower them, or raise the limit",
                    idle, self.soft, self.hard
                ),
            });
        }
        Ok(Plan {
            connections,
            upstream_requests,
            idle_per_host,
            reserve: u64::try_from(idle)
                .unwrap_or(u64::MAX)
                .saturating_add(reserve),
        })
    }
}

/// How many client connections may be served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// In all, across every worker.
    pub max: usize,
    /// From one client IP (an IPv6 client by its /64).
    pub per_ip: usize,
    /// Peers not counted per IP: proxies in front of crossgate (`--trust-proxy`), whose one
    /// address carries many clients.
    pub exempt: Vec<IpAddr>,
}

impl Default for ConnectionLimits {
    /// 4,096 in all, [`DEFAULT_CONNECTIONS_PER_IP`] per IP.
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            max: 4096,
            per_ip: DEFAULT_CONNECTIONS_PER_IP,
            exempt: Vec::new(),
        }
    }
}

/// A count in all and per client-IP key, each with its most: the one mechanism behind
/// [`Connections`] and [`Upstreams`]. The total is an atomic; the per-key counts a map behind a
/// lock taken once to count and once to give back.
#[derive(Debug)]
struct Tally {
    max: usize,
    per_key: usize,
    live: AtomicUsize,
    keys: Mutex<HashMap<IpAddr, usize>>,
}

/// Which most a [`Tally`] reached.
enum Over {
    Total,
    Key,
}

impl Tally {
    fn new(max: usize, per_key: usize) -> Tally {
        Tally {
            max,
            per_key,
            live: AtomicUsize::new(0),
            keys: Mutex::new(HashMap::new()),
        }
    }

    fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Counts one more in all and, with `key`, for the key; or says which most is reached.
    fn take(&self, key: Option<IpAddr>) -> Result<(), Over> {
        let mut live = self.live();
        loop {
            if live >= self.max {
                return Err(Over::Total);
            }
            match self.live.compare_exchange_weak(
                live,
                live + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => live = now,
            }
        }
        if let Some(key) = key {
            let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
            let held = keys.entry(key).or_insert(0);
            if *held >= self.per_key {
                drop(keys);
                self.live.fetch_sub(1, Ordering::Relaxed);
                return Err(Over::Key);
            }
            *held += 1;
        }
        Ok(())
    }

    /// Gives back what [`Tally::take`] counted.
    fn give_back(&self, key: Option<IpAddr>) {
        if let Some(key) = key {
            let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(held) = keys.get_mut(&key) {
                *held -= 1;
                if *held == 0 {
                    keys.remove(&key);
                }
            }
        }
        self.live.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The client connections of every worker, counted (shared by all).
#[derive(Debug)]
pub struct Connections {
    limits: ConnectionLimits,
    tally: Tally,
    refused: AtomicUsize,
    freed: tokio::sync::Notify,
}

/// Why a connection was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// All [`ConnectionLimits::max`] are in use.
    Full,
    /// Its client IP holds [`ConnectionLimits::per_ip`] already.
    PerIp,
}

impl Connections {
    /// Counts connections within `limits`.
    pub fn new(limits: ConnectionLimits) -> Arc<Connections> {
        Arc::new(Connections {
            tally: Tally::new(limits.max, limits.per_ip),
            limits,
            refused: AtomicUsize::new(0),
            freed: tokio::sync::Notify::new(),
        })
    }

    /// Completes when a connection ends (call `enable` on it before checking [`Self::full`]).
    pub fn freed(&self) -> tokio::sync::futures::Notified<'_> {
        self.freed.notified()
    }

    /// The limits.
    pub fn limits(&self) -> &ConnectionLimits {
        &self.limits
    }

    /// How many are served now.
    pub fn live(&self) -> usize {
        self.tally.live()
    }

    /// How many were refused for their IP since start.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::Relaxed)
    }

    /// Whether every connection is in use.
    pub fn full(&self) -> bool {
        self.live() >= self.limits.max
    }

    /// Counts a connection from `peer` until the ticket is dropped, or says why not.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Ticket, Refused> {
        let key = (!self.limits.exempt.contains(&peer)).then(|| ip_key(peer));
        match self.tally.take(key) {
            Ok(()) => Ok(Ticket {
                connections: self.clone(),
                key,
            }),
            Err(Over::Total) => Err(Refused::Full),
            Err(Over::Key) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                Err(Refused::PerIp)
            }
        }
    }
}

/// A client connection counted in [`Connections`].
#[derive(Debug)]
pub struct Ticket {
    connections: Arc<Connections>,
    key: Option<IpAddr>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.connections.tally.give_back(self.key);
        self.connections.freed.notify_waiters();
    }
}

/// How many upstream requests may be in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamLimits {
    /// In all, across every worker.
    pub in_flight: usize,
    /// For one client IP (the one the rate limits count: `X-Forwarded-For` from a trusted
    /// proxy).
    pub per_ip: usize,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpAddr>,
}

impl Default for UpstreamLimits {
    /// [`DEFAULT_UPSTREAM_REQUESTS`] in all, [`DEFAULT_REQUESTS_PER_IP`] per IP.
    fn default() -> UpstreamLimits {
        UpstreamLimits {
            in_flight: DEFAULT_UPSTREAM_REQUESTS,
            per_ip: DEFAULT_REQUESTS_PER_IP,
            trusted_proxies: Vec::new(),
        }
    }
}

/// The upstream requests in flight, counted (shared by every worker).
#[derive(Debug)]
pub struct Upstreams {
    limits: UpstreamLimits,
    tally: Tally,
}

impl Upstreams {
    /// Counts requests within `limits`.
    pub fn new(limits: UpstreamLimits) -> Arc<Upstreams> {
        Arc::new(Upstreams {
            tally: Tally::new(limits.in_flight, limits.per_ip),
            limits,
        })
    }

    /// The most requests in flight for one client.
    pub fn per_ip(&self) -> usize {
        self.limits.per_ip
    }

    /// How many are in flight now.
    pub fn in_flight(&self) -> usize {
        self.tally.live()
    }

    /// Counts a request of `client` until the guard is dropped, or answers why not.
    pub fn admit(self: &Arc<Self>, client: IpAddr) -> Result<InFlight, ProxyError> {
        let key = ip_key(client);
        let (scope, detail) = match self.tally.take(Some(key)) {
            Ok(()) => return Ok(InFlight(Some((self.clone(), key)))),
            Err(Over::Total) => (
                "upstream-requests",
                format!(
                    "{} upstream requests are in flight, this proxy's limit \
                     (--max-upstream-requests)",
                    self.limits.in_flight
                ),
            ),
            Err(Over::Key) => (
                "client-requests",
                format!(
                    "this client has {} requests in flight, this proxy's limit per client \
                     (--max-requests-per-ip)",
                    self.limits.per_ip
                ),
            ),
        };
        Err(ProxyError::Busy {
            scope,
            detail,
            retry_after: RETRY_AFTER,
        })
    }
}

/// An upstream request in flight, counted until dropped. [`Admit`] puts it in its answer's
/// extensions; [`serve`](crate::serve) keeps it with the answer's body until hyper is done with
/// it (so a streamed body is counted to its end).
#[derive(Debug)]
pub struct InFlight(Option<(Arc<Upstreams>, IpAddr)>);

impl Clone for InFlight {
    /// Extensions must be `Clone`; a clone counts nothing (only the original releases).
    fn clone(&self) -> InFlight {
        InFlight(None)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some((upstreams, key)) = self.0.take() {
            upstreams.tally.give_back(Some(key));
        }
    }
}

/// The service that counts the upstream requests in flight ([`Upstreams`]) in front of a mode's
/// service, inside the CORS layer (so a `503` is readable by the page).
#[derive(Clone, Debug)]
pub struct Admit<S> {
    inner: S,
    upstreams: Arc<Upstreams>,
}

impl<S> Admit<S> {
    /// `inner`, its requests counted in `upstreams`.
    pub fn new(inner: S, upstreams: Arc<Upstreams>) -> Admit<S> {
        Admit { inner, upstreams }
    }
}

impl<S, B> tower_service::Service<Request<B>> for Admit<S>
where
    S: tower_service::Service<Request<B>, Response = Response<ProxyBody>>,
{
    type Response = Response<ProxyBody>;
    type Error = S::Error;
    type Future = Admitted<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let peer = request
            .extensions()
            .get::<ClientAddr>()
            .map(|addr| addr.0.ip());
        let Some(peer) = peer else {
            // Not from `serve` (a test, an embedding without a peer): not counted.
            return Admitted::Inner {
                future: self.inner.call(request),
                held: None,
            };
        };
        let client = crate::limit::client_ip(
            peer,
            request.headers(),
            &self.upstreams.limits.trusted_proxies,
        );
        match self.upstreams.admit(client) {
            Ok(held) => Admitted::Inner {
                future: self.inner.call(request),
                held: Some(held),
            },
            Err(error) => {
                tracing::debug!(target: "crossgate_proxy", %client, code = error.code(), "{error}");
                Admitted::Refused { error: Some(error) }
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// [`Admit`]'s future: the inner one, its answer carrying the [`InFlight`] guard; or the
    /// refusal.
    #[project = AdmittedProj]
    // pin-project-lite takes no attribute on a variant's fields but #[pin], so the fields cannot
    // carry doc comments: the variants' say what they are.
    #[allow(missing_docs)]
    pub enum Admitted<F> {
        /// Admitted: `future` is the inner service's, `held` the request's [`InFlight`] (none
        /// for a request without a [`ClientAddr`]), put in the answer's extensions.
        Inner {
            #[pin]
            future: F,
            held: Option<InFlight>,
        },
        /// Refused: `error` is the `503` to answer with (taken when polled).
        Refused {
            error: Option<ProxyError>,
        },
    }
}

impl<F, E> Future for Admitted<F>
where
    F: Future<Output = Result<Response<ProxyBody>, E>>,
{
    type Output = Result<Response<ProxyBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            AdmittedProj::Inner { future, held } => {
                let mut response = std::task::ready!(future.poll(cx))?;
                if let Some(held) = held.take() {
                    response.extensions_mut().insert(held);
                }
                Poll::Ready(Ok(response))
            }
            AdmittedProj::Refused { error } => Poll::Ready(Ok(match error.take() {
                Some(error) => error.into_response(),
                None => ProxyError::Upstream("polled after completion".to_owned()).into_response(),
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(soft: u64) -> Descriptors {
        Descriptors {
            soft_before: soft,
            soft,
            hard: soft,
        }
    }

    #[test]
    fn the_descriptor_limit_is_split_so_that_everything_fits() {
        for soft in [256, 1024, 4096, 20_000, 1 << 20] {
            let plan = limit(soft).plan(2, Wanted::default()).expect("fits");
            let used = plan.connections as u64 + plan.upstream_requests as u64 + plan.reserve;
            assert!(used <= soft, "{soft}: {plan:?} uses {used}");
            assert!(
                plan.connections > 0 && plan.upstream_requests > 0,
                "{plan:?}"
            );
        }
        let plan = limit(1024).plan(2, Wanted::default()).expect("fits");
        assert_eq!((plan.connections, plan.upstream_requests), (590, 236));
        let plan = limit(20_000).plan(2, Wanted::default()).expect("fits");
        assert_eq!((plan.connections, plan.upstream_requests), (16_384, 1024));
    }

    #[test]
    fn numbers_that_do_not_fit_the_limit_are_refused_naming_the_flags() {
        let wanted = Wanted {
            connections: Some(1000),
            ..Wanted::default()
        };
        let error = limit(1024).plan(2, wanted).expect_err("too many");
        assert!(error.message.contains("--max-connections 1000"), "{error}");
        assert!(error.message.contains("ulimit -n"), "{error}");
        let error = limit(64).plan(2, Wanted::default()).expect_err("too low");
        assert!(error.message.contains("too low"), "{error}");
    }

    #[test]
    fn connections_are_counted_in_all_and_per_ip_and_released() {
        let connections = Connections::new(ConnectionLimits {
            max: 3,
            per_ip: 2,
            exempt: vec!["10.0.0.9".parse().unwrap()],
        });
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let first = connections.admit(a).expect("first");
        let second = connections.admit(a).expect("second");
        assert_eq!(connections.admit(a).unwrap_err(), Refused::PerIp);
        assert_eq!(connections.refused(), 1);
        let third = connections.admit(b).expect("another IP");
        assert_eq!(connections.admit(b).unwrap_err(), Refused::Full);
        drop((first, second, third));
        assert_eq!(connections.live(), 0);
        let exempt: IpAddr = "10.0.0.9".parse().unwrap();
        let held: Vec<Ticket> = (0..3).map(|_| connections.admit(exempt).unwrap()).collect();
        assert_eq!(held.len(), 3, "a trusted proxy is not counted per IP");
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let connections = Connections::new(ConnectionLimits {
            max: 10,
            per_ip: 1,
            exempt: Vec::new(),
        });
        let _one = connections.admit("2001:db8::1".parse().unwrap()).unwrap();
        assert_eq!(
            connections
                .admit("2001:db8::2".parse().unwrap())
                .unwrap_err(),
            Refused::PerIp
        );
        assert!(
            connections
                .admit("2001:db8:0:1::1".parse().unwrap())
                .is_ok()
        );
    }

    #[test]
    fn upstream_requests_past_a_limit_are_503_with_retry_after() {
        let upstreams = Upstreams::new(UpstreamLimits {
            in_flight: 3,
            per_ip: 2,
            trusted_proxies: Vec::new(),
        });
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let held = [upstreams.admit(a).unwrap(), upstreams.admit(a).unwrap()];
        let refused = upstreams.admit(a).unwrap_err();
        assert_eq!(refused.code(), "busy");
        let response = refused.into_response();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "1");
        let third = upstreams.admit(b).unwrap();
        let error = upstreams.admit(b).unwrap_err().to_string();
        assert!(error.contains("--max-upstream-requests"), "{error}");
        drop((held, third));
        assert_eq!(upstreams.in_flight(), 0);
        let clone = upstreams.admit(a).unwrap().clone();
        drop(clone);
        assert_eq!(
            upstreams.in_flight(),
            0,
            "the original released, the clone nothing"
        );
    }
}
