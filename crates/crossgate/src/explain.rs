//! For every CORS failure: the console message exactly as Chromium prints it, and the fix — the
//! header the server must send, and the policy change for crossgate users.
//!
//! ```
//! use crossgate::browser::{CorsError, Failure, FailureKind};
//!
//! let failure = Failure {
//!     kind: FailureKind::Cors { error: CorsError::MissingAllowOriginHeader, preflight: false },
//!     url: "http://127.0.0.1:8002/r".into(),
//!     initial_url: "http://127.0.0.1:8002/r".into(),
//!     page_origin: "http://127.0.0.1:8001".into(),
//!     origin_sent: "http://127.0.0.1:8001".into(),
//!     credentials: false,
//!     asked: None,
//! };
//! assert_eq!(
//!     crossgate::explain::console_message(&failure).unwrap(),
//!     "Access to fetch at 'http://127.0.0.1:8002/r' from origin 'http://127.0.0.1:8001' has been \
//!      blocked by CORS policy: No 'Access-Control-Allow-Origin' header is present on the requested resource."
//! );
//! assert_eq!(
//!     crossgate::explain::fix(&failure).header,
//!     "Access-Control-Allow-Origin: http://127.0.0.1:8001\nVary: Origin"
//! );
//! ```

use crate::browser::{CorsError, Failure, FailureKind};

/// What Chromium prints to the console for a failed fetch, if anything (a `TypeError` thrown by
/// fetch() itself, or a network error, prints no CORS message).
pub fn console_message(failure: &Failure) -> Option<String> {
    let FailureKind::Cors { error, preflight } = &failure.kind else {
        return None;
    };
    let redirected = if failure.url == failure.initial_url {
        String::new()
    } else {
        format!(" (redirected from '{}')", failure.initial_url)
    };
    Some(format!(
        "Access to fetch at '{}'{redirected} from origin '{}' has been blocked by CORS policy: {}",
        failure.url,
        failure.page_origin,
        reason(error, *preflight)
    ))
}

/// The part of Chromium's message after "blocked by CORS policy: ".
pub fn reason(error: &CorsError, preflight: bool) -> String {
    const VALID: &str = " Have the server send the header with a valid value.";
    let base = match error {
        CorsError::MissingAllowOriginHeader => {
            "No 'Access-Control-Allow-Origin' header is present on the requested resource."
                .to_owned()
        }
        CorsError::MultipleAllowOriginValues(v) => format!(
            "The 'Access-Control-Allow-Origin' header contains multiple values '{v}', but only one is allowed.{VALID}"
        ),
        CorsError::InvalidAllowOriginValue(v) => {
            format!(
                "The 'Access-Control-Allow-Origin' header contains the invalid value '{v}'.{VALID}"
            )
        }
        CorsError::AllowOriginMismatch(v) => format!(
            "The 'Access-Control-Allow-Origin' header has a value '{v}' that is not equal to the supplied origin.{VALID}"
        ),
        CorsError::WildcardOriginNotAllowed => {
            "The value of the 'Access-Control-Allow-Origin' header in the response \
             must not be the wildcard '*' when the request's credentials mode is 'include'."
                .to_owned()
        }
        CorsError::InvalidAllowCredentials(v) => format!(
            "The value of the 'Access-Control-Allow-Credentials' header in the response is '{v}' which must be \
             'true' when the request's credentials mode is 'include'."
        ),
        CorsError::PreflightInvalidStatus => "It does not have HTTP ok status.".to_owned(),
        CorsError::PreflightDisallowedRedirect => {
            "Redirect is not allowed for a preflight request.".to_owned()
        }
        CorsError::InvalidAllowMethodsPreflightResponse => {
            return "Cannot parse Access-Control-Allow-Methods response header field in preflight response.".to_owned();
        }
        CorsError::InvalidAllowHeadersPreflightResponse => {
            return "Cannot parse Access-Control-Allow-Headers response header field in preflight response.".to_owned();
        }
        CorsError::MethodDisallowedByPreflightResponse(m) => {
            return format!(
                "Method {m} is not allowed by Access-Control-Allow-Methods in preflight response."
            );
        }
        CorsError::HeaderDisallowedByPreflightResponse(h) => {
            return format!(
                "Request header field {h} is not allowed by Access-Control-Allow-Headers in preflight response."
            );
        }
        // Chromium 156 prints the location empty (`redirect-location-userinfo-*` in the matrix).
        CorsError::RedirectContainsCredentials(_) => {
            return "Redirect location '' contains a username and password, which is disallowed for cross-origin requests."
                .to_owned();
        }
        CorsError::CorsDisabledScheme(_) => {
            return "Cross origin requests are only supported for protocol schemes: chrome, chrome-extension, \
                    chrome-untrusted, data, http, https, isolated-app."
                .to_owned();
        }
    };
    if preflight {
        format!("Response to preflight request doesn't pass access control check: {base}")
    } else {
        base
    }
}

