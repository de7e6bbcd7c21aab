//! [`Jsonp`]: JSONP for legacy clients (`--jsonp`). A `GET` whose query has `callback=name` is
//! forwarded without that parameter and without the page's credentials or a compressed encoding;
//! a JSON answer comes back as `crossgate::jsonp::wrap`'s script, `text/javascript` with
//! `nosniff`. A bad callback is a 400, a non-JSON answer a 502: both JSON, which a `<script>` tag
//! refuses to run (its `onerror` fires).
//!
//! The same in every mode: in front of anywhere mode, upstream mode, or each route of a routes
//! file — except a route that injects headers kept on the server ([`Jsonp::refusing`]): any page
//! can read a JSONP answer, so JSONP there would hand the route's secret-backed answers to pages
//! its policy refuses.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use crossgate::jsonp;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::BodyExt;

use crate::body::ProxyBody;
use crate::connect::BoxFuture;
use crate::error::ProxyError;

/// The largest JSON answer JSONP wraps (it is held whole, to be checked and wrapped).
pub const MAX_JSONP_BODY: usize = 10 << 20;

/// JSONP in front of a mode's service.
#[derive(Clone, Debug)]
pub struct Jsonp<S> {
    inner: S,
    mode: Mode,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// JSONP requests are answered with a script.
    On,
    /// Everything goes to the inner service as it came (`--jsonp` not given).
    Off,
    /// JSONP requests are a 400 saying why.
    Refused(&'static str),
}

impl<S> Jsonp<S> {
    /// `inner`, answering JSONP requests.
    pub fn new(inner: S) -> Jsonp<S> {
        Jsonp {
            inner,
            mode: Mode::On,
        }
    }

    /// `inner`, answering a JSONP request with a 400 that says `why` (a sentence: "this route
    /// …"); other requests go through.
    pub fn refusing(inner: S, why: &'static str) -> Jsonp<S> {
        Jsonp {
            inner,
            mode: Mode::Refused(why),
        }
    }

    /// JSONP on or off (off: every request goes to the inner service untouched), so that one
    /// service type serves with and without `--jsonp`.
    #[must_use]
    pub fn enabled(mut self, on: bool) -> Jsonp<S> {
        if !on {
            self.mode = Mode::Off;
        }
        self
    }
}

/// The `callback` parameter of a query, and the query without it (every other byte kept as
/// sent: the target's own parameters must not be re-encoded).
fn split_callback(query: &str) -> (Option<String>, String) {
    let mut callback = None;
    let mut kept = Vec::new();
    for pair in query.split('&') {
        match pair.strip_prefix("callback=") {
            Some(value) => {
                callback = Some(
                    url::form_urlencoded::parse(format!("v={value}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default(),
                );
            }
            None => kept.push(pair),
        }
    }
    (callback, kept.join("&"))
}

fn without_query_param(uri: &Uri, query: &str) -> Result<Uri, ProxyError> {
    let path = uri.path();
    let path_and_query = if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(
        path_and_query
            .parse()
            .map_err(|e| ProxyError::BadRequest(format!("the request cannot be proxied: {e}")))?,
    );
    Uri::from_parts(parts)
        .map_err(|e| ProxyError::BadRequest(format!("the request cannot be proxied: {e}")))
}

fn is_json(response: &Response<ProxyBody>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|essence| essence == "application/json" || essence.ends_with("+json"))
}

async fn wrap(
    callback: String,
    response: Response<ProxyBody>,
) -> Result<Response<ProxyBody>, ProxyError> {
    if !is_json(&response) {
        return Err(ProxyError::Upstream(
            "JSONP wraps JSON only, and the upstream did not answer with JSON".to_owned(),
        ));
    }
    if response.headers().contains_key(header::CONTENT_ENCODING) {
        return Err(ProxyError::Upstream(
            "the upstream compressed its answer although asked not to; it cannot be wrapped"
                .to_owned(),
        ));
    }
    let (mut parts, body) = response.into_parts();
    let json = http_body_util::Limited::new(body, MAX_JSONP_BODY)
        .collect()
        .await
        .map_err(|e| ProxyError::Upstream(format!("the answer could not be read whole: {e}")))?
        .to_bytes();
    // The label is not enough: a body that is not JSON would run as script in the page.
    if serde_json::from_slice::<serde::de::IgnoredAny>(&json).is_err() {
        return Err(ProxyError::Upstream(
            "the upstream's answer says JSON but is not: JSONP wraps JSON only".to_owned(),
        ));
    }
    let script = jsonp::wrap(&callback, &json);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    parts.headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(Response::from_parts(
        parts,
        ProxyBody::full(Bytes::from(script)),
    ))
}

pin_project_lite::pin_project! {
    /// [`Jsonp`]'s future: the inner service's own for every request that is not JSONP (nothing
    /// boxed on that path), a boxed one for JSONP's answers.
    #[project = JsonpFutureProjection]
    // pin-project-lite takes no attribute on a variant's fields but #[pin]: the fields are the
    // variants' futures, as the variants say.
    #[allow(missing_docs)]
    pub enum JsonpFuture<F, E> {
        /// Not a JSONP request: the inner service's answer, untouched.
        Through {
            #[pin]
            future: F,
        },
        /// A JSONP answer, or a refusal.
        Own {
            future: BoxFuture<Result<Response<ProxyBody>, E>>,
        },
    }
}

impl<F, E> JsonpFuture<F, E> {
    fn own(future: impl Future<Output = Result<Response<ProxyBody>, E>> + Send + 'static) -> Self {
        JsonpFuture::Own {
            future: Box::pin(future),
        }
    }
}

impl<F, E> Future for JsonpFuture<F, E>
where
    F: Future<Output = Result<Response<ProxyBody>, E>>,
{
    type Output = Result<Response<ProxyBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            JsonpFutureProjection::Through { future } => future.poll(cx),
            JsonpFutureProjection::Own { future } => future.as_mut().poll(cx),
        }
    }
}

