//! `crossgate proxy`: a CORS proxy. Upstream mode (`--upstream URL`) puts crossgate in front of
//! one API; anywhere mode (the default) fetches any public URL named in the path, cors-anywhere
//! style. Builds the policy and the connector rules from the flags, then runs
//! `crossgate_proxy::serve` until Ctrl-C or SIGTERM, finishing the requests in flight.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use crossgate::Policy;
use crossgate_proxy::Proxy;
use crossgate_proxy::budget::Descriptors;
use crossgate_proxy::builder::Mode;
use crossgate_proxy::forward::Limits;
use crossgate_proxy::jsonp::DEFAULT_JSONP_MEMORY;
use crossgate_proxy::metrics::{Metrics, serve_admin};
use crossgate_proxy::routes::Route;
use crossgate_proxy::serve::ConnectionTimeouts;

use crate::output::Status;

pub(crate) const LONG_ABOUT: &str = "\
A CORS proxy, safe by default.

Upstream mode (--upstream URL): crossgate answers the preflights and adds the CORS headers of the
policy (the --allow-* flags, or --policy FILE) to every answer of one API, whose requests it
forwards with their path and query, streaming bodies both ways.

Anywhere mode (the default): GET /https://api.example.com/v1/x (or /?url=…) fetches that URL and
answers with `Access-Control-Allow-Origin: *`. The page's cookies and Authorization are not sent,
Set-Cookie is not returned, redirects 301-303 are followed (5 at most, each checked again), and
private, loopback and link-local addresses are refused, however they are spelled or resolved.
On an address other than loopback it refuses to start without an allowlist (--allow-origin,
--allow-target) unless --open is given.

