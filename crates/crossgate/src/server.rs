//! The server's side of CORS: classify a request (not CORS, preflight, actual), decide, and the
//! headers to write, with one reason code per rejection.
//!
//! [`Policy::decide`] reads only the request's method and headers and never allocates for actual
//! requests, requests without `Origin`, and rejected preflights: every header value it returns
//! was built when the policy was compiled, or is the request's own `Origin` value.
//!
//! ```
//! use crossgate::{Policy, server::{Action, RequestKind}};
//! use http::{HeaderMap, HeaderValue, Method, StatusCode};
//!
//! let policy = Policy::builder()
//!     .allow_origins(["https://app.example.com"])
//!     .allow_methods(["PUT"])
//!     .allow_headers(["content-type"])
//!     .build()?;
//!
//! let mut request = HeaderMap::new();
//! request.insert("origin", HeaderValue::from_static("https://app.example.com"));
//! request.insert("access-control-request-method", HeaderValue::from_static("PUT"));
//! request.insert("access-control-request-headers", HeaderValue::from_static("content-type"));
//!
//! let decision = policy.decide(&Method::OPTIONS, &request);
//! assert_eq!(decision.kind(), RequestKind::Preflight);
//! assert_eq!(decision.action(), Action::Respond(StatusCode::NO_CONTENT));
//!
//! let mut response = HeaderMap::new();
//! decision.apply(&mut response);
//! assert_eq!(response["access-control-allow-origin"], "https://app.example.com");
//! assert_eq!(response["access-control-allow-methods"], "PUT");
//! # Ok::<(), crossgate::policy::PolicyErrors>(())
//! ```

use std::cmp::Ordering;
use std::fmt;

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};

use crate::fetch;
use crate::policy::{
    Compiled, Match, Policy, STAR, TRUE_VALUE, VARY_PREFLIGHT_VALUE, with_allow_origin,
};

/// The most non-empty elements an `Access-Control-Request-Headers` may list before the preflight
/// is refused as malformed. Browsers list each distinct header the script set, once.
pub const MAX_REQUEST_HEADERS: usize = 256;

/// The most bytes, over all its lines, an `Access-Control-Request-Headers` may have before the
/// preflight is refused as malformed: [`MAX_REQUEST_HEADERS`] names of 64 bytes, with room to
/// spare. Bounds the work a hostile preflight costs (a megabyte of commas is refused at once).
pub const MAX_REQUEST_HEADERS_BYTES: usize = 16 * 1024;

/// What kind of request this is, for CORS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// No `Origin` header: CORS does not apply.
    NotCors,
    /// `OPTIONS` with `Origin` and `Access-Control-Request-Method` (Fetch "CORS-preflight request").
    Preflight,
    /// Any other request with an `Origin` header (including `OPTIONS` without
    /// `Access-Control-Request-Method`).
    Actual,
}

impl RequestKind {
    /// `not-cors`, `preflight` or `actual`.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::NotCors => "not-cors",
            RequestKind::Preflight => "preflight",
            RequestKind::Actual => "actual",
        }
    }
}

/// What the edge must do with the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Pass it to the application, then [`Decision::apply`] the headers to its response.
    Forward,
    /// Answer it with this status and an empty body, without calling the application, and
    /// [`Decision::apply`] the headers.
    Respond(StatusCode),
}

/// Why a request was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// The `Origin` is not allowed by the policy.
    OriginNotAllowed,
    /// The preflight asked for a method the policy does not allow.
    MethodNotAllowed(Excerpt),
    /// The preflight asked for a request header the policy does not allow.
    HeaderNotAllowed(Excerpt),
    /// A CORS request header could not be read.
    MalformedRequestHeader {
        /// The header, lower case.
        header: &'static str,
        /// What is wrong with it.
        why: &'static str,
    },
}

