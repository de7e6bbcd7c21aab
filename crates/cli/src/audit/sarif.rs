//! `crossgate audit --sarif`: SARIF 2.1.0, the static-analysis results format code-scanning
//! dashboards read. One run; a rule per class found (id = the class id, short description = its
//! title); a result per finding, located at the target URL; targets that could not be audited
//! as tool execution notifications. Fields in the order of the specification's examples.

use std::io::Write;

use crossgate::audit::{Class, Severity};
use serde::Serialize;

use super::TargetReport;
use super::report::{JsonHeader, evidence};
use crate::output;

/// The schema SARIF 2.1.0 files name.
pub(crate) const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run<'a>; 1],
}

#[derive(Serialize)]
struct Run<'a> {
    tool: Tool,
    invocations: [Invocation<'a>; 1],
    results: Vec<SarifResult<'a>>,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: &'static str,
    version: &'static str,
    information_uri: &'static str,
    rules: Vec<Rule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    id: &'static str,
    short_description: Message<'static>,
}

#[derive(Serialize)]
struct Message<'a> {
    text: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation<'a> {
    execution_successful: bool,
    tool_execution_notifications: Vec<Notification<'a>>,
}

#[derive(Serialize)]
struct Notification<'a> {
    level: &'static str,
    message: OwnedMessage,
    locations: [Location<'a>; 1],
}

#[derive(Serialize)]
struct OwnedMessage {
    text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: &'static str,
    rule_index: usize,
    level: &'static str,
    message: Message<'a>,
    locations: [Location<'a>; 1],
    properties: Properties<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location<'a> {
    physical_location: PhysicalLocation<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation<'a> {
    artifact_location: ArtifactLocation<'a>,
}

#[derive(Serialize)]
struct ArtifactLocation<'a> {
    uri: &'a str,
}

/// crossgate's own fields on a result (a SARIF property bag).
#[derive(Serialize)]
struct Properties<'a> {
    severity: &'static str,
    origin: &'a str,
    evidence: Vec<JsonHeader<'a>>,
    fix: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    poc: Option<String>,
}

/// SARIF's `level`: critical and high are errors, medium a warning, low and info notes.
fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

fn location(uri: &str) -> [Location<'_>; 1] {
    [Location {
        physical_location: PhysicalLocation {
            artifact_location: ArtifactLocation { uri },
        },
    }]
}

/// Writes the SARIF log.
pub(crate) fn write(reports: &[TargetReport], out: &mut dyn Write) -> anyhow::Result<()> {
    let audited = || {
        reports
            .iter()
            .filter_map(|r| r.outcome.as_ref().ok().map(|a| (r.url.as_str(), a)))
    };
    // Every rule the auditor checks, so that a dashboard can tell "checked, nothing found" from
    // "never checked".
    let classes: Vec<Class> = Class::ALL.to_vec();
    let rules = classes
        .iter()
        .map(|class| Rule {
            id: class.id(),
            short_description: Message {
                text: class.title(),
            },
        })
        .collect();
    let mut results = Vec::new();
    for (url, audited) in audited() {
        for (finding, poc) in audited.findings.iter().zip(&audited.pocs) {
            results.push(SarifResult {
                rule_id: finding.class.id(),
                rule_index: classes.binary_search(&finding.class).unwrap_or_default(),
                level: level(finding.severity),
                message: Message { text: &finding.why },
                locations: location(url),
                properties: Properties {
                    severity: finding.severity.as_str(),
                    origin: &finding.origin,
                    evidence: evidence(finding),
                    fix: &finding.fix,
                    poc: poc.as_ref().map(|p| p.display().to_string()),
                },
            });
        }
    }
    let notifications: Vec<Notification<'_>> = reports
        .iter()
        .filter_map(|r| {
            r.outcome.as_ref().err().map(|reason| Notification {
                level: "error",
                message: OwnedMessage {
                    text: format!("{} could not be audited: {reason}", r.url),
                },
                locations: location(&r.url),
            })
        })
        .collect();
    let log = Log {
        schema: SCHEMA,
        version: "2.1.0",
        runs: [Run {
            tool: Tool {
                driver: Driver {
                    name: "crossgate",
                    version: env!("CARGO_PKG_VERSION"),
                    information_uri: env!("CARGO_PKG_REPOSITORY"),
                    rules,
                },
            },
            invocations: [Invocation {
                execution_successful: notifications.is_empty(),
                tool_execution_notifications: notifications,
            }],
            results,
        }],
    };
    output::write_json(out, &log)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        let levels: Vec<&str> = Severity::ALL.into_iter().map(level).collect();
        assert_eq!(levels, ["error", "error", "warning", "note", "note"]);
    }
}
