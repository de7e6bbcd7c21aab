//! Does a server do what a policy says? The requests that tell, and how to compare what a page
//! would observe from the server with what it would observe if the server followed the policy.
//!
//! [`matrix`] derives the requests from a [`Policy`]: every allowed origin (a subdomain pattern
//! one and two labels deep, an any-port pattern on two ports) and the near misses of each (a
//! suffix or prefix glued to it, a dot of the host replaced by a letter, a subdomain of an exact
//! host, the bare domain of a pattern, another scheme, another port), `null` and an unrelated
//! origin; simple GETs with and without credentials, a preflighted request per allowed method
//! and header, and a refused method and refused headers (a made-up name, and names near each
//! allowed one: `x-id-x`, `x-x-id`, `x-i`); a logged-in user's preflighted request even when the
//! policy allows no credentials; optionally a request whose answer is an error status. It is
//! deterministic and bounded ([`MAX_ENTRIES`] entries of `allow_origins`, [`MAX_METHODS`]
//! methods, [`MAX_HEADERS`] headers, [`MAX_HEADER_NEAR_MISSES`] near-miss names, [`MAX_DOTS`]
//! dots a host).
//!
//! [`run_case`] sends a case through [`crate::browser::fetch`] over the live [`Transport`] the
//! edge provides, as a logged-in user's browser ([`LoggedIn`]: requests with credentials
//! `include` carry the cookie [`COOKIE`], preflights never), then again over a [`PolicyServer`]
//! behind the same [`LoggedIn`], which answers as `crossgate-tower` would
//! around the same application (the policy's [`Policy::decide`] and [`Decision::apply`](crate::server::Decision::apply), the
//! application's answer replayed from the live run), and [`compare`]s the two at the level a page
//! observes: allowed or blocked and at which step, the headers script can read, the preflight
//! cache lifetime, and `Vary: Origin` on readable answers.
//!
//! ```
//! use crossgate::Policy;
//! use crossgate::conformance::matrix;
//!
//! let policy = Policy::from_toml(r#"
//!     allow_origins = ["https://app.example.com"]
//!     allow_methods = ["PUT"]
//! "#)?;
//! let matrix = matrix(&policy, "https://api.example.com/items", None).unwrap();
//! let origins: Vec<&str> = matrix.cases.iter().map(|c| c.request.origin.as_str()).collect();
//! assert!(origins.contains(&"https://app.example.com.crossgate-evil.example"));
//! assert!(origins.contains(&"null"));
//! # Ok::<(), crossgate::policy::PolicyErrors>(())
//! ```
//!
//! What it does not do: send anything itself (the edge's transport does), or judge a server
//! that has no policy (that is [`crate::audit`]).

use std::fmt;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use url::Url;

use crate::audit::ATTACKER_DOMAIN;
use crate::browser::{
    self, Credentials, FailureKind, Outcome, PreflightCache, Profile, Request, Transport,
    TransportError, TransportErrorKind, WireRequest, WireResponse, safelist,
};
use crate::fetch as spec;
use crate::origin::Origin;
use crate::policy::{OriginRule, Policy, PortRule};
use crate::server::Action;

/// The most `allow_origins` entries probed; the others are listed in [`Matrix::skipped`].
pub const MAX_ENTRIES: usize = 12;
/// The most allowed methods probed, each with a preflighted request of its own.
pub const MAX_METHODS: usize = 8;
/// The most allowed request headers probed, each with a preflighted request of its own.
pub const MAX_HEADERS: usize = 8;
/// The request header no policy allows on purpose (the refused-header request).
pub const REFUSED_HEADER: &str = "x-crossgate-refused";
/// The most near-miss header names (`x-id-x`, `x-x-id`, `x-i` for `x-id`) tried, each with a
/// preflighted request of its own: a server matching allowed headers by prefix, suffix or
/// substring lets them in.
pub const MAX_HEADER_NEAR_MISSES: usize = 8;
/// The most dots of a host replaced by a letter, each a near miss of its own
/// (`appxexample.com` for `app.example.com`).
pub const MAX_DOTS: usize = 3;
/// The cookie a logged-in user's browser sends with every request whose credentials mode is
/// `include` (never with a preflight), to the host of the URL checked; see [`LoggedIn`].
pub const COOKIE: &str = "crossgate-check=1";
/// The method tried when a policy allows every method but lists none.
pub const MADE_UP_METHOD: &str = "CROSSGATE";
/// The ports tried for an any-port pattern (`http://localhost:*`).
pub const ANY_PORTS: [u16; 2] = [3000, 5173];
/// An origin no policy means to allow (the attacker's own domain).
pub const UNRELATED_ORIGIN: &str = "https://crossgate-evil.example";

