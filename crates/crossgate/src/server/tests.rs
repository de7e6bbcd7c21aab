//! Server decisions, rendered as the response a client would see.

use expect_test::{Expect, expect};
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::Policy;
use crate::server::{Action, MAX_REQUEST_HEADERS, MAX_REQUEST_HEADERS_BYTES, RequestKind};

const POLICY: &str = r#"
allow_origins = ["https://app.example.com", "https://*.example.org", "http://localhost:*"]
allow_methods = ["GET", "PUT", "PATCH"]
allow_headers = ["content-type", "x-request-id"]
expose_headers = ["x-total"]
allow_credentials = true
max_age = 600
"#;

fn policy(toml: &str) -> Policy {
    Policy::from_toml(toml).unwrap()
}

fn request(headers: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

/// Decides and renders: kind, verdict, action, then the response headers in a stable order.
fn render(
    policy: &Policy,
    method: &str,
    headers: &[(&str, &str)],
    response: &[(&str, &str)],
) -> String {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let decision = policy.decide(&method, &request(headers));
    let verdict = match decision.rejection() {
        None => "allowed".to_owned(),
        Some(r) => format!("rejected {} ({r})", r.code()),
    };
    let action = match decision.action() {
        Action::Forward => "forward".to_owned(),
        Action::Respond(status) => format!("respond {}", status.as_u16()),
    };
    let mut out = format!("{} {verdict} → {action}\n", decision.kind().as_str());
    let mut map = request(response);
    decision.apply(&mut map);
    let mut lines: Vec<String> = map
        .iter()
        .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap()))
        .collect();
    lines.sort();
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
    out
}

fn check(policy_toml: &str, method: &str, headers: &[(&str, &str)], expect: Expect) {
    expect.assert_eq(&render(&policy(policy_toml), method, headers, &[]));
}

