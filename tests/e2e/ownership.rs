//! Two objects for one remote connection, and suspension.

use std::time::Duration;

use serde_json::json;

use super::harness::{INTEGRATION, Setup, check_condition, condition, random_token};

#[tokio::test]
async fn a_second_object_for_the_same_connection_gets_a_conflict_and_never_overwrites_the_first() {
    let Some(mut env) = Setup::new("same-name").start().await else {
        return;
    };
    let first_token = random_token("first-token");
    let second_token = random_token("second-token");
    env.put_token("first-token", &first_token).await;
    env.put_token("second-token", &second_token).await;
    let mut first = env.spec("first-token");
    first["connectionName"] = json!("shared-conn");
    let mut second = env.spec("second-token");
    second["connectionName"] = json!("shared-conn");
    env.create_ok("first", first).await;
    env.wait_ready("first").await;

    env.create_ok("second", second).await;
    env.wait_condition("second", "Ready", "False", "Conflict")
        .await;
    env.wait_condition("second", "Stalled", "True", "Conflict")
        .await;

    env.holds(
        "the first object's connection stays intact",
        Duration::from_secs(3),
        async |env| {
            let remote = env.remote("shared-conn").await.unwrap_or_default();
            if remote["token"] != first_token.as_str() {
                return Err(format!("the remote token changed: {remote}"));
            }
            check_condition(&env.get_ok("first").await, "Ready", "True", "Synced")
        },
    )
    .await;

    // The loser does not own the connection: deleting it leaves the remote alone.
    env.delete("second").await;
    env.wait_gone("second").await;
    let remote = env.remote("shared-conn").await.unwrap_or_default();
    assert_eq!(remote["token"], first_token.as_str());
    env.wait_ready("first").await;
}

#[tokio::test]
async fn a_suspended_connection_makes_no_remote_call_but_its_deletion_still_deletes_remotely() {
    let Some(mut env) = Setup::new("suspend").start().await else {
        return;
    };
    let token = random_token("conn-token");
    env.put_token("suspend-token", &token).await;
    env.create_ok("suspend-conn", env.spec("suspend-token"))
        .await;
    env.wait_ready("suspend-conn").await;

    env.patch_spec_ok("suspend-conn", json!({"suspend": true}))
        .await;
    env.eventually(
        "Ready reason Suspended",
        Duration::from_secs(15),
        async |env| {
            let object = env.get_ok("suspend-conn").await;
            match condition(&object, "Ready") {
                Some(ready) if ready["reason"] == "Suspended" => Ok(()),
                other => Err(format!("Ready is {other:?}")),
            }
        },
    )
    .await;
    let before = env.admin.requests().await;
    // A rotation and a remote drift: either would cause calls if the object were not suspended.
    env.put_token("suspend-token", &random_token("conn-token"))
        .await;
    env.admin
        .patch_connection(
            INTEGRATION,
            "bearer_token",
            "suspend-conn",
            json!({"allowed_domain": "drift.example.com"}),
        )
        .await;
    env.holds(
        "no request reaches ZIS while suspended",
        Duration::from_secs(4),
        async |env| {
            let now = env.admin.requests().await;
            if now.total != before.total {
                return Err(format!(
                    "requests while suspended: before {before:?}, now {now:?}"
                ));
            }
            Ok(())
        },
    )
    .await;
    assert_eq!(
        env.remote("suspend-conn").await.unwrap_or_default()["token"],
        token.as_str()
    );

    env.delete("suspend-conn").await;
    env.wait_gone("suspend-conn").await;
    assert!(
        env.remote("suspend-conn").await.is_none(),
        "deleted remotely while suspended"
    );
}

#[tokio::test]
async fn a_spec_change_made_while_suspended_is_not_reported_ready_until_synced() {
    let Some(mut env) = Setup::new("suspend-edit").start().await else {
        return;
    };
    env.put_token("edit-token", &random_token("conn-token"))
        .await;
    env.create_ok("edit-conn", env.spec("edit-token")).await;
    env.wait_ready("edit-conn").await;

    env.patch_spec_ok(
        "edit-conn",
        json!({"suspend": true, "allowedDomain": "other.example.com"}),
    )
    .await;
    env.wait_condition("edit-conn", "Ready", "Unknown", "Suspended")
        .await;
    env.holds(
        "Ready stays Unknown while the new domain is not pushed",
        Duration::from_secs(3),
        async |env| {
            let object = env.get_ok("edit-conn").await;
            check_condition(&object, "Ready", "Unknown", "Suspended")
        },
    )
    .await;
    assert_eq!(
        env.remote("edit-conn").await.unwrap_or_default()["allowed_domain"],
        super::harness::DOMAIN,
        "no remote call while suspended"
    );

    env.patch_spec_ok("edit-conn", json!({"suspend": false}))
        .await;
    env.wait_ready("edit-conn").await;
    assert_eq!(
        env.remote("edit-conn").await.unwrap_or_default()["allowed_domain"],
        "other.example.com"
    );
}