impl Rejection {
    /// A stable kebab-case reason code (`origin-not-allowed`, `method-not-allowed`,
    /// `header-not-allowed`, `malformed-request-header`).
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::OriginNotAllowed => "origin-not-allowed",
            Rejection::MethodNotAllowed(_) => "method-not-allowed",
            Rejection::HeaderNotAllowed(_) => "header-not-allowed",
            Rejection::MalformedRequestHeader { .. } => "malformed-request-header",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::OriginNotAllowed => f.write_str("origin not allowed"),
            Rejection::MethodNotAllowed(m) => write!(f, "method {m} not allowed"),
            Rejection::HeaderNotAllowed(h) => write!(f, "header {h} not allowed"),
            Rejection::MalformedRequestHeader { header, why } => {
                write!(f, "malformed {header}: {why}")
            }
        }
    }
}

/// The first bytes of a request value (a method or header name), kept inline so that a rejection
/// never allocates.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Excerpt {
    bytes: [u8; Excerpt::CAPACITY],
    len: u8,
    truncated: bool,
}

impl Excerpt {
    /// How many bytes are kept.
    pub const CAPACITY: usize = 64;

    fn new(value: &[u8]) -> Excerpt {
        let len = value.len().min(Excerpt::CAPACITY);
        let mut bytes = [0; Excerpt::CAPACITY];
        bytes[..len].copy_from_slice(&value[..len]);
        // `len` is at most CAPACITY (64), so it fits a u8.
        Excerpt {
            bytes,
            len: len as u8,
            truncated: value.len() > len,
        }
    }

    /// The kept bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Whether the value was longer than [`Excerpt::CAPACITY`].
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }
}

impl fmt::Display for Excerpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = String::from_utf8_lossy(self.as_bytes());
        let more = if self.truncated { "…" } else { "" };
        write!(f, "\"{}{more}\"", text.escape_debug())
    }
}

impl fmt::Debug for Excerpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The server's decision on one request: its kind, the verdict, what to do, and the headers to
/// write on the response.
#[derive(Clone, Debug)]
#[must_use]
pub struct Decision {
    kind: RequestKind,
    rejection: Option<Rejection>,
    action: Action,
    headers: CorsHeaders,
}

/// The headers a decision writes. An enum, so that a `Decision` carries only what its kind needs
/// (it is moved into every middleware's response future).
#[derive(Clone, Debug)]
enum CorsHeaders {
    /// No CORS header, only `Vary` (requests without `Origin`, refused requests).
    None(Vary),
    /// An allowed actual request.
    Actual {
        allow_origin: HeaderValue,
        credentials: bool,
        expose: Option<HeaderValue>,
        vary: Vary,
    },
    /// An allowed preflight: the whole answer's headers, `Vary` included, cloned from the map
    /// the policy precompiled (one allocation, no hashing) with `Access-Control-Allow-Origin` set.
    Preflight(HeaderMap),
}

/// Which request headers the response varies on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Vary {
    #[default]
    None,
    Origin,
    Preflight,
}

/// Every CORS response header (Fetch §3.2.3, and Private Network Access's
/// `Access-Control-Allow-Private-Network`), removed from the application's response before the
/// decision's are written.
const RESPONSE_HEADERS: [HeaderName; 7] = [
    ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_ALLOW_CREDENTIALS,
    ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_HEADERS,
    ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_EXPOSE_HEADERS,
    HeaderName::from_static("access-control-allow-private-network"),
];

const VARY_ORIGIN: [&str; 1] = ["origin"];
const VARY_PREFLIGHT: [&str; 3] = [
    "origin",
    "access-control-request-method",
    "access-control-request-headers",
];
const VARY_ORIGIN_VALUE: HeaderValue = HeaderValue::from_static("Origin");

impl Decision {
    /// What kind of request it was.
    pub fn kind(&self) -> RequestKind {
        self.kind
    }

    /// Whether the request passed (always true for [`RequestKind::NotCors`]).
    pub fn is_allowed(&self) -> bool {
        self.rejection.is_none()
    }

