//! The HTTP client: base URL, timeouts, User-Agent, per-request tracing span, error
//! classification. (Interface fixed; bodies to be implemented by the client work.)

use std::time::Duration;

use super::{
    BearerConnection, BearerTokenUpdate, ConfigError, ConnectionList, NewBearerConnection,
    PacingConfig, ZisError,
};
use crate::secret::SecretString;

/// How to reach one ZIS account.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://{subdomain}.zendesk.com` or a full URL (for local servers).
    pub base_url: String,
    /// Whether a plain `http://` base URL is accepted (local servers only).
    pub allow_http: bool,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub pacing: PacingConfig,
}

impl ClientConfig {
    /// Configuration for `https://{subdomain}.zendesk.com`.
    pub fn for_subdomain(subdomain: &str) -> Result<Self, ConfigError> {
        let _ = subdomain;
        todo!()
    }

    /// Configuration for a full base URL.
    pub fn for_url(base_url: &str, allow_http: bool) -> Self {
        let _ = (base_url, allow_http);
        todo!()
    }
}

/// A client for one ZIS account. Cheap to clone; clones share the connection pool and pacer.
#[derive(Clone)]
pub struct ZisClient {}

impl ZisClient {
    pub fn new(config: ClientConfig) -> Result<Self, ConfigError> {
        let _ = config;
        todo!()
    }

    /// The calls for one integration, authorised by `access_token`.
    pub fn integration(&self, integration: &str, access_token: SecretString) -> IntegrationClient {
        let _ = (integration, access_token);
        todo!()
    }
}

/// The connection calls of one integration.
#[derive(Clone)]
pub struct IntegrationClient {}

impl IntegrationClient {
    /// `POST bearer_token`: 201 gives the created connection; 409 gives [`ZisError::Conflict`].
    pub async fn create_bearer(
        &self,
        new: &NewBearerConnection,
    ) -> Result<BearerConnection, ZisError> {
        let _ = new;
        todo!()
    }

    /// `GET bearer_token/{name}`.
    pub async fn get_bearer(&self, name: &str) -> Result<BearerConnection, ZisError> {
        let _ = name;
        todo!()
    }

    /// `PATCH bearer_token/{name}` with the fields set in `update`.
    pub async fn update_bearer(
        &self,
        name: &str,
        update: &BearerTokenUpdate,
    ) -> Result<(), ZisError> {
        let _ = (name, update);
        todo!()
    }

    /// `DELETE bearer_token/{name}`. A 404 is returned as [`ZisError::NotFound`]; callers that
    /// only want the connection gone treat it as success.
    pub async fn delete_bearer(&self, name: &str) -> Result<(), ZisError> {
        let _ = name;
        todo!()
    }

    /// `GET all`, following cursor pages until the last.
    pub async fn list_connections(&self) -> Result<ConnectionList, ZisError> {
        todo!()
    }
}
