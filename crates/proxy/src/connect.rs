//! [`GuardedConnector`]: the proxy's only way to open a connection upstream. It checks the
//! target (scheme, port, host allowlist), resolves it, checks *every* resolved address with
//! [`ssrf::check`], and dials only an address that passed — in that order, in one place, so
//! that DNS rebinding (a name that resolves to a public address when checked and a private one
//! when dialled) has no second lookup to exploit.
//!
//! Resolution and dialling go through [`Resolve`] and [`Dial`], so that tests can map names to
//! addresses and record what would have been dialled without sending anything anywhere.

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::ssrf::{self, Refusal};

/// A boxed, sendable future (the connector's, and its hooks').
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Turns a host name into addresses.
pub trait Resolve: Send + Sync + 'static {
    /// Every address `host` resolves to, with `port`.
    fn resolve(&self, host: String, port: u16) -> BoxFuture<io::Result<Vec<SocketAddr>>>;
}

/// Opens a TCP connection to an address that passed the checks.
pub trait Dial: Send + Sync + 'static {
    /// Connects to `addr`.
    fn dial(&self, addr: SocketAddr) -> BoxFuture<io::Result<TcpStream>>;
}

/// The system resolver (`getaddrinfo`, through tokio).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, host: String, port: u16) -> BoxFuture<io::Result<Vec<SocketAddr>>> {
        Box::pin(async move { Ok(tokio::net::lookup_host((host, port)).await?.collect()) })
    }
}

/// A plain TCP connection, with `TCP_NODELAY` (a proxy forwards small writes at once).
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpDialer;

impl Dial for TcpDialer {
    fn dial(&self, addr: SocketAddr) -> BoxFuture<io::Result<TcpStream>> {
        Box::pin(async move {
            let stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            Ok(stream)
        })
    }
}

/// Which ports a target may use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ports {
    /// Only these (the default: 80 and 443).
    Only(BTreeSet<u16>),
    /// Any port.
    Any,
}

impl Default for Ports {
    fn default() -> Ports {
        Ports::Only(BTreeSet::from([80, 443]))
    }
}

/// What the connector lets through.
#[derive(Clone, Debug, Default)]
pub struct TargetRules {
    /// Connect to loopback, private, link-local and other non-public addresses too
    /// (`--allow-private`). Off by default.
    pub allow_private: bool,
    /// The ports targets may use.
    pub ports: Ports,
    /// If set, only these hosts (lower case, exact) may be targets.
    pub hosts: Option<BTreeSet<String>>,
}

/// Why a connection was not made.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectError {
    /// The target's scheme is not http or https.
    Scheme(String),
    /// The target has no host.
    NoHost,
    /// The target's port is not allowed.
    Port(u16),
    /// The target's host is not in the allowlist.
    HostNotAllowed(String),
    /// A resolved address is not public.
    Refused {
        /// The host as the target named it.
        host: String,
        /// The address and the range that refused it.
        refusal: Refusal,
    },
    /// The name did not resolve.
    Resolve(String, io::Error),
    /// The name resolved to no address.
    NoAddress(String),
    /// Every checked address refused the connection or failed.
    Dial(SocketAddr, io::Error),
}

impl ConnectError {
    /// A stable kebab-case code, for JSON errors and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            ConnectError::Scheme(_) => "scheme-not-allowed",
            ConnectError::NoHost => "no-host",
            ConnectError::Port(_) => "port-not-allowed",
            ConnectError::HostNotAllowed(_) => "host-not-allowed",
            ConnectError::Refused { .. } => "address-not-allowed",
            ConnectError::Resolve(..) => "dns-failure",
            ConnectError::NoAddress(_) => "dns-no-address",
            ConnectError::Dial(..) => "connect-failed",
        }
    }

    /// Whether the target was refused by a rule (403), as opposed to failing (502).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            ConnectError::Scheme(_)
                | ConnectError::Port(_)
                | ConnectError::HostNotAllowed(_)
                | ConnectError::Refused { .. }
        )
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Scheme(s) => {
                write!(f, "scheme {s:?} is not allowed (only http and https)")
            }
            ConnectError::NoHost => f.write_str("the target has no host"),
            ConnectError::Port(p) => write!(
                f,
                "port {p} is not allowed (only 80 and 443 unless the proxy is configured with more)"
            ),
            ConnectError::HostNotAllowed(h) => {
                write!(f, "host {h:?} is not in the proxy's target allowlist")
            }
            ConnectError::Refused { host, refusal } => write!(
                f,
                "{host} resolves to {refusal}: refused (the proxy does not reach private \
                 networks unless started with --allow-private)"
            ),
            ConnectError::Resolve(h, e) => write!(f, "{h} did not resolve: {e}"),
            ConnectError::NoAddress(h) => write!(f, "{h} resolved to no address"),
            ConnectError::Dial(a, e) => write!(f, "connecting to {a} failed: {e}"),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnectError::Resolve(_, e) | ConnectError::Dial(_, e) => Some(e),
            _ => None,
        }
    }
}

