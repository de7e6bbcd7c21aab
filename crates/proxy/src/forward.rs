//! [`Upstream`]: upstream mode's service. Every request that reaches it (the CORS layer around
//! it has answered the preflights) is sent to one configured upstream, with the request's path
//! and query appended to the upstream's base path, bodies streamed both ways, over pooled
//! keep-alive connections (HTTP/1.1, or HTTP/2 where TLS negotiates it). A `GET` or `HEAD`
//! without a body to a plain-HTTP upstream takes the HTTP/1.1 fast path ([`crate::h1`]); every
//! other request, hyper-util's pooled client.
//!
//! Faults are blamed on the side at fault: a client's body that breaks (bad chunked coding, shorter
//! than its `Content-Length`) is a 400 (`bad-request-body`), an upstream's answer that breaks a
//! 502. An answer's head is handed on only once its body's first frame has come (or the wait for
//! the head has run out): a body broken from its start is then a 502 JSON answer rather than an
//! empty reply, and a body that breaks later closes the connection (and is counted). A `101`
//! is never relayed: the proxy never asks for an upgrade (`Upgrade` is hop-by-hop).
//!
//! A request body of at most [`BUFFERED_BODY`] bytes (declared by its `Content-Length`) is read
//! whole before it is sent, as nginx buffers request bodies, so that a request that finds its
//! pooled connection closed by the upstream can be sent again on another ([`crate::stale`]); a
//! larger or chunked body is streamed as it comes and is not sent again.

use std::convert::Infallible;
use std::error::Error as _;
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName};
use http::{Request, Response, Uri};
use http_body::Body as _;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::body::{BodyTimeout, BodyTimeouts, ClientBodyError, ProxyBody, TooLarge};
use crate::connect::{BoxFuture, ConnectError, GuardedConnector};
use crate::error::{ProxyError, answer};
use crate::stale::StaleCheck;

/// The largest request body (by its `Content-Length`) read whole before it is sent, so that it
/// can be sent again on another connection when the pooled one it took turns out closed
/// ([`crate::stale`]). Larger bodies, and bodies of unknown length, are streamed as they come.
pub const BUFFERED_BODY: u64 = 64 * 1024;

/// The HTTP client of a worker's services: hyper-util's pooled client (TLS by rustls with the
/// webpki roots, HTTP/1.1 and HTTP/2), and the HTTP/1.1 fast path's pool ([`crate::h1`]), both
/// opening connections through the same [`GuardedConnector`]. Clones share the pools.
#[derive(Clone, Debug)]
pub struct UpstreamClient {
    pooled: Client<StaleCheck<HttpsConnector<GuardedConnector>>, ProxyBody>,
    connector: GuardedConnector,
    h1: crate::h1::Pool,
}

impl UpstreamClient {
    /// Sends `request` (its URI absolute, hop-by-hop headers gone) and waits at most `timeout`
    /// for the answer's head and its body's first frame (past it, the head is handed on and the
    /// body follows as it comes); the answer's body is relayed, cut off past `limit` bytes. A
    /// `GET` or `HEAD` without a body to a plain-HTTP target takes the fast path, on the
    /// connections of `key` (made from the URI when `None`: a caller that always sends to one
    /// place makes it once); anything else hyper-util's client, with a small body read whole
    /// first ([`BUFFERED_BODY`]). Errors are as the client gets them.
    pub(crate) async fn send(
        &self,
        request: Request<ProxyBody>,
        key: Option<&std::sync::Arc<str>>,
        timeout: Duration,
        limit: Option<u64>,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let fast = crate::h1::Pool::takes(
            request.method(),
            request.headers(),
            request.body().is_end_stream(),
            request.uri(),
        );
        if !fast {
            // Boxed: its future is large, and the fast path's (this one's) stays small, which a
            // proxied GET pays for in copies of it.
            return Box::pin(self.send_pooled(request, timeout, limit)).await;
        }
        let made;
        let key = match key {
            Some(key) => key,
            None => {
                made = crate::h1::Pool::key(request.uri());
                &made
            }
        };
        let deadline = tokio::time::Instant::now() + timeout;
        // In a block of its own: the request's parts are gone before the wait for the first
        // frame, whose future then takes their place instead of adding to it.
        let response = {
            let (parts, _) = request.into_parts();
            let sent = self.h1.send(
                &self.connector,
                key,
                &parts.method,
                &parts.uri,
                &parts.headers,
            );
            match tokio::time::timeout_at(deadline, sent).await {
                Err(_) => return Err(ProxyError::UpstreamTimeout(timeout)),
                Ok(Err(e)) => return Err(h1_error(e)),
                Ok(Ok(response)) => response,
            }
        };
        first_frame(
            response.map(|body| ProxyBody::stream_h1(body, limit)),
            deadline,
        )
        .await
    }

