//! A name that is already taken remotely: adopted, refused, or held by another connection type.

use std::time::Duration;

use serde_json::json;

use super::harness::{DOMAIN, INTEGRATION, Setup, random_token};

#[tokio::test]
async fn an_existing_connection_is_adopted_and_given_our_token_and_domain() {
    let Some(mut env) = Setup::new("adopt").start().await else {
        return;
    };
    let old = random_token("old-token");
    env.admin
        .seed_bearer(INTEGRATION, "adopt-conn", &old, "old.example.com")
        .await;
    let token = random_token("conn-token");
    env.put_token("adopt-token", &token).await;
    env.create_ok("adopt-conn", env.spec("adopt-token")).await;

    let object = env.wait_ready("adopt-conn").await;

    assert_eq!(object["status"]["adopted"], true, "status.adopted");
    assert_eq!(object["status"]["remote"]["connectionName"], "adopt-conn");
    let remote = env.remote("adopt-conn").await.unwrap_or_default();
    assert_eq!(remote["token"], token.as_str(), "our token was pushed");
    assert_eq!(remote["allowed_domain"], DOMAIN, "our domain was pushed");
    assert_eq!(env.admin.bearer_connections().await.len(), 1);
    let event = env.wait_event("adopt-conn", "Adopted").await;
    assert_eq!(event.type_, "Normal");
}

#[tokio::test]
async fn adoption_policy_never_reports_a_conflict_and_leaves_the_remote_alone() {
    let Some(mut env) = Setup::new("adopt-never").start().await else {
        return;
    };
    let old = random_token("old-token");
    env.admin
        .seed_bearer(INTEGRATION, "kept-conn", &old, "old.example.com")
        .await;
    let seeded = env.remote("kept-conn").await.unwrap_or_default();
    env.put_token("kept-token", &random_token("conn-token"))
        .await;
    let mut spec = env.spec("kept-token");
    spec["adoptionPolicy"] = json!("Never");
    env.create_ok("kept-conn", spec).await;

    env.wait_condition("kept-conn", "Ready", "False", "Conflict")
        .await;
    env.wait_condition("kept-conn", "Stalled", "True", "Conflict")
        .await;
    let event = env.wait_event("kept-conn", "Conflict").await;
    assert_eq!(event.type_, "Warning");
    // Past a resync, still untouched.
    env.holds(
        "the seeded connection stays as it was",
        Duration::from_secs(3),
        async |env| {
            let now = env.remote("kept-conn").await.unwrap_or_default();
            if now != seeded {
                return Err(format!("changed from {seeded} to {now}"));
            }
            let requests = env.admin.requests().await;
            if requests.with_method("PATCH") + requests.with_method("DELETE") > 0 {
                return Err(format!("a write reached ZIS: {requests:?}"));
            }
            Ok(())
        },
    )
    .await;

    // It was never ours: deleting the object must not delete it.
    env.delete("kept-conn").await;
    env.wait_gone("kept-conn").await;
    assert_eq!(env.remote("kept-conn").await.unwrap_or_default(), seeded);
}

#[tokio::test]
async fn a_name_held_by_another_connection_type_is_reported_and_left_alone() {
    let Some(mut env) = Setup::new("other-type").start().await else {
        return;
    };
    let api_key = random_token("api-key");
    env.admin
        .seed(json!({
            "integration": INTEGRATION,
            "type": "api_key",
            "name": "taken-conn",
            "api_key": api_key,
            "header_name": "x-api-key",
            "allowed_domain": DOMAIN,
        }))
        .await;
    let seeded = env.admin.connections().await;
    env.put_token("taken-token", &random_token("conn-token"))
        .await;
    env.create_ok("taken-conn", env.spec("taken-token")).await;

    env.wait_condition("taken-conn", "Ready", "False", "NameTakenByOtherType")
        .await;
    env.wait_condition("taken-conn", "Stalled", "True", "NameTakenByOtherType")
        .await;
    assert_eq!(
        env.admin.connections().await,
        seeded,
        "the api_key connection is untouched"
    );

    env.delete("taken-conn").await;
    env.wait_gone("taken-conn").await;
    assert_eq!(
        env.admin.connections().await,
        seeded,
        "the api_key connection survives"
    );
}

