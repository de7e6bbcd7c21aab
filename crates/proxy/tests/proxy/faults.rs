//! Faults answered correctly, on loopback: the side at fault is the one blamed (a client's broken
//! body is a 400, an upstream's broken answer a 502), an upstream's body that breaks before the
//! answer's head went out is a 502 JSON answer and one that breaks after it closes the connection
//! and is counted, an unsolicited `101` is a 502, an upstream that closes its connection after
//! each answer without saying so costs no request, and a request it closes the connection on
//! unanswered is sent again only if idempotent.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crossgate::Policy;
use crossgate_proxy::connect::{GuardedConnector, Ports, TargetRules};
use crossgate_proxy::forward::{Upstream, client};
use crossgate_proxy::metrics::Metrics;
use crossgate_tower::CorsLayer;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tower_layer::Layer;

use crate::support::{listen, open, send};

const PAGE: &str = "http://localhost:5173";

fn policy() -> Policy {
    Policy::builder()
        .allow_origins([PAGE])
        .allow_methods(["PUT"])
        .build()
        .expect("valid")
}

/// The proxy in front of `upstream` on 127.0.0.1, counting in `metrics`.
async fn proxy(upstream: SocketAddr, metrics: Arc<Metrics>) -> SocketAddr {
    let rules = TargetRules {
        allow_private: true,
        ports: Ports::Any,
        hosts: Some(BTreeSet::from(["127.0.0.1".to_owned()])),
    };
    let base: http::Uri = format!("http://{upstream}").parse().expect("URI");
    listen(
        CorsLayer::new(policy()).layer(
            Upstream::new(
                base,
                client(GuardedConnector::new(rules)),
                Duration::from_secs(5),
            )
            .metrics(metrics),
        ),
    )
    .await
}

/// Reads one request (head, and a body framed by `Content-Length`) from `stream`, keeping what
/// comes after it in `buffer`: the head as text, or `None` once the connection has ended.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<String> {
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
    let length: usize = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0);
    while buffer.len() < end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    buffer.drain(..end + length);
    Some(head)
}

/// An upstream on 127.0.0.1 that reads each request whole and writes `answer` to it, then waits
/// for the next request on the same connection.
async fn answering(answer: &'static [u8]) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let local = listener.local_addr().expect("bound");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                while read_request(&mut stream, &mut buffer).await.is_some() {
                    if stream.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    local
}

