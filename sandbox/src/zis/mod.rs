//! A local ZIS Connections API server: a test double of Zendesk Integration Services that
//! behaves as the vendor documents it, for tests, demonstrations and benchmarks.
//!
//! Contract other work relies on (keep it, and its Markdown form `sandbox/README-zis-admin.md`):
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
//!     "rate_limit_per_minute":u32|null,"latency_ms":u64,"error_rate":f64,"drop_rate":f64,
//!     "throttle_rate":f64,"latency_jitter_ms":u64,"other_apps_per_minute":u32}`.
//!   - `POST /_fake/faults` with `{"method","path_contains","status","count"}`: fail the next
//!     `count` matching requests with `status`.
//!   - `POST /_fake/access-tokens` with `{"integration","token","scopes":["read","write"],
//!     "ttl_seconds":N|null}` adds an access token; `DELETE /_fake/access-tokens` with `{"token"}`
//!     revokes it.
//!   - `POST /_fake/reset`: no connections, zero counters, faults cleared, settings as started.
//!
//! Additions to the contract:
//! - `GET /_fake/connections?integration=KEY&type=TYPE` filters; `GET` on a connection's admin
//!   path shows it; `POST /_fake/connections` also takes optional `created_at`/`updated_at`
//!   (RFC 3339), registers an unknown integration, and answers 409 when the name is taken; a
//!   `PATCH` may also set `created_at`/`updated_at`, otherwise `updated_at` moves to now.
//! - `DELETE /_fake/requests` zeroes the counters; a dropped connection counts with status 0.
//! - `other_apps_per_minute` simulates other apps sharing the account's rate limit: their
//!   requests, evenly spaced, count against `rate_limit_per_minute` (and show in
//!   `X-Rate-Limit-Remaining`); `GET /_fake/requests` adds `"other_apps":{"accepted","refused"}`
//!   (refused: the window was full), zeroed with the counters. Reset stops them.
//! - `PATCH /_fake/settings` is the same as `PUT`; both answer 200 with the full settings, and
//!   refuse unknown fields and probabilities outside 0..=1 (400 `InvalidBody`). A rate limit of 0
//!   or `null` means unlimited.
//! - Faults: `method` and `path_contains` may be omitted (or `"*"`) to match anything;
//!   `path_contains` is matched against the raw path without the query; `count` defaults to 1;
//!   `status` 0 closes the connection without an answer; `retry_after` (seconds) adds a
//!   `Retry-After` header (default 1 for a 429). Rules apply oldest first, before the request
//!   takes effect. `GET /_fake/faults` lists pending rules, `DELETE /_fake/faults` clears them.
//! - `POST /_fake/access-tokens` registers the integration if unknown; `POST /_fake/integrations`
//!   with `{"integration"}` registers one, `GET /_fake/integrations` lists them.
//! - Reset also restores the starting integrations and access tokens and empties the rate-limit
//!   window.
//! - 401s of the API carry `WWW-Authenticate: Bearer realm="zis"`, with `error="invalid_token"`
//!   for an unknown, revoked, replaced or expired token (the ZIS error body stays).
//!
//! OAuth (see `oauth`):
//! - `POST /oauth/tokens` (Zendesk's token endpoint, not an admin call): `grant_type`
//!   `refresh_token` or `client_credentials`, with `client_id`, `client_secret`,
//!   `refresh_token`, `scope`, `expires_in` (300..=172800, default 1800),
//!   `refresh_token_expires_in` (604800..=7776000, default 2592000), JSON or form-encoded. 200
//!   `{"access_token","token_type":"bearer","scope","expires_in"[,"refresh_token",
//!   "refresh_token_expires_in"]}`; errors `{"error","error_description"}`: 400
//!   `invalid_request`, `unsupported_grant_type`, `unauthorized_client`, `invalid_scope`,
//!   `invalid_grant` (refresh token unknown, used, revoked, expired, another client's); 401
//!   `invalid_client`. A refresh spends its refresh token and deletes the grant's earlier access
//!   tokens. Switches, faults and counters (`oauth/tokens`) apply to it.
//! - `POST /_fake/oauth/clients` `{"integration","client_id","client_secret",
//!   "allow_client_credentials","scopes"}` (201, no secret echoed; replaces a client of the same
//!   id); `GET /_fake/oauth/clients`.
//! - `POST /_fake/oauth/grants` `{"client_id","scope"|"scopes","refresh_token",
//!   "refresh_token_expires_in","with_access_token","expires_in"}` -> 201 `{"grant_id",
//!   "client_id","integration","token_type","scope","refresh_token","refresh_token_expires_in"
//!   [,"access_token","expires_in"]}`, lifetimes unbounded; `DELETE /_fake/oauth/grants/{id}` or
//!   `DELETE /_fake/oauth/grants` `{"refresh_token"}` revokes every token of the grant (204).
//! - `GET /_fake/oauth/tokens[?client_id=&grant_id=]` -> `{"tokens":[{"grant_id","grant_type",
//!   "kind","client_id","integration","scope","lifetime_seconds","expires_in_seconds",
//!   "state"}]}`, never a token value.
//! - `GET /_fake/clock`, `POST /_fake/clock` `{"advance_seconds"}` -> `{"offset_seconds"}`: token
//!   lifetimes (all access tokens, refresh tokens) run on this clock.
//! - Settings `oauth_max_expires_in`, `oauth_max_refresh_token_expires_in` (seconds or null) cut
//!   the lifetimes `POST /oauth/tokens` grants; `oauth_latency_ms` delays its answers (after the
//!   grant took effect). Reset also restores the starting OAuth clients and refresh tokens and
//!   the clock.
//!
//! The ZIS API itself (under `/api/services/zis/integrations/{integration}/connections/`):
//! - `bearer_token`, `api_key`, `basic_auth`: `POST {type}` (201), `GET {type}/{name}` (200),
//!   `PATCH {type}/{name}` (204, empty body), `DELETE {type}/{name}` (204, empty body). Bodies are
//!   wrapped in the type (`{"bearer_token":{...}}`), secrets read `"*****"`, timestamps are
//!   RFC 3339 UTC with microseconds, `updated_at` moves forward on every update.
//! - `GET all`: `{"api_key":[],"basic_auth":[],"bearer_token":[],"oauth":[],"meta":{"has_more",
//!   "after","before"}}`, name order across types, `page[size]` 1..=100 (default 100),
//!   `page[after]`/`page[before]` take `meta.after`/`meta.before` (opaque cursors; `null` on an
//!   empty page). `oauth` is always empty: the fake cannot hold OAuth connections.
//! - Checks, in order: access token (401 `InvalidCredentials`: missing, not Bearer, unknown or
//!   expired), integration (400 `InvalidIntegration` on create, update and `all`; 404 `NotFound`
//!   on show and delete, the only errors the reference page lists for them), the token's
//!   integration (403 `Forbidden`: a token of another integration is refused), scope (403
//!   `Forbidden`, `read` for GETs and `write` for the rest), then the body.
//! - Error codes: the reference page's `InvalidIntegration` 400, `InvalidCredentials` 401,
//!   `Forbidden` 403, `NotFound` 404, `Conflict` 409 (name taken by a connection of any type),
//!   `TooManyRequests` 429; and the fake's own 400s for what the vendor does not document:
//!   `InvalidBody` (not JSON, not an object), `MissingField` (a mandatory field absent, null or
//!   empty, or a PATCH changing nothing), `InvalidField` (not a string; a username with `:`),
//!   `InvalidName` (not 3 to 64 of `[A-Za-z0-9_-]`, or `zendesk`), `InvalidAllowedDomain` (not a
//!   bare DNS hostname: no scheme, port, path, wildcard or IP address), `InvalidHeaderName`,
//!   `AllowedDomainImmutable` (a PATCH changing allowed_domain while that is switched off),
//!   `InvalidPageSize`, `InvalidCursor`; plus 404 `NotFound` for unknown paths, 405
//!   `MethodNotAllowed`, 413 `PayloadTooLarge` (over 1 MiB). Unknown body fields are ignored; a
//!   PATCH cannot rename.
//! - Switches: see [`Settings`] and the command line (`zis-sandbox zis --help`).

