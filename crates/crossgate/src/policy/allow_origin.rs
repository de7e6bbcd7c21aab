//! `allow_origins`: the one reader of its grammar. Each entry is read and checked (exact
//! origin, subdomain pattern, any-port pattern, `*`) into an [`OriginRule`], which
//! [`super::origin_matcher`] compiles and `export` and `conformance` read.

use std::collections::HashSet;

use url::Host;

use super::error::{Problem, ProblemKind};
use crate::origin::default_port;

/// One entry of `allow_origins`, read and validated: what [`Policy::origin_rules`] lists, in the
/// policy's order, each once. Its `Display` is the entry as the policy spells it, which
/// validation requires to be canonical (what a browser sends in `Origin`, or a pattern over it).
///
/// ```
/// use crossgate::Policy;
/// use crossgate::policy::{OriginRule, PortRule};
///
/// let policy = Policy::from_toml(r#"
///     allow_origins = ["https://app.example.com", "https://*.example.org", "http://localhost:*"]
/// "#)?;
/// let rules = policy.origin_rules();
/// assert!(matches!(&rules[1], OriginRule::Subdomains { domain, port: PortRule::Default, .. } if domain == "example.org"));
/// assert_eq!(rules[2].to_string(), "http://localhost:*");
/// # Ok::<(), crossgate::policy::PolicyErrors>(())
/// ```
///
/// [`Policy::origin_rules`]: super::Policy::origin_rules
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OriginRule {
    /// An exact origin (`https://app.example.com`, `http://[::1]:3000`): only itself.
    Exact {
        /// The scheme, lower case.
        scheme: String,
        /// The host as browsers serialize it: lower case, IDNA-encoded, an IPv6 address in
        /// brackets.
        host: String,
        /// The port; `None` for the scheme's default (or none).
        port: Option<u16>,
    },
    /// A subdomain pattern, `scheme://*.domain[:port]`: any host with one or more labels before
    /// `domain`, never `domain` itself.
    Subdomains {
        /// The scheme, lower case.
        scheme: String,
        /// The domain under which every host matches, lower case, without the `*.`.
        domain: String,
        /// The port the pattern allows.
        port: PortRule,
    },
    /// An any-port pattern, `scheme://host:*`: `host` on any port, or on none.
    AnyPort {
        /// The scheme, lower case.
        scheme: String,
        /// The host, as in [`OriginRule::Exact`].
        host: String,
    },
    /// `*`: every origin.
    Any,
}

/// The port part of a subdomain pattern ([`OriginRule::Subdomains`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PortRule {
    /// No port in the origin: the scheme's default.
    Default,
    /// Exactly this port.
    Exact(u16),
    /// Any port, or none (`:*`).
    Any,
}

impl OriginRule {
    /// The scheme and the host (the domain of a subdomain pattern); `None` for `*`.
    pub fn scheme_host(&self) -> Option<(&str, &str)> {
        match self {
            OriginRule::Exact { scheme, host, .. }
            | OriginRule::AnyPort { scheme, host }
            | OriginRule::Subdomains {
                scheme,
                domain: host,
                ..
            } => Some((scheme, host)),
            OriginRule::Any => None,
        }
    }

    /// The shape of an entry, read without a check: for tests that put what validation refuses
    /// (quotes, line breaks) past it. `None` without `://`.
    #[cfg(test)]
    pub(crate) fn unchecked(entry: &str) -> Option<OriginRule> {
        let (scheme, rest) = entry.split_once("://")?;
        let after_brackets = rest.rfind(']').map_or(0, |i| i + 1);
        let (host, port) = match rest[after_brackets..].rfind(':') {
            Some(i) => (&rest[..after_brackets + i], &rest[after_brackets + i + 1..]),
            None => (rest, ""),
        };
        let port = match port {
            "" => PortRule::Default,
            "*" => PortRule::Any,
            digits => digits.parse().map_or(PortRule::Default, PortRule::Exact),
        };
        let scheme = scheme.to_owned();
        Some(match (host.strip_prefix("*."), port) {
            (Some(domain), port) => OriginRule::Subdomains {
                scheme,
                domain: domain.to_owned(),
                port,
            },
            (None, PortRule::Any) => OriginRule::AnyPort {
                scheme,
                host: host.to_owned(),
            },
            (None, PortRule::Exact(n)) => OriginRule::Exact {
                scheme,
                host: host.to_owned(),
                port: Some(n),
            },
            (None, PortRule::Default) => OriginRule::Exact {
                scheme,
                host: rest.to_owned(),
                port: None,
            },
        })
    }
}

