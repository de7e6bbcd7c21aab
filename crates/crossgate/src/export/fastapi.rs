//! FastAPI / Starlette: a Python module holding `CORS_KWARGS`, the keyword arguments of
//! `starlette.middleware.cors.CORSMiddleware` (which FastAPI re-exports).
//!
//! What `CORSMiddleware` does, read from its source (`starlette/middleware/cors.py`, 1.x):
//! exact origins are compared with `in allow_origins`, patterns with
//! `allow_origin_regex.fullmatch`; a preflight (`OPTIONS` with `Origin` and
//! `Access-Control-Request-Method`) is answered by the middleware, 200 `OK` when allowed and 400
//! `Disallowed CORS …` otherwise; the method must be in `allow_methods` exactly (so GET, HEAD and
//! POST are listed), `["*"]` meaning a fixed list; the simple-request headers Accept,
//! Accept-Language, Content-Language and Content-Type are always allowed; `max_age` is always
//! sent (600 by default); credentials and exposed headers go on every answer to a request with
//! `Origin`; `Vary: Origin` too.

use super::{Model, Origins, Rendered, escaped_list, escaped_string, header_comment};
use crate::fetch;
use crate::policy::OriginRule;

/// The request headers Starlette allows in every preflight.
const STARLETTE_ALWAYS_ALLOWED: [&str; 4] = [
    "accept",
    "accept-language",
    "content-language",
    "content-type",
];

/// What Starlette reads `allow_methods=["*"]` as.
const STARLETTE_ALL_METHODS: &str =
    "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT (and QUERY since Starlette 1.0)";

/// The Fetch standard's default preflight cache, in seconds.
const BROWSER_DEFAULT_MAX_AGE: i64 = 5;

