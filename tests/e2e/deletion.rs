//! Deleting a connection object: the remote goes (Delete) or stays (Orphan), and a deletion that
//! cannot proceed keeps the finalizer until it can.

use std::time::Duration;

use serde_json::json;

use super::harness::{DOMAIN, Setup, random_token};

#[tokio::test]
async fn deleting_a_connection_removes_it_remotely() {
    let Some(mut env) = Setup::new("delete").start().await else {
        return;
    };
    env.put_token("delete-token", &random_token("conn-token"))
        .await;
    env.create_ok("delete-conn", env.spec("delete-token")).await;
    env.wait_ready("delete-conn").await;

    env.delete("delete-conn").await;
    env.wait_gone("delete-conn").await;

    env.wait_remote_gone("delete-conn", Duration::ZERO).await;
    let event = env.wait_event("delete-conn", "Deleted").await;
    assert_eq!(event.type_, "Normal");
}

#[tokio::test]
async fn deleting_an_orphan_policy_connection_keeps_it_remotely() {
    let Some(mut env) = Setup::new("orphan").start().await else {
        return;
    };
    let token = random_token("conn-token");
    env.put_token("orphan-token", &token).await;
    let mut spec = env.spec("orphan-token");
    spec["deletionPolicy"] = json!("Orphan");
    env.create_ok("orphan-conn", spec).await;
    env.wait_ready("orphan-conn").await;

    env.delete("orphan-conn").await;
    env.wait_gone("orphan-conn").await;

    let remote = env.remote("orphan-conn").await.unwrap_or_default();
    assert_eq!(remote["token"], token.as_str(), "the remote stays");
    assert_eq!(remote["allowed_domain"], DOMAIN);
    let requests = env.admin.requests().await;
    assert_eq!(requests.with_method("DELETE"), 0, "no DELETE: {requests:?}");
    let event = env.wait_event("orphan-conn", "Orphaned").await;
    assert_eq!(event.type_, "Normal");
}

#[tokio::test]
async fn a_deletion_zis_refuses_keeps_the_finalizer_and_says_why_until_it_succeeds() {
    let Some(mut env) = Setup::new("delete-fails").start().await else {
        return;
    };
    env.put_token("doomed-token", &random_token("conn-token"))
        .await;
    env.create_ok("doomed-conn", env.spec("doomed-token")).await;
    env.wait_ready("doomed-conn").await;
    env.admin.fault("DELETE", "bearer_token", 503, 2).await;

    env.delete("doomed-conn").await;

    // The contract lists both reasons; a 503 may be reported as either.
    env.wait_event_where(
        "doomed-conn",
        "a Warning DeleteFailed or ZisUnavailable",
        |e| e.type_ == "Warning" && (e.reason == "DeleteFailed" || e.reason == "ZisUnavailable"),
    )
    .await;
    env.eventually(
        "the object to be gone once ZIS accepts the DELETE",
        Duration::from_secs(30),
        async |env| match env.get("doomed-conn").await {
            None => Ok(()),
            Some(object) => Err(format!("still there: {}", object["status"])),
        },
    )
    .await;
    // Gone remotely too: the finalizer outlived the failed DELETEs.
    assert!(
        env.remote("doomed-conn").await.is_none(),
        "the remote is gone"
    );
    let requests = env.admin.requests().await;
    assert_eq!(
        requests.with_status(503),
        2,
        "both faults were hit: {requests:?}"
    );
}

#[tokio::test]
async fn a_deletion_with_rejected_credentials_waits_with_the_finalizer_until_they_are_fixed() {
    let Some(mut env) = Setup::new("delete-unauthorized").start().await else {
        return;
    };
    env.put_token("stuck-token", &random_token("conn-token"))
        .await;
    env.create_ok("stuck-conn", env.spec("stuck-token")).await;
    env.wait_ready("stuck-conn").await;
    env.put_credentials(&random_token("revoked-access")).await;
    // The operator sees the revoked credentials (its next drift check is refused, which says so
    // in RemoteChecked and leaves Ready alone) before the deletion: otherwise the DELETE may
    // still go out with the old ones.
    env.wait_condition("stuck-conn", "RemoteChecked", "False", "Unauthorized")
        .await;

    env.delete("stuck-conn").await;

    let why = |object: &serde_json::Value| {
        let ready = super::harness::condition(object, "Ready")
            .cloned()
            .unwrap_or_default();
        let explained = ready["status"] == "False"
            && (ready["reason"] == "Unauthorized" || ready["reason"] == "DeleteFailed");
        explained
            .then_some(())
            .ok_or_else(|| format!("Ready is {ready}"))
    };
    env.eventually(
        "the status to say why the deletion cannot proceed",
        super::harness::env::CONVERGE,
        async |env| {
            let object = env.get("stuck-conn").await.ok_or("the object is gone")?;
            why(&object)
        },
    )
    .await;
    env.holds(
        "the object and its remote stay while the credentials are rejected",
        Duration::from_secs(2),
        async |env| {
            let object = env.get("stuck-conn").await.ok_or("the object is gone")?;
            let finalizers = object["metadata"]["finalizers"].to_string();
            if !finalizers.contains("zis-operator.dev/cleanup") {
                return Err(format!("finalizers {finalizers}"));
            }
            env.remote("stuck-conn")
                .await
                .map(|_| ())
                .ok_or_else(|| "the remote is gone".to_string())
        },
    )
    .await;
    env.wait_event_where(
        "stuck-conn",
        "a Warning Unauthorized or DeleteFailed",
        |e| e.type_ == "Warning" && (e.reason == "Unauthorized" || e.reason == "DeleteFailed"),
    )
    .await;

    let access_token = env.access_token.clone();
    env.put_credentials(&access_token).await;
    env.wait_gone("stuck-conn").await;
    env.wait_remote_gone("stuck-conn", Duration::ZERO).await;
}

#[tokio::test]
async fn a_failed_deletion_waits_out_its_retry_delay_and_a_spec_change_retries_it_at_once() {
    let Some(mut env) = Setup::new("delete-delay").start().await else {
        return;
    };
    env.put_token("delay-token", &random_token("conn-token"))
        .await;
    env.create_ok("delay-conn", env.spec("delay-token")).await;
    env.wait_ready("delay-conn").await;
    // One 403: retried slowly (minutes), so the operator's own DeleteFailed status write must
    // not start another DELETE.
    env.admin.fault("DELETE", "bearer_token", 403, 1).await;

    env.delete("delay-conn").await;
    env.wait_condition("delay-conn", "Ready", "False", "DeleteFailed")
        .await;
    env.holds(
        "a single DELETE while the retry delay runs",
        Duration::from_secs(4),
        async |env| {
            let requests = env.admin.requests().await;
            match requests.with_method("DELETE") {
                1 => Ok(()),
                n => Err(format!("{n} DELETEs: {requests:?}")),
            }
        },
    )
    .await;
    assert!(env.get("delay-conn").await.is_some(), "the finalizer stays");

    // A spec change is something a person did to unblock it: it is acted on at once.
    env.patch_spec_ok("delay-conn", json!({"deletionPolicy": "Orphan"}))
        .await;
    env.wait_gone("delay-conn").await;
    assert!(
        env.remote("delay-conn").await.is_some(),
        "orphaned, not deleted"
    );
}
