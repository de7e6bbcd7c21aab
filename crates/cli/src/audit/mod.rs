//! `crossgate audit URL…`: the engine's misconfiguration probes (`crossgate::audit`) sent to live
//! targets, several at once, politely (a rate per host), each graded by the browser engine; the
//! findings as text, JSON or SARIF, and proof-of-concept pages.
//!
//! The engine plans, sends through a [`Transport`] and judges; this module owns the network
//! around it: the user's `-H` headers ([`Probing`]), `--rate` ([`rate::RateLimiter`]),
//! `--concurrency` (worker threads sharing one HTTP client), `--timeout` and `--resolve`
//! (the client), and failures: a target that cannot be audited is reported and the run goes on.

mod rate;
mod report;
mod sarif;

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use anyhow::{Context as _, anyhow};
use crossgate::audit::{self, Context, Finding, Severity};
use crossgate::browser::{
    Transport, TransportError, TransportErrorKind, WireRequest, WireResponse,
};

use crate::check::parse_header;
use crate::output::Status;
use crate::transport::{ClientArgs, HttpTransport};

use rate::{Rate, RateLimiter};

/// `crossgate audit --help`'s description.
pub(crate) const LONG_ABOUT: &str = "\
Probes each URL for the CORS misconfigurations that let another site read it: reflected
origins, prefix and suffix matches, unescaped dots in a regex, substrings, `null`, the http
origin of an https site, any subdomain, third-party hosting domains (github.io…), special
characters after the host, `*` with credentials or on private responses, a dynamic
Access-Control-Allow-Origin without Vary: Origin, and lax preflights.

Each probe is a fetch() from a crafted origin (an attacker's domain, `null`…), sent over HTTP(S)
as a browser sends it; the browser engine decides whether that page could read the answer, with
and without the user's cookies. String matching is never enough: an upper-case
Access-Control-Allow-Origin, another port or several values are refused by browsers and are not
findings. Pass the user's cookies with -H 'Cookie: …' (or Authorization) to audit what a
logged-in user sees: they go where a browser sends them, to the target's host (not to another
host a redirect leads to) and with every request but preflights.

Many targets run at once (--concurrency), at most --rate requests a second per host. A target
that cannot be audited (not a URL, connection refused, timed out, TLS error) is reported with
the reason, and the others go on.

Exit status: 1 a finding at or above --fail-on (default low), else 2 if a target could not be
audited (or a usage error), else 0.";

const JSON_SCHEMA: &str = "\
--json prints an array, one element per target, in the order given:

  {
    \"url\": string,
    \"status\": \"ok\" | \"error\",
    \"reason\": string,              why the target could not be audited; only with \"error\"
    \"findings\": [{
      \"class\": string,             e.g. \"prefix-match\" (the SARIF rule id)
      \"title\": string,
      \"severity\": \"critical\" | \"high\" | \"medium\" | \"low\" | \"info\",
      \"origin\": string,            the Origin sent
      \"evidence\": [{\"name\", \"value\"}],  the answer's Access-Control-* and Vary headers
      \"why\": string,
      \"fix\": string,
      \"poc\": string                the proof-of-concept page written; only with --poc
    }]
  }

--sarif prints SARIF 2.1.0 (one run; a rule per class found; each result's location is the
target URL; targets that could not be audited are tool execution notifications).

Examples:
  crossgate audit https://api.example.com/me -H 'Cookie: session=…'
  crossgate audit --input urls.txt --concurrency 16 --rate 10/s --sarif > cors.sarif
  crossgate audit https://www.example.com/api --resolve www.example.com:443:127.0.0.1 --poc pocs/";

/// Arguments of `crossgate audit`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = JSON_SCHEMA)]
pub(crate) struct Args {
    /// The URLs to audit (http or https)
    #[arg(value_name = "URL")]
    urls: Vec<String>,
    /// Read more URLs from FILE, one a line (`#` starts a comment line; `-` is standard input)
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// A header for the target's host (Cookie, Authorization…), not sent with preflights; repeat for more
    #[arg(short = 'H', long = "header", value_name = "Name: value")]
    headers: Vec<String>,
    /// Audit N targets at once
    #[arg(long, value_name = "N", default_value = "8",
          value_parser = clap::value_parser!(u32).range(1..=256))]
    concurrency: u32,
    /// At most N requests a second to each host (N/s or N/min)
    #[arg(long, value_name = "N/s", default_value = "20/s", value_parser = Rate::parse)]
    rate: Rate,
    #[command(flatten)]
    client: ClientArgs,
    /// Exit 1 when a finding is at least this severe
    #[arg(long, value_enum, value_name = "SEVERITY", default_value = "low")]
    fail_on: FailOn,
    /// Write a proof-of-concept page for each read finding into DIR (HOST-CLASS.html)
    #[arg(long, value_name = "DIR")]
    poc: Option<PathBuf>,
    /// Print JSON instead of text (schema in --help)
    #[arg(long, conflicts_with = "sarif")]
    json: bool,
    /// Print SARIF 2.1.0 (for code-scanning dashboards)
    #[arg(long)]
    sarif: bool,
}

