//! `crossgate proxy`: a CORS proxy. Upstream mode (`--upstream URL`) puts crossgate in front of
//! one API; anywhere mode (the default) fetches any public URL named in the path, cors-anywhere
//! style. Builds the policy and the connector rules from the flags, then runs
//! `crossgate_proxy::serve` until Ctrl-C or SIGTERM, finishing the requests in flight.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use crossgate::Policy;
use crossgate_proxy::anywhere::Anywhere;
use crossgate_proxy::body::BodyTimeouts;
use crossgate_proxy::budget::{
    Admit, ConnectionLimits, Connections, Descriptors, UpstreamLimits, Upstreams, Wanted,
};
use crossgate_proxy::connect::{GuardedConnector, Ports, TargetRules};
use crossgate_proxy::forward::{Limits, Upstream, client};
use crossgate_proxy::jsonp::{DEFAULT_JSONP_MEMORY, Jsonp, JsonpBudget};
use crossgate_proxy::limit::{Limited, RateLimits};
use crossgate_proxy::metrics::{Measured, Metrics, serve_admin};
use crossgate_proxy::routes::Router;
use crossgate_proxy::serve::{ConnectionTimeouts, Share, serve_shared};
use crossgate_tower::{CorsLayer, PolicyHandle};
use tower_layer::Layer;

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
    /// Seconds to wait for the upstream's answer (connection included) before a 504. From 1 to
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

/// Anywhere mode's policy without --allow-origin: any origin, no credentials, everything
/// readable.
fn open_policy() -> anyhow::Result<Policy> {
    Ok(Policy::builder()
        .allow_origins(["*"])
        .allow_methods(["*"])
        .allow_headers(["*"])
        .expose_headers(["*"])
        .build()?)
}

fn policy(args: &Args) -> anyhow::Result<Policy> {
    if let Some(path) = &args.policy {
        let text = crate::output::read_file(path)
            .with_context(|| format!("cannot read the policy file {}", path.display()))?;
        return Policy::from_toml(&text)
            .with_context(|| format!("{} is not a usable policy", path.display()));
    }
    let anywhere = args.upstream.is_none();
    if args.allow_origins.is_empty() {
        if !anywhere {
            bail!(
                "upstream mode needs the page origins allowed to read the API: \
                 --allow-origin http://localhost:5173 (or --policy FILE)"
            );
        }
        return open_policy();
    }
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
        .context("the --allow-* flags make an unusable policy")
}

