//! Upstream mode on loopback: a real upstream, the proxy (crossgate's CORS layer around the
//! forwarding service) served by `serve`, and hyper's client as the browser's stand-in. Faults:
//! an upstream that refuses connections, one that never answers, one that sends garbage.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use crossgate::Policy;
use crossgate_proxy::connect::{GuardedConnector, Ports, TargetRules};
use crossgate_proxy::forward::{Limits, Upstream, client};
use crossgate_proxy::serve::serve;
use crossgate_tower::CorsLayer;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tower_layer::Layer;

use crate::support::{listen, send};

const PAGE: &str = "http://localhost:5173";

/// What the upstream saw of each request: method, path and query, headers.
type Seen = Arc<Mutex<Vec<(String, String, HeaderMap)>>>;

/// An upstream on 127.0.0.1 that records requests and answers with their path, a header of its
/// own, a hop-by-hop header, and a CORS header of its own (which the proxy must replace).
async fn upstream() -> (SocketAddr, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let local = listener.local_addr().expect("bound");
    let seen: Seen = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let record = record.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                        let record = record.clone();
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let path = parts
                                .uri
                                .path_and_query()
                                .map_or("/", |p| p.as_str())
                                .to_owned();
                            record.lock().expect("not poisoned").push((
                                parts.method.to_string(),
                                path.clone(),
                                parts.headers.clone(),
                            ));
                            let response = Response::builder()
                                .header("x-upstream", "yes")
                                .header("keep-alive", "timeout=5")
                                .header("access-control-allow-origin", "*")
                                .body(Full::new(Bytes::from(format!(
                                    "{} {path} ({} bytes)",
                                    parts.method,
                                    body.len()
                                ))))
                                .expect("valid response");
                            Ok::<_, Infallible>(response)
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (local, seen)
}

fn policy() -> Policy {
    Policy::builder()
        .allow_origins([PAGE])
        .allow_methods(["PUT"])
        .allow_headers(["content-type", "x-request-id"])
        .expose_headers(["x-upstream"])
        .allow_credentials(true)
        .build()
        .expect("valid")
}

/// The proxy in front of `base`, on 127.0.0.1; the sender stops it.
async fn proxy(base: &str, timeout: Duration) -> (SocketAddr, oneshot::Sender<()>) {
    proxy_with(base, timeout, Limits::default()).await
}

async fn proxy_with(
    base: &str,
    timeout: Duration,
    limits: Limits,
) -> (SocketAddr, oneshot::Sender<()>) {
    let base: http::Uri = base.parse().expect("a base URI");
    let rules = TargetRules {
        // Upstream mode: the operator named the upstream, a loopback one here.
        allow_private: true,
        ports: Ports::Any,
        hosts: Some(BTreeSet::from([base.host().expect("a host").to_owned()])),
    };
    let connector = GuardedConnector::new(rules).connect_timeout(Duration::from_secs(2));
    let service = CorsLayer::new(policy())
        .layer(Upstream::new(base, client(connector), timeout).limits(limits));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("bound");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(
        listener,
        service,
        async move {
            let _ = stopped.await;
        },
        Duration::from_secs(5),
    ));
    (addr, stop)
}

#[tokio::test]
async fn requests_are_forwarded_with_path_query_and_body_and_get_the_policys_cors_headers() {
    let (up, seen) = upstream().await;
    let (addr, _stop) = proxy(&format!("http://{up}/api/v1/"), Duration::from_secs(5)).await;
    let reply = send(
        addr,
        "PUT",
        "/items/7?draft=1",
        &[("origin", PAGE), ("content-type", "application/json")],
        r#"{"a":1}"#,
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "PUT /api/v1/items/7?draft=1 (7 bytes)");
    assert_eq!(reply.header("x-upstream"), Some("yes"));
    // The policy's headers, not the upstream's `*`.
    assert_eq!(reply.header("access-control-allow-origin"), Some(PAGE));
    assert_eq!(
        reply.header("access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(
        reply.header("access-control-expose-headers"),
        Some("x-upstream")
    );
    assert_eq!(reply.header("vary"), Some("Origin"));
    // Hop-by-hop headers stop at the proxy.
    assert_eq!(reply.header("keep-alive"), None);

    let seen = seen.lock().expect("not poisoned");
    let (method, path, headers) = &seen[0];
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("PUT", "/api/v1/items/7?draft=1")
    );
    assert_eq!(headers["host"], up.to_string(), "the upstream's own name");
    assert_eq!(
        headers["origin"], PAGE,
        "the page's Origin reaches the upstream"
    );
}

