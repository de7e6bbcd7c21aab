//! The proxy's HTTP/1.1 answer parser (`crates/proxy/src/h1.rs`) on any input: the first byte's
//! low bit says whether the request was a `HEAD`, the rest is what the upstream sent before it
//! closed the connection, read whole by `h1::read_complete`.
//!
//! - It never panics.
//! - A final head with both a `Content-Length` and a `Transfer-Encoding` line is an error.
//! - With one clean decimal `Content-Length: N`, not `HEAD`, not 204/304: the body is N bytes.
//! - A chunked answer's body is what a naive reference decoder reads from the bytes after the
//!   head, and so is what is left after it.
//! - Reused only if nothing is left over; never for HTTP/1.0, `Connection: close` or a body that
//!   lasts until the connection closes; no body for `HEAD`, 204 and 304; outside chunked
//!   framing, head, body and leftover add up to the input.
//!
//! The heads are located by a naive line reader (lines end at LF, a CR before it dropped, blank
//! lines before a status line skipped, 1xx but 101 skipped), trusted only where the parser said
//! `Ok`: httparse refuses a bare CR and a line folded onto the one before.

#![no_main]

use crossgate_proxy::h1;
use libfuzzer_sys::fuzz_target;

/// The final head, as the naive line reader sees it.
struct Head {
    http11: bool,
    status: u16,
    /// Lowercased names, values trimmed of surrounding whitespace.
    fields: Vec<(Vec<u8>, Vec<u8>)>,
    /// Where the body starts.
    end: usize,
}

impl Head {
    fn values<'a>(&'a self, name: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// Reads one head from `at`: `None` if it is not one.
fn one_head(wire: &[u8], mut at: usize) -> Option<Head> {
    let mut status_line: Option<(bool, u16)> = None;
    let mut fields = Vec::new();
    loop {
        let newline = at + wire[at..].iter().position(|&b| b == b'\n')?;
        let mut line = &wire[at..newline];
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        at = newline + 1;
        match status_line {
            None if line.is_empty() => {}
            None => {
                if line.len() < 12 || &line[..7] != b"HTTP/1." || line[8] != b' ' {
                    return None;
                }
                let code = &line[9..12];
                if !code.iter().all(u8::is_ascii_digit) {
                    return None;
                }
                let status = code.iter().fold(0u16, |n, d| n * 10 + u16::from(*d - b'0'));
                status_line = Some((line[7] == b'1', status));
            }
            Some((http11, status)) if line.is_empty() => {
                return Some(Head {
                    http11,
                    status,
                    fields,
                    end: at,
                });
            }
            Some(_) => {
                let colon = line.iter().position(|&b| b == b':')?;
                fields.push((
                    line[..colon].to_ascii_lowercase(),
                    line[colon + 1..].trim_ascii().to_vec(),
                ));
            }
        }
    }
}

/// The first head that is not an interim answer.
fn final_head(wire: &[u8]) -> Option<Head> {
    let mut at = 0;
    loop {
        let head = one_head(wire, at)?;
        if (100..200).contains(&head.status) && head.status != 101 {
            at = head.end;
        } else {
            return Some(head);
        }
    }
}

/// RFC 9112 §7.1, naively: hex size, optional whitespace, optional `;` extensions, CRLF, data,
/// CRLF, …, `0` line, trailer lines, an empty line. The data and how many bytes follow the end,
/// or `None` if `bytes` is not a whole chunked body. Two leniencies: whitespace after the size
/// (RFC 9112's BWS before `;`; hyper takes it without an extension too), and a bare CR in a line
/// taken as a space (RFC 9112 §2.2 allows that; extensions and trailers are dropped anyway).
fn reference_dechunk(bytes: &[u8]) -> Option<(Vec<u8>, usize)> {
    /// A line ending in CRLF with no LF before: the line, a bare CR in it made a space, and
    /// where the next starts.
    fn line(bytes: &[u8], at: usize) -> Option<(Vec<u8>, usize)> {
        let end = at + bytes[at..].windows(2).position(|w| w == b"\r\n")?;
        let line = &bytes[at..end];
        if line.contains(&b'\n') {
            return None;
        }
        let line = line
            .iter()
            .map(|&b| if b == b'\r' { b' ' } else { b })
            .collect();
        Some((line, end + 2))
    }
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let (size_line, next) = line(bytes, at)?;
        at = next;
        let digits = size_line
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        if digits == 0 {
            return None;
        }
        let rest = &size_line[digits..];
        let rest_start = rest
            .iter()
            .position(|&b| b != b' ' && b != b'\t')
            .unwrap_or(rest.len());
        if rest_start < rest.len() && rest[rest_start] != b';' {
            return None;
        }
        let mut size: u128 = 0;
        for &d in &size_line[..digits] {
            size = size.checked_mul(16)? + u128::from((d as char).to_digit(16)?);
        }
        if size == 0 {
            break;
        }
        let size = usize::try_from(size).ok()?;
        if bytes.len() - at < size {
            return None;
        }
        out.extend_from_slice(&bytes[at..at + size]);
        at += size;
        if bytes.get(at..at + 2)? != b"\r\n" {
            return None;
        }
        at += 2;
    }
    loop {
        let (trailer, next) = line(bytes, at)?;
        at = next;
        if trailer.is_empty() {
            return Some((out, bytes.len() - at));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, wire)) = data.split_first() else {
        return;
    };
    let head_only = first & 1 == 1;
    let result = h1::read_complete(wire, head_only);
    let Ok(read) = result else {
        return;
    };
    assert!(
        !read.reuse || read.leftover == 0,
        "reused with {} bytes left over",
        read.leftover
    );
    assert!(read.leftover <= wire.len());
    let head = final_head(wire).expect("the parser read a head that the naive reader does not");
    assert_eq!(read.status, head.status, "the final status");

