//! The HTTP client: base URL, timeouts, User-Agent, per-request tracing span, error
//! classification, pacing.
//!
//! The client never retries on its own: a failed call returns a classified [`ZisError`] and the
//! caller (the operator's reconcile loop) decides when to try again. What it does do is keep the
//! account under its rate limit: every request waits for a token from the account's shared
//! pacer in its priority class ([`Priority`]: urgent by default, background for periodic checks
//! through [`IntegrationClient::background`]), every answer's `X-Rate-Limit-Remaining` tells the
//! pacer how much of the account's window is left, and a 429 pauses the pacer for every caller
//! until its `Retry-After` has passed. The rules are in the `pacing` module's documentation.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode};
use tokio::time::Instant;
use tracing::Instrument;
use url::Url;

use super::RequestObserver;
use super::endpoint::{connections_url, parse_base_url, redact_userinfo, subdomain_url};
use super::observe::{RequestOutcome, RequestRecord};
use super::pacing::{Pacer, Priority};
use super::response::{Redactor, classify_failure, parse_success, rate_limit};
use super::wire::{BearerEnvelope, CreateBody, ListPage, UpdateBody};
use super::{
    BearerConnection, BearerPage, BearerTokenUpdate, ConfigError, ConnectionList,
    NewBearerConnection, PacingConfig, ZisError,
};
use crate::secret::SecretString;

/// Sent on every request, so ZIS operators can tell who is calling.
pub const USER_AGENT: &str = concat!("zis-operator/", env!("CARGO_PKG_VERSION"));

/// Default limit for establishing a TCP/TLS connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default limit for a whole request, from connecting to the last byte of the body.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The most response body read; connection bodies are a few hundred bytes, so anything near this
/// is not a ZIS answer and must not be buffered without bound.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// The page size asked of `GET all` (the documented maximum).
const LIST_PAGE_SIZE: &str = "100";
/// Guard against a server whose cursors never end (100 per page: a million connections).
const MAX_LIST_PAGES: usize = 10_000;

/// How to reach one ZIS account.
#[derive(Clone)]
pub struct ClientConfig {
    /// `https://{subdomain}.zendesk.com` or a full URL (for local servers).
    pub base_url: String,
    /// Whether a plain `http://` base URL is accepted (local servers only).
    pub allow_http: bool,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub pacing: PacingConfig,
    /// Told about every request sent (for metrics); `None` by default.
    pub observer: Option<Arc<dyn RequestObserver>>,
    /// Asked right before each request goes out; `false` keeps it from being sent.
    pub permit: Option<Permit>,
}

/// Whether a request may be sent now (checked after the pacer's wait, just before sending).
pub type Permit = Arc<dyn Fn() -> bool + Send + Sync>;

impl ClientConfig {
    /// Configuration for `https://{subdomain}.zendesk.com`.
    pub fn for_subdomain(subdomain: &str) -> Result<Self, ConfigError> {
        Ok(Self::for_url(&subdomain_url(subdomain)?, false))
    }

    /// Configuration for a full base URL. The URL is checked by [`ZisClient::new`].
    pub fn for_url(base_url: &str, allow_http: bool) -> Self {
        Self {
            base_url: base_url.to_owned(),
            allow_http,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            pacing: PacingConfig::default(),
            observer: None,
            permit: None,
        }
    }

    /// The same configuration with requests sent only while `permit` allows it.
    pub fn with_permit(mut self, permit: Permit) -> Self {
        self.permit = Some(permit);
        self
    }

    /// The same configuration with `observer` told about every request sent.
    pub fn with_observer(mut self, observer: Arc<dyn RequestObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The same configuration with other pacing.
    pub fn with_pacing(mut self, pacing: PacingConfig) -> Self {
        self.pacing = pacing;
        self
    }

    /// The same configuration with other connect and whole-request timeouts.
    pub fn with_timeouts(mut self, connect_timeout: Duration, request_timeout: Duration) -> Self {
        self.connect_timeout = connect_timeout;
        self.request_timeout = request_timeout;
        self
    }
}

impl fmt::Debug for ClientConfig {
    // By hand so credentials mistakenly put in the URL are never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &redact_userinfo(&self.base_url))
            .field("allow_http", &self.allow_http)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("pacing", &self.pacing)
            .field("observer", &self.observer.is_some())
            .field("permit", &self.permit.is_some())
            .finish()
    }
}