Errors are JSON ({\"error\": \"<code>\", \"detail\": \"…\"}) with CORS headers, so that the page
can read them. A body that stalls (--body-idle-timeout) or takes too long (--body-timeout) is cut
off and its connection closed; so is a client that stops reading its answer (--send-timeout). A
connection with no request in flight is closed after --idle-timeout seconds (30), which is also
how long an HTTP/1.1 client has to send a request's head; a new connection has --header-timeout
seconds (10) for its first.

Budgets against a hostile client: the descriptor limit is raised to its hard value at start and
split between client connections (--max-connections), upstream requests in flight
(--max-upstream-requests) and a reserve; one client IP holds at most --max-connections-per-ip
connections (256; past it the connection is closed after a 503) and --max-requests-per-ip requests
in flight upstream (256; past it 503 JSON with Retry-After), an HTTP/2 connection at most
--max-streams streams (128). When every connection is in use, idle keep-alive ones are closed
first. Every number flag has a range; a value outside it exits 2 naming it. Runs until Ctrl-C or
SIGTERM, then finishes the requests in flight.

Examples:
  crossgate proxy
  crossgate proxy --upstream http://127.0.0.1:3000 --allow-origin http://localhost:5173 \\
      --allow-methods GET,POST,PUT --allow-headers content-type --allow-credentials";

/// How logs are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Lines for people.
    Text,
    /// One JSON object per line.
    Json,
}

/// `crossgate proxy` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Upstream mode: the API to put crossgate in front of (requests keep their path and query,
    /// appended to this URL's path)
    #[arg(long, value_name = "URL", conflicts_with = "config")]
    upstream: Option<String>,
    /// Upstream mode with several routes: a TOML file of `[[route]]` tables, each a path prefix,
    /// an upstream, a policy and headers to inject (see crossgate_proxy::routes)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["policy", "allow_origins", "allow_methods", "allow_headers", "expose_headers", "allow_credentials", "max_age"])]
    config: Option<PathBuf>,
    /// A page origin allowed to read the answers (repeat, or comma-separated). Upstream mode
    /// needs at least one (or --policy); anywhere mode allows every origin without it
    #[arg(long = "allow-origin", value_name = "ORIGIN", value_delimiter = ',')]
    allow_origins: Vec<String>,
    /// Methods allowed in preflights besides GET, HEAD and POST (comma-separated, or *)
    #[arg(long, value_name = "METHODS", value_delimiter = ',')]
    allow_methods: Vec<String>,
    /// Request headers allowed in preflights (comma-separated, or *)
    #[arg(long, value_name = "HEADERS", value_delimiter = ',')]
    allow_headers: Vec<String>,
    /// Response headers the page may read besides the safelisted ones (comma-separated, or *)
    #[arg(long, value_name = "HEADERS", value_delimiter = ',')]
    expose_headers: Vec<String>,
    /// Let the page send cookies and read the answers (upstream mode only)
    #[arg(long)]
    allow_credentials: bool,
    /// How long browsers may cache a preflight answer, in seconds
    #[arg(long, value_name = "SECONDS", value_parser = bounded_i64(0, 86_400, "seconds"))]
    max_age: Option<i64>,
    /// The policy as a TOML file instead of the --allow-* flags (see `crossgate validate`)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["allow_origins", "allow_methods", "allow_headers", "expose_headers", "allow_credentials", "max_age"])]
    policy: Option<PathBuf>,
    /// The address to listen on
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Anywhere mode: let targets resolve to private, loopback and link-local addresses
    #[arg(long)]
    allow_private: bool,
    /// Anywhere mode: only these target hosts (repeat, or comma-separated)
    #[arg(long = "allow-target", value_name = "HOST", value_delimiter = ',')]
    allow_targets: Vec<String>,
    /// Anywhere mode: target ports besides 80 and 443 (repeat, or comma-separated)
    #[arg(long = "allow-port", value_name = "PORT", value_delimiter = ',', value_parser = clap::value_parser!(u16).range(1..))]
    allow_ports: Vec<u16>,
    /// Anywhere mode: serve on a non-loopback address without any allowlist (an open relay)
    #[arg(long)]
    open: bool,
    /// Seconds to wait for the upstream's answer (connection included) before a 504; also how
    /// long the answer's head waits for the first bytes of its body (a body broken from its
    /// first chunk is then a 502 JSON answer), after which the head is sent anyway. From 1 to
    /// 86400
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = bounded(1, DAY, "seconds"))]
    timeout: u64,
    /// Seconds a body may go without a byte (the upstream's on its way to the client, or the
    /// client's on its way upstream) before it is cut off and the connection closed; 0 for no
    /// limit. At most 86400
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = bounded(0, DAY, "seconds"))]
    body_idle_timeout: u64,
    /// Seconds the upstream's body may take in all before it is cut off; 0 for no limit.
    /// Default: 600 in anywhere mode, none in upstream mode. At most 604800 (a week)
    #[arg(long, value_name = "SECONDS", value_parser = bounded(0, 7 * DAY, "seconds"))]
    body_timeout: Option<u64>,
    /// Seconds a client connection may have bytes to write and write none of them (the client
    /// reads nothing) before it is closed, as nginx's send_timeout; 0 for no limit. Also per
    /// answer: an HTTP/2 stream the client gives no flow-control window for that long closes the
    /// connection. At most 86400
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = bounded(0, DAY, "seconds"))]
    send_timeout: u64,
    /// Seconds a client connection may stay open with no request in flight before it is closed
    /// gracefully (HTTP/1.1 keep-alive; HTTP/2 with GOAWAY). HTTP/1.1: also the time a client
    /// has to send a request's head, counted from when its connection went idle. From 1 to 86400
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = bounded(1, DAY, "seconds"))]
    idle_timeout: u64,
    /// Seconds a new client connection has to send its first request head (HTTP/2: to begin its
    /// first request) before it is closed: shorter than --idle-timeout, so that connections
    /// that send a byte now and then (slowloris) cannot hold their slots long. From 1 to 86400
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = bounded(1, DAY, "seconds"))]
    header_timeout: u64,
    /// The most client connections served at once, across every worker. Past it, idle
    /// keep-alive connections are closed first and new ones wait in the listen backlog.
    /// Default: what the descriptor limit leaves after the upstream connections and a reserve,
    /// at most 16384 (the limit is raised from its soft to its hard value at start)
    #[arg(long, value_name = "N", value_parser = bounded(1, MAX_COUNT, "connections"))]
    max_connections: Option<u64>,
    /// The most client connections from one client IP (IPv6: one /64); past it a connection is
    /// closed at once, after a 503 for HTTP/1. Peers given with --trust-proxy are not counted
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = bounded(1, MAX_COUNT, "connections"))]
    max_connections_per_ip: u64,
    /// The most requests in flight upstream, across every worker (each holds at most one
    /// upstream connection); past it, 503 JSON with Retry-After. Default: a quarter of what the
    /// descriptor limit leaves, at most 1024
    #[arg(long, value_name = "N", value_parser = bounded(1, MAX_COUNT, "requests"))]
    max_upstream_requests: Option<u64>,
    /// The most requests in flight upstream for one client IP (the one the rate limits count);
    /// past it, 503 JSON with Retry-After
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = bounded(1, MAX_COUNT, "requests"))]
    max_requests_per_ip: u64,
    /// The most idle pooled connections kept per upstream host (per worker)
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = bounded(1, 4096, "connections"))]
    max_upstream_per_host: u64,
    /// HTTP/2: the most streams one client connection may have open at once
    /// (SETTINGS_MAX_CONCURRENT_STREAMS)
    #[arg(long, value_name = "N", default_value_t = 128, value_parser = bounded(1, 10_000, "streams"))]
    max_streams: u64,
    /// Name the reason of each CORS refusal in a `crossgate-rejection` response header
    #[arg(long)]
    debug_cors: bool,
    /// The largest request body forwarded, in bytes (larger: 413); 0 for no limit. At most 1 TiB
    #[arg(long, value_name = "BYTES", default_value_t = 10 << 20, value_parser = bounded(0, 1 << 40, "bytes"))]
    max_request_body: u64,
    /// The largest upstream body relayed, in bytes (larger: 502, or cut off if not declared); 0
    /// for no limit. At most 1 TiB
    #[arg(long, value_name = "BYTES", default_value_t = 100 << 20, value_parser = bounded(0, 1 << 40, "bytes"))]
    max_response_body: u64,
    /// Requests per minute per client IP (429 past it); 0 for none. Default: 120 in anywhere
    /// mode, none in upstream mode
    #[arg(long, value_name = "N", value_parser = bounded_u32(0, 1_000_000, "requests per minute"))]
    rate_per_ip: Option<u32>,
    /// Requests per minute per Origin; 0 for none. Default: 600 in anywhere mode, none in
    /// upstream mode
    #[arg(long, value_name = "N", value_parser = bounded_u32(0, 1_000_000, "requests per minute"))]
    rate_per_origin: Option<u32>,
    /// Anywhere mode: requests per minute per target host; 0 for none (default 600)
    #[arg(long, value_name = "N", value_parser = bounded_u32(0, 1_000_000, "requests per minute"))]
    rate_per_target: Option<u32>,
    /// Answer `GET …?callback=name` with the JSON answer wrapped for a `<script>` tag (JSONP):
    /// no credentials, JSON answers only. Any page can read a JSONP answer: with --config, not
    /// on routes that inject headers
    #[arg(long)]
    jsonp: bool,
    /// The most bytes held at once for JSONP answers, across all requests (each is held whole,
    /// up to 10 MiB, to be checked and wrapped; default 64 MiB); a JSONP answer that does not fit
    /// is answered 503 busy with Retry-After. 0 for no limit
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_JSONP_MEMORY)]
    max_jsonp_memory: u64,
    /// Logs on stderr: text for people, json (one object per line) for collectors
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Serve Prometheus metrics (/metrics) and /healthz on this address (keep it private)
    #[arg(long, value_name = "ADDR")]
    admin: Option<SocketAddr>,
    /// A proxy in front of crossgate whose X-Forwarded-For names the client (repeat, or
    /// comma-separated); from any other peer the header is ignored
    #[arg(long = "trust-proxy", value_name = "IP", value_delimiter = ',')]
    trusted_proxies: Vec<std::net::IpAddr>,
}