pub(crate) fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<Status> {
    let anywhere = args.upstream.is_none() && args.config.is_none();
    if anywhere && args.allow_credentials {
        bail!(
            "--allow-credentials is for upstream mode: anywhere mode never forwards the page's \
             cookies to third parties"
        );
    }
    if anywhere
        && !args.listen.ip().is_loopback()
        && args.allow_origins.is_empty()
        && args.allow_targets.is_empty()
        && !args.open
    {
        bail!(
            "anywhere mode on {} would be an open relay for anyone who can reach it: limit it \
             with --allow-origin or --allow-target, or say --open",
            args.listen
        );
    }
    let routes = match &args.config {
        Some(path) => {
            let text = crate::output::read_file(path)
                .with_context(|| format!("cannot read the routes file {}", path.display()))?;
            let routes = crossgate_proxy::routes::parse(&text)
                .with_context(|| format!("{} is not a usable routes file", path.display()))?;
            Some(routes)
        }
        None => None,
    };
    // The routes' own policies when there are routes; this one otherwise.
    let policy = match &routes {
        Some(_) => open_policy()?,
        None => policy(args)?,
    };
    if anywhere && policy.config().allow_credentials {
        bail!(
            "the policy allows credentials, which anywhere mode never does: it would forward \
             nothing of them anyway, and must not tell pages it does"
        );
    }
    for warning in policy.warnings() {
        eprintln!("crossgate: policy warning: {warning}");
    }
    let timeout = Duration::from_secs(args.timeout);
    let default = |anywhere_default: u32| {
        if anywhere {
            Some(anywhere_default)
        } else {
            None
        }
    };
    let rates = Arc::new(RateLimits::new(
        args.rate_per_ip.or(default(120)),
        args.rate_per_origin.or(default(600)),
        args.rate_per_target.or(default(600)),
        args.trusted_proxies.clone(),
    ));
    let jsonp_budget = JsonpBudget::new(match args.max_jsonp_memory {
        0 => u64::MAX,
        bytes => bytes,
    });
    let limits = Limits {
        request_body: (args.max_request_body > 0).then_some(args.max_request_body),
        response_body: (args.max_response_body > 0).then_some(args.max_response_body),
    };
    let seconds = |n: u64| (n > 0).then(|| Duration::from_secs(n));
    let body_timeouts = BodyTimeouts {
        idle: seconds(args.body_idle_timeout),
        total: match args.body_timeout {
            Some(n) => seconds(n),
            None if anywhere => Some(Duration::from_secs(600)),
            None => None,
        },
    };
    // How long client connections may be held: --idle-timeout and --send-timeout, the rest as
    // the library's.
    let held = ConnectionTimeouts {
        idle: Duration::from_secs(args.idle_timeout),
        send_timeout: seconds(args.send_timeout),
        header: Duration::from_secs(args.header_timeout),
        max_streams: u32::try_from(args.max_streams).unwrap_or(u32::MAX),
        ..ConnectionTimeouts::default()
    };

    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO);
    let _ = match args.log_format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => logs.json().try_init(),
    };
    // One single-threaded runtime per core, all accepting from one listening socket (balanced by
    // connection count: `Share`), each with its own upstream connection pool, as nginx runs a
    // worker per core: a request never hops between threads. A multi-threaded
    // runtime spent most of its time waking tasks across threads (measured: kernel futex work).
    let workers = if cfg!(unix) {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        1
    };
    // One descriptor budget for the process: the soft limit raised to the hard one, split
    // between client connections, upstream requests, idle pooled connections and a reserve.
    let descriptors = Descriptors::raise().context("cannot read the descriptor limit")?;
    let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    let plan = descriptors
        .plan(
            workers,
            Wanted {
                connections: args.max_connections.map(count),
                upstream_requests: args.max_upstream_requests.map(count),
                idle_per_host: Some(count(args.max_upstream_per_host)),
            },
        )
        .map_err(|e| anyhow::anyhow!(e.message))?;
    tracing::info!(
        target: "crossgate_proxy",
        "descriptor limit {} (soft, was {}; hard {}): {} client connections ({} per IP), {} \
         upstream requests in flight ({} per client), {} idle upstream connections per host, \
         {} kept for idle upstream connections and the process",
        descriptors.soft,
        descriptors.soft_before,
        descriptors.hard,
        plan.connections,
        args.max_connections_per_ip,
        plan.upstream_requests,
        args.max_requests_per_ip,
        plan.idle_per_host,
        plan.reserve,
    );
    let connections = Connections::new(ConnectionLimits {
        max: plan.connections,
        per_ip: count(args.max_connections_per_ip),
        exempt: args.trusted_proxies.clone(),
    });
    let upstreams = Upstreams::new(UpstreamLimits {
        in_flight: plan.upstream_requests,
        per_ip: count(args.max_requests_per_ip),
        trusted_proxies: args.trusted_proxies.clone(),
    });
    let signals = Signals::register()?;
    let listeners = bind_workers(args.listen, workers)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listeners[0]
        .local_addr()
        .context("cannot read the listening address")?;
    let handle = PolicyHandle::new(policy.clone());
    let layer = CorsLayer::from_handle(handle.clone()).debug(args.debug_cors);
    let origins = policy.config().allow_origins.join(", ");
    let metrics = Arc::new(if args.admin.is_some() {
        Metrics::new()
    } else {
        Metrics::disabled()
    });
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
    if let Some(routes) = routes {
        for route in &routes {
            for warning in route.policy.warnings() {
                eprintln!("crossgate: policy warning ({}): {warning}", route.prefix);
            }
        }
        writeln!(
            out,
            "crossgate proxy: {} route(s) on http://{local}",
            routes.len()
        )?;
        for route in &routes {
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
        if let Some(line) = &admin_line {
            writeln!(out, "{line}")?;
        }
        out.flush()?;
        // Metrics labels live as long as the process; routes are read once, at start.
        let labels: Vec<&'static str> = routes
            .iter()
            .map(|r| &*Box::leak(r.prefix.clone().into_boxed_str()))
            .collect();
        // Each route's policy in a handle: SIGHUP re-reads the file and swaps the policies of the
        // routes whose prefix, upstream and injected headers are unchanged.
        let handles: Vec<PolicyHandle> = routes
            .iter()
            .map(|r| PolicyHandle::new(r.policy.clone()))
            .collect();
        let config_path = args.config.clone().unwrap_or_default();
        let reload_routes = || {
            let mut stdout = std::io::stdout().lock();
            let reread = crate::output::read_file(&config_path)
                .with_context(|| format!("cannot read {}", config_path.display()))
                .and_then(|text| {
                    crossgate_proxy::routes::parse(&text).with_context(|| {
                        format!("{} is not a usable routes file", config_path.display())
                    })
                });
            match reread {
                Ok(fresh) => {
                    let mut swapped = 0;
                    for new in &fresh {
                        let same = routes.iter().position(|old| {
                            old.prefix == new.prefix
                                && old.upstream == new.upstream
                                && old.inject == new.inject
                        });
                        if let Some(i) = same {
                            handles[i].replace(new.policy.clone());
                            swapped += 1;
                        }
                    }
                    if swapped < fresh.len() || fresh.len() < routes.len() {
                        eprintln!(
                            "crossgate: routes were added, removed or changed: those changes \
                             need a restart; the policies of unchanged routes were reloaded"
                        );
                    }
                    let _ = writeln!(
                        stdout,
                        "reloaded: {} ({swapped} route policies)",
                        config_path.display()
                    );
                }
                Err(e) => {
                    eprintln!("crossgate: reload failed, the running routes stay: {e:#}");
                    let _ = writeln!(stdout, "reload failed: the running routes stay");
                }
            }
            let _ = stdout.flush();
        };
        run_workers(
            listeners,
            held,
            connections.clone(),
            signals,
            reload_routes,
            || {
                let services = routes
                    .iter()
                    .zip(&labels)
                    .zip(&handles)
                    .map(|((route, label), handle)| {
                        let host = route
                            .upstream
                            .host()
                            .unwrap_or_default()
                            .trim_start_matches('[')
                            .trim_end_matches(']')
                            .to_ascii_lowercase();
                        let rules = TargetRules {
                            allow_private: true,
                            ports: Ports::Any,
                            hosts: Some(BTreeSet::from([host])),
                        };
                        let upstream = Upstream::new(
                            route.upstream.clone(),
                            client(GuardedConnector::new(rules)),
                            timeout,
                        )
                        .limits(limits)
                        .body_timeouts(body_timeouts)
                        .metrics(metrics.clone())
                        .inject(route.inject.clone());
                        // JSONP as in the other modes, but never where the route spends a secret:
                        // any page can read a JSONP answer, whatever the route's policy says.
                        let jsonp = if route.inject.is_empty() {
                            Jsonp::new(upstream)
                        } else {
                            Jsonp::refusing(
                                upstream,
                                "this route adds headers kept on the server, and any page can read \
                             a JSONP answer",
                            )
                        }
                        .enabled(args.jsonp)
                        .memory_budget(jsonp_budget.clone());
                        let cors = CorsLayer::from_handle(handle.clone()).debug(args.debug_cors);
                        let service = cors.layer(Limited::new(
                            Admit::new(jsonp, upstreams.clone()),
                            rates.clone(),
                        ));
                        let service =
                            Measured::new(service, handle.clone(), label, metrics.clone());
                        (route.prefix.clone(), service)
                    })
                    .collect();
                Router::new(services)
            },
        )?;
        return Ok(Status::Ok);
    }
    // SIGHUP: the --policy file again (the flags cannot change while the process runs).
    let reload_policy = || {
        let mut stdout = std::io::stdout().lock();
        let Some(path) = &args.policy else {
            let _ = writeln!(
                stdout,
                "reload: nothing to reload (the policy comes from flags)"
            );
            let _ = stdout.flush();
            return;
        };
        let reloaded = crate::output::read_file(path)
            .with_context(|| format!("cannot read the policy file {}", path.display()))
            .and_then(|text| {
                Policy::from_toml(&text)
                    .with_context(|| format!("{} is not a usable policy", path.display()))
            });
        let reloaded = reloaded.and_then(|policy| {
            if anywhere && policy.config().allow_credentials {
                anyhow::bail!("the policy allows credentials, which anywhere mode never does");
            }
            Ok(policy)
        });
        match reloaded {
            Ok(policy) => {
                handle.replace(policy);
                let _ = writeln!(stdout, "reloaded: {}", path.display());
            }
            Err(e) => {
                eprintln!("crossgate: reload failed, the running policy stays: {e:#}");
                let _ = writeln!(stdout, "reload failed: the running policy stays");
            }
        }
        let _ = stdout.flush();
    };
    match &args.upstream {
        Some(base) => {
            let base: http::Uri = base
                .parse()
                .with_context(|| format!("--upstream {base:?} is not a URL"))?;
            let host = base
                .host()
                .with_context(|| format!("--upstream {base} has no host"))?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_ascii_lowercase();
            if !matches!(base.scheme_str(), Some("http" | "https")) {
                bail!("--upstream {base} must be an http or https URL");
            }
            // The operator named this upstream: it may be private (it usually is), and it is
            // the only host the proxy connects to.
            let rules = TargetRules {
                allow_private: true,
                ports: Ports::Any,
                hosts: Some(BTreeSet::from([host])),
            };
            writeln!(
                out,
                "crossgate proxy: upstream mode on http://{local} -> {base}"
            )?;
            writeln!(out, "allowed origins: {origins}")?;
            if let Some(line) = &admin_line {
                writeln!(out, "{line}")?;
            }
            out.flush()?;
            let upstream = || {
                Upstream::new(
                    base.clone(),
                    client(GuardedConnector::new(rules.clone())),
                    timeout,
                )
                .limits(limits)
                .body_timeouts(body_timeouts)
            };
            run_workers(
                listeners,
                held,
                connections.clone(),
                signals,
                reload_policy,
                || {
                    let jsonp = Jsonp::new(upstream())
                        .enabled(args.jsonp)
                        .memory_budget(jsonp_budget.clone());
                    let service = layer.layer(Limited::new(
                        Admit::new(jsonp, upstreams.clone()),
                        rates.clone(),
                    ));
                    Measured::new(service, handle.clone(), "upstream", metrics.clone())
                },
            )?;
        }
        None => {
            let mut ports = BTreeSet::from([80, 443]);
            ports.extend(args.allow_ports.iter().copied());
            let hosts = (!args.allow_targets.is_empty()).then(|| {
                args.allow_targets
                    .iter()
                    .map(|h| h.to_ascii_lowercase())
                    .collect()
            });
            let rules = TargetRules {
                allow_private: args.allow_private,
                ports: Ports::Only(ports),
                hosts,
            };
            writeln!(
                out,
                "crossgate proxy: anywhere mode on http://{local} (try \
                 http://{local}/https://example.com/)"
            )?;
            writeln!(out, "allowed origins: {origins}")?;
            if let Some(line) = &admin_line {
                writeln!(out, "{line}")?;
            }
            out.flush()?;
            let anywhere = || {
                Anywhere::new(client(GuardedConnector::new(rules.clone())), timeout)
                    .limits(limits)
                    .body_timeouts(body_timeouts)
                    .rate_limits(rates.clone())
                    .metrics(metrics.clone())
            };
            run_workers(
                listeners,
                held,
                connections.clone(),
                signals,
                reload_policy,
                || {
                    let jsonp = Jsonp::new(anywhere())
                        .enabled(args.jsonp)
                        .memory_budget(jsonp_budget.clone());
                    let service = layer.layer(Limited::new(
                        Admit::new(jsonp, upstreams.clone()),
                        rates.clone(),
                    ));
                    Measured::new(service, handle.clone(), "anywhere", metrics.clone())
                },
            )?;
        }
    }
    Ok(Status::Ok)
}

