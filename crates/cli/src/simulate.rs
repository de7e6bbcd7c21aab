//! `crossgate simulate FILE`: what a browser does with each scenario of a file (a cross-origin
//! `fetch()` and the servers' canned answers), as the result format other tools read, or
//! explained step by step.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, anyhow};
use crossgate::browser::Profile;
use crossgate::browser::scenario::{Scenario, ScenarioResult};

use crate::outcome::{self, Browser};
use crate::output::{self, Status};

/// `crossgate simulate --help`'s description (set on the subcommand in `main`: a doc comment there
/// would replace one set here).
pub(crate) const LONG_ABOUT: &str = "\
Runs each scenario of FILE (`-` reads standard input) the way a browser would: which requests
it sends (a preflight or not, redirects, `Origin: null` once a redirect taints it), which
answers pass the CORS checks, and what Chromium prints to the console. Nothing goes on the
network: the servers' answers are in the file.

FILE holds one scenario object or an array of them; the format is in scenarios/README.md:

  {\"name\": \"put-json\",
   \"request\": {\"origin\": \"http://127.0.0.1:8001\", \"url\": \"http://127.0.0.1:8002/r\",
               \"method\": \"PUT\", \"headers\": [[\"Content-Type\", \"application/json\"]],
               \"credentials\": \"omit\", \"body\": \"{}\"},
   \"server\": {\"http://127.0.0.1:8002/r\": {
       \"preflight\": {\"status\": 204, \"headers\": [[\"Access-Control-Allow-Origin\", \"http://127.0.0.1:8001\"],
                                               [\"Access-Control-Allow-Methods\", \"PUT\"],
                                               [\"Access-Control-Allow-Headers\", \"content-type\"]]},
       \"response\": {\"status\": 200, \"headers\": [[\"Access-Control-Allow-Origin\", \"http://127.0.0.1:8001\"]]}}}}

Prints a JSON array of results, one per scenario in input order (the contract other tools
read); --explain prints the same, step by step, for people, with the fix for each blocked one.

Exit status: 0 every scenario allowed, 1 at least one blocked, 2 the file cannot be read (more
than 16 MiB included) or is not a valid scenario file, such as an answer whose status is outside
100 to 599 (nothing is printed then).";

const JSON_SCHEMA: &str = "\
Prints a JSON array, one object per scenario, in input order (scenarios/README.md):

  [
    {
      \"name\": string,
      \"outcome\": \"allowed\" | \"blocked\",
      \"status\": number,              the final response's status; only when allowed
      \"preflight_sent\": bool,
      \"requests\": [                  every request the browser sends, in order
        {\"method\": string, \"url\": string,
         \"origin\": string | null,     the Origin header
         \"acrm\": string | null,       Access-Control-Request-Method
         \"acrh\": string | null}       Access-Control-Request-Headers
      ],
      \"readable_headers\": [string],  sorted lower-case names script can read, among those
                                     the scenario declares; only when allowed
      \"console\": [string]            Chromium's console messages, exactly
    }
  ]

Examples:
  crossgate simulate scenarios/examples.json
  crossgate simulate scenarios/examples.json --explain";

/// Arguments of `crossgate simulate`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = JSON_SCHEMA)]
pub(crate) struct Args {
    /// The scenario file (one scenario or an array); `-` reads standard input
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The browser to imitate
    #[arg(long, value_enum, default_value_t)]
    browser: Browser,
    /// Explain each scenario step by step for people, instead of the JSON results
    #[arg(long)]
    explain: bool,
}

/// Runs `crossgate simulate`.
pub(crate) fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<Status> {
    let (name, text) = output::read_input(&args.file)?;
    let scenarios = parse(&text).map_err(|e| anyhow!("{name}: {e:#}"))?;
    let profile = Profile::from(args.browser);

    // Every scenario runs before anything is printed: an invalid one is an error, not half a
    // report.
    let invalid = |scenario: &Scenario, e| anyhow!("{name}: scenario {:?}: {e}", scenario.name);
    let results = scenarios
        .iter()
        .map(|s| s.simulate(profile).map_err(|e| invalid(s, e)))
        .collect::<anyhow::Result<Vec<ScenarioResult>>>()?;
    let blocked = results.iter().filter(|r| r.outcome != "allowed").count();

    if args.explain {
        for (i, (scenario, result)) in scenarios.iter().zip(&results).enumerate() {
            // The same run again, for its steps (a scenario is deterministic).
            let outcome = scenario.run(profile).map_err(|e| invalid(scenario, e))?;
            if i > 0 {
                writeln!(out)?;
            }
            writeln!(out, "{}: {}", scenario.name, result.outcome)?;
            outcome::write_request_line(&scenario.to_request(), profile, out)?;
            outcome::write_exchanges(&outcome, out)?;
            let readable = result.readable_headers.as_deref().unwrap_or_default();
            outcome::write_verdict(&outcome, readable, out)?;
        }
        if results.len() > 1 {
            writeln!(
                out,
                "\n{}: {} allowed, {} blocked",
                output::count(results.len(), "scenario"),
                results.len() - blocked,
                blocked
            )?;
        }
    } else {
        output::write_json(out, &results)?;
    }
    Ok(if blocked == 0 {
        Status::Ok
    } else {
        Status::Failed
    })
}

/// One scenario or an array of them; names must be unique (other tools key results by name).
fn parse(text: &str) -> anyhow::Result<Vec<Scenario>> {
    // Not an untagged enum: serde_json's error would lose its line and column.
    let scenarios = if text.trim_start().starts_with('[') {
        serde_json::from_str::<Vec<Scenario>>(text)
    } else {
        serde_json::from_str::<Scenario>(text).map(|s| vec![s])
    }
    .context("not a valid scenario file")?;
    let mut seen = HashSet::new();
    for scenario in &scenarios {
        if !seen.insert(scenario.name.as_str()) {
            return Err(anyhow!(
                "scenario name {:?} appears twice (names are unique in a file)",
                scenario.name
            ));
        }
    }
    Ok(scenarios)
}
