//! The requests that tell whether a server does what a policy says: [`matrix`] derives them from
//! the policy's origin rules, methods and headers, with the near misses of each, deterministic
//! and bounded.

use std::fmt;

use url::Url;

use super::transport::COOKIE;
use crate::audit::ATTACKER_DOMAIN;
use crate::browser::{Credentials, Request, safelist};
use crate::fetch as spec;
use crate::origin::Origin;
use crate::policy::{OriginRule, Policy, PortRule};

/// The most `allow_origins` entries probed; the others are listed in [`Matrix::skipped`].
pub const MAX_ENTRIES: usize = 12;
/// The most allowed methods probed, each with a preflighted request of its own.
pub const MAX_METHODS: usize = 8;
/// The most allowed request headers probed, each with a preflighted request of its own.
pub const MAX_HEADERS: usize = 8;
/// The request header no policy allows on purpose (the refused-header request).
pub const REFUSED_HEADER: &str = "x-crossgate-refused";
/// The most near-miss header names (`x-id-x`, `x-x-id`, `x-i` for `x-id`) tried, each with a
/// preflighted request of its own: a server matching allowed headers by prefix, suffix or
/// substring lets them in.
pub const MAX_HEADER_NEAR_MISSES: usize = 8;
/// The most dots of a host replaced by a letter, each a near miss of its own
/// (`appxexample.com` for `app.example.com`).
pub const MAX_DOTS: usize = 3;
/// The method tried when a policy allows every method but lists none.
pub const MADE_UP_METHOD: &str = "CROSSGATE";
/// The ports tried for an any-port pattern (`http://localhost:*`).
pub const ANY_PORTS: [u16; 2] = [3000, 5173];
/// An origin no policy means to allow (the attacker's own domain).
pub const UNRELATED_ORIGIN: &str = "https://crossgate-evil.example";

/// What a case checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Purpose {
    /// A GET without custom headers (no preflight).
    SimpleGet,
    /// A preflighted request with a method the policy allows.
    Method,
    /// A preflighted request with a method the policy does not allow.
    RefusedMethod,
    /// A preflighted GET with a request header the policy allows.
    Header,
    /// A preflighted GET with a request header the policy does not allow.
    RefusedHeader,
    /// A preflighted request from an origin that is not one of the main allowed ones.
    Preflight,
    /// A GET of the error URL (an answer with an error status).
    ErrorStatus,
}

impl Purpose {
    /// A stable kebab-case id.
    pub fn id(self) -> &'static str {
        match self {
            Purpose::SimpleGet => "simple-get",
            Purpose::Method => "method",
            Purpose::RefusedMethod => "refused-method",
            Purpose::Header => "header",
            Purpose::RefusedHeader => "refused-header",
            Purpose::Preflight => "preflight",
            Purpose::ErrorStatus => "error-status",
        }
    }
}

/// One request of the matrix: what a page on `request.origin` fetches, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// What the origin stands for (`listed`, `near miss of https://app.example.com: …`).
    pub origin_note: String,
    /// What the case checks.
    pub purpose: Purpose,
    /// The fetch.
    pub request: Request,
}

/// The requests derived from a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matrix {
    /// Every case, in a fixed order: policy entries in order, then `null` and an unrelated origin.
    pub cases: Vec<Case>,
    /// How many distinct origins the cases come from.
    pub origins: usize,
    /// The `allow_origins` entries past [`MAX_ENTRIES`], not probed.
    pub skipped: Vec<String>,
}

/// Why no matrix can be derived for a URL: each kind with the offending value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MatrixError {
    /// The URL does not parse.
    NotAUrl {
        /// The URL as given.
        url: String,
        /// Why the URL parser refused it.
        reason: url::ParseError,
    },
    /// The URL's scheme is neither http nor https.
    UnsupportedScheme {
        /// The URL as given.
        url: String,
    },
}

