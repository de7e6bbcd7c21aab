//! What policy validation reports: every problem at once, each with the key, the offending value,
//! why it is wrong and the fix.

use std::fmt;

/// How bad a [`Problem`] is: errors refuse the policy, warnings do not. Non-exhaustive: a
/// milder level (a note) may come; compare with [`Severity::Error`] to know whether a problem
/// refuses the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Severity {
    /// The policy is refused.
    Error,
    /// The policy is accepted, but probably does not do what its author meant.
    Warning,
}

impl Severity {
    /// `error` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// What kind of problem, as a stable machine-readable code (see [`ProblemKind::code`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProblemKind {
    /// The file is not valid TOML.
    Syntax,
    /// A key the policy does not know.
    UnknownKey,
    /// A value of the wrong type (a string where a list was expected…).
    WrongType,
    /// `*` (or a pattern admitting every origin) together with `allow_credentials = true`.
    WildcardWithCredentials,
    /// The `null` origin, which any page can obtain (sandboxed iframes, `data:` URLs).
    NullOrigin,
    /// A `file://` origin: local files have an opaque origin and send `Origin: null`.
    FileOrigin,
    /// Not an origin at all.
    NotAnOrigin,
    /// An origin that a browser would never send as written (path, upper case, default port…).
    NonCanonicalOrigin,
    /// A subdomain or port pattern that is malformed.
    MalformedPattern,
    /// A subdomain pattern that covers a public suffix (`*.com`, `*.github.io`).
    PublicSuffixPattern,
    /// A plain-`http` origin other than loopback with credentials.
    InsecureOriginWithCredentials,
    /// A method that is not an HTTP token.
    InvalidMethod,
    /// `CONNECT`, `TRACE` or `TRACK`, which browsers never send.
    ForbiddenMethod,
    /// A method written in a case that browsers never send (`get` instead of `GET`).
    MethodCase,
    /// A header name that is not an HTTP token.
    InvalidHeaderName,
    /// A request header that script can never set (`Cookie`, `Sec-*`, `Proxy-*`…).
    ForbiddenHeaderName,
    /// `*` in `expose_headers` with credentials, where browsers read it as a header named `*`.
    WildcardExposeWithCredentials,
    /// `max_age` outside `0..=86400`.
    MaxAgeOutOfRange,
    /// A value listed twice.
    Duplicate,
    /// An entry that has no effect (a safelisted response header, others beside `*`…).
    Redundant,
    /// Nothing is allowed: every cross-origin request will be refused.
    NothingAllowed,
    /// A value that browsers cap or ignore (a `max_age` above Chromium's two hours…).
    IgnoredByBrowsers,
    /// A safety check turned off with a `dangerously_…` key.
    DangerousOptIn,
}

impl ProblemKind {
    /// A stable kebab-case code, for `--json` and for matching in scripts.
    pub fn code(self) -> &'static str {
        match self {
            ProblemKind::Syntax => "syntax",
            ProblemKind::UnknownKey => "unknown-key",
            ProblemKind::WrongType => "wrong-type",
            ProblemKind::WildcardWithCredentials => "wildcard-with-credentials",
            ProblemKind::NullOrigin => "null-origin",
            ProblemKind::FileOrigin => "file-origin",
            ProblemKind::NotAnOrigin => "not-an-origin",
            ProblemKind::NonCanonicalOrigin => "non-canonical-origin",
            ProblemKind::MalformedPattern => "malformed-pattern",
            ProblemKind::PublicSuffixPattern => "public-suffix-pattern",
            ProblemKind::InsecureOriginWithCredentials => "insecure-origin-with-credentials",
            ProblemKind::InvalidMethod => "invalid-method",
            ProblemKind::ForbiddenMethod => "forbidden-method",
            ProblemKind::MethodCase => "method-case",
            ProblemKind::InvalidHeaderName => "invalid-header-name",
            ProblemKind::ForbiddenHeaderName => "forbidden-header-name",
            ProblemKind::WildcardExposeWithCredentials => "wildcard-expose-with-credentials",
            ProblemKind::MaxAgeOutOfRange => "max-age-out-of-range",
            ProblemKind::Duplicate => "duplicate",
            ProblemKind::Redundant => "redundant",
            ProblemKind::NothingAllowed => "nothing-allowed",
            ProblemKind::IgnoredByBrowsers => "ignored-by-browsers",
            ProblemKind::DangerousOptIn => "dangerous-opt-in",
        }
    }
}

