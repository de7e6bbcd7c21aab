//! `crossgate audit`'s text and JSON: per target, the findings by severity with the origin, the
//! evidence, why and the fix; then a summary.

use std::io::{self, Write};

use crossgate::audit::{Finding, Severity};
use serde::Serialize;

use super::TargetReport;
use crate::output;

/// Origins listed for a class before "and N more".
const ORIGINS_SHOWN: usize = 3;

/// One target as text. Findings of one class and severity (one per probe origin) are shown
/// once, with every origin.
pub(crate) fn write_target(report: &TargetReport, out: &mut dyn Write) -> io::Result<()> {
    let audited = match &report.outcome {
        Ok(audited) => audited,
        Err(reason) => return writeln!(out, "{}: error: {reason}\n", report.url),
    };
    let findings = &audited.findings;
    if findings.is_empty() {
        return writeln!(out, "{}: no finding\n", report.url);
    }
    let groups = groups(findings);
    writeln!(
        out,
        "{}: {}{}",
        report.url,
        output::count(findings.len(), "finding"),
        if groups.len() < findings.len() {
            let classes = if groups.len() == 1 {
                "class"
            } else {
                "classes"
            };
            format!(" in {} {classes}", groups.len())
        } else {
            String::new()
        }
    )?;
    for group in groups {
        let first = &findings[group.start];
        writeln!(
            out,
            "  {:<8}  {}: {}",
            first.severity.as_str(),
            first.class.id(),
            first.class.title()
        )?;
        let origins: Vec<&str> = findings[group.clone()]
            .iter()
            .map(|f| f.origin.as_str())
            .collect();
        if origins.len() == 1 {
            writeln!(out, "    origin:   {}", origins[0])?;
        } else {
            let shown = origins[..origins.len().min(ORIGINS_SHOWN)].join(", ");
            let more = origins.len().saturating_sub(ORIGINS_SHOWN);
            let more = if more > 0 {
                format!(" and {more} more (--json lists them all)")
            } else {
                String::new()
            };
            writeln!(out, "    origins:  {shown}{more}")?;
        }
        for (i, (name, value)) in first.evidence.iter().enumerate() {
            let label = if i == 0 { "evidence:" } else { "" };
            writeln!(out, "    {label:<9} {name}: {value}")?;
        }
        if first.evidence.is_empty() {
            writeln!(out, "    evidence: no CORS header")?;
        }
        writeln!(out, "    why:      {}", first.why)?;
        writeln!(out, "    fix:      {}", first.fix)?;
        let pocs = &audited.pocs[group];
        if let Some(path) = pocs.iter().flatten().next() {
            writeln!(out, "    poc:      {}", path.display())?;
        }
    }
    writeln!(out)
}

/// Runs of findings with the same class and severity (the engine sorts by severity, then
/// class), as index ranges.
fn groups(findings: &[Finding]) -> Vec<std::ops::Range<usize>> {
    let mut groups: Vec<std::ops::Range<usize>> = Vec::new();
    for (i, f) in findings.iter().enumerate() {
        match groups.last_mut() {
            Some(last)
                if findings[last.start].class == f.class
                    && findings[last.start].severity == f.severity =>
            {
                last.end = i + 1;
            }
            _ => groups.push(i..i + 1),
        }
    }
    groups
}

/// The closing line: targets audited and failed, findings by severity.
pub(crate) fn write_summary(reports: &[TargetReport], out: &mut dyn Write) -> io::Result<()> {
    let failed = reports.iter().filter(|r| r.outcome.is_err()).count();
    let findings: Vec<&Finding> = reports
        .iter()
        .filter_map(|r| r.outcome.as_ref().ok())
        .flat_map(|a| &a.findings)
        .collect();
    let mut line = format!(
        "{}: {} audited",
        output::count(reports.len(), "target"),
        reports.len() - failed
    );
    if failed > 0 {
        line.push_str(&format!(", {failed} could not be audited"));
    }
    line.push_str(&format!("; {}", output::count(findings.len(), "finding")));
    let by_severity: Vec<String> = Severity::ALL
        .into_iter()
        .filter_map(|s| {
            let n = findings.iter().filter(|f| f.severity == s).count();
            (n > 0).then(|| format!("{n} {s}"))
        })
        .collect();
    if !by_severity.is_empty() {
        line.push_str(&format!(" ({})", by_severity.join(", ")));
    }
    writeln!(out, "{line}")
}

#[derive(Serialize)]
struct JsonTarget<'a> {
    url: &'a str,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    findings: Vec<JsonFinding<'a>>,
}

#[derive(Serialize)]
pub(crate) struct JsonFinding<'a> {
    class: &'static str,
    title: &'static str,
    severity: &'static str,
    origin: &'a str,
    evidence: Vec<JsonHeader<'a>>,
    why: &'a str,
    fix: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    poc: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct JsonHeader<'a> {
    name: &'a str,
    value: &'a str,
}

/// The evidence headers as `{"name", "value"}` objects (a header may repeat).
pub(crate) fn evidence(finding: &Finding) -> Vec<JsonHeader<'_>> {
    finding
        .evidence
        .iter()
        .map(|(name, value)| JsonHeader { name, value })
        .collect()
}

/// Every target as the JSON array of `--help`.
pub(crate) fn write_json(reports: &[TargetReport], out: &mut dyn Write) -> anyhow::Result<()> {
    let targets: Vec<JsonTarget<'_>> = reports
        .iter()
        .map(|report| match &report.outcome {
            Ok(audited) => JsonTarget {
                url: &report.url,
                status: "ok",
                reason: None,
                findings: audited
                    .findings
                    .iter()
                    .zip(&audited.pocs)
                    .map(|(f, poc)| JsonFinding {
                        class: f.class.id(),
                        title: f.class.title(),
                        severity: f.severity.as_str(),
                        origin: &f.origin,
                        evidence: evidence(f),
                        why: &f.why,
                        fix: &f.fix,
                        poc: poc.as_ref().map(|p| p.display().to_string()),
                    })
                    .collect(),
            },
            Err(reason) => JsonTarget {
                url: &report.url,
                status: "error",
                reason: Some(reason),
                findings: Vec::new(),
            },
        })
        .collect();
    output::write_json(out, &targets)
}
