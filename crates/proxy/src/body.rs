//! [`ProxyBody`]: what the proxy sends — a body streamed through untouched (the client's to the
//! upstream, the upstream's to the client), optionally cut off past a size limit or when it stalls
//! ([`BodyTimeouts`]), or a small body of its own (a JSON error, a usage page), or a small client
//! body read whole first so that it can be sent again ([`Buffered`]), or nothing (a preflight).
//!
//! A relayed body that breaks (its framing, or its connection) ends with an error, which hyper
//! turns into a closed connection (HTTP/1.1) or a reset stream (HTTP/2); it is counted in
//! [`metrics`](crate::metrics) by body and kind. The client's body's own errors are marked
//! ([`ClientBodyError`]), so that a request it breaks is blamed on the client (400), not on the
//! upstream. An upstream's body can be primed ([`ProxyBody::poll_first`]): its first frame read
//! before the answer's head is handed to hyper, so that a body broken from its start is a 502
//! answer instead of an empty reply.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

/// A boxed error, as hyper takes them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every message the proxy sends.
#[derive(Debug, Default)]
pub enum ProxyBody {
    /// Nothing (preflights, 204s).
    #[default]
    Empty,
    /// The proxy's own bytes, sent in one frame.
    Full(Option<Bytes>),
    /// A body relayed frame by frame as it arrives (never buffered whole).
    Stream(Relay),
    /// A small body read whole before it is sent ([`ProxyBody::buffered`]), which can be sent
    /// again ([`Buffered::again`]).
    Buffered(Buffered),
}

/// A body read whole: its bytes, and its trailers if it had any.
#[derive(Clone, Debug, Default)]
pub struct Buffered {
    data: Option<Bytes>,
    trailers: Option<HeaderMap>,
}

impl Buffered {
    /// The same body, to send again (the bytes are shared, not copied).
    pub fn again(&self) -> ProxyBody {
        ProxyBody::Buffered(self.clone())
    }
}

/// A body relayed as it arrives: it fails with [`TooLarge`] past its size limit, and with
/// [`BodyTimeout`] when it stalls or takes too long in all.
#[derive(Debug)]
pub struct Relay {
    inner: Source,
    /// The first frame's data, read ahead ([`ProxyBody::poll_first`]) and not given out yet.
    first: Option<Bytes>,
    /// Bytes still allowed.
    remaining: u64,
    /// The limit, for the error.
    limit: u64,
    /// The timeouts, if any: boxed, so that a body without them stays small.
    clock: Option<Box<BodyClock>>,
}

/// Where a relayed body comes from.
#[derive(Debug)]
enum Source {
    /// The client's body (hyper's server): its errors are marked as the client's.
    Client(Incoming),
    /// An upstream's body through hyper-util's client.
    Hyper(Incoming),
    /// An upstream's, read by the proxy's own HTTP/1.1 fast path ([`crate::h1`]).
    H1(crate::h1::Message),
    /// The trailers of a body that had no data, read ahead ([`ProxyBody::poll_first`]): the body
    /// they came from has ended. Boxed: rare, and the other sources are what a body's size is
    /// made of.
    Trailers(Option<Box<HeaderMap>>),
}

impl Source {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self {
            Source::Client(body) => Pin::new(body)
                .poll_frame(cx)
                .map_err(|e| -> BoxError { Box::new(ClientBodyError(e)) }),
            Source::Hyper(body) => Pin::new(body)
                .poll_frame(cx)
                .map_err(|e| -> BoxError { Box::new(e) }),
            Source::H1(body) => Pin::new(body)
                .poll_frame(cx)
                .map_err(|e| -> BoxError { Box::new(e) }),
            Source::Trailers(trailers) => {
                Poll::Ready(trailers.take().map(|t| Ok(Frame::trailers(*t))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Source::Client(body) | Source::Hyper(body) => body.is_end_stream(),
            Source::H1(body) => body.is_end_stream(),
            Source::Trailers(trailers) => trailers.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Source::Client(body) | Source::Hyper(body) => body.size_hint(),
            Source::H1(body) => body.size_hint(),
            Source::Trailers(_) => SizeHint::with_exact(0),
        }
    }
}

/// The timing of a relayed body, and where its timeouts and errors are counted (boxed: most
/// bodies are relayed whole without waiting, and a body without either stays small).
#[derive(Debug)]
struct BodyClock {
    timeouts: BodyTimeouts,
    /// When the last frame came (or the body started).
    last: Instant,
    /// When the whole body must have come.
    deadline: Option<Instant>,
    /// Armed the first time the body has nothing to give (a body that is all there at once never
    /// makes a timer).
    sleep: Option<Pin<Box<Sleep>>>,
    /// Where a timeout or an error is counted, and as which body (`request` or `response`).
    counted: Option<(std::sync::Arc<crate::metrics::Metrics>, &'static str)>,
}

/// How long a relayed body may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyTimeouts {
    /// The longest wait for the next bytes (`None`: no limit): an upstream that sends its head
    /// and then stalls is cut off after it, instead of holding the client's connection forever.
    pub idle: Option<Duration>,
    /// The longest the whole body may take, from its first byte's wait (`None`: no limit).
    pub total: Option<Duration>,
}

/// The default [`BodyTimeouts::idle`]: 30 seconds without a byte.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for BodyTimeouts {
    /// [`BODY_IDLE_TIMEOUT`] without a byte, no limit in all.
    fn default() -> BodyTimeouts {
        BodyTimeouts {
            idle: Some(BODY_IDLE_TIMEOUT),
            total: None,
        }
    }
}

impl BodyTimeouts {
    /// No timeout at all.
    pub const NONE: BodyTimeouts = BodyTimeouts {
        idle: None,
        total: None,
    };

