//! The live [`Transport`] of `crossgate check` and `crossgate audit`: sends the engine's
//! [`WireRequest`]s over HTTP or HTTPS (hyper 1, hyper-util's client, rustls) and hands back
//! status and headers, blocking.
//!
//! It sends exactly what the engine asks for, plus what HTTP itself needs (`Host`,
//! `Content-Length`): no cookies, no `User-Agent`, no redirects followed (the engine follows
//! them, as a browser does). The response body is never read: `fetch()` resolves on the headers.
//! `--resolve HOST:PORT:ADDR` (as curl's) connects to ADDR for HOST:PORT and changes nothing
//! else: the `Host` header and the TLS server name stay HOST.
//!
//! A kept-alive connection the server closed after its last answer without saying so (some do
//! after every answer) is found before the next request is written on it, and the request is
//! sent again on another connection: the proxy's [`crossgate_proxy::stale`], which `curl -L`'s
//! behaviour asks for (it would otherwise fail the next redirect hop or probe with "connection
//! reset by peer").

use std::error::Error as StdError;
use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use anyhow::{Context, anyhow};
use bytes::Bytes;
use crossgate::browser::{
    Transport, TransportError, TransportErrorKind, WireRequest, WireResponse,
};
use crossgate_proxy::stale::StaleCheck;
use http::Uri;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The client flags `check` and `audit` share.
#[derive(Clone, Debug, clap::Args)]
pub(crate) struct ClientArgs {
    /// Give up on a connection or a response after SECS seconds
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_timeout)]
    pub(crate) timeout: Duration,
    /// Also trust the CA certificates in this PEM file (for a self-signed test server)
    #[arg(long, value_name = "PEM")]
    pub(crate) cacert: Option<PathBuf>,
    /// Connect to ADDR for HOST:PORT (as curl's --resolve: Host and TLS name stay HOST); repeat for more
    #[arg(long, value_name = "HOST:PORT:ADDR", value_parser = Resolve::parse)]
    pub(crate) resolve: Vec<Resolve>,
}

/// `--timeout`: seconds, more than 0 and at most a day.
pub(crate) fn parse_timeout(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs <= 86_400.0 => Ok(Duration::from_secs_f64(secs)),
        _ => Err("expected a number of seconds, more than 0 and at most 86400".to_owned()),
    }
}

/// One `--resolve HOST:PORT:ADDR`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Resolve {
    /// The host name as URLs spell it (lower case; an IPv6 address in brackets).
    host: String,
    port: u16,
    addr: IpAddr,
}

impl Resolve {
    /// Parses `HOST:PORT:ADDR` (`www.example.com:443:127.0.0.1`, `[::1]:8080:127.0.0.1`,
    /// `example.com:443:[::1]`).
    pub(crate) fn parse(text: &str) -> Result<Resolve, String> {
        let usage = || {
            format!(
                "{text:?}: expected HOST:PORT:ADDR, e.g. www.example.com:443:127.0.0.1 (ADDR an IP address)"
            )
        };
        let (host, rest) = if text.starts_with('[') {
            let end = text.find("]:").ok_or_else(usage)?;
            (&text[..=end], &text[end + 2..])
        } else {
            text.split_once(':').ok_or_else(usage)?
        };
        let (port, addr) = rest.split_once(':').ok_or_else(usage)?;
        if host.is_empty() || host.contains(['/', '@', ' ']) {
            return Err(usage());
        }
        let port = port
            .parse::<u16>()
            .map_err(|_| format!("{text:?}: {port:?} is not a port (0 to 65535)"))?;
        let bare = addr
            .strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .unwrap_or(addr);
        let addr = bare.parse::<IpAddr>().map_err(|_| {
            format!("{text:?}: {addr:?} is not an IP address (no name is looked up for --resolve)")
        })?;
        Ok(Resolve {
            host: host.to_ascii_lowercase(),
            port,
            addr,
        })
    }
}

/// The connector under TLS: a `--resolve` entry swaps the host of the URI it connects to for its
/// address; TLS (above it) still names the original host, and hyper writes `Host` from the
/// request, not from here.
#[derive(Clone)]
struct ResolvingConnector {
    inner: HttpConnector,
    resolve: Arc<[Resolve]>,
}

type ConnectFuture = <HttpConnector as tower_service::Service<Uri>>::Future;

impl tower_service::Service<Uri> for ResolvingConnector {
    type Response = <HttpConnector as tower_service::Service<Uri>>::Response;
    type Error = <HttpConnector as tower_service::Service<Uri>>::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let uri = self.rewrite(uri);
        let connecting: ConnectFuture = self.inner.call(uri);
        Box::pin(connecting)
    }
}