    /// [`UpstreamClient::send`] through hyper-util's client.
    async fn send_pooled(
        &self,
        request: Request<ProxyBody>,
        timeout: Duration,
        limit: Option<u64>,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let (parts, body) = request.into_parts();
        // The client's time, before the upstream's: bounded by the body's own timeouts.
        let body = body
            .buffered(BUFFERED_BODY)
            .await
            .map_err(|e| request_body_error(&*e))?;
        // What the request is made of, to build it again if the connection it takes turns out
        // closed (a streamed body cannot be sent again).
        let again = body.again().map(|body| {
            (
                parts.method.clone(),
                parts.uri.clone(),
                parts.headers.clone(),
                body,
            )
        });
        let version = parts.version;
        let rebuild = || {
            let (method, uri, headers, body) = again.as_ref()?;
            let mut request = Request::new(body.again()?);
            *request.method_mut() = method.clone();
            *request.uri_mut() = uri.clone();
            *request.version_mut() = version;
            *request.headers_mut() = headers.clone();
            Some(request)
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let sent = crate::stale::request(&self.pooled, Request::from_parts(parts, body), rebuild);
        match tokio::time::timeout_at(deadline, sent).await {
            Err(_) => Err(ProxyError::UpstreamTimeout(timeout)),
            Ok(Err(e)) => Err(client_error(&e)),
            // The proxy never asks for an upgrade (it drops `Upgrade`, a hop-by-hop header), and
            // relays none: a 101 would hand the client a connection to the upstream.
            Ok(Ok(response)) if response.status() == http::StatusCode::SWITCHING_PROTOCOLS => {
                Err(ProxyError::Upstream(
                    "it switched protocols (101), which the proxy never asks for".to_owned(),
                ))
            }
            Ok(Ok(response)) => {
                first_frame(
                    response.map(|body| ProxyBody::stream(body, limit)),
                    deadline,
                )
                .await
            }
        }
    }
}

/// The answer, once its body's first frame has come (or its body has ended): a body that breaks
/// before it is a 502 (hyper would otherwise close the connection before writing the head, and
/// the client would get an empty reply). At once when the frame came with the head (most
/// answers); otherwise waits for it until `deadline`, the head's, and then hands the head on
/// anyway (a stream that sends its head long before its first bytes is relayed as it comes).
/// (Not an `async fn`: one copies its argument into its future a second time, and this future is
/// on every request's path.)
#[allow(clippy::manual_async_fn)]
fn first_frame(
    mut response: Response<ProxyBody>,
    deadline: tokio::time::Instant,
) -> impl std::future::Future<Output = Result<Response<ProxyBody>, ProxyError>> {
    async move {
        let body = response.body_mut();
        let first = match std::future::poll_fn(|cx| Poll::Ready(body.poll_first(cx))).await {
            Poll::Ready(first) => first,
            // Boxed, as the rarer case: the common one's future stays small.
            Poll::Pending => Box::pin(wait_first(body, deadline)).await,
        };
        match first {
            Ok(()) => Ok(response),
            Err(e) => Err(match e.downcast_ref::<TooLarge>() {
                Some(too_large) => ProxyError::ResponseTooLarge(too_large.limit),
                None => ProxyError::Upstream(chain(&*e)),
            }),
        }
    }
}

/// Waits for `body`'s first frame until `deadline`: past it, `Ok` (the body follows as it comes).
async fn wait_first(
    body: &mut ProxyBody,
    deadline: tokio::time::Instant,
) -> Result<(), crate::body::BoxError> {
    let first = std::future::poll_fn(|cx| body.poll_first(cx));
    tokio::time::timeout_at(deadline, first)
        .await
        .unwrap_or(Ok(()))
}

/// A client over `connector`, speaking HTTP/1.1 and (over TLS, by ALPN) HTTP/2.
pub fn client(connector: GuardedConnector) -> UpstreamClient {
    client_with(connector, crate::budget::DEFAULT_IDLE_PER_HOST)
}

/// [`client`], keeping at most `idle_per_host` idle connections per upstream host in
/// hyper-util's pool (`--max-upstream-per-host`; the fast path's pool keeps
/// [`crate::h1::MAX_IDLE`] in all).
pub fn client_with(connector: GuardedConnector, idle_per_host: usize) -> UpstreamClient {
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map(|builder| {
        builder
            .with_root_certificates(rustls::RootCertStore::from_iter(
                webpki_roots::TLS_SERVER_ROOTS.iter().cloned(),
            ))
            .with_no_client_auth()
    });
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let https = match tls {
        Ok(config) => builder.with_tls_config(config),
        // ring's default provider always supports the safe defaults; fall back to the same.
        Err(_) => builder.with_webpki_roots(),
    }
    .https_or_http()
    .enable_all_versions()
    .wrap_connector(connector.clone());
    let pooled = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(crate::h1::IDLE_TIMEOUT)
        .pool_max_idle_per_host(idle_per_host)
        .build(StaleCheck::new(https));
    UpstreamClient {
        pooled,
        connector,
        h1: crate::h1::Pool::new(),
    }
}

/// Body-size limits, in bytes (`None`: no limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The most a request body may carry: a larger `Content-Length` is a 413 before the upstream
    /// is contacted; a streamed body that grows past it is cut off, and the answer is a 413.
    pub request_body: Option<u64>,
    /// The most an upstream body may carry: a larger `Content-Length` is a 502; a streamed body
    /// that grows past it is cut off (the client sees the connection end early).
    pub response_body: Option<u64>,
}

