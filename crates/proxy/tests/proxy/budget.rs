//! Budgets against one hostile client (`crossgate_proxy::budget`, `serve`): connections per
//! client IP and in all, the first request head's deadline, idle keep-alive connections closed
//! first when every connection is in use, requests in flight upstream per client, HTTP/2's
//! stream limit, and a client that half-closes its side after its request. Clients connect
//! from 127.0.0.1 and 127.0.0.2 (two client IPs on loopback).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crossgate::Policy;
use crossgate_proxy::budget::{Admit, ConnectionLimits, Connections, UpstreamLimits, Upstreams};
use crossgate_proxy::connect::{GuardedConnector, Ports, TargetRules};
use crossgate_proxy::forward::{Upstream, client};
use crossgate_proxy::serve::{ConnectionTimeouts, ProxyService, Share, serve_shared};
use crossgate_tower::CorsLayer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Notify;
use tower_layer::Layer;

const PAGE: &str = "http://localhost:5173";

/// An upstream that answers `GET /held` once `release` is notified (counting the requests it
/// holds in `holding`), and anything else at once.
async fn gated_upstream(holding: Arc<AtomicUsize>, release: Arc<Notify>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let local = listener.local_addr().expect("bound");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let holding = holding.clone();
            let release = release.clone();
            tokio::spawn(async move {
                loop {
                    let Some(head) = crate::support::read_head(&mut stream).await else {
                        return;
                    };
                    if head.starts_with(b"GET /held ") {
                        let released = release.notified();
                        holding.fetch_add(1, Ordering::SeqCst);
                        released.await;
                    }
                    let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                    if stream.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    local
}

/// The proxy in front of `upstream`, its upstream requests counted in `upstreams`.
fn proxy(upstream: SocketAddr, upstreams: Arc<Upstreams>) -> impl ProxyService {
    let rules = TargetRules {
        allow_private: true,
        ports: Ports::Any,
        hosts: Some(BTreeSet::from(["127.0.0.1".to_owned()])),
    };
    let base: http::Uri = format!("http://{upstream}").parse().expect("URI");
    let policy = Policy::builder()
        .allow_origins([PAGE])
        .build()
        .expect("valid");
    CorsLayer::new(policy).layer(Admit::new(
        Upstream::new(
            base,
            client(GuardedConnector::new(rules)),
            Duration::from_secs(5),
        ),
        upstreams,
    ))
}

/// Serves `service` on 127.0.0.1 with connections counted within `limits`.
async fn serve(
    service: impl ProxyService,
    limits: ConnectionLimits,
    timeouts: ConnectionTimeouts,
) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("bound");
    let share = Share::split(1, Connections::new(limits))
        .pop()
        .expect("one share");
    tokio::spawn(serve_shared(
        listener,
        service,
        std::future::pending(),
        Duration::from_secs(1),
        timeouts,
        share,
    ));
    addr
}

/// A connection to `addr` from the client IP `from` (127.0.0.x).
async fn connect_from(from: &str, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket
        .bind(format!("{from}:0").parse().expect("address"))
        .expect("bind the client address");
    socket.connect(addr).await.expect("connect")
}

/// Sends `GET path` (keep-alive) and reads one whole answer of `content-length` framing.
async fn exchange(stream: &mut TcpStream, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\norigin: {PAGE}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut got = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                return text;
            }
        }
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
            .await
            .expect("an answer within 10 s")
            .expect("read");
        assert!(
            read > 0,
            "closed before a whole answer: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buffer[..read]);
    }
}

/// Reads until the peer closes (or resets); what was read. Fails past 10 s.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
            .await
            .expect("closed within 10 s")
        {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&got).into_owned(),
            Ok(n) => got.extend_from_slice(&buffer[..n]),
        }
    }
}

fn limits(max: usize, per_ip: usize) -> ConnectionLimits {
    ConnectionLimits {
        max,
        per_ip,
        exempt: Vec::new(),
    }
}

