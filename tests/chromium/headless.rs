//! Real headless Chromium for Rust integration tests (the `chromium` test targets of
//! crossgate-tower and crossgate-proxy, which include this file with `#[path]`; `cargo test`
//! leaves them out, `scripts/test` runs them): a page served from its own loopback origin runs its
//! script and POSTs what happened to `/report` on that same origin; the test gets the report.
//!
//! Chromium is Debian's `chromium` (`scripts/test` installs it) or the binary `CROSSGATE_CHROMIUM`
//! names, started with the flags that keep it off the network and a fresh profile. The test waits
//! for the report with a bound (120 s), never a sleep.

use std::convert::Infallible;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// The pages' JavaScript helper: `attempt(name, f)` runs one `fetch()` and returns what the page
/// saw (status, body and `x-request-id`, or the error), never throwing.
pub(crate) const ATTEMPT: &str = r#"
async function attempt(name, f) {
  try {
    const r = await f();
    return { name, ok: true, status: r.status, body: await r.text(), requestId: r.headers.get('x-request-id') };
  } catch (e) {
    return { name, ok: false, error: String(e) };
  }
}
"#;

/// A page's origin, bound before the page exists (policies need the origin first).
pub(crate) struct Page {
    listener: TcpListener,
    /// `http://127.0.0.1:PORT`.
    pub(crate) origin: String,
}

/// The Chromium binary: `CROSSGATE_CHROMIUM`, or `chromium` on the PATH.
fn chromium() -> String {
    if let Ok(path) = std::env::var("CROSSGATE_CHROMIUM") {
        return path;
    }
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join("chromium").is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "this test drives real headless Chromium, which is not installed: run scripts/test \
         (it installs Debian's chromium), or set CROSSGATE_CHROMIUM to a Chromium binary"
    );
    "chromium".to_owned()
}

impl Page {
    pub(crate) async fn bind() -> Page {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let origin = format!("http://{}", listener.local_addr().expect("bound"));
        Page { listener, origin }
    }

    /// Serves `html` at `/`, opens it in headless Chromium, and returns what the page POSTed to
    /// `/report`.
    pub(crate) async fn run(self, html: String) -> String {
        let (report_tx, mut report_rx) = mpsc::channel::<String>(1);
        let listener = self.listener;
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let html = html.clone();
                let report_tx = report_tx.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let html = html.clone();
                        let report_tx = report_tx.clone();
                        async move {
                            let response = match (request.method(), request.uri().path()) {
                                (&Method::GET, "/") => Response::builder()
                                    .header("content-type", "text/html; charset=utf-8")
                                    .body(Full::new(Bytes::from(html))),
                                (&Method::POST, "/report") => {
                                    let body = request.into_body().collect().await;
                                    let body = body.map(|b| b.to_bytes()).unwrap_or_default();
                                    let _ = report_tx
                                        .send(String::from_utf8_lossy(&body).into_owned())
                                        .await;
                                    Response::builder().body(Full::new(Bytes::from("thanks")))
                                }
                                _ => Response::builder()
                                    .status(StatusCode::NOT_FOUND)
                                    .body(Full::new(Bytes::new())),
                            };
                            Ok::<_, Infallible>(response.expect("a valid response"))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });

        let profile = tempfile::tempdir().expect("a temporary profile directory");
        let mut browser = tokio::process::Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--disable-sync",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("{}/", self.origin))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("Chromium starts");
        let report = tokio::time::timeout(Duration::from_secs(120), report_rx.recv()).await;
        let _ = browser.start_kill();
        match report {
            Ok(Some(report)) => report,
            _ => {
                let output = browser.wait_with_output().await.expect("Chromium's output");
                panic!(
                    "the page never reported (Chromium's stderr follows)\n{}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        }
    }
}
