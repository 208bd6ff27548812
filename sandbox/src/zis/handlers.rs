//! The ZIS Connections API endpoints: create, show, update and delete for `bearer_token`,
//! `api_key` and `basic_auth`, and the cursor-paginated `all`.

use hyper::header::AUTHORIZATION;
use hyper::{HeaderMap, Method, Response, StatusCode};
use serde_json::{Map, Value, json};

use super::auth::{self, Scope};
use super::oauth;
use super::pagination::{self, encode_cursor};
use super::response::{self, ApiError, Body};
use super::routes::ApiRoute;
use super::state::State;
use super::store::{Connection, ConnectionType, Secret, StoreError};
use super::validation::{
    ValidationError, check_allowed_domain, check_header_name, check_name, check_username,
    optional_string, parse_object, required_string,
};
use super::views;

/// A ZIS API request, its body already read.
pub struct ApiRequest<'a> {
    pub method: &'a Method,
    pub route: &'a ApiRoute<'a>,
    pub headers: &'a HeaderMap,
    pub query: Option<&'a str>,
    pub body: &'a [u8],
}

/// Answers a ZIS API request.
pub fn handle(state: &State, request: &ApiRequest<'_>) -> Response<Body> {
    if let (ApiRoute::OAuthTokens, &Method::POST) = (request.route, request.method) {
        return oauth::endpoint::token(state, request.headers, request.body);
    }
    dispatch(state, request).unwrap_or_else(ApiError::into_response)
}

fn dispatch(state: &State, request: &ApiRequest<'_>) -> Result<Response<Body>, ApiError> {
    match (request.route, request.method) {
        (ApiRoute::Collection { integration, kind }, &Method::POST) => {
            create(state, request, integration, *kind)
        }
        (
            ApiRoute::Item {
                integration,
                kind,
                name,
            },
            method,
        ) => match *method {
            Method::GET => show(state, request, integration, *kind, name),
            Method::PATCH => update(state, request, integration, *kind, name),
            Method::DELETE => delete(state, request, integration, *kind, name),
            _ => Err(ApiError::method_not_allowed()),
        },
        (ApiRoute::All { integration }, &Method::GET) => list(state, request, integration),
        (ApiRoute::Collection { .. } | ApiRoute::All { .. } | ApiRoute::OAuthTokens, _) => {
            Err(ApiError::method_not_allowed())
        }
        (ApiRoute::Unknown, _) => Err(ApiError::no_route()),
    }
}

/// Authenticates (401), checks the integration exists (`unknown` otherwise), then checks the
/// token's integration and scope (403).
fn access(
    state: &State,
    request: &ApiRequest<'_>,
    integration: &str,
    scope: Scope,
    unknown: fn() -> ApiError,
) -> Result<(), ApiError> {
    let grant = state
        .tokens
        .authenticate(request.headers.get(AUTHORIZATION), state.clock.now())?;
    if !state.store.has_integration(integration) {
        return Err(unknown());
    }
    auth::authorize(&grant, integration, scope)?;
    Ok(())
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::UnknownIntegration => ApiError::invalid_integration(),
            StoreError::NameTaken => ApiError::conflict(),
            StoreError::NotFound => ApiError::connection_not_found(),
        }
    }
}

fn create(
    state: &State,
    request: &ApiRequest<'_>,
    integration: &str,
    kind: ConnectionType,
) -> Result<Response<Body>, ApiError> {
    access(
        state,
        request,
        integration,
        Scope::Write,
        ApiError::invalid_integration,
    )?;
    let body = parse_object(request.body)?;
    let name = required_string(&body, "name")?;
    check_name(&name)?;
    let secret = match kind {
        ConnectionType::BearerToken => Secret::BearerToken {
            token: required_string(&body, "token")?,
        },
        ConnectionType::ApiKey => {
            let api_key = required_string(&body, "api_key")?;
            let header_name = required_string(&body, "header_name")?;
            check_header_name(&header_name)?;
            Secret::ApiKey {
                api_key,
                header_name,
            }
        }
        ConnectionType::BasicAuth => {
            let username = required_string(&body, "username")?;
            check_username(&username)?;
            Secret::BasicAuth {
                username,
                password: required_string(&body, "password")?,
            }
        }
    };
    let allowed_domain = required_string(&body, "allowed_domain")?;
    check_allowed_domain(&allowed_domain)?;
    let created =
        state
            .store
            .create(integration, &name, Connection::new(secret, allowed_domain))?;
    tracing::debug!(
        integration,
        name,
        kind = kind.as_str(),
        "connection created"
    );
    Ok(response::json(
        StatusCode::CREATED,
        &views::wrapped(&name, &created),
    ))
}

fn show(
    state: &State,
    request: &ApiRequest<'_>,
    integration: &str,
    kind: ConnectionType,
    name: &str,
) -> Result<Response<Body>, ApiError> {
    access(
        state,
        request,
        integration,
        Scope::Read,
        ApiError::connection_not_found,
    )?;
    let connection = state.store.get(integration, kind, name)?;
    Ok(response::json(
        StatusCode::OK,
        &views::wrapped(name, &connection),
    ))
}

