//! crossgate-tower against tower-http 0.6's `CorsLayer` and the bare inner service, in one run,
//! with the same policy: three exact origins, GET/POST/PUT, two request headers, credentials,
//! max-age 600 (and a 1,000-origin list for one case).
//!
//! What is measured: one `Service::call` and the poll of its future to completion, then the drop
//! of the response, for a request built beforehand (outside the timing, by `iter_batched`) from
//! header values parsed once, as hyper hands them over. The inner service answers at once the way
//! an axum handler returning text does: a new response with a `content-type` header. A layer's
//! *added time* is its time minus the bare service's, per case; `benches/ratios.py` prints the
//! table of added times and ratios from criterion's estimates.
//!
//! Run: `cargo bench -p crossgate-tower --bench layer && python3 crates/tower/benches/ratios.py`
//! (about 90 seconds once built).

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use crossgate::Policy;
use http::header::{CONTENT_TYPE, HeaderName};
use http::{HeaderMap, HeaderValue, Method, Request, Response};
use tower::{Layer, Service, service_fn};

type Ready = std::future::Ready<Result<Response<()>, Infallible>>;
type Inner = tower::util::ServiceFn<fn(Request<()>) -> Ready>;

/// The application: a response with one header, at once.
fn inner() -> Inner {
    fn answer(_: Request<()>) -> Ready {
        let mut response = Response::new(());
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        std::future::ready(Ok(response))
    }
    service_fn(answer as fn(_) -> _)
}

const ORIGINS: [&str; 3] = [
    "https://app.example.com",
    "https://admin.example.com",
    "http://localhost:5173",
];

fn thousand_origins() -> Vec<String> {
    (0..1000)
        .map(|i| format!("https://app{i}.example.com"))
        .collect()
}

fn crossgate_layer(origins: &[String]) -> crossgate_tower::CorsLayer {
    let policy = Policy::builder()
        .allow_origins(origins.iter().cloned())
        .allow_methods(["GET", "POST", "PUT"])
        .allow_headers(["content-type", "x-request-id"])
        .allow_credentials(true)
        .max_age(Duration::from_secs(600))
        .build()
        .expect("the benchmark policy is valid");
    crossgate_tower::CorsLayer::new(policy)
}

fn tower_http_layer(origins: &[String]) -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let origins: Vec<HeaderValue> = origins
        .iter()
        .map(|o| HeaderValue::from_str(o).expect("valid origin"))
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::PUT])
        .allow_headers([CONTENT_TYPE, HeaderName::from_static("x-request-id")])
        .allow_credentials(true)
        .max_age(Duration::from_secs(600))
}

/// One case: a method and the request's headers (built once), and which origin list applies.
struct Case {
    name: &'static str,
    method: Method,
    headers: HeaderMap,
    thousand: bool,
    /// The `Access-Control-Allow-Origin` crossgate must answer with (checked once before
    /// measuring, so that a case never silently measures the wrong path).
    crossgate_acao: Option<&'static str>,
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for &(name, value) in pairs {
        map.append(name, HeaderValue::from_str(value).expect("valid value"));
    }
    map
}

fn cases() -> Vec<Case> {
    let hostile = "content-type, ".repeat(64 * 1024 / "content-type, ".len());
    vec![
        Case {
            name: "preflight_allowed",
            method: Method::OPTIONS,
            headers: headers(&[
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "PUT"),
                (
                    "access-control-request-headers",
                    "content-type,x-request-id",
                ),
            ]),
            thousand: false,
            crossgate_acao: Some("https://app.example.com"),
        },
        Case {
            name: "preflight_refused",
            method: Method::OPTIONS,
            headers: headers(&[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", "content-type"),
            ]),
            thousand: false,
            crossgate_acao: None,
        },
        Case {
            name: "actual_allowed",
            method: Method::GET,
            headers: headers(&[("origin", "https://app.example.com"), ("accept", "*/*")]),
            thousand: false,
            crossgate_acao: Some("https://app.example.com"),
        },
        Case {
            name: "actual_refused",
            method: Method::GET,
            headers: headers(&[("origin", "https://evil.example"), ("accept", "*/*")]),
            thousand: false,
            crossgate_acao: None,
        },
        Case {
            name: "no_origin",
            method: Method::GET,
            headers: headers(&[("accept", "*/*")]),
            thousand: false,
            crossgate_acao: None,
        },
        Case {
            // The last origin of the list: tower-http's list is scanned in order.
            name: "thousand_origins",
            method: Method::GET,
            headers: headers(&[("origin", "https://app999.example.com")]),
            thousand: true,
            crossgate_acao: Some("https://app999.example.com"),
        },
        Case {
            // 64 KiB of an allowed name: crossgate refuses it unread (over 16 KiB); tower-http
            // never reads Access-Control-Request-Headers when it has a list.
            name: "hostile_64k_acrh",
            method: Method::OPTIONS,
            headers: headers(&[
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", &hostile),
            ]),
            thousand: false,
            crossgate_acao: None,
        },
    ]
}

fn request(case: &Case) -> Request<()> {
    let mut request = Request::new(());
    *request.method_mut() = case.method.clone();
    *request.headers_mut() = case.headers.clone();
    request
}

/// Calls the service and polls its future to completion.
fn call<S>(service: &mut S, request: Request<()>) -> Response<()>
where
    S: Service<Request<()>, Response = Response<()>, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    let mut future = pin!(service.call(request));
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(response)) => response,
        Poll::Ready(Err(never)) => match never {},
        Poll::Pending => panic!("the benchmark services answer at once"),
    }
}

fn measure<S>(c: &mut Criterion, group: &str, id: &str, case: &Case, mut service: S)
where
    S: Service<Request<()>, Response = Response<()>, Error = Infallible>,
{
    let mut group = c.benchmark_group(group);
    group.bench_function(id, |b| {
        b.iter_batched(
            || request(case),
            |request| {
                let response = call(&mut service, black_box(request));
                black_box(response.status());
                drop(response);
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn layer(c: &mut Criterion) {
    let three: Vec<String> = ORIGINS.iter().map(|o| (*o).to_owned()).collect();
    let thousand = thousand_origins();
    for case in cases() {
        let origins = if case.thousand { &thousand } else { &three };
        let mut crossgate = crossgate_layer(origins).layer(inner());
        let tower_http = tower_http_layer(origins).layer(inner());

        let response = call(&mut crossgate, request(&case));
        let acao = response
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().expect("ASCII"));
        assert_eq!(acao, case.crossgate_acao, "{}", case.name);

        let group = format!("layer/{}", case.name);
        measure(c, &group, "bare", &case, inner());
        measure(c, &group, "crossgate", &case, crossgate);
        measure(c, &group, "tower-http", &case, tower_http);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(60);
    targets = layer
}
criterion_main!(benches);
