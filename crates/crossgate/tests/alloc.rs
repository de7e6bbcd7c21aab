//! The request path allocates nothing: `Policy::decide` for every request the server refuses or
//! forwards without building a header value, and `Decision::apply` into a response with room.
//!
//! Counting uses the `allocation-counter` crate's `#[global_allocator]`, not one written here: a
//! `GlobalAlloc` impl needs `unsafe impl`, and the workspace sets `unsafe_code = "forbid"`, which
//! this test crate inherits through `[lints] workspace = true` and which no `#[allow]` can lift.
//! `allocation-counter` counts per thread (a thread-local stack of counters), so the tests of this
//! binary, which libtest runs in parallel threads, cannot pollute each other's counts, unlike a
//! process-wide counter such as `stats_alloc`'s. Its `realloc` and `alloc_zeroed` go through its
//! `alloc`, so they are counted too.
//!
//! Request values are built with `HeaderValue::from_static`, whose clones never allocate (the
//! engine clones the request's own `Origin` value for a pattern match). Values that hyper parses
//! are slices of a shared `Bytes` buffer and clone without allocating either, so this is what a
//! real server sees. Every count is taken after one warm-up call of the same thing.

use allocation_counter::measure;
use crossgate::Policy;
use crossgate::server::{Action, Decision};
use http::{HeaderMap, HeaderValue, Method};

/// How many allocations `f` makes on this thread, after one warm-up call.
fn allocations(mut f: impl FnMut()) -> u64 {
    f();
    measure(f).count_total
}

/// A request's headers; names lower case, values static (clones never allocate).
fn request(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for &(name, value) in pairs {
        map.append(name, HeaderValue::from_static(value));
    }
    map
}

fn policy() -> Policy {
    Policy::builder()
        .allow_origins(["https://app.example.com", "https://*.example.org"])
        .allow_methods(["PUT", "DELETE"])
        .allow_headers(["content-type", "x-request-id"])
        .expose_headers(["x-request-id"])
        .allow_credentials(true)
        .max_age(std::time::Duration::from_secs(600))
        .build()
        .expect("a valid policy")
}

fn blocking_policy() -> Policy {
    Policy::builder()
        .allow_origins(["https://app.example.com"])
        .block_disallowed_origins(true)
        .build()
        .expect("a valid policy")
}

/// One request, and what the policy must decide: `"<kind> <rejection code or allowed>
/// <forward or status>"`, checked before counting so that each row measures the path it names.
struct Row {
    name: &'static str,
    policy: Policy,
    method: Method,
    headers: HeaderMap,
    expect: &'static str,
}

impl Row {
    fn new(
        name: &'static str,
        policy: &Policy,
        method: Method,
        headers: &[(&'static str, &'static str)],
        expect: &'static str,
    ) -> Row {
        Row {
            name,
            policy: policy.clone(),
            method,
            headers: request(headers),
            expect,
        }
    }
}

fn summary(d: &Decision) -> String {
    let verdict = d.rejection().map_or("allowed", |r| r.code());
    let action = match d.action() {
        Action::Forward => "forward".to_owned(),
        Action::Respond(status) => status.as_str().to_owned(),
    };
    format!("{} {verdict} {action}", d.kind().as_str())
}

const EXACT: (&str, &str) = ("origin", "https://app.example.com");
const PATTERN: (&str, &str) = ("origin", "https://tenant.eu.example.org");
const EVIL: (&str, &str) = ("origin", "https://evil.example.net");
const PUT: (&str, &str) = ("access-control-request-method", "PUT");
const PATCH: (&str, &str) = ("access-control-request-method", "PATCH");
const LISTED: (&str, &str) = (
    "access-control-request-headers",
    "content-type,x-request-id",
);
const UNLISTED: (&str, &str) = ("access-control-request-headers", "content-type, x-evil");
const NOT_A_LIST: (&str, &str) = ("access-control-request-headers", "content-type x-evil");
const SAME_ORIGIN: (&str, &str) = ("sec-fetch-site", "same-origin");

