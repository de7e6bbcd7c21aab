//! The browser's side of CORS: what a browser does with a cross-origin `fetch()`, step by step,
//! as the Fetch standard says and as Chromium does.
//!
//! [`fetch`] takes a [`Request`] (what the page's script asked for), decides which requests go on
//! the wire (a preflight or not, redirects, tainted origins), sends them through a [`Transport`],
//! checks every answer, and returns an [`Outcome`]: allowed (with the status and the headers
//! script can read) or blocked (with the [`CorsError`] that `crate::explain` turns into
//! Chromium's console message and the fix). Canned scenarios ([`scenario`]) and live servers
//! (the CLI's HTTP transport) go through this same code.
//!
//! # Profiles
//!
//! [`Profile::Chromium`] (the default) is held to real headless Chromium by the differential test
//! harness (`tests/chromium/`). [`Profile::Spec`] follows the Fetch standard where Chromium
//! departs from it:
//!
//! | where | Chromium | the standard |
//! |---|---|---|
//! | `Access-Control-Allow-Headers: *` (no credentials) | covers `Authorization` too | covers every name but `Authorization` |
//! | first disallowed header reported | in the order the script set them | in sorted order |
//! | longest preflight cache | 7,200 s (2 hours) | not set; 86,400 s here, Firefox's cap |
//!
//! Both compare methods byte for byte (`fetch(u, {method: "patch"})` needs `patch` listed, not
//! `PATCH`), read `*` as a literal name with credentials, and ignore empty list elements. Every
//! row above is pinned by a scenario recorded from Chromium 156 (`scenarios/matrix.chromium.json`).

mod cache;
mod check;
pub mod safelist;
pub mod scenario;

use std::fmt;
use std::time::Duration;

use url::Url;

pub use cache::PreflightCache;
use cache::PreflightQuery;
pub use check::{DEFAULT_MAX_AGE, max_age, readable_headers};

use crate::fetch as spec;
use crate::origin::Origin;

/// Which browser to imitate. Non-exhaustive: Firefox and WebKit profiles may come.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Profile {
    /// What Chromium does (held to real headless Chromium).
    #[default]
    Chromium,
    /// What the Fetch standard says, where Chromium differs.
    Spec,
}

impl Profile {
    /// `chromium` or `spec`.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Chromium => "chromium",
            Profile::Spec => "spec",
        }
    }

    /// The longest time a preflight answer is cached.
    pub fn max_age_cap(self) -> Duration {
        match self {
            Profile::Chromium => Duration::from_secs(7_200),
            Profile::Spec => Duration::from_secs(86_400),
        }
    }
}

/// fetch()'s `credentials` option.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Credentials {
    /// Never send cookies or HTTP authentication.
    Omit,
    /// Send them to the page's own origin only (fetch()'s default).
    #[default]
    SameOrigin,
    /// Send them everywhere; the server must then answer with its exact origin and
    /// `Access-Control-Allow-Credentials: true`.
    Include,
}

impl Credentials {
    /// `omit`, `same-origin` or `include`.
    pub fn as_str(self) -> &'static str {
        match self {
            Credentials::Omit => "omit",
            Credentials::SameOrigin => "same-origin",
            Credentials::Include => "include",
        }
    }
}

/// What the page's script asked for: `fetch(url, {method, headers, credentials, body})` from a
/// page on `origin`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The page's origin, serialized (`http://localhost:5173`, or `null` for a sandboxed page).
    pub origin: String,
    /// The URL fetched.
    pub url: String,
    /// The method as the script wrote it.
    pub method: String,
    /// The headers in the order the script set them.
    pub headers: Vec<(String, String)>,
    /// The credentials mode.
    pub credentials: Credentials,
    /// The request body, if any.
    pub body: Option<String>,
}

/// A request on the wire, as the browser sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireRequest {
    /// The method.
    pub method: String,
    /// The absolute URL.
    pub url: String,
    /// The headers that matter for CORS, in order (`Origin`, the preflight's two headers, and the
    /// script's own headers on the main request).
    pub headers: Vec<(String, String)>,
    /// The body (main requests only).
    pub body: Option<String>,
    /// Whether this is a CORS preflight.
    pub preflight: bool,
}

