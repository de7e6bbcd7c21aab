//! Upstream mode with several routes, from a TOML file (`crossgate proxy --config FILE`): each
//! route maps a path prefix to an upstream, with its own CORS policy and headers to inject (an
//! API key kept on the server, say), sent to that route's upstream only.
//!
//! ```toml
//! [[route]]
//! prefix = "/weather"                       # /weather/today → https://api.weather.example/v2/today
//! upstream = "https://api.weather.example/v2"
//! inject_headers = { "x-api-key" = "kept-on-the-server" }
//! [route.policy]                            # a crossgate policy, as `crossgate validate` reads it
//! allow_origins = ["https://app.example.com"]
//!
//! [[route]]
//! prefix = "/"
//! upstream = "http://127.0.0.1:3000"
//! [route.policy]
//! allow_origins = ["http://localhost:5173"]
//! allow_credentials = true
//! ```
//!
//! The longest matching prefix wins; it is replaced by the upstream URL's path. A request that no
//! route matches is a 404.
//!
//! A path that could lead the upstream outside the route's base path, however the upstream reads
//! it, is refused with a 400 before any route is chosen (`path_refusal`): a segment that is `.`
//! or `..` once percent-decoded (repeatedly: `%252e` is `%2e` to a server that decodes twice) and
//! stripped of its `;` parameters (Tomcat's `..;/`), with full-width and overlong-UTF-8 dots
//! read as dots (servers that normalise Unicode or decode leniently); and any backslash or
//! encoded slash (`%2f`, `%5c`, their full-width forms), which some servers read as a separator.
//! On every route, not only those with `inject_headers`: a route's upstream path is a boundary
//! the operator drew too (`/weather` → `http://10.0.0.5/v2` exposes `/v2`, not the rest of that
//! server), and the proxy cannot know how an upstream normalises. The cost: an API that takes an
//! encoded slash inside a path segment (`group%2Fproject`) cannot be reached through a route.

use std::fmt;
use std::task::{Context, Poll};

use crossgate::Policy;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, Uri};

use crate::body::ProxyBody;
use crate::connect::BoxFuture;
use crate::error::ProxyError;

/// One route, validated.
#[derive(Clone, Debug)]
pub struct Route {
    /// The path prefix (`/`, `/api`): matches the prefix itself and everything below it.
    pub prefix: String,
    /// Where its requests go.
    pub upstream: Uri,
    /// Its CORS policy.
    pub policy: Policy,
    /// Headers set on every request forwarded to this route's upstream (replacing any the
    /// client sent under the same name).
    pub inject: HeaderMap,
}

/// One problem of a routes file: where it is (`route[2].upstream`, or empty for the file) and
/// what it is.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteProblem {
    /// Where: `route[i]`, `route[i].field`, or empty for the whole file.
    pub at: String,
    /// What.
    pub kind: RouteProblemKind,
}

/// What is wrong in a routes file.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum RouteProblemKind {
    /// The file is not TOML.
    NotToml(String),
    /// A key the file or a route does not have.
    UnknownKey {
        /// The key.
        key: String,
        /// The keys allowed there.
        expected: &'static str,
    },
    /// No `[[route]]` at all.
    NoRoutes,
    /// A value of the wrong kind (`route` entries and `inject_headers` are tables).
    NotATable,
    /// A required field is missing.
    Missing {
        /// An example of what to write.
        example: &'static str,
    },
    /// A prefix that does not start with `/`.
    BadPrefix(String),
    /// An upstream that is not a usable http(s) URL.
    BadUpstream {
        /// The value.
        value: String,
        /// Why.
        why: String,
    },
    /// A problem of the route's policy, as the engine reports it.
    Policy(crossgate::policy::Problem),
    /// An injected header that is not a name with a string value.
    BadHeader(String),
    /// A prefix another route has.
    DuplicatePrefix(String),
}