    /// What applies to a client's body on its way upstream: the idle timeout only (a large upload
    /// may take long, but not stall).
    pub fn for_request(self) -> BodyTimeouts {
        BodyTimeouts {
            idle: self.idle,
            total: None,
        }
    }
}

/// A streamed body went past its limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooLarge {
    /// The limit, in bytes.
    pub limit: u64,
}

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the body is larger than the proxy's limit of {} bytes",
            self.limit
        )
    }
}

impl std::error::Error for TooLarge {}

/// A streamed body stalled, or took longer than allowed in all: it was cut off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyTimeout {
    /// No byte came for this long.
    Idle(Duration),
    /// The whole body did not come within this long.
    Total(Duration),
}

impl fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyTimeout::Idle(after) => write!(
                f,
                "the body stalled: no byte for {} ms, so it was cut off",
                after.as_millis()
            ),
            BodyTimeout::Total(after) => write!(
                f,
                "the body took longer than {} ms in all, so it was cut off",
                after.as_millis()
            ),
        }
    }
}

impl std::error::Error for BodyTimeout {}

/// The client's body could not be read (its chunked coding is broken, it ended before its
/// `Content-Length`, its connection failed): the client's fault, not the upstream's.
#[derive(Debug)]
pub struct ClientBodyError(hyper::Error);

