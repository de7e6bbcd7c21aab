//! Misconfiguration probes, and how to judge their answers: a finding counts only if
//! [`crate::browser`] says a page on the attacker's origin could read the response.
//!
//! [`plan`] builds the probes for a target URL: `Origin`s crafted to catch the classic mistakes
//! (reflection, prefix and suffix matches, unescaped dots, `null`, third-party hosting…) and a
//! preflight probe. The edge sends each through [`run_probe`] with a live [`Transport`] (adding
//! the user's cookies, which script could not set); [`judge`] grades what came back. String
//! matching is never enough: an upper-case `Access-Control-Allow-Origin` value, a different port
//! or several values are refused by browsers and are not findings.
//!
//! ```
//! use crossgate::audit::{plan, Class};
//!
//! let plan = plan("https://www.target.test/api/me")?;
//! let prefix = plan.probes.iter().find(|p| p.class == Class::PrefixMatch).unwrap();
//! assert_eq!(prefix.origin, "https://www.target.test.crossgate-evil.example");
//! # Ok::<(), crossgate::audit::AuditError>(())
//! ```

use std::fmt;
use std::time::Duration;

use url::{Host, Url};

use crate::browser::{
    self, Credentials, Outcome, PreflightCache, Profile, Request, Transport, TransportError,
    WireRequest, WireResponse,
};
use crate::origin::Origin;

/// The attacker's own registrable domain in probes (reserved: `.example` never resolves).
pub const ATTACKER_DOMAIN: &str = "crossgate-evil.example";

/// Hosting services where anyone can publish a page (and so script) under a shared domain. A
/// policy trusting one of them trusts every user of the service. The one list; probes take a
/// made-up subdomain of each wildcard entry.
pub const THIRD_PARTY_HOSTS: [&str; 16] = [
    "*.github.io",
    "*.gitlab.io",
    "*.herokuapp.com",
    "*.netlify.app",
    "*.vercel.app",
    "*.pages.dev",
    "*.web.app",
    "*.firebaseapp.com",
    "*.glitch.me",
    "*.surge.sh",
    "*.onrender.com",
    "*.azurewebsites.net",
    "*.ngrok.io",
    "codepen.io",
    "cdpn.io",
    "jsfiddle.net",
];

/// Characters a lax origin check may accept between the target's host and an attacker's domain
/// (`https://www.target.com_.evil.example`): each one Chromium 156's URL parser keeps in a host as
/// is, so a page there sends it in `Origin` (checked with `new URL()` in headless Chromium; `*`
/// is percent-encoded there, so it is not probed).
pub const SPECIAL_CHARACTERS: [char; 17] = [
    '_', '-', '~', '$', '=', '!', '\'', '(', ')', '+', ',', ';', '&', '`', '"', '{', '}',
];

/// What kind of mistake a probe looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Class {
    /// Any origin is reflected.
    ArbitraryOrigin,
    /// The target's host followed by an attacker's domain is trusted (`startsWith`).
    PrefixMatch,
    /// An attacker's label glued before the registrable domain or host is trusted (`endsWith`).
    SuffixMatch,
    /// A dot of the host replaced by a letter is trusted (a regex with an unescaped dot).
    UnescapedDot,
    /// The registrable domain missing its first character is trusted (`includes`, substring).
    SubstringMatch,
    /// `Origin: null` is trusted (sandboxed iframes, `data:` pages).
    NullOrigin,
    /// An https target trusts its own `http://` origin.
    InsecureOrigin,
    /// Any subdomain is trusted.
    AnySubdomain,
    /// A third-party hosting domain is trusted.
    ThirdPartyHosting,
    /// A lax parser accepts special characters between the host and an attacker's domain.
    SpecialCharacters,
    /// `Access-Control-Allow-Origin: *` together with `Access-Control-Allow-Credentials: true`.
    WildcardWithCredentials,
    /// `*` on a response that looks private.
    WildcardPrivate,
    /// A dynamic `Access-Control-Allow-Origin` without `Vary: Origin` (cache poisoning).
    MissingVary,
    /// The preflight allows any method (reflected or `*`).
    PreflightAnyMethod,
    /// The preflight allows any request header (reflected or `*`).
    PreflightAnyHeader,
    /// `Authorization` allowed by `Access-Control-Allow-Headers: *`.
    AuthorizationUnderWildcard,
    /// `Access-Control-Allow-Credentials: true` on a preflight answered for a refused origin.
    PreflightCredentialsForRefusedOrigin,
    /// An `Access-Control-Max-Age` beyond what browsers keep.
    LongMaxAge,
}

