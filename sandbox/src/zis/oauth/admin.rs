//! The OAuth part of the admin API (`/_fake/oauth/...`, a TEST FACILITY real ZIS never serves):
//! register OAuth clients, issue a grant as an admin authorizing the app would, revoke grants,
//! list tokens with their lifetimes (never their values).

use std::collections::BTreeSet;
use std::time::Duration;

use hyper::{Method, Response, StatusCode};
use serde_json::{Map, Value, json};

use super::{
    DEFAULT_EXPIRES_IN, DEFAULT_REFRESH_TOKEN_EXPIRES_IN, IssueError, IssueRequest,
    OAuthClientConfig, scope_text,
};
use crate::zis::auth::Scope;
use crate::zis::response::{self, ApiError, Body};
use crate::zis::state::State;
use crate::zis::validation::{optional_string, parse_object, required_string};

/// Answers `/_fake/oauth/{rest...}`.
pub fn handle(
    state: &State,
    method: &Method,
    rest: &[&str],
    query: Option<&str>,
    body: &[u8],
) -> Result<Response<Body>, ApiError> {
    match (rest, method) {
        (["clients"], &Method::GET) => Ok(response::json(
            StatusCode::OK,
            &json!({"clients": state.oauth.client_views()}),
        )),
        (["clients"], &Method::POST) => register_client(state, body),
        (["grants"], &Method::POST) => issue_grant(state, body),
        (["grants"], &Method::DELETE) => {
            let body = parse_object(body)?;
            let token = required_string(&body, "refresh_token")?;
            let grant = state.oauth.grant_of(&token).ok_or_else(grant_not_found)?;
            revoke(state, grant)
        }
        (["grants", id], &Method::DELETE) => {
            let grant = id.parse().map_err(|_| grant_not_found())?;
            revoke(state, grant)
        }
        (["tokens"], &Method::GET) => list_tokens(state, query),
        (["clients"] | ["grants"] | ["grants", _] | ["tokens"], _) => {
            Err(ApiError::method_not_allowed())
        }
        _ => Err(ApiError::no_route()),
    }
}

fn grant_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "NotFound", "Grant does not exist")
}

fn revoke(state: &State, grant: u64) -> Result<Response<Body>, ApiError> {
    if state.oauth.revoke(&state.tokens, grant) {
        tracing::info!(grant, "oauth grant revoked through the admin API");
        Ok(response::no_content())
    } else {
        Err(grant_not_found())
    }
}

/// `scopes` (an array) or `scope` (space-separated text); `None` when neither is given.
fn scopes(body: &Map<String, Value>) -> Result<Option<BTreeSet<Scope>>, ApiError> {
    let invalid = || ApiError::invalid_body("Scopes must be \"read\" or \"write\"");
    match (body.get("scopes"), body.get("scope")) {
        (Some(Value::Array(items)), _) => items
            .iter()
            .map(|s| s.as_str().and_then(Scope::parse))
            .collect::<Option<BTreeSet<Scope>>>()
            .map(Some)
            .ok_or_else(invalid),
        (Some(Value::Null) | None, Some(Value::String(text))) => {
            super::parse_scopes(text).map(Some).ok_or_else(invalid)
        }
        (Some(Value::Null) | None, Some(Value::Null) | None) => Ok(None),
        _ => Err(ApiError::invalid_body(
            "Field scopes must be an array, scope a space-separated string",
        )),
    }
}

fn optional_bool(body: &Map<String, Value>, field: &str) -> Result<bool, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(flag)) => Ok(*flag),
        Some(_) => Err(ApiError::invalid_body(format!(
            "Field {field} must be a boolean"
        ))),
    }
}

fn optional_seconds(
    body: &Map<String, Value>,
    field: &str,
    default: Duration,
) -> Result<Duration, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(default),
        Some(value) => value.as_u64().map(Duration::from_secs).ok_or_else(|| {
            ApiError::invalid_body(format!("Field {field} must be an unsigned integer"))
        }),
    }
}

