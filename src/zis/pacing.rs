//! Per-account request pacing: a token bucket shared by every caller of one ZIS account.
//! (To be implemented by the client work: see `client.rs`.)

use std::time::Duration;

/// How fast the client may call one ZIS account.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacingConfig {
    /// Sustained requests per minute (Zendesk plans allow 200 to 2,500).
    pub requests_per_minute: u32,
    /// How many requests may go at once after a quiet period.
    pub burst: u32,
    /// Longest a pause asked for by `Retry-After` is honoured (guards against absurd values).
    pub max_retry_after: Duration,
}

impl Default for PacingConfig {
    fn default() -> Self {
        Self {
            requests_per_minute: 400,
            burst: 20,
            max_retry_after: Duration::from_secs(300),
        }
    }
}
