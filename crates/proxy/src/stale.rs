//! A pooled HTTP/1.1 connection that the server closed while it sat idle, found before a request
//! is written on it, and the request sent again on another connection: [`StaleCheck`] (a
//! connector for hyper-util's client), [`Checked`] (its connections), [`request`] (a request sent
//! through such a client, again while the connection it took turns out closed) and [`is_stale`].
//!
//! Why: a server may close a keep-alive connection after any answer without saying
//! `Connection: close` (many do after a number of requests or an idle time; some small servers
//! after every answer). hyper-util's client takes a pooled connection if its sender
//! `is_ready()`, which knows of the server's FIN only once the connection's task has been polled
//! after the reactor saw it; when the request's task checks the connection out first (often, on
//! the proxy's single-threaded workers, and on the CLI's client under load), the request is
//! written into a closed connection and fails ("connection reset by peer", "connection closed
//! before message completed"). hyper-util sends a request again only if it was canceled before
//! being handed to the connection (`retry_canceled_requests`), which is not this case, and
//! `Connected::poison` only keeps a connection out of the pool from then on: neither finds the
//! closed connection in time, nor gives the request back.
//!
//! What this does: before the first write of a request on a connection that has already carried
//! one (the first write after a read, once the previous request was flushed), [`Checked`] asks
//! the kernel whether anything is waiting on the socket (a non-blocking `MSG_PEEK`, one system
//! call, as the HTTP/1.1 fast path does before it takes an idle connection, [`crate::h1`]): the
//! server's FIN, a reset, or bytes nobody asked for (an unsolicited `408`, a TLS `close_notify`).
//! If so, the write fails with [`Stale`] having written nothing, and [`request`] sends the
//! request again, built anew, after letting the runtime run once (so that the tasks of other
//! pooled connections the server closed see their ends and leave the pool). Nothing of the
//! request reached the server, so this is safe for any method, as nginx's `proxy_next_upstream
//! error` is before a request is sent. A request whose body cannot be built again (a streamed
//! body) is not sent again: its error is the caller's.
//!
//! A FIN that arrives after the check (a server slower to close than the client is to send its
//! next request) finds the request written: the server closes a socket with a request on it
//! (the client reads a reset, or the end, before a byte of answer). The request may or may not
//! have been processed, so [`request`] sends it again only if its method is idempotent (RFC 9110
//! §9.2.2: `GET`, `HEAD`, `OPTIONS`, `PUT`, `DELETE`), as nginx does by default
//! (`proxy_next_upstream error`, without `non_idempotent`) and as the HTTP/1.1 fast path does
//! for `GET` and `HEAD`; [`Checked`] marks that error [`Unanswered`] (a reused connection, the
//! request flushed, not a byte of answer). A `POST` is then a 502, once in a long while. HTTP/2
//! connections are not checked (a `GOAWAY` says which streams were not processed).
//!
//! Run the client on a current-thread runtime, its requests as tasks of that runtime (the proxy's
//! workers and the CLI's client do): a request checked out on one thread while another runs the
//! task of the connection it took, closing it because the server did, can be lost between
//! hyper's dispatch channel and tokio's (sent as the channel's receiver is dropped) and hang
//! until the caller's timeout; sending requests again makes that race come up more often.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_rustls::MaybeHttpsStream;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::connect::BoxFuture;

/// How many times [`request`] sends a request again after finding the connection it took
/// closed. Each time takes another pooled connection or a new one (whose first request is not
/// checked, so it cannot be found stale); more than one in a row means several pooled
/// connections were closed at once.
pub const MAX_RETRIES: usize = 4;

/// The mark of a request that was not sent: the pooled connection it took had been closed by the
/// server (or had bytes on it nobody asked for), found before a byte of the request was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stale;

impl fmt::Display for Stale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the server had closed this kept-alive connection (or sent bytes nobody asked for) \
             before the request was written; nothing of it was sent",
        )
    }
}

impl StdError for Stale {}

/// The mark of a request written on a kept-alive connection that then ended (closed or reset)
/// before a byte of its answer: the server closed the connection as the request arrived, and may
/// or may not have processed it. Carries the error (or end) that was read.
#[derive(Debug)]
pub struct Unanswered(Option<io::Error>);

