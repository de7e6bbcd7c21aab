//! Origins as the HTML and URL standards define them: parsing from a URL or an `Origin` header,
//! serialization, same-origin and schemeful same-site.
//!
//! ```
//! use crossgate::origin::Origin;
//!
//! let page = Origin::from_url("http://www.example.com/dir/page.html")?;
//! let other = Origin::from_url("http://www.example.com:81/dir/etc.html")?;
//! assert_eq!(page.to_string(), "http://www.example.com");
//! assert!(!page.same_origin(&other));
//! assert_eq!(page.compare(&other).to_string(), "port differs (80 vs 81)");
//! assert!(page.same_site(&other));
//! # Ok::<(), crossgate::origin::OriginError>(())
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use url::{Host, Url};

/// An origin: a (scheme, host, port) tuple, or an opaque origin that is same-origin only with
/// itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// A tuple origin, e.g. `https://example.com:8443`.
    Tuple(TupleOrigin),
    /// An opaque origin, serialized as `null`.
    Opaque(OpaqueOrigin),
}

/// A tuple origin: scheme, host and port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TupleOrigin {
    scheme: String,
    host: Host<String>,
    /// The port, with the scheme's default filled in (`None` for a scheme without a default and no
    /// explicit port).
    port: Option<u16>,
}

/// An opaque origin. Each one is unique: two opaque origins are equal only if one is a clone of
/// the other, as in browsers, where every `data:` document gets a fresh opaque origin.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OpaqueOrigin {
    id: u64,
    reason: OpaqueReason,
}

/// Why an origin is opaque.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OpaqueReason {
    /// A `data:` URL: its document gets a fresh opaque origin.
    Data,
    /// A `file:` URL: browsers give local files an opaque origin (Chromium, Firefox).
    File,
    /// `about:blank` standing alone. In a browser it inherits the origin of the document that
    /// created it; without one it is opaque.
    AboutBlank,
    /// A `blob:` URL whose inner URL is not http(s) or does not parse.
    Blob,
    /// The `Origin: null` header: a sandboxed iframe, a `data:` or `file:` page, or a redirect
    /// that tainted the request.
    NullHeader,
    /// A URL whose scheme has no tuple origin in the URL standard (e.g. `javascript:`, `mailto:`).
    Scheme(String),
}

impl fmt::Display for OpaqueReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpaqueReason::Data => f.write_str("data: URLs have an opaque origin"),
            OpaqueReason::File => f.write_str("file: URLs have an opaque origin in browsers"),
            OpaqueReason::AboutBlank => f.write_str(
                "about:blank alone has an opaque origin (in a page it inherits its creator's)",
            ),
            OpaqueReason::Blob => {
                f.write_str("a blob: URL whose inner URL is not http(s) has an opaque origin")
            }
            OpaqueReason::NullHeader => f.write_str("`Origin: null` is an opaque origin"),
            OpaqueReason::Scheme(s) => write!(f, "{s}: URLs have an opaque origin"),
        }
    }
}

/// Why a string is not a URL or not an `Origin` header value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginError {
    input: String,
    reason: String,
}

impl OriginError {
    fn new(input: &str, reason: impl Into<String>) -> OriginError {
        OriginError {
            input: input.to_owned(),
            reason: reason.into(),
        }
    }

    /// The input that was refused.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// Why it was refused.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for OriginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.input, self.reason)
    }
}

impl std::error::Error for OriginError {}

fn next_opaque(reason: OpaqueReason) -> Origin {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    Origin::Opaque(OpaqueOrigin {
        id: NEXT.fetch_add(1, Ordering::Relaxed),
        reason,
    })
}

/// The default port of a scheme with one (URL standard "default port").
pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        "ftp" => Some(21),
        _ => None,
    }
}

impl Origin {
    /// The origin of a URL, parsed by the WHATWG URL rules (the URL standard's "origin" of a URL):
    /// http(s), ws(s) and ftp URLs have tuple origins; `blob:` takes its inner http(s) URL's origin;
    /// `data:`, `file:`, `about:blank` and every other scheme are opaque.
    pub fn from_url(input: &str) -> Result<Origin, OriginError> {
        // The URL parser strips leading and trailing C0 controls and spaces itself, as WHATWG says.
        let url =
            Url::parse(input).map_err(|e| OriginError::new(input, format!("not a URL: {e}")))?;
        Ok(Origin::of_url(&url))
    }

