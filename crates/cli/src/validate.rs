//! `crossgate validate POLICY.toml`: every error and warning in a policy file, each with its fix,
//! and what a valid policy allows.

use std::collections::HashSet;
use std::io::{self, Write};
use std::path::PathBuf;

use crossgate::Policy;
use crossgate::fetch;
use crossgate::policy::{PolicyConfig, Problem, Severity};
use serde::Serialize;

use crate::output::{self, Status, Table};

/// `crossgate validate --help`'s description (set on the subcommand in `main`: a doc comment there
/// would replace one set here).
pub(crate) const LONG_ABOUT: &str = "\
Reads a CORS policy file (TOML; `-` reads standard input) and checks it the way the proxy and
the tower layer will: every error and warning at once, each with the offending key and value,
why it is a problem, and the fix. For a valid policy, also prints what it allows.

Exit status: 0 valid (warnings allowed), 1 invalid, 2 the file cannot be read (a file of more
than 16 MiB, the most crossgate reads from one, cannot).";

const JSON_SCHEMA: &str = "\
--json prints one object:

  {
    \"file\": string,                 the path as given (\"-\" for standard input)
    \"valid\": bool,
    \"problems\": [                   errors and warnings, in the order of the file
      {
        \"severity\": \"error\" | \"warning\",
        \"code\": string,               stable, e.g. \"wildcard-with-credentials\"
        \"key\": string,                e.g. \"allow_origins[0]\"; \"\" for the whole file
        \"value\": any | null,          the offending value as JSON (\"*\", 100000, true…)
        \"reason\": string,             why it is a problem
        \"fix\": string                 what to write instead
      }
    ],
    \"policy\": object | null         the policy as read, when valid: allow_origins,
                                    allow_methods, allow_headers, expose_headers,
                                    allow_credentials, max_age (absent if unset), ...
  }

A file that cannot be read prints no JSON: one line on stderr, exit status 2.

Example:
  crossgate validate policy.toml";

/// Arguments of `crossgate validate`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = JSON_SCHEMA)]
pub(crate) struct Args {
    /// The policy file; `-` reads standard input
    #[arg(value_name = "POLICY.toml")]
    file: PathBuf,
    /// Print JSON instead of text (schema in --help)
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct ReportJson<'a> {
    file: String,
    valid: bool,
    problems: Vec<ProblemJson<'a>>,
    policy: Option<&'a PolicyConfig>,
}

/// A validation problem as JSON (also `export --json`'s).
#[derive(Serialize)]
pub(crate) struct ProblemJson<'a> {
    severity: &'static str,
    code: &'static str,
    key: &'a str,
    value: serde_json::Value,
    reason: &'a str,
    fix: &'a str,
}

impl<'a> From<&'a Problem> for ProblemJson<'a> {
    fn from(p: &'a Problem) -> ProblemJson<'a> {
        ProblemJson {
            severity: p.severity.as_str(),
            code: p.kind.code(),
            key: &p.key,
            value: json_value(p),
            reason: &p.reason,
            fix: &p.fix,
        }
    }
}

/// Runs `crossgate validate`.
pub(crate) fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<Status> {
    let (name, text) = output::read_input(&args.file)?;

    let result = Policy::from_toml(&text);
    let (problems, policy) = match &result {
        Ok(policy) => (policy.warnings(), Some(policy)),
        Err(errors) => (errors.problems(), None),
    };
    if args.json {
        let report = ReportJson {
            file: args.file.display().to_string(),
            valid: policy.is_some(),
            problems: problems.iter().map(ProblemJson::from).collect(),
            policy: policy.map(Policy::config),
        };
        output::write_json(out, &report)?;
    } else {
        for problem in problems {
            write_problem(&name, problem, out)?;
        }
        let errors = problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count();
        let warnings = problems.len() - errors;
        match policy {
            Some(policy) => {
                if warnings == 0 {
                    writeln!(out, "{name}: valid")?;
                } else {
                    writeln!(
                        out,
                        "{name}: valid ({})",
                        output::count(warnings, "warning")
                    )?;
                }
                write_allowed(policy.config(), out)?;
            }
            None => {
                let mut summary = output::count(errors, "error");
                if warnings > 0 {
                    summary = format!("{summary}, {}", output::count(warnings, "warning"));
                }
                writeln!(out, "{name}: invalid: {summary}")?;
            }
        }
    }
    Ok(if policy.is_some() {
        Status::Ok
    } else {
        Status::Failed
    })
}