    /// Why the request was refused, if it was.
    pub fn rejection(&self) -> Option<&Rejection> {
        self.rejection.as_ref()
    }

    /// What the edge must do.
    pub fn action(&self) -> Action {
        self.action
    }

    /// The CORS headers to write (without `Vary`, which [`Decision::apply`] merges).
    pub fn headers(&self) -> impl Iterator<Item = (HeaderName, &HeaderValue)> {
        let (fields, answer) = match &self.headers {
            CorsHeaders::None(_) => ([None, None, None], None),
            CorsHeaders::Actual {
                allow_origin,
                credentials,
                expose,
                ..
            } => (
                [
                    Some((ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin)),
                    credentials.then_some((ACCESS_CONTROL_ALLOW_CREDENTIALS, &TRUE_VALUE)),
                    expose.as_ref().map(|v| (ACCESS_CONTROL_EXPOSE_HEADERS, v)),
                ],
                None,
            ),
            CorsHeaders::Preflight(answer) => ([None, None, None], Some(answer)),
        };
        let answer = answer
            .into_iter()
            .flat_map(HeaderMap::iter)
            .filter(|(name, _)| **name != VARY)
            .map(|(name, value)| (name.clone(), value));
        fields.into_iter().flatten().chain(answer)
    }

    /// Writes the CORS headers into a response's headers and merges `Vary` into the
    /// application's without duplicating a name. The policy is the only authority on CORS: every
    /// `Access-Control-*` response header the application set is replaced or removed, so that an
    /// application's `Access-Control-Allow-Origin: *` cannot open what the policy refused.
    ///
    /// Returns what was done beyond writing: whether the response carried CORS headers of its
    /// own (a second CORS layer, or a handler that sets them itself), which edges report.
    pub fn apply(&self, response: &mut HeaderMap) -> Applied {
        let replaced = remove_cors_headers(response);
        match &self.headers {
            CorsHeaders::None(vary) => merge_vary(response, *vary),
            CorsHeaders::Actual {
                allow_origin,
                credentials,
                expose,
                vary,
            } => write_actual(response, allow_origin, *credentials, expose.as_ref(), *vary),
            CorsHeaders::Preflight(answer) => write_answer(response, answer),
        }
        Applied { replaced }
    }

    /// What the response of a forwarded request ([`Action::Forward`]) still needs from this
    /// decision, for an edge that applies it later (a middleware's response future): about half
    /// the size of a `Decision`, which such a future would otherwise carry.
    #[inline]
    pub fn into_pending(self) -> Pending {
        Pending(match self.headers {
            CorsHeaders::None(vary) => PendingHeaders::None(vary),
            CorsHeaders::Actual {
                allow_origin,
                credentials,
                expose,
                vary,
            } => PendingHeaders::Actual {
                allow_origin,
                credentials,
                expose,
                vary,
            },
            // Never for a forwarded request (preflights are answered); kept whole all the same.
            CorsHeaders::Preflight(answer) => PendingHeaders::Answer(Box::new(answer)),
        })
    }

    /// The headers of an answer the edge sends itself ([`Action::Respond`]): what
    /// [`Decision::apply`] writes into an empty map, without copying an allowed preflight's
    /// precompiled answer a second time.
    pub fn into_response_headers(self) -> HeaderMap {
        match self.headers {
            CorsHeaders::Preflight(answer) => answer,
            _ => {
                let mut headers = HeaderMap::new();
                self.apply(&mut headers);
                headers
            }
        }
    }
}

/// The CORS headers a forwarded request's response still needs ([`Decision::into_pending`]).
#[derive(Clone, Debug)]
pub struct Pending(PendingHeaders);

#[derive(Clone, Debug)]
enum PendingHeaders {
    None(Vary),
    Actual {
        allow_origin: HeaderValue,
        credentials: bool,
        expose: Option<HeaderValue>,
        vary: Vary,
    },
    Answer(Box<HeaderMap>),
}

