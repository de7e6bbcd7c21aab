//! crossgate-tower's integration tests: an axum API on a real loopback TCP server with a real
//! HTTP client ([`http`]), gRPC-Web through tonic ([`grpc_web`]), runtime policy swaps
//! ([`handle`]), and the allocation count of the layer ([`alloc`]). The `tracing` events have
//! their own binary (`tests/events.rs`), because whether an event is enabled is decided once per
//! process. Real headless Chromium is the `chromium` target (`tests/chromium.rs`), which `cargo
//! test` leaves out and `scripts/test` runs.

#[path = "tower/alloc.rs"]
mod alloc;
#[path = "tower/grpc_web.rs"]
mod grpc_web;
#[path = "tower/handle.rs"]
mod handle;
#[path = "tower/http.rs"]
mod http;
#[path = "tower/support.rs"]
mod support;
