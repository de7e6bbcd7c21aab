//! The answer's body: [`Message`], read from the connection as hyper pulls it (length, chunked,
//! until close), and [`read_complete`], the whole-answer reader the fuzz target drives.

use std::fmt;
use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;

use super::*;

/// Reads what the stream has into `buf` (which has spare capacity): `Ok(0)` at its end. Through
/// tokio's `AsyncRead`, which takes a read that did not fill the buffer as proof the socket is
/// drained and clears its readiness: the next read (of the next answer, just after its request
/// went out) then waits for the reactor instead of trying, and failing, at once.
pub(super) fn poll_fill(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    std::pin::pin!(stream.read_buf(buf)).poll(cx)
}

/// An answer's body, read from its connection as it is pulled; the connection goes back to the
/// pool when the message has ended cleanly, and is closed if the body is dropped before.
pub struct Message {
    pub(super) conn: Option<Conn>,
    pub(super) framing: BodyFraming,
    pub(super) reuse: bool,
    pub(super) pool: Pool,
    pub(super) key: Arc<str>,
    /// How much the next read asks for.
    pub(super) read_size: usize,
    /// Reads in a row under half of `read_size`.
    pub(super) short_reads: u8,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("framing", &self.framing)
            .field("reuse", &self.reuse)
            .finish_non_exhaustive()
    }
}

/// The upstream broke off its answer's body, or broke its framing.
#[derive(Debug)]
pub struct BodyError {
    /// `malformed`, `closed` or `failed`, as `crossgate_proxy_body_errors_total` counts it.
    pub(super) kind: &'static str,
    pub(super) detail: String,
}

impl BodyError {
    /// What broke the body: `malformed` (its framing), `closed` (the upstream closed the
    /// connection before its end) or `failed` (reading it failed).
    pub fn kind(&self) -> &'static str {
        self.kind
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for BodyError {}

impl Message {
    /// The message has ended: its connection goes back to the pool if it can be used again.
    pub(super) fn finish(&mut self) {
        self.framing = BodyFraming::Done;
        if let Some(conn) = self.conn.take() {
            // Bytes past the end of the message: the upstream does not frame its answers as it
            // says, and the next answer on this connection could not be trusted.
            if self.reuse && conn.buf.is_empty() {
                self.pool.put(self.key.clone(), conn);
            }
        }
    }

    fn fail(
        &mut self,
        kind: &'static str,
        detail: String,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        self.framing = BodyFraming::Done;
        self.conn = None;
        Poll::Ready(Some(Err(BodyError { kind, detail })))
    }

