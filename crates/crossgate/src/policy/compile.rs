//! Validation of every key and the compiled form it builds: the origin matcher, the method and
//! header sets, and every response header value, among them the whole answer to an allowed
//! preflight. [`crate::server`] only reads what is built here.

use std::collections::HashSet;
use std::time::Duration;

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE, VARY,
};
use http::{HeaderMap, HeaderValue};

use super::allow_origin::{self, EntryContext, OriginRule, read_entry};
use super::error::{Problem, ProblemKind};
use super::origin_matcher::OriginMatcher;
use super::{CHROMIUM_MAX_AGE_CAP, MAX_AGE_LIMIT, PolicyConfig, intern};
use crate::fetch;

/// `*`, as `Access-Control-Allow-Origin` and as a placeholder for what a request reflects.
pub(crate) const STAR: HeaderValue = HeaderValue::from_static("*");
/// `Access-Control-Allow-Credentials: true`. A `static`, not a `const`: the server's
/// `Decision::headers` hands out references to it.
pub(crate) static TRUE_VALUE: HeaderValue = HeaderValue::from_static("true");
/// `Vary` on a preflight's answer: what every preflight's answer depends on.
pub(crate) const VARY_PREFLIGHT_VALUE: HeaderValue = HeaderValue::from_static(
    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
);

/// What the server side reads on every request. Every header value is built here, once.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) origins: OriginMatcher,
    pub(crate) credentials: bool,
    pub(crate) block_disallowed: bool,
    /// `None`: any method. Otherwise the non-safelisted methods allowed, as bytes.
    pub(crate) methods: Option<NameSet>,
    /// `None`: any header. Otherwise the allowed request-header names, lower case, sorted.
    pub(crate) headers: Option<NameSet>,
    pub(crate) expose_headers: Option<HeaderValue>,
    /// Whether `Access-Control-Allow-Origin` depends on the request's `Origin`.
    pub(crate) vary_origin: bool,
    /// Every allowed preflight's answer, but for the allowed origin and what `*` reflects
    /// ([`preflight_answer`]).
    pub(crate) preflight_answer: HeaderMap,
}

/// A small set of method or header names, as bytes.
pub(crate) type NameSet = Vec<Box<[u8]>>;

/// Validates every key and builds the compiled form, and the origin rules it matches. Problems are
/// pushed in the order of [`KEYS`](super::KEYS).
pub(super) fn compile(
    config: &PolicyConfig,
    problems: &mut Vec<Problem>,
) -> (Compiled, Vec<OriginRule>) {
    let credentials = config.allow_credentials;
    let (origins, origin_rules) = compile_origins(config, problems);
    let (methods, allow_methods) = compile_methods(&config.allow_methods, problems);
    let (headers, allow_headers) = compile_allow_headers(&config.allow_headers, problems);
    let expose_headers = compile_expose_headers(&config.expose_headers, credentials, problems);
    let max_age = compile_max_age(config.max_age, problems);
    // `*` without credentials answers `*` to everyone; anything else reflects the origin.
    let vary_origin = !origins.is_any() || credentials;
    let preflight_answer = preflight_answer(
        credentials,
        reflect(&methods, &allow_methods),
        reflect(&headers, &allow_headers),
        max_age.as_ref(),
    );
    let mut origins = origins;
    origins.set_preflight_answers(|allow_origin| {
        with_allow_origin(&preflight_answer, allow_origin.clone())
    });
    let compiled = Compiled {
        origins,
        credentials,
        block_disallowed: config.block_disallowed_origins,
        methods,
        headers,
        expose_headers,
        vary_origin,
        preflight_answer,
    };
    (compiled, origin_rules)
}

/// A preflight list: the policy's, or the request's when the policy says `*` (no set).
fn reflect<'a>(set: &Option<NameSet>, list: &'a Option<HeaderValue>) -> Reflect<'a> {
    match set {
        Some(_) => Reflect::Listed(list.as_ref()),
        None => Reflect::Request,
    }
}

