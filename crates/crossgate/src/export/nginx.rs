//! nginx: `map` blocks for `http {}` (part 1) and the directives to put in a `location` (part 2).
//!
//! The two parts are separated by the lines [`PART_1`] and [`PART_2`], so that a script can split
//! them into the two files nginx needs (`map` is only allowed at `http {}` level; `if` and the
//! `add_header`s belong in the `location`).
//!
//! Every decision is a `map`, evaluated lazily per request: the allowed origin (case-sensitive,
//! anchored regexes: nginx compares plain map strings ignoring case), whether the requested
//! method and headers are allowed, and from those what the request is to CORS (`preflight`,
//! `refused-preflight`, `actual`, `blocked`, or nothing). Each response header's value is a map
//! of that, empty when it must not be sent (nginx skips `add_header` with an empty value). The
//! `location` part then only has `add_header … always` lines and `if (…) { return …; }` blocks
//! with no `add_header` inside them, which sidesteps nginx's `if` trap.

use super::{Model, Origins, Rendered, header_comment};

/// The line that starts part 1 (inside `http {}`).
pub(super) const PART_1: &str = "# === part 1: inside http { } ===";

/// The line that starts part 2 (inside the `location {}` that serves the API).
pub(super) const PART_2: &str = "# === part 2: inside the location { } that serves the API ===";

/// The CORS response headers an application might set itself, hidden from proxied answers.
const CORS_RESPONSE_HEADERS: [&str; 6] = [
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Credentials",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Max-Age",
    "Access-Control-Expose-Headers",
];

pub(super) fn render(model: &Model, out: &mut Rendered) {
    // nginx reads `$` in a value as a variable and has no escape for it.
    let names = model
        .methods
        .iter()
        .chain(&model.headers)
        .chain([&model.expose]);
    for name in names.flatten().filter(|n| n.contains('$')) {
        out.refuse(
            "dollar-sign",
            format!(
                "nginx reads `$` in a header value as a variable and cannot escape it, so {name:?} cannot \
                 be written; rename it"
            ),
        );
    }
    header_comment(out, "# ", "CORS for nginx", model);
    out.line("#");
    out.line(
        "# Two parts, marked below. nginx allows `map` only inside `http { }`, so part 1 goes",
    );
    out.line("# there (once, e.g. in conf.d/crossgate-cors-maps.conf); part 2 goes inside the");
    out.line("# `location` that serves the API (e.g. `include snippets/crossgate-cors.conf;`).");
    out.line(
        "# The variables are named $crossgate_…: one exported policy per nginx configuration.",
    );
    out.line("");
    out.line(PART_1);
    out.line("");
    origin_map(model, out);
    method_map(model, out);
    headers_map(model, out);
    kind_map(model, out);
    value_maps(model, out);
    out.line(PART_2);
    out.line("");
    location(model, out);
}

/// A double-quoted nginx string. nginx reads `\"`, `\'`, `\\`, `\t`, `\r` and `\n` in one as
/// escapes and any other `\` as itself, so a regex's `\.` is written as it is. `$` is the
/// caller's: nginx reads it as a variable in a value (refused) and as itself in a map's regex key
/// (escaped there as `\$`).
fn quote(text: &str) -> String {
    super::double_quoted(text, "'\\trn")
}

fn origin_map(model: &Model, out: &mut Rendered) {
    out.line("# The answer's Access-Control-Allow-Origin for an allowed Origin, else \"\" (nginx sends no");
    out.line(
        "# header whose value is empty). Every entry is an anchored, case-sensitive regex (`~`):",
    );
    out.line(
        "# nginx compares plain strings in a map ignoring case, and browsers send origins exactly.",
    );
    out.line("map $http_origin $crossgate_origin {");
    match &model.origins {
        Origins::Any => {
            out.line("    default \"*\";");
            out.line("    \"\" \"\";");
        }
        Origins::List(list) => {
            out.line("    default \"\";");
            for entry in list {
                out.line(format!(
                    "    {} $http_origin;  # {}",
                    quote(&format!("~^{}$", entry.regex())),
                    entry.commented()
                ));
            }
        }
    }
    out.line("}");
    out.line("");
}

fn method_map(model: &Model, out: &mut Rendered) {
    match &model.methods {
        None => out.line("# 1 when the preflight asks for a method: the policy allows any."),
        Some(_) => out.line(
            "# 1 when the preflight asks for an allowed method (case-sensitive, as browsers compare).",
        ),
    }
    out.line("map $http_access_control_request_method $crossgate_method_ok {");
    out.line("    default 0;");
    out.line(format!(
        "    {} 1;",
        quote(&format!("~{}", model.method_regex()))
    ));
    out.line("}");
    out.line("");
}