impl Class {
    /// A stable kebab-case id (for `--json`, SARIF rule ids).
    pub fn id(self) -> &'static str {
        match self {
            Class::ArbitraryOrigin => "arbitrary-origin",
            Class::PrefixMatch => "prefix-match",
            Class::SuffixMatch => "suffix-match",
            Class::UnescapedDot => "unescaped-dot",
            Class::SubstringMatch => "substring-match",
            Class::NullOrigin => "null-origin",
            Class::InsecureOrigin => "insecure-origin",
            Class::AnySubdomain => "any-subdomain",
            Class::ThirdPartyHosting => "third-party-hosting",
            Class::SpecialCharacters => "special-characters",
            Class::WildcardWithCredentials => "wildcard-with-credentials",
            Class::WildcardPrivate => "wildcard-private",
            Class::MissingVary => "missing-vary-origin",
            Class::PreflightAnyMethod => "preflight-any-method",
            Class::PreflightAnyHeader => "preflight-any-header",
            Class::AuthorizationUnderWildcard => "authorization-under-wildcard",
            Class::PreflightCredentialsForRefusedOrigin => {
                "preflight-credentials-for-refused-origin"
            }
            Class::LongMaxAge => "long-max-age",
        }
    }

    /// A short title.
    pub fn title(self) -> &'static str {
        match self {
            Class::ArbitraryOrigin => "any origin is trusted (reflected)",
            Class::PrefixMatch => "origins that start with the target's host are trusted",
            Class::SuffixMatch => "origins that end with the target's domain are trusted",
            Class::UnescapedDot => "a dot in the origin check matches any character",
            Class::SubstringMatch => "origins that contain part of the target's domain are trusted",
            Class::NullOrigin => "the null origin is trusted",
            Class::InsecureOrigin => "the plain-http origin of an https site is trusted",
            Class::AnySubdomain => "every subdomain is trusted",
            Class::ThirdPartyHosting => "a third-party hosting domain is trusted",
            Class::SpecialCharacters => "special characters after the host are accepted",
            Class::WildcardWithCredentials => "`*` is sent with credentials allowed",
            Class::WildcardPrivate => "`*` on a response that looks private",
            Class::MissingVary => "a dynamic Access-Control-Allow-Origin without Vary: Origin",
            Class::PreflightAnyMethod => "preflights allow any method",
            Class::PreflightAnyHeader => "preflights allow any request header",
            Class::AuthorizationUnderWildcard => "Authorization is allowed only through `*`",
            Class::PreflightCredentialsForRefusedOrigin => {
                "preflights allow credentials for refused origins"
            }
            Class::LongMaxAge => "Access-Control-Max-Age beyond what browsers keep",
        }
    }

    /// Every class, in the order of [`Class`].
    pub const ALL: [Class; 18] = [
        Class::ArbitraryOrigin,
        Class::PrefixMatch,
        Class::SuffixMatch,
        Class::UnescapedDot,
        Class::SubstringMatch,
        Class::NullOrigin,
        Class::InsecureOrigin,
        Class::AnySubdomain,
        Class::ThirdPartyHosting,
        Class::SpecialCharacters,
        Class::WildcardWithCredentials,
        Class::WildcardPrivate,
        Class::MissingVary,
        Class::PreflightAnyMethod,
        Class::PreflightAnyHeader,
        Class::AuthorizationUnderWildcard,
        Class::PreflightCredentialsForRefusedOrigin,
        Class::LongMaxAge,
    ];

    /// Whether findings of this class are reads a browser allows (a page on the probe's origin
    /// reads the response), as opposed to configuration findings.
    pub fn is_read(self) -> bool {
        matches!(
            self,
            Class::ArbitraryOrigin
                | Class::PrefixMatch
                | Class::SuffixMatch
                | Class::UnescapedDot
                | Class::SubstringMatch
                | Class::NullOrigin
                | Class::InsecureOrigin
                | Class::AnySubdomain
                | Class::ThirdPartyHosting
                | Class::SpecialCharacters
                | Class::WildcardPrivate
        )
    }
}

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Worth knowing; not exploitable by itself.
    Info,
    /// A weakness that needs more to exploit, or exposes little.
    Low,
    /// Exploitable in some setups (shared caches…).
    Medium,
    /// An uncredentialed read of something that looks private, or a credentialed read that needs
    /// a subdomain or a network position.
    High,
    /// A credentialed read from an origin an attacker can own.
    Critical,
}

