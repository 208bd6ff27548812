//! Before the credentials Secret has been read (a slow API server, a restart), reconciles wait
//! quietly: no status write, no event, no remote call. Thousands of objects flipping to
//! `CredentialsMissing` and back a moment later would be noise and load, not news.

use crate::world::{World, spec};

#[tokio::test]
async fn reconciles_wait_quietly_until_the_credentials_have_been_read() {
    let mut world = World::start(false).await;
    world.put_token("tok", "the-connection-token").await;
    world.create("conn", spec("tok")).await;
    // The first reconcile adds the finalizer; the next ones would act.
    let object = world.fresh("conn").await;
    world.reconcile(&object).await.expect("finalizer added");
    let object = world.fresh("conn").await;
    for _ in 0..3 {
        world.reconcile(&object).await.expect("reconcile");
    }

    let stored = world.objects.get("conn").await.expect("object");
    assert_eq!(stored.status, None, "a status was written while waiting");
    assert!(
        world.events().await.is_empty(),
        "events: {:?}",
        world.events().await
    );
    assert_eq!(world.remote_requests().await, 0);
}

#[tokio::test]
async fn a_deletion_waits_quietly_until_the_credentials_have_been_read() {
    let mut world = World::start(true).await;
    world.synced("conn", "tok").await;
    assert_eq!(world.remote_connections().await.len(), 1);
    let synced = world.fresh("conn").await.status;

    world.restart_before_credentials_are_read();
    world
        .objects
        .delete("conn", &Default::default())
        .await
        .expect("deleted");
    let events_before = world.events().await.len();
    let object = world.fresh("conn").await;
    world.reconcile(&object).await.expect("reconcile");

    let stored = world.objects.get("conn").await.expect("still there");
    assert_eq!(stored.status, synced, "the status changed while waiting");
    assert!(
        stored
            .metadata
            .finalizers
            .unwrap_or_default()
            .contains(&zis_operator::resource::FINALIZER.to_owned()),
        "the finalizer was released before the remote connection could be deleted"
    );
    assert_eq!(
        world.events().await.len(),
        events_before,
        "an event was published"
    );
    assert_eq!(world.remote_connections().await.len(), 1);
}
