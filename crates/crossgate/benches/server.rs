//! The server's request path: `Policy::decide`, and `decide` + `Decision::apply`, per request kind.
//!
//! What is measured, and why:
//!
//! - `decide/<case>`: [`Policy::decide`] alone; the `Decision` is dropped inside the timing loop.
//! - `decide_apply/<case>`: `decide`, then [`crossgate::server::Decision::apply`] into a response
//!   `HeaderMap` built once with `HeaderMap::with_capacity(8)` and `clear()`ed before each call
//!   (clearing keeps its capacity). That is what a middleware does with the application's
//!   response, which already exists: the map's own allocation is the application's cost, not
//!   ours, and would otherwise dominate the small cases.
//!
//! Request `HeaderMap`s are built once, outside the timing loop, from `HeaderValue::from_static`
//! (or `from_str` for generated values), as hyper hands them over already parsed.
//!
//! Run with `cargo bench -p crossgate --bench server` (about 45 seconds once built); one case with
//! `cargo bench -p crossgate --bench server -- preflight_allowed`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use crossgate::Policy;
use http::{HeaderMap, HeaderValue, Method};

/// Methods, headers, credentials and max-age shared by every policy below.
fn policy_with_origins<I: IntoIterator<Item = String>>(origins: I) -> Policy {
    Policy::builder()
        .allow_origins(origins)
        .allow_methods(["GET", "POST", "PUT"])
        .allow_headers(["content-type", "x-request-id"])
        .allow_credentials(true)
        .max_age(std::time::Duration::from_secs(600))
        .build()
        .expect("the benchmark policies are valid")
}

/// The standard policy: three exact origins.
fn standard_policy() -> Policy {
    policy_with_origins(
        [
            "https://app.example.com",
            "https://admin.example.com",
            "http://localhost:5173",
        ]
        .map(String::from),
    )
}

/// A request's headers from `(name, value)` pairs (names lower case, values built with
/// `from_str` so that generated ones work too).
fn request(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for &(name, value) in pairs {
        let value = HeaderValue::from_str(value).expect("valid header value");
        map.append(name, value);
    }
    map
}

/// One benchmark case: a policy, a method and the request's headers, built once.
struct Case {
    name: &'static str,
    policy: Policy,
    method: Method,
    headers: HeaderMap,
    /// Whether the policy should allow it: checked once before measuring, so that a case never
    /// silently measures the wrong path.
    allowed: bool,
}

fn cases() -> Vec<Case> {
    let standard = standard_policy();
    let thousand = policy_with_origins((0..1000).map(|i| format!("https://app{i}.example.com")));
    let tenants = policy_with_origins((0..100).map(|i| format!("https://*.tenant{i}.example.com")));

    // 64 KiB of commas, or of an allowed name: over MAX_REQUEST_HEADERS_BYTES (16 KiB), refused
    // before a byte of it is read.
    let commas = ",".repeat(64 * 1024);
    let names = "content-type, ".repeat(64 * 1024 / "content-type, ".len());
    // The worst case for the linear scan: as many commas as the bound lets through, all read,
    // every element empty, so the preflight passes.
    let commas_at_bound = ",".repeat(crossgate::server::MAX_REQUEST_HEADERS_BYTES);

    let origin = ("origin", "https://app.example.com");
    let put = ("access-control-request-method", "PUT");
    vec![
        Case {
            name: "preflight_allowed",
            policy: standard.clone(),
            method: Method::OPTIONS,
            headers: request(&[
                origin,
                put,
                (
                    "access-control-request-headers",
                    "content-type,x-request-id",
                ),
            ]),
            allowed: true,
        },
        Case {
            name: "preflight_rejected_header",
            policy: standard.clone(),
            method: Method::OPTIONS,
            headers: request(&[
                origin,
                put,
                ("access-control-request-headers", "content-type,x-evil"),
            ]),
            allowed: false,
        },
        Case {
            name: "actual_allowed",
            policy: standard.clone(),
            method: Method::GET,
            headers: request(&[origin]),
            allowed: true,
        },
        Case {
            name: "actual_rejected",
            policy: standard.clone(),
            method: Method::GET,
            headers: request(&[("origin", "https://evil.example.net")]),
            allowed: false,
        },
        Case {
            name: "no_origin",
            policy: standard.clone(),
            method: Method::GET,
            headers: request(&[("accept", "application/json")]),
            allowed: true,
        },
        Case {
            name: "exact_1000_allowed",
            policy: thousand,
            method: Method::GET,
            headers: request(&[("origin", "https://app990.example.com")]),
            allowed: true,
        },
        Case {
            name: "patterns_100_match",
            policy: tenants.clone(),
            method: Method::GET,
            headers: request(&[("origin", "https://app.tenant97.example.com")]),
            allowed: true,
        },
        Case {
            name: "patterns_100_no_match",
            policy: tenants,
            method: Method::GET,
            headers: request(&[("origin", "https://app.tenant100.example.com")]),
            allowed: false,
        },
        Case {
            name: "hostile_acrh_64k_commas",
            policy: standard.clone(),
            method: Method::OPTIONS,
            headers: request(&[origin, put, ("access-control-request-headers", &commas)]),
            allowed: false,
        },
        Case {
            name: "hostile_acrh_16k_commas_read",
            policy: standard.clone(),
            method: Method::OPTIONS,
            headers: request(&[
                origin,
                put,
                ("access-control-request-headers", &commas_at_bound),
            ]),
            allowed: true,
        },
        Case {
            name: "hostile_acrh_64k_names",
            policy: standard,
            method: Method::OPTIONS,
            headers: request(&[origin, put, ("access-control-request-headers", &names)]),
            allowed: false,
        },
    ]
}

fn server(c: &mut Criterion) {
    let cases = cases();
    for case in &cases {
        let decision = case.policy.decide(&case.method, &case.headers);
        assert_eq!(
            decision.is_allowed(),
            case.allowed,
            "{}: {:?}",
            case.name,
            decision.rejection()
        );
    }

    let mut decide = c.benchmark_group("decide");
    decide
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for case in &cases {
        decide.bench_function(case.name, |b| {
            b.iter(|| {
                black_box(
                    case.policy
                        .decide(black_box(&case.method), black_box(&case.headers)),
                )
            });
        });
    }
    decide.finish();

    let mut decide_apply = c.benchmark_group("decide_apply");
    decide_apply
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for case in &cases {
        let mut response = HeaderMap::with_capacity(8);
        decide_apply.bench_function(case.name, |b| {
            b.iter(|| {
                response.clear();
                let decision = case
                    .policy
                    .decide(black_box(&case.method), black_box(&case.headers));
                decision.apply(&mut response);
                black_box(&response);
            });
        });
    }
    decide_apply.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).without_plots();
    targets = server
}
criterion_main!(benches);
