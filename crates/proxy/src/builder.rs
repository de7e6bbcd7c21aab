//! [`Proxy`]: the whole proxy from typed options — a mode's service, the layers around it (CORS,
//! rate limits, upstream budgets, JSONP, metrics), the workers and their connection budgets —
//! built by [`Proxy::builder`] and checked at once: [`ProxyBuilder::build`] returns every problem
//! together ([`ConfigErrors`]), as `Policy` does.
//!
//! ```no_run
//! use crossgate::Policy;
//! use crossgate_proxy::Proxy;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let policy = Policy::builder().allow_origins(["http://localhost:5173"]).build()?;
//! let proxy = Proxy::builder().upstream("http://127.0.0.1:3000").policy(policy).build()?;
//! proxy.bind()?.run(|| std::thread::park());
//! # Ok(())
//! # }
//! ```
//!
//! One rule lives here and nowhere else: anywhere mode never allows credentials (its policy is
//! checked at build and at each [`Reloader::policy`]).

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crossgate::Policy;
use crossgate_tower::{CorsLayer, PolicyHandle};
use http::Uri;
use tower_layer::Layer;

use crate::anywhere::Anywhere;
use crate::body::BodyTimeouts;
use crate::budget::{
    Admit, ConnectionLimits, Connections, Descriptors, Plan, UpstreamLimits, Upstreams, Wanted,
};
use crate::connect::{GuardedConnector, Ports, TargetRules};
use crate::forward::{Limits, Upstream, client};
use crate::jsonp::{Jsonp, JsonpBudget};
use crate::limit::{Limited, RateLimits};
use crate::metrics::{Measured, Metrics};
use crate::routes::{Route, Router};
use crate::serve::{ConnectionTimeouts, ProxyService, Share, serve_shared};

/// How long requests in flight may take to finish once the proxy is told to stop.
pub const DRAIN: Duration = Duration::from_secs(30);

/// Anywhere mode's default rate limits per minute: per client IP, per `Origin`, per target host.
pub const ANYWHERE_RATES: (u32, u32, u32) = (120, 600, 600);

/// Anywhere mode's default total time for an upstream body.
pub const ANYWHERE_BODY_TIMEOUT: Duration = Duration::from_secs(600);

/// What the proxy fronts.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Mode {
    /// One API: every request goes to this URL, with its path and query appended.
    Upstream(Uri),
    /// Several APIs, each behind a path prefix with a policy and headers of its own.
    Routes(Vec<Route>),
    /// Any public URL named in the path (`/https://api.example.com/x`) or in `?url=`,
    /// cors-anywhere style.
    Anywhere,
}

/// One problem of a proxy's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigProblem {
    /// The upstream's URL is not an absolute http or https URL.
    BadUpstream {
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Upstream mode without a policy: no page would be allowed to read the API.
    NoPolicy,
    /// Routes mode with no route.
    NoRoutes,
    /// Anywhere mode with a policy that allows credentials.
    CredentialsInAnywhereMode,
    /// Anywhere mode on an address other than loopback with no allowlist.
    OpenRelay {
        /// The address it would listen on.
        listen: SocketAddr,
    },
    /// A number out of its range.
    OutOfRange {
        /// Which option (the CLI's flag name).
        option: &'static str,
        /// The range, as text.
        range: &'static str,
    },
    /// The descriptor limit cannot hold the connections and requests asked for.
    Descriptors(String),
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigProblem::BadUpstream { value, reason } => {
                write!(
                    f,
                    "--upstream {value:?} {reason}: give an http or https URL"
                )
            }
            ConfigProblem::NoPolicy => f.write_str(
                "upstream mode needs the page origins allowed to read the API: \
                 --allow-origin http://localhost:5173 (or --policy FILE)",
            ),
            ConfigProblem::NoRoutes => f.write_str("the routes file has no route"),
            ConfigProblem::CredentialsInAnywhereMode => f.write_str(
                "the policy allows credentials, which anywhere mode never does: it would forward \
                 nothing of them anyway, and must not tell pages it does",
            ),
            ConfigProblem::OpenRelay { listen } => write!(
                f,
                "anywhere mode on {listen} would be an open relay for anyone who can reach it: \
                 limit it with --allow-origin or --allow-target, or say --open"
            ),
            ConfigProblem::OutOfRange { option, range } => {
                write!(f, "{option} is out of range: give {range}")
            }
            ConfigProblem::Descriptors(message) => f.write_str(message),
        }
    }
}

