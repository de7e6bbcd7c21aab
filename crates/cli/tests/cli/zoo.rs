//! A zoo of CORS servers on 127.0.0.1, one per classic misconfiguration, each written the way
//! real code gets it wrong (`startsWith`, `endsWith`, an unanchored regex…), plus answers that
//! browsers refuse (string-matching scanners flag them anyway) and correct configurations.
//!
//! Every server plays `https://www.target.test:PORT/api/me` (a logged-in user's profile): run
//! the client with `--resolve www.target.test:PORT:127.0.0.1` (never real DNS) and, over HTTPS,
//! `--cacert` with [`Zoo::cert_pem`]. [`Kind::expected`] says what `crossgate audit` must find.
//!
//! ```ignore
//! let zoo = Zoo::https();
//! let port = zoo.spawn(Kind::PrefixMatch);
//! // crossgate audit $(zoo.url(port)) --resolve $(Zoo::resolve(port)) --cacert ca.pem
//! ```

use std::convert::Infallible;
use std::net::TcpListener;
use std::sync::Arc;

use bytes::Bytes;
use crossgate::Policy;
use crossgate::server::Action;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;

/// The host every zoo server plays.
pub(crate) const HOST: &str = "www.target.test";
/// The path audited.
pub(crate) const PATH: &str = "/api/me";
/// A path every server redirects to [`PATH`] (308) with CORS headers for every origin: what the
/// audit finds there is what [`PATH`] answers only if the redirect is followed.
pub(crate) const REDIRECT: &str = "/old";

/// What a server does with the `Origin` it gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    // The classic mistakes, one class each (see `expected` for the overlaps).
    /// Any origin reflected with credentials.
    ReflectAny,
    /// `origin.startsWith("https://www.target.test")`.
    PrefixMatch,
    /// `new URL(origin).hostname.endsWith("target.test")`.
    SuffixMatch,
    /// `/https://www.target.test/.test(origin)`: unanchored, dots unescaped.
    UnescapedDot,
    /// `ALLOWED_HOSTS.includes(hostname)` where `ALLOWED_HOSTS` is one string, not a list.
    SubstringMatch,
    /// The site's origin and `null`.
    NullOrigin,
    /// `hostname == "www.target.test"`: scheme (and port) ignored, so `http://` passes.
    InsecureOrigin,
    /// Any `https://*.target.test`.
    AnySubdomain,
    /// The site's origin and any `*.github.io`.
    ThirdPartyHosting,
    /// `startsWith("https://www.target.test")` and then no host character (meant to allow a
    /// port): `_`, `~`, `$`… pass.
    SpecialCharacters,
    /// `Access-Control-Allow-Origin: *` and `Access-Control-Allow-Credentials: true` always.
    WildcardWithCredentials,
    /// `*` on a response marked `Cache-Control: private`.
    WildcardPrivate,
    /// Any origin reflected with credentials, no `Vary: Origin`.
    ReflectWithoutVary,
    /// Any origin reflected, without credentials (a public API that "supports CORS").
    ReflectWithoutCredentials,
    /// The site's origin only; preflights echo the method and headers asked for, always, with
    /// `Access-Control-Max-Age: 31536000`.
    PreflightReflect,
    /// The site's origin only; preflights say `*` for methods and headers and
    /// `Access-Control-Allow-Credentials: true`, always.
    PreflightWildcard,
    // What browsers refuse: no finding, though string matching sees the probe's origin.
    /// The origin reflected upper-cased.
    UpperCase,
    /// The origin reflected on another port (8443).
    OtherPort,
    /// The origin and the site's origin, in two `Access-Control-Allow-Origin` lines.
    SeveralValues,
    // Correct configurations: no finding.
    /// An exact list: the site and `https://app.target.test:PORT`.
    ExactList,
    /// crossgate's own `Policy::decide` + `Decision::apply`: the site and
    /// `https://*.app.target.test:PORT`, with credentials.
    CrossgatePolicy,
    /// `*` without credentials on a public response.
    PublicWildcard,
}

