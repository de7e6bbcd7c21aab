//! Migrating from tower-http's `CorsLayer`: each builder call and what it becomes, and where the
//! behaviour differs. (A documentation module: it has no items.)
//!
//! # The builder calls
//!
//! A tower-http layer is built call by call and checked when it is first used; a crossgate
//! [`Policy`](crossgate::Policy) is built from the same facts (by [`Policy::builder`](crossgate::Policy::builder), or from a
//! TOML file with [`Policy::from_toml`](crossgate::Policy::from_toml)) and checked once, with every problem reported together.
//!
//! | tower-http 0.6 | crossgate (builder / TOML key) |
//! |---|---|
//! | `CorsLayer::new()` | `Policy::builder()`; nothing allowed until you say so (same) |
//! | `.allow_origin("https://a.example".parse::<HeaderValue>()?)`, `AllowOrigin::exact(v)` | `.allow_origins(["https://a.example"])` / `allow_origins` |
//! | `.allow_origin([a, b])`, `AllowOrigin::list(…)` | `.allow_origins([a, b])`: a hash lookup, not a linear scan |
//! | `.allow_origin(Any)`, `AllowOrigin::any()` | `.allow_origins(["*"])` |
//! | `AllowOrigin::predicate(\|o, _\| o.as_bytes().ends_with(b".example.com"))` | a pattern: `"https://*.example.com"` (labels matched, never a bare suffix: `https://evil-example.com` does not match) or `"http://localhost:*"` (any port) |
//! | `AllowOrigin::async_predicate(…)` (origins in a database) | [`PolicyHandle`](crate::PolicyHandle): build a new policy when the list changes and [`replace`](crate::PolicyHandle::replace) it; no query per request |
//! | `AllowOrigin::mirror_request()` | no equivalent: reflecting any origin (with credentials, the classic CORS vulnerability) is what crossgate exists to prevent. List the origins, or use a pattern |
//! | `.allow_methods([Method::GET, Method::POST])` | the same, or `.allow_methods(["GET", "POST"])`; GET, HEAD and POST are always allowed and need not be listed |
//! | `.allow_methods(Any)`, `AllowMethods::mirror_request()` | `.allow_methods(["*"])`: the requested method is echoed, which also works with credentials |
//! | `.allow_headers([CONTENT_TYPE])` | the same, or `.allow_headers(["content-type"])` |
//! | `.allow_headers(Any)` | `.allow_headers(["*"])`, **wider**: tower-http sends a literal `*`, which by the Fetch standard never covers `Authorization` (Firefox and Safari hold to that; Chromium lets it through); crossgate echoes the requested headers, `Authorization` included, in every browser. List the headers by name to keep `Authorization` out |
//! | `AllowHeaders::mirror_request()` | `.allow_headers(["*"])`: the requested headers are echoed, which also works with credentials |
//! | `.expose_headers([…])`, `.expose_headers(Any)` | `.expose_headers([…])`, `["*"]` (not with credentials: refused with the reason) |
//! | `.allow_credentials(true)` | `.allow_credentials(true)` |
//! | `.max_age(Duration::from_secs(600))` | `.max_age(Duration::from_secs(600))` (whole seconds, 0 to 86 400; a warning above Chromium's cap of 7 200) |
//! | `MaxAge::dynamic(…)`, `AllowCredentials::predicate(…)` | no equivalent: one answer per policy, so that a policy can be validated, audited and exported |
//! | `.vary([…])` | nothing to set: `Vary` is written exactly where the answer depends on the request |
//! | `.allow_private_network(true)` | not supported: every `Access-Control-Allow-Private-Network` header the application sets is removed |
//! | `CorsLayer::permissive()` | `allow_origins = ["*"]`, `allow_methods = ["*"]`, `allow_headers = ["*"]` (which allows `Authorization`, see above), `expose_headers = ["*"]` |
//! | `CorsLayer::very_permissive()` | no equivalent (it mirrors any origin with credentials): list your origins with `allow_credentials = true` |
//! | `.layer(CorsLayer…)` on a `Router` or `ServiceBuilder` | `.layer(crossgate_tower::CorsLayer::new(policy))`, unchanged |
//!
//! ```
//! // Before:
//! // CorsLayer::new()
//! //     .allow_origin(["https://app.example.com".parse::<HeaderValue>()?])
//! //     .allow_methods([Method::GET, Method::POST, Method::PUT])
//! //     .allow_headers([CONTENT_TYPE, AUTHORIZATION])
//! //     .allow_credentials(true)
//! //     .max_age(Duration::from_secs(600))
//! // After:
//! use crossgate::Policy;
//! use crossgate_tower::CorsLayer;
//!
//! let layer = CorsLayer::new(
//!     Policy::builder()
//!         .allow_origins(["https://app.example.com"])
//!         .allow_methods(["GET", "POST", "PUT"])
//!         .allow_headers(["content-type", "authorization"])
//!         .allow_credentials(true)
//!         .max_age(std::time::Duration::from_secs(600))
//!         .build()?,
//! );
//! # Ok::<(), crossgate::policy::PolicyErrors>(())
//! ```
//!
//! # Where the behaviour differs
//!
//! - **A bad configuration.** tower-http panics (`assert!`) when the layer is applied, and again
//!   in `poll_ready`, if credentials meet a `*` (origins, methods, headers or exposed headers).
//!   crossgate returns every problem from `build()`/`from_toml()` — credentials with `*`, a pattern
//!   covering a public suffix (`https://*.co.uk`), a `null` origin, a forbidden header name, an
//!   out-of-range max-age — each with the value, the reason and the fix; a `CorsLayer` cannot be
//!   made from a bad policy.
//! - **`OPTIONS`.** tower-http answers *every* `OPTIONS` request itself, with or without `Origin`
//!   and `Access-Control-Request-Method`, so the application never sees one (WebDAV, an API that
//!   documents itself on `OPTIONS`). crossgate answers only CORS preflights (`OPTIONS` with
//!   `Origin` and `Access-Control-Request-Method`); every other `OPTIONS` reaches the handler.
//! - **Preflights are checked.** tower-http answers a preflight with its lists whatever was asked,
//!   and with status 200 even for an origin it refuses; the browser then fails with a console
//!   message the server never sees. crossgate checks the origin, the method and each requested
//!   header, answers 204 or 403, and says why in a `tracing` event (and, in
//!   [debug mode](crate::CorsLayer::debug), in a response header).
//! - **Refused origins get no CORS headers.** tower-http still writes
//!   `Access-Control-Allow-Credentials`, the allowed methods and headers, and `Vary` for an
//!   origin it refuses; crossgate writes none of them (only `Vary`, which caches need).
//! - **`Vary`.** tower-http appends `Vary: origin, access-control-request-method,
//!   access-control-request-headers` to every response, requests without `Origin` and
//!   `Access-Control-Allow-Origin: *` included, as a second `Vary` line beside the application's,
//!   which can repeat a name. crossgate adds `Origin` only where the answer depends on it (not
//!   for `*`), the request headers only to preflights, and merges into the application's `Vary`:
//!   never a duplicate, never an overwrite (`Vary: *` is left alone).
//! - **The application's CORS headers.** tower-http overwrites only the headers it writes, so a
//!   handler's `Access-Control-Allow-Origin: *` survives on a response to an origin tower-http
//!   refused. crossgate removes every `Access-Control-*` response header the application set
//!   and writes the policy's, and logs a warning the first time it sees one (the usual cause is
//!   tower-http's layer left in place beside crossgate's).
//! - **`block_disallowed_origins`.** No tower-http equivalent: crossgate can refuse actual
//!   requests from disallowed origins with 403 before the handler runs (CSRF protection for
//!   cross-site form posts, which CORS alone does not stop).
//! - **Cost.** tower-http builds a `HeaderMap` per request; crossgate's headers are built when
//!   the policy is, and actual requests and requests without `Origin` allocate nothing (see the
//!   crate docs for the conditions). `crates/tower/README.md` has the benchmark.