/// A day, in seconds: the longest most durations may be.
const DAY: u64 = 24 * 60 * 60;

/// The largest count a flag takes (connections, requests): more than any descriptor limit.
const MAX_COUNT: u64 = 1 << 20;

/// A parser of a whole number from `min` to `max` (of `unit`): out of range is a usage error
/// (exit 2) naming the range, so that no request path meets arithmetic on a value nobody meant.
fn bounded(
    min: u64,
    max: u64,
    unit: &'static str,
) -> impl Fn(&str) -> Result<u64, String> + Clone + Send + Sync + 'static {
    move |text: &str| {
        let range = format!("give a number of {unit} from {min} to {max}");
        match text.trim().parse::<u64>() {
            Ok(n) if n < min => Err(format!("must be at least {min}: {range}")),
            Ok(n) if n > max => Err(format!("is more than {max}: {range}")),
            Ok(n) => Ok(n),
            Err(_) => Err(format!("is not a whole number: {range}")),
        }
    }
}

/// [`bounded`] for a `u32`.
fn bounded_u32(
    min: u32,
    max: u32,
    unit: &'static str,
) -> impl Fn(&str) -> Result<u32, String> + Clone + Send + Sync + 'static {
    let parse = bounded(u64::from(min), u64::from(max), unit);
    move |text: &str| parse(text).map(|n| u32::try_from(n).unwrap_or(max))
}

