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

mod config;
mod workers;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use config::{ConfigErrors, ConfigProblem, ProxyBuilder};
pub use workers::Bound;

use crossgate::Policy;
use crossgate_tower::{CorsLayer, PolicyHandle};
use http::Uri;
use tower_layer::Layer;

use crate::anywhere::Anywhere;
use crate::body::BodyTimeouts;
use crate::budget::{Admit, Connections, Descriptors, Plan, Upstreams};
use crate::connect::{GuardedConnector, Ports, TargetRules};
use crate::forward::{Limits, Upstream, UpstreamClient, client_with};
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
            self.inner.upstreams.per_ip(),
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
        let listeners = workers::bind_workers(self.inner.listen, self.inner.workers)?;
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
        let cors = CorsLayer::from_handle(handle.clone())
            .debug(self.debug_cors)
            .record_decisions(self.metrics.enabled());
        let service = cors.layer(Limited::new(
            Admit::new(jsonp, self.upstreams.clone()),
            self.rates.clone(),
        ));
        Measured::new(service, label, self.metrics.clone())
    }

    /// Upstream mode's service, with a client (and pools) of its own.
    fn upstream_service(&self, base: &Uri) -> impl ProxyService + use<> {
        let upstream = Upstream::new(
            base.clone(),
            self.client(self.upstream_connector(base)),
            self.timeout,
        )
        .limits(self.limits)
        .body_timeouts(self.body_timeouts);
        self.layers(Jsonp::new(upstream), &self.handle, "upstream")
    }

    /// A worker's client over `connector`, its pool bounded per upstream host.
    fn client(&self, connector: GuardedConnector) -> UpstreamClient {
        client_with(connector, self.plan.idle_per_host)
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
                    self.client(self.upstream_connector(&route.upstream)),
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
            self.client(GuardedConnector::new(self.rules.clone())),
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
