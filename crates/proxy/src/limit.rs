//! Rate limits: GCRA (the `governor` crate) per client IP, per `Origin`, and per target host,
//! each a number of requests per minute with a burst of the same size. A request over a limit is
//! answered 429 with `Retry-After` (and CORS headers, from the layer around), before anything is
//! sent upstream.
//!
//! The client's IP is the connection's peer, or, when the peer is one of the configured trusted
//! proxies, the rightmost address of `X-Forwarded-For` that is not one of them: a client cannot
//! pick its own IP by sending the header. An IPv6 client is counted by its /64 ([`ip_key`]): one
//! host usually holds a whole /64, and would otherwise have 2^64 budgets.
//!
//! The keys are bounded: an `Origin` and a target host are kept as a 64-bit hash (foldhash, with a
//! seed of the process's own, so that no one can aim a collision at another's budget), never as
//! the attacker's bytes. Keys back to a full burst are forgotten every [`SWEEP_EVERY`], checked
//! on the request path with one atomic load (one request wins the sweep, the others go on).

use std::future::Ready;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use http::{HeaderMap, Request, Response, header};

use crate::body::ProxyBody;
use crate::error::ProxyError;
use crate::future::Either;

pub use crate::serve::ClientAddr;

/// How often the keyed limiters forget the keys that are back to a full burst.
pub const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// A keyed limiter on clock `C`.
type Keyed<K, C> = RateLimiter<K, DashMapStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// The key of a client IP: an IPv4 address as it is (also when an IPv6 socket spells it
/// `::ffff:a.b.c.d`), an IPv6 address as its /64.
pub fn ip_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(
                u128::from(v6) & 0xffff_ffff_ffff_ffff_0000_0000_0000_0000,
            )),
        },
    }
}

/// The client's IP: `peer`, or, when `peer` is one of `trusted_proxies`, the rightmost address
/// of `X-Forwarded-For` (all its lines, in order) that is not one of them. The one reading of the
/// header, for the rate limits and the budgets alike: a client cannot pick its own IP.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[IpAddr]) -> IpAddr {
    if !trusted_proxies.contains(&peer) {
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
        .find(|hop| !trusted_proxies.contains(hop))
        .unwrap_or(peer)
}

/// The limits, shared by every connection (and every worker). `C` is the clock: governor's
/// default, or a fake one in tests.
pub struct RateLimits<C: Clock = DefaultClock> {
    per_ip: Option<Keyed<IpAddr, C>>,
    per_origin: Option<Keyed<u64, C>>,
    per_target: Option<Keyed<u64, C>>,
    trusted_proxies: Vec<IpAddr>,
    /// Seeded once per process: hashes cannot be predicted from outside.
    hasher: foldhash::quality::RandomState,
    clock: C,
    /// Where `next_sweep` counts from.
    start: C::Instant,
    /// Nanoseconds after `start` when the next sweep is due.
    next_sweep: AtomicU64,
}

impl<C: Clock> std::fmt::Debug for RateLimits<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("per_ip", &self.per_ip.is_some())
            .field("per_origin", &self.per_origin.is_some())
            .field("per_target", &self.per_target.is_some())
            .field("trusted_proxies", &self.trusted_proxies)
            .finish_non_exhaustive()
    }
}

/// Requests per minute, with a burst of the same size; `None` for no limit.
fn keyed<K: Hash + Eq + Clone, C: Clock + Clone>(
    per_minute: Option<u32>,
    clock: &C,
) -> Option<Keyed<K, C>> {
    let per_minute = NonZeroU32::new(per_minute?)?;
    Some(RateLimiter::dashmap_with_clock(
        Quota::per_minute(per_minute),
        clock.clone(),
    ))
}

/// Hashes ASCII case-insensitively, byte by byte, without a lower-case copy.
struct Lowercase<'a>(&'a [u8]);

impl Hash for Lowercase<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut buffer = [0u8; 64];
        for chunk in self.0.chunks(buffer.len()) {
            let lower = &mut buffer[..chunk.len()];
            lower.copy_from_slice(chunk);
            lower.make_ascii_lowercase();
            state.write(lower);
        }
        state.write_usize(self.0.len());
    }
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
        RateLimits::with_clock(
            per_ip,
            per_origin,
            per_target,
            trusted_proxies,
            DefaultClock::default(),
        )
    }
}

