//! The Fetch standard's tables that both sides of CORS share: tokens, forbidden and safelisted
//! methods, forbidden request-header names, safelisted response-header names.
//!
//! Everything here is a fact of <https://fetch.spec.whatwg.org/> or RFC 9110, named after the
//! definition it implements, so that `policy`, `server` and (later) `browser` never restate a list.

/// Whether `b` is a `tchar` (RFC 9110 §5.6.2): the bytes a method or header name may contain.
pub const fn is_tchar(b: u8) -> bool {
    TCHAR[b as usize]
}

/// [`is_tchar`] as a table: one load per byte, on every name of every preflight.
const TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = matches!(b as u8,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
            | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z');
        b += 1;
    }
    table
};

/// Whether `s` is a `token` (RFC 9110 §5.6.2): one or more `tchar`s.
pub fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// The CORS-safelisted methods (Fetch §2.2.1): a request with one of these needs no preflight for
/// its method, and a preflight for one always passes the method check.
pub const SAFELISTED_METHODS: [&str; 3] = ["GET", "HEAD", "POST"];

/// Whether `method` is a CORS-safelisted method (byte-case-sensitive, as the standard says).
pub fn is_cors_safelisted_method(method: &[u8]) -> bool {
    SAFELISTED_METHODS.iter().any(|m| m.as_bytes() == method)
}

/// The forbidden methods (Fetch §2.2.1): `fetch()` throws before sending any of them.
pub const FORBIDDEN_METHODS: [&str; 3] = ["CONNECT", "TRACE", "TRACK"];

/// Whether `method` is a forbidden method (byte-case-insensitive match).
pub fn is_forbidden_method(method: &[u8]) -> bool {
    FORBIDDEN_METHODS
        .iter()
        .any(|m| m.as_bytes().eq_ignore_ascii_case(method))
}

/// The methods that `fetch()` upper-cases before sending (Fetch "normalize a method"); every other
/// method is sent exactly as the script wrote it.
pub const NORMALIZED_METHODS: [&str; 6] = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"];

/// Fetch's "normalize a method": the upper-cased method if it is one of [`NORMALIZED_METHODS`]
/// (compared case-insensitively), else `None` (the method is sent unchanged).
pub fn normalized_method(method: &str) -> Option<&'static str> {
    NORMALIZED_METHODS
        .iter()
        .copied()
        .find(|m| m.eq_ignore_ascii_case(method))
}

/// The forbidden request-header names (Fetch §2.2.2), lower-case: script can never set these, so a
/// preflight never asks for them.
pub const FORBIDDEN_REQUEST_HEADERS: [&str; 21] = [
    "accept-charset",
    "accept-encoding",
    "access-control-request-headers",
    "access-control-request-method",
    "connection",
    "content-length",
    "cookie",
    "cookie2",
    "date",
    "dnt",
    "expect",
    "host",
    "keep-alive",
    "origin",
    "referer",
    "set-cookie",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "via",
];

/// The forbidden request-header name prefixes (Fetch §2.2.2).
pub const FORBIDDEN_REQUEST_HEADER_PREFIXES: [&str; 2] = ["proxy-", "sec-"];

/// Whether `name` is a forbidden request-header name (byte-case-insensitive), ignoring the
/// value-dependent `X-HTTP-Method*` rule, which only forbids certain values.
pub fn is_forbidden_request_header(name: &[u8]) -> bool {
    FORBIDDEN_REQUEST_HEADERS
        .iter()
        .any(|h| h.as_bytes().eq_ignore_ascii_case(name))
        || FORBIDDEN_REQUEST_HEADER_PREFIXES
            .iter()
            .any(|p| name.len() >= p.len() && name[..p.len()].eq_ignore_ascii_case(p.as_bytes()))
}

/// The CORS-safelisted request-header names (Fetch §2.2.2). Each is safelisted only for some
/// values (`Content-Type` with one of three MIME types, at most 128 bytes…), so a policy that
/// wants e.g. `Content-Type: application/json` must still list it.
pub const SAFELISTED_REQUEST_HEADERS: [&str; 5] = [
    "accept",
    "accept-language",
    "content-language",
    "content-type",
    "range",
];

/// The CORS-safelisted response-header names (Fetch §2.2.3): script can always read these.
pub const SAFELISTED_RESPONSE_HEADERS: [&str; 7] = [
    "cache-control",
    "content-language",
    "content-length",
    "content-type",
    "expires",
    "last-modified",
    "pragma",
];

/// Whether `name` is a CORS-safelisted response-header name (byte-case-insensitive).
pub fn is_cors_safelisted_response_header(name: &[u8]) -> bool {
    SAFELISTED_RESPONSE_HEADERS
        .iter()
        .any(|h| h.as_bytes().eq_ignore_ascii_case(name))
}

/// The response-header names script can never read (Fetch "forbidden response-header name").
pub const FORBIDDEN_RESPONSE_HEADERS: [&str; 2] = ["set-cookie", "set-cookie2"];

/// Whether `name` is a forbidden response-header name (byte-case-insensitive).
pub fn is_forbidden_response_header(name: &[u8]) -> bool {
    FORBIDDEN_RESPONSE_HEADERS
        .iter()
        .any(|h| h.as_bytes().eq_ignore_ascii_case(name))
}

/// The headers that describe a request's body (Fetch "request-body-header name"): a redirect
/// that turns the request into a `GET` without a body removes them ("HTTP-redirect fetch", step
/// 12).
pub const REQUEST_BODY_HEADERS: [&str; 4] = [
    "content-encoding",
    "content-language",
    "content-location",
    "content-type",
];

/// Whether `name` is a request-body-header name (byte-case-insensitive).
pub fn is_request_body_header(name: &[u8]) -> bool {
    REQUEST_BODY_HEADERS
        .iter()
        .any(|h| h.as_bytes().eq_ignore_ascii_case(name))
}

/// Whether `b` is HTTP optional whitespace (RFC 9110 §5.6.3: space or horizontal tab).
pub const fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `s` without leading and trailing optional whitespace.
pub fn trim_ows(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_ows(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|&b| !is_ows(b)).map_or(start, |i| i + 1);
    &s[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        for ok in ["GET", "x-foo", "a!#$%&'*+-.^_`|~9"] {
            assert!(is_token(ok.as_bytes()), "{ok}");
        }
        for bad in ["", "x foo", "x,foo", "x:foo", "é", "a\"b", "(a)"] {
            assert!(!is_token(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn methods() {
        assert!(is_cors_safelisted_method(b"GET"));
        assert!(
            !is_cors_safelisted_method(b"get"),
            "safelisting is case-sensitive"
        );
        assert!(is_forbidden_method(b"trace") && is_forbidden_method(b"CONNECT"));
        assert_eq!(normalized_method("delete"), Some("DELETE"));
        assert_eq!(normalized_method("patch"), None, "PATCH is not normalized");
    }

    #[test]
    fn forbidden_request_headers() {
        for h in [
            "Cookie",
            "sec-fetch-mode",
            "Proxy-Authorization",
            "HOST",
            "dnt",
        ] {
            assert!(is_forbidden_request_header(h.as_bytes()), "{h}");
        }
        for h in [
            "authorization",
            "x-sec",
            "content-type",
            "x-http-method-override",
        ] {
            assert!(!is_forbidden_request_header(h.as_bytes()), "{h}");
        }
    }

    #[test]
    fn ows() {
        assert_eq!(trim_ows(b" \t a b \t"), b"a b");
        assert_eq!(trim_ows(b"   "), b"");
        assert_eq!(trim_ows(b""), b"");
    }
}