fn headers_map(model: &Model, out: &mut Rendered) {
    out.line("map $http_access_control_request_headers $crossgate_headers_ok {");
    match model.headers_regex() {
        None => {
            out.line("    # The policy allows any request header.");
            out.line("    default 1;");
        }
        Some(regex) => {
            out.line("    # 1 when every name listed (comma-separated, any case) is allowed, or none is.");
            out.line("    default 0;");
            out.line("    # nginx tries no regex on an empty value: no Access-Control-Request-Headers at all.");
            out.line("    \"\" 1;");
            out.line(format!("    {} 1;", quote(&format!("~*{regex}"))));
        }
    }
    out.line("}");
    out.line("");
}

fn kind_map(model: &Model, out: &mut Rendered) {
    out.line("map $http_origin $crossgate_has_origin {");
    out.line("    default 1;");
    out.line("    \"\" 0;");
    out.line("}");
    out.line("");
    out.line("map $http_access_control_request_method $crossgate_has_request_method {");
    out.line("    default 1;");
    out.line("    \"\" 0;");
    out.line("}");
    out.line("");
    out.line("map $crossgate_origin $crossgate_origin_ok {");
    out.line("    default 1;");
    out.line("    \"\" 0;");
    out.line("}");
    out.line("");
    out.line("# What the request is to CORS:");
    out.line("#   preflight          OPTIONS with Origin and Access-Control-Request-Method, origin, method");
    out.line("#                      and headers allowed: answered 204 here");
    out.line("#   refused-preflight  any other preflight: answered 403, without CORS headers");
    out.line("#   actual             any other request from an allowed origin: passed on, CORS headers added");
    if model.block {
        out.line("#   blocked            a request from another origin (block_disallowed_origins): 403, unless");
        out.line("#                      it carries Sec-Fetch-Site: same-origin (the page's own request)");
    }
    out.line(
        "#   \"\"                 no Origin, or another origin: passed on without CORS headers",
    );
    out.line("# Key: method:[has Origin][has request method][origin ok][method ok][headers ok]:Sec-Fetch-Site");
    out.line(
        "map \"$request_method:$crossgate_has_origin$crossgate_has_request_method$crossgate_origin_ok$crossgate_method_ok$crossgate_headers_ok:$http_sec_fetch_site\" $crossgate_cors {",
    );
    out.line("    default \"\";");
    out.line("    \"~^OPTIONS:11111:\" preflight;");
    out.line("    \"~^OPTIONS:11\" refused-preflight;");
    out.line("    \"~^[^:]*:1.1\" actual;");
    if model.block {
        out.line("    \"~^[^:]*:1.0..:same-origin$\" \"\";");
        out.line("    \"~^[^:]*:1.0\" blocked;");
    }
    out.line("}");
    out.line("");
}

/// `map $crossgate_cors $name { kinds… value; default ""; }`.
fn value_map(
    out: &mut Rendered,
    comment: &str,
    name: &str,
    arms: &[(&str, String)],
    default: &str,
) {
    out.line(format!("# {comment}"));
    out.line(format!("map $crossgate_cors ${name} {{"));
    out.line(format!("    default {};", quote(default)));
    for (kind, value) in arms {
        let value = if value.starts_with('$') {
            value.clone()
        } else {
            quote(value)
        };
        out.line(format!("    {kind} {value};"));
    }
    out.line("}");
    out.line("");
}

fn value_maps(model: &Model, out: &mut Rendered) {
    let origin = "$crossgate_origin".to_owned();
    value_map(
        out,
        "Access-Control-Allow-Origin: allowed preflights and requests only.",
        "crossgate_allow_origin",
        &[("preflight", origin.clone()), ("actual", origin)],
        "",
    );
    if model.credentials {
        value_map(
            out,
            "Access-Control-Allow-Credentials: allowed origins only.",
            "crossgate_allow_credentials",
            &[
                ("preflight", "true".to_owned()),
                ("actual", "true".to_owned()),
            ],
            "",
        );
    }
    let methods = match &model.methods {
        None => Some("$http_access_control_request_method".to_owned()),
        Some(_) => model.allow_methods_value(),
    };
    if let Some(methods) = methods {
        value_map(
            out,
            "Access-Control-Allow-Methods: allowed preflights (GET, HEAD and POST need no mention).",
            "crossgate_allow_methods",
            &[("preflight", methods)],
            "",
        );
    }
    let headers = match &model.headers {
        None => Some("$http_access_control_request_headers".to_owned()),
        Some(_) => model.allow_headers_value(),
    };
    if let Some(headers) = headers {
        value_map(
            out,
            "Access-Control-Allow-Headers: allowed preflights.",
            "crossgate_allow_headers",
            &[("preflight", headers)],
            "",
        );
    }
    if let Some(max_age) = model.max_age {
        value_map(
            out,
            "Access-Control-Max-Age: allowed preflights.",
            "crossgate_max_age",
            &[("preflight", max_age.to_string())],
            "",
        );
    }
    if let Some(expose) = model.expose_value() {
        value_map(
            out,
            "Access-Control-Expose-Headers: allowed requests (not preflights).",
            "crossgate_expose_headers",
            &[("actual", expose)],
            "",
        );
    }
    let vary = Model::PREFLIGHT_VARY.to_owned();
    value_map(
        out,
        "Vary: a cache must not answer one origin with what another was told.",
        "crossgate_vary",
        &[("preflight", vary.clone()), ("refused-preflight", vary)],
        if model.vary_origin() { "Origin" } else { "" },
    );
}

