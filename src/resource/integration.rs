//! The `ZisIntegration` custom resource: one ZIS integration a cluster administrator puts in the
//! operator's hands. It says where the integration lives (the Zendesk account), which credentials
//! serve it and how they renew, and who may use it: which namespaces may hold connections of it,
//! and whether those may adopt connections that already exist. Cluster-scoped; connections name
//! it by its integration key (`spec.integration`). Types and CRD generation only: no I/O.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Condition, rules};

/// A ZIS integration whose connections the operator manages, and its credentials.
// The printer columns repeat `type_ = "string"`, which clippy mistakes for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "zis-operator.dev",
    version = "v1alpha1",
    kind = "ZisIntegration",
    plural = "zisintegrations",
    singular = "zisintegration",
    shortname = "zint",
    category = "zis",
    status = "ZisIntegrationStatus",
    derive = "PartialEq",
    doc = "A ZIS integration the operator manages connections of: its Zendesk account, credentials and tenancy",
    validation = Rule::new("has(self.spec.subdomain) != has(self.spec.url)")
        .message("exactly one of spec.subdomain and spec.url must be set"),
    printcolumn(
        name = "Integration",
        type_ = "string",
        json_path = ".spec.integration"
    ),
    printcolumn(
        name = "Grant",
        type_ = "string",
        json_path = ".spec.credentials.grant"
    ),
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
    // A string, not a date: kubectl prints a future date as "<invalid>".
    printcolumn(
        name = "Expires",
        type_ = "string",
        json_path = ".status.accessTokenExpiresAt"
    ),
    printcolumn(
        name = "Connections",
        type_ = "integer",
        json_path = ".status.connections"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ZisIntegrationSpec {
    /// The integration's key, as `ZisBearerConnection.spec.integration` names it: 1 to 64 of
    /// lower-case letters, digits, `-` and `_`. Keys are unique across Zendesk: one
    /// `ZisIntegration` per key (a second one gets `Conflict`).
    #[schemars(length(min = 1, max = 64))]
    #[schemars(extend("x-kubernetes-validations" = rules::integration()))]
    pub integration: String,

    /// The Zendesk account: `https://SUBDOMAIN.zendesk.com`. Exactly one of `subdomain` and
    /// `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub subdomain: Option<String>,

    /// The Zendesk account's base URL (`https://...`), instead of `subdomain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub url: Option<String>,

    /// Where the operator's access to the integration comes from.
    pub credentials: IntegrationCredentials,

    /// The namespaces whose `ZisBearerConnection`s may use this integration. `{}` allows every
    /// namespace; connections elsewhere are refused with reason `NamespaceNotAllowed` and no
    /// remote call.
    pub namespace_selector: LabelSelector,

    /// Whether connections of this integration may take over a connection that already exists
    /// in ZIS (HTTP 409 on create): `Allowed` leaves it to each connection's `adoptionPolicy`;
    /// `Never` refuses it for every connection, whatever its own policy.
    #[serde(default)]
    pub adoption: IntegrationAdoption,
}

/// Where the access to an integration comes from: a Secret and how it is used.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationCredentials {
    /// The Secret holding the credentials, in a namespace the administrator chooses (not one of
    /// the connections' namespaces).
    pub secret_ref: NamespacedSecretRef,

    /// How the Secret is used. `AccessToken`: key `access-token` holds a ZIS OAuth access token,
    /// re-read when the Secret changes. `RefreshToken`: keys `client-id`, `client-secret` and
    /// `refresh-token`; the operator renews the access token before it expires (and once on a
    /// 401), writes each new refresh token back into the Secret before it uses the new access
    /// token, and keeps access tokens in memory only. `ClientCredentials`: keys `client-id` and
    /// `client-secret`, for OAuth clients that allow the client-credentials grant.
    #[serde(default)]
    pub grant: CredentialsGrant,

    /// The lifetime asked for new access tokens (`expires_in`), from `5m` to `48h`. Defaults to
    /// `30m`. Ignored for `AccessToken`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 16))]
    pub access_token_lifetime: Option<String>,

    /// The lifetime asked for new refresh tokens (`refresh_token_expires_in`), from `7d` (168h)
    /// to `90d` (2160h). Defaults to `720h`. Only for `RefreshToken`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 16))]
    pub refresh_token_lifetime: Option<String>,
}

/// A Secret in a named namespace.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespacedSecretRef {
    /// The Secret's namespace.
    #[schemars(length(min = 1, max = 63))]
    pub namespace: String,
    /// The Secret's name.
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = rules::plain_secret_name()))]
    pub name: String,
}

/// How the credentials Secret is used.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum CredentialsGrant {
    /// A static access token (key `access-token`).
    #[default]
    AccessToken,
    /// The refresh-token grant (keys `client-id`, `client-secret`, `refresh-token`).
    RefreshToken,
    /// The client-credentials grant (keys `client-id`, `client-secret`).
    ClientCredentials,
}

/// Whether connections may adopt existing remote connections.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum IntegrationAdoption {
    /// Each connection's `adoptionPolicy` decides.
    Allowed,
    /// No connection of this integration adopts, whatever its own policy.
    #[default]
    Never,
}

/// What the operator observed of the integration, in Kubernetes conventions.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ZisIntegrationStatus {
    /// `Ready`, `Reconciling` and `Stalled` (kstatus).
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The generation the status describes.
    #[serde(default)]
    pub observed_generation: Option<i64>,
    /// When the access token in use expires (RFC 3339); never the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_expires_at: Option<String>,
    /// When the refresh token last written to the Secret expires (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_expires_at: Option<String>,
    /// When the access token was last renewed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_renewed_at: Option<String>,
    /// How many `ZisBearerConnection`s use the integration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<i64>,
}