#[tokio::test]
async fn preflights_are_answered_by_the_proxy_and_never_reach_the_upstream() {
    let (up, seen) = upstream().await;
    let (addr, _stop) = proxy(&format!("http://{up}"), Duration::from_secs(5)).await;
    let reply = send(
        addr,
        "OPTIONS",
        "/items/7",
        &[
            ("origin", PAGE),
            ("access-control-request-method", "PUT"),
            ("access-control-request-headers", "content-type"),
        ],
        "",
    )
    .await;
    assert_eq!(reply.status, 204);
    assert_eq!(reply.header("access-control-allow-methods"), Some("PUT"));
    let refused = send(
        addr,
        "OPTIONS",
        "/items/7",
        &[
            ("origin", "https://evil.example"),
            ("access-control-request-method", "PUT"),
        ],
        "",
    )
    .await;
    assert_eq!(refused.status, 403);
    assert!(
        seen.lock().expect("not poisoned").is_empty(),
        "the upstream saw no preflight"
    );
}

#[tokio::test]
async fn hop_by_hop_request_headers_and_the_ones_connection_names_are_dropped() {
    let (up, seen) = upstream().await;
    let (addr, _stop) = proxy(&format!("http://{up}"), Duration::from_secs(5)).await;
    let reply = send(
        addr,
        "GET",
        "/",
        &[
            ("connection", "x-secret-hop"),
            ("x-secret-hop", "1"),
            ("proxy-authorization", "Basic c2VjcmV0"),
            ("te", "trailers"),
            ("x-kept", "yes"),
        ],
        "",
    )
    .await;
    assert_eq!(reply.status, 200);
    let seen = seen.lock().expect("not poisoned");
    let headers = &seen[0].2;
    for gone in ["x-secret-hop", "proxy-authorization", "te"] {
        assert!(!headers.contains_key(gone), "{gone} reached the upstream");
    }
    assert_eq!(headers["x-kept"], "yes");
}

#[tokio::test]
async fn upstream_refusing_connections_is_a_502_the_page_can_read() {
    // A port that was just free: nothing listens there.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("bound")
    };
    let (addr, _stop) = proxy(&format!("http://{closed}"), Duration::from_secs(5)).await;
    let reply = send(addr, "GET", "/x", &[("origin", PAGE)], "").await;
    assert_eq!(reply.status, 502);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some(PAGE),
        "readable by the page"
    );
    let json: serde_json::Value = serde_json::from_str(&reply.body).expect("JSON");
    assert_eq!(json["error"], "connect-failed", "{json}");
    assert!(
        json["detail"]
            .as_str()
            .unwrap_or_default()
            .contains(&closed.to_string()),
        "{json}"
    );
}

#[tokio::test]
async fn an_upstream_that_never_answers_is_a_504_and_the_proxy_keeps_serving() {
    // Accepts, reads, never writes.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let stalled = listener.local_addr().expect("bound");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buffer = [0u8; 1024];
            let _ = stream.read(&mut buffer).await;
            held.push(stream);
        }
    });
    let (addr, _stop) = proxy(&format!("http://{stalled}"), Duration::from_millis(300)).await;
    let reply = send(addr, "GET", "/slow", &[("origin", PAGE)], "").await;
    assert_eq!(reply.status, 504);
    let json: serde_json::Value = serde_json::from_str(&reply.body).expect("JSON");
    assert_eq!(json["error"], "upstream-timeout");
    assert_eq!(json["detail"], "the upstream did not answer within 300 ms");
    assert_eq!(reply.header("access-control-allow-origin"), Some(PAGE));
    // Still serving: the preflight path needs no upstream.
    let preflight = send(
        addr,
        "OPTIONS",
        "/slow",
        &[("origin", PAGE), ("access-control-request-method", "PUT")],
        "",
    )
    .await;
    assert_eq!(preflight.status, 204);
}

