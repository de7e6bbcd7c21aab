//! The client side of the tests ([`send`], [`Reply`]), and hooks for the connector: a resolver that maps test names to addresses, and a dialer that
//! records every address it is asked to dial and connects only to loopback — either the address
//! itself, or the loopback server a test routes a public address to (a simulated network: the
//! guard sees a public address, the bytes go to 127.0.0.1).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use crossgate_proxy::connect::{BoxFuture, Dial, Resolve};
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpStream;

/// Names the test resolves, and what it was asked.
#[derive(Clone, Default)]
pub(crate) struct MapResolver {
    pub(crate) names: HashMap<&'static str, Vec<SocketAddr>>,
    pub(crate) asked: Arc<Mutex<Vec<String>>>,
}

impl Resolve for MapResolver {
    fn resolve(&self, host: String, _port: u16) -> BoxFuture<io::Result<Vec<SocketAddr>>> {
        self.asked.lock().expect("not poisoned").push(host.clone());
        let found = self.names.get(host.as_str()).cloned();
        Box::pin(async move {
            found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such test name"))
        })
    }
}

/// Records every dial; connects to loopback addresses, and to public addresses routed to a
/// loopback server; refuses everything else without sending a byte.
#[derive(Clone, Default)]
pub(crate) struct RecordingDialer {
    pub(crate) dialled: Arc<Mutex<Vec<SocketAddr>>>,
    pub(crate) routes: HashMap<SocketAddr, SocketAddr>,
}

impl RecordingDialer {
    pub(crate) fn dialled(&self) -> Vec<SocketAddr> {
        self.dialled.lock().expect("not poisoned").clone()
    }
}

impl Dial for RecordingDialer {
    fn dial(&self, addr: SocketAddr) -> BoxFuture<io::Result<TcpStream>> {
        self.dialled.lock().expect("not poisoned").push(addr);
        let routed = self.routes.get(&addr).copied();
        Box::pin(async move {
            match routed {
                Some(local) if local.ip().is_loopback() => TcpStream::connect(local).await,
                _ if addr.ip().is_loopback() => TcpStream::connect(addr).await,
                _ => Err(io::Error::other(
                    "the test dialer connects to loopback only",
                )),
            }
        })
    }
}

/// A response as the client received it.
pub(crate) struct Reply {
    pub(crate) version: http::Version,
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Reply {
    /// A header's value.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().expect("ASCII"))
    }

    /// The body as JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One request to the proxy at `addr` through hyper's client.
pub(crate) async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let response = open(addr, method, path, headers, body).await;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("a whole body").to_bytes();
    Reply {
        version: parts.version,
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// One request to the proxy at `addr`: the response as soon as its head has come, its body still
/// to be read.
pub(crate) async fn open(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Response<hyper::body::Incoming> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for &(name, value) in headers {
        request = request.header(name, value);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("valid request");
    client.request(request).await.expect("the proxy answers")
}

/// Serves `service` with the proxy's own `serve` on 127.0.0.1 until the test's runtime ends.
pub(crate) async fn listen<S>(service: S) -> SocketAddr
where
    S: tower_service::Service<
            Request<hyper::body::Incoming>,
            Response = Response<crossgate_proxy::body::ProxyBody>,
        > + Clone
        + Send
        + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Future: Send + 'static,
{
    listen_with(
        service,
        crossgate_proxy::serve::ConnectionTimeouts::default(),
    )
    .await
}

/// [`listen`], with connections held as `timeouts` says.
pub(crate) async fn listen_with<S>(
    service: S,
    timeouts: crossgate_proxy::serve::ConnectionTimeouts,
) -> SocketAddr
where
    S: tower_service::Service<
            Request<hyper::body::Incoming>,
            Response = Response<crossgate_proxy::body::ProxyBody>,
        > + Clone
        + Send
        + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Future: Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("bound");
    tokio::spawn(crossgate_proxy::serve::serve_with(
        listener,
        service,
        std::future::pending(),
        std::time::Duration::from_secs(1),
        timeouts,
    ));
    addr
}

/// Reads from `stream` until a whole request head has come (to its blank line): the bytes read,
/// or `None` when the peer closed or failed first. For the tests' scripted upstreams.
pub(crate) async fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt as _;
    let mut head = Vec::new();
    let mut buffer = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    Some(head)
}
