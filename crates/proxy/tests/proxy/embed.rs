//! The proxy embedded in a Rust program through `Proxy::builder()`, as the CLI does: upstream
//! mode in front of a loopback API, served on the test's runtime.

use std::time::Duration;

use crossgate::Policy;
use crossgate_proxy::Proxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PAGE: &str = "http://localhost:5173";

#[tokio::test]
async fn a_program_embeds_the_proxy_in_three_lines() {
    // The API: answers every request with "ok".
    let api = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let api_addr = api.local_addr().expect("bound");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = api.accept().await {
            tokio::spawn(async move {
                let Some(_head) = crate::support::read_head(&mut stream).await else {
                    return;
                };
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
            });
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("bound");

    let policy = Policy::builder()
        .allow_origins([PAGE])
        .build()
        .expect("valid");
    let proxy = Proxy::builder()
        .upstream(format!("http://{api_addr}"))
        .policy(policy)
        .build()
        .expect("a valid proxy");
    tokio::spawn(async move { proxy.serve(listener, std::future::pending()).await });

    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request =
        format!("GET /x HTTP/1.1\r\nhost: x\r\norigin: {PAGE}\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("an answer within 10 s")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 200"), "{answer}");
    assert!(
        answer.contains(&format!("access-control-allow-origin: {PAGE}")),
        "{answer}"
    );
    assert!(answer.ends_with("ok"), "{answer}");
}

#[test]
fn a_proxy_that_would_be_unsafe_or_useless_is_refused_with_every_problem() {
    let errors = Proxy::builder()
        .upstream("ftp://example")
        .build()
        .expect_err("refused");
    let text = errors.to_string();
    assert!(text.contains("http or https"), "{text}");
    assert!(text.contains("--allow-origin"), "{text}");
    assert_eq!(errors.problems().len(), 2, "{errors:?}");
}
