//! Policy validation, one table row or snapshot per rule.

use expect_test::{Expect, expect};

use super::*;

/// Validates `toml` and renders the outcome: every problem, one per line, or `ok` and the
/// warnings.
fn check(toml: &str, expect: Expect) {
    let rendered = match Policy::from_toml(toml) {
        Ok(p) => {
            let mut s = "ok\n".to_owned();
            for w in p.warnings() {
                s.push_str(&format!("{w}\n"));
            }
            s
        }
        Err(e) => e.problems().iter().map(|p| format!("{p}\n")).collect(),
    };
    expect.assert_eq(&rendered);
}

/// The error codes of a policy, in order (empty when valid).
fn codes(toml: &str) -> Vec<&'static str> {
    match Policy::from_toml(toml) {
        Ok(_) => Vec::new(),
        Err(e) => e.errors().map(|p| p.kind.code()).collect(),
    }
}

#[test]
fn a_good_policy_is_valid_and_silent() {
    check(
        r#"
        allow_origins = ["https://app.example.com", "https://*.example.org", "http://localhost:*"]
        allow_methods = ["GET", "PUT", "DELETE", "PATCH"]
        allow_headers = ["Content-Type", "X-Request-Id", "authorization"]
        expose_headers = ["x-request-id"]
        allow_credentials = true
        max_age = 600
        block_disallowed_origins = true
        "#,
        expect![[r#"
            ok
        "#]],
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    check(
        r#"
        allow_origins = ["*", "null", "https://example.com/", "http://app.example.com", "https://*.co.uk"]
        allow_methods = ["get", "TRACE", "PUT,PATCH"]
        allow_headers = ["cookie", "x-a b", "sec-foo"]
        expose_headers = ["*"]
        allow_credentials = true
        max_age = 100000
        "#,
        expect![[r#"
            error[wildcard-with-credentials]: allow_origins[0] = "*": for security reasons, every origin and credentials cannot go together: any site could read what the logged-in user sees (browsers refuse `*` with credentials, and reflecting every origin instead would let every site in) (fix: list the origins that may send credentials, e.g. ["https://app.example.com"], or set allow_credentials = false)
            error[null-origin]: allow_origins[1] = "null": `Origin: null` comes from sandboxed iframes, data: URLs and local files, which any site can create, so allowing it allows every site (fix: remove it; serve the page from a real origin (http://localhost:PORT in development) and list that)
            error[non-canonical-origin]: allow_origins[2] = "https://example.com/": browsers never send an Origin with a trailing slash, so this entry would match nothing (fix: write "https://example.com")
            error[insecure-origin-with-credentials]: allow_origins[3] = "http://app.example.com": with credentials, a plain-http origin lets anyone on the network path (public Wi-Fi, a hostile proxy) inject script into that page and read the user's data (fix: use "https://app.example.com", or set dangerously_allow_insecure_origins = true if you accept the risk)
            error[public-suffix-pattern]: allow_origins[4] = "https://*.co.uk": the names directly under "co.uk" are public suffixes (each registered by a different owner), so this admits sites an attacker can register (fix: name your own registrable domain, e.g. "https://*.example.co.uk")
            error[method-case]: allow_methods[0] = "get": fetch() upper-cases "get" to "GET" before sending, so "get" never matches (fix: write "GET")
            error[forbidden-method]: allow_methods[1] = "TRACE": fetch() refuses to send TRACE, so allowing it has no effect (fix: remove it)
            error[invalid-method]: allow_methods[2] = "PUT,PATCH": not an HTTP method token (fix: one method per element: "PUT", "PATCH")
            error[forbidden-header-name]: allow_headers[0] = "cookie": browsers never let script set Cookie; they send cookies themselves when the page uses credentials: 'include' (fix: remove it; set allow_credentials = true to receive cookies)
            error[invalid-header-name]: allow_headers[1] = "x-a b": not an HTTP header name (fix: write a header name such as "x-request-id" (letters, digits and !#$%&'*+-.^_`|~ only))
            error[forbidden-header-name]: allow_headers[2] = "sec-foo": browsers never let script set "sec-foo" (a forbidden request-header name), so no preflight asks for it (fix: remove it)
            error[wildcard-expose-with-credentials]: expose_headers[0] = "*": with credentials, browsers read `*` as a header literally named `*`, so nothing is exposed (fix: list the headers to expose, e.g. ["x-request-id"])
            error[max-age-out-of-range]: max_age = 100000: must be between 0 and 86400 seconds (24 hours, Firefox's cap) (fix: max_age = 7200 (Chromium's cap, 2 hours))
        "#]],
    );
}

#[test]
fn wildcard_origin_without_credentials_is_fine() {
    check(
        r#"
        allow_origins = ["*"]
        allow_methods = ["*"]
        allow_headers = ["*"]
        expose_headers = ["*"]
        "#,
        expect![[r#"
            ok
        "#]],
    );
}

#[test]
fn unknown_keys_and_wrong_types() {
    check(
        r#"
        allowed_origins = ["https://a.example"]
        origins = []
        allow_credential = true
        frobnicate = 1
        allow_methods = "PUT"
        allow_headers = [1, "x-a"]
        allow_credentials = "true"
        max_age = "600"
        block_disallowed_origins = 1
        "#,
        expect![[r#"
            error[unknown-key]: allowed_origins: unknown key (fix: did you mean `allow_origins`?)
            error[unknown-key]: origins: unknown key (fix: did you mean `allow_origins`?)
            error[unknown-key]: allow_credential: unknown key (fix: did you mean `allow_credentials`?)
            error[unknown-key]: frobnicate: unknown key (fix: remove it; the keys are allow_origins, allow_methods, allow_headers, expose_headers, allow_credentials, max_age, block_disallowed_origins, dangerously_allow_insecure_origins)
            error[wrong-type]: allow_methods = "PUT": expected a list of strings, found string (fix: write allow_methods = ["PUT"])
            error[wrong-type]: allow_headers[0] = 1: expected a string, found integer (fix: write allow_headers = ["…"])
            error[wrong-type]: allow_credentials = "true": expected a boolean, found string (fix: write allow_credentials = true (no quotes))
            error[wrong-type]: max_age = "600": expected an integer number of seconds, found string (fix: write max_age = 600)
            error[wrong-type]: block_disallowed_origins = 1: expected a boolean, found integer (fix: write block_disallowed_origins = true)
            warning[nothing-allowed]: allow_origins: no origin is allowed: every cross-origin request will be refused (fix: add the origins of your front-end, e.g. allow_origins = ["https://app.example.com"])
        "#]],
    );
}

#[test]
fn syntax_errors_say_where() {
    check(
        "allow_origins = [\"https://a.example\"\nmax_age = 5\n",
        expect![[r#"
            error[syntax]: line 2, column 1: not valid TOML: missing comma between array elements, expected `,` (fix: see https://toml.io; lists are written ["a", "b"], strings in double quotes)
        "#]],
    );
}

#[test]
fn max_age_is_bounded_however_large() {
    // The largest and smallest TOML integers are out of range like any other; beyond them, the
    // TOML error names the number and the range (it was "invalid type: integer … as i128").
    check(
        "allow_origins = [\"https://a.example\"]\nmax_age = 9223372036854775807\n",
        expect![[r#"
            error[max-age-out-of-range]: max_age = 9223372036854775807: must be between 0 and 86400 seconds (24 hours, Firefox's cap) (fix: max_age = 7200 (Chromium's cap, 2 hours))
        "#]],
    );
    check(
        "allow_origins = [\"https://a.example\"]\nmax_age = -9223372036854775808\n",
        expect![[r#"
            error[max-age-out-of-range]: max_age = -9223372036854775808: must be between 0 and 86400 seconds (24 hours, Firefox's cap) (fix: max_age = 0 to disable preflight caching, or a number of seconds such as max_age = 600)
        "#]],
    );
    check(
        "allow_origins = [\"https://a.example\"]\nmax_age = 99999999999999999999\n",
        expect![[r#"
            error[syntax]: line 2, column 11: not valid TOML: 99999999999999999999 is outside TOML's integers (-9223372036854775808 to 9223372036854775807) (fix: max_age, the one number in a policy, is 0 to 86400 seconds, e.g. max_age = 600)
        "#]],
    );
    check(
        "allow_origins = [\"https://a.example\"]\nmax_age = -99999999999999999999\n",
        expect![[r#"
            error[syntax]: line 2, column 11: not valid TOML: -99999999999999999999 is outside TOML's integers (-9223372036854775808 to 9223372036854775807) (fix: max_age, the one number in a policy, is 0 to 86400 seconds, e.g. max_age = 600)
        "#]],
    );
    // A quoted number out of range: the fix does not suggest it (it suggested `max_age = 99999999999`).
    check(
        "allow_origins = [\"https://a.example\"]\nmax_age = \"99999999999\"\n",
        expect![[r#"
            error[wrong-type]: max_age = "99999999999": expected an integer number of seconds, found string (fix: write max_age = 600)
            error[max-age-out-of-range]: max_age = 99999999999: must be between 0 and 86400 seconds (24 hours, Firefox's cap) (fix: max_age = 7200 (Chromium's cap, 2 hours))
        "#]],
    );
    // The builder takes the same range.
    let errors = Policy::builder()
        .allow_origins(["https://a.example"])
        .max_age(Duration::from_secs(i64::MAX.unsigned_abs()))
        .build()
        .expect_err("out of range");
    assert_eq!(errors.errors().count(), 1, "{errors}");
}

/// The builder's `max_age` is a `Duration`; the header counts whole seconds, so a fraction of a
/// second is refused like a value out of range, and so is more than an `i64` of seconds.
#[test]
fn builder_max_age_is_whole_seconds_in_range() {
    let built = |max_age: Duration| match Policy::builder()
        .allow_origins(["https://a.example"])
        .max_age(max_age)
        .build()
    {
        Ok(p) => format!("ok {:?}\n", p.config().max_age),
        Err(e) => e.problems().iter().map(|p| format!("{p}\n")).collect(),
    };
    let rendered: String = [
        Duration::from_secs(600),
        Duration::ZERO,
        Duration::from_millis(1500),
        Duration::from_nanos(1),
        Duration::from_secs(86_401),
        Duration::MAX,
    ]
    .into_iter()
    .map(built)
    .collect();
    expect![[r#"
        ok Some(600)
        ok Some(0)
        error[max-age-out-of-range]: max_age = 1.5: must be a whole number of seconds (Access-Control-Max-Age has no fractions) (fix: max_age = 1)
        error[max-age-out-of-range]: max_age = 0.000000001: must be a whole number of seconds (Access-Control-Max-Age has no fractions) (fix: max_age = 0)
        error[max-age-out-of-range]: max_age = 86401: must be between 0 and 86400 seconds (24 hours, Firefox's cap) (fix: max_age = 7200 (Chromium's cap, 2 hours))
        error[max-age-out-of-range]: max_age = 18446744073709552000.0: must be between 0 and 86400 seconds (24 hours, Firefox's cap) (fix: max_age = 7200 (Chromium's cap, 2 hours))
    "#]]
    .assert_eq(&rendered);
    // The last call decides, as for every other setter.
    let policy = Policy::builder()
        .allow_origins(["https://a.example"])
        .max_age(Duration::from_millis(1500))
        .max_age(Duration::from_secs(5))
        .build()
        .expect("whole seconds in the end");
    assert_eq!(policy.config().max_age, Some(5));
}

/// A date-time given where a policy wants something else is the offending value: serialized, it
/// is its text, not the `toml` crate's private wrapper object.
#[test]
fn a_date_time_value_serializes_as_its_text() {
    let errors =
        Policy::from_toml("allow_origins = [\"https://a.example\"]\nmax_age = 1979-05-27\n")
            .expect_err("a date is not a number of seconds");
    let value = errors.problems()[0].value.as_ref().expect("the date");
    assert_eq!(value.to_string(), "1979-05-27");
    assert_eq!(
        serde_json::to_value(value).expect("serializes"),
        serde_json::json!("1979-05-27")
    );
}

#[test]
fn warnings_do_not_refuse() {
    check(
        r#"
        allow_origins = ["https://a.example", "https://a.example"]
                allow_methods = ["PATCH", "PUT", "PUT", "GET"]
        allow_headers = ["X-A", "x-a"]
        expose_headers = ["set-cookie", "content-type", "x-b", "X-B"]
        max_age = 7201
        "#,
        expect![[r#"
            ok
            warning[duplicate]: allow_origins[1] = "https://a.example": https://a.example is listed twice (fix: remove one)
            warning[duplicate]: allow_methods[2] = "PUT": listed twice (fix: remove one)
            warning[duplicate]: allow_headers[1] = "x-a": listed twice (header names are case-insensitive) (fix: remove one)
            warning[ignored-by-browsers]: expose_headers[0] = "set-cookie": browsers never let script read Set-Cookie, exposed or not (fix: remove it)
            warning[redundant]: expose_headers[1] = "content-type": a CORS-safelisted response header is always readable (fix: remove it)
            warning[duplicate]: expose_headers[3] = "X-B": listed twice (fix: remove one)
            warning[ignored-by-browsers]: max_age = 7201: Chromium caps preflight caching at 7200 seconds (fix: max_age = 7200, unless you target Firefox's longer cache)
        "#]],
    );
}

#[test]
fn redundant_wildcards_and_dangerous_opt_ins_warn() {
    check(
        r#"
        allow_origins = ["*", "https://a.example"]
        block_disallowed_origins = true
        "#,
        expect![[r#"
            ok
            warning[redundant]: allow_origins: `*` allows every origin, so the other entries have no effect (fix: keep only "*", or remove it to allow only the listed origins)
            warning[redundant]: block_disallowed_origins = true: with `*` every origin is allowed, so nothing is ever blocked (fix: list the allowed origins, or remove block_disallowed_origins)
        "#]],
    );
    check(
        r#"
        allow_origins = ["http://intranet.example"]
        allow_credentials = true
        dangerously_allow_insecure_origins = true
        "#,
        expect![[r#"
            ok
            warning[dangerous-opt-in]: dangerously_allow_insecure_origins = true: credentialed responses are readable from plain-http origins, which anyone on the network path can impersonate (fix: move those origins to https and remove this key)
        "#]],
    );
}

#[test]
fn one_rule_per_row() {
    let cases: &[(&str, &[&str])] = &[
        // Every origin with credentials, however it is spelled.
        (
            "allow_origins = [\"*\"]\nallow_credentials = true",
            &["wildcard-with-credentials"],
        ),
        ("allow_origins = [\"https://*\"]", &["malformed-pattern"]),
        (
            "allow_origins = [\"https://*\"]\nallow_credentials = true",
            &["malformed-pattern"],
        ),
        // null and file.
        ("allow_origins = [\"null\"]", &["null-origin"]),
        ("allow_origins = [\"file://\"]", &["file-origin"]),
        ("allow_origins = [\"file:///index.html\"]", &["file-origin"]),
        // Non-canonical spellings.
        (
            "allow_origins = [\"https://a.example/path\"]",
            &["non-canonical-origin"],
        ),
        (
            "allow_origins = [\"https://a.example?q\"]",
            &["non-canonical-origin"],
        ),
        (
            "allow_origins = [\"https://a.example#f\"]",
            &["non-canonical-origin"],
        ),
        (
            "allow_origins = [\"https://me@a.example\"]",
            &["non-canonical-origin"],
        ),
        (
            "allow_origins = [\"HTTPS://a.example\"]",
            &["non-canonical-origin"],
        ),
        (
            "allow_origins = [\"https://A.example\"]",
            &["non-canonical-origin"],
        ),
        (
            "allow_origins = [\"https://a.example:443\"]",
            &["non-canonical-origin"],
        ),
        // Patterns.
        (
            "allow_origins = [\"https://*example.com\"]",
            &["malformed-pattern"],
        ),
        (
            "allow_origins = [\"https://a.*.example.com\"]",
            &["malformed-pattern"],
        ),
        (
            "allow_origins = [\"https://*.com\"]",
            &["public-suffix-pattern"],
        ),
        (
            "allow_origins = [\"https://*.co.uk\"]",
            &["public-suffix-pattern"],
        ),
        ("allow_origins = [\"https://*.example.co.uk\"]", &[]),
        // Plain http with credentials.
        (
            "allow_origins = [\"http://a.example\"]\nallow_credentials = true",
            &["insecure-origin-with-credentials"],
        ),
        ("allow_origins = [\"http://a.example\"]", &[]),
        (
            "allow_origins = [\"http://localhost:3000\"]\nallow_credentials = true",
            &[],
        ),
        (
            "allow_origins = [\"http://a.example\"]\nallow_credentials = true\ndangerously_allow_insecure_origins = true",
            &[],
        ),
        // Methods.
        ("allow_methods = [\"PUT PATCH\"]", &["invalid-method"]),
        ("allow_methods = [\"\"]", &["invalid-method"]),
        ("allow_methods = [\"CONNECT\"]", &["forbidden-method"]),
        ("allow_methods = [\"trace\"]", &["forbidden-method"]),
        ("allow_methods = [\"TRACK\"]", &["forbidden-method"]),
        ("allow_methods = [\"delete\"]", &["method-case"]),
        ("allow_methods = [\"patch\"]", &[]), // a warning: browsers send `patch` as written
        ("allow_methods = [\"M-SEARCH\"]", &[]),
        ("allow_methods = [\"GET\", \"HEAD\", \"POST\"]", &[]),
        // Request headers.
        ("allow_headers = [\"x-a:\"]", &["invalid-header-name"]),
        ("allow_headers = [\"Host\"]", &["forbidden-header-name"]),
        (
            "allow_headers = [\"Proxy-Authorization\"]",
            &["forbidden-header-name"],
        ),
        (
            "allow_headers = [\"Sec-Fetch-Mode\"]",
            &["forbidden-header-name"],
        ),
        (
            "allow_headers = [\"Content-Type\", \"Accept\", \"Range\"]",
            &[],
        ),
        // Exposed headers.
        (
            "expose_headers = [\"*\"]\nallow_credentials = true\nallow_origins = [\"https://a.example\"]",
            &["wildcard-expose-with-credentials"],
        ),
        ("expose_headers = [\"*\"]", &[]),
        ("expose_headers = [\"x y\"]", &["invalid-header-name"]),
        // max_age.
        ("max_age = -1", &["max-age-out-of-range"]),
        ("max_age = 86401", &["max-age-out-of-range"]),
        ("max_age = 0", &[]),
        ("max_age = 86400", &[]),
        // Unknown keys.
        ("alow_origins = []", &["unknown-key"]),
        ("max-age = 5", &["unknown-key"]),
    ];
    for (toml, want) in cases {
        assert_eq!(codes(toml), *want, "{toml}");
    }
}

#[test]
fn builder_and_file_agree() {
    let built = Policy::builder()
        .allow_origins(["https://a.example"])
        .allow_methods(["PUT"])
        .allow_headers(["x-a"])
        .expose_headers(["x-b"])
        .allow_credentials(true)
        .max_age(Duration::from_secs(60))
        .block_disallowed_origins(true)
        .build()
        .unwrap();
    let read = Policy::from_toml(
        r#"
        allow_origins = ["https://a.example"]
        allow_methods = ["PUT"]
        allow_headers = ["x-a"]
        expose_headers = ["x-b"]
        allow_credentials = true
        max_age = 60
        block_disallowed_origins = true
        "#,
    )
    .unwrap();
    assert_eq!(built.config(), read.config());
    let err = Policy::builder()
        .allow_origins(["*"])
        .allow_credentials(true)
        .build()
        .unwrap_err();
    assert_eq!(err.errors().count(), 1);
    assert!(
        err.to_string()
            .starts_with("invalid CORS policy (1 error)\n  error[wildcard-with-credentials]")
    );
}

#[test]
fn config_round_trips_through_toml() {
    let policy = Policy::from_toml(
        r#"
        allow_origins = ["https://a.example", "https://*.b.example:*"]
        allow_methods = ["PATCH"]
        max_age = 5
        "#,
    )
    .unwrap();
    let text = toml::to_string(policy.config()).unwrap();
    let again = Policy::from_toml(&text).unwrap();
    assert_eq!(policy.config(), again.config());
}

#[test]
fn compiled_header_values() {
    let p = Policy::from_toml(
        r#"
        allow_origins = ["https://a.example"]
        allow_methods = ["GET", "PUT", "POST", "DELETE"]
        allow_headers = ["X-B", "content-type", "x-a"]
        expose_headers = ["X-Request-Id", "x-total"]
        max_age = 600
        "#,
    )
    .unwrap();
    let c = p.compiled();
    let answer = &c.preflight_answer;
    assert_eq!(
        answer["access-control-allow-methods"], "PUT, DELETE",
        "safelisted methods are not sent"
    );
    assert_eq!(
        answer["access-control-allow-headers"],
        "x-b, content-type, x-a"
    );
    assert_eq!(c.expose_headers.as_ref().unwrap(), "x-request-id, x-total");
    assert_eq!(answer["access-control-max-age"], "600");
    assert!(c.vary_origin);
    let any = Policy::from_toml("allow_origins = [\"*\"]").unwrap();
    assert!(
        !any.compiled().vary_origin,
        "`*` without credentials does not depend on Origin"
    );
}

/// The compiled matcher against a reference written the obvious way (every pattern tried in
/// turn, string operations only), on random origins and patterns drawn from a small alphabet so
/// that they often collide.
mod matcher_agrees_with_reference {
    use proptest::prelude::*;

    use crate::Policy;

    const LABELS: [&str; 5] = ["a", "b", "ba", "x-y", "example"];
    const SCHEMES: [&str; 2] = ["http", "https"];
    const PORTS: [Option<&str>; 4] = [None, Some("8080"), Some("443"), Some("1")];

    fn labels(min: usize) -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(&LABELS[..]), min..=4).prop_map(|l| l.join("."))
    }

    /// A domain that is not a public suffix: one to three labels, then `com`.
    fn domain() -> impl Strategy<Value = String> {
        labels(1).prop_map(|l| format!("{l}.com"))
    }

    fn origin() -> impl Strategy<Value = String> {
        (
            prop::sample::select(&SCHEMES[..]),
            domain(),
            prop::sample::select(&PORTS[..]),
            0..10u8,
        )
            .prop_map(|(scheme, host, port, mutation)| {
                let mut o = format!("{scheme}://{host}");
                if let Some(p) = port {
                    o = format!("{o}:{p}");
                }
                match mutation {
                    0 => o.to_ascii_uppercase(),
                    1 => o.replacen("://", "://.", 1),
                    2 => format!("{o}/"),
                    3 => o.replacen('.', "..", 1),
                    4 => o.replacen(".com", ".com.", 1),
                    _ => o,
                }
            })
    }

    fn pattern() -> impl Strategy<Value = String> {
        (
            prop::sample::select(&SCHEMES[..]),
            domain(),
            prop::sample::select(&[None, Some("8080"), Some("*")][..]),
            0..3u8,
        )
            .prop_map(|(scheme, host, port, kind)| {
                let host = if kind == 0 { host } else { format!("*.{host}") };
                let port = match (kind, port) {
                    (0, _) => Some("*"), // an exact host needs `:*` to be a pattern
                    (_, p) => p,
                };
                match port {
                    Some(p) => format!("{scheme}://{host}:{p}"),
                    None => format!("{scheme}://{host}"),
                }
            })
    }

    fn split(hostport: &str) -> (&str, Option<&str>) {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    }

    fn reference(entries: &[String], origin: &str) -> bool {
        entries.iter().any(|entry| {
            if entry == origin {
                return true;
            }
            let (Some((ps, prest)), Some((os, orest))) =
                (entry.split_once("://"), origin.split_once("://"))
            else {
                return false;
            };
            let ((ph, pp), (oh, op)) = (split(prest), split(orest));
            let host_ok = oh.split('.').all(|l| {
                !l.is_empty()
                    && l.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            });
            let host_matches = match ph.strip_prefix("*.") {
                Some(domain) => oh.ends_with(&format!(".{domain}")),
                None => ph == oh,
            };
            let port_matches = match pp {
                Some("*") => op.is_none_or(|p| p.parse::<u16>().is_ok()),
                pp => pp == op,
            };
            ps == os && host_ok && host_matches && port_matches
        })
    }

    #[test]
    fn the_reference_is_not_vacuous() {
        let entries = ["https://*.a.com".to_owned(), "http://b.com:*".to_owned()];
        assert!(reference(&entries, "https://x-y.a.com"));
        assert!(!reference(&entries, "https://ba.com"), "label boundary");
        assert!(!reference(&entries, "https://a.com"), "one label or more");
        assert!(reference(&entries, "http://b.com:8080"));
        assert!(!reference(&entries, "https://b.com:8080"));
    }

    proptest! {
        #[test]
        fn agree(
            exact in prop::collection::vec(origin(), 0..4),
            patterns in prop::collection::vec(pattern(), 0..6),
            probes in prop::collection::vec(origin(), 1..16),
        ) {
            // Only canonical exact origins are valid policy entries.
            let exact: Vec<String> = exact.into_iter().filter(|o| crate::Origin::from_header(o.as_bytes()).is_ok_and(|p| p.to_string() == *o)).collect();
            let entries: Vec<String> = exact.iter().chain(&patterns).cloned().collect();
            let policy = Policy::builder().allow_origins(entries.clone()).build();
            let policy = match policy {
                Ok(p) => p,
                Err(e) => return Err(TestCaseError::fail(format!("generated policy refused: {e}"))),
            };
            for probe in probes.iter().chain(&exact) {
                prop_assert_eq!(policy.allows_origin(probe), reference(&entries, probe), "origin {} with {:?}", probe, entries);
            }
        }
    }
}

/// Found in review: a wrong type used to hide the problems of the value that was meant.
#[test]
fn what_was_meant_is_validated_too() {
    check(
        r#"
        allow_origins = "https://a.example.com/"
        allow_credentials = "true"
        expose_headers = ["*"]
        max_age = "-5"
        "#,
        expect![[r#"
            error[wrong-type]: allow_origins = "https://a.example.com/": expected a list of strings, found string (fix: write allow_origins = ["https://a.example.com/"])
            error[wrong-type]: allow_credentials = "true": expected a boolean, found string (fix: write allow_credentials = true (no quotes))
            error[wrong-type]: max_age = "-5": expected an integer number of seconds, found string (fix: write max_age = 600)
            error[non-canonical-origin]: allow_origins[0] = "https://a.example.com/": browsers never send an Origin with a trailing slash, so this entry would match nothing (fix: write "https://a.example.com")
            error[wildcard-expose-with-credentials]: expose_headers[0] = "*": with credentials, browsers read `*` as a header literally named `*`, so nothing is exposed (fix: list the headers to expose, e.g. ["x-request-id"])
            error[max-age-out-of-range]: max_age = -5: must be between 0 and 86400 seconds (24 hours, Firefox's cap) (fix: max_age = 0 to disable preflight caching, or a number of seconds such as max_age = 600)
        "#]],
    );
    check(
        "allow_origins = [\"*\"]\nallow_credentials = \"true\"\norigin = 1",
        expect![[r#"
            error[wrong-type]: allow_credentials = "true": expected a boolean, found string (fix: write allow_credentials = true (no quotes))
            error[unknown-key]: origin: unknown key (fix: did you mean `allow_origins`?)
            error[wildcard-with-credentials]: allow_origins[0] = "*": for security reasons, every origin and credentials cannot go together: any site could read what the logged-in user sees (browsers refuse `*` with credentials, and reflecting every origin instead would let every site in) (fix: list the origins that may send credentials, e.g. ["https://app.example.com"], or set allow_credentials = false)
        "#]],
    );
}
