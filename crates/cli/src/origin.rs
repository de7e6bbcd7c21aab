//! `crossgate origin URL…`: the origin and site of each URL, and whether the first one is
//! same-origin and same-site with each of the others, and why.

use std::io::Write;

use anyhow::anyhow;
use crossgate::Origin;
use crossgate::origin::Comparison;
use serde::Serialize;

use crate::output::{self, Status, Table};

/// `crossgate origin --help`'s description (set on the subcommand in `main`: a doc comment there
/// would replace one set here).
pub(crate) const LONG_ABOUT: &str = "\
Prints the origin (as browsers serialize it) and the site of each URL. With two or more URLs,
compares the first one, the reference, with each of the others: same origin or not, and why
(which of scheme, host and port differ), and same site or not (schemeful same-site: the same
scheme and registrable domain, from the Public Suffix List).

data:, file:, about:blank and URLs of schemes without a tuple origin have an opaque origin,
printed `null` with the reason; an opaque origin is same-origin and same-site only with itself.

This subcommand checks nothing: it exits 0, or 2 if an argument is not a URL.";

const JSON_SCHEMA: &str = "\
--json prints one object:

  {
    \"reference\": {                  the first URL
      \"url\": string,                  as given
      \"origin\": string,               serialized origin, \"null\" if opaque
      \"site\": string | null,          scheme://registrable-domain, null if opaque
      \"opaque\": bool,
      \"opaque_reason\": string | null  why the origin is opaque
    },
    \"comparisons\": [                each other URL, in order (empty with one URL)
      {
        \"url\", \"origin\", \"site\":      as above
        \"same_origin\": bool,
        \"why\": string,                e.g. \"port differs (80 vs 81)\"
        \"differs\": {                  null if either origin is opaque
          \"scheme\": bool, \"host\": bool, \"port\": bool
        },
        \"opaque\": bool,               this URL's origin is opaque
        \"opaque_reason\": string | null,
        \"same_site\": bool
      }
    ]
  }

Example:
  crossgate origin http://www.example.com/dir/page.html http://www.example.com:81/dir/etc.html";

/// Arguments of `crossgate origin`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = JSON_SCHEMA)]
pub(crate) struct Args {
    /// The URLs; the first is the reference the others are compared with
    #[arg(value_name = "URL", required = true)]
    urls: Vec<String>,
    /// Print JSON instead of a table (schema in --help)
    #[arg(long)]
    json: bool,
}

/// A URL and its origin.
struct Entry<'a> {
    url: &'a str,
    origin: Origin,
}

/// `reference` in the JSON output.
#[derive(Serialize)]
struct ReferenceJson<'a> {
    url: &'a str,
    origin: String,
    site: Option<String>,
    opaque: bool,
    opaque_reason: Option<String>,
}

/// One of `comparisons` in the JSON output.
#[derive(Serialize)]
struct ComparisonJson<'a> {
    url: &'a str,
    origin: String,
    site: Option<String>,
    same_origin: bool,
    why: String,
    differs: Option<DiffersJson>,
    opaque: bool,
    opaque_reason: Option<String>,
    same_site: bool,
}

#[derive(Serialize)]
struct DiffersJson {
    scheme: bool,
    host: bool,
    port: bool,
}

#[derive(Serialize)]
struct ReportJson<'a> {
    reference: ReferenceJson<'a>,
    comparisons: Vec<ComparisonJson<'a>>,
}

/// Runs `crossgate origin`.
pub(crate) fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<Status> {
    // Parse every URL before printing anything: a bad one is an error, not half a table.
    let entries = args
        .urls
        .iter()
        .map(|url| {
            Origin::from_url(url)
                .map(|origin| Entry { url, origin })
                .map_err(|e| anyhow!("{}: {}", output::shown(url), e.reason()))
        })
        .collect::<anyhow::Result<Vec<Entry<'_>>>>()?;
    let Some((reference, others)) = entries.split_first() else {
        // clap requires at least one URL.
        return Ok(Status::Ok);
    };
    if args.json {
        output::write_json(out, &report(reference, others))?;
    } else if others.is_empty() {
        write_single(reference, out)?;
    } else {
        write_table(reference, others, out)?;
    }
    Ok(Status::Ok)
}

fn site(origin: &Origin) -> Option<String> {
    origin.site().map(|s| s.to_string())
}

fn opaque_reason(origin: &Origin) -> Option<String> {
    match origin {
        Origin::Opaque(o) => Some(o.reason().to_string()),
        _ => None,
    }
}

fn report<'a>(reference: &Entry<'a>, others: &[Entry<'a>]) -> ReportJson<'a> {
    let comparisons = others
        .iter()
        .map(|other| {
            let comparison = reference.origin.compare(&other.origin);
            let differs = match &comparison {
                Comparison::SameOrigin if !other.origin.is_opaque() => Some(DiffersJson {
                    scheme: false,
                    host: false,
                    port: false,
                }),
                Comparison::Differs(d) => Some(DiffersJson {
                    scheme: d.scheme.is_some(),
                    host: d.host.is_some(),
                    port: d.port.is_some(),
                }),
                _ => None,
            };
            ComparisonJson {
                url: other.url,
                origin: other.origin.to_string(),
                site: site(&other.origin),
                same_origin: comparison.is_same_origin(),
                why: comparison.to_string(),
                differs,
                opaque: other.origin.is_opaque(),
                opaque_reason: opaque_reason(&other.origin),
                same_site: reference.origin.same_site(&other.origin),
            }
        })
        .collect();
    ReportJson {
        reference: ReferenceJson {
            url: reference.url,
            origin: reference.origin.to_string(),
            site: site(&reference.origin),
            opaque: reference.origin.is_opaque(),
            opaque_reason: opaque_reason(&reference.origin),
        },
        comparisons,
    }
}

/// One URL: its origin and site, one per line.
fn write_single(entry: &Entry<'_>, out: &mut dyn Write) -> anyhow::Result<()> {
    let origin = match opaque_reason(&entry.origin) {
        Some(reason) => format!("null ({reason})"),
        None => entry.origin.to_string(),
    };
    let site = site(&entry.origin)
        .unwrap_or_else(|| "none (an opaque origin is same-site only with itself)".to_owned());
    let mut table = Table::new(&[]);
    table.row(vec!["url".into(), entry.url.into()]);
    table.row(vec!["origin".into(), origin]);
    table.row(vec!["site".into(), site]);
    table.write(out, "")?;
    Ok(())
}

/// The reference, then one row per other URL.
fn write_table(
    reference: &Entry<'_>,
    others: &[Entry<'_>],
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
    let mut table = Table::new(&["URL", "ORIGIN", "SAME ORIGIN", "SAME SITE", "WHY"]);
    let reference_note = match (opaque_reason(&reference.origin), site(&reference.origin)) {
        (Some(reason), _) => reason,
        (None, Some(site)) => format!("site {site}"),
        (None, None) => String::new(),
    };
    table.row(vec![
        reference.url.into(),
        reference.origin.to_string(),
        "(reference)".into(),
        String::new(),
        reference_note,
    ]);
    for other in others {
        let comparison = reference.origin.compare(&other.origin);
        let why = match opaque_reason(&other.origin) {
            Some(reason) if !comparison.is_same_origin() => format!("{reason}; {comparison}"),
            _ => comparison.to_string(),
        };
        table.row(vec![
            other.url.into(),
            other.origin.to_string(),
            yes_no(comparison.is_same_origin()),
            yes_no(reference.origin.same_site(&other.origin)),
            why,
        ]);
    }
    table.write(out, "")?;
    Ok(())
}
