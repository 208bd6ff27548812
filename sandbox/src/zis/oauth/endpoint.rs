//! `POST /oauth/tokens`, Zendesk's token endpoint, for the refresh-token and client-credentials
//! grants.
//!
//! Request: the parameters `grant_type`, `client_id`, `client_secret`, `refresh_token`, `scope`
//! (space-separated; a JSON array is accepted too), `expires_in`, `refresh_token_expires_in`,
//! as a JSON object (what Zendesk's reference documents) or form-encoded (what RFC 6749 asks
//! for); the body's `Content-Type` decides, and without one a body starting with `{` is JSON.
//! Numbers may be JSON numbers or strings. An empty parameter counts as absent; a form parameter
//! given twice is refused.
//!
//! Answers (RFC 6749 sections 5.1 and 5.2, with `Cache-Control: no-store`):
//! - 200 `{"access_token","token_type":"bearer","scope","expires_in"}`, plus
//!   `"refresh_token","refresh_token_expires_in"` for the refresh-token grant;
//! - 400 `{"error","error_description"}` with `invalid_request` (a parameter missing, repeated or
//!   malformed, a lifetime outside Zendesk's bounds), `unsupported_grant_type`, `invalid_scope`,
//!   `unauthorized_client` (client credentials not allowed for this client), `invalid_grant`
//!   (refresh token unknown, spent, revoked, expired, or another client's);
//! - 401 `invalid_client`: client id unknown, secret wrong or missing.
//!
//! Checks run in that order: parameters, grant type, client, the grant's own parameters and
//! lifetimes, then the grant itself; a refused request changes nothing.
//!
//! Lifetimes: `expires_in` 300 to 172800 seconds (default 1800), `refresh_token_expires_in`
//! 604800 to 7776000 (default 2592000), as Zendesk documents them. The settings
//! `oauth_max_expires_in` and `oauth_max_refresh_token_expires_in` cut what is granted below what
//! was asked (and the answer says so), so that a client's renewal can be watched within seconds.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, PRAGMA};
use hyper::{HeaderMap, Response, StatusCode};
use serde_json::{Map, Value, json};

use super::{
    ClientCredentialsRequest, DEFAULT_EXPIRES_IN, DEFAULT_REFRESH_TOKEN_EXPIRES_IN, Issued,
    Lifetimes, MAX_EXPIRES_IN, MAX_REFRESH_TOKEN_EXPIRES_IN, MIN_EXPIRES_IN,
    MIN_REFRESH_TOKEN_EXPIRES_IN, RefreshRequest, TokenError, parse_scopes, scope_text,
};
use crate::zis::auth::Scope;
use crate::zis::response::{self, Body};
use crate::zis::state::State;

/// A refused token request: RFC 6749's error code and a description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthFailure {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
}

impl OAuthFailure {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        OAuthFailure {
            status,
            error,
            description: description.into(),
        }
    }

    fn invalid_request(description: impl Into<String>) -> Self {
        OAuthFailure::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    fn into_response(self) -> Response<Body> {
        no_store(response::json(
            self.status,
            &json!({"error": self.error, "error_description": self.description}),
        ))
    }
}

impl From<TokenError> for OAuthFailure {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::InvalidClient => OAuthFailure::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Client authentication failed due to unknown client, no client authentication \
                 included, or unsupported authentication method.",
            ),
            TokenError::UnauthorizedClient => OAuthFailure::new(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                "The client is not authorized to perform this request using this method.",
            ),
            TokenError::InvalidGrant(why) => {
                OAuthFailure::new(StatusCode::BAD_REQUEST, "invalid_grant", why)
            }
            TokenError::InvalidScope => invalid_scope(),
        }
    }
}

fn invalid_scope() -> OAuthFailure {
    OAuthFailure::new(
        StatusCode::BAD_REQUEST,
        "invalid_scope",
        "The requested scope is invalid, unknown, or malformed.",
    )
}

