//! [`ProxyError`]: every way a proxied request can fail, each answered with its status and a JSON
//! body `{"error": "<code>", "detail": "<what happened>"}`. The CORS layer around the proxy adds
//! the CORS headers, so that the page can read what went wrong instead of seeing a CORS failure.

use std::fmt;

use http::{HeaderValue, Response, StatusCode, header};

use crate::body::ProxyBody;

/// Why the proxy answered a request itself, with an error.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProxyError {
    /// The request cannot be proxied as sent (400).
    BadRequest(String),
    /// No route matches the path (404).
    NoRoute(String),
    /// A method the proxy does not forward (405): `TRACE`, `CONNECT`.
    MethodNotAllowed(String),
    /// The upstream could not be reached (502), or was refused by a rule (403): a
    /// [`ConnectError`](crate::connect::ConnectError)'s code and message.
    Connect {
        /// The connector's code (`address-not-allowed`, `connect-failed`…).
        code: &'static str,
        /// Whether a rule refused it, as opposed to a failure.
        refusal: bool,
        /// What happened.
        detail: String,
    },
    /// The upstream did not answer in time (504).
    UpstreamTimeout(std::time::Duration),
    /// The client's body stalled on its way upstream (408).
    RequestTimeout(std::time::Duration),
    /// The upstream's answer could not be read (502).
    Upstream(String),
    /// The request's body is larger than the proxy takes (413).
    RequestTooLarge(u64),
    /// The upstream's body is larger than the proxy relays (502).
    ResponseTooLarge(u64),
    /// The client's request body is broken (400): a chunked body that is not valid chunked
    /// coding, a body shorter than its `Content-Length`. The client's fault, not the upstream's.
    BadRequestBody(String),
    /// A bound of the proxy's own is reached (503, with `Retry-After`): too many upstream
    /// requests in flight, too many bytes of JSONP answers held at once.
    Busy {
        /// Which bound: `upstream-requests`, `upstream-host`, `jsonp-memory`…
        scope: &'static str,
        /// What is full, for the detail.
        detail: String,
        /// When to try again.
        retry_after: std::time::Duration,
    },
    /// Over a rate limit (429, with `Retry-After`).
    RateLimited {
        /// Which limit: `client-ip`, `origin` or `target-host`.
        scope: &'static str,
        /// How long until a request would pass.
        retry_after: std::time::Duration,
    },
}

impl ProxyError {
    /// The response status.
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ProxyError::NoRoute(_) => StatusCode::NOT_FOUND,
            ProxyError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ProxyError::Connect { refusal: true, .. } => StatusCode::FORBIDDEN,
            ProxyError::Connect { .. } | ProxyError::Upstream(_) => StatusCode::BAD_GATEWAY,
            ProxyError::UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ProxyError::RequestTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::ResponseTooLarge(_) => StatusCode::BAD_GATEWAY,
            ProxyError::BadRequestBody(_) => StatusCode::BAD_REQUEST,
            ProxyError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// A stable kebab-case code: the `error` field of the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            ProxyError::BadRequest(_) => "bad-request",
            ProxyError::NoRoute(_) => "no-route",
            ProxyError::MethodNotAllowed(_) => "method-not-allowed",
            ProxyError::Connect { code, .. } => code,
            ProxyError::UpstreamTimeout(_) => "upstream-timeout",
            ProxyError::RequestTimeout(_) => "request-timeout",
            ProxyError::Upstream(_) => "upstream-error",
            ProxyError::RequestTooLarge(_) => "request-too-large",
            ProxyError::ResponseTooLarge(_) => "response-too-large",
            ProxyError::BadRequestBody(_) => "bad-request-body",
            ProxyError::Busy { .. } => "busy",
            ProxyError::RateLimited { .. } => "rate-limited",
        }
    }

    /// The JSON response.
    pub fn into_response(self) -> Response<ProxyBody> {
        let body = serde_json::json!({ "error": self.code(), "detail": self.to_string() });
        let retry_after = match &self {
            ProxyError::RateLimited { retry_after, .. } | ProxyError::Busy { retry_after, .. } => {
                Some(retry_after_seconds(*retry_after))
            }
            _ => None,
        };
        let mut response = Response::new(ProxyBody::full(body.to_string()));
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        *response.status_mut() = self.status();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::BadRequest(why) => write!(f, "{why}"),
            ProxyError::NoRoute(path) => write!(f, "no route of this proxy matches {path}"),
            ProxyError::MethodNotAllowed(method) => {
                write!(f, "the proxy does not forward {method} requests")
            }
            ProxyError::Connect { detail, .. } => f.write_str(detail),
            ProxyError::UpstreamTimeout(d) => {
                write!(f, "the upstream did not answer within {} ms", d.as_millis())
            }
            ProxyError::RequestTimeout(d) => write!(
                f,
                "the request body stalled: no byte for {} ms, so it was not forwarded",
                d.as_millis()
            ),
            ProxyError::Upstream(why) => {
                write!(f, "the upstream's answer could not be read: {why}")
            }
            ProxyError::RequestTooLarge(limit) => write!(
                f,
                "the request body is larger than this proxy's limit of {limit} bytes"
            ),
            ProxyError::ResponseTooLarge(limit) => write!(
                f,
                "the upstream's body is larger than this proxy's limit of {limit} bytes"
            ),
            ProxyError::BadRequestBody(why) => {
                write!(f, "the request body could not be read: {why}")
            }
            ProxyError::Busy {
                detail,
                retry_after,
                ..
            } => write!(
                f,
                "the proxy is busy: {detail}; try again in {} s",
                retry_after_seconds(*retry_after)
            ),
            ProxyError::RateLimited { scope, retry_after } => write!(
                f,
                "too many requests for this {}: try again in {} s",
                scope.replace('-', " "),
                retry_after_seconds(*retry_after)
            ),
        }
    }
}

impl std::error::Error for ProxyError {}

/// Whole seconds to wait, rounded up (at least 1): the `Retry-After` value of a 429 or a 503.
pub(crate) fn retry_after_seconds(wait: std::time::Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// A mode's result as the answer: the response, or the error's JSON response (with a debug
/// event naming it).
pub(crate) fn answer(result: Result<Response<ProxyBody>, ProxyError>) -> Response<ProxyBody> {
    result.unwrap_or_else(|error| {
        tracing::debug!(target: "crossgate_proxy", code = error.code(), "{error}");
        error.into_response()
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1000)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
    }
}