impl fmt::Display for MatrixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatrixError::NotAUrl { url, reason } => write!(f, "{url:?} is not a URL: {reason}"),
            MatrixError::UnsupportedScheme { url } => {
                write!(f, "{url:?}: only http and https URLs can be checked")
            }
        }
    }
}

impl std::error::Error for MatrixError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MatrixError::NotAUrl { reason, .. } => Some(reason),
            MatrixError::UnsupportedScheme { .. } => None,
        }
    }
}

/// How much to ask of one origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Depth {
    /// Every method and header, the refused ones, the error status.
    Full,
    /// Simple GETs (with and without credentials) and one preflighted request.
    Basic,
}

/// An origin to try.
struct Candidate {
    origin: String,
    note: String,
    depth: Depth,
}

/// `scheme://host[:port]`.
fn origin_text(scheme: &str, host: &str, port: Option<u16>) -> String {
    match port {
        Some(p) => format!("{scheme}://{host}:{p}"),
        None => format!("{scheme}://{host}"),
    }
}

/// The http/https counterpart, if any.
fn other_scheme(scheme: &str) -> Option<&'static str> {
    match scheme {
        "https" => Some("http"),
        "http" => Some("https"),
        _ => None,
    }
}

/// A port that is not the entry's.
fn other_port(scheme: &str, port: PortRule) -> Option<u16> {
    match port {
        PortRule::Exact(n) => Some(n.checked_add(1).unwrap_or(n - 1)),
        PortRule::Default if scheme == "https" => Some(8443),
        PortRule::Default => Some(8080),
        PortRule::Any => None,
    }
}

/// `host` with one of its dots replaced by a letter, for each of its first [`MAX_DOTS`] dots
/// (`app.example.com` → `appxexample.com`, `app.examplexcom`): what a server matching with an
/// unescaped regex (`https://app.example.com`, where `.` is any character) also lets in.
fn dot_replaced(host: &str) -> Vec<String> {
    host.match_indices('.')
        .take(MAX_DOTS)
        .map(|(i, _)| format!("{}x{}", &host[..i], &host[i + 1..]))
        .collect()
}