fn compile_origins(
    config: &PolicyConfig,
    problems: &mut Vec<Problem>,
) -> (OriginMatcher, Vec<OriginRule>) {
    let list = &config.allow_origins;
    let mut rules: Vec<OriginRule> = Vec::with_capacity(list.len());
    // The duplicate check is a hash probe per entry: a list of a hundred thousand origins is read
    // in linear time (a search of `rules` for each made 200,000 origins take half a minute).
    let mut seen: HashSet<OriginRule> = HashSet::with_capacity(list.len());
    let mut insecure_used = false;
    for (i, raw) in list.iter().enumerate() {
        let key = format!("allow_origins[{i}]");
        let cx = EntryContext {
            key: &key,
            credentials: config.allow_credentials,
            insecure_ok: config.dangerously_allow_insecure_origins,
        };
        let Some(rule) = read_entry(raw, &cx, problems) else {
            continue;
        };
        if rule == OriginRule::Any && config.allow_credentials {
            problems.push(
                Problem::error(ProblemKind::WildcardWithCredentials, &key)
                    .value(raw.as_str())
                    .because(
                        "for security reasons, every origin and credentials cannot go together: any site \
                         could read what the logged-in user sees (browsers refuse `*` with credentials, and \
                         reflecting every origin instead would let every site in)",
                    )
                    .fix("list the origins that may send credentials, e.g. [\"https://app.example.com\"], or set allow_credentials = false"),
            );
            continue;
        }
        if !seen.insert(rule.clone()) {
            problems.push(
                Problem::warning(ProblemKind::Duplicate, &key)
                    .value(raw.as_str())
                    .because(format!("{rule} is listed twice"))
                    .fix("remove one"),
            );
            continue;
        }
        insecure_used |= config.allow_credentials && allow_origin::is_insecure_rule(&rule);
        rules.push(rule);
    }
    if rules.contains(&OriginRule::Any) && rules.len() > 1 {
        problems.push(
            Problem::warning(ProblemKind::Redundant, "allow_origins")
                .because("`*` allows every origin, so the other entries have no effect")
                .fix("keep only \"*\", or remove it to allow only the listed origins"),
        );
    }
    if list.is_empty() {
        problems.push(
            Problem::warning(ProblemKind::NothingAllowed, "allow_origins")
                .because("no origin is allowed: every cross-origin request will be refused")
                .fix("add the origins of your front-end, e.g. allow_origins = [\"https://app.example.com\"]"),
        );
    }
    if rules.contains(&OriginRule::Any) && config.block_disallowed_origins {
        problems.push(
            Problem::warning(ProblemKind::Redundant, "block_disallowed_origins")
                .value(true)
                .because("with `*` every origin is allowed, so nothing is ever blocked")
                .fix("list the allowed origins, or remove block_disallowed_origins"),
        );
    }
    if insecure_used {
        problems.push(
            Problem::warning(ProblemKind::DangerousOptIn, "dangerously_allow_insecure_origins")
                .value(true)
                .because("credentialed responses are readable from plain-http origins, which anyone on the network path can impersonate")
                .fix("move those origins to https and remove this key"),
        );
    }
    (OriginMatcher::new(&rules), rules)
}