/// What a case checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Purpose {
    /// A GET without custom headers (no preflight).
    SimpleGet,
    /// A preflighted request with a method the policy allows.
    Method,
    /// A preflighted request with a method the policy does not allow.
    RefusedMethod,
    /// A preflighted GET with a request header the policy allows.
    Header,
    /// A preflighted GET with a request header the policy does not allow.
    RefusedHeader,
    /// A preflighted request from an origin that is not one of the main allowed ones.
    Preflight,
    /// A GET of the error URL (an answer with an error status).
    ErrorStatus,
}

impl Purpose {
    /// A stable kebab-case id.
    pub fn id(self) -> &'static str {
        match self {
            Purpose::SimpleGet => "simple-get",
            Purpose::Method => "method",
            Purpose::RefusedMethod => "refused-method",
            Purpose::Header => "header",
            Purpose::RefusedHeader => "refused-header",
            Purpose::Preflight => "preflight",
            Purpose::ErrorStatus => "error-status",
        }
    }
}

/// One request of the matrix: what a page on `request.origin` fetches, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// What the origin stands for (`listed`, `near miss of https://app.example.com: …`).
    pub origin_note: String,
    /// What the case checks.
    pub purpose: Purpose,
    /// The fetch.
    pub request: Request,
}

/// The requests derived from a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matrix {
    /// Every case, in a fixed order: policy entries in order, then `null` and an unrelated origin.
    pub cases: Vec<Case>,
    /// How many distinct origins the cases come from.
    pub origins: usize,
    /// The `allow_origins` entries past [`MAX_ENTRIES`], not probed.
    pub skipped: Vec<String>,
}

/// Why no matrix can be derived for a URL: each kind with the offending value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MatrixError {
    /// The URL does not parse.
    NotAUrl {
        /// The URL as given.
        url: String,
        /// Why the URL parser refused it.
        reason: url::ParseError,
    },
    /// The URL's scheme is neither http nor https.
    UnsupportedScheme {
        /// The URL as given.
        url: String,
    },
}

impl fmt::Display for MatrixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatrixError::NotAUrl { url, reason } => write!(f, "{url:?} is not a URL: {reason}"),
            MatrixError::UnsupportedScheme { url } => {
                write!(f, "{url:?}: only http and https URLs can be checked")
            }
        }
    }
}

impl std::error::Error for MatrixError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MatrixError::NotAUrl { reason, .. } => Some(reason),
            MatrixError::UnsupportedScheme { .. } => None,
        }
    }
}

/// How much to ask of one origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Depth {
    /// Every method and header, the refused ones, the error status.
    Full,
    /// Simple GETs (with and without credentials) and one preflighted request.
    Basic,
}

/// An origin to try.
struct Candidate {
    origin: String,
    note: String,
    depth: Depth,
}

/// `scheme://host[:port]`.
fn origin_text(scheme: &str, host: &str, port: Option<u16>) -> String {
    match port {
        Some(p) => format!("{scheme}://{host}:{p}"),
        None => format!("{scheme}://{host}"),
    }
}

/// The http/https counterpart, if any.
fn other_scheme(scheme: &str) -> Option<&'static str> {
    match scheme {
        "https" => Some("http"),
        "http" => Some("https"),
        _ => None,
    }
}

/// A port that is not the entry's.
fn other_port(scheme: &str, port: PortRule) -> Option<u16> {
    match port {
        PortRule::Exact(n) => Some(n.checked_add(1).unwrap_or(n - 1)),
        PortRule::Default if scheme == "https" => Some(8443),
        PortRule::Default => Some(8080),
        PortRule::Any => None,
    }
}

/// `host` with one of its dots replaced by a letter, for each of its first [`MAX_DOTS`] dots
/// (`app.example.com` → `appxexample.com`, `app.examplexcom`): what a server matching with an
/// unescaped regex (`https://app.example.com`, where `.` is any character) also lets in.
fn dot_replaced(host: &str) -> Vec<String> {
    host.match_indices('.')
        .take(MAX_DOTS)
        .map(|(i, _)| format!("{}x{}", &host[..i], &host[i + 1..]))
        .collect()
}

