//! The compiled `allow_origins`: answers "is this `Origin` header allowed, and by what?" without
//! allocating, in one hash probe per label of the request's host, however many patterns there
//! are.

use std::collections::HashMap;

use http::{HeaderMap, HeaderValue};

use super::allow_origin::{OriginRule, PortRule};

/// foldhash (hashbrown's own default) rather than SipHash: a lookup hashes the request's origin,
/// every request, and SipHash was a fifth of `decide` for an exact origin. Flooding is not a
/// concern: the keys are the policy's, fixed when it is compiled; requests only look up.
type Hasher = foldhash::fast::RandomState;

/// Up to this many exact origins are compared one by one rather than hashed.
const FEW: usize = 8;

/// The compiled `allow_origins`: an exact set, and patterns indexed by host or domain, so that a
/// lookup costs one hash probe per label of the request's host, however many patterns there are.
#[derive(Debug, Default)]
pub(crate) struct OriginMatcher {
    any: bool,
    /// Exact origins → the precomputed `Access-Control-Allow-Origin` value.
    exact: HashMap<Box<[u8]>, HeaderValue, Hasher>,
    /// The same, when there are at most [`FEW`]: compared by length, then bytes, without
    /// hashing the request's origin (a policy lists a handful of origins, and every CORS request
    /// looks one up). Empty when `exact` is larger.
    few: Vec<FewOrigin>,
    /// Host (any-port patterns) or domain (subdomain patterns) → the patterns on it.
    patterns: HashMap<Box<str>, Vec<PatternTail>, Hasher>,
}

/// One of a handful of exact origins ([`FEW`]).
#[derive(Debug)]
struct FewOrigin {
    origin: Box<[u8]>,
    allow_origin: HeaderValue,
    preflight: Option<HeaderMap>,
}

#[derive(Debug)]
struct PatternTail {
    scheme: Box<str>,
    subdomains: bool,
    port: PortRule,
}

/// Where a match came from.
#[derive(Debug)]
pub(crate) enum Match<'a> {
    /// `*` in the policy.
    Any,
    /// An exact entry, with its precomputed header value and, for one of a handful, the whole
    /// answer to an allowed preflight from it.
    Exact(&'a HeaderValue, Option<&'a HeaderMap>),
    /// A pattern: the request's own value is reflected.
    Pattern,
}

impl OriginMatcher {
    pub(crate) fn new(rules: &[OriginRule]) -> OriginMatcher {
        let mut m = OriginMatcher::default();
        for rule in rules {
            match rule {
                OriginRule::Any => m.any = true,
                OriginRule::Exact { .. } => {
                    let origin = rule.to_string();
                    if let Some(v) = super::intern::header_value(&origin) {
                        m.exact.insert(origin.into_bytes().into(), v);
                    }
                }
                OriginRule::Subdomains {
                    scheme,
                    domain,
                    port,
                } => m.add_pattern(scheme, domain, true, *port),
                OriginRule::AnyPort { scheme, host } => {
                    m.add_pattern(scheme, host, false, PortRule::Any)
                }
            }
        }
        if m.exact.len() <= FEW {
            m.few = m
                .exact
                .iter()
                .map(|(k, v)| FewOrigin {
                    origin: k.clone(),
                    allow_origin: v.clone(),
                    preflight: None,
                })
                .collect();
        }
        m
    }

    fn add_pattern(&mut self, scheme: &str, host: &str, subdomains: bool, port: PortRule) {
        self.patterns
            .entry(host.into())
            .or_default()
            .push(PatternTail {
                scheme: scheme.into(),
                subdomains,
                port,
            });
    }

    /// Gives each of a handful of exact origins the whole answer to an allowed preflight from it:
    /// `answer` with its `Access-Control-Allow-Origin` (a clone per preflight, nothing to
    /// replace in it).
    pub(crate) fn set_preflight_answers(&mut self, answer: impl Fn(&HeaderValue) -> HeaderMap) {
        for f in &mut self.few {
            f.preflight = Some(answer(&f.allow_origin));
        }
    }

    /// Whether every origin is allowed.
    pub(crate) fn is_any(&self) -> bool {
        self.any
    }

