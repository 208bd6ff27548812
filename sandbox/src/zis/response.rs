//! HTTP answers of the fake: JSON bodies, empty 204s and the ZIS error shape
//! `{"errors":[{"code","title"}]}`, which every error answer (API and admin) uses.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use hyper::{Response, StatusCode};

/// The body type of every answer the fake sends.
pub type Body = Full<Bytes>;

/// An error answer: HTTP status, machine-readable `code` and human-readable `title`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {title}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub title: String,
    /// A `WWW-Authenticate` header to send with it (401s of the API).
    pub challenge: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, title: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            title: title.into(),
            challenge: None,
        }
    }

    /// The same error sent with a `WWW-Authenticate: {challenge}` header.
    pub fn with_challenge(mut self, challenge: Option<&'static str>) -> Self {
        self.challenge = challenge;
        self
    }

    /// 400 `InvalidIntegration`, exactly as the reference page shows it.
    pub fn invalid_integration() -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidIntegration",
            "Specified integration is not valid",
        )
    }

    /// 404 `NotFound`, exactly as the reference page shows it.
    pub fn connection_not_found() -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "Connection does not exist",
        )
    }

    /// 409 `Conflict`, exactly as the reference page shows it.
    pub fn conflict() -> Self {
        ApiError::new(StatusCode::CONFLICT, "Conflict", "Resource conflict")
    }

    /// 429 `TooManyRequests`, exactly as the reference page shows it.
    pub fn too_many_requests() -> Self {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Too many requests",
        )
    }

    /// 400 `InvalidBody`: the body is not JSON, or not the JSON expected.
    pub fn invalid_body(title: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "InvalidBody", title)
    }

    /// 404 for a path the fake does not serve.
    pub fn no_route() -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "NotFound", "Resource not found")
    }

    /// 405 for a served path with a method it does not accept.
    pub fn method_not_allowed() -> Self {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "Method not allowed on this resource",
        )
    }

    /// The error an injected fault (or a random 5xx) answers with: a plausible code per status.
    pub fn injected(status: StatusCode) -> Self {
        let (code, title) = match status.as_u16() {
            400 => ("InvalidBody", "Bad request"),
            401 => ("InvalidCredentials", "Token length is invalid"),
            403 => (
                "Forbidden",
                "Cannot access this resource. Missing scope write",
            ),
            404 => ("NotFound", "Connection does not exist"),
            409 => ("Conflict", "Resource conflict"),
            429 => ("TooManyRequests", "Too many requests"),
            500 => ("InternalServerError", "Internal server error"),
            502 => ("BadGateway", "Bad gateway"),
            503 => ("ServiceUnavailable", "Service unavailable"),
            504 => ("GatewayTimeout", "Gateway timeout"),
            _ => ("InjectedFault", "Injected fault"),
        };
        ApiError::new(status, code, title)
    }

    /// The JSON body of this error.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"errors": [{"code": self.code, "title": self.title}]})
    }

    pub fn into_response(self) -> Response<Body> {
        let mut response = json(self.status, &self.body());
        if let Some(challenge) = self.challenge {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        response
    }
}

/// A JSON answer with `status`.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    // Serializing a `Value` cannot fail: its map keys are always strings.
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// An answer without a body (204 No Content). The reference page prints `null` for these, which
/// is how it renders "no content": a 204 cannot carry a body (RFC 9110, section 15.3.5).
pub fn no_content() -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_have_the_zis_shape() {
        let body = ApiError::conflict().body();
        assert_eq!(
            body,
            serde_json::json!({"errors":[{"code":"Conflict","title":"Resource conflict"}]})
        );
    }

    #[test]
    fn injected_faults_use_the_reference_codes_for_documented_statuses() {
        assert_eq!(
            ApiError::injected(StatusCode::TOO_MANY_REQUESTS).code,
            "TooManyRequests"
        );
        assert_eq!(
            ApiError::injected(StatusCode::SERVICE_UNAVAILABLE).code,
            "ServiceUnavailable"
        );
        assert_eq!(
            ApiError::injected(StatusCode::IM_A_TEAPOT).code,
            "InjectedFault"
        );
    }
}
