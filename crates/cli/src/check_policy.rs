//! `crossgate check --policy POLICY.toml URL`: does the live server do what the policy says?
//! The engine derives the requests (`crossgate::conformance::matrix`), each runs through the
//! browser engine against the server and against the policy's own answers
//! (`conformance::run_case`), and every difference is printed, the security-relevant ones first.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use anyhow::{Context, anyhow};
use crossgate::Policy;
use crossgate::browser::{Profile, TransportErrorKind};
use crossgate::conformance::{self, CaseResult, DifferenceKind, NoResponse, Observed, Verdict};
use serde::Serialize;

use crate::output::{self, Status};
use crate::transport::{ClientArgs, HttpTransport};

/// What `check --policy` needs from the command line.
pub(crate) struct Options<'a> {
    /// The URL checked.
    pub(crate) url: &'a str,
    /// The policy file.
    pub(crate) policy: &'a Path,
    /// `--error-path`: a path (or URL) resolved against `url`, answered with an error status.
    pub(crate) error_path: Option<&'a str>,
    /// `--concurrency`: requests in flight at once.
    pub(crate) concurrency: usize,
    /// `--browser`.
    pub(crate) profile: Profile,
    /// `--ignore`: differences not counted.
    pub(crate) ignore: &'a [DifferenceKind],
    /// `--timeout`, `--cacert`, `--resolve`.
    pub(crate) client: &'a ClientArgs,
    /// `--json`.
    pub(crate) json: bool,
}

/// `--ignore KIND`: a difference kind's id.
pub(crate) fn parse_kind(text: &str) -> Result<DifferenceKind, String> {
    DifferenceKind::from_id(text).ok_or_else(|| {
        let ids: Vec<&str> = DifferenceKind::ALL.iter().map(|k| k.id()).collect();
        format!("expected one of {}", ids.join(", "))
    })
}

/// One result in `--json`.
#[derive(Serialize)]
struct JsonResult<'a> {
    origin: &'a str,
    origin_note: &'a str,
    purpose: &'static str,
    method: &'a str,
    url: &'a str,
    headers: &'a [(String, String)],
    credentials: &'static str,
    cookie: Option<&'static str>,
    expected: JsonObserved<'a>,
    actual: JsonObserved<'a>,
    differences: Vec<JsonDifference<'a>>,
}

#[derive(Serialize)]
struct JsonObserved<'a> {
    outcome: &'static str,
    step: Option<&'static str>,
    status: Option<u16>,
    readable_headers: &'a [String],
    max_age: Option<u64>,
    vary_origin: Option<bool>,
    console: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonDifference<'a> {
    kind: &'static str,
    security: bool,
    title: &'static str,
    detail: Option<&'a str>,
}

fn json_observed(observed: &Observed) -> JsonObserved<'_> {
    let (outcome, step, status) = match observed.verdict {
        Verdict::Allowed(status) => ("allowed", None, Some(status)),
        Verdict::Blocked(step) => ("blocked", Some(step.id()), None),
    };
    JsonObserved {
        outcome,
        step,
        status,
        readable_headers: &observed.readable_headers,
        max_age: observed.max_age.map(|d| d.as_secs()),
        vary_origin: observed.vary_origin,
        console: observed.console.as_deref(),
    }
}

fn json_result(result: &CaseResult) -> JsonResult<'_> {
    let request = &result.case.request;
    JsonResult {
        origin: &request.origin,
        origin_note: &result.case.origin_note,
        purpose: result.case.purpose.id(),
        method: &request.method,
        url: &request.url,
        headers: &request.headers,
        credentials: request.credentials.as_str(),
        cookie: result.case.cookie(),
        expected: json_observed(&result.expected),
        actual: json_observed(&result.actual),
        differences: result
            .differences
            .iter()
            .map(|d| JsonDifference {
                kind: d.kind.id(),
                security: d.kind.is_security(),
                title: d.kind.title(),
                detail: d.detail.as_deref(),
            })
            .collect(),
    }
}

