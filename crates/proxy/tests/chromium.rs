//! Real headless Chromium (through `tests/chromium/headless.rs`): a page on one loopback origin
//! reads an API through the proxy on another — upstream mode with credentials (a cookie really
//! carried), a preflighted PUT, an upstream that is down (the page reads the 502), and anywhere
//! mode over the simulated network (a public target read, a loopback target refused with a 403
//! the page can read), and JSONP through a `<script>` tag.
//!
//! A test target of its own, declared with `test = false` in `Cargo.toml`: `cargo test` leaves it
//! out (it needs Chromium), `scripts/test` runs it after the rest, by name:
//! `cargo test -p crossgate-proxy --test chromium`.

#[path = "../../../tests/chromium/headless.rs"]
mod headless;
#[allow(
    dead_code,
    reason = "shared with the proxy target; each uses a part of it"
)]
#[path = "proxy/support.rs"]
mod support;

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use crossgate::Policy;
use crossgate_proxy::anywhere::Anywhere;
use crossgate_proxy::connect::{GuardedConnector, Ports, TargetRules};
use crossgate_proxy::forward::{Upstream, client};
use crossgate_proxy::jsonp::Jsonp;
use crossgate_tower::CorsLayer;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tower_layer::Layer;

use crate::headless::{ATTEMPT, Page};
use crate::support::{MapResolver, RecordingDialer, listen};

const PAGE_SCRIPT: &str = r#"
(async () => {
  const results = [];
  results.push(await attempt('simple GET', () => fetch(PROXY + '/data')));
  results.push(await attempt('login', () => fetch(PROXY + '/login', { credentials: 'include' })));
  results.push(await attempt('credentialed GET', () => fetch(PROXY + '/whoami', { credentials: 'include' })));
  results.push(await attempt('preflighted PUT', () => fetch(PROXY + '/items/7', {
    method: 'PUT', credentials: 'include',
    headers: { 'content-type': 'application/json', 'x-request-id': 'r-9' },
    body: JSON.stringify({ name: 'seven' }),
  })));
  results.push(await attempt('PUT with a refused header', () => fetch(PROXY + '/items/7', {
    method: 'PUT', headers: { 'x-secret': '1' }, body: 'x',
  })));
  results.push(await attempt('upstream down', () => fetch(DOWN + '/data')));
  results.push(await attempt('anywhere, public target', () => fetch(ANYWHERE + '/http://public.test/data')));
  results.push(await attempt('anywhere, loopback target', () => fetch(ANYWHERE + '/' + LOOPBACK + '/data')));
  const script = (name, src) => new Promise(resolve => {
    window.gotIt = (data) => resolve({ name, ok: true, body: JSON.stringify(data) });
    const tag = document.createElement('script');
    tag.src = src;
    tag.onerror = () => resolve({ name, ok: false, error: 'script error' });
    document.head.appendChild(tag);
  });
  results.push(await script('jsonp', ANYWHERE + '/http://public.test/data?callback=gotIt'));
  results.push(await script('jsonp, bad callback', ANYWHERE + '/http://public.test/data?callback=gotIt%28%29%2F%2F'));
  await fetch('/report', { method: 'POST', body: JSON.stringify(results) });
})();
"#;