/// [`bounded`] for an `i64`.
fn bounded_i64(
    min: u64,
    max: u64,
    unit: &'static str,
) -> impl Fn(&str) -> Result<i64, String> + Clone + Send + Sync + 'static {
    let parse = bounded(min, max, unit);
    move |text: &str| parse(text).map(|n| i64::try_from(n).unwrap_or(i64::MAX))
}

/// The policy the flags (or --policy FILE) give; `None` when they give none (anywhere mode then
/// serves the library's open policy, and upstream mode is refused by the builder).
fn policy(args: &Args) -> anyhow::Result<Option<Policy>> {
    if let Some(path) = &args.policy {
        let text = crate::output::read_file(path)
            .with_context(|| format!("cannot read the policy file {}", path.display()))?;
        return Policy::from_toml(&text)
            .map(Some)
            .with_context(|| format!("{} is not a usable policy", path.display()));
    }
    if args.allow_origins.is_empty() {
        return Ok(None);
    }
    let anywhere = args.upstream.is_none();
    let or_star = |list: &[String]| {
        if list.is_empty() && anywhere {
            vec!["*".to_owned()]
        } else {
            list.to_vec()
        }
    };
    let mut builder = Policy::builder()
        .allow_origins(args.allow_origins.iter().cloned())
        .allow_methods(or_star(&args.allow_methods))
        .allow_headers(or_star(&args.allow_headers))
        .expose_headers(or_star(&args.expose_headers))
        .allow_credentials(args.allow_credentials);
    if let Some(seconds) = args.max_age {
        builder = builder.max_age(Duration::from_secs(seconds.unsigned_abs()));
    }
    builder
        .build()
        .map(Some)
        .context("the --allow-* flags make an unusable policy")
}

/// Reads and parses the routes file at `path`.
fn read_routes(path: &std::path::Path) -> anyhow::Result<Vec<Route>> {
    let text = crate::output::read_file(path)
        .with_context(|| format!("cannot read the routes file {}", path.display()))?;
    crossgate_proxy::routes::parse(&text)
        .with_context(|| format!("{} is not a usable routes file", path.display()))
}

