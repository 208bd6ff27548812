//! The admin API under `/_fake/`: a TEST FACILITY that the real ZIS never serves. It shows true
//! secrets, seeds and changes connections behind a client's back, reads request counters, turns
//! switches, injects faults, issues and revokes OAuth grants (`oauth::admin`) and moves the token
//! clock forward. No authentication, no validation of names or domains, no rate limit, no faults,
//! no latency and no counters apply to it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hyper::{Method, Response, StatusCode};
use serde_json::{Map, Value, json};

use super::auth::{Grant, Scope};
use super::clock::MAX_OFFSET;
use super::faults::FaultRule;
use super::oauth;
use super::response::{self, ApiError, Body};
use super::state::State;
use super::store::{Connection, ConnectionType, Secret, StoreError};
use super::validation::{optional_string, parse_object, required_string};
use super::views;

/// Every admin path starts with this.
pub const ADMIN_PREFIX: &str = "/_fake/";

pub fn is_admin(path: &str) -> bool {
    path.starts_with(ADMIN_PREFIX) || path == "/_fake"
}

/// Answers an admin request.
pub fn handle(
    state: &State,
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> Response<Body> {
    dispatch(state, method, path, query, body).unwrap_or_else(ApiError::into_response)
}

fn dispatch(
    state: &State,
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> Result<Response<Body>, ApiError> {
    let rest = path.strip_prefix(ADMIN_PREFIX).unwrap_or("");
    let segments: Vec<&str> = rest.split('/').collect();
    match (segments.as_slice(), method) {
        (["connections"], &Method::GET) => Ok(list_connections(state, query)),
        (["connections"], &Method::POST) => seed_connection(state, body),
        (["connections", integration, kind, name], method) => {
            let kind = ConnectionType::parse(kind).ok_or_else(ApiError::connection_not_found)?;
            match *method {
                Method::GET => {
                    let connection = state
                        .store
                        .get(integration, kind, name)
                        .map_err(not_found)?;
                    Ok(response::json(
                        StatusCode::OK,
                        &views::admin_entry(integration, name, &connection),
                    ))
                }
                Method::PATCH => change_connection(state, integration, kind, name, body),
                Method::DELETE => {
                    state
                        .store
                        .delete(integration, kind, name)
                        .map_err(not_found)?;
                    Ok(response::no_content())
                }
                _ => Err(ApiError::method_not_allowed()),
            }
        }
        (["requests"], &Method::GET) => {
            let (total, requests) = state.counters.snapshot();
            let other_apps = state.rate.other_apps(
                state.settings().rate_limit_per_minute,
                std::time::Instant::now(),
            );
            Ok(response::json(
                StatusCode::OK,
                &json!({"total": total, "requests": requests, "other_apps": other_apps}),
            ))
        }
        (["requests"], &Method::DELETE) => {
            state.counters.reset();
            state.rate.reset_counts();
            Ok(response::no_content())
        }
        (["settings"], &Method::GET) => Ok(settings_response(state)),
        (["settings"], &Method::PUT | &Method::PATCH) => {
            let patch = parse_object(body)?;
            let next = state.settings().patched(&patch)?;
            tracing::info!(settings = ?next, "settings changed through the admin API");
            state.set_settings(next);
            Ok(settings_response(state))
        }
        (["faults"], &Method::GET) => Ok(response::json(
            StatusCode::OK,
            &json!({"faults": state.faults.list()}),
        )),
        (["faults"], &Method::POST) => add_fault(state, body),
        (["faults"], &Method::DELETE) => {
            state.faults.clear();
            Ok(response::no_content())
        }
        (["access-tokens"], &Method::POST) => add_access_token(state, body),
        (["access-tokens"], &Method::DELETE) => {
            let body = parse_object(body)?;
            let token = required_string(&body, "token")?;
            if state.tokens.remove(&token) {
                Ok(response::no_content())
            } else {
                Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    "Access token does not exist",
                ))
            }
        }
        (["integrations"], &Method::GET) => Ok(response::json(
            StatusCode::OK,
            &json!({"integrations": state.store.integration_keys()}),
        )),
        (["integrations"], &Method::POST) => {
            let body = parse_object(body)?;
            let integration = required_string(&body, "integration")?;
            state.store.add_integration(&integration);
            Ok(response::json(
                StatusCode::CREATED,
                &json!({"integration": integration}),
            ))
        }
        (["oauth", rest @ ..], method) => oauth::admin::handle(state, method, rest, query, body),
        (["clock"], &Method::GET) => Ok(clock_response(state)),
        (["clock"], &Method::POST) => advance_clock(state, body),
        (["reset"], &Method::POST) => {
            state.reset();
            tracing::info!("fake reset through the admin API");
            Ok(response::no_content())
        }
        (
            ["connections"]
            | ["requests"]
            | ["settings"]
            | ["faults"]
            | ["access-tokens"]
            | ["integrations"]
            | ["clock"]
            | ["reset"],
            _,
        ) => Err(ApiError::method_not_allowed()),
        _ => Err(ApiError::no_route()),
    }
}