/// What reading one entry needs to know about the rest of the policy.
pub(crate) struct EntryContext<'a> {
    pub(crate) key: &'a str,
    pub(crate) credentials: bool,
    pub(crate) insecure_ok: bool,
}

/// The schemes whose hosts the URL standard parses as domains or IP addresses.
fn is_special(scheme: &str) -> bool {
    matches!(scheme, "http" | "https" | "ws" | "wss" | "ftp")
}

/// Whether a host is loopback: `localhost`, `*.localhost`, 127.0.0.0/8 or `[::1]`.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    match Host::parse(host) {
        Ok(Host::Ipv4(ip)) => ip.is_loopback(),
        Ok(Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

/// Reads one `allow_origins` entry. Every problem found is pushed to `problems`; the rule is
/// returned only when the entry has no error.
pub(crate) fn read_entry(
    raw: &str,
    cx: &EntryContext<'_>,
    problems: &mut Vec<Problem>,
) -> Option<OriginRule> {
    let key = cx.key;
    if raw == "*" {
        return Some(OriginRule::Any);
    }
    let mut issues: Vec<&'static str> = Vec::new();
    let value = raw.trim();
    if value != raw {
        issues.push("surrounding whitespace");
    }
    if value == "*" {
        problems.push(
            Problem::error(ProblemKind::NonCanonicalOrigin, key)
                .value(raw)
                .because("surrounding whitespace")
                .fix("write \"*\""),
        );
        return None;
    }
    if value.eq_ignore_ascii_case("null") {
        problems.push(
            Problem::error(ProblemKind::NullOrigin, key)
                .value(raw)
                .because(
                    "`Origin: null` comes from sandboxed iframes, data: URLs and local files, which any \
                     site can create, so allowing it allows every site",
                )
                .fix("remove it; serve the page from a real origin (http://localhost:PORT in development) and list that"),
        );
        return None;
    }
    let Some((scheme_raw, rest)) = value.split_once("://") else {
        if value
            .get(..5)
            .is_some_and(|p| p.eq_ignore_ascii_case("file:"))
        {
            problems.push(file_origin(key, raw));
            return None;
        }
        let fix = if !value.is_empty() && !value.contains([':', '/', ' ']) {
            format!("write the scheme too: \"https://{value}\"")
        } else {
            "write an origin as scheme://host[:port], e.g. \"https://app.example.com\"".to_owned()
        };
        problems.push(
            Problem::error(ProblemKind::NotAnOrigin, key)
                .value(raw)
                .because("not an origin: expected scheme://host[:port], `*`, or a pattern")
                .fix(fix),
        );
        return None;
    };
    let not_an_origin = |why: String, problems: &mut Vec<Problem>| {
        problems.push(
            Problem::error(ProblemKind::NotAnOrigin, key)
                .value(raw)
                .because(why)
                .fix("write an origin as scheme://host[:port], e.g. \"https://app.example.com\""),
        );
    };
    let scheme_ok = scheme_raw
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme_raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok {
        not_an_origin(format!("{scheme_raw:?} is not a URL scheme"), problems);
        return None;
    }
    let scheme = scheme_raw.to_ascii_lowercase();
    if scheme != scheme_raw {
        issues.push("an upper-case scheme");
    }
    if scheme == "file" {
        problems.push(file_origin(key, raw));
        return None;
    }

    // Split off what an origin never has: path, query, fragment, userinfo. For the special
    // schemes a backslash starts the path too, as the URL parser reads it.
    let path_start: &[char] = if is_special(&scheme) {
        &['/', '\\', '?', '#']
    } else {
        &['/', '?', '#']
    };
    let (authority, tail) = rest.split_at(rest.find(path_start).unwrap_or(rest.len()));
    if !tail.is_empty() {
        let path_end = tail.find(['?', '#']).unwrap_or(tail.len());
        let path = &tail[..path_end];
        if (path == "/" || path == "\\") && path_end == tail.len() {
            issues.push("a trailing slash");
        } else if !path.is_empty() && path != "/" && path != "\\" {
            issues.push("a path");
        }
        let after = &tail[path_end..];
        if after.starts_with('?') {
            issues.push("a query");
        }
        if after.contains('#') {
            issues.push("a fragment");
        }
    }
    let authority = match authority.rsplit_once('@') {
        Some((_, hostport)) => {
            issues.push("userinfo");
            hostport
        }
        None => authority,
    };

    // Host and port.
    let (host_raw, port_raw) = if authority.starts_with('[') {
        match authority.find(']') {
            Some(end) => {
                let (h, p) = authority.split_at(end + 1);
                match p.strip_prefix(':') {
                    Some(p) => (h, Some(p)),
                    None if p.is_empty() => (h, None),
                    None => {
                        not_an_origin(format!("unexpected {p:?} after the IPv6 address"), problems);
                        return None;
                    }
                }
            }
            None => {
                not_an_origin("unclosed '[' in an IPv6 address".to_owned(), problems);
                return None;
            }
        }
    } else {
        // A port separator is never inside brackets (`https://*.[::1]` is a host, not a port).
        let after_brackets = authority.rfind(']').map_or(0, |i| i + 1);
        match authority[after_brackets..].rfind(':') {
            Some(i) => (
                &authority[..after_brackets + i],
                Some(&authority[after_brackets + i + 1..]),
            ),
            None => (authority, None),
        }
    };
    let port = match port_raw {
        None => PortRule::Default,
        Some("") => {
            issues.push("an empty port");
            PortRule::Default
        }
        Some("*") => PortRule::Any,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if p.bytes().all(|b| b.is_ascii_digit()) => {
                if p.len() > 1 && p.starts_with('0') {
                    issues.push("a port with leading zeros");
                }
                if default_port(&scheme) == Some(n) {
                    issues.push("an explicit default port");
                    PortRule::Default
                } else {
                    PortRule::Exact(n)
                }
            }
            _ => {
                not_an_origin(
                    format!("{p:?} is not a port (0 to 65535, or * for any)"),
                    problems,
                );
                return None;
            }
        },
    };

    // The host, or the domain of a subdomain pattern.
    let (subdomains, host_text) = if host_raw.contains('*') {
        match host_raw.strip_prefix("*.") {
            Some(domain) if domain.contains(['[', ']']) => {
                problems.push(no_ip_subdomains(key, raw));
                return None;
            }
            Some(domain) if domain.ends_with('.') && !domain.contains('*') => {
                problems.push(
                    Problem::error(ProblemKind::MalformedPattern, key)
                        .value(raw)
                        .because("a trailing dot: browsers send `a.example.com` and `a.example.com.` as different origins, and a pattern matches only the first")
                        .fix(format!("write \"{scheme}://*.{}\"; list a dotted origin exactly if you need it", domain.trim_end_matches('.'))),
                );
                return None;
            }
            Some(domain) if !domain.contains('*') && !domain.is_empty() => (true, domain),
            _ => {
                problems.push(malformed_pattern(key, raw, &scheme, host_raw));
                return None;
            }
        }
    } else {
        (false, host_raw)
    };
    if host_text.is_empty() {
        not_an_origin("no host".to_owned(), problems);
        return None;
    }
    let host = if is_special(&scheme) {
        match Host::parse(host_text) {
            Ok(h) => {
                if subdomains && !matches!(h, Host::Domain(_)) {
                    problems.push(no_ip_subdomains(key, raw));
                    return None;
                }
                let canonical = h.to_string();
                if canonical != host_text {
                    if canonical == host_text.to_ascii_lowercase() {
                        issues.push("an upper-case host");
                    } else if !host_text.is_ascii() {
                        issues.push("a non-ASCII host (browsers send it IDNA-encoded)");
                    } else {
                        issues.push("a host that browsers serialize differently");
                    }
                }
                canonical
            }
            Err(e) => {
                not_an_origin(format!("invalid host {host_text:?}: {e}"), problems);
                return None;
            }
        }
    } else {
        if host_text.contains(|c: char| c.is_whitespace() || c == '%') {
            not_an_origin(format!("invalid host {host_text:?}"), problems);
            return None;
        }
        if let Some(problem) = unsendable_host_characters(key, raw, &scheme, subdomains, host_text)
        {
            problems.push(problem);
            return None;
        }
        let lower = host_text.to_ascii_lowercase();
        if lower != host_text {
            issues.push("an upper-case host");
        }
        lower
    };

    let rule = match (subdomains, port) {
        (true, port) => OriginRule::Subdomains {
            scheme,
            domain: host,
            port,
        },
        (false, PortRule::Any) => OriginRule::AnyPort { scheme, host },
        (false, PortRule::Default) => OriginRule::Exact {
            scheme,
            host,
            port: None,
        },
        (false, PortRule::Exact(p)) => OriginRule::Exact {
            scheme,
            host,
            port: Some(p),
        },
    };

    // The checks that matter most run on the corrected spelling, so that a fix never suggests a
    // value that is refused in turn.
    if let OriginRule::Subdomains { scheme, domain, .. } = &rule {
        if is_public_suffix(domain) {
            problems.push(public_suffix_pattern(key, raw, scheme, domain));
            return None;
        }
    }

    if cx.credentials && !cx.insecure_ok {
        if let Some((scheme, host)) = rule.scheme_host() {
            if scheme == "http" && !is_loopback_host(host) {
                let https = rule.to_string().replacen("http://", "https://", 1);
                problems.push(
                    Problem::error(ProblemKind::InsecureOriginWithCredentials, key)
                        .value(raw)
                        .because(
                            "with credentials, a plain-http origin lets anyone on the network path (public Wi-Fi, \
                             a hostile proxy) inject script into that page and read the user's data",
                        )
                        .fix(format!(
                            "use {https:?}, or set dangerously_allow_insecure_origins = true if you accept the risk"
                        )),
                );
                return None;
            }
        }
    }
    if !issues.is_empty() {
        problems.push(
            Problem::error(ProblemKind::NonCanonicalOrigin, key)
                .value(raw)
                .because(format!(
                    "browsers never send an Origin with {}, so this entry would match nothing",
                    join_and(&issues)
                ))
                .fix(format!("write {:?}", rule.to_string())),
        );
        return None;
    }
    Some(rule)
}

