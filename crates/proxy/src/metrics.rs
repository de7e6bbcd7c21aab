//! Operations: Prometheus metrics and `/healthz`, on an admin listener of their own (never on the
//! proxy's port, which the world may reach).
//!
//! - `crossgate_proxy_requests_total{route, status, cors}`: every answer, by route (`upstream` or
//!   `anywhere`), status, and the CORS decision (`not-cors`, `allowed`, `refused`).
//! - `crossgate_proxy_cors_rejections_total{reason}`: refused requests by the engine's reason code.
//! - `crossgate_proxy_upstream_seconds`: how long upstreams took to send a response head.
//! - `crossgate_proxy_body_timeouts_total{body, after}`: bodies cut off because they stalled
//!   (`after="idle"`) or took too long in all (`after="total"`), the client's on its way upstream
//!   (`body="request"`) or the upstream's (`body="response"`).
//! - `crossgate_proxy_body_errors_total{body, kind}`: bodies that broke, the client's on its way
//!   upstream (`body="request"`: a 400 when it breaks before the upstream answered) or the
//!   upstream's after the answer's head went out (`body="response"`: the client's connection is
//!   closed; one that breaks before is a 502 answer, counted in `requests_total`), by what broke
//!   them: `malformed` (a bad chunk), `closed` (the connection ended before the body),
//!   `too-large` (past the size limit), `failed` (anything else).
//!
//! The CORS decision is the engine's (`Policy::decide`, read again here: counting never
//! re-implements a rule).

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::body::ProxyBody;
use crate::connect::BoxFuture;
use crate::future::Either;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: u16,
    cors: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BodyTimeoutLabels {
    body: &'static str,
    after: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BodyErrorLabels {
    body: &'static str,
    kind: &'static str,
}

/// The proxy's metrics.
pub struct Metrics {
    /// Off when nothing will read them (no admin listener): counting is then skipped entirely.
    enabled: bool,
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    rejections: Family<ReasonLabels, Counter>,
    upstream_seconds: Histogram,
    body_timeouts: Family<BodyTimeoutLabels, Counter>,
    body_errors: Family<BodyErrorLabels, Counter>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry with the proxy's metrics.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("crossgate_proxy");
        let requests = Family::<RequestLabels, Counter>::default();
        let rejections = Family::<ReasonLabels, Counter>::default();
        // 0.5 ms to about 16 s.
        let upstream_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register(
            "requests",
            "Answers, by route, status and CORS decision",
            requests.clone(),
        );
        registry.register(
            "cors_rejections",
            "Requests the CORS policy refused, by reason code",
            rejections.clone(),
        );
        registry.register(
            "upstream_seconds",
            "Time until the upstream's response head",
            upstream_seconds.clone(),
        );
        let body_timeouts = Family::<BodyTimeoutLabels, Counter>::default();
        registry.register(
            "body_timeouts",
            "Bodies cut off because they stalled (idle) or took too long in all (total), the \
             client's (request) or the upstream's (response)",
            body_timeouts.clone(),
        );
        let body_errors = Family::<BodyErrorLabels, Counter>::default();
        registry.register(
            "body_errors",
            "Bodies that broke, the client's (request) or the upstream's (response), by kind: \
             malformed, closed, too-large, failed",
            body_errors.clone(),
        );
        Metrics {
            enabled: true,
            registry,
            requests,
            rejections,
            upstream_seconds,
            body_timeouts,
            body_errors,
        }
    }

    /// Metrics that count nothing, for a proxy without an admin listener: the request path then
    /// pays nothing for them.
    pub fn disabled() -> Metrics {
        Metrics {
            enabled: false,
            ..Metrics::new()
        }
    }

    /// Records how long an upstream took to answer.
    pub fn observe_upstream(&self, took: Duration) {
        if self.enabled {
            self.upstream_seconds.observe(took.as_secs_f64());
        }
    }

    /// Counts a body cut off by `timeout`: `body` is `request` or `response`.
    pub fn count_body_timeout(&self, body: &'static str, timeout: crate::body::BodyTimeout) {
        if self.enabled {
            let after = match timeout {
                crate::body::BodyTimeout::Idle(_) => "idle",
                crate::body::BodyTimeout::Total(_) => "total",
            };
            self.body_timeouts
                .get_or_create(&BodyTimeoutLabels { body, after })
                .inc();
        }
    }

    /// Counts a body that broke: `body` is `request` or `response`, `kind` what broke it
    /// (`malformed`, `closed`, `too-large`, `failed`).
    pub fn count_body_error(&self, body: &'static str, kind: &'static str) {
        if self.enabled {
            self.body_errors
                .get_or_create(&BodyErrorLabels { body, kind })
                .inc();
        }
    }

    /// Whether it counts (an admin listener asked for it): the CORS layer then records its
    /// decisions for [`Measured`].
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// Counts every answer of `inner` with the CORS decision the layer inside recorded in it
/// ([`crossgate_tower::Decided`], from a `CorsLayer` with `record_decisions`): put it outside the
/// CORS layer, so that preflights are counted too. It never decides again, so a policy swapped
/// while a request is in flight cannot make the count disagree with the answer.
#[derive(Clone, Debug)]
pub struct Measured<S> {
    inner: S,
    route: &'static str,
    metrics: Arc<Metrics>,
}

impl<S> Measured<S> {
    /// `inner` (a `CorsLayer` with `record_decisions(metrics.enabled())` inside), counted as
    /// `route`.
    pub fn new(inner: S, route: &'static str, metrics: Arc<Metrics>) -> Self {
        Measured {
            inner,
            route,
            metrics,
        }
    }
}

impl<S, B> tower_service::Service<Request<B>> for Measured<S>
where
    S: tower_service::Service<Request<B>, Response = Response<ProxyBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<ProxyBody>;
    type Error = S::Error;
    type Future = Either<S::Future, BoxFuture<Result<Response<ProxyBody>, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if !self.metrics.enabled {
            return Either::left(self.inner.call(request));
        }
        let metrics = self.metrics.clone();
        let route = self.route;
        let future = self.inner.call(request);
        Either::right(Box::pin(async move {
            let response = future.await?;
            let decided = response.extensions().get::<crossgate_tower::Decided>();
            let cors = match decided {
                None
                | Some(crossgate_tower::Decided {
                    kind: crossgate::server::RequestKind::NotCors,
                    ..
                }) => "not-cors",
                Some(crossgate_tower::Decided {
                    rejection: None, ..
                }) => "allowed",
                Some(crossgate_tower::Decided {
                    rejection: Some(reason),
                    ..
                }) => {
                    metrics
                        .rejections
                        .get_or_create(&ReasonLabels { reason })
                        .inc();
                    "refused"
                }
            };
            metrics
                .requests
                .get_or_create(&RequestLabels {
                    route,
                    status: response.status().as_u16(),
                    cors,
                })
                .inc();
            Ok(response)
        }))
    }
}