impl Pending {
    /// [`Decision::apply`], for the decision this came from.
    pub fn apply(&self, response: &mut HeaderMap) -> Applied {
        let replaced = remove_cors_headers(response);
        match &self.0 {
            PendingHeaders::None(vary) => merge_vary(response, *vary),
            PendingHeaders::Actual {
                allow_origin,
                credentials,
                expose,
                vary,
            } => write_actual(response, allow_origin, *credentials, expose.as_ref(), *vary),
            PendingHeaders::Answer(answer) => write_answer(response, answer),
        }
        Applied { replaced }
    }
}

/// Removes every CORS response header the application set (the policy is the only authority on
/// CORS), and says whether there was one. One pass over the names instead of a lookup per CORS
/// header: responses are small, and almost never carry CORS headers of their own.
#[inline]
fn remove_cors_headers(response: &mut HeaderMap) -> bool {
    let replaced = response.keys().any(is_cors_response_header);
    if replaced {
        for name in RESPONSE_HEADERS {
            response.remove(name);
        }
    }
    replaced
}

/// An allowed actual request's headers, and `Vary` merged.
#[inline]
fn write_actual(
    response: &mut HeaderMap,
    allow_origin: &HeaderValue,
    credentials: bool,
    expose: Option<&HeaderValue>,
    vary: Vary,
) {
    response.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin.clone());
    if credentials {
        response.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE_VALUE.clone());
    }
    if let Some(expose) = expose {
        response.insert(ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
    }
    merge_vary(response, vary);
}

/// An allowed preflight's answer: copied whole into an empty map, else written over the
/// response's headers with `Vary` merged.
#[inline]
fn write_answer(response: &mut HeaderMap, answer: &HeaderMap) {
    if response.is_empty() {
        response.clone_from(answer);
        return;
    }
    for (name, value) in answer.iter().filter(|(name, _)| **name != VARY) {
        response.insert(name.clone(), value.clone());
    }
    merge_vary(response, Vary::Preflight);
}

/// What [`Decision::apply`] found in the response it wrote to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Applied {
    replaced: bool,
}

impl Applied {
    /// Whether the response carried CORS response headers of its own (any of the six
    /// `Access-Control-Allow-*`/`-Expose-Headers`/`-Max-Age` headers, or
    /// `Access-Control-Allow-Private-Network`), which were removed before the decision's were
    /// written.
    pub fn replaced_cors_headers(self) -> bool {
        self.replaced
    }
}

/// Whether `name` is one of [`RESPONSE_HEADERS`].
fn is_cors_response_header(name: &HeaderName) -> bool {
    name.as_str().starts_with("access-control-") && RESPONSE_HEADERS.contains(name)
}

/// Adds each of `names` to the response's `Vary` unless it is there already (or `Vary: *`).
/// Allocates only when the application set a `Vary` that lacks one of them.
fn merge_vary(response: &mut HeaderMap, vary: Vary) {
    match vary {
        Vary::None => {}
        Vary::Origin => merge_vary_names(response, &VARY_ORIGIN, VARY_ORIGIN_VALUE),
        Vary::Preflight => merge_vary_names(response, &VARY_PREFLIGHT, VARY_PREFLIGHT_VALUE),
    }
}