    /// Finds the rule that allows `origin` (an `Origin` header value), without allocating.
    pub(crate) fn find(&self, origin: &[u8]) -> Option<Match<'_>> {
        if self.any {
            return Some(Match::Any);
        }
        let exact = if self.exact.len() <= FEW {
            self.few
                .iter()
                .find(|f| f.origin.len() == origin.len() && *f.origin == *origin)
                .map(|f| Match::Exact(&f.allow_origin, f.preflight.as_ref()))
        } else {
            self.exact.get(origin).map(|v| Match::Exact(v, None))
        };
        if exact.is_some() {
            return exact;
        }
        if self.patterns.is_empty() {
            return None;
        }
        let (scheme, host, port) = split_origin(origin)?;
        let port_ok = |rule: PortRule| match (rule, port) {
            (PortRule::Any, _) | (PortRule::Default, None) => true,
            (PortRule::Exact(n), Some(p)) => p == n,
            _ => false,
        };
        let fits = |tails: &Vec<PatternTail>, subdomains: bool| {
            tails.iter().any(|t| {
                t.subdomains == subdomains && t.scheme.as_bytes() == scheme && port_ok(t.port)
            })
        };
        if self.patterns.get(host).is_some_and(|t| fits(t, false)) {
            return Some(Match::Pattern);
        }
        // Every proper suffix of the host that starts after a dot: a.b.example.com → b.example.com,
        // example.com, com. Labels are non-empty (checked by `split_origin`).
        let mut rest = host;
        while let Some(dot) = rest.find('.') {
            rest = &rest[dot + 1..];
            if self.patterns.get(rest).is_some_and(|t| fits(t, true)) {
                return Some(Match::Pattern);
            }
        }
        None
    }
}

/// Splits an `Origin` header value as a browser serializes it into scheme, host and port, or
/// `None` if it is not one (patterns only ever match well-formed, lower-case origins).
fn split_origin(origin: &[u8]) -> Option<(&[u8], &str, Option<u16>)> {
    let sep = origin.windows(3).position(|w| w == b"://")?;
    let (scheme, rest) = (&origin[..sep], &origin[sep + 3..]);
    if !scheme.first()?.is_ascii_lowercase()
        || !scheme.iter().all(|&b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.')
        })
    {
        return None;
    }
    let rest = std::str::from_utf8(rest).ok()?;
    let (host, port) = if rest.starts_with('[') {
        let end = rest.find(']')?;
        match &rest[end + 1..] {
            "" => (&rest[..=end], None),
            p => (&rest[..=end], Some(p.strip_prefix(':')?)),
        }
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u16>().ok()?)
        }
        Some(_) => return None,
    };
    let host_ok = host.starts_with('[')
        || (!host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_')
                    })
            }));
    host_ok.then_some((scheme, host, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::allow_origin::{EntryContext, read_entry};

    fn matcher(rules: &[&str]) -> OriginMatcher {
        let cx = EntryContext {
            key: "k",
            credentials: false,
            insecure_ok: false,
        };
        let rules: Vec<OriginRule> = rules
            .iter()
            .map(|r| read_entry(r, &cx, &mut Vec::new()).unwrap())
            .collect();
        OriginMatcher::new(&rules)
    }

    #[test]
    fn matching() {
        let m = matcher(&[
            "https://app.example.com",
            "https://*.example.org",
            "http://localhost:*",
            "https://*.dev.example.net:8443",
            "http://[::1]:*",
        ]);
        let yes = [
            "https://app.example.com",
            "https://a.example.org",
            "https://a.b.example.org",
            "http://localhost",
            "http://localhost:5173",
            "https://x.dev.example.net:8443",
            "http://[::1]:3000",
            "http://[::1]",
        ];
        let no = [
            "https://example.org",
            "https://evilexample.org",
            "https://a.example.org.evil.com",
            "http://a.example.org",
            "https://a.example.org:8443",
            "https://app.example.com:8443",
            "http://app.example.com",
            "https://localhost:5173",
            "http://localhost:99999",
            "http://localhost:",
            "https://x.dev.example.net",
            "https://.example.org",
            "https://a..example.org",
            "https://A.example.org",
            "null",
            "",
        ];
        for o in yes {
            assert!(m.find(o.as_bytes()).is_some(), "{o} should match");
        }
        for o in no {
            assert!(m.find(o.as_bytes()).is_none(), "{o} should not match");
        }
        assert!(
            matches!(m.find(b"https://app.example.com"), Some(Match::Exact(v, _)) if v == "https://app.example.com")
        );
        assert!(matches!(
            m.find(b"https://z.example.org"),
            Some(Match::Pattern)
        ));
    }
}