    /// The origin of a parsed URL (see [`Origin::from_url`]).
    pub fn of_url(url: &Url) -> Origin {
        match url.scheme() {
            "http" | "https" | "ws" | "wss" | "ftp" => match url.host() {
                Some(host) => Origin::Tuple(TupleOrigin {
                    scheme: url.scheme().to_owned(),
                    host: host.to_owned(),
                    port: url.port_or_known_default(),
                }),
                // Special URLs always have a host; keep the type total anyway.
                None => next_opaque(OpaqueReason::Scheme(url.scheme().to_owned())),
            },
            "blob" => match Url::parse(url.path()) {
                Ok(inner) if matches!(inner.scheme(), "http" | "https") => Origin::of_url(&inner),
                _ => next_opaque(OpaqueReason::Blob),
            },
            "data" => next_opaque(OpaqueReason::Data),
            "file" => next_opaque(OpaqueReason::File),
            "about" if url.path() == "blank" => next_opaque(OpaqueReason::AboutBlank),
            other => next_opaque(OpaqueReason::Scheme(other.to_owned())),
        }
    }

    /// The origin an `Origin` request header names. `null` is a fresh opaque origin; anything else
    /// must be a serialized origin exactly as a browser sends it (`scheme://host[:port]`, lower
    /// case, no default port, no path), otherwise the error says what a browser would have sent.
    ///
    /// Unlike [`Origin::from_url`], any scheme is accepted, because browsers send tuple origins
    /// for extension pages (`chrome-extension://…`).
    pub fn from_header(value: &[u8]) -> Result<Origin, OriginError> {
        let text = std::str::from_utf8(value).map_err(|_| {
            OriginError::new(&String::from_utf8_lossy(value), "an Origin header is ASCII")
        })?;
        if text == "null" {
            return Ok(next_opaque(OpaqueReason::NullHeader));
        }
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(OriginError::new(
                text,
                "not an origin: expected scheme://host[:port] or null",
            ));
        };
        if scheme.eq_ignore_ascii_case("file") {
            return Err(OriginError::new(
                text,
                "file: pages have an opaque origin; a browser sends `Origin: null` for them",
            ));
        }
        if rest.contains(['/', '?', '#', '@']) {
            return Err(OriginError::new(
                text,
                "an origin has no userinfo, path, query or fragment",
            ));
        }
        let url =
            Url::parse(text).map_err(|e| OriginError::new(text, format!("not an origin: {e}")))?;
        let Some(host) = url.host() else {
            return Err(OriginError::new(text, "not an origin: no host"));
        };
        let origin = Origin::Tuple(TupleOrigin {
            scheme: url.scheme().to_owned(),
            host: host.to_owned(),
            port: url.port_or_known_default(),
        });
        let canonical = origin.to_string();
        if canonical != text || url.scheme() != scheme {
            return Err(OriginError::new(
                text,
                format!("not a serialized origin: a browser sends {canonical:?}"),
            ));
        }
        Ok(origin)
    }

    /// Whether this is an opaque origin (serialized `null`).
    pub fn is_opaque(&self) -> bool {
        matches!(self, Origin::Opaque(_))
    }

    /// The tuple, if this is a tuple origin.
    pub fn tuple(&self) -> Option<&TupleOrigin> {
        match self {
            Origin::Tuple(t) => Some(t),
            Origin::Opaque(_) => None,
        }
    }

    /// HTML's "same origin": two tuple origins with equal scheme, host and port, or two opaque
    /// origins that are the same one.
    pub fn same_origin(&self, other: &Origin) -> bool {
        self == other
    }

    /// Same-origin, with the reason when not (which of scheme, host and port differ).
    pub fn compare(&self, other: &Origin) -> Comparison {
        match (self, other) {
            (Origin::Tuple(a), Origin::Tuple(b)) => {
                let scheme = a.scheme != b.scheme;
                let host = a.host != b.host;
                let port = a.port != b.port;
                if scheme || host || port {
                    Comparison::Differs(Differences {
                        scheme: scheme.then(|| (a.scheme.clone(), b.scheme.clone())),
                        host: host.then(|| (a.host.to_string(), b.host.to_string())),
                        port: port.then_some((a.port, b.port)),
                    })
                } else {
                    Comparison::SameOrigin
                }
            }
            (a, b) if a == b => Comparison::SameOrigin,
            _ => Comparison::Opaque,
        }
    }

    /// The site of this origin for schemeful same-site (HTML "obtain a site"): the scheme and the
    /// registrable domain (from the Public Suffix List), or the host itself when it has none
    /// (an IP address, `localhost`). `None` for an opaque origin.
    pub fn site(&self) -> Option<Site<'_>> {
        let t = self.tuple()?;
        let host = match &t.host {
            Host::Domain(d) => psl::domain_str(d).unwrap_or(d),
            _ => {
                return Some(Site {
                    scheme: &t.scheme,
                    host: SiteHost::Ip(&t.host),
                });
            }
        };
        Some(Site {
            scheme: &t.scheme,
            host: SiteHost::Domain(host),
        })
    }

    /// HTML's schemeful "same site": the same scheme and the same registrable domain (so
    /// `https://a.example.com` and `https://b.example.com` are same-site, and
    /// `http://example.com` and `https://example.com` are not). Opaque origins are same-site only
    /// with themselves.
    pub fn same_site(&self, other: &Origin) -> bool {
        match (self.site(), other.site()) {
            (Some(a), Some(b)) => a == b,
            _ => self == other,
        }
    }
}

