//! [`Anywhere`]: anywhere mode (cors-anywhere style). The target is the request's path
//! (`/https://api.example.com/v1/x?q=1`) or its `?url=` parameter; the proxy fetches it without
//! the page's cookies, follows 301/302/303 itself (each hop through the guarded connector again),
//! passes 307/308 back with `Location` pointing through the proxy, and answers with
//! `x-request-url` and `x-final-url`. `/` is a short usage page. CORS headers come from the
//! layer around it.
//!
//! No URL the page is shown carries userinfo (`user:password@`): `x-request-url`, `x-final-url`
//! and a 307/308's `Location` through the proxy are written without it (a redirect's credentials
//! are the target's, not the page's to read; the proxy never sends them either: hyper takes only
//! the host from the URL).
//!
//! Every hop is a request to its own target host: each is checked against the per-target rate
//! limit, not only the first. An upstream's answer is served from the proxy's own origin, so it
//! comes with `Content-Security-Policy: sandbox` and `X-Content-Type-Options: nosniff`: an HTML
//! page fetched through the proxy and opened in a tab runs no script as the proxy's origin.

use std::convert::Infallible;
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use hyper::body::Incoming;

use crate::body::{BodyTimeouts, ProxyBody};
use crate::connect::BoxFuture;
use crate::error::{ProxyError, answer};
use crate::forward::{Limits, UpstreamClient, check_framing, check_method, remove_hop_by_hop};
use crate::limit::RateLimits;

/// The most redirects followed inside the proxy for one request.
pub const MAX_REDIRECTS: usize = 5;

/// The response header naming the target the request asked for.
pub const REQUEST_URL: &str = "x-request-url";
/// The response header naming the URL the answer came from, after redirects.
pub const FINAL_URL: &str = "x-final-url";

const USAGE: &str = "crossgate proxy (anywhere mode)

Fetch any public http(s) URL with CORS headers added:

    fetch('http://<this proxy>/https://api.example.com/v1/items?page=2')
    fetch('http://<this proxy>/?url=' + encodeURIComponent('https://api.example.com/v1/items'))

The page's cookies are not sent and Set-Cookie is not returned. Redirects 301, 302 and 303 are
followed here (at most 5); 307 and 308 come back with Location through this proxy. The answer
carries x-request-url and x-final-url. Private, loopback and link-local addresses are refused.
Errors are JSON: {\"error\": \"<code>\", \"detail\": \"<what happened>\"}.
";

/// Anywhere mode's service.
#[derive(Clone, Debug)]
pub struct Anywhere {
    client: UpstreamClient,
    timeout: Duration,
    limits: Limits,
    body_timeouts: BodyTimeouts,
    rates: Option<std::sync::Arc<RateLimits>>,
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
}

impl Anywhere {
    /// Targets are fetched through `client` (whose connector refuses private addresses unless
    /// configured otherwise); `timeout` bounds each hop's wait for a response head.
    pub fn new(client: UpstreamClient, timeout: Duration) -> Anywhere {
        Anywhere {
            client,
            timeout,
            limits: Limits::default(),
            body_timeouts: BodyTimeouts::default(),
            rates: None,
            metrics: None,
        }
    }

    /// How long a target's body may go without a byte and take in all, and the client's body
    /// without a byte ([`BodyTimeouts::default`] unless set: 30 s without a byte).
    #[must_use]
    pub fn body_timeouts(mut self, timeouts: BodyTimeouts) -> Anywhere {
        self.body_timeouts = timeouts;
        self
    }

    /// Records each hop's time to a response head in `metrics`.
    #[must_use]
    pub fn metrics(mut self, metrics: std::sync::Arc<crate::metrics::Metrics>) -> Anywhere {
        self.metrics = Some(metrics);
        self
    }

    /// The per-target-host rate limit of `rates` (the per-client ones are [`Limited`]'s).
    ///
    /// [`Limited`]: crate::limit::Limited
    #[must_use]
    pub fn rate_limits(mut self, rates: std::sync::Arc<RateLimits>) -> Anywhere {
        self.rates = Some(rates);
        self
    }

    /// Body-size limits ([`Limits::default`] unless set).
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Anywhere {
        self.limits = limits;
        self
    }

    async fn handle(self, request: Request<Incoming>) -> Result<Response<ProxyBody>, ProxyError> {
        let Some(target) = target(request.uri())? else {
            let mut response = Response::new(ProxyBody::full(USAGE));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            response.headers_mut().insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            return Ok(response);
        };
        check_method(request.method())?;
        check_framing(request.headers())?;
        self.limits.check_request(request.headers())?;
        let request_url = without_userinfo(&target);
        let (mut parts, body) = request.into_parts();
        let mut body = ProxyBody::request(body, self.limits.request_body)
            .timeouts(self.body_timeouts.for_request())
            .counted(self.metrics.as_ref(), "request");
        remove_hop_by_hop(&mut parts.headers);
        strip_credentials(&mut parts.headers);
        parts.headers.remove(header::HOST);
        parts.version = http::Version::HTTP_11;

        let mut url = target;
        let mut method = parts.method.clone();
        for hop in 0..=MAX_REDIRECTS {
            // Each hop spends its own target's budget: a redirect must not lead past it.
            if let (Some(rates), Some(host)) = (&self.rates, url.host_str()) {
                rates.check_target(host)?;
            }
            let uri = to_uri(&url)?;
            let started = self.metrics.as_ref().map(|_| std::time::Instant::now());
            let mut outgoing = Request::new(std::mem::take(&mut body));
            *outgoing.method_mut() = method.clone();
            *outgoing.uri_mut() = uri;
            *outgoing.headers_mut() = parts.headers.clone();
            let response = self
                .client
                .send(outgoing, None, self.timeout, self.limits.response_body)
                .await;
            if let (Some(metrics), Some(started)) = (&self.metrics, started) {
                metrics.observe_upstream(started.elapsed());
            }
            let response = response?;
            let status = response.status();
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| url.join(l).ok());
            match (status.as_u16(), location) {
                (301..=303, Some(next)) if hop < MAX_REDIRECTS => {
                    // As browsers do: 303 always, and 301/302 after a POST, become GET without a
                    // body; the body is gone after the first hop in any case.
                    if status == StatusCode::SEE_OTHER || method == Method::POST {
                        method = Method::GET;
                    } else if method != Method::GET && method != Method::HEAD {
                        let url = without_userinfo(&url);
                        return Err(ProxyError::Upstream(format!(
                            "{url} redirected a {method} with {status}, which the proxy cannot \
                             replay without its body"
                        )));
                    }
                    // The body went with the first hop: later hops send none, and say so.
                    parts.headers.remove(header::CONTENT_TYPE);
                    parts.headers.remove(header::CONTENT_LENGTH);
                    body = ProxyBody::Empty;
                    url = next;
                }
                (301..=303, Some(_)) => {
                    let url = without_userinfo(&url);
                    return Err(ProxyError::Upstream(format!(
                        "more than {MAX_REDIRECTS} redirects, the last from {url}"
                    )));
                }
                (code, location) => {
                    self.limits.check_response(response.headers())?;
                    let (mut parts, body) = response.into_parts();
                    remove_hop_by_hop(&mut parts.headers);
                    parts.version = http::Version::default();
                    parts.headers.remove(header::SET_COOKIE);
                    if let (307 | 308, Some(next)) = (code, location) {
                        // Back through the proxy: relative to the proxy's own URL.
                        let next = without_userinfo(&next);
                        if let Ok(value) = HeaderValue::from_str(&format!("/{next}")) {
                            parts.headers.insert(header::LOCATION, value);
                        }
                    }
                    insert_url(&mut parts.headers, REQUEST_URL, &request_url);
                    insert_url(&mut parts.headers, FINAL_URL, &without_userinfo(&url));
                    confine(&mut parts.headers);
                    let body = body
                        .timeouts(self.body_timeouts)
                        .counted(self.metrics.as_ref(), "response");
                    return Ok(Response::from_parts(parts, body));
                }
            }
        }
        Err(ProxyError::Upstream(format!(
            "more than {MAX_REDIRECTS} redirects"
        )))
    }
}

