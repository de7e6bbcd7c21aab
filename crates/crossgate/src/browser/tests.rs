//! The simulation held to recorded Chromium: every `scenarios/NAME.json` beside a
//! `scenarios/NAME.chromium.json` (what headless Chromium did with it, recorded by
//! `tests/chromium/record.mjs`) must simulate to exactly the recording.

use std::path::{Path, PathBuf};

use super::scenario::{Scenario, ScenarioResult};
use super::*;

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

/// Every (scenarios, recording) pair in `scenarios/`.
fn recorded_pairs() -> Vec<(PathBuf, PathBuf)> {
    let mut pairs = Vec::new();
    for entry in std::fs::read_dir(scenarios_dir()).expect("scenarios/ exists") {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".chromium.json") {
            pairs.push((path.with_file_name(format!("{stem}.json")), path));
        }
    }
    pairs.sort();
    pairs
}

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn simulation_agrees_with_recorded_chromium() {
    let pairs = recorded_pairs();
    assert!(
        !pairs.is_empty(),
        "no recordings in {}",
        scenarios_dir().display()
    );
    let mut checked = 0;
    let mut disagreements = Vec::new();
    for (scenarios_path, recorded_path) in &pairs {
        let scenarios: Vec<Scenario> = read(scenarios_path);
        let recorded: Vec<ScenarioResult> = read(recorded_path);
        assert_eq!(
            scenarios.len(),
            recorded.len(),
            "{}: one result per scenario",
            recorded_path.display()
        );
        for (scenario, want) in scenarios.iter().zip(&recorded) {
            assert_eq!(
                scenario.name,
                want.name,
                "{}: results in input order",
                recorded_path.display()
            );
            let got = scenario
                .simulate(Profile::Chromium)
                .expect("a valid scenario");
            checked += 1;
            if &got != want {
                disagreements.push(format!(
                    "{}\n  scenario: {}\n  chromium: {}\n  crossgate: {}",
                    scenario.name,
                    serde_json::to_string(scenario).unwrap(),
                    serde_json::to_string(want).unwrap(),
                    serde_json::to_string(&got).unwrap()
                ));
            }
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {checked} scenarios disagree with Chromium:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

fn request(method: &str, headers: &[(&str, &str)], credentials: Credentials) -> Request {
    Request {
        origin: "http://127.0.0.1:8001".into(),
        url: "http://127.0.0.1:8002/r".into(),
        method: method.into(),
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        credentials,
        body: None,
    }
}

/// A server that answers every request with the same headers and counts what it got.
struct Fixed {
    preflight: WireResponse,
    response: WireResponse,
    sent: Vec<WireRequest>,
}

impl Transport for Fixed {
    fn send(&mut self, request: &WireRequest) -> Result<WireResponse, TransportError> {
        self.sent.push(request.clone());
        Ok(if request.preflight {
            self.preflight.clone()
        } else {
            self.response.clone()
        })
    }
}

/// One fetch in a fresh browser (an empty preflight cache, time zero).
fn fresh(request: &Request, profile: Profile, transport: &mut dyn Transport) -> Outcome {
    fetch(
        request,
        profile,
        transport,
        &mut PreflightCache::new(),
        Duration::ZERO,
    )
    .unwrap()
}

fn answer(status: u16, headers: &[(&str, &str)]) -> WireResponse {
    WireResponse {
        status,
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

#[test]
fn preflight_cache_saves_a_preflight_until_max_age() {
    let mut server = Fixed {
        preflight: answer(
            204,
            &[
                ("Access-Control-Allow-Origin", "http://127.0.0.1:8001"),
                ("Access-Control-Allow-Methods", "PUT"),
                ("Access-Control-Max-Age", "60"),
            ],
        ),
        response: answer(
            200,
            &[("Access-Control-Allow-Origin", "http://127.0.0.1:8001")],
        ),
        sent: Vec::new(),
    };
    let mut cache = PreflightCache::new();
    let put = request("PUT", &[], Credentials::Omit);
    let at = |s| Duration::from_secs(s);
    let first = fetch(&put, Profile::Chromium, &mut server, &mut cache, at(0)).unwrap();
    assert!(first.is_allowed() && first.preflight_sent());
    let second = fetch(&put, Profile::Chromium, &mut server, &mut cache, at(59)).unwrap();
    assert!(
        second.is_allowed() && !second.preflight_sent(),
        "cached for 60 s"
    );
    let third = fetch(&put, Profile::Chromium, &mut server, &mut cache, at(60)).unwrap();
    assert!(third.preflight_sent(), "expired");
    let delete = request("DELETE", &[], Credentials::Omit);
    let other = fetch(&delete, Profile::Chromium, &mut server, &mut cache, at(61)).unwrap();
    assert!(
        other.preflight_sent() && !other.is_allowed(),
        "the cached answer does not cover DELETE"
    );
}

#[test]
fn a_preflight_cached_at_the_end_of_the_clock_does_not_overflow() {
    // `now + max_age` panicked ("overflow when adding durations") for a caller whose clock
    // reads near `Duration::MAX`; the entry now expires at the end of the clock.
    let mut server = Fixed {
        preflight: answer(
            204,
            &[
                ("Access-Control-Allow-Origin", "http://127.0.0.1:8001"),
                ("Access-Control-Allow-Methods", "PUT"),
                ("Access-Control-Max-Age", "60"),
            ],
        ),
        response: answer(
            200,
            &[("Access-Control-Allow-Origin", "http://127.0.0.1:8001")],
        ),
        sent: Vec::new(),
    };
    let mut cache = PreflightCache::new();
    let put = request("PUT", &[], Credentials::Omit);
    let late = Duration::MAX - Duration::from_secs(1);
    let first = fetch(&put, Profile::Spec, &mut server, &mut cache, late).unwrap();
    assert!(first.is_allowed() && first.preflight_sent());
    assert_eq!(cache.len(), 1);
    let second = fetch(&put, Profile::Spec, &mut server, &mut cache, late).unwrap();
    assert!(second.is_allowed() && !second.preflight_sent(), "cached");
}

#[test]
fn a_scenario_status_outside_100_to_599_is_refused() {
    let scenario = |preflight: u16, response: u16| -> Scenario {
        serde_json::from_value(serde_json::json!({
            "name": "status",
            "request": {"origin": "http://127.0.0.1:8001", "url": "http://127.0.0.1:8002/r",
                        "method": "PUT", "credentials": "omit"},
            "server": {
                "http://127.0.0.1:8002/r": {
                    "preflight": {"status": preflight, "headers": [
                        ["Access-Control-Allow-Origin", "http://127.0.0.1:8001"],
                        ["Access-Control-Allow-Methods", "PUT"]]},
                    "response": {"status": response, "headers": [
                        ["Access-Control-Allow-Origin", "http://127.0.0.1:8001"]]}
                },
                "http://127.0.0.1:8002/other": {"response": {"status": 200}}
            }
        }))
        .unwrap()
    };
    let field = |which: &str| format!("server[\"http://127.0.0.1:8002/r\"].{which}.status");
    for (preflight, response, expected) in [
        (204, 0, Some(("response", 0))),
        (204, 1000, Some(("response", 1000))),
        (204, 99, Some(("response", 99))),
        (204, 600, Some(("response", 600))),
        (0, 200, Some(("preflight", 0))),
        (65535, 1000, Some(("preflight", 65535))),
        (204, 200, None),
        (200, 100, None),
        (299, 599, None),
    ] {
        let s = scenario(preflight, response);
        match expected {
            Some((which, value)) => {
                let e = s.check().expect_err("invalid");
                assert_eq!(e.field, field(which));
                assert_eq!(e.value, value.to_string());
                assert_eq!(
                    e.to_string(),
                    format!(
                        "{} = {value}: not an HTTP status (100 to 599): write the status the \
                         server answers, e.g. 200 (or 204 for a preflight)",
                        field(which)
                    )
                );
                // Running it says the same: it was allowed before.
                assert_eq!(s.run(Profile::Chromium).unwrap_err().0, e.to_string());
            }
            None => {
                assert_eq!(s.check(), Ok(()));
                assert!(s.run(Profile::Chromium).is_ok());
            }
        }
    }
}

#[test]
fn max_age_default_and_caps() {
    let run = |max_age: Option<&str>, profile: Profile, later: u64| {
        let mut headers = vec![
            ("Access-Control-Allow-Origin", "http://127.0.0.1:8001"),
            ("Access-Control-Allow-Methods", "PUT"),
        ];
        if let Some(m) = max_age {
            headers.push(("Access-Control-Max-Age", m));
        }
        let mut server = Fixed {
            preflight: answer(204, &headers),
            response: answer(200, &headers[..1]),
            sent: Vec::new(),
        };
        let mut cache = PreflightCache::new();
        let put = request("PUT", &[], Credentials::Omit);
        fetch(&put, profile, &mut server, &mut cache, Duration::ZERO).unwrap();
        fetch(
            &put,
            profile,
            &mut server,
            &mut cache,
            Duration::from_secs(later),
        )
        .unwrap()
        .preflight_sent()
    };
    assert!(
        !run(None, Profile::Chromium, 4) && run(None, Profile::Chromium, 5),
        "5 s by default"
    );
    assert!(
        !run(Some("86400"), Profile::Chromium, 7_199)
            && run(Some("86400"), Profile::Chromium, 7_200),
        "Chromium caps at 2 h"
    );
    assert!(!run(Some("86400"), Profile::Spec, 80_000));
    assert!(
        run(Some("-1"), Profile::Chromium, 5) && run(Some("abc"), Profile::Chromium, 5),
        "invalid: the default"
    );
}

#[test]
fn methods_compare_byte_for_byte_in_both_profiles() {
    let mut server = Fixed {
        preflight: answer(
            204,
            &[
                ("Access-Control-Allow-Origin", "http://127.0.0.1:8001"),
                ("Access-Control-Allow-Methods", "PATCH"),
            ],
        ),
        response: answer(
            200,
            &[("Access-Control-Allow-Origin", "http://127.0.0.1:8001")],
        ),
        sent: Vec::new(),
    };
    let patch = request("patch", &[], Credentials::Omit);
    for profile in [Profile::Chromium, Profile::Spec] {
        let outcome = fresh(&patch, profile, &mut server);
        assert!(matches!(
            &outcome.failure().unwrap().kind,
            FailureKind::Cors { error: CorsError::MethodDisallowedByPreflightResponse(m), preflight: true } if m == "patch"
        ));
    }
    assert_eq!(
        server.sent[0].header("access-control-request-method"),
        Some("patch"),
        "sent as written: not normalised"
    );
}

#[test]
fn profiles_differ_on_authorization_under_a_wildcard() {
    let mut server = Fixed {
        preflight: answer(
            204,
            &[
                ("Access-Control-Allow-Origin", "*"),
                ("Access-Control-Allow-Methods", "PUT"),
                ("Access-Control-Allow-Headers", "*"),
            ],
        ),
        response: answer(200, &[("Access-Control-Allow-Origin", "*")]),
        sent: Vec::new(),
    };
    let put = request("PUT", &[("Authorization", "Bearer t")], Credentials::Omit);
    let chromium = fresh(&put, Profile::Chromium, &mut server);
    assert!(
        chromium.is_allowed(),
        "Chromium 156 lets `*` cover Authorization"
    );
    let spec = fresh(&put, Profile::Spec, &mut server);
    assert_eq!(
        crate::explain::console_message(spec.failure().unwrap()).unwrap(),
        "Access to fetch at 'http://127.0.0.1:8002/r' from origin 'http://127.0.0.1:8001' has been blocked by CORS policy: \
         Request header field authorization is not allowed by Access-Control-Allow-Headers in preflight response."
    );
}

#[test]
fn type_errors_send_nothing() {
    let cases = [
        (
            request("TRACE", &[], Credentials::Omit),
            "'TRACE' HTTP method is unsupported.",
        ),
        (
            request("bad method", &[], Credentials::Omit),
            "'bad method' is not a valid HTTP method.",
        ),
        (
            request("GET", &[("x y", "1")], Credentials::Omit),
            "'x y' is not a valid HTTP header field name.",
        ),
        (
            Request {
                body: Some("x".into()),
                ..request("GET", &[], Credentials::Omit)
            },
            "Request with GET/HEAD method cannot have body.",
        ),
    ];
    for (req, message) in cases {
        let mut server = Fixed {
            preflight: answer(204, &[]),
            response: answer(200, &[]),
            sent: Vec::new(),
        };
        let outcome = fresh(&req, Profile::Chromium, &mut server);
        assert_eq!(
            outcome.failure().unwrap().kind,
            FailureKind::TypeError(message.to_owned())
        );
        assert!(server.sent.is_empty());
        assert_eq!(
            crate::explain::console_message(outcome.failure().unwrap()),
            None
        );
    }
}

#[test]
fn forbidden_request_headers_are_dropped_and_duplicates_combined() {
    let mut server = Fixed {
        preflight: answer(
            204,
            &[
                ("Access-Control-Allow-Origin", "*"),
                ("Access-Control-Allow-Headers", "x-b"),
            ],
        ),
        response: answer(200, &[("Access-Control-Allow-Origin", "*")]),
        sent: Vec::new(),
    };
    let req = request(
        "GET",
        &[
            ("Cookie", "a=1"),
            ("X-B", "1"),
            ("Sec-Foo", "1"),
            ("x-b", "2"),
        ],
        Credentials::Omit,
    );
    let outcome = fresh(&req, Profile::Chromium, &mut server);
    assert!(outcome.is_allowed());
    assert_eq!(
        server.sent[0].header("access-control-request-headers"),
        Some("x-b")
    );
    assert_eq!(server.sent[1].header("x-b"), Some("1, 2"));
    assert_eq!(server.sent[1].header("cookie"), None);
}

/// The loop closed: for random policies and requests, the headers `crate::server` writes, fed to
/// the browser, give `allowed` exactly when the policy allows the request.
mod server_and_browser_agree {
    use http::{HeaderMap, HeaderName, HeaderValue, Method};
    use proptest::prelude::*;

    use super::*;
    use crate::Policy;
    use crate::server::Action;

    /// A server answering with `Policy::decide`: preflights as decided, everything else 200.
    struct PolicyServer(Policy);

    impl Transport for PolicyServer {
        fn send(&mut self, request: &WireRequest) -> Result<WireResponse, TransportError> {
            let mut headers = HeaderMap::new();
            for (n, v) in &request.headers {
                headers.append(
                    HeaderName::from_bytes(n.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            let method = Method::from_bytes(request.method.as_bytes()).unwrap();
            let decision = self.0.decide(&method, &headers);
            let status = match decision.action() {
                Action::Respond(s) => s.as_u16(),
                Action::Forward => 200,
            };
            let mut response = HeaderMap::new();
            decision.apply(&mut response);
            let headers = response
                .iter()
                .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
                .collect();
            Ok(WireResponse { status, headers })
        }
    }

    const ORIGINS: [&str; 4] = [
        "https://app.example.com",
        "https://a.tenant.example.org",
        "http://localhost:5173",
        "https://evil.example",
    ];
    const ENTRIES: [&str; 4] = [
        "https://app.example.com",
        "https://*.tenant.example.org",
        "http://localhost:*",
        "*",
    ];
    const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];
    const HEADERS: [(&str, &str); 5] = [
        ("x-a", "1"),
        ("x-b", "2"),
        ("content-type", "application/json"),
        ("content-type", "text/plain"),
        ("authorization", "Bearer t"),
    ];

    fn subset<T: Clone + std::fmt::Debug>(items: &'static [T]) -> impl Strategy<Value = Vec<T>> {
        prop::sample::subsequence(items, 0..=items.len())
    }

    /// The property is not vacuous: a policy server really lets a preflighted request through
    /// and really blocks another origin.
    #[test]
    fn known_cases() {
        let policy = Policy::builder()
            .allow_origins(["https://app.example.com"])
            .allow_methods(["PUT"])
            .allow_headers(["x-a"])
            .allow_credentials(true)
            .build()
            .unwrap();
        let mut request = Request {
            origin: "https://app.example.com".into(),
            url: "https://api.example.net/r".into(),
            method: "PUT".into(),
            headers: vec![("X-A".into(), "1".into())],
            credentials: Credentials::Include,
            body: None,
        };
        let run = |r: &Request| fresh(r, Profile::Chromium, &mut PolicyServer(policy.clone()));
        let allowed = run(&request);
        assert!(
            allowed.is_allowed() && allowed.preflight_sent(),
            "{allowed:#?}"
        );
        // crossgate refuses a preflight for a header it does not allow with 403 and no CORS
        // headers, so the browser reports a missing origin: the fix still names the header.
        request.headers.push(("X-B".into(), "2".into()));
        let refused = run(&request);
        let fix = crate::explain::fix(refused.failure().unwrap());
        assert_eq!(
            fix.policy,
            "allow_origins = [\"https://app.example.com\"]\nallow_credentials = true\nallow_methods = [\"PUT\"]\nallow_headers = [\"x-a\", \"x-b\"]"
        );
        assert!(
            fix.header
                .contains("\nAccess-Control-Allow-Headers: x-a, x-b\n"),
            "{}",
            fix.header
        );
        request.headers.pop();
        request.origin = "https://evil.example".into();
        let blocked = run(&request);
        assert_eq!(
            crate::explain::console_message(blocked.failure().unwrap()).unwrap(),
            "Access to fetch at 'https://api.example.net/r' from origin 'https://evil.example' has been blocked by CORS policy: \
             Response to preflight request doesn't pass access control check: No 'Access-Control-Allow-Origin' header is present on the requested resource."
        );
    }

    proptest! {
        #[test]
        fn agree(
            entries in subset(&ENTRIES),
            methods in subset(&["PUT", "DELETE", "*"]),
            allowed_headers in subset(&["x-a", "content-type", "authorization", "*"]),
            credentials in any::<bool>(),
            block in any::<bool>(),
            origin in prop::sample::select(&ORIGINS[..]),
            method in prop::sample::select(&METHODS[..]),
            headers in subset(&HEADERS),
            include in any::<bool>(),
        ) {
            let built = Policy::builder()
                .allow_origins(entries.iter().copied())
                .allow_methods(methods.iter().copied())
                .allow_headers(allowed_headers.iter().copied())
                .allow_credentials(credentials)
                .block_disallowed_origins(block)
                .build();
            // `*` with credentials is refused at build time: nothing to compare.
            let Ok(policy) = built else { return Ok(()) };
            let request = Request {
                origin: origin.to_owned(),
                url: "https://api.example.net/r".to_owned(),
                method: method.to_owned(),
                headers: headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
                credentials: if include { Credentials::Include } else { Credentials::Omit },
                body: None,
            };
            let outcome = fresh(&request, Profile::Chromium, &mut PolicyServer(policy.clone()));

            // What the policy means, said directly.
            let header_pairs = request.headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes()));
            let unsafe_names = safelist::cors_unsafe_names(header_pairs);
            let any_header = allowed_headers.contains(&"*");
            let policy_allows = policy.allows_origin(origin)
                && (!include || credentials)
                && (crate::fetch::is_cors_safelisted_method(method.as_bytes()) || methods.contains(&"*") || methods.contains(&method))
                && unsafe_names.iter().all(|n| any_header || allowed_headers.contains(&n.as_str()));
            prop_assert_eq!(outcome.is_allowed(), policy_allows, "{:?}\n{:#?}", request, outcome);
        }
    }
}
