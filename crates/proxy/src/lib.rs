//! crossgate-proxy: the CORS proxy (upstream and anywhere modes, JSONP) that `crossgate proxy`
//! composes. The map is in ARCHITECTURE.md; in short:
//!
//! - [`ssrf`]: which addresses the proxy may connect to (public unicast only, unless the operator
//!   allows private networks), IPv6 forms judged by the IPv4 address they carry.
//! - [`connect`]: [`GuardedConnector`](connect::GuardedConnector), the only way the proxy opens
//!   an upstream connection: target rules (scheme, port, host allowlist), then resolution, then
//!   every resolved address checked, then the dial — so DNS rebinding has no second lookup to
//!   use.
//! - [`Proxy`] ([`builder`]): the whole proxy from typed options, checked at once; what the CLI's
//!   `crossgate proxy` runs.
//! - [`forward`] and [`anywhere`]: the two modes' services; [`h1`]: their fast path for a `GET`
//!   or `HEAD` to a plain-HTTP target; [`routes`], [`jsonp`], [`limit`], [`metrics`]: the layers
//!   around them; [`serve`]: the server side (hyper), timeouts, workers sharing a socket;
//!   [`budget`]: what one client and all of them may hold (descriptors, connections, upstream
//!   requests in flight);
//!   [`stale`]: a kept-alive connection the upstream closed, found before a request is written
//!   on it, and the request sent again (the CLI's client uses it too).
//!
//! # What this crate does not do
//!
//! It never reads a file or prints: the CLI (`crossgate proxy`) does. It never decides anything
//! about CORS itself: `crossgate-tower` and the engine do.

pub mod anywhere;
pub mod body;
pub mod budget;
pub mod builder;
pub mod connect;
pub mod error;
pub mod forward;
pub mod future;
pub mod h1;
pub mod jsonp;
pub mod limit;
pub mod metrics;
pub mod routes;
mod send_timeout;
pub mod serve;
pub mod ssrf;
pub mod stale;

pub use builder::{Proxy, ProxyBuilder};

// The README, compiled and run with the doctests (`cargo test --doc`) so that its example stays
// true; not part of the documentation.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