/// Seeds a bearer connection someone else created an hour ago.
async fn seed_foreign(
    env: &super::harness::env::TestEnv,
    name: &str,
    token: &str,
) -> serde_json::Value {
    let created = (chrono::Utc::now() - chrono::TimeDelta::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    env.admin
        .seed(json!({
            "integration": INTEGRATION,
            "type": "bearer_token",
            "name": name,
            "token": token,
            "allowed_domain": "old.example.com",
            "created_at": created,
        }))
        .await;
    env.remote(name).await.unwrap_or_default()
}

#[tokio::test]
async fn adoption_policy_never_still_refuses_a_foreign_connection_after_a_failed_first_create() {
    let Some(mut env) = Setup::new("never-5xx").start().await else {
        return;
    };
    let foreign = random_token("foreign-token");
    let seeded = seed_foreign(&env, "foreign-conn", &foreign).await;
    // The first POST fails with 503: the operator cannot know whether it created anything, so
    // the retry's 409 must be checked against the connection's created_at, not assumed ours.
    env.admin.fault("POST", "bearer_token", 503, 1).await;
    env.put_token("foreign-token", &random_token("conn-token"))
        .await;
    let mut spec = env.spec("foreign-token");
    spec["adoptionPolicy"] = json!("Never");
    env.create_ok("foreign-conn", spec).await;

    env.wait_condition("foreign-conn", "Ready", "False", "Conflict")
        .await;
    let requests = env.admin.requests().await;
    assert_eq!(requests.with_method("PATCH"), 0, "no PATCH: {requests:?}");
    assert_eq!(env.remote("foreign-conn").await.unwrap_or_default(), seeded);

    env.delete("foreign-conn").await;
    env.wait_gone("foreign-conn").await;
    assert_eq!(
        env.remote("foreign-conn").await.unwrap_or_default(),
        seeded,
        "the foreign connection survives the object's deletion"
    );
}

#[tokio::test]
async fn deleting_an_object_whose_create_never_went_through_leaves_a_foreign_connection_alone() {
    let Some(mut env) = Setup::new("pending-delete").start().await else {
        return;
    };
    let foreign = random_token("foreign-token");
    let seeded = seed_foreign(&env, "pending-conn", &foreign).await;
    // Every POST fails: the object keeps its pending-create marker for this name.
    env.admin.fault("POST", "bearer_token", 503, 1000).await;
    env.put_token("pending-token", &random_token("conn-token"))
        .await;
    env.create_ok("pending-conn", env.spec("pending-token"))
        .await;
    env.wait_condition("pending-conn", "Ready", "False", "ZisUnavailable")
        .await;
    let object = env.get_ok("pending-conn").await;
    assert_eq!(
        object["status"]["pendingCreate"]["connectionName"], "pending-conn",
        "the marker is pending: {}",
        object["status"]
    );

    env.delete("pending-conn").await;
    env.wait_gone("pending-conn").await;
    assert_eq!(
        env.remote("pending-conn").await.unwrap_or_default(),
        seeded,
        "a connection older than the pending create is not the object's to delete"
    );
    let requests = env.admin.requests().await;
    assert_eq!(requests.with_method("DELETE"), 0, "no DELETE: {requests:?}");
}

#[tokio::test]
async fn an_unexplained_400_while_adopting_leaves_the_existing_connection_in_place() {
    let Some(mut env) = Setup::new("adopt-400").resync("10m").start().await else {
        return;
    };
    let seeded = seed_foreign(&env, "theirs-conn", &random_token("their-token")).await;
    // Taking it over needs our token and domain; ZIS refuses both the PATCH and the same PATCH
    // without the domain, for a reason it does not explain.
    env.admin
        .fault("PATCH", "bearer_token/theirs-conn", 400, 2)
        .await;
    env.put_token("theirs-token", &random_token("conn-token"))
        .await;
    env.create_ok("theirs-conn", env.spec("theirs-token")).await;

    env.wait_condition("theirs-conn", "Stalled", "True", "InvalidRequest")
        .await;
    assert_eq!(
        env.remote("theirs-conn").await.unwrap_or_default(),
        seeded,
        "someone else's connection was changed or replaced"
    );
    let requests = env.admin.requests().await;
    assert_eq!(
        requests.with_method("DELETE"),
        0,
        "deleted on a guess: {requests:?}"
    );
}

#[tokio::test]
async fn adopting_a_connection_whose_domain_cannot_change_says_so_before_recreating_it() {
    let Some(mut env) = Setup::new("adopt-recreate").resync("10m").start().await else {
        return;
    };
    env.admin
        .settings(json!({"patch_allowed_domain": false}))
        .await;
    seed_foreign(&env, "moved-conn", &random_token("their-token")).await;
    let token = random_token("conn-token");
    env.put_token("moved-token", &token).await;
    env.create_ok("moved-conn", env.spec("moved-token")).await;

    env.wait_ready("moved-conn").await;
    let remote = env.remote("moved-conn").await.unwrap_or_default();
    assert_eq!(remote["allowed_domain"], DOMAIN);
    assert_eq!(remote["token"], token.as_str());

    // The Adopted event, which says the connection will be created again, was published before
    // the new connection was created.
    env.wait_event("moved-conn", "Recreated").await;
    let events: kube::Api<k8s_openapi::api::events::v1::Event> =
        kube::Api::namespaced(env.client.clone(), &env.ns);
    let adopted = events
        .list(&Default::default())
        .await
        .unwrap_or_else(|e| panic!("listing events: {e}"))
        .items
        .into_iter()
        .find(|e| e.reason.as_deref() == Some("Adopted"))
        .unwrap_or_else(|| panic!("no Adopted event"));
    let note = adopted.note.clone().unwrap_or_default();
    assert!(
        note.contains("created again"),
        "the Adopted event does not say so: {note}"
    );
    let announced = adopted
        .event_time
        .as_ref()
        .map(|t| t.0)
        .unwrap_or_else(|| panic!("no eventTime: {adopted:?}"));
    let recreated: chrono::DateTime<chrono::Utc> = remote["created_at"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("created_at of {remote}"));
    assert!(
        announced.as_microsecond() <= recreated.timestamp_micros(),
        "the Adopted event ({announced}) came after the re-creation ({recreated})"
    );
}
