//! The matrix (its near misses, determinism, size) and the comparison, against servers in
//! process: the policy itself, and servers that get it wrong the classic ways.

use expect_test::expect;

use super::*;

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
        http://app.example.com  near miss of https://app.example.com: another scheme
        https://app.example.com:8443  near miss of https://app.example.com: another port
        https://sub.example.org  matches https://*.example.org (one label)
        https://deep.sub.example.org  matches https://*.example.org (two labels)
        https://example.org  near miss of https://*.example.org: the bare domain
        https://evilexample.org  near miss of https://*.example.org: a prefix glued to the domain
        https://example.org.crossgate-evil.example  near miss of https://*.example.org: another domain after it
        http://sub.example.org  near miss of https://*.example.org: another scheme
        https://sub.example.org:8443  near miss of https://*.example.org: another port
        http://localhost:3000  matches http://localhost:*
        http://localhost:5173  matches http://localhost:* (another port)
        http://localhost.crossgate-evil.example:3000  near miss of http://localhost:*: another domain after it
        http://evil-localhost:3000  near miss of http://localhost:*: a prefix glued to it
        https://localhost:3000  near miss of http://localhost:*: another scheme
        null  null (sandboxed iframes, data: and file: pages)
        https://crossgate-evil.example  an unrelated origin
    "#]]
    .assert_eq(&listed.concat());
    assert_eq!(matrix.origins, 19);
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
    assert_eq!(matrix.cases.len(), 79);
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
    // 12 entries × (21 requests for the listed origin + 3 for each of 4 near misses), and 7.
    assert_eq!(matrix.cases.len(), 12 * (21 + 4 * 3) + 7);
    let methods = matrix
        .cases
        .iter()
        .filter(|c| c.purpose == Purpose::Method && c.request.origin == "https://app0.example.com")
        .count();
    assert_eq!(methods, MAX_METHODS);
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
    let methods: Vec<&str> = m.cases.iter().map(|c| c.request.method.as_str()).collect();
    assert_eq!(methods, ["GET", "GET", "PUT", "GET", "GET", "PUT"]);

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
