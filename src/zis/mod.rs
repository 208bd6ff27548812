//! The ZIS Connections API client.
//!
//! A small typed surface over `/api/services/zis/integrations/{integration}/connections/`:
//! create, get, update, delete bearer-token connections, list every connection of an
//! integration, or its bearer-token connections one page at a time. Errors arrive already
//! classified ([`ZisError`]) so callers never look at HTTP status codes.
//!
//! All clones of one [`ZisClient`] share one pacer for the account ([`PacingConfig`]): a token
//! bucket for the configured budget, two priority classes ([`Priority`]: urgent work first,
//! periodic background checks within their share and only when no urgent request waits), and
//! a slowdown when the server's `X-Rate-Limit-Remaining` runs low, so that other apps on the
//! account keep working. The exact rules are in the `pacing` module's documentation.
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

pub use client::{ClientConfig, IntegrationClient, Permit, ZisClient};
pub use error::{ConfigError, ZisError};
pub use observe::{RequestObserver, RequestOutcome, RequestRecord};
pub use pacing::{PacingConfig, Priority};
pub use types::{
    BearerConnection, BearerPage, BearerTokenUpdate, ConnectionList, ConnectionSummary,
    NewBearerConnection,
};
