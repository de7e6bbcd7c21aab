//! The CORS policy: the TOML model, a builder, validation that reports every problem at once, and
//! the compiled form (origin matcher, sorted header sets, precomputed header values) that
//! [`crate::server`] reads on every request.
//!
//! A [`Policy`] can only exist validated: [`Policy::from_toml`], [`Policy::from_config`] and
//! [`PolicyBuilder::build`] all return every [`Problem`] found, each with the offending value, why
//! it is wrong, and the fix. Safety checks can only be turned off with keys spelled
//! `dangerously_…`.
//!
//! ```
//! use crossgate::Policy;
//!
//! let policy = Policy::from_toml(r#"
//!     allow_origins = ["https://app.example.com", "https://*.example.org"]
//!     allow_methods = ["GET", "PUT"]
//!     allow_headers = ["content-type", "x-request-id"]
//!     allow_credentials = true
//!     max_age = 600
//! "#)?;
//! assert!(policy.allows_origin("https://a.example.org"));
//!
//! let errors = Policy::from_toml(r#"
//!     allow_origins = ["*"]
//!     allow_credentials = true
//!     max_age = 100000
//! "#).unwrap_err();
//! assert_eq!(errors.errors().count(), 2);
//! # Ok::<(), crossgate::policy::PolicyErrors>(())
//! ```

mod allow_origin;
mod error;
mod intern;

use std::collections::HashSet;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue};

use crate::server::Reflect;
use serde::{Deserialize, Serialize};

pub use allow_origin::{OriginRule, PortRule};
pub use error::{PolicyErrors, Problem, ProblemKind, Severity};

use allow_origin::{EntryContext, read_entry};
pub(crate) use allow_origin::{Match, OriginMatcher};

use crate::fetch;

/// The policy as written: the TOML model, before validation. Build a [`Policy`] from it with
/// [`Policy::from_config`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PolicyConfig {
    /// Origins allowed to read responses: exact origins (`https://app.example.com`), subdomain
    /// patterns (`https://*.example.com`: one or more labels), any-port patterns
    /// (`http://localhost:*`), or `*`.
    pub allow_origins: Vec<String>,
    /// Methods allowed in preflights besides the always-allowed GET, HEAD and POST; `*` for any.
    pub allow_methods: Vec<String>,
    /// Request headers allowed in preflights; `*` for any.
    pub allow_headers: Vec<String>,
    /// Response headers script may read besides the CORS-safelisted ones; `*` for all (not with
    /// credentials).
    pub expose_headers: Vec<String>,
    /// Whether credentialed requests (cookies, HTTP auth) may be read.
    pub allow_credentials: bool,
    /// How long browsers may cache a preflight answer, in seconds (0..=86400). Absent: the
    /// browser's default of 5 seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i64>,
    /// Refuse actual requests from disallowed origins with 403 before the application sees them
    /// (CSRF protection: CORS alone does not stop a cross-site form POST). Requests carrying
    /// `Sec-Fetch-Site: same-origin` pass; list the site's own origin too, since not every browser
    /// sends that header (Chromium only to https and localhost, Safari only since 16.4).
    pub block_disallowed_origins: bool,
    /// Allow plain-http, non-loopback origins together with credentials.
    pub dangerously_allow_insecure_origins: bool,
}

/// The keys of a policy file, in the order they are documented.
pub const KEYS: [&str; 8] = [
    "allow_origins",
    "allow_methods",
    "allow_headers",
    "expose_headers",
    "allow_credentials",
    "max_age",
    "block_disallowed_origins",
    "dangerously_allow_insecure_origins",
];

/// The longest `max_age` accepted, in seconds (Firefox's cap: 24 hours).
pub const MAX_AGE_LIMIT: i64 = 86_400;

/// Chromium's cap on `Access-Control-Max-Age`, in seconds (2 hours).
pub const CHROMIUM_MAX_AGE_CAP: i64 = 7_200;

/// A validated, compiled CORS policy. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct Policy {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: PolicyConfig,
    warnings: Vec<Problem>,
    /// `allow_origins` read: each distinct entry once, in the policy's order.
    origin_rules: Vec<OriginRule>,
    compiled: Compiled,
}

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
    /// (`server::preflight_answer`).
    pub(crate) preflight_answer: HeaderMap,
}

/// A small set of method or header names, as bytes.
pub(crate) type NameSet = Vec<Box<[u8]>>;