/// A site: a scheme and a registrable domain (or host), see [`Origin::site`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Site<'a> {
    scheme: &'a str,
    host: SiteHost<'a>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SiteHost<'a> {
    Domain(&'a str),
    Ip(&'a Host<String>),
}

impl fmt::Display for Site<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host {
            SiteHost::Domain(d) => write!(f, "{}://{d}", self.scheme),
            SiteHost::Ip(h) => write!(f, "{}://{h}", self.scheme),
        }
    }
}

impl TupleOrigin {
    /// The scheme, lower case.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The host: a lower-case, IDNA-encoded domain, or an IP address.
    pub fn host(&self) -> &Host<String> {
        &self.host
    }

    /// The port, the scheme's default filled in.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
}

impl OpaqueOrigin {
    /// Why the origin is opaque.
    pub fn reason(&self) -> &OpaqueReason {
        &self.reason
    }
}

/// HTML's "serialization of an origin": `null`, or `scheme://host` with `:port` unless it is the
/// scheme's default; IPv6 hosts in brackets, domains IDNA-encoded.
impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Opaque(_) => f.write_str("null"),
            Origin::Tuple(t) => {
                write!(f, "{}://{}", t.scheme, t.host)?;
                match t.port {
                    Some(p) if default_port(&t.scheme) != Some(p) => write!(f, ":{p}"),
                    _ => Ok(()),
                }
            }
        }
    }
}

/// The answer of [`Origin::compare`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Comparison {
    /// Same origin.
    SameOrigin,
    /// Two tuple origins that differ.
    Differs(Differences),
    /// At least one origin is opaque (and they are not the same opaque origin).
    Opaque,
}

/// Which parts of two tuple origins differ, each with both values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Differences {
    /// The two schemes, if they differ.
    pub scheme: Option<(String, String)>,
    /// The two hosts, if they differ.
    pub host: Option<(String, String)>,
    /// The two ports (default filled in), if they differ.
    pub port: Option<(Option<u16>, Option<u16>)>,
}