impl Default for Limits {
    /// 10 MiB requests, 100 MiB responses.
    fn default() -> Limits {
        Limits {
            request_body: Some(10 << 20),
            response_body: Some(100 << 20),
        }
    }
}

impl Limits {
    /// The request's declared length against the limit.
    pub(crate) fn check_request(&self, headers: &HeaderMap) -> Result<(), ProxyError> {
        match (self.request_body, declared_length(headers)) {
            (Some(limit), Some(length)) if length > limit => {
                Err(ProxyError::RequestTooLarge(limit))
            }
            _ => Ok(()),
        }
    }

    /// The upstream's declared length against the limit.
    pub(crate) fn check_response(&self, headers: &HeaderMap) -> Result<(), ProxyError> {
        match (self.response_body, declared_length(headers)) {
            (Some(limit), Some(length)) if length > limit => {
                Err(ProxyError::ResponseTooLarge(limit))
            }
            _ => Ok(()),
        }
    }
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// One upstream: where requests go, and how long the proxy waits for its answer. Clones (one per
/// request, as hyper serves) share one allocation.
#[derive(Clone, Debug)]
pub struct Upstream {
    shared: std::sync::Arc<Shared>,
}

#[derive(Clone, Debug)]
struct Shared {
    base: Uri,
    /// `base` has no path of its own: a request's path and query go as they are.
    bare: bool,
    /// The HTTP/1.1 fast path's pool key for `base`.
    h1_key: std::sync::Arc<str>,
    client: UpstreamClient,
    /// How long to wait for the upstream's response head, connection included.
    timeout: Duration,
    limits: Limits,
    /// How long the bodies may stall, and the upstream's take in all.
    body_timeouts: BodyTimeouts,
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
    /// Headers set on every forwarded request (a route's `inject_headers`).
    inject: HeaderMap,
}

impl Upstream {
    /// Requests go to `base` (`http://127.0.0.1:3000`, or with a base path,
    /// `https://api.example.com/v1`), through `client`.
    pub fn new(base: Uri, client: UpstreamClient, timeout: Duration) -> Upstream {
        Upstream {
            shared: std::sync::Arc::new(Shared {
                bare: base.path().trim_end_matches('/').is_empty(),
                h1_key: crate::h1::Pool::key(&base),
                base,
                client,
                timeout,
                limits: Limits::default(),
                body_timeouts: BodyTimeouts::default(),
                metrics: None,
                inject: HeaderMap::new(),
            }),
        }
    }