#[tokio::test]
async fn a_client_ip_past_its_connection_limit_is_refused_while_another_ip_is_served() {
    let upstream = gated_upstream(Arc::default(), Arc::default()).await;
    let addr = serve(
        proxy(upstream, Upstreams::new(UpstreamLimits::default())),
        limits(100, 2),
        ConnectionTimeouts::default(),
    )
    .await;
    // Two connections held open by 127.0.0.1, one answered to be sure both are being served.
    let mut first = connect_from("127.0.0.1", addr).await;
    let _second = connect_from("127.0.0.1", addr).await;
    assert!(
        exchange(&mut first, "/fine")
            .await
            .starts_with("HTTP/1.1 200")
    );
    let mut third = connect_from("127.0.0.1", addr).await;
    let refused = read_until_closed(&mut third).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("--max-connections-per-ip"), "{refused}");
    let mut other = connect_from("127.0.0.2", addr).await;
    let answer = exchange(&mut other, "/fine").await;
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "another client IP is served: {answer}"
    );
}

#[tokio::test]
async fn a_new_connection_that_sends_no_whole_head_is_closed_after_the_header_timeout() {
    let upstream = gated_upstream(Arc::default(), Arc::default()).await;
    let timeouts = ConnectionTimeouts {
        header: Duration::from_millis(300),
        idle: Duration::from_secs(60),
        ..ConnectionTimeouts::default()
    };
    let addr = serve(
        proxy(upstream, Upstreams::new(UpstreamLimits::default())),
        limits(100, 100),
        timeouts,
    )
    .await;
    // Slowloris: a byte of a head, then nothing. Only the header timeout (not the minute of idle
    // timeout) can close it within the read's 10 s.
    let mut slow = connect_from("127.0.0.1", addr).await;
    slow.write_all(b"GET / HTTP/1.1\r\nx").await.expect("send");
    let started = std::time::Instant::now();
    let got = read_until_closed(&mut slow).await;
    assert!(!got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "closed by the header timeout"
    );
    // A connection that sent its first request is held to the idle timeout instead: still
    // served after the header timeout has passed.
    let mut kept = connect_from("127.0.0.1", addr).await;
    assert!(
        exchange(&mut kept, "/fine")
            .await
            .starts_with("HTTP/1.1 200")
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        exchange(&mut kept, "/fine")
            .await
            .starts_with("HTTP/1.1 200")
    );
}

#[tokio::test]
async fn when_every_connection_is_in_use_idle_keep_alive_ones_are_closed_first() {
    let upstream = gated_upstream(Arc::default(), Arc::default()).await;
    let addr = serve(
        proxy(upstream, Upstreams::new(UpstreamLimits::default())),
        limits(2, 10),
        ConnectionTimeouts::default(),
    )
    .await;
    let mut idle = Vec::new();
    for _ in 0..2 {
        let mut stream = connect_from("127.0.0.1", addr).await;
        assert!(
            exchange(&mut stream, "/fine")
                .await
                .starts_with("HTTP/1.1 200")
        );
        idle.push(stream);
    }
    // Both slots are held by idle keep-alive connections (30 s idle timeout): a third client is
    // served within the read's 10 s only if one of them is closed for it.
    let mut third = connect_from("127.0.0.2", addr).await;
    let answer = exchange(&mut third, "/fine").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let closed = read_until_closed(&mut idle[0]).await;
    assert!(
        closed.is_empty(),
        "the longest idle one was closed: {closed}"
    );
}

