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

mod decision;
mod request_headers;

use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, ORIGIN,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

pub use decision::{Action, Applied, Decision, Excerpt, Pending, Rejection, RequestKind};
pub use request_headers::{MAX_REQUEST_HEADERS, MAX_REQUEST_HEADERS_BYTES, check_request_headers};

use decision::{CorsHeaders, Vary};
use request_headers::{
    check_request_header_lines, header_allowed, reflect_request_headers, sorted_subset,
};

use crate::fetch;
use crate::policy::{Compiled, Match, Policy, STAR, with_allow_origin};

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

#[cfg(test)]
mod tests;
