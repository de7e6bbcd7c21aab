//! The checks a browser makes on answers: the CORS check, the preflight's
//! `Access-Control-Allow-Methods`/`-Headers`/`-Max-Age`, and which response headers script can
//! read.

use std::time::Duration;

use super::{CorsError, Profile, WireResponse};
use crate::fetch as spec;

/// The CORS check (Fetch §3.2.5 "CORS check"), in the order Chromium's `cors::CheckAccess` makes
/// it, so that the error reported is Chromium's.
pub(crate) fn cors_check(
    response: &WireResponse,
    origin: &str,
    include: bool,
) -> Result<(), CorsError> {
    let Some(allow_origin) = response.header("access-control-allow-origin") else {
        return Err(CorsError::MissingAllowOriginHeader);
    };
    if allow_origin == "*" {
        if include {
            return Err(CorsError::WildcardOriginNotAllowed);
        }
    } else if allow_origin != origin {
        if allow_origin.contains([' ', ',']) {
            return Err(CorsError::MultipleAllowOriginValues(allow_origin));
        }
        if allow_origin != "null" && url::Url::parse(&allow_origin).is_err() {
            return Err(CorsError::InvalidAllowOriginValue(allow_origin));
        }
        return Err(CorsError::AllowOriginMismatch(allow_origin));
    }
    if include {
        let allow_credentials = response.header("access-control-allow-credentials");
        if allow_credentials.as_deref() != Some("true") {
            return Err(CorsError::InvalidAllowCredentials(
                allow_credentials.unwrap_or_default(),
            ));
        }
    }
    Ok(())
}

/// A comma-separated list of tokens, empty elements ignored (RFC 9110 §5.6.1); `None` if an
/// element is not a token.
fn token_list(value: &str) -> Option<Vec<&str>> {
    value
        .split(',')
        .map(|e| e.trim_matches(|c| c == ' ' || c == '\t'))
        .filter(|e| !e.is_empty())
        .map(|e| spec::is_token(e.as_bytes()).then_some(e))
        .collect()
}

/// What a preflight's answer allows (Chromium's `PreflightResult`), kept in the preflight cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PreflightResult {
    /// Whether the answer allowed credentials (the request was credentialed and passed).
    pub(crate) credentials: bool,
    methods: Vec<String>,
    /// Lower case.
    headers: Vec<String>,
    pub(crate) max_age: Duration,
}

/// The preflight cache's default lifetime, when `Access-Control-Max-Age` is absent or invalid.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(5);

impl PreflightResult {
    /// Parses `Access-Control-Allow-Methods`, `-Headers` and `-Max-Age` (Fetch §4.8 steps 7.1–7.6).
    pub(crate) fn parse(
        response: &WireResponse,
        include: bool,
        profile: Profile,
    ) -> Result<PreflightResult, CorsError> {
        let list = |name: &str| {
            response.header(name).map(|v| {
                token_list(&v).map(|l| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
            })
        };
        let methods = match list("access-control-allow-methods") {
            None => Vec::new(),
            Some(Some(m)) => m,
            Some(None) => return Err(CorsError::InvalidAllowMethodsPreflightResponse),
        };
        let headers = match list("access-control-allow-headers") {
            None => Vec::new(),
            Some(Some(h)) => h.into_iter().map(|h| h.to_ascii_lowercase()).collect(),
            Some(None) => return Err(CorsError::InvalidAllowHeadersPreflightResponse),
        };
        Ok(PreflightResult {
            credentials: include,
            methods,
            headers,
            max_age: max_age(response, profile),
        })
    }

    /// The method check (Fetch §4.8 step 7.7): a byte-case-sensitive match, a safelisted method,
    /// or `*` without credentials. Chromium 156 compares exactly as the standard says
    /// (`fetch(u, {method: "patch"})` needs `patch`, not `PATCH`; recorded in
    /// `scenarios/matrix.chromium.json`, `method-lower-*`).
    pub(crate) fn allows_method(&self, method: &str) -> Result<(), CorsError> {
        let allowed = self.methods.iter().any(|m| m == method)
            || spec::is_cors_safelisted_method(method.as_bytes())
            || (!self.credentials && self.methods.iter().any(|m| m == "*"));
        if allowed {
            Ok(())
        } else {
            Err(CorsError::MethodDisallowedByPreflightResponse(
                method.to_owned(),
            ))
        }
    }

    /// The header check (Fetch §4.8 step 7.8): `*` without credentials allows every name —
    /// except `authorization` in the standard (a "CORS non-wildcard request-header name"), which
    /// Chromium 156 still lets `*` cover (`preflight-acah-star-authorization*` in the matrix);
    /// otherwise each name must be listed. `names` are lower case, in the order the first refusal
    /// is reported.
    pub(crate) fn allows_headers(
        &self,
        names: &[String],
        profile: Profile,
    ) -> Result<(), CorsError> {
        let wildcard = !self.credentials && self.headers.iter().any(|h| h == "*");
        for name in names {
            let listed = self.headers.contains(name);
            let non_wildcard = profile == Profile::Spec && name == "authorization";
            let covered = listed || (wildcard && !non_wildcard);
            if !covered {
                return Err(CorsError::HeaderDisallowedByPreflightResponse(name.clone()));
            }
        }
        Ok(())
    }
}

/// How long a preflight's answer is cached (Fetch §4.8 step 7.6, "CORS-preflight fetch":
/// `Access-Control-Max-Age`, capped by the browser; [`DEFAULT_MAX_AGE`] when absent or invalid).
pub fn max_age(response: &WireResponse, profile: Profile) -> Duration {
    response
        .header("access-control-max-age")
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(DEFAULT_MAX_AGE, |s| {
            Duration::from_secs(s).min(profile.max_age_cap())
        })
}

/// The lower-case names script can read from a CORS response (Fetch "CORS-filtered response"):
/// the CORS-safelisted response headers, those in `Access-Control-Expose-Headers` (`*` for all
/// without credentials), never `Set-Cookie`; sorted, each once.
pub fn readable_headers(response: &WireResponse, include: bool) -> Vec<String> {
    let exposed: Vec<String> = response
        .header("access-control-expose-headers")
        .and_then(|v| token_list(&v).map(|l| l.iter().map(|s| s.to_ascii_lowercase()).collect()))
        .unwrap_or_default();
    let all = !include && exposed.iter().any(|e| e == "*");
    let mut names: Vec<String> = response
        .headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .filter(|n| !spec::is_forbidden_response_header(n.as_bytes()))
        .filter(|n| {
            all || spec::is_cors_safelisted_response_header(n.as_bytes()) || exposed.contains(n)
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The names script can read from a same-origin ("basic") response: all but `Set-Cookie`.
pub(crate) fn readable_headers_basic(response: &WireResponse) -> Vec<String> {
    let mut names: Vec<String> = response
        .headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .filter(|n| !spec::is_forbidden_response_header(n.as_bytes()))
        .collect();
    names.sort();
    names.dedup();
    names
}
