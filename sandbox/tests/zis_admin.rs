//! The admin API (`/_fake/`) and the switches: seeding and changing connections behind a
//! client's back, counters, settings, injected faults, random errors and drops, latency, the
//! rate limit and its headers, access tokens, reset.

use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use zis_sandbox::zis::{FakeZis, FakeZisConfig, FakeZisOptions};

const TOKEN: &str = "admin-test-token";

struct Fake {
    server: FakeZis,
    http: Client,
}

impl Fake {
    async fn start(config: FakeZisConfig) -> Fake {
        let server = FakeZis::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("fake starts");
        Fake {
            server,
            http: Client::new(),
        }
    }

    async fn default() -> Fake {
        Fake::start(FakeZisConfig::new("my_integration", TOKEN)).await
    }

    fn api(&self, path: &str) -> String {
        format!(
            "{}/api/services/zis/integrations/my_integration/connections/{path}",
            self.server.url()
        )
    }

    fn admin_url(&self, path: &str) -> String {
        format!("{}/_fake/{path}", self.server.url())
    }

    async fn create(&self, name: &str) -> reqwest::Result<reqwest::Response> {
        self.http
            .post(self.api("bearer_token"))
            .bearer_auth(TOKEN)
            .json(&json!({"name": name, "token": "t", "allowed_domain": "api.example.com"}))
            .send()
            .await
    }

    async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method.parse().unwrap(), self.admin_url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("admin answers");
        let status = response.status();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, body)
    }
}