/// A client for one ZIS account. Cheap to clone; clones share the connection pool and pacer.
#[derive(Clone)]
pub struct ZisClient {
    shared: Arc<Shared>,
}

/// What every clone and every [`IntegrationClient`] of one account share.
struct Shared {
    http: reqwest::Client,
    base: Url,
    pacer: Pacer,
    pacing: PacingConfig,
    observer: Option<Arc<dyn RequestObserver>>,
    permit: Option<Permit>,
}

impl ZisClient {
    pub fn new(config: ClientConfig) -> Result<Self, ConfigError> {
        if let Some(problem) = config.pacing.problem() {
            return Err(ConfigError::InvalidPacing {
                reason: problem.to_owned(),
            });
        }
        let base = parse_base_url(&config.base_url, config.allow_http)?;
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            // ZIS never redirects an API call; following one could carry the access token to
            // another host, so a redirect is reported instead.
            .redirect(reqwest::redirect::Policy::none())
            .https_only(!config.allow_http)
            .build()
            .map_err(|e| ConfigError::Http(e.to_string()))?;
        Ok(Self {
            shared: Arc::new(Shared {
                http,
                base,
                pacer: Pacer::new(&config.pacing),
                pacing: config.pacing,
                observer: config.observer,
                permit: config.permit,
            }),
        })
    }

    /// The calls for one integration, authorised by `access_token`.
    pub fn integration(&self, integration: &str, access_token: SecretString) -> IntegrationClient {
        let authorization = HeaderValue::from_str(&format!("Bearer {}", access_token.expose()))
            .ok()
            .map(|mut value| {
                // Keeps the value out of hyper/reqwest debug output.
                value.set_sensitive(true);
                value
            });
        IntegrationClient {
            client: self.clone(),
            integration: Arc::from(integration),
            authorization,
            access_token,
            priority: Priority::Urgent,
        }
    }

    /// The account's base URL, as validated.
    pub fn base_url(&self) -> &str {
        self.shared.base.as_str()
    }

    /// The pacing this client applies to the account.
    pub fn pacing(&self) -> PacingConfig {
        self.shared.pacing
    }

    /// Until when the account is paused by a 429, if a pause is still in force.
    pub fn paused_until(&self) -> Option<Instant> {
        self.shared
            .pacer
            .paused_until()
            .filter(|until| *until > Instant::now())
    }

    /// Whether the latest answer (younger than a minute) said the account's remaining requests
    /// are down to the reserve left to other apps: this client is slowed down and background
    /// requests wait (see [`PacingConfig::reserve_share`]).
    pub fn remaining_is_low(&self) -> bool {
        self.shared.pacer.remaining_is_low()
    }
}

impl fmt::Debug for ZisClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZisClient")
            .field("base_url", &self.shared.base.as_str())
            .field("pacing", &self.shared.pacing)
            .finish_non_exhaustive()
    }
}

/// The connection calls of one integration, sent in one priority class: urgent unless made with
/// [`IntegrationClient::background`] or [`IntegrationClient::with_priority`].
#[derive(Clone)]
pub struct IntegrationClient {
    client: ZisClient,
    integration: Arc<str>,
    /// `None` when the access token cannot be an HTTP header value (every call is refused).
    authorization: Option<HeaderValue>,
    /// Kept only to redact it from anything the server echoes back.
    access_token: SecretString,
    priority: Priority,
}

impl fmt::Debug for IntegrationClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntegrationClient")
            .field("base_url", &self.client.shared.base.as_str())
            .field("integration", &&*self.integration)
            .field("access_token", &self.access_token)
            .field("priority", &self.priority)
            .finish()
    }
}

/// A successful answer: its (size-capped) body.
struct Answer {
    body: Vec<u8>,
}