/// Whether every name directly under `domain` is a public suffix, so that `*.{domain}` admits
/// sites anyone can register: `domain` is itself a known public suffix (`com`, `co.uk`,
/// `github.io`), or a wildcard rule of the list covers its children (`*.np`, `*.kawasaki.jp`).
pub(crate) fn is_public_suffix(domain: &str) -> bool {
    let is_known_suffix = |name: &str| {
        psl::suffix(name.as_bytes())
            .is_some_and(|s| s.is_known() && s.as_bytes() == name.as_bytes())
    };
    is_known_suffix(domain) || is_known_suffix(&format!("crossgate-probe.{domain}"))
}

fn public_suffix_pattern(key: &str, raw: &str, scheme: &str, domain: &str) -> Problem {
    let example = if is_public_suffix(&format!("example.{domain}")) {
        format!("\"{scheme}://*.example.com\"")
    } else {
        format!("\"{scheme}://*.example.{domain}\"")
    };
    Problem::error(ProblemKind::PublicSuffixPattern, key)
        .value(raw)
        .because(format!(
            "the names directly under {domain:?} are public suffixes (each registered by a different owner), \
             so this admits sites an attacker can register"
        ))
        .fix(format!("name your own registrable domain, e.g. {example}"))
}

fn no_ip_subdomains(key: &str, raw: &str) -> Problem {
    Problem::error(ProblemKind::MalformedPattern, key)
        .value(raw)
        .because("a subdomain pattern needs a domain, and IP addresses have no subdomains")
        .fix("list the IP origin exactly, e.g. \"http://127.0.0.1:8080\"")
}