#[tokio::test]
async fn an_upstream_sending_garbage_is_a_502() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let garbage = listener.local_addr().expect("bound");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buffer = [0u8; 1024];
            let _ = stream.read(&mut buffer).await;
            let _ = stream.write_all(b"this is not HTTP at all\r\n\r\n").await;
        }
    });
    let (addr, _stop) = proxy(&format!("http://{garbage}"), Duration::from_secs(5)).await;
    let reply = send(addr, "GET", "/", &[("origin", PAGE)], "").await;
    assert_eq!(reply.status, 502);
    let json: serde_json::Value = serde_json::from_str(&reply.body).expect("JSON");
    assert_eq!(json["error"], "upstream-error", "{json}");
    assert_eq!(reply.header("access-control-allow-origin"), Some(PAGE));
}

#[tokio::test]
async fn an_http_1_0_upstream_does_not_downgrade_the_answer() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let old = listener.local_addr().expect("bound");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buffer = [0u8; 1024];
            let _ = stream.read(&mut buffer).await;
            let _ = stream
                .write_all(b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await;
        }
    });
    let (addr, _stop) = proxy(&format!("http://{old}"), Duration::from_secs(5)).await;
    let reply = send(addr, "GET", "/", &[("origin", PAGE)], "").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok"));
    assert_eq!(reply.version, http::Version::HTTP_11);
}

#[tokio::test]
async fn a_request_with_both_content_length_and_transfer_encoding_never_reaches_the_upstream_so() {
    // hyper's HTTP/1 server handles this before any code of ours runs, as RFC 9112 §6.3 asks of
    // an intermediary: Transfer-Encoding wins, Content-Length is removed, and the connection is
    // closed after the answer. What matters for smuggling: the upstream never sees both.
    let (up, seen) = upstream().await;
    let (addr, _stop) = proxy(&format!("http://{up}"), Duration::from_secs(5)).await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(
            b"POST /smuggle HTTP/1.1\r\nhost: x\r\norigin: http://localhost:5173\r\n\
              content-length: 40\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n\
              5\r\nhello\r\n0\r\n\r\nGET /second HTTP/1.1\r\nhost: x\r\n\r\n",
        )
        .await
        .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains("POST /smuggle (5 bytes)"),
        "framed by chunked: {response}"
    );
    let seen = seen.lock().expect("not poisoned");
    assert_eq!(seen.len(), 1, "no smuggled second request: {seen:?}");
    assert!(!seen[0].2.contains_key("content-length"), "{:?}", seen[0].2);
}

#[tokio::test]
async fn bodies_over_the_limits_are_a_413_or_a_502_the_page_can_read() {
    let (up, seen) = upstream().await;
    let limits = Limits {
        request_body: Some(16),
        response_body: Some(16),
    };
    let (addr, _stop) = proxy_with(&format!("http://{up}"), Duration::from_secs(5), limits).await;

    // Declared too large: refused before the upstream is contacted.
    let reply = send(addr, "PUT", "/big", &[("origin", PAGE)], &"x".repeat(17)).await;
    assert_eq!(reply.status, 413, "{}", reply.body);
    let json: serde_json::Value = serde_json::from_str(&reply.body).expect("JSON");
    assert_eq!(json["error"], "request-too-large");
    assert_eq!(
        json["detail"],
        "the request body is larger than this proxy's limit of 16 bytes"
    );
    assert_eq!(reply.header("access-control-allow-origin"), Some(PAGE));
    assert!(seen.lock().expect("not poisoned").is_empty());

    // Within the limit, but the upstream's answer ("PUT /small (5 bytes)", 20 bytes) is not.
    let reply = send(addr, "PUT", "/small", &[("origin", PAGE)], "hello").await;
    assert_eq!(reply.status, 502, "{}", reply.body);
    let json: serde_json::Value = serde_json::from_str(&reply.body).expect("JSON");
    assert_eq!(json["error"], "response-too-large");
    assert_eq!(reply.header("access-control-allow-origin"), Some(PAGE));
}

