//! crossgate-tower: the tower `Layer` over `crossgate::server` (axum, hyper, tonic).
//!
//! This crate is a skeleton: it has no public items yet. The middleware is built in the
//! crossgate-tower issue; until then use `crossgate::server` directly. See ARCHITECTURE.md.