/// Whether an `http:` rule names a non-loopback host (used for the dangerous opt-in warning).
pub(crate) fn is_insecure_rule(rule: &OriginRule) -> bool {
    rule.scheme_host()
        .is_some_and(|(s, h)| s == "http" && !is_loopback_host(h))
}

/// Whether a character can never be in the host of an `Origin` a browser sends for a scheme other
/// than http(s), ws(s) and ftp. The URL standard gives such a URL an opaque origin (sent as
/// `null`); the browsers that give some of those schemes a real origin (`chrome-extension:`,
/// `moz-extension:`, an app's own scheme in a WebView: `capacitor:`, `tauri:`) parse the host as a
/// domain, whose serialization holds none of these: the URL standard's forbidden host code points
/// (`<`, `>`, `\`, `^`, `|`), controls, and characters other than ASCII (IDNA- or percent-encoded),
/// and what Chromium escapes in a host (`"`, `'`, `;`, `{`, `}`, `$`, `` ` ``). Each of them is
/// syntax in a configuration `crossgate export` writes (a quote, an escape, a variable, the end
/// of a directive).
fn never_in_sent_host(c: char) -> bool {
    !c.is_ascii()
        || c.is_ascii_control()
        || matches!(
            c,
            '"' | '\'' | '\\' | ';' | '{' | '}' | '$' | '`' | '<' | '>' | '^' | '|'
        )
}