impl Policy {
    /// Reads and validates a policy file. Every problem is reported at once.
    pub fn from_toml(text: &str) -> Result<Policy, PolicyErrors> {
        let table: toml::Table = match toml::from_str(text) {
            Ok(t) => t,
            Err(e) => {
                let at = e
                    .span()
                    .map(|s| line_col(text, s.start))
                    .unwrap_or_default();
                let message = e.message().trim_end_matches('\n');
                let problem = match too_large_integer(message) {
                    Some(n) => Problem::error(ProblemKind::Syntax, at)
                        .because(format!(
                            "not valid TOML: {n} is outside TOML's integers ({} to {})",
                            i64::MIN,
                            i64::MAX
                        ))
                        .fix(format!(
                            "max_age, the one number in a policy, is 0 to {MAX_AGE_LIMIT} seconds, e.g. max_age = 600"
                        )),
                    None => Problem::error(ProblemKind::Syntax, at)
                        .because(format!("not valid TOML: {message}"))
                        .fix("see https://toml.io; lists are written [\"a\", \"b\"], strings in double quotes"),
                };
                return Err(PolicyErrors::new(vec![problem]));
            }
        };
        let mut problems = Vec::new();
        let config = read_table(&table, &mut problems);
        Policy::validate(config, problems)
    }

    /// Validates and compiles a policy model.
    pub fn from_config(config: PolicyConfig) -> Result<Policy, PolicyErrors> {
        Policy::validate(config, Vec::new())
    }

    /// Starts a policy in code; see [`PolicyBuilder`].
    pub fn builder() -> PolicyBuilder {
        PolicyBuilder::default()
    }

    fn validate(config: PolicyConfig, mut problems: Vec<Problem>) -> Result<Policy, PolicyErrors> {
        let (compiled, origin_rules) = compile(&config, &mut problems);
        if problems.iter().any(|p| p.severity == Severity::Error) {
            return Err(PolicyErrors::new(problems));
        }
        Ok(Policy {
            inner: Arc::new(Inner {
                config,
                warnings: problems,
                origin_rules,
                compiled,
            }),
        })
    }

    /// The policy as written.
    pub fn config(&self) -> &PolicyConfig {
        &self.inner.config
    }

    /// What validation found worth saying that did not refuse the policy.
    pub fn warnings(&self) -> &[Problem] {
        &self.inner.warnings
    }

    /// The `allow_origins` entries as rules, each distinct one once, in the policy's order: the one
    /// reading of the entries, for whatever needs them beyond matching (an export, a probe).
    pub fn origin_rules(&self) -> &[OriginRule] {
        &self.inner.origin_rules
    }

    /// Whether a request from `origin` (an `Origin` header value) may read responses.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.inner
            .compiled
            .origins
            .find(origin.as_bytes())
            .is_some()
    }

    pub(crate) fn compiled(&self) -> &Compiled {
        &self.inner.compiled
    }
}

/// Builds a [`Policy`] in code, with the same validation as a policy file.
///
/// ```
/// let policy = crossgate::Policy::builder()
///     .allow_origins(["https://app.example.com"])
///     .allow_methods(["PUT", "DELETE"])
///     .allow_headers(["content-type"])
///     .allow_credentials(true)
///     .max_age(600)
///     .build()?;
/// assert!(policy.allows_origin("https://app.example.com"));
/// # Ok::<(), crossgate::policy::PolicyErrors>(())
/// ```
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct PolicyBuilder {
    config: PolicyConfig,
}

impl PolicyBuilder {
    /// Adds allowed origins (see [`PolicyConfig::allow_origins`]).
    pub fn allow_origins<I: IntoIterator<Item = S>, S: Into<String>>(mut self, origins: I) -> Self {
        self.config
            .allow_origins
            .extend(origins.into_iter().map(Into::into));
        self
    }

    /// Adds allowed methods (see [`PolicyConfig::allow_methods`]).
    pub fn allow_methods<I: IntoIterator<Item = S>, S: Into<String>>(mut self, methods: I) -> Self {
        self.config
            .allow_methods
            .extend(methods.into_iter().map(Into::into));
        self
    }

    /// Adds allowed request headers (see [`PolicyConfig::allow_headers`]).
    pub fn allow_headers<I: IntoIterator<Item = S>, S: Into<String>>(mut self, headers: I) -> Self {
        self.config
            .allow_headers
            .extend(headers.into_iter().map(Into::into));
        self
    }

