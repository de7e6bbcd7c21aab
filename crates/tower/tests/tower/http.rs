//! The layer on a real axum server over loopback TCP, through hyper's client: what a browser's
//! requests get back, and what reaches the application.

use crossgate::Policy;
use crossgate_tower::CorsLayer;

use crate::support::{Calls, app, policy, send, send_body, serve};

const APP: &str = "https://app.example.com";

async fn server(layer: CorsLayer) -> (std::net::SocketAddr, Calls) {
    let calls = Calls::default();
    let addr = serve(app(&calls).layer(layer)).await;
    (addr, calls)
}

#[tokio::test]
async fn allowed_origin_reads_the_response_with_credentials_and_exposed_headers() {
    let (addr, calls) = server(CorsLayer::new(policy())).await;
    let reply = send(addr, "GET", "/data", &[("origin", APP)]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, r#"{"ok":true}"#);
    assert_eq!(
        reply.header("access-control-allow-origin").as_deref(),
        Some(APP)
    );
    assert_eq!(
        reply.header("access-control-allow-credentials").as_deref(),
        Some("true")
    );
    assert_eq!(
        reply.header("access-control-expose-headers").as_deref(),
        Some("x-request-id")
    );
    assert_eq!(reply.header("vary").as_deref(), Some("Origin"));
    // Preflight-only headers never go on an actual response.
    assert_eq!(reply.header("access-control-allow-methods"), None);
    assert_eq!(reply.header("access-control-max-age"), None);
    assert_eq!(calls.count(), 1);
}

#[tokio::test]
async fn refused_origin_gets_the_response_without_any_cors_header() {
    let (addr, calls) = server(CorsLayer::new(policy())).await;
    for origin in [
        "https://evil.example",
        "https://app.example.com.evil.example",
        "http://app.example.com",
        "https://app.example.com:8443",
        "null",
    ] {
        let reply = send(addr, "GET", "/data", &[("origin", origin)]).await;
        assert_eq!(reply.status, 200, "{origin}");
        assert_eq!(reply.cors_headers(), Vec::<String>::new(), "{origin}");
        assert_eq!(reply.header("vary").as_deref(), Some("Origin"), "{origin}");
    }
    // Without block_disallowed_origins the application still runs (the browser hides the answer).
    assert_eq!(calls.count(), 5);
}

#[tokio::test]
async fn subdomain_pattern_matches_whole_labels_only() {
    let (addr, _) = server(CorsLayer::new(policy())).await;
    for (origin, allowed) in [
        ("https://pr-42.preview.example.com", true),
        ("https://a.b.preview.example.com", true),
        ("https://preview.example.com", false),
        ("https://evilpreview.example.com", false),
        ("http://pr-42.preview.example.com", false),
        ("https://pr-42.preview.example.com.evil.example", false),
    ] {
        let reply = send(addr, "GET", "/data", &[("origin", origin)]).await;
        let acao = reply.header("access-control-allow-origin");
        if allowed {
            assert_eq!(acao.as_deref(), Some(origin), "{origin} is allowed");
        } else {
            assert_eq!(acao, None, "{origin} is refused");
        }
    }
}

#[tokio::test]
async fn preflight_with_custom_headers_is_answered_without_the_application() {
    let (addr, calls) = server(CorsLayer::new(policy())).await;
    let reply = send(
        addr,
        "OPTIONS",
        "/items/1",
        &[
            ("origin", APP),
            ("access-control-request-method", "PUT"),
            (
                "access-control-request-headers",
                "content-type,x-request-id",
            ),
        ],
    )
    .await;
    assert_eq!(reply.status, 204);
    assert_eq!(reply.body, "");
    assert_eq!(
        reply.header("access-control-allow-origin").as_deref(),
        Some(APP)
    );
    assert_eq!(
        reply.header("access-control-allow-credentials").as_deref(),
        Some("true")
    );
    assert_eq!(
        reply.header("access-control-allow-methods").as_deref(),
        Some("PUT, DELETE")
    );
    assert_eq!(
        reply.header("access-control-allow-headers").as_deref(),
        Some("content-type, x-request-id")
    );
    assert_eq!(
        reply.header("access-control-max-age").as_deref(),
        Some("600")
    );
    assert_eq!(
        reply.header("vary").as_deref(),
        Some("Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
    );
    assert_eq!(calls.count(), 0, "the application never saw the preflight");

    // Then the actual PUT, as the browser sends it.
    let reply = send_body(
        addr,
        "PUT",
        "/items/1",
        &[
            ("origin", APP),
            ("content-type", "application/json"),
            ("x-request-id", "r-7"),
        ],
        r#"{"name":"one"}"#,
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, r#"stored 1: {"name":"one"}"#);
    assert_eq!(reply.header("x-request-id").as_deref(), Some("r-7"));
    assert_eq!(
        reply.header("access-control-allow-origin").as_deref(),
        Some(APP)
    );
    assert_eq!(calls.count(), 1);
}

#[tokio::test]
async fn refused_preflights_get_403_and_no_cors_header() {
    let (addr, calls) = server(CorsLayer::new(policy())).await;
    for (origin, method, headers) in [
        ("https://evil.example", "PUT", "content-type"),
        (APP, "PATCH", "content-type"),
        (APP, "put", ""),
        (APP, "PUT", "content-type,x-secret"),
        (APP, "PUT", "authorization"),
    ] {
        let mut request = vec![
            ("origin", origin),
            ("access-control-request-method", method),
        ];
        if !headers.is_empty() {
            request.push(("access-control-request-headers", headers));
        }
        let reply = send(addr, "OPTIONS", "/items/1", &request).await;
        assert_eq!(reply.status, 403, "{origin} {method} {headers}");
        assert_eq!(
            reply.cors_headers(),
            Vec::<String>::new(),
            "{origin} {method} {headers}"
        );
        assert_eq!(
            reply.header("crossgate-rejection"),
            None,
            "debug mode is off by default"
        );
    }
    assert_eq!(calls.count(), 0);
}

#[tokio::test]
async fn cookies_reach_the_application_and_credentials_are_allowed() {
    let (addr, _) = server(CorsLayer::new(policy())).await;
    let reply = send(
        addr,
        "GET",
        "/whoami",
        &[("origin", APP), ("cookie", "session=s3cret")],
    )
    .await;
    assert_eq!(reply.body, "session=s3cret");
    assert_eq!(
        reply.header("access-control-allow-origin").as_deref(),
        Some(APP)
    );
    assert_eq!(
        reply.header("access-control-allow-credentials").as_deref(),
        Some("true")
    );

    // Without allow_credentials the header is absent, so the browser refuses credentialed reads.
    let no_credentials = Policy::builder()
        .allow_origins([APP])
        .build()
        .expect("valid");
    let (addr, _) = server(CorsLayer::new(no_credentials)).await;
    let reply = send(
        addr,
        "GET",
        "/whoami",
        &[("origin", APP), ("cookie", "session=s3cret")],
    )
    .await;
    assert_eq!(
        reply.header("access-control-allow-origin").as_deref(),
        Some(APP)
    );
    assert_eq!(reply.header("access-control-allow-credentials"), None);
}

#[tokio::test]
async fn error_statuses_keep_their_cors_headers() {
    let (addr, _) = server(CorsLayer::new(policy())).await;
    for code in [400, 401, 403, 404, 409, 422, 429, 500, 502, 503] {
        let reply = send(addr, "GET", &format!("/status/{code}"), &[("origin", APP)]).await;
        assert_eq!(reply.status, code);
        assert_eq!(reply.body, format!("the application's own {code}"));
        assert_eq!(
            reply.header("access-control-allow-origin").as_deref(),
            Some(APP),
            "{code}"
        );
        assert_eq!(
            reply.header("access-control-allow-credentials").as_deref(),
            Some("true")
        );
    }
    // axum's own 404 for an unknown route and 405 for a wrong method, too.
    let reply = send(addr, "GET", "/nowhere", &[("origin", APP)]).await;
    assert_eq!(reply.status, 404);
    assert_eq!(
        reply.header("access-control-allow-origin").as_deref(),
        Some(APP)
    );
    let reply = send(addr, "POST", "/data", &[("origin", APP)]).await;
    assert_eq!(reply.status, 405);
    assert_eq!(
        reply.header("access-control-allow-origin").as_deref(),
        Some(APP)
    );
}

#[tokio::test]
async fn vary_is_merged_never_duplicated_never_overwritten() {
    let (addr, _) = server(CorsLayer::new(policy())).await;
    for (set, expected) in [
        ("Accept-Encoding", "Accept-Encoding, Origin"),
        (
            "accept-encoding, accept-language",
            "accept-encoding, accept-language, Origin",
        ),
        ("origin", "origin"),
        ("Accept, Origin", "Accept, Origin"),
        ("*", "*"),
    ] {
        let path = format!("/vary/{}", set.replace(' ', "%20"));
        let reply = send(addr, "GET", &path, &[("origin", APP)]).await;
        assert_eq!(
            reply.header("vary").as_deref(),
            Some(expected),
            "application set {set:?}"
        );
        assert_eq!(
            reply.headers.get_all("vary").iter().count(),
            1,
            "one Vary line"
        );
    }
    // Requests without Origin vary on it too: a cache must not serve them to a CORS request.
    let reply = send(addr, "GET", "/vary/Accept-Encoding", &[]).await;
    assert_eq!(
        reply.header("vary").as_deref(),
        Some("Accept-Encoding, Origin")
    );
    assert_eq!(reply.cors_headers(), Vec::<String>::new());
}

#[tokio::test]
async fn vary_is_not_added_where_the_answer_does_not_depend_on_origin() {
    let public = Policy::builder()
        .allow_origins(["*"])
        .build()
        .expect("valid");
    let (addr, _) = server(CorsLayer::new(public)).await;
    let reply = send(
        addr,
        "GET",
        "/data",
        &[("origin", "https://anyone.example")],
    )
    .await;
    assert_eq!(
        reply.header("access-control-allow-origin").as_deref(),
        Some("*")
    );
    assert_eq!(reply.header("vary"), None);
    let reply = send(addr, "GET", "/vary/Accept", &[]).await;
    assert_eq!(reply.header("vary").as_deref(), Some("Accept"));
}

#[tokio::test]
async fn options_that_is_not_a_preflight_reaches_the_application() {
    let (addr, calls) = server(CorsLayer::new(policy())).await;
    // No Origin: not CORS at all.
    let reply = send(addr, "OPTIONS", "/items/1", &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "the application's OPTIONS");
    assert_eq!(
        reply.header("allow").as_deref(),
        Some("GET, PUT, DELETE, OPTIONS")
    );
    // Origin but no Access-Control-Request-Method: a CORS request whose method is OPTIONS.
    let reply = send(addr, "OPTIONS", "/items/1", &[("origin", APP)]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "the application's OPTIONS");
    assert_eq!(
        reply.header("access-control-allow-origin").as_deref(),
        Some(APP)
    );
    assert_eq!(calls.count(), 2);
}

#[tokio::test]
async fn the_applications_own_cors_headers_never_pass() {
    let (addr, _) = server(CorsLayer::new(policy())).await;
    let reply = send(
        addr,
        "GET",
        "/sets-cors",
        &[("origin", "https://evil.example")],
    )
    .await;
    assert_eq!(reply.body, "a handler that sets CORS headers itself");
    assert_eq!(
        reply.cors_headers(),
        Vec::<String>::new(),
        "the handler's `*` was removed"
    );
    let reply = send(addr, "GET", "/sets-cors", &[("origin", APP)]).await;
    assert_eq!(
        reply.header("access-control-allow-origin").as_deref(),
        Some(APP)
    );
    assert_eq!(reply.header("access-control-allow-methods"), None);
}

#[tokio::test]
async fn block_disallowed_origins_stops_cross_site_requests_before_the_application() {
    let blocking = Policy::from_toml(&format!(
        "{}\nblock_disallowed_origins = true",
        crate::support::POLICY
    ))
    .expect("valid");
    let (addr, calls) = server(CorsLayer::new(blocking)).await;

    let reply = send_body(
        addr,
        "PUT",
        "/items/1",
        &[("origin", "https://evil.example")],
        "x",
    )
    .await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.body, "");
    assert_eq!(reply.cors_headers(), Vec::<String>::new());
    assert_eq!(
        calls.count(),
        0,
        "the refused request never reached the application"
    );

    // Allowed origins, same-origin requests (Sec-Fetch-Site) and requests without Origin pass.
    let reply = send_body(addr, "PUT", "/items/1", &[("origin", APP)], "x").await;
    assert_eq!(reply.status, 200);
    let own = [
        ("origin", "https://api.example.com"),
        ("sec-fetch-site", "same-origin"),
    ];
    let reply = send_body(addr, "PUT", "/items/1", &own, "x").await;
    assert_eq!(reply.status, 200);
    let reply = send_body(addr, "PUT", "/items/1", &[], "x").await;
    assert_eq!(reply.status, 200);
    assert_eq!(calls.count(), 3);
}

#[tokio::test]
async fn debug_mode_names_the_rejection_in_a_response_header() {
    let (addr, _) = server(CorsLayer::new(policy()).debug(true)).await;
    let preflight = |origin, method, headers| {
        vec![
            ("origin", origin),
            ("access-control-request-method", method),
            ("access-control-request-headers", headers),
        ]
    };
    for (request, expected) in [
        (
            preflight("https://evil.example", "PUT", "content-type"),
            r#"origin-not-allowed: origin "https://evil.example" not allowed"#,
        ),
        (
            preflight(APP, "PATCH", "content-type"),
            r#"method-not-allowed: method "PATCH" not allowed"#,
        ),
        (
            preflight(APP, "PUT", "content-type, x-trace"),
            r#"header-not-allowed: header "x-trace" not allowed"#,
        ),
    ] {
        let reply = send(addr, "OPTIONS", "/items/1", &request).await;
        assert_eq!(reply.status, 403);
        assert_eq!(
            reply.header("crossgate-rejection").as_deref(),
            Some(expected)
        );
    }
    // An actual request from a refused origin: the application's answer, plus the reason.
    let reply = send(addr, "GET", "/data", &[("origin", "https://evil.example")]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("crossgate-rejection").as_deref(),
        Some(r#"origin-not-allowed: origin "https://evil.example" not allowed"#)
    );
    // Allowed requests carry no such header.
    let reply = send(addr, "GET", "/data", &[("origin", APP)]).await;
    assert_eq!(reply.header("crossgate-rejection"), None);
}

#[tokio::test]
async fn a_second_layer_stacked_inside_does_not_double_the_headers() {
    let calls = Calls::default();
    let router = app(&calls)
        .layer(CorsLayer::new(policy()))
        .layer(CorsLayer::new(policy()));
    let addr = serve(router).await;
    let reply = send(addr, "GET", "/vary/Accept", &[("origin", APP)]).await;
    assert_eq!(
        reply
            .headers
            .get_all("access-control-allow-origin")
            .iter()
            .count(),
        1
    );
    assert_eq!(reply.header("vary").as_deref(), Some("Accept, Origin"));
    let reply = send(
        addr,
        "OPTIONS",
        "/items/1",
        &[("origin", APP), ("access-control-request-method", "DELETE")],
    )
    .await;
    assert_eq!(reply.status, 204);
    assert_eq!(
        reply
            .headers
            .get_all("access-control-allow-origin")
            .iter()
            .count(),
        1
    );
}
