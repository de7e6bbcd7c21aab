//! AWS S3: the bucket CORS configuration as JSON, `{"CORSRules": [...]}`, the form
//! `aws s3api put-bucket-cors --cors-configuration file://cors.json` and boto3's
//! `put_bucket_cors(CORSConfiguration=...)` take (the S3 console takes the array inside).
//!
//! What S3 does (Amazon S3 user guide, "Elements of a CORS configuration" and "How Amazon S3
//! evaluates the CORS configuration"): the first rule whose `AllowedOrigins` (each with at most
//! one `*`, matching any characters), `AllowedMethods` (GET, PUT, POST, DELETE and HEAD only)
//! and, for a preflight, `AllowedHeaders` (case-insensitive, `*` wildcards) all match applies;
//! S3 then echoes the origin with `Access-Control-Allow-Credentials: true`, or answers `*` for an
//! `AllowedOrigins` of `*`; refused preflights get 403, allowed ones 200; there is no setting for
//! credentials and no way to refuse actual requests by origin.

use super::{Model, Origins, Rendered, escaped_list};
use crate::fetch;
use crate::policy::{OriginRule, PortRule};

/// The only methods S3 accepts in `AllowedMethods`.
const S3_METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];

pub(super) fn render(model: &Model, out: &mut Rendered) {
    if model.block {
        out.refuse(
            "cannot-block",
            "S3 answers every request whatever its Origin, but block_disallowed_origins = true asks for 403 \
             on requests from other origins; remove block_disallowed_origins to export (browsers still \
             keep other origins from reading the answers), or block in front of the bucket (CloudFront \
             with AWS WAF)",
        );
    }
    let origins = origins(model, out);
    let methods = methods(model, out);
    let headers = match &model.headers {
        None => vec!["*".to_owned()],
        Some(list) => {
            for name in list.iter().filter(|n| n.contains('*')) {
                out.refuse(
                    "header-wildcard",
                    format!(
                        "S3 reads `*` in AllowedHeaders as a wildcard, so the header name {name:?} would allow \
                         every header it matches; rename the header or allow every header with \"*\""
                    ),
                );
            }
            list.clone()
        }
    };

    let mut rule: Vec<String> = vec![
        format!("      \"AllowedOrigins\": {}", escaped_list(&origins)),
        format!("      \"AllowedMethods\": {}", escaped_list(&methods)),
    ];
    if !headers.is_empty() {
        rule.push(format!(
            "      \"AllowedHeaders\": {}",
            escaped_list(&headers)
        ));
    }
    if !model.expose.is_empty() {
        rule.push(format!(
            "      \"ExposeHeaders\": {}",
            escaped_list(&model.expose)
        ));
    }
    if let Some(max_age) = model.max_age {
        rule.push(format!("      \"MaxAgeSeconds\": {max_age}"));
    }
    out.line("{");
    out.line("  \"CORSRules\": [");
    out.line("    {");
    out.line(rule.join(",\n"));
    out.line("    }");
    out.line("  ]");
    out.line("}");

    if model.origins != Origins::Any {
        if model.credentials {
            out.warn(
                "credentials",
                "S3 has no credentials setting: it always sends Access-Control-Allow-Credentials: true to \
                 allowed origins, as the policy asks, but S3 itself authenticates requests by signature, \
                 never by cookie",
            );
        } else {
            out.warn(
                "credentials",
                "S3 sends Access-Control-Allow-Credentials: true to every allowed origin (it has no setting \
                 for it), so pages on those origins can also read answers to credentialed requests \
                 (fetch with credentials: \"include\"), which the policy refuses; S3 ignores cookies, so \
                 this reveals nothing more unless something in front of the bucket (a CDN, a proxy) \
                 authenticates by cookie",
            );
        }
    }
    out.warn(
        "preflight-status",
        "S3 answers allowed preflights 200 where crossgate answers 204; refused ones get 403 from both",
    );
    if model.vary_origin() {
        out.warn(
            "vary",
            "S3 adds Vary: Origin only to answers to requests that carry Origin: if a CDN caches the \
             bucket, make the cache key include Origin (CloudFront: a cache policy with the Origin \
             header), or an answer without CORS headers can be served to an allowed origin",
        );
    }
}

/// `AllowedOrigins`: one `*` each, which matches any characters.
fn origins(model: &Model, out: &mut Rendered) -> Vec<String> {
    let list = match &model.origins {
        Origins::Any => return vec!["*".to_owned()],
        Origins::List(list) => list,
    };
    if list.is_empty() {
        out.refuse(
            "no-origin",
            "S3 needs at least one allowed origin in a CORS rule; with none, delete the bucket's CORS \
             configuration instead (aws s3api delete-bucket-cors)",
        );
    }
    let mut origins = Vec::new();
    for entry in list {
        match entry {
            OriginRule::Subdomains {
                port: PortRule::Any,
                ..
            } => out.refuse(
                "origin-pattern",
                format!(
                    "S3 allows one * per origin, and {} needs two (any subdomain and any port); list the \
                     ports you use, e.g. {}",
                    entry,
                    entry.to_string().replace(":*", ":8443")
                ),
            ),
            // Any-port patterns also match the default port (no port at all).
            OriginRule::AnyPort { scheme, host } => {
                origins.push(format!("{scheme}://{host}"));
                origins.push(format!("{scheme}://{host}:*"));
            }
            // An exact origin; or `*.` then the domain: S3's `*` matches one or more labels and
            // their dots, and nothing else a browser can send before a domain.
            rule => origins.push(rule.to_string()),
        }
    }
    origins
}