/// Every problem of a proxy's configuration, found at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigProblem>);

impl ConfigErrors {
    /// The problems.
    pub fn problems(&self) -> &[ConfigProblem] {
        &self.0
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The anywhere-mode rule on a policy: it never allows credentials.
fn anywhere_policy(policy: &Policy) -> Result<(), ConfigProblem> {
    if policy.config().allow_credentials {
        return Err(ConfigProblem::CredentialsInAnywhereMode);
    }
    Ok(())
}

/// Anywhere mode's policy when none is given: any origin, no credentials, everything readable.
pub fn open_policy() -> Policy {
    Policy::builder()
        .allow_origins(["*"])
        .allow_methods(["*"])
        .allow_headers(["*"])
        .expose_headers(["*"])
        .build()
        // Invariant: `*` everywhere without credentials is a policy the engine always accepts
        // (its own tests build it).
        .expect("the open policy is valid")
}

/// Options for [`Proxy`]; see [`Proxy::builder`]. Each setter documents its default.
#[derive(Clone, Debug)]
#[must_use]
pub struct ProxyBuilder {
    mode: Mode,
    upstream_text: Option<String>,
    policy: Option<Policy>,
    listen: SocketAddr,
    allow_private: bool,
    allow_targets: Vec<String>,
    allow_ports: Vec<u16>,
    open: bool,
    timeout: Duration,
    body_idle_timeout: Option<Duration>,
    body_timeout: Option<Option<Duration>>,
    connection: ConnectionTimeouts,
    limits: Limits,
    rates: (Option<u32>, Option<u32>, Option<u32>),
    trusted_proxies: Vec<IpAddr>,
    jsonp: bool,
    jsonp_memory: Option<u64>,
    wanted: Wanted,
    connections_per_ip: usize,
    requests_per_ip: usize,
    descriptors: Option<Descriptors>,
    workers: Option<usize>,
    metrics: Option<Arc<Metrics>>,
    debug_cors: bool,
}

impl Default for ProxyBuilder {
    fn default() -> ProxyBuilder {
        ProxyBuilder {
            mode: Mode::Anywhere,
            upstream_text: None,
            policy: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            allow_private: false,
            allow_targets: Vec::new(),
            allow_ports: Vec::new(),
            open: false,
            timeout: Duration::from_secs(30),
            body_idle_timeout: Some(Duration::from_secs(30)),
            body_timeout: None,
            connection: ConnectionTimeouts::default(),
            limits: Limits {
                request_body: Some(10 << 20),
                response_body: Some(100 << 20),
            },
            rates: (None, None, None),
            trusted_proxies: Vec::new(),
            jsonp: false,
            jsonp_memory: Some(64 << 20),
            wanted: Wanted::default(),
            connections_per_ip: crate::budget::DEFAULT_CONNECTIONS_PER_IP,
            requests_per_ip: crate::budget::DEFAULT_REQUESTS_PER_IP,
            descriptors: None,
            workers: None,
            metrics: None,
            debug_cors: false,
        }
    }
}

impl ProxyBuilder {
    /// Upstream mode, in front of the API at `url` (`http` or `https`, checked at build).
    pub fn upstream(mut self, url: impl AsRef<str>) -> Self {
        self.upstream_text = Some(url.as_ref().to_owned());
        self
    }

    /// Upstream mode with several routes (from `routes::parse`), each with its own policy.
    pub fn routes(mut self, routes: Vec<Route>) -> Self {
        self.upstream_text = None;
        self.mode = Mode::Routes(routes);
        self
    }

    /// Anywhere mode (the default).
    pub fn anywhere(mut self) -> Self {
        self.upstream_text = None;
        self.mode = Mode::Anywhere;
        self
    }

    /// The CORS policy (upstream and anywhere modes; routes carry their own). Upstream mode needs
    /// one; anywhere mode defaults to [`open_policy`] and refuses one that allows credentials.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// The address to listen on (default `127.0.0.1:8080`; port 0 picks one).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Anywhere mode: let targets resolve to private, loopback and link-local addresses
    /// (default: refused).
    pub fn allow_private(mut self, yes: bool) -> Self {
        self.allow_private = yes;
        self
    }

    /// Anywhere mode: only these target hosts (default: any public host).
    pub fn allow_targets(mut self, hosts: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        self.allow_targets = hosts
            .into_iter()
            .map(|h| h.as_ref().to_ascii_lowercase())
            .collect();
        self
    }

    /// Anywhere mode: target ports besides 80 and 443.
    pub fn allow_ports(mut self, ports: impl IntoIterator<Item = u16>) -> Self {
        self.allow_ports = ports.into_iter().collect();
        self
    }

    /// Anywhere mode: serve on an address other than loopback without any allowlist (an open
    /// relay; default: refused at build).
    pub fn open(mut self, yes: bool) -> Self {
        self.open = yes;
        self
    }

    /// How long to wait for the upstream's answer head, connection included (default 30 s;
    /// then 504).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a body may go without a byte, either way (default 30 s; `None`: no limit).
    pub fn body_idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.body_idle_timeout = timeout;
        self
    }

    /// How long the upstream's body may take in all (default: 600 s in anywhere mode, none in
    /// upstream mode; `None`: no limit).
    pub fn body_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.body_timeout = Some(timeout);
        self
    }