/// The origins to try for one rule of `allow_origins`: what it allows, then its near misses.
fn entry_candidates(rule: &OriginRule) -> Vec<Candidate> {
    let mut out = Vec::new();
    let (scheme, host, port, subdomains) = match rule {
        OriginRule::Exact { scheme, host, port } => (
            scheme.as_str(),
            host.as_str(),
            port.map_or(PortRule::Default, PortRule::Exact),
            false,
        ),
        OriginRule::Subdomains {
            scheme,
            domain,
            port,
        } => (scheme.as_str(), domain.as_str(), *port, true),
        OriginRule::AnyPort { scheme, host } => {
            (scheme.as_str(), host.as_str(), PortRule::Any, false)
        }
        OriginRule::Any => return out,
    };
    let entry = rule.to_string();
    let port_of = |i: usize| match port {
        PortRule::Default => None,
        PortRule::Exact(n) => Some(n),
        PortRule::Any => Some(ANY_PORTS[i % ANY_PORTS.len()]),
    };
    let mut add = |origin: String, note: String, depth: Depth| {
        out.push(Candidate {
            origin,
            note,
            depth,
        })
    };
    let near = |what: &str| format!("near miss of {entry}: {what}");
    if subdomains {
        let one = format!("sub.{host}");
        let two = format!("deep.sub.{host}");
        add(
            origin_text(scheme, &one, port_of(0)),
            format!("matches {entry} (one label)"),
            Depth::Full,
        );
        add(
            origin_text(scheme, &two, port_of(1)),
            format!("matches {entry} (two labels)"),
            Depth::Basic,
        );
        add(
            origin_text(scheme, host, port_of(0)),
            near("the bare domain"),
            Depth::Basic,
        );
        add(
            origin_text(scheme, &format!("evil{host}"), port_of(0)),
            near("a prefix glued to the domain"),
            Depth::Basic,
        );
        add(
            origin_text(scheme, &format!("{host}.{ATTACKER_DOMAIN}"), port_of(0)),
            near("another domain after it"),
            Depth::Basic,
        );
        for dotless in dot_replaced(host) {
            add(
                origin_text(scheme, &format!("sub.{dotless}"), port_of(0)),
                near("a dot of the domain replaced by a letter"),
                Depth::Basic,
            );
        }
        if let Some(other) = other_scheme(scheme) {
            add(
                origin_text(other, &one, port_of(0)),
                near("another scheme"),
                Depth::Basic,
            );
        }
        if let Some(p) = other_port(scheme, port) {
            add(
                origin_text(scheme, &one, Some(p)),
                near("another port"),
                Depth::Basic,
            );
        }
        return out;
    }
    if port == PortRule::Any {
        add(
            origin_text(scheme, host, port_of(0)),
            format!("matches {entry}"),
            Depth::Full,
        );
        add(
            origin_text(scheme, host, port_of(1)),
            format!("matches {entry} (another port)"),
            Depth::Basic,
        );
    } else {
        add(entry.to_owned(), "listed".to_owned(), Depth::Full);
    }
    add(
        origin_text(scheme, &format!("{host}.{ATTACKER_DOMAIN}"), port_of(0)),
        near("another domain after it"),
        Depth::Basic,
    );
    add(
        origin_text(scheme, &format!("evil-{host}"), port_of(0)),
        near("a prefix glued to it"),
        Depth::Basic,
    );
    for dotless in dot_replaced(host) {
        add(
            origin_text(scheme, &dotless, port_of(0)),
            near("a dot replaced by a letter"),
            Depth::Basic,
        );
    }
    add(
        origin_text(scheme, &format!("sub.{host}"), port_of(0)),
        near("a subdomain"),
        Depth::Basic,
    );
    if let Some(other) = other_scheme(scheme) {
        add(
            origin_text(other, host, port_of(0)),
            near("another scheme"),
            Depth::Basic,
        );
    }
    if let Some(p) = other_port(scheme, port) {
        add(
            origin_text(scheme, host, Some(p)),
            near("another port"),
            Depth::Basic,
        );
    }
    out
}