fn not_found(_: StoreError) -> ApiError {
    ApiError::connection_not_found()
}

fn clock_response(state: &State) -> Response<Body> {
    response::json(
        StatusCode::OK,
        &json!({"offset_seconds": state.clock.offset().as_secs()}),
    )
}

/// `POST /_fake/clock` with `{"advance_seconds":N}`: every token lifetime (access tokens, OAuth
/// refresh tokens) runs N seconds further.
fn advance_clock(state: &State, body: &[u8]) -> Result<Response<Body>, ApiError> {
    let body = parse_object(body)?;
    let seconds = body
        .get("advance_seconds")
        .and_then(Value::as_u64)
        .ok_or_else(|| {
            ApiError::invalid_body("Field advance_seconds must be an unsigned integer")
        })?;
    state
        .clock
        .advance(Duration::from_secs(seconds))
        .ok_or_else(|| {
            ApiError::invalid_body(format!(
                "The clock cannot be moved more than {} seconds in total",
                MAX_OFFSET.as_secs()
            ))
        })?;
    tracing::info!(seconds, "token clock moved forward through the admin API");
    Ok(clock_response(state))
}

fn settings_response(state: &State) -> Response<Body> {
    let settings = serde_json::to_value(state.settings()).unwrap_or(Value::Null);
    response::json(StatusCode::OK, &settings)
}

/// `GET /_fake/connections[?integration=KEY][&type=TYPE]`.
fn list_connections(state: &State, query: Option<&str>) -> Response<Body> {
    let mut integration = None;
    let mut kind = None;
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "integration" => integration = Some(value.into_owned()),
            "type" => kind = Some(value.into_owned()),
            _ => {}
        }
    }
    let connections: Vec<Value> = state
        .store
        .all(integration.as_deref())
        .iter()
        .filter(|(_, _, c)| {
            kind.as_deref()
                .is_none_or(|k| c.secret.connection_type().as_str() == k)
        })
        .map(|(integration, name, c)| views::admin_entry(integration, name, c))
        .collect();
    response::json(StatusCode::OK, &json!({"connections": connections}))
}

fn optional_time(
    body: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    match optional_string(body, field)? {
        None => Ok(None),
        Some(text) => DateTime::parse_from_rfc3339(&text)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| ApiError::invalid_body(format!("Field {field} must be an RFC 3339 time"))),
    }
}

/// `POST /_fake/connections`: stores a connection as if a client had created it (optionally
/// with given `created_at`/`updated_at`); the integration is registered if unknown.
fn seed_connection(state: &State, body: &[u8]) -> Result<Response<Body>, ApiError> {
    let body = parse_object(body)?;
    let integration = required_string(&body, "integration")?;
    let kind_text = required_string(&body, "type")?;
    let kind = ConnectionType::parse(&kind_text).ok_or_else(|| {
        ApiError::invalid_body("Field type must be bearer_token, api_key or basic_auth")
    })?;
    let name = required_string(&body, "name")?;
    let allowed_domain = required_string(&body, "allowed_domain")?;
    let secret = match kind {
        ConnectionType::BearerToken => Secret::BearerToken {
            token: required_string(&body, "token")?,
        },
        ConnectionType::ApiKey => Secret::ApiKey {
            api_key: required_string(&body, "api_key")?,
            header_name: required_string(&body, "header_name")?,
        },
        ConnectionType::BasicAuth => Secret::BasicAuth {
            username: required_string(&body, "username")?,
            password: required_string(&body, "password")?,
        },
    };
    let mut connection = Connection::new(secret, allowed_domain);
    if let Some(created_at) = optional_time(&body, "created_at")? {
        connection.created_at = created_at;
        connection.updated_at = created_at;
    }
    if let Some(updated_at) = optional_time(&body, "updated_at")? {
        connection.updated_at = updated_at;
    }
    state.store.add_integration(&integration);
    let created = state.store.create(&integration, &name, connection)?;
    Ok(response::json(
        StatusCode::CREATED,
        &views::admin_entry(&integration, &name, &created),
    ))
}

