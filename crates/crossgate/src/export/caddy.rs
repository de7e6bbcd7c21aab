//! Caddy: a Caddyfile snippet, `(crossgate_cors)`, to `import` in a site block.
//!
//! Named matchers say what the request is (`header_regexp` with anchored, case-sensitive RE2
//! regexes for the origin and method, `(?i)` for header names), and a `route` keeps the order:
//! allowed preflights get their headers and 204, other preflights 403, then the headers of
//! allowed requests (deferred, so that they replace any the application sets).

use super::{Model, Origins, Rendered, header_comment};

/// The CORS response headers an application might set itself, removed from its answers.
const CORS_RESPONSE_HEADERS: [&str; 6] = [
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Credentials",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Max-Age",
    "Access-Control-Expose-Headers",
];

pub(super) fn render(model: &Model, out: &mut Rendered) {
    header_comment(out, "# ", "CORS for Caddy 2", model);
    out.line("#");
    out.line(
        "# Paste at the top level of your Caddyfile, then `import crossgate_cors` first in the",
    );
    out.line("# site block that serves the API (before reverse_proxy, file_server…).");
    out.line("(crossgate_cors) {");
    let origin = origin_condition(model);
    out.line("\t# A preflight: OPTIONS with Origin and Access-Control-Request-Method.");
    out.line("\t@crossgate_preflight {");
    out.line("\t\tmethod OPTIONS");
    out.line("\t\theader Origin *");
    out.line("\t\theader Access-Control-Request-Method *");
    out.line("\t}");
    out.line("\t# A preflight whose origin, method (case-sensitive) and request headers (any case) are allowed.");
    out.line("\t@crossgate_preflight_allowed {");
    out.line("\t\tmethod OPTIONS");
    out.line(format!("\t\t{origin}"));
    out.line(format!(
        "\t\theader_regexp Access-Control-Request-Method {}",
        quote(&braces(&model.method_regex()))
    ));
    if let Some(regex) = model.headers_regex() {
        out.line("\t\tnot {");
        out.line("\t\t\theader Access-Control-Request-Headers *");
        out.line(format!(
            "\t\t\tnot header_regexp Access-Control-Request-Headers {}",
            quote(&braces(&format!("(?i){regex}")))
        ));
        out.line("\t\t}");
    }
    out.line("\t}");
    if model.headers.is_none() {
        // Caddy sets a header even when its placeholder is empty: reflect only a list that is there.
        out.line(
            "\t# An allowed preflight that lists request headers (any are allowed: reflected).",
        );
        out.line("\t@crossgate_preflight_allowed_headers {");
        out.line("\t\tmethod OPTIONS");
        out.line(format!("\t\t{origin}"));
        out.line(format!(
            "\t\theader_regexp Access-Control-Request-Method {}",
            quote(&braces(&model.method_regex()))
        ));
        out.line("\t\theader Access-Control-Request-Headers *");
        out.line("\t}");
    }
    out.line("\t# Any other request from an allowed origin.");
    out.line("\t@crossgate_allowed {");
    out.line(format!("\t\t{origin}"));
    out.line("\t\tnot {");
    out.line("\t\t\tmethod OPTIONS");
    out.line("\t\t\theader Access-Control-Request-Method *");
    out.line("\t\t}");
    out.line("\t}");
    if model.block {
        out.line("\t# block_disallowed_origins: other origins get 403, unless the request is the page's own.");
        out.line("\t@crossgate_blocked {");
        out.line("\t\theader Origin *");
        out.line(format!("\t\tnot {origin}"));
        out.line("\t\tnot header Sec-Fetch-Site same-origin");
        out.line("\t}");
    }
    let allow_origin = match model.origins {
        Origins::Any => "*",
        Origins::List(_) => "{http.request.header.Origin}",
    };
    out.line("\troute {");
    out.line("\t\theader @crossgate_preflight_allowed {");
    out.line(format!(
        "\t\t\tAccess-Control-Allow-Origin \"{allow_origin}\""
    ));
    if model.credentials {
        out.line("\t\t\tAccess-Control-Allow-Credentials true");
    }
    match &model.methods {
        None => out.line(
            "\t\t\tAccess-Control-Allow-Methods \"{http.request.header.Access-Control-Request-Method}\"",
        ),
        Some(_) => {
            if let Some(methods) = model.allow_methods_value() {
                out.line(format!("\t\t\tAccess-Control-Allow-Methods {}", quote(&methods)));
            }
        }
    }
    match &model.headers {
        None => {}
        Some(_) => {
            if let Some(headers) = model.allow_headers_value() {
                out.line(format!(
                    "\t\t\tAccess-Control-Allow-Headers {}",
                    quote(&headers)
                ));
            }
        }
    }
    if let Some(max_age) = model.max_age {
        out.line(format!("\t\t\tAccess-Control-Max-Age {max_age}"));
    }
    out.line("\t\t}");
    if model.headers.is_none() {
        out.line(
            "\t\theader @crossgate_preflight_allowed_headers Access-Control-Allow-Headers \"{http.request.header.Access-Control-Request-Headers}\"",
        );
    }
    out.line(format!(
        "\t\theader @crossgate_preflight Vary \"{}\"",
        Model::PREFLIGHT_VARY
    ));
    out.line("\t\trespond @crossgate_preflight_allowed 204");
    out.line("\t\trespond @crossgate_preflight 403");
    if model.block {
        if model.vary_origin() {
            out.line("\t\theader @crossgate_blocked Vary Origin");
        }
        out.line("\t\trespond @crossgate_blocked 403");
    }
    let mut allowed_headers = vec![format!("Access-Control-Allow-Origin \"{allow_origin}\"")];
    if model.credentials {
        allowed_headers.push("Access-Control-Allow-Credentials true".to_owned());
    }
    if let Some(expose) = model.expose_value() {
        allowed_headers.push(format!("Access-Control-Expose-Headers {}", quote(&expose)));
    }
    out.line("\t\t# The headers of an allowed request, set twice: now, so that Caddy's own error answers");
    out.line("\t\t# (a 502 when the upstream is down) carry them, and deferred, after the line below has");
    out.line("\t\t# removed the application's.");
    out.line("\t\theader @crossgate_allowed {");
    for line in &allowed_headers {
        out.line(format!("\t\t\t{line}"));
    }
    out.line("\t\t}");
    out.line("\t\theader @crossgate_allowed {");
    out.line("\t\t\tdefer");
    for line in &allowed_headers {
        out.line(format!("\t\t\t{line}"));
    }
    out.line("\t\t}");
    out.line("\t\t# The policy is the only authority on CORS: the application's CORS headers are removed.");
    out.line(
        "\t\t# Deferred operations run last-listed first, so this runs before the block above.",
    );
    out.line("\t\theader {");
    out.line("\t\t\tdefer");
    for name in CORS_RESPONSE_HEADERS {
        out.line(format!("\t\t\t-{name}"));
    }
    out.line("\t\t}");
    if model.vary_origin() {
        out.line("\t\theader +Vary Origin");
    }
    out.line("\t}");
    out.line("}");
}

