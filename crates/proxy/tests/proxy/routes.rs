//! Routes (`--config`) on loopback against an upstream that normalises paths as common servers
//! do: every spelling of a climb out of a route's upstream path is refused before it leaves the
//! proxy, so the route's injected key never reaches a path outside it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossgate_proxy::connect::{GuardedConnector, Ports, TargetRules};
use crossgate_proxy::forward::{Upstream, client};
use crossgate_proxy::routes::{Router, parse};
use crossgate_tower::CorsLayer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower_layer::Layer;

use crate::support::listen;

/// What the upstream saw: each request's path as it read it, and its `x-api-key`.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// `path` as common servers read it: percent-decoded once, `;` parameters dropped from each
/// segment (Tomcat), a backslash taken as a slash (IIS, and many frameworks on Windows), then the
/// dot segments resolved (RFC 3986 §5.2.4).
fn normalise(path: &str) -> String {
    let mut bytes = Vec::new();
    let raw = path.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        let hex = |at: usize| {
            raw.get(at)
                .and_then(|&b| char::from(b).to_digit(16))
                .map(|d| d as u8)
        };
        match (raw[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(high), Some(low)) => {
                bytes.push(high * 16 + low);
                i += 3;
            }
            (byte, _, _) => {
                bytes.push(byte);
                i += 1;
            }
        }
    }
    let decoded = String::from_utf8_lossy(&bytes).replace('\\', "/");
    let mut out: Vec<&str> = Vec::new();
    for segment in decoded.split('/').skip(1) {
        match segment.split(';').next().unwrap_or_default() {
            "." => {}
            ".." => {
                out.pop();
            }
            name => out.push(name),
        }
    }
    format!("/{}", out.join("/"))
}

/// An upstream on 127.0.0.1 that reads each request's target raw, records it normalised with its
/// `x-api-key`, and answers 200.
async fn normalising_upstream() -> (SocketAddr, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("bound");
    let seen: Seen = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let end = head
                        .windows(4)
                        .position(|w| w == b"\r\n\r\n")
                        .map_or(0, |at| at + 4);
                    let text = String::from_utf8_lossy(&head[..end]).into_owned();
                    head.drain(..end);
                    let target = text.split(' ').nth(1).unwrap_or_default().to_owned();
                    let key = text
                        .lines()
                        .filter_map(|line| line.split_once(':'))
                        .find(|(name, _)| name.eq_ignore_ascii_case("x-api-key"))
                        .map(|(_, value)| value.trim().to_owned());
                    let path = target.split('?').next().unwrap_or_default();
                    record
                        .lock()
                        .expect("not poisoned")
                        .push((normalise(path), key));
                    let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                    if stream.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

/// A raw request for `target` through the proxy at `addr`: the status line of the answer, and its
/// body.
async fn status_of(addr: SocketAddr, target: &str) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("an answer within 10 s")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.lines().next().unwrap_or_default().to_owned();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn the_test_upstream_normalises_as_common_servers_do() {
    for (raw, read) in [
        ("/v2/../admin", "/admin"),
        ("/v2/..;/admin", "/admin"),
        ("/v2/..%2fadmin", "/admin"),
        ("/v2/%2e%2e/admin", "/admin"),
        ("/v2/..\\admin", "/admin"),
        ("/v2/%252e%252e/admin", "/v2/%2e%2e/admin"),
        ("/v2/today", "/v2/today"),
    ] {
        assert_eq!(normalise(raw), read, "{raw}");
    }
}

#[tokio::test]
async fn no_spelling_of_a_climb_out_takes_a_routes_key_outside_its_upstream_path() {
    let (up, seen) = normalising_upstream().await;
    let routes = parse(&format!(
        r#"
        [[route]]
        prefix = "/weather"
        upstream = "http://{up}/v2"
        inject_headers = {{ "x-api-key" = "kept-on-the-server" }}
        [route.policy]
        allow_origins = ["https://weather.example"]

        [[route]]
        prefix = "/"
        upstream = "http://{up}/public"
        [route.policy]
        allow_origins = ["https://weather.example"]
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

    // The route works, and its key goes with it.
    let (status, _) = status_of(addr, "/weather/today").await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let climbs = [
        "/weather/../admin",
        "/weather/./../admin",
        "/weather/..;/admin",
        "/weather/..;x=1/admin",
        "/weather/..%2fadmin",
        "/weather/..%2Fadmin",
        "/weather/%2e%2e/admin",
        "/weather/%2E%2E%2Fadmin",
        "/weather/.%2e/admin",
        "/weather/%252e%252e/admin",
        "/weather/%252e%252e%252fadmin",
        "/weather/..\\admin",
        "/weather/..%5cadmin",
        "/weather/%EF%BC%8E%EF%BC%8E/admin",
        "/weather/%EF%BC%8E%EF%BC%8E%EF%BC%8Fadmin",
        "/weather/%c0%ae%c0%ae/admin",
        "/weather%2f..%2fadmin",
        "/weather/a/../../admin",
        // On a route without injected headers too (its upstream path is a boundary as well).
        "/..;/v2/today",
        "/%2e%2e/admin",
    ];
    let mut forwarded = Vec::new();
    for path in climbs {
        let (status, body) = status_of(addr, path).await;
        // hyper refuses some request targets itself (a raw backslash), with no body.
        let refused = status.starts_with("HTTP/1.1 400")
            && (body.is_empty() || body.contains(r#""error":"bad-request""#));
        if !refused {
            forwarded.push(format!("{path}: {status}"));
        }
    }
    let seen = seen.lock().expect("not poisoned");
    assert_eq!(
        seen[0],
        (
            "/v2/today".to_owned(),
            Some("kept-on-the-server".to_owned())
        )
    );
    for (path, key) in seen.iter() {
        assert!(
            key.is_none() || path.starts_with("/v2/"),
            "the key reached {path}: {seen:?}"
        );
    }
    assert!(forwarded.is_empty(), "not refused: {forwarded:#?}");
    assert_eq!(
        seen.len(),
        1,
        "nothing but the route's own request: {seen:?}"
    );
}
