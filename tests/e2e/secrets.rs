//! The token Secret: rotation is pushed at once, Secret problems are reported without any remote
//! call, and no token ever reaches the operator's output.

use std::time::{Duration, Instant};

use serde_json::json;

use super::harness::{Credentials, Setup, assert_no_secret, random_token};

/// How soon a Secret change must reach ZIS. These scenarios run with a 10-minute resync, so only
/// the Secret watch can meet it (the issue asks for "within a second"; slack for a loaded CI).
const AT_ONCE: Duration = Duration::from_secs(3);

#[tokio::test]
async fn a_rotated_token_is_pushed_at_once_not_at_the_next_resync() {
    let Some(mut env) = Setup::new("rotate").resync("10m").start().await else {
        return;
    };
    let first = random_token("conn-token");
    env.put_token("rotate-token", &first).await;
    env.create_ok("rotate-conn", env.spec("rotate-token")).await;
    let synced = env.wait_ready("rotate-conn").await;
    let created_at = env.remote("rotate-conn").await.unwrap_or_default()["created_at"].clone();

    let second = random_token("conn-token");
    env.put_token("rotate-token", &second).await;
    let rotated = Instant::now();
    env.wait_remote(
        "the rotated token remotely",
        "rotate-conn",
        AT_ONCE,
        |remote| {
            (remote["token"] == second.as_str())
                .then_some(())
                .ok_or_else(|| "still the old token".to_string())
        },
    )
    .await;
    eprintln!("rotation reached ZIS after {:?}", rotated.elapsed());

    let secret = env
        .secrets
        .get("rotate-token")
        .await
        .unwrap_or_else(|e| panic!("reading the Secret: {e}"));
    let version = secret.metadata.resource_version.unwrap_or_default();
    let object = env
        .eventually("the status to record the rotation", AT_ONCE, async |env| {
            let object = env.get_ok("rotate-conn").await;
            if object["status"]["secretResourceVersion"] != version.as_str() {
                return Err(format!("status {}", object["status"]));
            }
            Ok(object)
        })
        .await;
    assert_ne!(
        object["status"]["tokenFingerprint"], synced["status"]["tokenFingerprint"],
        "the fingerprint follows the token"
    );
    let remote = env.remote("rotate-conn").await.unwrap_or_default();
    assert_eq!(
        remote["created_at"], created_at,
        "rotated in place, not recreated"
    );
    let event = env.wait_event("rotate-conn", "Updated").await;
    assert_eq!(event.type_, "Normal");
}

#[tokio::test]
async fn a_missing_secret_is_reported_and_the_connection_syncs_as_soon_as_it_appears() {
    let Some(mut env) = Setup::new("late-secret").resync("10m").start().await else {
        return;
    };
    env.create_ok("late-conn", env.spec("late-token")).await;

    env.wait_condition("late-conn", "Ready", "False", "SecretNotFound")
        .await;
    env.wait_condition("late-conn", "Stalled", "True", "SecretNotFound")
        .await;
    let requests = env.admin.requests().await;
    assert_eq!(
        requests.total, 0,
        "no remote call without a token: {requests:?}"
    );

    let token = random_token("conn-token");
    env.put_token("late-token", &token).await;
    env.wait_condition_within("late-conn", "Ready", "True", "Synced", AT_ONCE)
        .await;
    let remote = env.remote("late-conn").await.unwrap_or_default();
    assert_eq!(remote["token"], token.as_str());
}

#[tokio::test]
async fn each_unusable_token_secret_has_its_own_reason_and_causes_no_remote_call() {
    let Some(mut env) = Setup::new("bad-secrets").resync("10m").start().await else {
        return;
    };
    let oversized = vec![b'a'; 8193];
    let token = random_token("conn-token");
    env.put_secret("no-key", &[("other", token.as_bytes())])
        .await;
    env.put_secret("empty", &[("token", &b""[..])]).await;
    env.put_secret("not-utf8", &[("token", &[0xff, 0xfe, 0xfd, 0x80][..])])
        .await;
    env.put_secret("too-large", &[("token", oversized.as_slice())])
        .await;
    let cases = [
        ("no-key-conn", "no-key", "SecretKeyNotFound"),
        ("empty-conn", "empty", "TokenEmpty"),
        ("not-utf8-conn", "not-utf8", "TokenNotUtf8"),
        ("too-large-conn", "too-large", "TokenTooLarge"),
    ];
    for (name, secret, _) in cases {
        env.create_ok(name, env.spec(secret)).await;
    }
    for (name, _, reason) in cases {
        env.wait_condition(name, "Ready", "False", reason).await;
        env.wait_condition(name, "Stalled", "True", reason).await;
    }
    let requests = env.admin.requests().await;
    assert_eq!(requests.total, 0, "no remote call: {requests:?}");

    // Pointing the spec at the key that exists fixes it.
    env.patch_spec_ok(
        "no-key-conn",
        json!({"tokenSecretRef": {"name": "no-key", "key": "other"}}),
    )
    .await;
    env.wait_ready("no-key-conn").await;
    let remote = env.remote("no-key-conn").await.unwrap_or_default();
    assert_eq!(remote["token"], token.as_str());
}