impl Severity {
    /// `info`, `low`, `medium`, `high` or `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Every severity, most severe first.
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    /// Parses [`Severity::as_str`]'s names.
    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a target cannot be audited: each kind with the offending value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuditError {
    /// The target is not a URL.
    NotAUrl {
        /// The target as given.
        target: String,
        /// Why the URL parser refused it.
        reason: url::ParseError,
    },
    /// The target's scheme is neither http nor https.
    UnsupportedScheme {
        /// The target as given.
        target: String,
    },
    /// The target has no host (a URL such as `http:/path` parsed without one).
    NoHost {
        /// The target as given.
        target: String,
    },
}

impl fmt::Display for AuditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditError::NotAUrl { target, reason } => {
                write!(f, "{target:?} is not a URL: {reason}")
            }
            AuditError::UnsupportedScheme { target } => {
                write!(f, "{target:?}: only http and https URLs can be audited")
            }
            AuditError::NoHost { target } => write!(f, "{target:?} has no host"),
        }
    }
}

impl std::error::Error for AuditError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AuditError::NotAUrl { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

/// One probe: an `Origin` to try and what it stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// What it looks for.
    pub class: Class,
    /// The `Origin` sent.
    pub origin: String,
    /// Whether it is a preflight probe (OPTIONS with an unusual method and header).
    pub preflight: bool,
}

/// The method and header a preflight probe asks for: nobody allows these on purpose.
pub const PROBE_METHOD: &str = "CROSSGATE";
/// See [`PROBE_METHOD`].
pub const PROBE_HEADER: &str = "x-crossgate-probe";

/// The target and its probes.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The target URL.
    pub url: Url,
    /// The target's own origin.
    pub origin: String,
    /// Every probe: the target's own origin first.
    pub probes: Vec<Probe>,
    /// The target's registrable domain (or host, for an IP address or a bare name).
    pub site: String,
}

