//! The ZIS client against the local fake ZIS server (`zis_sandbox::zis::FakeZis`): the real
//! request/answer cycle for every call and every error class, checked through the fake's admin
//! API (`/_fake/`, a test facility real ZIS never serves).

use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;
use zis_operator::secret::SecretString;
use zis_operator::zis::{
    BearerTokenUpdate, ClientConfig, IntegrationClient, NewBearerConnection, PacingConfig,
    Priority, ZisClient, ZisError,
};
use zis_sandbox::zis::{FakeZis, FakeZisConfig};

const INTEGRATION: &str = "acme_app";
const ACCESS_TOKEN: &str = "acme-access-token-0001";
const OTHER_INTEGRATION: &str = "other_app";
const OTHER_ACCESS_TOKEN: &str = "other-access-token-0002";

/// A running fake plus a plain HTTP client for its admin API.
struct Fake {
    server: FakeZis,
    admin: reqwest::Client,
}

impl Fake {
    async fn start() -> Self {
        let config = FakeZisConfig {
            integrations: vec![
                (INTEGRATION.to_owned(), ACCESS_TOKEN.to_owned()),
                (OTHER_INTEGRATION.to_owned(), OTHER_ACCESS_TOKEN.to_owned()),
            ],
            patch_allowed_domain: true,
            rate_limit_per_minute: None,
        };
        let server = FakeZis::start(config, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("fake zis starts");
        Self {
            server,
            admin: reqwest::Client::new(),
        }
    }

    fn account(&self, pacing: PacingConfig) -> ZisClient {
        ZisClient::new(
            ClientConfig::for_url(&self.server.url(), true)
                .with_timeouts(Duration::from_secs(2), Duration::from_secs(5))
                .with_pacing(pacing),
        )
        .expect("client")
    }

    /// A client for [`INTEGRATION`] with pacing far above anything these tests send.
    fn client(&self) -> IntegrationClient {
        self.account(fast_pacing())
            .integration(INTEGRATION, SecretString::new(ACCESS_TOKEN))
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

    /// The stored connection with its true secret, if present.
    async fn stored(&self, kind: &str, name: &str) -> Option<Value> {
        let all = self.admin(reqwest::Method::GET, "connections", None).await;
        all["connections"]
            .as_array()
            .expect("connections array")
            .iter()
            .find(|c| c["integration"] == INTEGRATION && c["type"] == kind && c["name"] == name)
            .cloned()
    }
}

fn fast_pacing() -> PacingConfig {
    PacingConfig {
        requests_per_minute: 60_000,
        burst: 1_000,
        max_retry_after: Duration::from_secs(5),
        ..PacingConfig::default()
    }
}

fn new_conn(name: &str, token: &str) -> NewBearerConnection {
    NewBearerConnection {
        name: name.to_owned(),
        token: SecretString::new(token),
        allowed_domain: "api.example.com".to_owned(),
    }
}

#[tokio::test]
async fn a_created_connection_can_be_read_updated_and_deleted() {
    let fake = Fake::start().await;
    let client = fake.client();

    let created = client
        .create_bearer(&new_conn("crud_conn", "first-token-AAAA"))
        .await
        .expect("created");
    assert_eq!(created.name, "crud_conn");
    assert_eq!(created.allowed_domain, "api.example.com");
    assert!(!created.created_at.is_empty() && !created.updated_at.is_empty());
    let stored = fake
        .stored("bearer_token", "crud_conn")
        .await
        .expect("stored");
    assert_eq!(stored["token"], "first-token-AAAA");

    assert_eq!(client.get_bearer("crud_conn").await, Ok(created.clone()));

    client
        .update_bearer(
            "crud_conn",
            &BearerTokenUpdate {
                token: Some(SecretString::new("second-token-BBBB")),
                allowed_domain: None,
            },
        )
        .await
        .expect("token updated");
    let stored = fake
        .stored("bearer_token", "crud_conn")
        .await
        .expect("stored");
    assert_eq!(stored["token"], "second-token-BBBB");
    assert_eq!(stored["allowed_domain"], "api.example.com");

    client
        .update_bearer(
            "crud_conn",
            &BearerTokenUpdate {
                token: None,
                allowed_domain: Some("api2.example.com".to_owned()),
            },
        )
        .await
        .expect("domain updated");
    let shown = client.get_bearer("crud_conn").await.expect("shown");
    assert_eq!(shown.allowed_domain, "api2.example.com");
    assert_eq!(shown.created_at, created.created_at);

    assert_eq!(client.delete_bearer("crud_conn").await, Ok(()));
    assert!(fake.stored("bearer_token", "crud_conn").await.is_none());
    assert_eq!(
        client.get_bearer("crud_conn").await,
        Err(ZisError::NotFound)
    );
    assert_eq!(
        client.delete_bearer("crud_conn").await,
        Err(ZisError::NotFound)
    );
    assert_eq!(
        client
            .update_bearer(
                "crud_conn",
                &BearerTokenUpdate {
                    token: Some(SecretString::new("third-token-CCCC")),
                    allowed_domain: None,
                },
            )
            .await,
        Err(ZisError::NotFound)
    );
    fake.server.shutdown().await;
}

#[tokio::test]
async fn a_taken_name_is_a_conflict_even_when_another_type_holds_it() {
    let fake = Fake::start().await;
    let client = fake.client();
    client
        .create_bearer(&new_conn("taken", "token-one-1111"))
        .await
        .expect("created");
    assert_eq!(
        client
            .create_bearer(&new_conn("taken", "token-two-2222"))
            .await,
        Err(ZisError::Conflict)
    );

    fake.admin(
        reqwest::Method::POST,
        "connections",
        Some(
            json!({"integration": INTEGRATION, "type": "api_key", "name": "keyed",
            "allowed_domain": "api.example.com", "api_key": "k-123", "header_name": "x-api-key"}),
        ),
    )
    .await;
    assert_eq!(
        client
            .create_bearer(&new_conn("keyed", "token-three-3333"))
            .await,
        Err(ZisError::Conflict)
    );
    assert_eq!(client.get_bearer("keyed").await, Err(ZisError::NotFound));
    fake.server.shutdown().await;
}

#[tokio::test]
async fn bad_credentials_are_unauthorized_or_forbidden() {
    let fake = Fake::start().await;
    let account = fake.account(fast_pacing());

    let unknown = account.integration(INTEGRATION, SecretString::new("no-such-token-9999"));
    assert_eq!(
        unknown.get_bearer("anything").await,
        Err(ZisError::Unauthorized)
    );

    // A token of another integration is refused.
    let foreign = account.integration(INTEGRATION, SecretString::new(OTHER_ACCESS_TOKEN));
    let refused = foreign.get_bearer("anything").await;
    assert!(
        matches!(
            refused,
            Err(ZisError::Unauthorized | ZisError::Forbidden { .. })
        ),
        "{refused:?}"
    );

    fake.admin(
        reqwest::Method::POST,
        "access-tokens",
        Some(
            json!({"integration": INTEGRATION, "token": "read-only-token-7777",
            "scopes": ["read"], "ttl_seconds": null}),
        ),
    )
    .await;
    let read_only = account.integration(INTEGRATION, SecretString::new("read-only-token-7777"));
    assert!(matches!(
        read_only
            .create_bearer(&new_conn("ro_conn", "token-ro-4444"))
            .await,
        Err(ZisError::Forbidden { .. })
    ));
    assert_eq!(
        read_only.get_bearer("ro_conn").await,
        Err(ZisError::NotFound)
    );

    fake.admin(
        reqwest::Method::POST,
        "access-tokens",
        Some(
            json!({"integration": INTEGRATION, "token": "expired-token-8888",
            "scopes": ["read", "write"], "ttl_seconds": 0}),
        ),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let expired = account.integration(INTEGRATION, SecretString::new("expired-token-8888"));
    assert_eq!(
        expired.get_bearer("anything").await,
        Err(ZisError::Unauthorized)
    );
    fake.server.shutdown().await;
}

#[tokio::test]
async fn requests_zis_rejects_are_invalid_with_its_code_and_title() {
    let fake = Fake::start().await;
    let client = fake.client();
    for bad in [
        new_conn("ab", "token-short-5555"),
        new_conn("has space", "token-space-5555"),
        new_conn("zendesk", "token-reserved-5555"),
        NewBearerConnection {
            allowed_domain: "https://api.example.com/path".to_owned(),
            ..new_conn("bad_domain", "token-domain-5555")
        },
        new_conn("empty_token", ""),
    ] {
        match client.create_bearer(&bad).await {
            Err(ZisError::Invalid { code, title }) => {
                assert!(!code.is_empty() && !title.is_empty(), "{code} {title}");
            }
            other => panic!("{:?}: {other:?}", bad.name),
        }
    }
    fake.server.shutdown().await;
}

#[tokio::test]
async fn server_failures_and_dropped_connections_are_transient() {
    let fake = Fake::start().await;
    let client = fake.client();
    client
        .create_bearer(&new_conn("flaky", "token-flaky-6666"))
        .await
        .expect("created");
    for status in [500, 502, 503] {
        fake.admin(
            reqwest::Method::POST,
            "faults",
            Some(
                json!({"method": "GET", "path_contains": "bearer_token/flaky",
                "status": status, "count": 1}),
            ),
        )
        .await;
        let result = client.get_bearer("flaky").await;
        assert!(
            matches!(&result, Err(ZisError::Transient { reason }) if reason.contains(&status.to_string())),
            "{status}: {result:?}"
        );
    }
    assert!(client.get_bearer("flaky").await.is_ok());

    fake.admin(
        reqwest::Method::PUT,
        "settings",
        Some(json!({"drop_rate": 1.0})),
    )
    .await;
    assert!(matches!(
        client.get_bearer("flaky").await,
        Err(ZisError::Transient { .. })
    ));
    fake.server.shutdown().await;
}

#[tokio::test]
async fn a_connection_changed_or_removed_behind_the_clients_back_is_seen() {
    let fake = Fake::start().await;
    let client = fake.client();
    client
        .create_bearer(&new_conn("behind", "token-behind-1212"))
        .await
        .expect("created");
    fake.admin(
        reqwest::Method::PATCH,
        &format!("connections/{INTEGRATION}/bearer_token/behind"),
        Some(json!({"allowed_domain": "moved.example.com"})),
    )
    .await;
    assert_eq!(
        client.get_bearer("behind").await.map(|c| c.allowed_domain),
        Ok("moved.example.com".to_owned())
    );
    fake.admin(
        reqwest::Method::DELETE,
        &format!("connections/{INTEGRATION}/bearer_token/behind"),
        None,
    )
    .await;
    assert_eq!(client.get_bearer("behind").await, Err(ZisError::NotFound));
    fake.server.shutdown().await;
}

#[tokio::test]
async fn listing_follows_every_page_and_reports_every_type() {
    let fake = Fake::start().await;
    for i in 0..230 {
        fake.admin(
            reqwest::Method::POST,
            "connections",
            Some(json!({"integration": INTEGRATION, "type": "bearer_token",
                "name": format!("bulk_{i:03}"), "allowed_domain": "api.example.com",
                "token": format!("bulk-token-{i}")})),
        )
        .await;
    }
    fake.admin(
        reqwest::Method::POST,
        "connections",
        Some(
            json!({"integration": INTEGRATION, "type": "basic_auth", "name": "basic_one",
            "allowed_domain": "api.example.com", "username": "u", "password": "p-secret"}),
        ),
    )
    .await;
    fake.admin(
        reqwest::Method::POST,
        "connections",
        Some(
            json!({"integration": OTHER_INTEGRATION, "type": "bearer_token", "name": "not_mine",
            "allowed_domain": "api.example.com", "token": "t-other"}),
        ),
    )
    .await;

    let list = fake.client().list_connections().await.expect("listed");
    let bearer: Vec<_> = list
        .connections
        .iter()
        .filter(|c| c.kind == "bearer_token")
        .collect();
    assert_eq!(bearer.len(), 230);
    let mut names: Vec<_> = bearer.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 230, "no connection listed twice");
    assert!(
        list.connections
            .iter()
            .any(|c| c.kind == "basic_auth" && c.name == "basic_one")
    );
    assert!(list.connections.iter().all(|c| c.name != "not_mine"));

    let requests = fake.admin(reqwest::Method::GET, "requests", None).await;
    let pages: u64 = requests["requests"]
        .as_array()
        .expect("requests array")
        .iter()
        .filter(|r| r["endpoint"] == "all")
        .filter_map(|r| r["count"].as_u64())
        .sum();
    assert!(
        pages >= 3,
        "231 connections need at least 3 pages of 100, saw {pages}"
    );
    fake.server.shutdown().await;
}

#[tokio::test]
async fn a_rate_limited_account_pauses_for_the_retry_after_it_was_given() {
    let fake = Fake::start().await;
    // Other apps used the account's window up: the next request gets a 429. (With a rate limit
    // set, the fake's X-Rate-Limit-Remaining would slow the client down before any 429.)
    fake.admin(
        reqwest::Method::POST,
        "faults",
        Some(json!({"status": 429, "retry_after": 5, "count": 1})),
    )
    .await;
    // Pauses capped at 2 s for speed.
    let account = fake.account(PacingConfig {
        requests_per_minute: 60_000,
        burst: 100,
        max_retry_after: Duration::from_secs(2),
        ..PacingConfig::default()
    });
    let client = account.integration(INTEGRATION, SecretString::new(ACCESS_TOKEN));
    let limited = match client.get_bearer("none").await {
        Err(ZisError::RateLimited { retry_after }) => Some((retry_after, Instant::now())),
        _ => None,
    };
    let (retry_after, at) = limited.expect("the fault answers 429");
    assert!(
        retry_after > Duration::ZERO && retry_after <= Duration::from_secs(2),
        "{retry_after:?}"
    );
    assert!(account.paused_until().is_some());

    // Another integration of the same account waits out the same pause, in either class.
    let other = account.integration(OTHER_INTEGRATION, SecretString::new(OTHER_ACCESS_TOKEN));
    let (urgent, background) = tokio::join!(
        async {
            let _ = other.get_bearer("none").await;
            at.elapsed()
        },
        async {
            let _ = client.list_bearer_page(None).await;
            at.elapsed()
        }
    );
    for waited in [urgent, background] {
        assert!(
            waited + Duration::from_millis(50) >= retry_after,
            "sent after {waited:?}, asked to wait {retry_after:?}"
        );
    }
    fake.server.shutdown().await;
}

/// Seeds `count` bearer-token connections of [`INTEGRATION`] (`page_000`, `page_001`, ...).
async fn seed_bearer(fake: &Fake, count: usize) {
    for i in 0..count {
        fake.admin(
            reqwest::Method::POST,
            "connections",
            Some(json!({"integration": INTEGRATION, "type": "bearer_token",
                "name": format!("page_{i:03}"), "allowed_domain": "api.example.com",
                "token": format!("page-token-SECRET-{i:03}")})),
        )
        .await;
    }
}

/// How many `GET all` requests the fake answered.
async fn list_requests(fake: &Fake) -> u64 {
    let requests = fake.admin(reqwest::Method::GET, "requests", None).await;
    requests["requests"]
        .as_array()
        .expect("requests array")
        .iter()
        .filter(|r| r["endpoint"] == "all")
        .filter_map(|r| r["count"].as_u64())
        .sum()
}

#[tokio::test]
async fn bearer_connections_are_listed_page_by_page_with_their_cursors() {
    let fake = Fake::start().await;
    seed_bearer(&fake, 250).await;
    fake.admin(
        reqwest::Method::POST,
        "connections",
        Some(
            json!({"integration": INTEGRATION, "type": "api_key", "name": "page_key",
            "allowed_domain": "api.example.com", "api_key": "k-secret", "header_name": "x-api-key"}),
        ),
    )
    .await;
    let client = fake.client();
    let mut names = Vec::new();
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = client
            .list_bearer_page(cursor.as_deref())
            .await
            .expect("page");
        let shown = format!("{page:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        for connection in &page.connections {
            assert_eq!(connection.allowed_domain, "api.example.com");
            assert!(!connection.created_at.is_empty() && !connection.updated_at.is_empty());
            names.push(connection.name.clone());
        }
        pages.push(page.connections.len());
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(pages.len() < 10, "the listing does not end");
    }
    // 251 connections in pages of 100; the api_key one is not a bearer-token connection.
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert_eq!(list_requests(&fake).await, 3);
    let expected: Vec<String> = (0..250).map(|i| format!("page_{i:03}")).collect();
    assert_eq!(names, expected, "every name once, in ZIS's order");
    fake.server.shutdown().await;
}

#[tokio::test]
async fn urgent_calls_overtake_a_background_listing_waiting_for_the_same_account() {
    let fake = Fake::start().await;
    seed_bearer(&fake, 3).await;
    // Two a second, no burst beyond one: every call below waits for its token.
    let account = fake.account(PacingConfig {
        requests_per_minute: 120,
        burst: 1,
        ..PacingConfig::default()
    });
    let urgent = account.integration(INTEGRATION, SecretString::new(ACCESS_TOKEN));
    let background = urgent.background();
    assert_eq!(urgent.priority(), Priority::Urgent);
    assert_eq!(background.priority(), Priority::Background);
    urgent
        .get_bearer("page_000")
        .await
        .expect("drains the bucket");

    let start = Instant::now();
    let listing = {
        let background = background.clone();
        tokio::spawn(async move {
            // A background handle's ordinary calls are background requests too.
            background
                .get_bearer("page_001")
                .await
                .expect("background get");
            background.list_bearer_page(None).await.expect("page");
            start.elapsed()
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut urgent_done = Vec::new();
    for name in ["page_000", "page_001", "page_002"] {
        urgent.get_bearer(name).await.expect("urgent get");
        urgent_done.push(start.elapsed());
    }
    let listed = listing.await.expect("task");
    // Three urgent calls at 0.5 s, 1 s and 1.5 s; the background ones only after them.
    assert!(
        urgent_done[2] < Duration::from_millis(1_800),
        "{urgent_done:?}"
    );
    assert!(listed > urgent_done[2], "{listed:?} {urgent_done:?}");
    fake.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_slows_down_before_other_apps_are_left_without_requests_and_gets_no_429() {
    let fake = Fake::start().await;
    seed_bearer(&fake, 1).await;
    // 100 a minute for the account, of which other apps send 20 (one every 3 s).
    fake.admin(
        reqwest::Method::PUT,
        "settings",
        Some(json!({"rate_limit_per_minute": 100, "other_apps_per_minute": 20})),
    )
    .await;
    // A budget far above the account's limit: only X-Rate-Limit-Remaining keeps the client in.
    let account = fake.account(PacingConfig {
        requests_per_minute: 1_200,
        burst: 10,
        max_retry_after: Duration::from_secs(60),
        ..PacingConfig::default()
    });
    let client = account.integration(INTEGRATION, SecretString::new(ACCESS_TOKEN));
    let start = Instant::now();
    let mut sent = Vec::new();
    let mut low_at = None;
    while start.elapsed() < Duration::from_secs(14) {
        let call = tokio::time::timeout(
            Duration::from_secs(14).saturating_sub(start.elapsed()),
            client.get_bearer("page_000"),
        );
        let Ok(result) = call.await else { break };
        result.expect("no 429, no failure");
        sent.push(start.elapsed());
        if low_at.is_none() && account.remaining_is_low() {
            low_at = Some(sent.len());
            // Background work stops while the account's remaining requests are low.
            let listing =
                tokio::time::timeout(Duration::from_secs(2), client.list_bearer_page(None)).await;
            assert!(listing.is_err(), "a background request went while low");
        }
    }
    let low_at = low_at.expect("the client saw the reserve reached");
    let requests = fake.admin(reqwest::Method::GET, "requests", None).await;
    let answered_429: u64 = requests["requests"]
        .as_array()
        .expect("requests array")
        .iter()
        .filter(|r| r["status"] == 429)
        .filter_map(|r| r["count"].as_u64())
        .sum();
    println!(
        "{} requests in 14 s, the reserve reached at request {low_at}; other apps: {}",
        sent.len(),
        requests["other_apps"]
    );
    assert_eq!(answered_429, 0, "{requests}");
    assert_eq!(requests["other_apps"]["refused"], 0, "{requests}");
    assert!(requests["other_apps"]["accepted"].as_u64() >= Some(4));
    // Without the slowdown the budget (20 a second) would have sent hundreds; with it, the
    // client stays within the window (100, less the other apps' and the reserve's share) ...
    assert!(sent.len() <= 95, "{} requests", sent.len());
    // ... and once low, requests are seconds apart.
    let after_low = &sent[low_at..];
    assert!(
        after_low
            .windows(2)
            .all(|pair| pair[1] - pair[0] >= Duration::from_secs(3)),
        "{after_low:?}"
    );
    fake.server.shutdown().await;
}
