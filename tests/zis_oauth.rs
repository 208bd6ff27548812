//! The OAuth client (`zis::oauth`) against the local ZIS server's token endpoint: rotation, the
//! access token on the Connections API through the ZIS client, every refusal class, expiry,
//! faults, the permission to send and the observer. Grants are issued and revoked through the
//! fake's admin API (`/_fake/`, a test facility real ZIS never serves).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use zis_operator::secret::SecretString;
use zis_operator::zis::oauth::{Grant, OAuthClient, OAuthError};
use zis_operator::zis::{
    ClientConfig, NewBearerConnection, PacingConfig, RequestObserver, RequestOutcome,
    RequestRecord, ZisClient, ZisError,
};
use zis_sandbox::zis::{
    FakeZis, FakeZisConfig, FakeZisOptions, OAuthClientConfig, RefreshTokenConfig,
};

const INTEGRATION: &str = "acme_app";
const CLIENT_ID: &str = "zis_acme_app";
const CLIENT_SECRET: &str = "client-secret-TEST-0001";
const MACHINE_ID: &str = "zis_acme_machine";
const MACHINE_SECRET: &str = "client-secret-TEST-0002";
const START_REFRESH: &str = "refresh-token-TEST-0003";
const HALF_HOUR: Duration = Duration::from_secs(1800);
const THIRTY_DAYS: Duration = Duration::from_secs(30 * 24 * 3600);

struct Fake {
    server: FakeZis,
    admin: reqwest::Client,
}

impl Fake {
    async fn start() -> Self {
        let mut machine = OAuthClientConfig::new(INTEGRATION, MACHINE_ID, MACHINE_SECRET);
        machine.allow_client_credentials = true;
        let options = FakeZisOptions {
            oauth_clients: vec![
                OAuthClientConfig::new(INTEGRATION, CLIENT_ID, CLIENT_SECRET),
                machine,
            ],
            refresh_tokens: vec![RefreshTokenConfig::new(CLIENT_ID, START_REFRESH)],
            ..FakeZisOptions::default()
        };
        let server = FakeZis::start_with(
            FakeZisConfig::default(),
            options,
            "127.0.0.1:0".parse().expect("addr"),
        )
        .await
        .expect("fake zis starts");
        Self {
            server,
            admin: reqwest::Client::new(),
        }
    }

    fn config(&self) -> ClientConfig {
        ClientConfig::for_url(&self.server.url(), true)
            .with_timeouts(Duration::from_secs(2), Duration::from_secs(5))
            .with_pacing(PacingConfig {
                requests_per_minute: 60_000,
                burst: 1000,
                ..PacingConfig::default()
            })
    }