impl WireRequest {
    /// The value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A response as received: the status and every header line, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WireResponse {
    /// The status code.
    pub status: u16,
    /// Every header line, in order, names as sent.
    pub headers: Vec<(String, String)>,
}

impl WireResponse {
    /// A header's value as a browser's network stack reads it: every line with that name
    /// (case-insensitive), each trimmed of whitespace, joined with `", "`; `None` if absent.
    pub fn header(&self, name: &str) -> Option<String> {
        let mut values = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim_matches(|c| c == ' ' || c == '\t'));
        let first = values.next()?;
        Some(values.fold(first.to_owned(), |acc, v| format!("{acc}, {v}")))
    }

    fn redirect_location(&self) -> Option<String> {
        matches!(self.status, 301 | 302 | 303 | 307 | 308)
            .then(|| self.header("location"))
            .flatten()
    }
}

/// Sends requests for [`fetch`]: canned answers ([`scenario::CannedTransport`]) or a real HTTP
/// client at the edge.
pub trait Transport {
    /// Sends one request and returns the response, or why none came.
    fn send(&mut self, request: &WireRequest) -> Result<WireResponse, TransportError>;
}

/// Why a transport got no response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportError {
    /// What went wrong, broadly.
    pub kind: TransportErrorKind,
    /// The details (the OS or TLS error).
    pub detail: String,
}

/// The broad kind of a [`TransportError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The connection was refused.
    Refused,
    /// No answer in time.
    TimedOut,
    /// The TLS handshake failed.
    Tls,
    /// The host name did not resolve.
    Dns,
    /// Anything else (a malformed response, a reset connection…).
    Other,
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            TransportErrorKind::Refused => "connection refused",
            TransportErrorKind::TimedOut => "timed out",
            TransportErrorKind::Tls => "TLS error",
            TransportErrorKind::Dns => "name not resolved",
            TransportErrorKind::Other => "network error",
        };
        write!(f, "{kind}: {}", self.detail)
    }
}

/// Why a browser blocks the request. Variants follow Chromium's `network::mojom::CorsError`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorsError {
    /// No `Access-Control-Allow-Origin`.
    MissingAllowOriginHeader,
    /// `Access-Control-Allow-Origin` holds several values (a comma or a space).
    MultipleAllowOriginValues(String),
    /// `Access-Control-Allow-Origin` is not an origin at all.
    InvalidAllowOriginValue(String),
    /// `Access-Control-Allow-Origin` is another origin.
    AllowOriginMismatch(String),
    /// `Access-Control-Allow-Origin: *` on a credentialed request.
    WildcardOriginNotAllowed,
    /// `Access-Control-Allow-Credentials` is not exactly `true` on a credentialed request (the
    /// value, empty when absent).
    InvalidAllowCredentials(String),
    /// The preflight's status is not 200–299.
    PreflightInvalidStatus,
    /// The preflight was answered with a redirect.
    PreflightDisallowedRedirect,
    /// `Access-Control-Allow-Methods` does not parse.
    InvalidAllowMethodsPreflightResponse,
    /// `Access-Control-Allow-Headers` does not parse.
    InvalidAllowHeadersPreflightResponse,
    /// The preflight does not allow the method.
    MethodDisallowedByPreflightResponse(String),
    /// The preflight does not allow a request header (lower case).
    HeaderDisallowedByPreflightResponse(String),
    /// A redirect's `Location` has userinfo on a cross-origin request.
    RedirectContainsCredentials(String),
    /// The URL's scheme cannot be fetched with CORS.
    CorsDisabledScheme(String),
}

/// How a fetch failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The CORS protocol refused it (Chromium prints a console message).
    Cors {
        /// The error.
        error: CorsError,
        /// Whether it concerns the preflight's answer.
        preflight: bool,
    },
    /// `fetch()` threw before sending anything (a forbidden method, a body on GET…).
    TypeError(String),
    /// The network failed, or a redirect was refused by the network stack.
    Network(String),
    /// The transport got no response at all (live checks only).
    Transport(TransportError),
}

