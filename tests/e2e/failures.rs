//! ZIS and credential failures: 401/403 stall and recover when the credentials Secret changes;
//! 429 and 5xx are ridden out; an operator killed mid-create recovers with no duplicate and no
//! error loop.

use std::time::{Duration, Instant};

use super::harness::{
    CREDENTIALS_SECRET, Credentials, INTEGRATION, Setup, check_condition, condition, random_token,
};

/// How soon a credentials Secret change must unblock a stalled connection. These scenarios run
/// with a 10-minute resync and 401/403 retry slowly, so only the credentials watch can meet it.
const AT_ONCE: Duration = Duration::from_secs(5);

#[tokio::test]
async fn rejected_credentials_stall_the_connection_until_the_credentials_secret_is_fixed() {
    let Some(mut env) = Setup::new("unauthorized")
        .resync("10m")
        .credentials(Credentials::Token(random_token("wrong-access")))
        .start()
        .await
    else {
        return;
    };
    env.put_token("auth-token", &random_token("conn-token"))
        .await;
    env.create_ok("auth-conn", env.spec("auth-token")).await;

    env.wait_condition("auth-conn", "Ready", "False", "Unauthorized")
        .await;
    env.wait_condition("auth-conn", "Stalled", "True", "Unauthorized")
        .await;
    let event = env.wait_event("auth-conn", "Unauthorized").await;
    assert_eq!(event.type_, "Warning");
    // Slow retries, not a hammering loop.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let requests = env.admin.requests().await;
    assert!(
        requests.with_status(401) <= 3,
        "too many requests with rejected credentials in ~3 s: {requests:?}"
    );
    assert!(env.remote("auth-conn").await.is_none());

    let access_token = env.access_token.clone();
    env.put_credentials(&access_token).await;
    env.wait_condition_within("auth-conn", "Ready", "True", "Synced", AT_ONCE)
        .await;
    assert!(env.remote("auth-conn").await.is_some());
}

#[tokio::test]
async fn a_token_without_write_scope_is_forbidden_and_an_integration_key_in_the_credentials_wins() {
    let Some(mut env) = Setup::new("forbidden")
        .resync("10m")
        .without_operator()
        .start()
        .await
    else {
        return;
    };
    let read_only = random_token("read-only-access");
    env.admin
        .add_access_token(INTEGRATION, &read_only, &["read"])
        .await;
    env.put_credentials(&read_only).await;
    env.start_operator();
    env.put_token("scope-token", &random_token("conn-token"))
        .await;
    env.create_ok("scope-conn", env.spec("scope-token")).await;

    env.wait_condition("scope-conn", "Ready", "False", "Forbidden")
        .await;
    env.wait_condition("scope-conn", "Stalled", "True", "Forbidden")
        .await;
    assert!(env.remote("scope-conn").await.is_none());

    // A key named after the integration serves it and wins over `access-token`.
    let access_token = env.access_token.clone();
    env.put_secret(
        CREDENTIALS_SECRET,
        &[
            ("access-token", read_only.as_bytes()),
            (INTEGRATION, access_token.as_bytes()),
        ],
    )
    .await;
    env.wait_condition_within("scope-conn", "Ready", "True", "Synced", AT_ONCE)
        .await;
    assert!(env.remote("scope-conn").await.is_some());
}

#[tokio::test]
async fn credentials_for_another_integration_only_are_reported_missing_until_added() {
    let Some(mut env) = Setup::new("no-credentials")
        .resync("10m")
        .without_operator()
        .start()
        .await
    else {
        return;
    };
    let access_token = env.access_token.clone();
    env.put_secret(
        CREDENTIALS_SECRET,
        &[("some-other-app", access_token.as_bytes())],
    )
    .await;
    env.start_operator();
    env.put_token("creds-token", &random_token("conn-token"))
        .await;
    env.create_ok("creds-conn", env.spec("creds-token")).await;

    env.wait_condition("creds-conn", "Ready", "False", "CredentialsMissing")
        .await;
    let requests = env.admin.requests().await;
    assert_eq!(
        requests.total, 0,
        "no remote call without credentials: {requests:?}"
    );

    env.put_secret(
        CREDENTIALS_SECRET,
        &[
            ("some-other-app", access_token.as_bytes()),
            ("access-token", access_token.as_bytes()),
        ],
    )
    .await;
    env.wait_condition_within("creds-conn", "Ready", "True", "Synced", AT_ONCE)
        .await;
}