impl Kind {
    /// Every kind, mistakes first.
    pub(crate) const ALL: [Kind; 22] = [
        Kind::ReflectAny,
        Kind::PrefixMatch,
        Kind::SuffixMatch,
        Kind::UnescapedDot,
        Kind::SubstringMatch,
        Kind::NullOrigin,
        Kind::InsecureOrigin,
        Kind::AnySubdomain,
        Kind::ThirdPartyHosting,
        Kind::SpecialCharacters,
        Kind::WildcardWithCredentials,
        Kind::WildcardPrivate,
        Kind::ReflectWithoutVary,
        Kind::ReflectWithoutCredentials,
        Kind::PreflightReflect,
        Kind::PreflightWildcard,
        Kind::UpperCase,
        Kind::OtherPort,
        Kind::SeveralValues,
        Kind::ExactList,
        Kind::CrossgatePolicy,
        Kind::PublicWildcard,
    ];

    /// What `crossgate audit` finds on an https target served by this kind: `(class id,
    /// severity)`, each pair once, in the audit's order (severity, then class). Without cookies
    /// (`-H Cookie`) and over https; over plain http, `insecure-origin` is never probed.
    pub(crate) fn expected(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Kind::ReflectAny => &[
                ("arbitrary-origin", "critical"),
                ("prefix-match", "critical"),
                ("suffix-match", "critical"),
                ("unescaped-dot", "critical"),
                ("substring-match", "critical"),
                ("null-origin", "critical"),
                ("third-party-hosting", "critical"),
                ("special-characters", "critical"),
                ("insecure-origin", "high"),
                ("any-subdomain", "high"),
            ],
            // `wwwxtarget.test` (the unescaped-dot probe) ends with `target.test` too, and the
            // scheme is never looked at.
            Kind::SuffixMatch => &[
                ("suffix-match", "critical"),
                ("unescaped-dot", "critical"),
                ("insecure-origin", "high"),
                ("any-subdomain", "high"),
            ],
            Kind::PrefixMatch => &[
                ("prefix-match", "critical"),
                ("special-characters", "critical"),
            ],
            // Unanchored: the prefix and special-character probes contain the pattern.
            Kind::UnescapedDot => &[
                ("prefix-match", "critical"),
                ("unescaped-dot", "critical"),
                ("special-characters", "critical"),
            ],
            // The scheme is never looked at.
            Kind::SubstringMatch => &[("substring-match", "critical"), ("insecure-origin", "high")],
            Kind::NullOrigin => &[("null-origin", "critical")],
            Kind::InsecureOrigin => &[("insecure-origin", "high")],
            // The suffix probe `crossgateevilwww.target.test` passes too, but it is on the
            // target's own site: it adds nothing to "any subdomain", and is not reported twice.
            Kind::AnySubdomain => &[("any-subdomain", "high")],
            Kind::ThirdPartyHosting => &[("third-party-hosting", "critical")],
            Kind::SpecialCharacters => &[("special-characters", "critical")],
            Kind::WildcardWithCredentials => &[("wildcard-with-credentials", "info")],
            Kind::WildcardPrivate => &[("wildcard-private", "high")],
            Kind::ReflectWithoutVary => &[
                ("arbitrary-origin", "critical"),
                ("prefix-match", "critical"),
                ("suffix-match", "critical"),
                ("unescaped-dot", "critical"),
                ("substring-match", "critical"),
                ("null-origin", "critical"),
                ("third-party-hosting", "critical"),
                ("special-characters", "critical"),
                ("insecure-origin", "high"),
                ("any-subdomain", "high"),
                ("missing-vary-origin", "medium"),
            ],
            // Without credentials, reflecting every origin on a public response is `*` by another
            // name: said, at info (with `-H Cookie` the answers count as private: high).
            Kind::ReflectWithoutCredentials => &[
                ("arbitrary-origin", "info"),
                ("prefix-match", "info"),
                ("suffix-match", "info"),
                ("unescaped-dot", "info"),
                ("substring-match", "info"),
                ("null-origin", "info"),
                ("third-party-hosting", "info"),
                ("special-characters", "info"),
            ],
            Kind::PreflightReflect => &[
                ("preflight-any-method", "low"),
                ("preflight-any-header", "low"),
                ("long-max-age", "info"),
            ],
            Kind::PreflightWildcard => &[
                ("preflight-any-method", "low"),
                ("preflight-any-header", "low"),
                ("authorization-under-wildcard", "info"),
                ("preflight-credentials-for-refused-origin", "info"),
            ],
            // No read finding: browsers refuse these answers.
            Kind::UpperCase | Kind::OtherPort | Kind::SeveralValues => &[],
            Kind::ExactList | Kind::CrossgatePolicy | Kind::PublicWildcard => &[],
        }
    }
}