/// The proxy the flags describe: every flag mapped to the library's builder, which checks them
/// together.
fn build(args: &Args, routes: Option<Vec<Route>>, metrics: Arc<Metrics>) -> anyhow::Result<Proxy> {
    let seconds = |n: u64| (n > 0).then(|| Duration::from_secs(n));
    let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    let mut builder = Proxy::builder()
        .listen(args.listen)
        .allow_private(args.allow_private)
        .allow_targets(&args.allow_targets)
        .allow_ports(args.allow_ports.iter().copied())
        .open(args.open)
        .timeout(Duration::from_secs(args.timeout))
        .body_idle_timeout(seconds(args.body_idle_timeout))
        .connection_timeouts(ConnectionTimeouts {
            idle: Duration::from_secs(args.idle_timeout),
            send_timeout: seconds(args.send_timeout),
            header: Duration::from_secs(args.header_timeout),
            max_streams: u32::try_from(args.max_streams).unwrap_or(u32::MAX),
            ..ConnectionTimeouts::default()
        })
        .body_limits(Limits {
            request_body: (args.max_request_body > 0).then_some(args.max_request_body),
            response_body: (args.max_response_body > 0).then_some(args.max_response_body),
        })
        .rate_limits(args.rate_per_ip, args.rate_per_origin, args.rate_per_target)
        .trust_proxies(args.trusted_proxies.iter().copied())
        .jsonp(
            args.jsonp,
            (args.max_jsonp_memory > 0).then_some(args.max_jsonp_memory),
        )
        .max_connections(
            args.max_connections.map(count),
            count(args.max_connections_per_ip),
        )
        .max_upstream(
            args.max_upstream_requests.map(count),
            count(args.max_requests_per_ip),
            count(args.max_upstream_per_host),
        )
        .descriptors(Descriptors::raise().context("cannot read the descriptor limit")?)
        .metrics(metrics)
        .debug_cors(args.debug_cors);
    if let Some(total) = args.body_timeout {
        builder = builder.body_timeout(seconds(total));
    }
    builder = match (routes, &args.upstream) {
        (Some(routes), _) => builder.routes(routes),
        (None, Some(upstream)) => builder.upstream(upstream),
        (None, None) => builder.anywhere(),
    };
    if args.config.is_none() {
        if let Some(policy) = policy(args)? {
            for warning in policy.warnings() {
                eprintln!("crossgate: policy warning: {warning}");
            }
            builder = builder.policy(policy);
        }
    }
    builder.build().map_err(|errors| {
        let lines: Vec<String> = errors.problems().iter().map(ToString::to_string).collect();
        anyhow::anyhow!(lines.join("\ncrossgate: "))
    })
}

