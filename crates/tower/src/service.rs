//! [`Cors`]: the service. One call to `crossgate::server` per request, then either an answer
//! built here (preflights, blocked requests) or the inner service's response with the decision's
//! headers applied.

use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use crossgate::server::{Action, Decision, Pending, Rejection};
use http::header::ORIGIN;
use http::{HeaderName, HeaderValue, Request, Response};
use tower_service::Service;

use crate::future::ResponseFuture;
use crate::layer::Source;

/// The response header debug mode adds to refused requests: the reason code, then what was
/// refused (`origin-not-allowed: origin "https://evil.example" not allowed`).
pub const REJECTION_HEADER: HeaderName = HeaderName::from_static("crossgate-rejection");

/// The service [`CorsLayer`](crate::CorsLayer) wraps around an inner service.
///
/// `ResBody: Default` is the body of the responses it answers itself (preflights, and requests
/// refused with `block_disallowed_origins`): empty.
#[derive(Clone, Debug)]
pub struct Cors<S> {
    inner: S,
    source: Source,
    debug: bool,
    record: bool,
}

/// A request's CORS decision, as [`CorsLayer::record_decisions`](crate::CorsLayer::record_decisions)
/// puts it in the response's extensions: what kind of request it was and, if refused, the
/// engine's stable reason code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decided {
    /// What kind of request it was.
    pub kind: crossgate::server::RequestKind,
    /// The rejection's code (`origin-not-allowed`…), when it was refused.
    pub rejection: Option<&'static str>,
}

impl<S> Cors<S> {
    pub(crate) fn new(inner: S, source: Source, debug: bool, record: bool) -> Cors<S> {
        Cors {
            inner,
            source,
            debug,
            record,
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Cors<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let decision = match &self.source {
            Source::Fixed(policy) => policy.decide(request.method(), request.headers()),
            Source::Swappable(handle) => {
                handle.with(|policy| policy.decide(request.method(), request.headers()))
            }
        };
        let debug_value = match decision.rejection() {
            Some(rejection) => rejected(&decision, rejection, &request, self.debug),
            None => None,
        };
        let recorded = self.record.then(|| Decided {
            kind: decision.kind(),
            rejection: decision.rejection().map(Rejection::code),
        });
        match decision.action() {
            Action::Respond(status) => {
                let mut response = Response::new(ResBody::default());
                *response.status_mut() = status;
                // An allowed preflight's answer is already built (from the policy's precompiled
                // one): it becomes the response's headers as is.
                *response.headers_mut() = decision.into_response_headers();
                if let Some(value) = debug_value {
                    response.headers_mut().insert(REJECTION_HEADER, value);
                }
                if let Some(recorded) = recorded {
                    response.extensions_mut().insert(recorded);
                }
                ResponseFuture::ready(response)
            }
            Action::Forward => ResponseFuture::forward(
                self.inner.call(request),
                decision.into_pending(),
                debug_value,
                recorded,
            ),
        }
    }
}

/// A refused request: the debug-level event, and in debug mode the value of
/// [`REJECTION_HEADER`].
fn rejected<B>(
    decision: &Decision,
    rejection: &Rejection,
    request: &Request<B>,
    debug: bool,
) -> Option<HeaderValue> {
    let origin = request.headers().get(ORIGIN);
    tracing::debug!(
        target: "crossgate_tower",
        reason = rejection.code(),
        kind = decision.kind().as_str(),
        method = %request.method(),
        path = request.uri().path(),
        origin = %origin.map(|v| String::from_utf8_lossy(v.as_bytes())).unwrap_or_default(),
        "CORS request refused: {rejection}",
    );
    if !debug {
        return None;
    }
    let text = match (rejection, origin) {
        (Rejection::OriginNotAllowed, Some(origin)) => format!(
            "{}: origin {:?} not allowed",
            rejection.code(),
            String::from_utf8_lossy(origin.as_bytes())
        ),
        _ => format!("{}: {rejection}", rejection.code()),
    };
    // A request value with bytes a header value cannot carry: the code alone still says why.
    Some(HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static(rejection.code())))
}

/// Writes the decision's headers (and the debug header) into a response's.
pub(crate) fn finish(
    headers: &mut http::HeaderMap,
    pending: &Pending,
    debug_value: Option<HeaderValue>,
) {
    if pending.apply(headers).replaced_cors_headers() {
        report_replaced();
    }
    if let Some(value) = debug_value {
        headers.insert(REJECTION_HEADER, value);
    }
}

/// Whether the stacking warning was given yet (once per process; later ones are debug events).
static WARNED_STACKED: AtomicBool = AtomicBool::new(false);

/// The application's response carried CORS headers of its own, which [`Decision::apply`]
/// removed: another CORS layer (a second crossgate one, or tower-http's left over from a
/// migration) is inside this one, or the handler sets CORS headers itself. Either way this
/// layer's policy wins and the other is dead weight, or worse, a second opinion that disagrees.
fn report_replaced() {
    const MESSAGE: &str = "the response already carries Access-Control-* headers: another CORS \
        layer is stacked inside this crossgate CorsLayer (a second one, or tower-http's), or the \
        handler sets CORS headers itself; crossgate's policy replaces them, so remove the other";
    if WARNED_STACKED.swap(true, Ordering::Relaxed) {
        tracing::debug!(target: "crossgate_tower", "{MESSAGE}");
    } else {
        tracing::warn!(target: "crossgate_tower", "{MESSAGE}");
    }
}