/// How to fix a failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fix {
    /// What is wrong, in a sentence.
    pub summary: String,
    /// The header line(s) the server must send (one per line), or what it must do.
    pub header: String,
    /// The change to a crossgate policy file that makes crossgate send it.
    pub policy: String,
}

/// The fix for a failure.
pub fn fix(failure: &Failure) -> Fix {
    let origin = &failure.origin_sent;
    let credentials = failure.credentials;
    // For a preflight, the method and headers it asked for must be allowed too: a server that
    // refuses them (crossgate among them) often answers without any CORS header at all, and the
    // browser then reports the missing origin.
    let (asked_method, asked_headers) = match &failure.asked {
        Some(a) => (
            (!crate::fetch::is_cors_safelisted_method(a.method.as_bytes()))
                .then(|| a.method.clone()),
            a.headers.clone().filter(|h| !h.is_empty()),
        ),
        None => (None, None),
    };
    let allow_origin = |extra: &str| {
        let mut lines = format!("Access-Control-Allow-Origin: {origin}");
        if credentials {
            lines.push_str("\nAccess-Control-Allow-Credentials: true");
        }
        if let Some(m) = &asked_method {
            lines.push_str(&format!("\nAccess-Control-Allow-Methods: {m}"));
        }
        if let Some(h) = &asked_headers {
            lines.push_str(&format!(
                "\nAccess-Control-Allow-Headers: {}",
                h.replace(',', ", ")
            ));
        }
        lines.push_str("\nVary: Origin");
        lines.push_str(extra);
        lines
    };
    let mut asked_policy = String::new();
    if let Some(m) = &asked_method {
        asked_policy.push_str(&format!("\nallow_methods = [\"{m}\"]"));
    }
    if let Some(h) = &asked_headers {
        let names: Vec<String> = h.split(',').map(|n| format!("\"{n}\"")).collect();
        asked_policy.push_str(&format!("\nallow_headers = [{}]", names.join(", ")));
    }
    let origins_policy = if origin == "null" {
        "crossgate refuses to allow `null` (any site can send it): avoid the cross-origin redirect that tainted the \
         request, and fetch the final URL directly"
            .to_owned()
    } else if credentials {
        format!("allow_origins = [\"{origin}\"]\nallow_credentials = true{asked_policy}")
    } else {
        format!("allow_origins = [\"{origin}\"]{asked_policy}")
    };
    let tainted = if origin == "null" && failure.page_origin != "null" {
        " A cross-origin redirect made the browser send `Origin: null` (the origin is tainted)."
    } else {
        ""
    };
    let (summary, header, policy) = match &failure.kind {
        FailureKind::TypeError(message) => (
            format!("fetch() threw before sending anything: {message}"),
            "nothing on the server: change the script's fetch() call".to_owned(),
            "nothing in the policy".to_owned(),
        ),
        FailureKind::Network(message) => (
            format!("the network request failed: {message}"),
            "make the URL reachable (and stop redirect loops)".to_owned(),
            "nothing in the policy".to_owned(),
        ),
        FailureKind::Transport(e) => (
            format!("no response: {e}"),
            "make the server reachable from here".to_owned(),
            "nothing in the policy".to_owned(),
        ),
        FailureKind::Cors { error, .. } => match error {
            CorsError::MissingAllowOriginHeader => (
                format!("the response does not allow any origin to read it.{tainted}"),
                allow_origin(""),
                origins_policy,
            ),
            CorsError::MultipleAllowOriginValues(v) => (
                format!("the server sent several origins ({v}); browsers accept exactly one"),
                allow_origin("\n(pick the one equal to the request's Origin; send it once)"),
                origins_policy,
            ),
            CorsError::InvalidAllowOriginValue(v) => {
                (format!("{v:?} is not an origin"), allow_origin(""), origins_policy)
            }
            CorsError::AllowOriginMismatch(v) => (
                format!("the server allows {v}, but the request came from {origin}.{tainted}"),
                allow_origin(""),
                origins_policy,
            ),
            CorsError::WildcardOriginNotAllowed => (
                "`*` never allows a request with credentials".to_owned(),
                format!("Access-Control-Allow-Origin: {origin}\nAccess-Control-Allow-Credentials: true\nVary: Origin"),
                format!("allow_origins = [\"{origin}\"]\nallow_credentials = true"),
            ),
            CorsError::InvalidAllowCredentials(v) => (
                format!(
                    "a request with credentials needs `Access-Control-Allow-Credentials: true`, found {}",
                    if v.is_empty() { "none".to_owned() } else { format!("{v:?}") }
                ),
                "Access-Control-Allow-Credentials: true".to_owned(),
                "allow_credentials = true".to_owned(),
            ),
            CorsError::PreflightInvalidStatus => (
                "the preflight (OPTIONS) was not answered with a 2xx status".to_owned(),
                "answer OPTIONS with 204 No Content, before any authentication (preflights never carry cookies \
                 or Authorization)"
                    .to_owned(),
                "crossgate answers preflights itself with 204: put crossgate in front of the route".to_owned(),
            ),
            CorsError::PreflightDisallowedRedirect => (
                "the preflight was redirected; browsers never follow a preflight's redirect".to_owned(),
                "answer OPTIONS at this exact URL (watch trailing slashes and http→https redirects), or fetch the \
                 final URL directly"
                    .to_owned(),
                "nothing in the policy: fetch the final URL".to_owned(),
            ),
            CorsError::InvalidAllowMethodsPreflightResponse => (
                "Access-Control-Allow-Methods is not a comma-separated list of methods".to_owned(),
                "Access-Control-Allow-Methods: GET, POST, PUT".to_owned(),
                "allow_methods = [\"PUT\"]".to_owned(),
            ),
            CorsError::InvalidAllowHeadersPreflightResponse => (
                "Access-Control-Allow-Headers is not a comma-separated list of header names".to_owned(),
                "Access-Control-Allow-Headers: content-type, x-request-id".to_owned(),
                "allow_headers = [\"content-type\"]".to_owned(),
            ),
                        // Methods are compared byte for byte: list the method exactly as the page sends it.
            CorsError::MethodDisallowedByPreflightResponse(m) => {
                (
                    format!("the preflight does not allow the method {m}"),
                    format!("Access-Control-Allow-Methods: {m}"),
                    format!("allow_methods = [\"{m}\"]"),
                )
            }
            CorsError::HeaderDisallowedByPreflightResponse(h) => {
                                let star = if h == "authorization" {
                    " (the standard's `*` never covers Authorization, and Chromium is phasing that out: list it by name)"
                } else {
                    ""
                };
                (
                    format!("the preflight does not allow the request header {h}{star}"),
                    format!("Access-Control-Allow-Headers: {h}"),
                    format!("allow_headers = [\"{h}\"]"),
                )
            }
            CorsError::RedirectContainsCredentials(location) => (
                format!("a cross-origin redirect to {location} carries a user name and password"),
                "redirect to a URL without user:password@".to_owned(),
                "nothing in the policy".to_owned(),
            ),
            CorsError::CorsDisabledScheme(scheme) => (
                format!("{scheme}: URLs cannot be fetched cross-origin"),
                "serve the resource over http or https".to_owned(),
                "nothing in the policy".to_owned(),
            ),
        },
    };
    Fix {
        summary,
        header,
        policy,
    }
}
