//! The HTTP front: one handler that routes every request (discovery, OpenAPI, resources) and
//! the per-request context (`Call`) the verb handlers work from.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error::{ApiError, Cause, Subject};
use super::resources::ResourceType;
use super::routing::{self, ResourcePath, Route};
use super::store::Store;
use super::{delete, discovery, openapi, proto, read, watch, write};

/// Shared server state.
pub struct Api {
    pub store: Store,
    /// The address clients reach the server on (for `/api` serverAddressByClientCIDRs).
    pub addr: SocketAddr,
    /// Becomes true when the server shuts down (watches end then).
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

/// How unknown (pruned) fields are reported, from the `fieldValidation` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

/// One resource request.
pub struct Call {
    pub method: Method,
    pub rt: ResourceType,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
    pub watch: bool,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Call {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.param(key), Some("true" | "1"))
    }

    /// The Accept header asks for a `meta.k8s.io` Table (as `kubectl get` does).
    pub fn wants_table(&self) -> bool {
        self.headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("as=Table"))
    }

    pub fn dry_run(&self) -> bool {
        self.param("dryRun") == Some("All")
    }

    pub fn field_validation(&self) -> FieldValidation {
        match self.param("fieldValidation") {
            Some("Strict") => FieldValidation::Strict,
            Some("Ignore") => FieldValidation::Ignore,
            _ => FieldValidation::Warn,
        }
    }

    /// The field manager of a non-apply write: the `fieldManager` parameter, else the user
    /// agent's program name, as the real server derives it.
    pub fn field_manager(&self) -> String {
        if let Some(manager) = self.param("fieldManager") {
            return manager.to_string();
        }
        self.headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .and_then(|ua| ua.split('/').next())
            .filter(|ua| !ua.is_empty())
            .unwrap_or("unknown")
            .to_string()
    }

    /// Namespace of the addressed object ("" for cluster-scoped).
    pub fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or("")
    }

    /// The object named in the path, for error details (`kind` is the resource plural).
    pub fn subject(&self, name: &str) -> Subject {
        Subject::new(&self.rt.group, &self.rt.plural, name)
    }

    pub fn content_type(&self) -> String {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_string())
            .unwrap_or_default()
    }

    /// The request body as JSON (YAML is accepted too, as for apply patches).
    pub fn body_value(&self) -> Result<Value, ApiError> {
        if self.body.is_empty() {
            return Err(ApiError::bad_request(format!(
                "the object provided is unrecognized (must be of type {}): couldn't get version/kind; json parse error: unexpected end of JSON input (<empty>)",
                self.rt.kind
            )));
        }
        if self.content_type() == "application/vnd.kubernetes.protobuf" {
            return proto::decode(&self.body)
                .map_err(|e| ApiError::unsupported_media_type(e.to_string()));
        }
        match serde_json::from_slice(&self.body) {
            Ok(value) => Ok(value),
            Err(json_error) => serde_yaml::from_slice::<Value>(&self.body).map_err(|_| {
                ApiError::bad_request(format!(
                    "the body of the request could not be decoded: {json_error}"
                ))
            }),
        }
    }
}

/// A JSON response with optional `Warning` headers.
pub fn json_response(code: u16, value: &Value, warnings: &[String]) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    let mut response = (status, value.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for warning in warnings {
        let text = format!("299 - {}", serde_json::Value::String(warning.clone()));
        if let Ok(value) = HeaderValue::from_str(&text) {
            headers.append("warning", value);
        }
    }
    response
}

