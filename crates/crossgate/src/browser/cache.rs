//! The CORS-preflight cache (Fetch §4.9): what a preflight's answer allowed, per origin and URL,
//! until its max-age runs out. The clock is the caller's: the engine never reads the time.

use std::time::Duration;

use url::Url;

use super::Profile;
use super::check::PreflightResult;

/// What a preflight asks, and what a cached answer must allow for none to be sent: the cache's
/// key (the `Origin` sent, the URL, the credentials mode) and the request's method and
/// CORS-unsafe header names.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PreflightQuery<'a> {
    /// The `Origin` the request carries (the page's, or `null` once tainted).
    pub(crate) origin: &'a str,
    /// The request's URL.
    pub(crate) url: &'a Url,
    /// Whether the request includes credentials.
    pub(crate) include: bool,
    /// The request's method.
    pub(crate) method: &'a str,
    /// The request's CORS-unsafe header names.
    pub(crate) names: &'a [String],
}

/// Cached preflight answers. One per browsing session; [`super::fetch`] reads and fills it.
#[derive(Clone, Debug, Default)]
pub struct PreflightCache {
    entries: Vec<Entry>,
}

#[derive(Clone, Debug)]
struct Entry {
    origin: String,
    url: String,
    result: PreflightResult,
    expires: Duration,
}

impl PreflightCache {
    /// An empty cache.
    pub fn new() -> PreflightCache {
        PreflightCache::default()
    }

    /// How many answers are cached (expired ones included until replaced).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether a live entry for the query's origin and URL allows its method and header names
    /// (a "method cache entry match" and a "header-name cache entry match" for each), so that no
    /// preflight is needed.
    pub(crate) fn allows(
        &self,
        query: &PreflightQuery<'_>,
        profile: Profile,
        now: Duration,
    ) -> bool {
        self.entries.iter().any(|e| {
            e.origin == query.origin
                && e.url == query.url.as_str()
                && now < e.expires
                && (!query.include || e.result.credentials)
                && e.result.allows_method(query.method).is_ok()
                && e.result.allows_headers(query.names, profile).is_ok()
        })
    }

    /// Caches an answer (replacing the one for the same origin and URL).
    pub(crate) fn insert(
        &mut self,
        origin: &str,
        url: &str,
        result: PreflightResult,
        now: Duration,
    ) {
        self.entries
            .retain(|e| !(e.origin == origin && e.url == url));
        // `now` is the caller's clock, any value: saturate rather than overflow (a panic).
        let expires = now.saturating_add(result.max_age);
        self.entries.push(Entry {
            origin: origin.to_owned(),
            url: url.to_owned(),
            result,
            expires,
        });
    }
}