#[test]
fn no_origin_is_not_cors_but_varies() {
    check(
        POLICY,
        "GET",
        &[],
        expect![[r#"
        not-cors allowed → forward
        vary: Origin
    "#]],
    );
    check(
        POLICY,
        "OPTIONS",
        &[("access-control-request-method", "PUT")],
        expect![[r#"
        not-cors allowed → forward
        vary: Origin
    "#]],
    );
    check(
        "allow_origins = [\"*\"]",
        "GET",
        &[],
        expect![[r#"
        not-cors allowed → forward
    "#]],
    );
}

#[test]
fn actual_requests() {
    check(
        POLICY,
        "GET",
        &[("origin", "https://app.example.com")],
        expect![[r#"
        actual allowed → forward
        access-control-allow-credentials: true
        access-control-allow-origin: https://app.example.com
        access-control-expose-headers: x-total
        vary: Origin
    "#]],
    );
    check(
        POLICY,
        "POST",
        &[("origin", "https://deep.tenant.example.org")],
        expect![[r#"
        actual allowed → forward
        access-control-allow-credentials: true
        access-control-allow-origin: https://deep.tenant.example.org
        access-control-expose-headers: x-total
        vary: Origin
    "#]],
    );
    check(
        POLICY,
        "DELETE",
        &[("origin", "https://evil.example")],
        expect![[r#"
        actual rejected origin-not-allowed (origin not allowed) → forward
        vary: Origin
    "#]],
    );
    check(
        POLICY,
        "GET",
        &[("origin", "null")],
        expect![[r#"
        actual rejected origin-not-allowed (origin not allowed) → forward
        vary: Origin
    "#]],
    );
    check(
        POLICY,
        "GET",
        &[
            ("origin", "https://app.example.com"),
            ("origin", "https://app.example.com"),
        ],
        expect![[r#"
            actual rejected malformed-request-header (malformed origin: several Origin headers) → forward
            vary: Origin
        "#]],
    );
    check(
        "allow_origins = [\"*\"]\nexpose_headers = [\"*\"]",
        "GET",
        &[("origin", "https://any.example")],
        expect![[r#"
        actual allowed → forward
        access-control-allow-origin: *
        access-control-expose-headers: *
    "#]],
    );
}

#[test]
fn options_without_request_method_is_an_actual_request() {
    check(
        POLICY,
        "OPTIONS",
        &[("origin", "https://app.example.com")],
        expect![[r#"
        actual allowed → forward
        access-control-allow-credentials: true
        access-control-allow-origin: https://app.example.com
        access-control-expose-headers: x-total
        vary: Origin
    "#]],
    );
}

#[test]
fn preflights() {
    let cases = [
        (
            "https://app.example.com",
            "PUT",
            "content-type,x-request-id",
        ),
        (
            "http://localhost:5173",
            "GET",
            " Content-Type ,, X-Request-ID ",
        ),
        ("https://app.example.com", "put", ""),
        ("https://evil.example", "PUT", ""),
        ("https://app.example.com", "DELETE", ""),
        ("https://app.example.com", "PUT", "content-type, x-secret"),
        ("https://app.example.com", "PU T", ""),
        ("https://app.example.com", "PUT", "content-type; x"),
    ];
    let p = policy(POLICY);
    let mut out = String::new();
    for (origin, method, headers) in cases {
        let request = [
            ("origin", origin),
            ("access-control-request-method", method),
            ("access-control-request-headers", headers),
        ];
        out.push_str(&format!("# {origin} {method} [{headers}]\n"));
        out.push_str(&render(&p, "OPTIONS", &request, &[]));
    }
    expect![[r##"
        # https://app.example.com PUT [content-type,x-request-id]
        preflight allowed → respond 204
        access-control-allow-credentials: true
        access-control-allow-headers: content-type, x-request-id
        access-control-allow-methods: PUT, PATCH
        access-control-allow-origin: https://app.example.com
        access-control-max-age: 600
        vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers
        # http://localhost:5173 GET [ Content-Type ,, X-Request-ID ]
        preflight allowed → respond 204
        access-control-allow-credentials: true
        access-control-allow-headers: content-type, x-request-id
        access-control-allow-methods: PUT, PATCH
        access-control-allow-origin: http://localhost:5173
        access-control-max-age: 600
        vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers
        # https://app.example.com put []
        preflight rejected method-not-allowed (method "put" not allowed) → respond 403
        vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers
        # https://evil.example PUT []
        preflight rejected origin-not-allowed (origin not allowed) → respond 403
        vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers
        # https://app.example.com DELETE []
        preflight rejected method-not-allowed (method "DELETE" not allowed) → respond 403
        vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers
        # https://app.example.com PUT [content-type, x-secret]
        preflight rejected header-not-allowed (header "x-secret" not allowed) → respond 403
        vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers
        # https://app.example.com PU T []
        preflight rejected malformed-request-header (malformed access-control-request-method: not a method token) → respond 403
        vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers
        # https://app.example.com PUT [content-type; x]
        preflight rejected malformed-request-header (malformed access-control-request-headers: not a list of header names) → respond 403
        vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers
    "##]]
    .assert_eq(&out);
}

#[test]
fn preflight_with_several_request_header_lines() {
    let headers = [
        ("origin", "https://app.example.com"),
        ("access-control-request-method", "PATCH"),
        ("access-control-request-headers", "content-type"),
        ("access-control-request-headers", "x-request-id"),
    ];
    let p = policy(POLICY);
    assert!(p.decide(&Method::OPTIONS, &request(&headers)).is_allowed());
    let mut with_bad = headers.to_vec();
    with_bad.push(("access-control-request-headers", "x-nope"));
    let d = p.decide(&Method::OPTIONS, &request(&with_bad));
    assert_eq!(
        d.rejection().unwrap().to_string(),
        "header \"x-nope\" not allowed"
    );
    let twice = [
        ("origin", "https://app.example.com"),
        ("access-control-request-method", "PUT"),
        ("access-control-request-method", "PUT"),
    ];
    assert_eq!(
        p.decide(&Method::OPTIONS, &request(&twice))
            .rejection()
            .unwrap()
            .to_string(),
        "malformed access-control-request-method: several values"
    );
}

#[test]
fn wildcard_methods_and_headers_reflect_the_request() {
    let p = "allow_origins = [\"https://a.example\"]\nallow_methods = [\"*\"]\nallow_headers = [\"*\"]\nallow_credentials = true";
    check(
        p,
        "OPTIONS",
        &[
            ("origin", "https://a.example"),
            ("access-control-request-method", "PURGE"),
            ("access-control-request-headers", "authorization,x-anything"),
        ],
        expect![[r#"
            preflight allowed → respond 204
            access-control-allow-credentials: true
            access-control-allow-headers: authorization,x-anything
            access-control-allow-methods: PURGE
            access-control-allow-origin: https://a.example
            vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers
        "#]],
    );
    check(
        p,
        "OPTIONS",
        &[
            ("origin", "https://a.example"),
            ("access-control-request-method", "PUT"),
            ("access-control-request-headers", "x-a"),
            ("access-control-request-headers", "x-b"),
        ],
        expect![[r#"
            preflight allowed → respond 204
            access-control-allow-credentials: true
            access-control-allow-headers: x-a,x-b
            access-control-allow-methods: PUT
            access-control-allow-origin: https://a.example
            vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers
        "#]],
    );
}

#[test]
fn safelisted_methods_always_pass_the_preflight_method_check() {
    let p = policy("allow_origins = [\"https://a.example\"]\nallow_headers = [\"x-a\"]");
    for m in ["GET", "HEAD", "POST"] {
        let d = p.decide(
            &Method::OPTIONS,
            &request(&[
                ("origin", "https://a.example"),
                ("access-control-request-method", m),
                ("access-control-request-headers", "x-a"),
            ]),
        );
        assert!(d.is_allowed(), "{m}");
        assert!(
            d.headers()
                .all(|(n, _)| n != "access-control-allow-methods"),
            "nothing to list"
        );
    }
}

#[test]
fn block_disallowed_origins() {
    let p = "allow_origins = [\"https://a.example\"]\nblock_disallowed_origins = true";
    check(
        p,
        "POST",
        &[("origin", "https://evil.example")],
        expect![[r#"
        actual rejected origin-not-allowed (origin not allowed) → respond 403
        vary: Origin
    "#]],
    );
    check(
        p,
        "POST",
        &[("origin", "https://a.example")],
        expect![[r#"
        actual allowed → forward
        access-control-allow-origin: https://a.example
        vary: Origin
    "#]],
    );
    // The page's own form POST carries its Origin and `Sec-Fetch-Site: same-origin`.
    check(
        p,
        "POST",
        &[
            ("origin", "https://self.example"),
            ("sec-fetch-site", "same-origin"),
        ],
        expect![[r#"
        actual rejected origin-not-allowed (origin not allowed) → forward
        vary: Origin
    "#]],
    );
    check(
        p,
        "POST",
        &[
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ],
        expect![[r#"
        actual rejected origin-not-allowed (origin not allowed) → respond 403
        vary: Origin
    "#]],
    );
    check(
        p,
        "GET",
        &[],
        expect![[r#"
        not-cors allowed → forward
        vary: Origin
    "#]],
    );
}

#[test]
fn vary_is_merged_never_duplicated() {
    let p = policy(POLICY);
    let origin = [("origin", "https://app.example.com")];
    let vary = |response: &[(&str, &str)]| {
        let out = render(&p, "GET", &origin, response);
        out.lines()
            .filter(|l| l.starts_with("vary:"))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    assert_eq!(vary(&[]), "vary: Origin");
    assert_eq!(
        vary(&[("vary", "Accept-Encoding")]),
        "vary: Accept-Encoding, Origin"
    );
    assert_eq!(
        vary(&[("vary", "accept-encoding, origin")]),
        "vary: accept-encoding, origin"
    );
    assert_eq!(vary(&[("vary", "ORIGIN")]), "vary: ORIGIN");
    assert_eq!(vary(&[("vary", "*")]), "vary: *");
    assert_eq!(
        vary(&[("vary", "Accept"), ("vary", "Cookie")]),
        "vary: Accept, Cookie, Origin"
    );
    assert_eq!(
        vary(&[("vary", "Accept"), ("vary", "Origin")]),
        "vary: Accept | vary: Origin"
    );
    let preflight = render(
        &p,
        "OPTIONS",
        &[
            ("origin", "https://app.example.com"),
            ("access-control-request-method", "PUT"),
        ],
        &[("vary", "Origin")],
    );
    assert!(
        preflight.contains(
            "vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers\n"
        ),
        "{preflight}"
    );
}

#[test]
fn apply_replaces_cors_headers_the_application_set() {
    let out = render(
        &policy(POLICY),
        "GET",
        &[("origin", "https://app.example.com")],
        &[("access-control-allow-origin", "*"), ("x-app", "1")],
    );
    assert!(
        out.contains("access-control-allow-origin: https://app.example.com\n"),
        "{out}"
    );
    assert!(!out.contains("access-control-allow-origin: *"), "{out}");
    assert!(out.contains("x-app: 1\n"), "{out}");
}

#[test]
fn hostile_request_headers_are_bounded() {
    let p = policy(
        "allow_origins = [\"https://a.example\"]\nallow_methods = [\"PUT\"]\nallow_headers = [\"*\"]",
    );
    let base = |acrh: String| {
        let mut m = request(&[
            ("origin", "https://a.example"),
            ("access-control-request-method", "PUT"),
        ]);
        m.insert(
            "access-control-request-headers",
            HeaderValue::from_str(&acrh).unwrap(),
        );
        m
    };
    // A megabyte of commas is refused before it is read; the most a browser could send is read.
    let commas = base(",".repeat(1 << 20));
    let d = p.decide(&Method::OPTIONS, &commas);
    assert_eq!(
        d.rejection().unwrap().to_string(),
        "malformed access-control-request-headers: too long"
    );
    let commas = base(",".repeat(MAX_REQUEST_HEADERS_BYTES));
    assert!(
        p.decide(&Method::OPTIONS, &commas).is_allowed(),
        "no element at all"
    );
    let mut split = base(",".repeat(MAX_REQUEST_HEADERS_BYTES / 2));
    split.append(
        "access-control-request-headers",
        HeaderValue::from_str(&",".repeat(MAX_REQUEST_HEADERS_BYTES / 2 + 1)).unwrap(),
    );
    assert!(
        !p.decide(&Method::OPTIONS, &split).is_allowed(),
        "the bound covers every line"
    );
    // More names than a browser ever sends.
    let many = base(
        (0..=MAX_REQUEST_HEADERS)
            .map(|i| format!("x-{i}"))
            .collect::<Vec<_>>()
            .join(","),
    );
    let d = p.decide(&Method::OPTIONS, &many);
    assert_eq!(
        d.rejection().unwrap().to_string(),
        "malformed access-control-request-headers: too many header names"
    );
    let exactly = base(
        (0..MAX_REQUEST_HEADERS)
            .map(|i| format!("x-{i}"))
            .collect::<Vec<_>>()
            .join(","),
    );
    assert!(p.decide(&Method::OPTIONS, &exactly).is_allowed());
    // A long name is cut in the rejection, never copied whole.
    let strict = policy("allow_origins = [\"https://a.example\"]\nallow_methods = [\"PUT\"]");
    let long = base("x".repeat(10_000));
    let d = strict.decide(&Method::OPTIONS, &long);
    let rejection = d.rejection().unwrap().to_string();
    assert_eq!(
        rejection,
        format!("header \"{}…\" not allowed", "x".repeat(64))
    );
}

#[test]
fn kinds() {
    let p = policy(POLICY);
    let kind = |m: Method, h: &[(&str, &str)]| p.decide(&m, &request(h)).kind();
    assert_eq!(kind(Method::GET, &[]), RequestKind::NotCors);
    assert_eq!(kind(Method::OPTIONS, &[]), RequestKind::NotCors);
    assert_eq!(
        kind(Method::OPTIONS, &[("origin", "https://x.example")]),
        RequestKind::Actual
    );
    assert_eq!(
        kind(
            Method::OPTIONS,
            &[
                ("origin", "https://x.example"),
                ("access-control-request-method", "PUT")
            ]
        ),
        RequestKind::Preflight
    );
    assert_eq!(
        kind(
            Method::PUT,
            &[
                ("origin", "https://x.example"),
                ("access-control-request-method", "PUT")
            ]
        ),
        RequestKind::Actual
    );
}

/// Found in review: the application's own CORS headers used to survive on rejected requests, so an
/// app-wide `Access-Control-Allow-Origin: *` opened what the policy refused.
#[test]
fn the_policy_is_the_only_authority_on_cors_headers() {
    let app = [
        ("access-control-allow-origin", "*"),
        ("access-control-allow-credentials", "true"),
        ("access-control-expose-headers", "x-secret"),
        ("access-control-allow-private-network", "true"),
        ("x-app", "1"),
    ];
    let p = policy(POLICY);
    let rejected = render(&p, "GET", &[("origin", "https://evil.example")], &app);
    assert_eq!(
        rejected,
        "actual rejected origin-not-allowed (origin not allowed) → forward\nvary: Origin\nx-app: 1\n"
    );
    let not_cors = render(&p, "GET", &[], &app);
    assert_eq!(
        not_cors,
        "not-cors allowed → forward\nvary: Origin\nx-app: 1\n"
    );
    let no_credentials = policy("allow_origins = [\"https://*.example.org\"]");
    let allowed = render(
        &no_credentials,
        "GET",
        &[("origin", "https://a.example.org")],
        &app,
    );
    assert_eq!(
        allowed,
        "actual allowed → forward\naccess-control-allow-origin: https://a.example.org\nvary: Origin\nx-app: 1\n",
        "the app's credentials and exposed headers are not the policy's"
    );
}

/// Browsers compare methods byte for byte (recorded from Chromium 156: `method-lower-*` in
/// `scenarios/matrix.chromium.json`): `fetch(url, {method: "patch"})` sends `patch`, and `PATCH`
/// in `Access-Control-Allow-Methods` does not let it through, so the server refuses it too.
#[test]
fn preflight_method_case_is_exact() {
    let p = policy(POLICY);
    let d = p.decide(
        &Method::OPTIONS,
        &request(&[
            ("origin", "https://app.example.com"),
            ("access-control-request-method", "patch"),
        ]),
    );
    assert_eq!(
        d.rejection().unwrap().to_string(),
        "method \"patch\" not allowed"
    );
    let lower =
        policy("allow_origins = [\"https://app.example.com\"]\nallow_methods = [\"patch\"]");
    let d = lower.decide(
        &Method::OPTIONS,
        &request(&[
            ("origin", "https://app.example.com"),
            ("access-control-request-method", "patch"),
        ]),
    );
    assert!(d.is_allowed());
}

#[test]
fn vary_merge_drops_empty_elements() {
    let out = render(
        &policy(POLICY),
        "GET",
        &[("origin", "https://app.example.com")],
        &[("vary", "Accept, ")],
    );
    assert!(out.contains("vary: Accept, Origin\n"), "{out}");
}

#[test]
fn several_origins_under_a_star_policy_vary_on_origin() {
    // A `*` policy needs no `Vary` for its own answer, but refusing two `Origin` headers depends
    // on `Origin`: without `Vary`, a shared cache would serve the refusal to every origin.
    check(
        r#"allow_origins = ["*"]"#,
        "GET",
        &[
            ("origin", "https://a.example"),
            ("origin", "https://b.example"),
        ],
        expect![[r#"
            actual rejected malformed-request-header (malformed origin: several Origin headers) → forward
            vary: Origin
        "#]],
    );
    check(
        r#"allow_origins = ["*"]"#,
        "GET",
        &[("origin", "https://a.example")],
        expect![[r#"
            actual allowed → forward
            access-control-allow-origin: *
        "#]],
    );
}

#[test]
fn apply_reports_the_applications_own_cors_headers() {
    let policy = policy(POLICY);
    let decision = policy.decide(
        &Method::GET,
        &request(&[("origin", "https://app.example.com")]),
    );
    let mut clean = request(&[("content-type", "text/plain"), ("vary", "accept")]);
    assert!(!decision.apply(&mut clean).replaced_cors_headers());
    let mut dirty = request(&[
        ("access-control-allow-origin", "*"),
        ("access-control-max-age", "1"),
    ]);
    assert!(decision.apply(&mut dirty).replaced_cors_headers());
    assert_eq!(
        dirty["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert!(!dirty.contains_key("access-control-max-age"));
}

/// The one-pass reader of `Access-Control-Request-Headers` against the definition it implements:
/// split on commas, trim optional whitespace, skip empty elements, every other element a token.
mod request_header_list {
    use proptest::prelude::*;

    use super::*;
    use crate::fetch;
    use crate::server::check_request_headers;

    fn reference(lines: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, ()> {
        let mut names = Vec::new();
        for line in lines {
            for element in line.split(|&b| b == b',') {
                let name = fetch::trim_ows(element);
                if name.is_empty() {
                    continue;
                }
                if !fetch::is_token(name) {
                    return Err(());
                }
                names.push(name.to_vec());
            }
        }
        Ok(names)
    }

    proptest! {
        #[test]
        fn reads_what_the_definition_reads(
            lines in proptest::collection::vec(
                proptest::collection::vec(
                    prop_oneof![Just(b'a'), Just(b'B'), Just(b'-'), Just(b','), Just(b' '), Just(b'\t'), Just(b';'), Just(b'"')],
                    0..24,
                ),
                1..3,
            )
        ) {
            let mut map = HeaderMap::new();
            for line in &lines {
                map.append("access-control-request-headers", HeaderValue::from_bytes(line).unwrap());
            }
            let mut seen = Vec::new();
            let read = check_request_headers(&map, |name| {
                seen.push(name.to_vec());
                true
            });
            match reference(&lines) {
                Ok(names) => {
                    prop_assert_eq!(read.ok(), Some(names.len()));
                    prop_assert_eq!(seen, names);
                }
                Err(()) => prop_assert!(read.is_err(), "{:?} read as {:?}", lines, seen),
            }
        }
    }
}

/// The browsers' fast path for `Access-Control-Request-Headers` (a sorted, lower-case subset of
/// the policy's names) and the general reader agree on every line: whatever the names, their
/// order, case and separators, a preflight passes exactly when each name is allowed.
mod request_header_fast_path {
    use proptest::prelude::*;

    use super::*;

    const ALLOWED: [&str; 6] = ["a", "a-b", "ab", "content-type", "x", "x-request-id"];
    // Near misses: prefixes and extensions of allowed names, and two allowed names run together.
    const OTHERS: [&str; 7] = [
        "b",
        "x-requ",
        "x-request-id-2",
        "content",
        "A-B",
        "a-content-type",
        "ab-x",
    ];

    proptest! {
        #[test]
        fn agrees_with_the_definition(
            picks in proptest::collection::vec((0..ALLOWED.len() + OTHERS.len(), any::<bool>()), 0..6),
            separators in proptest::collection::vec(prop_oneof![Just(","), Just(", "), Just(",,"), Just(" , ")], 6),
            sort in any::<bool>(),
            trailing in any::<bool>(),
        ) {
            let mut names: Vec<String> = picks
                .iter()
                .map(|&(i, upper)| {
                    let name = ALLOWED.get(i).copied().unwrap_or_else(|| OTHERS[i - ALLOWED.len()]);
                    if upper { name.to_ascii_uppercase() } else { name.to_owned() }
                })
                .collect();
            if sort {
                names.sort();
                names.dedup();
            }
            let mut line = String::new();
            for (i, name) in names.iter().enumerate() {
                if i > 0 {
                    line.push_str(separators[i]);
                }
                line.push_str(name);
            }
            if trailing {
                line.push(',');
            }
            let expected = names
                .iter()
                .all(|n| ALLOWED.iter().any(|a| a.eq_ignore_ascii_case(n)));
            let toml = format!(
                "allow_origins = [\"https://a.example\"]\nallow_methods = [\"PUT\"]\nallow_headers = {:?}",
                ALLOWED
            );
            let p = policy(&toml);
            let d = p.decide(
                &Method::OPTIONS,
                &request(&[
                    ("origin", "https://a.example"),
                    ("access-control-request-method", "PUT"),
                    ("access-control-request-headers", &line),
                ]),
            );
            prop_assert_eq!(d.is_allowed(), expected, "{:?}: {:?}", line, d.rejection());
        }
    }
}
