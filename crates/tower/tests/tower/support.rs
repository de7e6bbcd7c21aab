//! What the tests share: the test policy, an axum API that counts the requests reaching it, a
//! loopback server for it, and a real HTTP client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, put};
use bytes::Bytes;
use crossgate::Policy;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The policy most tests use: two exact origins and a subdomain pattern, PUT and DELETE, two
/// request headers, one exposed header, credentials, max-age.
pub(crate) const POLICY: &str = r#"
allow_origins = ["https://app.example.com", "http://localhost:5173", "https://*.preview.example.com"]
allow_methods = ["PUT", "DELETE"]
allow_headers = ["content-type", "x-request-id"]
expose_headers = ["x-request-id"]
allow_credentials = true
max_age = 600
"#;

pub(crate) fn policy() -> Policy {
    Policy::from_toml(POLICY).expect("the test policy is valid")
}

/// How many requests reached the application (the handlers), behind every layer.
#[derive(Clone, Default)]
pub(crate) struct Calls(Arc<AtomicUsize>);

impl Calls {
    pub(crate) fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// The application: JSON data, chosen error statuses, chosen `Vary` values, a cookie echo, a
/// PUT, an `OPTIONS` route of its own, and a handler that sets its own CORS header.
pub(crate) fn app(calls: &Calls) -> Router {
    let counter = calls.0.clone();
    Router::new()
        .route(
            "/data",
            get(|| async {
                (
                    [
                        ("content-type", "application/json"),
                        ("x-request-id", "r-1"),
                    ],
                    r#"{"ok":true}"#,
                )
            }),
        )
        .route(
            "/status/{code}",
            get(|Path(code): Path<u16>| async move {
                let status = StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT);
                (status, format!("the application's own {code}"))
            }),
        )
        .route(
            "/vary/{value}",
            get(|Path(value): Path<String>| async move { ([("vary", value)], "varies") }),
        )
        .route(
            "/whoami",
            get(|headers: HeaderMap| async move {
                headers
                    .get("cookie")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("no cookie")
                    .to_owned()
            }),
        )
        .route(
            "/items/{id}",
            put(
                |Path(id): Path<String>, headers: HeaderMap, body: String| async move {
                    let request_id = headers
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("none")
                        .to_owned();
                    (
                        [("x-request-id", request_id)],
                        format!("stored {id}: {body}"),
                    )
                },
            )
            .delete(|| async { StatusCode::NO_CONTENT })
            .options(|| async {
                (
                    [("allow", "GET, PUT, DELETE, OPTIONS")],
                    "the application's OPTIONS",
                )
            }),
        )
        .route(
            "/sets-cors",
            get(|| async {
                (
                    [
                        ("access-control-allow-origin", "*"),
                        ("access-control-allow-methods", "*"),
                    ],
                    "a handler that sets CORS headers itself",
                )
                    .into_response()
            }),
        )
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                counter.fetch_add(1, Ordering::SeqCst);
                next.run(request)
            },
        ))
}

/// Serves `router` on 127.0.0.1 (a port the system picks) until the test's runtime ends. The
/// listener is bound before this returns, so a request can be sent at once.
pub(crate) async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("a bound address");
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    addr
}

/// A response as the client received it.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: String,
}

impl Reply {
    /// A header's value (every line joined with ", "), or `None`.
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().expect("ASCII header"))
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }

    /// Every `Access-Control-*` header name in the response.
    pub(crate) fn cors_headers(&self) -> Vec<String> {
        self.headers
            .keys()
            .map(|k| k.as_str().to_owned())
            .filter(|k| k.starts_with("access-control-"))
            .collect()
    }
}

/// Sends one request over a real TCP connection to 127.0.0.1 with hyper's client.
pub(crate) async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Reply {
    send_body(addr, method, path, headers, "").await
}

/// [`send`] with a body.
pub(crate) async fn send_body(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let (parts, body) = send_bytes(addr, method, path, headers, body.as_bytes()).await;
    Reply {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: String::from_utf8(body.to_vec()).expect("UTF-8 body"),
    }
}

/// Sends one request with a binary body; returns the response's head and whole body.
pub(crate) async fn send_bytes(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (http::response::Parts, Bytes) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for &(name, value) in headers {
        request = request.header(name, value);
    }
    let request = request
        .body(Full::new(Bytes::copy_from_slice(body)))
        .expect("a valid request");
    let response = client.request(request).await.expect("the server answers");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("a whole body").to_bytes();
    (parts, body)
}