fn code(body: &Value) -> &str {
    body["errors"][0]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn a_seeded_connection_already_exists_for_clients() {
    let fake = Fake::default().await;
    let (status, seeded) = fake
        .admin(
            "POST",
            "connections",
            Some(json!({"integration": "my_integration",
            "type": "bearer_token", "name": "seeded", "token": "seed-token",
            "allowed_domain": "api.example.com", "created_at": "2020-01-02T03:04:05.5Z"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(seeded["token"], "seed-token");
    let response = fake.create("seeded").await.unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let shown: Value = fake
        .http
        .get(fake.api("bearer_token/seeded"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        shown["bearer_token"]["created_at"],
        "2020-01-02T03:04:05.500000Z"
    );
    assert_eq!(shown["bearer_token"]["token"], "*****");
    let (status, _) = fake
        .admin(
            "POST",
            "connections",
            Some(json!({"integration": "my_integration",
            "type": "bearer_token", "name": "seeded", "token": "x", "allowed_domain": "a.b"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn connections_change_and_vanish_behind_the_clients_back() {
    let fake = Fake::default().await;
    assert_eq!(
        fake.create("victim").await.unwrap().status(),
        StatusCode::CREATED
    );
    let (_, before) = fake.admin("GET", "connections", None).await;
    let (status, _) = fake
        .admin(
            "PATCH",
            "connections/my_integration/bearer_token/victim",
            Some(json!({"token": "changed", "allowed_domain": "evil.example.com"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, after) = fake
        .admin(
            "GET",
            "connections?integration=my_integration&type=bearer_token",
            None,
        )
        .await;
    let (old, new) = (&before["connections"][0], &after["connections"][0]);
    assert_eq!(
        (new["token"].as_str(), new["allowed_domain"].as_str()),
        (Some("changed"), Some("evil.example.com"))
    );
    assert!(new["updated_at"].as_str() > old["updated_at"].as_str());
    assert_eq!(new["integration"], "my_integration");
    assert_eq!(new["type"], "bearer_token");
    let (status, _) = fake
        .admin(
            "DELETE",
            "connections/my_integration/bearer_token/victim",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let gone = fake
        .http
        .get(fake.api("bearer_token/victim"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    for method in ["PATCH", "DELETE"] {
        let (status, _) = fake
            .admin(
                method,
                "connections/my_integration/bearer_token/victim",
                Some(json!({"token": "x"})),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method}");
    }
    let (_, counters) = fake.admin("GET", "requests", None).await;
    assert_eq!(
        counters["total"], 2,
        "admin requests are not counted: {counters}"
    );
}

#[tokio::test]
async fn requests_are_counted_per_method_endpoint_template_and_status() {
    let fake = Fake::default().await;
    fake.create("counted").await.unwrap();
    fake.create("counted").await.unwrap();
    fake.http
        .get(fake.api("bearer_token/counted"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    fake.http
        .get(fake.api("bearer_token/missing"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let (status, counters) = fake.admin("GET", "requests", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(counters["total"], 4);
    let mut lines = counters["requests"].as_array().unwrap().clone();
    let mut expected = vec![
        json!({"method": "GET", "endpoint": "bearer_token/{name}", "status": 200, "count": 1}),
        json!({"method": "GET", "endpoint": "bearer_token/{name}", "status": 404, "count": 1}),
        json!({"method": "POST", "endpoint": "bearer_token", "status": 201, "count": 1}),
        json!({"method": "POST", "endpoint": "bearer_token", "status": 409, "count": 1}),
    ];
    lines.sort_by_key(Value::to_string);
    expected.sort_by_key(Value::to_string);
    assert_eq!(lines, expected);
    let (status, _) = fake.admin("DELETE", "requests", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(fake.admin("GET", "requests", None).await.1["total"], 0);
}

#[tokio::test]
async fn settings_are_read_and_changed_at_run_time() {
    let fake = Fake::default().await;
    let (status, settings) = fake.admin("GET", "settings", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        settings,
        json!({"patch_allowed_domain": true, "rate_limit_per_minute": null,
                                "oauth_max_expires_in": null,
                                "oauth_max_refresh_token_expires_in": null,
                                "latency_ms": 0, "oauth_latency_ms": 0,
                                "error_rate": 0.0, "drop_rate": 0.0,
                                "throttle_rate": 0.0, "latency_jitter_ms": 0,
                                "other_apps_per_minute": 0})
    );
    let (status, settings) = fake
        .admin(
            "PUT",
            "settings",
            Some(json!({"patch_allowed_domain": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(settings["patch_allowed_domain"], false);
    fake.create("domain_conn").await.unwrap();
    let response = fake
        .http
        .patch(fake.api("bearer_token/domain_conn"))
        .bearer_auth(TOKEN)
        .json(&json!({"allowed_domain": "new.example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        code(&response.json().await.unwrap()),
        "AllowedDomainImmutable"
    );
    for bad in [
        json!({"error_rate": 2}),
        json!({"throttle_rate": -0.1}),
        json!({"unknown": 1}),
        json!({"latency_ms": -1}),
    ] {
        let (status, body) = fake.admin("PUT", "settings", Some(bad.clone())).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::BAD_REQUEST, "InvalidBody"),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn a_throttle_rate_answers_429_with_retry_after_and_nothing_happens() {
    let fake = Fake::default().await;
    let (status, _) = fake
        .admin("PUT", "settings", Some(json!({"throttle_rate": 1.0})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let response = fake.create("throttled_conn").await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "1");
    fake.admin("PUT", "settings", Some(json!({"throttle_rate": 0.0})))
        .await;
    let (_, connections) = fake.admin("GET", "connections", None).await;
    assert_eq!(
        connections["connections"],
        json!([]),
        "the throttled create took effect"
    );
}

#[tokio::test]
async fn a_fault_fails_exactly_the_next_n_matching_requests_without_effect() {
    let fake = Fake::default().await;
    let (status, _) = fake
        .admin(
            "POST",
            "faults",
            Some(json!({"method": "POST", "path_contains": "bearer_token",
                                             "status": 503, "count": 2})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let shown = fake
        .http
        .get(fake.api("bearer_token/faulty"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        shown.status(),
        StatusCode::NOT_FOUND,
        "GET does not match the rule"
    );
    for _ in 0..2 {
        let response = fake.create("faulty").await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(code(&response.json().await.unwrap()), "ServiceUnavailable");
    }
    let (_, stored) = fake.admin("GET", "connections", None).await;
    assert_eq!(
        stored["connections"],
        json!([]),
        "failed requests took no effect"
    );
    assert_eq!(
        fake.create("faulty").await.unwrap().status(),
        StatusCode::CREATED
    );
    let (_, faults) = fake.admin("GET", "faults", None).await;
    assert_eq!(faults["faults"], json!([]));

    fake.admin(
        "POST",
        "faults",
        Some(json!({"status": 429, "retry_after": 7})),
    )
    .await;
    let limited = fake.create("other").await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers()["retry-after"], "7");
}

#[tokio::test]
async fn a_fault_with_status_0_drops_the_connection_without_an_answer() {
    let fake = Fake::default().await;
    fake.admin(
        "POST",
        "faults",
        Some(json!({"method": "POST", "status": 0})),
    )
    .await;
    let error = fake.create("dropped").await.expect_err("no answer");
    assert!(!error.is_status(), "{error}");
    let (_, counters) = fake.admin("GET", "requests", None).await;
    assert_eq!(counters["requests"][0]["status"], 0);
    assert_eq!(
        fake.create("dropped").await.unwrap().status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn random_drops_happen_after_the_request_took_effect() {
    let fake = Fake::default().await;
    fake.admin("PUT", "settings", Some(json!({"drop_rate": 1.0})))
        .await;
    assert!(fake.create("maybe_created").await.is_err());
    let (_, stored) = fake.admin("GET", "connections", None).await;
    assert_eq!(stored["connections"][0]["name"], "maybe_created");
    fake.admin("PUT", "settings", Some(json!({"drop_rate": 0.0})))
        .await;
    assert_eq!(
        fake.create("maybe_created").await.unwrap().status(),
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn random_server_errors_answer_5xx_without_effect() {
    let server = FakeZis::start_with(
        FakeZisConfig::new("my_integration", TOKEN),
        FakeZisOptions {
            error_rate: 1.0,
            ..FakeZisOptions::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let fake = Fake {
        server,
        http: Client::new(),
    };
    for _ in 0..5 {
        let response = fake.create("never").await.unwrap();
        assert!(response.status().is_server_error(), "{}", response.status());
        assert!(!code(&response.json().await.unwrap()).is_empty());
    }
    let (_, stored) = fake.admin("GET", "connections", None).await;
    assert_eq!(stored["connections"], json!([]));
}

#[tokio::test]
async fn latency_delays_the_answer_after_the_request_took_effect() {
    let fake = std::sync::Arc::new(Fake::default().await);
    fake.admin("PUT", "settings", Some(json!({"latency_ms": 400})))
        .await;
    let started = Instant::now();
    let background = std::sync::Arc::clone(&fake);
    let request = tokio::spawn(async move { background.create("slow").await.map(|r| r.status()) });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, stored) = fake.admin("GET", "connections", None).await;
    assert_eq!(
        stored["connections"][0]["name"], "slow",
        "stored before the answer"
    );
    assert_eq!(request.await.unwrap().unwrap(), StatusCode::CREATED);
    assert!(started.elapsed() >= Duration::from_millis(400));
}

#[tokio::test]
async fn past_the_rate_limit_requests_get_429_with_retry_after_and_rate_headers() {
    let fake = Fake::start(FakeZisConfig {
        rate_limit_per_minute: Some(3),
        ..FakeZisConfig::new("my_integration", TOKEN)
    })
    .await;
    for remaining in ["2", "1", "0"] {
        let response = fake
            .http
            .get(fake.api("bearer_token/x_conn"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()["x-rate-limit"], "3");
        assert_eq!(response.headers()["x-rate-limit-remaining"], remaining);
    }
    let response = fake.create("limited").await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["x-rate-limit-remaining"], "0");
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(code(&response.json().await.unwrap()), "TooManyRequests");
    let (_, stored) = fake.admin("GET", "connections", None).await;
    assert_eq!(
        stored["connections"],
        json!([]),
        "a refused request takes no effect"
    );
    // The admin API is never limited; lifting the limit applies at once and drops the headers.
    fake.admin(
        "PUT",
        "settings",
        Some(json!({"rate_limit_per_minute": null})),
    )
    .await;
    let response = fake.create("limited").await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(response.headers().get("x-rate-limit").is_none());
}

#[tokio::test]
async fn access_tokens_are_added_with_scopes_and_lifetimes_and_revoked() {
    let fake = Fake::default().await;
    let (status, _) = fake
        .admin(
            "POST",
            "access-tokens",
            Some(json!({"integration": "my_integration",
            "token": "reader", "scopes": ["read"], "ttl_seconds": null})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let create = |token: &'static str| {
        fake.http
            .post(fake.api("bearer_token"))
            .bearer_auth(token)
            .json(&json!({"name": "tok_conn", "token": "t", "allowed_domain": "api.example.com"}))
            .send()
    };
    assert_eq!(
        create("reader").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    fake.admin(
        "POST",
        "access-tokens",
        Some(json!({"integration": "my_integration",
        "token": "short-lived", "ttl_seconds": 0})),
    )
    .await;
    assert_eq!(
        create("short-lived").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = fake
        .admin("DELETE", "access-tokens", Some(json!({"token": TOKEN})))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        create(TOKEN).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = fake
        .admin("DELETE", "access-tokens", Some(json!({"token": TOKEN})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A token for a new integration brings the integration with it.
    fake.admin(
        "POST",
        "access-tokens",
        Some(json!({"integration": "new_integration", "token": "new"})),
    )
    .await;
    let url = format!(
        "{}/api/services/zis/integrations/new_integration/connections/all",
        fake.server.url()
    );
    let response = fake.http.get(url).bearer_auth("new").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn reset_restores_the_state_at_start() {
    let fake = Fake::default().await;
    fake.create("before_reset").await.unwrap();
    fake.admin(
        "PUT",
        "settings",
        Some(json!({"latency_ms": 5, "patch_allowed_domain": false})),
    )
    .await;
    fake.admin("POST", "faults", Some(json!({"status": 500, "count": 10})))
        .await;
    fake.admin("DELETE", "access-tokens", Some(json!({"token": TOKEN})))
        .await;
    let (status, _) = fake.admin("POST", "reset", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, stored) = fake.admin("GET", "connections", None).await;
    assert_eq!(stored["connections"], json!([]));
    let (_, counters) = fake.admin("GET", "requests", None).await;
    assert_eq!(
        counters,
        json!({"total": 0, "requests": [], "other_apps": {"accepted": 0, "refused": 0}})
    );
    let (_, settings) = fake.admin("GET", "settings", None).await;
    assert_eq!(
        (
            settings["latency_ms"].as_u64(),
            settings["patch_allowed_domain"].as_bool()
        ),
        (Some(0), Some(true))
    );
    assert_eq!(
        fake.create("before_reset").await.unwrap().status(),
        StatusCode::CREATED,
        "no fault, token back"
    );
}

#[tokio::test]
async fn unknown_admin_paths_and_bad_admin_bodies_are_refused() {
    let fake = Fake::default().await;
    let (status, body) = fake.admin("GET", "nothing-here", None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "NotFound"));
    let (status, _) = fake.admin("DELETE", "reset", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, body) = fake
        .admin("POST", "faults", Some(json!({"status": 42})))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "InvalidBody")
    );
    let (status, body) = fake
        .admin(
            "POST",
            "connections",
            Some(json!({"integration": "i", "type": "oauth", "name": "n"})),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "InvalidBody")
    );
}
