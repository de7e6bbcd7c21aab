//! What a simulated or live `fetch()` did, as text for people: the requests sent and the answers,
//! each check the browser made (✓/✗), the verdict, Chromium's console message and the fix.
//! Shared by `crossgate check` and `crossgate simulate --explain`, with the flags both take.

use std::io::{self, Write};

use crossgate::browser::{Check, Credentials, FailureKind, Outcome, Profile, Request};
use crossgate::explain;

/// `--browser`: which browser to imitate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Browser {
    /// What Chromium does (held to real headless Chromium)
    #[default]
    Chromium,
    /// What the Fetch standard says, where Chromium departs from it
    Spec,
}

impl From<Browser> for Profile {
    fn from(browser: Browser) -> Profile {
        match browser {
            Browser::Chromium => Profile::Chromium,
            Browser::Spec => Profile::Spec,
        }
    }
}

/// `--credentials`: fetch()'s credentials mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum CredentialsArg {
    /// Never send cookies or HTTP authentication
    Omit,
    /// Send them to the page's own origin only (fetch()'s default)
    #[default]
    SameOrigin,
    /// Send them everywhere (the server must allow credentials)
    Include,
}

impl From<CredentialsArg> for Credentials {
    fn from(credentials: CredentialsArg) -> Credentials {
        match credentials {
            CredentialsArg::Omit => Credentials::Omit,
            CredentialsArg::SameOrigin => Credentials::SameOrigin,
            CredentialsArg::Include => Credentials::Include,
        }
    }
}

/// The response headers worth showing: the CORS ones, `Vary` and `Location`.
fn matters(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("access-control-") || lower == "vary" || lower == "location"
}

/// `PUT http://… from origin http://… (credentials: omit, chromium)`.
pub(crate) fn write_request_line(
    request: &Request,
    profile: Profile,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(
        out,
        "{} {} from origin {} (credentials: {}, {})",
        request.method,
        request.url,
        request.origin,
        request.credentials.as_str(),
        profile.as_str()
    )
}

/// Every request sent and its answer, each followed by the checks made on it. Checks made before a
/// request went out (a preflight found in the cache) come before it.
pub(crate) fn write_exchanges(outcome: &Outcome, out: &mut dyn Write) -> io::Result<()> {
    // `Check::exchange` is the request a check concerns; a preflight-cache hit concerns the
    // request it spared a preflight for, so it goes before that request.
    let placed: Vec<(usize, bool, &Check)> = outcome
        .checks
        .iter()
        .map(|check| (check.exchange, check.what == "preflight cache", check))
        .collect();
    for (index, exchange) in outcome.exchanges.iter().enumerate() {
        for (_, _, check) in placed
            .iter()
            .filter(|(i, before, _)| *i == index && *before)
        {
            write_check(check, out)?;
        }
        let request = &exchange.request;
        let note = if request.preflight {
            "  (preflight)"
        } else {
            ""
        };
        writeln!(out, "> {} {}{note}", request.method, request.url)?;
        for (name, value) in &request.headers {
            writeln!(out, ">   {name}: {value}")?;
        }
        if let Some(body) = &request.body {
            writeln!(out, ">   ({} bytes of body)", body.len())?;
        }
        let response = &exchange.response;
        let reason = http::StatusCode::from_u16(response.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        writeln!(out, "< {} {reason}", response.status)?;
        for (name, value) in response.headers.iter().filter(|(n, _)| matters(n)) {
            writeln!(out, "<   {name}: {value}")?;
        }
        for (_, _, check) in placed
            .iter()
            .filter(|(i, before, _)| *i == index && !before)
        {
            write_check(check, out)?;
        }
    }
    // A check placed before a request that never went out (none today): still shown.
    for (_, _, check) in placed
        .iter()
        .filter(|(i, _, _)| *i >= outcome.exchanges.len())
    {
        write_check(check, out)?;
    }
    Ok(())
}

fn write_check(check: &Check, out: &mut dyn Write) -> io::Result<()> {
    let mark = if check.passed { '✓' } else { '✗' };
    writeln!(out, "  {mark} {}: {}", check.what, check.detail)
}

/// The verdict; when allowed, the headers script can read (`readable`, sorted); when blocked,
/// Chromium's console message and the fix.
pub(crate) fn write_verdict(
    outcome: &Outcome,
    readable: &[String],
    out: &mut dyn Write,
) -> io::Result<()> {
    let failure = match &outcome.result {
        Ok(status) => {
            writeln!(out, "allowed: fetch() resolves with status {status}")?;
            if readable.is_empty() {
                writeln!(out, "  script can read: no header")?;
            } else {
                writeln!(out, "  script can read: {}", readable.join(", "))?;
            }
            return Ok(());
        }
        Err(failure) => failure,
    };
    match &failure.kind {
        FailureKind::Cors { .. } => {
            writeln!(
                out,
                "blocked: fetch() rejects with TypeError: Failed to fetch"
            )?;
        }
        FailureKind::TypeError(message) => {
            writeln!(out, "blocked: fetch() throws TypeError: {message}")?;
        }
        FailureKind::Network(message) => {
            writeln!(out, "blocked: network error: {message}")?;
        }
        FailureKind::Transport(e) => writeln!(out, "blocked: no response: {e}")?,
    }
    if let Some(message) = explain::console_message(failure) {
        writeln!(out, "console: {message}")?;
    }
    let fix = explain::fix(failure);
    writeln!(out, "fix: {}", fix.summary)?;
    writeln!(out, "  server:")?;
    for line in fix.header.lines() {
        writeln!(out, "    {line}")?;
    }
    writeln!(out, "  policy:")?;
    for line in fix.policy.lines() {
        writeln!(out, "    {line}")?;
    }
    Ok(())
}