impl ResolvingConnector {
    fn rewrite(&self, uri: Uri) -> Uri {
        let Some(host) = uri.host() else { return uri };
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("https") => 443,
            _ => 80,
        });
        let Some(entry) = self
            .resolve
            .iter()
            .find(|r| r.port == port && r.host.eq_ignore_ascii_case(host))
        else {
            return uri;
        };
        let authority = match entry.addr {
            IpAddr::V4(a) => format!("{a}:{port}"),
            IpAddr::V6(a) => format!("[{a}]:{port}"),
        };
        let mut parts = uri.clone().into_parts();
        match authority.parse() {
            Ok(authority) => {
                parts.authority = Some(authority);
                Uri::from_parts(parts).unwrap_or(uri)
            }
            Err(_) => uri,
        }
    }
}

/// An HTTP(S) client that blocks on a tokio runtime of its own. Clones share the runtime and the
/// connection pool, so that worker threads can each own one.
///
/// The runtime is a current-thread one, and each request runs as a task of it (the calling thread
/// blocks on the task): whichever thread drives the runtime runs every request and every
/// connection's task, one at a time, as each of the proxy's workers does. With requests checking
/// connections out on other threads while a connection's task runs (a multi-thread runtime, or
/// requests polled by the threads that block on them), a request handed to a connection whose
/// task is closing it at that moment (its server closed it) can be lost inside hyper and tokio
/// (a message sent as the channel's receiver is dropped): the request hung until `--timeout`,
/// about once in 30,000 requests to a server that closes after every answer.
#[derive(Clone)]
pub(crate) struct HttpTransport {
    runtime: Arc<tokio::runtime::Runtime>,
    client: Client<StaleCheck<HttpsConnector<ResolvingConnector>>, Full<Bytes>>,
    timeout: Duration,
}

impl HttpTransport {
    /// A client trusting the Mozilla roots (webpki-roots), the system's roots, and the
    /// certificates in the PEM file `--cacert`; `--timeout` bounds the connection and the wait
    /// for the response's head, each request as a whole.
    pub(crate) fn new(args: &ClientArgs) -> anyhow::Result<HttpTransport> {
        let timeout = args.timeout;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the HTTP client")?;

        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        // The system's roots are a bonus (a corporate CA): unreadable ones are skipped.
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        if let Some(path) = &args.cacert {
            let name = path.display();
            let pem =
                crate::output::read_bytes(path).with_context(|| format!("cannot read {name}"))?;
            let certs = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("cannot read {name}"))?;
            if certs.is_empty() {
                return Err(anyhow!(
                    "{name}: no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)"
                ));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .with_context(|| format!("{name}: not a usable CA certificate"))?;
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .context("cannot set up TLS")?
        .with_root_certificates(roots)
        .with_no_client_auth();

        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(ResolvingConnector {
                inner: http,
                resolve: args.resolve.clone().into(),
            });
        let client = Client::builder(TokioExecutor::new()).build(StaleCheck::new(connector));
        Ok(HttpTransport {
            runtime: Arc::new(runtime),
            client,
            timeout,
        })
    }
}

impl Transport for HttpTransport {
    fn send(&mut self, request: &WireRequest) -> Result<WireResponse, TransportError> {
        let http_request = to_http(request).map_err(|detail| TransportError {
            kind: TransportErrorKind::Other,
            detail,
        })?;
        let timeout = self.timeout;
        let client = self.client.clone();
        let again = request.clone();
        let task = self.runtime.spawn(async move {
            // Built again (the whole body is in `request`) if the pooled connection it takes
            // turns out closed before a byte of it is written.
            let sent =
                crossgate_proxy::stale::request(&client, http_request, || to_http(&again).ok());
            tokio::time::timeout(timeout, sent).await
        });
        let response = self
            .runtime
            .block_on(task)
            .map_err(|e| TransportError {
                kind: TransportErrorKind::Other,
                detail: format!("the request's task failed: {e}"),
            })?
            .map_err(|_| TransportError {
                kind: TransportErrorKind::TimedOut,
                detail: format!("no response within {}", seconds(timeout)),
            })?
            .map_err(|e| classify(&e, timeout))?;
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        Ok(WireResponse {
            status: response.status().as_u16(),
            headers,
        })
    }
}

/// `10 s`, `0.5 s`.
pub(crate) fn seconds(duration: Duration) -> String {
    format!("{} s", duration.as_secs_f64())
}

/// The engine's request as an `http::Request`: the method, the URL without its fragment, the
/// headers in order, the body.
fn to_http(request: &WireRequest) -> Result<http::Request<Full<Bytes>>, String> {
    let url = request.url.split('#').next().unwrap_or_default();
    let mut builder = http::Request::builder()
        .method(
            http::Method::from_bytes(request.method.as_bytes())
                .map_err(|_| format!("invalid method {:?}", request.method))?,
        )
        .uri(url);
    for (name, value) in &request.headers {
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name {name:?}"))?;
        let value = http::HeaderValue::from_bytes(value.as_bytes())
            .map_err(|_| format!("invalid value for {name}: {value:?}"))?;
        builder = builder.header(name, value);
    }
    let body = Full::new(Bytes::from(request.body.clone().unwrap_or_default()));
    builder
        .body(body)
        .map_err(|e| format!("cannot send to {url}: {e}"))
}

/// The kind of a client error, from the causes in its chain, and the most precise message.
fn classify(error: &hyper_util::client::legacy::Error, timeout: Duration) -> TransportError {
    let mut kind = TransportErrorKind::Other;
    let mut detail = None;
    for cause in causes(error) {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            kind = TransportErrorKind::Tls;
            detail = Some(tls.to_string());
            break;
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => kind = TransportErrorKind::Refused,
                std::io::ErrorKind::TimedOut => {
                    kind = TransportErrorKind::TimedOut;
                    detail = Some(format!("no connection within {}", seconds(timeout)));
                    break;
                }
                _ => {}
            }
        }
        // hyper-util's connector says "dns error" when the name does not resolve.
        if cause.to_string() == "dns error" {
            kind = TransportErrorKind::Dns;
        }
        detail = Some(cause.to_string());
    }
    TransportError {
        kind,
        detail: detail.unwrap_or_else(|| error.to_string()),
    }
}

