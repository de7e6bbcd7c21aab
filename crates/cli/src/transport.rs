//! The live [`Transport`] of `crossgate check`: sends the engine's [`WireRequest`]s over HTTP or
//! HTTPS (hyper 1, hyper-util's client, rustls) and hands back status and headers, blocking.
//!
//! It sends exactly what the engine asks for, plus what HTTP itself needs (`Host`,
//! `Content-Length`): no cookies, no `User-Agent`, no redirects followed (the engine follows
//! them, as a browser does). The response body is never read: `fetch()` resolves on the headers.

use std::error::Error as StdError;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use bytes::Bytes;
use crossgate::browser::{
    Transport, TransportError, TransportErrorKind, WireRequest, WireResponse,
};
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// An HTTP(S) client that blocks on a current-thread tokio runtime of its own.
pub(crate) struct HttpTransport {
    runtime: tokio::runtime::Runtime,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl HttpTransport {
    /// A client trusting the Mozilla roots (webpki-roots), the system's roots, and the
    /// certificates in the PEM file `cacert`; `timeout` bounds the connection and the wait for
    /// the response's head, each request as a whole.
    pub(crate) fn new(timeout: Duration, cacert: Option<&Path>) -> anyhow::Result<HttpTransport> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the HTTP client")?;

        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        // The system's roots are a bonus (a corporate CA): unreadable ones are skipped.
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        if let Some(path) = cacert {
            let name = path.display();
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
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
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(HttpTransport {
            runtime,
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
        let sent = self.client.request(http_request);
        let response = self
            .runtime
            .block_on(async { tokio::time::timeout(timeout, sent).await })
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
