//! A client of the fake ZIS server's admin API (`/_fake/`): seed and inspect connections with
//! their true secrets, change settings, inject faults, add access tokens, read the request
//! counters. The contract is at the top of `sandbox/src/zis/mod.rs`.

use serde_json::{Value, json};

pub struct FakeAdmin {
    http: reqwest::Client,
    base: String,
}

/// One row of `GET /_fake/requests`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestCount {
    pub method: String,
    pub endpoint: String,
    pub status: u16,
    pub count: u64,
}

/// The request counters of the fake.
#[derive(Debug, Clone, Default)]
pub struct Requests {
    pub total: u64,
    pub rows: Vec<RequestCount>,
}

impl Requests {
    /// Requests whose method and status satisfy the filter.
    pub fn count(&self, filter: impl Fn(&RequestCount) -> bool) -> u64 {
        self.rows
            .iter()
            .filter(|r| filter(r))
            .map(|r| r.count)
            .sum()
    }

    pub fn with_method(&self, method: &str) -> u64 {
        self.count(|r| r.method.eq_ignore_ascii_case(method))
    }

    pub fn with_status(&self, status: u16) -> u64 {
        self.count(|r| r.status == status)
    }

    /// Requests that could change something remotely (POST, PATCH, PUT, DELETE).
    pub fn writes(&self) -> u64 {
        self.count(|r| !r.method.eq_ignore_ascii_case("GET"))
    }

    /// Requests answered with 4xx or 5xx.
    pub fn failures(&self) -> u64 {
        self.count(|r| r.status >= 400)
    }
}