/// Header names near each allowed one (`x-id` → `x-id-x`, `x-x-id`, `x-i`) that the policy does
/// not allow and a script can set, each once: first the suffixed name of every header, then the
/// prefixed ones, then the shortened ones, at most [`MAX_HEADER_NEAR_MISSES`].
fn near_miss_headers(
    headers: &[(String, &'static str)],
    allowed: &[String],
) -> Vec<(String, &'static str)> {
    let variants: [fn(&str) -> Option<String>; 3] = [
        |h| Some(format!("{h}-x")),
        |h| Some(format!("x-{h}")),
        |h| {
            let shorter = &h[..h.len() - h.chars().last().map_or(0, char::len_utf8)];
            (!shorter.is_empty()).then(|| shorter.to_owned())
        },
    ];
    let mut out: Vec<(String, &'static str)> = Vec::new();
    for variant in variants {
        for (h, _) in headers {
            let Some(name) = variant(h) else { continue };
            let usable = spec::is_token(name.as_bytes())
                && !spec::is_forbidden_request_header(name.as_bytes())
                && !allowed.iter().any(|a| a.eq_ignore_ascii_case(&name))
                && name != REFUSED_HEADER
                && !out.iter().any(|(n, _)| *n == name);
            if let (true, Some(value)) = (usable, unsafe_value(&name)) {
                out.push((name, value));
            }
        }
    }
    out.truncate(MAX_HEADER_NEAR_MISSES);
    out
}

/// The value a script sets for `name` so that the header needs a preflight, if one does.
fn unsafe_value(name: &str) -> Option<&'static str> {
    let values: &[&'static str] = if name.eq_ignore_ascii_case("content-type") {
        &["application/json"]
    } else {
        &["1", "{}"]
    };
    values
        .iter()
        .copied()
        .find(|v| !safelist::cors_unsafe_names([(name, v.as_bytes())]).is_empty())
}

/// Derives the requests that tell whether a server at `url` does what `policy` says;
/// `error_url`, if given, is a URL the server answers with an error status (a 404 page).
pub fn matrix(policy: &Policy, url: &str, error_url: Option<&str>) -> Result<Matrix, MatrixError> {
    for u in std::iter::once(url).chain(error_url) {
        let parsed = Url::parse(u).map_err(|reason| MatrixError::NotAUrl {
            url: u.to_owned(),
            reason,
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(MatrixError::UnsupportedScheme { url: u.to_owned() });
        }
    }
    let config = policy.config();
    let include_ok = config.allow_credentials;
    let preflight_credentials = if include_ok {
        Credentials::Include
    } else {
        Credentials::Omit
    };

    // Methods: the allowed ones that need a preflight; one refused.
    let any_method = config.allow_methods.iter().any(|m| m == "*");
    let mut methods: Vec<String> = Vec::new();
    for m in &config.allow_methods {
        if m != "*" && !spec::is_cors_safelisted_method(m.as_bytes()) && !methods.contains(m) {
            methods.push(m.clone());
        }
    }
    if any_method && methods.is_empty() {
        methods = vec!["PUT".to_owned(), "PATCH".to_owned(), "DELETE".to_owned()];
    }
    methods.truncate(MAX_METHODS);
    let refused_method = if any_method {
        MADE_UP_METHOD.to_owned()
    } else {
        ["DELETE", "PATCH", "PUT"]
            .iter()
            .find(|m| !config.allow_methods.iter().any(|a| a == *m))
            .map_or(MADE_UP_METHOD, |m| *m)
            .to_owned()
    };

    // Headers: the allowed ones a script can set and that need a preflight.
    let any_header = config.allow_headers.iter().any(|h| h == "*");
    let mut headers: Vec<(String, &'static str)> = Vec::new();
    for h in &config.allow_headers {
        let lower = h.to_ascii_lowercase();
        if h == "*"
            || spec::is_forbidden_request_header(lower.as_bytes())
            || headers.iter().any(|(n, _)| *n == lower)
        {
            continue;
        }
        if let Some(value) = unsafe_value(&lower) {
            headers.push((lower, value));
        }
    }
    if any_header && headers.is_empty() {
        headers.push(("x-crossgate-any".to_owned(), "1"));
    }
    headers.truncate(MAX_HEADERS);
    let near_headers = if any_header {
        Vec::new()
    } else {
        near_miss_headers(&headers, &config.allow_headers)
    };

    let mut candidates: Vec<Candidate> = Vec::new();
    let mut skipped = Vec::new();
    let rules = policy.origin_rules();
    for (i, rule) in rules.iter().enumerate() {
        if i >= MAX_ENTRIES {
            skipped.push(rule.to_string());
            continue;
        }
        candidates.extend(entry_candidates(rule));
    }
    candidates.push(Candidate {
        origin: "null".to_owned(),
        note: "null (sandboxed iframes, data: and file: pages)".to_owned(),
        depth: Depth::Basic,
    });
    // With `*`, an unrelated origin is an allowed one: it gets everything.
    let any_origin = rules.contains(&OriginRule::Any);
    candidates.push(Candidate {
        origin: UNRELATED_ORIGIN.to_owned(),
        note: if any_origin {
            "an unrelated origin (allowed by *)".to_owned()
        } else {
            "an unrelated origin".to_owned()
        },
        depth: if any_origin {
            Depth::Full
        } else {
            Depth::Basic
        },
    });
    // Only what a browser can send (the URL parser serializes it to itself), each once.
    let mut seen: Vec<String> = Vec::new();
    candidates.retain(|c| {
        let sendable = c.origin == "null"
            || Origin::from_header(c.origin.as_bytes()).is_ok_and(|o| o.to_string() == c.origin);
        let first = !seen.contains(&c.origin);
        seen.push(c.origin.clone());
        sendable && first
    });

    let mut cases = Vec::new();
    for candidate in &candidates {
        let case = |purpose: Purpose,
                    method: &str,
                    headers: Vec<(String, String)>,
                    credentials: Credentials,
                    url: &str| Case {
            origin_note: candidate.note.clone(),
            purpose,
            request: Request {
                origin: candidate.origin.clone(),
                url: url.to_owned(),
                method: method.to_owned(),
                headers,
                credentials,
                body: None,
            },
        };
        let header = |(name, value): &(String, &str)| vec![(name.clone(), (*value).to_owned())];
        cases.push(case(
            Purpose::SimpleGet,
            "GET",
            Vec::new(),
            Credentials::Omit,
            url,
        ));
        cases.push(case(
            Purpose::SimpleGet,
            "GET",
            Vec::new(),
            Credentials::Include,
            url,
        ));
        match candidate.depth {
            Depth::Full => {
                for m in &methods {
                    cases.push(case(
                        Purpose::Method,
                        m,
                        Vec::new(),
                        preflight_credentials,
                        url,
                    ));
                }
                cases.push(case(
                    Purpose::RefusedMethod,
                    &refused_method,
                    Vec::new(),
                    preflight_credentials,
                    url,
                ));
                for h in &headers {
                    cases.push(case(
                        Purpose::Header,
                        "GET",
                        header(h),
                        preflight_credentials,
                        url,
                    ));
                }
                cases.push(case(
                    Purpose::RefusedHeader,
                    "GET",
                    vec![(REFUSED_HEADER.to_owned(), "1".to_owned())],
                    preflight_credentials,
                    url,
                ));
                for h in &near_headers {
                    cases.push(case(
                        Purpose::RefusedHeader,
                        "GET",
                        header(h),
                        preflight_credentials,
                        url,
                    ));
                }
                if !include_ok {
                    // A logged-in user's preflighted request: the policy refuses credentials, so
                    // the server's preflight must not let a cookie-carrying request through.
                    let (purpose, method, headers) = match (methods.first(), headers.first()) {
                        (Some(m), _) => (Purpose::Method, m.as_str(), Vec::new()),
                        (None, Some(h)) => (Purpose::Header, "GET", header(h)),
                        (None, None) => {
                            (Purpose::RefusedMethod, refused_method.as_str(), Vec::new())
                        }
                    };
                    cases.push(case(purpose, method, headers, Credentials::Include, url));
                }
                if let Some(error_url) = error_url {
                    cases.push(case(
                        Purpose::ErrorStatus,
                        "GET",
                        Vec::new(),
                        Credentials::Omit,
                        error_url,
                    ));
                    if include_ok || candidate.origin == UNRELATED_ORIGIN {
                        cases.push(case(
                            Purpose::ErrorStatus,
                            "GET",
                            Vec::new(),
                            Credentials::Include,
                            error_url,
                        ));
                    }
                }
            }
            Depth::Basic => {
                let method = methods.first().map_or("PUT", String::as_str);
                let headers = headers.first().map(header).unwrap_or_default();
                cases.push(case(
                    Purpose::Preflight,
                    method,
                    headers,
                    preflight_credentials,
                    url,
                ));
                if let (Some(error_url), true) = (error_url, candidate.origin == UNRELATED_ORIGIN) {
                    cases.push(case(
                        Purpose::ErrorStatus,
                        "GET",
                        Vec::new(),
                        Credentials::Include,
                        error_url,
                    ));
                }
            }
        }
    }
    Ok(Matrix {
        cases,
        origins: candidates.len(),
        skipped,
    })
}

/// A [`Transport`] that answers as `crossgate-tower` would in front of `app`: the policy's
/// [`Policy::decide`]; [`Action::Respond`] answered by the policy alone, [`Action::Forward`]
/// passed to `app` and its answer's headers rewritten by [`Decision::apply`](crate::server::Decision::apply).
pub struct PolicyServer<'a> {
    /// The policy.
    pub policy: &'a Policy,
    /// The application behind it.
    pub app: &'a mut dyn Transport,
}

impl Transport for PolicyServer<'_> {
    fn send(&mut self, request: &WireRequest) -> Result<WireResponse, TransportError> {
        let method = Method::from_bytes(request.method.as_bytes()).map_err(|_| TransportError {
            kind: TransportErrorKind::Other,
            detail: format!("invalid method {:?}", request.method),
        })?;
        let decision = self.policy.decide(&method, &header_map(&request.headers));
        let (status, headers) = match decision.action() {
            Action::Respond(status) => (status.as_u16(), decision.into_response_headers()),
            Action::Forward => {
                let answer = self.app.send(request)?;
                let mut headers = header_map(&answer.headers);
                decision.apply(&mut headers);
                (answer.status, headers)
            }
        };
        Ok(WireResponse {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
        })
    }
}

/// A logged-in user's browser in front of a [`Transport`]: a request whose credentials mode is
/// `include` carries the user's cookie ([`COOKIE`]) to the host of the URL checked — never with
/// a preflight, which browsers send without credentials, and never to another host a redirect
/// leads to. [`run_case`] puts it in front of both the live server and the policy's answers, so
/// that a server deciding by cookie (Starlette answers `*` without one and echoes the origin
/// with one) is seen as a logged-in user sees it.
pub struct LoggedIn<'a> {
    /// Where the requests go.
    pub inner: &'a mut dyn Transport,
    /// The host the cookie belongs to (lower case); `None`: no cookie (credentials not `include`).
    pub host: Option<String>,
}

impl<'a> LoggedIn<'a> {
    /// The browser for `request`: with the cookie for its URL's host when its credentials mode
    /// is `include`.
    pub fn new(inner: &'a mut dyn Transport, request: &Request) -> LoggedIn<'a> {
        let host = match request.credentials {
            Credentials::Include => host_of(&request.url),
            Credentials::Omit | Credentials::SameOrigin => None,
        };
        LoggedIn { inner, host }
    }
}

impl Transport for LoggedIn<'_> {
    fn send(&mut self, request: &WireRequest) -> Result<WireResponse, TransportError> {
        let carries = !request.preflight
            && self.host.is_some()
            && host_of(&request.url) == self.host
            && request.header("cookie").is_none();
        if !carries {
            return self.inner.send(request);
        }
        let mut request = request.clone();
        request
            .headers
            .push(("Cookie".to_owned(), COOKIE.to_owned()));
        self.inner.send(&request)
    }
}

/// The host of a URL, lower case.
fn host_of(url: &str) -> Option<String> {
    Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
}

impl Case {
    /// The cookie the request carries (not its preflight): [`COOKIE`] when its credentials mode
    /// is `include`, as a logged-in user's browser sends it ([`LoggedIn`]).
    pub fn cookie(&self) -> Option<&'static str> {
        match self.request.credentials {
            Credentials::Include => Some(COOKIE),
            Credentials::Omit | Credentials::SameOrigin => None,
        }
    }
}

