//! The transports a case goes through besides the edge's live one: [`PolicyServer`], which
//! answers as the policy says in front of the application's replayed answers ([`Replay`]), and
//! [`LoggedIn`], a logged-in user's browser in front of either.

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use url::Url;

use crate::browser::{
    self, Credentials, Request, Transport, TransportError, TransportErrorKind, WireRequest,
    WireResponse,
};
use crate::policy::Policy;
use crate::server::Action;

/// The cookie a logged-in user's browser sends with every request whose credentials mode is
/// `include` (never with a preflight), to the host of the URL checked; see [`LoggedIn`].
pub const COOKIE: &str = "crossgate-check=1";

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
/// leads to. [`run_case`](super::run_case) puts it in front of both the live server and the policy's answers, so
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
pub(super) struct Replay {
    pub(super) exchanges: Vec<browser::Exchange>,
    /// Whether an answer had to be made up.
    pub(super) assumed: bool,
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
