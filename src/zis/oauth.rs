//! Zendesk's OAuth token endpoint: renewing the operator's access token with the refresh-token
//! grant, or getting one with the client-credentials grant.
//!
//! One typed call per grant, [`OAuthClient::refresh`] and [`OAuthClient::client_credentials`],
//! each answering a [`Grant`] (the access token in a [`SecretString`], its lifetime, the rotated
//! refresh token) or an [`OAuthError`] that says what the caller must do. The client is built
//! from the same [`ClientConfig`] as the [`ZisClient`](super::ZisClient) of the account: same
//! base URL and checks, TLS, `--allow-http` rule, timeouts, User-Agent, no redirects, the same
//! observer (endpoint `oauth/tokens`) and the same permission to send (a replica that is not the
//! leader must not spend a refresh token). It has its own small connection pool and is not paced
//! with the Connections API: a token request is rare, and a 429 comes back as
//! [`OAuthError::RateLimited`] for the caller to honour.
//!
//! This module knows nothing of Kubernetes, and it never retries: with a rotating refresh token a
//! blind retry can spend the next token. What it holds on to is the answer: once the server has
//! rotated the refresh token, losing its answer costs a person a re-authorization, so a success
//! body is read leniently (only `access_token` is required).
//!
//! # What is known of Zendesk's token endpoint, and what is assumed
//!
//! Stated by Zendesk's public pages (the API reference "OAuth Tokens for Grant Types", the
//! announcements of the refresh-token grant and of token expiry, the client-credentials
//! announcement), and by `shared/zis-api.md` for the lifetimes and dates:
//! - `POST https://{subdomain}.zendesk.com/oauth/tokens`, parameters `grant_type`
//!   (`authorization_code`, `refresh_token`, `client_credentials`), `client_id`,
//!   `client_secret`, `refresh_token`, `scope`, `expires_in`, `refresh_token_expires_in`; the
//!   reference says the parameters "must be formatted as JSON", so JSON is what is sent here.
//! - A successful refresh returns a new access token and a new refresh token and "deletes the
//!   previous access and refresh tokens": the refresh token is single use, and **the access
//!   token in use stops working the moment a refresh succeeds** (requests in flight with it may
//!   get 401).
//! - Access tokens live 30 minutes by default, 5 minutes to 48 hours; refresh tokens 30 days
//!   by default, 7 to 90 days ([`ACCESS_TOKEN_LIFETIME`], [`REFRESH_TOKEN_LIFETIME`]). An
//!   expiry asked for with `expires_in`/`refresh_token_expires_in` "will be applied and
//!   enforced". Expiry is mandatory for new clients, and for all by 1 April 2027.
//! - The response example of the reference shows `access_token`, `token_type` (`"bearer"`) and
//!   `scope`; with expiring tokens it carries `expires_in`, `refresh_token` and
//!   `refresh_token_expires_in` (numbers of seconds).
//! - Client credentials are allowed only for confidential OAuth clients configured for them.
//!
//! Assumed (not stated by Zendesk for this endpoint; RFC 6749 is the model):
//! - Errors are RFC 6749 section 5.2 bodies, `{"error","error_description"}`: 400
//!   `invalid_grant` for a refresh token that is unknown, used, revoked or expired (third-party
//!   reports of Zendesk show exactly that), 401 (or 400) `invalid_client` for wrong client
//!   credentials, 400 `unauthorized_client` for a grant the client may not use,
//!   `invalid_request`, `invalid_scope`, `unsupported_grant_type`. The classification here
//!   goes by the `error` code first and the status second, so either status works.
//! - A 429 carries `Retry-After` like the rest of the API; 5xx are passing.
//! - Numbers may arrive as JSON strings; `token_type` may be capitalised (it is not checked);
//!   `scope` may be absent (then it is the scope asked for, or the grant's).
//! - Whether presenting a spent refresh token also revokes the tokens issued from it (reuse
//!   detection) is not documented; the local server does not do it.
//! - Whether a refresh without `scope` keeps the grant's scopes (RFC 6749 section 6 says so) is
//!   assumed; [`OAuthClient::refresh`] sends none.
//! - The client-credentials grant takes a `scope` ([`OAuthClient::client_credentials`] sends
//!   one) and answers no refresh token (RFC 6749 section 4.4.3).
//!
//! The local ZIS server (`zis-sandbox zis`, `sandbox/README-zis-admin.md`) serves this endpoint
//! with these rules and assumptions, so a test against it checks the client against them, not
//! against Zendesk.

