//! The ZIS API of the fake, in process: every connection type, names unique across types,
//! validation codes, access tokens and scopes, timestamps, pagination, concurrency.

use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use zis_sandbox::zis::{AccessTokenConfig, FakeZis, FakeZisConfig, FakeZisOptions, Scope};

const TOKEN: &str = "api-test-token";
const OTHER_TOKEN: &str = "other-integration-token";

struct Fake {
    server: FakeZis,
    http: Client,
}

impl Fake {
    async fn start(config: FakeZisConfig) -> Fake {
        Fake::start_with(config, FakeZisOptions::default()).await
    }

    async fn start_with(config: FakeZisConfig, options: FakeZisOptions) -> Fake {
        let server = FakeZis::start_with(config, options, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("fake starts");
        Fake {
            server,
            http: Client::new(),
        }
    }

    async fn default() -> Fake {
        let config = FakeZisConfig {
            integrations: vec![
                ("my_integration".into(), TOKEN.into()),
                ("other_integration".into(), OTHER_TOKEN.into()),
            ],
            patch_allowed_domain: true,
            rate_limit_per_minute: None,
        };
        let options = FakeZisOptions {
            access_tokens: vec![
                AccessTokenConfig {
                    integration: "my_integration".into(),
                    token: "write-only".into(),
                    scopes: vec![Scope::Write],
                    ttl: None,
                },
                AccessTokenConfig {
                    integration: "my_integration".into(),
                    token: "expired".into(),
                    scopes: vec![Scope::Read, Scope::Write],
                    ttl: Some(Duration::ZERO),
                },
            ],
            ..FakeZisOptions::default()
        };
        Fake::start_with(config, options).await
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/api/services/zis/integrations/my_integration/connections/{path}",
            self.server.url()
        )
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_as(TOKEN, method, &self.url(path), body).await
    }

