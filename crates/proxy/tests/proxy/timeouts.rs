//! Nothing holds a connection forever: an upstream that sends its head and then stalls, or
//! trickles its body for ever, is cut off (and the proxy keeps serving); an idle HTTP/1.1
//! keep-alive connection and an idle HTTP/2 connection are closed, and so is an idle keep-alive
//! connection at shutdown; an HTTP/2 client that stops answering pings is dropped; a client whose
//! body stalls gets a 408; a client that stops reading its answer is closed (the send timeout).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crossgate::Policy;
use crossgate_proxy::body::BodyTimeouts;
use crossgate_proxy::connect::{GuardedConnector, Ports, TargetRules};
use crossgate_proxy::forward::{Upstream, client};
use crossgate_proxy::metrics::Metrics;
use crossgate_proxy::serve::ConnectionTimeouts;
use crossgate_tower::CorsLayer;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower_layer::Layer;

use crate::support::{listen, listen_with, open, send};

const PAGE: &str = "http://localhost:5173";

/// An upstream on loopback that answers by the request's path: `/stall` sends its head and the
/// start of a 1000-byte body, then nothing (the connection stays open); `/trickle` sends a
/// chunked body, one byte every 50 ms, for ever; anything else is a whole `ok`.
async fn faulty_upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let local = listener.local_addr().expect("bound");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Some(head) = crate::support::read_head(&mut stream).await else {
                    return;
                };
                let head = String::from_utf8_lossy(&head).into_owned();
                if head.starts_with("GET /stall ") {
                    let _ = stream
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nthe start")
                        .await;
                    // Holds the connection open, silent, until the proxy lets go of it.
                    let _ = stream.read(&mut [0u8; 1]).await;
                } else if head.starts_with("GET /trickle ") {
                    let _ = stream
                        .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                        .await;
                    let mut tick = tokio::time::interval(Duration::from_millis(50));
                    loop {
                        tick.tick().await;
                        if stream.write_all(b"1\r\nx\r\n").await.is_err() {
                            return;
                        }
                    }
                } else {
                    let _ = stream
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .await;
                }
            });
        }
    });
    local
}

fn policy() -> Policy {
    Policy::builder()
        .allow_origins([PAGE])
        .allow_methods(["PUT"])
        .build()
        .expect("valid")
}

/// The proxy in front of `upstream`, with `body` timeouts.
fn proxy(upstream: SocketAddr, body: BodyTimeouts) -> crossgate_tower::Cors<Upstream> {
    counted_proxy(upstream, body, Arc::new(Metrics::new()))
}

/// [`proxy`], counting in `metrics`.
fn counted_proxy(
    upstream: SocketAddr,
    body: BodyTimeouts,
    metrics: Arc<Metrics>,
) -> crossgate_tower::Cors<Upstream> {
    let rules = TargetRules {
        allow_private: true,
        ports: Ports::Any,
        hosts: Some(BTreeSet::from(["127.0.0.1".to_owned()])),
    };
    let base: http::Uri = format!("http://{upstream}").parse().expect("URI");
    CorsLayer::new(policy()).layer(
        Upstream::new(
            base,
            client(GuardedConnector::new(rules)),
            Duration::from_secs(5),
        )
        .body_timeouts(body)
        .metrics(metrics),
    )
}

/// Reads a response's body to its end: what the client got, or the error it ended with. Bounded,
/// so that a proxy that never cuts the body off fails the test instead of hanging it.
async fn read_body(
    response: http::Response<hyper::body::Incoming>,
) -> (Duration, Result<Vec<u8>, String>) {
    let started = std::time::Instant::now();
    let body = tokio::time::timeout(Duration::from_secs(10), response.into_body().collect())
        .await
        .expect("the proxy cut the body off within 10 s");
    (
        started.elapsed(),
        body.map(|b| b.to_bytes().to_vec())
            .map_err(|e| e.to_string()),
    )
}

#[tokio::test]
async fn an_upstream_that_stalls_mid_body_is_cut_off_and_the_proxy_keeps_serving() {
    let upstream = faulty_upstream().await;
    let idle = Duration::from_millis(300);
    let metrics = Arc::new(Metrics::new());
    let addr = listen(counted_proxy(
        upstream,
        BodyTimeouts {
            idle: Some(idle),
            total: None,
        },
        metrics.clone(),
    ))
    .await;
    let response = open(addr, "GET", "/stall", &[("origin", PAGE)], "").await;
    assert_eq!(response.status(), 200, "the head came through");
    let (took, body) = read_body(response).await;
    assert!(
        body.is_err(),
        "a body cut short must end in an error, not look whole: {body:?}"
    );
    assert!(
        took >= idle,
        "cut after the idle timeout, not before: {took:?}"
    );
    let counted = metrics.encode();
    assert!(
        counted
            .contains("crossgate_proxy_body_timeouts_total{body=\"response\",after=\"idle\"} 1\n"),
        "{counted}"
    );

    // Other requests are served all the while, and after.
    let reply = send(addr, "GET", "/fine", &[("origin", PAGE)], "").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok"));
    assert_eq!(reply.header("access-control-allow-origin"), Some(PAGE));
}

