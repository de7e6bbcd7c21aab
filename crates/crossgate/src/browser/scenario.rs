//! The scenario format (`scenarios/README.md`): one cross-origin request and what the servers
//! answer, and the result format `crossgate simulate` prints. Both are read by other tools: keep
//! them as they are.

use std::collections::HashMap;
use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use super::{
    Credentials, Outcome, PreflightCache, Profile, Request, RequestError, Transport,
    TransportError, WireRequest, WireResponse,
};
use crate::explain;

/// One scenario: the page's request and the servers' answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A name, unique in its file.
    pub name: String,
    /// What the page's script fetches.
    pub request: ScenarioRequest,
    /// Absolute URL → its answers. A URL missing here answers 404 with no headers.
    #[serde(default)]
    pub server: HashMap<String, Endpoint>,
}

/// `request` of a scenario.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioRequest {
    /// The page's origin.
    pub origin: String,
    /// The URL fetched.
    pub url: String,
    /// The method (default `GET`).
    #[serde(default = "get")]
    pub method: String,
    /// Header pairs in the order the page set them.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// fetch()'s credentials mode (default `same-origin`).
    #[serde(default)]
    pub credentials: Credentials,
    /// The body, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

fn get() -> String {
    "GET".to_owned()
}

/// The answers of one URL.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// The answer to an OPTIONS preflight; none: 404 with no headers.
    #[serde(default)]
    pub preflight: Option<Answer>,
    /// The answer to every other request; none: 404 with no headers.
    #[serde(default)]
    pub response: Option<Answer>,
}

/// A canned answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// The status: an HTTP status, in [`STATUS_RANGE`] ([`Scenario::check`]).
    pub status: u16,
    /// Header pairs, in order.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
}

/// The statuses an answer may have: the three-digit codes of RFC 9110 §15, 1xx to 5xx. No server
/// sends another, so a scenario with one (0, 1000) describes nothing a browser could see.
pub const STATUS_RANGE: RangeInclusive<u16> = 100..=599;

/// Why a scenario cannot be simulated as written, beyond what its JSON schema says: the field,
/// its value and what it should be.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct InvalidScenario {
    /// Where, from the scenario: `server["http://127.0.0.1:8002/r"].preflight.status`.
    pub field: String,
    /// The value found.
    pub value: String,
    /// Why it is refused and the fix.
    pub reason: String,
}

impl fmt::Display for InvalidScenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {}: {}", self.field, self.value, self.reason)
    }
}

impl std::error::Error for InvalidScenario {}

/// The result of one scenario, as `crossgate simulate` prints it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioResult {
    /// The scenario's name.
    pub name: String,
    /// `allowed` (fetch() resolves) or `blocked` (it rejects).
    pub outcome: String,
    /// The final status, when allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Whether a preflight was sent.
    pub preflight_sent: bool,
    /// Every request the browser sent, in order.
    pub requests: Vec<SentRequest>,
    /// Sorted lower-case names script can read, among the final response's headers; when allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readable_headers: Option<Vec<String>>,
    /// What Chromium prints to the console, exactly.
    pub console: Vec<String>,
}

/// A request in a [`ScenarioResult`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentRequest {
    /// The method.
    pub method: String,
    /// The absolute URL.
    pub url: String,
    /// `Origin`, if sent.
    pub origin: Option<String>,
    /// `Access-Control-Request-Method`, if sent.
    pub acrm: Option<String>,
    /// `Access-Control-Request-Headers`, if sent.
    pub acrh: Option<String>,
}

impl SentRequest {
    /// The record of a wire request.
    pub fn of(request: &WireRequest) -> SentRequest {
        let h = |n: &str| request.header(n).map(str::to_owned);
        SentRequest {
            method: request.method.clone(),
            url: request.url.clone(),
            origin: h("origin"),
            acrm: h("access-control-request-method"),
            acrh: h("access-control-request-headers"),
        }
    }
}

/// A [`Transport`] that answers from a scenario's `server` map.
#[derive(Clone, Debug)]
pub struct CannedTransport {
    server: HashMap<String, Endpoint>,
}