#[tokio::test]
async fn a_streamed_request_body_that_grows_past_the_limit_is_cut_off() {
    let (up, _seen) = upstream().await;
    let limits = Limits {
        request_body: Some(16),
        response_body: None,
    };
    let (addr, _stop) = proxy_with(&format!("http://{up}"), Duration::from_secs(5), limits).await;
    // Chunked, so nothing is declared: the limit is met while streaming.
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(
            b"PUT /stream HTTP/1.1\r\nhost: x\r\norigin: http://localhost:5173\r\n\
              transfer-encoding: chunked\r\nconnection: close\r\n\r\n\
              a\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n",
        )
        .await
        .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("request-too-large"), "{response}");
}

#[tokio::test]
async fn over_the_per_client_limit_is_a_429_with_retry_after_the_page_can_read() {
    use crossgate_proxy::limit::{Limited, RateLimits};
    let (up, seen) = upstream().await;
    let base: http::Uri = format!("http://{up}").parse().expect("URI");
    let rules = TargetRules {
        allow_private: true,
        ports: Ports::Any,
        hosts: None,
    };
    let limits = Arc::new(RateLimits::new(Some(3), None, None, Vec::new()));
    let service = CorsLayer::new(policy()).layer(Limited::new(
        Upstream::new(
            base,
            client(GuardedConnector::new(rules)),
            Duration::from_secs(5),
        ),
        limits,
    ));
    let addr = listen(service).await;

    for _ in 0..3 {
        assert_eq!(
            send(addr, "GET", "/", &[("origin", PAGE)], "").await.status,
            200
        );
    }
    let reply = send(addr, "GET", "/", &[("origin", PAGE)], "").await;
    assert_eq!(reply.status, 429, "{}", reply.body);
    let wait: u64 = reply
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=20).contains(&wait), "{wait}");
    let json: serde_json::Value = serde_json::from_str(&reply.body).expect("JSON");
    assert_eq!(json["error"], "rate-limited");
    assert_eq!(reply.header("access-control-allow-origin"), Some(PAGE));
    assert_eq!(
        seen.lock().expect("not poisoned").len(),
        3,
        "the fourth never left the proxy"
    );
    // Preflights are answered by the CORS layer outside the limit.
    let preflight = send(
        addr,
        "OPTIONS",
        "/",
        &[("origin", PAGE), ("access-control-request-method", "PUT")],
        "",
    )
    .await;
    assert_eq!(preflight.status, 204);
}

#[tokio::test]
async fn ipv6_clients_in_one_slash_64_share_their_rate_budget() {
    use crossgate_proxy::limit::{Limited, RateLimits};
    let (up, seen) = upstream().await;
    let base: http::Uri = format!("http://{up}").parse().expect("URI");
    let rules = TargetRules {
        allow_private: true,
        ports: Ports::Any,
        hosts: None,
    };
    // The test client is a trusted proxy (127.0.0.1) naming IPv6 clients in X-Forwarded-For.
    let limits = Arc::new(RateLimits::new(
        Some(2),
        None,
        None,
        vec!["127.0.0.1".parse().expect("ip")],
    ));
    let service = CorsLayer::new(policy()).layer(Limited::new(
        Upstream::new(
            base,
            client(GuardedConnector::new(rules)),
            Duration::from_secs(5),
        ),
        limits,
    ));
    let addr = listen(service).await;
    let from = |client: &'static str| [("origin", PAGE), ("x-forwarded-for", client)];
    for client in ["2001:db8:5:6::1", "2001:db8:5:6::2"] {
        assert_eq!(send(addr, "GET", "/", &from(client), "").await.status, 200);
    }
    // A fresh address of the same /64 is the same client.
    let reply = send(addr, "GET", "/", &from("2001:db8:5:6:abcd::9"), "").await;
    assert_eq!(reply.status, 429, "{}", reply.body);
    assert_eq!(reply.json()["error"], "rate-limited");
    // The next /64 is another.
    let reply = send(addr, "GET", "/", &from("2001:db8:5:7::1"), "").await;
    assert_eq!(reply.status, 200);
    assert_eq!(seen.lock().expect("not poisoned").len(), 3);
}