/// Builds the probes for a target (http or https URL).
pub fn plan(target: &str) -> Result<Plan, AuditError> {
    let url = Url::parse(target).map_err(|reason| AuditError::NotAUrl {
        target: target.to_owned(),
        reason,
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(AuditError::UnsupportedScheme {
            target: target.to_owned(),
        });
    }
    let origin = Origin::of_url(&url).to_string();
    let scheme = url.scheme().to_owned();
    let host = match url.host() {
        Some(Host::Domain(d)) => d.to_owned(),
        Some(h) => h.to_string(),
        None => {
            return Err(AuditError::NoHost {
                target: target.to_owned(),
            });
        }
    };
    let is_domain = matches!(url.host(), Some(Host::Domain(_)));
    let domain = if is_domain {
        psl::domain_str(&host).unwrap_or(&host).to_owned()
    } else {
        host.clone()
    };
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let at = |h: &str| format!("{scheme}://{h}{port}");
    let mut probes: Vec<Probe> = Vec::new();
    let mut add = |class: Class, origin: String| {
        // Only an Origin a browser can send: what the URL parser serializes to itself.
        let sendable = origin == "null" || Origin::from_header(origin.as_bytes()).is_ok();
        if sendable && !probes.iter().any(|p| p.origin == origin && !p.preflight) {
            probes.push(Probe {
                class,
                origin,
                preflight: false,
            });
        }
    };
    // The target's own origin first: its answer tells whether Access-Control-Allow-Origin
    // depends on the request (and so needs `Vary: Origin`) even when no attacker origin passes.
    add(Class::MissingVary, origin.clone());
    add(
        Class::ArbitraryOrigin,
        format!("{scheme}://{}", ATTACKER_DOMAIN),
    );
    if is_domain {
        add(
            Class::PrefixMatch,
            format!("{scheme}://{host}.{ATTACKER_DOMAIN}"),
        );
        add(Class::SuffixMatch, at(&format!("crossgateevil{domain}")));
        if host != domain {
            add(Class::SuffixMatch, at(&format!("crossgateevil{host}")));
        }
        for dot in [host.find('.'), host.rfind('.')].into_iter().flatten() {
            let mut replaced = host.clone();
            replaced.replace_range(dot..=dot, "x");
            add(Class::UnescapedDot, at(&replaced));
        }
        if domain.len() > 1 {
            add(Class::SubstringMatch, at(&domain[1..]));
        }
        add(Class::AnySubdomain, at(&format!("crossgate-probe.{host}")));
        for c in SPECIAL_CHARACTERS {
            add(
                Class::SpecialCharacters,
                format!("{scheme}://{host}{c}.{ATTACKER_DOMAIN}"),
            );
        }
    }
    add(Class::NullOrigin, "null".to_owned());
    if scheme == "https" {
        let http_port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        add(Class::InsecureOrigin, format!("http://{host}{http_port}"));
    }
    for hosting in THIRD_PARTY_HOSTS {
        let h = hosting.replacen('*', "crossgate-probe", 1);
        add(Class::ThirdPartyHosting, format!("https://{h}"));
    }
    probes.push(Probe {
        class: Class::PreflightAnyMethod,
        origin: format!("{scheme}://{}", ATTACKER_DOMAIN),
        preflight: true,
    });
    Ok(Plan {
        url,
        origin,
        probes,
        site: domain,
    })
}

/// What one probe brought back: the browser's verdicts with and without credentials.
#[derive(Clone, Debug)]
pub struct ProbeResult {
    /// The probe.
    pub probe: Probe,
    /// The answer to the probe (the first response: the preflight's for a preflight probe).
    pub response: WireResponse,
    /// The browser's outcome for `credentials: "include"`.
    pub credentialed: Outcome,
    /// The browser's outcome for `credentials: "omit"`, on the same answers.
    pub plain: Outcome,
}

/// Sends a probe through `transport` as a page on the probe's origin would (`fetch(url,
/// {credentials: "include"})`, or a PUT-like request with an unusual method and header for a
/// preflight probe), and replays the same answers for `credentials: "omit"`.
pub fn run_probe(
    plan: &Plan,
    probe: &Probe,
    transport: &mut dyn Transport,
) -> Result<ProbeResult, TransportError> {
    if probe.origin == plan.origin {
        // A page's own GET carries no Origin, so no browser sends this one: it is sent as is, to
        // see whether the answer depends on Origin (and so needs `Vary: Origin`).
        let request = WireRequest {
            method: "GET".to_owned(),
            url: plan.url.to_string(),
            headers: vec![("Origin".to_owned(), probe.origin.clone())],
            body: None,
            preflight: false,
        };
        let response = transport.send(&request)?;
        let outcome = Outcome {
            result: Ok(response.status),
            exchanges: vec![browser::Exchange {
                request,
                response: response.clone(),
            }],
            readable_headers: Vec::new(),
            checks: Vec::new(),
        };
        return Ok(ProbeResult {
            probe: probe.clone(),
            response,
            credentialed: outcome.clone(),
            plain: outcome,
        });
    }
    let request = Request {
        origin: probe.origin.clone(),
        url: plan.url.to_string(),
        method: if probe.preflight {
            PROBE_METHOD.to_owned()
        } else {
            "GET".to_owned()
        },
        headers: if probe.preflight {
            vec![(PROBE_HEADER.to_owned(), "1".to_owned())]
        } else {
            Vec::new()
        },
        credentials: Credentials::Include,
        body: None,
    };
    let mut recorder = Recorder {
        inner: transport,
        seen: Vec::new(),
        error: None,
    };
    let credentialed = fetch(&request, &mut recorder)?;
    if let Some(e) = recorder.error {
        return Err(e);
    }
    let seen = recorder.seen;
    let response = seen.first().map(|(_, r)| r.clone()).unwrap_or_default();
    let mut replay = Replay { seen: seen.clone() };
    let plain = fetch(
        &Request {
            credentials: Credentials::Omit,
            ..request
        },
        &mut replay,
    )?;
    Ok(ProbeResult {
        probe: probe.clone(),
        response,
        credentialed,
        plain,
    })
}

fn fetch(request: &Request, transport: &mut dyn Transport) -> Result<Outcome, TransportError> {
    browser::fetch(
        request,
        Profile::Chromium,
        transport,
        &mut PreflightCache::new(),
        Duration::ZERO,
    )
    .map_err(|e| TransportError {
        kind: browser::TransportErrorKind::Other,
        detail: e.to_string(),
    })
}

struct Recorder<'a> {
    inner: &'a mut dyn Transport,
    seen: Vec<(WireRequest, WireResponse)>,
    error: Option<TransportError>,
}

