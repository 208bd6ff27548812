//! Drift: the drift watch lists the connections on the resync interval (2 s here) and wakes only
//! the objects whose connection changed or vanished remotely; the others cost nothing.

use std::time::Duration;

use serde_json::json;

use super::harness::{DOMAIN, INTEGRATION, Setup, random_token};

/// Two resync intervals plus jitter and slack.
const RESYNC_REPAIR: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_connection_deleted_remotely_is_created_again_at_resync() {
    let Some(mut env) = Setup::new("drift-deleted").start().await else {
        return;
    };
    let token = random_token("conn-token");
    env.put_token("drift-token", &token).await;
    env.create_ok("drift-conn", env.spec("drift-token")).await;
    env.wait_ready("drift-conn").await;

    env.admin
        .delete_connection(INTEGRATION, "bearer_token", "drift-conn")
        .await;

    env.wait_remote(
        "the deleted connection to be created again",
        "drift-conn",
        RESYNC_REPAIR,
        |remote| {
            (remote["token"] == token.as_str() && remote["allowed_domain"] == DOMAIN)
                .then_some(())
                .ok_or_else(|| format!("recreated wrong: {remote}"))
        },
    )
    .await;
    env.wait_ready("drift-conn").await;
    assert_eq!(env.admin.bearer_connections().await.len(), 1);
}

#[tokio::test]
async fn a_domain_changed_remotely_is_restored_at_resync() {
    let Some(mut env) = Setup::new("drift-domain").start().await else {
        return;
    };
    let token = random_token("conn-token");
    env.put_token("drift-token", &token).await;
    env.create_ok("drift-conn", env.spec("drift-token")).await;
    env.wait_ready("drift-conn").await;

    env.admin
        .patch_connection(
            INTEGRATION,
            "bearer_token",
            "drift-conn",
            json!({"allowed_domain": "evil.example.com"}),
        )
        .await;

    env.wait_remote(
        "the remote domain to be restored",
        "drift-conn",
        RESYNC_REPAIR,
        |remote| {
            (remote["allowed_domain"] == DOMAIN)
                .then_some(())
                .ok_or_else(|| format!("domain is {}", remote["allowed_domain"]))
        },
    )
    .await;
    env.wait_ready("drift-conn").await;
}

#[tokio::test]
async fn a_synced_connection_gets_no_remote_write_and_no_status_write_at_resync() {
    let Some(mut env) = Setup::new("drift-none").start().await else {
        return;
    };
    env.put_token("quiet-token", &random_token("conn-token"))
        .await;
    env.create_ok("quiet-conn", env.spec("quiet-token")).await;
    env.wait_ready("quiet-conn").await;
    // Let the reconcile that reported Ready finish.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let version = env.get_ok("quiet-conn").await["metadata"]["resourceVersion"].clone();
    let before = env.admin.requests().await;

    env.holds(
        "no remote write and no status write across two resyncs",
        Duration::from_secs(5),
        async |env| {
            let now = env.get_ok("quiet-conn").await;
            if now["metadata"]["resourceVersion"] != version {
                return Err(format!(
                    "the object was written: resourceVersion {} -> {}, status {}",
                    version, now["metadata"]["resourceVersion"], now["status"]
                ));
            }
            let requests = env.admin.requests().await;
            if requests.writes() != before.writes() {
                return Err(format!("a remote write: {requests:?}"));
            }
            Ok(())
        },
    )
    .await;

    let after = env.admin.requests().await;
    assert!(
        after.with_method("GET") > before.with_method("GET"),
        "the resync did not read the remote connection: before {before:?}, after {after:?}"
    );
}

#[tokio::test]
async fn a_failed_drift_check_is_reported_apart_and_leaves_ready_alone() {
    let Some(mut env) = Setup::new("drift-check-fails").start().await else {
        return;
    };
    env.put_token("check-token", &random_token("conn-token"))
        .await;
    env.create_ok("check-conn", env.spec("check-token")).await;
    env.wait_ready("check-conn").await;

    // The listing shows the connection changed behind our back, but the reads that would tell
    // how fail for a while: until one succeeds, the connection is as in sync as it was.
    env.admin
        .fault("GET", "bearer_token/check-conn", 503, 4)
        .await;
    env.admin
        .patch_connection(
            INTEGRATION,
            "bearer_token",
            "check-conn",
            json!({"allowed_domain": "changed.example.com"}),
        )
        .await;
    env.wait_condition("check-conn", "RemoteChecked", "False", "ZisUnavailable")
        .await;
    env.holds(
        "Ready stays True while the drift checks fail",
        Duration::from_secs(3),
        async |env| {
            let object = env.get_ok("check-conn").await;
            super::harness::check_condition(&object, "Ready", "True", "Synced")
        },
    )
    .await;
    // Once ZIS answers again the check succeeds, says so, and repairs the domain.
    env.wait_condition("check-conn", "RemoteChecked", "True", "Checked")
        .await;
    env.wait_ready("check-conn").await;
    env.wait_remote(
        "the domain repaired",
        "check-conn",
        RESYNC_REPAIR,
        |remote| {
            (remote["allowed_domain"] == DOMAIN)
                .then_some(())
                .ok_or_else(|| format!("domain {}", remote["allowed_domain"]))
        },
    )
    .await;
}

/// The resourceVersions of `cost-conn-0..5`.
async fn versions(env: &super::harness::env::TestEnv) -> Vec<serde_json::Value> {
    let mut all = Vec::new();
    for i in 0..5 {
        all.push(
            env.get_ok(&format!("cost-conn-{i}")).await["metadata"]["resourceVersion"].clone(),
        );
    }
    all
}

/// Requests other than the listing (`GET all`).
fn beyond_listing(requests: &super::harness::fake::Requests) -> u64 {
    requests.count(|r| r.endpoint != "all")
}

#[tokio::test]
async fn connections_in_sync_cost_only_the_listing_at_resync_and_a_restart_is_quiet() {
    let Some(mut env) = Setup::new("drift-cost").start().await else {
        return;
    };
    for i in 0..5 {
        env.put_token(&format!("cost-token-{i}"), &random_token("conn-token"))
            .await;
        env.create_ok(
            &format!("cost-conn-{i}"),
            env.spec(&format!("cost-token-{i}")),
        )
        .await;
    }
    for i in 0..5 {
        env.wait_ready(&format!("cost-conn-{i}")).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let written = versions(&env).await;
    let before = env.admin.requests().await;

    // Several resyncs (2 s): the listing only.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = env.admin.requests().await;
    assert_eq!(beyond_listing(&after), beyond_listing(&before), "{after:?}");
    assert!(
        after.count(|r| r.endpoint == "all") > before.count(|r| r.endpoint == "all"),
        "no listing: {after:?}"
    );

    // A restart with everything in sync: no write anywhere, nothing but the listing.
    env.kill_operator();
    env.start_operator();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let restarted = env.admin.requests().await;
    assert_eq!(
        beyond_listing(&restarted),
        beyond_listing(&before),
        "{restarted:?}"
    );
    assert_eq!(versions(&env).await, written, "a status was written");
}