/// One request to send.
struct Call<'a> {
    method: Method,
    /// The endpoint without values, for logs: `bearer_token/{name}`.
    template: &'static str,
    url: Url,
    body: Option<Vec<u8>>,
    /// The connection name, when the call is about one (names are not secret).
    connection: Option<&'a str>,
    priority: Priority,
    /// The connection token the body carries, to redact from anything echoed back.
    token: Option<&'a str>,
}

impl IntegrationClient {
    /// The integration key these calls address.
    pub fn integration(&self) -> &str {
        &self.integration
    }

    /// The class this handle's requests are paced in.
    pub fn priority(&self) -> Priority {
        self.priority
    }

    /// The same calls, paced in `priority` (a cheap clone sharing the account's pacer).
    pub fn with_priority(&self, priority: Priority) -> IntegrationClient {
        IntegrationClient {
            priority,
            ..self.clone()
        }
    }

    /// The same calls as [`Priority::Background`] requests, for periodic checks: they go only
    /// when no urgent request is waiting, within `background_share` of the budget, and not at
    /// all while the account's remaining requests are low.
    pub fn background(&self) -> IntegrationClient {
        self.with_priority(Priority::Background)
    }

    /// `POST bearer_token`: 201 gives the created connection; 409 gives [`ZisError::Conflict`].
    pub async fn create_bearer(
        &self,
        new: &NewBearerConnection,
    ) -> Result<BearerConnection, ZisError> {
        let body = json_body(&CreateBody {
            name: &new.name,
            token: new.token.expose(),
            allowed_domain: &new.allowed_domain,
        })?;
        let answer = self
            .execute(Call {
                method: Method::POST,
                template: "bearer_token",
                url: self.url(&["bearer_token"]),
                body: Some(body),
                connection: Some(&new.name),
                priority: self.priority,
                token: Some(new.token.expose()),
            })
            .await?;
        self.parse_connection(&answer, "create", Some(new.token.expose()))
    }

    /// `GET bearer_token/{name}`.
    pub async fn get_bearer(&self, name: &str) -> Result<BearerConnection, ZisError> {
        check_segment("connection name", name)?;
        let answer = self
            .execute(Call {
                method: Method::GET,
                template: "bearer_token/{name}",
                url: self.url(&["bearer_token", name]),
                body: None,
                connection: Some(name),
                priority: self.priority,
                token: None,
            })
            .await?;
        self.parse_connection(&answer, "show", None)
    }

    /// `PATCH bearer_token/{name}` with the fields set in `update`. An update with neither
    /// field set is still sent (as `{}`); ZIS decides what that means.
    pub async fn update_bearer(
        &self,
        name: &str,
        update: &BearerTokenUpdate,
    ) -> Result<(), ZisError> {
        check_segment("connection name", name)?;
        let body = json_body(&UpdateBody::from(update))?;
        // A 204 may carry `null`, nothing, or (from lenient servers) the object: none matters.
        self.execute(Call {
            method: Method::PATCH,
            template: "bearer_token/{name}",
            url: self.url(&["bearer_token", name]),
            body: Some(body),
            connection: Some(name),
            priority: self.priority,
            token: update.token.as_ref().map(SecretString::expose),
        })
        .await
        .map(drop)
    }

    /// `DELETE bearer_token/{name}`. A 404 is returned as [`ZisError::NotFound`]; callers that
    /// only want the connection gone treat it as success.
    pub async fn delete_bearer(&self, name: &str) -> Result<(), ZisError> {
        check_segment("connection name", name)?;
        self.execute(Call {
            method: Method::DELETE,
            template: "bearer_token/{name}",
            url: self.url(&["bearer_token", name]),
            body: None,
            connection: Some(name),
            priority: self.priority,
            token: None,
        })
        .await
        .map(drop)
    }

    /// `GET all`, following cursor pages until the last. Each page is one paced request.
    pub async fn list_connections(&self) -> Result<ConnectionList, ZisError> {
        let mut list = ConnectionList::default();
        let mut seen = HashSet::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_LIST_PAGES {
            let page = self.list_page(cursor.as_deref(), self.priority).await?;
            match page.drain_into(&mut list)? {
                None => return Ok(list),
                Some(next) if !seen.insert(next.clone()) => {
                    return Err(ZisError::Transient {
                        reason: "zis repeated a list cursor; the listing would never end"
                            .to_owned(),
                    });
                }
                Some(next) => cursor = Some(next),
            }
        }
        Err(ZisError::Transient {
            reason: format!("zis listed more than {MAX_LIST_PAGES} pages of connections"),
        })
    }

