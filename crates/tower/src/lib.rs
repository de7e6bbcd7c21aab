//! crossgate-tower: CORS middleware for tower (axum, hyper, tonic), over the crossgate engine.
//!
//! - [`CorsLayer`]: a tower `Layer` built from a validated [`crossgate::Policy`]. Preflights are
//!   answered here, without calling the inner service; every other request (including `OPTIONS`
//!   that is not a preflight) goes through — unless the policy sets `block_disallowed_origins`,
//!   which answers 403 here to refused origins — and its response gets the CORS headers whatever
//!   its status, so a 4xx or 5xx from the application stays readable by the page.
//! - [`Cors`]: the service it makes, and [`ResponseFuture`], its future (a named type: no box).
//! - [`PolicyHandle`]: the policy replaced at runtime, atomically, with no lock on the request
//!   path, for services whose allowed origins live in a database.
//!
//! Every CORS rule lives in [`crossgate::server`]: this crate calls [`crossgate::Policy::decide`]
//! once per request and translates the [`Decision`](crossgate::server::Decision) into a response.
//!
//! ```
//! use std::convert::Infallible;
//! use crossgate::Policy;
//! use crossgate_tower::CorsLayer;
//! use http::{Method, Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let policy = Policy::from_toml(r#"
//!     allow_origins = ["https://app.example.com", "https://*.preview.example.com"]
//!     allow_methods = ["GET", "POST", "PUT"]
//!     allow_headers = ["content-type", "x-request-id"]
//!     allow_credentials = true
//!     max_age = 600
//! "#)?;
//!
//! let service = ServiceBuilder::new()
//!     .layer(CorsLayer::new(policy))
//!     .service_fn(|_: Request<String>| async {
//!         Ok::<_, Infallible>(Response::new(String::from("hello")))
//!     });
//!
//! let preflight = Request::builder()
//!     .method(Method::OPTIONS)
//!     .header("origin", "https://pr-42.preview.example.com")
//!     .header("access-control-request-method", "PUT")
//!     .header("access-control-request-headers", "content-type")
//!     .body(String::new())?;
//! let response = service.oneshot(preflight).await?;
//! assert_eq!(response.status(), StatusCode::NO_CONTENT);
//! assert_eq!(response.headers()["access-control-allow-origin"], "https://pr-42.preview.example.com");
//! assert_eq!(response.headers()["access-control-allow-credentials"], "true");
//! # Ok(()) }
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(run()).unwrap();
//! ```
//!
//! With axum: `Router::new().route("/api", get(handler)).layer(CorsLayer::new(policy))`. With
//! tonic (gRPC-Web from browsers): `Server::builder().accept_http1(true).layer(CorsLayer::new(policy))
//! .layer(GrpcWebLayer::new())`. Both are runnable in `examples/`.
//!
//! # Debugging a refusal
//!
//! Every refused request is a `tracing` event at debug level on the `crossgate_tower` target,
//! with the reason code (`origin-not-allowed`, `method-not-allowed`, `header-not-allowed`,
//! `malformed-request-header`), the origin, method and path. [`CorsLayer::debug`] also puts the
//! reason in a response header ([`REJECTION_HEADER`]) that the browser's network tab shows.
//!
//! # What this crate does not do
//!
//! It opens no socket and reads no file: loading a policy (from TOML, a database) is the
//! application's, and [`PolicyHandle::replace`] is how it hands a new one over. It does not
//! panic on a bad configuration (a [`crossgate::Policy`] exists only validated) nor on any
//! request. It never lets the application's own CORS response headers through (the six
//! `Access-Control-Allow-*`, `-Expose-Headers` and `-Max-Age` headers, and
//! `Access-Control-Allow-Private-Network`): the policy is the only authority, and an application
//! that sets them gets a `tracing` warning, as does a second CORS layer stacked inside this one.
//!
//! It does not allocate for actual requests and requests without `Origin` when the response's
//! header map has room for the CORS headers (an axum handler's response with a `content-type`
//! has room for five more) and the application's `Vary`, if any, already names `Origin` — the
//! tests count. Growing a full map, merging `Origin` into an application's `Vary`, debug mode,
//! and an enabled `tracing` subscriber for rejections do allocate.
//!

mod future;
mod handle;
mod layer;
pub mod migrating_from_tower_http;
mod service;

pub use future::ResponseFuture;
pub use handle::PolicyHandle;
pub use layer::CorsLayer;
pub use service::{Cors, Decided, REJECTION_HEADER};

// The README, compiled and run with the doctests (`cargo test --doc`) so that its example stays
// true; not part of the documentation.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