/// `allow_methods`: tokens, not forbidden, in the case browsers send. Returns the method set
/// (`None` for `*`) and the `Access-Control-Allow-Methods` value.
fn compile_methods(
    list: &[String],
    problems: &mut Vec<Problem>,
) -> (Option<NameSet>, Option<HeaderValue>) {
    let mut any = false;
    let mut seen: Vec<&str> = Vec::new();
    let mut distinct: HashSet<&str> = HashSet::new();
    for (i, m) in list.iter().enumerate() {
        let key = format!("allow_methods[{i}]");
        if m == "*" {
            any = true;
            continue;
        }
        if !fetch::is_token(m.as_bytes()) {
            let fix = if m.contains(',') {
                let parts: Vec<String> = m.split(',').map(|p| format!("{:?}", p.trim())).collect();
                format!("one method per element: {}", parts.join(", "))
            } else {
                "write a method name such as \"PATCH\" (letters, digits and !#$%&'*+-.^_`|~ only)"
                    .to_owned()
            };
            problems.push(
                Problem::error(ProblemKind::InvalidMethod, &key)
                    .value(m.as_str())
                    .because("not an HTTP method token")
                    .fix(fix),
            );
            continue;
        }
        if fetch::is_forbidden_method(m.as_bytes()) {
            problems.push(
                Problem::error(ProblemKind::ForbiddenMethod, &key)
                    .value(m.as_str())
                    .because(format!(
                        "fetch() refuses to send {}, so allowing it has no effect",
                        m.to_ascii_uppercase()
                    ))
                    .fix("remove it"),
            );
            continue;
        }
        if let Some(normal) = fetch::normalized_method(m) {
            if normal != m {
                problems.push(
                    Problem::error(ProblemKind::MethodCase, &key)
                        .value(m.as_str())
                        .because(format!("fetch() upper-cases {m:?} to {normal:?} before sending, so {m:?} never matches"))
                        .fix(format!("write {normal:?}")),
                );
                continue;
            }
        } else if m.bytes().any(|b| b.is_ascii_lowercase()) {
            let upper = m.to_ascii_uppercase();
            problems.push(
                Problem::warning(ProblemKind::MethodCase, &key)
                    .value(m.as_str())
                    .because(format!(
                        "methods are case-sensitive: fetch() sends {m:?} exactly as the script writes it, and \
                         browsers compare it byte for byte, so this allows only clients that write {m:?}"
                    ))
                    .fix(format!("write {upper:?}, unless your clients really send {m:?}")),
            );
        }
        if !distinct.insert(m.as_str()) {
            problems.push(
                Problem::warning(ProblemKind::Duplicate, &key)
                    .value(m.as_str())
                    .because("listed twice")
                    .fix("remove one"),
            );
            continue;
        }
        seen.push(m);
    }
    if any {
        return (None, None);
    }
    // Safelisted methods always pass the preflight method check: no need to send them.
    let sent: Vec<&str> = seen
        .into_iter()
        .filter(|m| !fetch::is_cors_safelisted_method(m.as_bytes()))
        .collect();
    let value = header_list(&sent);
    (
        Some(sent.iter().map(|m| m.as_bytes().into()).collect()),
        value,
    )
}

/// `allow_headers`: tokens that script can set. Returns the sorted lower-case set (`None` for
/// `*`) and the `Access-Control-Allow-Headers` value.
fn compile_allow_headers(
    list: &[String],
    problems: &mut Vec<Problem>,
) -> (Option<NameSet>, Option<HeaderValue>) {
    let mut any = false;
    let mut names: Vec<String> = Vec::new();
    let mut distinct: HashSet<String> = HashSet::new();
    for (i, h) in list.iter().enumerate() {
        let key = format!("allow_headers[{i}]");
        if h == "*" {
            any = true;
            continue;
        }
        if !check_header_name(&key, h, problems) {
            continue;
        }
        let lower = h.to_ascii_lowercase();
        if fetch::is_forbidden_request_header(lower.as_bytes()) {
            let why = if lower == "cookie" {
                "browsers never let script set Cookie; they send cookies themselves when the page uses credentials: 'include'"
                    .to_owned()
            } else {
                format!(
                    "browsers never let script set {lower:?} (a forbidden request-header name), so no preflight asks for it"
                )
            };
            let fix = if lower == "cookie" {
                "remove it; set allow_credentials = true to receive cookies"
            } else {
                "remove it"
            };
            problems.push(
                Problem::error(ProblemKind::ForbiddenHeaderName, &key)
                    .value(h.as_str())
                    .because(why)
                    .fix(fix),
            );
            continue;
        }
        if !distinct.insert(lower.clone()) {
            problems.push(
                Problem::warning(ProblemKind::Duplicate, &key)
                    .value(h.as_str())
                    .because("listed twice (header names are case-insensitive)")
                    .fix("remove one"),
            );
            continue;
        }
        names.push(lower);
    }
    if any {
        return (None, None);
    }
    let value = header_list(&names);
    let mut set: Vec<Box<[u8]>> = names.iter().map(|n| n.as_bytes().into()).collect();
    set.sort();
    (Some(set), value)
}