    /// How client connections are held (default [`ConnectionTimeouts::default`]).
    pub fn connection_timeouts(mut self, timeouts: ConnectionTimeouts) -> Self {
        self.connection = timeouts;
        self
    }

    /// Body-size limits (default: 10 MiB requests, 100 MiB answers).
    pub fn body_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Rate limits per minute: per client IP, per `Origin`, per target host (`Some(0)`: none;
    /// `None`: the mode's default, [`ANYWHERE_RATES`] in anywhere mode, none in upstream mode).
    pub fn rate_limits(
        mut self,
        per_ip: Option<u32>,
        per_origin: Option<u32>,
        per_target: Option<u32>,
    ) -> Self {
        self.rates = (per_ip, per_origin, per_target);
        self
    }

    /// Proxies in front of this one whose `X-Forwarded-For` names the client.
    pub fn trust_proxies(mut self, proxies: impl IntoIterator<Item = IpAddr>) -> Self {
        self.trusted_proxies = proxies.into_iter().collect();
        self
    }

    /// JSONP for `GET …?callback=name` (default off), with at most `memory` bytes of JSONP
    /// answers held at once across every request (`None`: no bound; default 64 MiB).
    pub fn jsonp(mut self, on: bool, memory: Option<u64>) -> Self {
        self.jsonp = on;
        self.jsonp_memory = memory;
        self
    }

    /// Client connections in all (default: fitted to the descriptor limit), per client IP
    /// (default 256).
    pub fn max_connections(mut self, total: Option<usize>, per_ip: usize) -> Self {
        self.wanted.connections = total;
        self.connections_per_ip = per_ip;
        self
    }

    /// Upstream requests in flight in all (default: fitted to the descriptor limit, at most
    /// 1,024), per client IP (default 256), and idle pooled connections per upstream host
    /// (default 32).
    pub fn max_upstream(
        mut self,
        in_flight: Option<usize>,
        per_ip: usize,
        idle_per_host: usize,
    ) -> Self {
        self.wanted.upstream_requests = in_flight;
        self.requests_per_ip = per_ip;
        self.wanted.idle_per_host = Some(idle_per_host);
        self
    }

    /// The descriptor limit to plan with (default: the current one, not raised; pass
    /// [`Descriptors::raise`]'s to raise it first).
    pub fn descriptors(mut self, descriptors: Descriptors) -> Self {
        self.descriptors = Some(descriptors);
        self
    }

    /// How many workers (threads with a runtime each) accept and serve (default: one per core).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = Some(workers.max(1));
        self
    }

