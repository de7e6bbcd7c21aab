//! The server's decision on a request, and how it is written: [`Decision`] (its
//! [`RequestKind`], [`Action`], [`Rejection`] and headers), [`Decision::apply`] onto a response,
//! and [`Pending`], what a forwarded request's response still needs.

use std::fmt;

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, VARY,
};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use crate::fetch;
use crate::policy::{TRUE_VALUE, VARY_PREFLIGHT_VALUE};

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

    pub(super) fn new(value: &[u8]) -> Excerpt {
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
    pub(super) kind: RequestKind,
    pub(super) rejection: Option<Rejection>,
    pub(super) action: Action,
    pub(super) headers: CorsHeaders,
}

/// The headers a decision writes. An enum, so that a `Decision` carries only what its kind needs
/// (it is moved into every middleware's response future).
#[derive(Clone, Debug)]
pub(super) enum CorsHeaders {
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
pub(super) enum Vary {
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
