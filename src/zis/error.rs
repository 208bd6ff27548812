//! What can go wrong talking to ZIS, classified by what the caller must do about it.

use std::time::Duration;

/// A failed ZIS call. Messages never contain a token.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ZisError {
    /// 404: the connection does not exist.
    #[error("connection not found")]
    NotFound,
    /// 409: the name is taken (by a connection of any type).
    #[error("connection name is already taken")]
    Conflict,
    /// 429: wait at least `retry_after` before the next call to this account.
    #[error("rate limited by zis, retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// 401: the access token is missing, unknown or expired.
    #[error("zis rejected the access token (unauthorized)")]
    Unauthorized,
    /// 403: the access token lacks a scope or belongs to another integration.
    #[error("zis refused access (forbidden): {title}")]
    Forbidden { title: String },
    /// 400 or 422: the request is wrong and repeating it will not help.
    #[error("zis rejected the request: {code}: {title}")]
    Invalid { code: String, title: String },
    /// 5xx, timeouts, connection errors, bodies that do not parse: try again later.
    #[error("transient zis failure: {reason}")]
    Transient { reason: String },
    /// Not sent: the client's owner withdrew its permission to send (see
    /// `ClientConfig::with_permit`), for example a replica that is no longer the leader.
    #[error("not sent: this process may not send requests to zis now")]
    NotPermitted,
}

impl ZisError {
    /// Whether the same call may succeed later without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ZisError::RateLimited { .. } | ZisError::Transient { .. }
        )
    }
}

/// The client could not be built from its configuration.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("invalid zendesk url {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("plain http zendesk url {url:?} refused; pass --allow-http for local servers")]
    HttpNotAllowed { url: String },
    #[error("invalid subdomain {subdomain:?}: only letters, digits and '-' are allowed")]
    InvalidSubdomain { subdomain: String },
    #[error("could not build the http client: {0}")]
    Http(String),
    #[error("invalid pacing: {reason}")]
    InvalidPacing { reason: String },
}