#[tokio::test]
async fn a_body_that_trickles_for_ever_is_cut_off_after_the_total_timeout() {
    let upstream = faulty_upstream().await;
    let total = Duration::from_millis(400);
    let addr = listen(proxy(
        upstream,
        BodyTimeouts {
            // A byte comes every 50 ms: the idle timeout alone never fires.
            idle: Some(Duration::from_secs(5)),
            total: Some(total),
        },
    ))
    .await;
    let response = open(addr, "GET", "/trickle", &[("origin", PAGE)], "").await;
    assert_eq!(response.status(), 200);
    let (took, body) = read_body(response).await;
    assert!(body.is_err(), "{body:?}");
    assert!(
        took < Duration::from_secs(5),
        "not the idle timeout: {took:?}"
    );
    let reply = send(addr, "GET", "/fine", &[], "").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok"));
}

/// A connection idle for 300 ms is closed; pings every 200 ms, unanswered after 200 ms.
fn short(idle: Duration) -> ConnectionTimeouts {
    ConnectionTimeouts {
        idle,
        keep_alive_interval: Duration::from_millis(200),
        keep_alive_timeout: Duration::from_millis(200),
        ..ConnectionTimeouts::default()
    }
}

#[tokio::test]
async fn an_idle_http1_keep_alive_connection_is_closed() {
    let upstream = faulty_upstream().await;
    let addr = listen_with(
        proxy(upstream, BodyTimeouts::default()),
        short(Duration::from_millis(300)),
    )
    .await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    // Keep-alive (HTTP/1.1's default): the proxy answers, then waits for the next request.
    stream
        .write_all(b"GET /fine HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("send");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("the proxy closed the idle connection")
        .expect("read");
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("ok"), "{response}");
}

#[tokio::test]
async fn a_shutdown_closes_an_idle_keep_alive_connection_without_waiting_for_its_idle_timeout() {
    let upstream = faulty_upstream().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("bound");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // Idle timeout and drain both a minute: only the shutdown can close the connection in time.
    let served = tokio::spawn(crossgate_proxy::serve::serve_with(
        listener,
        proxy(upstream, BodyTimeouts::default()),
        async {
            let _ = stopped.await;
        },
        Duration::from_secs(60),
        ConnectionTimeouts {
            idle: Duration::from_secs(60),
            ..ConnectionTimeouts::default()
        },
    ));
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /fine HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("send");
    let mut response = Vec::new();
    let mut buffer = [0u8; 1024];
    while !response.ends_with(b"ok") {
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
            .await
            .expect("an answer within 10 s")
            .expect("read");
        assert!(read > 0, "closed before the answer ended");
        response.extend_from_slice(&buffer[..read]);
    }
    stop.send(()).expect("the server is running");
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest))
        .await
        .expect("the shutdown closed the idle connection")
        .expect("read");
    assert!(rest.is_empty(), "nothing more after the answer");
    tokio::time::timeout(Duration::from_secs(10), served)
        .await
        .expect("serve returned once its connection closed")
        .expect("serve did not panic");
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed() {
    let upstream = faulty_upstream().await;
    let addr = listen_with(
        proxy(upstream, BodyTimeouts::default()),
        short(Duration::from_millis(300)),
    )
    .await;
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("an HTTP/2 handshake (prior knowledge)");
    // The client side answers pings as long as it runs: only idleness can end it.
    let connection = tokio::spawn(connection);
    let request = http::Request::get(format!("http://{addr}/fine"))
        .body(Empty::<bytes::Bytes>::new())
        .expect("valid");
    let response = sender.send_request(request).await.expect("an answer");
    assert_eq!(response.version(), http::Version::HTTP_2);
    let body = response.into_body().collect().await.expect("a body");
    assert_eq!(body.to_bytes(), "ok");
    // Idle from here on, with the sender kept (dropping it would close the connection from the
    // client's side).
    tokio::time::timeout(Duration::from_secs(10), connection)
        .await
        .expect("the proxy closed the idle HTTP/2 connection")
        .expect("the connection task")
        .expect("closed cleanly (GOAWAY), not torn down");
    assert!(sender.is_closed());
}