    /// Count answers in `metrics` (default: not counted).
    pub fn metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Name each CORS refusal's reason in a `crossgate-rejection` header (default off).
    pub fn debug_cors(mut self, yes: bool) -> Self {
        self.debug_cors = yes;
        self
    }

    /// Checks everything, reporting every problem at once.
    pub fn build(self) -> Result<Proxy, ConfigErrors> {
        let mut problems = Vec::new();
        let mode = match &self.upstream_text {
            Some(text) => match upstream_uri(text) {
                Ok(uri) => Mode::Upstream(uri),
                Err(problem) => {
                    problems.push(problem);
                    Mode::Upstream(Uri::from_static("http://invalid"))
                }
            },
            None => self.mode.clone(),
        };
        let anywhere = matches!(mode, Mode::Anywhere);
        let policy = match (&mode, &self.policy) {
            (Mode::Upstream(_), None) => {
                problems.push(ConfigProblem::NoPolicy);
                open_policy()
            }
            (Mode::Routes(routes), _) => {
                if routes.is_empty() {
                    problems.push(ConfigProblem::NoRoutes);
                }
                open_policy()
            }
            (_, Some(policy)) => policy.clone(),
            (Mode::Anywhere, None) => open_policy(),
        };
        if anywhere {
            if let Err(problem) = anywhere_policy(&policy) {
                problems.push(problem);
            }
            let open_origins = policy.config().allow_origins.iter().any(|o| o == "*");
            if !self.listen.ip().is_loopback()
                && open_origins
                && self.allow_targets.is_empty()
                && !self.open
            {
                problems.push(ConfigProblem::OpenRelay {
                    listen: self.listen,
                });
            }
        }
        if self.timeout.is_zero() {
            problems.push(ConfigProblem::OutOfRange {
                option: "--timeout",
                range: "at least 1 second",
            });
        }
        if self.connection.idle.is_zero() || self.connection.header.is_zero() {
            problems.push(ConfigProblem::OutOfRange {
                option: "--idle-timeout and --header-timeout",
                range: "at least 1 second each",
            });
        }
        if self.connections_per_ip == 0 || self.requests_per_ip == 0 {
            problems.push(ConfigProblem::OutOfRange {
                option: "--max-connections-per-ip and --max-requests-per-ip",
                range: "at least 1 each",
            });
        }
        let workers = self.workers.unwrap_or_else(default_workers);
        let descriptors = match self.descriptors {
            Some(descriptors) => Some(descriptors),
            None => Descriptors::current().ok(),
        };
        let plan = descriptors.map(|d| d.plan(workers, self.wanted));
        let plan = match plan {
            Some(Ok(plan)) => Some(plan),
            Some(Err(e)) => {
                problems.push(ConfigProblem::Descriptors(e.message));
                None
            }
            None => None,
        };
        if !problems.is_empty() {
            return Err(ConfigErrors(problems));
        }
        let plan = plan.unwrap_or(Plan {
            connections: 4096,
            upstream_requests: crate::budget::DEFAULT_UPSTREAM_REQUESTS,
            idle_per_host: crate::budget::DEFAULT_IDLE_PER_HOST,
            reserve: 0,
        });
        let (ip, origin, target) = self.rates;
        let default = |n: u32| anywhere.then_some(n);
        let rates = Arc::new(RateLimits::new(
            ip.or(default(ANYWHERE_RATES.0)),
            origin.or(default(ANYWHERE_RATES.1)),
            target.or(default(ANYWHERE_RATES.2)),
            self.trusted_proxies.clone(),
        ));
        let body_timeouts = BodyTimeouts {
            idle: self.body_idle_timeout,
            total: match self.body_timeout {
                Some(total) => total,
                None if anywhere => Some(ANYWHERE_BODY_TIMEOUT),
                None => None,
            },
        };
        let routes = match &mode {
            Mode::Routes(routes) => routes
                .iter()
                .map(|route| (route.clone(), PolicyHandle::new(route.policy.clone())))
                .collect(),
            _ => Vec::new(),
        };
        Ok(Proxy {
            inner: Arc::new(Inner {
                handle: PolicyHandle::new(policy),
                mode,
                routes,
                listen: self.listen,
                rules: TargetRules {
                    allow_private: self.allow_private,
                    ports: Ports::Only(
                        [80, 443]
                            .into_iter()
                            .chain(self.allow_ports.iter().copied())
                            .collect(),
                    ),
                    hosts: (!self.allow_targets.is_empty())
                        .then(|| self.allow_targets.iter().cloned().collect()),
                },
                timeout: self.timeout,
                body_timeouts,
                limits: self.limits,
                connection: self.connection,
                rates,
                jsonp: self.jsonp,
                jsonp_budget: JsonpBudget::new(self.jsonp_memory.unwrap_or(u64::MAX)),
                connections: Connections::new(ConnectionLimits {
                    max: plan.connections,
                    per_ip: self.connections_per_ip,
                    exempt: self.trusted_proxies.clone(),
                }),
                upstreams: Upstreams::new(UpstreamLimits {
                    in_flight: plan.upstream_requests,
                    per_ip: self.requests_per_ip,
                    trusted_proxies: self.trusted_proxies,
                }),
                plan,
                descriptors,
                workers,
                metrics: self
                    .metrics
                    .unwrap_or_else(|| Arc::new(Metrics::disabled())),
                debug_cors: self.debug_cors,
            }),
        })
    }
}

