//! Rate limits: GCRA (the `governor` crate) per client IP, per `Origin`, and per target host,
//! each a number of requests per minute with a burst of the same size. A request over a limit is
//! answered 429 with `Retry-After` (and CORS headers, from the layer around), before anything is
//! sent upstream.
//!
//! The client's IP is the connection's peer, or, when the peer is one of the configured trusted
//! proxies, the rightmost address of `X-Forwarded-For` that is not one of them: a client cannot
//! pick its own IP by sending the header.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http::{HeaderMap, Request, Response, header};

use crate::body::ProxyBody;
use crate::connect::BoxFuture;
use crate::error::ProxyError;

/// The peer address of the connection a request came on (set by [`serve`](crate::serve::serve)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// How often the keyed limiters forget keys that are back to a full burst.
const FORGET_EVERY: u64 = 4096;

/// The limits, shared by every connection.
#[derive(Debug)]
pub struct RateLimits {
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_origin: Option<DefaultKeyedRateLimiter<Vec<u8>>>,
    per_target: Option<DefaultKeyedRateLimiter<String>>,
    trusted_proxies: Vec<IpAddr>,
    checks: AtomicU64,
}

/// Requests per minute, with a burst of the same size; `None` for no limit.
fn keyed<K: std::hash::Hash + Eq + Clone>(
    per_minute: Option<u32>,
) -> Option<DefaultKeyedRateLimiter<K>> {
    let per_minute = NonZeroU32::new(per_minute?)?;
    Some(RateLimiter::keyed(Quota::per_minute(per_minute)))
}

impl RateLimits {
    /// Limits per minute for each scope (`None` or 0: unlimited), and the proxies whose
    /// `X-Forwarded-For` is believed.
    pub fn new(
        per_ip: Option<u32>,
        per_origin: Option<u32>,
        per_target: Option<u32>,
        trusted_proxies: Vec<IpAddr>,
    ) -> RateLimits {
        RateLimits {
            per_ip: keyed(per_ip),
            per_origin: keyed(per_origin),
            per_target: keyed(per_target),
            trusted_proxies,
            checks: AtomicU64::new(0),
        }
    }

    /// The client's IP: the peer, or past trusted proxies, `X-Forwarded-For`'s rightmost
    /// untrusted address.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusted_proxies.contains(&peer) {
            return peer;
        }
        let hops: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|hop| hop.trim().parse().ok())
            .collect();
        hops.into_iter()
            .rev()
            .find(|hop| !self.trusted_proxies.contains(hop))
            .unwrap_or(peer)
    }

    fn forget_now_and_then(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            if let Some(l) = &self.per_ip {
                l.retain_recent();
            }
            if let Some(l) = &self.per_origin {
                l.retain_recent();
            }
            if let Some(l) = &self.per_target {
                l.retain_recent();
            }
        }
    }

    /// The per-IP and per-Origin limits for one request.
    pub fn check_client(&self, ip: Option<IpAddr>, headers: &HeaderMap) -> Result<(), ProxyError> {
        self.forget_now_and_then();
        if let (Some(limiter), Some(ip)) = (&self.per_ip, ip) {
            limited(limiter.check_key(&ip), "client-ip")?;
        }
        if let (Some(limiter), Some(origin)) = (&self.per_origin, headers.get(header::ORIGIN)) {
            limited(limiter.check_key(&origin.as_bytes().to_vec()), "origin")?;
        }
        Ok(())
    }

    /// The per-target-host limit (anywhere mode).
    pub fn check_target(&self, host: &str) -> Result<(), ProxyError> {
        match &self.per_target {
            Some(limiter) => limited(limiter.check_key(&host.to_ascii_lowercase()), "target-host"),
            None => Ok(()),
        }
    }
}

fn limited(
    outcome: Result<(), governor::NotUntil<<DefaultClock as Clock>::Instant>>,
    scope: &'static str,
) -> Result<(), ProxyError> {
    outcome.map_err(|not_until| ProxyError::RateLimited {
        scope,
        retry_after: not_until.wait_time_from(DefaultClock::default().now()),
    })
}

/// Whole seconds to wait, rounded up (at least 1): the `Retry-After` value.
pub(crate) fn retry_after_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// The per-client limits in front of a service (inside the CORS layer, so that a 429 carries the
/// CORS headers and the page can read it).
#[derive(Clone, Debug)]
pub struct Limited<S> {
    inner: S,
    limits: Arc<RateLimits>,
}

impl<S> Limited<S> {
    /// `inner`, behind `limits`.
    pub fn new(inner: S, limits: Arc<RateLimits>) -> Limited<S> {
        Limited { inner, limits }
    }
}

impl<S, B> tower_service::Service<Request<B>> for Limited<S>
where
    S: tower_service::Service<Request<B>, Response = Response<ProxyBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<ProxyBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<ProxyBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let ip = request
            .extensions()
            .get::<ClientAddr>()
            .map(|addr| self.limits.client_ip(addr.0.ip(), request.headers()));
        match self.limits.check_client(ip, request.headers()) {
            Ok(()) => Box::pin(self.inner.call(request)),
            Err(error) => {
                tracing::debug!(target: "crossgate_proxy", code = error.code(), client = ?ip, "{error}");
                Box::pin(std::future::ready(Ok(error.into_response())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1000)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let limits = RateLimits::new(None, None, None, vec!["10.0.0.1".parse().expect("ip")]);
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "203.0.113.7, 198.51.100.9, 10.0.0.1"
                .parse()
                .expect("value"),
        );
        let trusted: IpAddr = "10.0.0.1".parse().expect("ip");
        let stranger: IpAddr = "192.0.2.1".parse().expect("ip");
        // From the trusted proxy: the rightmost address that is not a trusted proxy.
        assert_eq!(
            limits.client_ip(trusted, &headers),
            "198.51.100.9".parse::<IpAddr>().expect("ip")
        );
        // From anyone else: the header is ignored.
        assert_eq!(limits.client_ip(stranger, &headers), stranger);
    }

    #[test]
    fn a_burst_past_the_limit_is_refused_with_a_wait() {
        let limits = RateLimits::new(Some(3), None, Some(2), Vec::new());
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        let headers = HeaderMap::new();
        for _ in 0..3 {
            assert!(limits.check_client(Some(ip), &headers).is_ok());
        }
        match limits.check_client(Some(ip), &headers) {
            Err(ProxyError::RateLimited { scope, retry_after }) => {
                assert_eq!(scope, "client-ip");
                assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(20));
            }
            other => panic!("expected a rate limit, got {other:?}"),
        }
        // Another client is not affected.
        assert!(
            limits
                .check_client(Some("192.0.2.2".parse().expect("ip")), &headers)
                .is_ok()
        );
        assert!(limits.check_target("API.example.com").is_ok());
        assert!(limits.check_target("api.example.com").is_ok());
        assert!(
            limits.check_target("api.example.com").is_err(),
            "hosts are case-insensitive"
        );
    }
}