/// `count` handles on one listening socket on `addr` (which picks the port when `addr`'s is 0),
/// one per worker: the workers balance connections between them ([`Share`]).
fn bind_workers(addr: SocketAddr, count: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    let first = listener(addr)?;
    let mut all = Vec::with_capacity(count);
    for _ in 1..count {
        all.push(first.try_clone()?);
    }
    all.insert(0, first);
    Ok(all)
}

/// A non-blocking listening socket (`SO_REUSEADDR`, as every server: a restart does not wait for
/// the old connections' `TIME_WAIT`; not `SO_REUSEPORT`, which would let another process of the
/// same user bind the port and take a share of the connections).
fn listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Serves on every listener, each on a thread of its own with a single-threaded runtime and a
/// service `make` builds there, connections held as `held` says, until Ctrl-C or SIGTERM; then
/// each finishes its requests in flight.
fn run_workers<S>(
    listeners: Vec<std::net::TcpListener>,
    held: ConnectionTimeouts,
    connections: Arc<Connections>,
    signals: Signals,
    reload: impl FnMut(),
    make: impl Fn() -> S + Sync,
) -> anyhow::Result<()>
where
    S: crossgate_proxy::serve::ProxyService,
{
    let drain = Duration::from_secs(30);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let shares = Share::split(listeners.len(), connections);
    std::thread::scope(|scope| {
        let workers: Vec<_> = listeners
            .into_iter()
            .zip(shares)
            .enumerate()
            .map(|(i, (listener, share))| {
                let mut stopped = stopped.clone();
                let make = &make;
                std::thread::Builder::new()
                    .name(format!("crossgate-worker-{i}"))
                    .spawn_scoped(scope, move || -> anyhow::Result<()> {
                        let runtime = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .context("cannot start a worker's runtime")?;
                        runtime.block_on(async move {
                            let listener = tokio::net::TcpListener::from_std(listener)
                                .context("cannot use the listening socket")?;
                            let shutdown = async move {
                                let _ = stopped.wait_for(|stop| *stop).await;
                            };
                            serve_shared(listener, make(), shutdown, drain, held, share).await;
                            Ok(())
                        })
                    })
            })
            .collect::<Result<_, _>>()
            .context("cannot start the worker threads")?;
        signals.wait(reload);
        let _ = stop.send(true);
        for worker in workers {
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("a worker thread panicked"))??;
        }
        Ok(())
    })
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