/// ```text
/// policy.toml: error[wildcard-with-credentials] allow_origins[0] = "*"
///   for security reasons, …
///   fix: list the origins …
/// ```
pub(crate) fn write_problem(name: &str, p: &Problem, out: &mut dyn Write) -> io::Result<()> {
    write!(out, "{name}: {}[{}]", p.severity.as_str(), p.kind.code())?;
    match (p.key.as_str(), &p.value) {
        ("", None) => {}
        ("", Some(value)) => write!(out, " {value}")?,
        (key, None) => write!(out, " {key}")?,
        (key, Some(value)) => write!(out, " {key} = {value}")?,
    }
    writeln!(out)?;
    if !p.reason.is_empty() {
        writeln!(out, "  {}", p.reason)?;
    }
    if !p.fix.is_empty() {
        writeln!(out, "  fix: {}", p.fix)?;
    }
    Ok(())
}

/// The offending value as JSON: a TOML string, number, boolean or array becomes the same JSON
/// value; a date-time becomes a string (the engine's `ProblemValue` serializes it so).
fn json_value(p: &Problem) -> serde_json::Value {
    let Some(value) = &p.value else {
        return serde_json::Value::Null;
    };
    // A TOML value always has a JSON form, except a non-finite float, which becomes null.
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// What a valid policy allows, from the policy as written.
fn write_allowed(config: &PolicyConfig, out: &mut dyn Write) -> io::Result<()> {
    let list = |items: &[String]| items.join(", ");
    let any = |items: &[String]| items.iter().any(|i| i == "*");

    let origins = if config.allow_origins.is_empty() {
        "none: every cross-origin request is refused".to_owned()
    } else if any(&config.allow_origins) {
        "any (*)".to_owned()
    } else {
        list(&config.allow_origins)
    };
    let methods = if any(&config.allow_methods) {
        "any (*)".to_owned()
    } else {
        let mut methods: Vec<&str> = fetch::SAFELISTED_METHODS.to_vec();
        // A set beside the list: a long list stays linear.
        let mut seen: HashSet<&str> = methods.iter().copied().collect();
        for m in &config.allow_methods {
            if seen.insert(m) {
                methods.push(m);
            }
        }
        methods.join(", ")
    };
    let headers = if any(&config.allow_headers) {
        "any (*)".to_owned()
    } else if config.allow_headers.is_empty() {
        "CORS-safelisted only".to_owned()
    } else {
        format!("CORS-safelisted, {}", list(&config.allow_headers))
    };
    let exposes = if any(&config.expose_headers) {
        "all (*)".to_owned()
    } else if config.expose_headers.is_empty() {
        "CORS-safelisted only".to_owned()
    } else {
        format!("CORS-safelisted, {}", list(&config.expose_headers))
    };
    let credentials = if config.allow_credentials {
        "allowed (cookies, HTTP authentication)"
    } else {
        "not allowed"
    };
    let max_age = match config.max_age {
        Some(seconds) => format!("{seconds} seconds"),
        None => "not sent (browsers cache preflights for 5 seconds)".to_owned(),
    };

    let mut table = Table::new(&[]);
    table.row(vec!["origins:".into(), origins]);
    table.row(vec!["methods:".into(), methods]);
    table.row(vec!["headers:".into(), headers]);
    table.row(vec!["exposes:".into(), exposes]);
    table.row(vec!["credentials:".into(), credentials.into()]);
    table.row(vec!["max_age:".into(), max_age]);
    if config.block_disallowed_origins {
        table.row(vec![
            "blocks:".into(),
            "requests from other origins (403)".into(),
        ]);
    }
    table.write(out, "  ")
}