/// The API behind the proxy, on loopback. It sends `Access-Control-Allow-Origin: *` itself,
/// which would make every credentialed read fail: the proxy must replace it.
async fn api() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let local = listener.local_addr().expect("bound");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    |request: Request<hyper::body::Incoming>| async move {
                        let path = request.uri().path().to_owned();
                        let cookie = request
                            .headers()
                            .get("cookie")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("no cookie")
                            .to_owned();
                        let request_id = request
                            .headers()
                            .get("x-request-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("r-1")
                            .to_owned();
                        let body = request
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let builder = Response::builder()
                            .header("access-control-allow-origin", "*")
                            .header("x-request-id", request_id);
                        let response = match path.as_str() {
                            "/data" => builder
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(r#"{"ok":true}"#))),
                            "/login" => builder
                                .header(
                                    "set-cookie",
                                    "session=through-the-proxy; Path=/; SameSite=Lax",
                                )
                                .body(Full::new(Bytes::from("welcome"))),
                            "/whoami" => builder.body(Full::new(Bytes::from(cookie))),
                            _ => builder.body(Full::new(Bytes::from(format!(
                                "stored: {}",
                                String::from_utf8_lossy(&body)
                            )))),
                        };
                        Ok::<_, Infallible>(response.expect("valid"))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    local
}

fn upstream_proxy(policy: &Policy, base: SocketAddr) -> crossgate_tower::Cors<Upstream> {
    let rules = TargetRules {
        allow_private: true,
        ports: Ports::Any,
        hosts: Some(BTreeSet::from(["127.0.0.1".to_owned()])),
    };
    let base: http::Uri = format!("http://{base}").parse().expect("URI");
    CorsLayer::new(policy.clone()).layer(Upstream::new(
        base,
        client(GuardedConnector::new(rules)),
        Duration::from_secs(5),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_reads_apis_through_the_proxy_as_the_policy_says() {
    let page = Page::bind().await;
    let api = api().await;
    let policy = Policy::builder()
        .allow_origins([page.origin.as_str()])
        .allow_methods(["PUT"])
        .allow_headers(["content-type", "x-request-id"])
        .expose_headers(["x-request-id"])
        .allow_credentials(true)
        .build()
        .expect("valid");
    let proxy = listen(upstream_proxy(&policy, api)).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("bound");
    let down = listen(upstream_proxy(&policy, closed)).await;

    // Anywhere mode over the simulated network: public.test is 93.184.216.34 to the guard, the
    // API on loopback to the dialer.
    let mut resolver = MapResolver::default();
    resolver.names.insert(
        "public.test",
        vec!["93.184.216.34:80".parse().expect("addr")],
    );
    let mut dialer = RecordingDialer::default();
    dialer
        .routes
        .insert("93.184.216.34:80".parse().expect("addr"), api);
    let rules = TargetRules {
        allow_private: false,
        ports: Ports::Any,
        hosts: None,
    };
    let open = Policy::builder()
        .allow_origins(["*"])
        .allow_methods(["*"])
        .allow_headers(["*"])
        .expose_headers(["*"])
        .build()
        .expect("valid");
    let anywhere = listen(CorsLayer::new(open).layer(Jsonp::new(Anywhere::new(
        client(GuardedConnector::with_hooks(rules, resolver, dialer)),
        Duration::from_secs(5),
    ))))
    .await;

    let html = format!(
        "<!doctype html><title>crossgate proxy</title><script>const PROXY = 'http://{proxy}'; \
         const DOWN = 'http://{down}'; const ANYWHERE = 'http://{anywhere}'; \
         const LOOPBACK = 'http://{api}';{ATTEMPT}{PAGE_SCRIPT}</script>"
    );
    let report = page.run(html).await;
    let results: Vec<Value> = serde_json::from_str(&report).expect("the page's JSON");
    let by_name = |name: &str| -> &Value {
        results
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no result for {name}: {report}"))
    };
    let read = |name: &str, status: u64| -> String {
        let r = by_name(name);
        assert_eq!(r["ok"], true, "{name} should be readable: {r}");
        assert_eq!(r["status"], status, "{name}: {r}");
        r["body"].as_str().unwrap_or_default().to_owned()
    };

    assert_eq!(read("simple GET", 200), r#"{"ok":true}"#);
    assert_eq!(
        by_name("simple GET")["requestId"],
        "r-1",
        "the exposed header is readable"
    );
    assert_eq!(read("login", 200), "welcome");
    assert_eq!(
        read("credentialed GET", 200),
        "session=through-the-proxy",
        "the cookie went through"
    );
    assert_eq!(read("preflighted PUT", 200), r#"stored: {"name":"seven"}"#);
    assert_eq!(by_name("preflighted PUT")["requestId"], "r-9");
    let refused = by_name("PUT with a refused header");
    assert_eq!(refused["ok"], false, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("TypeError"),
        "{refused}"
    );

    let down: Value = serde_json::from_str(&read("upstream down", 502)).expect("a JSON error");
    assert_eq!(
        down["error"], "connect-failed",
        "the page reads why: {down}"
    );

    assert_eq!(read("anywhere, public target", 200), r#"{"ok":true}"#);
    let refused: Value =
        serde_json::from_str(&read("anywhere, loopback target", 403)).expect("a JSON error");
    assert_eq!(refused["error"], "address-not-allowed", "{refused}");

    // JSONP through a real <script> tag, and a callback that is not an identifier refused.
    let jsonp = by_name("jsonp");
    assert_eq!(jsonp["ok"], true, "{jsonp}");
    assert_eq!(jsonp["body"], r#"{"ok":true}"#, "{jsonp}");
    let bad = by_name("jsonp, bad callback");
    assert_eq!(bad["ok"], false, "{bad}");
}
