//! `crossgate check --policy` against real servers on 127.0.0.1: crossgate-tower's `CorsLayer`
//! in front of a small application (the policy followed exactly), and the same server with the
//! classic mistakes made after it: every origin reflected with credentials, CORS headers gone
//! from error answers, no `Vary: Origin`, an allowed method refused at the preflight.

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener};
use std::task::{Context, Poll};

use bytes::Bytes;
use crossgate::Policy;
use crossgate_tower::CorsLayer;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use serde_json::Value;
use tower_layer::Layer;
use tower_service::Service;

use super::servers;
use super::{Run, TempDir, crossgate, json};

/// The policy every server here is measured against.
const POLICY: &str = r#"
allow_origins = ["https://app.example.com", "https://*.example.org", "http://localhost:*"]
allow_methods = ["PUT", "DELETE"]
allow_headers = ["content-type", "x-request-id"]
expose_headers = ["x-total"]
allow_credentials = true
max_age = 600
"#;

/// The application: `/missing` is a 404, everything else 200 with `X-Total` (exposed by the
/// policy) and `X-Internal` (not exposed).
#[derive(Clone)]
struct App;

impl Service<Request<Incoming>> for App {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<Full<Bytes>>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
        if request.uri().path() == "/missing" {
            *response.status_mut() = StatusCode::NOT_FOUND;
        }
        let headers = response.headers_mut();
        headers.insert("x-total", HeaderValue::from_static("42"));
        headers.insert("x-internal", HeaderValue::from_static("1"));
        std::future::ready(Ok(response))
    }
}

/// What a mistake needs to know about the request.
struct Asked {
    method: Method,
    headers: HeaderMap,
}

/// A change made to crossgate's answer: the mistake.
type Mistake = fn(&Asked, &mut Response<Full<Bytes>>);

/// `CorsLayer` with [`POLICY`] in front of [`App`] on 127.0.0.1:0, its answers changed by
/// `mistake`; listening before this returns.
fn server(mistake: Mistake) -> SocketAddr {
    server_with(POLICY, mistake)
}

/// [`server`] with another policy.
fn server_with(policy: &str, mistake: Mistake) -> SocketAddr {
    let policy = Policy::from_toml(policy).expect("the test policy is valid");
    let cors = CorsLayer::new(policy).layer(App);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("a local address");
    listener.set_nonblocking(true).expect("non-blocking");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let cors = cors.clone();
                let service = move |request: Request<Incoming>| {
                    let asked = Asked {
                        method: request.method().clone(),
                        headers: request.headers().clone(),
                    };
                    let mut cors = cors.clone();
                    async move {
                        let mut response = cors.call(request).await?;
                        mistake(&asked, &mut response);
                        Ok::<_, Infallible>(response)
                    }
                };
                tokio::spawn(servers::serve_connection(stream, None, service));
            }
        });
    });
    addr
}

fn follows_the_policy(_: &Asked, _: &mut Response<Full<Bytes>>) {}

fn set(response: &mut Response<Full<Bytes>>, name: &'static str, value: Option<&HeaderValue>) {
    match value {
        Some(v) => {
            response.headers_mut().insert(name, v.clone());
        }
        None => {
            response.headers_mut().remove(name);
        }
    }
}

fn remove_cors_headers(response: &mut Response<Full<Bytes>>) {
    let names: Vec<_> = response
        .headers()
        .keys()
        .filter(|n| n.as_str().starts_with("access-control-"))
        .cloned()
        .collect();
    for name in names {
        response.headers_mut().remove(name);
    }
}

/// Every origin reflected with credentials, every preflight granted what it asks.
fn reflects_every_origin(asked: &Asked, response: &mut Response<Full<Bytes>>) {
    grant(asked, response);
}

/// The origin asking echoed with credentials, and a preflight granted what it asks.
fn grant(asked: &Asked, response: &mut Response<Full<Bytes>>) {
    let Some(origin) = asked.headers.get("origin").cloned() else {
        return;
    };
    set(response, "access-control-allow-origin", Some(&origin));
    set(
        response,
        "access-control-allow-credentials",
        Some(&HeaderValue::from_static("true")),
    );
    if asked.method == Method::OPTIONS {
        *response.status_mut() = StatusCode::NO_CONTENT;
        let method = asked.headers.get("access-control-request-method");
        set(response, "access-control-allow-methods", method);
        let headers = asked.headers.get("access-control-request-headers");
        set(response, "access-control-allow-headers", headers);
    }
}

