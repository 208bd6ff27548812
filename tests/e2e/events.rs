//! The operator's events show up where people look: `kubectl get events --sort-by=.lastTimestamp`
//! lists them in the order they happened (they carry `lastTimestamp` and `count`, not only
//! `eventTime`). Skipped (with a note) where no `kubectl` is installed.

use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::Event as CoreEvent;
use kube::Api;
use kube::api::ListParams;

use super::harness::cluster::cluster;
use super::harness::{INTEGRATION, Setup, random_token};

fn kubectl(ns: &str, args: &[&str]) -> Option<String> {
    let out = Command::new("kubectl")
        .env("KUBECONFIG", &cluster().kubeconfig)
        .arg("--namespace")
        .arg(ns)
        .args(args)
        .output()
        .ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "kubectl {args:?} failed: {text}");
    Some(text)
}

#[tokio::test]
async fn kubectl_get_events_sorted_by_last_timestamp_lists_the_operators_events_in_order() {
    let Some(mut env) = Setup::new("events").resync("10m").start().await else {
        return;
    };
    env.put_token("events-token", &random_token("conn-token"))
        .await;
    env.create_ok("events-conn", env.spec("events-token")).await;
    env.wait_ready("events-conn").await;
    env.wait_event("events-conn", "Created").await;
    // Timestamps have whole seconds: the rotation must be seen in a later one.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    env.put_token("events-token", &random_token("rotated"))
        .await;
    env.wait_event("events-conn", "Updated").await;

    let core: Api<CoreEvent> = Api::namespaced(env.client.clone(), &env.ns);
    let events = core
        .list(&ListParams::default())
        .await
        .unwrap_or_else(|e| panic!("listing events: {e}"))
        .items;
    for event in events
        .iter()
        .filter(|e| e.involved_object.name.as_deref() == Some("events-conn"))
    {
        assert!(
            event.last_timestamp.is_some() && event.count.is_some_and(|c| c >= 1),
            "an event without lastTimestamp or count: {event:?}"
        );
    }

    let ns = env.ns.clone();
    let Some(listed) = tokio::task::spawn_blocking(move || {
        kubectl(&ns, &["get", "events", "--sort-by=.lastTimestamp"])
    })
    .await
    .unwrap_or_else(|e| panic!("{e}")) else {
        eprintln!("kubectl is not installed: skipping the kubectl part");
        return;
    };
    let rows: Vec<&str> = listed
        .lines()
        .filter(|line| line.contains("zisbearerconnection/events-conn"))
        .collect();
    let position = |reason: &str| rows.iter().position(|row| row.contains(reason));
    match (position("Created"), position("Updated")) {
        (Some(created), Some(updated)) if created < updated => {}
        _ => panic!(
            "kubectl get events --sort-by=.lastTimestamp does not list Created before Updated:\n{listed}"
        ),
    }
    assert!(
        listed.contains(INTEGRATION),
        "the messages name the connection:\n{listed}"
    );
}
