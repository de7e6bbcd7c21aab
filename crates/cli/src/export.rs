//! `crossgate export --to TARGET POLICY.toml`: a policy rendered for nginx, Caddy, Apache,
//! Express, FastAPI or S3, with every way the target behaves differently, or the reason it cannot.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use crossgate::Policy;
use crossgate::export::{self, Difference, Target};
use serde::Serialize;

use crate::output::{self, Status};
use crate::validate::{ProblemJson, write_problem};

/// `crossgate export --help`'s description (set on the subcommand in `main`).
pub(crate) const LONG_ABOUT: &str = "\
Renders a CORS policy file (TOML; `-` reads standard input) as configuration for the server or
service in front of your API, reproducing what crossgate itself answers: which origins are
echoed in Access-Control-Allow-Origin (or `*`), credentials only for allowed origins,
Vary: Origin, preflights answered 204 only when the origin, method and headers are allowed (403
otherwise), and the method, header, max-age and exposed-header values.

Targets:
  nginx    `map` blocks for http {} (part 1) and directives for the API's location {} (part 2)
  caddy    a Caddyfile snippet, (crossgate_cors), to `import` in the site block
  apache   mod_setenvif + mod_headers + mod_rewrite directives
  express  a Node.js module exporting the options of the npm `cors` package
  fastapi  a Python module with CORS_KWARGS for Starlette's CORSMiddleware
  s3       the bucket CORS configuration JSON (aws s3api put-bucket-cors)

Where a target behaves differently from the policy, each difference is printed on stderr as a
warning (and listed in --json). Where it would allow more than the policy and nothing can be
done about it, nothing is written and the reason is printed instead: export never emits
something that silently allows more than the policy.

Standard output carries the configuration alone (or -o FILE does); the policy's problems,
refusals and warnings go to standard error.

Exit status: 0 exported (warnings allowed), 1 the policy is invalid or the target cannot express
it, 2 usage or I/O error.";

const JSON_SCHEMA: &str = "\
--json prints one object:

  {
    \"file\": string,                 the policy path as given (\"-\" for standard input)
    \"target\": string,               nginx, caddy, apache, express, fastapi or s3
    \"exported\": bool,
    \"output\": string | null,        the file written with -o, else null
    \"text\": string | null,          the configuration, when exported (also written to -o)
    \"warnings\": [ {\"code\": string, \"message\": string} ],
                                    how the target differs from the policy
    \"refusals\": [ {\"code\": string, \"message\": string} ],
                                    why it cannot be exported (then exported is false)
    \"problems\": [ ... ]             the policy's validation errors and warnings, as
                                    `crossgate validate --json` prints them (exported is false
                                    when one is an error)
  }

Examples:
  crossgate export --to nginx policy.toml -o /etc/nginx/snippets/cors.conf
  crossgate export --to s3 policy.toml > cors.json && aws s3api put-bucket-cors \\
      --bucket my-bucket --cors-configuration file://cors.json";

/// Arguments of `crossgate export`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = JSON_SCHEMA)]
pub(crate) struct Args {
    /// The target: nginx, caddy, apache, express, fastapi or s3
    #[arg(long = "to", value_name = "TARGET", value_parser = parse_target)]
    to: Target,
    /// The policy file; `-` reads standard input
    #[arg(value_name = "POLICY.toml")]
    file: PathBuf,
    /// Write the configuration to FILE instead of standard output
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Print JSON instead of text (schema in --help)
    #[arg(long)]
    json: bool,
}

fn parse_target(name: &str) -> Result<Target, String> {
    name.parse::<Target>().map_err(|e| e.to_string())
}

#[derive(Serialize)]
struct ReportJson<'a> {
    file: String,
    target: &'static str,
    exported: bool,
    output: Option<String>,
    text: Option<&'a str>,
    warnings: Vec<DifferenceJson<'a>>,
    refusals: Vec<DifferenceJson<'a>>,
    problems: Vec<ProblemJson<'a>>,
}

#[derive(Serialize)]
struct DifferenceJson<'a> {
    code: &'static str,
    message: &'a str,
}

impl<'a> From<&'a Difference> for DifferenceJson<'a> {
    fn from(d: &'a Difference) -> DifferenceJson<'a> {
        DifferenceJson {
            code: d.code,
            message: &d.message,
        }
    }
}

/// Runs `crossgate export`.
pub(crate) fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<Status> {
    let (name, text) = output::read_input(&args.file)?;
    let target = args.to;
    let mut report = ReportJson {
        file: args.file.display().to_string(),
        target: target.as_str(),
        exported: false,
        output: None,
        text: None,
        warnings: Vec::new(),
        refusals: Vec::new(),
        problems: Vec::new(),
    };

    let policy = match Policy::from_toml(&text) {
        Ok(policy) => policy,
        Err(errors) => {
            if args.json {
                report.problems = errors.problems().iter().map(Into::into).collect();
                output::write_json(out, &report)?;
            } else {
                let mut err = std::io::stderr().lock();
                for problem in errors.problems() {
                    write_problem(&name, problem, &mut err)?;
                }
                writeln!(err, "crossgate: {name}: invalid policy, nothing exported")?;
            }
            return Ok(Status::Failed);
        }
    };

    // The policy's own warnings (a max_age above Chromium's cap…) are worth seeing here too.
    report.problems = policy.warnings().iter().map(Into::into).collect();
    if !args.json {
        let mut err = std::io::stderr().lock();
        for problem in policy.warnings() {
            write_problem(&name, problem, &mut err)?;
        }
    }

    let exported = match export::render(&policy, target) {
        Ok(exported) => exported,
        Err(refusal) => {
            if args.json {
                report.refusals = refusal.reasons.iter().map(Into::into).collect();
                output::write_json(out, &report)?;
            } else {
                let mut err = std::io::stderr().lock();
                writeln!(
                    err,
                    "crossgate: {name}: cannot export to {}, nothing written:",
                    target.display_name()
                )?;
                for reason in &refusal.reasons {
                    writeln!(err, "  refused[{}]: {}", reason.code, reason.message)?;
                }
            }
            return Ok(Status::Failed);
        }
    };

    if let Some(path) = &args.output {
        std::fs::write(path, &exported.text)
            .with_context(|| format!("cannot write {}", path.display()))?;
        report.output = Some(path.display().to_string());
    }
    if args.json {
        report.exported = true;
        report.text = Some(&exported.text);
        report.warnings = exported.warnings.iter().map(Into::into).collect();
        output::write_json(out, &report)?;
    } else {
        if args.output.is_none() {
            out.write_all(exported.text.as_bytes())?;
        }
        // Warnings go to stderr so that standard output stays the configuration alone.
        let mut err = std::io::stderr().lock();
        for warning in &exported.warnings {
            writeln!(
                err,
                "crossgate: warning[{}]: {}: {}",
                warning.code,
                target.display_name(),
                warning.message
            )?;
        }
        if let Some(path) = &args.output {
            writeln!(
                err,
                "crossgate: wrote {} ({} for {})",
                path.display(),
                output::count(exported.warnings.len(), "warning"),
                target.display_name()
            )?;
        }
    }
    Ok(Status::Ok)
}
