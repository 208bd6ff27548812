//! The `ZisBearerConnection` custom resource: spec, status and the CRD generated from them.
//!
//! The schema carries every check a real API server can make before the operator sees an object
//! (lengths, enums, defaults, required fields, CEL rules with messages in words, see [`rules`]);
//! `controller::validate` repeats the checks so that an object the API server let through (an
//! older CRD) still gets a clear status instead of a remote 400. This module holds types, the
//! rules and the CRD's generation only: no I/O.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray,
};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub mod integration;
pub mod rules;

pub use integration::{
    CredentialsGrant, IntegrationAdoption, IntegrationCredentials, NamespacedSecretRef,
    ZisIntegration, ZisIntegrationSpec, ZisIntegrationStatus,
};
pub use rules::RESERVED_CONNECTION_NAME;

/// API group of every resource of this operator.
pub const GROUP: &str = "zis-operator.dev";
/// The finalizer that guards remote cleanup.
pub const FINALIZER: &str = "zis-operator.dev/cleanup";
/// Annotation asking for a reconcile now: any new value (by convention the current time, RFC
/// 3339) makes the operator check the connection against ZIS at once, without waiting for the
/// resync or a retry delay; `status.lastHandledReconcileAt` then holds the value handled (as
/// Flux's `reconcile.fluxcd.io/requestedAt` and `lastHandledReconcileAt`).
pub const RECONCILE_REQUESTED_AT: &str = "zis-operator.dev/reconcile-requested-at";

/// The desired remote connection: which integration and name, which domain, where the token is.
// The printer columns repeat `type_ = "string"`, which clippy mistakes for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "zis-operator.dev",
    version = "v1alpha1",
    kind = "ZisBearerConnection",
    plural = "zisbearerconnections",
    singular = "zisbearerconnection",
    shortname = "zbc",
    category = "zis",
    namespaced,
    status = "ZisBearerConnectionStatus",
    derive = "PartialEq",
    doc = "A Zendesk Integration Services bearer-token connection kept in sync with a Secret",
    printcolumn(
        name = "Integration",
        type_ = "string",
        json_path = ".spec.integration"
    ),
    printcolumn(
        name = "Connection",
        type_ = "string",
        json_path = ".status.remote.connectionName"
    ),
    printcolumn(name = "Domain", type_ = "string", json_path = ".spec.allowedDomain"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ZisBearerConnectionSpec {
    /// The key of the ZIS integration the connection belongs to: 1 to 64 of lower-case letters,
    /// digits, `-` and `_`, starting with a letter or digit.
    #[schemars(length(min = 1, max = 64))]
    #[schemars(extend("x-kubernetes-validations" = rules::integration()))]
    pub integration: String,

    /// The remote connection's name: 3 to 64 of letters, digits, `_` and `-`; `zendesk` (in any
    /// letter case) is reserved by ZIS. Defaults to `metadata.name`, which must then follow the
    /// same rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 3, max = 64))]
    #[schemars(extend("x-kubernetes-validations" = rules::connection_name()))]
    pub connection_name: Option<String>,

    /// The hostname the connection may be used on: a bare DNS hostname in lower case, such as
    /// `api.example.com`, without scheme, port, path or wildcard, and not an IP address.
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = rules::allowed_domain()))]
    pub allowed_domain: String,

    /// The Secret (in this object's namespace) and key holding the bearer token.
    pub token_secret_ref: TokenSecretRef,

    /// What happens to the remote connection when this object is deleted: `Delete` deletes it,
    /// `Orphan` leaves it in place.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// What to do when the connection name is already taken remotely (HTTP 409 on create):
    /// `Adopt` takes the existing bearer-token connection over and pushes this object's token
    /// and domain to it; `Never` reports `Conflict` and writes nothing.
    #[serde(default)]
    pub adoption_policy: AdoptionPolicy,

    /// When true, the operator makes no remote calls for this object (deletion still honours
    /// `deletionPolicy`).
    #[serde(default)]
    pub suspend: bool,
}

/// A key of a Secret in the object's own namespace.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenSecretRef {
    /// Name of the Secret, in this object's namespace (a reference cannot name another
    /// namespace).
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = rules::secret_name()))]
    pub name: String,
    /// Key of the token inside the Secret's data.
    #[serde(default = "default_token_key")]
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = rules::token_key()))]
    pub key: String,
}

fn default_token_key() -> String {
    "token".to_owned()
}

/// What happens to the remote connection when the object is deleted.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete the remote connection, then let the object go.
    #[default]
    Delete,
    /// Leave the remote connection in place.
    Orphan,
}

/// What happens when the connection name is already taken remotely (HTTP 409 on create).
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum AdoptionPolicy {
    /// Take the existing bearer-token connection over: push our token and domain to it.
    #[default]
    Adopt,
    /// Report the conflict and touch nothing.
    Never,
}