    fn configure(mut self, change: impl FnOnce(&mut Shared)) -> Upstream {
        change(std::sync::Arc::make_mut(&mut self.shared));
        self
    }

    /// How long the upstream's body may go without a byte and take in all, and the client's body
    /// without a byte ([`BodyTimeouts::default`] unless set: 30 s without a byte).
    #[must_use]
    pub fn body_timeouts(self, timeouts: BodyTimeouts) -> Upstream {
        self.configure(|shared| shared.body_timeouts = timeouts)
    }

    /// Headers set on every request forwarded to this upstream, replacing any the client sent
    /// under the same names. They go to this upstream only: upstream mode follows no redirect, and
    /// nothing copies request headers into responses.
    #[must_use]
    pub fn inject(self, headers: HeaderMap) -> Upstream {
        self.configure(|shared| shared.inject = headers)
    }

    /// Body-size limits ([`Limits::default`] unless set).
    #[must_use]
    pub fn limits(self, limits: Limits) -> Upstream {
        self.configure(|shared| shared.limits = limits)
    }

    /// Records each upstream's time to a response head in `metrics`.
    #[must_use]
    pub fn metrics(self, metrics: std::sync::Arc<crate::metrics::Metrics>) -> Upstream {
        self.configure(|shared| shared.metrics = Some(metrics))
    }
}

impl Shared {
    /// Where a request for `path_and_query` goes.
    fn target(&self, path_and_query: Option<&http::uri::PathAndQuery>) -> Result<Uri, ProxyError> {
        let mut parts = self.base.clone().into_parts();
        parts.path_and_query = match path_and_query {
            // The common case, without parsing the path again.
            Some(path) if self.bare && path.as_str().starts_with('/') => Some(path.clone()),
            path => {
                let path = path.map_or("/", |p| p.as_str());
                let base_path = self.base.path().trim_end_matches('/');
                Some(format!("{base_path}{path}").parse().map_err(|e| {
                    ProxyError::BadRequest(format!("the request path cannot be proxied: {e}"))
                })?)
            }
        };
        Uri::from_parts(parts)
            .map_err(|e| ProxyError::BadRequest(format!("the request path cannot be proxied: {e}")))
    }

