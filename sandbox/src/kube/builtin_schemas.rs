//! OpenAPI v3 schemas of the built-in kinds, generated from the `k8s-openapi` types, so that
//! `kubectl explain secret.data` and other schema readers see the real fields and descriptions.
//! Only the documents use them: built-in objects are still checked by `objects.rs`.

use k8s_openapi::api::{apps, coordination, core, events, rbac};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::schemars::JsonSchema;
use k8s_openapi::schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value};

use super::resources::ResourceType;

fn add<T: JsonSchema>(generator: &mut SchemaGenerator) -> String {
    generator.subschema_for::<T>();
    T::schema_name().into_owned()
}

/// Adds the schema of a built-in kind, and every schema it refers to, to `schemas` (named as
/// the real server names them, `io.k8s.api.core.v1.Secret`). Returns false for kinds without
/// a generated schema.
pub fn add_schemas(rt: &ResourceType, schemas: &mut Map<String, Value>) -> bool {
    let add_kind: fn(&mut SchemaGenerator) -> String = match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => add::<core::v1::Namespace>,
        ("", "ConfigMap") => add::<core::v1::ConfigMap>,
        ("", "Secret") => add::<core::v1::Secret>,
        ("", "ServiceAccount") => add::<core::v1::ServiceAccount>,
        ("", "Service") => add::<core::v1::Service>,
        ("", "Event") => add::<core::v1::Event>,
        ("events.k8s.io", "Event") => add::<events::v1::Event>,
        ("coordination.k8s.io", "Lease") => add::<coordination::v1::Lease>,
        ("apps", "Deployment") => add::<apps::v1::Deployment>,
        ("rbac.authorization.k8s.io", "Role") => add::<rbac::v1::Role>,
        ("rbac.authorization.k8s.io", "RoleBinding") => add::<rbac::v1::RoleBinding>,
        ("rbac.authorization.k8s.io", "ClusterRole") => add::<rbac::v1::ClusterRole>,
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => add::<rbac::v1::ClusterRoleBinding>,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => add::<CustomResourceDefinition>,
        _ => return false,
    };
    let mut generator = SchemaSettings::openapi3().into_generator();
    let name = add_kind(&mut generator);
    let mut definitions = generator.take_definitions(true);
    // `k8s-openapi` types hold `metadata` as a plain field, so the generated schema requires
    // it; the real schemas do not (`kubectl explain` would print it `-required-`).
    if let Some(Value::Object(schema)) = definitions.get_mut(&name)
        && let Some(Value::Array(required)) = schema.get_mut("required")
    {
        required.retain(|field| field != "metadata");
        if required.is_empty() {
            schema.remove("required");
        }
    }
    schemas.extend(definitions);
    true
}