/// The fields a PATCH may change, per type, validated before the store is touched.
struct Changes {
    allowed_domain: Option<String>,
    first: Option<String>,
    second: Option<String>,
}

fn changes(kind: ConnectionType, body: &Map<String, Value>) -> Result<Changes, ValidationError> {
    let allowed_domain = optional_string(body, "allowed_domain")?;
    if let Some(domain) = &allowed_domain {
        check_allowed_domain(domain)?;
    }
    let (first, second, fields) = match kind {
        ConnectionType::BearerToken => (
            optional_string(body, "token")?,
            None,
            "token, allowed_domain",
        ),
        ConnectionType::ApiKey => {
            let header_name = optional_string(body, "header_name")?;
            if let Some(header) = &header_name {
                check_header_name(header)?;
            }
            (
                optional_string(body, "api_key")?,
                header_name,
                "api_key, header_name, allowed_domain",
            )
        }
        ConnectionType::BasicAuth => {
            let username = optional_string(body, "username")?;
            if let Some(username) = &username {
                check_username(username)?;
            }
            (
                username,
                optional_string(body, "password")?,
                "username, password, allowed_domain",
            )
        }
    };
    if allowed_domain.is_none() && first.is_none() && second.is_none() {
        return Err(ValidationError::NothingToUpdate(fields));
    }
    Ok(Changes {
        allowed_domain,
        first,
        second,
    })
}

fn allowed_domain_immutable() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "AllowedDomainImmutable",
        "The allowed_domain of a connection cannot be changed; delete and create it again",
    )
}

fn update(
    state: &State,
    request: &ApiRequest<'_>,
    integration: &str,
    kind: ConnectionType,
    name: &str,
) -> Result<Response<Body>, ApiError> {
    access(
        state,
        request,
        integration,
        Scope::Write,
        ApiError::invalid_integration,
    )?;
    let body = parse_object(request.body)?;
    let changes = changes(kind, &body)?;
    let domain_may_change = state.settings().patch_allowed_domain;
    state.store.update(integration, kind, name, |connection| {
        if let Some(domain) = changes.allowed_domain {
            // Hostnames are case-insensitive: a different case is the same domain.
            if !domain.eq_ignore_ascii_case(&connection.allowed_domain) {
                if !domain_may_change {
                    return Err(allowed_domain_immutable());
                }
                connection.allowed_domain = domain;
            }
        }
        match &mut connection.secret {
            Secret::BearerToken { token } => replace(token, changes.first),
            Secret::ApiKey {
                api_key,
                header_name,
            } => {
                replace(api_key, changes.first);
                replace(header_name, changes.second);
            }
            Secret::BasicAuth { username, password } => {
                replace(username, changes.first);
                replace(password, changes.second);
            }
        }
        Ok(())
    })?;
    tracing::debug!(
        integration,
        name,
        kind = kind.as_str(),
        "connection updated"
    );
    Ok(response::no_content())
}

fn replace(field: &mut String, value: Option<String>) {
    if let Some(value) = value {
        *field = value;
    }
}

fn delete(
    state: &State,
    request: &ApiRequest<'_>,
    integration: &str,
    kind: ConnectionType,
    name: &str,
) -> Result<Response<Body>, ApiError> {
    access(
        state,
        request,
        integration,
        Scope::Write,
        ApiError::connection_not_found,
    )?;
    state.store.delete(integration, kind, name)?;
    tracing::debug!(
        integration,
        name,
        kind = kind.as_str(),
        "connection deleted"
    );
    Ok(response::no_content())
}

fn list(
    state: &State,
    request: &ApiRequest<'_>,
    integration: &str,
) -> Result<Response<Body>, ApiError> {
    access(
        state,
        request,
        integration,
        Scope::Read,
        ApiError::invalid_integration,
    )?;
    let page_request = pagination::parse_query(request.query)?;
    let page = state
        .store
        .page(integration, &page_request.start, page_request.size)?;
    let mut groups: Map<String, Value> = ["api_key", "basic_auth", "bearer_token", "oauth"]
        .into_iter()
        .map(|key| (key.to_owned(), Value::Array(Vec::new())))
        .collect();
    for (name, connection) in &page.items {
        let key = connection.secret.connection_type().as_str();
        if let Some(Value::Array(group)) = groups.get_mut(key) {
            group.push(Value::Object(views::connection_fields(
                name, connection, false,
            )));
        }
    }
    let first = page.items.first().map(|(name, _)| encode_cursor(name));
    let last = page.items.last().map(|(name, _)| encode_cursor(name));
    groups.insert(
        "meta".into(),
        json!({"has_more": page.has_more, "after": last, "before": first}),
    );
    Ok(response::json(StatusCode::OK, &Value::Object(groups)))
}
