//! DELETE: graceful deletion with finalizers (deletionTimestamp set, object kept until its
//! finalizers are empty), cascading cleanup of a deleted Namespace's objects and of a deleted
//! CRD's objects, delete preconditions and deletecollection.

use std::sync::Arc;

use axum::response::Response;
use serde_json::{Value, json};

use super::api::{Api, Call, json_response};
use super::crd;
use super::error::{ApiError, Subject};
use super::objects::{self, finalizers, is_deleting, now};
use super::read::{self, render};
use super::selectors::{FieldSelector, LabelSelector};
use super::store::{EventType, State};

pub const CRD_KEY: (&str, &str) = ("apiextensions.k8s.io", "customresourcedefinitions");
pub const NAMESPACE_KEY: (&str, &str) = ("", "namespaces");

/// Namespaces the real server's NamespaceLifecycle admission never lets anyone delete.
const IMMORTAL_NAMESPACES: [&str; 3] = ["default", "kube-system", "kube-public"];

fn key(pair: (&str, &str)) -> (String, String) {
    (pair.0.to_string(), pair.1.to_string())
}

/// What a delete did.
pub enum Deletion {
    /// Finalizers (or cleanup) keep the object; it now has a deletionTimestamp.
    Marked(Value),
    /// The object is gone.
    Removed(Value),
}

/// Marks or removes one object, with the cascades of Namespaces and CRDs. `dry_run` computes
/// the answer without writing.
pub fn delete_in(
    state: &mut State,
    key: &(String, String),
    namespace: &str,
    name: &str,
    dry_run: bool,
) -> Option<Deletion> {
    let current = state.get(key, namespace, name)?.clone();
    let is_namespace = *key == self::key(NAMESPACE_KEY);
    let is_crd = *key == self::key(CRD_KEY);
    if finalizers(&current).is_empty() && !is_namespace && !is_crd {
        if dry_run {
            return Some(Deletion::Removed(current));
        }
        return remove_object(state, key, namespace, name).map(Deletion::Removed);
    }
    if is_deleting(&current) {
        return Some(Deletion::Marked(current));
    }
    let mut marked = current;
    marked["metadata"]["deletionTimestamp"] = json!(now());
    // The generic registry marks an object kept by finalizers with a grace period of 0; the
    // Namespace and CRD registries, which delete on their own, do not.
    if !is_namespace && !is_crd {
        marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
    }
    if is_namespace {
        marked["status"]["phase"] = json!("Terminating");
    }
    if is_crd {
        // The real CRD registry adds its cleanup finalizer at the first delete, not at create.
        crd::add_cleanup_finalizer(&mut marked);
        crd::set_status(&mut marked, state.get(key, namespace, name));
    }
    if dry_run {
        return Some(Deletion::Marked(marked));
    }
    let stored = state.put(key, namespace, name, marked, EventType::Modified);
    if is_namespace {
        for (object_key, object_name) in state.objects_in_namespace(name) {
            delete_in(state, &object_key, name, &object_name, false);
        }
        finish_namespace(state, name);
    }
    if is_crd {
        let resource = crd::storage_key(&stored);
        let names: Vec<(String, String)> = state
            .list(&resource, None, None)
            .map(|(k, _)| k.clone())
            .collect();
        for (ns, object_name) in names {
            delete_in(state, &resource, &ns, &object_name, false);
        }
        finish_crd(state, &resource);
    }
    match state.get(key, namespace, name) {
        Some(object) => Some(Deletion::Marked(object.clone())),
        None => Some(Deletion::Removed(stored)),
    }
}

/// Removes an object for good and lets a terminating Namespace or CRD finish.
pub fn remove_object(
    state: &mut State,
    key: &(String, String),
    namespace: &str,
    name: &str,
) -> Option<Value> {
    let removed = state.remove(key, namespace, name)?;
    if *key == self::key(CRD_KEY) {
        state.refresh_custom_types();
    }
    if !namespace.is_empty() {
        finish_namespace(state, namespace);
    }
    if !key.0.is_empty() && *key != self::key(CRD_KEY) {
        finish_crd(state, key);
    }
    Some(removed)
}

/// A terminating namespace goes once it is empty (and has no finalizers of its own).
fn finish_namespace(state: &mut State, namespace: &str) {
    let ns_key = key(NAMESPACE_KEY);
    let Some(ns) = state.get(&ns_key, "", namespace).cloned() else {
        return;
    };
    if !is_deleting(&ns) {
        return;
    }
    if state.namespace_has_objects(namespace) {
        report_remaining(state, ns, namespace);
        return;
    }
    if finalizers(&ns).is_empty() {
        remove_object(state, &ns_key, "", namespace);
    } else if ns["spec"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty())
    {
        let mut emptied = ns;
        emptied["spec"]["finalizers"] = json!([]);
        state.put(&ns_key, "", namespace, emptied, EventType::Modified);
    }
}

