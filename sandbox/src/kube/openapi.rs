//! OpenAPI v3 documents, enough for kubectl: each group version lists its resources' paths
//! with their operations, the `x-kubernetes-group-version-kind` of each, the query parameters
//! the server honours (so `kubectl apply` sends `fieldValidation=Strict` and leaves validation
//! to the server), and CRD schemas as components. `/openapi/v2` is an empty Swagger document:
//! kubectl reads it only to validate objects its v3 checks cannot place (a custom resource
//! whose CRD the same `kubectl apply` creates); with no definitions there, it skips that
//! validation, as against a real server that does not know the kind yet.

use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::{Map, Value, json};

use super::api::Api;

/// The media type of the protobuf `/openapi/v2` answer (gnostic's `Document`), as the real
/// server spells it in responses (clients ask with `@v1.0`, which Go cannot parse back).
pub const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// The `/openapi/v2` document: Swagger 2.0 without paths or definitions.
pub fn v2_document() -> Value {
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": {},
        "definitions": {},
    })
}
use super::builtin_schemas;
use super::error::ApiError;
use super::resources::ResourceType;

/// The root index: one entry per group version, with a content hash so clients refetch after a
/// CRD changes.
pub fn root(api: &Api) -> Value {
    let group_versions: BTreeSet<(String, String)> = {
        let state = api.store.lock();
        state
            .types()
            .map(|t| (t.group.clone(), t.version.clone()))
            .collect()
    };
    let mut paths = Map::new();
    for (group, version) in group_versions {
        let path = if group.is_empty() {
            format!("api/{version}")
        } else {
            format!("apis/{group}/{version}")
        };
        let hash = match group_version(api, &group, &version) {
            Ok(doc) => {
                let mut hasher = DefaultHasher::new();
                doc.to_string().hash(&mut hasher);
                format!("{:016X}", hasher.finish())
            }
            Err(_) => continue,
        };
        paths.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
        );
    }
    json!({"paths": paths})
}

fn param(name: &str, location: &str, description: &str) -> Value {
    json!({
        "name": name,
        "in": location,
        "description": description,
        "schema": {"type": "string", "uniqueItems": true},
        "required": location == "path",
    })
}

/// The component name of a kind's schema: the real server's names for built-in kinds
/// (`io.k8s.api.core.v1.Secret`, as `k8s-openapi` names them too), reverse-domain for CRDs.
fn component_name(rt: &ResourceType) -> String {
    if rt.custom {
        let reversed: Vec<&str> = rt.group.split('.').rev().collect();
        return format!("{}.{}.{}", reversed.join("."), rt.version, rt.kind);
    }
    let package = match rt.group.as_str() {
        "" => "io.k8s.api.core".to_string(),
        "apiextensions.k8s.io" => "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions".into(),
        group => format!("io.k8s.api.{}", group.split('.').next().unwrap_or(group)),
    };
    format!("{package}.{}.{}", rt.version, rt.kind)
}

fn gvk(rt: &ResourceType) -> Value {
    json!({"group": rt.group, "version": rt.version, "kind": rt.kind})
}

fn operation(
    rt: &ResourceType,
    action: &str,
    id: &str,
    params: Vec<Value>,
    body: Option<Value>,
) -> Value {
    let reference = json!({"$ref": format!("#/components/schemas/{}", component_name(rt))});
    let mut op = json!({
        "operationId": id,
        "tags": [rt.group.clone() + "_" + &rt.version],
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(rt),
        "parameters": params,
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": reference}}},
            "401": {"description": "Unauthorized"}
        }
    });
    if let Some(body) = body {
        op["requestBody"] = body;
    }
    op
}

fn write_params() -> Vec<Value> {
    vec![
        param(
            "dryRun",
            "query",
            "When present, indicates that modifications should not be persisted.",
        ),
        param(
            "fieldManager",
            "query",
            "fieldManager is a name associated with the actor or entity that is making these changes.",
        ),
        param(
            "fieldValidation",
            "query",
            "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields: Ignore, Warn (default) or Strict.",
        ),
    ]
}