/// One problem in a policy: where, what, why, and how to fix it. Only validation makes one.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// What kind of problem.
    pub kind: ProblemKind,
    /// Where: a key, or a key and an index (`allow_origins[2]`); empty for the whole file.
    pub key: String,
    /// The offending value, if there is one.
    pub value: Option<ProblemValue>,
    /// Why it is a problem, lower case, no trailing period.
    pub reason: String,
    /// What to write instead.
    pub fix: String,
}

impl Problem {
    pub(crate) fn error(kind: ProblemKind, key: impl Into<String>) -> ProblemDraft {
        ProblemDraft(Problem {
            severity: Severity::Error,
            kind,
            key: key.into(),
            value: None,
            reason: String::new(),
            fix: String::new(),
        })
    }

    pub(crate) fn warning(kind: ProblemKind, key: impl Into<String>) -> ProblemDraft {
        let mut draft = Problem::error(kind, key);
        draft.0.severity = Severity::Warning;
        draft
    }
}

/// The offending value of a [`Problem`], as the policy holds it: a string, a number, a boolean,
/// a list… Its `Display` spells it as a policy file does (a string quoted, a number or a boolean
/// bare, a list in brackets); serialized (serde), it is that value in the target format, a
/// date-time as its text.
#[derive(Clone, Debug, PartialEq)]
pub struct ProblemValue(toml::Value);

impl ProblemValue {
    /// The value, if it is a string.
    pub fn as_str(&self) -> Option<&str> {
        self.0.as_str()
    }

    /// The value, if it is an integer.
    pub fn as_integer(&self) -> Option<i64> {
        self.0.as_integer()
    }

    /// The value, if it is a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        self.0.as_bool()
    }
}

impl fmt::Display for ProblemValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl serde::Serialize for ProblemValue {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            // serde would write the `toml` crate's private wrapper object.
            toml::Value::Datetime(datetime) => serializer.collect_str(datetime),
            value => value.serialize(serializer),
        }
    }
}

/// A [`Problem`] being written; keeps the constructors short at the call sites.
pub(crate) struct ProblemDraft(Problem);

impl ProblemDraft {
    pub(crate) fn value(mut self, value: impl Into<toml::Value>) -> ProblemDraft {
        self.0.value = Some(ProblemValue(value.into()));
        self
    }

    pub(crate) fn because(mut self, reason: impl Into<String>) -> ProblemDraft {
        self.0.reason = reason.into();
        self
    }

    pub(crate) fn fix(mut self, fix: impl Into<String>) -> Problem {
        self.0.fix = fix.into();
        self.0
    }
}

impl fmt::Display for Problem {
    /// `error[wildcard-with-credentials]: allow_origins[0] = "*": why (fix: …)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]: ", self.severity.as_str(), self.kind.code())?;
        match (&self.key, &self.value) {
            (k, Some(v)) if !k.is_empty() => write!(f, "{k} = {v}: ")?,
            (k, None) if !k.is_empty() => write!(f, "{k}: ")?,
            (_, Some(v)) => write!(f, "{v}: ")?,
            _ => {}
        }
        write!(f, "{} (fix: {})", self.reason, self.fix)
    }
}

/// Why a policy was refused: every error found, and the warnings beside them.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyErrors {
    problems: Vec<Problem>,
}

impl PolicyErrors {
    pub(crate) fn new(problems: Vec<Problem>) -> PolicyErrors {
        PolicyErrors { problems }
    }

    /// Every problem, errors and warnings: first what reading the file found (unknown keys,
    /// wrong types) in the order of the file, then each key's rules in the order of
    /// [`KEYS`](super::KEYS).
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// The errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
    }

    /// The warnings only.
    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Warning)
    }
}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors().count();
        write!(
            f,
            "invalid CORS policy ({n} error{})",
            if n == 1 { "" } else { "s" }
        )?;
        for p in self.errors() {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}