/// Token answers must not be cached (RFC 6749, section 5.1).
fn no_store(mut response: Response<Body>) -> Response<Body> {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Answers `POST /oauth/tokens`.
pub fn token(state: &State, headers: &HeaderMap, body: &[u8]) -> Response<Body> {
    match grant(state, headers, body) {
        Ok(issued) => no_store(response::json(StatusCode::OK, &success_body(&issued))),
        Err(failure) => {
            tracing::debug!(error = failure.error, "token request refused");
            failure.into_response()
        }
    }
}

fn success_body(issued: &Issued) -> Value {
    let mut body = Map::new();
    if let Some((token, lifetime)) = &issued.access_token {
        body.insert("access_token".into(), json!(token));
        body.insert("token_type".into(), json!("bearer"));
        body.insert("scope".into(), json!(scope_text(&issued.scopes)));
        body.insert("expires_in".into(), json!(lifetime.as_secs()));
    }
    if let Some((token, lifetime)) = &issued.refresh_token {
        body.insert("refresh_token".into(), json!(token));
        body.insert("refresh_token_expires_in".into(), json!(lifetime.as_secs()));
    }
    Value::Object(body)
}

fn grant(state: &State, headers: &HeaderMap, body: &[u8]) -> Result<Issued, OAuthFailure> {
    let params = params(headers, body)?;
    let get = |name: &str| params.get(name).map(String::as_str);
    let grant_type = get("grant_type")
        .ok_or_else(|| OAuthFailure::invalid_request("Missing required parameter: grant_type"))?;
    let is_refresh = match grant_type {
        "refresh_token" => true,
        "client_credentials" => false,
        _ => {
            return Err(OAuthFailure::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server.",
            ));
        }
    };
    let (Some(client_id), Some(client_secret)) = (get("client_id"), get("client_secret")) else {
        return Err(TokenError::InvalidClient.into());
    };
    let scopes: Option<BTreeSet<Scope>> = match get("scope") {
        None => None,
        Some(text) => Some(parse_scopes(text).ok_or_else(invalid_scope)?),
    };
    let settings = state.settings();
    let access = lifetime(
        get("expires_in"),
        "expires_in",
        DEFAULT_EXPIRES_IN,
        (MIN_EXPIRES_IN, MAX_EXPIRES_IN),
        settings.oauth_max_expires_in,
    )?;
    let now = state.clock.now();
    let issued = if is_refresh {
        let refresh_token = get("refresh_token").ok_or_else(|| {
            OAuthFailure::invalid_request("Missing required parameter: refresh_token")
        })?;
        let refresh = lifetime(
            get("refresh_token_expires_in"),
            "refresh_token_expires_in",
            DEFAULT_REFRESH_TOKEN_EXPIRES_IN,
            (MIN_REFRESH_TOKEN_EXPIRES_IN, MAX_REFRESH_TOKEN_EXPIRES_IN),
            settings.oauth_max_refresh_token_expires_in,
        )?;
        state.oauth.refresh(
            &state.tokens,
            now,
            &RefreshRequest {
                client_id,
                client_secret,
                refresh_token,
                scopes,
                lifetimes: Lifetimes { access, refresh },
            },
        )?
    } else {
        state.oauth.client_credentials(
            &state.tokens,
            now,
            &ClientCredentialsRequest {
                client_id,
                client_secret,
                scopes,
                expires_in: access,
            },
        )?
    };
    tracing::debug!(
        grant_type,
        client_id,
        grant_id = issued.grant_id,
        "tokens issued"
    );
    Ok(issued)
}

/// A lifetime parameter in seconds: the default when absent, refused outside `bounds`, then
/// cut to `cap` seconds when a cap is set.
fn lifetime(
    value: Option<&str>,
    name: &str,
    default: Duration,
    (min, max): (Duration, Duration),
    cap: Option<u64>,
) -> Result<Duration, OAuthFailure> {
    let asked = match value {
        None => default,
        Some(text) => {
            let seconds: u64 = text.trim().parse().map_err(|_| {
                OAuthFailure::invalid_request(format!("{name} must be a whole number of seconds"))
            })?;
            let asked = Duration::from_secs(seconds);
            if asked < min || asked > max {
                return Err(OAuthFailure::invalid_request(format!(
                    "{name} must be between {} and {} seconds",
                    min.as_secs(),
                    max.as_secs()
                )));
            }
            asked
        }
    };
    Ok(cap.map_or(asked, |cap| asked.min(Duration::from_secs(cap))))
}