/// A blocked fetch: why, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Why.
    pub kind: FailureKind,
    /// The URL whose answer failed (after redirects).
    pub url: String,
    /// The URL the script fetched.
    pub initial_url: String,
    /// The page's origin.
    pub page_origin: String,
    /// The `Origin` the failing request carried (`null` once a redirect tainted it).
    pub origin_sent: String,
    /// Whether the request was credentialed (`credentials: "include"`).
    pub credentials: bool,
    /// What the failing preflight asked for, when a preflight's answer failed.
    pub asked: Option<Asked>,
}

/// What a preflight asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Asked {
    /// `Access-Control-Request-Method`.
    pub method: String,
    /// `Access-Control-Request-Headers`, if sent.
    pub headers: Option<String>,
}

/// One check the browser made, for a step-by-step report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// The request the check concerns (index into [`Outcome::exchanges`]): the answer checked, or
    /// for the preflight cache, the request that the cached answer let through without a
    /// preflight.
    pub exchange: usize,
    /// What was checked, e.g. `Access-Control-Allow-Origin`.
    pub what: String,
    /// Whether it passed.
    pub passed: bool,
    /// What was found.
    pub detail: String,
}

/// One request sent and its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// The request.
    pub request: WireRequest,
    /// The answer.
    pub response: WireResponse,
}

/// What happened to a fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// `Ok` with the final status when fetch() resolves; the failure when it rejects.
    pub result: Result<u16, Failure>,
    /// Every request sent, with its answer, in order.
    pub exchanges: Vec<Exchange>,
    /// Lower-case names script can read from the final response (empty when blocked).
    pub readable_headers: Vec<String>,
    /// Every check, in order.
    pub checks: Vec<Check>,
}

impl Outcome {
    /// Whether fetch() resolved.
    pub fn is_allowed(&self) -> bool {
        self.result.is_ok()
    }

    /// Whether a preflight was sent.
    pub fn preflight_sent(&self) -> bool {
        self.exchanges.iter().any(|e| e.request.preflight)
    }

    /// The failure, if blocked.
    pub fn failure(&self) -> Option<&Failure> {
        self.result.as_ref().err()
    }
}

/// A request that cannot be simulated: not a valid page origin or URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestError(pub String);

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RequestError {}

/// The most redirects fetch() follows (Fetch "HTTP-redirect fetch" step 5).
pub const MAX_REDIRECTS: usize = 20;

/// What the browser does with `request`: see the module docs. `now` is the time on the
/// preflight cache's clock (any monotonic origin), so that repeated fetches can reuse a cached
/// preflight.
pub fn fetch(
    request: &Request,
    profile: Profile,
    transport: &mut dyn Transport,
    cache: &mut PreflightCache,
    now: Duration,
) -> Result<Outcome, RequestError> {
    let page = Origin::from_header(request.origin.as_bytes())
        .map_err(|e| RequestError(format!("page origin {e}")))?;
    let url = Url::parse(&request.url)
        .map_err(|e| RequestError(format!("URL {:?}: {e}", request.url)))?;
    let mut run = Run {
        profile,
        page,
        page_text: request.origin.clone(),
        initial_url: url.to_string(),
        include: request.credentials == Credentials::Include,
        origin_sent: request.origin.clone(),
        outcome: Outcome {
            result: Ok(0),
            exchanges: Vec::new(),
            readable_headers: Vec::new(),
            checks: Vec::new(),
        },
    };
    let prepared = match prepare(request) {
        Ok(p) => p,
        Err(message) => {
            run.outcome.result = Err(run.failure(FailureKind::TypeError(message), &url));
            return Ok(run.outcome);
        }
    };
    run.go(prepared, url, transport, cache, now);
    Ok(run.outcome)
}

