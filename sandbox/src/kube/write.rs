//! POST (create), PUT (update) and PATCH (merge, JSON, strategic merge, server-side apply),
//! on the main resource and on `/status`, with the real server's preconditions and
//! subresource rules.

use std::sync::Arc;

use axum::response::Response;
use serde_json::{Value, json};

use super::api::{Api, Call, json_response};
use super::crd;
use super::delete::{CRD_KEY, remove_object};
use super::error::{ApiError, Cause, Form, Subject};
use super::events;
use super::objects::{self, finalizers, is_deleting, meta_str};
use super::patch::{self, PatchError};
use super::read::render;
use super::resources::ResourceType;
use super::store::{EventType, State};

/// The result of a write.
pub struct Written {
    pub object: Value,
    pub warnings: Vec<String>,
}

fn is_crd(rt: &ResourceType) -> bool {
    rt.group == CRD_KEY.0 && rt.plural == CRD_KEY.1
}

/// Creating in a namespace needs it to exist and not be terminating. The refusal names the
/// object as the real server's admission does: by its name, or its generateName when the name
/// is still to be generated.
fn require_namespace(
    state: &State,
    rt: &ResourceType,
    namespace: &str,
    requested_name: &str,
) -> Result<(), ApiError> {
    if !rt.namespaced {
        return Ok(());
    }
    let ns = state
        .get(&(String::new(), "namespaces".into()), "", namespace)
        .ok_or_else(|| ApiError::not_found(&Subject::new("", "namespaces", namespace)))?;
    if is_deleting(ns) {
        let mut error = ApiError::forbidden(
            &Subject::new(&rt.group, &rt.plural, requested_name),
            &format!(
                "unable to create new content in namespace {namespace} because it is being terminated"
            ),
        );
        if let Some(details) = error.details.as_mut() {
            details["causes"] = json!([{
                "reason": "NamespaceTerminating",
                "message": format!("namespace {namespace} is being terminated"),
                "field": "metadata.namespace",
            }]);
        }
        return Err(error);
    }
    Ok(())
}

/// Creates `object` under `call`'s resource and namespace.
/// `manager` is the field manager of a non-apply write (apply results carry their own
/// managedFields).
pub fn create_in(
    state: &mut State,
    call: &Call,
    mut object: Value,
    manager: Option<&str>,
) -> Result<Written, ApiError> {
    let rt = &call.rt;
    objects::check_type_meta(rt, &mut object)?;
    let path_ns = call.ns().to_string();
    if rt.namespaced {
        match meta_str(&object, "namespace") {
            "" => object["metadata"]["namespace"] = json!(path_ns),
            ns if ns != path_ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => {}
        }
    } else if let Some(metadata) = object["metadata"].as_object_mut() {
        metadata.remove("namespace");
    }
    let sent_name = meta_str(&object, "name").to_string();
    let requested_name = match sent_name.as_str() {
        "" => meta_str(&object, "generateName").to_string(),
        name => name.to_string(),
    };
    if meta_str(&object, "name").is_empty() {
        let generate = meta_str(&object, "generateName").to_string();
        if generate.is_empty() {
            return Err(objects::invalid(
                rt,
                "",
                &[Cause {
                    reason: "FieldValueRequired".into(),
                    field: "metadata.name".into(),
                    message: "Required value: name or generateName is required".into(),
                }],
            ));
        }
        object["metadata"]["name"] = json!(format!("{generate}{}", objects::name_suffix()));
    }
    let name = meta_str(&object, "name").to_string();
    require_namespace(state, rt, &path_ns, &requested_name)?;
    let key = rt.storage_key();
    if rt.custom {
        let crd_name = format!("{}.{}", rt.plural, rt.group);
        if state
            .get(&(CRD_KEY.0.into(), CRD_KEY.1.into()), "", &crd_name)
            .is_some_and(is_deleting)
        {
            // 403 (not 405) naming the object as sent, as the real server answers.
            return Err(ApiError::forbidden(
                &call.subject(&sent_name),
                "create not allowed while custom resource definition is terminating",
            ));
        }
    }
    if let Some(existing) = state.get(&key, &path_ns, &name) {
        let mut error = ApiError::already_exists(&call.subject(&name));
        if is_deleting(existing) {
            // As the real storage says when the name is still held by an object on its way out.
            error.message = format!("object is being deleted: {}", error.message);
        }
        return Err(error);
    }
    objects::reset_for_create(rt, &mut object);
    if object["metadata"]["managedFields"].is_null()
        && let Some(metadata) = object["metadata"].as_object_mut()
    {
        metadata.remove("managedFields");
    }
    objects::normalize_builtin(rt, &mut object)?;
    objects::drop_empty_metadata(&mut object);
    let mut causes = objects::validate_metadata(rt, &object);
    causes.extend(events::validate_create(rt, &object));
    if is_crd(rt) {
        causes.extend(crd::default_and_validate(&mut object));
    }
    if !causes.is_empty() {
        return Err(objects::invalid(rt, &name, &causes));
    }
    let mut warnings = objects::check_schema(
        rt,
        &mut object,
        None,
        call.field_validation(),
        objects::StrictStyle::Decode,
    )?;
    warnings.extend(objects::finalizer_warnings(rt, &object, None));
    if is_crd(rt) {
        crd::set_status(&mut object, None);
    }
    if let Some(manager) = manager {
        patch::record_update_with_schema(None, &mut object, manager, None, rt.schema.as_ref());
    }
    if call.dry_run() {
        return Ok(Written { object, warnings });
    }
    let object = events::to_storage(rt, object);
    let stored = state.put(&key, &path_ns, &name, object, EventType::Added);
    if is_crd(rt) {
        state.refresh_custom_types();
    }
    Ok(Written {
        object: stored,
        warnings,
    })
}