/// Runs `crossgate check --policy`.
pub(crate) fn run(options: &Options<'_>, out: &mut dyn Write) -> anyhow::Result<Status> {
    let name = options.policy.display();
    let text = crate::output::read_file(options.policy)
        .with_context(|| format!("cannot read the policy file {name}"))?;
    let policy = Policy::from_toml(&text).with_context(|| {
        format!("{name} is not a usable policy (`crossgate validate {name}` says more)")
    })?;
    let error_url = match options.error_path {
        Some(path) => Some(error_url(options.url, path)?),
        None => None,
    };
    let matrix = conformance::matrix(&policy, options.url, error_url.as_deref())?;
    let transport = HttpTransport::new(options.client)?;
    if !options.json {
        writeln!(
            out,
            "checking {} against {name}: {} from {}",
            options.url,
            output::count(matrix.cases.len(), "request"),
            output::count(matrix.origins, "origin")
        )?;
        if !matrix.skipped.is_empty() {
            writeln!(
                out,
                "  (only the first {} entries of allow_origins are probed; not probed: {})",
                conformance::MAX_ENTRIES,
                matrix.skipped.join(", ")
            )?;
        }
        out.flush()?;
    }

    let cases = &matrix.cases;
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let workers = options.concurrency.clamp(1, cases.len().max(1));
    let mut results: Vec<Option<CaseResult>> = (0..cases.len()).map(|_| None).collect();
    let mut failure: Option<(usize, NoResponse)> = None;
    std::thread::scope(|scope| {
        let (sender, receiver) = mpsc::channel::<(usize, Result<CaseResult, NoResponse>)>();
        for _ in 0..workers {
            let sender = sender.clone();
            let (next, stop, policy) = (&next, &stop, &policy);
            let mut live = transport.clone();
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = cases.get(i) else { break };
                    let result = conformance::run_case(case, policy, options.profile, &mut live);
                    if sender.send((i, result)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        for (i, result) in receiver {
            match result {
                Ok(result) => results[i] = Some(result),
                Err(e) => {
                    // A server that does not answer ends the check: the first such request (in
                    // the matrix's order) is the one reported.
                    stop.store(true, Ordering::Relaxed);
                    if failure.as_ref().is_none_or(|(first, _)| i < *first) {
                        failure = Some((i, e));
                    }
                }
            }
        }
    });
    if let Some((_, e)) = failure {
        let hint = if e.error.kind == TransportErrorKind::Tls && options.client.cacert.is_none() {
            " (a self-signed or private CA? pass its certificate with --cacert FILE)"
        } else {
            ""
        };
        return Err(anyhow!("{e}{hint}"));
    }
    let mut results: Vec<CaseResult> = results.into_iter().flatten().collect();
    for result in &mut results {
        result
            .differences
            .retain(|d| !options.ignore.contains(&d.kind));
    }
    let differing = results.iter().filter(|r| !r.differences.is_empty()).count();
    if options.json {
        let json: Vec<JsonResult<'_>> = results.iter().map(json_result).collect();
        output::write_json(out, &json)?;
    } else {
        write_text(&results, error_url.as_deref(), out)?;
        if !options.ignore.is_empty() {
            let ids: Vec<&str> = options.ignore.iter().map(|k| k.id()).collect();
            writeln!(out, "not counted (--ignore): {}", ids.join(", "))?;
        }
    }
    Ok(if differing == 0 {
        Status::Ok
    } else {
        Status::Failed
    })
}

/// `--error-path`: an absolute http(s) URL as is, or a path (`/missing`) on the URL's origin.
fn error_url(url: &str, path: &str) -> anyhow::Result<String> {
    if path.starts_with("http://") || path.starts_with("https://") {
        return Ok(path.to_owned());
    }
    if !path.starts_with('/') {
        return Err(anyhow!(
            "--error-path {}: expected a path starting with / (e.g. /missing) or an http(s) URL",
            output::shown(path)
        ));
    }
    let uri: http::Uri = url
        .parse()
        .map_err(|e| anyhow!("{}: not a URL: {e}", output::shown(url)))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) => Ok(format!("{scheme}://{authority}{path}")),
        _ => Err(anyhow!("{}: not an absolute URL", output::shown(url))),
    }
}

