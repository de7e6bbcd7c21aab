//! [`CorsLayer`]: where the policy comes from (fixed, or a [`PolicyHandle`]) and the debug switch.

use crossgate::Policy;
use tower_layer::Layer;

use crate::handle::PolicyHandle;
use crate::service::Cors;

/// A tower [`Layer`] that applies a [`crossgate::Policy`] to every request: preflights are
/// answered here, other requests go to the inner service and get their CORS headers on the way
/// back, whatever their status.
///
/// ```
/// use crossgate::Policy;
/// use crossgate_tower::CorsLayer;
///
/// let policy = Policy::builder()
///     .allow_origins(["https://app.example.com"])
///     .allow_methods(["GET", "POST", "PUT"])
///     .allow_headers(["content-type"])
///     .build()?;
/// let layer = CorsLayer::new(policy);
/// // axum: Router::new().route(…).layer(layer)
/// // tower: ServiceBuilder::new().layer(layer).service(svc)
/// # Ok::<(), crossgate::policy::PolicyErrors>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct CorsLayer {
    source: Source,
    debug: bool,
    record: bool,
}

/// Where each request's policy comes from.
#[derive(Clone, Debug)]
pub(crate) enum Source {
    /// One policy for the layer's lifetime: read with no indirection.
    Fixed(Policy),
    /// The handle's current policy, loaded per request without a lock.
    Swappable(PolicyHandle),
}

impl CorsLayer {
    /// A layer with a fixed policy. `Policy` can only exist validated, so this cannot fail
    /// (tower-http's `CorsLayer` panics on a bad configuration when it is applied to a service,
    /// and again in `poll_ready`).
    pub fn new(policy: Policy) -> CorsLayer {
        CorsLayer {
            source: Source::Fixed(policy),
            debug: false,
            record: false,
        }
    }

    /// A layer whose policy is the handle's current one: [`PolicyHandle::replace`] takes effect
    /// from the next request, with no restart and no lock on the request path.
    ///
    /// ```
    /// use crossgate::Policy;
    /// use crossgate_tower::{CorsLayer, PolicyHandle};
    ///
    /// let first = Policy::builder().allow_origins(["https://a.example"]).build()?;
    /// let handle = PolicyHandle::new(first);
    /// let layer = CorsLayer::from_handle(handle.clone());
    ///
    /// // Later, when the tenants' origins change in the database:
    /// let next = Policy::builder()
    ///     .allow_origins(["https://a.example", "https://b.example"])
    ///     .build()?;
    /// handle.replace(next);
    /// assert!(handle.current().allows_origin("https://b.example"));
    /// # Ok::<(), crossgate::policy::PolicyErrors>(())
    /// ```
    pub fn from_handle(handle: PolicyHandle) -> CorsLayer {
        CorsLayer {
            source: Source::Swappable(handle),
            debug: false,
            record: false,
        }
    }

    /// Debug mode (off by default): every refused request's response carries
    /// [`REJECTION_HEADER`](crate::REJECTION_HEADER) with the reason code and what was refused,
    /// for the browser's network tab, e.g. `crossgate-rejection: header-not-allowed: header
    /// "x-trace" not allowed`. Rejections are `tracing` events at debug level in either mode.
    ///
    /// It tells anyone who sends a request what the policy refuses: turn it on in development,
    /// not in production.
    pub fn debug(mut self, yes: bool) -> CorsLayer {
        self.debug = yes;
        self
    }

    /// Puts each request's decision in its response's extensions ([`Decided`](crate::Decided)),
    /// for a layer outside this one (metrics) to read what was decided instead of deciding again
    /// (a policy swapped in between would make the two disagree). Off by default: it costs an
    /// allocation per request, which the layer otherwise never makes for an actual request.
    pub fn record_decisions(mut self, yes: bool) -> CorsLayer {
        self.record = yes;
        self
    }
}

impl From<Policy> for CorsLayer {
    fn from(policy: Policy) -> CorsLayer {
        CorsLayer::new(policy)
    }
}

impl From<PolicyHandle> for CorsLayer {
    fn from(handle: PolicyHandle) -> CorsLayer {
        CorsLayer::from_handle(handle)
    }
}

impl<S> Layer<S> for CorsLayer {
    type Service = Cors<S>;

    fn layer(&self, inner: S) -> Cors<S> {
        // A crossgate layer directly around another is a mistake (the inner one never sees a
        // preflight, and both rewrite the same headers). Best effort: `type_name` is meant for
        // diagnostics, and behind a type-erased service (axum's routes) nothing can be seen
        // here; the response-side check in the service catches those.
        if std::any::type_name::<S>().starts_with("crossgate_tower::service::Cors<") {
            tracing::warn!(
                target: "crossgate_tower",
                "a crossgate CorsLayer is stacked directly on another: the outer one answers every \
                 preflight and replaces the inner one's headers; remove one of them"
            );
        }
        Cors::new(inner, self.source.clone(), self.debug, self.record)
    }
}