/// `expose_headers`: tokens; `*` only without credentials. Returns the
/// `Access-Control-Expose-Headers` value.
fn compile_expose_headers(
    list: &[String],
    credentials: bool,
    problems: &mut Vec<Problem>,
) -> Option<HeaderValue> {
    let mut names: Vec<String> = Vec::new();
    let mut distinct: HashSet<String> = HashSet::new();
    for (i, h) in list.iter().enumerate() {
        let key = format!("expose_headers[{i}]");
        if h == "*" {
            if credentials {
                problems.push(
                    Problem::error(ProblemKind::WildcardExposeWithCredentials, &key)
                        .value(h.as_str())
                        .because("with credentials, browsers read `*` as a header literally named `*`, so nothing is exposed")
                        .fix("list the headers to expose, e.g. [\"x-request-id\"]"),
                );
                continue;
            }
            names.push("*".to_owned());
            continue;
        }
        if !check_header_name(&key, h, problems) {
            continue;
        }
        let lower = h.to_ascii_lowercase();
        if fetch::is_forbidden_response_header(lower.as_bytes()) {
            problems.push(
                Problem::warning(ProblemKind::IgnoredByBrowsers, &key)
                    .value(h.as_str())
                    .because("browsers never let script read Set-Cookie, exposed or not")
                    .fix("remove it"),
            );
            continue;
        }
        if fetch::is_cors_safelisted_response_header(lower.as_bytes()) {
            problems.push(
                Problem::warning(ProblemKind::Redundant, &key)
                    .value(h.as_str())
                    .because("a CORS-safelisted response header is always readable")
                    .fix("remove it"),
            );
            continue;
        }
        if !distinct.insert(lower.clone()) {
            problems.push(
                Problem::warning(ProblemKind::Duplicate, &key)
                    .value(h.as_str())
                    .because("listed twice")
                    .fix("remove one"),
            );
            continue;
        }
        names.push(lower);
    }
    header_list(&names)
}

fn check_header_name(key: &str, name: &str, problems: &mut Vec<Problem>) -> bool {
    if fetch::is_token(name.as_bytes()) {
        return true;
    }
    let fix = if name.contains(',') {
        let parts: Vec<String> = name.split(',').map(|p| format!("{:?}", p.trim())).collect();
        format!("one header per element: {}", parts.join(", "))
    } else if name.ends_with(':') {
        format!(
            "write the name alone: {:?}",
            name.trim_end_matches(':').trim()
        )
    } else {
        "write a header name such as \"x-request-id\" (letters, digits and !#$%&'*+-.^_`|~ only)"
            .to_owned()
    };
    problems.push(
        Problem::error(ProblemKind::InvalidHeaderName, key)
            .value(name)
            .because("not an HTTP header name")
            .fix(fix),
    );
    false
}

/// The fix for a `max_age` too long.
fn chromium_cap_fix() -> String {
    format!("max_age = {CHROMIUM_MAX_AGE_CAP} (Chromium's cap, 2 hours)")
}

/// Why a `max_age` out of range is refused.
fn max_age_range() -> String {
    format!("must be between 0 and {MAX_AGE_LIMIT} seconds (24 hours, Firefox's cap)")
}

/// The problem with a `max_age` given to the builder as a [`Duration`] that is no whole number of
/// seconds an `i64` holds: its value is the seconds as a decimal number.
pub(super) fn max_age_duration_problem(max_age: Duration) -> Problem {
    let seconds = max_age.as_secs();
    let in_range = seconds <= MAX_AGE_LIMIT.unsigned_abs();
    let draft =
        Problem::error(ProblemKind::MaxAgeOutOfRange, "max_age").value(max_age.as_secs_f64());
    if in_range {
        draft
            .because("must be a whole number of seconds (Access-Control-Max-Age has no fractions)")
            .fix(format!("max_age = {seconds}"))
    } else {
        draft.because(max_age_range()).fix(chromium_cap_fix())
    }
}

