//! [`Pool`]: the upstream client's fast path, for a request without a body (`GET`, `HEAD`) to a
//! plain-HTTP upstream. The request's own task takes an idle connection from the pool (or dials
//! one through the [`GuardedConnector`]), writes the request head, and reads the answer's head;
//! the answer's body ([`Message`]) then reads the same connection as the client pulls it, and
//! puts the connection back in the pool once the message has ended cleanly.
//!
//! Why not hyper-util's pooled client, as every other request takes: it runs each connection in
//! a task of its own and hands it each request through a channel, then hands the answer back
//! through another, with a pool keyed by a SipHash of the target and a connector cloned per
//! request. For a small proxied `GET` that machinery took more of the proxy's CPU time than the
//! whole server side did (perf and `task-clock` on `bench/proxy/run.sh`), and a proxied `GET` is
//! the request a CORS proxy serves most. What is written here is only that one exchange; the
//! parsing is httparse's, hyper's own HTTP/1 parser, and the rules are RFC 9112's:
//!
//! - framing (§6.3): no body for `HEAD`, 1xx, 204 and 304; `Transfer-Encoding` whose last coding
//!   is chunked: chunked; any other `Transfer-Encoding`: until the connection closes;
//!   `Content-Length`: exactly that many bytes; otherwise until the connection closes. An answer
//!   with both headers, or with `Content-Length` values that disagree, is refused (it is how
//!   answers are smuggled);
//! - interim answers (1xx but 101) are skipped; a 101 is refused (the proxy never asks for one);
//! - a connection goes back to the pool only when its answer was HTTP/1.1 without
//!   `Connection: close`, its request did not say `Connection: close`, its body was read to the
//!   end, and not one byte more came with it;
//! - a connection is taken from the pool only if the kernel holds nothing for it (a
//!   non-blocking `MSG_PEEK`, one system call): bytes that came while it sat idle (a body sent
//!   after a `HEAD` answer, the tail of a body longer than its `Content-Length`, an unsolicited
//!   408) or its end close it instead of being read as the next request's answer, as hyper's
//!   idle connections do;
//! - a request on a pooled connection that the upstream closed without a byte of answer (the
//!   race of an upstream's keep-alive timeout with the request) is sent again, once, on a new
//!   connection, as nginx does for idempotent requests (`proxy_next_upstream error`): `GET` and
//!   `HEAD` are safe to repeat (RFC 9110 §9.2.2), which is why nothing else takes this path. An
//!   upstream whose `GET` has side effects and that crashes without answering may see it twice.
//!
//! A pool belongs to one runtime (its connections are registered with that runtime's reactor):
//! the proxy makes one per worker thread, with the rest of the worker's services.

use std::fmt;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use http::header::{self, HeaderMap};
use http::{Method, Response, Uri};
use http_body::Body;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::connect::{ConnectError, GuardedConnector};

mod decode;
mod encode;
mod parse;

use decode::*;
pub use decode::{BodyError, Complete, Message, read_complete};
use encode::*;
use parse::*;

/// The most idle connections a pool keeps (nginx's `keepalive 128` per worker in the benchmark).
pub const MAX_IDLE: usize = 128;

/// How long a connection may wait in the pool before it is closed instead of used (hyper-util's
/// default, which the other path keeps).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The most bytes an answer's head may take (hyper's client allows about 400 KiB of buffer; a
/// head this large is already a broken or hostile upstream).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The most headers an answer's head may carry (hyper's default).
pub const MAX_HEADERS: usize = 100;

/// The most bytes a chunk-size line, or a chunked body's trailers in all, may take.
const MAX_CHUNK_LINE: usize = 4096;
const MAX_TRAILERS: usize = 64 * 1024;

/// How much of a body is read from the upstream at once: at first, and at most. As hyper does,
/// the size doubles each time a read fills it, so that a large body moves in large frames (fewer
/// system calls and frames on both sides) and a small one does not take a large buffer.
const READ_FIRST: usize = 16 * 1024;
const READ_MOST: usize = 512 * 1024;

