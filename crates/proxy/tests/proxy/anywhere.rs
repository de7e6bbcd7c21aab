//! Anywhere mode through a simulated network: `public.test` resolves to a public address
//! (93.184.216.34) that the test dialer routes to a loopback server, so the guard judges a public
//! address while every byte stays on 127.0.0.1; `other.test` is another public address routed to
//! the same server. `metadata.test` resolves to 169.254.169.254 and is never dialled.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use crossgate::Policy;
use crossgate_proxy::anywhere::Anywhere;
use crossgate_proxy::connect::{GuardedConnector, Ports, TargetRules};
use crossgate_proxy::forward::client;
use crossgate_proxy::jsonp::Jsonp;
use crossgate_proxy::limit::RateLimits;
use crossgate_proxy::serve::serve;
use crossgate_tower::CorsLayer;
use http::{Request, Response};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;
use tower_layer::Layer;

use crate::support::{MapResolver, RecordingDialer, send};

const PUBLIC: &str = "93.184.216.34:80";
const OTHER: &str = "93.184.216.35:80";

/// The "public" server, on loopback: echo, redirect chains, 303, 307, and redirects to places the
/// proxy must refuse.
async fn public_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let local = listener.local_addr().expect("bound");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: Request<hyper::body::Incoming>| async move {
                        let path = request.uri().path().to_owned();
                        let query = request.uri().query().unwrap_or("").to_owned();
                        let cookie = request
                            .headers()
                            .get("cookie")
                            .map_or("none".to_owned(), |v| v.to_str().unwrap_or("?").to_owned());
                        let authorization = request.headers().contains_key("authorization");
                        let method = request.method().to_string();
                        let redirect = |status: u16, location: String| {
                            Response::builder()
                                .status(status)
                                .header("location", location)
                                .body(Full::new(Bytes::new()))
                                .expect("valid")
                        };
                        let response = if let Some(n) = path.strip_prefix("/redirect/") {
                            let n: u32 = n.parse().unwrap_or(0);
                            if n == 0 {
                                Response::new(Full::new(Bytes::from("arrived")))
                            } else {
                                redirect(302, format!("/redirect/{}", n - 1))
                            }
                        } else {
                            match path.as_str() {
                            "/see-other" => redirect(303, "/echo".to_owned()),
                            "/temporary" => redirect(307, "http://public.test/echo".to_owned()),
                            "/to-loopback" => redirect(302, format!("http://{local}/echo")),
                            "/to-metadata" => redirect(302, "http://metadata.test/latest/meta-data".to_owned()),
                            "/to-other" => redirect(302, "http://other.test/echo".to_owned()),
                            "/to-userinfo" => redirect(302, "http://user:secret@public.test/echo".to_owned()),
                            "/temporary-userinfo" => redirect(307, "http://user:secret@public.test/echo".to_owned()),
                            "/page" => Response::builder()
                                .header("content-type", "text/html")
                                .header("content-security-policy", "frame-ancestors 'none'")
                                .body(Full::new(Bytes::from("<script>alert(document.domain)</script>")))
                                .expect("valid"),
                            "/fake-json" => Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from("0);alert(document.domain);//")))
                                .expect("valid"),
                            "/json" => Response::builder()
                                .header("content-type", "application/json; charset=utf-8")
                                .body(Full::new(Bytes::from(format!(
                                    "{{\"query\":\"{query}\",\"cookie\":\"{cookie}\",\"s\":\"a\u{2028}b\"}}"
                                ))))
                                .expect("valid"),
                            _ => Response::builder()
                                .header("set-cookie", "tracker=1")
                                .header("x-custom", "visible")
                                .body(Full::new(Bytes::from(format!(
                                    "{method} {path}?{query} cookie={cookie} authorization={authorization}"
                                ))))
                                .expect("valid"),
                        }
                        };
                        Ok::<_, Infallible>(response)
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

/// The anywhere proxy over the simulated network; returns its address, the dialer, and the
/// loopback server.
async fn anywhere() -> (SocketAddr, RecordingDialer, SocketAddr, oneshot::Sender<()>) {
    anywhere_with(false, None).await
}