#[tokio::test]
async fn no_token_appears_in_the_operators_trace_output_events_or_status() {
    // Rejected credentials first, so error paths are traced too.
    let wrong_access = random_token("wrong-access");
    let Some(mut env) = Setup::new("trace")
        .rust_log("trace")
        .credentials(Credentials::Token(wrong_access.clone()))
        .start()
        .await
    else {
        return;
    };
    let first = random_token("conn-token");
    let second = random_token("conn-token");
    env.put_token("trace-token", &first).await;
    env.create_ok("trace-conn", env.spec("trace-token")).await;
    env.wait_condition("trace-conn", "Ready", "False", "Unauthorized")
        .await;
    let access_token = env.access_token.clone();
    env.put_credentials(&access_token).await;
    env.wait_ready("trace-conn").await;
    env.put_token("trace-token", &second).await;
    env.wait_remote(
        "the rotated token remotely",
        "trace-conn",
        Duration::from_secs(10),
        |r| {
            (r["token"] == second.as_str())
                .then_some(())
                .ok_or_else(|| "still the old token".to_string())
        },
    )
    .await;
    let object = env.wait_ready("trace-conn").await;
    let events = env.all_events_text().await;
    env.delete("trace-conn").await;
    env.wait_gone("trace-conn").await;
    env.kill_operator();

    let output = env.operator_output();
    assert!(
        output.contains("TRACE"),
        "the operator wrote no trace-level output; the check below would prove nothing:\n{}",
        &output[..output.len().min(2000)]
    );
    let secrets = [
        first.as_str(),
        second.as_str(),
        env.access_token.as_str(),
        wrong_access.as_str(),
    ];
    assert_no_secret(&output, &secrets, "the operator's trace output");
    assert_no_secret(&events, &secrets, "the events");
    assert_no_secret(&object.to_string(), &secrets, "the object");
}

#[tokio::test]
async fn touching_the_secret_without_changing_the_token_writes_nothing_remotely() {
    let Some(mut env) = Setup::new("secret-touch").resync("10m").start().await else {
        return;
    };
    let token = random_token("conn-token");
    env.put_token("touch-token", &token).await;
    env.create_ok("touch-conn", env.spec("touch-token")).await;
    env.wait_ready("touch-conn").await;
    let before = env.admin.requests().await;

    // Same data, new resourceVersion (an added key and a label).
    env.put_secret(
        "touch-token",
        &[("token", token.as_bytes()), ("note", b"unrelated")],
    )
    .await;
    env.secrets
        .patch(
            "touch-token",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"metadata": {"labels": {"touched": "yes"}}})),
        )
        .await
        .unwrap_or_else(|e| panic!("labelling the Secret: {e}"));

    env.holds(
        "no remote write for an unchanged token",
        Duration::from_secs(2),
        async |env| {
            let now = env.admin.requests().await;
            if now.writes() != before.writes() {
                return Err(format!("a write: before {before:?}, now {now:?}"));
            }
            Ok(())
        },
    )
    .await;
    env.wait_ready("touch-conn").await;
}

#[tokio::test]
async fn a_deleted_token_secret_is_reported_and_the_remote_is_left_in_place() {
    let Some(mut env) = Setup::new("secret-gone").resync("10m").start().await else {
        return;
    };
    let token = random_token("conn-token");
    env.put_token("gone-token", &token).await;
    env.create_ok("gone-conn", env.spec("gone-token")).await;
    env.wait_ready("gone-conn").await;
    let before = env.admin.requests().await;

    env.delete_secret("gone-token").await;

    env.wait_condition_within("gone-conn", "Ready", "False", "SecretNotFound", AT_ONCE)
        .await;
    let remote = env.remote("gone-conn").await.unwrap_or_default();
    assert_eq!(
        remote["token"],
        token.as_str(),
        "the remote stays as it was"
    );
    let after = env.admin.requests().await;
    assert_eq!(
        after.writes(),
        before.writes(),
        "no remote write: {after:?}"
    );

    // The same token again: synced, still without a write.
    env.put_token("gone-token", &token).await;
    env.wait_condition_within("gone-conn", "Ready", "True", "Synced", AT_ONCE)
        .await;
    let after = env.admin.requests().await;
    assert_eq!(
        after.writes(),
        before.writes(),
        "no remote write: {after:?}"
    );
}