/// Header lines as an `http::HeaderMap` (lines that are not valid HTTP are left out: a live
/// client never hands them over).
fn header_map(lines: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in lines {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            map.append(name, value);
        }
    }
    map
}

/// The application behind the [`PolicyServer`]: the live server's answers to the same requests,
/// replayed; a request the live run never sent (the server blocked it earlier) gets `200` with
/// no header, so that nothing is sent to the server that a browser would not send.
struct Replay {
    exchanges: Vec<browser::Exchange>,
    /// Whether an answer had to be made up.
    assumed: bool,
}

impl Transport for Replay {
    fn send(&mut self, request: &WireRequest) -> Result<WireResponse, TransportError> {
        let found = self.exchanges.iter().position(|e| {
            !e.request.preflight
                && e.request.method == request.method
                && e.request.url == request.url
        });
        Ok(match found {
            Some(i) => self.exchanges.remove(i).response,
            None => {
                self.assumed = true;
                WireResponse {
                    status: 200,
                    headers: Vec::new(),
                }
            }
        })
    }
}

/// Where a blocked fetch stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// fetch() threw before sending anything.
    Fetch,
    /// The preflight's answer failed a check: the request itself was never sent.
    Preflight,
    /// The request was sent; its answer failed the CORS check.
    CorsCheck,
    /// A network error (a refused redirect).
    Network,
}

