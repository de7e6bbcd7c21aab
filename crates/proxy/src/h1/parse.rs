//! The answer's head: read, parsed with httparse, and its framing (RFC 9112 §6.3).

use std::fmt;
use std::io;

use bytes::{Buf, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode, Version};

use super::*;

/// How an answer's body is delimited, and whether its connection may be used again.
pub(super) struct Framing {
    pub(super) body: BodyFraming,
    pub(super) keep_alive: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BodyFraming {
    /// This many bytes are still to come.
    Length(u64),
    Chunked(Chunk),
    /// Until the upstream closes the connection.
    UntilClose,
    /// The message has ended.
    Done,
}

/// Where a chunked body is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Chunk {
    /// At a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes still to come.
    Data(u64),
    /// At the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk, at the trailers; this many trailer bytes read so far.
    Trailers(usize),
}

/// Why an answer's head could not be read.
#[derive(Debug)]
pub(super) enum HeadError {
    /// The connection closed (or failed: the error) before one byte came.
    NothingCame(Option<io::Error>),
    Io(io::Error),
    ClosedEarly,
    TooLarge,
    Invalid(String),
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeadError::NothingCame(None) => {
                f.write_str("the upstream closed the connection without answering")
            }
            HeadError::NothingCame(Some(e)) => {
                write!(
                    f,
                    "the connection to the upstream failed before it answered: {e}"
                )
            }
            HeadError::Io(e) => write!(f, "reading the upstream's answer failed: {e}"),
            HeadError::ClosedEarly => {
                f.write_str("the upstream closed the connection in the middle of its answer's head")
            }
            HeadError::TooLarge => write!(
                f,
                "the upstream's answer head is larger than {MAX_HEAD_BYTES} bytes (or has more \
                 than {MAX_HEADERS} headers)"
            ),
            HeadError::Invalid(what) => {
                write!(f, "the upstream's answer is not valid HTTP/1.1: {what}")
            }
        }
    }
}

/// Reads the answer's head (past any interim 1xx answers): the response, and its framing.
pub(super) async fn read_head(
    conn: &mut Conn,
    head_only: bool,
) -> Result<(Response<()>, Framing), HeadError> {
    let mut received_any = !conn.buf.is_empty();
    loop {
        if let Some(read) = parse_head(&mut conn.buf, head_only)? {
            match read {
                Parsed::Interim => continue,
                Parsed::Final(response, framing) => return Ok((response, framing)),
            }
        }
        if conn.buf.len() >= MAX_HEAD_BYTES {
            return Err(HeadError::TooLarge);
        }
        conn.buf.reserve(4096);
        let read = std::future::poll_fn(|cx| poll_fill(&mut conn.stream, &mut conn.buf, cx)).await;
        match read {
            Ok(0) if !received_any => return Err(HeadError::NothingCame(None)),
            Err(e) if !received_any => return Err(HeadError::NothingCame(Some(e))),
            Ok(0) => return Err(HeadError::ClosedEarly),
            Ok(_) => received_any = true,
            Err(e) => return Err(HeadError::Io(e)),
        }
    }
}

pub(super) enum Parsed {
    /// An interim (1xx) answer, consumed.
    Interim,
    Final(Response<()>, Framing),
}