    /// Decodes what is buffered: a frame, the end, or `None` if more bytes are needed.
    #[allow(clippy::type_complexity)]
    fn decode(&mut self) -> Option<Poll<Option<Result<Frame<Bytes>, BodyError>>>> {
        let buf = &mut self.conn.as_mut()?.buf;
        loop {
            match self.framing {
                BodyFraming::Done => {
                    self.finish();
                    return Some(Poll::Ready(None));
                }
                BodyFraming::Length(left) => {
                    if buf.is_empty() {
                        return None;
                    }
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    let data = buf.split_to(take).freeze();
                    let left = left - take as u64;
                    self.framing = BodyFraming::Length(left);
                    if left == 0 {
                        // Now, not at the next poll: hyper may stop polling a body that says
                        // it has ended.
                        self.finish();
                    }
                    return Some(Poll::Ready(Some(Ok(Frame::data(data)))));
                }
                BodyFraming::UntilClose => {
                    if buf.is_empty() {
                        return None;
                    }
                    let data = buf.split().freeze();
                    return Some(Poll::Ready(Some(Ok(Frame::data(data)))));
                }
                BodyFraming::Chunked(chunk) => match decode_chunk(buf, chunk) {
                    Ok(Step::More) => return None,
                    Ok(Step::Next(next)) => self.framing = BodyFraming::Chunked(next),
                    Ok(Step::Data(data, next)) => {
                        self.framing = BodyFraming::Chunked(next);
                        return Some(Poll::Ready(Some(Ok(Frame::data(data)))));
                    }
                    Ok(Step::End) => self.framing = BodyFraming::Done,
                    Err(why) => {
                        return Some(self.fail(
                            "malformed",
                            format!("the upstream's chunked body is not valid HTTP/1.1: {why}"),
                        ));
                    }
                },
            }
        }
    }
}

/// One step of a chunked body.
pub(super) enum Step {
    /// More bytes are needed.
    More,
    /// Moved on without data.
    Next(Chunk),
    Data(Bytes, Chunk),
    /// The last chunk and the trailers are read.
    End,
}

/// RFC 9112 §7.1: chunk-size [ chunk-ext ] CRLF, data CRLF, …, `0` CRLF, trailers, CRLF.
/// Extensions and trailers are read and dropped.
pub(super) fn decode_chunk(buf: &mut BytesMut, chunk: Chunk) -> Result<Step, String> {
    match chunk {
        Chunk::Size => {
            let Some(end) = buf.iter().position(|&b| b == b'\n') else {
                return if buf.len() > MAX_CHUNK_LINE {
                    Err("a chunk-size line is too long".to_owned())
                } else {
                    Ok(Step::More)
                };
            };
            if end > MAX_CHUNK_LINE {
                return Err("a chunk-size line is too long".to_owned());
            }
            if end == 0 || buf[end - 1] != b'\r' {
                return Err("a chunk-size line does not end with CRLF".to_owned());
            }
            let line = &buf[..end - 1];
            if line.contains(&b'\r') {
                return Err("a chunk-size line has a CR inside it".to_owned());
            }
            let digits_end = line
                .iter()
                .position(|b| !b.is_ascii_hexdigit())
                .unwrap_or(line.len());
            let digits = &line[..digits_end];
            // Only spaces and tabs (BWS) may come between the size and its extensions.
            let rest = &line[digits_end..];
            let rest = &rest[rest
                .iter()
                .take_while(|&&b| b == b' ' || b == b'\t')
                .count()..];
            if digits.is_empty() || digits.len() > 15 || !(rest.is_empty() || rest[0] == b';') {
                return Err(format!(
                    "bad chunk size {:?}",
                    String::from_utf8_lossy(&line[..line.len().min(32)])
                ));
            }
            let size = digits
                .iter()
                .fold(0u64, |size, &d| size * 16 + u64::from(hex_value(d)));
            buf.advance(end + 1);
            Ok(if size == 0 {
                Step::Next(Chunk::Trailers(0))
            } else {
                Step::Next(Chunk::Data(size))
            })
        }
        Chunk::Data(left) => {
            if buf.is_empty() {
                return Ok(Step::More);
            }
            let take = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
            let data = buf.split_to(take).freeze();
            let left = left - take as u64;
            Ok(Step::Data(
                data,
                if left == 0 {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(left)
                },
            ))
        }
        Chunk::DataEnd => {
            if buf.len() < 2 {
                return Ok(Step::More);
            }
            if &buf[..2] != b"\r\n" {
                return Err("a chunk's data is not followed by CRLF".to_owned());
            }
            buf.advance(2);
            Ok(Step::Next(Chunk::Size))
        }
        Chunk::Trailers(read) => {
            let Some(end) = buf.iter().position(|&b| b == b'\n') else {
                return if read + buf.len() > MAX_TRAILERS {
                    Err("the trailers are too large".to_owned())
                } else {
                    Ok(Step::More)
                };
            };
            if end == 0 || buf[end - 1] != b'\r' {
                return Err("a trailer line does not end with CRLF".to_owned());
            }
            let empty = end == 1;
            buf.advance(end + 1);
            if empty {
                return Ok(Step::End);
            }
            if read + end + 1 > MAX_TRAILERS {
                return Err("the trailers are too large".to_owned());
            }
            Ok(Step::Next(Chunk::Trailers(read + end + 1)))
        }
    }
}

pub(super) fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

impl Body for Message {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        loop {
            if let Some(ready) = this.decode() {
                return ready;
            }
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            conn.buf.reserve(this.read_size);
            match ready!(poll_fill(&mut conn.stream, &mut conn.buf, cx)) {
                Ok(0) if this.framing == BodyFraming::UntilClose => {
                    this.framing = BodyFraming::Done;
                    this.conn = None;
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    return this.fail(
                        "closed",
                        match this.framing {
                            BodyFraming::Length(left) => format!(
                                "the upstream closed the connection {left} bytes before the end of \
                             its answer's body"
                            ),
                            _ => {
                                "the upstream closed the connection before the end of its chunked \
                              body"
                                    .to_owned()
                            }
                        },
                    );
                }
                Ok(read) => {
                    // As hyper's adaptive reads: double on a full read, halve after two reads
                    // under half (a trickle after a burst must not keep large buffers alive).
                    if read >= this.read_size {
                        this.read_size = (this.read_size * 2).min(READ_MOST);
                        this.short_reads = 0;
                    } else if read < this.read_size / 2 {
                        this.short_reads += 1;
                        if this.short_reads >= 2 {
                            this.read_size = (this.read_size / 2).max(READ_FIRST);
                            this.short_reads = 0;
                        }
                    } else {
                        this.short_reads = 0;
                    }
                }
                Err(e) => {
                    return this.fail("failed", format!("reading the upstream's body failed: {e}"));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.framing == BodyFraming::Done
    }

    fn size_hint(&self) -> SizeHint {
        match self.framing {
            BodyFraming::Length(left) => SizeHint::with_exact(left),
            BodyFraming::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

/// What [`read_complete`] reads from one whole answer.
#[doc(hidden)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Complete {
    /// The final answer's status code (interim answers skipped).
    pub status: u16,
    /// The body, decoded from its framing.
    pub body: Vec<u8>,
    /// Whether the connection would go back to the pool: the answer allows it, and not one byte
    /// came after the message's end.
    pub reuse: bool,
    /// How many bytes came after the message's end.
    pub leftover: usize,
}

/// Reads one whole answer from `bytes`, as the fast path would from a connection that then
/// closed: [`parse_head`] past the interim answers, then the body as the framing says, with
/// [`decode_chunk`] for a chunked one. It exists for the fuzz target
/// (`fuzz/fuzz_targets/h1_response.rs`) and the tests; the proxy does not call it.
#[doc(hidden)]
pub fn read_complete(bytes: &[u8], head_only: bool) -> Result<Complete, String> {
    let mut buf = BytesMut::from(bytes);
    let (response, framing) = loop {
        match parse_head(&mut buf, head_only).map_err(|e| e.to_string())? {
            Some(Parsed::Interim) => {}
            Some(Parsed::Final(response, framing)) => break (response, framing),
            None if bytes.is_empty() => return Err(HeadError::NothingCame(None).to_string()),
            None if buf.len() >= MAX_HEAD_BYTES => return Err(HeadError::TooLarge.to_string()),
            None => return Err(HeadError::ClosedEarly.to_string()),
        }
    };
    let mut body = Vec::new();
    match framing.body {
        BodyFraming::Done => {}
        BodyFraming::Length(length) => {
            let take = usize::try_from(length).unwrap_or(usize::MAX);
            if take > buf.len() {
                return Err(format!(
                    "the upstream closed the connection {} bytes before the end of its answer's \
                     body",
                    length - buf.len() as u64
                ));
            }
            body.extend_from_slice(&buf.split_to(take));
        }
        BodyFraming::UntilClose => body.extend_from_slice(&buf.split()),
        BodyFraming::Chunked(mut chunk) => loop {
            let step = decode_chunk(&mut buf, chunk).map_err(|why| {
                format!("the upstream's chunked body is not valid HTTP/1.1: {why}")
            })?;
            match step {
                Step::More => {
                    return Err(
                        "the upstream closed the connection before the end of its chunked body"
                            .to_owned(),
                    );
                }
                Step::Next(next) => chunk = next,
                Step::Data(data, next) => {
                    body.extend_from_slice(&data);
                    chunk = next;
                }
                Step::End => break,
            }
        },
    }
    Ok(Complete {
        status: response.status().as_u16(),
        body,
        reuse: framing.keep_alive && buf.is_empty(),
        leftover: buf.len(),
    })
}