/// Adds each of `names` to the response's `Vary` unless it is there already (or `Vary: *`).
/// Allocates only when the application set a `Vary` that lacks one of them.
fn merge_vary_names(response: &mut HeaderMap, names: &[&str], whole: HeaderValue) {
    // One lookup: the entry, whether the application set a `Vary` or not.
    let mut existing = match response.entry(VARY) {
        http::header::Entry::Vacant(vacant) => {
            vacant.insert(whole);
            return;
        }
        http::header::Entry::Occupied(occupied) => occupied,
    };
    let present = |existing: &http::header::OccupiedEntry<'_, HeaderValue>, name: &str| {
        existing.iter().any(|v| {
            v.as_bytes()
                .split(|&b| b == b',')
                .map(fetch::trim_ows)
                .any(|t| t == b"*" || t.eq_ignore_ascii_case(name.as_bytes()))
        })
    };
    if names.iter().all(|n| present(&existing, n)) {
        return;
    }
    let whole_text = whole.to_str().unwrap_or_default();
    let mut merged: Vec<u8> = Vec::new();
    for v in existing.iter() {
        for element in v.as_bytes().split(|&b| b == b',').map(fetch::trim_ows) {
            if element.is_empty() {
                continue;
            }
            if !merged.is_empty() {
                merged.extend_from_slice(b", ");
            }
            merged.extend_from_slice(element);
        }
    }
    for (name, spelled) in names.iter().zip(whole_text.split(", ")) {
        if !present(&existing, name) {
            if !merged.is_empty() {
                merged.extend_from_slice(b", ");
            }
            merged.extend_from_slice(spelled.as_bytes());
        }
    }
    // Existing values were valid header values and we only added tokens and ", ". `insert`
    // replaces every line of the entry with the merged one.
    if let Ok(value) = HeaderValue::from_bytes(&merged) {
        existing.insert(value);
    }
}

impl Policy {
    /// Classifies a request and decides what to do with it, per this policy.
    pub fn decide(&self, method: &Method, request: &HeaderMap) -> Decision {
        decide(self.compiled(), method, request)
    }
}

fn decide(policy: &Compiled, method: &Method, request: &HeaderMap) -> Decision {
    let vary_origin = if policy.vary_origin {
        Vary::Origin
    } else {
        Vary::None
    };
    if method == Method::OPTIONS {
        return options(policy, request, vary_origin);
    }
    let mut origins = request.get_all(ORIGIN).iter();
    let Some(origin) = origins.next() else {
        return Decision {
            kind: RequestKind::NotCors,
            rejection: None,
            action: Action::Forward,
            headers: CorsHeaders::None(vary_origin),
        };
    };
    let several_origins = origins.next().is_some();
    actual(policy, origin, several_origins, request, vary_origin)
}

/// An `OPTIONS` request: a preflight if it carries `Origin` and `Access-Control-Request-Method`.
/// The request's headers are read in one pass (a preflight needs three of them) rather than
/// looked up one by one, each lookup hashing its name.
fn options(policy: &Compiled, request: &HeaderMap, vary_origin: Vary) -> Decision {
    let mut origin = None;
    let mut several_origins = false;
    let mut method = None;
    let mut several_methods = false;
    let mut header_lines = RequestHeaderLines::None;
    for (name, value) in request {
        if *name == ORIGIN {
            several_origins |= origin.replace(value).is_some();
        } else if *name == ACCESS_CONTROL_REQUEST_METHOD {
            several_methods |= method.replace(value).is_some();
        } else if *name == ACCESS_CONTROL_REQUEST_HEADERS {
            header_lines = match header_lines {
                RequestHeaderLines::None => RequestHeaderLines::One(value),
                _ => RequestHeaderLines::Several,
            };
        }
    }
    match (origin, method) {
        (None, _) => Decision {
            kind: RequestKind::NotCors,
            rejection: None,
            action: Action::Forward,
            headers: CorsHeaders::None(vary_origin),
        },
        (Some(origin), None) => actual(policy, origin, several_origins, request, vary_origin),
        (Some(origin), Some(method)) => preflight(
            policy,
            Preflight {
                origin,
                several_origins,
                method,
                several_methods,
                header_lines,
            },
            request,
        ),
    }
}

/// What [`options`] found of a preflight's request headers.
struct Preflight<'a> {
    origin: &'a HeaderValue,
    several_origins: bool,
    method: &'a HeaderValue,
    several_methods: bool,
    header_lines: RequestHeaderLines<'a>,
}

/// The `Access-Control-Request-Headers` lines of a request: almost always none or one, found
/// while looking for the other preflight headers; several are looked up again.
#[derive(Clone, Copy)]
enum RequestHeaderLines<'a> {
    None,
    One(&'a HeaderValue),
    Several,
}