impl Transport for Recorder<'_> {
    fn send(&mut self, request: &WireRequest) -> Result<WireResponse, TransportError> {
        match self.inner.send(request) {
            Ok(r) => {
                self.seen.push((request.clone(), r.clone()));
                Ok(r)
            }
            Err(e) => {
                self.error = Some(e.clone());
                Err(e)
            }
        }
    }
}

/// Answers from recorded exchanges (same method and URL), so that the credential-less verdict
/// costs no second request.
struct Replay {
    seen: Vec<(WireRequest, WireResponse)>,
}

impl Transport for Replay {
    fn send(&mut self, request: &WireRequest) -> Result<WireResponse, TransportError> {
        let found = self.seen.iter().position(|(r, _)| {
            r.method == request.method && r.url == request.url && r.preflight == request.preflight
        });
        match found {
            Some(i) => Ok(self.seen.remove(i).1),
            None => Ok(WireResponse {
                status: 599,
                headers: Vec::new(),
            }),
        }
    }
}

/// A finding: what, how bad, the evidence and the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The class of mistake.
    pub class: Class,
    /// How bad.
    pub severity: Severity,
    /// The `Origin` sent.
    pub origin: String,
    /// Whether the read works with the user's cookies (`credentials: "include"`); false for a
    /// read that works only without them, and for configuration findings.
    pub credentialed: bool,
    /// The response headers that matter (`Access-Control-*`, `Vary`).
    pub evidence: Vec<(String, String)>,
    /// Why a browser allows the read (or what the configuration gets wrong).
    pub why: String,
    /// How to fix it.
    pub fix: String,
}

/// What the auditor knows beyond the answers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Context {
    /// The user sent credentials with the probes (`-H 'Cookie: …'`, `Authorization`): the
    /// answers are a logged-in user's.
    pub sent_credentials: bool,
}

/// Whether a response looks private: it was answered to a logged-in request, or it says so
/// itself (`Cache-Control: private` or `no-store`, `Set-Cookie`, `Vary: Cookie`/`Authorization`,
/// `WWW-Authenticate`).
pub fn looks_private(response: &WireResponse, context: Context) -> bool {
    let has = |name: &str, token: &str| {
        response.header(name).is_some_and(|v| {
            v.to_ascii_lowercase()
                .split(',')
                .any(|t| t.trim().starts_with(token))
        })
    };
    context.sent_credentials
        || has("cache-control", "private")
        || has("cache-control", "no-store")
        || has("vary", "cookie")
        || has("vary", "authorization")
        || response.header("set-cookie").is_some()
        || response.header("www-authenticate").is_some()
}

fn evidence(response: &WireResponse) -> Vec<(String, String)> {
    response
        .headers
        .iter()
        .filter(|(n, _)| {
            let n = n.to_ascii_lowercase();
            n.starts_with("access-control-") || n == "vary"
        })
        .cloned()
        .collect()
}