    async fn call_as(
        &self,
        token: &str,
        method: &str,
        url: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method.parse().unwrap(), url)
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("answer");
        let status = response.status();
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("JSON body")
        };
        (status, body)
    }

    async fn admin_connections(&self) -> Vec<Value> {
        let body: Value = self
            .http
            .get(format!("{}/_fake/connections", self.server.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["connections"].as_array().cloned().unwrap_or_default()
    }
}

fn bearer(name: &str) -> Value {
    json!({"name": name, "token": "secret-token", "allowed_domain": "api.example.com"})
}

fn code(body: &Value) -> &str {
    body["errors"][0]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn api_key_connections_are_created_shown_updated_and_deleted_with_the_key_redacted() {
    let fake = Fake::default().await;
    let body = json!({"name": "key_conn", "api_key": "k-secret", "header_name": "x-api-key",
                      "allowed_domain": "api.example.com"});
    let (status, created) = fake.call("POST", "api_key", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["api_key"]["api_key"], "*****");
    assert_eq!(created["api_key"]["header_name"], "x-api-key");
    let (status, _) = fake
        .call(
            "PATCH",
            "api_key/key_conn",
            Some(json!({"api_key": "k2", "header_name": "x-key"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, shown) = fake.call("GET", "api_key/key_conn", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["api_key"]["header_name"], "x-key");
    let stored = fake.admin_connections().await;
    assert_eq!(stored[0]["api_key"], "k2");
    let (status, _) = fake.call("DELETE", "api_key/key_conn", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        fake.call("GET", "api_key/key_conn", None).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn basic_auth_connections_are_created_shown_updated_and_deleted_with_the_password_redacted() {
    let fake = Fake::default().await;
    let body = json!({"name": "basic_conn", "username": "user", "password": "pw-secret",
                      "allowed_domain": "api.example.com"});
    let (status, created) = fake.call("POST", "basic_auth", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["basic_auth"]["password"], "*****");
    assert_eq!(created["basic_auth"]["username"], "user");
    let (status, _) = fake
        .call(
            "PATCH",
            "basic_auth/basic_conn",
            Some(json!({"password": "pw2"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(fake.admin_connections().await[0]["password"], "pw2");
    let (status, body) = fake
        .call(
            "POST",
            "basic_auth",
            Some(json!({"name": "bad_user", "username": "a:b",
              "password": "p", "allowed_domain": "api.example.com"})),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "InvalidField")
    );
    assert_eq!(
        fake.call("DELETE", "basic_auth/basic_conn", None).await.0,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn a_name_held_by_another_type_conflicts_on_create_but_is_not_found_as_bearer_token() {
    let fake = Fake::default().await;
    let key = json!({"name": "shared_name", "api_key": "k", "header_name": "x-api-key",
                     "allowed_domain": "api.example.com"});
    assert_eq!(
        fake.call("POST", "api_key", Some(key)).await.0,
        StatusCode::CREATED
    );
    let (status, body) = fake
        .call("POST", "bearer_token", Some(bearer("shared_name")))
        .await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "Conflict"));
    let (status, body) = fake.call("GET", "bearer_token/shared_name", None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "NotFound"));
    let (status, _) = fake.call("DELETE", "bearer_token/shared_name", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = fake
        .call(
            "PATCH",
            "bearer_token/shared_name",
            Some(json!({"token": "t"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn invalid_create_bodies_get_400_with_a_code_per_rule() {
    let fake = Fake::default().await;
    let cases = [
        (
            json!({"name": "ab", "token": "t", "allowed_domain": "api.example.com"}),
            "InvalidName",
        ),
        (
            json!({"name": "has space", "token": "t", "allowed_domain": "api.example.com"}),
            "InvalidName",
        ),
        (
            json!({"name": "x".repeat(65), "token": "t", "allowed_domain": "api.example.com"}),
            "InvalidName",
        ),
        (
            json!({"name": "zendesk", "token": "t", "allowed_domain": "api.example.com"}),
            "InvalidName",
        ),
        (
            json!({"name": "good_name", "token": "t", "allowed_domain": "https://api.example.com"}),
            "InvalidAllowedDomain",
        ),
        (
            json!({"name": "good_name", "token": "t", "allowed_domain": "api.example.com:8443"}),
            "InvalidAllowedDomain",
        ),
        (
            json!({"name": "good_name", "token": "t", "allowed_domain": "api.example.com/v2"}),
            "InvalidAllowedDomain",
        ),
        (
            json!({"name": "good_name", "token": "t", "allowed_domain": "*.example.com"}),
            "InvalidAllowedDomain",
        ),
        (
            json!({"name": "good_name", "allowed_domain": "api.example.com"}),
            "MissingField",
        ),
        (
            json!({"name": "good_name", "token": "", "allowed_domain": "api.example.com"}),
            "MissingField",
        ),
        (
            json!({"token": "t", "allowed_domain": "api.example.com"}),
            "MissingField",
        ),
        (json!({"name": "good_name", "token": "t"}), "MissingField"),
        (
            json!({"name": "good_name", "token": 42, "allowed_domain": "api.example.com"}),
            "InvalidField",
        ),
        (json!(["not", "an", "object"]), "InvalidBody"),
    ];
    for (body, expected) in cases {
        let (status, answer) = fake.call("POST", "bearer_token", Some(body.clone())).await;
        assert_eq!(
            (status, code(&answer)),
            (StatusCode::BAD_REQUEST, expected),
            "{body}"
        );
        assert!(
            answer["errors"][0]["title"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        );
    }
    let key = json!({"name": "key_conn", "api_key": "k", "header_name": "bad header",
                     "allowed_domain": "api.example.com"});
    let (status, answer) = fake.call("POST", "api_key", Some(key)).await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::BAD_REQUEST, "InvalidHeaderName")
    );
    let response = fake
        .http
        .post(fake.url("bearer_token"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code(&response.json().await.unwrap()), "InvalidBody");
    assert!(
        fake.admin_connections().await.is_empty(),
        "nothing was stored"
    );
}

#[tokio::test]
async fn unknown_body_fields_are_ignored() {
    let fake = Fake::default().await;
    let mut body = bearer("extra_fields");
    body["colour"] = json!("blue");
    body["created_at"] = json!("2000-01-01T00:00:00Z");
    let (status, created) = fake.call("POST", "bearer_token", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(created["bearer_token"].get("colour").is_none());
    assert_ne!(
        created["bearer_token"]["created_at"],
        "2000-01-01T00:00:00Z"
    );
}

#[tokio::test]
async fn updates_change_token_and_domain_and_move_updated_at_forward() {
    let fake = Fake::default().await;
    let (_, created) = fake
        .call("POST", "bearer_token", Some(bearer("upd_conn")))
        .await;
    let (status, _) = fake
        .call(
            "PATCH",
            "bearer_token/upd_conn",
            Some(json!({"token": "new-token", "allowed_domain": "other.example.com"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, shown) = fake.call("GET", "bearer_token/upd_conn", None).await;
    assert_eq!(shown["bearer_token"]["allowed_domain"], "other.example.com");
    assert_eq!(
        shown["bearer_token"]["created_at"],
        created["bearer_token"]["created_at"]
    );
    let before = chrono::DateTime::parse_from_rfc3339(
        created["bearer_token"]["updated_at"].as_str().unwrap(),
    )
    .unwrap();
    let after =
        chrono::DateTime::parse_from_rfc3339(shown["bearer_token"]["updated_at"].as_str().unwrap())
            .unwrap();
    assert!(after > before);
    assert_eq!(fake.admin_connections().await[0]["token"], "new-token");
    let (status, body) = fake
        .call(
            "PATCH",
            "bearer_token/upd_conn",
            Some(json!({"name": "renamed"})),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "MissingField")
    );
    let (status, body) = fake
        .call(
            "PATCH",
            "bearer_token/upd_conn",
            Some(json!({"allowed_domain": "bad domain"})),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "InvalidAllowedDomain")
    );
}

#[tokio::test]
async fn a_domain_change_is_refused_when_patching_allowed_domain_is_switched_off() {
    let fake = Fake::start(FakeZisConfig {
        patch_allowed_domain: false,
        ..FakeZisConfig::new("my_integration", TOKEN)
    })
    .await;
    fake.call("POST", "bearer_token", Some(bearer("fixed_domain")))
        .await;
    let (status, body) = fake
        .call(
            "PATCH",
            "bearer_token/fixed_domain",
            Some(json!({"allowed_domain": "other.example.com"})),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "AllowedDomainImmutable")
    );
    // The same domain (any case) with a new token is fine.
    let (status, _) = fake
        .call(
            "PATCH",
            "bearer_token/fixed_domain",
            Some(json!({"allowed_domain": "API.example.com", "token": "t2"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let stored = fake.admin_connections().await;
    assert_eq!(
        (
            stored[0]["allowed_domain"].as_str(),
            stored[0]["token"].as_str()
        ),
        (Some("api.example.com"), Some("t2"))
    );
}

#[tokio::test]
async fn access_tokens_are_checked_for_validity_integration_and_scope() {
    let fake = Fake::default().await;
    let url = fake.url("bearer_token");
    let cases = [
        (
            "unknown-token",
            StatusCode::UNAUTHORIZED,
            "InvalidCredentials",
        ),
        ("expired", StatusCode::UNAUTHORIZED, "InvalidCredentials"),
        (OTHER_TOKEN, StatusCode::FORBIDDEN, "Forbidden"),
    ];
    for (token, status, expected) in cases {
        let (got, body) = fake
            .call_as(token, "POST", &url, Some(bearer("auth_conn")))
            .await;
        assert_eq!((got, code(&body)), (status, expected), "{token}");
    }
    let (status, body) = fake
        .call_as("expired", "GET", &fake.url("bearer_token/x_conn"), None)
        .await;
    assert_eq!(body["errors"][0]["title"], "Token has expired");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A write-only token writes but cannot read.
    let (status, _) = fake
        .call_as("write-only", "POST", &url, Some(bearer("auth_conn")))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = fake
        .call_as(
            "write-only",
            "GET",
            &fake.url("bearer_token/auth_conn"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body["errors"][0]["title"],
        "Cannot access this resource. Missing scope read"
    );
    let response = fake
        .http
        .get(fake.url("bearer_token/auth_conn"))
        .basic_auth("u", Some("p"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_unknown_integration_is_400_on_writes_and_lists_and_404_on_show_and_delete() {
    let fake = Fake::default().await;
    let base = format!(
        "{}/api/services/zis/integrations/ghost/connections",
        fake.server.url()
    );
    let cases = [
        (
            "POST",
            format!("{base}/bearer_token"),
            Some(bearer("ghost_conn")),
            StatusCode::BAD_REQUEST,
            "InvalidIntegration",
        ),
        (
            "PATCH",
            format!("{base}/bearer_token/ghost_conn"),
            Some(json!({"token": "t"})),
            StatusCode::BAD_REQUEST,
            "InvalidIntegration",
        ),
        (
            "GET",
            format!("{base}/all"),
            None,
            StatusCode::BAD_REQUEST,
            "InvalidIntegration",
        ),
        (
            "GET",
            format!("{base}/bearer_token/ghost_conn"),
            None,
            StatusCode::NOT_FOUND,
            "NotFound",
        ),
        (
            "DELETE",
            format!("{base}/bearer_token/ghost_conn"),
            None,
            StatusCode::NOT_FOUND,
            "NotFound",
        ),
    ];
    for (method, url, body, status, expected) in cases {
        let (got, answer) = fake.call_as(TOKEN, method, &url, body).await;
        assert_eq!((got, code(&answer)), (status, expected), "{method} {url}");
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_are_refused_with_error_bodies() {
    let fake = Fake::default().await;
    let (status, body) = fake.call("GET", "oauth/some_conn", None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "NotFound"));
    let (status, body) = fake
        .call("PUT", "bearer_token/some_conn", Some(json!({})))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed")
    );
}

#[tokio::test]
async fn timestamps_are_rfc3339_utc_with_fractional_seconds() {
    let fake = Fake::default().await;
    let (_, created) = fake
        .call("POST", "bearer_token", Some(bearer("time_conn")))
        .await;
    let pattern = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{1,9}Z$").unwrap();
    for field in ["created_at", "updated_at"] {
        let value = created["bearer_token"][field].as_str().unwrap();
        assert!(pattern.is_match(value), "{field}: {value}");
        let parsed = chrono::DateTime::parse_from_rfc3339(value).unwrap();
        let age = chrono::Utc::now().signed_duration_since(parsed);
        assert!(age.num_seconds().abs() < 60);
    }
}

async fn walk(fake: &Fake, query: impl Fn(Option<&str>) -> String) -> (Vec<String>, usize) {
    let mut names = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let (status, body) = fake.call("GET", &query(cursor.as_deref()), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        pages += 1;
        let mut page = Vec::new();
        for group in ["api_key", "basic_auth", "bearer_token", "oauth"] {
            for item in body[group].as_array().expect("group array") {
                page.push(item["name"].as_str().unwrap().to_owned());
            }
        }
        page.sort();
        names.extend(page);
        if body["meta"]["has_more"] != true {
            return (names, pages);
        }
        cursor = Some(
            body["meta"]["after"]
                .as_str()
                .or(body["meta"]["before"].as_str())
                .unwrap()
                .to_owned(),
        );
    }
}

#[tokio::test]
async fn all_connections_are_listed_in_cursor_pages_of_at_most_100() {
    let fake = Fake::default().await;
    for i in 0..230 {
        let name = format!("conn_{i:04}");
        let (path, body) = match i % 3 {
            0 => ("bearer_token", bearer(&name)),
            1 => (
                "api_key",
                json!({"name": name, "api_key": "k", "header_name": "x-api-key",
                                    "allowed_domain": "api.example.com"}),
            ),
            _ => (
                "basic_auth",
                json!({"name": name, "username": "u", "password": "p",
                                       "allowed_domain": "api.example.com"}),
            ),
        };
        assert_eq!(
            fake.call("POST", path, Some(body)).await.0,
            StatusCode::CREATED
        );
    }
    let expected: Vec<String> = (0..230).map(|i| format!("conn_{i:04}")).collect();

    let (names, pages) = walk(&fake, |after| match after {
        None => "all".to_owned(),
        Some(cursor) => format!("all?page%5Bafter%5D={cursor}"),
    })
    .await;
    assert_eq!((names.clone(), pages), (expected.clone(), 3));

    let (names, pages) = walk(&fake, |after| match after {
        None => "all?page[size]=50".to_owned(),
        Some(cursor) => format!("all?page[size]=50&page[after]={cursor}"),
    })
    .await;
    assert_eq!((names, pages), (expected.clone(), 5));

    // Backwards from the last page's first item.
    let (_, last) = fake
        .call(
            "GET",
            "all?page[size]=30&page[after]=636f6e6e5f30313939",
            None,
        )
        .await;
    assert_eq!(last["meta"]["has_more"], false);
    let first_of_last = last["meta"]["before"].as_str().unwrap().to_owned();
    let (_, previous) = fake
        .call(
            "GET",
            &format!("all?page[size]=30&page[before]={first_of_last}"),
            None,
        )
        .await;
    assert_eq!(previous["meta"]["has_more"], true);
    let mut previous_names: Vec<&str> = ["api_key", "basic_auth", "bearer_token"]
        .iter()
        .flat_map(|g| {
            previous[*g]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap())
        })
        .collect();
    previous_names.sort();
    assert_eq!(previous_names.first(), Some(&"conn_0170"));
    assert_eq!(previous_names.last(), Some(&"conn_0199"));
    assert_eq!(previous["bearer_token"][0]["token"], "*****");
    assert_eq!(previous["oauth"], json!([]));

    for (query, expected) in [
        ("all?page[size]=101", "InvalidPageSize"),
        ("all?page[size]=0", "InvalidPageSize"),
        ("all?page[after]=zz", "InvalidCursor"),
    ] {
        let (status, body) = fake.call("GET", query, None).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::BAD_REQUEST, expected),
            "{query}"
        );
    }
}

#[tokio::test]
async fn an_empty_integration_lists_empty_groups() {
    let fake = Fake::default().await;
    let (status, body) = fake.call("GET", "all", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"api_key": [], "basic_auth": [], "bearer_token": [], "oauth": [],
               "meta": {"has_more": false, "after": null, "before": null}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_one_name_yield_exactly_one_success() {
    let fake = std::sync::Arc::new(Fake::default().await);
    let mut tasks = Vec::new();
    for i in 0..64 {
        let fake = std::sync::Arc::clone(&fake);
        tasks.push(tokio::spawn(async move {
            let name = if i % 2 == 0 {
                "contended".to_owned()
            } else {
                format!("distinct_{i}")
            };
            fake.call("POST", "bearer_token", Some(bearer(&name)))
                .await
                .0
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (33, 31));
    assert_eq!(fake.admin_connections().await.len(), 33);
}