/// nginx's `add_header` without `always`: no CORS header on 4xx and 5xx answers.
fn drops_cors_headers_on_errors(_: &Asked, response: &mut Response<Full<Bytes>>) {
    if response.status().as_u16() >= 400 {
        remove_cors_headers(response);
    }
}

fn forgets_vary(_: &Asked, response: &mut Response<Full<Bytes>>) {
    set(response, "vary", None);
}

/// A preflight for DELETE (which the policy allows) answered 403 without CORS headers.
fn refuses_delete(asked: &Asked, response: &mut Response<Full<Bytes>>) {
    let method = asked.headers.get("access-control-request-method");
    if asked.method == Method::OPTIONS && method.is_some_and(|m| m == "DELETE") {
        *response.status_mut() = StatusCode::FORBIDDEN;
        remove_cors_headers(response);
    }
}

/// Starlette's `CORSMiddleware(allow_origins=["*"], allow_credentials=True)`: `*` with
/// `Access-Control-Allow-Credentials: true` (which no browser reads with credentials), and the
/// origin echoed instead when the request carries a cookie: every site reads a logged-in
/// user's answers.
fn echoes_the_origin_to_cookies(asked: &Asked, response: &mut Response<Full<Bytes>>) {
    if response
        .headers()
        .contains_key("access-control-allow-origin")
    {
        set(
            response,
            "access-control-allow-credentials",
            Some(&HeaderValue::from_static("true")),
        );
    }
    if asked.method != Method::OPTIONS && asked.headers.contains_key("cookie") {
        grant(asked, response);
    }
}

/// Origins matched by the regex `https://app.example.com`, dots unescaped (the listed origin
/// itself answered as the policy says).
fn matches_with_unescaped_dots(asked: &Asked, response: &mut Response<Full<Bytes>>) {
    let pattern = b"https://app.example.com";
    let origin = asked.headers.get("origin").map(HeaderValue::as_bytes);
    let sloppy = origin.is_some_and(|o| {
        o != pattern
            && o.len() == pattern.len()
            && o.iter().zip(pattern).all(|(o, p)| *p == b'.' || o == p)
    });
    if sloppy {
        grant(asked, response);
    }
}

/// A preflight from the listed origin granted when every header asked for starts with an
/// allowed one (`x-request-id-x` as `x-request-id`).
fn matches_header_prefixes(asked: &Asked, response: &mut Response<Full<Bytes>>) {
    let from_app = asked
        .headers
        .get("origin")
        .is_some_and(|o| o == "https://app.example.com");
    let asked_for = asked
        .headers
        .get("access-control-request-headers")
        .and_then(|h| h.to_str().ok());
    let prefixed = asked_for.is_some_and(|names| {
        names.split(',').all(|n| {
            let n = n.trim();
            n.starts_with("content-type") || n.starts_with("x-request-id")
        })
    });
    if from_app && prefixed {
        grant(asked, response);
    }
}

/// `Access-Control-Allow-Credentials: true` on every preflight the policy allows, though the
/// policy allows no credentials.
fn preflight_allows_credentials(asked: &Asked, response: &mut Response<Full<Bytes>>) {
    if asked.method == Method::OPTIONS
        && response
            .headers()
            .contains_key("access-control-allow-origin")
    {
        set(
            response,
            "access-control-allow-credentials",
            Some(&HeaderValue::from_static("true")),
        );
    }
}

fn check_policy(addr: SocketAddr, extra: &[&str]) -> Run {
    check_policy_with(POLICY, addr, extra)
}

/// [`check_policy`] with another policy.
fn check_policy_with(policy: &str, addr: SocketAddr, extra: &[&str]) -> Run {
    let dir = TempDir::new(&format!("check-policy-{}", addr.port()));
    let policy = dir.file("cors.toml", policy);
    let url = format!("http://{addr}/items");
    let mut args = vec!["check", "--policy", &policy, &url];
    args.extend_from_slice(extra);
    crossgate(&args)
}

fn assert_has(run: &Run, expected: &str) {
    assert!(
        run.stdout.contains(expected),
        "missing {expected:?} in:\n{}",
        run.stdout
    );
}

/// The `differences` kinds of every JSON result, with its origin, method and credentials.
fn differences(report: &Value) -> Vec<(String, String, String, String)> {
    let mut found = Vec::new();
    for result in report.as_array().expect("an array") {
        for d in result["differences"].as_array().expect("differences") {
            found.push((
                d["kind"].as_str().expect("kind").to_owned(),
                result["origin"].as_str().expect("origin").to_owned(),
                result["method"].as_str().expect("method").to_owned(),
                result["credentials"]
                    .as_str()
                    .expect("credentials")
                    .to_owned(),
            ));
        }
    }
    found
}

