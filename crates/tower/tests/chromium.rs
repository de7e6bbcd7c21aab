//! Real headless Chromium: a page on one loopback origin calls an axum API with crossgate-tower
//! on another, and fetch() succeeds or fails exactly as the policy says — a credentialed request
//! that really carries a cookie, a preflighted PUT with a custom header, refused methods and
//! headers, an error status, and an API whose policy does not list the page.
//!
//! Chromium runs through `tests/chromium/headless.rs` (shared with crossgate-proxy's tests): the
//! page reports its results by POSTing them to its own server.
//!
//! A test target of its own, declared with `test = false` in `Cargo.toml`: `cargo test` leaves it
//! out (it needs Chromium), `scripts/test` runs it after the rest, by name:
//! `cargo test -p crossgate-tower --test chromium`.

#[path = "../../../tests/chromium/headless.rs"]
mod headless;
#[allow(
    dead_code,
    reason = "shared with the tower target; each uses a part of it"
)]
#[path = "tower/support.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::routing::get;
use crossgate::Policy;
use crossgate_tower::CorsLayer;
use serde_json::Value;

use crate::headless::{ATTEMPT, Page};
use crate::support::{Calls, app, serve};

/// The page: runs each fetch in turn (login before whoami) and posts what happened.
const PAGE_SCRIPT: &str = r#"
(async () => {
  const results = [];
  results.push(await attempt('simple GET', () => fetch(API + '/data')));
  results.push(await attempt('login', () => fetch(API + '/login', { credentials: 'include' })));
  results.push(await attempt('credentialed GET', () => fetch(API + '/whoami', { credentials: 'include' })));
  results.push(await attempt('GET without credentials', () => fetch(API + '/whoami')));
  results.push(await attempt('preflighted PUT', () => fetch(API + '/items/7', {
    method: 'PUT', credentials: 'include',
    headers: { 'content-type': 'application/json', 'x-request-id': 'r-9' },
    body: JSON.stringify({ name: 'seven' }),
  })));
  results.push(await attempt('PUT with a refused header', () => fetch(API + '/items/7', {
    method: 'PUT', headers: { 'x-secret': '1' }, body: 'x',
  })));
  results.push(await attempt('DELETE', () => fetch(API + '/items/7', { method: 'DELETE' })));
  results.push(await attempt('PATCH', () => fetch(API + '/items/7', { method: 'PATCH', body: 'x' })));
  results.push(await attempt('error status', () => fetch(API + '/status/500')));
  results.push(await attempt('API that does not list the page', () => fetch(OTHER + '/data')));
  await fetch('/report', { method: 'POST', body: JSON.stringify(results) });
})();
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_fetches_succeed_or_fail_as_the_policy_says() {
    // The page's origin first: it goes into the API's policy.
    let page = Page::bind().await;
    let page_origin = page.origin.clone();

    let policy = Policy::builder()
        .allow_origins([page_origin.as_str()])
        .allow_methods(["PUT", "DELETE"])
        .allow_headers(["content-type", "x-request-id"])
        .expose_headers(["x-request-id"])
        .allow_credentials(true)
        .max_age(std::time::Duration::from_secs(600))
        .build()
        .expect("valid");
    let calls = Calls::default();
    let options_seen = Arc::new(AtomicUsize::new(0));
    let counter = options_seen.clone();
    let api = app(&calls)
        .route(
            "/login",
            get(|| async {
                (
                    [(
                        "set-cookie",
                        "session=chromium-cookie; Path=/; SameSite=Lax",
                    )],
                    "welcome",
                )
            }),
        )
        .layer(CorsLayer::new(policy))
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                if request.method() == http::Method::OPTIONS {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                next.run(request)
            },
        ));
    let api = serve(api).await;
    let other_policy = Policy::builder()
        .allow_origins(["https://elsewhere.example"])
        .build()
        .expect("valid");
    let other = serve(app(&Calls::default()).layer(CorsLayer::new(other_policy))).await;

    let html = format!(
        "<!doctype html><title>crossgate-tower</title><script>const API = 'http://{api}'; \
         const OTHER = 'http://{other}';{ATTEMPT}{PAGE_SCRIPT}</script>"
    );
    let report = page.run(html).await;
    let results: Vec<Value> = serde_json::from_str(&report).expect("the page's JSON");
    let by_name = |name: &str| -> &Value {
        results
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no result for {name}: {report}"))
    };
    let succeeded = |name: &str, status: u64, body: &str| {
        let r = by_name(name);
        assert_eq!(r["ok"], true, "{name} should succeed: {r}");
        assert_eq!(r["status"], status, "{name}: {r}");
        assert_eq!(r["body"], body, "{name}: {r}");
    };
    let failed = |name: &str| {
        let r = by_name(name);
        assert_eq!(r["ok"], false, "{name} should fail: {r}");
        // Chromium's text for every network or CORS failure; the console message, which names
        // the CORS reason, is not visible to the page.
        let error = r["error"].as_str().unwrap_or_default();
        assert!(error.starts_with("TypeError"), "{name}: {r}");
    };

    succeeded("simple GET", 200, r#"{"ok":true}"#);
    assert_eq!(
        by_name("simple GET")["requestId"],
        "r-1",
        "the exposed header is readable"
    );
    succeeded("login", 200, "welcome");
    succeeded("credentialed GET", 200, "session=chromium-cookie");
    succeeded("GET without credentials", 200, "no cookie");
    succeeded("preflighted PUT", 200, r#"stored 7: {"name":"seven"}"#);
    assert_eq!(by_name("preflighted PUT")["requestId"], "r-9");
    failed("PUT with a refused header");
    succeeded("DELETE", 204, "");
    failed("PATCH");
    succeeded("error status", 500, "the application's own 500");
    failed("API that does not list the page");

    // Preflights for the allowed PUT and DELETE and the refused PUT and PATCH reached the layer
    // (Chromium caches an allowed answer per method/header set, never a refusal)...
    assert_eq!(options_seen.load(Ordering::SeqCst), 4, "{report}");
    // ...and the application saw only the requests that were allowed to be sent: the refused
    // preflights stopped the PUT with x-secret and the PATCH before they left the browser.
    // /data, /whoami ×2, PUT, DELETE, /status/500 (/login is outside the counted app).
    assert_eq!(calls.count(), 6, "{report}");
}
