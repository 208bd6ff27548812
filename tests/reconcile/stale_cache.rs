//! Decisions that delete or create something remotely rest on the stored object, never on a
//! cached copy alone: a cache can lag behind the operator's own status writes.

use crate::world::{World, spec};

#[tokio::test]
async fn a_deletion_seen_through_a_cache_older_than_the_create_still_deletes_the_remote() {
    let mut world = World::start(true).await;
    world.put_token("tok", "the-connection-token").await;
    world.create("conn", spec("tok")).await;
    let object = world.fresh("conn").await;
    world.reconcile(&object).await.expect("finalizer added");
    // The copy the cache holds when the create starts: finalizer, no status yet.
    let before_create = world.fresh("conn").await;
    world.reconcile(&before_create).await.expect("synced");
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