#[tokio::test]
async fn requests_in_flight_past_a_clients_limit_get_a_503_the_page_can_read() {
    let holding = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Notify::new());
    let upstream = gated_upstream(holding.clone(), release.clone()).await;
    let upstreams = Upstreams::new(UpstreamLimits {
        in_flight: 100,
        per_ip: 2,
        trusted_proxies: Vec::new(),
    });
    let addr = serve(
        proxy(upstream, upstreams.clone()),
        limits(100, 100),
        ConnectionTimeouts::default(),
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = connect_from("127.0.0.1", addr).await;
        let request = format!("GET /held HTTP/1.1\r\nhost: x\r\norigin: {PAGE}\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("send");
        held.push(stream);
    }
    tokio::time::timeout(Duration::from_secs(10), async {
        while holding.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("both held requests reached the upstream within 10 s");
    let mut third = connect_from("127.0.0.1", addr).await;
    let refused = exchange(&mut third, "/fine").await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("retry-after: 1"), "{refused}");
    assert!(
        refused.contains(&format!("access-control-allow-origin: {PAGE}")),
        "{refused}"
    );
    assert!(refused.contains("--max-requests-per-ip"), "{refused}");
    let mut other = connect_from("127.0.0.2", addr).await;
    assert!(
        exchange(&mut other, "/fine")
            .await
            .starts_with("HTTP/1.1 200"),
        "another client has its own budget"
    );
    release.notify_waiters();
    for stream in &mut held {
        let mut buffer = [0u8; 1024];
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
            .await
            .expect("released")
            .expect("read");
        assert!(buffer[..read].starts_with(b"HTTP/1.1 200"));
    }
    // Each answer's end gives its place back.
    let answer = exchange(&mut third, "/fine").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(upstreams.in_flight() <= 1);
}

#[tokio::test]
async fn a_client_that_half_closes_after_its_request_gets_its_answer() {
    let upstream = gated_upstream(Arc::default(), Arc::default()).await;
    let addr = serve(
        proxy(upstream, Upstreams::new(UpstreamLimits::default())),
        limits(100, 100),
        ConnectionTimeouts::default(),
    )
    .await;
    let mut stream = connect_from("127.0.0.1", addr).await;
    let request = format!("GET /fine HTTP/1.1\r\nhost: x\r\norigin: {PAGE}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    // `shutdown(SHUT_WR)`, as `nc -q` and some HTTP/1.0 clients do.
    stream.shutdown().await.expect("half-close");
    let got = read_until_closed(&mut stream).await;
    assert!(got.starts_with("HTTP/1.1 200"), "no answer: {got:?}");
    assert!(got.ends_with("ok"), "{got}");
}

#[tokio::test]
async fn http2_clients_are_told_the_stream_limit_in_the_servers_settings() {
    let upstream = gated_upstream(Arc::default(), Arc::default()).await;
    let timeouts = ConnectionTimeouts {
        max_streams: 7,
        ..ConnectionTimeouts::default()
    };
    let addr = serve(
        proxy(upstream, Upstreams::new(UpstreamLimits::default())),
        limits(100, 100),
        timeouts,
    )
    .await;
    let mut stream = connect_from("127.0.0.1", addr).await;
    // The client preface and an empty SETTINGS frame (prior knowledge).
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .expect("send the preface");
    let mut header = [0u8; 9];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut header))
        .await
        .expect("a frame within 10 s")
        .expect("read");
    assert_eq!(header[3], 0x4, "the server's first frame is SETTINGS");
    let length =
        usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
    let mut payload = vec![0u8; length];
    stream.read_exact(&mut payload).await.expect("read");
    let settings: Vec<(u16, u32)> = payload
        .chunks(6)
        .map(|s| {
            (
                u16::from_be_bytes([s[0], s[1]]),
                u32::from_be_bytes([s[2], s[3], s[4], s[5]]),
            )
        })
        .collect();
    // SETTINGS_MAX_CONCURRENT_STREAMS is 0x3.
    assert!(settings.contains(&(0x3, 7)), "{settings:?}");
}