    /// Adds exposed response headers (see [`PolicyConfig::expose_headers`]).
    pub fn expose_headers<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        headers: I,
    ) -> Self {
        self.config
            .expose_headers
            .extend(headers.into_iter().map(Into::into));
        self
    }

    /// Allows credentialed requests (see [`PolicyConfig::allow_credentials`]).
    pub fn allow_credentials(mut self, yes: bool) -> Self {
        self.config.allow_credentials = yes;
        self
    }

    /// Sets `Access-Control-Max-Age` in seconds (see [`PolicyConfig::max_age`]).
    pub fn max_age(mut self, seconds: i64) -> Self {
        self.config.max_age = Some(seconds);
        self
    }

    /// Refuses actual requests from disallowed origins (see
    /// [`PolicyConfig::block_disallowed_origins`]).
    pub fn block_disallowed_origins(mut self, yes: bool) -> Self {
        self.config.block_disallowed_origins = yes;
        self
    }

    /// Allows plain-http origins with credentials (see
    /// [`PolicyConfig::dangerously_allow_insecure_origins`]).
    pub fn dangerously_allow_insecure_origins(mut self, yes: bool) -> Self {
        self.config.dangerously_allow_insecure_origins = yes;
        self
    }

    /// Validates and compiles the policy.
    pub fn build(self) -> Result<Policy, PolicyErrors> {
        Policy::from_config(self.config)
    }
}

/// The integer of a TOML error about one beyond 64 bits (`invalid type: integer
/// `99999999999999999999` as i128, …`), which the `toml` crate reports as a type error.
fn too_large_integer(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("invalid type: integer `")?;
    let (n, rest) = rest.split_once('`')?;
    rest.starts_with(" as i128").then_some(n)
}

/// `line:column` (1-based) of a byte offset, for syntax errors.
fn line_col(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {col}")
}

/// Reads the TOML table into the model, reporting unknown keys and wrong types (all of them).
fn read_table(table: &toml::Table, problems: &mut Vec<Problem>) -> PolicyConfig {
    let mut config = PolicyConfig::default();
    for (key, value) in table {
        match key.as_str() {
            "allow_origins" => config.allow_origins = read_list(key, value, problems),
            "allow_methods" => config.allow_methods = read_list(key, value, problems),
            "allow_headers" => config.allow_headers = read_list(key, value, problems),
            "expose_headers" => config.expose_headers = read_list(key, value, problems),
            "allow_credentials" => config.allow_credentials = read_bool(key, value, problems),
            "block_disallowed_origins" => {
                config.block_disallowed_origins = read_bool(key, value, problems)
            }
            "dangerously_allow_insecure_origins" => {
                config.dangerously_allow_insecure_origins = read_bool(key, value, problems);
            }
            "max_age" => match value {
                toml::Value::Integer(n) => config.max_age = Some(*n),
                toml::Value::String(s) if s.parse::<i64>().is_ok() => {
                    // The number as the fix only when it is in range (the range error says the rest).
                    let fix = match s.parse::<i64>() {
                        Ok(n) if (0..=MAX_AGE_LIMIT).contains(&n) => format!("max_age = {n}"),
                        _ => "max_age = 600".to_owned(),
                    };
                    problems.push(wrong_type(key, value, "an integer number of seconds", &fix));
                    config.max_age = s.parse().ok();
                }
                other => problems.push(wrong_type(
                    key,
                    other,
                    "an integer number of seconds",
                    "max_age = 600",
                )),
            },
            unknown => problems.push(unknown_key(unknown)),
        }
    }
    config
}

fn read_list(key: &str, value: &toml::Value, problems: &mut Vec<Problem>) -> Vec<String> {
    match value {
        toml::Value::Array(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| match item {
                toml::Value::String(s) => Some(s.clone()),
                other => {
                    problems.push(wrong_type(
                        &format!("{key}[{i}]"),
                        other,
                        "a string",
                        &format!("{key} = [\"…\"]"),
                    ));
                    None
                }
            })
            .collect(),
        toml::Value::String(s) => {
            problems.push(wrong_type(
                key,
                value,
                "a list of strings",
                &format!("{key} = [{s:?}]"),
            ));
            // Validate what was meant too, so that its own problems show up now, not after the fix.
            vec![s.clone()]
        }
        other => {
            problems.push(wrong_type(
                key,
                other,
                "a list of strings",
                &format!("{key} = [\"…\"]"),
            ));
            Vec::new()
        }
    }
}

