//! JSONP's memory budget: each answer is held whole to be checked and wrapped, and the bytes held
//! across requests are bounded ([`JsonpBudget`]). The upstream, raw TCP on 127.0.0.1, holds its
//! answers until every request of a burst has come, then sends each but its last byte and keeps
//! that until the proxy has dropped the answers it refused: which answers are held at once is
//! then certain, without a sleep.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crossgate::Policy;
use crossgate_proxy::connect::{GuardedConnector, Ports, TargetRules};
use crossgate_proxy::forward::{Upstream, client};
use crossgate_proxy::jsonp::{Jsonp, JsonpBudget};
use crossgate_tower::CorsLayer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower_layer::Layer;

use crate::support::{Reply, listen, send};

const PAGE: &str = "http://localhost:5173";

/// The longest the upstream waits for the proxy to refuse what it must: a guard, so that a proxy
/// that refuses nothing fails the test instead of hanging it.
const GUARD: Duration = Duration::from_secs(10);

/// A JSON document of `length` bytes: `{"pad":"xxx…"}`.
fn document(length: usize) -> Vec<u8> {
    let mut json = b"{\"pad\":\"".to_vec();
    json.resize(length - 2, b'x');
    json.extend_from_slice(b"\"}");
    json
}

/// What the upstream counts: requests of the burst come, connections the proxy dropped.
#[derive(Clone)]
struct Gate {
    /// Requests of the burst that have come.
    arrived: Arc<watch::Sender<usize>>,
    /// Connections of the burst closed before their answer was whole.
    dropped: Arc<watch::Sender<usize>>,
    /// How many requests make the burst.
    burst: usize,
    /// How many of them the proxy must refuse before the others get their last byte.
    refused: usize,
}

/// An upstream on 127.0.0.1 answering `GET /cl/N` with N bytes of JSON and a `Content-Length`,
/// `GET /chunked/N` the same in one chunk without one. The first `burst` requests are the burst
/// ([`Gate`]); later ones are answered at once.
async fn upstream(burst: usize, refused: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("bound");
    let gate = Gate {
        arrived: Arc::new(watch::channel(0).0),
        dropped: Arc::new(watch::channel(0).0),
        burst,
        refused,
    };
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(answer(stream, gate.clone()));
        }
    });
    addr
}

/// Answers the requests of one connection.
async fn answer(mut stream: TcpStream, gate: Gate) {
    let mut head = Vec::new();
    let mut buf = [0; 4096];
    loop {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let line = String::from_utf8_lossy(&head)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned();
        head.clear();
        let path = line.split(' ').nth(1).unwrap_or("/");
        let (chunked, length) = match path.split('/').collect::<Vec<_>>()[..] {
            ["", "cl", n] => (false, n.parse().expect("a length")),
            ["", "chunked", n] => (true, n.parse().expect("a length")),
            _ => panic!("the test asks for /cl/N or /chunked/N, not {path}"),
        };
        let json = document(length);
        let (start, end) = if chunked {
            let mut start = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                 transfer-encoding: chunked\r\n\r\n{length:x}\r\n"
            )
            .into_bytes();
            start.extend_from_slice(&json[..length - 1]);
            let mut end = json[length - 1..].to_vec();
            end.extend_from_slice(b"\r\n0\r\n\r\n");
            (start, end)
        } else {
            let mut start = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                 content-length: {length}\r\n\r\n"
            )
            .into_bytes();
            start.extend_from_slice(&json[..length - 1]);
            (start, json[length - 1..].to_vec())
        };
        let mut index = 0;
        gate.arrived.send_modify(|n| {
            index = *n;
            *n += 1;
        });
        if index < gate.burst {
            let mut arrived = gate.arrived.subscribe();
            let _ = arrived.wait_for(|&n| n >= gate.burst).await;
            if stream.write_all(&start).await.is_err() {
                return;
            }
            let mut dropped = gate.dropped.subscribe();
            let refusals = tokio::time::timeout(GUARD, dropped.wait_for(|&n| n >= gate.refused));
            tokio::select! {
                read = stream.read(&mut buf) => {
                    if matches!(read, Ok(0) | Err(_)) {
                        gate.dropped.send_modify(|n| *n += 1);
                    }
                    return;
                }
                _ = refusals => {}
            }
        } else if stream.write_all(&start).await.is_err() {
            return;
        }
        if stream.write_all(&end).await.is_err() {
            return;
        }
    }
}

