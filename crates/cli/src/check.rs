//! `crossgate check URL --origin O`: what a browser on a page of origin O does with a `fetch()`
//! of URL against the live server, step by step, with Chromium's console message and the fix.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::anyhow;
use crossgate::browser::scenario::ScenarioResult;
use crossgate::browser::{
    self, FailureKind, Outcome, PreflightCache, Profile, Request, TransportErrorKind,
};
use crossgate::conformance::DifferenceKind;

use crate::check_policy;
use crate::outcome::{self, Browser, CredentialsArg};
use crate::output::{self, Status};
use crate::transport::{ClientArgs, HttpTransport};

/// `crossgate check --help`'s description (set on the subcommand in `main`: a doc comment there
/// would replace one set here).
pub(crate) const LONG_ABOUT: &str = "\
Does what a browser does when a page of origin O runs fetch(URL, {method, headers,
credentials, body}): sends the preflight if one is needed, then the request, over HTTP or
HTTPS to the live server, follows redirects as the browser would, and checks every answer.
Prints each request sent, the answer's CORS headers, each check (✓/✗), the verdict, the
message Chromium prints to the console, and the fix.

Only the requests the browser would send are sent: no cookies (but --policy's logged-in user), no
User-Agent, nothing else.
--repeat N runs the same fetch N times with one preflight cache, as one page would, showing
whether each run needed a preflight or found one in the cache (Access-Control-Max-Age).

Exit status: 0 allowed (every run), 1 blocked, 2 a usage or network error (connection
refused, timed out, TLS error: printed as `crossgate: URL: …`).

With --policy POLICY.toml (instead of --origin): checks that the server does what the policy
says. The requests come from the policy: each allowed origin (a subdomain pattern one and two
labels deep, an any-port pattern on two ports) and its near misses (a domain glued before or
after it, a dot of the host replaced by a letter, a subdomain of an exact origin, the bare
domain of a pattern, another scheme, another port), `null` and an unrelated origin; GETs with
and without credentials; a preflighted request for each allowed method and header, for a
refused method, and for refused headers (a made-up name and names near each allowed one:
x-id-x, x-x-id, x-i for x-id); a preflighted request with credentials even when the policy
allows none; with --error-path /missing, GETs of a URL the server answers with an error
status (its CORS headers must be there too). The requests model a logged-in user: those with
credentials include carry Cookie: crossgate-check=1 (never a preflight), so a server that
answers a cookie differently is seen as a logged-in user's browser sees it. Each runs
through the browser engine against the server, and against what crossgate-tower would answer
with the same policy in front of the same application. Every difference is reported: the
server allows what the policy refuses (SECURITY), refuses what it allows, lets a refused
request through its preflight, exposes other headers, omits Vary: Origin on a readable answer,
or caches its preflight for another time. Requests with allowed methods really are sent:
point it at a harmless URL. Exit status with --policy: 0 no difference, 1 a difference,
2 a usage or network error.";

const JSON_SCHEMA: &str = "\
--json prints the result format of `crossgate simulate` (scenarios/README.md) for the fetch,
with \"name\" the URL; with --repeat, an array of them, one per run:

  {
    \"name\": string,                the URL checked
    \"outcome\": \"allowed\" | \"blocked\",
    \"status\": number,              the final response's status; only when allowed
    \"preflight_sent\": bool,
    \"requests\": [{\"method\", \"url\", \"origin\", \"acrm\", \"acrh\"}],
    \"readable_headers\": [string],  sorted lower-case names script can read; when allowed
    \"console\": [string]            Chromium's console messages, exactly
  }

A network error prints no JSON: one line on stderr, exit status 2.

With --policy, --json prints an array, one result per request, in a fixed order:

  {
    \"origin\": string, \"origin_note\": string,   what the origin stands for
    \"purpose\": \"simple-get\" | \"method\" | \"refused-method\" | \"header\" |
               \"refused-header\" | \"preflight\" | \"error-status\",
    \"method\": string, \"url\": string, \"headers\": [[name, value]],
    \"credentials\": \"omit\" | \"include\",
    \"cookie\": string | null,       the cookie the request carried (credentials include)
    \"expected\": observed,          what the policy says (crossgate-tower's answers)
    \"actual\": observed,            what the server did
    \"differences\": [{\"kind\", \"security\": bool, \"title\", \"detail\"}]
  }
  observed: {\"outcome\": \"allowed\" | \"blocked\", \"step\": null | \"fetch\" | \"preflight\" |
    \"cors-check\" | \"network\", \"status\", \"readable_headers\", \"max_age\" (seconds, when
    a preflight passed), \"vary_origin\" (when allowed), \"console\"}
  kinds: allows-refused, sends-refused, exposes-more (security), refuses-allowed,
    blocks-earlier, exposes-less, missing-vary-origin, max-age

Examples:
  crossgate check https://api.example.com/items --origin https://app.example.com
  crossgate check --policy cors.toml https://staging.example.com/api/items --error-path /missing
  crossgate check http://127.0.0.1:8080/r --origin http://localhost:5173 --method PUT \\
      -H 'Content-Type: application/json' --body '{}' --repeat 2";

/// Arguments of `crossgate check`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = JSON_SCHEMA)]
pub(crate) struct Args {
    /// The URL fetched (http or https)
    #[arg(value_name = "URL")]
    url: String,
    /// The page's origin, e.g. `https://app.example.com`
    #[arg(long, value_name = "ORIGIN", required_unless_present = "policy")]
    origin: Option<String>,
    /// The method, as the script writes it
    #[arg(long, short = 'X', value_name = "METHOD", default_value = "GET")]
    method: String,
    /// A header the script sets, in order; repeat for more
    #[arg(short = 'H', long = "header", value_name = "Name: value")]
    headers: Vec<String>,
    /// fetch()'s credentials mode
    #[arg(long, value_enum, default_value_t)]
    credentials: CredentialsArg,
    /// The request body (fetch() adds Content-Type: text/plain;charset=UTF-8 unless set)
    #[arg(long, value_name = "DATA")]
    body: Option<String>,
    /// The browser to imitate
    #[arg(long, value_enum, default_value_t)]
    browser: Browser,
    /// Fetch N times with one preflight cache, as one page would
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    repeat: Option<u32>,
    /// Check the server against a policy file: every difference (instead of one fetch)
    #[arg(
        long,
        value_name = "POLICY.toml",
        conflicts_with_all = ["origin", "method", "headers", "credentials", "body", "repeat"]
    )]
    policy: Option<PathBuf>,
    /// With --policy: a path (e.g. /missing) or URL the server answers with 4xx/5xx
    #[arg(long, value_name = "PATH")]
    error_path: Option<String>,
    /// With --policy: requests in flight at once [default: 8]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    concurrency: Option<u32>,
    /// With --policy: do not count differences of this kind (e.g. max-age); repeat for more
    #[arg(long, value_name = "KIND", value_parser = check_policy::parse_kind)]
    ignore: Vec<DifferenceKind>,
    #[command(flatten)]
    client: ClientArgs,
    /// Print JSON instead of text (schema in --help)
    #[arg(long)]
    json: bool,
}

