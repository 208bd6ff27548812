//! `ZisIntegration`s: connections served by an integration's own credentials (a static access
//! token, or OAuth tokens the operator renews and rotates), and the integration's tenancy rules.
//! The operator's simple-mode credentials are left invalid in these scenarios, so a connection
//! that syncs proves it used its integration's token.

use std::time::Duration;

use serde_json::{Value, json};

use super::harness::env::TestEnv;
use super::harness::{Credentials, DOMAIN, Setup, assert_no_secret, check_condition, random_token};

/// The integration the OAuth client of these scenarios serves (on each test's own fake).
const KEY: &str = "e2e-oauth-app";
const CLIENT_ID: &str = "zis_e2e_oauth_app";
const CREDENTIALS: &str = "oauth-credentials";
/// The fake cuts every access token's lifetime to this: the operator renews it after four fifths.
const SHORT_LIFE_SECONDS: u64 = 5;

fn setup(hint: &str) -> Setup {
    Setup::new(hint).credentials(Credentials::Token(random_token("simple-mode-not-valid")))
}

/// A connection of [`KEY`] with the token of Secret `secret`.
fn connection_spec(secret: &str) -> Value {
    json!({
        "integration": KEY,
        "allowedDomain": DOMAIN,
        "tokenSecretRef": {"name": secret},
    })
}

/// Registers the OAuth client on the fake, authorizes it once and puts its credentials in
/// [`CREDENTIALS`]; returns (client secret, refresh token).
async fn authorize(env: &TestEnv) -> (String, String) {
    let client_secret = random_token("client-secret");
    env.admin
        .oauth_client(KEY, CLIENT_ID, &client_secret, true)
        .await;
    let refresh = env.admin.oauth_grant(CLIENT_ID).await;
    put_oauth_credentials(env, &client_secret, &refresh).await;
    env.allow_write_back(CREDENTIALS).await;
    (client_secret, refresh)
}

async fn put_oauth_credentials(env: &TestEnv, client_secret: &str, refresh: &str) {
    env.put_secret(
        CREDENTIALS,
        &[
            ("client-id", CLIENT_ID.as_bytes()),
            ("client-secret", client_secret.as_bytes()),
            ("refresh-token", refresh.as_bytes()),
        ],
    )
    .await;
}

/// The `ZisIntegration` of [`KEY`] with the refresh-token grant from [`CREDENTIALS`]; its name.
async fn create_oauth_integration(env: &TestEnv) -> String {
    let spec = env.integration_spec(KEY, CREDENTIALS, "RefreshToken");
    env.create_integration("oauth", spec).await
}

async fn short_lived_access_tokens(env: &TestEnv) {
    env.admin
        .settings(json!({"oauth_max_expires_in": SHORT_LIFE_SECONDS}))
        .await;
}

/// The refresh token the credentials Secret holds now.
async fn stored_refresh_token(env: &TestEnv) -> String {
    let secret = env
        .secrets
        .get(CREDENTIALS)
        .await
        .unwrap_or_else(|e| panic!("reading {CREDENTIALS}: {e}"));
    let bytes = secret
        .data
        .and_then(|data| data.get("refresh-token").cloned())
        .unwrap_or_else(|| panic!("{CREDENTIALS} has no refresh-token"));
    String::from_utf8(bytes.0).unwrap_or_else(|e| panic!("refresh-token is not UTF-8: {e}"))
}

/// Spends `refresh` at the fake's token endpoint; its HTTP status and `error`, if any.
async fn use_refresh_token(env: &TestEnv, client_secret: &str, refresh: &str) -> (u16, String) {
    let answer = reqwest::Client::new()
        .post(format!("{}/oauth/tokens", env.fake_url()))
        .json(&json!({
            "grant_type": "refresh_token",
            "client_id": CLIENT_ID,
            "client_secret": client_secret,
            "refresh_token": refresh,
            "expires_in": 1800,
        }))
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST /oauth/tokens: {e}"));
    let status = answer.status().as_u16();
    let body: Value = answer.json().await.unwrap_or_default();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_string(),
    )
}

