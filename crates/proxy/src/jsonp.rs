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
//!
//! An answer is held whole to be checked and wrapped, in one buffer that becomes the script
//! (no copy but the one out of the upstream's frames), and the bytes held at once are bounded
//! across all requests by a [`JsonpBudget`]: an answer that does not fit is a 503 `busy` with
//! `Retry-After`, never a wait.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use crossgate::jsonp;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::body::ProxyBody;
use crate::connect::BoxFuture;
use crate::error::ProxyError;

/// The largest JSON answer JSONP wraps (it is held whole, to be checked and wrapped).
pub const MAX_JSONP_BODY: usize = 10 << 20;

/// The bytes a [`JsonpBudget`] lets JSONP hold at once unless told otherwise, and what
/// [`Jsonp::new`] starts with: 64 MiB, six 10 MiB answers.
pub const DEFAULT_JSONP_MEMORY: u64 = 64 << 20;

/// What a JSONP request refused for want of memory is told to wait (`Retry-After`).
const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The first buffer for an answer that does not declare its length; it doubles as the answer
/// comes.
const FIRST_BUFFER: usize = 64 << 10;

/// The bytes JSONP may hold at once, across every request of every [`Jsonp`] given it (clones
/// share it): each answer is held whole to be checked and wrapped, so that N at once hold N
/// answers. An answer reserves its declared `Content-Length` and its wrapper before it is read
/// (without a length: its buffer, reserved again each time it grows), and gives them back when
/// the last byte of its script has been sent, or when it fails. One that does not fit is answered
/// 503 `busy` (scope `jsonp-memory`) with `Retry-After`, at once: a client is never kept waiting
/// for memory, and none of it is held for a client that is refused.
///
/// ```
/// use crossgate_proxy::jsonp::JsonpBudget;
///
/// let budget = JsonpBudget::new(64 << 20);
/// assert_eq!(budget.available(), 64 << 20);
/// ```
#[derive(Clone, Debug)]
pub struct JsonpBudget {
    bytes: Arc<Semaphore>,
    total: u64,
}

impl JsonpBudget {
    /// At most `bytes` held at once (a number too large for the platform's semaphore counts as
    /// that semaphore's largest, about 2^61 on 64-bit targets: no limit in practice).
    pub fn new(bytes: u64) -> JsonpBudget {
        let bytes = usize::try_from(bytes)
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS);
        JsonpBudget {
            bytes: Arc::new(Semaphore::new(bytes)),
            total: bytes as u64,
        }
    }

    /// The bytes the budget holds in all.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The bytes no answer holds now.
    pub fn available(&self) -> u64 {
        self.bytes.available_permits() as u64
    }

    /// `bytes` more for `held` (a reservation of its own when `held` is `None`), or the 503 that
    /// says the budget is spent.
    fn reserve(
        &self,
        held: &mut Option<OwnedSemaphorePermit>,
        bytes: usize,
    ) -> Result<(), ProxyError> {
        let permit = u32::try_from(bytes)
            .ok()
            .and_then(|n| self.bytes.clone().try_acquire_many_owned(n).ok())
            .ok_or_else(|| {
                let holding = held.as_ref().map_or(0, OwnedSemaphorePermit::num_permits);
                let already = if holding > 0 {
                    format!(" (it holds {holding} already)")
                } else {
                    String::new()
                };
                ProxyError::Busy {
                    scope: "jsonp-memory",
                    detail: format!(
                        "the answers being wrapped for JSONP hold {} of the {} bytes allowed \
                         for them, and this one needs {bytes} more{already}",
                        self.total.saturating_sub(self.available()),
                        self.total
                    ),
                    retry_after: BUSY_RETRY_AFTER,
                }
            })?;
        match held {
            Some(held) => held.merge(permit),
            None => *held = Some(permit),
        }
        Ok(())
    }
}