/// `POST /_fake/oauth/clients` with `{"integration","client_id","client_secret",
/// "allow_client_credentials","scopes"}`: registers (or replaces) a client; registers the
/// integration.
fn register_client(state: &State, body: &[u8]) -> Result<Response<Body>, ApiError> {
    let body = parse_object(body)?;
    let mut client = OAuthClientConfig::new(
        required_string(&body, "integration")?,
        required_string(&body, "client_id")?,
        required_string(&body, "client_secret")?,
    );
    client.allow_client_credentials = optional_bool(&body, "allow_client_credentials")?;
    if let Some(scopes) = scopes(&body)? {
        client.scopes = scopes.into_iter().collect();
    }
    let scopes: Vec<&str> = client.scopes.iter().map(|s| s.as_str()).collect();
    let answer = json!({
        "integration": client.integration,
        "client_id": client.client_id,
        "allow_client_credentials": client.allow_client_credentials,
        "scopes": scopes,
    });
    state.store.add_integration(&client.integration);
    tracing::info!(client = ?client, "oauth client registered through the admin API");
    state.oauth.register(client);
    Ok(response::json(StatusCode::CREATED, &answer))
}

/// `POST /_fake/oauth/grants` with `{"client_id","scope"|"scopes","refresh_token",
/// "refresh_token_expires_in","with_access_token","expires_in"}`: what an admin authorizing the
/// app gets, with any lifetimes (0 gives a token already expired).
fn issue_grant(state: &State, body: &[u8]) -> Result<Response<Body>, ApiError> {
    let body = parse_object(body)?;
    let request = IssueRequest {
        client_id: required_string(&body, "client_id")?,
        scopes: scopes(&body)?,
        refresh_token: optional_string(&body, "refresh_token")?,
        access: optional_bool(&body, "with_access_token")?
            .then(|| optional_seconds(&body, "expires_in", DEFAULT_EXPIRES_IN))
            .transpose()?,
        refresh: optional_seconds(
            &body,
            "refresh_token_expires_in",
            DEFAULT_REFRESH_TOKEN_EXPIRES_IN,
        )?,
    };
    let issued = state
        .oauth
        .issue(&state.tokens, state.clock.now(), request)
        .map_err(|error| match error {
            IssueError::UnknownClient => ApiError::new(
                StatusCode::NOT_FOUND,
                "NotFound",
                "OAuth client does not exist",
            ),
            IssueError::TokenTaken => ApiError::conflict(),
        })?;
    let mut answer = json!({
        "grant_id": issued.grant_id,
        "client_id": issued.client_id,
        "integration": issued.integration,
        "token_type": "bearer",
        "scope": scope_text(&issued.scopes),
    });
    if let Some((token, lifetime)) = &issued.refresh_token {
        answer["refresh_token"] = json!(token);
        answer["refresh_token_expires_in"] = json!(lifetime.as_secs());
    }
    if let Some((token, lifetime)) = &issued.access_token {
        answer["access_token"] = json!(token);
        answer["expires_in"] = json!(lifetime.as_secs());
    }
    tracing::info!(grant = ?issued, "oauth grant issued through the admin API");
    Ok(response::json(StatusCode::CREATED, &answer))
}

/// `GET /_fake/oauth/tokens[?client_id=ID][&grant_id=N]`.
fn list_tokens(state: &State, query: Option<&str>) -> Result<Response<Body>, ApiError> {
    let mut client_id = None;
    let mut grant_id = None;
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "client_id" => client_id = Some(value.into_owned()),
            "grant_id" => {
                grant_id = Some(value.parse::<u64>().map_err(|_| {
                    ApiError::invalid_body("Parameter grant_id must be an unsigned integer")
                })?);
            }
            _ => {}
        }
    }
    let tokens = state
        .oauth
        .token_views(state.clock.now(), client_id.as_deref(), grant_id);
    Ok(response::json(StatusCode::OK, &json!({"tokens": tokens})))
}