/// Grades every probe's answers. Read findings come from the browser's verdicts; configuration
/// findings (`*` with credentials, missing `Vary`, preflight laxness) from the headers, each
/// checked the way a browser parses them.
pub fn judge(plan: &Plan, results: &[ProbeResult], context: Context) -> Vec<Finding> {
    let mut findings = Vec::new();
    let allow_origin = |r: &ProbeResult| r.response.header("access-control-allow-origin");
    let reads: Vec<&ProbeResult> = results
        .iter()
        .filter(|r| !r.probe.preflight && r.probe.class.is_read())
        .collect();
    let subdomain_trusted = reads
        .iter()
        .any(|r| r.probe.class == Class::AnySubdomain && r.credentialed.is_allowed());
    for r in &reads {
        let class = r.probe.class;
        let private = looks_private(&r.response, context);
        // An origin on another site (or `null`) an attacker can own outright; one on the
        // target's own site needs a subdomain takeover or an XSS there, or the network (http).
        let owned = attacker_can_own(&r.probe.origin, &plan.site);
        let severity = if r.credentialed.is_allowed() {
            if owned {
                Severity::Critical
            } else {
                Severity::High
            }
        } else if r.plain.is_allowed() && private {
            // Without credentials only what the server gives anyone is read: serious only if it
            // looks private.
            if owned { Severity::High } else { Severity::Low }
        } else if r.plain.is_allowed() && owned {
            // Public data any site may read: `*` by another name. Said, but below every
            // default threshold: fine for a public API, a leak if the answer depends on where
            // the request comes from (an intranet, an IP allowlist).
            Severity::Info
        } else {
            continue;
        };
        // `*` answers every origin alike: one wildcard finding, not one per probe.
        if allow_origin(r).as_deref() == Some("*") {
            continue;
        }
        // `evilwww.target.com` passing says nothing more than "any subdomain" already does.
        if class == Class::SuffixMatch && !owned && subdomain_trusted {
            continue;
        }
        let credentialed = r.credentialed.is_allowed();
        let mode = if credentialed {
            "with the user's cookies"
        } else {
            "without credentials"
        };
        findings.push(Finding {
            class,
            severity,
            origin: r.probe.origin.clone(),
            credentialed,
            evidence: evidence(&r.response),
            why: format!(
                "a page on {} can read this response {mode}: the browser's CORS check passes ({}){}",
                r.probe.origin,
                class.title(),
                if r.probe.origin == "null" {
                    "; any site can send Origin: null from a sandboxed iframe"
                } else if class == Class::InsecureOrigin {
                    "; exploiting it needs a network attacker who can inject script into the http page"
                } else if !owned {
                    "; exploiting it needs script on a subdomain (an XSS or a subdomain takeover)"
                } else {
                    ""
                }
            ),
            fix: fix_for(class, &plan.origin),
        });
    }
    // `*` with credentials allowed, and `*` on something that looks private.
    if let Some(r) = results
        .iter()
        .find(|r| !r.probe.preflight && allow_origin(r).as_deref() == Some("*"))
    {
        if r.response
            .header("access-control-allow-credentials")
            .as_deref()
            == Some("true")
        {
            findings.push(Finding {
                class: Class::WildcardWithCredentials,
                severity: Severity::Info,
                origin: r.probe.origin.clone(),
                credentialed: false,
                evidence: evidence(&r.response),
                why: "browsers refuse `*` with credentials, so credentialed reads fail; the configuration shows the intent \
                      to share user data with every site, one step from reflecting the origin"
                    .to_owned(),
                fix: "send the exact allowed origin with `Access-Control-Allow-Credentials: true`, or drop credentials".to_owned(),
            });
        }
        if r.plain.is_allowed() && looks_private(&r.response, context) {
            findings.push(Finding {
                class: Class::WildcardPrivate,
                severity: Severity::High,
                origin: r.probe.origin.clone(),
                credentialed: false,
                evidence: evidence(&r.response),
                why: "every site can read this response without credentials, and it looks private (answered to a \
                      logged-in request, or marked private / setting cookies); data guarded by network position \
                      (an intranet) or by the request's IP leaks too"
                    .to_owned(),
                fix: "do not send `*` on private responses; list the origins allowed".to_owned(),
            });
        }
    }
    // A dynamic Access-Control-Allow-Origin must vary on Origin: dynamic when it is not the
    // same (present or not) for every Origin probed.
    let answers: Vec<Option<String>> = results
        .iter()
        .filter(|r| !r.probe.preflight)
        .map(allow_origin)
        .collect();
    let dynamic = answers.windows(2).any(|w| w[0] != w[1]);
    if dynamic {
        let unvaried = results.iter().filter(|r| !r.probe.preflight).find(|r| {
            allow_origin(r).is_some_and(|v| v != "*")
                && !r.response.header("vary").is_some_and(|v| {
                    v.split(',')
                        .any(|t| matches!(t.trim().to_ascii_lowercase().as_str(), "origin" | "*"))
                })
        });
        if let Some(r) = unvaried {
            findings.push(Finding {
                class: Class::MissingVary,
                severity: Severity::Medium,
                origin: r.probe.origin.clone(),
                credentialed: false,
                evidence: evidence(&r.response),
                why: "Access-Control-Allow-Origin depends on the request's Origin but the response does not say `Vary: \
                      Origin`: a shared cache can serve one origin's answer to another (blocking the real site, or \
                      opening it to the wrong one)"
                    .to_owned(),
                fix: "add `Vary: Origin` to every response whose CORS headers depend on Origin (crossgate does)".to_owned(),
            });
        }
    }
    for r in results.iter().filter(|r| r.probe.preflight) {
        findings.extend(judge_preflight(r));
    }
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.class.cmp(&b.class)));
    findings
}