use std::fmt;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap};
use serde_json::{Map, Value};
use tokio::time::Instant;
use tracing::Instrument;
use url::Url;

use super::client::{MAX_BODY_BYTES, Permit, USER_AGENT};
use super::endpoint::parse_base_url;
use super::observe::{RequestObserver, RequestOutcome, RequestRecord};
use super::response::{DEFAULT_RETRY_AFTER, Redactor, body_excerpt, retry_after, tidy};
use super::{ClientConfig, ConfigError};
use crate::secret::SecretString;

/// The token endpoint, under the account's base URL.
pub const TOKEN_PATH: &str = "/oauth/tokens";
/// The endpoint template reported to the [`RequestObserver`].
pub const TOKEN_ENDPOINT: &str = "oauth/tokens";
/// The lifetimes Zendesk accepts for `expires_in` (5 minutes to 48 hours).
pub const ACCESS_TOKEN_LIFETIME: RangeInclusive<Duration> =
    Duration::from_secs(5 * 60)..=Duration::from_secs(48 * 3600);
/// Zendesk's default access token lifetime (30 minutes).
pub const DEFAULT_ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// The lifetimes Zendesk accepts for `refresh_token_expires_in` (7 to 90 days).
pub const REFRESH_TOKEN_LIFETIME: RangeInclusive<Duration> =
    Duration::from_secs(7 * 24 * 3600)..=Duration::from_secs(90 * 24 * 3600);
/// Zendesk's default refresh token lifetime (30 days).
pub const DEFAULT_REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

/// What the token endpoint granted. `Debug` never shows a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Keep it in memory only.
    pub access_token: SecretString,
    /// Space-separated, as answered (`read write`); empty when the answer named none.
    pub scope: String,
    /// The access token's lifetime as answered; `None`: the answer named none (a token that does
    /// not expire, or an endpoint that does not say).
    pub expires_in: Option<Duration>,
    /// When the access token expires: the request's start plus `expires_in` (the server's clock
    /// started no earlier, so this errs on the early side).
    pub expires_at: Option<DateTime<Utc>>,
    /// The next refresh token (the one sent is spent). `None` from client credentials, and from
    /// a refresh whose answer held none (the one sent may be spent all the same).
    pub refresh_token: Option<SecretString>,
    pub refresh_token_expires_in: Option<Duration>,
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    /// When the request started, on the monotonic clock (see [`Grant::access_token_deadline`]).
    pub requested_at: Instant,
}

impl Grant {
    /// The scopes, one by one.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split_ascii_whitespace()
    }

    /// Whether the access token carries `scope` (ZIS writes need `write`).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    /// When the access token expires, on the monotonic clock (for timers; immune to wall-clock
    /// steps).
    pub fn access_token_deadline(&self) -> Option<Instant> {
        self.expires_in.map(|lifetime| self.requested_at + lifetime)
    }

    /// When the refresh token expires, on the monotonic clock.
    pub fn refresh_token_deadline(&self) -> Option<Instant> {
        self.refresh_token_expires_in
            .map(|lifetime| self.requested_at + lifetime)
    }
}