/// The proxy in upstream mode in front of `upstream`, JSONP within `budget`.
async fn proxy(upstream: SocketAddr, budget: &JsonpBudget) -> SocketAddr {
    let rules = TargetRules {
        allow_private: true,
        ports: Ports::Any,
        hosts: Some(BTreeSet::from(["127.0.0.1".to_owned()])),
    };
    let forward = Upstream::new(
        format!("http://{upstream}/").parse().expect("a base URI"),
        client(GuardedConnector::new(rules)),
        Duration::from_secs(30),
    );
    let policy = Policy::builder()
        .allow_origins([PAGE])
        .build()
        .expect("valid");
    let service = CorsLayer::new(policy).layer(Jsonp::new(forward).memory_budget(budget.clone()));
    listen(service).await
}

/// `count` JSONP requests for `path` at once, each on a connection of its own.
async fn burst(addr: SocketAddr, path: &str, count: usize) -> Vec<Reply> {
    let requests: Vec<_> = (0..count)
        .map(|_| {
            let path = format!("{path}?callback=cb");
            tokio::spawn(async move { send(addr, "GET", &path, &[("origin", PAGE)], "").await })
        })
        .collect();
    let mut replies = Vec::new();
    for request in requests {
        replies.push(request.await.expect("the request task"));
    }
    replies
}

/// The script the proxy must send for `length` bytes of the test's JSON.
fn script(length: usize) -> String {
    String::from_utf8(crossgate::jsonp::wrap("cb", &document(length))).expect("ASCII")
}

/// The start of a body, for a failure's message.
fn start(body: &str) -> &str {
    &body[..body.len().min(200)]
}

fn assert_busy(reply: &Reply) {
    assert_eq!(reply.status, 503, "{}", start(&reply.body));
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("access-control-allow-origin"), Some(PAGE));
    let json = reply.json();
    assert_eq!(json["error"], "busy", "{json}");
    assert!(
        json["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("JSONP"),
        "{json}"
    );
}

#[tokio::test]
async fn jsonp_answers_past_the_memory_budget_are_a_503_busy_and_the_budget_comes_back_whole() {
    const BURST: usize = 5;
    const FIT: usize = 2;
    const LENGTH: usize = 100_000;
    // Two answers and their wrappers fit, a third does not.
    let budget = JsonpBudget::new((FIT as u64) * (LENGTH as u64) + (LENGTH as u64) / 2);
    let upstream = upstream(BURST, BURST - FIT).await;
    let addr = proxy(upstream, &budget).await;

    let replies = burst(addr, &format!("/cl/{LENGTH}"), BURST).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        FIT,
        "held at once, within the budget: {statuses:?}"
    );
    for reply in &replies {
        if reply.status == 200 {
            assert!(reply.body == script(LENGTH), "{}", start(&reply.body));
        } else {
            assert_busy(reply);
        }
    }
    assert_eq!(
        budget.available(),
        budget.total(),
        "every answer gave its bytes back"
    );

    // As many as fit, again: all served.
    let replies = burst(addr, &format!("/cl/{LENGTH}"), FIT).await;
    for reply in &replies {
        assert_eq!(reply.status, 200, "{}", start(&reply.body));
        assert!(reply.body == script(LENGTH), "{}", start(&reply.body));
    }
    assert_eq!(budget.available(), budget.total());
}

#[tokio::test]
async fn a_jsonp_answer_without_a_length_grows_its_reservation_and_is_refused_past_the_budget() {
    const LENGTH: usize = 100_000;
    let budget = JsonpBudget::new(2 * LENGTH as u64);
    let upstream = upstream(0, 0).await;
    let addr = proxy(upstream, &budget).await;

    // Within the budget: wrapped whole.
    let reply = send(
        addr,
        "GET",
        &format!("/chunked/{LENGTH}?callback=cb"),
        &[("origin", PAGE)],
        "",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", start(&reply.body));
    assert!(reply.body == script(LENGTH), "{}", start(&reply.body));
    assert_eq!(budget.available(), budget.total());

    // Larger than the whole budget, declared or not: refused, and nothing kept.
    for path in [
        format!("/chunked/{}", 3 * LENGTH),
        format!("/cl/{}", 3 * LENGTH),
    ] {
        let reply = send(
            addr,
            "GET",
            &format!("{path}?callback=cb"),
            &[("origin", PAGE)],
            "",
        )
        .await;
        assert_busy(&reply);
        assert_eq!(budget.available(), budget.total(), "{path}");
    }
}
