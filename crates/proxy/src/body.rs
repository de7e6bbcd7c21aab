//! [`ProxyBody`]: what the proxy sends — a body streamed through untouched (the client's to the
//! upstream, the upstream's to the client), optionally cut off past a size limit or when it stalls
//! ([`BodyTimeouts`]), or a small body of its own (a JSON error, a usage page), or nothing (a
//! preflight).

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
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
}

/// A body relayed as it arrives: it fails with [`TooLarge`] past its size limit, and with
/// [`BodyTimeout`] when it stalls or takes too long in all.
#[derive(Debug)]
pub struct Relay {
    inner: Source,
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
    /// hyper's: the client's body, or an upstream's through hyper-util's client.
    Hyper(Incoming),
    /// An upstream's, read by the proxy's own HTTP/1.1 fast path ([`crate::h1`]).
    H1(crate::h1::Message),
}

impl Source {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self {
            Source::Hyper(body) => Pin::new(body)
                .poll_frame(cx)
                .map_err(|e| -> BoxError { Box::new(e) }),
            Source::H1(body) => Pin::new(body)
                .poll_frame(cx)
                .map_err(|e| -> BoxError { Box::new(e) }),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Source::Hyper(body) => body.is_end_stream(),
            Source::H1(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Source::Hyper(body) => body.size_hint(),
            Source::H1(body) => body.size_hint(),
        }
    }
}

/// The timing of a relayed body.
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
    /// Where a timeout is counted, and as which body (`request` or `response`).
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

impl ProxyBody {
    /// A body of the proxy's own.
    pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
        ProxyBody::Full(Some(bytes.into()))
    }

    /// `inner` relayed as it comes, cut off past `limit` bytes (`None`: no limit).
    pub fn stream(inner: Incoming, limit: Option<u64>) -> ProxyBody {
        ProxyBody::relay(Source::Hyper(inner), limit)
    }

    /// An upstream's body read by the HTTP/1.1 fast path, relayed as [`ProxyBody::stream`].
    pub fn stream_h1(inner: crate::h1::Message, limit: Option<u64>) -> ProxyBody {
        ProxyBody::relay(Source::H1(inner), limit)
    }

    fn relay(inner: Source, limit: Option<u64>) -> ProxyBody {
        let limit = limit.unwrap_or(u64::MAX);
        ProxyBody::Stream(Relay {
            inner,
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
                relay.clock = Some(Box::new(BodyClock {
                    timeouts,
                    last: now,
                    deadline: timeouts.total.map(|total| now + total),
                    sleep: None,
                    counted: None,
                }));
                ProxyBody::Stream(relay)
            }
            other => other,
        }
    }

    /// A relayed body with timeouts counts them in `metrics` (if any) as `body` (`request` or
    /// `response`: the label of `crossgate_proxy_body_timeouts_total`).
    #[must_use]
    pub fn counted(
        mut self,
        metrics: Option<&std::sync::Arc<crate::metrics::Metrics>>,
        body: &'static str,
    ) -> ProxyBody {
        if let (
            ProxyBody::Stream(Relay {
                clock: Some(clock), ..
            }),
            Some(metrics),
        ) = (&mut self, metrics)
        {
            clock.counted = Some((metrics.clone(), body));
        }
        self
    }
}

impl BodyClock {
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
            ProxyBody::Stream(relay) => relay.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Empty => true,
            ProxyBody::Full(bytes) => bytes.is_none(),
            ProxyBody::Stream(relay) => relay.inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Empty => SizeHint::with_exact(0),
            ProxyBody::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            ProxyBody::Stream(relay) => relay.inner.size_hint(),
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
                    None => Poll::Ready(Some(Err(Box::new(TooLarge { limit: self.limit })))),
                }
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
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