impl fmt::Display for RouteProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = &self.at;
        match &self.kind {
            RouteProblemKind::NotToml(e) => write!(f, "not TOML: {e}"),
            RouteProblemKind::UnknownKey { key, expected } if at.is_empty() => {
                write!(f, "unknown key {key:?} ({expected})")
            }
            RouteProblemKind::UnknownKey { key, expected } => {
                write!(f, "{at}: unknown key {key:?} ({expected})")
            }
            RouteProblemKind::NoRoutes => {
                f.write_str("no [[route]]: a route needs a prefix, an upstream and a policy")
            }
            RouteProblemKind::NotATable => write!(f, "{at}: not a table"),
            RouteProblemKind::Missing { example } => write!(f, "{at}: missing ({example})"),
            RouteProblemKind::BadPrefix(p) => {
                write!(f, "{at} = {p:?}: a path prefix starts with '/'")
            }
            RouteProblemKind::BadUpstream { value, why } => write!(f, "{at} = {value:?}: {why}"),
            RouteProblemKind::Policy(problem) => write!(f, "{at}: {problem}"),
            RouteProblemKind::BadHeader(_) => {
                write!(f, "{at}: not a header name with a string value")
            }
            RouteProblemKind::DuplicatePrefix(p) => write!(f, "{at} = {p:?}: another route has it"),
        }
    }
}

/// Every problem of a routes file, each with where it is.
#[derive(Clone, Debug)]
pub struct ConfigErrors(Vec<RouteProblem>);

