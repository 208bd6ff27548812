//! Decisions that delete or create something remotely rest on the stored object, never on a
//! cached copy alone: a cache can lag behind the operator's own status writes.

use futures::StreamExt;
use kube::api::{Patch, PatchParams, WatchEvent, WatchParams};
use kube::runtime::controller::Action;
use serde_json::json;
use zis_operator::controller;
use zis_operator::controller::own_writes::version_digest;
use zis_operator::resource::ZisBearerConnection;

use crate::world::World;

#[tokio::test]
async fn a_deletion_seen_through_a_cache_older_than_the_create_still_deletes_the_remote() {
    let mut world = World::start(true).await;
    // The copy the cache holds when the create starts: finalizer, no status yet.
    let before_create = world.synced("conn", "tok").await;
    assert_eq!(world.remote_connections().await.len(), 1);

    // The object is deleted, but the watch lags: the cache never saw the status that records
    // the connection, only the deletion.
    world
        .objects
        .delete("conn", &Default::default())
        .await
        .expect("deleted");
    let deleted = world
        .objects
        .get("conn")
        .await
        .expect("held by the finalizer");
    let mut stale = before_create.clone();
    stale.metadata.deletion_timestamp = deleted.metadata.deletion_timestamp.clone();
    world.cache(&stale);
    world.reconcile(&stale).await.expect("cleanup");

    assert!(
        world.remote_connections().await.is_empty(),
        "the connection was left in ZIS with no owner"
    );
    assert!(
        world.objects.get_opt("conn").await.expect("read").is_none(),
        "the object was not released after the remote deletion"
    );
}

#[tokio::test]
async fn a_reconcile_from_an_outdated_copy_never_overwrites_the_recorded_connection() {
    let mut world = World::start(true).await;
    let before_create = world.synced("conn", "tok").await;
    let synced = world.fresh("conn").await.status.expect("status");
    assert!(synced.remote.is_some());

    // Another process (a restarted operator, a replica that missed the write) acts on the copy
    // from before the create: it would create the connection again.
    world.restart_before_credentials_are_read();
    world
        .ctx
        .access
        .simple_credentials()
        .expect("simple mode")
        .replace(Some(
            [(
                "access-token".to_owned(),
                crate::world::ACCESS_TOKEN.as_bytes().to_vec(),
            )]
            .into(),
        ));
    world.cache(&before_create);
    let outcome = world.reconcile(&before_create).await;
    assert!(
        outcome.is_err(),
        "it must stop and start again from the stored object"
    );

    let stored = world
        .objects
        .get("conn")
        .await
        .expect("object")
        .status
        .expect("status");
    assert_eq!(
        stored.remote, synced.remote,
        "the record of the connection was lost"
    );
    assert_eq!(
        stored.adopted,
        Some(false),
        "our own connection was taken for someone else's"
    );
    assert_eq!(world.remote_connections().await.len(), 1);
    assert_eq!(
        world.remote_requests_with("POST").await,
        1,
        "a second create was sent"
    );

    // Started again from the stored object, it finds everything in sync.
    let object = world.fresh("conn").await;
    world.reconcile(&object).await.expect("in sync");
    let stored = world
        .objects
        .get("conn")
        .await
        .expect("object")
        .status
        .expect("status");
    assert_eq!(stored.remote, synced.remote);
    assert_eq!(
        stored.pending_create, None,
        "an intent from the outdated plan was left behind"
    );
    assert_eq!(world.remote_requests_with("POST").await, 1);
}

#[tokio::test]
async fn a_copy_one_of_our_own_status_writes_behind_waits_for_the_watch_and_any_other_is_read_again()
 {
    let mut world = World::start(true).await;
    let before_create = world.synced("conn", "tok").await;
    // The copy between the two status writes of the create (the intent, then the result): what a
    // watch one write behind holds when the first write wakes the object.
    let intent = copy_after(&world, &before_create).await;
    let recorded = intent.status.as_ref().expect("status");
    assert!(recorded.pending_create.is_some() && recorded.remote.is_none());

    // The spec changes meanwhile: whoever reads the stored object updates the remote domain.
    world
        .objects
        .patch(
            "conn",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"allowedDomain": "next.example.com"}})),
        )
        .await
        .expect("spec patched");
    let requests = world.remote_requests().await;

    // Provably older than our last write (which was conditional on it): nothing is read or
    // done; the watch brings the newer copy, which wakes the object again.
    world.cache(&intent);
    let outcome = world.reconcile(&intent).await.expect("waits");
    assert_eq!(outcome, Action::await_change());
    assert_eq!(
        world.remote_requests().await,
        requests,
        "it acted on the old copy"
    );

    // Any other stale copy is read again, and the reconcile acts on the stored object.
    world.cache(&before_create);
    world.reconcile(&before_create).await.expect("updated");
    let remote = world.remote_connections().await;
    assert_eq!(remote.len(), 1);
    assert_eq!(remote[0]["allowed_domain"], "next.example.com");
}

#[tokio::test]
async fn a_copy_one_of_our_own_status_writes_behind_is_read_again_once_the_echo_came() {
    let mut world = World::start(true).await;
    let before_create = world.synced("conn", "tok").await;
    let intent = copy_after(&world, &before_create).await;
    // The watch brought the echo of the last status write and, it being ours, woke nobody: a
    // reconcile still holding the copy before it would wait for a wake-up that never comes.
    let synced = world.objects.get("conn").await.expect("object");
    let version = synced
        .metadata
        .resource_version
        .as_deref()
        .expect("version");
    let key = controller::index::key_of(&synced);
    assert!(
        world
            .ctx
            .own_writes
            .is_unwaited_echo(&key, version_digest(version)),
        "the reconcile's last status write made this version"
    );
    world
        .objects
        .patch(
            "conn",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"allowedDomain": "next.example.com"}})),
        )
        .await
        .expect("spec patched");

    world.cache(&intent);
    world.reconcile(&intent).await.expect("updated");
    let remote = world.remote_connections().await;
    assert_eq!(remote.len(), 1);
    assert_eq!(
        remote[0]["allowed_domain"], "next.example.com",
        "the stale copy was not read again"
    );
}

/// The object as stored just after `earlier`: the next version a watch from `earlier` brings.
async fn copy_after(world: &World, earlier: &ZisBearerConnection) -> ZisBearerConnection {
    let version = earlier.metadata.resource_version.clone().expect("version");
    let events = world
        .objects
        .watch(&WatchParams::default().timeout(5), &version)
        .await
        .expect("watch");
    futures::pin_mut!(events);
    while let Some(event) = events.next().await {
        if let WatchEvent::Modified(object) = event.expect("watch event") {
            return object;
        }
    }
    panic!("no change after version {version}")
}
