//! [`ProxyBuilder`]: the proxy's options, each with its default, and [`ProxyBuilder::build`],
//! which checks them together ([`ConfigErrors`]: every [`ConfigProblem`] at once).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crossgate::Policy;
use crossgate_tower::PolicyHandle;
use http::Uri;

use super::{
    ANYWHERE_BODY_TIMEOUT, ANYWHERE_RATES, Inner, Mode, Proxy, anywhere_policy, open_policy,
};
use crate::body::BodyTimeouts;
use crate::budget::{
    ConnectionLimits, Connections, Descriptors, Plan, UpstreamLimits, Upstreams, Wanted,
};
use crate::connect::{Ports, TargetRules};
use crate::forward::Limits;
use crate::jsonp::JsonpBudget;
use crate::limit::RateLimits;
use crate::metrics::Metrics;
use crate::routes::Route;
use crate::serve::ConnectionTimeouts;

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