#[tokio::test]
async fn an_http2_client_that_stops_answering_pings_is_dropped() {
    let upstream = faulty_upstream().await;
    // Idle for a minute would be allowed: what ends this connection is the unanswered ping.
    let addr = listen_with(
        proxy(upstream, BodyTimeouts::default()),
        short(Duration::from_secs(60)),
    )
    .await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    // The HTTP/2 preface and an empty SETTINGS frame, then silence: no SETTINGS ack, no PING ack.
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .expect("send");
    let mut seen = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buffer = [0u8; 1024];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the proxy kept a connection whose client never answers pings"
    );
    // A PING frame (type 6) came before the end.
    assert!(
        seen.windows(4).any(|w| w == [0, 0, 8, 6]),
        "no PING frame in {seen:?}"
    );
}

#[tokio::test]
async fn a_client_whose_body_stalls_gets_a_408_the_page_can_read() {
    // The upstream reads the whole body before it answers, as most do.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let upstream = listener.local_addr().expect("bound");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    |request: http::Request<hyper::body::Incoming>| async move {
                        let body = request.into_body().collect().await?.to_bytes();
                        Ok::<_, hyper::Error>(http::Response::new(http_body_util::Full::new(
                            bytes::Bytes::from(format!("{} bytes", body.len())),
                        )))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let metrics = Arc::new(Metrics::new());
    let addr = listen(counted_proxy(
        upstream,
        BodyTimeouts {
            idle: Some(Duration::from_millis(300)),
            total: None,
        },
        metrics.clone(),
    ))
    .await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    // 10 of the 100 bytes promised, then nothing.
    stream
        .write_all(
            b"PUT /upload HTTP/1.1\r\nhost: x\r\norigin: http://localhost:5173\r\n\
              content-length: 100\r\n\r\n0123456789",
        )
        .await
        .expect("send");
    let mut response = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut response))
        .await
        .expect("the proxy answered within 10 s")
        .expect("read");
    let response = String::from_utf8_lossy(&response[..n]);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("request-timeout"), "{response}");
    assert!(
        response.contains("access-control-allow-origin: http://localhost:5173"),
        "the page can read why: {response}"
    );
    let counted = metrics.encode();
    assert!(
        counted
            .contains("crossgate_proxy_body_timeouts_total{body=\"request\",after=\"idle\"} 1\n"),
        "{counted}"
    );
}

#[tokio::test]
async fn a_client_reading_slowly_is_held_to_the_total_timeout_too() {
    // A fast upstream: 64 MiB at once (more than loopback's socket buffers hold).
    let (ended, _upstream_ended) = tokio::sync::mpsc::unbounded_channel();
    let upstream = big_upstream(ended).await;
    let total = Duration::from_millis(300);
    let addr = listen(proxy(
        upstream,
        BodyTimeouts {
            idle: Some(Duration::from_secs(5)),
            total: Some(total),
        },
    ))
    .await;
    let response = open(addr, "GET", "/big", &[], "").await;
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut read = 0usize;
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => read += frame.data_ref().map_or(0, bytes::Bytes::len),
                Err(e) => return Err(e.to_string()),
            }
            // The page's side is slow: the proxy always has bytes ready, never waits.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    })
    .await
    .expect("cut off within 30 s");
    assert!(
        ended.is_err(),
        "the whole body came ({read} bytes): the total timeout never fired"
    );
    assert!(read < 64 << 20, "{read}");
}

/// Reads what the socket holds until the proxy's end of it is closed: how many bytes came.
/// Bounded, so that a proxy that never closes it fails the test instead of hanging it.
async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> usize {
    let mut received = 0usize;
    let mut buffer = vec![0u8; 1 << 16];
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received += n,
            }
        }
    })
    .await
    .expect("the proxy closed the connection within 10 s");
    received
}

/// An upstream on loopback (hyper's server) that answers `/big` with 64 MiB at once (more than
/// loopback's socket buffers hold) and anything else with `ok`; `ended` hears of each connection
/// that ends before its answer was all written (the proxy let go of it).
async fn big_upstream(ended: tokio::sync::mpsc::UnboundedSender<()>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let upstream = listener.local_addr().expect("bound");
    let big = bytes::Bytes::from(vec![b'x'; 64 << 20]);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let big = big.clone();
            let ended = ended.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: http::Request<hyper::body::Incoming>| {
                        let body = if request.uri().path() == "/big" {
                            big.clone()
                        } else {
                            bytes::Bytes::from_static(b"ok")
                        };
                        async move {
                            Ok::<_, std::convert::Infallible>(http::Response::new(
                                http_body_util::Full::new(body),
                            ))
                        }
                    },
                );
                let served = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                if served.is_err() {
                    let _ = ended.send(());
                }
            });
        }
    });
    upstream
}