/// What a raw HTTP/1.1 exchange with the proxy got back: everything until the proxy closed.
async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("send");
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response));
    let _ = read
        .await
        .expect("the proxy answers and closes within 10 s");
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn a_clients_broken_chunked_body_is_the_clients_fault_a_400() {
    let upstream = answering(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
    let addr = proxy(upstream, Arc::new(Metrics::new())).await;
    let response = raw(
        addr,
        b"PUT /x HTTP/1.1\r\nhost: x\r\norigin: http://localhost:5173\r\n\
          transfer-encoding: chunked\r\nconnection: close\r\n\r\nzz\r\nnot a chunk\r\n0\r\n\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 400 "), "{response}");
    assert!(
        response.contains(r#""error":"bad-request-body""#),
        "{response}"
    );
    assert!(
        response.contains("access-control-allow-origin: http://localhost:5173"),
        "{response}"
    );
}

#[tokio::test]
async fn an_upstreams_malformed_first_chunk_is_a_502_the_page_can_read() {
    let upstream = answering(
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nnot a chunk\r\n0\r\n\r\n",
    )
    .await;
    let addr = proxy(upstream, Arc::new(Metrics::new())).await;
    // GET takes the HTTP/1.1 fast path; PUT with a body, hyper-util's client.
    for (method, body) in [("GET", ""), ("PUT", "a body")] {
        let reply = send(addr, method, "/x", &[("origin", PAGE)], body).await;
        assert_eq!(reply.status, 502, "{method}: {}", reply.body);
        assert_eq!(reply.json()["error"], "upstream-error", "{method}");
        assert_eq!(reply.header("access-control-allow-origin"), Some(PAGE));
    }
}

#[tokio::test]
async fn an_upstreams_body_broken_after_the_head_went_out_closes_the_connection_and_is_counted() {
    // The head and a first chunk, then (when the test says) a malformed one.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let upstream = listener.local_addr().expect("bound");
    let (next, mut go) = mpsc::unbounded_channel::<()>();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buffer = Vec::new();
            while read_request(&mut stream, &mut buffer).await.is_some() {
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n",
                    )
                    .await;
                if go.recv().await.is_none() {
                    return;
                }
                let _ = stream.write_all(b"zz\r\n").await;
            }
        }
    });
    let metrics = Arc::new(Metrics::new());
    let addr = proxy(upstream, metrics.clone()).await;
    for (round, (method, body)) in [("GET", ""), ("PUT", "a body")].into_iter().enumerate() {
        let response = open(addr, method, "/x", &[("origin", PAGE)], body).await;
        assert_eq!(response.status(), 200, "{method}: the head went out");
        let mut body = response.into_body();
        let first = body
            .frame()
            .await
            .expect("a frame")
            .expect("the first chunk");
        assert_eq!(first.into_data().expect("data"), "hello");
        next.send(()).expect("the upstream waits");
        let rest = tokio::time::timeout(Duration::from_secs(10), body.collect())
            .await
            .expect("the proxy ends the answer");
        assert!(
            rest.is_err(),
            "{method}: the client must see the answer broken, not whole"
        );
        let counted = metrics.encode();
        let line = format!(
            "crossgate_proxy_body_errors_total{{body=\"response\",kind=\"malformed\"}} {}\n",
            round + 1
        );
        assert!(counted.contains(&line), "{method}: {line} in\n{counted}");
    }
}

#[tokio::test]
async fn an_unsolicited_101_is_a_502_the_page_can_read() {
    let upstream = answering(
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n",
    )
    .await;
    let addr = proxy(upstream, Arc::new(Metrics::new())).await;
    for (method, body) in [("GET", ""), ("PUT", "a body")] {
        let reply = send(addr, method, "/x", &[("origin", PAGE)], body).await;
        assert_eq!(reply.status, 502, "{method}: {}", reply.body);
        assert_eq!(reply.json()["error"], "upstream-error", "{method}");
        assert!(
            reply.json()["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("101"),
            "{method}: {}",
            reply.body
        );
        assert_eq!(reply.header("access-control-allow-origin"), Some(PAGE));
    }
}

/// An upstream on 127.0.0.1 that answers each request with keep-alive semantics (HTTP/1.1, a
/// `Content-Length`, no `Connection: close`) and then closes the connection without a word, as
/// some servers do after every answer (or after some): the proxy's next request on that pooled
/// connection finds it closed. It runs on a thread of its own, as a real server does, and closes
/// the connections it answered when [`Closing::close`] says so.
struct Closing {
    addr: SocketAddr,
    close: mpsc::UnboundedSender<std::sync::mpsc::Sender<()>>,
}

impl Closing {
    fn start() -> Closing {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("bound");
        let (close, mut closing) = mpsc::unbounded_channel::<std::sync::mpsc::Sender<()>>();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                listener.set_nonblocking(true).expect("non-blocking");
                let listener = tokio::net::TcpListener::from_std(listener).expect("a listener");
                let answered = Arc::new(std::sync::Mutex::new(Vec::<TcpStream>::new()));
                let held = answered.clone();
                tokio::spawn(async move {
                    while let Some(done) = closing.recv().await {
                        // Dropped: each is closed (its FIN sent) before the proxy goes on.
                        held.lock().expect("not poisoned").clear();
                        let _ = done.send(());
                    }
                });
                while let Ok((mut stream, _)) = listener.accept().await {
                    let answered = answered.clone();
                    tokio::spawn(async move {
                        let mut buffer = Vec::new();
                        if read_request(&mut stream, &mut buffer).await.is_some()
                            && stream
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                                .await
                                .is_ok()
                        {
                            answered.lock().expect("not poisoned").push(stream);
                        }
                    });
                }
            });
        });
        Closing { addr, close }
    }

    /// Closes every connection answered so far, and returns once they are closed. Blocks the
    /// thread: called from inside the proxy, it makes the FIN arrive while the proxy handles a
    /// request, after its reactor last looked and before the request is written upstream, which
    /// is the race this upstream otherwise wins now and then.
    fn close(&self) {
        let (done, closed) = std::sync::mpsc::channel();
        self.close.send(done).expect("the upstream runs");
        closed.recv().expect("the upstream closed them");
    }
}

