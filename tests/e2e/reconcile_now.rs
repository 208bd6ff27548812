//! "Reconcile now": a new value of the annotation `zis-operator.dev/reconcile-requested-at` makes
//! the operator check ZIS at once, past the "nothing changed" shortcut and past a retry delay,
//! and `status.lastHandledReconcileAt` records the value handled.

use std::time::Duration;

use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use super::harness::env::TestEnv;
use super::harness::{INTEGRATION, Setup, random_token};

const ANNOTATION: &str = "zis-operator.dev/reconcile-requested-at";
/// Far below the 10-minute resync and the 5-minute retry of a stalled failure these tests use:
/// only the annotation can explain a reaction this fast.
const AT_ONCE: Duration = Duration::from_secs(10);

async fn request_reconcile(env: &TestEnv, name: &str, value: &str) {
    env.objects
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {ANNOTATION: value}}})),
        )
        .await
        .unwrap_or_else(|e| panic!("annotating {name}: {e}"));
}

async fn wait_handled(env: &mut TestEnv, name: &str, value: &str) -> Value {
    let what = format!("{name}: status.lastHandledReconcileAt = {value}");
    env.eventually(&what, AT_ONCE, async |env| {
        let object = env.get(name).await.ok_or("the object does not exist")?;
        let handled = &object["status"]["lastHandledReconcileAt"];
        if handled == value {
            Ok(object)
        } else {
            Err(format!("lastHandledReconcileAt is {handled}"))
        }
    })
    .await
}

#[tokio::test]
async fn a_reconcile_request_checks_zis_at_once_and_is_recorded_in_status() {
    let Some(mut env) = Setup::new("reconcile-now").resync("10m").start().await else {
        return;
    };
    let token = random_token("conn-token");
    env.put_token("now-token", &token).await;
    env.create_ok("now-conn", env.spec("now-token")).await;
    env.wait_ready("now-conn").await;

    // Deleted behind the operator's back: nothing notices before the 10-minute resync.
    env.admin
        .delete_connection(INTEGRATION, "bearer_token", "now-conn")
        .await;
    env.holds(
        "the deleted remote connection is not noticed without a request",
        Duration::from_secs(3),
        async |env| match env.remote("now-conn").await {
            None => Ok(()),
            Some(remote) => Err(format!("recreated without a request: {remote}")),
        },
    )
    .await;

    request_reconcile(&env, "now-conn", "2026-05-04T10:00:00Z").await;
    env.wait_remote("the connection recreated", "now-conn", AT_ONCE, |remote| {
        if remote["token"] == token.as_str() {
            Ok(())
        } else {
            Err(format!("remote token differs: {remote}"))
        }
    })
    .await;
    let object = wait_handled(&mut env, "now-conn", "2026-05-04T10:00:00Z").await;
    assert_eq!(object["status"]["conditions"][0]["type"], "Ready");
    env.wait_ready("now-conn").await;

    // The same value again is not a new request.
    env.admin
        .delete_connection(INTEGRATION, "bearer_token", "now-conn")
        .await;
    request_reconcile(&env, "now-conn", "2026-05-04T10:00:00Z").await;
    env.holds(
        "a request already handled is not handled again",
        Duration::from_secs(3),
        async |env| match env.remote("now-conn").await {
            None => Ok(()),
            Some(remote) => Err(format!("recreated for an old request: {remote}")),
        },
    )
    .await;
}

#[tokio::test]
async fn a_reconcile_request_retries_at_once_a_failure_otherwise_retried_in_minutes() {
    let Some(mut env) = Setup::new("reconcile-retry").resync("10m").start().await else {
        return;
    };
    // ZIS refuses the create once (403): a stalled failure, retried only after 5 minutes.
    env.admin.fault("POST", "bearer_token", 403, 1).await;
    env.put_token("retry-token", &random_token("conn-token"))
        .await;
    env.create_ok("retry-conn", env.spec("retry-token")).await;
    env.wait_condition("retry-conn", "Stalled", "True", "Forbidden")
        .await;
    env.holds(
        "no retry before the request",
        Duration::from_secs(3),
        async |env| {
            let posts = env.admin.requests().await.with_method("POST");
            if posts == 1 {
                Ok(())
            } else {
                Err(format!("{posts} creates were sent"))
            }
        },
    )
    .await;

    // "Fixed on the ZIS side" (the fault is used up): ask for a reconcile now.
    request_reconcile(&env, "retry-conn", "after-the-fix").await;
    env.wait_condition_within("retry-conn", "Ready", "True", "Synced", AT_ONCE)
        .await;
    wait_handled(&mut env, "retry-conn", "after-the-fix").await;
    assert!(env.remote("retry-conn").await.is_some());
}

#[tokio::test]
async fn a_suspended_object_leaves_a_reconcile_request_for_later() {
    let Some(mut env) = Setup::new("reconcile-suspended")
        .resync("10m")
        .start()
        .await
    else {
        return;
    };
    env.put_token("held-token", &random_token("conn-token"))
        .await;
    let mut spec = env.spec("held-token");
    spec["suspend"] = json!(true);
    env.create_ok("held-conn", spec).await;
    env.wait_condition("held-conn", "Ready", "Unknown", "Suspended")
        .await;
    request_reconcile(&env, "held-conn", "while-suspended").await;
    env.holds(
        "no remote call and no handled request while suspended",
        Duration::from_secs(3),
        async |env| {
            let object = env.get("held-conn").await.ok_or("the object is gone")?;
            let handled = &object["status"]["lastHandledReconcileAt"];
            let requests = env.admin.requests().await.total;
            if handled.is_null() && requests == 0 {
                Ok(())
            } else {
                Err(format!("handled {handled}, {requests} requests to ZIS"))
            }
        },
    )
    .await;
    env.patch_spec_ok("held-conn", json!({"suspend": false}))
        .await;
    wait_handled(&mut env, "held-conn", "while-suspended").await;
    env.wait_ready("held-conn").await;
}