fn paths_for(rt: &ResourceType, paths: &mut Map<String, Value>) {
    let (collection, item) = if rt.namespaced {
        (
            format!("{}/namespaces/{{namespace}}/{}", rt.prefix(), rt.plural),
            format!(
                "{}/namespaces/{{namespace}}/{}/{{name}}",
                rt.prefix(),
                rt.plural
            ),
        )
    } else {
        (
            format!("{}/{}", rt.prefix(), rt.plural),
            format!("{}/{}/{{name}}", rt.prefix(), rt.plural),
        )
    };
    let scope = if rt.namespaced { "Namespaced" } else { "" };
    let kind = &rt.kind;
    let reference = json!({"$ref": format!("#/components/schemas/{}", component_name(rt))});
    let object_body =
        json!({"content": {"application/json": {"schema": reference}}, "required": true});
    let patch_schema = json!({"schema": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}});
    let mut patch_content = Map::new();
    for media in [
        "application/apply-patch+yaml",
        "application/json-patch+json",
        "application/merge-patch+json",
    ] {
        patch_content.insert(media.into(), patch_schema.clone());
    }
    let patch_body = json!({"content": patch_content, "required": true});
    let mut patch_params = write_params();
    patch_params.push(param(
        "force",
        "query",
        "Force is going to \"force\" Apply requests.",
    ));
    let list_params = vec![
        param(
            "labelSelector",
            "query",
            "A selector to restrict the list of returned objects by their labels.",
        ),
        param(
            "fieldSelector",
            "query",
            "A selector to restrict the list of returned objects by their fields.",
        ),
        param(
            "limit",
            "query",
            "limit is a maximum number of responses to return for a list call.",
        ),
        param(
            "continue",
            "query",
            "The continue option should be set when retrieving more results from the server.",
        ),
        param(
            "resourceVersion",
            "query",
            "resourceVersion sets a constraint on what resource versions a request may be served from.",
        ),
        param(
            "watch",
            "query",
            "Watch for changes to the described resources.",
        ),
        param(
            "allowWatchBookmarks",
            "query",
            "allowWatchBookmarks requests watch events with type \"BOOKMARK\".",
        ),
        param(
            "timeoutSeconds",
            "query",
            "Timeout for the list/watch call.",
        ),
    ];
    if rt.review {
        paths.insert(
            collection,
            json!({"post": operation(rt, "post", &format!("create{kind}"), write_params(), Some(object_body))}),
        );
        return;
    }
    paths.insert(
        collection,
        json!({
            "get": operation(rt, "list", &format!("list{scope}{kind}"), list_params, None),
            "post": operation(rt, "post", &format!("create{scope}{kind}"), write_params(), Some(object_body.clone())),
            "delete": operation(rt, "deletecollection", &format!("deleteCollection{scope}{kind}"), vec![], None),
        }),
    );
    paths.insert(
        item.clone(),
        json!({
            "get": operation(rt, "get", &format!("read{scope}{kind}"), vec![], None),
            "put": operation(rt, "put", &format!("replace{scope}{kind}"), write_params(), Some(object_body.clone())),
            "patch": operation(rt, "patch", &format!("patch{scope}{kind}"), patch_params.clone(), Some(patch_body.clone())),
            "delete": operation(rt, "delete", &format!("delete{scope}{kind}"), vec![param("dryRun", "query", "When present, indicates that modifications should not be persisted.")], None),
        }),
    );
    if rt.status_subresource {
        paths.insert(
            format!("{item}/status"),
            json!({
                "get": operation(rt, "get", &format!("read{scope}{kind}Status"), vec![], None),
                "put": operation(rt, "put", &format!("replace{scope}{kind}Status"), write_params(), Some(object_body)),
                "patch": operation(rt, "patch", &format!("patch{scope}{kind}Status"), patch_params, Some(patch_body)),
            }),
        );
    }
}

/// The document of one group version.
pub fn group_version(api: &Api, group: &str, version: &str) -> Result<Value, ApiError> {
    let types: Vec<ResourceType> = {
        let state = api.store.lock();
        state
            .types()
            .filter(|t| t.group == group && t.version == version)
            .cloned()
            .collect()
    };
    if types.is_empty() {
        return Err(ApiError::no_document());
    }
    let mut paths = Map::new();
    let mut schemas = Map::new();
    schemas.insert(
        "io.k8s.apimachinery.pkg.apis.meta.v1.Patch".into(),
        json!({"type": "object", "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body."}),
    );
    for rt in &types {
        paths_for(rt, &mut paths);
        let name = component_name(rt);
        if rt.custom || !builtin_schemas::add_schemas(rt, &mut schemas) {
            let schema = rt.schema.clone().unwrap_or_else(
                || json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
            );
            schemas.insert(name.clone(), schema);
        }
        if let Some(map) = schemas.get_mut(&name).and_then(Value::as_object_mut) {
            map.insert("x-kubernetes-group-version-kind".into(), json!([gvk(rt)]));
        }
    }
    Ok(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": schemas}
    }))
}