fn location(model: &Model, out: &mut Rendered) {
    out.line(
        "# The policy is the only authority on CORS: drop the CORS headers a proxied application",
    );
    out.line("# sets itself (use fastcgi_hide_header, uwsgi_hide_header… for other upstreams).");
    for name in CORS_RESPONSE_HEADERS {
        out.line(format!("proxy_hide_header {name};"));
    }
    out.line("");
    out.line("# `always`: without it nginx leaves these headers off 4xx and 5xx answers, and the browser");
    out.line(
        "# reports a CORS error instead of the real status. An add_header here also means that the",
    );
    out.line(
        "# add_header lines of the enclosing server { } no longer apply in this location: repeat",
    );
    out.line("# them here if you need them.");
    out.line("add_header Access-Control-Allow-Origin $crossgate_allow_origin always;");
    if model.credentials {
        out.line(
            "add_header Access-Control-Allow-Credentials $crossgate_allow_credentials always;",
        );
    }
    if model.methods.is_none() || model.allow_methods_value().is_some() {
        out.line("add_header Access-Control-Allow-Methods $crossgate_allow_methods always;");
    }
    if model.headers.is_none() || model.allow_headers_value().is_some() {
        out.line("add_header Access-Control-Allow-Headers $crossgate_allow_headers always;");
    }
    if model.max_age.is_some() {
        out.line("add_header Access-Control-Max-Age $crossgate_max_age always;");
    }
    if model.expose_value().is_some() {
        out.line("add_header Access-Control-Expose-Headers $crossgate_expose_headers always;");
    }
    out.line("add_header Vary $crossgate_vary always;");
    out.line("");
    out.line(
        "# Preflights are answered here, never by the application. Keep these `if` blocks free of",
    );
    out.line("# add_header: an `if` with an add_header of its own silently discards every add_header above");
    out.line("# (the classic trap that loses CORS headers). `return` is safe inside `if`.");
    out.line("if ($crossgate_cors = preflight) {");
    out.line("    return 204;");
    out.line("}");
    out.line("if ($crossgate_cors = refused-preflight) {");
    out.line("    return 403;");
    out.line("}");
    if model.block {
        out.line("if ($crossgate_cors = blocked) {");
        out.line("    return 403;");
        out.line("}");
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{export, policy};
    use super::*;

    #[test]
    fn exact_origins_and_patterns_are_anchored_case_sensitive_regexes() {
        let text = export(
            r#"allow_origins = ["https://app.example.com", "https://*.example.org", "http://localhost:*", "https://*.example.net:8443"]"#,
            crate::export::Target::Nginx,
        )
        .text;
        for line in [
            r#"    "~^https://app\.example\.com$" $http_origin;  # https://app.example.com"#,
            r#"    "~^https://(?:[a-z0-9_-]+\.)+example\.org$" $http_origin;  # https://*.example.org"#,
            r#"    "~^http://localhost(?::[0-9]{1,5})?$" $http_origin;  # http://localhost:*"#,
            r#"    "~^https://(?:[a-z0-9_-]+\.)+example\.net:8443$" $http_origin;  # https://*.example.net:8443"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
        assert!(!text.contains("crossgate_allow_credentials"), "{text}");
        assert!(text.contains("    default \"Origin\";"), "{text}");
    }

    #[test]
    fn any_origin_answers_star_without_vary() {
        let text = export(r#"allow_origins = ["*"]"#, crate::export::Target::Nginx).text;
        assert!(
            text.contains(
                "map $http_origin $crossgate_origin {\n    default \"*\";\n    \"\" \"\";\n}"
            ),
            "{text}"
        );
        assert!(
            text.contains("map $crossgate_cors $crossgate_vary {\n    default \"\";\n"),
            "{text}"
        );
    }

    #[test]
    fn credentials_methods_headers_expose_and_max_age() {
        let text = export(
            r#"allow_origins = ["https://app.example.com"]
               allow_methods = ["PUT", "DELETE", "GET"]
               allow_headers = ["Content-Type", "X-Request-Id"]
               expose_headers = ["X-Total"]
               allow_credentials = true
               max_age = 600"#,
            crate::export::Target::Nginx,
        )
        .text;
        for line in [
            "    \"~^(?:GET|HEAD|POST|PUT|DELETE)$\" 1;",
            // `\t` doubled: nginx reads `\t` in a quoted string as a tab itself.
            "    \"~*^[\\\\t ,]*(?:(?:content-type|x-request-id)[\\\\t ]*(?:,[\\\\t ,]*|$))*$\" 1;",
            "    preflight \"PUT, DELETE\";",
            "    preflight \"content-type, x-request-id\";",
            "    preflight \"600\";",
            "    actual \"x-total\";",
            "add_header Access-Control-Allow-Credentials $crossgate_allow_credentials always;",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?}\n{text}");
        }
    }

    #[test]
    fn any_method_and_header_reflect_the_request() {
        let text = export(
            r#"allow_origins = ["https://app.example.com"]
               allow_methods = ["*"]
               allow_headers = ["*"]"#,
            crate::export::Target::Nginx,
        )
        .text;
        assert!(
            text.contains("    preflight $http_access_control_request_method;"),
            "{text}"
        );
        assert!(
            text.contains("    preflight $http_access_control_request_headers;"),
            "{text}"
        );
        assert!(text.contains("map $http_access_control_request_headers $crossgate_headers_ok {\n    # The policy allows any request header.\n    default 1;"), "{text}");
    }

    #[test]
    fn block_adds_a_blocked_kind_that_spares_same_origin_requests() {
        let text = export(
            r#"allow_origins = ["https://app.example.com"]
               block_disallowed_origins = true"#,
            crate::export::Target::Nginx,
        )
        .text;
        assert!(
            text.contains("    \"~^[^:]*:1.0..:same-origin$\" \"\";\n    \"~^[^:]*:1.0\" blocked;"),
            "{text}"
        );
        assert!(
            text.contains("if ($crossgate_cors = blocked) {\n    return 403;\n}"),
            "{text}"
        );
    }

    #[test]
    fn no_add_header_inside_if_and_every_add_header_always() {
        let p = policy(
            r#"allow_origins = ["https://app.example.com"]
               allow_methods = ["PUT"]
               allow_credentials = true
               expose_headers = ["x-a"]
               max_age = 5"#,
        );
        let text = crate::export::render(&p, crate::export::Target::Nginx)
            .expect("exports")
            .text;
        let mut in_if = false;
        for line in text.lines() {
            if line.starts_with("if ") {
                in_if = true;
            } else if line == "}" {
                in_if = false;
            }
            if line.starts_with("add_header") {
                assert!(!in_if, "{line}");
                assert!(line.ends_with(" always;"), "{line}");
            }
        }
        let (part1, part2) = text.split_once(PART_2).expect("two parts");
        assert!(part1.contains(PART_1));
        assert!(!part1.contains("\nadd_header"), "{part1}");
        assert!(!part2.contains("\nmap "), "{part2}");
    }

    /// nginx tries no regex of a map on an empty value, so a preflight without
    /// Access-Control-Request-Headers needs its own entry (found by running nginx).
    #[test]
    fn regression_preflight_without_request_headers_is_allowed() {
        let text = export(
            r#"allow_origins = ["https://app.example.com"]
               allow_headers = ["x-id"]"#,
            crate::export::Target::Nginx,
        )
        .text;
        let map = text
            .split("map $http_access_control_request_headers $crossgate_headers_ok {\n")
            .nth(1)
            .and_then(|rest| rest.split("\n}").next())
            .expect("the headers map");
        assert!(map.lines().any(|l| l == "    \"\" 1;"), "{map}");
    }

    #[test]
    fn a_dollar_sign_in_a_name_is_refused() {
        let r = crate::export::tests::refusal(
            r#"allow_origins = ["https://app.example.com"]
               allow_methods = ["A$B"]"#,
            crate::export::Target::Nginx,
        );
        assert_eq!(r.reasons[0].code, "dollar-sign");
        assert!(r.reasons[0].message.contains("\"A$B\""), "{r}");
    }
}