/// The anywhere proxy, with JSONP in front of it or not, and with per-target rate limits or not.
async fn anywhere_with(
    jsonp: bool,
    rates: Option<Arc<RateLimits>>,
) -> (SocketAddr, RecordingDialer, SocketAddr, oneshot::Sender<()>) {
    let server = public_server().await;
    let mut resolver = MapResolver::default();
    resolver
        .names
        .insert("public.test", vec![PUBLIC.parse().expect("addr")]);
    resolver
        .names
        .insert("other.test", vec![OTHER.parse().expect("addr")]);
    resolver.names.insert(
        "metadata.test",
        vec!["169.254.169.254:80".parse().expect("addr")],
    );
    let mut dialer = RecordingDialer::default();
    dialer.routes.insert(PUBLIC.parse().expect("addr"), server);
    dialer.routes.insert(OTHER.parse().expect("addr"), server);
    let rules = TargetRules {
        allow_private: false,
        ports: Ports::Any,
        hosts: None,
    };
    let connector = GuardedConnector::with_hooks(rules, resolver, dialer.clone());
    let policy = Policy::builder()
        .allow_origins(["*"])
        .allow_methods(["*"])
        .allow_headers(["*"])
        .expose_headers(["*"])
        .build()
        .expect("valid");
    let mut anywhere = Anywhere::new(client(connector), Duration::from_secs(5));
    if let Some(rates) = rates {
        anywhere = anywhere.rate_limits(rates);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("bound");
    let (stop, stopped) = oneshot::channel::<()>();
    let stopped = async move {
        let _ = stopped.await;
    };
    if jsonp {
        let service = CorsLayer::new(policy).layer(Jsonp::new(anywhere));
        tokio::spawn(serve(listener, service, stopped, Duration::from_secs(5)));
    } else {
        let service = CorsLayer::new(policy).layer(anywhere);
        tokio::spawn(serve(listener, service, stopped, Duration::from_secs(5)));
    }
    (addr, dialer, server, stop)
}

const PAGE: &str = "https://page.example";

#[tokio::test]
async fn the_root_is_a_usage_page() {
    let (addr, _, _, _stop) = anywhere().await;
    let reply = send(addr, "GET", "/", &[], "").await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains("anywhere mode"), "{}", reply.body);
    assert!(reply.body.contains("/?url="), "{}", reply.body);
}

#[tokio::test]
async fn a_target_in_the_path_or_in_url_is_fetched_without_the_pages_credentials() {
    let (addr, dialer, _, _stop) = anywhere().await;
    for path in [
        "/http://public.test/echo?x=1",
        "/?url=http%3A%2F%2Fpublic.test%2Fecho%3Fx%3D1",
    ] {
        let reply = send(
            addr,
            "GET",
            path,
            &[
                ("origin", PAGE),
                ("cookie", "session=secret"),
                ("authorization", "Bearer t"),
            ],
            "",
        )
        .await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(
            reply.body, "GET /echo?x=1 cookie=none authorization=false",
            "{path}"
        );
        assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
        assert_eq!(reply.header("access-control-expose-headers"), Some("*"));
        assert_eq!(
            reply.header("x-request-url"),
            Some("http://public.test/echo?x=1")
        );
        assert_eq!(
            reply.header("x-final-url"),
            Some("http://public.test/echo?x=1")
        );
        assert_eq!(
            reply.header("set-cookie"),
            None,
            "Set-Cookie never comes back"
        );
        assert_eq!(reply.header("x-custom"), Some("visible"));
    }
    assert!(
        dialer.dialled().iter().all(|a| a.to_string() == PUBLIC),
        "{:?}",
        dialer.dialled()
    );
}

#[tokio::test]
async fn redirects_301_to_303_are_followed_up_to_five() {
    let (addr, _, _, _stop) = anywhere().await;
    let reply = send(
        addr,
        "GET",
        "/http://public.test/redirect/5",
        &[("origin", PAGE)],
        "",
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "arrived");
    assert_eq!(
        reply.header("x-request-url"),
        Some("http://public.test/redirect/5")
    );
    assert_eq!(
        reply.header("x-final-url"),
        Some("http://public.test/redirect/0")
    );

    let reply = send(
        addr,
        "GET",
        "/http://public.test/redirect/6",
        &[("origin", PAGE)],
        "",
    )
    .await;
    assert_eq!(reply.status, 502);
    assert_eq!(reply.json()["error"], "upstream-error");
    assert!(
        reply.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("more than 5 redirects")
    );
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));

    // 303 after a POST: a GET of the new location, without the body.
    let reply = send(
        addr,
        "POST",
        "/http://public.test/see-other",
        &[("content-type", "text/plain")],
        "payload",
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "GET /echo? cookie=none authorization=false");
}