impl Step {
    /// A stable kebab-case id.
    pub fn id(self) -> &'static str {
        match self {
            Step::Fetch => "fetch",
            Step::Preflight => "preflight",
            Step::CorsCheck => "cors-check",
            Step::Network => "network",
        }
    }
}

/// Allowed or blocked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// fetch() resolves with this status.
    Allowed(u16),
    /// fetch() rejects, at this step.
    Blocked(Step),
}

/// What a page observes of one fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// Allowed or blocked, and where.
    pub verdict: Verdict,
    /// Lower-case names script can read (empty when blocked).
    pub readable_headers: Vec<String>,
    /// How long the preflight's answer is cached, when a preflight passed.
    pub max_age: Option<Duration>,
    /// Whether the readable answer says `Vary: Origin` (or `Vary: *`); `None` when blocked.
    pub vary_origin: Option<bool>,
    /// Chromium's console message, when blocked by CORS.
    pub console: Option<String>,
}

impl Observed {
    /// What a page observes of `outcome`.
    pub fn of(outcome: &Outcome, profile: Profile) -> Observed {
        let verdict = match &outcome.result {
            Ok(status) => Verdict::Allowed(*status),
            Err(failure) => Verdict::Blocked(match &failure.kind {
                FailureKind::TypeError(_) => Step::Fetch,
                FailureKind::Cors {
                    preflight: true, ..
                } => Step::Preflight,
                FailureKind::Cors { .. } => Step::CorsCheck,
                FailureKind::Network(_) | FailureKind::Transport(_) => Step::Network,
            }),
        };
        let preflight_passed = verdict != Verdict::Blocked(Step::Preflight);
        let max_age = outcome
            .exchanges
            .iter()
            .rfind(|e| e.request.preflight)
            .filter(|_| preflight_passed)
            .map(|e| browser::max_age(&e.response, profile));
        let vary_origin = match verdict {
            Verdict::Allowed(_) => outcome
                .exchanges
                .iter()
                .rfind(|e| !e.request.preflight)
                .map(|e| varies_on_origin(&e.response)),
            Verdict::Blocked(_) => None,
        };
        Observed {
            verdict,
            readable_headers: outcome.readable_headers.clone(),
            max_age,
            vary_origin,
            console: outcome.failure().and_then(crate::explain::console_message),
        }
    }

