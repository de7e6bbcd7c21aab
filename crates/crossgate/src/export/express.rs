//! Express: a Node.js module exporting the options of the npm `cors` package (2.8), to pass to
//! `cors()`.
//!
//! What `cors` does, read from its source (`lib/index.js`): an `origin` array of strings
//! (compared exactly) and `RegExp`s (`test`ed) echoes an allowed `Origin` and always adds
//! `Vary: Origin`; every `OPTIONS` request is answered by the middleware itself with
//! `optionsSuccessStatus`, the method and header lists, max-age and credentials, without checking
//! the origin, the requested method or headers (a disallowed origin only loses
//! `Access-Control-Allow-Origin`); `credentials: true` and `exposedHeaders` go on every response;
//! `allowedHeaders` left out reflects the request's `Access-Control-Request-Headers`; an empty
//! list sends no header.

use super::{Model, Origins, Rendered, header_comment};
use crate::policy::OriginRule;

pub(super) fn render(model: &Model, out: &mut Rendered) {
    if model.block {
        out.refuse(
            "cannot-block",
            "the cors package never refuses a request, but block_disallowed_origins = true asks for 403 \
             on requests from other origins (CSRF protection): cors would pass them to your routes; \
             remove block_disallowed_origins to export, and guard state-changing routes yourself \
             (check Sec-Fetch-Site or a CSRF token)",
        );
    }
    header_comment(
        out,
        "// ",
        "CORS for Express, with the npm `cors` package (2.8)",
        model,
    );
    out.line("//");
    out.line("// Use: const cors = require('cors');");
    out.line("//      app.use(cors(require('./cors-options.js')));");
    out.line("// before your routes, so that it answers preflights and adds the headers to every answer.");
    out.line("'use strict';");
    out.line("");
    out.line("const corsOptions = {");
    match &model.origins {
        Origins::Any => out.line("  origin: '*',"),
        Origins::List(list) if list.is_empty() => {
            out.line("  // No origin is allowed.");
            out.line("  origin: [],");
        }
        Origins::List(list) => {
            out.line("  // Exact strings, and anchored regular expressions for the patterns.");
            out.line("  origin: [");
            for entry in list {
                match entry {
                    OriginRule::Exact { .. } => {
                        out.line(format!("    {},", js_string(&entry.to_string())))
                    }
                    pattern => out.line(format!(
                        "    {},  // {}",
                        js_regex(&format!("^{}$", pattern.regex())),
                        pattern.commented()
                    )),
                }
            }
            out.line("  ],");
        }
    }
    match &model.methods {
        None => {
            out.line("  // The policy allows any method.");
            out.line("  methods: '*',");
            if model.credentials {
                out.warn(
                    "methods",
                    "cors cannot reflect the requested method: it answers Access-Control-Allow-Methods: *, \
                     which browsers take literally on credentialed requests, so a credentialed preflight \
                     for a method other than GET, HEAD or POST fails where crossgate allows it",
                );
            }
        }
        Some(extra) => {
            out.line("  // GET, HEAD and POST need no mention: browsers always allow them.");
            out.line(format!("  methods: {},", js_list(extra)));
        }
    }
    match &model.headers {
        None => out.line(
            "  // allowedHeaders left out: cors reflects Access-Control-Request-Headers (any header).",
        ),
        Some(list) => out.line(format!("  allowedHeaders: {},", js_list(list))),
    }
    if !model.expose.is_empty() {
        out.line(format!("  exposedHeaders: {},", js_list(&model.expose)));
    }
    out.line(format!("  credentials: {},", model.credentials));
    if let Some(max_age) = model.max_age {
        out.line(format!("  maxAge: {max_age},"));
    }
    out.line("  preflightContinue: false,");
    out.line("  optionsSuccessStatus: 204,");
    out.line("};");
    out.line("");
    out.line("module.exports = corsOptions;");

    out.warn(
        "preflight-status",
        "cors answers every OPTIONS request itself with 204, checking neither the origin nor the requested \
         method or headers: a preflight crossgate refuses with 403 gets 204 without \
         Access-Control-Allow-Origin (or with it, when only the method or headers are refused, and \
         the browser then refuses on the lists), so browsers refuse it all the same; OPTIONS requests \
         without Origin or Access-Control-Request-Method never reach your routes",
    );
    if model.credentials || !model.expose.is_empty() {
        out.warn(
            "headers-on-refused",
            "cors adds Access-Control-Allow-Credentials and Access-Control-Expose-Headers to answers for \
             every origin, allowed or not (crossgate only for allowed ones); without \
             Access-Control-Allow-Origin browsers still refuse those reads",
        );
    }
}