/// How many times the token endpoint answered `status`.
async fn token_requests(env: &TestEnv, status: u16) -> u64 {
    env.admin
        .requests()
        .await
        .count(|r| r.endpoint.contains("oauth/tokens") && r.status == status)
}

async fn remote_token(env: &TestEnv, name: &str) -> Option<String> {
    let remote = env.admin.bearer(KEY, name).await?;
    remote["token"].as_str().map(str::to_string)
}

async fn wait_remote_token(env: &mut TestEnv, name: &str, token: &str) {
    let what = format!("{name}'s remote token to be the one in its Secret");
    env.eventually(
        &what,
        Duration::from_secs(20),
        async |env| match remote_token(env, name).await {
            Some(remote) if remote == token => Ok(()),
            Some(_) => Err("another token".to_string()),
            None => Err("no remote connection".to_string()),
        },
    )
    .await;
}

#[tokio::test]
async fn refreshed_tokens_keep_connections_synced_and_each_refresh_token_is_stored_before_use() {
    let Some(mut env) = setup("int-renew").start().await else {
        return;
    };
    short_lived_access_tokens(&env).await;
    let (client_secret, first_refresh) = authorize(&env).await;
    let integration = create_oauth_integration(&env).await;
    env.wait_integration(&integration, "True", "Ready").await;
    let mut token = random_token("conn-token");
    env.put_token("renew-token", &token).await;
    env.create_ok("renew-conn", connection_spec("renew-token"))
        .await;
    env.wait_ready("renew-conn").await;

    // Several access-token lifetimes, a rotation of the connection's token in each.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_secs(SHORT_LIFE_SECONDS)).await;
        token = random_token("conn-token");
        env.put_token("renew-token", &token).await;
        wait_remote_token(&mut env, "renew-conn", &token).await;
    }
    let renewals = token_requests(&env, 200).await;
    assert!(
        renewals >= 4,
        "{renewals} token renewals in four access-token lifetimes"
    );
    assert_eq!(token_requests(&env, 400).await, 0, "a refresh was refused");
    let object = env.get_integration(&integration).await.unwrap_or_default();
    check_condition(&object, "Ready", "True", "Ready").unwrap_or_else(|e| panic!("{e}"));
    let status = &object["status"];
    assert!(status["accessTokenExpiresAt"].is_string(), "{status}");
    assert!(status["lastRenewedAt"].is_string(), "{status}");
    assert_eq!(status["connections"], 1, "{status}");

    // The Secret holds the one live refresh token: the first is spent, the stored one works.
    env.kill_operator();
    let stored = stored_refresh_token(&env).await;
    assert_ne!(
        stored, first_refresh,
        "the rotated refresh token was never written back"
    );
    assert_eq!(
        use_refresh_token(&env, &client_secret, &first_refresh).await,
        (400, "invalid_grant".to_string())
    );
    assert_eq!(
        use_refresh_token(&env, &client_secret, &stored).await.0,
        200,
        "the refresh token in the Secret is not the live one"
    );
    let log = env.operator_output();
    assert_no_secret(
        &log,
        &[&client_secret, &first_refresh, &stored],
        "the operator's log",
    );
    assert_no_secret(
        &object.to_string(),
        &[&client_secret, &stored],
        "the status",
    );
}