/// The request's parameters by name, empty ones left out.
fn params(headers: &HeaderMap, body: &[u8]) -> Result<BTreeMap<String, String>, OAuthFailure> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    let json = match content_type.as_deref() {
        Some("application/json") => true,
        Some("application/x-www-form-urlencoded") => false,
        Some(_) | None => body.trim_ascii_start().starts_with(b"{"),
    };
    let mut params = BTreeMap::new();
    if json {
        let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(body) else {
            return Err(OAuthFailure::invalid_request(
                "The request body must be a JSON object",
            ));
        };
        for (name, value) in object {
            let text = match value {
                Value::Null => continue,
                Value::String(text) => text,
                Value::Number(number) => number.to_string(),
                Value::Bool(flag) => flag.to_string(),
                Value::Array(items) if name == "scope" => items
                    .iter()
                    .map(|item| item.as_str().map(str::to_owned))
                    .collect::<Option<Vec<String>>>()
                    .ok_or_else(invalid_scope)?
                    .join(" "),
                Value::Array(_) | Value::Object(_) => {
                    return Err(OAuthFailure::invalid_request(format!(
                        "Parameter {name} must be a string"
                    )));
                }
            };
            if !text.is_empty() {
                params.insert(name, text);
            }
        }
    } else {
        for (name, value) in form_urlencoded::parse(body) {
            if value.is_empty() {
                continue;
            }
            if params
                .insert(name.clone().into_owned(), value.into_owned())
                .is_some()
            {
                return Err(OAuthFailure::invalid_request(format!(
                    "Parameter {name} is included more than once"
                )));
            }
        }
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(content_type: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(value) = content_type {
            headers.insert(CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn json_and_form_bodies_give_the_same_parameters() {
        let json = params(
            &headers(Some("application/json; charset=utf-8")),
            br#"{"grant_type":"refresh_token","expires_in":600,"scope":["read","write"],"x":null,"y":""}"#,
        )
        .unwrap();
        let form = params(
            &headers(Some("application/x-www-form-urlencoded")),
            b"grant_type=refresh_token&expires_in=600&scope=read+write&y=",
        )
        .unwrap();
        assert_eq!(json, form);
        assert_eq!(json["scope"], "read write");
        let guessed = params(&headers(None), b"grant_type=client_credentials").unwrap();
        assert_eq!(guessed["grant_type"], "client_credentials");
    }

    #[test]
    fn malformed_bodies_are_invalid_requests() {
        for (content_type, body) in [
            (Some("application/json"), &b"{not json"[..]),
            (Some("application/json"), b"[1]"),
            (None, b"{\"refresh_token\":{\"a\":1}}"),
            (None, b"a=1&a=2"),
        ] {
            let failure = params(&headers(content_type), body).unwrap_err();
            assert_eq!(failure.error, "invalid_request", "{body:?}");
        }
    }

    #[test]
    fn lifetimes_are_bounded_as_zendesk_documents_and_cut_by_the_cap() {
        let bounds = (MIN_EXPIRES_IN, MAX_EXPIRES_IN);
        let access = |value, cap| lifetime(value, "expires_in", DEFAULT_EXPIRES_IN, bounds, cap);
        assert_eq!(access(None, None), Ok(Duration::from_secs(1800)));
        assert_eq!(access(Some("300"), None), Ok(Duration::from_secs(300)));
        assert_eq!(
            access(Some("172800"), None),
            Ok(Duration::from_secs(172_800))
        );
        assert_eq!(
            access(Some("299"), None).unwrap_err().error,
            "invalid_request"
        );
        assert!(access(Some("172801"), None).is_err());
        assert!(access(Some("1.5"), None).is_err());
        assert_eq!(access(Some("600"), Some(2)), Ok(Duration::from_secs(2)));
        assert_eq!(access(None, Some(7200)), Ok(Duration::from_secs(1800)));
    }
}
