//! A 409 answered to our own create proves the connection was not made by it: whatever happens
//! later, such a connection is never taken for ours.

use std::time::Duration;

use serde_json::json;

use crate::world::{INTEGRATION, World, spec};

#[tokio::test]
async fn a_name_taken_when_our_first_create_was_answered_is_never_taken_for_ours_later() {
    let mut world = World::start(true).await;
    // Made by someone else a moment before (well within the clock-skew allowance).
    world
        .admin_post(
            "connections",
            json!({"integration": INTEGRATION, "type": "bearer_token", "name": "theirs",
                   "token": "their-token", "allowed_domain": "theirs.example.com"}),
        )
        .await;
    let seeded = world.admin_get("connections/int/bearer_token/theirs").await;
    world.put_token("tok", "our-token").await;
    let mut never = spec("tok");
    never["connectionName"] = json!("theirs");
    never["adoptionPolicy"] = json!("Never");
    world.create("conn", never).await;
    let object = world.fresh("conn").await;
    world.reconcile(&object).await.expect("finalizer added");

    // The create is answered 409; the read that would decide is refused for now.
    world
        .admin_post(
            "faults",
            json!({"method": "GET", "path_contains": "bearer_token/theirs", "status": 429,
                   "count": 1, "retry_after": 1}),
        )
        .await;
    let object = world.fresh("conn").await;
    world.reconcile(&object).await.expect("reconcile");
    // The next create gets no answer a client can trust.
    world
        .admin_post(
            "faults",
            json!({"method": "POST", "path_contains": "bearer_token", "status": 503, "count": 1}),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let object = world.fresh("conn").await;
    world.reconcile(&object).await.expect("reconcile");
    // Then 409 again, and this time the read works.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let object = world.fresh("conn").await;
    world.reconcile(&object).await.expect("reconcile");

    assert_eq!(
        world.admin_get("connections/int/bearer_token/theirs").await,
        seeded,
        "someone else's connection was taken over although adoptionPolicy is Never"
    );
    let status = world.fresh("conn").await.status.expect("status");
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .expect("Ready");
    assert_eq!(ready.reason, "Conflict", "{ready:?}");
    assert_eq!(status.remote, None);
}

#[tokio::test]
async fn a_create_answered_429_keeps_what_an_earlier_unanswered_create_may_have_done() {
    let mut world = World::start(true).await;
    world.put_token("tok", "our-token").await;
    let mut never = spec("tok");
    never["adoptionPolicy"] = json!("Never");
    world.create("conn", never).await;
    let object = world.fresh("conn").await;
    world.reconcile(&object).await.expect("finalizer added");

    // The first create takes effect, but its answer is lost.
    world.admin_put("settings", json!({"drop_rate": 1.0})).await;
    let object = world.fresh("conn").await;
    world.reconcile(&object).await.expect("reconcile");
    world.admin_put("settings", json!({"drop_rate": 0.0})).await;
    assert_eq!(
        world.remote_connections().await.len(),
        1,
        "the create took effect"
    );
    // The retry is answered 429: it did nothing, but the first one still may have.
    world
        .admin_post(
            "faults",
            json!({"method": "POST", "path_contains": "bearer_token", "status": 429,
                   "count": 1, "retry_after": 1}),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let object = world.fresh("conn").await;
    world.reconcile(&object).await.expect("reconcile");
    // The next retry meets the connection the first one made: ours, even under Never.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let object = world.fresh("conn").await;
    world.reconcile(&object).await.expect("reconcile");

    let status = world.fresh("conn").await.status.expect("status");
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .expect("Ready");
    assert_eq!(ready.reason, "Synced", "{ready:?}");
    assert_eq!(
        status.adopted,
        Some(false),
        "our own connection, not adopted"
    );
    assert!(status.remote.is_some());
}