/// The origins to try for one rule of `allow_origins`: what it allows, then its near misses.
fn entry_candidates(rule: &OriginRule) -> Vec<Candidate> {
    let mut out = Vec::new();
    let (scheme, host, port, subdomains) = match rule {
        OriginRule::Exact { scheme, host, port } => (
            scheme.as_str(),
            host.as_str(),
            port.map_or(PortRule::Default, PortRule::Exact),
            false,
        ),
        OriginRule::Subdomains {
            scheme,
            domain,
            port,
        } => (scheme.as_str(), domain.as_str(), *port, true),
        OriginRule::AnyPort { scheme, host } => {
            (scheme.as_str(), host.as_str(), PortRule::Any, false)
        }
        OriginRule::Any => return out,
    };
    let entry = rule.to_string();
    let port_of = |i: usize| match port {
        PortRule::Default => None,
        PortRule::Exact(n) => Some(n),
        PortRule::Any => Some(ANY_PORTS[i % ANY_PORTS.len()]),
    };
    let mut add = |origin: String, note: String, depth: Depth| {
        out.push(Candidate {
            origin,
            note,
            depth,
        })
    };
    let near = |what: &str| format!("near miss of {entry}: {what}");
    if subdomains {
        let one = format!("sub.{host}");
        let two = format!("deep.sub.{host}");
        add(
            origin_text(scheme, &one, port_of(0)),
            format!("matches {entry} (one label)"),
            Depth::Full,
        );
        add(
            origin_text(scheme, &two, port_of(1)),
            format!("matches {entry} (two labels)"),
            Depth::Basic,
        );
        add(
            origin_text(scheme, host, port_of(0)),
            near("the bare domain"),
            Depth::Basic,
        );
        add(
            origin_text(scheme, &format!("evil{host}"), port_of(0)),
            near("a prefix glued to the domain"),
            Depth::Basic,
        );
        add(
            origin_text(scheme, &format!("{host}.{ATTACKER_DOMAIN}"), port_of(0)),
            near("another domain after it"),
            Depth::Basic,
        );
        for dotless in dot_replaced(host) {
            add(
                origin_text(scheme, &format!("sub.{dotless}"), port_of(0)),
                near("a dot of the domain replaced by a letter"),
                Depth::Basic,
            );
        }
        if let Some(other) = other_scheme(scheme) {
            add(
                origin_text(other, &one, port_of(0)),
                near("another scheme"),
                Depth::Basic,
            );
        }
        if let Some(p) = other_port(scheme, port) {
            add(
                origin_text(scheme, &one, Some(p)),
                near("another port"),
                Depth::Basic,
            );
        }
        return out;
    }
    if port == PortRule::Any {
        add(
            origin_text(scheme, host, port_of(0)),
            format!("matches {entry}"),
            Depth::Full,
        );
        add(
            origin_text(scheme, host, port_of(1)),
            format!("matches {entry} (another port)"),
            Depth::Basic,
        );
    } else {
        add(entry.to_owned(), "listed".to_owned(), Depth::Full);
    }
    add(
        origin_text(scheme, &format!("{host}.{ATTACKER_DOMAIN}"), port_of(0)),
        near("another domain after it"),
        Depth::Basic,
    );
    add(
        origin_text(scheme, &format!("evil-{host}"), port_of(0)),
        near("a prefix glued to it"),
        Depth::Basic,
    );
    for dotless in dot_replaced(host) {
        add(
            origin_text(scheme, &dotless, port_of(0)),
            near("a dot replaced by a letter"),
            Depth::Basic,
        );
    }
    add(
        origin_text(scheme, &format!("sub.{host}"), port_of(0)),
        near("a subdomain"),
        Depth::Basic,
    );
    if let Some(other) = other_scheme(scheme) {
        add(
            origin_text(other, host, port_of(0)),
            near("another scheme"),
            Depth::Basic,
        );
    }
    if let Some(p) = other_port(scheme, port) {
        add(
            origin_text(scheme, host, Some(p)),
            near("another port"),
            Depth::Basic,
        );
    }
    out
}