    let has = |name: &[u8]| head.values(name).next().is_some();
    assert!(
        !(has(b"content-length") && has(b"transfer-encoding")),
        "both Content-Length and Transfer-Encoding, and no error"
    );

    let no_body = head_only || head.status == 204 || head.status == 304;
    if no_body {
        assert!(read.body.is_empty(), "a body for HEAD, 204 or 304");
    }
    let closes = !head.http11
        || head
            .values(b"connection")
            .flat_map(|v| v.split(|&b| b == b','))
            .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"close"));
    if closes {
        assert!(!read.reuse, "reused after HTTP/1.0 or Connection: close");
    }

    let lengths: Vec<&[u8]> = head.values(b"content-length").collect();
    if let [length] = lengths[..]
        && !no_body
        && !length.is_empty()
        && length.iter().all(u8::is_ascii_digit)
        && let Ok(length) = std::str::from_utf8(length).unwrap_or("x").parse::<u64>()
    {
        assert_eq!(
            read.body.len() as u64,
            length,
            "the body is not Content-Length long"
        );
    }

    let last_coding = head
        .values(b"transfer-encoding")
        .flat_map(|v| v.split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|coding| !coding.is_empty())
        .last();
    let chunked = !no_body
        && head.http11
        && last_coding.is_some_and(|coding| coding.eq_ignore_ascii_case(b"chunked"));
    if chunked {
        assert_eq!(
            reference_dechunk(&wire[head.end..]),
            Some((read.body.clone(), read.leftover)),
            "the chunked body, or what is left after it, differs from the reference's"
        );
    } else {
        assert_eq!(
            head.end + read.body.len() + read.leftover,
            wire.len(),
            "head, body and leftover do not add up"
        );
        let until_close = !no_body && (last_coding.is_some() || lengths.is_empty());
        if until_close {
            assert_eq!(read.leftover, 0, "a body until the close left bytes over");
            assert!(!read.reuse, "reused after a body until the close");
        }
    }
});
