//! Apache httpd: mod_setenvif classifies the request into environment variables, mod_headers
//! writes the CORS headers from them (`Header always`, so that error answers carry them too), and
//! mod_rewrite answers preflights (`R=204`, `R=403`).
//!
//! `SetEnvIf` regexes are case-sensitive (`SetEnvIfNoCase` for header names), anchored, and read
//! an absent header as empty. The variables are set in order, each `SetEnvIfExpr` reading those
//! before it.

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

const ALLOWED: &str = "\"expr=reqenv('CROSSGATE_CORS') in {'preflight', 'actual'}\"";
const PREFLIGHT: &str = "\"expr=reqenv('CROSSGATE_CORS') == 'preflight'\"";
const ACTUAL: &str = "\"expr=reqenv('CROSSGATE_CORS') == 'actual'\"";

pub(super) fn render(model: &Model, out: &mut Rendered) {
    header_comment(out, "# ", "CORS for Apache httpd 2.4", model);
    out.line("#");
    out.line(
        "# Needs mod_setenvif, mod_headers and mod_rewrite (a2enmod setenvif headers rewrite).",
    );
    out.line(
        "# Put all of it in one place: inside the <VirtualHost>, or inside one <Directory> or",
    );
    out.line("# <Location> (the variables set here must exist before the rewrite rules run).");
    out.line("");
    out.line("# 1. What the request is to CORS, as environment variables.");
    match &model.origins {
        Origins::Any => {
            out.line("# Every origin is allowed: Access-Control-Allow-Origin: *.");
            out.line("SetEnvIf Origin \"^.+$\" CROSSGATE_ORIGIN=*");
        }
        Origins::List(list) if list.is_empty() => {
            out.line("# No origin is allowed: CROSSGATE_ORIGIN is never set.");
        }
        Origins::List(list) => {
            let spelled: Vec<String> = list.iter().map(|e| e.commented()).collect();
            out.line(format!(
                "# The allowed Origin, echoed (anchored and case-sensitive): {}",
                spelled.join(", ")
            ));
            let regexes: Vec<String> = list.iter().map(|e| e.regex()).collect();
            out.line(format!(
                "SetEnvIf Origin {} CROSSGATE_ORIGIN=$1",
                quote(&format!("^({})$", regexes.join("|")))
            ));
        }
    }
    out.line(
        "# The preflight's method (case-sensitive, as browsers compare), and its request headers",
    );
    out.line("# (every comma-separated name allowed, in any case; none at all passes too).");
    out.line(format!(
        "SetEnvIf Access-Control-Request-Method {} CROSSGATE_METHOD_OK",
        quote(&model.method_regex())
    ));
    match model.headers_regex() {
        Some(regex) => out.line(format!(
            "SetEnvIfNoCase Access-Control-Request-Headers {} CROSSGATE_HEADERS_OK",
            quote(&regex)
        )),
        None => out.line("SetEnvIf Request_Method \"^\" CROSSGATE_HEADERS_OK"),
    }
    out.line(
        "SetEnvIfExpr \"%{REQUEST_METHOD} == 'OPTIONS' && -n req('Origin') && -n req('Access-Control-Request-Method')\" CROSSGATE_PREFLIGHT",
    );
    out.line(
        "SetEnvIfExpr \"-n reqenv('CROSSGATE_PREFLIGHT') && -n reqenv('CROSSGATE_ORIGIN') && -n reqenv('CROSSGATE_METHOD_OK') && -n reqenv('CROSSGATE_HEADERS_OK')\" CROSSGATE_CORS=preflight",
    );
    out.line(
        "SetEnvIfExpr \"-n reqenv('CROSSGATE_PREFLIGHT') && reqenv('CROSSGATE_CORS') != 'preflight'\" CROSSGATE_CORS=refused-preflight",
    );
    out.line(
        "SetEnvIfExpr \"-z reqenv('CROSSGATE_PREFLIGHT') && -n reqenv('CROSSGATE_ORIGIN')\" CROSSGATE_CORS=actual",
    );
    if model.block {
        out.line("# block_disallowed_origins: other origins get 403, unless the request is the page's own");
        out.line("# (Sec-Fetch-Site: same-origin).");
        out.line(
            "SetEnvIfExpr \"-z reqenv('CROSSGATE_PREFLIGHT') && -n req('Origin') && -z reqenv('CROSSGATE_ORIGIN') && req('Sec-Fetch-Site') != 'same-origin'\" CROSSGATE_CORS=blocked",
        );
    }
    out.line("");
    out.line(
        "# 2. The headers. The policy is the only authority on CORS: the application's own CORS",
    );
    out.line(
        "# headers are removed, from both of mod_headers' tables: a proxied answer's are in the",
    );
    out.line(
        "# default one, those of CGI scripts and mod_proxy_fcgi (PHP-FPM) in the `always` one.",
    );
    out.line("# `always`: error answers (4xx, 5xx) carry the policy's headers too.");
    for name in CORS_RESPONSE_HEADERS {
        out.line(format!("Header unset {name}"));
        out.line(format!("Header always unset {name}"));
    }
    out.line(format!(
        "Header always set Access-Control-Allow-Origin \"%{{CROSSGATE_ORIGIN}}e\" {ALLOWED}"
    ));
    if model.credentials {
        out.line(format!(
            "Header always set Access-Control-Allow-Credentials \"true\" {ALLOWED}"
        ));
    }
    match &model.methods {
        None => out.line(format!(
            "Header always set Access-Control-Allow-Methods \"%{{Access-Control-Request-Method}}i\" {PREFLIGHT}"
        )),
        Some(_) => {
            if let Some(methods) = model.allow_methods_value().as_deref().map(value) {
                out.line(format!(
                    "Header always set Access-Control-Allow-Methods {methods} {PREFLIGHT}"
                ));
            }
        }
    }
    match &model.headers {
        None => out.line(
            "Header always set Access-Control-Allow-Headers \"%{Access-Control-Request-Headers}i\" \"expr=reqenv('CROSSGATE_CORS') == 'preflight' && -n req('Access-Control-Request-Headers')\"",
        ),
        Some(_) => {
            if let Some(headers) = model.allow_headers_value().as_deref().map(value) {
                out.line(format!(
                    "Header always set Access-Control-Allow-Headers {headers} {PREFLIGHT}"
                ));
            }
        }
    }
    if let Some(max_age) = model.max_age {
        out.line(format!(
            "Header always set Access-Control-Max-Age \"{max_age}\" {PREFLIGHT}"
        ));
    }
    if let Some(expose) = model.expose_value().as_deref().map(value) {
        out.line(format!(
            "Header always set Access-Control-Expose-Headers {expose} {ACTUAL}"
        ));
    }
    out.line(format!(
        "Header always merge Vary \"{}\" \"expr=-n reqenv('CROSSGATE_PREFLIGHT')\"",
        Model::PREFLIGHT_VARY
    ));
    if model.vary_origin() {
        out.line("Header always merge Vary \"Origin\" \"expr=-z reqenv('CROSSGATE_PREFLIGHT')\"");
    }
    out.line("");
    out.line("# 3. Preflights are answered here, never by the application.");
    out.line("RewriteEngine On");
    out.line("RewriteCond %{ENV:CROSSGATE_CORS} =preflight");
    out.line("RewriteRule ^ - [R=204,L]");
    out.line("RewriteCond %{ENV:CROSSGATE_CORS} =refused-preflight");
    out.line("RewriteRule ^ - [R=403,L]");
    if model.block {
        out.line("RewriteCond %{ENV:CROSSGATE_CORS} =blocked");
        out.line("RewriteRule ^ - [R=403,L]");
    }
}

