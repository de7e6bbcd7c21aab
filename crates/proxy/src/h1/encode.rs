//! The request head the fast path writes.

use http::header::{self, HeaderMap};
use http::{Method, Uri};

/// The request head: request line, `Host` (the target's, without a default port, as hyper
/// sets it: its pool `key` without `:80`), then `headers` as they are (typed values: no CR or LF
/// can be in them).
pub(super) fn encode_head(
    method: &Method,
    target: &Uri,
    key: &str,
    headers: &HeaderMap,
) -> Vec<u8> {
    let path = target.path_and_query().map_or("/", |p| p.as_str());
    let mut head = Vec::with_capacity(256 + headers.len() * 32);
    head.extend_from_slice(method.as_str().as_bytes());
    head.push(b' ');
    // Origin form always (`?x` alone is not a request target): as hyper writes a `Uri`.
    if !path.starts_with('/') {
        head.push(b'/');
    }
    head.extend_from_slice(path.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    match headers.get(header::HOST) {
        Some(host) => head.extend_from_slice(host.as_bytes()),
        // The key is `host:port` already (made once per upstream, not parsed per request).
        None => head.extend_from_slice(key.strip_suffix(":80").unwrap_or(key).as_bytes()),
    }
    head.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        if name == header::HOST {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}
