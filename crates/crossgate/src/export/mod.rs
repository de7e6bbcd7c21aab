//! A [`Policy`] rendered for the servers people already run: nginx, Caddy, Apache, Express (the
//! `cors` package), FastAPI/Starlette (`CORSMiddleware`) and AWS S3 (the bucket CORS JSON).
//!
//! [`render`] reproduces what crossgate itself answers ([`crate::server`]): which origins get
//! `Access-Control-Allow-Origin` (the request's origin echoed, or `*`), credentials only for
//! allowed origins, `Vary: Origin`, preflights answered 204 only when the origin, the requested
//! method and the requested headers are all allowed (403 otherwise), and the method, header,
//! max-age and exposed-header values. Where a target cannot say exactly that, the [`Export`]
//! carries a [`Difference`] for each way its behaviour differs, in words a user can act on; where
//! the target would allow more than the policy and nothing can be done about it, [`render`]
//! returns a [`Refusal`] instead. It never emits something that silently allows more than the
//! policy.
//!
//! ```
//! use crossgate::Policy;
//! use crossgate::export::{self, Target};
//!
//! let policy = Policy::from_toml(r#"
//!     allow_origins = ["https://app.example.com", "https://*.example.org"]
//!     allow_methods = ["PUT"]
//!     allow_credentials = true
//! "#)?;
//! let nginx = export::render(&policy, Target::Nginx).expect("nginx can say this policy");
//! assert!(nginx.text.contains(r#""~^https://(?:[a-z0-9_-]+\.)+example\.org$""#));
//!
//! let s3 = Policy::from_toml(r#"
//!     allow_origins = ["https://*.example.org:*"]
//! "#)?;
//! let refusal = export::render(&s3, Target::S3).unwrap_err();
//! assert_eq!(refusal.reasons[0].code, "origin-pattern");
//! # Ok::<(), crossgate::policy::PolicyErrors>(())
//! ```
//!
//! Pure: the module builds text and never reads or writes a file.

mod apache;
mod caddy;
mod express;
mod fastapi;
mod nginx;
mod s3;

use std::fmt;
use std::str::FromStr;

use http::header::{ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS};

use crate::Policy;
use crate::fetch;
use crate::policy::{OriginRule, PortRule};

/// A server or service a policy can be exported to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target {
    /// An nginx snippet: `map` blocks for `http {}` and the directives to `include` in a `location`.
    Nginx,
    /// A Caddyfile snippet, `(crossgate_cors)`, to `import` in a site block.
    Caddy,
    /// Apache httpd directives (mod_setenvif, mod_headers, mod_rewrite).
    Apache,
    /// A Node.js module exporting the options of the npm `cors` package (Express middleware).
    Express,
    /// A Python module holding the keyword arguments of Starlette's `CORSMiddleware` (FastAPI).
    Fastapi,
    /// The bucket CORS configuration of AWS S3, as JSON (`aws s3api put-bucket-cors`).
    S3,
}

impl Target {
    /// Every target, in the order the documentation lists them.
    pub const ALL: [Target; 6] = [
        Target::Nginx,
        Target::Caddy,
        Target::Apache,
        Target::Express,
        Target::Fastapi,
        Target::S3,
    ];

    /// The name used on the command line: `nginx`, `caddy`, `apache`, `express`, `fastapi`, `s3`.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Nginx => "nginx",
            Target::Caddy => "caddy",
            Target::Apache => "apache",
            Target::Express => "express",
            Target::Fastapi => "fastapi",
            Target::S3 => "s3",
        }
    }

    /// The name people know it by, for messages: `nginx`, `Caddy`, `Apache`, `Express (cors)`,
    /// `FastAPI (Starlette)`, `S3`.
    pub fn display_name(self) -> &'static str {
        match self {
            Target::Nginx => "nginx",
            Target::Caddy => "Caddy",
            Target::Apache => "Apache",
            Target::Express => "Express (cors)",
            Target::Fastapi => "FastAPI (Starlette)",
            Target::S3 => "S3",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A target name that is not one of [`Target::ALL`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownTarget(pub String);

impl fmt::Display for UnknownTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Target::ALL.iter().map(|t| t.as_str()).collect();
        write!(
            f,
            "unknown export target {:?}: expected one of {}",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownTarget {}

impl FromStr for Target {
    type Err = UnknownTarget;

    fn from_str(s: &str) -> Result<Target, UnknownTarget> {
        Target::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownTarget(s.to_owned()))
    }
}

/// A policy rendered for a target.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Export {
    /// The configuration text, ending with a newline.
    pub text: String,
    /// How the target's behaviour differs from crossgate's with this policy (never by allowing
    /// more without saying so here).
    pub warnings: Vec<Difference>,
}

/// One way a target behaves differently from the policy, or cannot express it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Difference {
    /// A stable kebab-case code (`preflight-status`, `credentials`, `origin-pattern`…).
    pub code: &'static str,
    /// What differs and what it means for a user, lower case, no trailing period.
    pub message: String,
}

