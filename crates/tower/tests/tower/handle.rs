//! `PolicyHandle`: a running server's policy replaced, taking effect from the next request.

use crossgate::Policy;
use crossgate_tower::{CorsLayer, PolicyHandle};

use crate::support::{Calls, app, send, serve};

fn allowing(origins: &[&str]) -> Policy {
    Policy::builder()
        .allow_origins(origins.iter().copied())
        .allow_methods(["PUT"])
        .build()
        .expect("valid")
}

#[tokio::test]
async fn a_replaced_policy_applies_from_the_next_request_on_a_live_server() {
    let handle = PolicyHandle::new(allowing(&["https://a.example"]));
    let calls = Calls::default();
    let addr = serve(app(&calls).layer(CorsLayer::from_handle(handle.clone()))).await;
    let acao = |reply: crate::support::Reply| reply.header("access-control-allow-origin");

    assert_eq!(
        acao(send(addr, "GET", "/data", &[("origin", "https://b.example")]).await),
        None
    );

    let previous = handle.replace(allowing(&["https://a.example", "https://b.example"]));
    assert!(!previous.allows_origin("https://b.example"));
    let reply = send(addr, "GET", "/data", &[("origin", "https://b.example")]).await;
    assert_eq!(acao(reply).as_deref(), Some("https://b.example"));
    let preflight = [
        ("origin", "https://b.example"),
        ("access-control-request-method", "PUT"),
    ];
    assert_eq!(
        send(addr, "OPTIONS", "/items/1", &preflight).await.status,
        204
    );

    handle.replace(allowing(&["https://b.example"]));
    assert_eq!(
        acao(send(addr, "GET", "/data", &[("origin", "https://a.example")]).await),
        None
    );
    assert!(handle.current().allows_origin("https://b.example"));
}

#[test]
fn replacing_while_other_threads_decide_never_mixes_two_policies() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tower::{Layer, Service};

    // Each policy allows exactly one origin, and its max-age says which: a response that
    // allowed one origin with the other's max-age would be a torn read.
    let first = || {
        Policy::builder()
            .allow_origins(["https://one.example"])
            .allow_methods(["PUT"])
            .max_age(std::time::Duration::from_secs(1))
            .build()
            .expect("valid")
    };
    let second = || {
        Policy::builder()
            .allow_origins(["https://two.example"])
            .allow_methods(["PUT"])
            .max_age(std::time::Duration::from_secs(2))
            .build()
            .expect("valid")
    };
    let handle = PolicyHandle::new(first());
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let handle = handle.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut swaps = 0u32;
            while !stop.load(Ordering::Relaxed) {
                handle.replace(if swaps % 2 == 0 { second() } else { first() });
                swaps += 1;
            }
            swaps
        })
    };
    let mut service =
        CorsLayer::from_handle(handle).layer(tower::service_fn(|_: http::Request<()>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(()))
        }));
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut seen = [0usize; 2];
    // At least 20,000 requests, and until each policy has been seen in force (the swapper
    // thread may start late on a loaded machine); a bound keeps a broken swap from hanging.
    let mut i = 0usize;
    while i < 20_000 || seen[0] == 0 || seen[1] == 0 {
        assert!(i < 20_000_000, "one policy was never in force: {seen:?}");
        let origin = if i % 2 == 0 {
            "https://one.example"
        } else {
            "https://two.example"
        };
        let request = http::Request::builder()
            .method("OPTIONS")
            .header("origin", origin)
            .header("access-control-request-method", "PUT")
            .body(())
            .expect("valid");
        let mut future = std::pin::pin!(service.call(request));
        let std::task::Poll::Ready(Ok(response)) = future.as_mut().poll(&mut cx) else {
            panic!("a preflight is answered at once");
        };
        if response.status() == 204 {
            let max_age = &response.headers()["access-control-max-age"];
            let expected = if origin == "https://one.example" {
                "1"
            } else {
                "2"
            };
            assert_eq!(max_age, expected, "a torn policy for {origin}");
            seen[i % 2] += 1;
        }
        i += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().expect("the swapper thread");
    assert!(swaps > 0);
}