fn difference(
    kind: &str,
    origin: &str,
    method: &str,
    credentials: &str,
) -> (String, String, String, String) {
    (
        kind.to_owned(),
        origin.to_owned(),
        method.to_owned(),
        credentials.to_owned(),
    )
}

#[test]
fn check_policy_on_a_server_that_follows_it() {
    let addr = server(follows_the_policy);
    let run = check_policy(addr, &["--error-path", "/missing"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "");
    let url = format!("http://{addr}/items");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].starts_with(&format!("checking {url} against ")),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].ends_with(": 112 requests from 24 origins"),
        "{}",
        lines[0]
    );
    assert_eq!(lines[1], "checked 112 requests");
    assert_eq!(
        lines[2..],
        [
            "",
            "no difference: the server does what the policy says (112 requests)"
        ]
    );

    let run = check_policy(addr, &["--error-path", "/missing", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let report = json(&run);
    let results = report.as_array().expect("an array");
    assert_eq!(results.len(), 112);
    assert_eq!(differences(&report), []);
    // The listed origin reads the error answer too, with credentials.
    let error = results
        .iter()
        .find(|r| {
            r["purpose"] == "error-status"
                && r["origin"] == "https://app.example.com"
                && r["credentials"] == "include"
        })
        .expect("an error-status request");
    assert_eq!(error["url"], format!("http://{addr}/missing"));
    assert_eq!(error["actual"]["outcome"], "allowed");
    assert_eq!(error["actual"]["status"], 404);
    assert_eq!(error["actual"], error["expected"]);
    // A preflighted PUT: allowed on both sides, with the policy's max-age.
    let put = results
        .iter()
        .find(|r| r["method"] == "PUT" && r["origin"] == "https://app.example.com")
        .expect("a PUT");
    assert_eq!(put["actual"]["max_age"], 600);
    assert_eq!(
        put["actual"]["readable_headers"],
        serde_json::json!(["content-length", "x-total"])
    );
    // A near miss is refused on both sides.
    let near = results
        .iter()
        .find(|r| r["origin"] == "https://app.example.com.crossgate-evil.example")
        .expect("a near miss");
    assert_eq!(near["actual"]["outcome"], "blocked");
    assert_eq!(near["expected"]["outcome"], "blocked");
}

#[test]
fn check_policy_reports_a_server_reflecting_every_origin() {
    let addr = server(reflects_every_origin);
    let run = check_policy(addr, &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stderr, "");
    let url = format!("http://{addr}/items");
    assert_has(
        &run,
        "\nSECURITY: the server allows what the policy refuses (",
    );
    assert_has(
        &run,
        &format!(
            "\n  GET {url} from https://app.example.com.crossgate-evil.example, credentials include \
             (Cookie: crossgate-check=1)\n    \
             origin: near miss of https://app.example.com: another domain after it\n    \
             policy: blocked by the CORS check (the request is sent, its answer unreadable)\n      \
             console: Access to fetch at '{url}' from origin 'https://app.example.com.crossgate-evil.example' \
             has been blocked by CORS policy: No 'Access-Control-Allow-Origin' header is present on the \
             requested resource.\n    \
             server: allowed (status 200); script can read "
        ),
    );
    assert_has(
        &run,
        &format!("\n  GET {url} from null, credentials include (Cookie: crossgate-check=1)\n"),
    );
    let last = run.stdout.lines().last().expect("a summary");
    assert!(last.ends_with("security-relevant)"), "{last}");

    let run = check_policy(addr, &["--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let found = differences(&json(&run));
    for expected in [
        difference(
            "allows-refused",
            "https://crossgate-evil.example",
            "GET",
            "include",
        ),
        difference(
            "allows-refused",
            "https://evilexample.org",
            "GET",
            "include",
        ),
        difference("allows-refused", "https://example.org", "GET", "omit"),
        // The refused method passes its preflight.
        difference(
            "allows-refused",
            "https://app.example.com",
            "PATCH",
            "include",
        ),
    ] {
        assert!(found.contains(&expected), "{expected:?} in {found:?}");
    }
    // Nothing the policy allows is refused.
    assert!(!found.iter().any(|d| d.0 == "refuses-allowed"), "{found:?}");
}

#[test]
fn check_policy_reports_cors_headers_missing_on_errors() {
    let addr = server(drops_cors_headers_on_errors);
    // Without an error path, nothing tells.
    let run = check_policy(addr, &[]);
    assert_eq!(run.code, 0, "{run:?}");

    let run = check_policy(addr, &["--error-path", "/missing"]);
    assert_eq!(run.code, 1, "{run:?}");
    let missing = format!("http://{addr}/missing");
    assert_has(
        &run,
        "\nthe server refuses what the policy allows (6 requests)\n",
    );
    assert_has(
        &run,
        &format!(
            "\n  GET {missing} from https://app.example.com, credentials omit\n    \
             origin: listed\n    \
             policy: allowed (status 404); script can read content-length, x-total\n    \
             server: blocked by the CORS check (the request is sent, its answer unreadable)\n      \
             console: Access to fetch at '{missing}' from origin 'https://app.example.com' has been \
             blocked by CORS policy: No 'Access-Control-Allow-Origin' header is present on the \
             requested resource.\n"
        ),
    );
    let last = run.stdout.lines().last().expect("a summary");
    assert!(
        last.contains("differ from the policy (0 security-relevant)"),
        "{last}"
    );
}

#[test]
fn check_policy_reports_a_missing_vary_origin() {
    let addr = server(forgets_vary);
    let run = check_policy(addr, &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_has(
        &run,
        "\nreadable answers without Vary: Origin (a shared cache can serve one origin's answer to another) (",
    );
    let found = differences(&json(&check_policy(addr, &["--json"])));
    assert!(
        found.iter().all(|d| d.0 == "missing-vary-origin"),
        "{found:?}"
    );
    // A known difference accepted in CI.
    let run = check_policy(addr, &["--ignore", "missing-vary-origin"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_has(
        &run,
        "\nno difference: the server does what the policy says (105 requests)\n",
    );
    assert_has(&run, "\nnot counted (--ignore): missing-vary-origin\n");
    assert!(found.contains(&difference(
        "missing-vary-origin",
        "https://sub.example.org",
        "GET",
        "omit"
    )));
}

#[test]
fn check_policy_reports_an_allowed_method_refused_at_the_preflight() {
    let addr = server(refuses_delete);
    let run = check_policy(addr, &[]);
    assert_eq!(run.code, 1, "{run:?}");
    let url = format!("http://{addr}/items");
    // The server never answered the DELETE itself: the policy's side assumes the application
    // answers 200 with no header of its own.
    assert_has(
        &run,
        &format!(
            "\n  DELETE {url} from https://app.example.com, credentials include \
             (Cookie: crossgate-check=1)\n    \
             origin: listed\n    \
             policy: allowed (status 200); script can read no header; preflight cached 600 s \
             (the application's answer assumed: the server never answered this request)\n    \
             server: blocked at the preflight (the request is not sent)\n      \
             console: Access to fetch at '{url}' from origin 'https://app.example.com' has been \
             blocked by CORS policy: Response to preflight request doesn't pass access control check: \
             No 'Access-Control-Allow-Origin' header is present on the requested resource.\n"
        ),
    );
    let found = differences(&json(&check_policy(addr, &["--json"])));
    assert!(
        found
            .iter()
            .all(|d| d.0 == "refuses-allowed" && d.2 == "DELETE"),
        "{found:?}"
    );
    // The listed origin, a subdomain one label deep, an any-port origin.
    assert_eq!(found.len(), 3, "{found:?}");
}

#[test]
fn check_policy_usage_and_network_errors() {
    let dir = TempDir::new("check-policy-errors");
    let policy = dir.file("cors.toml", POLICY);
    let invalid = dir.file(
        "invalid.toml",
        "allow_origins = [\"*\"]\nallow_credentials = true\n",
    );
    let closed = format!("http://{}/items", servers::closed_port());

    let run = crossgate(&["check", "--policy", &policy, &closed]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .starts_with(&format!("crossgate: {closed}: connection refused: ")),
        "{}",
        run.stderr
    );

    let cases: [(&[&str], &str); 5] = [
        (
            &["check", "--policy", "/nonexistent/cors.toml", &closed],
            "crossgate: cannot read the policy file /nonexistent/cors.toml: ",
        ),
        (
            &["check", "--policy", &invalid, &closed],
            &format!("crossgate: {invalid} is not a usable policy"),
        ),
        (
            &[
                "check",
                "--policy",
                &policy,
                &closed,
                "--error-path",
                "missing",
            ],
            "crossgate: --error-path missing: expected a path starting with /",
        ),
        (
            &["check", "--policy", &policy, "ftp://127.0.0.1/"],
            "crossgate: \"ftp://127.0.0.1/\": only http and https URLs can be checked",
        ),
        (
            &[
                "check",
                &closed,
                "--origin",
                "https://a.example",
                "--error-path",
                "/m",
            ],
            "crossgate: --error-path, --concurrency and --ignore go with --policy POLICY.toml",
        ),
    ];
    for (args, message) in cases {
        let run = crossgate(args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.starts_with(message), "{args:?}: {}", run.stderr);
    }
    for args in [
        &[
            "check",
            "--policy",
            &policy,
            &closed,
            "--origin",
            "https://a.example",
        ][..],
        &["check", "--policy", &policy, &closed, "-X", "PUT"],
        &["check", "--policy", &policy, &closed, "--concurrency", "0"],
        &["check", "--policy", &policy, &closed, "--ignore", "vary"],
    ] {
        let run = crossgate(args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert_eq!(run.stdout, "", "{args:?}");
    }
    let run = crossgate(&["check", "--help"]);
    assert!(
        run.stdout.contains("--policy <POLICY.toml>"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("\"allows-refused\"") || run.stdout.contains("allows-refused"));
}

/// `(kind, origin, method, credentials, headers)` of every JSON result that differs.
fn differing_requests(report: &Value) -> Vec<String> {
    let mut found = Vec::new();
    for result in report.as_array().expect("an array") {
        for d in result["differences"].as_array().expect("differences") {
            let headers: Vec<String> = result["headers"]
                .as_array()
                .expect("headers")
                .iter()
                .map(|h| format!(" {}", h[0].as_str().expect("a name")))
                .collect();
            found.push(format!(
                "{} {} {} {}{}",
                d["kind"].as_str().expect("kind"),
                result["origin"].as_str().expect("origin"),
                result["method"].as_str().expect("method"),
                result["credentials"].as_str().expect("credentials"),
                headers.concat()
            ));
        }
    }
    found
}

#[test]
fn check_policy_sends_a_logged_in_users_cookie() {
    let policy = "allow_origins = [\"*\"]\nallow_methods = [\"PUT\"]\n";
    let addr = server_with(policy, echoes_the_origin_to_cookies);
    let run = check_policy_with(policy, addr, &[]);
    assert_eq!(run.code, 1, "{run:?}");
    let url = format!("http://{addr}/items");
    assert_has(
        &run,
        &format!(
            "\nSECURITY: the server allows what the policy refuses (2 requests)\n  \
             GET {url} from null, credentials include (Cookie: crossgate-check=1)\n"
        ),
    );
    assert_has(
        &run,
        &format!(
            "\n  GET {url} from https://crossgate-evil.example, credentials include (Cookie: crossgate-check=1)\n    \
             origin: an unrelated origin (allowed by *)\n    \
             policy: blocked by the CORS check (the request is sent, its answer unreadable)\n"
        ),
    );
    let report = json(&check_policy_with(policy, addr, &["--json"]));
    assert_eq!(
        differing_requests(&report),
        [
            "allows-refused null GET include",
            "allows-refused https://crossgate-evil.example GET include"
        ]
    );
    // The cookie goes with credentials include only, and the JSON says so.
    for result in report.as_array().expect("an array") {
        let expected = match result["credentials"].as_str() {
            Some("include") => Value::from("crossgate-check=1"),
            _ => Value::Null,
        };
        assert_eq!(result["cookie"], expected, "{result}");
    }
}

#[test]
fn check_policy_reports_a_regex_with_unescaped_dots() {
    let addr = server(matches_with_unescaped_dots);
    let run = check_policy(addr, &["--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let found = differing_requests(&json(&run));
    assert_eq!(
        found,
        [
            "allows-refused https://appxexample.com GET omit",
            "allows-refused https://appxexample.com GET include",
            "allows-refused https://appxexample.com PUT include content-type",
            "allows-refused https://app.examplexcom GET omit",
            "allows-refused https://app.examplexcom GET include",
            "allows-refused https://app.examplexcom PUT include content-type",
        ]
    );
}

#[test]
fn check_policy_reports_request_headers_matched_by_prefix() {
    let addr = server(matches_header_prefixes);
    let run = check_policy(addr, &["--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        differing_requests(&json(&run)),
        [
            "allows-refused https://app.example.com GET include content-type-x",
            "allows-refused https://app.example.com GET include x-request-id-x",
        ]
    );
}

#[test]
fn check_policy_reports_a_preflight_allowing_credentials_the_policy_refuses() {
    let policy = "allow_origins = [\"https://app.example.com\"]\nallow_methods = [\"PUT\"]\n";
    let addr = server_with(policy, preflight_allows_credentials);
    let run = check_policy_with(policy, addr, &["--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    // The PUT is sent with the user's cookie; its answer stays unreadable.
    assert_eq!(
        differing_requests(&json(&run)),
        ["sends-refused https://app.example.com PUT include"]
    );
}