impl fmt::Display for ClientBodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the client's body could not be read: {}", self.0)?;
        if let Some(cause) = std::error::Error::source(&self.0) {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ClientBodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// What broke a relayed body, as `crossgate_proxy_body_errors_total` counts it: `malformed` (its
/// framing: a bad chunk), `closed` (its connection ended before the body did), `too-large` (past
/// the size limit), `failed` (anything else: a reset connection, a stream error).
pub(crate) fn error_kind(error: &(dyn std::error::Error + 'static)) -> &'static str {
    let mut next = Some(error);
    while let Some(cause) = next {
        if cause.is::<TooLarge>() {
            return "too-large";
        }
        if let Some(h1) = cause.downcast_ref::<crate::h1::BodyError>() {
            return h1.kind();
        }
        if let Some(hyper) = cause.downcast_ref::<hyper::Error>() {
            if hyper.is_incomplete_message() {
                return "closed";
            }
            if hyper.is_parse() {
                return "malformed";
            }
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput => {
                    return "malformed";
                }
                std::io::ErrorKind::UnexpectedEof => return "closed",
                _ => {}
            }
        }
        next = cause.source();
    }
    "failed"
}

impl ProxyBody {
    /// A body of the proxy's own.
    pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
        ProxyBody::Full(Some(bytes.into()))
    }

    /// An upstream's body `inner` relayed as it comes, cut off past `limit` bytes (`None`: no
    /// limit).
    pub fn stream(inner: Incoming, limit: Option<u64>) -> ProxyBody {
        ProxyBody::relay(Source::Hyper(inner), limit)
    }

    /// The client's body `inner`, relayed as [`ProxyBody::stream`]; its own errors are
    /// [`ClientBodyError`]s.
    pub fn request(inner: Incoming, limit: Option<u64>) -> ProxyBody {
        ProxyBody::relay(Source::Client(inner), limit)
    }

    /// An upstream's body read by the HTTP/1.1 fast path, relayed as [`ProxyBody::stream`].
    pub fn stream_h1(inner: crate::h1::Message, limit: Option<u64>) -> ProxyBody {
        ProxyBody::relay(Source::H1(inner), limit)
    }

    fn relay(inner: Source, limit: Option<u64>) -> ProxyBody {
        let limit = limit.unwrap_or(u64::MAX);
        ProxyBody::Stream(Relay {
            inner,
            first: None,
            remaining: limit,
            limit,
            clock: None,
        })
    }

    /// A relayed body, also cut off when it stalls or takes too long (counted from now); the
    /// proxy's own bodies have nothing to wait for and are returned as they are.
    #[must_use]
    pub fn timeouts(self, timeouts: BodyTimeouts) -> ProxyBody {
        match self {
            ProxyBody::Stream(mut relay) if timeouts != BodyTimeouts::NONE => {
                let now = Instant::now();
                let counted = relay.clock.take().and_then(|clock| clock.counted);
                relay.clock = Some(BodyClock::new(timeouts, now, counted));
                ProxyBody::Stream(relay)
            }
            other => other,
        }
    }

    /// A relayed body counts its timeouts and its errors in `metrics` (if any) as `body`
    /// (`request` or `response`: the label of `crossgate_proxy_body_timeouts_total` and
    /// `crossgate_proxy_body_errors_total`).
    #[must_use]
    pub fn counted(
        mut self,
        metrics: Option<&std::sync::Arc<crate::metrics::Metrics>>,
        body: &'static str,
    ) -> ProxyBody {
        if let (ProxyBody::Stream(relay), Some(metrics)) = (&mut self, metrics) {
            let counted = Some((metrics.clone(), body));
            match &mut relay.clock {
                Some(clock) => clock.counted = counted,
                None => {
                    relay.clock = Some(BodyClock::new(BodyTimeouts::NONE, Instant::now(), counted));
                }
            }
        }
        self
    }

    /// Reads a small body whole ([`ProxyBody::Buffered`], which can be sent again): a relayed one
    /// whose size is known and at most `most` bytes. A relayed body that has ended is
    /// [`ProxyBody::Empty`]; any other is returned as it is. Fails as the body does
    /// ([`TooLarge`], [`BodyTimeout`], [`ClientBodyError`]).
    pub async fn buffered(self, most: u64) -> Result<ProxyBody, BoxError> {
        if self.is_end_stream() {
            return Ok(match self {
                ProxyBody::Stream(_) => ProxyBody::Empty,
                other => other,
            });
        }
        let small = matches!(self.size_hint().exact(), Some(length) if length <= most);
        let ProxyBody::Stream(mut relay) = self else {
            return Ok(self);
        };
        if !small {
            return Ok(ProxyBody::Stream(relay));
        }
        let mut data = BytesMut::new();
        let mut trailers = None;
        while let Some(frame) = std::future::poll_fn(|cx| relay.poll_frame(cx)).await {
            match frame?.into_data() {
                Ok(bytes) => data.extend_from_slice(&bytes),
                Err(frame) => trailers = frame.into_trailers().ok(),
            }
        }
        Ok(ProxyBody::Buffered(Buffered {
            data: (!data.is_empty()).then(|| data.freeze()),
            trailers,
        }))
    }

    /// The same body again, if it can be sent again (nothing, the proxy's own bytes, a
    /// [`Buffered`] body); `None` for a relayed one.
    pub fn again(&self) -> Option<ProxyBody> {
        match self {
            ProxyBody::Empty => Some(ProxyBody::Empty),
            ProxyBody::Full(bytes) => Some(ProxyBody::Full(bytes.clone())),
            ProxyBody::Buffered(buffered) => Some(buffered.again()),
            ProxyBody::Stream(_) => None,
        }
    }

    /// Reads a relayed body's first frame ahead, and keeps it for [`Body::poll_frame`]: `Ready`
    /// once it has come (or the body has ended), with the body's error if it broke first. Any
    /// other body is ready at once. Its size limit applies; its timeouts are the caller's.
    pub fn poll_first(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        let ProxyBody::Stream(relay) = self else {
            return Poll::Ready(Ok(()));
        };
        if relay.first.is_some() || relay.inner.is_end_stream() {
            return Poll::Ready(Ok(()));
        }
        match std::task::ready!(relay.poll_frame(cx)) {
            None => Poll::Ready(Ok(())),
            Some(Err(e)) => Poll::Ready(Err(e)),
            Some(Ok(frame)) => {
                match frame.into_data() {
                    Ok(data) => relay.first = Some(data),
                    // Trailers end a body: its source has nothing more.
                    Err(frame) => {
                        let trailers = frame.into_trailers().ok().map(Box::new);
                        relay.inner = Source::Trailers(trailers);
                    }
                }
                Poll::Ready(Ok(()))
            }
        }
    }
}

impl BodyClock {
    fn new(
        timeouts: BodyTimeouts,
        now: Instant,
        counted: Option<(std::sync::Arc<crate::metrics::Metrics>, &'static str)>,
    ) -> Box<BodyClock> {
        Box::new(BodyClock {
            timeouts,
            last: now,
            deadline: timeouts.total.map(|total| now + total),
            sleep: None,
            counted,
        })
    }

    /// When the body times out, as things stand (frames only ever move it later).
    fn due(timeouts: BodyTimeouts, last: Instant, deadline: Option<Instant>) -> Option<Instant> {
        let idle = timeouts.idle.map(|idle| last + idle);
        match (idle, deadline) {
            (Some(idle), Some(deadline)) => Some(idle.min(deadline)),
            (idle, deadline) => idle.or(deadline),
        }
    }

    /// The body has nothing to give: `Ready` with the reason once it has waited too long. The
    /// timer is made the first time, and re-armed only when it fires for a deadline that frames
    /// have since moved (not at every frame).
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<BodyTimeout> {
        let BodyClock {
            timeouts,
            last,
            deadline,
            sleep,
            counted: _,
        } = self;
        let Some(due) = BodyClock::due(*timeouts, *last, *deadline) else {
            return Poll::Pending;
        };
        let sleep = sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        loop {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            if let (Some(deadline), Some(total)) = (*deadline, timeouts.total) {
                if now >= deadline {
                    return Poll::Ready(BodyTimeout::Total(total));
                }
            }
            if let Some(idle) = timeouts.idle {
                if now >= *last + idle {
                    return Poll::Ready(BodyTimeout::Idle(idle));
                }
            }
            sleep.as_mut().reset(due);
        }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ProxyBody::Empty => Poll::Ready(None),
            ProxyBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            ProxyBody::Stream(relay) => match relay.first.take() {
                Some(data) => Poll::Ready(Some(Ok(Frame::data(data)))),
                None => relay.poll_frame(cx),
            },
            ProxyBody::Buffered(buffered) => Poll::Ready(match buffered.data.take() {
                Some(data) => Some(Ok(Frame::data(data))),
                None => buffered.trailers.take().map(|t| Ok(Frame::trailers(t))),
            }),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Empty => true,
            ProxyBody::Full(bytes) => bytes.is_none(),
            ProxyBody::Stream(relay) => relay.first.is_none() && relay.inner.is_end_stream(),
            ProxyBody::Buffered(buffered) => buffered.data.is_none() && buffered.trailers.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Empty => SizeHint::with_exact(0),
            ProxyBody::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            ProxyBody::Stream(relay) => {
                let rest = relay.inner.size_hint();
                let Some(first) = &relay.first else {
                    return rest;
                };
                let first = first.len() as u64;
                let mut hint = SizeHint::new();
                hint.set_lower(rest.lower().saturating_add(first));
                if let Some(upper) = rest.upper() {
                    hint.set_upper(upper.saturating_add(first));
                }
                hint
            }
            ProxyBody::Buffered(buffered) => {
                SizeHint::with_exact(buffered.data.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}

impl Relay {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let len = frame.data_ref().map_or(0, |d| d.len() as u64);
                match self.remaining.checked_sub(len) {
                    Some(left) => {
                        self.remaining = left;
                        if let Some(clock) = &mut self.clock {
                            clock.last = Instant::now();
                            // A body that always has bytes ready (a client reading slowly from a
                            // fast upstream) is held to its total too.
                            if let (Some(deadline), Some(total)) =
                                (clock.deadline, clock.timeouts.total)
                            {
                                if clock.last >= deadline {
                                    return self.expired(BodyTimeout::Total(total));
                                }
                            }
                        }
                        Poll::Ready(Some(Ok(frame)))
                    }
                    None => {
                        if let Some((metrics, body)) =
                            self.clock.as_ref().and_then(|c| c.counted.as_ref())
                        {
                            metrics.count_body_error(body, "too-large");
                        }
                        Poll::Ready(Some(Err(Box::new(TooLarge { limit: self.limit }))))
                    }
                }
            }
            Poll::Ready(Some(Err(e))) => {
                if let Some((metrics, body)) = self.clock.as_ref().and_then(|c| c.counted.as_ref())
                {
                    metrics.count_body_error(body, error_kind(&*e));
                }
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let Some(clock) = &mut self.clock else {
                    return Poll::Pending;
                };
                match clock.poll_expired(cx) {
                    Poll::Ready(timeout) => self.expired(timeout),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    /// The body ends with `timeout`: hyper closes the connection (HTTP/1.1) or resets the stream
    /// (HTTP/2), and the log says why.
    fn expired(&mut self, timeout: BodyTimeout) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some((metrics, body)) = self.clock.take().and_then(|clock| clock.counted) {
            metrics.count_body_timeout(body, timeout);
        }
        tracing::warn!(target: "crossgate_proxy", "{timeout}");
        Poll::Ready(Some(Err(Box::new(timeout))))
    }
}