/// A failed token request, classified by what the caller must do. Messages never contain a
/// token or secret (the server's descriptions are redacted of what was sent).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// `invalid_grant`: the refresh token is unknown, already used, revoked or expired. Nothing
    /// automatic can fix this: a person must authorize the app again and store the new refresh
    /// token.
    #[error(
        "zendesk refused the refresh token (invalid_grant: {description}); it is spent, revoked or \
         expired, and a person must authorize the app again"
    )]
    InvalidGrant { description: String },
    /// `invalid_client` (or a bare 401): the client id or secret is wrong.
    #[error("zendesk refused the oauth client id or secret (invalid_client: {description})")]
    InvalidClient { description: String },
    /// `unauthorized_client`: this client may not use this grant type (client credentials not
    /// enabled for it).
    #[error("the oauth client may not use this grant (unauthorized_client: {description})")]
    UnauthorizedClient { description: String },
    /// 429: wait at least `retry_after` before the next request to this account.
    #[error("rate limited by zendesk, retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// 5xx, timeouts, connection failures, answers that cannot be read: try again later.
    /// `maybe_applied` is true when the request may have reached the server and been acted on:
    /// for a refresh, the refresh token sent may then be spent and its successor lost with the
    /// answer (a retry with it may get [`OAuthError::InvalidGrant`]).
    #[error("token request failed: {reason}")]
    Transient { reason: String, maybe_applied: bool },
    /// Any other refusal (`invalid_request`, `invalid_scope`, `unsupported_grant_type`, an
    /// unexpected 4xx or redirect): the request is wrong and repeating it will not help.
    #[error("zendesk rejected the token request: {code}: {description}")]
    Invalid { code: String, description: String },
    /// Not sent: the client's owner withdrew its permission to send (see
    /// [`ClientConfig::with_permit`]).
    #[error("not sent: this process may not send requests to zendesk now")]
    NotPermitted,
}

impl OAuthError {
    /// Whether the same request may succeed later without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            OAuthError::RateLimited { .. } | OAuthError::Transient { .. }
        )
    }

    /// Whether a person must authorize the app again (the stored refresh token is dead).
    pub fn needs_reauthorization(&self) -> bool {
        matches!(self, OAuthError::InvalidGrant { .. })
    }

    fn outcome(&self) -> RequestOutcome {
        match self {
            OAuthError::InvalidGrant { .. } | OAuthError::InvalidClient { .. } => {
                RequestOutcome::Unauthorized
            }
            OAuthError::UnauthorizedClient { .. } => RequestOutcome::Forbidden,
            OAuthError::RateLimited { .. } => RequestOutcome::RateLimited,
            OAuthError::Invalid { .. } => RequestOutcome::Invalid,
            OAuthError::Transient { .. } | OAuthError::NotPermitted => RequestOutcome::Transient,
        }
    }
}

/// Requests to one account's token endpoint. Cheap to clone.
#[derive(Clone)]
pub struct OAuthClient {
    shared: Arc<Shared>,
}

struct Shared {
    http: reqwest::Client,
    url: Url,
    max_retry_after: Duration,
    observer: Option<Arc<dyn RequestObserver>>,
    permit: Option<Permit>,
}

impl fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClient")
            .field("url", &self.shared.url.as_str())
            .finish_non_exhaustive()
    }
}

/// The body of a token request; `Debug` is not derived, it holds secrets.
struct TokenRequest<'a> {
    grant_type: &'static str,
    client_id: &'a str,
    client_secret: &'a SecretString,
    refresh_token: Option<&'a SecretString>,
    scope: Option<&'a str>,
    expires_in: Duration,
    refresh_token_expires_in: Option<Duration>,
}

impl TokenRequest<'_> {
    fn body(&self) -> Vec<u8> {
        let mut body = Map::new();
        let mut put = |name: &str, value: Value| {
            body.insert(name.to_owned(), value);
        };
        put("grant_type", self.grant_type.into());
        put("client_id", self.client_id.into());
        put("client_secret", self.client_secret.expose().into());
        if let Some(token) = self.refresh_token {
            put("refresh_token", token.expose().into());
        }
        if let Some(scope) = self.scope {
            put("scope", scope.into());
        }
        put("expires_in", self.expires_in.as_secs().into());
        if let Some(lifetime) = self.refresh_token_expires_in {
            put("refresh_token_expires_in", lifetime.as_secs().into());
        }
        // A map of strings and numbers always serialises.
        serde_json::to_vec(&body).unwrap_or_default()
    }

    /// Everything the server might echo back that must not reach a message.
    fn redactor(&self) -> Redactor<'_> {
        Redactor::new(
            [
                Some(self.client_secret.expose()),
                self.refresh_token.map(SecretString::expose),
            ]
            .into_iter()
            .flatten(),
        )
    }
}

impl OAuthClient {
    /// A client for the token endpoint of the account `config` names, with its TLS, http and
    /// timeout rules, observer and permit.
    pub fn new(config: &ClientConfig) -> Result<Self, ConfigError> {
        let base = parse_base_url(&config.base_url, config.allow_http)?;
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            // A redirect could carry the client secret to another host.
            .redirect(reqwest::redirect::Policy::none())
            .https_only(!config.allow_http)
            .build()
            .map_err(|e| ConfigError::Http(e.to_string()))?;
        Ok(Self {
            shared: Arc::new(Shared {
                http,
                url: token_url(&base),
                max_retry_after: config.pacing.max_retry_after,
                observer: config.observer.clone(),
                permit: config.permit.clone(),
            }),
        })
    }