#[tokio::test]
async fn redirects_307_and_308_come_back_through_the_proxy() {
    let (addr, _, _, _stop) = anywhere().await;
    let reply = send(
        addr,
        "GET",
        "/http://public.test/temporary",
        &[("origin", PAGE)],
        "",
    )
    .await;
    assert_eq!(reply.status, 307);
    assert_eq!(reply.header("location"), Some("/http://public.test/echo"));
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn no_url_the_page_sees_carries_userinfo() {
    let (addr, _, _, _stop) = anywhere().await;
    // A redirect to a URL with a user name and password: followed, and not shown.
    let reply = send(
        addr,
        "GET",
        "/http://public.test/to-userinfo",
        &[("origin", PAGE)],
        "",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.header("x-request-url"),
        Some("http://public.test/to-userinfo")
    );
    assert_eq!(reply.header("x-final-url"), Some("http://public.test/echo"));
    // One the page asked for itself.
    let reply = send(
        addr,
        "GET",
        "/http://me:pass@public.test/echo",
        &[("origin", PAGE)],
        "",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.header("x-request-url"),
        Some("http://public.test/echo")
    );
    assert_eq!(reply.header("x-final-url"), Some("http://public.test/echo"));
    // 307 and 308 come back through the proxy without it too.
    let reply = send(
        addr,
        "GET",
        "/http://public.test/temporary-userinfo",
        &[("origin", PAGE)],
        "",
    )
    .await;
    assert_eq!(reply.status, 307);
    assert_eq!(reply.header("location"), Some("/http://public.test/echo"));
    for (name, value) in &reply.headers {
        let value = value.to_str().unwrap_or_default();
        assert!(!value.contains("secret"), "{name}: {value}");
    }
}

#[tokio::test]
async fn every_hop_is_checked_again_and_private_targets_are_refused() {
    let (addr, dialer, server, _stop) = anywhere().await;
    for (path, range) in [
        ("/http://public.test/to-loopback".to_owned(), "loopback"),
        ("/http://public.test/to-metadata".to_owned(), "link-local"),
        (format!("/http://{server}/echo"), "loopback"),
        (
            format!("/http://2130706433:{}/echo", server.port()),
            "loopback",
        ),
        (
            format!("/http://[::ffff:127.0.0.1]:{}/echo", server.port()),
            "loopback",
        ),
        (
            "/http://metadata.test/latest/meta-data".to_owned(),
            "link-local",
        ),
    ] {
        let reply = send(addr, "GET", &path, &[("origin", PAGE)], "").await;
        assert_eq!(reply.status, 403, "{path}: {}", reply.body);
        let json = reply.json();
        assert_eq!(json["error"], "address-not-allowed", "{path}: {json}");
        let detail = json["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(range), "{path}: {detail}");
        assert_eq!(
            reply.header("access-control-allow-origin"),
            Some("*"),
            "{path}"
        );
    }
    // Only the public address was ever dialled (the first hop of the two redirects, over one
    // pooled connection or two).
    let dialled = dialer.dialled();
    assert!((1..=2).contains(&dialled.len()), "{dialled:?}");
    assert!(
        dialled.iter().all(|a| a.to_string() == PUBLIC),
        "{dialled:?}"
    );
}

#[tokio::test]
async fn targets_that_are_not_http_urls_are_a_400() {
    let (addr, _, _, _stop) = anywhere().await;
    for (path, fragment) in [
        ("/ftp://public.test/file", "only http and https"),
        ("/not a url", "not an absolute URL"),
        ("/public.test/echo", "not an absolute URL"),
    ] {
        let reply = send(
            addr,
            "GET",
            &path.replace(' ', "%20"),
            &[("origin", PAGE)],
            "",
        )
        .await;
        assert_eq!(reply.status, 400, "{path}");
        let json = reply.json();
        assert_eq!(json["error"], "bad-request");
        assert!(
            json["detail"]
                .as_str()
                .unwrap_or_default()
                .contains(fragment),
            "{path}: {json}"
        );
        assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    }
}

#[tokio::test]
async fn jsonp_wraps_json_for_a_valid_callback_only() {
    let (addr, _, _, _stop) = anywhere_with(true, None).await;
    let reply = send(
        addr,
        "GET",
        "/http://public.test/json?page=2&callback=app.done",
        &[("cookie", "session=secret")],
        "",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        reply.body,
        "/**/ typeof app.done === 'function' && app.done({\"query\":\"page=2\",\"cookie\":\"none\",\"s\":\"a\\u2028b\"});",
        "the callback parameter is not forwarded, nor the cookie; U+2028 is escaped"
    );

    for bad in ["alert(1)//", "9x", "a..b", &"a".repeat(65)] {
        let path = format!(
            "/http://public.test/json?callback={}",
            bad.replace('(', "%28").replace(')', "%29")
        );
        let reply = send(addr, "GET", &path, &[], "").await;
        assert_eq!(reply.status, 400, "{bad}: {}", reply.body);
        assert_eq!(
            reply.header("content-type"),
            Some("application/json"),
            "not runnable as a script"
        );
    }

    // Labelled JSON but not JSON: it would run as script in the page. Refused.
    let reply = send(
        addr,
        "GET",
        "/http://public.test/fake-json?callback=cb",
        &[],
        "",
    )
    .await;
    assert_eq!(reply.status, 502, "{}", reply.body);
    assert!(!reply.body.contains("alert"), "{}", reply.body);

    // Not JSON upstream: refused, as JSON (a script tag will not run it).
    let reply = send(addr, "GET", "/http://public.test/echo?callback=cb", &[], "").await;
    assert_eq!(reply.status, 502, "{}", reply.body);
    assert!(
        reply.body.contains("JSONP wraps JSON only"),
        "{}",
        reply.body
    );

    // Only GET: a POST with a callback parameter is an ordinary request.
    let reply = send(
        addr,
        "POST",
        "/http://public.test/json?callback=cb",
        &[],
        "x",
    )
    .await;
    assert_eq!(
        reply.header("content-type"),
        Some("application/json; charset=utf-8")
    );
}

#[tokio::test]
async fn every_redirect_hop_spends_its_own_targets_rate_budget() {
    let rates = Arc::new(RateLimits::new(None, None, Some(1), Vec::new()));
    let (addr, _, _, _stop) = anywhere_with(false, Some(rates)).await;
    // other.test's one request a minute.
    let reply = send(
        addr,
        "GET",
        "/http://other.test/echo",
        &[("origin", PAGE)],
        "",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // public.test has its budget, but it redirects to other.test, which has none left.
    let reply = send(
        addr,
        "GET",
        "/http://public.test/to-other",
        &[("origin", PAGE)],
        "",
    )
    .await;
    assert_eq!(
        reply.status, 429,
        "the second hop is limited too: {}",
        reply.body
    );
    let json = reply.json();
    assert_eq!(json["error"], "rate-limited", "{json}");
    assert!(
        json["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("target host"),
        "{json}"
    );
    assert!(reply.header("retry-after").is_some());
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn answers_from_targets_are_sandboxed_and_never_sniffed() {
    let (addr, _, _, _stop) = anywhere().await;
    for path in [
        "/http://public.test/echo",
        "/http://public.test/page",
        "/http://public.test/temporary",
        "/http://public.test/see-other",
    ] {
        let reply = send(addr, "GET", path, &[("origin", PAGE)], "").await;
        assert!(
            matches!(reply.status, 200 | 307),
            "{path}: {} {}",
            reply.status,
            reply.body
        );
        let policies: Vec<&str> = reply
            .headers
            .get_all("content-security-policy")
            .iter()
            .map(|v| v.to_str().expect("ASCII"))
            .collect();
        assert!(policies.contains(&"sandbox"), "{path}: {policies:?}");
        assert_eq!(
            reply.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
    }
    // The target's own policy stays beside it (browsers enforce each one).
    let reply = send(addr, "GET", "/http://public.test/page", &[], "").await;
    let policies: Vec<&str> = reply
        .headers
        .get_all("content-security-policy")
        .iter()
        .map(|v| v.to_str().expect("ASCII"))
        .collect();
    assert_eq!(policies, ["frame-ancestors 'none'", "sandbox"]);
    assert_eq!(reply.header("content-type"), Some("text/html"));
}