impl<C: Clock + Clone> RateLimits<C> {
    /// [`RateLimits::new`] on a clock of one's own (tests use governor's `FakeRelativeClock`).
    pub fn with_clock(
        per_ip: Option<u32>,
        per_origin: Option<u32>,
        per_target: Option<u32>,
        trusted_proxies: Vec<IpAddr>,
        clock: C,
    ) -> RateLimits<C> {
        RateLimits {
            per_ip: keyed(per_ip, &clock),
            per_origin: keyed(per_origin, &clock),
            per_target: keyed(per_target, &clock),
            trusted_proxies,
            hasher: foldhash::quality::RandomState::default(),
            start: clock.now(),
            clock,
            next_sweep: AtomicU64::new(nanos(SWEEP_EVERY)),
        }
    }

    /// The client's IP: the peer, or past trusted proxies, `X-Forwarded-For`'s rightmost
    /// untrusted address ([`client_ip`]).
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        client_ip(peer, headers, &self.trusted_proxies)
    }

    /// The key of an `Origin` value (or a target host): 8 bytes, however long the value, and the
    /// same for values that differ only in ASCII case.
    pub fn name_key(&self, name: &[u8]) -> u64 {
        self.hasher.hash_one(Lowercase(name))
    }

    /// How many keys the per-Origin limiter holds (0 without that limit).
    pub fn origin_keys(&self) -> usize {
        self.per_origin.as_ref().map_or(0, RateLimiter::len)
    }

    /// Forgets the keys back to a full burst when [`SWEEP_EVERY`] has passed since the last
    /// sweep: one atomic load per request, and one request (the one whose compare-exchange wins)
    /// does the sweep.
    fn sweep_when_due(&self) {
        let now = self.clock.now().duration_since(self.start).as_u64();
        let due = self.next_sweep.load(Ordering::Relaxed);
        if now < due
            || self
                .next_sweep
                .compare_exchange(
                    due,
                    now.saturating_add(nanos(SWEEP_EVERY)),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            return;
        }
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

    /// The per-IP and per-Origin limits for one request.
    pub fn check_client(&self, ip: Option<IpAddr>, headers: &HeaderMap) -> Result<(), ProxyError> {
        self.sweep_when_due();
        if let (Some(limiter), Some(ip)) = (&self.per_ip, ip) {
            self.limited(limiter.check_key(&ip_key(ip)), "client-ip")?;
        }
        if let (Some(limiter), Some(origin)) = (&self.per_origin, headers.get(header::ORIGIN)) {
            self.limited(
                limiter.check_key(&self.name_key(origin.as_bytes())),
                "origin",
            )?;
        }
        Ok(())
    }

    /// The per-target-host limit (anywhere mode), for each hop.
    pub fn check_target(&self, host: &str) -> Result<(), ProxyError> {
        match &self.per_target {
            Some(limiter) => {
                self.sweep_when_due();
                self.limited(
                    limiter.check_key(&self.name_key(host.as_bytes())),
                    "target-host",
                )
            }
            None => Ok(()),
        }
    }

    fn limited(
        &self,
        outcome: Result<(), governor::NotUntil<C::Instant>>,
        scope: &'static str,
    ) -> Result<(), ProxyError> {
        outcome.map_err(|not_until| ProxyError::RateLimited {
            scope,
            retry_after: not_until.wait_time_from(self.clock.now()),
        })
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
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
    type Future = Either<S::Future, Ready<Result<Response<ProxyBody>, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let ip = request
            .extensions()
            .get::<ClientAddr>()
            .map(|addr| self.limits.client_ip(addr.0.ip(), request.headers()));
        match self.limits.check_client(ip, request.headers()) {
            Ok(()) => Either::left(self.inner.call(request)),
            Err(error) => {
                tracing::debug!(target: "crossgate_proxy", code = error.code(), client = ?ip, "{error}");
                Either::right(std::future::ready(Ok(error.into_response())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_rightmost_forwarded_address_is_read_across_header_lines() {
        let trusted: IpAddr = "10.0.0.1".parse().expect("ip");
        let mut headers = HeaderMap::new();
        headers.append(
            "x-forwarded-for",
            http::HeaderValue::from_static("203.0.113.7, 198.51.100.1"),
        );
        headers.append(
            "x-forwarded-for",
            http::HeaderValue::from_static("198.51.100.9, 10.0.0.1"),
        );
        // The last line is the nearest hop: its rightmost untrusted address is the client, not
        // the first line's.
        assert_eq!(
            client_ip(trusted, &headers, &[trusted]),
            "198.51.100.9".parse::<IpAddr>().expect("ip")
        );
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

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_slash_64_and_ipv4_by_the_address() {
        assert_eq!(
            ip_key(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            ip_key(ip("2001:db8:1:2::1")),
            ip_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        );
        assert_ne!(ip_key(ip("2001:db8:1:2::1")), ip_key(ip("2001:db8:1:3::1")));
        assert_eq!(ip_key(ip("192.0.2.1")), ip("192.0.2.1"));
        // An IPv4 client on a dual-stack socket: its own address, not the /64 every IPv4 client
        // shares there.
        assert_eq!(ip_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_ne!(
            ip_key(ip("::ffff:192.0.2.1")),
            ip_key(ip("::ffff:192.0.2.2"))
        );
    }

    #[test]
    fn addresses_in_one_ipv6_slash_64_share_a_budget() {
        let limits = RateLimits::new(Some(2), None, None, Vec::new());
        let headers = HeaderMap::new();
        assert!(
            limits
                .check_client(Some(ip("2001:db8::1")), &headers)
                .is_ok()
        );
        assert!(
            limits
                .check_client(Some(ip("2001:db8::2")), &headers)
                .is_ok()
        );
        match limits.check_client(Some(ip("2001:db8::ffff:1234")), &headers) {
            Err(ProxyError::RateLimited { scope, .. }) => assert_eq!(scope, "client-ip"),
            other => panic!("a third address of the /64 is over the budget: {other:?}"),
        }
        assert!(
            limits
                .check_client(Some(ip("2001:db8:0:1::1")), &headers)
                .is_ok(),
            "the next /64 has its own"
        );
    }

    #[test]
    fn origin_keys_are_eight_bytes_however_long_the_origin() {
        let limits = RateLimits::new(None, Some(1), None, Vec::new());
        // The most hyper lets through is a 64 KiB head; each key stays 8 bytes.
        let long = |i: usize| format!("https://{i}{}.example", "a".repeat(60 << 10));
        assert_eq!(
            std::mem::size_of_val(&limits.name_key(long(0).as_bytes())),
            8
        );
        for i in 0..100 {
            let mut headers = HeaderMap::new();
            headers.insert(header::ORIGIN, long(i).parse().expect("value"));
            assert!(limits.check_client(None, &headers).is_ok(), "{i}");
        }
        assert_eq!(limits.origin_keys(), 100, "one 8-byte key per origin");
        // Still one budget per origin, and case does not make a new one.
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ORIGIN,
            long(7).to_uppercase().parse().expect("value"),
        );
        assert!(limits.check_client(None, &headers).is_err());
        assert_eq!(limits.origin_keys(), 100);
    }

    #[test]
    fn keys_are_forgotten_by_time_not_by_how_many_checks_came() {
        let clock = governor::clock::FakeRelativeClock::default();
        let limits = RateLimits::with_clock(None, Some(600), None, Vec::new(), clock.clone());
        let check = |origin: String| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ORIGIN, origin.parse().expect("value"));
            limits.check_client(None, &headers)
        };
        // Many checks in no time: nothing is forgotten (a sweep every N checks would have
        // swept at 4096), since every key is still within its window.
        for i in 0..5000 {
            assert!(check(format!("https://{i}.example")).is_ok());
        }
        assert_eq!(limits.origin_keys(), 5000);
        // Time passes: the next check sweeps the keys back to a full burst.
        clock.advance(SWEEP_EVERY);
        assert!(check("https://late.example".to_owned()).is_ok());
        assert_eq!(limits.origin_keys(), 1, "only the key just used is kept");
        // And not again before SWEEP_EVERY has passed once more.
        clock.advance(SWEEP_EVERY / 2);
        assert!(check("https://later.example".to_owned()).is_ok());
        assert_eq!(limits.origin_keys(), 2);
    }
}