impl ConfigErrors {
    /// The problems, in the file's order.
    pub fn problems(&self) -> &[RouteProblem] {
        &self.0
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid proxy configuration ({} problem(s))",
            self.0.len()
        )?;
        for problem in &self.0 {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// What is wrong with the port of an upstream URL, if anything. `http::Uri` takes any text after
/// the host's colon and reads a port it cannot parse as none, so `http://127.0.0.1:99999` would
/// reach port 80: a port must be 1 to 65535 (empty is the scheme's default, as in a URL).
fn upstream_port_problem(uri: &Uri) -> Option<String> {
    let authority = uri.authority()?.as_str();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let after_ipv6 = host_port.rfind(']').map_or(0, |i| i + 1);
    let (_, port) = host_port[after_ipv6..].rsplit_once(':')?;
    if port.is_empty() {
        return None;
    }
    match port.parse::<u16>() {
        Ok(n) if n > 0 && port.bytes().all(|b| b.is_ascii_digit()) => None,
        _ => Some(format!(
            "port {port} is not a port number from 1 to 65535: write the upstream's port, e.g. \"{}://{}:8080\"",
            uri.scheme_str().unwrap_or("http"),
            uri.host().unwrap_or("127.0.0.1"),
        )),
    }
}

/// Reads a routes file: every problem is reported at once.
pub fn parse(text: &str) -> Result<Vec<Route>, ConfigErrors> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        ConfigErrors(vec![RouteProblem {
            at: String::new(),
            kind: RouteProblemKind::NotToml(e.to_string()),
        }])
    })?;
    let mut problems = Vec::new();
    let mut problem = |at: &str, kind: RouteProblemKind| {
        problems.push(RouteProblem {
            at: at.to_owned(),
            kind,
        });
    };
    for key in table.keys().filter(|k| *k != "route") {
        problem(
            "",
            RouteProblemKind::UnknownKey {
                key: key.clone(),
                expected: "the file holds [[route]] tables",
            },
        );
    }
    let Some(list) = table.get("route").and_then(toml::Value::as_array) else {
        problem("", RouteProblemKind::NoRoutes);
        return Err(ConfigErrors(problems));
    };
    let mut routes = Vec::new();
    // The prefixes seen: a hash probe per route rather than a search of the routes, so that a
    // long file is read in linear time (120,000 routes took 55 s).
    let mut prefixes = std::collections::HashSet::new();
    for (i, entry) in list.iter().enumerate() {
        let at = format!("route[{i}]");
        let Some(entry) = entry.as_table() else {
            problem(&at, RouteProblemKind::NotATable);
            continue;
        };
        for key in entry.keys() {
            if !["prefix", "upstream", "policy", "inject_headers"].contains(&key.as_str()) {
                problem(
                    &at,
                    RouteProblemKind::UnknownKey {
                        key: key.clone(),
                        expected: "prefix, upstream, policy, inject_headers",
                    },
                );
            }
        }
        let prefix = match entry.get("prefix").and_then(toml::Value::as_str) {
            Some(p) if p.starts_with('/') => Some(p.to_owned()),
            Some(p) => {
                problem(
                    &format!("{at}.prefix"),
                    RouteProblemKind::BadPrefix(p.to_owned()),
                );
                None
            }
            None => {
                problem(
                    &format!("{at}.prefix"),
                    RouteProblemKind::Missing {
                        example: "a string such as \"/api\"",
                    },
                );
                None
            }
        };
        let upstream = match entry.get("upstream").and_then(toml::Value::as_str) {
            Some(u) => match u.parse::<Uri>() {
                Ok(uri)
                    if matches!(uri.scheme_str(), Some("http" | "https"))
                        && uri.host().is_some() =>
                {
                    match upstream_port_problem(&uri) {
                        None => Some(uri),
                        Some(why) => {
                            problem(
                                &format!("{at}.upstream"),
                                RouteProblemKind::BadUpstream {
                                    value: u.to_owned(),
                                    why: why.to_string(),
                                },
                            );
                            None
                        }
                    }
                }
                _ => {
                    problem(
                        &format!("{at}.upstream"),
                        RouteProblemKind::BadUpstream {
                            value: u.to_owned(),
                            why: "not an http or https URL".to_owned(),
                        },
                    );
                    None
                }
            },
            None => {
                problem(
                    &format!("{at}.upstream"),
                    RouteProblemKind::Missing {
                        example: "a URL such as \"http://127.0.0.1:3000\"",
                    },
                );
                None
            }
        };
        let policy = match entry.get("policy").and_then(toml::Value::as_table) {
            Some(policy) => match Policy::from_table(policy) {
                Ok(policy) => Some(policy),
                Err(errors) => {
                    for error in errors.errors() {
                        problem(
                            &format!("{at}.policy"),
                            RouteProblemKind::Policy(error.clone()),
                        );
                    }
                    None
                }
            },
            None => {
                problem(
                    &format!("{at}.policy"),
                    RouteProblemKind::Missing {
                        example: "a table with allow_origins, …",
                    },
                );
                None
            }
        };
        let mut inject = HeaderMap::new();
        if let Some(headers) = entry.get("inject_headers") {
            match headers.as_table() {
                Some(headers) => {
                    for (name, value) in headers {
                        let parsed = (
                            HeaderName::from_bytes(name.as_bytes()),
                            value.as_str().map(HeaderValue::from_str),
                        );
                        match parsed {
                            (Ok(name), Some(Ok(mut value))) => {
                                value.set_sensitive(true);
                                inject.insert(name, value);
                            }
                            _ => problem(
                                &format!("{at}.inject_headers.{name}"),
                                RouteProblemKind::BadHeader(name.clone()),
                            ),
                        }
                    }
                }
                None => problem(&format!("{at}.inject_headers"), RouteProblemKind::NotATable),
            }
        }
        // A route that adds a secret must not spend it for pages the policy refuses: their
        // requests are answered 403 before the upstream (block_disallowed_origins).
        let policy = match policy {
            Some(policy) if !inject.is_empty() && !policy.config().block_disallowed_origins => {
                let mut config = policy.config().clone();
                config.block_disallowed_origins = true;
                Policy::from_config(config).ok()
            }
            other => other,
        };
        if let (Some(prefix), Some(upstream), Some(policy)) = (prefix, upstream, policy) {
            if !prefixes.insert(prefix.clone()) {
                problem(
                    &format!("{at}.prefix"),
                    RouteProblemKind::DuplicatePrefix(prefix.clone()),
                );
            }
            routes.push(Route {
                prefix,
                upstream,
                policy,
                inject,
            });
        }
    }
    if problems.is_empty() {
        Ok(routes)
    } else {
        Err(ConfigErrors(problems))
    }
}

/// Whether `path` is under `prefix`, and the rest of it (starting with '/').
fn rest_of<'a>(prefix: &str, path: &'a str) -> Option<&'a str> {
    let prefix = prefix.trim_end_matches('/');
    let rest = path.strip_prefix(prefix)?;
    if rest.is_empty() {
        Some("/")
    } else if rest.starts_with('/') {
        Some(rest)
    } else {
        None
    }
}