/// Idle connections to upstreams, shared by the clones of one worker's services.
#[derive(Clone, Default)]
pub struct Pool {
    idle: Arc<Mutex<Vec<Idle>>>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let idle = self.idle.lock().map_or(0, |idle| idle.len());
        f.debug_struct("Pool").field("idle", &idle).finish()
    }
}

struct Idle {
    /// `host:port` of the upstream it is connected to.
    key: Arc<str>,
    conn: Conn,
    since: Instant,
}

/// A connection and what has been read from it and not used yet.
#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    buf: BytesMut,
}

impl Conn {
    /// Whether an idle connection can carry a request: nothing is waiting to be read on it, not
    /// even its end. Asks the kernel (tokio's readiness flag may not have seen the bytes yet).
    fn quiet(&self) -> bool {
        crate::stale::quiet(socket2::SockRef::from(&self.stream))
    }
}

/// Why an exchange failed.
#[derive(Debug)]
pub enum Error {
    /// The connector refused the target, or could not connect.
    Connect(ConnectError),
    /// The connection failed, or the upstream's answer broke the protocol.
    Upstream(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connect(e) => e.fmt(f),
            Error::Upstream(detail) => f.write_str(detail),
        }
    }
}

impl std::error::Error for Error {}

/// What a failed attempt leaves: whether the request may be sent again on a new connection.
enum Attempt {
    /// Nothing came back on a pooled connection: the upstream had closed it.
    Stale,
    Failed(Error),
}

impl Pool {
    /// A pool with no connection yet.
    pub fn new() -> Pool {
        Pool::default()
    }

    /// The key of `target`'s connections (`host:port`): [`Pool::send`] takes it, so that a
    /// caller that always sends to one place makes it once.
    pub fn key(target: &Uri) -> Arc<str> {
        let host = target.host().unwrap_or_default();
        let port = target.port_u16().unwrap_or(80);
        Arc::from(format!("{host}:{port}"))
    }

    /// How many idle connections it holds.
    pub fn idle(&self) -> usize {
        self.idle.lock().map_or(0, |idle| idle.len())
    }

    /// Whether a request may take this path: `GET` or `HEAD`, nothing in its body (`body_empty`:
    /// the body says it has ended) and no framing header, to a plain-HTTP target.
    pub fn takes(method: &Method, headers: &HeaderMap, body_empty: bool, target: &Uri) -> bool {
        (method == Method::GET || method == Method::HEAD)
            && body_empty
            && target.scheme_str() == Some("http")
            && !headers.contains_key(header::TRANSFER_ENCODING)
            && !headers.contains_key(header::CONTENT_LENGTH)
    }

    /// Sends `method target` with `headers` (hop-by-hop headers already removed; `Host` is
    /// `headers`' if they have one, as hyper keeps it, otherwise `target`'s) and reads the
    /// answer's head. The answer's body reads the connection as it
    /// is pulled. No timeout here: the caller bounds the wait for the head.
    pub async fn send(
        &self,
        connector: &GuardedConnector,
        key: &Arc<str>,
        method: &Method,
        target: &Uri,
        headers: &HeaderMap,
    ) -> Result<Response<Message>, Error> {
        let head = encode_head(method, target, key, headers);
        let head_only = method == Method::HEAD;
        let close = says_close(headers);
        let mut pooled = self.take(key);
        loop {
            let reused = pooled.is_some();
            let conn = match pooled.take() {
                Some(conn) => conn,
                None => Conn {
                    stream: connector.connect(target).await.map_err(Error::Connect)?,
                    buf: BytesMut::new(),
                },
            };
            match self
                .exchange(conn, key, &head, (head_only, close), reused)
                .await
            {
                Ok(response) => return Ok(response),
                // Once, and on a new connection: `pooled` stays `None`.
                Err(Attempt::Stale) => continue,
                Err(Attempt::Failed(e)) => return Err(e),
            }
        }
    }