/// One core per worker (one on platforms without `available_parallelism`).
fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// An upstream URL, or the problem with it.
fn upstream_uri(text: &str) -> Result<Uri, ConfigProblem> {
    let problem = |reason: &str| ConfigProblem::BadUpstream {
        value: text.to_owned(),
        reason: reason.to_owned(),
    };
    let uri: Uri = text.parse().map_err(|_| problem("is not a URL"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(problem("is not an http or https URL"));
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(problem("has no host"));
    }
    Ok(uri)
}

/// The proxy, checked and ready to [`bind`](Proxy::bind) (or to [`serve`](Proxy::serve) on a
/// runtime of the caller's). Clones share everything (policies, budgets, metrics).
#[derive(Clone, Debug)]
pub struct Proxy {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    mode: Mode,
    handle: PolicyHandle,
    routes: Vec<(Route, PolicyHandle)>,
    listen: SocketAddr,
    rules: TargetRules,
    timeout: Duration,
    body_timeouts: BodyTimeouts,
    limits: Limits,
    connection: ConnectionTimeouts,
    rates: Arc<RateLimits>,
    jsonp: bool,
    jsonp_budget: JsonpBudget,
    connections: Arc<Connections>,
    upstreams: Arc<Upstreams>,
    plan: Plan,
    descriptors: Option<Descriptors>,
    workers: usize,
    metrics: Arc<Metrics>,
    debug_cors: bool,
}

impl Proxy {
    /// Options, each at its default: anywhere mode on `127.0.0.1:8080`.
    pub fn builder() -> ProxyBuilder {
        ProxyBuilder::default()
    }

    /// The mode.
    pub fn mode(&self) -> &Mode {
        &self.inner.mode
    }

    /// The policy serving now (upstream and anywhere modes; routes carry their own).
    pub fn policy(&self) -> Policy {
        self.inner.handle.current()
    }

    /// The routes (routes mode), each with the policy it serves now.
    pub fn routes(&self) -> impl Iterator<Item = (&Route, Policy)> {
        self.inner
            .routes
            .iter()
            .map(|(route, handle)| (route, handle.current()))
    }

    /// How the descriptor limit was split, and the limit it was split from.
    pub fn plan(&self) -> (Plan, Option<Descriptors>) {
        (self.inner.plan, self.inner.descriptors)
    }

    /// The per-IP limits: client connections, upstream requests in flight.
    pub fn per_ip(&self) -> (usize, usize) {
        (
            self.inner.connections.limits().per_ip,
            self.inner.upstreams_per_ip(),
        )
    }

    /// Swaps policies while the proxy runs.
    pub fn reloader(&self) -> Reloader {
        Reloader {
            inner: self.inner.clone(),
        }
    }

    /// Binds the listening socket (one handle per worker; `SO_REUSEADDR`).
    pub fn bind(&self) -> std::io::Result<Bound> {
        let listeners = bind_workers(self.inner.listen, self.inner.workers)?;
        Ok(Bound {
            proxy: self.clone(),
            listeners,
        })
    }

    /// Serves on `listener` on the caller's runtime, as one worker, until `shutdown`; then lets
    /// the requests in flight finish (at most [`DRAIN`]).
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()>,
    ) {
        let share = Share::split(1, self.inner.connections.clone()).pop();
        let Some(share) = share else { return };
        let inner = &self.inner;
        match &inner.mode {
            Mode::Upstream(base) => {
                let service = inner.upstream_service(base);
                serve_shared(listener, service, shutdown, DRAIN, inner.connection, share).await;
            }
            Mode::Routes(_) => {
                let service = inner.routes_service();
                serve_shared(listener, service, shutdown, DRAIN, inner.connection, share).await;
            }
            Mode::Anywhere => {
                let service = inner.anywhere_service();
                serve_shared(listener, service, shutdown, DRAIN, inner.connection, share).await;
            }
        }
    }
}