/// How many times a segment is percent-decoded before it is judged: a server that decodes twice
/// is known (IIS's double decoding), three times is margin; a segment with percent-encoding nested
/// deeper is refused rather than decoded further (each round is a pass over the segment).
const DECODINGS: usize = 3;

/// Why `path` is not forwarded, or `None`. Each segment, percent-decoded [`DECODINGS`] times,
/// its overlong UTF-8 and full-width forms of `.`, `/` and `\` read as those, and its `;`
/// parameters dropped, must not be made of dots alone (`.`, `..`, and `...` which Windows
/// servers trim to `..`), nor hold a backslash or a slash (which was encoded).
fn path_refusal(path: &str) -> Option<&'static str> {
    path.split('/').find_map(|raw| {
        // Most segments have nothing to decode, nothing outside ASCII and no backslash.
        let plain = !raw.bytes().any(|b| b == b'%' || b == b'\\' || b >= 0x80);
        let segment: std::borrow::Cow<'_, str> = if plain {
            raw.into()
        } else {
            let mut bytes = raw.as_bytes().to_vec();
            for _ in 0..DECODINGS {
                match decode_once(&bytes) {
                    Some(decoded) => bytes = decoded,
                    None => break,
                }
            }
            if decode_once(&bytes).is_some() {
                return Some("percent-encoding nested more than three deep");
            }
            fold(&bytes).into()
        };
        if segment.contains('/') {
            return Some("an encoded slash");
        }
        if segment.contains('\\') {
            return Some("a backslash");
        }
        let name = segment
            .split(';')
            .next()
            .unwrap_or_default()
            .trim_end_matches(' ');
        (!name.is_empty() && name.bytes().all(|b| b == b'.')).then_some("a dot segment")
    })
}

/// `bytes` percent-decoded once, or `None` if nothing in them decodes.
fn decode_once(bytes: &[u8]) -> Option<Vec<u8>> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut changed = false;
    let mut i = 0;
    while i < bytes.len() {
        let digits = (
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        );
        match (bytes[i], digits) {
            (b'%', (Some(high), Some(low))) => {
                // Two hex digits: at most 255.
                decoded.push(u8::try_from(high * 16 + low).unwrap_or(u8::MAX));
                changed = true;
                i += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    changed.then_some(decoded)
}

/// Decoded bytes as text, with what lenient servers read as `.`, `/` or `\` made those: an
/// overlong two-byte UTF-8 form of an ASCII character (`%c0%ae`), and the full-width and small
/// forms Unicode normalisation (NFKC) turns into them (U+FF0E, U+FE52, U+2024 one dot leader,
/// U+2025 two dot leader; U+FF0F; U+FF3C, U+FE68).
fn fold(bytes: &[u8]) -> String {
    let mut ascii = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1)) {
            (lead @ (0xC0 | 0xC1), Some(&next)) if next & 0xC0 == 0x80 => {
                ascii.push(((lead & 0x1F) << 6) | (next & 0x3F));
                i += 2;
            }
            (byte, _) => {
                ascii.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&ascii)
        .chars()
        .fold(String::new(), |mut text, c| {
            match c {
                '\u{FF0E}' | '\u{FE52}' | '\u{2024}' => text.push('.'),
                '\u{2025}' => text.push_str(".."),
                '\u{FF0F}' => text.push('/'),
                '\u{FF3C}' | '\u{FE68}' => text.push('\\'),
                c => text.push(c),
            }
            text
        })
}

/// Dispatches each request to the service of the longest matching route prefix, with the prefix
/// taken off the path.
#[derive(Clone, Debug)]
pub struct Router<S> {
    /// Longest prefix first.
    routes: Vec<(String, S)>,
}

impl<S> Router<S> {
    /// `routes`: each prefix and its service.
    pub fn new(mut routes: Vec<(String, S)>) -> Router<S> {
        routes.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.trim_end_matches('/').len()));
        Router { routes }
    }
}