/// Parses one head from the front of `buf` and consumes it, or `None` if more bytes are needed.
pub(super) fn parse_head(buf: &mut BytesMut, head_only: bool) -> Result<Option<Parsed>, HeadError> {
    // Left uninitialised: httparse writes the ones it uses (a 3 KiB fill per answer otherwise).
    let mut slots =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut parsed,
        buf,
        &mut slots,
    ) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(e) => return Err(HeadError::Invalid(e.to_string())),
    };
    let code = parsed.code.unwrap_or(0);
    let version = if parsed.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    if (100..200).contains(&code) {
        if code == 101 {
            return Err(HeadError::Invalid(
                "it switched protocols (101), which the proxy never asks for".to_owned(),
            ));
        }
        buf.advance(len);
        return Ok(Some(Parsed::Interim));
    }
    let status =
        StatusCode::from_u16(code).map_err(|_| HeadError::Invalid(format!("status {code}")))?;
    // Names and values are slices of the head, which is kept whole (no copy per header): their
    // places first, while `parsed` borrows the buffer. Most answers carry a few headers, whose
    // places fit on the stack; more go to the heap (a table for all `MAX_HEADERS` was a 3 KiB
    // fill and copy per answer, the largest single cost of the fast path under callgrind).
    const ON_STACK: usize = 24;
    let base = buf.as_ptr() as usize;
    let count = parsed.headers.len();
    let mut stack = [(0usize, 0usize, 0usize, 0usize); ON_STACK];
    let mut heap = Vec::new();
    let spans = if count <= ON_STACK {
        &mut stack[..count]
    } else {
        heap.resize(count, (0, 0, 0, 0));
        &mut heap[..]
    };
    for (span, h) in spans.iter_mut().zip(parsed.headers.iter()) {
        let name = h.name.as_ptr() as usize - base;
        let value = h.value.as_ptr() as usize - base;
        *span = (name, name + h.name.len(), value, value + h.value.len());
    }
    let head = buf.split_to(len).freeze();
    let mut headers = HeaderMap::with_capacity(count);
    for &mut (name_start, name_end, value_start, value_end) in spans {
        let name = HeaderName::from_bytes(&head[name_start..name_end]).map_err(|_| {
            HeadError::Invalid(format!(
                "the header name {:?} is not valid",
                String::from_utf8_lossy(&head[name_start..name_end])
            ))
        })?;
        let value =
            HeaderValue::from_maybe_shared(head.slice(value_start..value_end)).map_err(|_| {
                HeadError::Invalid(format!("the value of {name} is not a valid header value"))
            })?;
        headers.append(name, value);
    }
    let framing = framing(&headers, version, status, head_only)?;
    let mut response = Response::new(());
    *response.status_mut() = status;
    *response.version_mut() = version;
    *response.headers_mut() = headers;
    Ok(Some(Parsed::Final(response, framing)))
}

/// RFC 9112 §6.3, and whether the connection may be used again (§9.3).
pub(super) fn framing(
    headers: &HeaderMap,
    version: Version,
    status: StatusCode,
    head_only: bool,
) -> Result<Framing, HeadError> {
    let close = version == Version::HTTP_10 || says_close(headers);
    let has_te = headers.contains_key(header::TRANSFER_ENCODING);
    let has_length = headers.contains_key(header::CONTENT_LENGTH);
    if has_te && has_length {
        return Err(HeadError::Invalid(
            "it has both Content-Length and Transfer-Encoding (ambiguous framing is how \
             answers are smuggled)"
                .to_owned(),
        ));
    }
    if has_te && version == Version::HTTP_10 {
        return Err(HeadError::Invalid(
            "it is HTTP/1.0 with Transfer-Encoding, which HTTP/1.0 does not have".to_owned(),
        ));
    }
    let mut keep_alive = !close;
    let body =
        if head_only || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
            BodyFraming::Done
        } else if has_te {
            let last = headers
                .get_all(header::TRANSFER_ENCODING)
                .iter()
                .flat_map(|v| v.as_bytes().split(|&b| b == b','))
                .map(<[u8]>::trim_ascii)
                .rfind(|coding| !coding.is_empty());
            match last {
                Some(coding)
                    if coding.eq_ignore_ascii_case(b"chunked") && version == Version::HTTP_11 =>
                {
                    BodyFraming::Chunked(Chunk::Size)
                }
                _ => {
                    keep_alive = false;
                    BodyFraming::UntilClose
                }
            }
        } else if has_length {
            let mut length = None;
            for value in headers.get_all(header::CONTENT_LENGTH) {
                for part in value.as_bytes().split(|&b| b == b',') {
                    let part = part.trim_ascii();
                    let parsed = (!part.is_empty()
                        && part.len() <= 19
                        && part.iter().all(u8::is_ascii_digit))
                    .then(|| std::str::from_utf8(part).ok()?.parse::<u64>().ok())
                    .flatten()
                    .ok_or_else(|| {
                        HeadError::Invalid(format!(
                            "Content-Length {:?} is not a length",
                            String::from_utf8_lossy(value.as_bytes())
                        ))
                    })?;
                    match length {
                        Some(seen) if seen != parsed => {
                            return Err(HeadError::Invalid(
                                "it has Content-Length values that disagree".to_owned(),
                            ));
                        }
                        _ => length = Some(parsed),
                    }
                }
            }
            match length {
                Some(0) => BodyFraming::Done,
                Some(length) => BodyFraming::Length(length),
                None => BodyFraming::Done,
            }
        } else {
            keep_alive = false;
            BodyFraming::UntilClose
        };
    Ok(Framing { body, keep_alive })
}
