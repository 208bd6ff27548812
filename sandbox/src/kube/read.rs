//! GET of one object and LIST (label and field selectors, limit/continue, Table output for
//! `kubectl get`).

use std::sync::Arc;

use axum::response::Response;
use serde_json::{Value, json};

use super::api::{Api, Call, json_response};
use super::error::ApiError;
use super::events;
use super::resources::ResourceType;
use super::selectors::{FieldSelector, LabelSelector};
use super::table;

/// An object as served at `rt`'s version (all versions share storage, as with the real
/// server's `None` conversion strategy).
pub fn render(rt: &ResourceType, object: Value) -> Value {
    let mut object = events::to_view(rt, object);
    object["apiVersion"] = json!(rt.api_version());
    object["kind"] = json!(rt.kind);
    object
}

/// A `{Kind}List` body, shaped as the real server encodes it: items of built-in kinds without
/// `apiVersion` and `kind` (typed lists leave them out), custom resources with them and with an
/// empty `continue` on the last page (unstructured lists keep the field).
pub fn list_body(rt: &ResourceType, mut items: Vec<Value>, rv: u64, next: Option<String>) -> Value {
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    match next {
        Some(token) => metadata["continue"] = json!(token),
        None if rt.custom => metadata["continue"] = json!(""),
        None => {}
    }
    if !rt.custom {
        for item in items.iter_mut().filter_map(Value::as_object_mut) {
            item.remove("apiVersion");
            item.remove("kind");
        }
    }
    json!({"kind": rt.list_kind(), "apiVersion": rt.api_version(), "metadata": metadata, "items": items})
}

fn include_object(call: &Call) -> &str {
    call.param("includeObject").unwrap_or("Metadata")
}

/// A single object, or a Table row of it when the client asks for a Table.
pub fn get(api: &Arc<Api>, call: &Call) -> Result<Response, ApiError> {
    let name = call.name.clone().unwrap_or_default();
    let object = api
        .store
        .lock()
        .get(&call.rt.storage_key(), call.ns(), &name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&call.subject(&name)))?;
    let object = render(&call.rt, object);
    if call.wants_table() && call.subresource.is_none() {
        let rv = object["metadata"]["resourceVersion"].clone();
        let table = table::to_table(
            &[object],
            call.rt.printer_columns.as_ref(),
            include_object(call),
            json!({"resourceVersion": rv}),
        );
        return Ok(json_response(200, &table, &[]));
    }
    Ok(json_response(200, &object, &[]))
}

/// Encodes a continue position (namespace, name) as an opaque token.
fn encode_continue(position: &(String, String)) -> String {
    let raw = json!([position.0, position.1]).to_string();
    serde_json::to_value(k8s_openapi::ByteString(raw.into_bytes()))
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn decode_continue(token: &str) -> Result<(String, String), ApiError> {
    let invalid = || ApiError::bad_request("continue key is not valid: illegal base64 data");
    let bytes =
        serde_json::from_value::<k8s_openapi::ByteString>(json!(token)).map_err(|_| invalid())?;
    let (ns, name): (String, String) = serde_json::from_slice(&bytes.0).map_err(|_| invalid())?;
    Ok((ns, name))
}

pub fn list(api: &Arc<Api>, call: &Call) -> Result<Response, ApiError> {
    let labels = LabelSelector::parse(call.param("labelSelector").unwrap_or_default())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let fields = FieldSelector::parse(
        call.param("fieldSelector").unwrap_or_default(),
        &call.rt.kind,
        call.rt.custom,
    )
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let limit = match call.param("limit") {
        Some(text) => text.parse::<i64>().map_err(|_| {
            ApiError::bad_request(format!(
                "strconv.ParseInt: parsing {text:?}: invalid syntax"
            ))
        })?,
        None => 0,
    };
    let after = call.param("continue").map(decode_continue).transpose()?;
    let key = call.rt.storage_key();
    let (items, rv, next) = {
        let state = api.store.lock();
        let mut items = Vec::new();
        let mut next = None;
        let mut last = None;
        for (position, object) in state.list(&key, call.namespace.as_deref(), after) {
            if !(labels.matches(object) && fields.matches(object)) {
                continue;
            }
            if limit > 0 && items.len() as i64 >= limit {
                next = last.take().map(|p| encode_continue(&p));
                break;
            }
            items.push(render(&call.rt, object.clone()));
            last = Some(position.clone());
        }
        (items, state.current_rv(), next)
    };
    if call.wants_table() {
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if let Some(token) = &next {
            metadata["continue"] = json!(token);
        }
        let table = table::to_table(
            &items,
            call.rt.printer_columns.as_ref(),
            include_object(call),
            metadata,
        );
        return Ok(json_response(200, &table, &[]));
    }
    Ok(json_response(
        200,
        &list_body(&call.rt, items, rv, next),
        &[],
    ))
}