#[tokio::test]
async fn calls_refused_while_the_access_token_is_renewed_are_made_again_with_the_new_one() {
    let Some(mut env) = setup("int-gap").start().await else {
        return;
    };
    short_lived_access_tokens(&env).await;
    // Zendesk deletes the old access token when it grants the next; here the grant reaches the
    // operator 1.5 s later, so every renewal leaves a gap in which the old token is refused.
    env.admin.settings(json!({"oauth_latency_ms": 1500})).await;
    authorize(&env).await;
    let integration = create_oauth_integration(&env).await;
    env.wait_integration(&integration, "True", "Ready").await;
    let names = ["gap-a", "gap-b"];
    let mut tokens = Vec::new();
    for name in names {
        let token = random_token("conn-token");
        env.put_token(&format!("{name}-token"), &token).await;
        env.create_ok(name, connection_spec(&format!("{name}-token")))
            .await;
        tokens.push(token);
    }
    for name in names {
        env.wait_ready(name).await;
    }

    // Rotations every half second through three renewals: some land in the gaps. None may
    // leave a connection waiting for new credentials: the operator's own are fine.
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(3 * (SHORT_LIFE_SECONDS + 2)) {
        for (name, token) in names.iter().zip(tokens.iter_mut()) {
            *token = random_token("conn-token");
            env.put_token(&format!("{name}-token"), token).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        for name in names {
            let object = env.get_ok(name).await;
            if let Some(ready) = super::harness::condition(&object, "Ready")
                && ready["reason"] == "Unauthorized"
            {
                env.fail(&format!("{name} waits for new credentials: {ready}"))
                    .await;
            }
        }
    }
    for (name, token) in names.iter().zip(&tokens) {
        wait_remote_token(&mut env, name, token).await;
    }
    let refused = env
        .admin
        .requests()
        .await
        .count(|r| !r.endpoint.contains("oauth") && r.status == 401);
    assert!(
        refused > 0,
        "no call fell into a renewal's gap: the scenario tested nothing"
    );
}

#[tokio::test]
async fn a_refused_refresh_token_asks_a_person_to_reauthorize_and_connections_wait_for_it() {
    let Some(mut env) = setup("int-reauth").start().await else {
        return;
    };
    short_lived_access_tokens(&env).await;
    let (client_secret, first_refresh) = authorize(&env).await;
    let integration = create_oauth_integration(&env).await;
    let first_token = random_token("conn-token");
    env.put_token("reauth-token", &first_token).await;
    env.create_ok("reauth-conn", connection_spec("reauth-token"))
        .await;
    env.wait_ready("reauth-conn").await;

    // Someone revokes the app's grant in Zendesk.
    env.admin
        .revoke_grant(&stored_refresh_token(&env).await)
        .await;
    let object = env
        .wait_integration(&integration, "False", "ReauthorizationRequired")
        .await;
    let ready = super::harness::condition(&object, "Ready")
        .cloned()
        .unwrap_or_default();
    let message = ready["message"].as_str().unwrap_or_default();
    assert!(message.contains("authorize the app again"), "{message}");
    check_condition(&object, "Stalled", "True", "ReauthorizationRequired")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(object["status"]["accessTokenExpiresAt"].is_null());
    let refused = token_requests(&env, 400).await;
    assert_eq!(refused, 1, "refused refreshes");
    // The gauge reads the operator's cache, which sees the status a moment after the API does.
    env.eventually(
        "the renewal counter and the integrations gauge",
        Duration::from_secs(5),
        async |env| {
            let metrics = env.scrape_metrics().await;
            for series in [
                "zis_operator_token_renewals_total{result=\"invalid_grant\"} 1\n",
                "zis_operator_integrations{ready=\"False\",reason=\"ReauthorizationRequired\"} 1\n",
            ] {
                if !metrics.contains(series) {
                    return Err(format!("no {series} in:\n{metrics}"));
                }
            }
            Ok(())
        },
    )
    .await;
    // The event is written after the status, so it can be listed a moment later.
    env.eventually(
        "one ReauthorizationRequired warning event",
        Duration::from_secs(5),
        async |env| reauthorization_warnings(env, &integration).await,
    )
    .await;

    // The connection waits, naming its integration; its remote stays.
    let waiting = env
        .wait_condition("reauth-conn", "Ready", "False", "IntegrationNotReady")
        .await;
    let ready = super::harness::condition(&waiting, "Ready")
        .cloned()
        .unwrap_or_default();
    assert!(
        ready["message"]
            .as_str()
            .unwrap_or_default()
            .contains(&integration),
        "{ready}"
    );
    env.holds(
        "no retry storm at the token endpoint; the remote connection stays",
        Duration::from_secs(4),
        async |env| {
            let refused = token_requests(env, 400).await;
            if refused > 1 {
                return Err(format!("{refused} refused refreshes"));
            }
            match remote_token(env, "reauth-conn").await {
                Some(_) => Ok(()),
                None => Err("the remote connection is gone".to_string()),
            }
        },
    )
    .await;

    reauthorization_warnings(&env, &integration)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // A person authorizes the app again and stores the new refresh token.
    let again = env.admin.oauth_grant(CLIENT_ID).await;
    put_oauth_credentials(&env, &client_secret, &again).await;
    env.wait_integration(&integration, "True", "Ready").await;
    let next_token = random_token("conn-token");
    env.put_token("reauth-token", &next_token).await;
    wait_remote_token(&mut env, "reauth-conn", &next_token).await;
    env.wait_ready("reauth-conn").await;
    assert_no_secret(
        &env.operator_output(),
        &[&client_secret, &first_refresh, &again],
        "the operator's log",
    );
}

/// The documented outcome of a crash between the token endpoint's answer and the write-back:
/// the refresh token in the Secret is spent. Simulated by spending it while no operator runs.
#[tokio::test]
async fn a_refresh_token_spent_without_write_back_is_reported_as_needing_reauthorization() {
    let Some(mut env) = setup("int-crash").without_operator().start().await else {
        return;
    };
    let (client_secret, refresh) = authorize(&env).await;
    let (status, _) = use_refresh_token(&env, &client_secret, &refresh).await;
    assert_eq!(status, 200);
    let integration = create_oauth_integration(&env).await;
    env.start_operator();
    env.wait_integration(&integration, "False", "ReauthorizationRequired")
        .await;
}

#[tokio::test]
async fn with_two_replicas_only_the_leader_renews() {
    let Some(mut env) = setup("int-leader").without_operator().start().await else {
        return;
    };
    short_lived_access_tokens(&env).await;
    authorize(&env).await;
    let leader = env.spawn_replica("a");
    super::leader::wait_log(
        &mut env,
        &leader,
        "became the leader",
        Duration::from_secs(20),
    )
    .await;
    let standby = env.spawn_replica("b");
    super::leader::wait_log(
        &mut env,
        &standby,
        "waiting to become the leader",
        Duration::from_secs(20),
    )
    .await;
    let integration = create_oauth_integration(&env).await;
    env.wait_integration(&integration, "True", "Ready").await;
    env.put_token("leader-token", &random_token("conn-token"))
        .await;
    env.create_ok("leader-conn", connection_spec("leader-token"))
        .await;
    env.wait_ready("leader-conn").await;
    tokio::time::sleep(Duration::from_secs(3 * SHORT_LIFE_SECONDS)).await;

    let renewed = |log: &str| log.matches("access token renewed").count();
    assert!(renewed(&leader.log()) >= 3, "{}", leader.log());
    assert_eq!(
        renewed(&standby.log()),
        0,
        "the standby renewed:\n{}",
        standby.log()
    );
    assert_eq!(token_requests(&env, 400).await, 0, "a refresh was refused");
    env.wait_ready("leader-conn").await;
}

#[tokio::test]
async fn client_credentials_serve_connections_in_allowed_namespaces_only() {
    let Some(mut env) = setup("int-tenancy").start().await else {
        return;
    };
    authorize(&env).await;
    let mut spec = env.integration_spec(KEY, CREDENTIALS, "ClientCredentials");
    spec["namespaceSelector"] = json!({"matchLabels": {"e2e.zis-operator.dev/zis": "allowed"}});
    let integration = env.create_integration("machine", spec).await;
    env.wait_integration(&integration, "True", "Ready").await;
    env.put_token("tenant-token", &random_token("conn-token"))
        .await;
    env.create_ok("tenant-conn", connection_spec("tenant-token"))
        .await;

    let refused = env
        .wait_condition("tenant-conn", "Ready", "False", "NamespaceNotAllowed")
        .await;
    let ready = super::harness::condition(&refused, "Ready")
        .cloned()
        .unwrap_or_default();
    assert!(
        ready["message"]
            .as_str()
            .unwrap_or_default()
            .contains(&integration),
        "{ready}"
    );
    let remote_calls = env
        .admin
        .requests()
        .await
        .count(|r| r.endpoint.contains("/connections/"));
    assert_eq!(remote_calls, 0, "a refused connection reached ZIS");

    env.label_namespace("e2e.zis-operator.dev/zis", "allowed")
        .await;
    env.wait_ready("tenant-conn").await;
}

#[tokio::test]
async fn an_integration_that_never_adopts_overrides_the_connection_policy() {
    let Some(mut env) = setup("int-adopt").start().await else {
        return;
    };
    let access_token = random_token("zis-access");
    env.admin
        .add_access_token(KEY, &access_token, &["read", "write"])
        .await;
    env.put_secret(
        "static-credentials",
        &[("access-token", access_token.as_bytes())],
    )
    .await;
    let mut spec = env.integration_spec(KEY, "static-credentials", "AccessToken");
    spec["adoption"] = json!("Never");
    let integration = env.create_integration("static", spec).await;
    env.wait_integration(&integration, "True", "Ready").await;
    let old = random_token("old-token");
    env.admin
        .seed_bearer(KEY, "taken-conn", &old, "old.example.com")
        .await;
    env.put_token("taken-token", &random_token("conn-token"))
        .await;
    // The connection itself would adopt (its default policy).
    env.create_ok("taken-conn", connection_spec("taken-token"))
        .await;

    env.wait_condition("taken-conn", "Ready", "False", "Conflict")
        .await;
    assert_eq!(remote_token(&env, "taken-conn").await, Some(old));
}

#[tokio::test]
async fn broken_credentials_or_a_deleted_integration_stop_connections_without_deleting_them() {
    let Some(mut env) = setup("int-broken").start().await else {
        return;
    };
    let access_token = random_token("zis-access");
    env.admin
        .add_access_token(KEY, &access_token, &["read", "write"])
        .await;
    let good: &[(&str, &[u8])] = &[("access-token", access_token.as_bytes())];
    env.put_secret("static-credentials", good).await;
    let integration = env
        .create_integration(
            "static",
            env.integration_spec(KEY, "static-credentials", "AccessToken"),
        )
        .await;
    env.put_token("broken-token", &random_token("conn-token"))
        .await;
    env.create_ok("broken-conn", connection_spec("broken-token"))
        .await;
    env.wait_ready("broken-conn").await;

    // Malformed: the key is missing.
    env.put_secret("static-credentials", &[("token", access_token.as_bytes())])
        .await;
    env.wait_integration(&integration, "False", "SecretKeyNotFound")
        .await;
    env.wait_condition("broken-conn", "Ready", "False", "IntegrationNotReady")
        .await;
    assert!(remote_token(&env, "broken-conn").await.is_some());

    // Deleted.
    env.delete_secret("static-credentials").await;
    env.wait_integration(&integration, "False", "SecretNotFound")
        .await;
    assert!(remote_token(&env, "broken-conn").await.is_some());

    // Back.
    env.put_secret("static-credentials", good).await;
    env.wait_integration(&integration, "True", "Ready").await;
    env.wait_ready("broken-conn").await;

    // The integration itself goes: the connection falls back to the simple mode, whose
    // credentials (invalid here) ZIS refuses, and says so; the remote stays, even when the
    // object goes (its cleanup has no credentials ZIS accepts).
    env.delete_integration(&integration).await;
    env.wait_condition("broken-conn", "RemoteChecked", "False", "Unauthorized")
        .await;
    env.delete("broken-conn").await;
    env.holds(
        "the remote connection stays",
        Duration::from_secs(3),
        async |env| match remote_token(env, "broken-conn").await {
            Some(_) => Ok(()),
            None => Err("deleted".to_string()),
        },
    )
    .await;
}

/// Exactly one `ReauthorizationRequired` warning about `integration`: a refused grant is
/// reported once, not at every retry.
async fn reauthorization_warnings(env: &TestEnv, integration: &str) -> Result<(), String> {
    let events = env.integration_events(integration).await;
    let warnings = events
        .iter()
        .filter(|e| e.reason == "ReauthorizationRequired" && e.type_ == "Warning")
        .count();
    match warnings {
        1 => Ok(()),
        n => Err(format!(
            "{n} ReauthorizationRequired warnings in {events:?}"
        )),
    }
}