#[tokio::test]
async fn a_shutdown_while_every_connection_is_in_use_ends_serve() {
    let upstream = gated_upstream(Arc::default(), Arc::default()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("bound");
    let connections = Connections::new(limits(1, 10));
    let share = Share::split(1, connections.clone())
        .pop()
        .expect("one share");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(serve_shared(
        listener,
        proxy(upstream, Upstreams::new(UpstreamLimits::default())),
        async {
            let _ = stopped.await;
        },
        Duration::from_secs(5),
        ConnectionTimeouts::default(),
        share,
    ));
    // The one slot, taken by a connection that has sent nothing (not idle keep-alive: it cannot
    // be closed to make room), and a second waiting in the backlog.
    let _held = connect_from("127.0.0.1", addr).await;
    let _waiting = connect_from("127.0.0.1", addr).await;
    // Until the first is counted, the accept loop is not yet waiting for a slot.
    tokio::time::timeout(Duration::from_secs(10), async {
        while !connections.full() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the first connection counted within 10 s");
    stop.send(()).expect("serving");
    tokio::time::timeout(Duration::from_secs(10), served)
        .await
        .expect("serve ended after the shutdown")
        .expect("serve did not panic");
}

#[tokio::test]
async fn idle_pooled_connections_past_the_per_host_bound_are_closed() {
    // An upstream that holds each POST until three have arrived, then answers all; it counts
    // the connections the proxy closes.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let upstream = listener.local_addr().expect("bound");
    let arrived = Arc::new(AtomicUsize::new(0));
    let all_in = Arc::new(Notify::new());
    let closed = Arc::new(AtomicUsize::new(0));
    let closing = Arc::new(Notify::new());
    {
        let (arrived, all_in, closed, closing) = (
            arrived.clone(),
            all_in.clone(),
            closed.clone(),
            closing.clone(),
        );
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (arrived, all_in, closed, closing) = (
                    arrived.clone(),
                    all_in.clone(),
                    closed.clone(),
                    closing.clone(),
                );
                tokio::spawn(async move {
                    let mut buffer = [0u8; 4096];
                    let mut got = Vec::new();
                    while !got.windows(6).any(|w| w == b"\r\n\r\nhi") {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let released = all_in.notified();
                    if arrived.fetch_add(1, Ordering::SeqCst) + 1 == 3 {
                        all_in.notify_waiters();
                    } else {
                        released.await;
                    }
                    let _ = stream
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .await;
                    // Kept alive: only the proxy closing it ends this read.
                    if let Ok(0) = stream.read(&mut buffer).await {
                        closed.fetch_add(1, Ordering::SeqCst);
                        closing.notify_waiters();
                    }
                });
            }
        });
    }
    let rules = TargetRules {
        allow_private: true,
        ports: Ports::Any,
        hosts: Some(BTreeSet::from(["127.0.0.1".to_owned()])),
    };
    let base: http::Uri = format!("http://{upstream}").parse().expect("URI");
    let policy = Policy::builder()
        .allow_origins([PAGE])
        .build()
        .expect("valid");
    // At most one idle connection per upstream host.
    let service = CorsLayer::new(policy).layer(Upstream::new(
        base,
        crossgate_proxy::forward::client_with(GuardedConnector::new(rules), 1),
        Duration::from_secs(5),
    ));
    let addr = serve(service, limits(100, 100), ConnectionTimeouts::default()).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(tokio::spawn(async move {
            let mut stream = connect_from("127.0.0.1", addr).await;
            let request = format!(
                "POST /p HTTP/1.1\r\nhost: x\r\norigin: {PAGE}\r\ncontent-length: 2\r\n\r\nhi"
            );
            stream.write_all(request.as_bytes()).await.expect("send");
            let mut buffer = [0u8; 1024];
            let read = stream.read(&mut buffer).await.expect("read");
            String::from_utf8_lossy(&buffer[..read]).into_owned()
        }));
    }
    for client in clients {
        let answer = client.await.expect("the client ran");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    // Three upstream connections carried the three POSTs at once; two of them cannot stay idle.
    tokio::time::timeout(Duration::from_secs(10), async {
        while closed.load(Ordering::SeqCst) < 2 {
            let notified = closing.notified();
            if closed.load(Ordering::SeqCst) >= 2 {
                break;
            }
            notified.await;
        }
    })
    .await
    .expect("the proxy closed the idle connections past the bound within 10 s");
    assert_eq!(closed.load(Ordering::SeqCst), 2, "one is kept");
}
