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

mod judge;
mod plan;
mod poc;

use std::fmt;
use std::time::Duration;

use crate::browser::{
    self, Credentials, Outcome, PreflightCache, Profile, Request, Transport, TransportError,
    WireRequest, WireResponse,
};

pub use judge::{Context, Finding, judge, looks_private};
pub use plan::{
    PROBE_HEADER, PROBE_METHOD, Plan, Probe, SPECIAL_CHARACTERS, THIRD_PARTY_HOSTS, plan,
};
pub use poc::poc_html;

/// The attacker's own registrable domain in probes (reserved: `.example` never resolves).
pub const ATTACKER_DOMAIN: &str = "crossgate-evil.example";

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

#[cfg(test)]
mod tests;