/// Progress, then each kind of difference with its requests, then the summary.
fn write_text(
    results: &[CaseResult],
    error_url: Option<&str>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    writeln!(out, "checked {}", output::count(results.len(), "request"))?;
    if let Some(error_url) = error_url {
        let statuses: Vec<u16> = results
            .iter()
            .filter(|r| r.case.request.url == error_url)
            .filter_map(|r| r.actual_outcome.exchanges.last())
            .map(|e| e.response.status)
            .filter(|s| *s < 400)
            .collect();
        if let Some(status) = statuses.first() {
            writeln!(
                out,
                "note: {error_url} answered {status}, not an error status: choose an --error-path the server answers with 4xx or 5xx"
            )?;
        }
    }
    let mut kinds: Vec<DifferenceKind> = results
        .iter()
        .flat_map(|r| r.differences.iter().map(|d| d.kind))
        .collect();
    kinds.sort();
    kinds.dedup();
    for kind in kinds {
        let found: Vec<(&CaseResult, Option<&str>)> = results
            .iter()
            .filter_map(|r| {
                r.differences
                    .iter()
                    .find(|d| d.kind == kind)
                    .map(|d| (r, d.detail.as_deref()))
            })
            .collect();
        let count = output::count(found.len(), "request");
        if kind.is_security() {
            writeln!(out, "\nSECURITY: {} ({count})", kind.title())?;
        } else {
            writeln!(out, "\n{} ({count})", kind.title())?;
        }
        for (result, detail) in found {
            write_result(result, detail, out)?;
        }
    }
    let differing = results.iter().filter(|r| !r.differences.is_empty()).count();
    let security = results
        .iter()
        .filter(|r| r.differences.iter().any(|d| d.kind.is_security()))
        .count();
    if differing == 0 {
        writeln!(
            out,
            "\nno difference: the server does what the policy says ({})",
            output::count(results.len(), "request")
        )?;
    } else {
        writeln!(
            out,
            "\n{differing} of {} differ from the policy ({security} security-relevant)",
            output::count(results.len(), "request")
        )?;
    }
    Ok(())
}

/// One request that differs: what was asked, what the policy says, what the server did.
fn write_result(
    result: &CaseResult,
    detail: Option<&str>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let request = &result.case.request;
    let headers: String = request
        .headers
        .iter()
        .map(|(n, v)| format!(", header {n}: {v}"))
        .collect();
    // A logged-in user's cookie, on the request (never the preflight).
    let cookie = match result.case.cookie() {
        Some(cookie) => format!(" (Cookie: {cookie})"),
        None => String::new(),
    };
    writeln!(
        out,
        "  {} {} from {}, credentials {}{cookie}{headers}",
        request.method,
        request.url,
        request.origin,
        request.credentials.as_str()
    )?;
    writeln!(out, "    origin: {}", result.case.origin_note)?;
    for (who, observed) in [("policy", &result.expected), ("server", &result.actual)] {
        let mut line = observed.describe();
        if matches!(observed.verdict, Verdict::Allowed(_)) {
            if observed.readable_headers.is_empty() {
                line.push_str("; script can read no header");
            } else {
                line.push_str("; script can read ");
                line.push_str(&observed.readable_headers.join(", "));
            }
            if let Some(age) = observed.max_age {
                line.push_str(&format!("; preflight cached {} s", age.as_secs()));
            }
            if observed.vary_origin == Some(false) {
                line.push_str("; no Vary: Origin");
            }
        }
        if who == "policy" && result.assumed_answer {
            line.push_str(
                " (the application's answer assumed: the server never answered this request)",
            );
        }
        writeln!(out, "    {who}: {line}")?;
        if let Some(console) = &observed.console {
            writeln!(out, "      console: {console}")?;
        }
    }
    if let Some(detail) = detail {
        writeln!(out, "    difference: {detail}")?;
    }
    Ok(())
}