pub(crate) fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<Status> {
    let anywhere = args.upstream.is_none() && args.config.is_none();
    if anywhere && args.allow_credentials {
        bail!(
            "--allow-credentials is for upstream mode: anywhere mode never forwards the page's \
             cookies to third parties"
        );
    }
    let routes = args.config.as_deref().map(read_routes).transpose()?;
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO);
    let _ = match args.log_format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => logs.json().try_init(),
    };
    let metrics = Arc::new(if args.admin.is_some() {
        Metrics::new()
    } else {
        Metrics::disabled()
    });
    let proxy = build(args, routes, metrics.clone())?;
    let (plan, descriptors) = proxy.plan();
    let (connections_per_ip, requests_per_ip) = proxy.per_ip();
    if let Some(descriptors) = descriptors {
        tracing::info!(
            target: "crossgate_proxy",
            "descriptor limit {} (soft, was {}; hard {}): {} client connections ({} per IP), {} \
             upstream requests in flight ({} per client), {} idle upstream connections per host, \
             {} kept for idle upstream connections and the process",
            descriptors.soft,
            descriptors.soft_before,
            descriptors.hard,
            plan.connections,
            connections_per_ip,
            plan.upstream_requests,
            requests_per_ip,
            plan.idle_per_host,
            plan.reserve,
        );
    }
    let signals = Signals::register()?;
    let bound = proxy
        .bind()
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = bound
        .local_addr()
        .context("cannot read the listening address")?;
    let mut admin_line: Option<String> = None;
    if let Some(admin) = args.admin {
        let listener = std::net::TcpListener::bind(admin)
            .with_context(|| format!("cannot listen on --admin {admin}"))?;
        listener.set_nonblocking(true)?;
        admin_line = Some(format!(
            "admin: http://{}/metrics and /healthz",
            listener.local_addr()?
        ));
        let metrics = metrics.clone();
        std::thread::Builder::new()
            .name("crossgate-admin".to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(runtime) = runtime {
                    runtime.block_on(async move {
                        if let Ok(listener) = tokio::net::TcpListener::from_std(listener) {
                            serve_admin(listener, metrics).await;
                        }
                    });
                }
            })
            .context("cannot start the admin thread")?;
    }
    let origins = proxy.policy().config().allow_origins.join(", ");
    match proxy.mode() {
        Mode::Routes(routes) => {
            for route in routes {
                for warning in route.policy.warnings() {
                    eprintln!("crossgate: policy warning ({}): {warning}", route.prefix);
                }
            }
            writeln!(
                out,
                "crossgate proxy: {} route(s) on http://{local}",
                routes.len()
            )?;
            for route in routes {
                let jsonp = match (args.jsonp, route.inject.is_empty()) {
                    (false, _) => "",
                    (true, true) => "; JSONP",
                    (true, false) => "; no JSONP: it injects headers",
                };
                writeln!(
                    out,
                    "  {} -> {} (allowed origins: {}{jsonp})",
                    route.prefix,
                    route.upstream,
                    route.policy.config().allow_origins.join(", ")
                )?;
            }
        }
        Mode::Upstream(base) => {
            writeln!(
                out,
                "crossgate proxy: upstream mode on http://{local} -> {base}"
            )?;
            writeln!(out, "allowed origins: {origins}")?;
        }
        _ => {
            writeln!(
                out,
                "crossgate proxy: anywhere mode on http://{local} (try \
                 http://{local}/https://example.com/)"
            )?;
            writeln!(out, "allowed origins: {origins}")?;
        }
    }
    if let Some(line) = &admin_line {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    let reloader = proxy.reloader();
    // SIGHUP: the --config routes file or the --policy file again (flags cannot change while the
    // process runs).
    let reload = || {
        let mut stdout = std::io::stdout().lock();
        if let Some(path) = &args.config {
            match read_routes(path) {
                Ok(fresh) => {
                    let reloaded = reloader.routes(&fresh);
                    if reloaded.needs_restart {
                        eprintln!(
                            "crossgate: routes were added, removed or changed: those changes \
                             need a restart; the policies of unchanged routes were reloaded"
                        );
                    }
                    let _ = writeln!(
                        stdout,
                        "reloaded: {} ({} route policies)",
                        path.display(),
                        reloaded.swapped
                    );
                }
                Err(e) => {
                    eprintln!("crossgate: reload failed, the running routes stay: {e:#}");
                    let _ = writeln!(stdout, "reload failed: the running routes stay");
                }
            }
        } else if args.policy.is_some() {
            let reloaded = policy(args).and_then(|policy| match policy {
                Some(policy) => reloader.policy(policy).map_err(anyhow::Error::from),
                None => Ok(()),
            });
            let path = args.policy.as_deref().unwrap_or(std::path::Path::new(""));
            match reloaded {
                Ok(()) => {
                    let _ = writeln!(stdout, "reloaded: {}", path.display());
                }
                Err(e) => {
                    eprintln!("crossgate: reload failed, the running policy stays: {e:#}");
                    let _ = writeln!(stdout, "reload failed: the running policy stays");
                }
            }
        } else {
            let _ = writeln!(
                stdout,
                "reload: nothing to reload (the policy comes from flags)"
            );
        }
        let _ = stdout.flush();
    };
    bound
        .run(|| signals.wait(reload))
        .context("a worker failed")?;
    Ok(Status::Ok)
}

/// Ctrl-C and SIGTERM, listened for from before the proxy says it is listening (a signal that
/// came earlier would otherwise end the process without draining).
struct Signals {
    runtime: tokio::runtime::Runtime,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    fn register() -> anyhow::Result<Signals> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the runtime")?;
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let _entered = runtime.enter();
            let interrupt = signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?;
            let terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
            let hangup = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
            drop(_entered);
            Ok(Signals {
                runtime,
                interrupt,
                terminate,
                hangup,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals { runtime })
    }

    /// Blocks until Ctrl-C or SIGTERM, calling `reload` on each SIGHUP.
    fn wait(mut self, mut reload: impl FnMut()) {
        #[cfg(unix)]
        self.runtime.block_on(async {
            loop {
                tokio::select! {
                    _ = self.interrupt.recv() => break,
                    _ = self.terminate.recv() => break,
                    _ = self.hangup.recv() => reload(),
                }
            }
        });
        #[cfg(not(unix))]
        {
            let _ = &mut reload;
            self.runtime.block_on(async {
                let _ = tokio::signal::ctrl_c().await;
            });
        }
    }
}
