//! What a page observes of a fetch ([`Observed`]: allowed or blocked at which [`Step`], readable
//! headers, preflight max-age, `Vary: Origin`), and how the server's differs from the policy's
//! ([`compare`]).

use std::time::Duration;

use crate::browser::{self, FailureKind, Outcome, Profile, WireResponse};

/// Where a blocked fetch stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// fetch() threw before sending anything.
    Fetch,
    /// The preflight's answer failed a check: the request itself was never sent.
    Preflight,
    /// The request was sent; its answer failed the CORS check.
    CorsCheck,
    /// A network error (a refused redirect).
    Network,
}

impl Step {
    /// A stable kebab-case id.
    pub fn id(self) -> &'static str {
        match self {
            Step::Fetch => "fetch",
            Step::Preflight => "preflight",
            Step::CorsCheck => "cors-check",
            Step::Network => "network",
        }
    }
}

/// Allowed or blocked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// fetch() resolves with this status.
    Allowed(u16),
    /// fetch() rejects, at this step.
    Blocked(Step),
}

/// What a page observes of one fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// Allowed or blocked, and where.
    pub verdict: Verdict,
    /// Lower-case names script can read (empty when blocked).
    pub readable_headers: Vec<String>,
    /// How long the preflight's answer is cached, when a preflight passed.
    pub max_age: Option<Duration>,
    /// Whether the readable answer says `Vary: Origin` (or `Vary: *`); `None` when blocked.
    pub vary_origin: Option<bool>,
    /// Chromium's console message, when blocked by CORS.
    pub console: Option<String>,
}

impl Observed {
    /// What a page observes of `outcome`.
    pub fn of(outcome: &Outcome, profile: Profile) -> Observed {
        let verdict = match &outcome.result {
            Ok(status) => Verdict::Allowed(*status),
            Err(failure) => Verdict::Blocked(match &failure.kind {
                FailureKind::TypeError(_) => Step::Fetch,
                FailureKind::Cors {
                    preflight: true, ..
                } => Step::Preflight,
                FailureKind::Cors { .. } => Step::CorsCheck,
                FailureKind::Network(_) | FailureKind::Transport(_) => Step::Network,
            }),
        };
        let preflight_passed = verdict != Verdict::Blocked(Step::Preflight);
        let max_age = outcome
            .exchanges
            .iter()
            .rfind(|e| e.request.preflight)
            .filter(|_| preflight_passed)
            .map(|e| browser::max_age(&e.response, profile));
        let vary_origin = match verdict {
            Verdict::Allowed(_) => outcome
                .exchanges
                .iter()
                .rfind(|e| !e.request.preflight)
                .map(|e| varies_on_origin(&e.response)),
            Verdict::Blocked(_) => None,
        };
        Observed {
            verdict,
            readable_headers: outcome.readable_headers.clone(),
            max_age,
            vary_origin,
            console: outcome.failure().and_then(crate::explain::console_message),
        }
    }

    /// `allowed (status 200)`, `blocked at the preflight`, …
    pub fn describe(&self) -> String {
        match self.verdict {
            Verdict::Allowed(status) => format!("allowed (status {status})"),
            Verdict::Blocked(Step::Fetch) => "fetch() throws before sending".to_owned(),
            Verdict::Blocked(Step::Preflight) => {
                "blocked at the preflight (the request is not sent)".to_owned()
            }
            Verdict::Blocked(Step::CorsCheck) => {
                "blocked by the CORS check (the request is sent, its answer unreadable)".to_owned()
            }
            Verdict::Blocked(Step::Network) => "blocked by a network error".to_owned(),
        }
    }
}

/// Whether a response's `Vary` names `Origin` (or is `*`).
fn varies_on_origin(response: &WireResponse) -> bool {
    response.header("vary").is_some_and(|v| {
        v.split(',')
            .map(|t| t.trim_matches(|c| c == ' ' || c == '\t'))
            .any(|t| t == "*" || t.eq_ignore_ascii_case("origin"))
    })
}

/// How the server differs from the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DifferenceKind {
    /// The server lets the page read what the policy refuses.
    AllowsRefused,
    /// The server's preflight lets through a request the policy refuses at the preflight: the
    /// answer stays unreadable, but the request reaches the server.
    SendsRefused,
    /// Script can read response headers the policy does not expose.
    ExposesMore,
    /// The server refuses what the policy allows.
    RefusesAllowed,
    /// Both refuse, but the server stops the fetch earlier than the policy does.
    BlocksEarlier,
    /// Script cannot read response headers the policy exposes.
    ExposesLess,
    /// A readable answer lacks `Vary: Origin`, which the policy sends.
    MissingVary,
    /// The preflight's answer is cached for another time than the policy says.
    MaxAge,
}