/// `Access-Control-Allow-Origin` for an allowed origin: `*`, the precomputed exact value, or the
/// request's own value for a pattern match.
fn allow_origin_value(m: Match<'_>, origin: &HeaderValue) -> HeaderValue {
    match m {
        Match::Any => STAR,
        Match::Exact(v, _) => v.clone(),
        Match::Pattern => origin.clone(),
    }
}

/// The CORS protocol's answer to an actual request (Fetch §3.2.3, the server's half of the "CORS
/// check"): the allowed origin, credentials and exposed headers.
fn actual(
    policy: &Compiled,
    origin: &HeaderValue,
    several: bool,
    request: &HeaderMap,
    vary: Vary,
) -> Decision {
    let found = if several {
        None
    } else {
        policy.origins.find(origin.as_bytes())
    };
    match found {
        Some(m) => Decision {
            kind: RequestKind::Actual,
            rejection: None,
            action: Action::Forward,
            headers: CorsHeaders::Actual {
                allow_origin: allow_origin_value(m, origin),
                credentials: policy.credentials,
                expose: policy.expose_headers.clone(),
                vary,
            },
        },
        None => {
            let rejection = if several {
                Rejection::MalformedRequestHeader {
                    header: "origin",
                    why: "several Origin headers",
                }
            } else {
                Rejection::OriginNotAllowed
            };
            // A page's own fetches carry Origin too (POST, for instance): `Sec-Fetch-Site`, which
            // script cannot set, tells them apart from cross-site ones.
            let same_origin = || {
                request
                    .get(http::HeaderName::from_static("sec-fetch-site"))
                    .is_some_and(|v| v.as_bytes() == b"same-origin")
            };
            let action = if policy.block_disallowed && !same_origin() {
                Action::Respond(StatusCode::FORBIDDEN)
            } else {
                Action::Forward
            };
            Decision {
                kind: RequestKind::Actual,
                rejection: Some(rejection),
                action,
                // Refusing several `Origin`s depends on `Origin` even under `*`: without `Vary`,
                // a shared cache would serve the refusal to every origin.
                headers: CorsHeaders::None(if several { Vary::Origin } else { vary }),
            }
        }
    }
}

/// The answer to a CORS-preflight request (Fetch §3.2.2): 204 with the allowed origin, methods,
/// headers and max-age, or 403 with no CORS headers.
fn preflight(policy: &Compiled, found: Preflight<'_>, request: &HeaderMap) -> Decision {
    let Preflight {
        origin,
        several_origins: several,
        method,
        several_methods,
        header_lines,
    } = found;
    let refuse = |rejection: Rejection| Decision {
        kind: RequestKind::Preflight,
        rejection: Some(rejection),
        action: Action::Respond(StatusCode::FORBIDDEN),
        headers: CorsHeaders::None(Vary::Preflight),
    };
    if several {
        return refuse(Rejection::MalformedRequestHeader {
            header: "origin",
            why: "several Origin headers",
        });
    }
    let Some(m) = policy.origins.find(origin.as_bytes()) else {
        return refuse(Rejection::OriginNotAllowed);
    };
    // A method the policy lists (or a safelisted one) is a token already: only others are read.
    if several_methods || !method_listed(policy, method.as_bytes()) {
        if let Err(rejection) = request_method(method, several_methods) {
            return refuse(rejection);
        }
        if policy.methods.is_some() {
            return refuse(Rejection::MethodNotAllowed(Excerpt::new(method.as_bytes())));
        }
    }
    let allowed = |name: &[u8]| header_allowed(policy, name);
    let checked = match header_lines {
        RequestHeaderLines::None => Ok(0),
        RequestHeaderLines::One(line) => {
            match policy
                .headers
                .as_deref()
                .and_then(|sorted| sorted_subset(line, sorted))
            {
                Some(count) => Ok(count),
                None => check_request_header_lines([line], allowed),
            }
        }
        RequestHeaderLines::Several => check_request_headers(request, allowed),
    };
    if let Err(rejection) = checked {
        return refuse(rejection);
    }
    let mut answer = match m {
        // One of a handful of exact origins: its whole answer, precompiled.
        Match::Exact(_, Some(answer)) => answer.clone(),
        m => with_allow_origin(&policy.preflight_answer, allow_origin_value(m, origin)),
    };
    if policy.methods.is_none() {
        answer.insert(ACCESS_CONTROL_ALLOW_METHODS, method.clone());
    }
    if policy.headers.is_none() {
        match reflect_request_headers(request) {
            Some(reflected) => answer.insert(ACCESS_CONTROL_ALLOW_HEADERS, reflected),
            None => answer.remove(ACCESS_CONTROL_ALLOW_HEADERS),
        };
    }
    Decision {
        kind: RequestKind::Preflight,
        rejection: None,
        action: Action::Respond(StatusCode::NO_CONTENT),
        headers: CorsHeaders::Preflight(answer),
    }
}

