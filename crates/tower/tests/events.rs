//! The `tracing` events: one debug event per rejection with its reason code, and the warning
//! about a second CORS layer (or a handler setting CORS headers itself).
//!
//! A binary of its own: tracing-core decides once per process, per event site, whether the site
//! is enabled, from the subscribers present when the site is first reached. Beside tests that run
//! without a subscriber, a site could be switched off for everyone (seen once in 150 runs). Here
//! every test installs its subscriber before it sends anything.

use std::convert::Infallible;
use std::io;
use std::sync::{Arc, Mutex};

use crossgate_tower::CorsLayer;
use http::{Request, Response};
use tower::{Layer, ServiceExt, service_fn};

/// The policy of the crate's other tests (`tests/tower/support.rs`).
fn policy() -> crossgate::Policy {
    crossgate::Policy::from_toml(
        r#"
        allow_origins = ["https://app.example.com", "https://*.preview.example.com"]
        allow_methods = ["PUT", "DELETE"]
        allow_headers = ["content-type", "x-request-id"]
        allow_credentials = true
        "#,
    )
    .expect("valid")
}

/// Everything the `tracing` subscriber wrote, as text.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .expect("not poisoned")
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("not poisoned").clone()).expect("UTF-8 logs")
    }
}

/// Runs `f` with a debug-level subscriber on this thread; returns what it wrote.
async fn capture<F: Future<Output = ()>>(f: impl FnOnce() -> F) -> String {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    f().await;
    captured.text()
}

fn request(pairs: &[(&str, &str)]) -> Request<String> {
    let mut request = Request::builder().method(pairs[0].1).uri("/items/1");
    for &(name, value) in &pairs[1..] {
        request = request.header(name, value);
    }
    request.body(String::new()).expect("valid request")
}

async fn ok(_: Request<String>) -> Result<Response<String>, Infallible> {
    Ok(Response::new(String::from("ok")))
}

#[tokio::test]
async fn every_rejection_is_a_debug_event_with_its_reason_code() {
    let logs = capture(|| async {
        let service = CorsLayer::new(policy()).layer(service_fn(ok));
        for pairs in [
            &[
                ("method", "OPTIONS"),
                ("origin", "https://evil.example"),
                ("access-control-request-method", "PUT"),
            ][..],
            &[
                ("method", "OPTIONS"),
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "PATCH"),
            ],
            &[
                ("method", "OPTIONS"),
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", "x-secret"),
            ],
            &[("method", "GET"), ("origin", "https://evil.example")],
            &[("method", "GET"), ("origin", "https://app.example.com")],
        ] {
            service
                .clone()
                .oneshot(request(pairs))
                .await
                .expect("infallible");
        }
    })
    .await;
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("CORS request refused"))
        .collect();
    assert_eq!(lines.len(), 4, "{logs}");
    for line in &lines {
        assert!(line.contains("DEBUG"), "{line}");
        assert!(line.contains("crossgate_tower"), "{line}");
    }
    assert!(
        lines[0].contains(r#"reason="origin-not-allowed" kind="preflight""#),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("https://evil.example"), "{}", lines[0]);
    assert!(
        lines[1].contains(r#"reason="method-not-allowed""#),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].contains(r#"method "PATCH" not allowed"#),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains(r#"reason="header-not-allowed""#),
        "{}",
        lines[2]
    );
    assert!(lines[3].contains(r#"reason="origin-not-allowed" kind="actual" method=GET path="/items/1" origin=https://evil.example"#), "{}", lines[3]);
}

#[tokio::test]
async fn a_handler_or_inner_layer_setting_cors_headers_is_reported() {
    let logs = capture(|| async {
        let inner = service_fn(|_: Request<String>| async {
            let mut response = Response::new(String::from("ok"));
            response
                .headers_mut()
                .insert("access-control-allow-origin", "*".parse().expect("valid"));
            Ok::<_, Infallible>(response)
        });
        let service = CorsLayer::new(policy()).layer(inner);
        for _ in 0..2 {
            let response = service
                .clone()
                .oneshot(request(&[
                    ("method", "GET"),
                    ("origin", "https://evil.example"),
                ]))
                .await
                .expect("infallible");
            assert_eq!(response.headers().get("access-control-allow-origin"), None);
        }
    })
    .await;
    // The first such response in the process is a warning (this is the only test of the binary
    // that makes one), later ones are debug events.
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("another CORS layer is stacked inside this crossgate CorsLayer"))
        .collect();
    assert_eq!(lines.len(), 2, "{logs}");
    assert!(lines[0].contains("WARN"), "{logs}");
    assert!(lines[1].contains("DEBUG"), "{logs}");
}

#[tokio::test]
async fn a_layer_wrapped_directly_around_another_is_a_warning() {
    let logs = capture(|| async {
        let layer = CorsLayer::new(policy());
        let _twice = layer.layer(layer.layer(service_fn(ok)));
        let _once = layer.layer(service_fn(ok));
    })
    .await;
    let warnings: Vec<&str> = logs.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "{logs}");
    assert!(
        warnings[0].contains("stacked directly on another"),
        "{logs}"
    );
}