/// A double-quoted argument. Apache reads `\"` and `\\` in one as escapes and any other `\` as
/// itself, so a regex's `\.` is written as it is. A `${` would be read as a `Define`d variable
/// anywhere on the line: regexes escape both characters, and tokens hold no `{`.
fn quote(text: &str) -> String {
    super::double_quoted(text, "\\")
}

/// A literal `Header` value, quoted: mod_headers reads `%` as the start of a format (`%t`,
/// `%{VAR}e`).
fn value(text: &str) -> String {
    quote(&text.replace('%', "%%"))
}

#[cfg(test)]
mod tests {
    use super::super::Target;
    use super::super::tests::export;

    #[test]
    fn origins_and_lists() {
        let e = export(
            r#"allow_origins = ["https://app.example.com", "https://*.example.org"]
               allow_methods = ["PUT"]
               allow_headers = ["x-id"]
               expose_headers = ["x-total"]
               allow_credentials = true
               max_age = 60"#,
            Target::Apache,
        );
        assert!(e.warnings.is_empty(), "{:?}", e.warnings);
        for line in [
            r#"SetEnvIf Origin "^(https://app\.example\.com|https://(?:[a-z0-9_-]+\.)+example\.org)$" CROSSGATE_ORIGIN=$1"#,
            r#"SetEnvIf Access-Control-Request-Method "^(?:GET|HEAD|POST|PUT)$" CROSSGATE_METHOD_OK"#,
            "SetEnvIfNoCase Access-Control-Request-Headers \"^[\\t ,]*(?:(?:x-id)[\\t ]*(?:,[\\t ,]*|$))*$\" CROSSGATE_HEADERS_OK",
            r#"Header always set Access-Control-Allow-Credentials "true" "expr=reqenv('CROSSGATE_CORS') in {'preflight', 'actual'}""#,
            r#"Header always set Access-Control-Allow-Methods "PUT" "expr=reqenv('CROSSGATE_CORS') == 'preflight'""#,
            r#"Header always set Access-Control-Max-Age "60" "expr=reqenv('CROSSGATE_CORS') == 'preflight'""#,
            r#"Header always set Access-Control-Expose-Headers "x-total" "expr=reqenv('CROSSGATE_CORS') == 'actual'""#,
            r#"Header always merge Vary "Origin" "expr=-z reqenv('CROSSGATE_PREFLIGHT')""#,
            "RewriteRule ^ - [R=204,L]",
        ] {
            assert!(e.text.lines().any(|l| l == line), "{line}\n{}", e.text);
        }
        assert!(!e.text.contains("blocked"), "{}", e.text);
    }