impl Comparison {
    /// Whether the two origins are the same origin.
    pub fn is_same_origin(&self) -> bool {
        matches!(self, Comparison::SameOrigin)
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Comparison::SameOrigin => f.write_str("same scheme, host and port"),
            Comparison::Opaque => f.write_str("an opaque origin is same-origin only with itself"),
            Comparison::Differs(d) => {
                let port = |p: &Option<u16>| p.map_or_else(|| "none".to_owned(), |p| p.to_string());
                let mut parts = Vec::new();
                if let Some((a, b)) = &d.scheme {
                    parts.push(format!("scheme differs ({a} vs {b})"));
                }
                if let Some((a, b)) = &d.host {
                    parts.push(format!("host differs ({a} vs {b})"));
                }
                if let Some((a, b)) = &d.port {
                    parts.push(format!("port differs ({} vs {})", port(a), port(b)));
                }
                f.write_str(&parts.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(url: &str) -> String {
        Origin::from_url(url).map_or_else(|e| format!("error: {}", e.reason()), |o| o.to_string())
    }

    #[test]
    fn serialization_of_urls() {
        let cases = [
            (
                "http://www.example.com/dir/page.html",
                "http://www.example.com",
            ),
            ("http://www.example.com:80/x", "http://www.example.com"),
            ("https://www.example.com:443", "https://www.example.com"),
            (
                "https://www.example.com:8443/",
                "https://www.example.com:8443",
            ),
            ("HTTPS://WWW.Example.COM/", "https://www.example.com"),
            ("https://bücher.example/", "https://xn--bcher-kva.example"),
            ("http://[::1]:3000/", "http://[::1]:3000"),
            ("http://[0:0::1]/", "http://[::1]"),
            ("http://127.1/", "http://127.0.0.1"),
            ("http://0x7f.1/", "http://127.0.0.1"),
            ("http://2130706433/", "http://127.0.0.1"),
            ("https://user:pw@example.com/p?q#f", "https://example.com"),
            ("ws://example.com/socket", "ws://example.com"),
            (
                "blob:https://example.com:8443/uuid",
                "https://example.com:8443",
            ),
            ("blob:data:text/plain,x", "null"),
            ("data:text/html,<p>hi", "null"),
            ("file:///etc/passwd", "null"),
            ("about:blank", "null"),
            ("javascript:alert(1)", "null"),
            ("chrome-extension://abcdef/page.html", "null"),
            ("not a url", "error: not a URL: relative URL without a base"),
            ("http://", "error: not a URL: empty host"),
        ];
        for (input, want) in cases {
            assert_eq!(origin(input), want, "{input}");
        }
    }

    #[test]
    fn opaque_reasons() {
        let reason = |u: &str| match Origin::from_url(u).unwrap() {
            Origin::Opaque(o) => o.reason().clone(),
            Origin::Tuple(_) => panic!("{u} is a tuple origin"),
        };
        assert_eq!(reason("data:,x"), OpaqueReason::Data);
        assert_eq!(reason("file:///x"), OpaqueReason::File);
        assert_eq!(reason("about:blank"), OpaqueReason::AboutBlank);
        assert_eq!(reason("blob:foo"), OpaqueReason::Blob);
        assert_eq!(
            reason("mailto:a@b.c"),
            OpaqueReason::Scheme("mailto".into())
        );
    }

    #[test]
    fn header_values() {
        let ok = [
            "https://example.com",
            "http://localhost:5173",
            "http://[::1]:8080",
            "http://127.0.0.1",
            "chrome-extension://abcdefghijklmnop",
            "https://xn--bcher-kva.example",
        ];
        for v in ok {
            let o = Origin::from_header(v.as_bytes()).unwrap();
            assert_eq!(o.to_string(), v);
        }
        assert!(Origin::from_header(b"null").unwrap().is_opaque());
        let bad = [
            (
                "https://example.com/",
                "an origin has no userinfo, path, query or fragment",
            ),
            (
                "https://Example.com",
                "not a serialized origin: a browser sends \"https://example.com\"",
            ),
            (
                "https://example.com:443",
                "not a serialized origin: a browser sends \"https://example.com\"",
            ),
            (
                "HTTPS://example.com",
                "not a serialized origin: a browser sends \"https://example.com\"",
            ),
            (
                "http://127.1",
                "not a serialized origin: a browser sends \"http://127.0.0.1\"",
            ),
            (
                "example.com",
                "not an origin: expected scheme://host[:port] or null",
            ),
            (
                "Null",
                "not an origin: expected scheme://host[:port] or null",
            ),
            ("", "not an origin: expected scheme://host[:port] or null"),
            ("https://", "not an origin: empty host"),
            (
                "https://a b",
                "not an origin: invalid international domain name",
            ),
            (
                "file://host",
                "file: pages have an opaque origin; a browser sends `Origin: null` for them",
            ),
            (
                "file:///",
                "file: pages have an opaque origin; a browser sends `Origin: null` for them",
            ),
        ];
        for (v, why) in bad {
            let e = Origin::from_header(v.as_bytes()).unwrap_err();
            assert_eq!(e.reason(), why, "{v}");
        }
        assert_eq!(
            Origin::from_header(b"\xff").unwrap_err().reason(),
            "an Origin header is ASCII"
        );
    }

    #[test]
    fn opaque_origins_are_unique() {
        let a = Origin::from_url("data:,a").unwrap();
        let b = Origin::from_url("data:,a").unwrap();
        assert!(!a.same_origin(&b));
        assert!(a.same_origin(&a.clone()));
        assert_eq!(a.compare(&b), Comparison::Opaque);
        assert!(!a.same_site(&b));
        assert!(a.same_site(&a));
    }

    /// The classic same-origin table (RFC 6454 / MDN / Wikipedia), against
    /// `http://www.example.com/dir/page.html`.
    #[test]
    fn classic_same_origin_table() {
        let base = Origin::from_url("http://www.example.com/dir/page.html").unwrap();
        let cases = [
            (
                "http://www.example.com/dir2/other.html",
                "same scheme, host and port",
                true,
            ),
            (
                "http://www.example.com/dir/inner/another.html",
                "same scheme, host and port",
                true,
            ),
            (
                "https://www.example.com/secure.html",
                "scheme differs (http vs https), port differs (80 vs 443)",
                false,
            ),
            (
                "http://www.example.com:81/dir/etc.html",
                "port differs (80 vs 81)",
                true,
            ),
            (
                "http://en.example.com/dir/other.html",
                "host differs (www.example.com vs en.example.com)",
                true,
            ),
            (
                "http://example.com/dir/other.html",
                "host differs (www.example.com vs example.com)",
                true,
            ),
            (
                "http://v2.www.example.com/dir/other.html",
                "host differs (www.example.com vs v2.www.example.com)",
                true,
            ),
            (
                "http://www.example.com:80/dir/other.html",
                "same scheme, host and port",
                true,
            ),
        ];
        for (url, why, same_site) in cases {
            let o = Origin::from_url(url).unwrap();
            assert_eq!(base.compare(&o).to_string(), why, "{url}");
            assert_eq!(base.same_site(&o), same_site, "{url}");
        }
    }

    #[test]
    fn schemeful_same_site() {
        let s = |a: &str, b: &str| {
            Origin::from_url(a)
                .unwrap()
                .same_site(&Origin::from_url(b).unwrap())
        };
        assert!(s("https://a.example.co.uk", "https://b.example.co.uk"));
        assert!(!s("https://example.co.uk", "https://other.co.uk"));
        assert!(
            !s("https://alice.github.io", "https://bob.github.io"),
            "github.io is a public suffix"
        );
        assert!(!s("http://example.com", "https://example.com"), "schemeful");
        assert!(s("http://localhost:3000", "http://localhost:5173"));
        assert!(s("http://127.0.0.1:1", "http://127.0.0.1:2"));
        assert!(!s("http://127.0.0.1", "http://127.0.0.2"));
        assert!(s("https://example.com:8443", "https://www.example.com"));
        assert_eq!(
            Origin::from_url("https://a.b.example.co.uk")
                .unwrap()
                .site()
                .unwrap()
                .to_string(),
            "https://example.co.uk"
        );
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::Origin;

    /// Canonical serialized origins: lower-case domains (some IDNA-encoded), IPv4 and IPv6
    /// addresses, with and without a non-default port.
    fn canonical() -> impl Strategy<Value = String> {
        let label = "[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?";
        let domain =
            prop::collection::vec(label, 1..4).prop_map(|l| format!("{}.example", l.join(".")));
        let idna = Just("xn--bcher-kva.example".to_owned());
        let ipv4 = any::<[u8; 4]>().prop_map(|b| format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3]));
        let ipv6 = any::<[u16; 8]>().prop_map(|s| format!("[{}]", std::net::Ipv6Addr::from(s)));
        let host = prop_oneof![4 => domain, 1 => idna, 2 => ipv4, 2 => ipv6];
        let scheme = prop::sample::select(&["http", "https"][..]);
        let port = prop::option::of(1u16..);
        (scheme, host, port).prop_map(|(scheme, host, port)| match port {
            Some(p) if !(scheme == "http" && p == 80 || scheme == "https" && p == 443) => {
                format!("{scheme}://{host}:{p}")
            }
            _ => format!("{scheme}://{host}"),
        })
    }

    proptest! {
        /// parse ∘ serialize is the identity on canonical origins, from a header and from a URL.
        #[test]
        fn parse_serialize_identity(s in canonical(), path in "(/[a-z]{0,5}){0,2}") {
            prop_assert_eq!(Origin::from_header(s.as_bytes()).unwrap().to_string(), s.clone());
            prop_assert_eq!(Origin::from_url(&format!("{s}{path}")).unwrap().to_string(), s.clone());
            let a = Origin::from_header(s.as_bytes()).unwrap();
            prop_assert!(a.same_origin(&Origin::from_url(&s).unwrap()));
            prop_assert!(a.same_site(&a.clone()));
        }

        /// Any string at all: an origin or a clear error, never a panic; and what parses as a
        /// header re-serializes to itself.
        #[test]
                fn header_parsing_is_total(s in prop_oneof![
            "\\PC{0,40}",
            "(https?|HTTPS|wss|file|chrome-extension|x)://[a-zA-Z0-9.:_@/\\[\\]-]{0,24}",
        ]) {
            if let Ok(o) = Origin::from_header(s.as_bytes()) {
                if !o.is_opaque() {
                    prop_assert_eq!(o.to_string(), s.clone());
                }
            }
            let _ = Origin::from_url(&s);
        }
    }
}