/// The proxy with a 1 s send timeout in front of [`big_upstream`]: its address, the timeout, and
/// the upstream's word that the proxy let go of an answer.
async fn behind_send_timeout() -> (
    SocketAddr,
    Duration,
    tokio::sync::mpsc::UnboundedReceiver<()>,
) {
    let (ended, upstream_ended) = tokio::sync::mpsc::unbounded_channel();
    let upstream = big_upstream(ended).await;
    let send_timeout = Duration::from_secs(1);
    let addr = listen_with(
        proxy(upstream, BodyTimeouts::default()),
        ConnectionTimeouts {
            send_timeout: Some(send_timeout),
            ..ConnectionTimeouts::default()
        },
    )
    .await;
    (addr, send_timeout, upstream_ended)
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_after_the_send_timeout() {
    let (addr, send_timeout, mut upstream_ended) = behind_send_timeout().await;
    let mut stalled = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stalled
        .write_all(b"GET /big HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("send");
    let started = std::time::Instant::now();

    // The client reads nothing from here on; others are served all the while.
    let reply = send(addr, "GET", "/fine", &[("origin", PAGE)], "").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok"));
    assert_eq!(reply.header("access-control-allow-origin"), Some(PAGE));

    // The proxy closes the client's connection, and with it lets go of the upstream's answer.
    tokio::time::timeout(Duration::from_secs(10), upstream_ended.recv())
        .await
        .expect("the proxy let go of a client that reads nothing within 10 s")
        .expect("the upstream runs");
    let took = started.elapsed();
    assert!(
        took >= send_timeout,
        "closed after the send timeout, not before: {took:?}"
    );

    // What the socket holds is the start of the answer, then its end (not the whole body).
    let received = read_until_closed(&mut stalled).await;
    assert!(received > 0, "the answer had begun");
    assert!(received < 64 << 20, "the whole body came: {received} bytes");

    let reply = send(addr, "GET", "/fine", &[], "").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok"));
}

#[tokio::test]
async fn an_http2_client_that_stops_reading_is_closed_after_the_send_timeout() {
    let (addr, send_timeout, mut upstream_ended) = behind_send_timeout().await;
    let mut stalled = tokio::net::TcpStream::connect(addr).await.expect("connect");
    // The HTTP/2 preface; SETTINGS with the largest initial window, acked the proxy's blindly;
    // the connection's window opened as wide; then `GET /big` (HPACK: :method GET, :scheme
    // http, :path /big, :authority x) — and nothing read: the proxy may send all it has, and
    // fills the socket.
    stalled
        .write_all(
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\
              \x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x04\x7f\xff\xff\xff\
              \x00\x00\x00\x04\x01\x00\x00\x00\x00\
              \x00\x00\x04\x08\x00\x00\x00\x00\x00\x7f\xff\x00\x00\
              \x00\x00\x0b\x01\x05\x00\x00\x00\x01\x82\x86\x44\x04/big\x41\x01x",
        )
        .await
        .expect("send");
    let started = std::time::Instant::now();

    tokio::time::timeout(Duration::from_secs(10), upstream_ended.recv())
        .await
        .expect("the proxy let go of an HTTP/2 client that reads nothing within 10 s")
        .expect("the upstream runs");
    let took = started.elapsed();
    assert!(
        took >= send_timeout,
        "closed after the send timeout, not before: {took:?}"
    );
    let received = read_until_closed(&mut stalled).await;
    assert!(received > 0, "the answer had begun");
    assert!(received < 64 << 20, "the whole body came: {received} bytes");
}

#[tokio::test]
async fn an_http2_stream_given_no_window_is_closed_after_the_send_timeout() {
    let (addr, send_timeout, mut upstream_ended) = behind_send_timeout().await;
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut reading, mut writing) = stream.into_split();
    // The HTTP/2 preface; SETTINGS with an initial stream window of 0, the proxy's SETTINGS
    // acked blindly; `GET /big` (HPACK as above). The client reads everything the proxy sends,
    // so no write of the connection ever waits: only the stream is starved.
    writing
        .write_all(
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\
              \x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00\
              \x00\x00\x00\x04\x01\x00\x00\x00\x00\
              \x00\x00\x0b\x01\x05\x00\x00\x00\x01\x82\x86\x44\x04/big\x41\x01x",
        )
        .await
        .expect("send");
    let started = std::time::Instant::now();
    let drained = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0usize;
        while let Ok(n) = reading.read(&mut buf).await {
            if n == 0 {
                break;
            }
            total += n;
        }
        total
    });

    tokio::time::timeout(Duration::from_secs(10), upstream_ended.recv())
        .await
        .expect("the proxy let go of a stream given no window within 10 s")
        .expect("the upstream runs");
    let took = started.elapsed();
    assert!(
        took >= send_timeout,
        "closed after the send timeout, not before: {took:?}"
    );
    let received = tokio::time::timeout(Duration::from_secs(10), drained)
        .await
        .expect("the connection was closed")
        .expect("the reader ran");
    assert!(
        received > 0,
        "the proxy's SETTINGS and the answer's head came"
    );
    assert!(received < 1 << 20, "no body could come: {received} bytes");
    drop(writing);
}