    async fn forward(
        self: std::sync::Arc<Self>,
        request: Request<Incoming>,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        check_method(request.method())?;
        check_framing(request.headers())?;
        self.limits.check_request(request.headers())?;
        let (mut parts, body) = request.into_parts();
        parts.uri = self.target(parts.uri.path_and_query())?;
        // HTTP/2 from the client, HTTP/1.1 to the upstream (or the other way): the client picks.
        parts.version = http::Version::HTTP_11;
        remove_hop_by_hop(&mut parts.headers);
        // The upstream's own name, as the client sets it from the URI.
        parts.headers.remove(header::HOST);
        for (name, value) in &self.inject {
            parts.headers.insert(name.clone(), value.clone());
        }
        // An empty body (most requests) is not relayed: nothing to time or limit.
        let body = if body.is_end_stream() {
            ProxyBody::Empty
        } else {
            ProxyBody::request(body, self.limits.request_body)
                .timeouts(self.body_timeouts.for_request())
                .counted(self.metrics.as_ref(), "request")
        };
        let started = self.metrics.as_ref().map(|_| std::time::Instant::now());
        let sent = self
            .client
            .send(
                Request::from_parts(parts, body),
                Some(&self.h1_key),
                self.timeout,
                self.limits.response_body,
            )
            .await;
        if let (Some(metrics), Some(started)) = (&self.metrics, started) {
            metrics.observe_upstream(started.elapsed());
        }
        let (parts, body) = sent?.into_parts();
        self.answer(parts, body)
    }