/// `AllowedMethods`: GET, HEAD and POST always (S3 adds CORS headers to an actual request only for a
/// listed method), then those of the policy S3 knows.
fn methods(model: &Model, out: &mut Rendered) -> Vec<String> {
    let mut methods: Vec<String> = fetch::SAFELISTED_METHODS
        .iter()
        .map(|m| (*m).to_owned())
        .collect();
    match &model.methods {
        None => {
            methods.extend(["PUT".to_owned(), "DELETE".to_owned()]);
            out.warn(
                "methods",
                "S3 allows only GET, PUT, POST, DELETE and HEAD: preflights for any other method are refused, \
                 where the policy allows every method",
            );
        }
        Some(extra) => {
            let mut unknown = Vec::new();
            for m in extra {
                if S3_METHODS.contains(&m.as_str()) {
                    methods.push(m.clone());
                } else {
                    unknown.push(m.as_str());
                }
            }
            if !unknown.is_empty() {
                out.warn(
                    "methods",
                    format!(
                        "S3 allows only GET, PUT, POST, DELETE and HEAD: preflights for {} are refused, which \
                         the policy allows (S3 has no such operation anyway)",
                        unknown.join(", ")
                    ),
                );
            }
        }
    }
    methods
}

#[cfg(test)]
mod tests {
    use super::super::Target;
    use super::super::tests::{export, refusal};

    #[test]
    fn exact_pattern_and_any_port() {
        let e = export(
            r#"allow_origins = ["https://app.example.com", "https://*.example.org", "http://localhost:*"]
               allow_methods = ["PUT", "DELETE"]
               allow_headers = ["content-type"]
               expose_headers = ["etag"]
               allow_credentials = true
               max_age = 600"#,
            Target::S3,
        );
        assert_eq!(
            e.text,
            r#"{
  "CORSRules": [
    {
      "AllowedOrigins": ["https://app.example.com", "https://*.example.org", "http://localhost", "http://localhost:*"],
      "AllowedMethods": ["GET", "HEAD", "POST", "PUT", "DELETE"],
      "AllowedHeaders": ["content-type"],
      "ExposeHeaders": ["etag"],
      "MaxAgeSeconds": 600
    }
  ]
}
"#
        );
        let codes: Vec<&str> = e.warnings.iter().map(|w| w.code).collect();
        assert_eq!(codes, ["credentials", "preflight-status", "vary"]);
    }

    #[test]
    fn patch_is_a_warning_not_an_allowance() {
        let e = export(
            r#"allow_origins = ["*"]
               allow_methods = ["PATCH", "PUT"]"#,
            Target::S3,
        );
        assert!(e.text.contains(r#""AllowedOrigins": ["*"]"#), "{}", e.text);
        assert!(
            e.text
                .contains(r#""AllowedMethods": ["GET", "HEAD", "POST", "PUT"]"#),
            "{}",
            e.text
        );
        assert!(!e.text.contains("PATCH"), "{}", e.text);
        assert!(!e.text.contains("AllowedHeaders"), "{}", e.text);
        let methods = e
            .warnings
            .iter()
            .find(|w| w.code == "methods")
            .expect("a warning");
        assert!(
            methods.message.contains("preflights for PATCH are refused"),
            "{methods}"
        );
        // `*` without credentials: S3 answers `*`, no credentials header, no Vary needed.
        let codes: Vec<&str> = e.warnings.iter().map(|w| w.code).collect();
        assert_eq!(codes, ["methods", "preflight-status"]);
    }

    #[test]
    fn uncredentialed_list_warns_about_credentials() {
        let e = export(r#"allow_origins = ["https://app.example.com"]"#, Target::S3);
        let credentials = &e.warnings[0];
        assert_eq!(credentials.code, "credentials");
        assert!(
            credentials.message.contains("which the policy refuses"),
            "{credentials}"
        );
    }

    #[test]
    fn what_s3_cannot_say_is_refused_all_at_once() {
        let r = refusal(
            r#"allow_origins = ["https://*.example.org:*"]
               allow_headers = ["x-*"]
               block_disallowed_origins = true"#,
            Target::S3,
        );
        let codes: Vec<&str> = r.reasons.iter().map(|w| w.code).collect();
        assert_eq!(codes, ["cannot-block", "origin-pattern", "header-wildcard"]);
        assert!(
            r.reasons[1]
                .message
                .contains("list the ports you use, e.g. https://*.example.org:8443"),
            "{r}"
        );
        let none = refusal("allow_origins = []", Target::S3);
        assert_eq!(none.reasons[0].code, "no-origin");
    }
}