fn read_bool(key: &str, value: &toml::Value, problems: &mut Vec<Problem>) -> bool {
    match value {
        toml::Value::Boolean(b) => *b,
        toml::Value::String(s) if s == "true" || s == "false" => {
            problems.push(wrong_type(
                key,
                value,
                "a boolean",
                &format!("{key} = {s} (no quotes)"),
            ));
            // Validate what was meant too, so that the problems it causes show up now.
            s == "true"
        }
        other => {
            problems.push(wrong_type(
                key,
                other,
                "a boolean",
                &format!("{key} = true"),
            ));
            false
        }
    }
}

fn wrong_type(key: &str, value: &toml::Value, expected: &str, fix: &str) -> Problem {
    Problem::error(ProblemKind::WrongType, key)
        .value(value.clone())
        .because(format!("expected {expected}, found {}", value.type_str()))
        .fix(format!("write {fix}"))
}

fn unknown_key(key: &str) -> Problem {
    const ALIASES: [(&str, &str); 12] = [
        ("origin", "allow_origins"),
        ("method", "allow_methods"),
        ("header", "allow_headers"),
        ("origins", "allow_origins"),
        ("methods", "allow_methods"),
        ("headers", "allow_headers"),
        ("exposed_headers", "expose_headers"),
        ("credentials", "allow_credentials"),
        ("supports_credentials", "allow_credentials"),
        ("maxage", "max_age"),
        ("max_age_seconds", "max_age"),
        ("allow_private_network", "(not supported yet)"),
    ];
    let normalized = key.to_ascii_lowercase().replace('-', "_");
    let suggestion = ALIASES
        .iter()
        .find(|(alias, _)| *alias == normalized)
        .map(|(_, k)| *k)
        .or_else(|| {
            KEYS.iter()
                .map(|k| (strsim::levenshtein(&normalized, k), *k))
                .filter(|(d, k)| *d <= 3.max(k.len() / 4))
                .min()
                .map(|(_, k)| k)
        });
    let draft = Problem::error(ProblemKind::UnknownKey, key).because("unknown key");
    match suggestion {
        Some(k) if k.starts_with('(') => draft.fix(format!("remove it {k}")),
        Some(k) => draft.fix(format!("did you mean `{k}`?")),
        None => draft.fix(format!("remove it; the keys are {}", KEYS.join(", "))),
    }
}

/// Validates every key and builds the compiled form, and the origin rules it matches. Problems are
/// pushed in the order of [`KEYS`].
fn compile(config: &PolicyConfig, problems: &mut Vec<Problem>) -> (Compiled, Vec<OriginRule>) {
    let credentials = config.allow_credentials;
    let (origins, origin_rules) = compile_origins(config, problems);
    let (methods, allow_methods) = compile_methods(&config.allow_methods, problems);
    let (headers, allow_headers) = compile_allow_headers(&config.allow_headers, problems);
    let expose_headers = compile_expose_headers(&config.expose_headers, credentials, problems);
    let max_age = compile_max_age(config.max_age, problems);
    // `*` without credentials answers `*` to everyone; anything else reflects the origin.
    let vary_origin = !origins.is_any() || credentials;
    let preflight_answer = crate::server::preflight_answer(
        credentials,
        reflect(&methods, &allow_methods),
        reflect(&headers, &allow_headers),
        max_age.as_ref(),
    );
    let mut origins = origins;
    origins.set_preflight_answers(|allow_origin| {
        crate::server::with_allow_origin(&preflight_answer, allow_origin.clone())
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

fn compile_max_age(max_age: Option<i64>, problems: &mut Vec<Problem>) -> Option<HeaderValue> {
    let seconds = max_age?;
    if !(0..=MAX_AGE_LIMIT).contains(&seconds) {
        let fix = if seconds < 0 {
            "max_age = 0 to disable preflight caching, or a number of seconds such as max_age = 600"
                .to_owned()
        } else {
            format!("max_age = {CHROMIUM_MAX_AGE_CAP} (Chromium's cap, 2 hours)")
        };
        problems.push(
            Problem::error(ProblemKind::MaxAgeOutOfRange, "max_age")
                .value(seconds)
                .because(format!(
                    "must be between 0 and {MAX_AGE_LIMIT} seconds (24 hours, Firefox's cap)"
                ))
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

#[cfg(test)]
mod tests;