impl CannedTransport {
    /// A transport over a `server` map (keys are normalised as URLs).
    pub fn new(server: &HashMap<String, Endpoint>) -> CannedTransport {
        let server = server
            .iter()
            .map(|(k, v)| {
                (
                    Url::parse(k).map_or_else(|_| k.clone(), |u| u.to_string()),
                    v.clone(),
                )
            })
            .collect();
        CannedTransport { server }
    }
}

impl Transport for CannedTransport {
    fn send(&mut self, request: &WireRequest) -> Result<WireResponse, TransportError> {
        let endpoint = self.server.get(&request.url);
        let answer = endpoint.and_then(|e| {
            if request.preflight {
                e.preflight.as_ref()
            } else {
                e.response.as_ref()
            }
        });
        Ok(answer.map_or(
            WireResponse {
                status: 404,
                headers: Vec::new(),
            },
            |a| WireResponse {
                status: a.status,
                headers: a.headers.clone(),
            },
        ))
    }
}

impl Scenario {
    /// Checks what the JSON schema cannot say: every answer's status is in [`STATUS_RANGE`].
    /// The first problem is returned, URLs taken in sorted order (preflight, then response), so
    /// that the same file always gives the same error. [`Scenario::run`] checks this first.
    pub fn check(&self) -> Result<(), InvalidScenario> {
        let mut endpoints: Vec<(&String, &Endpoint)> = self.server.iter().collect();
        endpoints.sort_by_key(|&(url, _)| url);
        for (url, endpoint) in endpoints {
            let answers = [
                ("preflight", &endpoint.preflight),
                ("response", &endpoint.response),
            ];
            for (which, answer) in answers {
                let Some(answer) = answer else { continue };
                if !STATUS_RANGE.contains(&answer.status) {
                    return Err(InvalidScenario {
                        field: format!("server[{url:?}].{which}.status"),
                        value: answer.status.to_string(),
                        reason: format!(
                            "not an HTTP status ({} to {}): write the status the server answers, \
                             e.g. 200 (or 204 for a preflight)",
                            STATUS_RANGE.start(),
                            STATUS_RANGE.end()
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// The page's request.
    pub fn to_request(&self) -> Request {
        Request {
            origin: self.request.origin.clone(),
            url: self.request.url.clone(),
            method: self.request.method.clone(),
            headers: self.request.headers.clone(),
            credentials: self.request.credentials,
            body: self.request.body.clone(),
        }
    }

    /// Runs the scenario in a fresh browser (empty preflight cache) and returns the outcome; an
    /// invalid scenario ([`Scenario::check`]) is an error.
    pub fn run(&self, profile: Profile) -> Result<Outcome, RequestError> {
        self.check().map_err(|e| RequestError(e.to_string()))?;
        let mut transport = CannedTransport::new(&self.server);
        super::fetch(
            &self.to_request(),
            profile,
            &mut transport,
            &mut PreflightCache::new(),
            Duration::ZERO,
        )
    }

    /// Runs the scenario and renders the result format.
    pub fn simulate(&self, profile: Profile) -> Result<ScenarioResult, RequestError> {
        let outcome = self.run(profile)?;
        Ok(ScenarioResult::of(&self.name, &outcome))
    }
}

impl ScenarioResult {
    /// Renders an outcome in the result format. `readable_headers` is taken among the headers the
    /// final response declared (for a canned scenario, those the scenario lists).
    pub fn of(name: &str, outcome: &Outcome) -> ScenarioResult {
        let allowed = outcome.is_allowed();
        let declared: Vec<String> = outcome
            .exchanges
            .last()
            .map(|e| {
                e.response
                    .headers
                    .iter()
                    .map(|(n, _)| n.to_ascii_lowercase())
                    .collect()
            })
            .unwrap_or_default();
        ScenarioResult {
            name: name.to_owned(),
            outcome: if allowed { "allowed" } else { "blocked" }.to_owned(),
            status: outcome.result.as_ref().ok().copied(),
            preflight_sent: outcome.preflight_sent(),
            requests: outcome
                .exchanges
                .iter()
                .map(|e| SentRequest::of(&e.request))
                .collect(),
            readable_headers: allowed.then(|| {
                outcome
                    .readable_headers
                    .iter()
                    .filter(|h| declared.contains(h))
                    .cloned()
                    .collect()
            }),
            console: outcome
                .failure()
                .and_then(explain::console_message)
                .into_iter()
                .collect(),
        }
    }
}
