//! `Access-Control-Request-Headers` on any input, against a naive reference.
//!
//! The input is the header's value; each `\n` starts another line of it (a request may repeat the
//! header). Inputs that are not valid header values are skipped. For a preflight from an allowed
//! origin with an allowed method:
//!
//! - a policy listing some headers allows it exactly when the reference does: every non-empty,
//!   OWS-trimmed, comma-separated element is a token in the allowed set (case-insensitively), and
//!   there are at most `MAX_REQUEST_HEADERS` of them in at most `MAX_REQUEST_HEADERS_BYTES`
//!   bytes; a refusal has the reference's reason code;
//! - `crossgate::server::check_request_headers` returns the reference's count, or its refusal;
//! - a policy allowing every header (`*`) allows exactly the well-formed lists, and reflects the
//!   request's line (one) or lines joined with `,` (several) in `Access-Control-Allow-Headers`.

#![no_main]

use std::sync::LazyLock;

use crossgate::Policy;
use crossgate::server::{MAX_REQUEST_HEADERS, MAX_REQUEST_HEADERS_BYTES, check_request_headers};
use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD,
    ORIGIN,
};
use http::{HeaderMap, HeaderValue, Method};
use libfuzzer_sys::fuzz_target;

/// The listed headers, as written in the policy (mixed case on purpose).
const LISTED: [&str; 4] = ["content-type", "X-Request-ID", "authorization", "x-a"];

static LISTING: LazyLock<Policy> = LazyLock::new(|| {
    Policy::builder()
        .allow_origins(["https://app.example.com"])
        .allow_methods(["PUT"])
        .allow_headers(LISTED)
        .build()
        .expect("a valid policy")
});

static ANY_HEADER: LazyLock<Policy> = LazyLock::new(|| {
    Policy::builder()
        .allow_origins(["https://app.example.com"])
        .allow_methods(["PUT"])
        .allow_headers(["*"])
        .build()
        .expect("a valid policy")
});

/// RFC 9110 `tchar`, spelled out.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Strips spaces and tabs at both ends, one byte at a time.
fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn listed(name: &[u8]) -> bool {
    LISTED
        .iter()
        .any(|h| h.to_ascii_lowercase().as_bytes() == name.to_ascii_lowercase())
}

/// The reference: the number of names, or the reason code of the first refusal.
fn reference(lines: &[&[u8]], allowed: impl Fn(&[u8]) -> bool) -> Result<usize, &'static str> {
    if lines.iter().map(|l| l.len()).sum::<usize>() > MAX_REQUEST_HEADERS_BYTES {
        return Err("malformed-request-header");
    }
    let mut count = 0;
    for line in lines {
        for element in line.split(|&b| b == b',') {
            let name = trim(element);
            if name.is_empty() {
                continue;
            }
            count += 1;
            if count > MAX_REQUEST_HEADERS || !name.iter().all(|&b| is_tchar(b)) {
                return Err("malformed-request-header");
            }
            if !allowed(name) {
                return Err("header-not-allowed");
            }
        }
    }
    Ok(count)
}

fuzz_target!(|data: &[u8]| {
    let mut request = HeaderMap::new();
    request.insert(ORIGIN, HeaderValue::from_static("https://app.example.com"));
    request.insert(
        ACCESS_CONTROL_REQUEST_METHOD,
        HeaderValue::from_static("PUT"),
    );
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    for line in &lines {
        let Ok(value) = HeaderValue::from_bytes(line) else {
            return;
        };
        request.append(ACCESS_CONTROL_REQUEST_HEADERS, value);
    }

    // A policy that lists headers.
    let want = reference(&lines, listed);
    let decision = LISTING.decide(&Method::OPTIONS, &request);
    let got = match decision.rejection() {
        None => Ok(()),
        Some(r) => Err(r.code()),
    };
    assert_eq!(got, want.map(|_| ()), "decide on {lines:?}");
    let _ = decision.rejection().map(|r| r.to_string());
    let counted = check_request_headers(&request, listed).map_err(|r| r.code());
    assert_eq!(counted, want, "check_request_headers on {lines:?}");
    let mut response = HeaderMap::new();
    decision.apply(&mut response);

    // A policy that allows every header.
    let want = reference(&lines, |_| true);
    let decision = ANY_HEADER.decide(&Method::OPTIONS, &request);
    let got = match decision.rejection() {
        None => Ok(()),
        Some(r) => Err(r.code()),
    };
    assert_eq!(
        got,
        want.map(|_| ()),
        "decide (allow_headers = [\"*\"]) on {lines:?}"
    );
    let mut response = HeaderMap::new();
    decision.apply(&mut response);
    if decision.is_allowed() {
        let reflected = response
            .get(ACCESS_CONTROL_ALLOW_HEADERS)
            .unwrap_or_else(|| panic!("no Access-Control-Allow-Headers for {lines:?}"));
        assert_eq!(reflected.as_bytes(), lines.join(&b","[..]), "{lines:?}");
    }
});