    /// `allowed (status 200)`, `blocked at the preflight`, …
    pub fn describe(&self) -> String {
        match self.verdict {
            Verdict::Allowed(status) => format!("allowed (status {status})"),
            Verdict::Blocked(Step::Fetch) => "fetch() throws before sending".to_owned(),
            Verdict::Blocked(Step::Preflight) => {
                "blocked at the preflight (the request is not sent)".to_owned()
            }
            Verdict::Blocked(Step::CorsCheck) => {
                "blocked by the CORS check (the request is sent, its answer unreadable)".to_owned()
            }
            Verdict::Blocked(Step::Network) => "blocked by a network error".to_owned(),
        }
    }
}

/// Whether a response's `Vary` names `Origin` (or is `*`).
fn varies_on_origin(response: &WireResponse) -> bool {
    response.header("vary").is_some_and(|v| {
        v.split(',')
            .map(|t| t.trim_matches(|c| c == ' ' || c == '\t'))
            .any(|t| t == "*" || t.eq_ignore_ascii_case("origin"))
    })
}

/// How the server differs from the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DifferenceKind {
    /// The server lets the page read what the policy refuses.
    AllowsRefused,
    /// The server's preflight lets through a request the policy refuses at the preflight: the
    /// answer stays unreadable, but the request reaches the server.
    SendsRefused,
    /// Script can read response headers the policy does not expose.
    ExposesMore,
    /// The server refuses what the policy allows.
    RefusesAllowed,
    /// Both refuse, but the server stops the fetch earlier than the policy does.
    BlocksEarlier,
    /// Script cannot read response headers the policy exposes.
    ExposesLess,
    /// A readable answer lacks `Vary: Origin`, which the policy sends.
    MissingVary,
    /// The preflight's answer is cached for another time than the policy says.
    MaxAge,
}

impl DifferenceKind {
    /// Every kind, in the order of [`DifferenceKind`] (the security-relevant ones first).
    pub const ALL: [DifferenceKind; 8] = [
        DifferenceKind::AllowsRefused,
        DifferenceKind::SendsRefused,
        DifferenceKind::ExposesMore,
        DifferenceKind::RefusesAllowed,
        DifferenceKind::BlocksEarlier,
        DifferenceKind::ExposesLess,
        DifferenceKind::MissingVary,
        DifferenceKind::MaxAge,
    ];

    /// The kind with this id.
    pub fn from_id(id: &str) -> Option<DifferenceKind> {
        DifferenceKind::ALL.into_iter().find(|k| k.id() == id)
    }

    /// A stable kebab-case id.
    pub fn id(self) -> &'static str {
        match self {
            DifferenceKind::AllowsRefused => "allows-refused",
            DifferenceKind::SendsRefused => "sends-refused",
            DifferenceKind::ExposesMore => "exposes-more",
            DifferenceKind::RefusesAllowed => "refuses-allowed",
            DifferenceKind::BlocksEarlier => "blocks-earlier",
            DifferenceKind::ExposesLess => "exposes-less",
            DifferenceKind::MissingVary => "missing-vary-origin",
            DifferenceKind::MaxAge => "max-age",
        }
    }

    /// A heading for the requests that differ this way.
    pub fn title(self) -> &'static str {
        match self {
            DifferenceKind::AllowsRefused => "the server allows what the policy refuses",
            DifferenceKind::SendsRefused => {
                "the server's preflight lets through requests the policy refuses"
            }
            DifferenceKind::ExposesMore => "script can read headers the policy does not expose",
            DifferenceKind::RefusesAllowed => "the server refuses what the policy allows",
            DifferenceKind::BlocksEarlier => "the server blocks earlier than the policy",
            DifferenceKind::ExposesLess => "script cannot read headers the policy exposes",
            DifferenceKind::MissingVary => {
                "readable answers without Vary: Origin (a shared cache can serve one origin's answer to another)"
            }
            DifferenceKind::MaxAge => {
                "the preflight is cached for another time than the policy says"
            }
        }
    }

    /// Whether the server is more open than the policy: something the policy refuses happens.
    pub fn is_security(self) -> bool {
        matches!(
            self,
            DifferenceKind::AllowsRefused
                | DifferenceKind::SendsRefused
                | DifferenceKind::ExposesMore
        )
    }
}

/// One way a case differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// How.
    pub kind: DifferenceKind,
    /// The specifics (`x-internal`, `5 s instead of 600 s`), if any beyond the kind.
    pub detail: Option<String>,
}