#[tokio::test]
async fn a_burst_of_server_errors_is_ridden_out_and_the_connection_converges() {
    let Some(mut env) = Setup::new("server-errors").start().await else {
        return;
    };
    env.admin.fault("POST", "bearer_token", 500, 3).await;
    let token = random_token("conn-token");
    env.put_token("flaky-token", &token).await;
    env.create_ok("flaky-conn", env.spec("flaky-token")).await;

    env.wait_condition_within(
        "flaky-conn",
        "Ready",
        "True",
        "Synced",
        Duration::from_secs(40),
    )
    .await;

    let remote = env.remote("flaky-conn").await.unwrap_or_default();
    assert_eq!(remote["token"], token.as_str());
    assert_eq!(env.admin.bearer_connections().await.len(), 1);
    let requests = env.admin.requests().await;
    assert_eq!(
        requests.with_status(500),
        3,
        "the three faults were hit: {requests:?}"
    );
    let event = env.wait_event("flaky-conn", "ZisUnavailable").await;
    assert_eq!(event.type_, "Warning");
}

#[tokio::test]
async fn a_rate_limited_create_waits_for_retry_after_and_then_converges() {
    let Some(mut env) = Setup::new("retry-after").start().await else {
        return;
    };
    env.admin
        .fault_with_retry_after("POST", "bearer_token", 429, 2, 3)
        .await;
    let token = random_token("conn-token");
    env.put_token("paced-token", &token).await;
    let created = Instant::now();
    env.create_ok("paced-conn", env.spec("paced-token")).await;

    env.wait_condition_within(
        "paced-conn",
        "Ready",
        "True",
        "Synced",
        Duration::from_secs(40),
    )
    .await;

    // Two answers of `Retry-After: 3` mean at least 6 s before the create can succeed (a little
    // less for timer granularity); faster means the operator retried early.
    let elapsed = created.elapsed();
    assert!(
        elapsed >= Duration::from_millis(5500),
        "converged after {elapsed:?}: Retry-After 3 s was not waited twice"
    );
    let requests = env.admin.requests().await;
    assert_eq!(requests.with_status(429), 2, "{requests:?}");
    assert_eq!(
        env.remote("paced-conn").await.unwrap_or_default()["token"],
        token.as_str()
    );
}

#[tokio::test]
async fn a_low_account_rate_limit_is_respected_and_every_connection_still_converges() {
    // Two requests a minute for three connections: the third create has to wait for the sliding
    // window (about a minute), whether the client learns it from X-Rate-Limit-Remaining (it slows
    // down first) or from a 429; a 10-minute resync keeps other traffic away.
    let Some(mut env) = Setup::new("rate-limit")
        .resync("10m")
        .rate_limit_per_minute(2)
        .start()
        .await
    else {
        return;
    };
    let names = ["rate-a", "rate-b", "rate-c"];
    let started = Instant::now();
    for name in names {
        env.put_token(name, &random_token("conn-token")).await;
        env.create_ok(name, env.spec(name)).await;
    }
    for name in names {
        env.wait_condition_within(name, "Ready", "True", "Synced", Duration::from_secs(150))
            .await;
    }
    assert!(
        started.elapsed() > Duration::from_secs(30),
        "three creates under a limit of two a minute took {:?}: the limit was not in the way",
        started.elapsed()
    );
    assert_eq!(env.admin.bearer_connections().await.len(), names.len());
    let requests = env.admin.requests().await;
    assert!(
        requests.with_status(429) <= 6,
        "the limit was not respected (too many 429s): {requests:?}"
    );
}

#[tokio::test]
async fn an_operator_killed_between_remote_create_and_status_write_recovers_without_a_duplicate() {
    let Some(mut env) = Setup::new("crash").start().await else {
        return;
    };
    let token = random_token("conn-token");
    env.put_token("crash-token", &token).await;
    // The fake answers 4 s after it has created the connection: the operator is killed while it
    // waits for the answer, so its status never records the create.
    env.admin
        .settings(serde_json::json!({"latency_ms": 4000}))
        .await;
    env.create_ok("crash-conn", env.spec("crash-token")).await;
    env.eventually(
        "the remote create (its answer still delayed)",
        Duration::from_secs(15),
        async |env| {
            env.remote("crash-conn")
                .await
                .map(|_| ())
                .ok_or_else(|| "not created yet".to_string())
        },
    )
    .await;
    env.kill_operator();
    let object = env.get_ok("crash-conn").await;
    if condition(&object, "Ready").is_some_and(|ready| ready["status"] == "True") {
        env.fail("the status recorded the create before the answer came: the kill came too late")
            .await;
    }
    env.admin
        .settings(serde_json::json!({"latency_ms": 0}))
        .await;

    env.start_operator();
    env.wait_ready("crash-conn").await;

    let remotes = env.admin.bearer_connections().await;
    assert_eq!(
        remotes.len(),
        1,
        "exactly one remote connection: {remotes:?}"
    );
    assert_eq!(remotes[0]["token"], token.as_str());
    // No error loop: once Ready, nothing fails and nothing is written (resync reads only).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let settled = env.admin.requests().await;
    env.holds(
        "no error loop after the restart",
        Duration::from_secs(4),
        async |env| {
            let now = env.admin.requests().await;
            if now.writes() != settled.writes() || now.failures() != settled.failures() {
                return Err(format!(
                    "requests keep coming: before {settled:?}, now {now:?}"
                ));
            }
            Ok(())
        },
    )
    .await;
    env.wait_ready("crash-conn").await;
}

