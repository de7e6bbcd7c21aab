//! crossgate-tower's integration tests: an axum API on a real loopback TCP server with a real
//! HTTP client ([`http`]), gRPC-Web through tonic ([`grpc_web`]), real headless Chromium
//! ([`browser`]), runtime policy swaps ([`handle`]), and the allocation count of the layer
//! ([`alloc`]). The `tracing` events have their own binary (`tests/events.rs`), because whether
//! an event is enabled is decided once per process.

#[path = "tower/alloc.rs"]
mod alloc;
#[path = "tower/browser.rs"]
mod browser;
#[path = "tower/grpc_web.rs"]
mod grpc_web;
#[path = "tower/handle.rs"]
mod handle;
#[path = "../../../tests/chromium/headless.rs"]
mod headless;
#[path = "tower/http.rs"]
mod http;
#[path = "tower/support.rs"]
mod support;