impl DifferenceKind {
    /// Every kind, in the order of [`DifferenceKind`] (the security-relevant ones first).
    pub const ALL: [DifferenceKind; 8] = [
        DifferenceKind::AllowsRefused,
        DifferenceKind::SendsRefused,
        DifferenceKind::ExposesMore,
        DifferenceKind::RefusesAllowed,
        DifferenceKind::BlocksEarlier,
        DifferenceKind::ExposesLess,
        DifferenceKind::MissingVary,
        DifferenceKind::MaxAge,
    ];

    /// The kind with this id.
    pub fn from_id(id: &str) -> Option<DifferenceKind> {
        DifferenceKind::ALL.into_iter().find(|k| k.id() == id)
    }

    /// A stable kebab-case id.
    pub fn id(self) -> &'static str {
        match self {
            DifferenceKind::AllowsRefused => "allows-refused",
            DifferenceKind::SendsRefused => "sends-refused",
            DifferenceKind::ExposesMore => "exposes-more",
            DifferenceKind::RefusesAllowed => "refuses-allowed",
            DifferenceKind::BlocksEarlier => "blocks-earlier",
            DifferenceKind::ExposesLess => "exposes-less",
            DifferenceKind::MissingVary => "missing-vary-origin",
            DifferenceKind::MaxAge => "max-age",
        }
    }

    /// A heading for the requests that differ this way.
    pub fn title(self) -> &'static str {
        match self {
            DifferenceKind::AllowsRefused => "the server allows what the policy refuses",
            DifferenceKind::SendsRefused => {
                "the server's preflight lets through requests the policy refuses"
            }
            DifferenceKind::ExposesMore => "script can read headers the policy does not expose",
            DifferenceKind::RefusesAllowed => "the server refuses what the policy allows",
            DifferenceKind::BlocksEarlier => "the server blocks earlier than the policy",
            DifferenceKind::ExposesLess => "script cannot read headers the policy exposes",
            DifferenceKind::MissingVary => {
                "readable answers without Vary: Origin (a shared cache can serve one origin's answer to another)"
            }
            DifferenceKind::MaxAge => {
                "the preflight is cached for another time than the policy says"
            }
        }
    }

    /// Whether the server is more open than the policy: something the policy refuses happens.
    pub fn is_security(self) -> bool {
        matches!(
            self,
            DifferenceKind::AllowsRefused
                | DifferenceKind::SendsRefused
                | DifferenceKind::ExposesMore
        )
    }
}

/// One way a case differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// How.
    pub kind: DifferenceKind,
    /// The specifics (`x-internal`, `5 s instead of 600 s`), if any beyond the kind.
    pub detail: Option<String>,
}

/// Every way `actual` (the server) differs from `expected` (the policy), most serious first.
pub fn compare(expected: &Observed, actual: &Observed) -> Vec<Difference> {
    let mut differences = Vec::new();
    let mut add = |kind: DifferenceKind, detail: Option<String>| {
        differences.push(Difference { kind, detail });
    };
    match (expected.verdict, actual.verdict) {
        (Verdict::Blocked(_), Verdict::Allowed(_)) => add(DifferenceKind::AllowsRefused, None),
        (Verdict::Allowed(_), Verdict::Blocked(_)) => add(DifferenceKind::RefusesAllowed, None),
        (Verdict::Blocked(policy), Verdict::Blocked(server)) if policy != server => {
            if policy == Step::Preflight && server > policy {
                add(DifferenceKind::SendsRefused, None);
            } else if server < policy {
                add(DifferenceKind::BlocksEarlier, None);
            }
        }
        (Verdict::Allowed(_), Verdict::Allowed(_)) => {
            let more: Vec<&str> = actual
                .readable_headers
                .iter()
                .filter(|h| !expected.readable_headers.contains(h))
                .map(String::as_str)
                .collect();
            if !more.is_empty() {
                add(DifferenceKind::ExposesMore, Some(more.join(", ")));
            }
            let less: Vec<&str> = expected
                .readable_headers
                .iter()
                .filter(|h| !actual.readable_headers.contains(h))
                .map(String::as_str)
                .collect();
            if !less.is_empty() {
                add(DifferenceKind::ExposesLess, Some(less.join(", ")));
            }
            if expected.vary_origin == Some(true) && actual.vary_origin == Some(false) {
                add(DifferenceKind::MissingVary, None);
            }
            if let (Some(policy), Some(server)) = (expected.max_age, actual.max_age) {
                if policy != server {
                    add(
                        DifferenceKind::MaxAge,
                        Some(format!(
                            "{} s instead of {} s",
                            server.as_secs(),
                            policy.as_secs()
                        )),
                    );
                }
            }
        }
        _ => {}
    }
    differences.sort_by_key(|d| d.kind);
    differences
}