/// The preflight probe: an attacker's origin asks for an unusual method and header.
fn judge_preflight(r: &ProbeResult) -> Vec<Finding> {
    let mut findings = Vec::new();
    let response = &r.response;
    let lower = |v: Option<String>| v.map(|v| v.to_ascii_lowercase());
    let methods = response.header("access-control-allow-methods");
    let headers = lower(response.header("access-control-allow-headers"));
    let list = |v: &Option<String>| -> Vec<String> {
        v.as_deref()
            .unwrap_or_default()
            .split(',')
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect()
    };
    // Refused by the server only when it sent no Access-Control-Allow-Origin at all: a mangled
    // one (upper case, another port) is the browser refusing what the server meant to allow.
    let refused_by_server = response.header("access-control-allow-origin").is_none();
    let ev = evidence(response);
    let f = |class: Class, severity: Severity, why: String, fix: &str| Finding {
        class,
        severity,
        origin: r.probe.origin.clone(),
        credentialed: false,
        evidence: ev.clone(),
        why,
        fix: fix.to_owned(),
    };
    if list(&methods).iter().any(|m| m == PROBE_METHOD || m == "*") {
        findings.push(f(
            Class::PreflightAnyMethod,
            Severity::Low,
            format!("the preflight allows the made-up method {PROBE_METHOD} (reflected or `*`): every method the server implements is open to the origins it trusts"),
            "list the methods the API really offers in Access-Control-Allow-Methods",
        ));
    }
    let allowed_headers = list(&headers);
    if allowed_headers
        .iter()
        .any(|h| h == PROBE_HEADER || h == "*")
    {
        findings.push(f(
            Class::PreflightAnyHeader,
            Severity::Low,
            format!("the preflight allows the made-up header {PROBE_HEADER} (reflected or `*`)"),
            "list the request headers the API reads in Access-Control-Allow-Headers",
        ));
    }
    if allowed_headers.iter().any(|h| h == "*")
        && !allowed_headers.iter().any(|h| h == "authorization")
    {
        findings.push(f(
            Class::AuthorizationUnderWildcard,
            Severity::Info,
            "Authorization is allowed only by `Access-Control-Allow-Headers: *`: Chromium still lets `*` cover it, the \
             standard and other browsers do not, and Chromium is removing it"
                .to_owned(),
            "list `authorization` by name if clients send it",
        ));
    }
    if !r.credentialed.is_allowed()
        && refused_by_server
        && response
            .header("access-control-allow-credentials")
            .as_deref()
            == Some("true")
    {
        findings.push(f(
            Class::PreflightCredentialsForRefusedOrigin,
            Severity::Info,
            "the preflight from a refused origin still says `Access-Control-Allow-Credentials: true`: harmless by itself, \
             but the CORS headers are not computed from the origin check"
                .to_owned(),
            "send no CORS headers at all to refused origins",
        ));
    }
    if let Some(age) = response
        .header("access-control-max-age")
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        if age > 86_400 {
            findings.push(f(
                Class::LongMaxAge,
                Severity::Info,
                format!("Access-Control-Max-Age is {age} s: browsers keep a preflight at most 7,200 s (Chromium) or 86,400 s (Firefox), so the rest is ignored, and a mistake in the answer would be cached that long"),
                "use 7200 or less",
            ));
        }
    }
    findings
}