#[rustfmt::skip]
fn rows() -> Vec<Row> {
    let (p, b) = (policy(), blocking_policy());
    let (get, post, options) = (Method::GET, Method::POST, Method::OPTIONS);
    vec![
        Row::new("actual, exact origin", &p, get.clone(), &[EXACT], "actual allowed forward"),
        Row::new("actual, pattern origin", &p, post.clone(), &[PATTERN], "actual allowed forward"),
        Row::new("actual, origin not allowed", &p, get.clone(), &[EVIL], "actual origin-not-allowed forward"),
        Row::new("actual, two Origin headers", &p, get.clone(), &[EXACT, EXACT], "actual malformed-request-header forward"),
        Row::new("no Origin", &p, get.clone(), &[("accept", "*/*")], "not-cors allowed forward"),
        Row::new("OPTIONS without Origin", &p, options.clone(), &[PUT], "not-cors allowed forward"),
        Row::new("preflight, origin not allowed", &p, options.clone(), &[EVIL, PUT], "preflight origin-not-allowed 403"),
        Row::new("preflight, method not allowed", &p, options.clone(), &[EXACT, PATCH], "preflight method-not-allowed 403"),
        Row::new("preflight, header not allowed", &p, options.clone(), &[EXACT, PUT, UNLISTED], "preflight header-not-allowed 403"),
        Row::new("preflight, malformed header list", &p, options.clone(), &[EXACT, PUT, NOT_A_LIST], "preflight malformed-request-header 403"),
        Row::new("preflight allowed, listed headers", &p, options, &[PATTERN, PUT, LISTED], "preflight allowed 204"),
        Row::new("block_disallowed_origins, refused", &b, post.clone(), &[EVIL], "actual origin-not-allowed 403"),
        Row::new("block_disallowed_origins, same-origin", &b, post, &[EVIL, SAME_ORIGIN], "actual origin-not-allowed forward"),
    ]
}

fn decide(row: &Row) -> Decision {
    row.policy.decide(&row.method, &row.headers)
}

/// What an allowed preflight's answer costs: its header map, cloned from the policy's
/// precompiled one (`Decision::into_response_headers` hands it over without another copy).
fn answer_map_allocations(decision: Decision) -> u64 {
    let answer = decision.into_response_headers();
    allocations(|| drop(answer.clone()))
}

#[test]
fn decide_allocates_nothing_but_an_allowed_preflights_answer() {
    let mut failures = Vec::new();
    for row in rows() {
        let decision = decide(&row);
        assert_eq!(summary(&decision), row.expect, "{}", row.name);
        let expected = if row.expect == "preflight allowed 204" {
            answer_map_allocations(decision)
        } else {
            0
        };

        let n = allocations(|| drop(decide(&row)));
        if n != expected {
            failures.push(format!(
                "{}: {n} allocation(s), expected {expected}",
                row.name
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "decide allocated:\n{}",
        failures.join("\n")
    );
}

#[test]
fn apply_allocates_nothing_into_a_response_with_room() {
    let mut failures = Vec::new();
    for row in rows() {
        let decision = decide(&row);
        // Room for every CORS header and Vary; no Vary set by the application.
        let mut response = HeaderMap::with_capacity(8);
        response.insert("content-type", HeaderValue::from_static("application/json"));
        let n = allocations(|| {
            decision.apply(&mut response);
        });
        if n != 0 {
            failures.push(format!("{}: {n} allocation(s)", row.name));
        }
    }
    assert!(
        failures.is_empty(),
        "apply allocated:\n{}",
        failures.join("\n")
    );

    // The headers do land: the zeros above are not from writing nothing.
    let row = &rows()[0];
    let mut response = HeaderMap::with_capacity(8);
    decide(row).apply(&mut response);
    assert_eq!(
        response["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(response["access-control-allow-credentials"], "true");
    assert_eq!(response["access-control-expose-headers"], "x-request-id");
    assert_eq!(response["vary"], "Origin");
}

/// The counter works: a preflight that allows every header reflects the request's
/// `Access-Control-Request-Headers`, and two lines of it are joined into a new value, which
/// allocates. If this fails, the zeros above prove nothing.
#[test]
fn counter_sees_the_join_of_two_request_header_lines() {
    let reflect = Policy::builder()
        .allow_origins(["https://app.example.com"])
        .allow_methods(["PUT"])
        .allow_headers(["*"])
        .build()
        .unwrap();
    let headers = request(&[
        EXACT,
        PUT,
        ("access-control-request-headers", "content-type"),
        ("access-control-request-headers", "x-request-id"),
    ]);
    let decision = reflect.decide(&Method::OPTIONS, &headers);
    assert!(decision.is_allowed(), "{:?}", decision.rejection());
    let mut response = HeaderMap::new();
    decision.apply(&mut response);
    assert_eq!(
        response["access-control-allow-headers"],
        "content-type,x-request-id"
    );

    let answer = answer_map_allocations(reflect.decide(&Method::OPTIONS, &headers));
    assert!(answer > 0, "the answer's map is counted");
    let n = allocations(|| drop(reflect.decide(&Method::OPTIONS, &headers)));
    assert!(
        n > answer,
        "joining two lines must allocate, counted {n} (the map alone: {answer})"
    );

    // A single line is reflected as is (a clone of the request's value): nothing to build but
    // the answer's map.
    let one_line = request(&[
        EXACT,
        PUT,
        ("access-control-request-headers", "content-type"),
    ]);
    assert_eq!(
        allocations(|| drop(reflect.decide(&Method::OPTIONS, &one_line))),
        answer
    );
}