impl Inner {
    fn upstreams_per_ip(&self) -> usize {
        self.upstreams.per_ip()
    }

    /// What every mode puts around its service: JSONP (or its refusal), the upstream budget, the
    /// rate limits, CORS from `handle`, and metrics under `label`.
    fn layers<S>(
        &self,
        jsonp: Jsonp<S>,
        handle: &PolicyHandle,
        label: &'static str,
    ) -> Measured<crossgate_tower::Cors<Limited<Admit<Jsonp<S>>>>> {
        let jsonp = jsonp
            .enabled(self.jsonp)
            .memory_budget(self.jsonp_budget.clone());
        let cors = CorsLayer::from_handle(handle.clone()).debug(self.debug_cors);
        let service = cors.layer(Limited::new(
            Admit::new(jsonp, self.upstreams.clone()),
            self.rates.clone(),
        ));
        Measured::new(service, handle.clone(), label, self.metrics.clone())
    }

    /// Upstream mode's service, with a client (and pools) of its own.
    fn upstream_service(&self, base: &Uri) -> impl ProxyService + use<> {
        let upstream = Upstream::new(
            base.clone(),
            client(self.upstream_connector(base)),
            self.timeout,
        )
        .limits(self.limits)
        .body_timeouts(self.body_timeouts);
        self.layers(Jsonp::new(upstream), &self.handle, "upstream")
    }

    /// The connector of upstream mode and of a route: the operator named this upstream, so it
    /// may be private (it usually is), and it is the only host the proxy connects to.
    fn upstream_connector(&self, base: &Uri) -> GuardedConnector {
        let host = base
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        GuardedConnector::new(TargetRules {
            allow_private: true,
            ports: Ports::Any,
            hosts: Some(BTreeSet::from([host])),
        })
    }

    /// Routes mode's service: each route's own stack behind the router.
    fn routes_service(&self) -> impl ProxyService + use<> {
        let services = self
            .routes
            .iter()
            .map(|(route, handle)| {
                let upstream = Upstream::new(
                    route.upstream.clone(),
                    client(self.upstream_connector(&route.upstream)),
                    self.timeout,
                )
                .limits(self.limits)
                .body_timeouts(self.body_timeouts)
                .metrics(self.metrics.clone())
                .inject(route.inject.clone());
                // JSONP as in the other modes, but never where the route spends a secret: any
                // page can read a JSONP answer, whatever the route's policy says.
                let jsonp = if route.inject.is_empty() {
                    Jsonp::new(upstream)
                } else {
                    Jsonp::refusing(
                        upstream,
                        "this route adds headers kept on the server, and any page can read a \
                         JSONP answer",
                    )
                };
                // Metrics labels live as long as the process; routes are read once, at start.
                let label: &'static str = Box::leak(route.prefix.clone().into_boxed_str());
                (route.prefix.clone(), self.layers(jsonp, handle, label))
            })
            .collect();
        Router::new(services)
    }