/// `Access-Control-Request-Method`: exactly one value, a token.
fn request_method(value: &HeaderValue, several: bool) -> Result<(), Rejection> {
    let malformed = |why| Rejection::MalformedRequestHeader {
        header: "access-control-request-method",
        why,
    };
    if several {
        return Err(malformed("several values"));
    }
    if !fetch::is_token(value.as_bytes()) {
        return Err(malformed("not a method token"));
    }
    Ok(())
}

/// The preflight's method check (Fetch "CORS-preflight fetch": safelisted methods always pass;
/// otherwise a byte-case-sensitive match in the allowed list, or `*`), as browsers make it:
/// `fetch(url, {method: "patch"})` sends `patch`, and only `patch` listed lets it through. This
/// is the listed half; under `*` any token passes ([`request_method`]).
fn method_listed(policy: &Compiled, method: &[u8]) -> bool {
    fetch::is_cors_safelisted_method(method)
        || policy
            .methods
            .as_ref()
            .is_some_and(|list| list.iter().any(|m| **m == *method))
}

/// Whether the policy allows request header `name` (ASCII case-insensitively: the allowed names
/// are stored lower case).
fn header_allowed(policy: &Compiled, name: &[u8]) -> bool {
    let Some(sorted) = &policy.headers else {
        return true;
    };
    // A policy lists a handful of names: comparing those of the same length is cheaper than a
    // binary search's ordered comparisons. Long lists are searched.
    if sorted.len() <= 16 {
        // Most candidates differ in length or first byte; browsers send lower-case names, so
        // byte equality decides the rest, with the case-insensitive match for other clients.
        sorted.iter().any(|allowed| {
            allowed.len() == name.len()
                && allowed.first() == name.first().map(u8::to_ascii_lowercase).as_ref()
                && (**allowed == *name || allowed.eq_ignore_ascii_case(name))
        })
    } else {
        sorted
            .binary_search_by(|probe| cmp_ignore_ascii_case(probe, name))
            .is_ok()
    }
}

/// Compares `a` (already lower case) with `b` as if `b` were lower-cased, without allocating.
fn cmp_ignore_ascii_case(a: &[u8], b: &[u8]) -> Ordering {
    a.iter().copied().cmp(b.iter().map(u8::to_ascii_lowercase))
}

/// Reads `Access-Control-Request-Headers` as the Fetch standard sends it (a comma-separated list
/// of header names, possibly over several lines), tolerating optional whitespace and empty
/// elements, and checks each name, as the request spelled it, with `allowed`. Linear in the
/// input, allocation-free, and bounded to [`MAX_REQUEST_HEADERS`] names and
/// [`MAX_REQUEST_HEADERS_BYTES`] bytes.
pub fn check_request_headers(
    request: &HeaderMap,
    allowed: impl FnMut(&[u8]) -> bool,
) -> Result<usize, Rejection> {
    check_request_header_lines(&request.get_all(ACCESS_CONTROL_REQUEST_HEADERS), allowed)
}

