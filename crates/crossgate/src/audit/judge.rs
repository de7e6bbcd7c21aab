//! Grading the answers: [`judge`] turns the browser's verdicts on each probe, and the headers
//! themselves, into [`Finding`]s.

use super::{Class, PROBE_HEADER, PROBE_METHOD, Plan, ProbeResult, Severity};
use crate::browser::WireResponse;
use crate::origin::Origin;

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
