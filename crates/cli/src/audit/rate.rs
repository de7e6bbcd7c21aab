//! `--rate N/s`: a token bucket per host, shared by the worker threads.
//!
//! Hand-written rather than the `governor` crate: the workers are plain threads that block, a
//! bucket is a dozen lines behind a mutex, and a reservation (the balance may go below zero, each
//! caller sleeps for its own place in the queue) stays fair without polling. governor's keyed
//! limiter would bring a clock abstraction, a concurrent map and async helpers for this.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Requests per second, from `20`, `20/s`, `1200/min` or `0.5/s`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Rate(f64);

impl Rate {
    /// Parses `--rate`.
    pub(crate) fn parse(text: &str) -> Result<Rate, String> {
        let (number, per) = text.split_once('/').unwrap_or((text, "s"));
        let seconds = match per.trim() {
            "s" | "sec" | "second" => 1.0,
            "m" | "min" | "minute" => 60.0,
            "h" | "hour" => 3600.0,
            _ => return Err(format!("{text:?}: expected N/s or N/min, e.g. 20/s")),
        };
        match number.trim().parse::<f64>() {
            Ok(n) if n.is_finite() && n > 0.0 && n / seconds <= 1e6 => Ok(Rate(n / seconds)),
            _ => Err(format!(
                "{text:?}: expected a number of requests more than 0 (at most 1000000/s), e.g. 20/s"
            )),
        }
    }
}

/// A token bucket per host: `rate` tokens a second, up to one second's worth (at least one)
/// saved up for a burst.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug)]
struct Bucket {
    /// Tokens left at `at`; below zero when callers are queued.
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    pub(crate) fn new(rate: Rate) -> RateLimiter {
        RateLimiter {
            rate: rate.0,
            burst: rate.0.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Blocks until a request to `host` may go.
    pub(crate) fn wait(&self, host: &str) {
        let wait = self.reserve(host, Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }

    /// Takes a token for `host` at `now` and says how long to wait before using it.
    fn reserve(&self, host: &str, now: Instant) -> Duration {
        // A poisoned lock only means another worker panicked mid-update: the numbers are fine.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bucket = buckets.entry(host.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst) - 1.0;
        bucket.at = bucket.at.max(now);
        if bucket.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-bucket.tokens / self.rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!(Rate::parse("20").unwrap().0, 20.0);
        assert_eq!(Rate::parse("20/s").unwrap().0, 20.0);
        assert_eq!(Rate::parse("120/min").unwrap().0, 2.0);
        assert_eq!(Rate::parse("0.5/s").unwrap().0, 0.5);
        for bad in [
            "0",
            "-1/s",
            "x/s",
            "20/day",
            "inf",
            "nan/s",
            "",
            "2000000/s",
        ] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_burst_then_one_per_interval_per_host() {
        let limiter = RateLimiter::new(Rate(10.0));
        let start = Instant::now();
        // Ten at once (one second's worth), then each caller queued 0.1 s after the previous.
        for _ in 0..10 {
            assert_eq!(limiter.reserve("a.test", start), Duration::ZERO);
        }
        let waits: Vec<u128> = (0..3)
            .map(|_| limiter.reserve("a.test", start).as_millis())
            .collect();
        assert_eq!(waits, [100, 200, 300]);
        // Another host has its own bucket.
        assert_eq!(limiter.reserve("b.test", start), Duration::ZERO);
        // Time refills the bucket: 1 s later, the three queued ones are paid for and 7 are back.
        let later = start + Duration::from_secs(1);
        for _ in 0..7 {
            assert_eq!(limiter.reserve("a.test", later), Duration::ZERO);
        }
        assert_eq!(limiter.reserve("a.test", later).as_millis(), 100);
    }

    #[test]
    fn slow_rates_burst_one() {
        let limiter = RateLimiter::new(Rate(0.5));
        let start = Instant::now();
        assert_eq!(limiter.reserve("a.test", start), Duration::ZERO);
        assert_eq!(limiter.reserve("a.test", start).as_secs(), 2);
    }
}