    /// Anywhere mode's service, with a client (and pools) of its own.
    fn anywhere_service(&self) -> impl ProxyService + use<> {
        let anywhere = Anywhere::new(
            client(GuardedConnector::new(self.rules.clone())),
            self.timeout,
        )
        .limits(self.limits)
        .body_timeouts(self.body_timeouts)
        .rate_limits(self.rates.clone())
        .metrics(self.metrics.clone());
        self.layers(Jsonp::new(anywhere), &self.handle, "anywhere")
    }
}

/// Swaps the running proxy's policies (SIGHUP in the CLI).
#[derive(Clone, Debug)]
pub struct Reloader {
    inner: Arc<Inner>,
}

/// What [`Reloader::routes`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoutesReloaded {
    /// Routes whose policy was swapped (prefix, upstream and injected headers unchanged).
    pub swapped: usize,
    /// Whether routes were added, removed or changed: those changes need a restart.
    pub needs_restart: bool,
}

impl Reloader {
    /// Replaces the policy (upstream and anywhere modes), after the same check as at build.
    pub fn policy(&self, policy: Policy) -> Result<(), ConfigErrors> {
        if matches!(self.inner.mode, Mode::Anywhere) {
            anywhere_policy(&policy).map_err(|problem| ConfigErrors(vec![problem]))?;
        }
        self.inner.handle.replace(policy);
        Ok(())
    }

    /// Replaces the policies of the routes whose prefix, upstream and injected headers are
    /// unchanged in `fresh`.
    pub fn routes(&self, fresh: &[Route]) -> RoutesReloaded {
        let mut swapped = 0;
        for new in fresh {
            let same = self.inner.routes.iter().find(|(old, _)| {
                old.prefix == new.prefix && old.upstream == new.upstream && old.inject == new.inject
            });
            if let Some((_, handle)) = same {
                handle.replace(new.policy.clone());
                swapped += 1;
            }
        }
        RoutesReloaded {
            swapped,
            needs_restart: swapped < fresh.len() || fresh.len() < self.inner.routes.len(),
        }
    }
}

/// A proxy with its listening socket bound: [`Bound::run`] serves.
#[derive(Debug)]
pub struct Bound {
    proxy: Proxy,
    listeners: Vec<std::net::TcpListener>,
}

impl Bound {
    /// The address it listens on (the port picked, when 0 was asked).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self.listeners.first() {
            Some(listener) => listener.local_addr(),
            None => Err(std::io::Error::other("no listening socket")),
        }
    }

    /// Serves on every worker, each a thread with a single-threaded runtime and services of its
    /// own (its own upstream pools), until `until` returns on the calling thread; then each
    /// worker stops accepting and finishes its requests in flight (at most [`DRAIN`]).
    ///
    /// One runtime per core, all accepting from one listening socket (balanced by connection
    /// count, [`Share`]), as nginx runs a worker per core: a request never hops between threads
    /// (a multi-threaded runtime spent most of its time waking tasks across threads, measured as
    /// kernel futex work).
    pub fn run(self, until: impl FnOnce()) -> std::io::Result<()> {
        let inner = &self.proxy.inner;
        match &inner.mode {
            Mode::Upstream(base) => run_workers(self.listeners, inner, until, || {
                inner.upstream_service(base)
            }),
            Mode::Routes(_) => run_workers(self.listeners, inner, until, || inner.routes_service()),
            Mode::Anywhere => {
                run_workers(self.listeners, inner, until, || inner.anywhere_service())
            }
        }
    }
}

/// `count` handles on one listening socket on `addr` (which picks the port when `addr`'s is 0),
/// one per worker.
fn bind_workers(addr: SocketAddr, count: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    let first = listener(addr)?;
    let mut all = Vec::with_capacity(count);
    for _ in 1..count {
        all.push(first.try_clone()?);
    }
    all.insert(0, first);
    Ok(all)
}