#[tokio::test]
async fn a_request_head_over_64_kib_is_refused_before_it_reaches_the_proxy_code() {
    let (up, seen) = upstream().await;
    let (addr, _stop) = proxy(&format!("http://{up}"), Duration::from_secs(5)).await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let huge = "x".repeat(100 * 1024);
    let request =
        format!("GET / HTTP/1.1\r\nhost: x\r\nx-huge: {huge}\r\nconnection: close\r\n\r\n");
    // The server may answer and close before the whole head is written.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 431"), "{response}");
    assert!(seen.lock().expect("not poisoned").is_empty());
}

#[tokio::test]
async fn many_slow_clients_do_not_stop_the_proxy_from_serving_others() {
    let (up, _seen) = upstream().await;
    let (addr, _stop) = proxy(&format!("http://{up}"), Duration::from_secs(5)).await;
    // 300 clients that send half a request head and then nothing (slowloris), and 50 that send a
    // body slower than anyone waits for, all from 127.0.0.3 (past its connection limit, the rest
    // are refused); the others from 127.0.0.1.
    let mut held = Vec::new();
    for i in 0..350 {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .bind("127.0.0.3:0".parse().expect("address"))
            .expect("bind 127.0.0.3");
        let mut stream = socket.connect(addr).await.expect("connect");
        let partial: &[u8] = if i < 300 {
            b"GET /slow HTTP/1.1\r\nhost: x\r\nx-never-ends: "
        } else {
            b"PUT /slow HTTP/1.1\r\nhost: x\r\ncontent-length: 1000000\r\n\r\nonly the start"
        };
        // A refused connection may be closed already: what it holds is what matters.
        let _ = stream.write_all(partial).await;
        held.push(stream);
    }
    // Everyone else is still served (a bound turns a proxy that stalls into a failure, not a hang).
    let others = async {
        for _ in 0..20 {
            let reply = send(addr, "GET", "/fast", &[("origin", PAGE)], "").await;
            assert_eq!(reply.status, 200);
            assert_eq!(reply.header("access-control-allow-origin"), Some(PAGE));
        }
    };
    tokio::time::timeout(Duration::from_secs(20), others)
        .await
        .expect("the proxy kept serving while 350 slow clients held connections");
    assert_eq!(held.len(), 350);
}