    /// The token endpoint's URL.
    pub fn token_url(&self) -> &str {
        self.shared.url.as_str()
    }

    /// `grant_type=refresh_token`: a new access token and the next refresh token, asking for
    /// lifetimes `expires_in` and `refresh_token_expires_in` (see [`ACCESS_TOKEN_LIFETIME`] and
    /// [`REFRESH_TOKEN_LIFETIME`] for what Zendesk accepts). On success `refresh_token` is spent
    /// and the access token issued before it stops working: store the grant's refresh token
    /// before using its access token.
    pub async fn refresh(
        &self,
        client_id: &str,
        client_secret: &SecretString,
        refresh_token: &SecretString,
        expires_in: Duration,
        refresh_token_expires_in: Duration,
    ) -> Result<Grant, OAuthError> {
        self.request(&TokenRequest {
            grant_type: "refresh_token",
            client_id,
            client_secret,
            refresh_token: Some(refresh_token),
            scope: None,
            expires_in,
            refresh_token_expires_in: Some(refresh_token_expires_in),
        })
        .await
    }

    /// `grant_type=client_credentials` for `scope` (`read write` for ZIS), asking for a lifetime
    /// of `expires_in`. Only for OAuth clients that allow it ([`OAuthError::UnauthorizedClient`]
    /// otherwise); no refresh token comes back, so the caller asks again before expiry.
    pub async fn client_credentials(
        &self,
        client_id: &str,
        client_secret: &SecretString,
        scope: &str,
        expires_in: Duration,
    ) -> Result<Grant, OAuthError> {
        self.request(&TokenRequest {
            grant_type: "client_credentials",
            client_id,
            client_secret,
            refresh_token: None,
            scope: Some(scope),
            expires_in,
            refresh_token_expires_in: None,
        })
        .await
    }

    /// Sends one token request inside a span (grant type and client id, never a secret) and
    /// classifies the answer.
    async fn request(&self, request: &TokenRequest<'_>) -> Result<Grant, OAuthError> {
        let shared = &self.shared;
        if shared.permit.as_ref().is_some_and(|permit| !permit()) {
            tracing::debug!(
                grant_type = request.grant_type,
                "token request not sent: no permission to send now"
            );
            return Err(OAuthError::NotPermitted);
        }
        let span = tracing::info_span!(
            "zis_oauth_request",
            grant_type = request.grant_type,
            client_id = request.client_id,
            status = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        self.request_in_span(request, &span)
            .instrument(span.clone())
            .await
    }

    async fn request_in_span(
        &self,
        request: &TokenRequest<'_>,
        span: &tracing::Span,
    ) -> Result<Grant, OAuthError> {
        let shared = &self.shared;
        let requested_at = Instant::now();
        let wall = SystemTime::now();
        let redactor = request.redactor();
        let answer = self.exchange(request, &redactor).await;
        let duration = requested_at.elapsed();
        span.record("duration_ms", millis(duration));
        let status = answer.as_ref().ok().map(|(status, _, _)| status.as_u16());
        if let Some(status) = status {
            span.record("status", status);
        }
        let result = answer.and_then(|(status, headers, body)| {
            if status.is_success() {
                parse_grant(&body, requested_at, wall, &redactor)
            } else {
                Err(classify(
                    status,
                    &headers,
                    &body,
                    shared.max_retry_after,
                    &redactor,
                ))
            }
        });
        match &result {
            Ok(grant) => tracing::debug!(
                expires_in_s = grant.expires_in.map(|d| d.as_secs()),
                rotated = grant.refresh_token.is_some(),
                "token granted"
            ),
            Err(error) => tracing::debug!(%error, "token request failed"),
        }
        if let Some(observer) = &shared.observer {
            observer.observe(&RequestRecord {
                method: "POST",
                endpoint: TOKEN_ENDPOINT,
                status,
                outcome: result
                    .as_ref()
                    .err()
                    .map_or(RequestOutcome::Success, OAuthError::outcome),
                paced: Duration::ZERO,
                duration,
            });
        }
        result
    }

    /// Sends the request and reads at most [`MAX_BODY_BYTES`] of the answer.
    async fn exchange(
        &self,
        request: &TokenRequest<'_>,
        redactor: &Redactor<'_>,
    ) -> Result<(StatusCode, HeaderMap, Vec<u8>), OAuthError> {
        let mut response = self
            .shared
            .http
            .post(self.shared.url.clone())
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/json")
            .body(request.body())
            .send()
            .await
            .map_err(|e| transport_error(&e, redactor))?;
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let too_large = || OAuthError::Transient {
            reason: format!("the token endpoint answered with more than {MAX_BODY_BYTES} bytes"),
            maybe_applied: true,
        };
        if response
            .content_length()
            .is_some_and(|len| len > MAX_BODY_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) if body.len() + chunk.len() > MAX_BODY_BYTES => {
                    return Err(too_large());
                }
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => return Ok((status, headers, body)),
                // An error answer cut short still says what its status says.
                Err(_) if !status.is_success() => return Ok((status, headers, body)),
                Err(e) => return Err(transport_error(&e, redactor)),
            }
        }
    }
}