/// A non-blocking listening socket (`SO_REUSEADDR`, as every server: a restart does not wait for
/// the old connections' `TIME_WAIT`; not `SO_REUSEPORT`, which would let another process of the
/// same user bind the port and take a share of the connections).
fn listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// [`Bound::run`] for one mode's service, which `make` builds on each worker.
fn run_workers<S>(
    listeners: Vec<std::net::TcpListener>,
    inner: &Inner,
    until: impl FnOnce(),
    make: impl Fn() -> S + Sync,
) -> std::io::Result<()>
where
    S: ProxyService,
{
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let shares = Share::split(listeners.len(), inner.connections.clone());
    let timeouts = inner.connection;
    std::thread::scope(|scope| {
        let mut workers = Vec::new();
        for (i, (listener, share)) in listeners.into_iter().zip(shares).enumerate() {
            let mut stopped = stopped.clone();
            let make = &make;
            let worker = std::thread::Builder::new()
                .name(format!("crossgate-worker-{i}"))
                .spawn_scoped(scope, move || -> std::io::Result<()> {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    runtime.block_on(async move {
                        let listener = tokio::net::TcpListener::from_std(listener)?;
                        let shutdown = async move {
                            let _ = stopped.wait_for(|stop| *stop).await;
                        };
                        serve_shared(listener, make(), shutdown, DRAIN, timeouts, share).await;
                        Ok(())
                    })
                });
            match worker {
                Ok(worker) => workers.push(worker),
                Err(e) => {
                    let _ = stop.send(true);
                    return Err(e);
                }
            }
        }
        until();
        let _ = stop.send(true);
        for worker in workers {
            worker
                .join()
                .map_err(|_| std::io::Error::other("a worker thread panicked"))??;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(builder: ProxyBuilder) -> Vec<ConfigProblem> {
        match builder.build() {
            Ok(_) => Vec::new(),
            Err(errors) => errors.0,
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let credentials = Policy::builder()
            .allow_origins(["https://app.example"])
            .allow_credentials(true)
            .build()
            .expect("valid");
        let found = problems(
            Proxy::builder()
                .policy(credentials)
                .listen(SocketAddr::from(([0, 0, 0, 0], 0)))
                .timeout(Duration::ZERO),
        );
        assert!(
            found.contains(&ConfigProblem::CredentialsInAnywhereMode),
            "{found:?}"
        );
        assert!(
            found.iter().any(|p| matches!(
                p,
                ConfigProblem::OutOfRange {
                    option: "--timeout",
                    ..
                }
            )),
            "{found:?}"
        );
        let found = problems(Proxy::builder().upstream("ftp://x"));
        assert!(
            found
                .iter()
                .any(|p| matches!(p, ConfigProblem::BadUpstream { .. })),
            "{found:?}"
        );
        assert!(found.contains(&ConfigProblem::NoPolicy), "{found:?}");
        let found = problems(Proxy::builder().listen(SocketAddr::from(([0, 0, 0, 0], 0))));
        assert!(
            found
                .iter()
                .any(|p| matches!(p, ConfigProblem::OpenRelay { .. })),
            "{found:?}"
        );
        assert!(problems(Proxy::builder()).is_empty(), "the defaults build");
    }

    #[test]
    fn a_reload_is_held_to_the_same_anywhere_rule() {
        let proxy = Proxy::builder().build().expect("the defaults build");
        let credentials = Policy::builder()
            .allow_origins(["https://app.example"])
            .allow_credentials(true)
            .build()
            .expect("valid");
        let refused = proxy.reloader().policy(credentials).expect_err("refused");
        assert_eq!(refused.0, vec![ConfigProblem::CredentialsInAnywhereMode]);
        let narrower = Policy::builder()
            .allow_origins(["https://app.example"])
            .build()
            .expect("valid");
        proxy.reloader().policy(narrower).expect("taken");
        assert_eq!(
            proxy.policy().config().allow_origins,
            ["https://app.example"]
        );
    }
}