/// [`check_request_headers`] over the lines themselves. One pass over the bytes: each is looked
/// up once in the `tchar` table, and names are sliced out of the line, never copied.
fn check_request_header_lines<'a>(
    lines: impl IntoIterator<Item = &'a HeaderValue> + Copy,
    mut allowed: impl FnMut(&[u8]) -> bool,
) -> Result<usize, Rejection> {
    let malformed = |why| Rejection::MalformedRequestHeader {
        header: "access-control-request-headers",
        why,
    };
    if lines.into_iter().map(HeaderValue::len).sum::<usize>() > MAX_REQUEST_HEADERS_BYTES {
        return Err(malformed("too long"));
    }
    let mut count = 0;
    let mut name_done = |name: &[u8]| {
        count += 1;
        if count > MAX_REQUEST_HEADERS {
            return Err(malformed("too many header names"));
        }
        if !allowed(name) {
            return Err(Rejection::HeaderNotAllowed(Excerpt::new(name)));
        }
        Ok(())
    };
    for line in lines {
        let bytes = line.as_bytes();
        let mut i = 0;
        loop {
            // Separators: optional whitespace and commas (empty elements are allowed).
            while i < bytes.len() && (bytes[i] == b',' || fetch::is_ows(bytes[i])) {
                i += 1;
            }
            if i == bytes.len() {
                break;
            }
            let start = i;
            while i < bytes.len() && fetch::is_tchar(bytes[i]) {
                i += 1;
            }
            let name = &bytes[start..i];
            while i < bytes.len() && fetch::is_ows(bytes[i]) {
                i += 1;
            }
            // A name ends at a comma or the end of the line: anything else (`a b`, `a;b`, a
            // byte outside `tchar`) is not a list of header names.
            if name.is_empty() || (i < bytes.len() && bytes[i] != b',') {
                return Err(malformed("not a list of header names"));
            }
            name_done(name)?;
        }
    }
    Ok(count)
}

/// The browsers' fast path: Fetch builds `Access-Control-Request-Headers` from the request's
/// CORS-unsafe header names, lower-cased, sorted and joined with `,` ("CORS-preflight fetch",
/// step 5). A line that is exactly some of the policy's names (lower case, sorted the same way)
/// in that form is allowed on a few `memcmp`s, its count returned; anything else (another
/// spelling, whitespace, an unknown name, too long) is `None`, for the byte-by-byte reader.
fn sorted_subset(line: &HeaderValue, sorted: &[Box<[u8]>]) -> Option<usize> {
    let mut rest = line.as_bytes();
    if rest.len() > MAX_REQUEST_HEADERS_BYTES {
        return None;
    }
    let mut names = sorted.iter();
    let mut count = 0;
    while !rest.is_empty() {
        let name = names.find(|name| {
            rest.starts_with(name) && rest.get(name.len()).is_none_or(|&b| b == b',')
        })?;
        count += 1;
        rest = match &rest[name.len()..] {
            [] => break,
            // A comma, and a name after it (a trailing comma is for the general reader).
            [_, next @ ..] if !next.is_empty() => next,
            _ => return None,
        };
    }
    (count <= MAX_REQUEST_HEADERS).then_some(count)
}

/// The request's `Access-Control-Request-Headers`, for a policy that allows every header. One
/// line is reflected as is; several are joined.
fn reflect_request_headers(request: &HeaderMap) -> Option<HeaderValue> {
    let mut lines = request.get_all(ACCESS_CONTROL_REQUEST_HEADERS).iter();
    let first = lines.next()?;
    let Some(second) = lines.next() else {
        return Some(first.clone());
    };
    let mut joined = first.as_bytes().to_vec();
    for line in std::iter::once(second).chain(lines) {
        joined.extend_from_slice(b",");
        joined.extend_from_slice(line.as_bytes());
    }
    HeaderValue::from_bytes(&joined).ok()
}

#[cfg(test)]
mod tests;