impl<S, B> tower_service::Service<Request<B>> for Jsonp<S>
where
    S: tower_service::Service<Request<B>, Response = Response<ProxyBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<ProxyBody>;
    type Error = S::Error;
    type Future = JsonpFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let query = request.uri().query().unwrap_or("");
        if self.mode == Mode::Off
            || request.method() != Method::GET
            || !query.split('&').any(|p| p.starts_with("callback="))
        {
            return JsonpFuture::Through {
                future: self.inner.call(request),
            };
        }
        if let Mode::Refused(why) = self.mode {
            let error = ProxyError::BadRequest(format!("JSONP is not served here: {why}"));
            return JsonpFuture::own(std::future::ready(Ok(error.into_response())));
        }
        let (callback, rest) = split_callback(query);
        let callback = callback.unwrap_or_default();
        if let Err(e) = jsonp::check_callback(&callback) {
            let error = ProxyError::BadRequest(format!("callback {callback:?}: {e}"));
            return JsonpFuture::own(std::future::ready(Ok(error.into_response())));
        }
        match without_query_param(request.uri(), &rest) {
            Ok(uri) => *request.uri_mut() = uri,
            Err(error) => return JsonpFuture::own(std::future::ready(Ok(error.into_response()))),
        }
        // A script tag sends the proxy's cookies; JSONP never carries credentials anywhere.
        let headers = request.headers_mut();
        headers.remove(header::COOKIE);
        headers.remove(header::AUTHORIZATION);
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        let future = self.inner.call(request);
        JsonpFuture::own(async move {
            let response = future.await?;
            if !response.status().is_success() && response.status() != StatusCode::NOT_MODIFIED {
                // The upstream's own error, JSON or not: a script tag cannot read it anyway, and
                // the status makes its onerror fire.
                return Ok(response);
            }
            Ok(match wrap(callback, response).await {
                Ok(script) => script,
                Err(error) => error.into_response(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callback_parameter_is_taken_out_and_the_rest_kept_byte_for_byte() {
        assert_eq!(
            split_callback("a=1&callback=cb&b=x%20y+z"),
            (Some("cb".to_owned()), "a=1&b=x%20y+z".to_owned())
        );
        assert_eq!(
            split_callback("callback=app.done"),
            (Some("app.done".to_owned()), String::new())
        );
        assert_eq!(
            split_callback("callback=alert%281%29"),
            (Some("alert(1)".to_owned()), String::new())
        );
        assert_eq!(split_callback("q=1"), (None, "q=1".to_owned()));
    }
}
