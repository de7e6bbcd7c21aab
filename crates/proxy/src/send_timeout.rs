//! [`SendTimeout`]: a client connection's write-stall watchdog (nginx's `send_timeout`). A client
//! that stops reading fills its socket; hyper then stops pulling the answer's body, so no body
//! timeout can fire, and the connection would be held for ever. Wrapped in a [`SendTimeout`],
//! a connection that has bytes to write and writes none of them for the timeout fails with
//! [`io::ErrorKind::TimedOut`], and hyper closes it.
//!
//! The clock runs only while a write waits (the socket is full): it starts when a write returns
//! `Pending` and stops at the next write that makes progress. A connection whose writes complete
//! at once never touches a timer; the first stall allocates the connection's one [`Sleep`],
//! which later stalls reset.
//!
//! It watches the connection's writes as a whole, not each answer. Over HTTP/2 that covers a
//! client that stops reading the connection (the socket fills, whatever the streams). A client
//! that keeps reading but withholds flow-control window (`WINDOW_UPDATE`) from a stream, or from
//! the whole connection, gives the proxy nothing it may write, so no write waits here: `serve`
//! watches each answer for that (an answer hyper has not asked for a frame for
//! `send_timeout` closes the connection).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// `inner`, failing its writes once it has had bytes to write and written none for `timeout`.
#[derive(Debug)]
pub(crate) struct SendTimeout<S> {
    inner: S,
    /// `None`: no watchdog, `inner` as it is.
    timeout: Option<Duration>,
    /// Allocated at the first stall, reset at the next ones.
    stall: Option<Pin<Box<Sleep>>>,
    /// Whether `stall` is counting (a write is waiting).
    armed: bool,
}

impl<S> SendTimeout<S> {
    pub(crate) fn new(inner: S, timeout: Option<Duration>) -> SendTimeout<S> {
        SendTimeout {
            inner,
            timeout,
            stall: None,
            armed: false,
        }
    }

    /// A write is waiting: starts the clock if it is not running; an error once it has run out.
    fn waiting(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let Some(timeout) = self.timeout else {
            return Ok(());
        };
        if !self.armed {
            self.armed = true;
            let deadline = Instant::now() + timeout;
            match &mut self.stall {
                Some(stall) => stall.as_mut().reset(deadline),
                None => self.stall = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
        }
        // Armed, so allocated.
        let Some(stall) = &mut self.stall else {
            return Ok(());
        };
        if stall.as_mut().poll(cx).is_pending() {
            return Ok(());
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "the client took no bytes for {} ms (send timeout)",
                timeout.as_millis()
            ),
        ))
    }

    /// What a write returned: the clock stops on anything but `Pending`.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match polled {
            Poll::Pending => match self.waiting(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
            ready => {
                self.armed = false;
                ready
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for SendTimeout<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for SendTimeout<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.watch(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.watch(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.watch(cx, polled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A peer that reads nothing: the writer fills the pipe, then times out; a peer that reads
    /// keeps it going however long the whole takes.
    #[tokio::test(start_paused = true)]
    async fn a_write_that_waits_for_the_timeout_fails_and_progress_resets_the_clock() {
        let (near, _far) = tokio::io::duplex(1024);
        let mut watched = SendTimeout::new(near, Some(Duration::from_secs(60)));
        watched.write_all(&[0; 1024]).await.expect("fits");
        assert!(watched.stall.is_none(), "no timer while writes complete");
        let started = Instant::now();
        let stalled = watched.write_all(&[0; 1]).await.expect_err("times out");
        assert_eq!(stalled.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(60));

        let (near, mut far) = tokio::io::duplex(1024);
        let mut watched = SendTimeout::new(near, Some(Duration::from_secs(60)));
        let reader = tokio::spawn(async move {
            let mut buffer = [0; 1024];
            let mut total = 0;
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_secs(50)).await;
                total += far.read(&mut buffer).await.expect("read");
            }
            total
        });
        watched
            .write_all(&[0; 10 * 1024])
            .await
            .expect("progress every 50 s");
        assert_eq!(reader.await.expect("reader"), 10 * 1024);

        let (near, _far) = tokio::io::duplex(16);
        let mut unwatched = SendTimeout::new(near, None);
        unwatched.write_all(&[0; 16]).await.expect("fits");
        let waiting = tokio::time::timeout(Duration::from_secs(3600), unwatched.write_all(&[0]));
        assert!(waiting.await.is_err(), "no watchdog: waits for ever");
    }
}