/// The connector: a `tower::Service<Uri>` that hyper-util's client (and hyper-rustls around it)
/// uses to open every upstream connection.
#[derive(Clone)]
pub struct GuardedConnector {
    rules: Arc<TargetRules>,
    resolver: Arc<dyn Resolve>,
    dialer: Arc<dyn Dial>,
    connect_timeout: Duration,
}

/// How long a TCP connection to one address may take by default.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl fmt::Debug for GuardedConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedConnector")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl GuardedConnector {
    /// The system resolver and plain TCP.
    pub fn new(rules: TargetRules) -> GuardedConnector {
        GuardedConnector::with_hooks(rules, SystemResolver, TcpDialer)
    }

    /// Custom resolution and dialling (tests record what would have been dialled).
    pub fn with_hooks(
        rules: TargetRules,
        resolver: impl Resolve,
        dialer: impl Dial,
    ) -> GuardedConnector {
        GuardedConnector {
            rules: Arc::new(rules),
            resolver: Arc::new(resolver),
            dialer: Arc::new(dialer),
            connect_timeout: CONNECT_TIMEOUT,
        }
    }

    /// How long a TCP connection to one address may take ([`CONNECT_TIMEOUT`] by default).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> GuardedConnector {
        self.connect_timeout = timeout;
        self
    }

    /// The rules it applies.
    pub fn rules(&self) -> &TargetRules {
        &self.rules
    }

    /// Checks, resolves, checks every address, and dials the first that connects.
    pub async fn connect(&self, uri: &Uri) -> Result<TcpStream, ConnectError> {
        let (host, port) = check_target(&self.rules, uri)?;
        let addrs = match host_ip(&host) {
            Some(ip) => vec![SocketAddr::new(ip, port)],
            None => self
                .resolver
                .resolve(host.clone(), port)
                .await
                .map_err(|e| ConnectError::Resolve(host.clone(), e))?,
        };
        if addrs.is_empty() {
            return Err(ConnectError::NoAddress(host));
        }
        // Every address, not just the one dialled: a name that mixes public and private
        // addresses is refused as a whole.
        if !self.rules.allow_private {
            for addr in &addrs {
                ssrf::check(addr.ip()).map_err(|refusal| ConnectError::Refused {
                    host: host.clone(),
                    refusal,
                })?;
            }
        }
        let mut last = None;
        for addr in addrs {
            match tokio::time::timeout(self.connect_timeout, self.dialer.dial(addr)).await {
                Ok(Ok(stream)) => return Ok(stream),
                Ok(Err(e)) => last = Some(ConnectError::Dial(addr, e)),
                Err(_) => {
                    let timed_out = io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no answer within {} ms", self.connect_timeout.as_millis()),
                    );
                    last = Some(ConnectError::Dial(addr, timed_out));
                }
            }
        }
        Err(last.unwrap_or(ConnectError::NoAddress(host)))
    }
}

/// The scheme, port and host rules; returns the host (lower case, brackets removed) and port.
fn check_target(rules: &TargetRules, uri: &Uri) -> Result<(String, u16), ConnectError> {
    let scheme = uri.scheme_str().unwrap_or("");
    let default_port = match scheme {
        "http" => 80,
        "https" => 443,
        other => return Err(ConnectError::Scheme(other.to_owned())),
    };
    let host = uri.host().ok_or(ConnectError::NoHost)?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let port = uri.port_u16().unwrap_or(default_port);
    if let Ports::Only(ports) = &rules.ports {
        if !ports.contains(&port) {
            return Err(ConnectError::Port(port));
        }
    }
    if let Some(hosts) = &rules.hosts {
        if !hosts.contains(host.trim_end_matches('.')) {
            return Err(ConnectError::HostNotAllowed(host));
        }
    }
    Ok((host, port))
}

/// The address a host spells, read as browsers read it (WHATWG: `2130706433`, `0x7f.1` and
/// `127.1` are all 127.0.0.1), or `None` for a name to resolve.
fn host_ip(host: &str) -> Option<IpAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(ip);
    }
    match url::Host::parse(host).ok()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

impl tower_service::Service<Uri> for GuardedConnector {
    type Response = TokioIo<TcpStream>;
    type Error = ConnectError;
    type Future = BoxFuture<Result<TokioIo<TcpStream>, ConnectError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connector = self.clone();
        Box::pin(async move { connector.connect(&uri).await.map(TokioIo::new) })
    }
}
