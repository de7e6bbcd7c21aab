//! `Access-Control-Request-Headers`, read: the browsers' sorted fast path, the general reader
//! (linear, allocation-free, bounded), and the reflected value for a policy that allows every
//! header.

use std::cmp::Ordering;

use http::header::ACCESS_CONTROL_REQUEST_HEADERS;
use http::{HeaderMap, HeaderValue};

use super::{Excerpt, Rejection};
use crate::fetch;
use crate::policy::Compiled;

/// The most non-empty elements an `Access-Control-Request-Headers` may list before the preflight
/// is refused as malformed. Browsers list each distinct header the script set, once.
pub const MAX_REQUEST_HEADERS: usize = 256;

/// The most bytes, over all its lines, an `Access-Control-Request-Headers` may have before the
/// preflight is refused as malformed: [`MAX_REQUEST_HEADERS`] names of 64 bytes, with room to
/// spare. Bounds the work a hostile preflight costs (a megabyte of commas is refused at once).
pub const MAX_REQUEST_HEADERS_BYTES: usize = 16 * 1024;

/// Whether the policy allows request header `name` (ASCII case-insensitively: the allowed names
/// are stored lower case).
pub(super) fn header_allowed(policy: &Compiled, name: &[u8]) -> bool {
    let Some(sorted) = &policy.headers else {
        return true;
    };
    // A policy lists a handful of names: comparing those of the same length is cheaper than a
    // binary search's ordered comparisons. Long lists are searched.
    if sorted.len() <= 16 {
        // Most candidates differ in length or first byte; browsers send lower-case names, so
        // byte equality decides the rest, with the case-insensitive match for other clients.
        sorted.iter().any(|allowed| {
            allowed.len() == name.len()
                && allowed.first() == name.first().map(u8::to_ascii_lowercase).as_ref()
                && (**allowed == *name || allowed.eq_ignore_ascii_case(name))
        })
    } else {
        sorted
            .binary_search_by(|probe| cmp_ignore_ascii_case(probe, name))
            .is_ok()
    }
}

/// Compares `a` (already lower case) with `b` as if `b` were lower-cased, without allocating.
fn cmp_ignore_ascii_case(a: &[u8], b: &[u8]) -> Ordering {
    a.iter().copied().cmp(b.iter().map(u8::to_ascii_lowercase))
}

/// Reads `Access-Control-Request-Headers` as the Fetch standard sends it (a comma-separated list
/// of header names, possibly over several lines), tolerating optional whitespace and empty
/// elements, and checks each name, as the request spelled it, with `allowed`. Linear in the
/// input, allocation-free, and bounded to [`MAX_REQUEST_HEADERS`] names and
/// [`MAX_REQUEST_HEADERS_BYTES`] bytes.
pub fn check_request_headers(
    request: &HeaderMap,
    allowed: impl FnMut(&[u8]) -> bool,
) -> Result<usize, Rejection> {
    check_request_header_lines(&request.get_all(ACCESS_CONTROL_REQUEST_HEADERS), allowed)
}

/// [`check_request_headers`] over the lines themselves. One pass over the bytes: each is looked
/// up once in the `tchar` table, and names are sliced out of the line, never copied.
pub(super) fn check_request_header_lines<'a>(
    lines: impl IntoIterator<Item = &'a HeaderValue> + Copy,
    mut allowed: impl FnMut(&[u8]) -> bool,
) -> Result<usize, Rejection> {
    let malformed = |why| Rejection::MalformedRequestHeader {
        header: "access-control-request-headers",
        why,
    };
    if lines.into_iter().map(HeaderValue::len).sum::<usize>() > MAX_REQUEST_HEADERS_BYTES {
        return Err(malformed("too long"));
    }
    let mut count = 0;
    let mut name_done = |name: &[u8]| {
        count += 1;
        if count > MAX_REQUEST_HEADERS {
            return Err(malformed("too many header names"));
        }
        if !allowed(name) {
            return Err(Rejection::HeaderNotAllowed(Excerpt::new(name)));
        }
        Ok(())
    };
    for line in lines {
        let bytes = line.as_bytes();
        let mut i = 0;
        loop {
            // Separators: optional whitespace and commas (empty elements are allowed).
            while i < bytes.len() && (bytes[i] == b',' || fetch::is_ows(bytes[i])) {
                i += 1;
            }
            if i == bytes.len() {
                break;
            }
            let start = i;
            while i < bytes.len() && fetch::is_tchar(bytes[i]) {
                i += 1;
            }
            let name = &bytes[start..i];
            while i < bytes.len() && fetch::is_ows(bytes[i]) {
                i += 1;
            }
            // A name ends at a comma or the end of the line: anything else (`a b`, `a;b`, a
            // byte outside `tchar`) is not a list of header names.
            if name.is_empty() || (i < bytes.len() && bytes[i] != b',') {
                return Err(malformed("not a list of header names"));
            }
            name_done(name)?;
        }
    }
    Ok(count)
}

/// The browsers' fast path: Fetch builds `Access-Control-Request-Headers` from the request's
/// CORS-unsafe header names, lower-cased, sorted and joined with `,` ("CORS-preflight fetch",
/// step 5). A line that is exactly some of the policy's names (lower case, sorted the same way)
/// in that form is allowed on a few `memcmp`s, its count returned; anything else (another
/// spelling, whitespace, an unknown name, too long) is `None`, for the byte-by-byte reader.
pub(super) fn sorted_subset(line: &HeaderValue, sorted: &[Box<[u8]>]) -> Option<usize> {
    let mut rest = line.as_bytes();
    if rest.len() > MAX_REQUEST_HEADERS_BYTES {
        return None;
    }
    let mut names = sorted.iter();
    let mut count = 0;
    while !rest.is_empty() {
        let name = names.find(|name| {
            rest.starts_with(name) && rest.get(name.len()).is_none_or(|&b| b == b',')
        })?;
        count += 1;
        rest = match &rest[name.len()..] {
            [] => break,
            // A comma, and a name after it (a trailing comma is for the general reader).
            [_, next @ ..] if !next.is_empty() => next,
            _ => return None,
        };
    }
    (count <= MAX_REQUEST_HEADERS).then_some(count)
}

/// The request's `Access-Control-Request-Headers`, for a policy that allows every header. One
/// line is reflected as is; several are joined.
pub(super) fn reflect_request_headers(request: &HeaderMap) -> Option<HeaderValue> {
    let mut lines = request.get_all(ACCESS_CONTROL_REQUEST_HEADERS).iter();
    let first = lines.next()?;
    let Some(second) = lines.next() else {
        return Some(first.clone());
    };
    let mut joined = first.as_bytes().to_vec();
    for line in std::iter::once(second).chain(lines) {
        joined.extend_from_slice(b",");
        joined.extend_from_slice(line.as_bytes());
    }
    HeaderValue::from_bytes(&joined).ok()
}