/// The script's request after fetch()'s own processing.
struct Prepared {
    method: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

/// fetch()'s processing before anything is sent: method validation and normalisation, header
/// validation (forbidden names dropped silently, duplicates combined), the body rules.
fn prepare(request: &Request) -> Result<Prepared, String> {
    if !spec::is_token(request.method.as_bytes()) {
        return Err(format!("'{}' is not a valid HTTP method.", request.method));
    }
    let method = spec::normalized_method(&request.method)
        .map_or_else(|| request.method.clone(), str::to_owned);
    if spec::is_forbidden_method(method.as_bytes()) {
        return Err(format!("'{method}' HTTP method is unsupported."));
    }
    if request.body.is_some() && (method == "GET" || method == "HEAD") {
        return Err("Request with GET/HEAD method cannot have body.".to_owned());
    }
    let mut headers: Vec<(String, String)> = Vec::new();
    for (name, value) in &request.headers {
        if !spec::is_token(name.as_bytes()) {
            return Err(format!("'{name}' is not a valid HTTP header field name."));
        }
        let value = value.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
        if value.contains(['\0', '\n', '\r']) {
            return Err(format!("'{value}' is not a valid HTTP header field value."));
        }
        if spec::is_forbidden_request_header(name.as_bytes()) {
            continue;
        }
        match headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some((_, v)) => {
                v.push_str(", ");
                v.push_str(value);
            }
            None => headers.push((name.clone(), value.to_owned())),
        }
    }
    if request.body.is_some()
        && !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        headers.push((
            "Content-Type".to_owned(),
            "text/plain;charset=UTF-8".to_owned(),
        ));
    }
    Ok(Prepared {
        method,
        headers,
        body: request.body.clone(),
    })
}

struct Run {
    profile: Profile,
    page: Origin,
    page_text: String,
    initial_url: String,
    include: bool,
    /// The `Origin` of the latest request.
    origin_sent: String,
    outcome: Outcome,
}

impl Run {
    fn failure(&self, kind: FailureKind, url: &Url) -> Failure {
        Failure {
            kind,
            url: url.to_string(),
            initial_url: self.initial_url.clone(),
            page_origin: self.page_text.clone(),
            origin_sent: self.origin_sent.clone(),
            credentials: self.include,
            asked: None,
        }
    }

    /// Records a check about the latest exchange.
    fn check(&mut self, what: &str, passed: bool, detail: impl Into<String>) {
        let exchange = self.outcome.exchanges.len().saturating_sub(1);
        self.check_at(exchange, what, passed, detail);
    }

    /// Records a check about exchange `exchange` (which may not be sent yet).
    fn check_at(&mut self, exchange: usize, what: &str, passed: bool, detail: impl Into<String>) {
        self.outcome.checks.push(Check {
            exchange,
            what: what.to_owned(),
            passed,
            detail: detail.into(),
        });
    }

    fn block(&mut self, url: &Url, error: CorsError, preflight: bool) {
        let mut failure = self.failure(FailureKind::Cors { error, preflight }, url);
        if preflight {
            failure.asked = self.outcome.exchanges.last().map(|e| Asked {
                method: e
                    .request
                    .header("access-control-request-method")
                    .unwrap_or_default()
                    .to_owned(),
                headers: e
                    .request
                    .header("access-control-request-headers")
                    .map(str::to_owned),
            });
        }
        self.outcome.result = Err(failure);
    }

    fn send(
        &mut self,
        transport: &mut dyn Transport,
        request: WireRequest,
        url: &Url,
    ) -> Option<WireResponse> {
        match transport.send(&request) {
            Ok(response) => {
                self.outcome.exchanges.push(Exchange {
                    request,
                    response: response.clone(),
                });
                Some(response)
            }
            Err(e) => {
                self.outcome.result = Err(self.failure(FailureKind::Transport(e), url));
                None
            }
        }
    }