    fn oauth(&self) -> OAuthClient {
        OAuthClient::new(&self.config()).expect("oauth client")
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .admin
            .request(method, format!("{}/_fake/{path}", self.server.url()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("admin call");
        assert!(
            response.status().is_success(),
            "admin {path}: {}",
            response.status()
        );
        let text = response.text().await.expect("admin body");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// A bearer connection created with `access_token`, through the ZIS client.
    async fn create_with(&self, access_token: &SecretString, name: &str) -> Result<(), ZisError> {
        ZisClient::new(self.config())
            .expect("zis client")
            .integration(INTEGRATION, access_token.clone())
            .create_bearer(&NewBearerConnection {
                name: name.to_owned(),
                token: SecretString::new("connection-token"),
                allowed_domain: "api.example.com".to_owned(),
            })
            .await
            .map(drop)
    }
}

async fn refresh(oauth: &OAuthClient, refresh_token: &str) -> Result<Grant, OAuthError> {
    oauth
        .refresh(
            CLIENT_ID,
            &SecretString::new(CLIENT_SECRET),
            &SecretString::new(refresh_token),
            HALF_HOUR,
            THIRTY_DAYS,
        )
        .await
}

fn next_refresh(grant: &Grant) -> String {
    grant
        .refresh_token
        .as_ref()
        .expect("a rotated refresh token")
        .expose()
        .to_owned()
}

#[tokio::test]
async fn a_refresh_grants_an_access_token_the_zis_client_can_use_and_a_new_refresh_token() {
    let fake = Fake::start().await;
    let before = Utc::now();
    let grant = refresh(&fake.oauth(), START_REFRESH)
        .await
        .expect("refreshed");
    assert_ne!(next_refresh(&grant), START_REFRESH);
    assert_eq!(grant.scope, "read write");
    assert!(grant.has_scope("write"));
    assert_eq!(grant.expires_in, Some(HALF_HOUR));
    assert_eq!(grant.refresh_token_expires_in, Some(THIRTY_DAYS));
    let expires_at = grant.expires_at.expect("an expiry");
    assert!(expires_at >= before + HALF_HOUR && expires_at <= Utc::now() + HALF_HOUR);
    assert!(grant.refresh_token_expires_at.expect("an expiry") >= before + THIRTY_DAYS);
    assert_eq!(
        grant.access_token_deadline(),
        Some(grant.requested_at + HALF_HOUR)
    );
    fake.create_with(&grant.access_token, "via-oauth")
        .await
        .expect("the access token opens the connections api");
    // What was asked for is what the fake recorded.
    let tokens = fake.admin(reqwest::Method::GET, "oauth/tokens", None).await;
    let lifetimes: Vec<(String, String, u64)> = tokens["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .map(|t| {
            (
                t["kind"].as_str().unwrap_or("").to_owned(),
                t["state"].as_str().unwrap_or("").to_owned(),
                t["lifetime_seconds"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        lifetimes,
        [
            ("refresh_token".to_owned(), "used".to_owned(), 2_592_000),
            ("access_token".to_owned(), "active".to_owned(), 1800),
            ("refresh_token".to_owned(), "active".to_owned(), 2_592_000),
        ]
    );
}

#[tokio::test]
async fn a_refresh_token_is_single_use_and_its_reuse_needs_a_person() {
    let fake = Fake::start().await;
    let oauth = fake.oauth();
    let first = refresh(&oauth, START_REFRESH).await.expect("refreshed");
    let reused = refresh(&oauth, START_REFRESH).await.expect_err("spent");
    assert!(
        matches!(&reused, OAuthError::InvalidGrant { description }
            if description == "The refresh token has already been used"),
        "{reused:?}"
    );
    assert!(reused.needs_reauthorization());
    assert!(!reused.is_retryable());
    let second = refresh(&oauth, &next_refresh(&first))
        .await
        .expect("the rotated token works");
    // The previous access token was deleted by the refresh; the new one works.
    assert_eq!(
        fake.create_with(&first.access_token, "old").await,
        Err(ZisError::Unauthorized)
    );
    fake.create_with(&second.access_token, "new")
        .await
        .expect("new access token");
}

#[tokio::test]
async fn expired_and_revoked_refresh_tokens_are_invalid_grant() {
    let fake = Fake::start().await;
    let oauth = fake.oauth();
    let short = fake
        .admin(
            reqwest::Method::POST,
            "oauth/grants",
            Some(json!({"client_id": CLIENT_ID, "refresh_token_expires_in": 60})),
        )
        .await;
    fake.admin(
        reqwest::Method::POST,
        "clock",
        Some(json!({"advance_seconds": 61})),
    )
    .await;
    let expired = refresh(&oauth, short["refresh_token"].as_str().expect("token"))
        .await
        .expect_err("expired");
    assert!(
        matches!(&expired, OAuthError::InvalidGrant { description }
            if description == "The refresh token has expired"),
        "{expired:?}"
    );
    fake.admin(
        reqwest::Method::DELETE,
        "oauth/grants",
        Some(json!({"refresh_token": START_REFRESH})),
    )
    .await;
    let revoked = refresh(&oauth, START_REFRESH).await.expect_err("revoked");
    assert!(revoked.needs_reauthorization(), "{revoked:?}");
    // The message tells a person what to do, and carries no secret.
    let text = format!("{revoked} {revoked:?}");
    assert!(text.contains("authorize the app again"), "{text}");
    for secret in [START_REFRESH, CLIENT_SECRET] {
        assert!(!text.contains(secret), "{text}");
    }
}

#[tokio::test]
async fn wrong_client_credentials_are_invalid_client_and_leave_the_refresh_token_usable() {
    let fake = Fake::start().await;
    let oauth = fake.oauth();
    let wrong = oauth
        .refresh(
            CLIENT_ID,
            &SecretString::new("wrong-secret-TEST-9999"),
            &SecretString::new(START_REFRESH),
            HALF_HOUR,
            THIRTY_DAYS,
        )
        .await
        .expect_err("refused");
    assert!(
        matches!(wrong, OAuthError::InvalidClient { .. }),
        "{wrong:?}"
    );
    assert!(!format!("{wrong} {wrong:?}").contains("wrong-secret-TEST-9999"));
    refresh(&oauth, START_REFRESH)
        .await
        .expect("the refresh token was not spent");
}

#[tokio::test]
async fn client_credentials_work_only_for_clients_that_allow_them() {
    let fake = Fake::start().await;
    let oauth = fake.oauth();
    let refused = oauth
        .client_credentials(
            CLIENT_ID,
            &SecretString::new(CLIENT_SECRET),
            "read write",
            HALF_HOUR,
        )
        .await
        .expect_err("not allowed");
    assert!(
        matches!(refused, OAuthError::UnauthorizedClient { .. }),
        "{refused:?}"
    );
    let grant = oauth
        .client_credentials(
            MACHINE_ID,
            &SecretString::new(MACHINE_SECRET),
            "read write",
            Duration::from_secs(300),
        )
        .await
        .expect("granted");
    assert_eq!(grant.refresh_token, None);
    assert_eq!(grant.refresh_token_expires_at, None);
    assert_eq!(grant.expires_in, Some(Duration::from_secs(300)));
    fake.create_with(&grant.access_token, "machine")
        .await
        .expect("client-credentials token opens the api");
    let scoped = oauth
        .client_credentials(
            MACHINE_ID,
            &SecretString::new(MACHINE_SECRET),
            "read tickets:write",
            HALF_HOUR,
        )
        .await
        .expect_err("unknown scope");
    assert!(
        matches!(&scoped, OAuthError::Invalid { code, .. } if code == "invalid_scope"),
        "{scoped:?}"
    );
}

#[tokio::test]
async fn lifetimes_outside_zendesks_bounds_are_invalid_requests() {
    let fake = Fake::start().await;
    let error = fake
        .oauth()
        .refresh(
            CLIENT_ID,
            &SecretString::new(CLIENT_SECRET),
            &SecretString::new(START_REFRESH),
            Duration::from_secs(60),
            THIRTY_DAYS,
        )
        .await
        .expect_err("too short");
    assert!(
        matches!(&error, OAuthError::Invalid { code, .. } if code == "invalid_request"),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_access_token_past_its_lifetime_is_refused_by_the_connections_api() {
    let fake = Fake::start().await;
    fake.admin(
        reqwest::Method::PATCH,
        "settings",
        Some(json!({"oauth_max_expires_in": 1})),
    )
    .await;
    let grant = refresh(&fake.oauth(), START_REFRESH)
        .await
        .expect("refreshed");
    // The server granted less than asked; the grant says what was granted.
    assert_eq!(grant.expires_in, Some(Duration::from_secs(1)));
    fake.create_with(&grant.access_token, "in-time")
        .await
        .expect("fresh token");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        fake.create_with(&grant.access_token, "too-late").await,
        Err(ZisError::Unauthorized)
    );
    refresh(&fake.oauth(), &next_refresh(&grant))
        .await
        .expect("the refresh token outlives it");
}

#[tokio::test]
async fn a_5xx_is_transient_and_may_have_been_applied() {
    let fake = Fake::start().await;
    fake.admin(
        reqwest::Method::POST,
        "faults",
        Some(json!({"path_contains": "/oauth/tokens", "status": 503})),
    )
    .await;
    let error = refresh(&fake.oauth(), START_REFRESH)
        .await
        .expect_err("503");
    assert!(
        matches!(&error, OAuthError::Transient { maybe_applied: true, reason }
            if reason.contains("503")),
        "{error:?}"
    );
    assert!(error.is_retryable());
    // The fake's fault took no effect, so the same token still works.
    refresh(&fake.oauth(), START_REFRESH)
        .await
        .expect("retry after the 503");
}

#[tokio::test]
async fn a_429_says_how_long_to_wait() {
    let fake = Fake::start().await;
    fake.admin(
        reqwest::Method::POST,
        "faults",
        Some(json!({"path_contains": "/oauth/", "status": 429, "retry_after": 7})),
    )
    .await;
    assert_eq!(
        refresh(&fake.oauth(), START_REFRESH).await,
        Err(OAuthError::RateLimited {
            retry_after: Duration::from_secs(7)
        })
    );
}

#[tokio::test]
async fn a_dropped_connection_after_the_refresh_may_have_spent_the_token() {
    let fake = Fake::start().await;
    fake.admin(
        reqwest::Method::PUT,
        "settings",
        Some(json!({"drop_rate": 1.0})),
    )
    .await;
    let error = refresh(&fake.oauth(), START_REFRESH)
        .await
        .expect_err("dropped");
    assert!(
        matches!(
            error,
            OAuthError::Transient {
                maybe_applied: true,
                ..
            }
        ),
        "{error:?}"
    );
    fake.admin(
        reqwest::Method::PUT,
        "settings",
        Some(json!({"drop_rate": 0.0})),
    )
    .await;
    // It was: the answer is lost with the new refresh token, and the old one is spent.
    assert!(
        refresh(&fake.oauth(), START_REFRESH)
            .await
            .expect_err("spent")
            .needs_reauthorization()
    );
}

#[tokio::test]
async fn nothing_is_sent_without_permission_to_send() {
    let fake = Fake::start().await;
    let oauth = OAuthClient::new(&fake.config().with_permit(Arc::new(|| false))).expect("client");
    assert_eq!(
        refresh(&oauth, START_REFRESH).await,
        Err(OAuthError::NotPermitted)
    );
    let counters = fake.admin(reqwest::Method::GET, "requests", None).await;
    assert_eq!(counters["total"], 0);
}

#[tokio::test]
async fn a_server_that_does_not_listen_is_transient_and_not_applied() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let oauth = OAuthClient::new(
        &ClientConfig::for_url(&url, true)
            .with_timeouts(Duration::from_secs(2), Duration::from_secs(2)),
    )
    .expect("client");
    let error = refresh(&oauth, START_REFRESH)
        .await
        .expect_err("nobody there");
    assert!(
        matches!(
            error,
            OAuthError::Transient {
                maybe_applied: false,
                ..
            }
        ),
        "{error:?}"
    );
}

/// Method, endpoint, status, outcome.
type Seen = (String, &'static str, Option<u16>, RequestOutcome);

/// Keeps what it is told.
#[derive(Default)]
struct Recorder(Mutex<Vec<Seen>>);

impl RequestObserver for Recorder {
    fn observe(&self, request: &RequestRecord<'_>) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push((
            request.method.to_owned(),
            request.endpoint,
            request.status,
            request.outcome,
        ));
    }
}

#[tokio::test]
async fn the_observer_sees_token_requests_by_endpoint_template_and_outcome() {
    let fake = Fake::start().await;
    let recorder = Arc::new(Recorder::default());
    let oauth = OAuthClient::new(&fake.config().with_observer(recorder.clone())).expect("client");
    let grant = refresh(&oauth, START_REFRESH).await.expect("refreshed");
    let _ = refresh(&oauth, START_REFRESH).await;
    drop(grant);
    let seen = recorder.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(
        seen,
        [
            (
                "POST".to_owned(),
                "oauth/tokens",
                Some(200),
                RequestOutcome::Success
            ),
            (
                "POST".to_owned(),
                "oauth/tokens",
                Some(400),
                RequestOutcome::Unauthorized
            ),
        ]
    );
}