/// An error and its causes, outermost first, looking inside `io::Error`s too (whose `source`
/// skips the error they wrap: a rustls error inside an `io::Error` is only seen this way).
fn causes<'a>(error: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut all = Vec::new();
    let mut next = Some(error);
    while let Some(cause) = next {
        all.push(cause);
        let inner = cause
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn StdError + 'static));
        next = inner.or_else(|| cause.source());
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse() {
        assert_eq!(parse_timeout("1").unwrap(), Duration::from_secs(1));
        assert_eq!(parse_timeout("0.5").unwrap(), Duration::from_millis(500));
        for bad in ["0", "-1", "nan", "inf", "x", "100000"] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn resolve_parses_like_curl() {
        let r = Resolve::parse("WWW.Target.test:8443:127.0.0.1").unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.addr.to_string().as_str()),
            ("www.target.test", 8443, "127.0.0.1")
        );
        let r = Resolve::parse("[::1]:80:[::1]").unwrap();
        assert_eq!(
            (r.host.as_str(), r.addr.to_string().as_str()),
            ("[::1]", "::1")
        );
        assert_eq!(
            Resolve::parse("a.test:1:::1").unwrap().addr.to_string(),
            "::1"
        );
        for bad in [
            "a.test",
            "a.test:80",
            ":80:127.0.0.1",
            "a.test:x:127.0.0.1",
            "a.test:80:localhost",
        ] {
            assert!(Resolve::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Resolve::parse("a.test:80:localhost").unwrap_err(),
            "\"a.test:80:localhost\": \"localhost\" is not an IP address (no name is looked up for --resolve)"
        );
    }

    #[test]
    fn resolve_rewrites_only_its_host_and_port() {
        let connector = ResolvingConnector {
            inner: HttpConnector::new(),
            resolve: vec![
                Resolve::parse("www.target.test:443:127.0.0.1").unwrap(),
                Resolve::parse("www.target.test:8080:::1").unwrap(),
            ]
            .into(),
        };
        let rewritten = |u: &str| connector.rewrite(u.parse().unwrap()).to_string();
        assert_eq!(
            rewritten("https://www.target.test/a?b"),
            "https://127.0.0.1:443/a?b"
        );
        assert_eq!(
            rewritten("https://WWW.target.test:443/"),
            "https://127.0.0.1:443/"
        );
        assert_eq!(
            rewritten("http://www.target.test:8080/"),
            "http://[::1]:8080/"
        );
        assert_eq!(
            rewritten("http://www.target.test/"),
            "http://www.target.test/"
        );
        assert_eq!(rewritten("https://other.test/"), "https://other.test/");
    }
}