#[tokio::test]
async fn the_admin_listener_counts_answers_by_cors_decision_and_says_it_is_healthy() {
    use crossgate_proxy::metrics::{Measured, Metrics, serve_admin};
    let (up, _seen) = upstream().await;
    let metrics = Arc::new(Metrics::new());
    let base: http::Uri = format!("http://{up}").parse().expect("URI");
    let rules = TargetRules {
        allow_private: true,
        ports: Ports::Any,
        hosts: None,
    };
    let upstream = Upstream::new(
        base,
        client(GuardedConnector::new(rules)),
        Duration::from_secs(5),
    )
    .metrics(metrics.clone());
    let handle = crossgate_tower::PolicyHandle::new(policy());
    let service = Measured::new(
        CorsLayer::from_handle(handle)
            .record_decisions(true)
            .layer(upstream),
        "upstream",
        metrics.clone(),
    );
    let addr = listen(service).await;
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let admin_addr = admin.local_addr().expect("bound");
    tokio::spawn(serve_admin(admin, metrics));

    send(addr, "GET", "/", &[("origin", PAGE)], "").await;
    send(addr, "GET", "/", &[("origin", PAGE)], "").await;
    send(addr, "GET", "/", &[("origin", "https://evil.example")], "").await;
    send(addr, "GET", "/", &[], "").await;
    let preflight = [("origin", PAGE), ("access-control-request-method", "PATCH")];
    assert_eq!(send(addr, "OPTIONS", "/", &preflight, "").await.status, 403);

    let health = send(admin_addr, "GET", "/healthz", &[], "").await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    let text = send(admin_addr, "GET", "/metrics", &[], "").await.body;
    for line in [
        r#"crossgate_proxy_requests_total{route="upstream",status="200",cors="allowed"} 2"#,
        r#"crossgate_proxy_requests_total{route="upstream",status="200",cors="refused"} 1"#,
        r#"crossgate_proxy_requests_total{route="upstream",status="200",cors="not-cors"} 1"#,
        r#"crossgate_proxy_requests_total{route="upstream",status="403",cors="refused"} 1"#,
        r#"crossgate_proxy_cors_rejections_total{reason="origin-not-allowed"} 1"#,
        r#"crossgate_proxy_cors_rejections_total{reason="method-not-allowed"} 1"#,
        "crossgate_proxy_upstream_seconds_count 4",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert_eq!(send(admin_addr, "GET", "/nope", &[], "").await.status, 404);
}

#[tokio::test]
async fn routes_from_a_file_each_with_its_upstream_policy_and_injected_headers() {
    use crossgate_proxy::routes::{Router, parse};
    let (weather, weather_seen) = upstream().await;
    let (app, app_seen) = upstream().await;
    let routes = parse(&format!(
        r#"
        [[route]]
        prefix = "/weather"
        upstream = "http://{weather}/v2"
        inject_headers = {{ "x-api-key" = "kept-on-the-server" }}
        [route.policy]
        allow_origins = ["https://weather.example"]

        [[route]]
        prefix = "/app"
        upstream = "http://{app}"
        [route.policy]
        allow_origins = ["{PAGE}"]
        allow_credentials = true
        "#
    ))
    .expect("a valid file");
    let rules = TargetRules {
        allow_private: true,
        ports: Ports::Any,
        hosts: None,
    };
    let services = routes
        .into_iter()
        .map(|route| {
            let upstream = Upstream::new(
                route.upstream,
                client(GuardedConnector::new(rules.clone())),
                Duration::from_secs(5),
            )
            .inject(route.inject);
            (route.prefix, CorsLayer::new(route.policy).layer(upstream))
        })
        .collect();
    let addr = listen(Router::new(services)).await;

    let reply = send(
        addr,
        "GET",
        "/weather/today?city=oslo",
        &[
            ("origin", "https://weather.example"),
            ("x-api-key", "the client's own"),
        ],
        "",
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "GET /v2/today?city=oslo (0 bytes)");
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("https://weather.example")
    );
    assert_eq!(
        reply.header("x-api-key"),
        None,
        "never echoed into a response"
    );
    {
        let seen = weather_seen.lock().expect("not poisoned");
        assert_eq!(
            seen[0].2["x-api-key"], "kept-on-the-server",
            "the server's key, not the client's"
        );
    }

    let reply = send(addr, "GET", "/app/me", &[("origin", PAGE)], "").await;
    assert_eq!(reply.body, "GET /me (0 bytes)");
    assert_eq!(
        reply.header("access-control-allow-credentials"),
        Some("true")
    );
    // Each route's policy is its own: the weather origin is refused on /app.
    let reply = send(
        addr,
        "GET",
        "/app/me",
        &[("origin", "https://weather.example")],
        "",
    )
    .await;
    assert_eq!(reply.header("access-control-allow-origin"), None);
    assert!(
        app_seen
            .lock()
            .expect("not poisoned")
            .iter()
            .all(|(_, _, h)| !h.contains_key("x-api-key"))
    );

    // A page the route's policy refuses does not get to spend the route's key.
    let count = weather_seen.lock().expect("not poisoned").len();
    let reply = send(
        addr,
        "POST",
        "/weather/transfer",
        &[("origin", "https://evil.example")],
        "x",
    )
    .await;
    assert_eq!(reply.status, 403);
    // Nor does a path that climbs out of the route's base path, or a method that echoes.
    for path in ["/weather/../admin", "/weather/%2e%2e/admin"] {
        let reply = send(addr, "GET", path, &[], "").await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.body);
    }
    let reply = send(addr, "TRACE", "/weather/x", &[], "").await;
    assert_eq!(reply.status, 405, "{}", reply.body);
    assert!(!reply.body.contains("kept-on-the-server"), "{}", reply.body);
    assert_eq!(
        weather_seen.lock().expect("not poisoned").len(),
        count,
        "none of them reached it"
    );

    let reply = send(addr, "GET", "/elsewhere", &[], "").await;
    assert_eq!(reply.status, 404);
    assert!(reply.body.contains("no-route"), "{}", reply.body);
}