/// `--fail-on`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum FailOn {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl From<FailOn> for Severity {
    fn from(level: FailOn) -> Severity {
        match level {
            FailOn::Info => Severity::Info,
            FailOn::Low => Severity::Low,
            FailOn::Medium => Severity::Medium,
            FailOn::High => Severity::High,
            FailOn::Critical => Severity::Critical,
        }
    }
}

/// What happened to one target.
#[derive(Debug)]
pub(crate) struct TargetReport {
    /// The URL as given.
    pub(crate) url: String,
    /// The findings (most severe first) and their PoC pages, or why it could not be audited.
    pub(crate) outcome: Result<Audited, String>,
}

/// An audited target.
#[derive(Debug)]
pub(crate) struct Audited {
    /// The URL as the URL parser serializes it (what the probes fetched, and what PoC pages
    /// fetch: percent-encoded, so it cannot close a `<script>`).
    pub(crate) url: String,
    /// The engine's findings, most severe first.
    pub(crate) findings: Vec<Finding>,
    /// The PoC page written for each finding, if any (same indices as `findings`).
    pub(crate) pocs: Vec<Option<PathBuf>>,
}

/// Runs `crossgate audit`.
pub(crate) fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<Status> {
    let targets = targets(args)?;
    let headers = user_headers(&args.headers)?;
    let context = Context {
        sent_credentials: headers.iter().any(|(name, _)| {
            name.eq_ignore_ascii_case("cookie") || name.eq_ignore_ascii_case("authorization")
        }),
    };
    let client = HttpTransport::new(&args.client)?;
    let limiter = RateLimiter::new(args.rate);
    let hint_cacert = args.client.cacert.is_none();
    let progress = progress_bar(targets.len());

    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let workers = (args.concurrency as usize).min(targets.len());
    let mut reports: Vec<Option<TargetReport>> = (0..targets.len()).map(|_| None).collect();
    let mut pocs = PocWriter::new(args.poc.as_deref())?;
    let text = !args.json && !args.sarif;
    let mut printed = 0;
    let mut failure: Option<anyhow::Error> = None;
    std::thread::scope(|scope| {
        let (sender, receiver) = mpsc::channel::<(usize, TargetReport)>();
        for _ in 0..workers {
            let sender = sender.clone();
            let (targets, headers, limiter, next, stop) =
                (&targets, &headers, &limiter, &next, &stop);
            let mut transport = client.clone();
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(url) = targets.get(i) else { break };
                    let mut probing = Probing {
                        inner: &mut transport,
                        headers,
                        target_host: host_of(url),
                        limiter,
                    };
                    let outcome = audit_target(url, &mut probing, context, hint_cacert);
                    let report = TargetReport {
                        url: url.clone(),
                        outcome,
                    };
                    if sender.send((i, report)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        for (i, mut report) in receiver {
            if let Some(bar) = &progress {
                bar.inc(1);
                bar.set_message(report.url.clone());
            }
            let written = pocs.write(&mut report);
            reports[i] = Some(report);
            // Text goes out as soon as every target before it is done, in the order given.
            let printing = written.and_then(|()| {
                while let Some(Some(report)) = reports.get(printed).filter(|_| text) {
                    let mut write = || report::write_target(report, &mut *out);
                    match &progress {
                        Some(bar) => bar.suspend(write)?,
                        None => write()?,
                    }
                    out.flush()?;
                    printed += 1;
                }
                Ok(())
            });
            if let Err(e) = printing {
                failure = Some(e);
                stop.store(true, Ordering::Relaxed);
                break;
            }
        }
    });
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let reports: Vec<TargetReport> = reports.into_iter().flatten().collect();
    if args.json {
        report::write_json(&reports, out)?;
    } else if args.sarif {
        sarif::write(&reports, out)?;
    } else {
        report::write_summary(&reports, out)?;
    }
    let fail_on = Severity::from(args.fail_on);
    let failed = reports.iter().any(|r| {
        r.outcome
            .as_ref()
            .is_ok_and(|a| a.findings.iter().any(|f| f.severity >= fail_on))
    });
    Ok(if failed {
        Status::Failed
    } else if reports.iter().any(|r| r.outcome.is_err()) {
        Status::Incomplete
    } else {
        Status::Ok
    })
}

/// The URLs on the command line, then those of `--input`.
fn targets(args: &Args) -> anyhow::Result<Vec<String>> {
    let mut targets: Vec<String> = args.urls.iter().map(|u| u.trim().to_owned()).collect();
    if let Some(path) = &args.input {
        let (_, text) = crate::output::read_input(path)?;
        targets.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned),
        );
    }
    if targets.is_empty() {
        return Err(anyhow!("no URL to audit: give URLs, or --input FILE"));
    }
    Ok(targets)
}

