//! crossgate: the Cross-Origin Resource Sharing engine.
//!
//! One place that knows the rules of the Fetch standard exactly, for every edge that needs them
//! (the tower middleware, the proxy, the CLI):
//!
//! - [`origin`]: [`Origin`] parsed from a URL or an `Origin` header, serialized as HTML says;
//!   same-origin (and why not) and schemeful same-site.
//! - [`policy`]: [`Policy`], a CORS policy that can only exist validated. Building one reports
//!   every problem at once, each with the offending value, why, and the fix.
//! - [`server`]: [`Policy::decide`] classifies a request (not CORS, preflight, actual) and returns
//!   a [`server::Decision`]: what to do, the headers to write, and a reason code for a rejection.
//! - [`browser`]: the browser's side — what a `fetch()` sends and which answers pass, as the
//!   Fetch standard says and as Chromium does, over a [`browser::Transport`].
//! - [`explain`]: Chromium's exact console message for each failure, and the fix.
//! - [`audit`]: misconfiguration probes (crafted `Origin`s) and their grading by [`browser`].
//! - [`export`]: a [`Policy`] rendered for nginx, Caddy, Apache, Express, FastAPI and S3, with
//!   every way the target differs, or a refusal.
//! - [`conformance`]: does a live server do what a policy says? The requests that tell, and the
//!   comparison with what the policy would have answered.
//! - [`fetch`]: the standard's tables (tokens, safelisted and forbidden methods and headers).
//! - [`jsonp`]: safe JSONP callback names, and the script that wraps a JSON body.
//!
//! ```
//! use crossgate::Policy;
//! use http::{HeaderMap, HeaderValue, Method};
//!
//! let policy = Policy::from_toml(r#"
//!     allow_origins = ["https://app.example.com", "http://localhost:*"]
//!     allow_credentials = true
//! "#)?;
//!
//! let mut request = HeaderMap::new();
//! request.insert("origin", HeaderValue::from_static("http://localhost:5173"));
//! let decision = policy.decide(&Method::GET, &request);
//! assert!(decision.is_allowed());
//!
//! let mut response = HeaderMap::new();
//! decision.apply(&mut response);
//! assert_eq!(response["access-control-allow-origin"], "http://localhost:5173");
//! assert_eq!(response["access-control-allow-credentials"], "true");
//! assert_eq!(response["vary"], "Origin");
//! # Ok::<(), crossgate::policy::PolicyErrors>(())
//! ```
//!
//! # What this crate does not do
//!
//! No I/O, no async, no clock, no `unsafe`: it never opens a socket or a file, and it never
//! panics on request input. Reading files, serving HTTP and printing belong to the edges
//! (`crossgate-tower`, `crossgate-proxy`, the `crossgate` CLI). It does not guess: an invalid
//! policy is refused, never "fixed" silently.

pub mod audit;
pub mod browser;
pub mod conformance;
pub mod explain;
pub mod export;
pub mod fetch;
pub mod jsonp;
pub mod origin;
pub mod policy;
pub mod server;

pub use origin::Origin;
pub use policy::{Policy, PolicyErrors};

// The README, compiled and run with the doctests (`cargo test --doc`) so that its example stays
// true; not part of the documentation.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