/// What the operator observed and did, in Kubernetes conventions.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ZisBearerConnectionStatus {
    /// `Ready`, `Reconciling` and `Stalled` (kstatus), and `RemoteChecked` (whether ZIS answered
    /// the last call about the connection; a failed periodic read changes only this one).
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The generation the status describes.
    #[serde(default)]
    pub observed_generation: Option<i64>,
    /// The remote connection that exists and is this object's (what deletion cleans up).
    #[serde(default)]
    pub remote: Option<RemoteConnection>,
    /// A remote connection this object still holds while its replacement is made (after a
    /// change of integration or connection name): it keeps working until the new one exists,
    /// then it is deleted (or left in place under `deletionPolicy: Orphan`).
    #[serde(default)]
    pub retiring: Option<RemoteConnection>,
    /// A create call that was sent but whose outcome was not recorded yet: after a crash, a 409
    /// for this very name means the connection is ours if ZIS created it after `sentAt`.
    #[serde(default)]
    pub pending_create: Option<PendingCreate>,
    /// `created_at` as ZIS reported it.
    #[serde(default)]
    pub created_at: Option<String>,
    /// `updated_at` as ZIS reported it.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// `hmac-sha256:<hex>`: a keyed hash of the token last pushed (never the token).
    #[serde(default)]
    pub token_fingerprint: Option<String>,
    /// `metadata.resourceVersion` of the token Secret last pushed.
    #[serde(default)]
    pub secret_resource_version: Option<String>,
    /// When the remote connection was last written or found to need no change (RFC 3339).
    #[serde(default)]
    pub last_sync_time: Option<String>,
    /// Whether the remote connection existed before and was taken over.
    #[serde(default)]
    pub adopted: Option<bool>,
    /// The last value of the annotation `zis-operator.dev/reconcile-requested-at` that was
    /// handled (a reconcile that checked ZIS ran for it).
    #[serde(default)]
    pub last_handled_reconcile_at: Option<String>,
}

/// The identity of a remote connection.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemoteConnection {
    pub integration: String,
    pub connection_name: String,
    pub allowed_domain: String,
}

/// A create call in flight (see [`ZisBearerConnectionStatus::pending_create`]).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingCreate {
    pub integration: String,
    pub connection_name: String,
    /// When the first unconfirmed create of this name was sent (RFC 3339, our clock). A
    /// connection ZIS reports as created well before it is someone else's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
    /// ZIS answered 409 to the first create of this name: the connection was there before it,
    /// so whatever happens to later creates it is never taken for ours (only adopted, if the
    /// policy allows).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub name_taken: bool,
}

/// A status condition as Kubernetes API conventions describe it.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`, `Reconciling`, `Stalled` or `RemoteChecked`.
    #[serde(rename = "type")]
    pub type_: String,
    pub status: ConditionStatus,
    /// A CamelCase reason, stable for automation.
    pub reason: String,
    /// What a person should know.
    pub message: String,
    /// When `status` last changed (RFC 3339).
    #[schemars(extend("format" = "date-time"))]
    pub last_transition_time: String,
    /// The generation this condition was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// The value of a condition.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl ConditionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

impl ZisBearerConnection {
    /// The remote connection name this object asks for (`spec.connectionName` or the object's
    /// name), before validation.
    pub fn requested_connection_name(&self) -> String {
        match &self.spec.connection_name {
            Some(name) => name.clone(),
            None => self.metadata.name.clone().unwrap_or_default(),
        }
    }
}

/// The CRD of `ZisBearerConnection`, as `zis-operator crd` prints it: kube's derived CRD with
/// descriptions made for `kubectl explain` (see [`polish_descriptions`]).
pub fn crd() -> CustomResourceDefinition {
    use kube::CustomResourceExt;
    polished(ZisBearerConnection::crd())
}

/// The CRD of `ZisIntegration`, likewise.
pub fn integration_crd() -> CustomResourceDefinition {
    use kube::CustomResourceExt;
    polished(ZisIntegration::crd())
}

fn polished(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    for version in &mut crd.spec.versions {
        if let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            polish_descriptions(schema);
        }
    }
    crd
}

/// Makes every description read well in `kubectl explain`, which prints it as it is and does not
/// show `default`: the line breaks of the doc comments it comes from are joined into paragraphs
/// (kubectl wraps them itself), and a field with a default says so ("Defaults to `Delete`.").
pub fn polish_descriptions(schema: &mut JSONSchemaProps) {
    if let Some(description) = schema.description.as_mut() {
        *description = reflow(description);
        let default = schema.default.as_ref().and_then(|d| match &d.0 {
            serde_json::Value::String(text) => Some(text.clone()),
            serde_json::Value::Bool(_) | serde_json::Value::Number(_) => Some(d.0.to_string()),
            _ => None,
        });
        if let Some(default) = default
            && !description.contains("Defaults to")
        {
            description.push_str(&format!(" Defaults to `{default}`."));
        }
    }
    for property in schema.properties.iter_mut().flat_map(|p| p.values_mut()) {
        polish_descriptions(property);
    }
    match schema.items.as_mut() {
        Some(JSONSchemaPropsOrArray::Schema(item)) => polish_descriptions(item),
        Some(JSONSchemaPropsOrArray::Schemas(items)) => {
            items.iter_mut().for_each(polish_descriptions)
        }
        None => {}
    }
}