    /// The upstream's answer as the client gets it: within the size limit, without hop-by-hop
    /// headers, its body held to the body timeouts.
    fn answer(
        &self,
        mut parts: http::response::Parts,
        body: ProxyBody,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        self.limits.check_response(&parts.headers)?;
        remove_hop_by_hop(&mut parts.headers);
        // The connection to the client has its own version (an HTTP/1.0 upstream must not turn
        // the proxy's answer into an HTTP/1.0 one).
        parts.version = http::Version::default();
        Ok(Response::from_parts(
            parts,
            body.timeouts(self.body_timeouts)
                .counted(self.metrics.as_ref(), "response"),
        ))
    }
}

/// The fast path's errors as the other path's: a connector's refusal is a 403, with its reason;
/// anything else a 502 that says what failed.
fn h1_error(error: crate::h1::Error) -> ProxyError {
    match error {
        crate::h1::Error::Connect(connect) => ProxyError::Connect {
            code: connect.code(),
            refusal: connect.is_refusal(),
            detail: connect.to_string(),
        },
        crate::h1::Error::Upstream(detail) => ProxyError::Upstream(detail),
    }
}

/// What a request body's error in the chain of `error` makes of the answer: a body over the
/// limit is a 413, one that stalls a 408, one the client broke a 400.
fn request_body_cause(error: &(dyn std::error::Error + 'static)) -> Option<ProxyError> {
    if let Some(too_large) = error.downcast_ref::<TooLarge>() {
        return Some(ProxyError::RequestTooLarge(too_large.limit));
    }
    if let Some(BodyTimeout::Idle(after) | BodyTimeout::Total(after)) =
        error.downcast_ref::<BodyTimeout>()
    {
        return Some(ProxyError::RequestTimeout(*after));
    }
    if let Some(broken) = error.downcast_ref::<ClientBodyError>() {
        return Some(ProxyError::BadRequestBody(
            broken.source().map_or_else(|| broken.to_string(), chain),
        ));
    }
    None
}

/// The error of reading the client's body whole ([`ProxyBody::buffered`]).
fn request_body_error(error: &(dyn std::error::Error + 'static)) -> ProxyError {
    let mut source = Some(error);
    while let Some(cause) = source {
        if let Some(answer) = request_body_cause(cause) {
            return answer;
        }
        source = cause.source();
    }
    ProxyError::BadRequestBody(chain(error))
}

/// The client's body's own error if there is one in the chain (it is the client's fault: 400,
/// 408 or 413), else the connector's (a refusal is a 403, with its reason), otherwise a 502 that
/// says what failed.
pub(crate) fn client_error(error: &hyper_util::client::legacy::Error) -> ProxyError {
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(answer) = request_body_cause(cause) {
            return answer;
        }
        if let Some(connect) = cause.downcast_ref::<ConnectError>() {
            return ProxyError::Connect {
                code: connect.code(),
                refusal: connect.is_refusal(),
                detail: connect.to_string(),
            };
        }
        source = cause.source();
    }
    if error.is_connect() {
        return ProxyError::Connect {
            code: "connect-failed",
            refusal: false,
            detail: chain(error),
        };
    }
    ProxyError::Upstream(chain(error))
}

fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `TRACE` would echo the forwarded request, injected headers included, back to the client, and
/// `CONNECT` asks for a tunnel the proxy does not make: both are refused.
pub fn check_method(method: &http::Method) -> Result<(), ProxyError> {
    if method == http::Method::TRACE || method == http::Method::CONNECT {
        return Err(ProxyError::MethodNotAllowed(method.to_string()));
    }
    Ok(())
}

/// A request with both `Content-Length` and `Transfer-Encoding` is refused (RFC 9112 §6.1 lets a
/// server refuse it, and a proxy must: two parsers that pick different framings are how requests
/// are smuggled past it).
pub fn check_framing(headers: &HeaderMap) -> Result<(), ProxyError> {
    if headers.contains_key(header::CONTENT_LENGTH)
        && headers.contains_key(header::TRANSFER_ENCODING)
    {
        return Err(ProxyError::BadRequest(
            "a request with both Content-Length and Transfer-Encoding is refused (ambiguous \
             framing is how requests are smuggled)"
                .to_owned(),
        ));
    }
    Ok(())
}

/// The hop-by-hop headers (RFC 9110 §7.6.1). A `static`, not a `const`: a `const` array is built
/// and dropped at each use.
static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// The hop-by-hop headers (RFC 9110 §7.6.1), and every header the `Connection` header names:
/// they describe one connection, not the message, and never cross a proxy.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the names first, noting which are there: most messages carry none of them,
    // or only `Connection: keep-alive`, and then nothing else is looked up.
    let mut present = 0u16;
    for name in headers.keys() {
        if let Some(i) = hop_by_hop_index(name) {
            present |= 1 << i;
        }
    }
    if present == 0 {
        return;
    }
    if present & 1 != 0 {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            // Compared as text first: `keep-alive` is not one of `http`'s standard names, and
            // making a `HeaderName` of it would allocate for a header removed anyway.
            .filter(|name| {
                !name.eq_ignore_ascii_case("close")
                    && !HOP_BY_HOP
                        .iter()
                        .any(|hop| name.eq_ignore_ascii_case(hop.as_str()))
            })
            .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for (i, name) in HOP_BY_HOP.iter().enumerate() {
        if present & (1 << i) != 0 {
            headers.remove(name);
        }
    }
}

/// Where `name` is in `remove_hop_by_hop`'s list: one match on the (lowercase) name, which the
/// compiler turns into a switch on its length, instead of nine comparisons per header.
fn hop_by_hop_index(name: &HeaderName) -> Option<usize> {
    Some(match name.as_str() {
        "connection" => 0,
        "keep-alive" => 1,
        "proxy-connection" => 2,
        "proxy-authenticate" => 3,
        "proxy-authorization" => 4,
        "te" => 5,
        "trailer" => 6,
        "transfer-encoding" => 7,
        "upgrade" => 8,
        _ => return None,
    })
}

impl tower_service::Service<Request<Incoming>> for Upstream {
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<ProxyBody>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let upstream = self.shared.clone();
        Box::pin(async move { Ok(answer(upstream.forward(request).await)) })
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn each_hop_by_hop_name_is_found_at_its_place() {
        for (i, name) in HOP_BY_HOP.iter().enumerate() {
            assert_eq!(hop_by_hop_index(name), Some(i), "{name}");
        }
        assert_eq!(hop_by_hop_index(&header::CONTENT_TYPE), None);
        assert_eq!(hop_by_hop_index(&HeaderName::from_static("x-te")), None);
    }

    #[test]
    fn hop_by_hop_headers_and_the_ones_connection_names_are_removed() {
        let mut headers = HeaderMap::new();
        for name in &HOP_BY_HOP {
            headers.insert(name.clone(), HeaderValue::from_static("x"));
        }
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-private"),
        );
        headers.insert("x-private", HeaderValue::from_static("secret"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        remove_hop_by_hop(&mut headers);
        let left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["content-type"]);
    }
}
