//! Real servers on 127.0.0.1 for `crossgate check`: a correct CORS server (a crossgate policy's
//! `decide` + `apply`), one with fixed answers, one that accepts and never answers, and HTTPS
//! with a certificate made on the spot. Each listens before its thread starts, so a test can
//! connect at once: no sleeping, no readiness dance.

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use crossgate::Policy;
use crossgate::server::Action;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// A request as the server saw it: method and path, and every header.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
}

type Handler = dyn Fn(&Seen) -> Response<Full<Bytes>> + Send + Sync;

/// A server running until the test process ends.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    options: Arc<AtomicUsize>,
}

impl Server {
    /// `http://127.0.0.1:PORT{path}` (or `https://`).
    pub(crate) fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://{}{path}", self.addr)
    }

    /// How many OPTIONS requests it answered.
    pub(crate) fn options(&self) -> usize {
        self.options.load(Ordering::SeqCst)
    }

    /// Every request it answered, in order.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("not poisoned").clone()
    }
}

/// The page origin the test policy allows (no server runs there: it is only a header value).
pub(crate) const PAGE: &str = "http://127.0.0.1:8001";

/// The policy of the correct CORS server.
pub(crate) const POLICY: &str = r#"
allow_origins = ["http://127.0.0.1:8001"]
allow_methods = ["PUT"]
allow_headers = ["x-foo", "content-type"]
expose_headers = ["x-total"]
max_age = 600
"#;

/// A correct CORS server: `decide` + `apply` of [`POLICY`]; the application answers 200 with
/// `X-Total: 42`.
pub(crate) fn cors(tls: Option<&Tls>) -> Server {
    let policy = Policy::from_toml(POLICY).expect("the test policy is valid");
    serve(
        tls,
        Arc::new(move |seen: &Seen| {
            let method = http::Method::from_bytes(seen.method.as_bytes()).expect("a method");
            let decision = policy.decide(&method, &seen.headers);
            let mut response = match decision.action() {
                Action::Respond(status) => status_only(status),
                Action::Forward => {
                    let mut r = Response::new(Full::new(Bytes::from_static(b"ok")));
                    r.headers_mut()
                        .insert("x-total", http::HeaderValue::from_static("42"));
                    r
                }
            };
            decision.apply(response.headers_mut());
            response
        }),
    )
}

/// A server answering every request with `status` and `headers`, whatever it asks.
pub(crate) fn fixed(status: u16, headers: &[(&str, &str)]) -> Server {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    serve(
        None,
        Arc::new(move |_: &Seen| {
            let mut response =
                status_only(StatusCode::from_u16(status).expect("a valid status in the test"));
            for (name, value) in &headers {
                response.headers_mut().append(
                    http::HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
                    http::HeaderValue::from_str(value).expect("a header value"),
                );
            }
            response
        }),
    )
}

/// A server that accepts connections and never says a word.
pub(crate) fn silent() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("a local address");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    addr
}

/// A port on 127.0.0.1 where nothing listens (bound, then closed).
pub(crate) fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("a local address")
}

/// A certificate signed by itself, its key, and the certificate as PEM (what `--cacert` reads).
pub(crate) struct Tls {
    config: Arc<rustls::ServerConfig>,
    pub(crate) cert_pem: String,
}

impl Tls {
    /// For 127.0.0.1.
    pub(crate) fn self_signed() -> Tls {
        Tls::self_signed_for("127.0.0.1")
    }

    /// For `name` (a host name or an IP address).
    pub(crate) fn self_signed_for(name: &str) -> Tls {
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(vec![name.to_owned()])
                .expect("rcgen makes a certificate");
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .expect("the certificate and key match");
        Tls {
            config: Arc::new(config),
            cert_pem: cert.pem(),
        }
    }

    /// An acceptor for tokio servers.
    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(Arc::clone(&self.config))
    }
}

fn status_only(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// Listens on 127.0.0.1:0 now, serves `handler` (over TLS if given) in a thread of its own.
fn serve(tls: Option<&Tls>, handler: Arc<Handler>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("a local address");
    listener.set_nonblocking(true).expect("non-blocking");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let options = Arc::new(AtomicUsize::new(0));
    let server = Server {
        addr,
        seen: Arc::clone(&seen),
        options: Arc::clone(&options),
    };
    let acceptor = tls.map(Tls::acceptor);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let handler = Arc::clone(&handler);
                let seen = Arc::clone(&seen);
                let options = Arc::clone(&options);
                let service = move |request: Request<Incoming>| {
                    let record = Seen {
                        method: request.method().to_string(),
                        path: request.uri().path().to_owned(),
                        headers: request.headers().clone(),
                    };
                    if request.method() == http::Method::OPTIONS {
                        options.fetch_add(1, Ordering::SeqCst);
                    }
                    let response = handler(&record);
                    seen.lock().expect("not poisoned").push(record);
                    async move { Ok::<_, Infallible>(response) }
                };
                tokio::spawn(serve_connection(stream, acceptor.clone(), service));
            }
        });
    });
    server
}

/// Serves one accepted connection, over TLS when an acceptor is given. A refused handshake (the
/// client did not trust the certificate) or a dropped connection just ends it.
pub(crate) async fn serve_connection<F, Fut>(
    stream: tokio::net::TcpStream,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    handle: F,
) where
    F: Fn(Request<Incoming>) -> Fut,
    Fut: std::future::Future<Output = Result<Response<Full<Bytes>>, Infallible>>,
{
    let service = service_fn(handle);
    let http = hyper::server::conn::http1::Builder::new();
    match acceptor {
        Some(acceptor) => {
            if let Ok(stream) = acceptor.accept(stream).await {
                let _ = http.serve_connection(TokioIo::new(stream), service).await;
            }
        }
        None => {
            let _ = http.serve_connection(TokioIo::new(stream), service).await;
        }
    }
}