/// Servers sharing one tokio runtime (two threads), plain HTTP or HTTPS with a certificate for
/// [`HOST`] made on the spot. Dropping the zoo stops its servers.
pub(crate) struct Zoo {
    runtime: tokio::runtime::Runtime,
    tls: Option<(tokio_rustls::TlsAcceptor, String)>,
}

impl Zoo {
    /// A zoo serving HTTPS (a self-signed certificate for [`HOST`]: pass [`Zoo::cert_pem`] to
    /// `--cacert`).
    pub(crate) fn https() -> Zoo {
        let tls = crate::servers::Tls::self_signed_for(HOST);
        Zoo {
            runtime: runtime(),
            tls: Some((tls.acceptor(), tls.cert_pem)),
        }
    }

    /// A zoo serving plain HTTP.
    pub(crate) fn http() -> Zoo {
        Zoo {
            runtime: runtime(),
            tls: None,
        }
    }

    /// The certificate to trust (PEM), for an HTTPS zoo.
    pub(crate) fn cert_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|(_, pem)| pem.as_str())
    }

    /// The URL audited on the server at `port`: `https://www.target.test:PORT/api/me`.
    pub(crate) fn url(&self, port: u16) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{HOST}:{port}{PATH}")
    }

    /// `--resolve`'s argument for the server at `port`: `www.target.test:PORT:127.0.0.1`.
    pub(crate) fn resolve(port: u16) -> String {
        format!("{HOST}:{port}:127.0.0.1")
    }

    /// Starts a server of `kind` on 127.0.0.1 and returns its port. It listens before this
    /// returns: a client can connect at once.
    pub(crate) fn spawn(&self, kind: Kind) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("a local address").port();
        listener.set_nonblocking(true).expect("non-blocking");
        let own = if self.tls.is_some() {
            format!("https://{HOST}:{port}")
        } else {
            format!("http://{HOST}:{port}")
        };
        let server = Arc::new(Server::new(kind, own, port));
        let acceptor = self.tls.as_ref().map(|(acceptor, _)| acceptor.clone());
        let _guard = self.runtime.enter();
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        self.runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let server = Arc::clone(&server);
                let service = move |request: Request<Incoming>| {
                    let response = server.answer(&request);
                    async move { Ok::<_, Infallible>(response) }
                };
                tokio::spawn(crate::servers::serve_connection(
                    stream,
                    acceptor.clone(),
                    service,
                ));
            }
        });
        port
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// One server: its kind, its own origin, and what it needs to decide.
struct Server {
    kind: Kind,
    /// `https://www.target.test:PORT`.
    own: String,
    port: u16,
    regex: regex::Regex,
    policy: Option<Policy>,
}

/// The parts of a request the servers look at.
struct Asked<'a> {
    origin: Option<&'a str>,
    preflight: bool,
    method: Option<&'a str>,
    headers: Option<&'a str>,
}