/// `inner`, calling `hook` as each request comes in.
#[derive(Clone)]
struct Before<S> {
    inner: S,
    hook: Arc<dyn Fn() + Send + Sync>,
}

impl<S, B> tower_service::Service<http::Request<B>> for Before<S>
where
    S: tower_service::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> S::Future {
        (self.hook)();
        self.inner.call(request)
    }
}

#[tokio::test]
async fn requests_to_an_upstream_that_closes_after_each_answer_never_fail() {
    let upstream = Arc::new(Closing::start());
    let rules = TargetRules {
        allow_private: true,
        ports: Ports::Any,
        hosts: Some(BTreeSet::from(["127.0.0.1".to_owned()])),
    };
    let base: http::Uri = format!("http://{}", upstream.addr).parse().expect("URI");
    let closing = upstream.clone();
    let addr = listen(Before {
        inner: CorsLayer::new(policy()).layer(Upstream::new(
            base,
            client(GuardedConnector::new(rules)),
            Duration::from_secs(5),
        )),
        // Each request finds the connection of the one before it closed.
        hook: Arc::new(move || closing.close()),
    })
    .await;
    // 1,000 requests, one after the other on one kept-alive connection to the proxy: POSTs
    // (hyper-util's client), and every fourth a GET (the HTTP/1.1 fast path).
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let mut failures = Vec::new();
    for i in 0..1000 {
        let (method, body) = if i % 4 == 0 {
            ("GET", String::new())
        } else {
            ("POST", format!("body {i}"))
        };
        let request = http::Request::builder()
            .method(method)
            .uri(format!("http://{addr}/{i}"))
            .header("origin", PAGE)
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .expect("a request");
        let response = client.request(request).await.expect("the proxy answers");
        let status = response.status();
        let body = response.into_body().collect().await.expect("a body");
        if status != 200 {
            failures.push(format!("{method} {i}: {status} {:?}", body.to_bytes()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 1000 failed, the first: {:?}",
        failures.len(),
        failures.first()
    );
}

/// An upstream that answers the first request on each connection, and closes the connection on
/// the second one without a word of answer (it read it: it may have acted on it).
async fn answering_once_per_connection() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let local = listener.local_addr().expect("bound");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                if read_request(&mut stream, &mut buffer).await.is_some() {
                    let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                    if stream.write_all(answer).await.is_ok() {
                        // The second request is read, then the connection closed.
                        let _ = read_request(&mut stream, &mut buffer).await;
                    }
                }
            });
        }
    });
    local
}

#[tokio::test]
async fn a_request_the_upstream_closes_on_unanswered_is_sent_again_only_if_idempotent() {
    let upstream = answering_once_per_connection().await;
    let addr = proxy(upstream, Arc::new(Metrics::new())).await;
    // The first PUT opens a connection; the second takes it from the pool, is read and not
    // answered, and is sent again on a new one (PUT is idempotent).
    for round in 0..2 {
        let reply = send(addr, "PUT", "/x", &[("origin", PAGE)], "a body").await;
        assert_eq!(reply.status, 200, "PUT {round}: {}", reply.body);
    }
    // A POST may have been acted on: it is not sent again.
    let reply = send(addr, "POST", "/x", &[("origin", PAGE)], "a body").await;
    assert_eq!(reply.status, 502, "{}", reply.body);
    assert_eq!(reply.json()["error"], "upstream-error");
    assert!(
        reply.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("before a byte of answer"),
        "{}",
        reply.body
    );
}