/// Sets the conditions the real namespace controller reports while objects (usually held by
/// finalizers) remain: all five of its condition types, in its order, with its wording
/// (`{resource}.{group} has N resource instances`, the core group empty).
fn report_remaining(state: &mut State, ns: Value, namespace: &str) {
    let mut per_resource: std::collections::BTreeMap<String, usize> = Default::default();
    let mut per_finalizer: std::collections::BTreeMap<String, usize> = Default::default();
    for (object_key, name) in state.objects_in_namespace(namespace) {
        let resource = format!("{}.{}", object_key.1, object_key.0);
        *per_resource.entry(resource).or_default() += 1;
        if let Some(object) = state.get(&object_key, namespace, &name) {
            for finalizer in finalizers(object) {
                *per_finalizer.entry(finalizer).or_default() += 1;
            }
        }
    }
    let previous = ns["status"]["conditions"].clone();
    let condition = |kind: &str, active: bool, reason: &str, message: String| {
        let status = if active { "True" } else { "False" };
        let since = previous
            .as_array()
            .and_then(|c| {
                c.iter()
                    .find(|c| c["type"] == kind && c["status"] == status)
            })
            .and_then(|c| c["lastTransitionTime"].as_str().map(str::to_string))
            .unwrap_or_else(now);
        json!({"type": kind, "status": status, "reason": reason, "message": message, "lastTransitionTime": since})
    };
    let resources: Vec<String> = per_resource
        .iter()
        .map(|(r, n)| format!("{r} has {n} resource instances"))
        .collect();
    let held: Vec<String> = per_finalizer
        .iter()
        .map(|(f, n)| format!("{f} in {n} resource instances"))
        .collect();
    let conditions = json!([
        condition(
            "NamespaceDeletionDiscoveryFailure",
            false,
            "ResourcesDiscovered",
            "All resources successfully discovered".into()
        ),
        condition(
            "NamespaceDeletionGroupVersionParsingFailure",
            false,
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed".into()
        ),
        condition(
            "NamespaceDeletionContentFailure",
            false,
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization".into()
        ),
        condition(
            "NamespaceContentRemaining",
            true,
            "SomeResourcesRemain",
            format!("Some resources are remaining: {}", resources.join(", "))
        ),
        if held.is_empty() {
            condition(
                "NamespaceFinalizersRemaining",
                false,
                "ContentHasNoFinalizers",
                "All content-preserving finalizers finished".into(),
            )
        } else {
            condition(
                "NamespaceFinalizersRemaining",
                true,
                "SomeFinalizersRemain",
                format!(
                    "Some content in the namespace has finalizers remaining: {}",
                    held.join(", ")
                ),
            )
        },
    ]);
    if previous != conditions {
        let mut updated = ns;
        updated["status"]["conditions"] = conditions;
        state.put(
            &key(NAMESPACE_KEY),
            "",
            namespace,
            updated,
            EventType::Modified,
        );
    }
}

/// A terminating CRD drops its cleanup finalizer once its objects are gone.
fn finish_crd(state: &mut State, resource: &(String, String)) {
    let crd_key = key(CRD_KEY);
    let crd_name = format!("{}.{}", resource.1, resource.0);
    let Some(definition) = state.get(&crd_key, "", &crd_name).cloned() else {
        return;
    };
    if !is_deleting(&definition) || state.list(resource, None, None).next().is_some() {
        return;
    }
    let mut cleaned = definition;
    if let Some(list) = cleaned["metadata"]["finalizers"].as_array_mut() {
        list.retain(|f| f != crd::CLEANUP_FINALIZER);
    }
    if finalizers(&cleaned).is_empty() {
        state.put(&crd_key, "", &crd_name, cleaned, EventType::Modified);
        remove_object(state, &crd_key, "", &crd_name);
    } else {
        state.put(&crd_key, "", &crd_name, cleaned, EventType::Modified);
    }
}

/// Options of a delete request (body `DeleteOptions` and query parameters).
struct DeleteOptions {
    /// `orphanDependents: false`: the real server answers 202 when the object is not gone yet.
    cascading: bool,
    uid: Option<String>,
    resource_version: Option<String>,
    dry_run: bool,
}

fn options(call: &Call) -> Result<DeleteOptions, ApiError> {
    let body: Value = if call.body.is_empty() {
        Value::Null
    } else {
        call.body_value()?
    };
    let dry_run = call.dry_run()
        || body["dryRun"]
            .as_array()
            .is_some_and(|d| d.iter().any(|v| v == "All"));
    if let Some(policy) = body["propagationPolicy"]
        .as_str()
        .or(call.param("propagationPolicy"))
        && !matches!(policy, "Orphan" | "Background" | "Foreground")
    {
        return Err(ApiError::bad_request(format!(
            "propagationPolicy: Unsupported value: \"{policy}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
        )));
    }
    Ok(DeleteOptions {
        cascading: body["orphanDependents"] == Value::Bool(false),
        uid: body["preconditions"]["uid"].as_str().map(str::to_string),
        resource_version: body["preconditions"]["resourceVersion"]
            .as_str()
            .map(str::to_string),
        dry_run,
    })
}