/// The problem with a non-special scheme's host that holds characters no browser sends there, or
/// `None`. Every such character is named at once.
fn unsendable_host_characters(
    key: &str,
    raw: &str,
    scheme: &str,
    subdomains: bool,
    host: &str,
) -> Option<Problem> {
    let mut found: Vec<char> = Vec::new();
    let mut distinct = HashSet::new();
    for c in host.chars().filter(|&c| never_in_sent_host(c)) {
        if distinct.insert(c) {
            found.push(c);
        }
    }
    if found.is_empty() {
        return None;
    }
    let named: Vec<String> = found
        .iter()
        .map(|&c| match c {
            '`' => "`` ` ``".to_owned(),
            c if c.is_ascii_graphic() => format!("`{c}`"),
            c => format!("`{}`", c.escape_unicode()),
        })
        .collect();
    let kept: String = host.chars().filter(|&c| !never_in_sent_host(c)).collect();
    let example = match (kept.as_str(), subdomains) {
        ("", _) => "\"chrome-extension://abcdefghijklmnopabcdefghijklmnop\"".to_owned(),
        (_, true) => format!("\"{scheme}://*.{kept}\""),
        (_, false) => format!("\"{scheme}://{kept}\""),
    };
    Some(
        Problem::error(ProblemKind::NotAnOrigin, key)
            .value(raw)
            .because(format!(
                "{} in the host: browsers never send {them} in the Origin of a {scheme}: URL (its host is \
                 sent as a domain: letters, digits, `-`, `.`, `_`), and {they} {are} syntax in the \
                 server configurations `crossgate export` writes",
                join_and(&named.iter().map(String::as_str).collect::<Vec<_>>()),
                them = if found.len() == 1 { "it" } else { "them" },
                they = if found.len() == 1 { "it" } else { "they" },
                are = if found.len() == 1 { "is" } else { "are" },
            ))
            .fix(format!(
                "copy the origin from the Origin header the browser sends (developer tools, network tab), \
                 e.g. {example}"
            )),
    )
}

fn file_origin(key: &str, raw: &str) -> Problem {
    Problem::error(ProblemKind::FileOrigin, key)
        .value(raw)
        .because("pages opened from file:// have an opaque origin and send `Origin: null`, which any site can also send")
        .fix("serve the page over http (e.g. `python3 -m http.server` → \"http://localhost:8000\") and list that origin")
}

fn malformed_pattern(key: &str, raw: &str, scheme: &str, host: &str) -> Problem {
    let draft = Problem::error(ProblemKind::MalformedPattern, key).value(raw);
    if host == "*"
        || host.trim_start_matches("*.").is_empty()
        || host.chars().all(|c| c == '*' || c == '.')
    {
        return draft
            .because(format!("this admits every {scheme} origin: any site could read the responses"))
            .fix("list the origins you trust; if the API is truly public, use \"*\" without credentials");
    }
    if let Some(rest) = host.strip_prefix('*') {
        if !rest.contains('*') {
            let rest = rest.trim_start_matches('.');
            if is_public_suffix(rest) {
                return public_suffix_pattern(key, raw, scheme, rest);
            }
            return draft
                .because("the wildcard must be a whole label: `*example.com` would also admit `evilexample.com`")
                .fix(format!("write \"{scheme}://*.{rest}\" (subdomains of {rest})"));
        }
    }
    let after = host
        .rsplit_once("*.")
        .map_or(host, |(_, d)| d)
        .trim_matches(['*', '.']);
    if is_public_suffix(after) {
        return public_suffix_pattern(key, raw, scheme, after);
    }
    draft
        .because(
            "the wildcard may only be the leftmost label (`*.example.com`: one or more labels)",
        )
        .fix(format!("write \"{scheme}://*.{after}\""))
}

fn join_and(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

impl std::fmt::Display for OriginRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OriginRule::Exact { scheme, host, port } => {
                write!(f, "{scheme}://{host}")?;
                match port {
                    Some(n) => write!(f, ":{n}"),
                    None => Ok(()),
                }
            }
            OriginRule::Subdomains {
                scheme,
                domain,
                port,
            } => {
                write!(f, "{scheme}://*.{domain}")?;
                match port {
                    PortRule::Default => Ok(()),
                    PortRule::Exact(n) => write!(f, ":{n}"),
                    PortRule::Any => f.write_str(":*"),
                }
            }
            OriginRule::AnyPort { scheme, host } => write!(f, "{scheme}://{host}:*"),
            OriginRule::Any => f.write_str("*"),
        }
    }
}

#[cfg(test)]
mod tests;