/// Serves every request.
pub async fn dispatch(
    State(api): State<Arc<Api>>,
    method: Method,
    uri: Uri,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query: HashMap<String, String> = query.into_iter().collect();
    let route = routing::parse(uri.path());
    let result = match route.clone() {
        Route::Version => Ok(json_response(200, &discovery::version(), &[])),
        Route::Health => Ok((StatusCode::OK, "ok").into_response()),
        Route::CoreVersions | Route::Groups => {
            let core = matches!(route, Route::CoreVersions);
            let accept = headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            Ok(match discovery::aggregated_version(accept) {
                Some(version) => {
                    let body = discovery::aggregated(&api, core, version);
                    let mut response = json_response(200, &body, &[]);
                    let content_type = format!(
                        "application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"
                    );
                    if let Ok(value) = HeaderValue::from_str(&content_type) {
                        response.headers_mut().insert(header::CONTENT_TYPE, value);
                    }
                    response
                }
                None if core => json_response(200, &discovery::core_versions(&api), &[]),
                None => json_response(200, &discovery::groups(&api), &[]),
            })
        }
        Route::Group { group } => {
            discovery::group(&api, &group).map(|v| json_response(200, &v, &[]))
        }
        Route::GroupVersion { group, version } => {
            discovery::resources(&api, &group, &version).map(|v| json_response(200, &v, &[]))
        }
        Route::OpenApiV2 => {
            let accept = headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            Ok(if accept.contains("protobuf") {
                // The empty protobuf message is the same empty document.
                let mut response = (StatusCode::OK, Bytes::new()).into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(openapi::V2_PROTOBUF),
                );
                response
            } else {
                json_response(200, &openapi::v2_document(), &[])
            })
        }
        Route::OpenApiRoot => Ok(json_response(200, &openapi::root(&api), &[])),
        Route::OpenApiGroupVersion { group, version } => {
            openapi::group_version(&api, &group, &version).map(|v| json_response(200, &v, &[]))
        }
        Route::Resource(path) => resource(&api, method.clone(), path, query, headers, body).await,
        Route::Unknown => Err(
            match uri
                .path()
                .trim_start_matches('/')
                .split('/')
                .collect::<Vec<_>>()
                .as_slice()
            {
                ["api", ..] => ApiError::not_served(""),
                ["apis", group, ..] => ApiError::not_served(group),
                _ => ApiError::page_not_found(),
            },
        ),
    };
    let response = result.unwrap_or_else(IntoResponse::into_response);
    // Paths and query strings carry no secrets (bodies are never logged).
    tracing::debug!(
        target: "zis_sandbox::kube::requests",
        "{method} {uri} -> {}",
        response.status().as_u16()
    );
    response
}

async fn resource(
    api: &Arc<Api>,
    method: Method,
    path: ResourcePath,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let rt = api
        .store
        .lock()
        .find_type(&path.group, &path.version, &path.plural)
        .ok_or_else(|| ApiError::not_served(&path.group))?;
    if path.namespace.is_some() && !rt.namespaced {
        return Err(ApiError::not_served(&path.group));
    }
    if let Some(sub) = &path.subresource {
        let known = (sub == "status" && rt.status_subresource)
            || (sub == "finalize" && rt.plural == "namespaces" && rt.group.is_empty());
        if !known || path.name.is_none() {
            return Err(ApiError::not_served(&path.group));
        }
    }
    let watch =
        path.legacy_watch || matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    let call = Call {
        method,
        rt,
        namespace: path.namespace,
        name: path.name,
        subresource: path.subresource,
        watch,
        query,
        headers,
        body,
    };
    if call.rt.review {
        if call.method != Method::POST || call.name.is_some() || call.watch {
            return Err(ApiError::method_not_allowed());
        }
        return write::review(&call);
    }
    if call.watch {
        if call.method != Method::GET {
            return Err(ApiError::method_not_allowed());
        }
        return watch::watch(api.clone(), call);
    }
    check_options(&call)?;
    let has_name = call.name.is_some();
    match (&call.method, has_name) {
        (&Method::GET, true) => read::get(api, &call),
        (&Method::GET, false) => read::list(api, &call),
        (&Method::POST, false) => write::create(api, &call),
        (&Method::PUT, true) => write::update(api, &call),
        (&Method::PATCH, true) => write::patch(api, &call),
        (&Method::DELETE, true) => delete::delete(api, &call),
        (&Method::DELETE, false) => delete::delete_collection(api, &call),
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// Validates the write options of the query as the real server validates its
/// Create/Update/Patch/DeleteOptions: `dryRun` may only be `All`, `fieldValidation` only one of
/// its three values.
fn check_options(call: &Call) -> Result<(), ApiError> {
    let kind = match call.method {
        Method::POST => "CreateOptions",
        Method::PUT => "UpdateOptions",
        Method::PATCH => "PatchOptions",
        Method::DELETE => "DeleteOptions",
        _ => return Ok(()),
    };
    let mut causes = Vec::new();
    if let Some(dry_run) = call.param("dryRun").filter(|d| *d != "All") {
        causes.push(Cause {
            reason: "FieldValueNotSupported".into(),
            field: "dryRun".into(),
            message: format!("Unsupported value: [{dry_run:?}]: supported values: \"All\""),
        });
    }
    if kind != "DeleteOptions"
        && let Some(validation) = call
            .param("fieldValidation")
            .filter(|v| !matches!(*v, "" | "Ignore" | "Strict" | "Warn"))
    {
        causes.push(Cause {
            reason: "FieldValueNotSupported".into(),
            field: "fieldValidation".into(),
            message: format!(
                "Unsupported value: {validation:?}: supported values: \"\", \"Ignore\", \"Strict\", \"Warn\""
            ),
        });
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(
            &Subject::new("meta.k8s.io", kind, ""),
            &causes,
        ))
    }
}

/// Builds a streaming JSON response (watch).
pub fn stream_response(body: Body) -> Response {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