    async fn exchange(
        &self,
        mut conn: Conn,
        key: &Arc<str>,
        head: &[u8],
        (head_only, close): (bool, bool),
        reused: bool,
    ) -> Result<Response<Message>, Attempt> {
        if let Err(e) = conn.stream.write_all(head).await {
            return Err(if reused {
                Attempt::Stale
            } else {
                Attempt::Failed(io_error("could not send the request upstream", &e))
            });
        }
        let (response, framing) = match read_head(&mut conn, head_only).await {
            Ok(read) => read,
            Err(HeadError::NothingCame(_)) if reused => return Err(Attempt::Stale),
            Err(e) => return Err(Attempt::Failed(Error::Upstream(e.to_string()))),
        };
        let mut message = Message {
            conn: Some(conn),
            framing: framing.body,
            reuse: framing.keep_alive && !close,
            pool: self.clone(),
            key: key.clone(),
            read_size: READ_FIRST,
            short_reads: 0,
        };
        if message.is_end_stream() {
            message.finish();
        }
        Ok(response.map(|()| message))
    }

    fn take(&self, key: &Arc<str>) -> Option<Conn> {
        let mut idle = self.idle.lock().ok()?;
        let now = Instant::now();
        // The oldest come first: drop those that waited too long.
        let stale = idle
            .iter()
            .take_while(|i| now.duration_since(i.since) >= IDLE_TIMEOUT)
            .count();
        idle.drain(..stale);
        // The most recently used first: the likeliest to be alive.
        while let Some(at) = idle.iter().rposition(|i| i.key == *key) {
            let conn = idle.remove(at).conn;
            if conn.quiet() {
                return Some(conn);
            }
        }
        None
    }

    fn put(&self, key: Arc<str>, conn: Conn) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() >= MAX_IDLE {
                idle.remove(0);
            }
            idle.push(Idle {
                key,
                conn,
                since: Instant::now(),
            });
        }
    }
}

/// Whether `headers` say `Connection: close` (an answer's, or a request's: a route may inject
/// it).
fn says_close(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"close"))
}

