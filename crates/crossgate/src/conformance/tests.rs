//! The matrix (its near misses, determinism, size) and the comparison, against servers in
//! process: the policy itself, and servers that get it wrong the classic ways.

use expect_test::expect;

use super::*;
use crate::browser::{Credentials, Request, WireRequest, WireResponse};

const URL: &str = "https://api.example.com/items";
const ERROR_URL: &str = "https://api.example.com/missing";

const EXAMPLE: &str = r#"
allow_origins = ["https://app.example.com", "https://*.example.org", "http://localhost:*"]
allow_methods = ["PUT", "DELETE"]
allow_headers = ["content-type", "x-request-id"]
expose_headers = ["x-total"]
allow_credentials = true
max_age = 600
"#;

fn policy(toml: &str) -> Policy {
    Policy::from_toml(toml).unwrap()
}

fn origins(matrix: &Matrix) -> Vec<&str> {
    let mut seen: Vec<&str> = Vec::new();
    for case in &matrix.cases {
        if !seen.contains(&case.request.origin.as_str()) {
            seen.push(&case.request.origin);
        }
    }
    seen
}

#[test]
fn matrix_has_each_allowed_origin_and_its_near_misses() {
    let matrix = matrix(&policy(EXAMPLE), URL, Some(ERROR_URL)).unwrap();
    let listed: Vec<String> = origins(&matrix)
        .iter()
        .map(|o| {
            let note = &matrix
                .cases
                .iter()
                .find(|c| c.request.origin == *o)
                .unwrap()
                .origin_note;
            format!("{o}  {note}\n")
        })
        .collect();
    expect![[r#"
        https://app.example.com  listed
        https://app.example.com.crossgate-evil.example  near miss of https://app.example.com: another domain after it
        https://evil-app.example.com  near miss of https://app.example.com: a prefix glued to it
        https://appxexample.com  near miss of https://app.example.com: a dot replaced by a letter
        https://app.examplexcom  near miss of https://app.example.com: a dot replaced by a letter
        https://sub.app.example.com  near miss of https://app.example.com: a subdomain
        http://app.example.com  near miss of https://app.example.com: another scheme
        https://app.example.com:8443  near miss of https://app.example.com: another port
        https://sub.example.org  matches https://*.example.org (one label)
        https://deep.sub.example.org  matches https://*.example.org (two labels)
        https://example.org  near miss of https://*.example.org: the bare domain
        https://evilexample.org  near miss of https://*.example.org: a prefix glued to the domain
        https://example.org.crossgate-evil.example  near miss of https://*.example.org: another domain after it
        https://sub.examplexorg  near miss of https://*.example.org: a dot of the domain replaced by a letter
        http://sub.example.org  near miss of https://*.example.org: another scheme
        https://sub.example.org:8443  near miss of https://*.example.org: another port
        http://localhost:3000  matches http://localhost:*
        http://localhost:5173  matches http://localhost:* (another port)
        http://localhost.crossgate-evil.example:3000  near miss of http://localhost:*: another domain after it
        http://evil-localhost:3000  near miss of http://localhost:*: a prefix glued to it
        http://sub.localhost:3000  near miss of http://localhost:*: a subdomain
        https://localhost:3000  near miss of http://localhost:*: another scheme
        null  null (sandboxed iframes, data: and file: pages)
        https://crossgate-evil.example  an unrelated origin
    "#]]
    .assert_eq(&listed.concat());
    assert_eq!(matrix.origins, 24);
    assert!(matrix.skipped.is_empty());

    // The listed origin gets everything: GETs with and without credentials, each method, a
    // refused one, each header, a refused one, the error URL with and without credentials.
    let app: Vec<String> = matrix
        .cases
        .iter()
        .filter(|c| c.request.origin == "https://app.example.com")
        .map(|c| {
            let headers: Vec<String> = c
                .request
                .headers
                .iter()
                .map(|(n, v)| format!(" {n}: {v}"))
                .collect();
            format!(
                "{} {} {} {}{}\n",
                c.purpose.id(),
                c.request.method,
                c.request.url,
                c.request.credentials.as_str(),
                headers.concat()
            )
        })
        .collect();
    expect![[r#"
        simple-get GET https://api.example.com/items omit
        simple-get GET https://api.example.com/items include
        method PUT https://api.example.com/items include
        method DELETE https://api.example.com/items include
        refused-method PATCH https://api.example.com/items include
        header GET https://api.example.com/items include content-type: application/json
        header GET https://api.example.com/items include x-request-id: 1
        refused-header GET https://api.example.com/items include x-crossgate-refused: 1
        refused-header GET https://api.example.com/items include content-type-x: 1
        refused-header GET https://api.example.com/items include x-request-id-x: 1
        refused-header GET https://api.example.com/items include x-content-type: 1
        refused-header GET https://api.example.com/items include x-x-request-id: 1
        refused-header GET https://api.example.com/items include content-typ: 1
        refused-header GET https://api.example.com/items include x-request-i: 1
        error-status GET https://api.example.com/missing omit
        error-status GET https://api.example.com/missing include
    "#]]
    .assert_eq(&app.concat());
    // A near miss: both GETs and one preflighted request.
    let near: Vec<(&str, &str)> = matrix
        .cases
        .iter()
        .filter(|c| c.request.origin == "https://evilexample.org")
        .map(|c| (c.purpose.id(), c.request.credentials.as_str()))
        .collect();
    assert_eq!(
        near,
        [
            ("simple-get", "omit"),
            ("simple-get", "include"),
            ("preflight", "include")
        ]
    );
    assert_eq!(matrix.cases.len(), 112);
}

#[test]
fn matrix_is_deterministic() {
    let p = policy(EXAMPLE);
    assert_eq!(
        matrix(&p, URL, Some(ERROR_URL)).unwrap(),
        matrix(&p, URL, Some(ERROR_URL)).unwrap()
    );
}

#[test]
fn matrix_is_bounded() {
    let many: Vec<String> = (0..40)
        .map(|i| format!("\"https://app{i}.example.com\""))
        .collect();
    let methods: Vec<String> = (0..20).map(|i| format!("\"M{i}\"")).collect();
    let headers: Vec<String> = (0..20).map(|i| format!("\"x-h{i}\"")).collect();
    let toml = format!(
        "allow_origins = [{}]\nallow_methods = [{}]\nallow_headers = [{}]\n",
        many.join(", "),
        methods.join(", "),
        headers.join(", ")
    );
    let matrix = matrix(&policy(&toml), URL, Some(ERROR_URL)).unwrap();
    assert_eq!(matrix.skipped.len(), 40 - MAX_ENTRIES);
    assert_eq!(matrix.skipped[0], "https://app12.example.com");
    // 12 entries × (21 requests for the listed origin, 8 near-miss header names and one
    // credentialed preflight, + 3 for each of 7 near misses: another domain after it, a prefix,
    // two dots replaced by a letter, a subdomain, another scheme, another port), and 7.
    assert_eq!(matrix.cases.len(), 12 * (21 + 8 + 1 + 7 * 3) + 7);
    let near_headers = matrix
        .cases
        .iter()
        .filter(|c| {
            c.purpose == Purpose::RefusedHeader && c.request.origin == "https://app0.example.com"
        })
        .count();
    assert_eq!(near_headers, 1 + MAX_HEADER_NEAR_MISSES);
    let methods = matrix
        .cases
        .iter()
        .filter(|c| c.purpose == Purpose::Method && c.request.origin == "https://app0.example.com")
        .count();
    // And the first again, with credentials.
    assert_eq!(methods, MAX_METHODS + 1);
}

#[test]
fn matrix_for_wildcards_and_ports() {
    let m = matrix(
        &policy(
            r#"
            allow_origins = ["*"]
            allow_methods = ["*"]
            allow_headers = ["*"]
            "#,
        ),
        URL,
        None,
    )
    .unwrap();
    assert_eq!(origins(&m), ["null", UNRELATED_ORIGIN]);
    // With `*`, the unrelated origin is an allowed one and gets everything, a logged-in user's
    // preflighted PUT last (the policy allows no credentials).
    let methods: Vec<String> = m
        .cases
        .iter()
        .map(|c| format!("{} {}", c.request.method, c.request.credentials.as_str()))
        .collect();
    assert_eq!(
        methods,
        [
            "GET omit",
            "GET include",
            "PUT omit",
            "GET omit",
            "GET include",
            "PUT omit",
            "PATCH omit",
            "DELETE omit",
            "CROSSGATE omit",
            "GET omit",
            "GET omit",
            "PUT include"
        ]
    );
    assert_eq!(m.cases[3].origin_note, "an unrelated origin (allowed by *)");

    let m = matrix(
        &policy(r#"allow_origins = ["https://*.example.com:8443", "http://127.0.0.1:8001"]"#),
        URL,
        None,
    )
    .unwrap();
    let all = origins(&m);
    for expected in [
        "https://sub.example.com:8443",
        "https://deep.sub.example.com:8443",
        "https://example.com:8443",
        "https://sub.example.com:8444",
        "http://sub.example.com:8443",
        "http://127.0.0.1:8001",
        "http://127.0.0.1:8002",
        "https://127.0.0.1:8001",
        "http://127.0.0.1.crossgate-evil.example:8001",
    ] {
        assert!(all.contains(&expected), "{expected} in {all:?}");
    }
    // `evil-127.0.0.1` is not a host a browser sends.
    assert!(!all.iter().any(|o| o.contains("evil-127")), "{all:?}");

    let error = matrix(&policy(EXAMPLE), "ftp://x/", None).unwrap_err();
    assert_eq!(
        error.to_string(),
        "\"ftp://x/\": only http and https URLs can be checked"
    );
    assert!(matrix(&policy(EXAMPLE), "not a url", None).is_err());
}

/// The application: 200 with `X-Total` and `X-Internal`, or 404 for `/missing`.
struct App;

impl Transport for App {
    fn send(&mut self, request: &WireRequest) -> Result<WireResponse, TransportError> {
        let status = if request.url.ends_with("/missing") {
            404
        } else {
            200
        };
        Ok(WireResponse {
            status,
            headers: vec![
                ("Content-Type".to_owned(), "application/json".to_owned()),
                ("X-Total".to_owned(), "42".to_owned()),
                ("X-Internal".to_owned(), "1".to_owned()),
            ],
        })
    }
}

/// A server built on the policy's own answers, then changed by `tweak` (request, answer).
struct Tweaked {
    policy: Policy,
    tweak: fn(&WireRequest, &mut WireResponse),
}

impl Transport for Tweaked {
    fn send(&mut self, request: &WireRequest) -> Result<WireResponse, TransportError> {
        let mut answer = PolicyServer {
            policy: &self.policy,
            app: &mut App,
        }
        .send(request)?;
        (self.tweak)(request, &mut answer);
        Ok(answer)
    }
}

/// `(kind, origin, method, credentials)` of every difference found.
fn differences(
    toml: &str,
    tweak: fn(&WireRequest, &mut WireResponse),
) -> Vec<(&'static str, String, String, &'static str)> {
    let p = policy(toml);
    let m = matrix(&p, URL, Some(ERROR_URL)).unwrap();
    let mut server = Tweaked {
        policy: p.clone(),
        tweak,
    };
    let mut found = Vec::new();
    for case in &m.cases {
        let result = run_case(case, &p, Profile::Chromium, &mut server).unwrap();
        for d in result.differences {
            found.push((
                d.kind.id(),
                case.request.origin.clone(),
                case.request.method.clone(),
                case.request.credentials.as_str(),
            ));
        }
    }
    found
}

fn set(headers: &mut Vec<(String, String)>, name: &str, value: Option<&str>) {
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    if let Some(v) = value {
        headers.push((name.to_owned(), v.to_owned()));
    }
}

#[test]
fn the_policy_itself_has_no_difference() {
    assert_eq!(differences(EXAMPLE, |_, _| {}), []);
    let open = r#"
        allow_origins = ["*"]
        allow_methods = ["*"]
        allow_headers = ["*"]
        expose_headers = ["*"]
    "#;
    assert_eq!(differences(open, |_, _| {}), []);
}

#[test]
fn a_server_reflecting_every_origin_with_credentials_allows_the_near_misses() {
    let found = differences(EXAMPLE, |request, answer| {
        let origin = request.header("origin").unwrap_or_default().to_owned();
        set(
            &mut answer.headers,
            "access-control-allow-origin",
            Some(&origin),
        );
        set(
            &mut answer.headers,
            "access-control-allow-credentials",
            Some("true"),
        );
        if request.preflight {
            answer.status = 204;
            for (name, asked) in [
                (
                    "access-control-allow-methods",
                    "access-control-request-method",
                ),
                (
                    "access-control-allow-headers",
                    "access-control-request-headers",
                ),
            ] {
                let asked = request.header(asked).map(str::to_owned);
                set(&mut answer.headers, name, asked.as_deref());
            }
        }
    });
    let allowed: Vec<&str> = found
        .iter()
        .filter(|d| d.0 == "allows-refused")
        .map(|d| d.1.as_str())
        .collect();
    for origin in [
        "https://app.example.com.crossgate-evil.example",
        "https://evilexample.org",
        "https://example.org",
        "null",
        UNRELATED_ORIGIN,
    ] {
        assert!(allowed.contains(&origin), "{origin}: {found:?}");
    }
    // The refused method and header pass its preflight too.
    assert!(
        found.contains(&(
            "allows-refused",
            "https://app.example.com".to_owned(),
            "PATCH".to_owned(),
            "include"
        )),
        "{found:?}"
    );
    assert!(DifferenceKind::AllowsRefused.is_security());
}

#[test]
fn cors_headers_missing_on_errors_refuse_what_the_policy_allows() {
    let found = differences(EXAMPLE, |_, answer| {
        if answer.status >= 400 && answer.status != 403 {
            answer
                .headers
                .retain(|(n, _)| !n.to_ascii_lowercase().starts_with("access-control-"));
        }
    });
    assert!(!found.is_empty());
    assert!(found.iter().all(|d| d.0 == "refuses-allowed"), "{found:?}");
    assert!(found.contains(&(
        "refuses-allowed",
        "https://app.example.com".to_owned(),
        "GET".to_owned(),
        "omit"
    )));
}

#[test]
fn vary_exposed_headers_and_max_age() {
    let found = differences(EXAMPLE, |request, answer| {
        set(&mut answer.headers, "vary", None);
        if request.preflight {
            set(&mut answer.headers, "access-control-max-age", Some("5"));
        } else if answer
            .headers
            .iter()
            .any(|(n, _)| n == "access-control-allow-origin")
        {
            set(
                &mut answer.headers,
                "access-control-expose-headers",
                Some("x-total, x-internal"),
            );
        }
    });
    let kinds: Vec<&str> = found.iter().map(|d| d.0).collect();
    for kind in ["missing-vary-origin", "max-age", "exposes-more"] {
        assert!(kinds.contains(&kind), "{kind}: {found:?}");
    }
    assert!(!kinds.contains(&"allows-refused"), "{found:?}");
}

#[test]
fn a_preflight_letting_a_refused_method_through_is_reported() {
    // The preflight allows every method; the actual answer is the policy's (CORS headers for
    // the allowed origin): the browser sends the refused PATCH, then reads its answer.
    let found = differences(EXAMPLE, |request, answer| {
        if request.preflight && request.header("access-control-request-method") == Some("PATCH") {
            let origin = request.header("origin").unwrap_or_default().to_owned();
            answer.status = 204;
            set(
                &mut answer.headers,
                "access-control-allow-origin",
                Some(&origin),
            );
            set(
                &mut answer.headers,
                "access-control-allow-credentials",
                Some("true"),
            );
            set(
                &mut answer.headers,
                "access-control-allow-methods",
                Some("PATCH"),
            );
        }
    });
    assert!(
        found.contains(&(
            "allows-refused",
            "https://app.example.com".to_owned(),
            "PATCH".to_owned(),
            "include"
        )),
        "{found:?}"
    );
}

#[test]
fn compare_steps() {
    let observed = |verdict| Observed {
        verdict,
        readable_headers: Vec::new(),
        max_age: None,
        vary_origin: None,
        console: None,
    };
    let kinds = |policy, server| -> Vec<&str> {
        compare(&observed(policy), &observed(server))
            .iter()
            .map(|d| d.kind.id())
            .collect()
    };
    let pre = Verdict::Blocked(Step::Preflight);
    let cors = Verdict::Blocked(Step::CorsCheck);
    assert_eq!(kinds(pre, cors), ["sends-refused"]);
    assert_eq!(kinds(cors, pre), ["blocks-earlier"]);
    assert_eq!(kinds(pre, pre), Vec::<&str>::new());
    assert_eq!(kinds(Verdict::Allowed(200), pre), ["refuses-allowed"]);
    assert!(DifferenceKind::SendsRefused.is_security());
    for kind in DifferenceKind::ALL {
        assert_eq!(DifferenceKind::from_id(kind.id()), Some(kind));
    }
    let security: Vec<bool> = DifferenceKind::ALL
        .iter()
        .map(|k| k.is_security())
        .collect();
    assert_eq!(
        security,
        [true, true, true, false, false, false, false, false]
    );
    assert!(!DifferenceKind::RefusesAllowed.is_security());
}

/// Grants `request` whatever it asks: its origin echoed, with credentials when `credentials`,
/// and a preflight's method and headers allowed.
fn grant(request: &WireRequest, answer: &mut WireResponse, credentials: bool) {
    let origin = request.header("origin").unwrap_or_default().to_owned();
    set(
        &mut answer.headers,
        "access-control-allow-origin",
        Some(&origin),
    );
    if credentials {
        set(
            &mut answer.headers,
            "access-control-allow-credentials",
            Some("true"),
        );
    }
    if request.preflight {
        answer.status = 204;
        for (name, asked) in [
            (
                "access-control-allow-methods",
                "access-control-request-method",
            ),
            (
                "access-control-allow-headers",
                "access-control-request-headers",
            ),
        ] {
            let asked = request.header(asked).map(str::to_owned);
            set(&mut answer.headers, name, asked.as_deref());
        }
    }
}

#[test]
fn logged_in_sends_the_cookie_with_credentialed_requests_to_the_host_only() {
    struct Record(Vec<WireRequest>);
    impl Transport for Record {
        fn send(&mut self, request: &WireRequest) -> Result<WireResponse, TransportError> {
            self.0.push(request.clone());
            Ok(WireResponse::default())
        }
    }
    let wire = |url: &str, preflight: bool| WireRequest {
        method: "PUT".to_owned(),
        url: url.to_owned(),
        headers: vec![("Origin".to_owned(), "https://app.example.com".to_owned())],
        body: None,
        preflight,
    };
    let request = |credentials| Request {
        origin: "https://app.example.com".to_owned(),
        url: URL.to_owned(),
        method: "PUT".to_owned(),
        headers: Vec::new(),
        credentials,
        body: None,
    };
    let mut record = Record(Vec::new());
    let mut logged_in = LoggedIn::new(&mut record, &request(Credentials::Include));
    for (url, preflight) in [
        (URL, true),
        (URL, false),
        ("https://API.example.com:8443/other", false),
        ("https://elsewhere.example.com/items", false),
    ] {
        logged_in.send(&wire(url, preflight)).unwrap();
    }
    let mut logged_out = LoggedIn::new(&mut record, &request(Credentials::Omit));
    logged_out.send(&wire(URL, false)).unwrap();
    let cookies: Vec<Option<&str>> = record.0.iter().map(|r| r.header("cookie")).collect();
    assert_eq!(
        cookies,
        [None, Some(COOKIE), Some(COOKIE), None, None],
        "the preflight, the request, the same host on another port, another host, omit"
    );
}

#[test]
fn a_server_deciding_by_cookie_is_seen_as_a_logged_in_user_sees_it() {
    // Starlette's CORSMiddleware with allow_origins=["*"] and allow_credentials=True: `*` with
    // credentials (which no browser accepts) without a cookie, the origin echoed with one.
    let found = differences(
        r#"
        allow_origins = ["*"]
        allow_methods = ["PUT"]
        "#,
        |request, answer| {
            set(
                &mut answer.headers,
                "access-control-allow-credentials",
                Some("true"),
            );
            if request.header("cookie").is_some() {
                grant(request, answer, true);
            }
        },
    );
    for origin in ["null", UNRELATED_ORIGIN] {
        assert!(
            found.contains(&(
                "allows-refused",
                origin.to_owned(),
                "GET".to_owned(),
                "include"
            )),
            "{origin}: {found:?}"
        );
    }
    assert!(
        found
            .iter()
            .all(|d| d.3 == "include" && d.0 == "allows-refused"),
        "{found:?}"
    );
}

/// Whether `origin` matches `pattern` read as an unanchored-free regex whose only special
/// character is `.` (any character): `https://app.example.com` written into a regex unescaped.
fn unescaped_dots_match(pattern: &str, origin: &str) -> bool {
    pattern.len() == origin.len()
        && pattern
            .bytes()
            .zip(origin.bytes())
            .all(|(p, o)| p == b'.' || p == o)
}

#[test]
fn a_server_matching_with_unescaped_dots_or_subdomains_lets_near_misses_in() {
    let toml = r#"
        allow_origins = ["https://app.example.com", "https://*.example.org"]
        allow_methods = ["PUT"]
        allow_credentials = true
    "#;
    // `https://app.example.com` and `https://.*\.example.org` as regexes, dots unescaped.
    let found = differences(toml, |request, answer| {
        let origin = request.header("origin").unwrap_or_default();
        let sloppy = unescaped_dots_match("https://app.example.com", origin)
            || origin
                .strip_prefix("https://")
                .and_then(|h| h.split_once('.'))
                .is_some_and(|(_, domain)| unescaped_dots_match("example.org", domain));
        if sloppy {
            grant(request, answer, true);
        }
    });
    let allowed: Vec<&str> = found
        .iter()
        .filter(|d| d.0 == "allows-refused")
        .map(|d| d.1.as_str())
        .collect();
    for origin in [
        "https://appxexample.com",
        "https://app.examplexcom",
        "https://sub.examplexorg",
    ] {
        assert!(allowed.contains(&origin), "{origin}: {found:?}");
    }
    assert!(found.iter().all(|d| d.0 == "allows-refused"), "{found:?}");

    // An exact origin taken for its subdomains too.
    let found = differences(toml, |request, answer| {
        let origin = request.header("origin").unwrap_or_default();
        if origin.ends_with(".app.example.com") {
            grant(request, answer, true);
        }
    });
    assert!(
        found.contains(&(
            "allows-refused",
            "https://sub.app.example.com".to_owned(),
            "GET".to_owned(),
            "include"
        )),
        "{found:?}"
    );
}

#[test]
fn a_preflight_allowing_credentials_the_policy_refuses_is_reported() {
    // No credentials in the policy; the server's preflight says `true` all the same, and so
    // does its answer: a logged-in user's PUT is sent with the cookie, and read.
    let found = differences(
        r#"
        allow_origins = ["https://app.example.com"]
        allow_methods = ["PUT"]
        "#,
        |request, answer| {
            let allowed = answer
                .headers
                .iter()
                .any(|(n, _)| n == "access-control-allow-origin");
            if allowed
                || (request.preflight
                    && request.header("origin") == Some("https://app.example.com"))
            {
                grant(request, answer, true);
            }
        },
    );
    assert!(
        found.contains(&(
            "allows-refused",
            "https://app.example.com".to_owned(),
            "PUT".to_owned(),
            "include"
        )),
        "{found:?}"
    );

    // The preflight alone says `true`: the PUT is sent with the cookie, its answer unreadable.
    let found = differences(
        r#"
        allow_origins = ["https://app.example.com"]
        allow_methods = ["PUT"]
        "#,
        |request, answer| {
            if request.preflight && request.header("origin") == Some("https://app.example.com") {
                grant(request, answer, true);
            }
        },
    );
    assert!(
        found.contains(&(
            "sends-refused",
            "https://app.example.com".to_owned(),
            "PUT".to_owned(),
            "include"
        )),
        "{found:?}"
    );
}

/// Grants a preflight from `https://app.example.com` whose every requested header `matches`.
fn grant_headers(request: &WireRequest, answer: &mut WireResponse, matches: fn(&str) -> bool) {
    let Some(asked) = request.header("access-control-request-headers") else {
        return;
    };
    let from_app = request.header("origin") == Some("https://app.example.com");
    if from_app && asked.split(',').all(|n| matches(n.trim())) {
        grant(request, answer, true);
    }
}

#[test]
fn a_server_matching_request_headers_loosely_is_reported() {
    let policy = r#"
        allow_origins = ["https://app.example.com"]
        allow_headers = ["x-id"]
        allow_credentials = true
    "#;
    let refused = |tweak| -> Vec<String> {
        differences(policy, tweak)
            .into_iter()
            .map(|d| format!("{} {} {} {}", d.0, d.1, d.2, d.3))
            .collect()
    };
    let one = ["allows-refused https://app.example.com GET include"];
    // Any name starting with an allowed one (`x-id-x`, as `x-idp-token`).
    assert_eq!(
        refused(|r, a| grant_headers(r, a, |n| n.starts_with("x-id"))),
        one
    );
    // Any name an allowed one starts with (`x-i`).
    assert_eq!(
        refused(|r, a| grant_headers(r, a, |n| "x-id".starts_with(n))),
        one
    );
    // Any name containing an allowed one (`x-id-x`, `x-x-id`).
    assert_eq!(
        refused(|r, a| grant_headers(r, a, |n| n.contains("x-id"))),
        [one[0], one[0]]
    );
}