impl<S, B> tower_service::Service<Request<B>> for Router<S>
where
    S: tower_service::Service<Request<B>, Response = Response<ProxyBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<ProxyBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<ProxyBody>, S::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        // Each route's service is made ready when it is called (they are always ready here).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let path = request.uri().path().to_owned();
        if let Some(why) = path_refusal(&path) {
            // `/weather/../admin`, however spelled, would leave the route's base path on the
            // upstream, with the route's injected headers.
            let error = ProxyError::BadRequest(format!(
                "{path}: a path with {why} is not forwarded (it could lead outside the route's \
                 upstream path, depending on how the upstream reads it)"
            ));
            return Box::pin(std::future::ready(Ok(error.into_response())));
        }
        for (prefix, service) in &mut self.routes {
            let Some(rest) = rest_of(prefix, &path) else {
                continue;
            };
            let path_and_query = match request.uri().query() {
                Some(query) => format!("{rest}?{query}"),
                None => rest.to_owned(),
            };
            if let Ok(uri) = path_and_query.parse::<Uri>() {
                *request.uri_mut() = uri;
            }
            return Box::pin(service.call(request));
        }
        let error = ProxyError::NoRoute(path);
        Box::pin(std::future::ready(Ok(error.into_response())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn climb_outs_are_found_however_spelled() {
        for (path, why) in [
            ("/a/../b", "a dot segment"),
            ("/a/./b", "a dot segment"),
            ("/..", "a dot segment"),
            ("/a/%2e%2e/b", "a dot segment"),
            ("/a/%2E./b", "a dot segment"),
            ("/a/.%2e/b", "a dot segment"),
            // Tomcat drops `;` parameters before it resolves dots.
            ("/a/..;/b", "a dot segment"),
            ("/a/..;jsessionid=1/b", "a dot segment"),
            ("/a/%2e%2e%3b/b", "a dot segment"),
            // Decoded once, `%2e%2e`; twice, `..`.
            ("/a/%252e%252e/b", "a dot segment"),
            ("/a/%25252e%25252e/b", "a dot segment"),
            (
                "/a/%2525252e/b",
                "percent-encoding nested more than three deep",
            ),
            // Windows trims trailing dots and spaces.
            ("/a/.../b", "a dot segment"),
            ("/a/..%20/b", "a dot segment"),
            // Full-width (U+FF0E), small (U+FE52) and leader dots, as UTF-8, percent-encoded.
            ("/a/%EF%BC%8E%EF%BC%8E/b", "a dot segment"),
            ("/a/%ef%bc%8e./b", "a dot segment"),
            ("/a/%EF%B9%92%EF%B9%92/b", "a dot segment"),
            ("/a/%E2%80%A5/b", "a dot segment"),
            // Overlong UTF-8 dots.
            ("/a/%c0%ae%c0%ae/b", "a dot segment"),
            ("/a/..%2f/b", "an encoded slash"),
            ("/a/..%2F..%2Fb", "an encoded slash"),
            ("/a/%2e%2e%2fb", "an encoded slash"),
            ("/a/x%2fy", "an encoded slash"),
            ("/a/..%252f/b", "an encoded slash"),
            ("/a/..%EF%BC%8F/b", "an encoded slash"),
            ("/a/..%c0%af/b", "an encoded slash"),
            ("/a/..\\b", "a backslash"),
            ("/a/..%5c/b", "a backslash"),
            ("/a/..%5C../b", "a backslash"),
            ("/a/..%EF%BC%BC/b", "a backslash"),
            ("/a/..%c1%9c/b", "a backslash"),
        ] {
            assert_eq!(path_refusal(path), Some(why), "{path}");
        }
        for path in [
            "/a/b",
            "/",
            "/a/..b/c",
            "/a/b../c",
            "/a/.well-known/x",
            "/a/file.json",
            "/a/100%25",
            "/a/100%25/b",
            "/a/x%20y",
            "/a/%E2%82%AC",
            "/a/b;v=1",
            "/a//b",
        ] {
            assert_eq!(path_refusal(path), None, "{path}");
        }
    }

    #[test]
    fn prefixes_match_whole_segments() {
        assert_eq!(rest_of("/api", "/api"), Some("/"));
        assert_eq!(rest_of("/api", "/api/users"), Some("/users"));
        assert_eq!(rest_of("/api/", "/api/users"), Some("/users"));
        assert_eq!(rest_of("/api", "/apis"), None);
        assert_eq!(rest_of("/", "/anything"), Some("/anything"));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let errors = parse(
            r#"
            listen = "0.0.0.0:80"
            [[route]]
            prefix = "api"
            upstream = "ftp://x"
            inject_headers = { "bad header" = "x" }
            [route.policy]
            allow_origins = ["*"]
            allow_credentials = true
            [[route]]
            upstream = "http://127.0.0.1:3000"
            colour = "blue"
            "#,
        )
        .expect_err("invalid");
        let text = errors.to_string();
        for expected in [
            "unknown key \"listen\"",
            "route[0].prefix = \"api\": a path prefix starts with '/'",
            "route[0].upstream = \"ftp://x\": not an http or https URL",
            "route[0].inject_headers.bad header: not a header name",
            "route[0].policy: error[wildcard-with-credentials]",
            "route[1].prefix: missing",
            "route[1].policy: missing",
            "route[1]: unknown key \"colour\"",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }

    #[test]
    fn an_upstream_port_out_of_range_is_a_problem() {
        let file = |upstream: &str| {
            format!(
                "[[route]]\nprefix = \"/\"\nupstream = {upstream:?}\n\
                 [route.policy]\nallow_origins = [\"https://app.example.com\"]\n"
            )
        };
        // `http::Uri` reads these as "no port", which would have reached port 80 or 443.
        for (upstream, port) in [
            ("http://127.0.0.1:99999", "99999"),
            ("http://127.0.0.1:65536/v1", "65536"),
            (
                "https://api.example:18446744073709551617",
                "18446744073709551617",
            ),
            ("http://127.0.0.1:0", "0"),
            ("http://[::1]:70000", "70000"),
            ("http://user:pw@127.0.0.1:123456", "123456"),
            ("http://127.0.0.1:8a", "8a"),
        ] {
            let errors = parse(&file(upstream)).expect_err(upstream).to_string();
            let expected = format!(
                "route[0].upstream = {upstream:?}: port {port} is not a port number from 1 to 65535: \
                 write the upstream's port, e.g. \""
            );
            assert!(errors.contains(&expected), "{upstream}: {errors}");
        }
        for upstream in [
            "http://127.0.0.1:1",
            "http://127.0.0.1:65535/v1",
            "http://[::1]:8080",
            "http://[::1]",
            "https://api.example/v2",
            "http://127.0.0.1:/v1",
        ] {
            let routes = parse(&file(upstream)).expect(upstream);
            assert_eq!(
                routes[0].upstream.to_string().trim_end_matches('/'),
                upstream.trim_end_matches('/')
            );
        }
    }

    #[test]
    fn a_long_file_is_read_in_linear_time_and_a_repeated_prefix_is_found() {
        // Each prefix was looked for among every route before it: 120,000 routes took 55 s in
        // release. With a hash probe per route this takes 4 s in a debug build; a search of the
        // routes again, 23 s (and four times that for each doubling of N).
        const N: usize = 50_000;
        let mut text = String::new();
        for i in (0..N).chain([7]) {
            text.push_str(&format!(
                "[[route]]\nprefix = \"/r{i}\"\nupstream = \"http://127.0.0.1:3000\"\n\
                 [route.policy]\nallow_origins = [\"https://a.example\"]\n"
            ));
        }
        let errors = parse(&text).expect_err("a repeated prefix").to_string();
        assert_eq!(
            errors,
            format!(
                "invalid proxy configuration (1 problem(s))\n  \
                 route[{N}].prefix = \"/r7\": another route has it"
            )
        );
    }

    #[test]
    fn a_valid_file() {
        let routes = parse(
            r#"
            [[route]]
            prefix = "/weather"
            upstream = "https://api.weather.example/v2"
            inject_headers = { "x-api-key" = "kept-on-the-server" }
            [route.policy]
            allow_origins = ["https://app.example.com"]
            "#,
        )
        .expect("valid");
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].inject["x-api-key"], "kept-on-the-server");
        assert!(routes[0].inject["x-api-key"].is_sensitive());
        assert!(routes[0].policy.allows_origin("https://app.example.com"));
    }
}
