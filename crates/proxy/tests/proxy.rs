//! crossgate-proxy's integration tests, one binary. Everything runs on loopback: a real upstream
//! server on 127.0.0.1, and hooks that map names to addresses and record what would have been
//! dialled, so that an address outside 127.0.0.0/8 is checked but never connected to. The tests
//! in real headless Chromium are the `chromium` target (`tests/chromium.rs`), which `cargo test`
//! leaves out and `scripts/test` runs.

#[path = "proxy/anywhere.rs"]
mod anywhere;
#[path = "proxy/budget.rs"]
mod budget;
#[path = "proxy/connect.rs"]
mod connect;
#[path = "proxy/embed.rs"]
mod embed;
#[path = "proxy/faults.rs"]
mod faults;
#[path = "proxy/jsonp.rs"]
mod jsonp;
#[path = "proxy/routes.rs"]
mod routes;
#[path = "proxy/support.rs"]
mod support;
#[path = "proxy/timeouts.rs"]
mod timeouts;
#[path = "proxy/upstream.rs"]
mod upstream;