    /// One page of `GET all` (100 connections of any type), keeping only the bearer-token
    /// connections: names, domains and times, never a token. `after` is the previous page's
    /// [`BearerPage::next_cursor`] (`None`, or an empty cursor, for the first page).
    ///
    /// Always sent as a [`Priority::Background`] request, whatever this handle's priority: it is
    /// meant for the periodic drift check that walks every page on the resync interval. It may
    /// therefore wait long (while urgent work uses the budget, or a minute while the account's
    /// remaining requests are low); dropping the future gives its place in line back. A caller
    /// looping over pages should stop on a cursor it has seen before, as
    /// [`IntegrationClient::list_connections`] does.
    pub async fn list_bearer_page(&self, after: Option<&str>) -> Result<BearerPage, ZisError> {
        let after = after.filter(|cursor| !cursor.is_empty());
        self.list_page(after, Priority::Background)
            .await?
            .into_bearer_page()
    }

    /// `GET all?page[size]=100[&page[after]=CURSOR]`, parsed.
    async fn list_page(
        &self,
        after: Option<&str>,
        priority: Priority,
    ) -> Result<ListPage, ZisError> {
        let mut url = self.url(&["all"]);
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("page[size]", LIST_PAGE_SIZE);
            if let Some(after) = after {
                query.append_pair("page[after]", after);
            }
        }
        let answer = self
            .execute(Call {
                method: Method::GET,
                template: "all",
                url,
                body: None,
                connection: None,
                priority,
                token: None,
            })
            .await?;
        parse_success(&answer.body, "list", &self.redactor(None))
    }

    fn url(&self, rest: &[&str]) -> Url {
        connections_url(&self.client.shared.base, &self.integration, rest)
    }

    fn redactor<'a>(&'a self, token: Option<&'a str>) -> Redactor<'a> {
        Redactor::new(
            [Some(self.access_token.expose()), token]
                .into_iter()
                .flatten(),
        )
    }

    fn parse_connection(
        &self,
        answer: &Answer,
        what: &str,
        token: Option<&str>,
    ) -> Result<BearerConnection, ZisError> {
        parse_success::<BearerEnvelope>(&answer.body, what, &self.redactor(token)).map(Into::into)
    }

    /// Sends one request under the account's pacing, inside a span naming the endpoint (never a
    /// token), and classifies the answer.
    async fn execute(&self, call: Call<'_>) -> Result<Answer, ZisError> {
        check_segment("integration", &self.integration)?;
        let Some(authorization) = self.authorization.clone() else {
            return Err(ZisError::Unauthorized);
        };
        let span = tracing::info_span!(
            "zis_request",
            method = %call.method,
            path = call.template,
            integration = %self.integration,
            connection = call.connection.unwrap_or(""),
            priority = call.priority.as_str(),
            status = tracing::field::Empty,
            paced_ms = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        let method = call.method.clone();
        let endpoint = call.template;
        let mut exchange = Exchange::default();
        let result = self
            .execute_in_span(call, authorization, &span, &mut exchange)
            .instrument(span.clone())
            .await;
        let sent = !matches!(result, Err(ZisError::NotPermitted));
        if let Some(observer) = self.client.shared.observer.as_ref().filter(|_| sent) {
            observer.observe(&RequestRecord {
                method: method.as_str(),
                endpoint,
                status: exchange.status,
                outcome: RequestOutcome::of(result.as_ref().err()),
                paced: exchange.paced,
                duration: exchange.duration,
            });
        }
        result
    }

    async fn execute_in_span(
        &self,
        call: Call<'_>,
        authorization: HeaderValue,
        span: &tracing::Span,
        exchange: &mut Exchange,
    ) -> Result<Answer, ZisError> {
        let shared = &self.client.shared;
        let queued = Instant::now();
        shared.pacer.acquire(call.priority).await;
        let started = Instant::now();
        exchange.paced = started - queued;
        span.record("paced_ms", millis(exchange.paced));
        // Checked last: the pacer's wait can be long, and the permission may end meanwhile.
        if shared.permit.as_ref().is_some_and(|permit| !permit()) {
            tracing::debug!("not sent: no permission to send now");
            return Err(ZisError::NotPermitted);
        }

        let mut request = shared
            .http
            .request(call.method, call.url)
            .header(AUTHORIZATION, authorization)
            .header(ACCEPT, "application/json");
        if let Some(body) = call.body {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        let redactor = self.redactor(call.token);
        let outcome = send(request, &redactor).await;
        exchange.duration = started.elapsed();
        let duration_ms = millis(exchange.duration);
        span.record("duration_ms", duration_ms);

        let (status, headers, body) = match outcome {
            Ok(parts) => parts,
            Err(err) => {
                tracing::debug!(duration_ms, error = %err, "zis request failed");
                return Err(err);
            }
        };
        span.record("status", status.as_u16());
        exchange.status = Some(status.as_u16());
        // A 429's own numbers add nothing to its Retry-After, which pauses the account below.
        if status != StatusCode::TOO_MANY_REQUESTS
            && let Some((limit, remaining)) = rate_limit(&headers)
        {
            shared.pacer.observe_remaining(limit, remaining);
        }
        tracing::debug!(
            status = status.as_u16(),
            duration_ms,
            "zis request completed"
        );

        if status.is_success() {
            return match body {
                Body::Complete(body) => Ok(Answer { body }),
                Body::TooLarge => Err(ZisError::Transient {
                    reason: format!("zis answered with a body larger than {MAX_BODY_BYTES} bytes"),
                }),
                Body::Broken(reason) => Err(ZisError::Transient { reason }),
            };
        }
        // The status decides the class; a broken or oversized error body only loses detail.
        let body = match &body {
            Body::Complete(body) => body.as_slice(),
            Body::TooLarge | Body::Broken(_) => &[],
        };
        let err = classify_failure(
            status,
            &headers,
            body,
            shared.pacing.max_retry_after,
            &redactor,
        );
        if let ZisError::RateLimited { retry_after } = &err {
            shared.pacer.pause_for(*retry_after);
            tracing::info!(
                retry_after_ms = millis(*retry_after),
                "zis rate limit reached; pausing every call to this account"
            );
        }
        Err(err)
    }
}

/// What the observer is told of one request besides its outcome.
#[derive(Default)]
struct Exchange {
    status: Option<u16>,
    paced: Duration,
    duration: Duration,
}

/// What was read of a response body.
enum Body {
    Complete(Vec<u8>),
    TooLarge,
    /// The connection failed or timed out while reading.
    Broken(String),
}

/// Sends the request and reads at most [`MAX_BODY_BYTES`] of the answer.
async fn send(
    request: reqwest::RequestBuilder,
    redactor: &Redactor<'_>,
) -> Result<(StatusCode, reqwest::header::HeaderMap, Body), ZisError> {
    let mut response = request
        .send()
        .await
        .map_err(|e| transport_error(&e, redactor))?;
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    if response
        .content_length()
        .is_some_and(|len| len > MAX_BODY_BYTES as u64)
    {
        return Ok((status, headers, Body::TooLarge));
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) if body.len() + chunk.len() > MAX_BODY_BYTES => {
                return Ok((status, headers, Body::TooLarge));
            }
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => return Ok((status, headers, Body::Complete(body))),
            Err(e) => {
                let reason = match transport_error(&e, redactor) {
                    ZisError::Transient { reason } => reason,
                    other => other.to_string(),
                };
                return Ok((status, headers, Body::Broken(reason)));
            }
        }
    }
}