mod admin;
mod auth;
mod cli;
mod clock;
mod counters;
mod faults;
mod handlers;
mod oauth;
mod pagination;
mod rate_limit;
mod response;
mod routes;
mod server;
mod settings;
mod state;
mod store;
mod validation;
mod views;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use auth::Scope;
pub use cli::{ArgsError, ZisArgs, run};
pub use oauth::{OAuthClientConfig, RefreshTokenConfig};
pub use settings::Settings;

use auth::Grant;
use oauth::OAuth;
use state::State;

/// An access token with chosen scopes and lifetime.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessTokenConfig {
    /// The integration the token belongs to (registered if not otherwise known).
    pub integration: String,
    pub token: String,
    pub scopes: Vec<Scope>,
    /// Lifetime from start; `None` never expires.
    pub ttl: Option<Duration>,
}

impl fmt::Debug for AccessTokenConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessTokenConfig")
            .field("integration", &self.integration)
            .field("token", &"<redacted>")
            .field("scopes", &self.scopes)
            .field("ttl", &self.ttl)
            .finish()
    }
}

/// Startup configuration of the fake (the contract: exactly these three fields, so that struct
/// literals keep compiling; more startup knobs live in [`FakeZisOptions`]).
#[derive(Clone)]
pub struct FakeZisConfig {
    /// (integration key, access token) pairs; each token gets scopes `read write`, no expiry.
    pub integrations: Vec<(String, String)>,
    /// Whether PATCH may change `allowed_domain` (default true).
    pub patch_allowed_domain: bool,
    /// Requests per minute per account before 429; `None` means unlimited.
    pub rate_limit_per_minute: Option<u32>,
}