    /// Main fetch, then HTTP fetch and HTTP-redirect fetch, hop by hop.
    fn go(
        &mut self,
        mut req: Prepared,
        mut url: Url,
        transport: &mut dyn Transport,
        cache: &mut PreflightCache,
        now: Duration,
    ) {
        let mut tainted = false;
        let mut cors = false;
        for hop in 0.. {
            let current = Origin::of_url(&url);
            // Main fetch: a same-origin URL that was never cross-origin is fetched without CORS;
            // once a hop was cross-origin, the response tainting stays "cors".
            cors = cors || !current.same_origin(&self.page);
            let origin_header = if tainted {
                "null".to_owned()
            } else {
                self.page_text.clone()
            };
            self.origin_sent = origin_header.clone();
            if cors && !matches!(url.scheme(), "http" | "https") {
                let scheme = url.scheme().to_owned();
                self.block(&url, CorsError::CorsDisabledScheme(scheme), false);
                return;
            }
            let header_pairs = || req.headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes()));
            let unsafe_names = safelist::cors_unsafe_names(header_pairs());
            let needs_preflight = cors
                && (!spec::is_cors_safelisted_method(req.method.as_bytes())
                    || !unsafe_names.is_empty());
            if needs_preflight {
                let query = PreflightQuery {
                    origin: &origin_header,
                    url: &url,
                    include: self.include,
                    method: &req.method,
                    names: &unsafe_names,
                };
                if cache.allows(&query, self.profile, now) {
                    // About the request about to be sent, which needs no preflight.
                    let next = self.outcome.exchanges.len();
                    self.check_at(
                        next,
                        "preflight cache",
                        true,
                        format!(
                            "a cached preflight for {url} allows {} {}",
                            req.method,
                            unsafe_names.join(",")
                        ),
                    );
                } else if !self.preflight(&query, transport, cache, now) {
                    return;
                }
            }
            // The request itself.
            let mut headers = Vec::new();
            if cors || !matches!(req.method.as_str(), "GET" | "HEAD") {
                headers.push(("Origin".to_owned(), origin_header.clone()));
            }
            headers.extend(req.headers.iter().cloned());
            let wire = WireRequest {
                method: req.method.clone(),
                url: url.to_string(),
                headers,
                body: req.body.clone(),
                preflight: false,
            };
            let Some(response) = self.send(transport, wire, &url) else {
                return;
            };
            if cors {
                if let Err(error) = self.cors_check(&response, &origin_header) {
                    self.block(&url, error, false);
                    return;
                }
            }
            let Some(location) = response.redirect_location() else {
                // The final response.
                self.outcome.readable_headers = if cors {
                    check::readable_headers(&response, self.include)
                } else {
                    check::readable_headers_basic(&response)
                };
                self.outcome.result = Ok(response.status);
                return;
            };
            // HTTP-redirect fetch.
            let Ok(next) = url.join(&location) else {
                self.outcome.result = Err(self.failure(
                    FailureKind::Network(format!("invalid redirect location {location:?}")),
                    &url,
                ));
                return;
            };
            if hop + 1 > MAX_REDIRECTS {
                self.outcome.result = Err(self.failure(
                    FailureKind::Network("net::ERR_TOO_MANY_REDIRECTS".to_owned()),
                    &url,
                ));
                return;
            }
            let next_origin = Origin::of_url(&next);
            if cors && !matches!(next.scheme(), "http" | "https") {
                self.outcome.result = Err(self.failure(
                    FailureKind::Network(format!("redirect to a {} URL", next.scheme())),
                    &url,
                ));
                return;
            }
            if (!next.username().is_empty() || next.password().is_some())
                && (tainted || !self.page.same_origin(&next_origin))
            {
                self.block(
                    &url,
                    CorsError::RedirectContainsCredentials(next.to_string()),
                    false,
                );
                return;
            }
            self.check("redirect", true, format!("{} to {next}", response.status));
            // 301/302 turn POST into GET, 303 turns everything but HEAD into GET; the body and its
            // headers go.
            let to_get = match response.status {
                301 | 302 => req.method == "POST",
                303 => req.method != "HEAD" && req.method != "GET",
                _ => false,
            };
            if to_get {
                req.method = "GET".to_owned();
                req.body = None;
                req.headers
                    .retain(|(n, _)| !crate::fetch::is_request_body_header(n.as_bytes()));
            }
            if !next_origin.same_origin(&current) && !self.page.same_origin(&current) {
                tainted = true;
            }
            url = next;
        }
    }

    /// The CORS check (Fetch §3.2.5 as Chromium's `cors::CheckAccess` does it).
    fn cors_check(&mut self, response: &WireResponse, origin: &str) -> Result<(), CorsError> {
        let result = check::cors_check(response, origin, self.include);
        let acao = response
            .header("access-control-allow-origin")
            .unwrap_or_default();
        let credentials_failed = matches!(result, Err(CorsError::InvalidAllowCredentials(_)));
        let origin_passed = result.is_ok() || credentials_failed;
        let shown = if acao.is_empty() && response.header("access-control-allow-origin").is_none() {
            "missing".to_owned()
        } else {
            format!("{acao:?}")
        };
        self.check(
            "Access-Control-Allow-Origin",
            origin_passed,
            format!("{shown} for origin {origin}"),
        );
        // The credentials are only looked at once the origin passed.
        if self.include && origin_passed {
            let acac = response
                .header("access-control-allow-credentials")
                .unwrap_or_default();
            self.check(
                "Access-Control-Allow-Credentials",
                !matches!(result, Err(CorsError::InvalidAllowCredentials(_))),
                format!("{acac:?}"),
            );
        }
        result
    }

    /// The CORS-preflight fetch (Fetch §4.8): send it, check the answer, cache it. False when
    /// blocked.
    fn preflight(
        &mut self,
        query: &PreflightQuery<'_>,
        transport: &mut dyn Transport,
        cache: &mut PreflightCache,
        now: Duration,
    ) -> bool {
        let &PreflightQuery {
            origin,
            url,
            method,
            names: unsafe_names,
            ..
        } = query;
        let mut sorted = unsafe_names.to_vec();
        sorted.sort();
        let mut headers = vec![
            ("Origin".to_owned(), origin.to_owned()),
            (
                "Access-Control-Request-Method".to_owned(),
                method.to_owned(),
            ),
        ];
        if !sorted.is_empty() {
            headers.push((
                "Access-Control-Request-Headers".to_owned(),
                sorted.join(","),
            ));
        }
        let wire = WireRequest {
            method: "OPTIONS".to_owned(),
            url: url.to_string(),
            headers,
            body: None,
            preflight: true,
        };
        let Some(response) = self.send(transport, wire, url) else {
            return false;
        };
        if response.redirect_location().is_some() {
            self.check(
                "preflight redirect",
                false,
                format!("{} redirect", response.status),
            );
            self.block(url, CorsError::PreflightDisallowedRedirect, true);
            return false;
        }
        if let Err(error) = self.cors_check(&response, origin) {
            self.block(url, error, true);
            return false;
        }
        let ok = (200..300).contains(&response.status);
        self.check("preflight status", ok, response.status.to_string());
        if !ok {
            self.block(url, CorsError::PreflightInvalidStatus, true);
            return false;
        }
        let result = match check::PreflightResult::parse(&response, self.include, self.profile) {
            Ok(r) => r,
            Err(error) => {
                self.check("preflight headers", false, format!("{error:?}"));
                self.block(url, error, true);
                return false;
            }
        };
        if let Err(error) = result.allows_method(method) {
            self.check(
                "Access-Control-Allow-Methods",
                false,
                format!(
                    "{} not in {:?}",
                    method,
                    response
                        .header("access-control-allow-methods")
                        .unwrap_or_default()
                ),
            );
            self.block(url, error, true);
            return false;
        }
        self.check(
            "Access-Control-Allow-Methods",
            true,
            format!("{} allowed", method),
        );
        let order: &[String] = if self.profile == Profile::Spec {
            &sorted
        } else {
            unsafe_names
        };
        if let Err(error) = result.allows_headers(order, self.profile) {
            self.check(
                "Access-Control-Allow-Headers",
                false,
                format!(
                    "{:?}",
                    response
                        .header("access-control-allow-headers")
                        .unwrap_or_default()
                ),
            );
            self.block(url, error, true);
            return false;
        }
        if !unsafe_names.is_empty() {
            self.check(
                "Access-Control-Allow-Headers",
                true,
                format!("{} allowed", sorted.join(",")),
            );
        }
        cache.insert(origin, url.as_str(), result, now);
        true
    }
}

#[cfg(test)]
mod tests;