/// `Name: value` as `(Name, value)`.
pub(crate) fn parse_header(text: &str) -> anyhow::Result<(String, String)> {
    match text.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(anyhow!(
            "-H {}: expected 'Name: value'",
            output::shown(text)
        )),
    }
}

/// Runs `crossgate check`.
pub(crate) fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<Status> {
    let profile = Profile::from(args.browser);
    if let Some(policy) = &args.policy {
        let options = check_policy::Options {
            url: &args.url,
            policy,
            error_path: args.error_path.as_deref(),
            concurrency: args.concurrency.map_or(8, |n| n as usize),
            profile,
            ignore: &args.ignore,
            client: &args.client,
            json: args.json,
        };
        return check_policy::run(&options, out);
    }
    if args.error_path.is_some() || args.concurrency.is_some() || !args.ignore.is_empty() {
        return Err(anyhow!(
            "--error-path, --concurrency and --ignore go with --policy POLICY.toml"
        ));
    }
    let request = Request {
        // clap requires --origin unless --policy is given.
        origin: args.origin.clone().unwrap_or_default(),
        url: args.url.clone(),
        method: args.method.clone(),
        headers: args
            .headers
            .iter()
            .map(|h| parse_header(h))
            .collect::<anyhow::Result<_>>()?,
        credentials: args.credentials.into(),
        body: args.body.clone(),
    };
    let mut transport = HttpTransport::new(&args.client)?;
    let mut cache = PreflightCache::new();
    let runs = args.repeat.unwrap_or(1);
    let start = Instant::now();

    let mut results = Vec::new();
    let mut preflights = 0;
    for run in 1..=runs {
        let now = start.elapsed();
        // An invalid origin or URL fails here, before anything is printed.
        let outcome = browser::fetch(&request, profile, &mut transport, &mut cache, now)?;
        let no_response = outcome.failure().and_then(|failure| match &failure.kind {
            FailureKind::Transport(e) => Some((failure.url.as_str(), e)),
            _ => None,
        });
        // A network error ends the run; what was exchanged before it (a preflight) is shown.
        if !args.json && (no_response.is_none() || !outcome.exchanges.is_empty()) {
            if run == 1 {
                outcome::write_request_line(&request, profile, out)?;
            }
            if args.repeat.is_some() {
                writeln!(
                    out,
                    "\nrun {run} of {runs}, at {:.3} s: {}",
                    now.as_secs_f64(),
                    preflight_note(&outcome)
                )?;
            } else {
                writeln!(out)?;
            }
            outcome::write_exchanges(&outcome, out)?;
        }
        if let Some((url, e)) = no_response {
            let hint = if e.kind == TransportErrorKind::Tls && args.client.cacert.is_none() {
                " (a self-signed or private CA? pass its certificate with --cacert FILE)"
            } else {
                ""
            };
            return Err(anyhow!("{url}: {e}{hint}"));
        }
        let result = ScenarioResult::of(&args.url, &outcome);
        if !args.json {
            writeln!(out)?;
            let readable = result.readable_headers.as_deref().unwrap_or_default();
            outcome::write_verdict(&outcome, readable, out)?;
        }
        preflights += usize::from(outcome.preflight_sent());
        results.push(result);
    }
    let blocked = results.iter().filter(|r| r.outcome != "allowed").count();
    if args.json {
        if args.repeat.is_some() {
            output::write_json(out, &results)?;
        } else if let Some(result) = results.first() {
            output::write_json(out, result)?;
        }
    } else if runs > 1 {
        writeln!(
            out,
            "\n{}: {} allowed, {} blocked; {} sent",
            output::count(results.len(), "run"),
            results.len() - blocked,
            blocked,
            output::count(preflights, "preflight")
        )?;
    }
    Ok(if blocked == 0 {
        Status::Ok
    } else {
        Status::Failed
    })
}

/// Whether a run sent a preflight, found one in the cache, or needed none.
fn preflight_note(outcome: &Outcome) -> &'static str {
    if outcome.preflight_sent() {
        "preflight sent"
    } else if outcome.checks.iter().any(|c| c.what == "preflight cache") {
        "no preflight (preflight cache)"
    } else {
        "no preflight needed"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse() {
        assert_eq!(
            parse_header("X-Foo: 1").unwrap(),
            ("X-Foo".to_owned(), "1".to_owned())
        );
        assert_eq!(
            parse_header("Content-Type:application/json").unwrap(),
            ("Content-Type".to_owned(), "application/json".to_owned())
        );
        assert_eq!(
            parse_header("X-Empty:").unwrap(),
            ("X-Empty".to_owned(), String::new())
        );
        assert_eq!(
            parse_header("nocolon").unwrap_err().to_string(),
            "-H nocolon: expected 'Name: value'"
        );
        assert!(parse_header(": v").is_err());
    }
}