/// `{base}/oauth/tokens`, keeping a path prefix of the base URL (local servers).
fn token_url(base: &Url) -> Url {
    let mut url = base.clone();
    // Http(s) URLs always take segments; the `if let` spares an `expect`.
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().extend(["oauth", "tokens"]);
    }
    url
}

/// A failure before a complete answer arrived. Only a failure to connect proves the request
/// never reached the server.
fn transport_error(err: &reqwest::Error, redactor: &Redactor<'_>) -> OAuthError {
    let kind = if err.is_timeout() {
        "the token request timed out"
    } else if err.is_connect() {
        "could not connect to the token endpoint"
    } else if err.is_body() || err.is_decode() {
        "the token endpoint's answer was cut off"
    } else {
        "the token request failed"
    };
    let reason = super::response::with_causes(kind, err);
    OAuthError::Transient {
        reason: tidy(&reason, redactor),
        maybe_applied: !err.is_connect(),
    }
}

/// A string field, or a number written as text.
fn text_field(object: &Map<String, Value>, name: &str) -> Option<String> {
    match object.get(name)? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// A number of seconds, as a JSON number or a string; anything else counts as absent.
fn seconds_field(object: &Map<String, Value>, name: &str) -> Option<Duration> {
    match object.get(name)? {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
    .map(Duration::from_secs)
}

fn wall_deadline(wall: SystemTime, lifetime: Option<Duration>) -> Option<DateTime<Utc>> {
    lifetime
        .and_then(|lifetime| wall.checked_add(lifetime))
        .map(DateTime::<Utc>::from)
}

/// Reads a success body. Only a usable `access_token` is required: every other field is taken
/// when readable and left out when not, because a refresh that succeeded has already spent the
/// refresh token sent, and its successor must not be dropped over a malformed neighbour. For the
/// same reason `token_type` is not checked (Zendesk issues bearer tokens only).
fn parse_grant(
    body: &[u8],
    requested_at: Instant,
    wall: SystemTime,
    redactor: &Redactor<'_>,
) -> Result<Grant, OAuthError> {
    let unusable = |what: &str| OAuthError::Transient {
        reason: tidy(
            &format!("the token endpoint answered success with {what}"),
            redactor,
        ),
        maybe_applied: true,
    };
    let object = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => object,
        Ok(_) => return Err(unusable("a body that is not a JSON object")),
        Err(e) => return Err(unusable(&format!("a body that is not JSON ({e})"))),
    };
    let access_token = match object.get("access_token") {
        Some(Value::String(token)) if !token.is_empty() => SecretString::new(token.clone()),
        _ => return Err(unusable("no access_token")),
    };
    let refresh_token = match object.get("refresh_token") {
        Some(Value::String(token)) if !token.is_empty() => Some(SecretString::new(token.clone())),
        _ => None,
    };
    let expires_in = seconds_field(&object, "expires_in");
    let refresh_token_expires_in = refresh_token
        .as_ref()
        .and_then(|_| seconds_field(&object, "refresh_token_expires_in"));
    Ok(Grant {
        access_token,
        scope: text_field(&object, "scope").unwrap_or_default(),
        expires_in,
        expires_at: wall_deadline(wall, expires_in),
        refresh_token,
        refresh_token_expires_in,
        refresh_token_expires_at: wall_deadline(wall, refresh_token_expires_in),
        requested_at,
    })
}

/// The `error` code and description of an error body: RFC 6749's `{"error",
/// "error_description"}`, or the ZIS shape `{"errors":[{"code","title"}]}` a proxy or the API
/// might send. `None` when neither.
fn error_fields(body: &[u8]) -> Option<(Option<String>, Option<String>)> {
    let parsed: Value = serde_json::from_slice(body).ok()?;
    let object = parsed.as_object()?;
    let text = |value: Option<&Value>| {
        value
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(str::to_owned)
    };
    if let Some(first) = object
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return Some((text(first.get("code")), text(first.get("title"))));
    }
    let code = text(object.get("error"));
    let description = text(object.get("error_description"))
        .or_else(|| text(object.get("description")))
        .or_else(|| text(object.get("message")));
    (code.is_some() || description.is_some()).then_some((code, description))
}