#[tokio::test]
async fn a_request_zis_rejects_as_invalid_stalls_until_the_secret_changes() {
    let Some(mut env) = Setup::new("invalid-request").resync("10m").start().await else {
        return;
    };
    env.admin.fault("POST", "bearer_token", 400, 1).await;
    env.put_token("bad-request-token", &random_token("conn-token"))
        .await;
    env.create_ok("bad-request-conn", env.spec("bad-request-token"))
        .await;

    env.wait_condition("bad-request-conn", "Ready", "False", "InvalidRequest")
        .await;
    env.wait_condition("bad-request-conn", "Stalled", "True", "InvalidRequest")
        .await;
    // Stalled means no retry loop: the same request would fail the same way.
    env.holds(
        "no retry of the rejected create",
        Duration::from_secs(3),
        async |env| {
            let requests = env.admin.requests().await;
            match requests.with_method("POST") {
                1 => Ok(()),
                _ => Err(format!("the create was retried: {requests:?}")),
            }
        },
    )
    .await;

    let token = random_token("conn-token");
    env.put_token("bad-request-token", &token).await;
    env.wait_condition_within("bad-request-conn", "Ready", "True", "Synced", AT_ONCE)
        .await;
    assert_eq!(
        env.remote("bad-request-conn").await.unwrap_or_default()["token"],
        token.as_str()
    );
}

#[tokio::test]
async fn a_revoked_access_token_costs_one_probe_and_one_event_not_one_per_connection() {
    const CONNECTIONS: usize = 12;
    let Some(mut env) = Setup::new("revoked").resync("2s").start().await else {
        return;
    };
    for i in 0..CONNECTIONS {
        env.put_token(&format!("tok-{i}"), &random_token("conn-token"))
            .await;
        env.create_ok(&format!("conn-{i}"), env.spec(&format!("tok-{i}")))
            .await;
    }
    for i in 0..CONNECTIONS {
        env.wait_ready(&format!("conn-{i}")).await;
    }
    let before = env.admin.requests().await;
    let access_token = env.access_token.clone();
    env.admin.revoke_access_token(&access_token).await;

    // Every connection comes to say why it cannot be checked; Ready stays (they are in sync).
    env.eventually(
        "every connection to report the rejected credentials",
        Duration::from_secs(20),
        async |env| {
            for i in 0..CONNECTIONS {
                let object = env.get_ok(&format!("conn-{i}")).await;
                check_condition(&object, "RemoteChecked", "False", "Unauthorized")?;
                check_condition(&object, "Ready", "True", "Synced")?;
            }
            Ok(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let requests = env.admin.requests().await;
    let refused = requests.with_status(401) - before.with_status(401);
    assert!(
        refused <= 5,
        "{refused} requests with the revoked token: the connections should wait for one probe"
    );
    let events: kube::Api<k8s_openapi::api::events::v1::Event> =
        kube::Api::namespaced(env.client.clone(), &env.ns);
    let warnings = events
        .list(&Default::default())
        .await
        .unwrap_or_else(|e| panic!("events: {e}"))
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("Unauthorized"))
        .count();
    assert_eq!(
        warnings, 1,
        "one event for the rejected credentials, not one per connection"
    );

    // New credentials: everything is checked again at once.
    let renewed = random_token("zis-access");
    env.admin
        .add_access_token(INTEGRATION, &renewed, &["read", "write"])
        .await;
    env.put_credentials(&renewed).await;
    for i in 0..CONNECTIONS {
        env.wait_condition(&format!("conn-{i}"), "RemoteChecked", "True", "Checked")
            .await;
    }
}