fn io_error(what: &str, e: &io::Error) -> Error {
    Error::Upstream(format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use http::StatusCode;
    use http::header::HeaderValue;
    use http_body::Body as _;

    use super::*;

    fn parse(bytes: &[u8], head_only: bool) -> Result<Option<Parsed>, HeadError> {
        parse_head(&mut BytesMut::from(bytes), head_only)
    }

    fn final_framing(bytes: &[u8]) -> (StatusCode, BodyFraming, bool) {
        match parse(bytes, false) {
            Ok(Some(Parsed::Final(response, framing))) => {
                (response.status(), framing.body, framing.keep_alive)
            }
            Ok(Some(Parsed::Interim)) => panic!("interim"),
            Ok(None) => panic!("partial"),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn framing_follows_rfc_9112() {
        assert_eq!(
            final_framing(b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n"),
            (StatusCode::OK, BodyFraming::Length(12), true)
        );
        assert_eq!(
            final_framing(b"HTTP/1.1 200 OK\r\ncontent-length: 5, 5\r\n\r\n").1,
            BodyFraming::Length(5)
        );
        assert_eq!(
            final_framing(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n").1,
            BodyFraming::Chunked(Chunk::Size)
        );
        assert_eq!(
            final_framing(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, gzip\r\n\r\n"),
            (StatusCode::OK, BodyFraming::UntilClose, false)
        );
        assert_eq!(
            final_framing(b"HTTP/1.1 200 OK\r\n\r\n"),
            (StatusCode::OK, BodyFraming::UntilClose, false)
        );
        assert_eq!(
            final_framing(b"HTTP/1.1 204 No Content\r\ncontent-length: 7\r\n\r\n").1,
            BodyFraming::Done
        );
        assert_eq!(
            final_framing(b"HTTP/1.1 304 Not Modified\r\n\r\n"),
            (StatusCode::NOT_MODIFIED, BodyFraming::Done, true)
        );
        assert!(!final_framing(b"HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n").2);
        assert!(
            !final_framing(
                b"HTTP/1.1 200 OK\r\nconnection: keep-alive, Close\r\ncontent-length: 1\r\n\r\n"
            )
            .2
        );
        match parse(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n", true) {
            Ok(Some(Parsed::Final(_, framing))) => assert_eq!(framing.body, BodyFraming::Done),
            _ => panic!("a HEAD answer has no body"),
        }
    }

    #[test]
    fn ambiguous_or_broken_heads_are_refused() {
        for (head, says) in [
            (
                &b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n"[..],
                "both Content-Length and Transfer-Encoding",
            ),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\n",
                "disagree",
            ),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: +3\r\n\r\n",
                "is not a length",
            ),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999\r\n\r\n",
                "is not a length",
            ),
            (
                b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
                "switched protocols",
            ),
            (
                b"HTTP/1.0 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
                "HTTP/1.0 with Transfer-Encoding",
            ),
            (b"HTTP/1.1 2000 OK\r\n\r\n", "not valid HTTP/1.1"),
            (b"garbage\r\n\r\n", "not valid HTTP/1.1"),
        ] {
            match parse(head, false) {
                Err(e) => assert!(e.to_string().contains(says), "{e} should say {says}"),
                Ok(_) => panic!("{} was accepted", String::from_utf8_lossy(head)),
            }
        }
        let many = format!(
            "HTTP/1.1 200 OK\r\n{}\r\n",
            "x: y\r\n".repeat(MAX_HEADERS + 1)
        );
        assert!(matches!(
            parse(many.as_bytes(), false),
            Err(HeadError::TooLarge)
        ));
    }

    #[test]
    fn interim_answers_are_consumed() {
        let mut buf = BytesMut::from(&b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..]);
        assert!(matches!(
            parse_head(&mut buf, false),
            Ok(Some(Parsed::Interim))
        ));
        match parse_head(&mut buf, false) {
            Ok(Some(Parsed::Final(response, framing))) => {
                assert_eq!(response.status(), StatusCode::OK);
                assert_eq!(framing.body, BodyFraming::Done);
            }
            _ => panic!("the final answer follows"),
        }
        assert!(buf.is_empty());
    }

    #[test]
    fn header_values_are_kept_as_sent() {
        match parse(b"HTTP/1.1 200 OK\r\nx-a: one\r\nX-B:  two words \r\nx-a: three\r\ncontent-length: 0\r\n\r\n", false) {
            Ok(Some(Parsed::Final(response, _))) => {
                let all: Vec<_> = response.headers().get_all("x-a").iter().collect();
                assert_eq!(all, ["one", "three"]);
                assert_eq!(response.headers()["x-b"], "two words");
            }
            _ => panic!("a valid head"),
        }
    }

    #[test]
    fn an_answer_with_more_headers_than_fit_on_the_stack_keeps_them_all() {
        // Their places go to the heap past 24 (`parse_head`'s `ON_STACK`).
        for count in [24, 25, MAX_HEADERS] {
            let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
            for i in 0..count {
                head.extend_from_slice(format!("x-h{i}: v{i}\r\n").as_bytes());
            }
            head.extend_from_slice(b"\r\n");
            match parse(&head, true) {
                Ok(Some(Parsed::Final(response, _))) => {
                    assert_eq!(response.headers().len(), count);
                    for i in 0..count {
                        assert_eq!(
                            response.headers()[format!("x-h{i}").as_str()],
                            format!("v{i}")
                        );
                    }
                }
                _ => panic!("{count} headers: a valid head"),
            }
        }
    }

    /// Decodes `bytes` as a whole chunked body: its data, or the error.
    fn dechunk(bytes: &[u8]) -> Result<(Vec<u8>, usize), String> {
        let mut buf = BytesMut::from(bytes);
        let mut chunk = Chunk::Size;
        let mut out = Vec::new();
        loop {
            match decode_chunk(&mut buf, chunk)? {
                Step::More => return Err("more".to_owned()),
                Step::Next(next) => chunk = next,
                Step::Data(data, next) => {
                    out.extend_from_slice(&data);
                    chunk = next;
                }
                Step::End => return Ok((out, buf.len())),
            }
        }
    }

    #[test]
    fn chunked_bodies_are_decoded() {
        assert_eq!(
            dechunk(b"5\r\nhello\r\n1;ext=\"x\"\r\n \r\nA\r\n0123456789\r\n0\r\n\r\n"),
            Ok((b"hello 0123456789".to_vec(), 0))
        );
        assert_eq!(
            dechunk(b"3\r\nabc\r\n0\r\nx-trailer: y\r\n\r\nleftover"),
            Ok((b"abc".to_vec(), 8))
        );
        assert_eq!(dechunk(b"3\r\nab"), Err("more".to_owned()));
        for (bad, says) in [
            (&b"x\r\n"[..], "bad chunk size"),
            (b"3\nabc\r\n", "CRLF"),
            (b"3\r\nabcd\r\n", "not followed by CRLF"),
            (b"1234567890abcdef0\r\n", "bad chunk size"),
            (b"3 x\r\nabc\r\n", "bad chunk size"),
            // Found by the h1_response fuzz target: a form feed is not BWS.
            (b"5\x0c\r\nhelld\r\n0\r\n\r\n", "bad chunk size"),
            (b"5;a\rb\r\nhello\r\n", "CR inside"),
        ] {
            match dechunk(bad) {
                Err(e) => assert!(e.contains(says), "{e} should say {says}"),
                Ok(_) => panic!("{} was accepted", String::from_utf8_lossy(bad)),
            }
        }
        let long = format!("1{}", ";".repeat(MAX_CHUNK_LINE + 1));
        assert!(dechunk(long.as_bytes()).unwrap_err().contains("too long"));
    }

    #[test]
    fn the_request_head_names_the_target() {
        let header = |name: &'static str, value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(name, HeaderValue::from_static(value));
            headers
        };
        // (method, target, headers, the head written)
        let rows = [
            (
                Method::GET,
                "http://127.0.0.1:8080/v1/x?y=1",
                header("x-api-key", "k"),
                "GET /v1/x?y=1 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nx-api-key: k\r\n\r\n",
            ),
            (
                Method::HEAD,
                "http://[::1]/",
                HeaderMap::new(),
                "HEAD / HTTP/1.1\r\nhost: [::1]\r\n\r\n",
            ),
            // The default port is not written, whether the URI says it or not.
            (
                Method::GET,
                "http://example.test:80/a",
                HeaderMap::new(),
                "GET /a HTTP/1.1\r\nhost: example.test\r\n\r\n",
            ),
            // A route's injected Host is kept (as hyper keeps it); a bare query gets its `/`.
            (
                Method::GET,
                "http://127.0.0.1:8080?x=1",
                header("host", "api.internal"),
                "GET /?x=1 HTTP/1.1\r\nhost: api.internal\r\n\r\n",
            ),
        ];
        for (method, target, headers, expected) in rows {
            let target: Uri = target.parse().unwrap_or_default();
            let head = encode_head(&method, &target, &Pool::key(&target), &headers);
            assert_eq!(String::from_utf8_lossy(&head), expected, "{target}");
        }
    }

    #[test]
    fn a_whole_answer_is_read_past_its_interim_answers() {
        let read = read_complete(
            b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
            false,
        );
        assert_eq!(
            read,
            Ok(Complete {
                status: 200,
                body: b"hello".to_vec(),
                reuse: true,
                leftover: 0,
            })
        );
        let read = read_complete(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nx-t: 1\r\n\r\nmore",
            false,
        );
        assert_eq!(
            read,
            Ok(Complete {
                status: 200,
                body: b"abc".to_vec(),
                reuse: false,
                leftover: 4,
            })
        );
    }

    #[test]
    fn a_whole_answer_without_a_body_or_without_a_length() {
        for (answer, head_only, status, body, reuse) in [
            (
                &b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n"[..],
                true,
                200,
                &b""[..],
                true,
            ),
            (b"HTTP/1.1 204 No Content\r\n\r\n", false, 204, b"", true),
            (
                b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok",
                false,
                200,
                b"ok",
                false,
            ),
            (
                b"HTTP/1.1 200 OK\r\n\r\nuntil close",
                false,
                200,
                b"until close",
                false,
            ),
        ] {
            assert_eq!(
                read_complete(answer, head_only),
                Ok(Complete {
                    status,
                    body: body.to_vec(),
                    reuse,
                    leftover: 0,
                }),
                "{}",
                String::from_utf8_lossy(answer)
            );
        }
    }

    #[test]
    fn a_whole_answer_cut_short_or_ambiguous_is_an_error() {
        for (answer, says) in [
            (
                &b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc"[..],
                "7 bytes before the end",
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n",
                "before the end of its chunked body",
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabcd\r\n",
                "not followed by CRLF",
            ),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n",
                "both Content-Length and Transfer-Encoding",
            ),
            (b"HTTP/1.1 200 OK\r\n", "in the middle of its answer's head"),
            (b"", "without answering"),
        ] {
            match read_complete(answer, false) {
                Err(e) => assert!(e.contains(says), "{e} should say {says}"),
                Ok(read) => panic!("{} was read as {read:?}", String::from_utf8_lossy(answer)),
            }
        }
    }

    /// Exchanges over real loopback connections with a scripted upstream.
    mod exchanges {
        use std::sync::atomic::{AtomicUsize, Ordering};

        use http_body_util::BodyExt;
        use tokio::io::AsyncReadExt;
        use tokio::net::TcpListener;

        use super::*;
        use crate::connect::{Ports, TargetRules};

        /// What the upstream does with the `n`th request on a connection: the bytes it answers
        /// with, and whether it then closes the connection.
        type Script = fn(usize) -> (&'static [u8], bool);

        /// An upstream on 127.0.0.1 that answers as `script` says; counts its connections.
        async fn upstream(script: Script) -> (Uri, Arc<AtomicUsize>) {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            let accepted = Arc::new(AtomicUsize::new(0));
            let counted = accepted.clone();
            tokio::spawn(async move {
                while let Ok((mut stream, _)) = listener.accept().await {
                    counted.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(async move {
                        let mut seen = Vec::new();
                        let mut n = 0;
                        loop {
                            let mut chunk = [0u8; 4096];
                            match stream.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(read) => seen.extend_from_slice(&chunk[..read]),
                            }
                            while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                                seen.drain(..end + 4);
                                let (answer, close) = script(n);
                                n += 1;
                                if stream.write_all(answer).await.is_err() || close {
                                    return;
                                }
                            }
                        }
                    });
                }
            });
            let uri = format!("http://{addr}/x").parse().expect("uri");
            (uri, accepted)
        }

        fn connector() -> GuardedConnector {
            GuardedConnector::new(TargetRules {
                allow_private: true,
                ports: Ports::Any,
                hosts: None,
            })
        }

        /// Sends a request and reads the whole answer: status and body, or the error's text.
        async fn fetch(
            pool: &Pool,
            method: Method,
            target: &Uri,
        ) -> Result<(u16, Vec<u8>), String> {
            let response = pool
                .send(
                    &connector(),
                    &Pool::key(target),
                    &method,
                    target,
                    &HeaderMap::new(),
                )
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok((status, body.to_vec()))
        }

        #[tokio::test]
        async fn a_connection_is_used_again_after_a_clean_answer() {
            let (target, accepted) =
                upstream(|_| (b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello", false)).await;
            let pool = Pool::new();
            for _ in 0..3 {
                assert_eq!(
                    fetch(&pool, Method::GET, &target).await,
                    Ok((200, b"hello".to_vec()))
                );
            }
            assert_eq!(accepted.load(Ordering::SeqCst), 1);
            assert_eq!(pool.idle(), 1);
        }

        #[tokio::test]
        async fn chunked_answers_are_decoded_and_their_connection_kept() {
            let (target, accepted) = upstream(|_| {
                (
                    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                    false,
                )
            })
            .await;
            let pool = Pool::new();
            for _ in 0..2 {
                assert_eq!(
                    fetch(&pool, Method::GET, &target).await,
                    Ok((200, b"hello world".to_vec()))
                );
            }
            assert_eq!(accepted.load(Ordering::SeqCst), 1);
        }

        #[tokio::test]
        async fn an_answer_without_length_ends_with_its_connection() {
            let (target, accepted) =
                upstream(|_| (b"HTTP/1.1 200 OK\r\n\r\nuntil close", true)).await;
            let pool = Pool::new();
            for _ in 0..2 {
                assert_eq!(
                    fetch(&pool, Method::GET, &target).await,
                    Ok((200, b"until close".to_vec()))
                );
            }
            assert_eq!(accepted.load(Ordering::SeqCst), 2);
            assert_eq!(pool.idle(), 0);
        }

        #[tokio::test]
        async fn a_pooled_connection_the_upstream_closed_is_replaced() {
            // Each connection answers once, then closes without saying so.
            let (target, accepted) =
                upstream(|_| (b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", true)).await;
            let pool = Pool::new();
            assert_eq!(
                fetch(&pool, Method::GET, &target).await,
                Ok((200, b"ok".to_vec()))
            );
            assert_eq!(pool.idle(), 1);
            assert_eq!(
                fetch(&pool, Method::GET, &target).await,
                Ok((200, b"ok".to_vec()))
            );
            assert_eq!(accepted.load(Ordering::SeqCst), 2);
        }

        #[tokio::test]
        async fn bytes_past_the_end_of_an_answer_close_its_connection() {
            let (target, accepted) = upstream(|_| {
                (
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n",
                    false,
                )
            })
            .await;
            let pool = Pool::new();
            assert_eq!(
                fetch(&pool, Method::GET, &target).await,
                Ok((200, b"ok".to_vec()))
            );
            assert_eq!(pool.idle(), 0);
            assert_eq!(
                fetch(&pool, Method::GET, &target).await,
                Ok((200, b"ok".to_vec()))
            );
            assert_eq!(accepted.load(Ordering::SeqCst), 2);
        }

        #[tokio::test]
        async fn a_body_cut_short_is_an_error_and_its_connection_closed() {
            let (target, _) =
                upstream(|_| (b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc", true)).await;
            let pool = Pool::new();
            let error = fetch(&pool, Method::GET, &target).await.unwrap_err();
            assert!(error.contains("7 bytes before the end"), "{error}");
            assert_eq!(pool.idle(), 0);
        }

        #[tokio::test]
        async fn a_body_dropped_before_its_end_closes_its_connection() {
            let (target, accepted) =
                upstream(|_| (b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc", false)).await;
            let pool = Pool::new();
            let response = pool
                .send(
                    &connector(),
                    &Pool::key(&target),
                    &Method::GET,
                    &target,
                    &HeaderMap::new(),
                )
                .await
                .expect("a head");
            assert_eq!(response.body().size_hint().exact(), Some(10));
            drop(response);
            assert_eq!(pool.idle(), 0);
            assert_eq!(accepted.load(Ordering::SeqCst), 1);
        }

        #[tokio::test]
        async fn a_head_answer_has_no_body_and_keeps_its_connection() {
            let (target, accepted) =
                upstream(|_| (b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n", false)).await;
            let pool = Pool::new();
            for _ in 0..2 {
                let response = pool
                    .send(
                        &connector(),
                        &Pool::key(&target),
                        &Method::HEAD,
                        &target,
                        &HeaderMap::new(),
                    )
                    .await
                    .expect("a head");
                assert_eq!(response.headers()["content-length"], "100");
                assert!(response.body().is_end_stream());
                // Given back already: hyper never polls a body that says it has ended.
                assert_eq!(pool.idle(), 1);
            }
            assert_eq!(accepted.load(Ordering::SeqCst), 1);
        }

        #[tokio::test]
        async fn bytes_that_come_while_a_connection_is_idle_close_it() {
            // A HEAD answer, then a forged answer in a later write: it must not be read as the
            // next request's answer.
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            let accepted = Arc::new(AtomicUsize::new(0));
            let counted = accepted.clone();
            let (late_sent, late) = tokio::sync::oneshot::channel();
            let (go, pooled) = tokio::sync::oneshot::channel::<()>();
            tokio::spawn(async move {
                let mut late_sent = Some(late_sent);
                let mut pooled = Some(pooled);
                while let Ok((mut stream, _)) = listener.accept().await {
                    counted.fetch_add(1, Ordering::SeqCst);
                    let mut request = [0u8; 4096];
                    let _ = stream.read(&mut request).await;
                    if let Some(late_sent) = late_sent.take() {
                        let _ = stream
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 44\r\n\r\n")
                            .await;
                        // Only once the proxy has pooled the connection.
                        if let Some(pooled) = pooled.take() {
                            let _ = pooled.await;
                        }
                        let _ = stream
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nforge")
                            .await;
                        let _ = late_sent.send(());
                        // Held open: the pool must drop the connection, not the upstream.
                        let _ = stream.read(&mut request).await;
                    } else {
                        let _ = stream
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nreal")
                            .await;
                    }
                }
            });
            let target: Uri = format!("http://{addr}/x").parse().expect("uri");
            let pool = Pool::new();
            let key = Pool::key(&target);
            let head = pool
                .send(
                    &connector(),
                    &key,
                    &Method::HEAD,
                    &target,
                    &HeaderMap::new(),
                )
                .await
                .expect("a head");
            assert_eq!(head.status(), 200);
            assert_eq!(pool.idle(), 1, "pooled as soon as the HEAD answer ended");
            let _ = go.send(());
            late.await.expect("the late bytes were sent");
            assert_eq!(
                fetch(&pool, Method::GET, &target).await,
                Ok((200, b"real".to_vec()))
            );
            assert_eq!(accepted.load(Ordering::SeqCst), 2);
        }

        #[tokio::test]
        async fn a_request_that_says_close_does_not_pool_its_connection() {
            let (target, accepted) =
                upstream(|_| (b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", false)).await;
            let pool = Pool::new();
            let mut headers = HeaderMap::new();
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            for _ in 0..2 {
                let response = pool
                    .send(
                        &connector(),
                        &Pool::key(&target),
                        &Method::GET,
                        &target,
                        &headers,
                    )
                    .await
                    .expect("a head");
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .expect("a body")
                    .to_bytes();
                assert_eq!(&body[..], b"ok");
                assert_eq!(pool.idle(), 0);
            }
            assert_eq!(accepted.load(Ordering::SeqCst), 2);
        }

        #[tokio::test]
        async fn an_upstream_that_answers_nothing_is_an_error() {
            let (target, _) = upstream(|_| (b"", true)).await;
            let error = fetch(&Pool::new(), Method::GET, &target).await.unwrap_err();
            assert!(
                error.contains("closed the connection without answering"),
                "{error}"
            );
        }
    }
}