/// Serves `/healthz` and `/metrics` on `listener` until the process ends.
pub async fn serve_admin(listener: TcpListener, metrics: Arc<Metrics>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let metrics = metrics.clone();
                async move {
                    let (status, content_type, body) =
                        match (request.method(), request.uri().path()) {
                            (&Method::GET, "/healthz") => {
                                (StatusCode::OK, "text/plain", "ok\n".to_owned())
                            }
                            (&Method::GET, "/metrics") => (
                                StatusCode::OK,
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                                metrics.encode(),
                            ),
                            _ => (
                                StatusCode::NOT_FOUND,
                                "text/plain",
                                "not found: /healthz or /metrics\n".to_owned(),
                            ),
                        };
                    let mut response = Response::new(http_body_util::Full::new(Bytes::from(body)));
                    *response.status_mut() = status;
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        http::HeaderValue::from_static(content_type),
                    );
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers 200 with the decision it is given recorded, as a `CorsLayer` would.
    #[derive(Clone)]
    struct Recorded(Option<crossgate_tower::Decided>);

    impl tower_service::Service<Request<()>> for Recorded {
        type Response = Response<ProxyBody>;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<Response<ProxyBody>, Self::Error>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request<()>) -> Self::Future {
            let mut response = Response::new(ProxyBody::default());
            if let Some(decided) = self.0 {
                response.extensions_mut().insert(decided);
            }
            std::future::ready(Ok(response))
        }
    }

    #[tokio::test]
    async fn answers_are_counted_by_the_decision_the_cors_layer_recorded() {
        use tower_service::Service as _;
        let metrics = Arc::new(Metrics::new());
        let refused = crossgate_tower::Decided {
            kind: crossgate::server::RequestKind::Actual,
            rejection: Some("origin-not-allowed"),
        };
        // No policy here to decide with: what is counted is what the layer inside recorded.
        let mut measured = Measured::new(Recorded(Some(refused)), "r", metrics.clone());
        measured.call(Request::new(())).await.expect("an answer");
        let mut unrecorded = Measured::new(Recorded(None), "r", metrics.clone());
        unrecorded.call(Request::new(())).await.expect("an answer");
        let text = metrics.encode();
        for line in [
            r#"crossgate_proxy_requests_total{route="r",status="200",cors="refused"} 1"#,
            r#"crossgate_proxy_requests_total{route="r",status="200",cors="not-cors"} 1"#,
            r#"crossgate_proxy_cors_rejections_total{reason="origin-not-allowed"} 1"#,
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