/// Joins the lines of each paragraph (paragraphs are separated by a blank line).
fn reflow(text: &str) -> String {
    text.split("\n\n")
        .map(|paragraph| {
            paragraph
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The `ZisBearerConnection` CRD as YAML, exactly what `crds/zisbearerconnections.yaml` holds.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(&crd())
}

/// The `ZisIntegration` CRD as YAML, exactly what `crds/zisintegrations.yaml` holds.
pub fn integration_crd_yaml() -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(&integration_crd())
}

/// Every CRD of the operator as one multi-document YAML: what `zis-operator crd` prints.
pub fn all_crds_yaml() -> Result<String, serde_yaml::Error> {
    Ok(format!("{}---\n{}", crd_yaml()?, integration_crd_yaml()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_integration_crd_matches_the_code() {
        let generated = integration_crd_yaml().expect("crd serializes");
        let committed = include_str!("../crds/zisintegrations.yaml");
        assert!(
            generated == committed,
            "crds/zisintegrations.yaml drifted from the code; regenerate it with \
             `cargo run --bin zis-operator -- crd --integration > crds/zisintegrations.yaml`"
        );
    }

    #[test]
    fn the_committed_crd_matches_the_code() {
        let generated = crd_yaml().expect("crd serializes");
        let committed = include_str!("../crds/zisbearerconnections.yaml");
        assert!(
            generated == committed,
            "crds/zisbearerconnections.yaml drifted from the code; regenerate it with \
             `cargo run --bin zis-operator -- crd --connection > crds/zisbearerconnections.yaml`"
        );
    }

    fn spec_field(crd: &CustomResourceDefinition, path: &[&str]) -> JSONSchemaProps {
        let mut schema = crd.spec.versions[0]
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.clone())
            .expect("a schema");
        for name in path {
            schema = schema
                .properties
                .as_ref()
                .and_then(|p| p.get(*name))
                .cloned()
                .unwrap_or_else(|| panic!("no field {name}"));
        }
        schema
    }

    #[test]
    fn descriptions_are_paragraphs_that_name_their_defaults() {
        let crd = crd();
        for (path, default) in [
            (&["spec", "deletionPolicy"][..], "Defaults to `Delete`."),
            (&["spec", "adoptionPolicy"][..], "Defaults to `Adopt`."),
            (&["spec", "suspend"][..], "Defaults to `false`."),
            (
                &["spec", "tokenSecretRef", "key"][..],
                "Defaults to `token`.",
            ),
        ] {
            let description = spec_field(&crd, path).description.unwrap_or_default();
            assert!(description.ends_with(default), "{path:?}: {description}");
        }
        let yaml = crd_yaml().expect("crd serializes");
        let value: serde_json::Value = serde_yaml::from_str(&yaml).expect("yaml parses");
        let mut descriptions = Vec::new();
        collect_descriptions(&value, &mut descriptions);
        assert!(descriptions.len() > 20);
        for description in descriptions {
            assert!(
                !description.contains('\n'),
                "a line break in: {description}"
            );
        }
    }

    fn collect_descriptions(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, child) in map {
                    match (key.as_str(), child) {
                        ("description", serde_json::Value::String(text)) => out.push(text.clone()),
                        _ => collect_descriptions(child, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items
                .iter()
                .for_each(|item| collect_descriptions(item, out)),
            _ => {}
        }
    }

    #[test]
    fn every_string_rule_of_the_spec_is_a_cel_rule_with_a_message_not_a_pattern() {
        let crd = crd();
        for path in [
            &["spec", "integration"][..],
            &["spec", "connectionName"],
            &["spec", "allowedDomain"],
            &["spec", "tokenSecretRef", "name"],
            &["spec", "tokenSecretRef", "key"],
        ] {
            let field = spec_field(&crd, path);
            assert_eq!(field.pattern, None, "{path:?} still has a pattern");
            assert!(field.max_length.is_some(), "{path:?} has no maxLength");
            let rules = field.x_kubernetes_validations.unwrap_or_default();
            assert!(!rules.is_empty(), "{path:?} has no CEL rule");
            assert!(
                rules.iter().all(|rule| rule.message.is_some()),
                "{path:?}: a rule without a message"
            );
        }
    }
}