fn compile_max_age(max_age: Option<i64>, problems: &mut Vec<Problem>) -> Option<HeaderValue> {
    let seconds = max_age?;
    if !(0..=MAX_AGE_LIMIT).contains(&seconds) {
        let fix = if seconds < 0 {
            "max_age = 0 to disable preflight caching, or a number of seconds such as max_age = 600"
                .to_owned()
        } else {
            chromium_cap_fix()
        };
        problems.push(
            Problem::error(ProblemKind::MaxAgeOutOfRange, "max_age")
                .value(seconds)
                .because(max_age_range())
                .fix(fix),
        );
        return None;
    }
    if seconds > CHROMIUM_MAX_AGE_CAP {
        problems.push(
            Problem::warning(ProblemKind::IgnoredByBrowsers, "max_age")
                .value(seconds)
                .because(format!(
                    "Chromium caps preflight caching at {CHROMIUM_MAX_AGE_CAP} seconds"
                ))
                .fix(format!(
                    "max_age = {CHROMIUM_MAX_AGE_CAP}, unless you target Firefox's longer cache"
                )),
        );
    }
    intern::header_value(&seconds.to_string())
}

/// `a, b, c` as a shared header value; `None` for an empty list.
fn header_list<S: AsRef<str>>(items: &[S]) -> Option<HeaderValue> {
    if items.is_empty() {
        return None;
    }
    let joined = items
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(", ");
    // Every item is a token, so the value is always valid.
    intern::header_value(&joined)
}

/// The headers of every allowed preflight's answer, built once when the policy is compiled:
/// `Access-Control-Allow-Origin` (a placeholder, replaced in place per request), credentials, the
/// method and header lists (placeholders where `*` reflects the request's, replaced or removed per
/// request), max-age, and `Vary`. Every entry a request may write is already there, so a clone
/// (whose storage is exactly as long as the map) never grows.
fn preflight_answer(
    credentials: bool,
    allow_methods: Reflect<'_>,
    allow_headers: Reflect<'_>,
    max_age: Option<&HeaderValue>,
) -> HeaderMap {
    let mut answer = HeaderMap::with_capacity(8);
    answer.insert(ACCESS_CONTROL_ALLOW_ORIGIN, STAR);
    if credentials {
        answer.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE_VALUE.clone());
    }
    for (name, value) in [
        (ACCESS_CONTROL_ALLOW_METHODS, allow_methods),
        (ACCESS_CONTROL_ALLOW_HEADERS, allow_headers),
    ] {
        match value {
            Reflect::Listed(Some(value)) => {
                answer.insert(name, value.clone());
            }
            Reflect::Listed(None) => {}
            Reflect::Request => {
                answer.insert(name, STAR);
            }
        }
    }
    if let Some(max_age) = max_age {
        answer.insert(ACCESS_CONTROL_MAX_AGE, max_age.clone());
    }
    answer.insert(VARY, VARY_PREFLIGHT_VALUE);
    answer
}

/// The precompiled preflight answer with its `Access-Control-Allow-Origin`: the first entry is
/// the placeholder, replaced in place without hashing (`insert` if a later `http` ever iterates
/// in another order).
pub(crate) fn with_allow_origin(answer: &HeaderMap, allow_origin: HeaderValue) -> HeaderMap {
    let mut answer = answer.clone();
    match answer.iter_mut().next() {
        Some((name, value)) if *name == ACCESS_CONTROL_ALLOW_ORIGIN => *value = allow_origin,
        _ => {
            answer.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        }
    }
    answer
}

/// Where a preflight answer's method or header list comes from.
#[derive(Clone, Copy, Debug)]
enum Reflect<'a> {
    /// The policy's list (`None`: nothing to send, e.g. only safelisted methods).
    Listed(Option<&'a HeaderValue>),
    /// `*`: the request's own, per request.
    Request,
}