/// The error for a non-success answer, by the `error` code first and the status second.
fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    max_retry_after: Duration,
    redactor: &Redactor<'_>,
) -> OAuthError {
    if status == StatusCode::TOO_MANY_REQUESTS {
        return OAuthError::RateLimited {
            retry_after: retry_after(headers, SystemTime::now())
                .unwrap_or(DEFAULT_RETRY_AFTER)
                .min(max_retry_after),
        };
    }
    let fields = error_fields(body);
    let code = fields
        .as_ref()
        .and_then(|(code, _)| code.as_deref())
        .map(|c| tidy(c, redactor));
    let description = fields
        .as_ref()
        .and_then(|(_, description)| description.as_deref())
        .map(|d| tidy(d, redactor))
        .or_else(|| {
            fields
                .is_none()
                .then(|| body_excerpt(body, redactor))
                .flatten()
        })
        .unwrap_or_else(|| {
            status
                .canonical_reason()
                .map_or_else(|| format!("HTTP {}", status.as_u16()), str::to_owned)
        });
    let transient = |description: &str| OAuthError::Transient {
        reason: format!(
            "the token endpoint answered HTTP {}: {description}",
            status.as_u16()
        ),
        maybe_applied: true,
    };
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        return transient(&description);
    }
    match code.as_deref() {
        Some("invalid_grant") => OAuthError::InvalidGrant { description },
        Some("invalid_client") => OAuthError::InvalidClient { description },
        Some("unauthorized_client") => OAuthError::UnauthorizedClient { description },
        Some("temporarily_unavailable" | "server_error") => transient(&description),
        Some(code) if status.is_client_error() => OAuthError::Invalid {
            code: code.to_owned(),
            description,
        },
        None if status == StatusCode::UNAUTHORIZED => OAuthError::InvalidClient { description },
        _ if status.is_redirection() => OAuthError::Invalid {
            code: "UnexpectedRedirect".to_owned(),
            description: format!(
                "the token endpoint answered with a redirect (HTTP {}); check the base url",
                status.as_u16()
            ),
        },
        _ if status.is_client_error() => OAuthError::Invalid {
            code: format!("Http{}", status.as_u16()),
            description,
        },
        _ => OAuthError::Transient {
            reason: format!(
                "the token endpoint answered with unexpected status {}",
                status.as_u16()
            ),
            maybe_applied: true,
        },
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderValue, RETRY_AFTER};

    use super::*;

    const SECRET: &str = "client-secret-UNIT-1";
    const REFRESH: &str = "refresh-token-UNIT-2";
    const CAP: Duration = Duration::from_secs(300);

    fn redactor() -> Redactor<'static> {
        Redactor::new([SECRET, REFRESH])
    }

    fn classify_body(status: u16, body: &str) -> OAuthError {
        classify(
            StatusCode::from_u16(status).expect("status"),
            &HeaderMap::new(),
            body.as_bytes(),
            CAP,
            &redactor(),
        )
    }

    fn oauth_error(code: &str, description: &str) -> String {
        serde_json::json!({"error": code, "error_description": description}).to_string()
    }

    fn parse(body: &str) -> Result<Grant, OAuthError> {
        parse_grant(
            body.as_bytes(),
            Instant::now(),
            SystemTime::UNIX_EPOCH,
            &redactor(),
        )
    }

    #[test]
    fn oauth_error_codes_decide_the_class_whatever_the_4xx_status() {
        assert_eq!(
            classify_body(
                400,
                &oauth_error("invalid_grant", "Token has been expired or revoked.")
            ),
            OAuthError::InvalidGrant {
                description: "Token has been expired or revoked.".to_owned()
            }
        );
        for status in [400, 401] {
            assert!(matches!(
                classify_body(status, &oauth_error("invalid_client", "bad client")),
                OAuthError::InvalidClient { .. }
            ));
        }
        assert!(matches!(
            classify_body(400, &oauth_error("unauthorized_client", "no")),
            OAuthError::UnauthorizedClient { .. }
        ));
        assert_eq!(
            classify_body(
                400,
                &oauth_error("invalid_scope", "The requested scope is invalid")
            ),
            OAuthError::Invalid {
                code: "invalid_scope".to_owned(),
                description: "The requested scope is invalid".to_owned()
            }
        );
        assert!(matches!(
            classify_body(400, &oauth_error("temporarily_unavailable", "busy")),
            OAuthError::Transient {
                maybe_applied: true,
                ..
            }
        ));
    }

    #[test]
    fn statuses_classify_bodies_without_an_oauth_code() {
        assert_eq!(
            classify_body(401, ""),
            OAuthError::InvalidClient {
                description: "Unauthorized".to_owned()
            }
        );
        assert_eq!(
            classify_body(400, "<html>bad</html>"),
            OAuthError::Invalid {
                code: "Http400".to_owned(),
                description: "<html>bad</html>".to_owned()
            }
        );
        assert!(matches!(
            classify_body(403, r#"{"errors":[{"code":"Forbidden","title":"Nope"}]}"#),
            OAuthError::Invalid { code, description } if code == "Forbidden" && description == "Nope"
        ));
        assert!(matches!(
            classify_body(302, ""),
            OAuthError::Invalid { code, .. } if code == "UnexpectedRedirect"
        ));
        for status in [500, 502, 503, 504, 408] {
            assert!(
                matches!(
                    classify_body(status, &oauth_error("invalid_grant", "even so")),
                    OAuthError::Transient {
                        maybe_applied: true,
                        ..
                    }
                ),
                "{status}"
            );
        }
    }

    #[test]
    fn a_429_waits_its_retry_after_within_the_cap() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        let classify_429 = |headers: &HeaderMap| {
            classify(
                StatusCode::TOO_MANY_REQUESTS,
                headers,
                b"",
                Duration::from_secs(5),
                &redactor(),
            )
        };
        assert_eq!(
            classify_429(&headers),
            OAuthError::RateLimited {
                retry_after: Duration::from_secs(5)
            }
        );
        assert_eq!(
            classify_429(&HeaderMap::new()),
            OAuthError::RateLimited {
                retry_after: DEFAULT_RETRY_AFTER
            }
        );
    }

    #[test]
    fn secrets_echoed_in_error_bodies_are_redacted() {
        for error in [
            classify_body(
                400,
                &oauth_error(
                    "invalid_grant",
                    &format!("refresh token {REFRESH} is spent"),
                ),
            ),
            classify_body(401, &oauth_error(&format!("bad {SECRET}"), "x")),
            classify_body(500, &format!("echo: {SECRET} {REFRESH}")),
            classify_body(418, &format!("client_secret={SECRET}")),
        ] {
            let text = format!("{error} {error:?}");
            assert!(!text.contains(SECRET) && !text.contains(REFRESH), "{text}");
        }
    }

    #[test]
    fn a_success_body_is_read_leniently_but_needs_an_access_token() {
        let grant = parse(
            r#"{"access_token":"a-1","token_type":"Bearer","scope":"read write",
                "expires_in":"1800","refresh_token":"r-2","refresh_token_expires_in":2592000,
                "extra":{"ignored":true}}"#,
        )
        .expect("a grant");
        assert_eq!(grant.access_token.expose(), "a-1");
        assert_eq!(grant.expires_in, Some(Duration::from_secs(1800)));
        assert_eq!(
            grant.expires_at,
            Some(DateTime::<Utc>::from(
                SystemTime::UNIX_EPOCH + Duration::from_secs(1800)
            ))
        );
        assert_eq!(
            grant.refresh_token.as_ref().map(SecretString::expose),
            Some("r-2")
        );
        assert_eq!(
            grant.refresh_token_expires_in,
            Some(Duration::from_secs(2_592_000))
        );
        assert!(grant.has_scope("write") && !grant.has_scope("admin"));
        assert_eq!(
            grant.access_token_deadline(),
            Some(grant.requested_at + Duration::from_secs(1800))
        );
        // Unreadable neighbours do not cost the tokens.
        let odd = parse(r#"{"access_token":"a-1","expires_in":-5,"scope":null,"refresh_token":"r-2","refresh_token_expires_in":"soon"}"#)
            .expect("a grant");
        assert_eq!(
            (
                odd.expires_in,
                odd.scope.as_str(),
                odd.refresh_token_expires_in
            ),
            (None, "", None)
        );
        assert!(odd.refresh_token.is_some());
        for bad in [
            "",
            "not json",
            "[]",
            r#"{"token_type":"bearer"}"#,
            r#"{"access_token":""}"#,
            r#"{"access_token":5}"#,
        ] {
            assert!(
                matches!(
                    parse(bad),
                    Err(OAuthError::Transient {
                        maybe_applied: true,
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn grants_and_requests_never_show_tokens() {
        let grant = parse(r#"{"access_token":"access-UNIT-3","refresh_token":"refresh-UNIT-4"}"#)
            .expect("a grant");
        let text = format!("{grant:?}");
        assert!(
            !text.contains("access-UNIT-3") && !text.contains("refresh-UNIT-4"),
            "{text}"
        );
        let secret = SecretString::new(SECRET);
        let refresh = SecretString::new(REFRESH);
        let request = TokenRequest {
            grant_type: "refresh_token",
            client_id: "zis_x",
            client_secret: &secret,
            refresh_token: Some(&refresh),
            scope: None,
            expires_in: Duration::from_secs(1800),
            refresh_token_expires_in: Some(Duration::from_secs(604_800)),
        };
        let body: Value = serde_json::from_slice(&request.body()).expect("json");
        assert_eq!(
            body,
            serde_json::json!({"grant_type": "refresh_token", "client_id": "zis_x",
                "client_secret": SECRET, "refresh_token": REFRESH, "expires_in": 1800,
                "refresh_token_expires_in": 604_800})
        );
    }

    #[test]
    fn the_token_url_sits_under_the_base_url() {
        let base = parse_base_url("https://acme.zendesk.com", false).expect("valid");
        assert_eq!(
            token_url(&base).as_str(),
            "https://acme.zendesk.com/oauth/tokens"
        );
        let prefixed = parse_base_url("http://127.0.0.1:9/zd/", true).expect("valid");
        assert_eq!(
            token_url(&prefixed).as_str(),
            "http://127.0.0.1:9/zd/oauth/tokens"
        );
        let client = OAuthClient::new(&ClientConfig::for_url("https://acme.zendesk.com", false))
            .expect("builds");
        assert_eq!(client.token_url(), "https://acme.zendesk.com/oauth/tokens");
        assert!(matches!(
            OAuthClient::new(&ClientConfig::for_url("http://127.0.0.1:9", false)),
            Err(ConfigError::HttpNotAllowed { .. })
        ));
    }

    #[test]
    fn zendesks_documented_lifetimes_are_exported() {
        assert!(ACCESS_TOKEN_LIFETIME.contains(&DEFAULT_ACCESS_TOKEN_LIFETIME));
        assert_eq!(ACCESS_TOKEN_LIFETIME.start().as_secs(), 300);
        assert_eq!(ACCESS_TOKEN_LIFETIME.end().as_secs(), 172_800);
        assert!(REFRESH_TOKEN_LIFETIME.contains(&DEFAULT_REFRESH_TOKEN_LIFETIME));
        assert_eq!(REFRESH_TOKEN_LIFETIME.start().as_secs(), 604_800);
        assert_eq!(REFRESH_TOKEN_LIFETIME.end().as_secs(), 7_776_000);
    }
}
