//! [`ProxyBody`]: what the proxy sends — a body streamed through untouched (the client's to the
//! upstream, the upstream's to the client), optionally cut off past a size limit, or a small body
//! of its own (a JSON error, a usage page), or nothing (a preflight).

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

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
    /// A body streamed frame by frame as it arrives (never buffered whole), that fails with
    /// [`TooLarge`] once more than `remaining` bytes have come (`u64::MAX`: no limit).
    Stream {
        /// The body being relayed.
        inner: Incoming,
        /// Bytes still allowed.
        remaining: u64,
        /// The limit, for the error.
        limit: u64,
    },
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

impl ProxyBody {
    /// A body of the proxy's own.
    pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
        ProxyBody::Full(Some(bytes.into()))
    }

    /// `inner` relayed as it comes, cut off past `limit` bytes (`None`: no limit).
    pub fn stream(inner: Incoming, limit: Option<u64>) -> ProxyBody {
        let limit = limit.unwrap_or(u64::MAX);
        ProxyBody::Stream {
            inner,
            remaining: limit,
            limit,
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
            ProxyBody::Stream {
                inner,
                remaining,
                limit,
            } => match Pin::new(inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let len = frame.data_ref().map_or(0, |d| d.len() as u64);
                    match remaining.checked_sub(len) {
                        Some(left) => {
                            *remaining = left;
                            Poll::Ready(Some(Ok(frame)))
                        }
                        None => Poll::Ready(Some(Err(Box::new(TooLarge { limit: *limit })))),
                    }
                }
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(e)))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Empty => true,
            ProxyBody::Full(bytes) => bytes.is_none(),
            ProxyBody::Stream { inner, .. } => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Empty => SizeHint::with_exact(0),
            ProxyBody::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            ProxyBody::Stream { inner, .. } => inner.size_hint(),
        }
    }
}
