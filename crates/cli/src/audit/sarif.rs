//! `crossgate audit --sarif`: SARIF 2.1.0, the static-analysis results format code-scanning
//! dashboards read. One run; a rule per class found (id = the class id, short description = its
//! title); a result per finding, located at the target URL; targets that could not be audited
//! as tool execution notifications.

use std::io::Write;

use crossgate::audit::{Class, Severity};
use serde_json::{Value, json};

use super::TargetReport;
use super::report::evidence;
use crate::output;

/// The schema SARIF 2.1.0 files name.
pub(crate) const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// SARIF's `level`: critical and high are errors, medium a warning, low and info notes.
fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

fn location(url: &str) -> Value {
    json!({"physicalLocation": {"artifactLocation": {"uri": url}}})
}

/// Writes the SARIF log.
pub(crate) fn write(reports: &[TargetReport], out: &mut dyn Write) -> anyhow::Result<()> {
    let audited = || {
        reports
            .iter()
            .filter_map(|r| r.outcome.as_ref().ok().map(|a| (r.url.as_str(), a)))
    };
    let mut classes: Vec<Class> = audited()
        .flat_map(|(_, a)| a.findings.iter().map(|f| f.class))
        .collect();
    classes.sort();
    classes.dedup();
    let rules: Vec<Value> = classes
        .iter()
        .map(|class| {
            json!({
                "id": class.id(),
                "shortDescription": {"text": class.title()},
            })
        })
        .collect();
    let mut results = Vec::new();
    for (url, audited) in audited() {
        for (finding, poc) in audited.findings.iter().zip(&audited.pocs) {
            let mut properties = json!({
                "severity": finding.severity.as_str(),
                "origin": finding.origin,
                "evidence": evidence(finding),
                "fix": finding.fix,
            });
            if let Some(poc) = poc {
                properties["poc"] = json!(poc.display().to_string());
            }
            results.push(json!({
                "ruleId": finding.class.id(),
                "ruleIndex": classes.binary_search(&finding.class).unwrap_or_default(),
                "level": level(finding.severity),
                "message": {"text": finding.why},
                "locations": [location(url)],
                "properties": properties,
            }));
        }
    }
    let notifications: Vec<Value> = reports
        .iter()
        .filter_map(|r| {
            r.outcome.as_ref().err().map(|reason| {
                json!({
                    "level": "error",
                    "message": {"text": format!("{} could not be audited: {reason}", r.url)},
                    "locations": [location(&r.url)],
                })
            })
        })
        .collect();
    let log = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "crossgate",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": env!("CARGO_PKG_REPOSITORY"),
                "rules": rules,
            }},
            "invocations": [{
                "executionSuccessful": notifications.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }],
    });
    output::write_json(out, &log)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        let levels: Vec<&str> = [
            Severity::Critical,
            Severity::High,
            Severity::Medium,
            Severity::Low,
            Severity::Info,
        ]
        .into_iter()
        .map(level)
        .collect();
        assert_eq!(levels, ["error", "error", "warning", "note", "note"]);
    }
}