impl fmt::Display for Unanswered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the server closed this kept-alive connection as the request was sent, ")?;
        match &self.0 {
            Some(e) => write!(f, "before a byte of answer ({e})"),
            None => f.write_str("before a byte of answer"),
        }
    }
}

impl StdError for Unanswered {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.as_ref().map(|e| e as &(dyn StdError + 'static))
    }
}
/// Whether `error`, or an error in its chain, is [`Stale`]: the request was not sent at all. Looks
/// inside `io::Error`s too (their `source` skips the error they wrap).
pub fn is_stale(error: &(dyn StdError + 'static)) -> bool {
    find::<Stale>(error)
}

/// Whether `error`, or an error in its chain, is [`Unanswered`]: the request was written on a
/// kept-alive connection that then ended before a byte of answer.
pub fn is_unanswered(error: &(dyn StdError + 'static)) -> bool {
    find::<Unanswered>(error)
}

fn find<E: StdError + 'static>(error: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(cause) = next {
        if cause.is::<E>() {
            return true;
        }
        let wrapped = cause
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
            .map(|inner| inner as &(dyn StdError + 'static));
        next = wrapped.or_else(|| cause.source());
    }
    false
}

/// Whether nothing waits to be read on `socket`, not even its end: a non-blocking `MSG_PEEK` of
/// one byte (the socket is non-blocking, as tokio's are). Asks the kernel, which knows of a FIN
/// before tokio's reactor has reported it.
pub(crate) fn quiet(socket: socket2::SockRef<'_>) -> bool {
    let mut byte = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    match socket.peek(&mut byte) {
        Err(e) => e.kind() == io::ErrorKind::WouldBlock,
        Ok(_) => false,
    }
}

/// A connection whose TCP socket can be asked what waits on it.
pub trait Socket {
    /// The TCP socket under it (under TLS, if any).
    fn socket(&self) -> socket2::SockRef<'_>;
}

impl Socket for TcpStream {
    fn socket(&self) -> socket2::SockRef<'_> {
        socket2::SockRef::from(self)
    }
}

impl<T: Socket> Socket for TokioIo<T> {
    fn socket(&self) -> socket2::SockRef<'_> {
        self.inner().socket()
    }
}

impl<T: Socket> Socket for MaybeHttpsStream<T> {
    fn socket(&self) -> socket2::SockRef<'_> {
        match self {
            MaybeHttpsStream::Http(stream) => stream.socket(),
            MaybeHttpsStream::Https(tls) => tls.inner().get_ref().0.socket(),
        }
    }
}

/// A connector for hyper-util's client around `C`: each connection it makes is [`Checked`].
#[derive(Clone, Debug)]
pub struct StaleCheck<C> {
    inner: C,
}

impl<C> StaleCheck<C> {
    /// `inner`'s connections, checked before each request but the first.
    pub fn new(inner: C) -> StaleCheck<C> {
        StaleCheck { inner }
    }
}

impl<C, T> tower_service::Service<Uri> for StaleCheck<C>
where
    C: tower_service::Service<Uri, Response = T>,
    C::Future: Send + 'static,
    C::Error: 'static,
    T: Connection + Send + 'static,
{
    type Response = Checked<T>;
    type Error = C::Error;
    type Future = BoxFuture<Result<Checked<T>, C::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), C::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        Box::pin(async move {
            let stream = connecting.await?;
            // HTTP/2 multiplexes requests and reads and writes frames at any time: not checked.
            let h2 = stream.connected().is_negotiated_h2();
            Ok(Checked {
                inner: stream,
                state: if h2 { State::Never } else { State::Writing },
                reused: false,
            })
        })
    }
}

/// Where a connection is, as its writes and reads go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Writing a request (or none yet).
    Writing,
    /// Everything written so far is flushed: a read now is the answer's.
    Flushed,
    /// The answer is being read: the next write starts another request, and is checked first.
    Reading,
    /// An HTTP/2 connection: never checked.
    Never,
}

/// A connection that checks, before the first write of each request after the first, that the
/// server has not closed it; if it has, the write fails with [`Stale`] and nothing is written. On
/// such a connection, an end or an error read before a byte of the answer is [`Unanswered`].
#[derive(Debug)]
pub struct Checked<T> {
    inner: T,
    state: State,
    /// It has carried an answer: the request being sent is not its first.
    reused: bool,
}