/// `-H` values; the ones the probes set themselves are refused.
fn user_headers(raw: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    let mut headers = Vec::new();
    for text in raw {
        let (name, value) = parse_header(text)?;
        let lower = name.to_ascii_lowercase();
        if lower == "origin" || lower.starts_with("access-control-") || lower == "host" {
            return Err(anyhow!(
                "-H {name}: the audit sets {name} itself (each probe its own); pass cookies or \
                 other credentials with -H"
            ));
        }
        headers.push((name, value));
    }
    Ok(headers)
}

/// Plans, probes and judges one target; the reason when it cannot be audited.
fn audit_target(
    url: &str,
    transport: &mut dyn Transport,
    context: Context,
    hint_cacert: bool,
) -> Result<Audited, String> {
    let plan = audit::plan(url).map_err(|e| e.to_string())?;
    let mut results = Vec::with_capacity(plan.probes.len());
    for probe in &plan.probes {
        let result = audit::run_probe(&plan, probe, transport).map_err(|e| {
            let hint = if e.kind == TransportErrorKind::Tls && hint_cacert {
                " (a self-signed or private CA? pass its certificate with --cacert FILE)"
            } else {
                ""
            };
            format!("{e}{hint}")
        })?;
        results.push(result);
    }
    let findings = audit::judge(&plan, &results, context);
    Ok(Audited {
        url: plan.url.to_string(),
        pocs: vec![None; findings.len()],
        findings,
    })
}

/// The live transport as the audit uses it: waits for the host's rate limit, and adds the
/// user's headers (cookies…) where a browser would send them: to the target's host, not to
/// another one a redirect leads to (their cookies are the target's), and not with preflights,
/// which browsers send without credentials.
struct Probing<'a> {
    inner: &'a mut dyn Transport,
    headers: &'a [(String, String)],
    /// The target's host (lower case).
    target_host: String,
    limiter: &'a RateLimiter,
}

impl Transport for Probing<'_> {
    fn send(&mut self, request: &WireRequest) -> Result<WireResponse, TransportError> {
        let host = host_of(&request.url);
        self.limiter.wait(&host);
        if request.preflight || self.headers.is_empty() || host != self.target_host {
            return self.inner.send(request);
        }
        let mut request = request.clone();
        for (name, value) in self.headers {
            // What the probe's script set wins (a browser would send the script's).
            if request.header(name).is_none() {
                request.headers.push((name.clone(), value.clone()));
            }
        }
        self.inner.send(&request)
    }
}

/// The host of a URL, lower case (empty if it has none).
fn host_of(url: &str) -> String {
    url.parse::<http::Uri>()
        .ok()
        .and_then(|u| u.host().map(str::to_ascii_lowercase))
        .unwrap_or_default()
}

/// `--poc DIR`: one page per target and read class (the most severe finding of the class),
/// named `HOST-CLASS.html` (`HOST_PORT-CLASS.html` with an explicit port; `-2`… if taken).
struct PocWriter<'a> {
    dir: Option<&'a Path>,
    taken: HashSet<PathBuf>,
}

