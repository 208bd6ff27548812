//! A local ZIS Connections API server (skeleton; filled by the ZIS fake work).
//!
//! Contract other work relies on (keep it):
//! - `FakeZis::start(config, listen)`, `url()`, `shutdown()` as declared below.
//! - Admin API (a test facility, never served by real ZIS), JSON in and out:
//!   - `GET /_fake/connections` -> `{"connections":[{"integration","type","name","allowed_domain",
//!     "token"|"api_key"+"header_name"|"username"+"password","created_at","updated_at"}]}`
//!     with the true secrets.
//!   - `POST /_fake/connections` with `{"integration","type":"bearer_token"|"api_key"|"basic_auth",
//!     "name","allowed_domain", and the type's secret fields}` seeds a connection (201).
//!   - `PATCH /_fake/connections/{integration}/{type}/{name}` with fields to change (204);
//!     `DELETE` the same path (204). Both 404 when absent. No validation, no counters.
//!   - `GET /_fake/requests` -> `{"total":N,"requests":[{"method","endpoint","status","count"}]}`
//!     where `endpoint` is the path template (`bearer_token/{name}`).
//!   - `GET /_fake/settings`, `PUT /_fake/settings` (partial): `{"patch_allowed_domain":bool,
//!     "rate_limit_per_minute":u32|null,"latency_ms":u64,"error_rate":f64,"drop_rate":f64}`.
//!   - `POST /_fake/faults` with `{"method","path_contains","status","count"}`: fail the next
//!     `count` matching requests with `status`.
//!   - `POST /_fake/access-tokens` with `{"integration","token","scopes":["read","write"],
//!     "ttl_seconds":N|null}` adds an access token; `DELETE /_fake/access-tokens` with `{"token"}`
//!     revokes it.
//!   - `POST /_fake/reset`: no connections, zero counters, faults cleared, settings as started.

use std::net::SocketAddr;

/// Command-line arguments of `zis-sandbox zis`.
#[derive(Debug, clap::Args)]
pub struct ZisArgs {}

/// Startup configuration of the fake.
#[derive(Debug, Clone, Default)]
pub struct FakeZisConfig {
    /// (integration key, access token) pairs; each token gets scopes `read write`, no expiry.
    pub integrations: Vec<(String, String)>,
    /// Whether PATCH may change `allowed_domain` (default true).
    pub patch_allowed_domain: bool,
    /// Requests per minute per account before 429; `None` means unlimited.
    pub rate_limit_per_minute: Option<u32>,
}

/// A running fake ZIS server.
pub struct FakeZis {}

impl FakeZis {
    /// Starts serving on `listen` (use port 0 for a free port).
    pub async fn start(config: FakeZisConfig, listen: SocketAddr) -> std::io::Result<FakeZis> {
        let _ = (config, listen);
        todo!()
    }

    /// `http://HOST:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        todo!()
    }

    /// Stops serving and waits for the server task to end.
    pub async fn shutdown(self) {}
}

/// Runs `zis-sandbox zis` until SIGINT or SIGTERM.
pub async fn run(args: ZisArgs) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let _ = args;
    Err("not implemented yet".into())
}