/// Whether an attacker can own `origin` outright: `null` (any page can sandbox itself), or a
/// host on another site than the target's (`site`, its registrable domain).
fn attacker_can_own(origin: &str, site: &str) -> bool {
    if origin == "null" {
        return true;
    }
    let Ok(Origin::Tuple(t)) = Origin::from_header(origin.as_bytes()) else {
        return true;
    };
    let host = t.host().to_string();
    let theirs = psl::domain_str(&host).unwrap_or(&host);
    theirs != site
}

fn fix_for(class: Class, own: &str) -> String {
    let base = format!(
        "compare the Origin against an exact list of allowed origins (e.g. {own}), or against subdomain patterns matched on \
         label boundaries; never with startsWith, endsWith, includes or an unanchored regex"
    );
    match class {
        Class::NullOrigin => "never allow `null`: sandboxed iframes and data: pages of any site send it".to_owned(),
        Class::InsecureOrigin => format!("allow only https origins (here {own}) when credentials are allowed"),
        Class::AnySubdomain => "allow only the subdomains that need access; a subdomain with user content or a dangling DNS record becomes a way in".to_owned(),
        Class::ThirdPartyHosting => "never trust a shared hosting domain: anyone can publish a page there".to_owned(),
        Class::UnescapedDot => format!("{base} (escape dots in regexes: `\\.`, and anchor them)"),
        _ => base,
    }
}

/// A minimal attacker page that demonstrates a read finding: host it on the finding's origin
/// (for `null`, anywhere: it runs in a sandboxed iframe).
pub fn poc_html(url: &str, finding: &Finding) -> String {
    let credentials = if finding.credentialed {
        "include"
    } else {
        "omit"
    };
    // A JavaScript string literal that cannot close the script element.
    let literal = format!("{url:?}").replace("</", "<\\/");
    let script = format!(
        "fetch({literal}, {{credentials: {credentials:?}}})\n  .then(r => r.text())\n  .then(t => {{ document.getElementById('out').textContent = t; }})\n  .catch(e => {{ document.getElementById('out').textContent = 'blocked: ' + e; }});"
    );
    let body = if finding.origin == "null" {
        let inner = format!("<pre id=out></pre><script>{script}</script>")
            .replace('&', "&amp;")
            .replace('"', "&quot;");
        format!(
            "<iframe sandbox=\"allow-scripts\" srcdoc=\"{inner}\" width=800 height=400></iframe>"
        )
    } else {
        format!("<pre id=out></pre>\n<script>\n{script}\n</script>")
    };
    format!(
        "<!doctype html>\n<!-- crossgate audit proof of concept: {id} ({severity}).\n     Serve this page from {origin} and open it in a browser {who}.\n     It reads {url} and shows what it got. -->\n<meta charset=utf-8>\n<title>crossgate PoC: {id}</title>\n{body}\n",
        id = finding.class.id(),
        severity = finding.severity,
        origin = finding.origin,
        who = if credentials == "include" {
            "where you are logged in to the target"
        } else {
            ""
        },
    )
}

#[cfg(test)]
mod tests;
