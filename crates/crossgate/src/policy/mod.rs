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
mod compile;
mod error;
mod intern;
mod origin_matcher;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use allow_origin::{OriginRule, PortRule};
pub use error::{PolicyErrors, Problem, ProblemKind, ProblemValue, Severity};

use compile::compile;
pub(crate) use compile::{Compiled, STAR, TRUE_VALUE, VARY_PREFLIGHT_VALUE, with_allow_origin};
pub(crate) use origin_matcher::Match;

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
        Policy::from_table(&table)
    }

    /// Reads and validates a policy already parsed as TOML (a table inside a larger file, such
    /// as a proxy's route): the same checks as [`Policy::from_toml`], every problem at once.
    pub fn from_table(table: &toml::Table) -> Result<Policy, PolicyErrors> {
        let mut problems = Vec::new();
        let config = read_table(table, &mut problems);
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
/// The lists take anything that is a string: `&str`, `String`, and `http`'s own names.
///
/// ```
/// use std::time::Duration;
/// use http::{Method, header};
///
/// let policy = crossgate::Policy::builder()
///     .allow_origins(["https://app.example.com"])
///     .allow_methods([Method::PUT, Method::DELETE])
///     .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
///     .expose_headers(["x-request-id"])
///     .allow_credentials(true)
///     .max_age(Duration::from_secs(600))
///     .build()?;
/// assert!(policy.allows_origin("https://app.example.com"));
/// assert_eq!(policy.config().allow_methods, ["PUT", "DELETE"]);
/// # Ok::<(), crossgate::policy::PolicyErrors>(())
/// ```
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct PolicyBuilder {
    config: PolicyConfig,
    /// What [`PolicyBuilder::max_age`] could not put in the model (a fraction of a second, or
    /// more seconds than an `i64` holds), returned by [`PolicyBuilder::build`].
    max_age_problem: Option<Problem>,
}

impl PolicyBuilder {
    /// Adds allowed origins (see [`PolicyConfig::allow_origins`]).
    pub fn allow_origins(mut self, origins: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        extend(&mut self.config.allow_origins, origins);
        self
    }

    /// Adds allowed methods (see [`PolicyConfig::allow_methods`]): `"PUT"` or `Method::PUT`.
    pub fn allow_methods(mut self, methods: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        extend(&mut self.config.allow_methods, methods);
        self
    }

    /// Adds allowed request headers (see [`PolicyConfig::allow_headers`]): `"content-type"` or
    /// `header::CONTENT_TYPE`.
    pub fn allow_headers(mut self, headers: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        extend(&mut self.config.allow_headers, headers);
        self
    }

    /// Adds exposed response headers (see [`PolicyConfig::expose_headers`]).
    pub fn expose_headers(mut self, headers: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        extend(&mut self.config.expose_headers, headers);
        self
    }

    /// Allows credentialed requests (see [`PolicyConfig::allow_credentials`]).
    pub fn allow_credentials(mut self, yes: bool) -> Self {
        self.config.allow_credentials = yes;
        self
    }

    /// Sets `Access-Control-Max-Age` (see [`PolicyConfig::max_age`]). The header counts whole
    /// seconds: a duration with a fraction of a second is a [`Problem`], as is one outside
    /// 0 to [`MAX_AGE_LIMIT`] seconds, which [`PolicyBuilder::build`] returns with the others.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        let seconds = i64::try_from(max_age.as_secs()).ok();
        match seconds.filter(|_| max_age.subsec_nanos() == 0) {
            Some(seconds) => {
                self.config.max_age = Some(seconds);
                self.max_age_problem = None;
            }
            None => {
                self.config.max_age = None;
                self.max_age_problem = Some(compile::max_age_duration_problem(max_age));
            }
        }
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
        Policy::validate(self.config, self.max_age_problem.into_iter().collect())
    }
}

/// Adds each item to a list of the model, as a string.
fn extend(list: &mut Vec<String>, items: impl IntoIterator<Item = impl AsRef<str>>) {
    list.extend(items.into_iter().map(|item| item.as_ref().to_owned()));
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

#[cfg(test)]
mod tests;