/// Replaces `current` with `new` following the subresource, precondition, generation and
/// finalizer rules; `require_rv` is set for PUT of custom resources.
pub fn update_in(
    state: &mut State,
    call: &Call,
    current: &Value,
    mut new: Value,
    require_rv: bool,
    manager: Option<&str>,
) -> Result<Written, ApiError> {
    let rt = &call.rt;
    objects::check_type_meta(rt, &mut new)?;
    let name = call.name.clone().unwrap_or_default();
    match meta_str(&new, "name") {
        "" => new["metadata"]["name"] = json!(name),
        body_name if body_name != name => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        _ => {}
    }
    let body_ns = meta_str(&new, "namespace");
    if rt.namespaced && !body_ns.is_empty() && body_ns != call.ns() {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let requested_rv = meta_str(&new, "resourceVersion").to_string();
    if requested_rv.is_empty() {
        if require_rv {
            // Named by resource (plural.group), as the real server's custom resource update
            // does.
            return Err(ApiError::invalid(
                &call.subject(&name),
                &[Cause {
                    reason: "FieldValueInvalid".into(),
                    field: "metadata.resourceVersion".into(),
                    message: "Invalid value: 0: must be specified for an update".into(),
                }],
            ));
        }
    } else if requested_rv != meta_str(current, "resourceVersion") {
        return Err(ApiError::stale(&call.subject(&name)));
    }

    let mut result = match call.subresource.as_deref() {
        Some("status") => {
            let mut result = current.clone();
            match new.get("status") {
                Some(status) if !status.is_null() => result["status"] = status.clone(),
                _ => {
                    if let Some(map) = result.as_object_mut() {
                        map.remove("status");
                    }
                }
            }
            if !new["metadata"]["managedFields"].is_null() {
                result["metadata"]["managedFields"] = new["metadata"]["managedFields"].clone();
            }
            result
        }
        Some("finalize") => {
            let mut result = current.clone();
            result["spec"]["finalizers"] = new["spec"]["finalizers"].clone();
            result
        }
        _ => {
            if rt.status_subresource {
                match current.get("status") {
                    Some(status) => new["status"] = status.clone(),
                    None => {
                        if let Some(map) = new.as_object_mut() {
                            map.remove("status");
                        }
                    }
                }
            }
            new
        }
    };
    let changed_uid = objects::changed_uid(current, &result);
    objects::keep_immutable_metadata(rt, current, &mut result);
    if result["metadata"]["managedFields"].is_null() {
        match current["metadata"].get("managedFields") {
            Some(fields) => result["metadata"]["managedFields"] = fields.clone(),
            None => {
                if let Some(metadata) = result["metadata"].as_object_mut() {
                    metadata.remove("managedFields");
                }
            }
        }
    }
    if is_deleting(current) {
        let old = finalizers(current);
        let added: Vec<String> = finalizers(&result)
            .into_iter()
            .filter(|f| !old.contains(f))
            .collect();
        if !added.is_empty() {
            return Err(objects::invalid(
                rt,
                &name,
                &[Cause {
                    reason: "FieldValueForbidden".into(),
                    field: "metadata.finalizers".into(),
                    message: format!(
                        "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"
                    ),
                }],
            ));
        }
    }
    objects::normalize_builtin(rt, &mut result)?;
    objects::drop_empty_metadata(&mut result);
    let mut causes = objects::validate_metadata(rt, &result);
    causes.extend(changed_uid);
    causes.extend(objects::immutable_data(rt, current, &result));
    causes.extend(events::validate_update(rt, current, &result));
    if is_crd(rt) {
        causes.extend(crd::default_and_validate(&mut result));
    }
    if !causes.is_empty() {
        return Err(objects::invalid(rt, &name, &causes));
    }
    let mut warnings = objects::check_schema(
        rt,
        &mut result,
        Some(current),
        call.field_validation(),
        strict_style(call),
    )?;
    warnings.extend(objects::finalizer_warnings(rt, &result, Some(current)));
    if is_crd(rt) && call.subresource.is_none() {
        crd::set_status(&mut result, Some(current));
    }
    if let Some(manager) = manager {
        patch::record_update_with_schema(
            Some(current),
            &mut result,
            manager,
            call.subresource.as_deref(),
            rt.schema.as_ref(),
        );
    }
    if rt.has_generation && objects::generation_changes(rt, current, &result) {
        let generation = current["metadata"]["generation"].as_i64().unwrap_or(1);
        result["metadata"]["generation"] = json!(generation + 1);
    }
    result["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
    if result == *current {
        // A no-op write: the real server neither bumps resourceVersion nor emits an event.
        return Ok(Written {
            object: result,
            warnings,
        });
    }
    if call.dry_run() {
        return Ok(Written {
            object: result,
            warnings,
        });
    }
    let key = rt.storage_key();
    let ns = call.ns().to_string();
    let result = events::to_storage(rt, result);
    let stored = state.put(&key, &ns, &name, result, EventType::Modified);
    if is_crd(rt) {
        state.refresh_custom_types();
    }
    if is_deleting(&stored) && finalizers(&stored).is_empty() {
        remove_object(state, &key, &ns, &name);
    }
    Ok(Written {
        object: stored,
        warnings,
    })
}

/// Merge and JSON patches report Strict unknown fields on the `patch` field.
fn strict_style(call: &Call) -> objects::StrictStyle {
    let content_type = call.content_type();
    if call.method == axum::http::Method::PATCH && content_type != APPLY {
        objects::StrictStyle::Patch
    } else {
        objects::StrictStyle::Decode
    }
}

fn respond(api: &Arc<Api>, call: &Call, code: u16, written: Written) -> Response {
    let rv = api.store.lock().current_rv();
    api.store.notify(rv);
    json_response(code, &render(&call.rt, written.object), &written.warnings)
}

/// A custom resource sent without `kind` cannot be decoded by the real server: 400 quoting the
/// body (and its first 30 bytes).
fn require_kind(call: &Call, body: &Value) -> Result<(), ApiError> {
    if !call.rt.custom || body["kind"].as_str().is_some_and(|k| !k.is_empty()) {
        return Ok(());
    }
    let raw = String::from_utf8_lossy(&call.body);
    let summary = if raw.len() > 30 {
        format!("{} ...", String::from_utf8_lossy(&call.body[..30]))
    } else {
        raw.to_string()
    };
    Err(ApiError::bad_request(format!(
        "the object provided is unrecognized (must be of type {}): Object 'Kind' is missing in '{raw}' ({summary})",
        call.rt.kind
    )))
}

pub fn create(api: &Arc<Api>, call: &Call) -> Result<Response, ApiError> {
    let body = call.body_value()?;
    require_kind(call, &body)?;
    // The real storage layer refuses this (as an internal error) rather than ignoring it.
    if !meta_str(&body, "resourceVersion").is_empty() {
        return Err(ApiError::unknown(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    let manager = call.field_manager();
    let written = create_in(&mut api.store.lock(), call, body, Some(&manager))?;
    Ok(respond(api, call, 201, written))
}

pub fn update(api: &Arc<Api>, call: &Call) -> Result<Response, ApiError> {
    let body = call.body_value()?;
    require_kind(call, &body)?;
    let name = call.name.clone().unwrap_or_default();
    let key = call.rt.storage_key();
    let (written, code) = {
        let mut state = api.store.lock();
        match state
            .get(&key, call.ns(), &name)
            .cloned()
            .map(|c| render(&call.rt, c))
        {
            Some(current) => (
                update_in(
                    &mut state,
                    call,
                    &current,
                    body,
                    call.rt.custom,
                    Some(&call.field_manager()),
                )?,
                200,
            ),
            None if call.rt.create_on_update && call.subresource.is_none() => (
                create_in(&mut state, call, body, Some(&call.field_manager()))?,
                201,
            ),
            None => return Err(ApiError::not_found(&call.subject(&name))),
        }
    };
    Ok(respond(api, call, code, written))
}

fn patch_error(error: PatchError) -> ApiError {
    match error {
        PatchError::Malformed(message) => ApiError::bad_request(message),
        // The real server drops the patch library's message here (a generic 422 response).
        PatchError::Unprocessable(_) => ApiError {
            details: Some(json!({})),
            ..ApiError::unprocessable(
                "the server rejected our request due to an error in our request",
            )
        },
        PatchError::Conflict(conflicts) => ApiError {
            code: 409,
            reason: "Conflict",
            message: patch::conflict_status_message(&conflicts),
            details: Some(json!({
                "causes": conflicts
                    .iter()
                    .map(|c| {
                        let (message, field) = c.rsplit_once(": ").unwrap_or((c.as_str(), ""));
                        json!({"reason": "FieldManagerConflict", "message": message, "field": field})
                    })
                    .collect::<Vec<_>>()
            })),
            form: Form::Status,
        },
    }
}

const APPLY: &str = "application/apply-patch+yaml";
const MERGE: &str = "application/merge-patch+json";
const JSON_PATCH: &str = "application/json-patch+json";
const STRATEGIC: &str = "application/strategic-merge-patch+json";

pub fn patch(api: &Arc<Api>, call: &Call) -> Result<Response, ApiError> {
    let content_type = call.content_type();
    let custom = call.rt.custom;
    let accepted = if custom {
        format!("{JSON_PATCH}, {MERGE}, {APPLY}")
    } else {
        format!("{JSON_PATCH}, {MERGE}, {STRATEGIC}, {APPLY}")
    };
    let supported = match content_type.as_str() {
        APPLY | MERGE | JSON_PATCH => true,
        STRATEGIC => !custom,
        _ => return Err(ApiError::unsupported_media_type_generic()),
    };
    if !supported {
        return Err(ApiError::unsupported_media_type(format!(
            "the body of the request was in an unknown format - accepted media types include: {accepted}"
        )));
    }
    let body = call.body_value()?;
    let name = call.name.clone().unwrap_or_default();
    let key = call.rt.storage_key();
    let (written, code) = {
        let mut state = api.store.lock();
        let current = state
            .get(&key, call.ns(), &name)
            .cloned()
            .map(|c| render(&call.rt, c));
        if content_type == APPLY {
            // Checked as the real server validates PatchOptions: 422 Invalid.
            let manager = call.param("fieldManager").ok_or_else(|| {
                ApiError::invalid(
                    &Subject::new("meta.k8s.io", "PatchOptions", ""),
                    &[Cause {
                        reason: "FieldValueRequired".into(),
                        field: "fieldManager".into(),
                        message: "Required value: is required for apply patch".into(),
                    }],
                )
            })?;
            if let Some(force) = call.param("force")
                && !matches!(force, "true" | "false")
            {
                return Err(ApiError::bad_request(format!(
                    "invalid force value: {force}"
                )));
            }
            let mut applied = body;
            if call.rt.custom && applied["kind"].as_str().is_none_or(str::is_empty) {
                return Err(ApiError::bad_request(format!(
                    "invalid object type: {}, Kind=",
                    call.rt.api_version()
                )));
            }
            objects::check_type_meta(&call.rt, &mut applied)?;
            let applied_result = patch::server_side_apply(
                current.as_ref(),
                &applied,
                manager,
                call.flag("force"),
                call.subresource.as_deref(),
                call.rt.schema.as_ref(),
            )
            .map_err(patch_error)?;
            match current {
                Some(current) => (
                    update_in(&mut state, call, &current, applied_result, false, None)?,
                    200,
                ),
                None if call.subresource.is_none() => {
                    (create_in(&mut state, call, applied_result, None)?, 201)
                }
                None => return Err(ApiError::not_found(&call.subject(&name))),
            }
        } else {
            let current = current.ok_or_else(|| ApiError::not_found(&call.subject(&name)))?;
            let mut patched = current.clone();
            match content_type.as_str() {
                MERGE => {
                    // The real server decodes a merge patch into a map first.
                    let kind = match &body {
                        Value::Object(_) | Value::Null => None,
                        Value::Array(_) => Some("array"),
                        Value::String(_) => Some("string"),
                        Value::Number(_) => Some("number"),
                        Value::Bool(_) => Some("bool"),
                    };
                    if let Some(kind) = kind {
                        return Err(ApiError::bad_request(format!(
                            "error decoding patch: json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
                        )));
                    }
                    if body.is_object() {
                        patch::merge_patch(&mut patched, &body);
                    }
                }
                JSON_PATCH => patch::json_patch(&mut patched, &body).map_err(patch_error)?,
                _ => patch::strategic_merge_patch(&mut patched, &body).map_err(patch_error)?,
            }
            if !patched.is_object() {
                return Err(ApiError::bad_request(
                    "the patched object is not a JSON object",
                ));
            }
            let manager = call.field_manager();
            (
                update_in(&mut state, call, &current, patched, false, Some(&manager))?,
                200,
            )
        }
    };
    Ok(respond(api, call, code, written))
}

/// Who `auth whoami` says the caller is: the user name of the kubeconfig the sandbox writes.
const SANDBOX_USER: &str = "zis-sandbox";

/// Answers a review: the sandbox has no authentication or authorization, so every access is
/// allowed, every rule granted, and the caller is the kubeconfig's user with the groups of a
/// cluster administrator (201 with the review and its status, as the real server answers;
/// nothing is stored). A SelfSubjectReview is stamped with the time of the request, as the real
/// server's answer is.
pub fn review(call: &Call) -> Result<Response, ApiError> {
    let mut review = call.body_value()?;
    objects::check_type_meta(&call.rt, &mut review)?;
    if call.rt.kind == "SelfSubjectReview" {
        review["metadata"]["creationTimestamp"] = json!(objects::now());
    }
    review["status"] = match call.rt.kind.as_str() {
        "SelfSubjectRulesReview" => json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        }),
        "SelfSubjectReview" => json!({
            "userInfo": {
                "username": SANDBOX_USER,
                "groups": ["system:masters", "system:authenticated"],
            },
        }),
        // As the real server answers a member of system:masters: allowed, without a reason.
        _ => json!({"allowed": true}),
    };
    Ok(json_response(201, &review, &[]))
}
