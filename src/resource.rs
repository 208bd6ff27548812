//! The `ZisBearerConnection` custom resource: spec, status and the CRD generated from them.
//!
//! The schema carries every check a real API server can make before the operator sees an object
//! (patterns, enums, defaults, required fields, CEL rules); `controller::validate` repeats the
//! checks so an API server without schema validation still gets a clear status instead of a
//! remote 400. This module holds types only: no I/O.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of every resource of this operator.
pub const GROUP: &str = "zis-operator.dev";
/// The finalizer that guards remote cleanup.
pub const FINALIZER: &str = "zis-operator.dev/cleanup";

/// Pattern of `spec.integration` (vendor rules: up to 64 of lowercase letters, digits, `-`, `_`).
pub const INTEGRATION_PATTERN: &str = "^[a-z0-9][a-z0-9_-]{0,63}$";
/// Pattern of a ZIS connection name (vendor rules: 3 to 64 of letters, digits, `_`, `-`).
pub const CONNECTION_NAME_PATTERN: &str = "^[A-Za-z0-9_-]{3,64}$";
/// Pattern of `spec.allowedDomain`: a bare DNS hostname with lower-case labels.
pub const ALLOWED_DOMAIN_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$";
/// The connection name ZIS reserves for its own OAuth connection to Zendesk.
pub const RESERVED_CONNECTION_NAME: &str = "zendesk";
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
    /// The ZIS integration key (1 to 64 of lowercase letters, digits, `-` and `_`).
    #[schemars(
        regex(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$"),
        length(min = 1, max = 64)
    )]
    pub integration: String,

    /// The remote connection's name; defaults to `metadata.name`. 3 to 64 of letters, digits,
    /// `_` and `-`; `zendesk` is reserved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = "^[A-Za-z0-9_-]{3,64}$"), length(min = 3, max = 64))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self != 'zendesk'", "message": "connectionName 'zendesk' is reserved by ZIS"}
    ]))]
    pub connection_name: Option<String>,

    /// The hostname the connection may be used on: a bare DNS hostname, lower case, no scheme,
    /// port, path or wildcard.
    #[schemars(
        regex(
            pattern = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$"
        ),
        length(min = 1, max = 253)
    )]
    pub allowed_domain: String,

    /// The Secret (in this object's namespace) and key holding the bearer token.
    pub token_secret_ref: TokenSecretRef,

    /// What happens to the remote connection when this object is deleted.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// What to do when the connection name is already taken remotely.
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
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key of the token inside the Secret's data.
    #[serde(default = "default_token_key")]
    #[schemars(length(min = 1, max = 253), regex(pattern = "^[-._a-zA-Z0-9]+$"))]
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
    /// `Ready`, `Reconciling` and `Stalled`.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The generation the status describes.
    #[serde(default)]
    pub observed_generation: Option<i64>,
    /// The remote connection that exists and is this object's (what deletion cleans up).
    #[serde(default)]
    pub remote: Option<RemoteConnection>,
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
}

/// A status condition as Kubernetes API conventions describe it.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`, `Reconciling` or `Stalled`.
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

/// The CRD as YAML, exactly what `zis-operator crd` prints and `crds/` holds.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    use kube::CustomResourceExt;
    serde_yaml::to_string(&ZisBearerConnection::crd())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_crd_matches_the_code() {
        let generated = crd_yaml().expect("crd serializes");
        let committed = include_str!("../crds/zisbearerconnections.yaml");
        assert!(
            generated == committed,
            "crds/zisbearerconnections.yaml drifted from the code; regenerate it with \
             `cargo run --bin zis-operator -- crd > crds/zisbearerconnections.yaml`"
        );
    }

    #[test]
    fn the_schema_patterns_match_the_published_constants() {
        let yaml = crd_yaml().expect("crd serializes");
        for pattern in [
            INTEGRATION_PATTERN,
            CONNECTION_NAME_PATTERN,
            ALLOWED_DOMAIN_PATTERN,
        ] {
            let needle = serde_yaml::to_string(pattern).expect("string serializes");
            assert!(
                yaml.contains(needle.trim()),
                "pattern {pattern} missing from the crd"
            );
        }
    }
}
