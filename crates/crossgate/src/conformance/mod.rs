//! Does a server do what a policy says? The requests that tell, and how to compare what a page
//! would observe from the server with what it would observe if the server followed the policy.
//!
//! [`matrix`] derives the requests from a [`Policy`]: every allowed origin (a subdomain pattern
//! one and two labels deep, an any-port pattern on two ports) and the near misses of each (a
//! suffix or prefix glued to it, a dot of the host replaced by a letter, a subdomain of an exact
//! host, the bare domain of a pattern, another scheme, another port), `null` and an unrelated
//! origin; simple GETs with and without credentials, a preflighted request per allowed method
//! and header, and a refused method and refused headers (a made-up name, and names near each
//! allowed one: `x-id-x`, `x-x-id`, `x-i`); a logged-in user's preflighted request even when the
//! policy allows no credentials; optionally a request whose answer is an error status. It is
//! deterministic and bounded ([`MAX_ENTRIES`] entries of `allow_origins`, [`MAX_METHODS`]
//! methods, [`MAX_HEADERS`] headers, [`MAX_HEADER_NEAR_MISSES`] near-miss names, [`MAX_DOTS`]
//! dots a host).
//!
//! [`run_case`] sends a case through [`crate::browser::fetch`] over the live [`Transport`] the
//! edge provides, as a logged-in user's browser ([`LoggedIn`]: requests with credentials
//! `include` carry the cookie [`COOKIE`], preflights never), then again over a [`PolicyServer`]
//! behind the same [`LoggedIn`], which answers as `crossgate-tower` would
//! around the same application (the policy's [`Policy::decide`] and [`Decision::apply`](crate::server::Decision::apply), the
//! application's answer replayed from the live run), and [`compare`]s the two at the level a page
//! observes: allowed or blocked and at which step, the headers script can read, the preflight
//! cache lifetime, and `Vary: Origin` on readable answers.
//!
//! ```
//! use crossgate::Policy;
//! use crossgate::conformance::matrix;
//!
//! let policy = Policy::from_toml(r#"
//!     allow_origins = ["https://app.example.com"]
//!     allow_methods = ["PUT"]
//! "#)?;
//! let matrix = matrix(&policy, "https://api.example.com/items", None).unwrap();
//! let origins: Vec<&str> = matrix.cases.iter().map(|c| c.request.origin.as_str()).collect();
//! assert!(origins.contains(&"https://app.example.com.crossgate-evil.example"));
//! assert!(origins.contains(&"null"));
//! # Ok::<(), crossgate::policy::PolicyErrors>(())
//! ```
//!
//! What it does not do: send anything itself (the edge's transport does), or judge a server
//! that has no policy (that is [`crate::audit`]).

mod compare;
mod matrix;
mod transport;

use std::fmt;
use std::time::Duration;

use crate::browser::{
    self, FailureKind, Outcome, PreflightCache, Profile, Transport, TransportError,
    TransportErrorKind,
};
use crate::policy::Policy;

pub use compare::{Difference, DifferenceKind, Observed, Step, Verdict, compare};
pub use matrix::{
    ANY_PORTS, Case, MADE_UP_METHOD, MAX_DOTS, MAX_ENTRIES, MAX_HEADER_NEAR_MISSES, MAX_HEADERS,
    MAX_METHODS, Matrix, MatrixError, Purpose, REFUSED_HEADER, UNRELATED_ORIGIN, matrix,
};
pub use transport::{COOKIE, LoggedIn, PolicyServer};

use transport::Replay;

/// What one case did: on the server, as the policy says it should, and how they differ.
#[derive(Clone, Debug)]
pub struct CaseResult {
    /// What the page asked for, and why.
    pub case: Case,
    /// What the page would observe if the server followed the policy.
    pub expected: Observed,
    /// What the page observes from the server.
    pub actual: Observed,
    /// How they differ (empty: no difference).
    pub differences: Vec<Difference>,
    /// The live fetch, every exchange and check.
    pub actual_outcome: Outcome,
    /// Whether the expected side needed an answer of the application that the live run never
    /// got (the server blocked the request before it was sent): `200` with no header is assumed.
    pub assumed_answer: bool,
}

/// The server gave no answer at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoResponse {
    /// The URL that got none.
    pub url: String,
    /// Why.
    pub error: TransportError,
}

impl fmt::Display for NoResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.url, self.error)
    }
}

impl std::error::Error for NoResponse {}

/// Runs one case against the live server (through `live`) and as the policy says, and compares.
/// Each fetch has a preflight cache of its own, so that cases never depend on each other; both
/// go through [`LoggedIn`]: a request with credentials `include` carries [`COOKIE`].
pub fn run_case(
    case: &Case,
    policy: &Policy,
    profile: Profile,
    live: &mut dyn Transport,
) -> Result<CaseResult, NoResponse> {
    let fetch = |transport: &mut dyn Transport| {
        browser::fetch(
            &case.request,
            profile,
            transport,
            &mut PreflightCache::new(),
            Duration::ZERO,
        )
        .map_err(|e| NoResponse {
            url: case.request.url.clone(),
            error: TransportError {
                kind: TransportErrorKind::Other,
                detail: e.to_string(),
            },
        })
    };
    let actual_outcome = fetch(&mut LoggedIn::new(live, &case.request))?;
    if let Some(failure) = actual_outcome.failure() {
        if let FailureKind::Transport(error) = &failure.kind {
            return Err(NoResponse {
                url: failure.url.clone(),
                error: error.clone(),
            });
        }
    }
    let mut app = Replay {
        exchanges: actual_outcome.exchanges.clone(),
        assumed: false,
    };
    let mut policy_server = PolicyServer {
        policy,
        app: &mut app,
    };
    let expected_outcome = fetch(&mut LoggedIn::new(&mut policy_server, &case.request))?;
    let expected = Observed::of(&expected_outcome, profile);
    let actual = Observed::of(&actual_outcome, profile);
    let differences = compare(&expected, &actual);
    Ok(CaseResult {
        case: case.clone(),
        expected,
        actual,
        differences,
        actual_outcome,
        assumed_answer: app.assumed,
    })
}

#[cfg(test)]
mod tests;
