//! Events as kubectl shows them: the core/v1 view of events written through events.k8s.io/v1
//! carries the unset timestamps as `null`, as the real server's JSON does, so
//! `kubectl get events --sort-by=.lastTimestamp` lists them; and events.k8s.io/v1 refuses the
//! `deprecated*` fields a real server refuses.

mod kube_support;

use kube_support::Env;

fn event(name: &str, reason: &str, extra: &str) -> String {
    format!(
        r#"apiVersion: events.k8s.io/v1
kind: Event
metadata: {{name: {name}, namespace: default}}
eventTime: "2026-01-01T00:00:00.000000Z"
reportingController: zis-operator
reportingInstance: zis-operator-1
action: Reconcile
reason: {reason}
type: Normal
note: {reason} happened
regarding: {{apiVersion: zis-operator.dev/v1alpha1, kind: ZisBearerConnection, name: conn, namespace: default}}
{extra}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_events_sorted_by_last_timestamp_lists_events_of_the_new_api() {
    let Some(env) = Env::start("events-sort").await else {
        return;
    };
    let first = env.write("first.yaml", &event("first", "Created", ""));
    let second = env.write("second.yaml", &event("second", "Updated", ""));
    for file in [&first, &second] {
        env.ok(&["create", "-f", file.to_str().unwrap_or_default()])
            .await;
    }
    let sorted = env
        .ok(&["get", "events", "-n", "default", "--sort-by=.lastTimestamp"])
        .await;
    for reason in ["Created", "Updated"] {
        assert!(
            sorted.contains(reason),
            "kubectl get events --sort-by=.lastTimestamp misses {reason}:\n{sorted}"
        );
    }
    let json = env
        .ok(&["get", "--raw", "/api/v1/namespaces/default/events/first"])
        .await;
    assert!(
        json.contains(r#""lastTimestamp":null"#) && json.contains(r#""source":{}"#),
        "the core/v1 view: {json}"
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_k8s_io_refuses_the_deprecated_timestamps_as_a_real_server_does() {
    let Some(env) = Env::start("events-deprecated").await else {
        return;
    };
    let file = env.write(
        "deprecated.yaml",
        &event(
            "deprecated",
            "Created",
            "deprecatedLastTimestamp: \"2026-01-01T00:00:00Z\"\ndeprecatedCount: 3\n",
        ),
    );
    let (ok, _, stderr) = env
        .kubectl(&["create", "-f", file.to_str().unwrap_or_default()])
        .await;
    assert!(!ok, "accepted deprecated fields");
    for expected in [
        "lastTimestamp: Invalid value: \"\": needs to be unset",
        "count: Invalid value: \"\": needs to be unset",
    ] {
        assert!(stderr.contains(expected), "no {expected:?} in: {stderr}");
    }
    env.finish().await;
}