/// The answer of a finished delete: the object for the kinds whose real storage returns it
/// (Namespace, ServiceAccount, CustomResourceDefinition), else a Success Status naming it
/// (custom resources, ConfigMaps, Secrets, ...), as the generic registry answers.
fn removed_response(call: &Call, object: &Value) -> Value {
    let returns_object = !call.rt.custom
        && matches!(
            call.rt.kind.as_str(),
            "Namespace" | "ServiceAccount" | "CustomResourceDefinition"
        );
    if returns_object {
        return render(&call.rt, object.clone());
    }
    let mut details = json!({
        "name": objects::meta_str(object, "name"),
        "kind": call.rt.plural,
        "uid": objects::meta_str(object, "uid"),
    });
    if !call.rt.group.is_empty() {
        details["group"] = json!(call.rt.group);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

pub fn delete(api: &Arc<Api>, call: &Call) -> Result<Response, ApiError> {
    if call.subresource.is_some() {
        return Err(ApiError::method_not_allowed());
    }
    let name = call.name.clone().unwrap_or_default();
    let opts = options(call)?;
    let key = call.rt.storage_key();
    if key == self::key(NAMESPACE_KEY) && IMMORTAL_NAMESPACES.contains(&name.as_str()) {
        return Err(ApiError::forbidden(
            &call.subject(&name),
            "this namespace may not be deleted",
        ));
    }
    let (outcome, rv) = {
        let mut state = api.store.lock();
        let current = state
            .get(&key, call.ns(), &name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&call.subject(&name)))?;
        precondition(call, &name, &current, "UID", "uid", opts.uid.as_deref())?;
        precondition(
            call,
            &name,
            &current,
            "ResourceVersion",
            "resourceVersion",
            opts.resource_version.as_deref(),
        )?;
        let outcome = delete_in(&mut state, &key, call.ns(), &name, opts.dry_run)
            .ok_or_else(|| ApiError::not_found(&call.subject(&name)))?;
        (outcome, state.current_rv())
    };
    api.store.notify(rv);
    let (code, body) = match outcome {
        Deletion::Marked(object) => (
            if opts.cascading { 202 } else { 200 },
            render(&call.rt, object),
        ),
        Deletion::Removed(object) => (200, removed_response(call, &object)),
    };
    Ok(json_response(code, &body, &[]))
}

/// A failed delete precondition (uid or resourceVersion), worded as the real server words it
/// for the kind: the Namespace and CRD registries check it themselves, every other kind in the
/// storage layer, which names the Kind and says what probably happened.
fn precondition(
    call: &Call,
    name: &str,
    current: &Value,
    what: &str,
    field: &str,
    wanted: Option<&str>,
) -> Result<(), ApiError> {
    let actual = objects::meta_str(current, field);
    let Some(wanted) = wanted.filter(|w| *w != actual) else {
        return Ok(());
    };
    let key = call.rt.storage_key();
    let (subject, why) = if key == self::key(NAMESPACE_KEY) || key == self::key(CRD_KEY) {
        let failed = if key == self::key(CRD_KEY) {
            "precondition failed"
        } else {
            "Precondition failed"
        };
        (
            call.subject(name),
            format!("{failed}: {what} in precondition: {wanted}, {what} in object meta: {actual}"),
        )
    } else {
        let probably = if field == "uid" {
            "The object might have been deleted and then recreated"
        } else {
            "The object might have been modified"
        };
        (
            Subject::new(&call.rt.group, &call.rt.kind, name),
            format!(
                "the {what} in the precondition ({wanted}) does not match the {what} in record ({actual}). {probably}"
            ),
        )
    };
    Err(ApiError::conflict(&subject, &why))
}

/// DELETE on a collection: deletes every selected object and returns them as a list.
pub fn delete_collection(api: &Arc<Api>, call: &Call) -> Result<Response, ApiError> {
    if call.rt.storage_key() == key(NAMESPACE_KEY) {
        // As on a real server, Namespaces are deleted one by one (`kubectl delete ns --all`
        // does so), never as a collection.
        return Err(ApiError::method_not_allowed());
    }
    let opts = options(call)?;
    let labels = LabelSelector::parse(call.param("labelSelector").unwrap_or_default())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let fields = FieldSelector::parse(
        call.param("fieldSelector").unwrap_or_default(),
        &call.rt.kind,
        call.rt.custom,
    )
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let key = call.rt.storage_key();
    let (items, rv) = {
        let mut state = api.store.lock();
        let targets: Vec<(String, String)> = state
            .list(&key, call.namespace.as_deref(), None)
            .filter(|(_, object)| labels.matches(object) && fields.matches(object))
            .map(|(k, _)| k.clone())
            .collect();
        let mut items = Vec::new();
        for (ns, name) in targets {
            match delete_in(&mut state, &key, &ns, &name, opts.dry_run) {
                Some(Deletion::Marked(object) | Deletion::Removed(object)) => {
                    items.push(render(&call.rt, object))
                }
                None => {}
            }
        }
        (items, state.current_rv())
    };
    api.store.notify(rv);
    Ok(json_response(
        200,
        &read::list_body(&call.rt, items, rv, None),
        &[],
    ))
}
