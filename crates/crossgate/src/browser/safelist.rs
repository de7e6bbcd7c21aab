//! Which request headers are CORS-safelisted (Fetch §2.2.2 "CORS-safelisted request-header"), and
//! the CORS-unsafe request-header names a preflight asks for.

use crate::fetch;

/// The longest value a CORS-safelisted request header may have.
pub const SAFELISTED_VALUE_LIMIT: usize = 128;

/// The most bytes all safelisted request-header values together may have before every one of
/// them counts as unsafe (Fetch "CORS-unsafe request-header names", step 3).
pub const SAFELISTED_TOTAL_LIMIT: usize = 1024;

/// A CORS-unsafe request-header byte (Fetch §2.2.2): controls other than tab, `"():<>?@[\]{}`
/// and DEL.
pub fn is_cors_unsafe_byte(b: u8) -> bool {
    (b < 0x20 && b != 0x09)
        || matches!(
            b,
            b'"' | b'('
                | b')'
                | b':'
                | b'<'
                | b'>'
                | b'?'
                | b'@'
                | b'['
                | b'\\'
                | b']'
                | b'{'
                | b'}'
                | 0x7f
        )
}

/// Fetch's "CORS-safelisted request-header" for a name (any case) and a value.
pub fn is_cors_safelisted_request_header(name: &str, value: &[u8]) -> bool {
    if value.len() > SAFELISTED_VALUE_LIMIT {
        return false;
    }
    let no_unsafe = || !value.iter().any(|&b| is_cors_unsafe_byte(b));
    match name.to_ascii_lowercase().as_str() {
        "accept" => no_unsafe(),
        "accept-language" | "content-language" => value.iter().all(|&b| {
            b.is_ascii_alphanumeric() || matches!(b, b' ' | b'*' | b',' | b'-' | b'.' | b';' | b'=')
        }),
        "content-type" => no_unsafe() && is_safelisted_content_type(value),
        "range" => is_simple_range(value),
        _ => false,
    }
}

/// Whether a `Content-Type` value's MIME type essence is one of the three a form can send:
/// `application/x-www-form-urlencoded`, `multipart/form-data`, `text/plain` (MIME Sniffing
/// "parse a MIME type", essence only).
pub fn is_safelisted_content_type(value: &[u8]) -> bool {
    mime_essence(value).is_some_and(|e| {
        matches!(
            e.as_str(),
            "application/x-www-form-urlencoded" | "multipart/form-data" | "text/plain"
        )
    })
}

/// The lower-case `type/subtype` of a MIME type, or `None` if it does not parse.
fn mime_essence(value: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(value).ok()?;
    let text = text.trim_matches([' ', '\t', '\n', '\r']);
    let (kind, rest) = text.split_once('/')?;
    let subtype = rest
        .split(';')
        .next()?
        .trim_end_matches([' ', '\t', '\n', '\r']);
    if !fetch::is_token(kind.as_bytes()) || !fetch::is_token(subtype.as_bytes()) {
        return None;
    }
    Some(format!("{kind}/{subtype}").to_ascii_lowercase())
}

/// A single byte range with a first position: `bytes=N-` or `bytes=N-M` with N ≤ M (Fetch "parse a
/// single range header value" without whitespace; suffix ranges `bytes=-N` are not safelisted).
pub fn is_simple_range(value: &[u8]) -> bool {
    let Some(rest) = value.strip_prefix(b"bytes=") else {
        return false;
    };
    let Some(dash) = rest.iter().position(|&b| b == b'-') else {
        return false;
    };
    let (start, end) = (&rest[..dash], &rest[dash + 1..]);
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    if !digits(start) || !(end.is_empty() || digits(end)) {
        return false;
    }
    if end.is_empty() {
        return true;
    }
    let parse = |s: &[u8]| {
        std::str::from_utf8(s)
            .ok()
            .and_then(|s| s.parse::<u128>().ok())
    };
    matches!((parse(start), parse(end)), (Some(a), Some(b)) if a <= b)
}

/// The names a preflight lists in `Access-Control-Request-Headers` (Fetch "CORS-unsafe
/// request-header names"): headers that are not safelisted, plus every safelisted one when their
/// values total more than [`SAFELISTED_TOTAL_LIMIT`] bytes; lower case, in the order of `headers`,
/// without duplicates. Sort them for the header itself.
pub fn cors_unsafe_names<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Vec<String> {
    let mut unsafe_names: Vec<String> = Vec::new();
    let mut safelisted: Vec<String> = Vec::new();
    let mut total = 0;
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if is_cors_safelisted_request_header(name, value) {
            total += value.len();
            safelisted.push(lower);
        } else {
            unsafe_names.push(lower);
        }
    }
    if total > SAFELISTED_TOTAL_LIMIT {
        unsafe_names.extend(safelisted);
    }
    let mut seen = Vec::new();
    unsafe_names.retain(|n| {
        let first = !seen.contains(n);
        seen.push(n.clone());
        first
    });
    unsafe_names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safelisted_request_headers() {
        let cases: &[(&str, &str, bool)] = &[
            ("Accept", "text/html, */*;q=0.8", true),
            ("accept", "a\"b", false),
            ("Accept-Language", "en-US,en;q=0.9", true),
            ("Accept-Language", "en_US", false),
            ("Content-Language", "de-DE", true),
            ("Content-Type", "text/plain", true),
            ("Content-Type", "text/plain;charset=UTF-8", true),
            ("Content-Type", "Text/Plain ; charset=utf-8", true),
            ("Content-Type", "application/x-www-form-urlencoded", true),
            ("Content-Type", "multipart/form-data; boundary=x", true),
            ("Content-Type", "application/json", false),
            ("Content-Type", "text/plain; x=\"y\"", false),
            ("Content-Type", "text/plain, application/json", false),
            ("Content-Type", "text", false),
            ("Range", "bytes=0-10", true),
            ("Range", "bytes=5-", true),
            ("Range", "bytes=10-5", false),
            ("Range", "bytes=-5", false),
            ("Range", "bytes=0-1,3-4", false),
            ("Range", "bytes = 0-1", false),
            ("X-Foo", "1", false),
            ("Authorization", "Bearer x", false),
        ];
        for (name, value, want) in cases {
            assert_eq!(
                is_cors_safelisted_request_header(name, value.as_bytes()),
                *want,
                "{name}: {value}"
            );
        }
        let long = "a".repeat(SAFELISTED_VALUE_LIMIT + 1);
        assert!(!is_cors_safelisted_request_header(
            "Accept",
            long.as_bytes()
        ));
        assert!(is_cors_safelisted_request_header(
            "Accept",
            &long.as_bytes()[1..]
        ));
    }

    #[test]
    fn unsafe_names() {
        let h = |pairs: &[(&'static str, &'static str)]| {
            cors_unsafe_names(pairs.iter().map(|(n, v)| (*n, v.as_bytes())))
        };
        assert_eq!(
            h(&[
                ("X-B", "1"),
                ("Content-Type", "application/json"),
                ("Accept", "x"),
                ("x-b", "2")
            ]),
            ["x-b", "content-type"]
        );
        assert!(h(&[("Accept", "x"), ("Content-Type", "text/plain")]).is_empty());
        let big = "a".repeat(100);
        let many: Vec<(&str, &[u8])> = (0..11).map(|_| ("Accept", big.as_bytes())).collect();
        assert_eq!(
            cors_unsafe_names(many),
            ["accept"],
            "over 1024 bytes in total, safelisted ones count as unsafe"
        );
    }
}