#[tokio::test]
async fn an_older_object_renamed_onto_a_live_connection_of_another_waits_until_its_holder_is_gone()
{
    let Some(mut env) = Setup::new("rename-onto").start().await else {
        return;
    };
    let a_token = random_token("a-token");
    let b_token = random_token("b-token");
    env.put_token("a-token", &a_token).await;
    env.put_token("b-token", &b_token).await;
    let mut a = env.spec("a-token");
    a["connectionName"] = json!("a-conn");
    a["adoptionPolicy"] = json!("Never");
    env.create_ok("aaa", a).await;
    env.wait_ready("aaa").await;
    // Creation timestamps have a resolution of one second: make aaa clearly the older one.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut b = env.spec("b-token");
    b["connectionName"] = json!("b-conn");
    env.create_ok("bbb", b).await;
    env.wait_ready("bbb").await;

    env.patch_spec_ok("aaa", json!({"connectionName": "b-conn"}))
        .await;
    env.wait_condition("aaa", "Ready", "False", "Conflict")
        .await;
    env.holds(
        "bbb keeps its connection, its token and its Ready status",
        Duration::from_secs(3),
        async |env| {
            let remote = env.remote("b-conn").await.unwrap_or_default();
            if remote["token"] != b_token.as_str() {
                return Err(format!("b-conn was overwritten: {remote}"));
            }
            let object = env.get_ok("bbb").await;
            if object["status"]["remote"]["connectionName"] != "b-conn" {
                return Err(format!("bbb forgot its connection: {}", object["status"]));
            }
            check_condition(&object, "Ready", "True", "Synced")
        },
    )
    .await;

    // Deleting the holder deletes its connection (no leak); then aaa takes the name over.
    env.delete("bbb").await;
    env.wait_gone("bbb").await;
    env.wait_ready("aaa").await;
    let remote = env.remote("b-conn").await.unwrap_or_default();
    assert_eq!(remote["token"], a_token.as_str(), "b-conn is aaa's now");
    assert!(
        env.remote("a-conn").await.is_none(),
        "aaa's old connection is removed"
    );
    assert_eq!(env.admin.bearer_connections().await.len(), 1);
}

#[tokio::test]
async fn an_object_waiting_for_an_owner_being_deleted_stays_quiet_and_takes_over_once_it_is_gone() {
    let Some(mut env) = Setup::new("owner-leaving").start().await else {
        return;
    };
    let second_token = random_token("second-token");
    env.put_token("first-token", &random_token("first-token"))
        .await;
    env.put_token("second-token", &second_token).await;
    let mut first = env.spec("first-token");
    first["connectionName"] = json!("leaving-conn");
    let mut second = env.spec("second-token");
    second["connectionName"] = json!("leaving-conn");
    env.create_ok("first", first).await;
    env.wait_ready("first").await;
    env.create_ok("second", second).await;
    env.wait_condition("second", "Ready", "False", "Conflict")
        .await;

    // The owner's deletion is refused once (400: retried only after minutes; a 403 would be the
    // credentials' fault and hold every connection of the integration): it stays deleting.
    env.admin.fault("DELETE", "bearer_token", 400, 1).await;
    env.delete("first").await;
    env.wait_condition("first", "Ready", "False", "DeleteFailed")
        .await;
    // Something makes the waiting object look again (its token rotates).
    let second_token = random_token("second-token");
    env.put_token("second-token", &second_token).await;
    env.eventually(
        "second to say its owner is being deleted",
        Duration::from_secs(20),
        async |env| {
            let object = env.get_ok("second").await;
            let ready = condition(&object, "Ready").cloned().unwrap_or_default();
            match ready["message"].as_str() {
                Some(message) if message.contains("being deleted") => Ok(()),
                _ => Err(format!("Ready is {ready}")),
            }
        },
    )
    .await;
    let warnings_of_second = |log: &str| {
        log.lines()
            .filter(|line| line.contains(" WARN ") && line.contains("/second."))
            .count()
    };
    let before = warnings_of_second(&env.operator_output());
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after = warnings_of_second(&env.operator_output());
    assert!(
        after - before <= 1,
        "the waiting object keeps warning: {} new WARN lines in 4 s",
        after - before
    );

    // Unblocked by a person (the owner is orphaned): second takes over at once, no 5-minute wait.
    env.patch_spec_ok("first", json!({"deletionPolicy": "Orphan"}))
        .await;
    env.wait_gone("first").await;
    env.wait_ready("second").await;
    assert_eq!(
        env.remote("leaving-conn").await.unwrap_or_default()["token"],
        second_token.as_str()
    );
}