/// Header names near each allowed one (`x-id` → `x-id-x`, `x-x-id`, `x-i`) that the policy does
/// not allow and a script can set, each once: first the suffixed name of every header, then the
/// prefixed ones, then the shortened ones, at most [`MAX_HEADER_NEAR_MISSES`].
fn near_miss_headers(
    headers: &[(String, &'static str)],
    allowed: &[String],
) -> Vec<(String, &'static str)> {
    let variants: [fn(&str) -> Option<String>; 3] = [
        |h| Some(format!("{h}-x")),
        |h| Some(format!("x-{h}")),
        |h| {
            let shorter = &h[..h.len() - h.chars().last().map_or(0, char::len_utf8)];
            (!shorter.is_empty()).then(|| shorter.to_owned())
        },
    ];
    let mut out: Vec<(String, &'static str)> = Vec::new();
    for variant in variants {
        for (h, _) in headers {
            let Some(name) = variant(h) else { continue };
            let usable = spec::is_token(name.as_bytes())
                && !spec::is_forbidden_request_header(name.as_bytes())
                && !allowed.iter().any(|a| a.eq_ignore_ascii_case(&name))
                && name != REFUSED_HEADER
                && !out.iter().any(|(n, _)| *n == name);
            if let (true, Some(value)) = (usable, unsafe_value(&name)) {
                out.push((name, value));
            }
        }
    }
    out.truncate(MAX_HEADER_NEAR_MISSES);
    out
}

/// The value a script sets for `name` so that the header needs a preflight, if one does.
fn unsafe_value(name: &str) -> Option<&'static str> {
    let values: &[&'static str] = if name.eq_ignore_ascii_case("content-type") {
        &["application/json"]
    } else {
        &["1", "{}"]
    };
    values
        .iter()
        .copied()
        .find(|v| !safelist::cors_unsafe_names([(name, v.as_bytes())]).is_empty())
}

/// Derives the requests that tell whether a server at `url` does what `policy` says;
/// `error_url`, if given, is a URL the server answers with an error status (a 404 page).
pub fn matrix(policy: &Policy, url: &str, error_url: Option<&str>) -> Result<Matrix, MatrixError> {
    for u in std::iter::once(url).chain(error_url) {
        let parsed = Url::parse(u).map_err(|reason| MatrixError::NotAUrl {
            url: u.to_owned(),
            reason,
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(MatrixError::UnsupportedScheme { url: u.to_owned() });
        }
    }
    let config = policy.config();
    let include_ok = config.allow_credentials;
    let preflight_credentials = if include_ok {
        Credentials::Include
    } else {
        Credentials::Omit
    };

    // Methods: the allowed ones that need a preflight; one refused.
    let any_method = config.allow_methods.iter().any(|m| m == "*");
    let mut methods: Vec<String> = Vec::new();
    for m in &config.allow_methods {
        if m != "*" && !spec::is_cors_safelisted_method(m.as_bytes()) && !methods.contains(m) {
            methods.push(m.clone());
        }
    }
    if any_method && methods.is_empty() {
        methods = vec!["PUT".to_owned(), "PATCH".to_owned(), "DELETE".to_owned()];
    }
    methods.truncate(MAX_METHODS);
    let refused_method = if any_method {
        MADE_UP_METHOD.to_owned()
    } else {
        ["DELETE", "PATCH", "PUT"]
            .iter()
            .find(|m| !config.allow_methods.iter().any(|a| a == *m))
            .map_or(MADE_UP_METHOD, |m| *m)
            .to_owned()
    };

    // Headers: the allowed ones a script can set and that need a preflight.
    let any_header = config.allow_headers.iter().any(|h| h == "*");
    let mut headers: Vec<(String, &'static str)> = Vec::new();
    for h in &config.allow_headers {
        let lower = h.to_ascii_lowercase();
        if h == "*"
            || spec::is_forbidden_request_header(lower.as_bytes())
            || headers.iter().any(|(n, _)| *n == lower)
        {
            continue;
        }
        if let Some(value) = unsafe_value(&lower) {
            headers.push((lower, value));
        }
    }
    if any_header && headers.is_empty() {
        headers.push(("x-crossgate-any".to_owned(), "1"));
    }
    headers.truncate(MAX_HEADERS);
    let near_headers = if any_header {
        Vec::new()
    } else {
        near_miss_headers(&headers, &config.allow_headers)
    };

    let mut candidates: Vec<Candidate> = Vec::new();
    let mut skipped = Vec::new();
    let rules = policy.origin_rules();
    for (i, rule) in rules.iter().enumerate() {
        if i >= MAX_ENTRIES {
            skipped.push(rule.to_string());
            continue;
        }
        candidates.extend(entry_candidates(rule));
    }
    candidates.push(Candidate {
        origin: "null".to_owned(),
        note: "null (sandboxed iframes, data: and file: pages)".to_owned(),
        depth: Depth::Basic,
    });
    // With `*`, an unrelated origin is an allowed one: it gets everything.
    let any_origin = rules.contains(&OriginRule::Any);
    candidates.push(Candidate {
        origin: UNRELATED_ORIGIN.to_owned(),
        note: if any_origin {
            "an unrelated origin (allowed by *)".to_owned()
        } else {
            "an unrelated origin".to_owned()
        },
        depth: if any_origin {
            Depth::Full
        } else {
            Depth::Basic
        },
    });
    // Only what a browser can send (the URL parser serializes it to itself), each once.
    let mut seen: Vec<String> = Vec::new();
    candidates.retain(|c| {
        let sendable = c.origin == "null"
            || Origin::from_header(c.origin.as_bytes()).is_ok_and(|o| o.to_string() == c.origin);
        let first = !seen.contains(&c.origin);
        seen.push(c.origin.clone());
        sendable && first
    });

    let mut cases = Vec::new();
    for candidate in &candidates {
        let case = |purpose: Purpose,
                    method: &str,
                    headers: Vec<(String, String)>,
                    credentials: Credentials,
                    url: &str| Case {
            origin_note: candidate.note.clone(),
            purpose,
            request: Request {
                origin: candidate.origin.clone(),
                url: url.to_owned(),
                method: method.to_owned(),
                headers,
                credentials,
                body: None,
            },
        };
        let header = |(name, value): &(String, &str)| vec![(name.clone(), (*value).to_owned())];
        cases.push(case(
            Purpose::SimpleGet,
            "GET",
            Vec::new(),
            Credentials::Omit,
            url,
        ));
        cases.push(case(
            Purpose::SimpleGet,
            "GET",
            Vec::new(),
            Credentials::Include,
            url,
        ));
        match candidate.depth {
            Depth::Full => {
                for m in &methods {
                    cases.push(case(
                        Purpose::Method,
                        m,
                        Vec::new(),
                        preflight_credentials,
                        url,
                    ));
                }
                cases.push(case(
                    Purpose::RefusedMethod,
                    &refused_method,
                    Vec::new(),
                    preflight_credentials,
                    url,
                ));
                for h in &headers {
                    cases.push(case(
                        Purpose::Header,
                        "GET",
                        header(h),
                        preflight_credentials,
                        url,
                    ));
                }
                cases.push(case(
                    Purpose::RefusedHeader,
                    "GET",
                    vec![(REFUSED_HEADER.to_owned(), "1".to_owned())],
                    preflight_credentials,
                    url,
                ));
                for h in &near_headers {
                    cases.push(case(
                        Purpose::RefusedHeader,
                        "GET",
                        header(h),
                        preflight_credentials,
                        url,
                    ));
                }
                if !include_ok {
                    // A logged-in user's preflighted request: the policy refuses credentials, so
                    // the server's preflight must not let a cookie-carrying request through.
                    let (purpose, method, headers) = match (methods.first(), headers.first()) {
                        (Some(m), _) => (Purpose::Method, m.as_str(), Vec::new()),
                        (None, Some(h)) => (Purpose::Header, "GET", header(h)),
                        (None, None) => {
                            (Purpose::RefusedMethod, refused_method.as_str(), Vec::new())
                        }
                    };
                    cases.push(case(purpose, method, headers, Credentials::Include, url));
                }
                if let Some(error_url) = error_url {
                    cases.push(case(
                        Purpose::ErrorStatus,
                        "GET",
                        Vec::new(),
                        Credentials::Omit,
                        error_url,
                    ));
                    if include_ok || candidate.origin == UNRELATED_ORIGIN {
                        cases.push(case(
                            Purpose::ErrorStatus,
                            "GET",
                            Vec::new(),
                            Credentials::Include,
                            error_url,
                        ));
                    }
                }
            }
            Depth::Basic => {
                let method = methods.first().map_or("PUT", String::as_str);
                let headers = headers.first().map(header).unwrap_or_default();
                cases.push(case(
                    Purpose::Preflight,
                    method,
                    headers,
                    preflight_credentials,
                    url,
                ));
                if let (Some(error_url), true) = (error_url, candidate.origin == UNRELATED_ORIGIN) {
                    cases.push(case(
                        Purpose::ErrorStatus,
                        "GET",
                        Vec::new(),
                        Credentials::Include,
                        error_url,
                    ));
                }
            }
        }
    }
    Ok(Matrix {
        cases,
        origins: candidates.len(),
        skipped,
    })
}

impl Case {
    /// The cookie the request carries (not its preflight): [`COOKIE`] when its credentials mode
    /// is `include`, as a logged-in user's browser sends it ([`LoggedIn`](super::LoggedIn)).
    pub fn cookie(&self) -> Option<&'static str> {
        match self.request.credentials {
            Credentials::Include => Some(COOKIE),
            Credentials::Omit | Credentials::SameOrigin => None,
        }
    }
}