impl<'a> PocWriter<'a> {
    fn new(dir: Option<&'a Path>) -> anyhow::Result<PocWriter<'a>> {
        if let Some(dir) = dir {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        Ok(PocWriter {
            dir,
            taken: HashSet::new(),
        })
    }

    fn write(&mut self, report: &mut TargetReport) -> anyhow::Result<()> {
        let Some(dir) = self.dir else { return Ok(()) };
        let Ok(audited) = &mut report.outcome else {
            return Ok(());
        };
        let stem = file_stem(&report.url);
        let mut classes = HashSet::new();
        for (finding, poc) in audited.findings.iter().zip(&mut audited.pocs) {
            if !finding.class.is_read()
                || finding.severity < Severity::Low
                || !classes.insert(finding.class)
            {
                continue;
            }
            let base = format!("{stem}-{}", finding.class.id());
            let mut path = dir.join(format!("{base}.html"));
            let mut n = 1;
            while self.taken.contains(&path) {
                n += 1;
                path = dir.join(format!("{base}-{n}.html"));
            }
            std::fs::write(&path, audit::poc_html(&audited.url, finding))
                .with_context(|| format!("cannot write {}", path.display()))?;
            self.taken.insert(path.clone());
            *poc = Some(path);
        }
        Ok(())
    }
}

/// `www.example.com`, or `www.example.com_8443` with an explicit port: only characters safe in
/// a file name on every system.
fn file_stem(url: &str) -> String {
    let uri = url.parse::<http::Uri>().ok();
    let host = uri.as_ref().and_then(|u| u.host()).unwrap_or("target");
    let mut stem: String = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if let Some(port) = uri.as_ref().and_then(|u| u.port_u16()) {
        stem.push_str(&format!("_{port}"));
    }
    stem
}

/// A progress bar on stderr when it is a terminal; none when piped.
fn progress_bar(targets: usize) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(targets as u64);
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} {elapsed:>4} [{bar:30}] {pos}/{len} targets  {wide_msg}",
    )
    .map(|s| s.progress_chars("=> "));
    if let Ok(style) = style {
        bar.set_style(style);
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(bar)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poc_file_names() {
        assert_eq!(file_stem("https://www.Example.com/a"), "www.example.com");
        assert_eq!(
            file_stem("https://www.example.com:8443/a"),
            "www.example.com_8443"
        );
        assert_eq!(file_stem("http://[::1]:80/"), "__1_80");
        assert_eq!(file_stem("not a url"), "target");
    }

    #[test]
    fn user_headers_refuse_what_probes_set() {
        let ok = user_headers(&["Cookie: a=1".to_owned()]).unwrap();
        assert_eq!(ok, [("Cookie".to_owned(), "a=1".to_owned())]);
        for name in ["Origin", "access-control-request-method", "Host"] {
            let err = user_headers(&[format!("{name}: x")]).unwrap_err();
            assert!(
                err.to_string()
                    .starts_with(&format!("-H {name}: the audit sets {name} itself")),
                "{err}"
            );
        }
    }

    /// Cookies go with the requests a browser sends them with: not with preflights, not to
    /// another host.
    #[test]
    fn probing_adds_headers_but_not_to_preflights() {
        struct Echo(Vec<WireRequest>);
        impl Transport for Echo {
            fn send(&mut self, request: &WireRequest) -> Result<WireResponse, TransportError> {
                self.0.push(request.clone());
                Ok(WireResponse::default())
            }
        }
        let mut echo = Echo(Vec::new());
        let headers = vec![
            ("Cookie".to_owned(), "s=1".to_owned()),
            ("Authorization".to_owned(), "Bearer user".to_owned()),
        ];
        let limiter = RateLimiter::new(Rate::parse("1000/s").unwrap());
        let mut probing = Probing {
            inner: &mut echo,
            headers: &headers,
            target_host: "a.test".to_owned(),
            limiter: &limiter,
        };
        let request = |preflight: bool, extra: &[(&str, &str)]| WireRequest {
            method: "GET".to_owned(),
            url: "https://A.test:8443/".to_owned(),
            headers: extra
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: None,
            preflight,
        };
        probing
            .send(&request(false, &[("Origin", "null")]))
            .unwrap();
        probing.send(&request(true, &[("Origin", "null")])).unwrap();
        probing
            .send(&request(false, &[("Authorization", "Bearer probe")]))
            .unwrap();
        // A redirect to another host: the target's cookies stay home.
        let mut elsewhere = request(false, &[("Origin", "null")]);
        elsewhere.url = "https://b.test/".to_owned();
        probing.send(&elsewhere).unwrap();
        let names = |r: &WireRequest| {
            r.headers
                .iter()
                .map(|(n, v)| format!("{n}: {v}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(&echo.0[0]),
            ["Origin: null", "Cookie: s=1", "Authorization: Bearer user"]
        );
        assert_eq!(names(&echo.0[1]), ["Origin: null"]);
        assert_eq!(
            names(&echo.0[2]),
            ["Authorization: Bearer probe", "Cookie: s=1"]
        );
        assert_eq!(names(&echo.0[3]), ["Origin: null"]);
    }
}
