//! OAuth in the fake, in process: `POST /oauth/tokens` (refresh-token rotation, single use,
//! `invalid_grant` on reuse, expiry and revocation, `invalid_client`, `unauthorized_client`,
//! client credentials, lifetimes and their bounds), access tokens that expire on the
//! Connections API, and the OAuth admin API (clients, grants, token listings, the clock, reset).

use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use zis_sandbox::zis::{
    FakeZis, FakeZisConfig, FakeZisOptions, OAuthClientConfig, RefreshTokenConfig,
};

const INTEGRATION: &str = "my_integration";
const CLIENT_ID: &str = "zis_my_integration";
const CLIENT_SECRET: &str = "client-secret-0001";
const CC_CLIENT_ID: &str = "zis_machine";
const CC_CLIENT_SECRET: &str = "client-secret-0002";
/// A refresh token that exists from the start.
const START_REFRESH: &str = "start-refresh-token-0003";

struct Fake {
    server: FakeZis,
    http: Client,
}

/// An answer: status, headers, JSON body (`Null` when empty).
struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }

    fn text(&self, field: &str) -> String {
        self.body[field]
            .as_str()
            .unwrap_or_else(|| panic!("no {field} in the answer"))
            .to_owned()
    }
}

impl Fake {
    async fn start() -> Fake {
        let mut machine = OAuthClientConfig::new(INTEGRATION, CC_CLIENT_ID, CC_CLIENT_SECRET);
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
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .expect("fake starts");
        Fake {
            server,
            http: Client::new(),
        }
    }