/// `url` as the page may see it: without a user name or password.
fn without_userinfo(url: &url::Url) -> String {
    if url.username().is_empty() && url.password().is_none() {
        return url.to_string();
    }
    let mut url = url.clone();
    // Only URLs that cannot have credentials refuse these (http and https can).
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}

fn insert_url(headers: &mut HeaderMap, name: &'static str, url: &str) {
    if let Ok(value) = HeaderValue::from_str(url) {
        headers.insert(name, value);
    }
}

/// A third party's answer is served from the proxy's origin: opened as a document, it gets a
/// unique opaque origin and no script (`sandbox`; the target's own policies still apply on top,
/// each one being enforced), and it is never sniffed into a type it does not declare. A
/// `<script>` tag ignores a script's CSP, and `nosniff` lets JavaScript types run, so JSONP still
/// works.
fn confine(headers: &mut HeaderMap) {
    headers.append(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// The page's credentials never go to a third party through the proxy.
fn strip_credentials(headers: &mut HeaderMap) {
    headers.remove(header::COOKIE);
    headers.remove(header::AUTHORIZATION);
    headers.remove("x-forwarded-for");
    headers.remove("forwarded");
}

/// The target of a request: `None` for the usage page (`/` without `?url=`).
fn target(uri: &Uri) -> Result<Option<url::Url>, ProxyError> {
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
    let raw = if let Some(query) = uri.query().filter(|_| uri.path() == "/") {
        match url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "url") {
            Some((_, value)) => value.into_owned(),
            None => return Ok(None),
        }
    } else {
        let rest = &path_and_query[1..];
        if rest.is_empty() {
            return Ok(None);
        }
        rest.to_owned()
    };
    let parsed = url::Url::parse(&raw).map_err(|e| {
        ProxyError::BadRequest(format!(
            "{raw:?} is not an absolute URL ({e}): ask for /https://host/path or /?url=…"
        ))
    })?;
    match parsed.scheme() {
        "http" | "https" => Ok(Some(parsed)),
        other => Err(ProxyError::BadRequest(format!(
            "scheme {other:?} is not allowed: only http and https targets"
        ))),
    }
}

/// A WHATWG URL as an `http::Uri`: the host as WHATWG serialized it (so `2130706433` is already
/// `127.0.0.1`, which the connector then refuses), without the fragment.
fn to_uri(url: &url::Url) -> Result<Uri, ProxyError> {
    let mut text = url.as_str();
    if let Some(fragment) = text.find('#') {
        text = &text[..fragment];
    }
    text.parse::<Uri>().map_err(|e| {
        let url = without_userinfo(url);
        ProxyError::BadRequest(format!("{url} cannot be requested: {e}"))
    })
}

impl tower_service::Service<Request<Incoming>> for Anywhere {
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<ProxyBody>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let anywhere = self.clone();
        Box::pin(async move { Ok(answer(anywhere.handle(request).await)) })
    }
}
