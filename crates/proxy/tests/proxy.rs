//! crossgate-proxy's integration tests, one binary. Everything runs on loopback: a real upstream
//! server on 127.0.0.1, and hooks that map names to addresses and record what would have been
//! dialled, so that an address outside 127.0.0.0/8 is checked but never connected to.

#[path = "proxy/anywhere.rs"]
mod anywhere;
#[path = "proxy/browser.rs"]
mod browser;
#[path = "proxy/connect.rs"]
mod connect;
#[path = "proxy/faults.rs"]
mod faults;
#[path = "../../../tests/chromium/headless.rs"]
mod headless;
#[path = "proxy/routes.rs"]
mod routes;
#[path = "proxy/support.rs"]
mod support;
#[path = "proxy/timeouts.rs"]
mod timeouts;
#[path = "proxy/upstream.rs"]
mod upstream;