/// JSONP in front of a mode's service.
#[derive(Clone, Debug)]
pub struct Jsonp<S> {
    inner: S,
    mode: Mode,
    budget: JsonpBudget,
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
    /// `inner`, answering JSONP requests, with a [`JsonpBudget`] of [`DEFAULT_JSONP_MEMORY`] of
    /// its own (shared by its clones only: give every instance of a process one budget with
    /// [`Jsonp::memory_budget`]).
    pub fn new(inner: S) -> Jsonp<S> {
        Jsonp {
            inner,
            mode: Mode::On,
            budget: JsonpBudget::new(DEFAULT_JSONP_MEMORY),
        }
    }

    /// `inner`, answering a JSONP request with a 400 that says `why` (a sentence: "this route
    /// …"); other requests go through.
    pub fn refusing(inner: S, why: &'static str) -> Jsonp<S> {
        Jsonp {
            inner,
            mode: Mode::Refused(why),
            budget: JsonpBudget::new(0),
        }
    }

    /// Hold JSONP answers within `budget`, shared with every other service given a clone of it
    /// (the proxy's workers and routes, so that the bound is the process's).
    ///
    /// ```
    /// use crossgate_proxy::jsonp::{Jsonp, JsonpBudget};
    ///
    /// // One budget for the whole process; `()` stands for each worker's service here.
    /// let budget = JsonpBudget::new(64 << 20);
    /// let first = Jsonp::new(()).memory_budget(budget.clone());
    /// let second = Jsonp::new(()).memory_budget(budget);
    /// ```
    #[must_use]
    pub fn memory_budget(mut self, budget: JsonpBudget) -> Jsonp<S> {
        self.budget = budget;
        self
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

/// The script `jsonp::wrap` makes around a JSON text, as the bytes before it and the bytes after
/// it (the same for every text without U+2028 or U+2029): found by wrapping nothing and `0`, so
/// that the wrapper's shape stays the engine's alone.
fn shell(callback: &str) -> (Vec<u8>, Vec<u8>) {
    let empty = jsonp::wrap(callback, b"");
    let zero = jsonp::wrap(callback, b"0");
    let at = empty
        .iter()
        .zip(&zero)
        .position(|(a, b)| a != b)
        .unwrap_or(empty.len());
    (empty[..at].to_vec(), empty[at..].to_vec())
}

/// How many U+2028 and U+2029 (E2 80 A8 and E2 80 A9) `json` has: the script escapes each as
/// six bytes (`\u2028`).
fn separators(json: &[u8]) -> usize {
    json.iter()
        .enumerate()
        .filter(|&(i, &b)| b == 0xE2 && matches!(json.get(i + 1..i + 3), Some([0x80, 0xA8 | 0xA9])))
        .count()
}

/// A script and the part of the budget it holds: given back when the last of its bytes is
/// dropped (hyper drops them once they are written).
struct Held {
    script: Vec<u8>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        &self.script
    }
}

async fn wrap(
    callback: String,
    response: Response<ProxyBody>,
    budget: JsonpBudget,
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
    let too_large = || ProxyError::ResponseTooLarge(MAX_JSONP_BODY as u64);
    let declared = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let declared = match declared {
        Some(length) if length > MAX_JSONP_BODY as u64 => return Err(too_large()),
        Some(length) => usize::try_from(length).ok(),
        None => None,
    };
    // One buffer, the script: the wrapper's start, the answer as it comes, the wrapper's end. Its
    // capacity is what it holds of the budget, reserved before it is allocated.
    let (before, after) = shell(&callback);
    let largest = before.len() + MAX_JSONP_BODY + after.len();
    let first = before.len() + declared.unwrap_or(FIRST_BUFFER) + after.len();
    let mut held = None;
    budget.reserve(&mut held, first)?;
    let mut script = Vec::with_capacity(first);
    script.extend_from_slice(&before);
    let (mut parts, body) = response.into_parts();
    let mut body = std::pin::pin!(body);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ProxyError::Upstream(format!("the answer could not be read whole: {e}"))
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let needed = script.len() + data.len() + after.len();
        if needed > largest {
            return Err(too_large());
        }
        if needed > script.capacity() {
            let grown = needed.max(2 * script.capacity()).min(largest);
            budget.reserve(&mut held, grown - script.capacity())?;
            script.reserve_exact(grown - script.len());
        }
        script.extend_from_slice(&data);
    }
    let json = &script[before.len()..];
    // The label is not enough: a body that is not JSON would run as script in the page.
    if serde_json::from_slice::<serde::de::IgnoredAny>(json).is_err() {
        return Err(ProxyError::Upstream(
            "the upstream's answer says JSON but is not: JSONP wraps JSON only".to_owned(),
        ));
    }
    let escapes = separators(json);
    if escapes > 0 {
        // Rare: the engine escapes them, in a script of its own, reserved before it is made;
        // the answer's buffer is given back once it is freed. The engine's buffer may grow past
        // the script's length while it escapes: trimmed to it at once.
        let length = script.len() + 3 * escapes + after.len();
        let answer = script.capacity();
        budget.reserve(&mut held, length)?;
        let mut escaped = jsonp::wrap(&callback, json);
        escaped.shrink_to_fit();
        script = escaped;
        drop(held.as_mut().and_then(|permit| permit.split(answer)));
    } else {
        script.extend_from_slice(&after);
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    parts.headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let held = Held {
        script,
        _permit: held,
    };
    Ok(Response::from_parts(
        parts,
        ProxyBody::full(Bytes::from_owner(held)),
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
        let budget = self.budget.clone();
        JsonpFuture::own(async move {
            let response = future.await?;
            if !response.status().is_success() && response.status() != StatusCode::NOT_MODIFIED {
                // The upstream's own error, JSON or not: a script tag cannot read it anyway, and
                // the status makes its onerror fire.
                return Ok(response);
            }
            Ok(match wrap(callback, response, budget).await {
                Ok(script) => script,
                Err(error) => error.into_response(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JSON answer from upstream, with its `Content-Length` or without.
    fn answer(json: &[u8], declared: bool) -> Response<ProxyBody> {
        let mut response = Response::new(ProxyBody::full(json.to_vec()));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if declared {
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(json.len()));
        }
        response
    }

    #[tokio::test]
    async fn the_script_is_the_engines_wrap_and_gives_its_bytes_back_when_dropped() {
        let many = "\u{2028}x\u{2029}".repeat(1000);
        let big = "y".repeat(200_000);
        let budget = JsonpBudget::new(1 << 20);
        for json in [
            "{\"a\":1}".to_owned(),
            "\"a\u{2028}b\u{2029}c\"".to_owned(),
            format!("\"{many}\""),
            format!("[\"{big}\",\"\u{2028}\"]"),
        ] {
            for declared in [true, false] {
                let response = wrap(
                    "app.done".to_owned(),
                    answer(json.as_bytes(), declared),
                    budget.clone(),
                )
                .await
                .expect("wrapped");
                assert!(budget.available() < budget.total());
                let script = response
                    .into_body()
                    .collect()
                    .await
                    .expect("a whole body")
                    .to_bytes();
                assert!(
                    script == jsonp::wrap("app.done", json.as_bytes()),
                    "{declared}: {:?}",
                    &script[..script.len().min(100)]
                );
                drop(script);
                assert_eq!(budget.available(), budget.total(), "{declared}");
            }
        }
    }

    #[tokio::test]
    async fn an_answer_reserves_its_length_and_its_wrapper_exactly() {
        let json = br#"{"a":[1,2,3]}"#;
        let (before, after) = shell("cb");
        let needed = (before.len() + json.len() + after.len()) as u64;
        let budget = JsonpBudget::new(needed);
        let script = wrap("cb".to_owned(), answer(json, true), budget.clone())
            .await
            .expect("it fits exactly");
        assert_eq!(budget.available(), 0);
        drop(script);
        assert_eq!(budget.available(), needed);

        let budget = JsonpBudget::new(needed - 1);
        let error = wrap("cb".to_owned(), answer(json, true), budget.clone())
            .await
            .expect_err("one byte short");
        assert_eq!(error.code(), "busy");
        assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(error.to_string().contains("JSONP"), "{error}");
        assert_eq!(budget.available(), needed - 1);
    }

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