/// A failure before a complete answer arrived: always transient. The URL is left out (it adds
/// nothing the span does not say), and so is anything resembling a token.
fn transport_error(err: &reqwest::Error, redactor: &Redactor<'_>) -> ZisError {
    let kind = if err.is_timeout() {
        "request to zis timed out"
    } else if err.is_connect() {
        "could not connect to zis"
    } else if err.is_body() || err.is_decode() {
        "the zis response was cut off"
    } else {
        "request to zis failed"
    };
    let reason = super::response::with_causes(kind, err);
    ZisError::Transient {
        reason: redactor.clean(&reason),
    }
}

/// Refuses values that cannot be one distinct URL path segment (empty, `.`, `..`), which would
/// otherwise silently address another endpoint.
fn check_segment(what: &str, value: &str) -> Result<(), ZisError> {
    if value.is_empty() || value == "." || value == ".." {
        return Err(ZisError::Invalid {
            code: if what == "integration" {
                "InvalidIntegration".to_owned()
            } else {
                "InvalidName".to_owned()
            },
            title: format!("{what} {value:?} cannot be used in a zis url"),
        });
    }
    Ok(())
}

fn json_body(body: &impl serde::Serialize) -> Result<Vec<u8>, ZisError> {
    // Serialising borrowed strings cannot fail; the error path exists only to avoid `expect`.
    serde_json::to_vec(body).map_err(|_| ZisError::Invalid {
        code: "InvalidBody".to_owned(),
        title: "the request body could not be encoded as json".to_owned(),
    })
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subdomain_config_uses_https_and_default_limits() {
        let config = ClientConfig::for_subdomain("acme").expect("valid");
        assert_eq!(config.base_url, "https://acme.zendesk.com");
        assert!(!config.allow_http);
        assert_eq!(config.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(config.request_timeout, DEFAULT_REQUEST_TIMEOUT);
        assert_eq!(config.pacing, PacingConfig::default());
        let client = ZisClient::new(config).expect("builds");
        assert_eq!(client.base_url(), "https://acme.zendesk.com/");
    }

    #[test]
    fn an_invalid_subdomain_is_refused() {
        assert!(matches!(
            ClientConfig::for_subdomain("acme.evil.com"),
            Err(ConfigError::InvalidSubdomain { .. })
        ));
    }

    #[test]
    fn a_plain_http_url_needs_allow_http() {
        assert!(matches!(
            ZisClient::new(ClientConfig::for_url("http://127.0.0.1:1", false)),
            Err(ConfigError::HttpNotAllowed { .. })
        ));
        assert!(ZisClient::new(ClientConfig::for_url("http://127.0.0.1:1", true)).is_ok());
    }

    #[test]
    fn pacing_that_cannot_pace_is_refused() {
        let config =
            ClientConfig::for_url("https://acme.zendesk.com", false).with_pacing(PacingConfig {
                requests_per_minute: 0,
                ..PacingConfig::default()
            });
        assert!(matches!(
            ZisClient::new(config),
            Err(ConfigError::InvalidPacing { .. })
        ));
    }

    #[test]
    fn debug_output_never_shows_tokens_or_url_credentials() {
        let config = ClientConfig::for_url("https://user:pw-hunter2@acme.zendesk.com", false);
        assert!(!format!("{config:?}").contains("pw-hunter2"));
        let client = ZisClient::new(ClientConfig::for_url("https://acme.zendesk.com", false))
            .expect("builds");
        let integration = client.integration("my_integration", SecretString::new("access-xyz-42"));
        let new = NewBearerConnection {
            name: "conn".to_owned(),
            token: SecretString::new("conn-token-77"),
            allowed_domain: "api.example.com".to_owned(),
        };
        let update = BearerTokenUpdate {
            token: Some(SecretString::new("conn-token-88")),
            allowed_domain: None,
        };
        let text = format!("{client:?} {integration:?} {new:?} {update:?}");
        for secret in ["access-xyz-42", "conn-token-77", "conn-token-88"] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(text.contains("my_integration"), "{text}");
    }

    #[test]
    fn the_user_agent_names_the_project_and_version() {
        assert_eq!(
            USER_AGENT,
            format!("zis-operator/{}", env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn names_that_are_not_a_path_segment_are_refused_locally() {
        for bad in ["", ".", ".."] {
            assert!(matches!(
                check_segment("connection name", bad),
                Err(ZisError::Invalid { .. })
            ));
        }
        assert_eq!(check_segment("connection name", "a.b"), Ok(()));
    }
}