/// Every way `actual` (the server) differs from `expected` (the policy), most serious first.
pub fn compare(expected: &Observed, actual: &Observed) -> Vec<Difference> {
    let mut differences = Vec::new();
    let mut add = |kind: DifferenceKind, detail: Option<String>| {
        differences.push(Difference { kind, detail });
    };
    match (expected.verdict, actual.verdict) {
        (Verdict::Blocked(_), Verdict::Allowed(_)) => add(DifferenceKind::AllowsRefused, None),
        (Verdict::Allowed(_), Verdict::Blocked(_)) => add(DifferenceKind::RefusesAllowed, None),
        (Verdict::Blocked(policy), Verdict::Blocked(server)) if policy != server => {
            if policy == Step::Preflight && server > policy {
                add(DifferenceKind::SendsRefused, None);
            } else if server < policy {
                add(DifferenceKind::BlocksEarlier, None);
            }
        }
        (Verdict::Allowed(_), Verdict::Allowed(_)) => {
            let more: Vec<&str> = actual
                .readable_headers
                .iter()
                .filter(|h| !expected.readable_headers.contains(h))
                .map(String::as_str)
                .collect();
            if !more.is_empty() {
                add(DifferenceKind::ExposesMore, Some(more.join(", ")));
            }
            let less: Vec<&str> = expected
                .readable_headers
                .iter()
                .filter(|h| !actual.readable_headers.contains(h))
                .map(String::as_str)
                .collect();
            if !less.is_empty() {
                add(DifferenceKind::ExposesLess, Some(less.join(", ")));
            }
            if expected.vary_origin == Some(true) && actual.vary_origin == Some(false) {
                add(DifferenceKind::MissingVary, None);
            }
            if let (Some(policy), Some(server)) = (expected.max_age, actual.max_age) {
                if policy != server {
                    add(
                        DifferenceKind::MaxAge,
                        Some(format!(
                            "{} s instead of {} s",
                            server.as_secs(),
                            policy.as_secs()
                        )),
                    );
                }
            }
        }
        _ => {}
    }
    differences.sort_by_key(|d| d.kind);
    differences
}

/// What one case did: on the server, as the policy says it should, and how they differ.
#[derive(Clone, Debug)]
pub struct CaseResult {
    /// What the page asked for, and why.
    pub case: Case,
    /// What the page would observe if the server followed the policy.
    pub expected: Observed,
    /// What the page observes from the server.
    pub actual: Observed,
    /// How they differ (empty: no difference).
    pub differences: Vec<Difference>,
    /// The live fetch, every exchange and check.
    pub actual_outcome: Outcome,
    /// Whether the expected side needed an answer of the application that the live run never
    /// got (the server blocked the request before it was sent): `200` with no header is assumed.
    pub assumed_answer: bool,
}

/// The server gave no answer at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoResponse {
    /// The URL that got none.
    pub url: String,
    /// Why.
    pub error: TransportError,
}

impl fmt::Display for NoResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.url, self.error)
    }
}

impl std::error::Error for NoResponse {}

/// Runs one case against the live server (through `live`) and as the policy says, and compares.
/// Each fetch has a preflight cache of its own, so that cases never depend on each other; both
/// go through [`LoggedIn`]: a request with credentials `include` carries [`COOKIE`].
pub fn run_case(
    case: &Case,
    policy: &Policy,
    profile: Profile,
    live: &mut dyn Transport,
) -> Result<CaseResult, NoResponse> {
    let fetch = |transport: &mut dyn Transport| {
        browser::fetch(
            &case.request,
            profile,
            transport,
            &mut PreflightCache::new(),
            Duration::ZERO,
        )
        .map_err(|e| NoResponse {
            url: case.request.url.clone(),
            error: TransportError {
                kind: TransportErrorKind::Other,
                detail: e.to_string(),
            },
        })
    };
    let actual_outcome = fetch(&mut LoggedIn::new(live, &case.request))?;
    if let Some(failure) = actual_outcome.failure() {
        if let FailureKind::Transport(error) = &failure.kind {
            return Err(NoResponse {
                url: failure.url.clone(),
                error: error.clone(),
            });
        }
    }
    let mut app = Replay {
        exchanges: actual_outcome.exchanges.clone(),
        assumed: false,
    };
    let mut policy_server = PolicyServer {
        policy,
        app: &mut app,
    };
    let expected_outcome = fetch(&mut LoggedIn::new(&mut policy_server, &case.request))?;
    let expected = Observed::of(&expected_outcome, profile);
    let actual = Observed::of(&actual_outcome, profile);
    let differences = compare(&expected, &actual);
    Ok(CaseResult {
        case: case.clone(),
        expected,
        actual,
        differences,
        actual_outcome,
        assumed_answer: app.assumed,
    })
}

#[cfg(test)]
mod tests;