impl Server {
    fn new(kind: Kind, own: String, port: u16) -> Server {
        let policy = (kind == Kind::CrossgatePolicy).then(|| {
            let scheme = own.split_once("://").map_or("https", |(s, _)| s);
            // A plain-http zoo plays an http site: its own scheme, said in words.
            let insecure = scheme == "http";
            Policy::from_toml(&format!(
                r#"
                allow_origins = ["{own}", "{scheme}://*.app.target.test:{port}"]
                allow_methods = ["GET", "POST", "PUT"]
                allow_headers = ["content-type"]
                allow_credentials = true
                max_age = 600
                dangerously_allow_insecure_origins = {insecure}
                "#,
            ))
            .expect("the zoo's policy is valid")
        });
        Server {
            kind,
            own,
            port,
            // Unanchored, dots unescaped: the mistake itself.
            regex: regex::Regex::new("https://www.target.test").expect("a regex"),
            policy,
        }
    }

    fn answer(&self, request: &Request<Incoming>) -> Response<Full<Bytes>> {
        let text = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
        let asked = Asked {
            origin: text("origin"),
            preflight: request.method() == Method::OPTIONS
                && request
                    .headers()
                    .contains_key("access-control-request-method"),
            method: text("access-control-request-method"),
            headers: text("access-control-request-headers"),
        };
        let origin = asked.origin.unwrap_or_default();
        let mut r = Reply::new(&asked);
        if request.uri().path() == REDIRECT && !asked.preflight {
            // An outer layer trusts everyone and redirects to the real resource.
            r.trust(origin, true);
            *r.response.status_mut() = StatusCode::PERMANENT_REDIRECT;
            r.header("Location", PATH);
            return r.finish();
        }
        if let Some(policy) = &self.policy {
            return crossgate_policy(policy, request);
        }
        let host = hostname(origin);
        match self.kind {
            Kind::ReflectAny => r.trust(origin, true),
            Kind::PrefixMatch => r.trust(origin, origin.starts_with("https://www.target.test")),
            Kind::SuffixMatch => r.trust(origin, host.ends_with("target.test")),
            Kind::UnescapedDot => r.trust(origin, self.regex.is_match(origin)),
            Kind::SubstringMatch => {
                // Meant as a list; one string read from the environment.
                let allowed_hosts = "www.target.test app.target.test";
                r.trust(origin, !host.is_empty() && allowed_hosts.contains(host));
            }
            Kind::NullOrigin => r.trust(origin, origin == self.own || origin == "null"),
            Kind::InsecureOrigin => r.trust(origin, host == HOST),
            Kind::AnySubdomain => r.trust(
                origin,
                origin.starts_with("https://") && host.ends_with(".target.test"),
            ),
            Kind::ThirdPartyHosting => {
                r.trust(origin, origin == self.own || host.ends_with(".github.io"));
            }
            Kind::SpecialCharacters => {
                // "After the host comes the port or nothing": anything that cannot continue a
                // host name is taken as its end.
                let ok = origin
                    .strip_prefix("https://www.target.test")
                    .is_some_and(|rest| {
                        !rest.starts_with(|c: char| {
                            c.is_ascii_alphanumeric() || c == '.' || c == '-'
                        })
                    });
                r.trust(origin, ok);
            }
            Kind::WildcardWithCredentials => {
                r.header("Access-Control-Allow-Origin", "*");
                r.header("Access-Control-Allow-Credentials", "true");
            }
            Kind::WildcardPrivate => {
                r.header("Access-Control-Allow-Origin", "*");
                r.header("Cache-Control", "private");
            }
            Kind::ReflectWithoutVary => {
                r.vary = false;
                r.trust(origin, true);
            }
            Kind::ReflectWithoutCredentials => {
                if !origin.is_empty() {
                    r.header("Access-Control-Allow-Origin", origin);
                }
            }
            Kind::PreflightReflect => {
                r.trust(origin, origin == self.own);
                if asked.preflight {
                    r.header(
                        "Access-Control-Allow-Methods",
                        asked.method.unwrap_or_default(),
                    );
                    if let Some(headers) = asked.headers {
                        r.header("Access-Control-Allow-Headers", headers);
                    }
                    r.header("Access-Control-Max-Age", "31536000");
                }
            }
            Kind::PreflightWildcard => {
                r.trust(origin, origin == self.own);
                if asked.preflight {
                    r.header("Access-Control-Allow-Methods", "*");
                    r.header("Access-Control-Allow-Headers", "*");
                    if origin != self.own {
                        r.header("Access-Control-Allow-Credentials", "true");
                    }
                }
            }
            Kind::UpperCase => {
                let upper = origin.to_ascii_uppercase();
                r.trust(&upper, !origin.is_empty());
            }
            Kind::OtherPort => {
                let moved = format!(
                    "{}:8443",
                    origin
                        .rsplit_once(':')
                        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
                        .map_or(origin, |(rest, _)| rest)
                );
                r.trust(&moved, !origin.is_empty() && origin != "null");
            }
            Kind::SeveralValues => {
                // Two layers each add their own.
                r.trust(origin, !origin.is_empty());
                r.header("Access-Control-Allow-Origin", &self.own);
            }
            Kind::ExactList => {
                let app = format!("https://app.target.test:{}", self.port);
                r.trust(origin, origin == self.own || origin == app);
            }
            Kind::CrossgatePolicy => {}
            Kind::PublicWildcard => {
                r.header("Access-Control-Allow-Origin", "*");
                if asked.preflight {
                    r.header("Access-Control-Allow-Methods", "GET, POST");
                }
            }
        }
        r.finish()
    }
}