    /// Found in review: `Header unset` alone leaves the headers of CGI scripts and
    /// mod_proxy_fcgi (PHP-FPM), which mod_headers keeps in its `always` table, so an
    /// application's `Access-Control-Allow-Origin: *` reached refused origins.
    #[test]
    fn regression_the_applications_headers_are_unset_from_both_tables() {
        let e = export(
            r#"allow_origins = ["https://app.example.com"]"#,
            Target::Apache,
        );
        let lines: Vec<&str> = e.text.lines().collect();
        for name in super::CORS_RESPONSE_HEADERS {
            let unset = format!("Header unset {name}");
            let always = format!("Header always unset {name}");
            let at = |line: &str| lines.iter().position(|l| *l == line);
            let always_at = at(&always).unwrap_or_else(|| panic!("{always}\n{}", e.text));
            assert!(at(&unset).is_some(), "{unset}\n{}", e.text);
            // Before the policy's own headers are set in that table, or it would remove them.
            if let Some(set) = lines
                .iter()
                .position(|l| l.starts_with(&format!("Header always set {name} ")))
            {
                assert!(always_at < set, "{}", e.text);
            }
        }
    }

    #[test]
    fn any_origin_method_and_header() {
        let e = export(
            r#"allow_origins = ["*"]
               allow_methods = ["*"]
               allow_headers = ["*"]
               block_disallowed_origins = false"#,
            Target::Apache,
        );
        assert!(
            e.text
                .contains("SetEnvIf Origin \"^.+$\" CROSSGATE_ORIGIN=*\n"),
            "{}",
            e.text
        );
        assert!(
            e.text.contains("\"%{Access-Control-Request-Method}i\""),
            "{}",
            e.text
        );
        assert!(
            e.text.contains("\"%{Access-Control-Request-Headers}i\""),
            "{}",
            e.text
        );
        assert!(!e.text.contains("merge Vary \"Origin\""), "{}", e.text);
    }

    #[test]
    fn block_answers_403_to_other_origins() {
        let e = export(
            r#"allow_origins = ["https://app.example.com"]
               block_disallowed_origins = true"#,
            Target::Apache,
        );
        assert!(
            e.text
                .contains("req('Sec-Fetch-Site') != 'same-origin'\" CROSSGATE_CORS=blocked\n"),
            "{}",
            e.text
        );
        assert!(
            e.text.ends_with(
                "RewriteCond %{ENV:CROSSGATE_CORS} =blocked\nRewriteRule ^ - [R=403,L]\n"
            ),
            "{}",
            e.text
        );
    }

    #[test]
    fn a_percent_sign_in_a_value_is_escaped() {
        let e = export(
            r#"allow_origins = ["https://app.example.com"]
               allow_methods = ["A%tB"]"#,
            Target::Apache,
        );
        assert!(
            e.text
                .contains("Header always set Access-Control-Allow-Methods \"A%%tB\""),
            "{}",
            e.text
        );
    }
}