impl Default for FakeZisConfig {
    fn default() -> Self {
        FakeZisConfig {
            integrations: Vec::new(),
            patch_allowed_domain: true,
            rate_limit_per_minute: None,
        }
    }
}

// Access tokens are secrets: Debug names the integrations only.
impl fmt::Debug for FakeZisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let integrations: Vec<&str> = self.integrations.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("FakeZisConfig")
            .field("integrations", &integrations)
            .field("patch_allowed_domain", &self.patch_allowed_domain)
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .finish()
    }
}

impl FakeZisConfig {
    /// One integration with one `read write` access token, everything else default.
    pub fn new(integration: impl Into<String>, access_token: impl Into<String>) -> Self {
        FakeZisConfig {
            integrations: vec![(integration.into(), access_token.into())],
            ..FakeZisConfig::default()
        }
    }
}

/// Startup knobs beyond [`FakeZisConfig`] (all can also be changed at run time through the
/// admin API). Build with `FakeZisOptions::default()` and struct update syntax.
#[derive(Debug, Clone, Default)]
pub struct FakeZisOptions {
    /// Integrations known without an access token.
    pub extra_integrations: Vec<String>,
    /// More access tokens, with scopes and lifetimes.
    pub access_tokens: Vec<AccessTokenConfig>,
    /// Milliseconds added to every API answer.
    pub latency_ms: u64,
    /// Probability of a random 5xx answer.
    pub error_rate: f64,
    /// Probability of a dropped connection.
    pub drop_rate: f64,
    /// OAuth clients (their integrations are registered).
    pub oauth_clients: Vec<OAuthClientConfig>,
    /// Refresh tokens of those clients that exist from the start.
    pub refresh_tokens: Vec<RefreshTokenConfig>,
}

/// The state a fake starts with; fails when a setting is out of range.
fn startup(config: &FakeZisConfig, options: &FakeZisOptions) -> Result<State, String> {
    let settings = Settings {
        patch_allowed_domain: config.patch_allowed_domain,
        rate_limit_per_minute: config.rate_limit_per_minute,
        latency_ms: options.latency_ms,
        error_rate: options.error_rate,
        drop_rate: options.drop_rate,
        ..Settings::default()
    }
    .validated()?;
    let mut integrations: Vec<String> = Vec::new();
    let named = config
        .integrations
        .iter()
        .map(|(k, _)| k)
        .chain(&options.extra_integrations)
        .chain(options.access_tokens.iter().map(|t| &t.integration))
        .chain(options.oauth_clients.iter().map(|c| &c.integration));
    for key in named {
        if !integrations.contains(key) {
            integrations.push(key.clone());
        }
    }
    let mut grants: HashMap<String, Grant> = config
        .integrations
        .iter()
        .map(|(integration, token)| (token.clone(), Grant::full(integration)))
        .collect();
    for extra in &options.access_tokens {
        let grant = Grant {
            integration: extra.integration.clone(),
            scopes: extra.scopes.iter().copied().collect(),
            expires_at: None,
        }
        .expiring_in(extra.ttl, Instant::now());
        grants.insert(extra.token.clone(), grant);
    }
    let oauth = OAuth::new(
        options.oauth_clients.clone(),
        options.refresh_tokens.clone(),
        Instant::now(),
    )?;
    Ok(State::new(settings, integrations, grants, oauth))
}

/// A running fake ZIS server. Dropping it stops the server too (without waiting).
pub struct FakeZis {
    addr: SocketAddr,
    stop: watch::Sender<()>,
    task: JoinHandle<()>,
}

impl fmt::Debug for FakeZis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeZis").field("addr", &self.addr).finish()
    }
}

impl FakeZis {
    /// Starts serving on `listen` (use port 0 for a free port). Fails when the address cannot be
    /// bound.
    pub async fn start(config: FakeZisConfig, listen: SocketAddr) -> std::io::Result<FakeZis> {
        FakeZis::start_with(config, FakeZisOptions::default(), listen).await
    }

    /// Like [`FakeZis::start`], with more startup knobs. Fails (`InvalidInput`) when a
    /// probability is outside 0..=1 or a refresh token names an unknown OAuth client.
    pub async fn start_with(
        config: FakeZisConfig,
        options: FakeZisOptions,
        listen: SocketAddr,
    ) -> std::io::Result<FakeZis> {
        let state = startup(&config, &options)
            .map_err(|message| std::io::Error::new(std::io::ErrorKind::InvalidInput, message))?;
        let state = Arc::new(state);
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(());
        let task = tokio::spawn(server::serve(listener, state, stopped));
        Ok(FakeZis { addr, stop, task })
    }

    /// `http://HOST:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address served.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and waits for the server task to end (requests in flight get up to five
    /// seconds to finish).
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        if let Err(error) = self.task.await {
            tracing::warn!(%error, "zis fake server task failed");
        }
    }
}
