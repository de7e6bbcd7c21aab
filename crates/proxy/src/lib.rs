//! crossgate-proxy: the CORS proxy (upstream and anywhere modes, JSONP).
//!
//! This crate is a skeleton: it has no public items yet. The proxy is built in the
//! `crossgate proxy` issue. See ARCHITECTURE.md.