pub(super) fn render(model: &Model, out: &mut Rendered) {
    if model.block {
        out.refuse(
            "cannot-block",
            "CORSMiddleware never refuses a request, but block_disallowed_origins = true asks for 403 on \
             requests from other origins (CSRF protection): Starlette would pass them to your endpoints; \
             remove block_disallowed_origins to export, and guard state-changing endpoints yourself \
             (check Sec-Fetch-Site or a CSRF token)",
        );
    }
    header_comment(
        out,
        "# ",
        "CORS for FastAPI / Starlette (CORSMiddleware)",
        model,
    );
    out.line("#");
    out.line(
        "# Use: from fastapi.middleware.cors import CORSMiddleware  # or starlette.middleware.cors",
    );
    out.line("#      from cors_settings import CORS_KWARGS");
    out.line("#      app.add_middleware(CORSMiddleware, **CORS_KWARGS)");
    out.line("");
    out.line("CORS_KWARGS = dict(");
    match &model.origins {
        Origins::Any => out.line("    allow_origins=[\"*\"],"),
        Origins::List(list) => {
            let exact: Vec<String> = list
                .iter()
                .filter(|e| matches!(e, OriginRule::Exact { .. }))
                .map(|e| escaped_string(&e.to_string()))
                .collect();
            out.line(format!("    allow_origins=[{}],", exact.join(", ")));
            let patterns: Vec<&OriginRule> = list
                .iter()
                .filter(|e| !matches!(e, OriginRule::Exact { .. }))
                .collect();
            if !patterns.is_empty() {
                let spelled: Vec<String> = patterns.iter().map(|p| p.commented()).collect();
                out.line(format!("    # {}", spelled.join(", ")));
                let regexes: Vec<String> = patterns.iter().map(|p| p.regex()).collect();
                // A plain string, not r"…": a raw string cannot escape its quote.
                out.line(format!(
                    "    allow_origin_regex={},",
                    escaped_string(&format!("^(?:{})$", regexes.join("|")))
                ));
            }
        }
    }
    match &model.methods {
        None => {
            out.line("    allow_methods=[\"*\"],");
            out.warn(
                "methods",
                format!(
                    "Starlette reads allow_methods=[\"*\"] as {STARLETTE_ALL_METHODS}: preflights for any \
                     other method are refused, where crossgate allows every method"
                ),
            );
        }
        Some(extra) => {
            let all: Vec<String> = fetch::SAFELISTED_METHODS
                .iter()
                .map(|m| (*m).to_owned())
                .chain(extra.iter().cloned())
                .collect();
            out.line("    # GET, HEAD and POST listed: Starlette checks every preflight's method against this.");
            out.line(format!("    allow_methods={},", escaped_list(&all)));
        }
    }
    match &model.headers {
        None => out.line("    allow_headers=[\"*\"],"),
        Some(list) => {
            out.line(format!("    allow_headers={},", escaped_list(list)));
            let missing: Vec<&str> = STARLETTE_ALWAYS_ALLOWED
                .iter()
                .copied()
                .filter(|h| !list.iter().any(|l| l == h))
                .collect();
            if !missing.is_empty() {
                out.warn(
                    "always-allowed-headers",
                    format!(
                        "Starlette always allows the request headers Accept, Accept-Language, Content-Language \
                         and Content-Type in preflights, whatever their value, and the policy does not allow {}: \
                         pages on allowed origins can send them (e.g. Content-Type: application/json), which \
                         crossgate refuses; add them to allow_headers if that is what you mean",
                        missing.join(", ")
                    ),
                );
            }
        }
    }
    if !model.expose.is_empty() {
        out.line(format!(
            "    expose_headers={},",
            escaped_list(&model.expose)
        ));
    }
    out.line(format!(
        "    allow_credentials={},",
        if model.credentials { "True" } else { "False" }
    ));
    match model.max_age {
        Some(max_age) => out.line(format!("    max_age={max_age},")),
        None => {
            out.line("    # The policy sets no max_age; Starlette always sends one (600 by default), so this says");
            out.line("    # the browsers' own default.");
            out.line(format!("    max_age={BROWSER_DEFAULT_MAX_AGE},"));
            out.warn(
                "max-age",
                format!(
                    "Starlette always sends Access-Control-Max-Age; the policy sets none, so the export sends \
                     {BROWSER_DEFAULT_MAX_AGE}, the browsers' default, which caches preflights just as long"
                ),
            );
        }
    }
    out.line(")");

    out.warn(
        "preflight-status",
        "Starlette answers allowed preflights 200 (body \"OK\") where crossgate answers 204, and refused ones \
         400 (body \"Disallowed CORS …\") where crossgate answers 403, with Access-Control-Allow-Methods \
         and -Headers still on them (and Access-Control-Allow-Origin when only the method or headers are \
         refused); browsers refuse a 400 preflight all the same",
    );
    if model.credentials || !model.expose.is_empty() {
        out.warn(
            "headers-on-refused",
            "Starlette adds Access-Control-Allow-Credentials and Access-Control-Expose-Headers to answers for \
             every origin, allowed or not (crossgate only for allowed ones); without \
             Access-Control-Allow-Origin browsers still refuse those reads",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::Target;
    use super::super::tests::{export, refusal};

    #[test]
    fn exact_origins_and_one_anchored_regex() {
        let e = export(
            r#"allow_origins = ["https://app.example.com", "https://*.example.org", "http://localhost:*"]
               allow_methods = ["PUT"]
               allow_headers = ["content-type", "accept", "accept-language", "content-language", "x-id"]
               allow_credentials = true
               max_age = 600"#,
            Target::Fastapi,
        );
        for line in [
            "    allow_origins=[\"https://app.example.com\"],",
            r#"    allow_origin_regex="^(?:https://(?:[a-z0-9_-]+\\.)+example\\.org|http://localhost(?::[0-9]{1,5})?)$","#,
            "    allow_methods=[\"GET\", \"HEAD\", \"POST\", \"PUT\"],",
            "    allow_credentials=True,",
            "    max_age=600,",
        ] {
            assert!(e.text.lines().any(|l| l == line), "{line}\n{}", e.text);
        }
        let codes: Vec<&str> = e.warnings.iter().map(|w| w.code).collect();
        assert_eq!(codes, ["preflight-status", "headers-on-refused"]);
    }

    #[test]
    fn what_starlette_always_allows_is_said() {
        let e = export(
            r#"allow_origins = ["https://app.example.com"]
               allow_methods = ["*"]
               allow_headers = ["x-id"]"#,
            Target::Fastapi,
        );
        assert!(e.text.contains("    max_age=5,\n"), "{}", e.text);
        assert!(
            e.text.contains("    allow_methods=[\"*\"],\n"),
            "{}",
            e.text
        );
        let codes: Vec<&str> = e.warnings.iter().map(|w| w.code).collect();
        assert_eq!(
            codes,
            [
                "methods",
                "always-allowed-headers",
                "max-age",
                "preflight-status"
            ]
        );
        let headers = &e.warnings[1].message;
        assert!(
            headers
                .contains("does not allow accept, accept-language, content-language, content-type"),
            "{headers}"
        );
    }

    #[test]
    fn any_origin() {
        let e = export(r#"allow_origins = ["*"]"#, Target::Fastapi);
        assert!(
            e.text.contains("    allow_origins=[\"*\"],\n"),
            "{}",
            e.text
        );
        assert!(!e.text.contains("allow_origin_regex"), "{}", e.text);
        assert!(
            e.text.contains("    allow_credentials=False,\n"),
            "{}",
            e.text
        );
    }

    #[test]
    fn block_is_refused() {
        let r = refusal(
            r#"allow_origins = ["https://app.example.com"]
               block_disallowed_origins = true"#,
            Target::Fastapi,
        );
        assert_eq!(r.reasons[0].code, "cannot-block");
    }
}