/// `PATCH /_fake/connections/{integration}/{type}/{name}`: changes any field (secrets of the
/// connection's type, `allowed_domain`, `created_at`, `updated_at`); `updated_at` moves to now
/// unless given.
fn change_connection(
    state: &State,
    integration: &str,
    kind: ConnectionType,
    name: &str,
    body: &[u8],
) -> Result<Response<Body>, ApiError> {
    let body = parse_object(body)?;
    let allowed_domain = optional_string(&body, "allowed_domain")?;
    let created_at = optional_time(&body, "created_at")?;
    let updated_at = optional_time(&body, "updated_at")?;
    let field = |name: &'static str| optional_string(&body, name);
    let (first, second) = match kind {
        ConnectionType::BearerToken => (field("token")?, None),
        ConnectionType::ApiKey => (field("api_key")?, field("header_name")?),
        ConnectionType::BasicAuth => (field("username")?, field("password")?),
    };
    state
        .store
        .update::<ApiError>(integration, kind, name, |connection| {
            if let Some(domain) = allowed_domain {
                connection.allowed_domain = domain;
            }
            let (a, b) = match &mut connection.secret {
                Secret::BearerToken { token } => (token, None),
                Secret::ApiKey {
                    api_key,
                    header_name,
                } => (api_key, Some(header_name)),
                Secret::BasicAuth { username, password } => (username, Some(password)),
            };
            if let Some(value) = first {
                *a = value;
            }
            if let (Some(b), Some(value)) = (b, second) {
                *b = value;
            }
            if let Some(created_at) = created_at {
                connection.created_at = created_at;
            }
            if let Some(updated_at) = updated_at {
                connection.updated_at = updated_at;
            }
            Ok(())
        })
        .map_err(|error| match error.code {
            "InvalidIntegration" => ApiError::connection_not_found(),
            _ => error,
        })?;
    Ok(response::no_content())
}

/// `POST /_fake/faults` with `{"method","path_contains","status","count","retry_after"}`.
fn add_fault(state: &State, body: &[u8]) -> Result<Response<Body>, ApiError> {
    let body = parse_object(body)?;
    let status = body
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .filter(|s| *s == 0 || (200..=599).contains(s))
        .ok_or_else(|| {
            ApiError::invalid_body("Field status must be 0 (drop the connection) or 200 to 599")
        })?;
    let count = match body.get("count") {
        None | Some(Value::Null) => 1,
        Some(value) => value
            .as_u64()
            .and_then(|c| u32::try_from(c).ok())
            .filter(|c| *c > 0)
            .ok_or_else(|| ApiError::invalid_body("Field count must be a positive integer"))?,
    };
    let retry_after = match body.get("retry_after") {
        None | Some(Value::Null) => (status == 429).then_some(1),
        Some(value) => Some(value.as_u64().ok_or_else(|| {
            ApiError::invalid_body("Field retry_after must be an unsigned integer")
        })?),
    };
    let method = optional_string(&body, "method")?
        .filter(|m| m != "*")
        .map(|m| m.to_ascii_uppercase());
    let rule = FaultRule {
        method,
        path_contains: optional_string(&body, "path_contains")?,
        status,
        count,
        retry_after,
    };
    tracing::info!(fault = ?rule, "fault added through the admin API");
    state.faults.add(rule.clone());
    Ok(response::json(StatusCode::CREATED, &json!({"fault": rule})))
}

/// `POST /_fake/access-tokens` with `{"integration","token","scopes","ttl_seconds"}`; scopes
/// default to `["read","write"]`, no `ttl_seconds` means no expiry. Registers the integration.
fn add_access_token(state: &State, body: &[u8]) -> Result<Response<Body>, ApiError> {
    let body = parse_object(body)?;
    let integration = required_string(&body, "integration")?;
    let token = required_string(&body, "token")?;
    let mut grant = Grant::full(&integration);
    if let Some(scopes) = body.get("scopes").filter(|s| !s.is_null()) {
        let scopes = scopes
            .as_array()
            .ok_or_else(|| ApiError::invalid_body("Field scopes must be an array"))?;
        grant.scopes = scopes
            .iter()
            .map(|s| s.as_str().and_then(Scope::parse))
            .collect::<Option<_>>()
            .ok_or_else(|| ApiError::invalid_body("Scopes must be \"read\" or \"write\""))?;
    }
    let ttl = match body.get("ttl_seconds") {
        None | Some(Value::Null) => None,
        Some(value) => Some(Duration::from_secs(value.as_u64().ok_or_else(|| {
            ApiError::invalid_body("Field ttl_seconds must be an unsigned integer or null")
        })?)),
    };
    let grant = grant.expiring_in(ttl, state.clock.now());
    let scopes: Vec<&str> = grant.scopes.iter().map(|s| s.as_str()).collect();
    let answer = json!({
        "integration": integration,
        "scopes": scopes,
        "ttl_seconds": ttl.map(|t| t.as_secs()),
    });
    state.store.add_integration(&integration);
    state.tokens.insert(token, grant);
    Ok(response::json(StatusCode::CREATED, &answer))
}
