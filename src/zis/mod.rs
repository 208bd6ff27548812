//! The ZIS Connections API client.
//!
//! A small typed surface over `/api/services/zis/integrations/{integration}/connections/`:
//! create, get, update, delete bearer-token connections and list every connection of an
//! integration. Errors arrive already classified ([`ZisError`]) so callers never look at HTTP
//! status codes. All clones of one [`ZisClient`] share one pacer (token bucket) for the account.
//!
//! This module knows nothing of Kubernetes.

mod client;
mod endpoint;
mod error;
pub mod oauth;
mod observe;
mod pacing;
mod response;
mod types;
mod wire;

pub use client::{ClientConfig, IntegrationClient, ZisClient};
pub use error::{ConfigError, ZisError};
pub use observe::{RequestObserver, RequestOutcome, RequestRecord};
pub use pacing::PacingConfig;
pub use types::{
    BearerConnection, BearerTokenUpdate, ConnectionList, ConnectionSummary, NewBearerConnection,
};