impl FakeAdmin {
    pub fn new(base: String) -> FakeAdmin {
        FakeAdmin {
            http: reqwest::Client::new(),
            base,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/_fake/{path}", self.base);
        let mut request = self.http.request(method.clone(), &url);
        if let Some(body) = &body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("fake admin {method} {url} failed: {e}"));
        let status = response.status();
        let text = response
            .text()
            .await
            .unwrap_or_else(|e| panic!("fake admin {method} {url}: reading body: {e}"));
        assert!(
            status.is_success(),
            "fake admin {method} {url} with {body:?} answered {status}: {text}"
        );
        if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("fake admin {method} {url}: bad JSON {text}: {e}"))
        }
    }

    /// Every connection, any type, with its true secrets.
    pub async fn connections(&self) -> Vec<Value> {
        let body = self.call(reqwest::Method::GET, "connections", None).await;
        match body.get("connections") {
            Some(Value::Array(list)) => list.clone(),
            _ => panic!("fake admin connections: unexpected body {body}"),
        }
    }

    /// Bearer-token connections only.
    pub async fn bearer_connections(&self) -> Vec<Value> {
        self.connections()
            .await
            .into_iter()
            .filter(|c| c["type"] == "bearer_token")
            .collect()
    }

    /// The bearer-token connection `name` of `integration`, if any.
    pub async fn bearer(&self, integration: &str, name: &str) -> Option<Value> {
        self.connections().await.into_iter().find(|c| {
            c["type"] == "bearer_token" && c["integration"] == integration && c["name"] == name
        })
    }

    /// Seeds a connection (any type) as if someone had created it.
    pub async fn seed(&self, connection: Value) {
        self.call(reqwest::Method::POST, "connections", Some(connection))
            .await;
    }

    pub async fn seed_bearer(&self, integration: &str, name: &str, token: &str, domain: &str) {
        self.seed(json!({
            "integration": integration,
            "type": "bearer_token",
            "name": name,
            "token": token,
            "allowed_domain": domain,
        }))
        .await;
    }

    /// Registers OAuth client `client_id` of `integration` (refresh-token grant; client
    /// credentials too when `client_credentials`).
    pub async fn oauth_client(
        &self,
        integration: &str,
        client_id: &str,
        client_secret: &str,
        client_credentials: bool,
    ) {
        let body = json!({
            "integration": integration,
            "client_id": client_id,
            "client_secret": client_secret,
            "allow_client_credentials": client_credentials,
        });
        self.call(reqwest::Method::POST, "oauth/clients", Some(body))
            .await;
    }

    /// Issues a grant of `client_id` (as a person authorizing the app would): its refresh token.
    pub async fn oauth_grant(&self, client_id: &str) -> String {
        let body = json!({"client_id": client_id, "scopes": ["read", "write"]});
        let grant = self
            .call(reqwest::Method::POST, "oauth/grants", Some(body))
            .await;
        match grant["refresh_token"].as_str() {
            Some(token) => token.to_string(),
            None => panic!("fake admin oauth/grants: no refresh_token in {grant}"),
        }
    }

    /// Revokes every token of the grant `refresh_token` belongs to.
    pub async fn revoke_grant(&self, refresh_token: &str) {
        let body = json!({"refresh_token": refresh_token});
        self.call(reqwest::Method::DELETE, "oauth/grants", Some(body))
            .await;
    }

    /// The tokens the token endpoint issued (`GET /_fake/oauth/tokens`; never their values).
    pub async fn oauth_tokens(&self) -> Vec<Value> {
        let body = self.call(reqwest::Method::GET, "oauth/tokens", None).await;
        body["tokens"].as_array().cloned().unwrap_or_default()
    }

    /// Changes a connection behind the operator's back.
    pub async fn patch_connection(&self, integration: &str, kind: &str, name: &str, fields: Value) {
        let path = format!("connections/{integration}/{kind}/{name}");
        self.call(reqwest::Method::PATCH, &path, Some(fields)).await;
    }

    /// Deletes a connection behind the operator's back.
    pub async fn delete_connection(&self, integration: &str, kind: &str, name: &str) {
        let path = format!("connections/{integration}/{kind}/{name}");
        self.call(reqwest::Method::DELETE, &path, None).await;
    }

    pub async fn requests(&self) -> Requests {
        let body = self.call(reqwest::Method::GET, "requests", None).await;
        let rows = match body.get("requests") {
            Some(Value::Array(rows)) => rows
                .iter()
                .map(|r| RequestCount {
                    method: r["method"].as_str().unwrap_or_default().to_string(),
                    endpoint: r["endpoint"].as_str().unwrap_or_default().to_string(),
                    status: r["status"].as_u64().unwrap_or_default() as u16,
                    count: r["count"].as_u64().unwrap_or_default(),
                })
                .collect(),
            _ => panic!("fake admin requests: unexpected body {body}"),
        };
        Requests {
            total: body["total"].as_u64().unwrap_or_default(),
            rows,
        }
    }

    /// `PUT /_fake/settings` with the given fields (partial update).
    pub async fn settings(&self, fields: Value) {
        self.call(reqwest::Method::PUT, "settings", Some(fields))
            .await;
    }

    /// Fails the next `count` requests matching `method` and `path_contains` with `status`.
    pub async fn fault(&self, method: &str, path_contains: &str, status: u16, count: u32) {
        self.call(
            reqwest::Method::POST,
            "faults",
            Some(json!({
                "method": method,
                "path_contains": path_contains,
                "status": status,
                "count": count,
            })),
        )
        .await;
    }

    /// Like [`FakeAdmin::fault`], with a `Retry-After: <seconds>` header on each failure.
    pub async fn fault_with_retry_after(
        &self,
        method: &str,
        path_contains: &str,
        status: u16,
        count: u32,
        retry_after: u64,
    ) {
        self.call(
            reqwest::Method::POST,
            "faults",
            Some(json!({
                "method": method,
                "path_contains": path_contains,
                "status": status,
                "count": count,
                "retry_after": retry_after,
            })),
        )
        .await;
    }

    /// Revokes an access token (every later request with it gets 401).
    pub async fn revoke_access_token(&self, token: &str) {
        self.call(
            reqwest::Method::DELETE,
            "access-tokens",
            Some(json!({ "token": token })),
        )
        .await;
    }

    pub async fn add_access_token(&self, integration: &str, token: &str, scopes: &[&str]) {
        self.call(
            reqwest::Method::POST,
            "access-tokens",
            Some(json!({
                "integration": integration,
                "token": token,
                "scopes": scopes,
                "ttl_seconds": null,
            })),
        )
        .await;
    }
}