    async fn answer(response: reqwest::Response) -> Answer {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("JSON body")
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    /// `POST /oauth/tokens` with a JSON body.
    async fn token(&self, body: Value) -> Answer {
        let response = self
            .http
            .post(format!("{}/oauth/tokens", self.server.url()))
            .json(&body)
            .send()
            .await
            .expect("token endpoint answers");
        Fake::answer(response).await
    }

    /// `POST /oauth/tokens` form-encoded, as RFC 6749 writes it.
    async fn token_form(&self, body: &str) -> Answer {
        let response = self
            .http
            .post(format!("{}/oauth/tokens", self.server.url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
            .await
            .expect("token endpoint answers");
        Fake::answer(response).await
    }

    async fn refresh(&self, refresh_token: &str) -> Answer {
        self.token(
            json!({"grant_type": "refresh_token", "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "refresh_token": refresh_token}),
        )
        .await
    }

    /// Creates a bearer-token connection with `access_token`; the status.
    async fn create(&self, access_token: &str, name: &str) -> Answer {
        let response = self
            .http
            .post(format!(
                "{}/api/services/zis/integrations/{INTEGRATION}/connections/bearer_token",
                self.server.url()
            ))
            .bearer_auth(access_token)
            .json(&json!({"name": name, "token": "t", "allowed_domain": "api.example.com"}))
            .send()
            .await
            .expect("answer");
        Fake::answer(response).await
    }

    async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        let mut request = self.http.request(
            method.parse().unwrap(),
            format!("{}/_fake/{path}", self.server.url()),
        );
        if let Some(body) = body {
            request = request.json(&body);
        }
        Fake::answer(request.send().await.expect("admin answers")).await
    }

    /// A new grant for [`CLIENT_ID`] through the admin API.
    async fn issue(&self, body: Value) -> Answer {
        let mut body = body;
        body["client_id"] = json!(CLIENT_ID);
        let answer = self.admin("POST", "oauth/grants", Some(body)).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        answer
    }

    async fn advance(&self, seconds: u64) {
        let answer = self
            .admin("POST", "clock", Some(json!({"advance_seconds": seconds})))
            .await;
        assert_eq!(answer.status, StatusCode::OK);
    }

    async fn tokens(&self, query: &str) -> Vec<Value> {
        let answer = self
            .admin("GET", &format!("oauth/tokens{query}"), None)
            .await;
        answer.body["tokens"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

#[tokio::test]
async fn a_refresh_answers_zendesks_token_shape_and_the_access_token_opens_the_connections_api() {
    let fake = Fake::start().await;
    let answer = fake.refresh(START_REFRESH).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let mut keys: Vec<&str> = answer
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "access_token",
            "expires_in",
            "refresh_token",
            "refresh_token_expires_in",
            "scope",
            "token_type"
        ]
    );
    assert_eq!(answer.body["token_type"], "bearer");
    assert_eq!(answer.body["scope"], "read write");
    assert_eq!(answer.body["expires_in"], 1800);
    assert_eq!(answer.body["refresh_token_expires_in"], 2_592_000);
    assert_eq!(answer.headers["cache-control"], "no-store");
    assert_ne!(answer.text("refresh_token"), START_REFRESH);
    let created = fake.create(&answer.text("access_token"), "via-oauth").await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
}

#[tokio::test]
async fn a_refresh_token_works_once_and_its_reuse_is_invalid_grant() {
    let fake = Fake::start().await;
    let first = fake.refresh(START_REFRESH).await;
    assert_eq!(first.status, StatusCode::OK);
    let reused = fake.refresh(START_REFRESH).await;
    assert_eq!(reused.status, StatusCode::BAD_REQUEST);
    assert_eq!(reused.error(), "invalid_grant");
    assert_eq!(
        reused.body["error_description"],
        "The refresh token has already been used"
    );
    // The rotated token is the one that works now, once.
    let second = fake.refresh(&first.text("refresh_token")).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(
        fake.refresh(&first.text("refresh_token")).await.error(),
        "invalid_grant"
    );
}

#[tokio::test]
async fn a_refresh_deletes_the_previous_access_token_of_the_grant() {
    let fake = Fake::start().await;
    let first = fake.refresh(START_REFRESH).await;
    let old_access = first.text("access_token");
    assert_eq!(
        fake.create(&old_access, "before").await.status,
        StatusCode::CREATED
    );
    let second = fake.refresh(&first.text("refresh_token")).await;
    let refused = fake.create(&old_access, "after").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.body["errors"][0]["code"], "InvalidCredentials");
    assert_eq!(
        fake.create(&second.text("access_token"), "after")
            .await
            .status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_slow_token_endpoint_has_deleted_the_previous_access_token_before_it_answers() {
    let fake = Fake::start().await;
    let first = fake.refresh(START_REFRESH).await;
    let old_access = first.text("access_token");
    let slow = fake
        .admin("PUT", "settings", Some(json!({"oauth_latency_ms": 400})))
        .await;
    assert_eq!(slow.status, StatusCode::OK);
    let refresh = first.text("refresh_token");
    let started = std::time::Instant::now();
    let refreshing = fake.refresh(&refresh);
    let probing = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        fake.create(&old_access, "during").await
    };
    let (second, during) = tokio::join!(refreshing, probing);
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "the answer came late"
    );
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(
        during.status,
        StatusCode::UNAUTHORIZED,
        "the old token died when the grant took effect, before its answer"
    );
    assert_eq!(
        fake.create(&second.text("access_token"), "after")
            .await
            .status,
        StatusCode::CREATED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refreshes_with_one_token_yield_exactly_one_success() {
    let fake = Fake::start().await;
    let attempts = (0..8).map(|_| fake.refresh(START_REFRESH));
    let answers = futures::future::join_all(attempts).await;
    let ok = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .count();
    assert_eq!(ok, 1);
    assert!(
        answers
            .iter()
            .filter(|a| a.status != StatusCode::OK)
            .all(|a| a.error() == "invalid_grant")
    );
}

#[tokio::test]
async fn form_encoded_and_json_requests_are_both_accepted() {
    let fake = Fake::start().await;
    let form = fake
        .token_form(&format!(
            "grant_type=refresh_token&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}\
             &refresh_token={START_REFRESH}&expires_in=600&refresh_token_expires_in=604800"
        ))
        .await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    assert_eq!(form.body["expires_in"], 600);
    assert_eq!(form.body["refresh_token_expires_in"], 604_800);
    // Numbers as strings in JSON, as some clients send them.
    let json = fake
        .token(
            json!({"grant_type": "refresh_token", "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "refresh_token": form.text("refresh_token"),
            "expires_in": "900"}),
        )
        .await;
    assert_eq!(json.status, StatusCode::OK, "{}", json.body);
    assert_eq!(json.body["expires_in"], 900);
}

#[tokio::test]
async fn an_expired_refresh_token_is_invalid_grant() {
    let fake = Fake::start().await;
    let grant = fake.issue(json!({"refresh_token_expires_in": 60})).await;
    fake.advance(61).await;
    let answer = fake.refresh(&grant.text("refresh_token")).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.error(), "invalid_grant");
    assert_eq!(
        answer.body["error_description"],
        "The refresh token has expired"
    );
    // The refresh token of the start lives 30 days, counted on the same clock.
    fake.advance(30 * 24 * 3600).await;
    assert_eq!(fake.refresh(START_REFRESH).await.error(), "invalid_grant");
}

#[tokio::test]
async fn a_revoked_grant_refuses_its_refresh_token_and_its_access_tokens() {
    let fake = Fake::start().await;
    let grant = fake
        .issue(json!({"with_access_token": true, "expires_in": 3600}))
        .await;
    let access = grant.text("access_token");
    assert_eq!(
        fake.create(&access, "conn").await.status,
        StatusCode::CREATED
    );
    let id = grant.body["grant_id"].as_u64().unwrap();
    let revoked = fake
        .admin("DELETE", &format!("oauth/grants/{id}"), None)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let refused = fake.create(&access, "other").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let challenge = refused.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    let answer = fake.refresh(&grant.text("refresh_token")).await;
    assert_eq!(answer.error(), "invalid_grant");
    assert_eq!(
        answer.body["error_description"],
        "The refresh token has been revoked"
    );
    // Revoking by any refresh token of the family, spent ones included.
    let rotated = fake.refresh(START_REFRESH).await;
    let by_token = fake
        .admin(
            "DELETE",
            "oauth/grants",
            Some(json!({"refresh_token": START_REFRESH})),
        )
        .await;
    assert_eq!(by_token.status, StatusCode::NO_CONTENT);
    assert_eq!(
        fake.refresh(&rotated.text("refresh_token")).await.error(),
        "invalid_grant"
    );
    assert_eq!(
        fake.admin("DELETE", "oauth/grants/999", None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn wrong_client_credentials_get_401_invalid_client_and_spend_nothing() {
    let fake = Fake::start().await;
    for body in [
        json!({"grant_type": "refresh_token", "client_id": CLIENT_ID,
            "client_secret": "wrong-secret-9999", "refresh_token": START_REFRESH}),
        json!({"grant_type": "refresh_token", "client_id": "zis_unknown",
            "client_secret": CLIENT_SECRET, "refresh_token": START_REFRESH}),
        json!({"grant_type": "refresh_token", "client_id": CLIENT_ID,
            "refresh_token": START_REFRESH}),
    ] {
        let answer = fake.token(body.clone()).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(answer.error(), "invalid_client");
        let text = answer.body.to_string();
        for secret in ["wrong-secret-9999", CLIENT_SECRET, START_REFRESH] {
            assert!(!text.contains(secret), "{text}");
        }
    }
    // A refresh token of another client is that client's: invalid_grant, not spent either.
    let other = fake
        .token(
            json!({"grant_type": "refresh_token", "client_id": CC_CLIENT_ID,
            "client_secret": CC_CLIENT_SECRET, "refresh_token": START_REFRESH}),
        )
        .await;
    assert_eq!(other.error(), "invalid_grant");
    assert_eq!(fake.refresh(START_REFRESH).await.status, StatusCode::OK);
}

#[tokio::test]
async fn client_credentials_are_refused_unless_the_client_allows_them() {
    let fake = Fake::start().await;
    let refused = fake
        .token(
            json!({"grant_type": "client_credentials", "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.error(), "unauthorized_client");
    let granted = fake
        .token_form(&format!(
            "grant_type=client_credentials&client_id={CC_CLIENT_ID}\
             &client_secret={CC_CLIENT_SECRET}&scope=read+write&expires_in=300"
        ))
        .await;
    assert_eq!(granted.status, StatusCode::OK, "{}", granted.body);
    assert_eq!(granted.body["expires_in"], 300);
    assert_eq!(granted.body["scope"], "read write");
    assert!(granted.body.get("refresh_token").is_none());
    assert_eq!(
        fake.create(&granted.text("access_token"), "machine")
            .await
            .status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn access_tokens_expire_after_expires_in_on_the_connections_api() {
    let fake = Fake::start().await;
    let answer = fake
        .token(
            json!({"grant_type": "refresh_token", "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "refresh_token": START_REFRESH,
            "expires_in": 300}),
        )
        .await;
    let access = answer.text("access_token");
    fake.advance(299).await;
    assert_eq!(
        fake.create(&access, "in-time").await.status,
        StatusCode::CREATED
    );
    fake.advance(1).await;
    let expired = fake.create(&access, "too-late").await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    // The Connections API keeps its error envelope; the challenge says invalid_token.
    assert_eq!(
        expired.body,
        json!({"errors": [{"code": "InvalidCredentials", "title": "Token has expired"}]})
    );
    let challenge = expired.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    // The refresh token outlives it and renews.
    let renewed = fake.refresh(&answer.text("refresh_token")).await;
    assert_eq!(
        fake.create(&renewed.text("access_token"), "renewed")
            .await
            .status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn lifetimes_outside_zendesks_bounds_are_invalid_requests_and_spend_nothing() {
    let fake = Fake::start().await;
    for (field, value) in [
        ("expires_in", json!(299)),
        ("expires_in", json!(172_801)),
        ("expires_in", json!("soon")),
        ("refresh_token_expires_in", json!(604_799)),
        ("refresh_token_expires_in", json!(7_776_001)),
    ] {
        let mut body = json!({"grant_type": "refresh_token", "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "refresh_token": START_REFRESH});
        body[field] = value.clone();
        let answer = fake.token(body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{field}={value}");
        assert_eq!(answer.error(), "invalid_request", "{field}={value}");
    }
    let bounds = fake
        .token(
            json!({"grant_type": "refresh_token", "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "refresh_token": START_REFRESH,
            "expires_in": 172_800, "refresh_token_expires_in": 7_776_000}),
        )
        .await;
    assert_eq!(bounds.status, StatusCode::OK, "{}", bounds.body);
}

#[tokio::test]
async fn lifetime_caps_shorten_what_is_granted_and_the_answer_says_so() {
    let fake = Fake::start().await;
    let settings = fake
        .admin(
            "PATCH",
            "settings",
            Some(json!({"oauth_max_expires_in": 1, "oauth_max_refresh_token_expires_in": 3600})),
        )
        .await;
    assert_eq!(settings.status, StatusCode::OK);
    let answer = fake.refresh(START_REFRESH).await;
    assert_eq!(answer.body["expires_in"], 1);
    assert_eq!(answer.body["refresh_token_expires_in"], 3600);
    // Real time, no clock moved: the token dies a second later.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        fake.create(&answer.text("access_token"), "late")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_narrower_scope_gives_a_token_without_write_and_an_unknown_one_is_refused() {
    let fake = Fake::start().await;
    let unknown = fake
        .token(
            json!({"grant_type": "refresh_token", "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "refresh_token": START_REFRESH,
            "scope": "read tickets:write"}),
        )
        .await;
    assert_eq!(unknown.error(), "invalid_scope");
    let read = fake
        .token(
            json!({"grant_type": "refresh_token", "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "refresh_token": START_REFRESH,
            "scope": "read"}),
        )
        .await;
    assert_eq!(read.body["scope"], "read");
    let refused = fake.create(&read.text("access_token"), "nope").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refused.body["errors"][0]["title"],
        "Cannot access this resource. Missing scope write"
    );
}

#[tokio::test]
async fn malformed_requests_and_unknown_grant_types_are_refused() {
    let fake = Fake::start().await;
    let cases = [
        (json!({"client_id": CLIENT_ID}), "invalid_request"),
        (
            json!({"grant_type": "password", "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET}),
            "unsupported_grant_type",
        ),
        (
            json!({"grant_type": "authorization_code", "code": "c"}),
            "unsupported_grant_type",
        ),
        (
            json!({"grant_type": "refresh_token", "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET}),
            "invalid_request",
        ),
        (
            json!({"grant_type": "refresh_token", "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET, "refresh_token": {"nested": 1}}),
            "invalid_request",
        ),
    ];
    for (body, error) in cases {
        let answer = fake.token(body.clone()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer.error(), error, "{body}");
        assert!(answer.body["error_description"].is_string());
    }
    let repeated = fake
        .token_form("grant_type=refresh_token&grant_type=client_credentials")
        .await;
    assert_eq!(repeated.error(), "invalid_request");
    let get = fake
        .http
        .get(format!("{}/oauth/tokens", fake.server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn token_requests_are_counted_and_faults_apply_to_them() {
    let fake = Fake::start().await;
    let fault = fake
        .admin(
            "POST",
            "faults",
            Some(json!({"path_contains": "/oauth/", "status": 503})),
        )
        .await;
    assert_eq!(fault.status, StatusCode::CREATED);
    assert_eq!(
        fake.refresh(START_REFRESH).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // The faulted request took no effect: the token still works, once.
    assert_eq!(fake.refresh(START_REFRESH).await.status, StatusCode::OK);
    let counters = fake.admin("GET", "requests", None).await;
    let lines = counters.body["requests"].as_array().unwrap();
    let count = |status: u64| {
        lines
            .iter()
            .find(|l| l["endpoint"] == "oauth/tokens" && l["status"] == status)
            .map(|l| l["count"].as_u64().unwrap())
    };
    assert_eq!((count(503), count(200)), (Some(1), Some(1)));
}

#[tokio::test]
async fn token_listings_show_grants_lifetimes_and_states_never_values() {
    let fake = Fake::start().await;
    let grant = fake
        .issue(json!({"with_access_token": true, "expires_in": 5,
            "refresh_token_expires_in": 10, "scope": "read"}))
        .await;
    assert_eq!(grant.body["scope"], "read");
    assert_eq!(grant.body["expires_in"], 5);
    let id = grant.body["grant_id"].as_u64().unwrap();
    let listed = fake.tokens(&format!("?grant_id={id}")).await;
    let summary: Vec<(String, String, u64)> = listed
        .iter()
        .map(|t| {
            (
                t["kind"].as_str().unwrap().to_owned(),
                t["state"].as_str().unwrap().to_owned(),
                t["lifetime_seconds"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("access_token".to_owned(), "active".to_owned(), 5),
            ("refresh_token".to_owned(), "active".to_owned(), 10)
        ]
    );
    fake.advance(6).await;
    let listed = fake.tokens(&format!("?grant_id={id}")).await;
    assert_eq!(listed[0]["state"], "expired");
    assert_eq!(listed[0]["expires_in_seconds"], 0);
    assert_eq!(listed[1]["state"], "active");
    let all = fake.tokens(&format!("?client_id={CLIENT_ID}")).await;
    let text = serde_json::to_string(&all).unwrap();
    for value in [
        grant.text("access_token"),
        grant.text("refresh_token"),
        START_REFRESH.to_owned(),
    ] {
        assert!(!text.contains(&value), "{text}");
    }
    let clients = fake.admin("GET", "oauth/clients", None).await;
    assert!(!clients.body.to_string().contains(CLIENT_SECRET));
    assert_eq!(clients.body["clients"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn clients_registered_at_run_time_get_grants_with_chosen_tokens() {
    let fake = Fake::start().await;
    let registered = fake
        .admin(
            "POST",
            "oauth/clients",
            Some(
                json!({"integration": "late_integration", "client_id": "zis_late",
                "client_secret": "late-secret", "scopes": ["read", "write"]}),
            ),
        )
        .await;
    assert_eq!(registered.status, StatusCode::CREATED);
    assert!(!registered.body.to_string().contains("late-secret"));
    let grant = fake
        .admin(
            "POST",
            "oauth/grants",
            Some(json!({"client_id": "zis_late", "refresh_token": "chosen-refresh"})),
        )
        .await;
    assert_eq!(grant.status, StatusCode::CREATED);
    assert_eq!(grant.text("refresh_token"), "chosen-refresh");
    assert_eq!(grant.body["refresh_token_expires_in"], 2_592_000);
    assert!(grant.body.get("access_token").is_none());
    let taken = fake
        .admin(
            "POST",
            "oauth/grants",
            Some(json!({"client_id": "zis_late", "refresh_token": "chosen-refresh"})),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    let unknown = fake
        .admin(
            "POST",
            "oauth/grants",
            Some(json!({"client_id": "zis_nobody"})),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let answer = fake
        .token(
            json!({"grant_type": "refresh_token", "client_id": "zis_late",
            "client_secret": "late-secret", "refresh_token": "chosen-refresh"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let created = fake
        .http
        .post(format!(
            "{}/api/services/zis/integrations/late_integration/connections/bearer_token",
            fake.server.url()
        ))
        .bearer_auth(answer.text("access_token"))
        .json(&json!({"name": "late", "token": "t", "allowed_domain": "api.example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn reset_brings_back_the_starting_refresh_tokens_and_real_time() {
    let fake = Fake::start().await;
    let first = fake.refresh(START_REFRESH).await;
    fake.advance(3600).await;
    assert_eq!(
        fake.admin("GET", "clock", None).await.body["offset_seconds"],
        3600
    );
    assert_eq!(
        fake.admin("POST", "reset", None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        fake.admin("GET", "clock", None).await.body["offset_seconds"],
        0
    );
    // Issued tokens are gone; the starting refresh token is fresh again.
    assert_eq!(
        fake.create(&first.text("access_token"), "gone")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        fake.refresh(&first.text("refresh_token")).await.error(),
        "invalid_grant"
    );
    assert_eq!(fake.refresh(START_REFRESH).await.status, StatusCode::OK);
    let too_far = fake
        .admin(
            "POST",
            "clock",
            Some(json!({"advance_seconds": 400_000_000u64})),
        )
        .await;
    assert_eq!(too_far.status, StatusCode::BAD_REQUEST);
}