/// A JavaScript single-quoted string: `\` and `'` escaped, and every control character and line
/// terminator (U+2028 and U+2029 end a line in JavaScript source) as `\uXXXX`.
fn js_string(text: &str) -> String {
    let mut out = String::from("'");
    for c in text.chars() {
        match c {
            '\\' | '\'' => {
                out.push('\\');
                out.push(c);
            }
            c if js_needs_code(c) => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A JavaScript regex literal, `/…/`: `/` escaped, which would end it, and every control
/// character and line terminator written as `\uXXXX` (the same character to the regex).
pub(super) fn js_regex(regex: &str) -> String {
    let mut out = String::from("/");
    let mut escaped = false;
    for c in regex.chars() {
        if js_needs_code(c) {
            if escaped {
                // `\` then the character: the escaped character itself, written as a code.
                out.pop();
            }
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
            escaped = false;
            continue;
        }
        if c == '/' && !escaped {
            out.push('\\');
        }
        out.push(c);
        escaped = c == '\\' && !escaped;
    }
    out.push('/');
    out
}

/// Characters that JavaScript source cannot hold as they are in a string or regex literal (line
/// terminators), or that are better not left raw (controls): all in the Basic Multilingual Plane.
fn js_needs_code(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

fn js_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|i| js_string(i)).collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::super::Target;
    use super::super::tests::{export, refusal};

    #[test]
    fn origins_methods_headers() {
        let e = export(
            r#"allow_origins = ["https://app.example.com", "https://*.example.org", "http://localhost:*"]
               allow_methods = ["PUT", "PATCH"]
               allow_headers = ["content-type"]
               expose_headers = ["x-total"]
               allow_credentials = true
               max_age = 0"#,
            Target::Express,
        );
        for line in [
            "    'https://app.example.com',",
            r"    /^https:\/\/(?:[a-z0-9_-]+\.)+example\.org$/,  // https://*.example.org",
            r"    /^http:\/\/localhost(?::[0-9]{1,5})?$/,  // http://localhost:*",
            "  methods: ['PUT', 'PATCH'],",
            "  allowedHeaders: ['content-type'],",
            "  exposedHeaders: ['x-total'],",
            "  credentials: true,",
            "  maxAge: 0,",
            "  optionsSuccessStatus: 204,",
            "module.exports = corsOptions;",
        ] {
            assert!(e.text.lines().any(|l| l == line), "{line}\n{}", e.text);
        }
        let codes: Vec<&str> = e.warnings.iter().map(|w| w.code).collect();
        assert_eq!(codes, ["preflight-status", "headers-on-refused"]);
    }

    #[test]
    fn any_origin_any_header_no_credentials() {
        let e = export(
            r#"allow_origins = ["*"]
               allow_headers = ["*"]"#,
            Target::Express,
        );
        assert!(e.text.contains("  origin: '*',\n"), "{}", e.text);
        assert!(!e.text.contains("allowedHeaders:"), "{}", e.text);
        assert!(e.text.contains("  methods: [],\n"), "{}", e.text);
        assert!(e.text.contains("  credentials: false,\n"), "{}", e.text);
        let codes: Vec<&str> = e.warnings.iter().map(|w| w.code).collect();
        assert_eq!(codes, ["preflight-status"]);
    }

    #[test]
    fn any_method_with_credentials_warns() {
        let e = export(
            r#"allow_origins = ["https://app.example.com"]
               allow_methods = ["*"]
               allow_credentials = true"#,
            Target::Express,
        );
        assert!(e.text.contains("  methods: '*',\n"), "{}", e.text);
        assert!(
            e.warnings.iter().any(|w| w.code == "methods"),
            "{:?}",
            e.warnings
        );
    }

    #[test]
    fn block_is_refused() {
        let r = refusal(
            r#"allow_origins = ["https://app.example.com"]
               block_disallowed_origins = true"#,
            Target::Express,
        );
        assert_eq!(r.reasons.len(), 1);
        assert_eq!(r.reasons[0].code, "cannot-block");
        assert!(
            r.to_string().starts_with(
                "cannot export this policy to Express (cors): the cors package never refuses"
            ),
            "{r}"
        );
    }
}
