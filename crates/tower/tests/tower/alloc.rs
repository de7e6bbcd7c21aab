//! The layer allocates nothing for actual requests and requests without `Origin`: the same
//! request through `Cors<S>` and through `S` alone makes the same number of allocations.
//!
//! This test binary's `#[global_allocator]` is the `allocation-counter` crate's, which counts
//! per thread; a `GlobalAlloc` of our own would need `unsafe`, which the workspace forbids. The
//! inner service answers as an axum handler returning text does: a new response with one header
//! (`content-type`), whose map then has room for the CORS headers. Requests are built before
//! counting, with static values (hyper's parsed values are slices of one shared buffer; neither
//! allocates when cloned). Each count is taken after a warm-up call of the same thing (arc-swap
//! sets up its thread-local state on a thread's first load).

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use allocation_counter::measure;
use crossgate_tower::{CorsLayer, PolicyHandle};
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Request, Response};
use tower::{Layer, Service, service_fn};

use crate::support::policy;

type Inner =
    tower::util::ServiceFn<fn(Request<()>) -> std::future::Ready<Result<Response<()>, Infallible>>>;

fn inner() -> Inner {
    fn answer(_: Request<()>) -> std::future::Ready<Result<Response<()>, Infallible>> {
        let mut response = Response::new(());
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        std::future::ready(Ok(response))
    }
    service_fn(answer as fn(_) -> _)
}

/// Calls the service and polls its future to completion (the inner answers at once).
fn call<S>(service: &mut S, request: Request<()>) -> Response<()>
where
    S: Service<Request<()>, Response = Response<()>, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    let mut future = pin!(service.call(request));
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(response)) => response,
        Poll::Ready(Err(never)) => match never {},
        Poll::Pending => panic!("the test service answers at once"),
    }
}

fn request(method: &str, pairs: &[(&'static str, &'static str)]) -> Request<()> {
    let mut request = Request::builder().method(method).uri("/data");
    for &(name, value) in pairs {
        request = request.header(name, HeaderValue::from_static(value));
    }
    request.body(()).expect("valid request")
}

/// Allocations of one call of `service` with a fresh copy of `make()`'s request, after a warm-up.
fn allocations<S>(
    service: &mut S,
    make: &dyn Fn() -> Request<()>,
    check: &dyn Fn(&Response<()>),
) -> u64
where
    S: Service<Request<()>, Response = Response<()>, Error = Infallible>,
{
    check(&call(service, make()));
    let request = make();
    let mut slot = Some(request);
    let mut response = None;
    let counted = measure(|| {
        let request = slot.take().expect("one call");
        response = Some(call(service, request));
    })
    .count_total;
    check(response.as_ref().expect("answered"));
    counted
}

#[test]
fn actual_requests_and_requests_without_origin_allocate_nothing_in_the_layer() {
    type Case = (
        &'static str,
        &'static str,
        &'static [(&'static str, &'static str)],
        Option<&'static str>,
    );
    let cases: &[Case] = &[
        (
            "actual allowed, exact origin",
            "GET",
            &[("origin", "https://app.example.com")],
            Some("https://app.example.com"),
        ),
        (
            "actual allowed, pattern",
            "PUT",
            &[
                ("origin", "https://pr-1.preview.example.com"),
                ("content-type", "application/json"),
            ],
            Some("https://pr-1.preview.example.com"),
        ),
        (
            "actual refused",
            "GET",
            &[("origin", "https://evil.example")],
            None,
        ),
        ("no Origin", "GET", &[("accept", "*/*")], None),
        (
            "OPTIONS, not a preflight",
            "OPTIONS",
            &[("origin", "https://app.example.com")],
            Some("https://app.example.com"),
        ),
    ];
    let mut bare = inner();
    let mut fixed = CorsLayer::new(policy()).layer(inner());
    let handle = PolicyHandle::new(policy());
    let mut swappable = CorsLayer::from_handle(handle).layer(inner());
    let mut report = Vec::new();
    for &(name, method, pairs, acao) in cases {
        let make = || request(method, pairs);
        let check_bare = |r: &Response<()>| assert_eq!(r.headers().len(), 1, "{name}: bare");
        let check = |r: &Response<()>| {
            let got = r
                .headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().expect("ASCII"));
            assert_eq!(got, acao, "{name}");
            assert_eq!(r.headers()["vary"], "Origin", "{name}");
        };
        let base = allocations(&mut bare, &make, &check_bare);
        let layered = allocations(&mut fixed, &make, &check);
        let handled = allocations(&mut swappable, &make, &check);
        report.push(format!(
            "{name}: bare {base}, CorsLayer {layered}, with PolicyHandle {handled}"
        ));
        assert!(
            base > 0,
            "{name}: the counter counts (the inner service allocates its header map)"
        );
        assert_eq!(
            (layered, handled),
            (base, base),
            "{name}: the layer allocated\n{}",
            report.join("\n")
        );
    }
}