impl Difference {
    fn new(code: &'static str, message: impl Into<String>) -> Difference {
        Difference {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Why a policy cannot be exported to a target: every reason found, each saying what the target
/// would do instead and what to change.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Refusal {
    /// The target asked for.
    pub target: Target,
    /// Every reason, at least one.
    pub reasons: Vec<Difference>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot export this policy to {}: ",
            self.target.display_name()
        )?;
        for (i, reason) in self.reasons.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            f.write_str(&reason.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Refusal {}

/// Renders `policy` for `target`: the configuration text and how the target differs, or why it
/// cannot be done.
pub fn render(policy: &Policy, target: Target) -> Result<Export, Refusal> {
    let model = Model::new(policy);
    let mut out = Rendered::default();
    refuse_unwritable_origins(&model, &mut out);
    match target {
        Target::Nginx => nginx::render(&model, &mut out),
        Target::Caddy => caddy::render(&model, &mut out),
        Target::Apache => apache::render(&model, &mut out),
        Target::Express => express::render(&model, &mut out),
        Target::Fastapi => fastapi::render(&model, &mut out),
        Target::S3 => s3::render(&model, &mut out),
    }
    if out.refusals.is_empty() {
        Ok(Export {
            text: out.text,
            warnings: out.warnings,
        })
    } else {
        Err(Refusal {
            target,
            reasons: out.refusals,
        })
    }
}

/// Refuses origins holding a control character or white space, which validation never lets
/// through (browsers never send them) and which no target could hold on one line of text. Every
/// other character is the renderers' to escape: each quotes what it writes.
fn refuse_unwritable_origins(model: &Model, out: &mut Rendered) {
    for entry in model.entries() {
        let spelled = entry.to_string();
        if spelled.contains(|c: char| c.is_control() || c.is_whitespace()) {
            out.refuse(
                "origin-characters",
                format!(
                    "the origin {} holds a control character or white space, which no browser sends in an \
                     Origin and no configuration can hold on one line; correct the policy",
                    spelled.escape_debug()
                ),
            );
        }
    }
}

/// What a renderer produces: text, warnings and refusals (any refusal wins).
#[derive(Debug, Default)]
struct Rendered {
    text: String,
    warnings: Vec<Difference>,
    refusals: Vec<Difference>,
}

impl Rendered {
    fn line(&mut self, line: impl AsRef<str>) {
        self.text.push_str(line.as_ref());
        self.text.push('\n');
    }

    fn warn(&mut self, code: &'static str, message: impl Into<String>) {
        self.warnings.push(Difference::new(code, message));
    }

    fn refuse(&mut self, code: &'static str, message: impl Into<String>) {
        self.refusals.push(Difference::new(code, message));
    }
}

/// The policy as the renderers need it: what crossgate answers, read from the validated policy.
#[derive(Debug)]
struct Model {
    origins: Origins,
    /// `None`: any method (`*`). Otherwise the methods a preflight may ask for besides the
    /// safelisted GET, HEAD and POST, in the policy's order (case as written: methods are
    /// case-sensitive).
    methods: Option<Vec<String>>,
    /// `None`: any request header (`*`). Otherwise the allowed names, lower case, in the policy's
    /// order.
    headers: Option<Vec<String>>,
    /// `Access-Control-Expose-Headers` names (`*` possible without credentials).
    expose: Vec<String>,
    credentials: bool,
    max_age: Option<i64>,
    block: bool,
}

/// `allow_origins`, as the policy read it ([`Policy::origin_rules`]).
#[derive(Debug, PartialEq, Eq)]
enum Origins {
    /// `*`: every origin, answered `Access-Control-Allow-Origin: *`.
    Any,
    /// The listed origins and patterns (never [`OriginRule::Any`]), each echoed when it matches.
    List(Vec<OriginRule>),
}

impl OriginRule {
    /// The entry for a comment line: what is not plainly an origin's character (quotes, `$`, `{`,
    /// `\`, controls…) percent-encoded, so that no comment
    /// ends early, continues onto the next line (Apache's trailing `\`) or is read for variables
    /// (Caddy's `{$VAR}`).
    fn commented(&self) -> String {
        let mut out = String::new();
        for c in self.to_string().chars() {
            if c.is_ascii_alphanumeric() || "-._~:/*[]@!&()+,=".contains(c) {
                out.push(c);
            } else {
                let mut buf = [0; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        }
        out
    }

    /// A regular expression, without anchors, matching exactly the `Origin` values this entry
    /// allows, in the subset that PCRE (nginx, Apache), RE2 (Caddy), Python's `re` and JavaScript
    /// agree on. Host labels are what browsers send: lower-case letters, digits, `-` and `_`.
    fn regex(&self) -> String {
        match self {
            OriginRule::Exact { .. } | OriginRule::Any => regex_escape(&self.to_string()),
            OriginRule::Subdomains {
                scheme,
                domain,
                port,
            } => {
                let port = match port {
                    PortRule::Default => String::new(),
                    PortRule::Exact(n) => format!(":{n}"),
                    PortRule::Any => ANY_PORT.to_owned(),
                };
                format!(
                    "{}://{SUBDOMAIN_LABELS}{}{port}",
                    regex_escape(scheme),
                    regex_escape(domain)
                )
            }
            OriginRule::AnyPort { scheme, host } => {
                format!(
                    "{}://{}{ANY_PORT}",
                    regex_escape(scheme),
                    regex_escape(host)
                )
            }
        }
    }
}

/// One or more host labels and their dots, as browsers serialize hosts.
const SUBDOMAIN_LABELS: &str = r"(?:[a-z0-9_-]+\.)+";

/// An optional port.
const ANY_PORT: &str = "(?::[0-9]{1,5})?";

/// A method token, for policies that allow any method.
const TOKEN_REGEX: &str = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+";

/// Escapes every character a regular expression treats specially (`/`, which ends a JavaScript
/// regex literal, is the Express renderer's to escape).
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '.'
                | '^'
                | '$'
                | '*'
                | '+'
                | '?'
                | '('
                | ')'
                | '['
                | ']'
                | '{'
                | '}'
                | '|'
                | '#'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Model {
    fn new(policy: &Policy) -> Model {
        let config = policy.config();
        let compiled = policy.compiled();
        let rules = policy.origin_rules();
        let origins = if rules.contains(&OriginRule::Any) {
            Origins::Any
        } else {
            Origins::List(rules.to_vec())
        };
        let names = |set: &Option<Vec<Box<[u8]>>>, value: Option<&http::HeaderValue>| {
            set.as_ref().map(|_| split_list(value))
        };
        let methods = names(
            &compiled.methods,
            compiled.preflight_answer.get(ACCESS_CONTROL_ALLOW_METHODS),
        );
        let headers = names(
            &compiled.headers,
            compiled.preflight_answer.get(ACCESS_CONTROL_ALLOW_HEADERS),
        );
        Model {
            origins,
            methods,
            headers,
            expose: split_list(compiled.expose_headers.as_ref()),
            credentials: compiled.credentials,
            max_age: config.max_age,
            block: compiled.block_disallowed,
        }
    }

    /// The listed origins (empty for `*`).
    fn entries(&self) -> &[OriginRule] {
        match &self.origins {
            Origins::Any => &[],
            Origins::List(list) => list,
        }
    }

    /// Whether `Access-Control-Allow-Origin` depends on the request's `Origin` (so responses
    /// carry `Vary: Origin`), as [`crate::server`] decides it.
    fn vary_origin(&self) -> bool {
        self.origins != Origins::Any || self.credentials
    }

    /// `^(?:a|b)$` over every listed origin; `None` when nothing is listed.
    fn origin_regex(&self) -> Option<String> {
        let entries = self.entries();
        if entries.is_empty() {
            return None;
        }
        let parts: Vec<String> = entries.iter().map(OriginRule::regex).collect();
        Some(format!("^(?:{})$", parts.join("|")))
    }

    /// The methods a preflight may ask for, safelisted ones included, as an anchored regex
    /// (case-sensitive, as browsers compare methods).
    fn method_regex(&self) -> String {
        match &self.methods {
            None => format!("^{TOKEN_REGEX}$"),
            Some(extra) => {
                let all: Vec<String> = fetch::SAFELISTED_METHODS
                    .iter()
                    .map(|m| (*m).to_owned())
                    .chain(extra.iter().cloned())
                    .map(|m| regex_escape(&m))
                    .collect();
                format!("^(?:{})$", all.join("|"))
            }
        }
    }

    /// An `Access-Control-Request-Headers` value whose every name is allowed, as an anchored
    /// regex to match ignoring case (`None` for `*`): a comma-separated list with optional
    /// white space and empty elements, as [`crate::server::check_request_headers`] reads it.
    fn headers_regex(&self) -> Option<String> {
        let names = self.headers.as_ref()?;
        if names.is_empty() {
            return Some(r"^[\t ,]*$".to_owned());
        }
        let names: Vec<String> = names.iter().map(|n| regex_escape(n)).collect();
        Some(format!(
            r"^[\t ,]*(?:(?:{})[\t ]*(?:,[\t ,]*|$))*$",
            names.join("|")
        ))
    }

    /// The `Access-Control-Allow-Methods` value of an allowed preflight (`None`: not sent, or
    /// the request's own method when any is allowed).
    fn allow_methods_value(&self) -> Option<String> {
        join(self.methods.as_deref()?)
    }

    /// The `Access-Control-Allow-Headers` value of an allowed preflight (`None`: not sent, or
    /// the request's own list when any is allowed).
    fn allow_headers_value(&self) -> Option<String> {
        join(self.headers.as_deref()?)
    }

    fn expose_value(&self) -> Option<String> {
        join(&self.expose)
    }

    /// What the policy allows, in one comment line per item, for the top of each export.
    fn summary(&self) -> Vec<String> {
        let origins = match &self.origins {
            Origins::Any => "* (any origin)".to_owned(),
            Origins::List(list) if list.is_empty() => "none".to_owned(),
            Origins::List(list) => list
                .iter()
                .map(OriginRule::commented)
                .collect::<Vec<_>>()
                .join(", "),
        };
        let methods = match &self.methods {
            None => "any".to_owned(),
            Some(extra) => {
                let mut all: Vec<&str> = fetch::SAFELISTED_METHODS.to_vec();
                all.extend(extra.iter().map(String::as_str));
                all.join(", ")
            }
        };
        let headers = match &self.headers {
            None => "any".to_owned(),
            Some(list) if list.is_empty() => "CORS-safelisted only".to_owned(),
            Some(list) => list.join(", "),
        };
        let mut lines = vec![
            format!("origins:     {origins}"),
            format!("methods:     {methods}"),
            format!("headers:     {headers}"),
        ];
        if !self.expose.is_empty() {
            lines.push(format!("exposes:     {}", self.expose.join(", ")));
        }
        lines.push(format!(
            "credentials: {}",
            if self.credentials { "yes" } else { "no" }
        ));
        if let Some(max_age) = self.max_age {
            lines.push(format!("max_age:     {max_age}"));
        }
        if self.block {
            lines.push("blocks:      requests from other origins (403)".to_owned());
        }
        lines
    }

    /// The preflight answer's `Vary`, as crossgate sends it.
    const PREFLIGHT_VARY: &'static str =
        "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";
}

/// `text` in double quotes, for a configuration language whose quoted strings read `\"` as `"`, a
/// `\` before one of `escapes` as an escape, and any other `\` as itself (nginx, Apache): every
/// `"` is escaped, and a `\` is doubled where it would otherwise start an escape (before one of
/// `escapes`, a `"` or the closing quote), so that a regex's `\.` stays as readable as it is.
fn double_quoted(text: &str, escapes: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => {
                let escapes_next = chars
                    .peek()
                    .is_none_or(|&n| n == '"' || escapes.contains(n));
                out.push_str(if escapes_next { "\\\\" } else { "\\" });
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `a, b` from a header value crossgate built (`None` → empty).
/// A double-quoted string that JSON and Python read alike: `\` and `"` escaped, and every
/// control character (a line break would end a Python string) as `\uXXXX`.
fn escaped_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '\\' | '"' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A list of [`escaped_string`]s: a JSON array, or a Python list.
fn escaped_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|i| escaped_string(i)).collect();
    format!("[{}]", items.join(", "))
}

fn split_list(value: Option<&http::HeaderValue>) -> Vec<String> {
    value
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// `a, b`; `None` for an empty list.
fn join(items: &[String]) -> Option<String> {
    (!items.is_empty()).then(|| items.join(", "))
}

/// A header comment: the title and the policy summary, each line prefixed with `prefix`.
fn header_comment(out: &mut Rendered, prefix: &str, title: &str, model: &Model) {
    out.line(format!("{prefix}{title}"));
    out.line(format!(
        "{prefix}Generated by `crossgate export` from a crossgate policy: change the policy and export"
    ));
    out.line(format!(
        "{prefix}again rather than editing this by hand. The policy allows:"
    ));
    for line in model.summary() {
        out.line(format!("{prefix}  {line}"));
    }
}

#[cfg(test)]
mod tests;