/// How much the first read of an answer on a reused connection takes at once: it is read into a
/// buffer of its own to see whether a byte came, then copied (hyper's read buffer cannot be
/// looked at after a read without `unsafe`). The rest of the answer is read straight.
const FIRST_READ: usize = 4096;

impl<T: Socket> Checked<T> {
    /// Before a write: `Err` with [`Stale`] if this write starts another request on a connection
    /// the server has closed.
    fn check(&mut self) -> io::Result<()> {
        match self.state {
            State::Never => return Ok(()),
            State::Reading if !quiet(self.inner.socket()) => {
                return Err(io::Error::new(io::ErrorKind::ConnectionReset, Stale));
            }
            State::Reading => self.reused = true,
            _ => {}
        }
        self.state = State::Writing;
        Ok(())
    }
}

impl<T: Read + Unpin> Checked<T> {
    /// The first read of an answer on a reused connection: an end or an error before a byte is
    /// [`Unanswered`].
    fn poll_first_read(
        &mut self,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let mut first = [std::mem::MaybeUninit::<u8>::uninit(); FIRST_READ];
        let room = buf.remaining().min(FIRST_READ);
        let mut read = hyper::rt::ReadBuf::uninit(&mut first[..room]);
        match Pin::new(&mut self.inner).poll_read(cx, read.unfilled()) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Err(io::Error::new(e.kind(), Unanswered(Some(e))))),
            Poll::Ready(Ok(())) if read.filled().is_empty() && room > 0 => Poll::Ready(Err(
                io::Error::new(io::ErrorKind::UnexpectedEof, Unanswered(None)),
            )),
            Poll::Ready(Ok(())) => {
                buf.put_slice(read.filled());
                self.state = State::Reading;
                Poll::Ready(Ok(()))
            }
        }
    }
}

impl<T: Read + Unpin> Read for Checked<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.state == State::Flushed && this.reused {
            return this.poll_first_read(cx, buf);
        }
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        // Ready with nothing read is the connection's end: then the next write, if any, finds it.
        if matches!(read, Poll::Ready(Ok(()))) && this.state == State::Flushed {
            this.state = State::Reading;
        }
        read
    }
}

impl<T: Write + Socket + Unpin> Write for Checked<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let flushed = Pin::new(&mut this.inner).poll_flush(cx);
        // hyper flushes the connection once its buffer is written out (and when it has nothing
        // to write): a read after this is an answer's, not an interim one between two writes of
        // the same request.
        if matches!(flushed, Poll::Ready(Ok(()))) && this.state == State::Writing {
            this.state = State::Flushed;
        }
        flushed
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl<T: Connection> Connection for Checked<T> {
    fn connected(&self) -> Connected {
        self.inner.connected()
    }
}

/// Sends `first` through `client`; while the connection it took turns out [`Stale`] (nothing of
/// the request was written), or, for an idempotent method, [`Unanswered`], lets the runtime run
/// once and sends the request `again` builds, on another connection, at most [`MAX_RETRIES`]
/// times. `again` returns `None` for a request that cannot be built again (a streamed body): its
/// error is returned as it is.
pub async fn request<C, B>(
    client: &Client<C, B>,
    first: Request<B>,
    mut again: impl FnMut() -> Option<Request<B>>,
) -> Result<Response<Incoming>, hyper_util::client::legacy::Error>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
    B: http_body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let idempotent = first.method().is_idempotent();
    let mut result = client.request(first).await;
    for _ in 0..MAX_RETRIES {
        match &result {
            Err(error) if is_stale(error) || (idempotent && is_unanswered(error)) => {}
            _ => break,
        }
        let Some(request) = again() else { break };
        // The reactor has seen the FIN by now: this lets the tasks of other connections it
        // closed see theirs, and leave the pool, before the next checkout.
        tokio::task::yield_now().await;
        result = client.request(request).await;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_is_found_inside_io_errors_and_chains() {
        let io = io::Error::new(io::ErrorKind::ConnectionReset, Stale);
        assert!(is_stale(&io));
        #[derive(Debug)]
        struct Outer(io::Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("outer")
            }
        }
        impl StdError for Outer {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&self.0)
            }
        }
        assert!(is_stale(&Outer(io)));
        assert!(!is_stale(&io::Error::from(io::ErrorKind::ConnectionReset)));
    }
}