/// The matcher line for an allowed origin.
fn origin_condition(model: &Model) -> String {
    match (&model.origins, model.origin_regex()) {
        (Origins::Any, _) => "header Origin *".to_owned(),
        (Origins::List(_), Some(regex)) => {
            format!("header_regexp Origin {}", quote(&braces(&regex)))
        }
        // Nothing allowed: a class that matches no character.
        (Origins::List(_), None) => format!("header_regexp Origin {}", quote(r"[^\s\S]")),
    }
}

/// A regex with each escaped brace (`\{`, `\}`: a brace of the policy's text) written as `\x7b`,
/// `\x7d`, the same to RE2: Caddy reads `\{` in an imported snippet as an escaped placeholder
/// brace and drops the backslash (found by running `caddy adapt`), which would turn the
/// policy's `a{2}` into a repetition. The regexes' own braces (`{1,5}`) are left as they are.
fn braces(regex: &str) -> String {
    let mut out = String::with_capacity(regex.len());
    let mut chars = regex.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('{') => out.push_str("\\x7b"),
            Some('}') => out.push_str("\\x7d"),
            Some(n) => {
                out.push('\\');
                out.push(n);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// A double-quoted Caddyfile token: only `\"` is an escape there, every other `\` stays as it
/// is, pairs included. So a `"` is escaped, and a `\` is right as it is except in an odd run just
/// before a `"` or the closing quote, which a Caddyfile cannot say: regexes never hold one (every
/// `\` escapes a metacharacter, or is one of a pair), nor do tokens (no `\` at all).
fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::super::Target;
    use super::super::tests::export;

    #[test]
    fn matchers_and_headers() {
        let e = export(
            r#"allow_origins = ["https://app.example.com", "https://*.example.org"]
               allow_methods = ["PUT"]
               allow_headers = ["x-id"]
               expose_headers = ["x-total"]
               allow_credentials = true
               max_age = 60"#,
            Target::Caddy,
        );
        for line in [
            r#"		header_regexp Origin "^(?:https://app\.example\.com|https://(?:[a-z0-9_-]+\.)+example\.org)$""#,
            r#"		header_regexp Access-Control-Request-Method "^(?:GET|HEAD|POST|PUT)$""#,
            "\t\t\tnot header_regexp Access-Control-Request-Headers \"(?i)^[\\t ,]*(?:(?:x-id)[\\t ]*(?:,[\\t ,]*|$))*$\"",
            "\t\t\tAccess-Control-Allow-Origin \"{http.request.header.Origin}\"",
            "\t\t\tAccess-Control-Allow-Methods \"PUT\"",
            "\t\t\tAccess-Control-Max-Age 60",
            "\t\t\tAccess-Control-Expose-Headers \"x-total\"",
            "\t\trespond @crossgate_preflight_allowed 204",
            "\t\trespond @crossgate_preflight 403",
            "\t\theader +Vary Origin",
            "\t\t\t-Access-Control-Allow-Origin",
        ] {
            assert!(e.text.lines().any(|l| l == line), "{line:?}\n{}", e.text);
        }
    }

    #[test]
    fn any_origin_answers_star() {
        let e = export(r#"allow_origins = ["*"]"#, Target::Caddy);
        assert!(
            e.text.contains("\t\t\tAccess-Control-Allow-Origin \"*\"\n"),
            "{}",
            e.text
        );
        assert!(!e.text.contains("+Vary Origin"), "{}", e.text);
    }

    /// Caddy writes a header whose placeholder is empty as an empty value (found by running
    /// Caddy): the request's headers are reflected only when it lists some.
    #[test]
    fn regression_any_header_is_reflected_only_when_listed() {
        let e = export(
            r#"allow_origins = ["https://app.example.com"]
               allow_headers = ["*"]"#,
            Target::Caddy,
        );
        assert!(
            e.text.contains(
                "\t\theader @crossgate_preflight_allowed_headers Access-Control-Allow-Headers \"{http.request.header.Access-Control-Request-Headers}\"\n"
            ),
            "{}",
            e.text
        );
        let matcher = e
            .text
            .split("\t@crossgate_preflight_allowed_headers {\n")
            .nth(1)
            .and_then(|rest| rest.split("\t}").next())
            .expect("the matcher");
        assert!(
            matcher.contains("\t\theader Access-Control-Request-Headers *\n"),
            "{matcher}"
        );
        assert_eq!(
            e.text.matches("Access-Control-Allow-Headers").count(),
            2,
            "{}",
            e.text
        );
    }
}