/// A response being built: a 204 for a preflight, else a user's profile.
struct Reply {
    preflight: bool,
    vary: bool,
    response: Response<Full<Bytes>>,
}

impl Reply {
    fn new(asked: &Asked<'_>) -> Reply {
        let response = if asked.preflight {
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::NO_CONTENT;
            r
        } else {
            let mut r = Response::new(Full::new(Bytes::from_static(
                br#"{"user":"alice","email":"alice@target.test"}"#,
            )));
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
            r
        };
        Reply {
            preflight: asked.preflight,
            vary: true,
            response,
        }
    }

    fn header(&mut self, name: &'static str, value: &str) {
        self.response
            .headers_mut()
            .append(name, HeaderValue::from_str(value).expect("a header value"));
    }

    /// What an application does once its origin check said `allowed`: reflect the origin with
    /// credentials; on a preflight, its fixed lists.
    fn trust(&mut self, origin: &str, allowed: bool) {
        if !allowed {
            return;
        }
        self.header("Access-Control-Allow-Origin", origin);
        self.header("Access-Control-Allow-Credentials", "true");
        if self.preflight {
            self.header("Access-Control-Allow-Methods", "GET, POST, PUT");
            self.header("Access-Control-Allow-Headers", "content-type");
            self.header("Access-Control-Max-Age", "600");
        }
    }

    fn finish(mut self) -> Response<Full<Bytes>> {
        // Real code adds Vary: Origin whatever the check said (when it does at all).
        if self.vary {
            self.header("Vary", "Origin");
        }
        self.response
    }
}

/// The host of an `Origin` as `new URL(origin).hostname` gives it; empty for `null` or
/// anything else without `://`.
fn hostname(origin: &str) -> &str {
    let Some((_, rest)) = origin.split_once("://") else {
        return "";
    };
    match rest.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => rest,
    }
}

fn crossgate_policy(policy: &Policy, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let decision = policy.decide(request.method(), request.headers());
    let mut response = match decision.action() {
        Action::Respond(status) => {
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = status;
            r
        }
        Action::Forward => Response::new(Full::new(Bytes::from_static(br#"{"user":"alice"}"#))),
    };
    decision.apply(response.headers_mut());
    response
}
