//! The operator's event recorder (`zis_operator::events`) against the Kubernetes API sandbox:
//! what it writes carries `lastTimestamp`, `count` and `series`, repeats are counted on one
//! event, and both event APIs show the result.

use k8s_openapi::api::core::v1::{Event as CoreEvent, ObjectReference};
use kube::Api;
use kube::api::ListParams;
use zis_operator::events::{Event, EventType, Recorder, Reporter};
use zis_sandbox::kube::KubeSandbox;

fn event(reason: &str, note: &str) -> Event {
    Event {
        type_: EventType::Normal,
        reason: reason.into(),
        note: Some(note.into()),
        action: "Reconcile".into(),
        secondary: None,
    }
}

#[tokio::test]
async fn repeated_events_are_counted_on_one_event_that_carries_its_last_timestamp() {
    let sandbox = KubeSandbox::start("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")))
        .await
        .unwrap_or_else(|e| panic!("cannot start the sandbox: {e}"));
    let client = sandbox.client().await;
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "zis-operator".into(),
            instance: Some("zis-operator-0".into()),
        },
    );
    let regarding = ObjectReference {
        api_version: Some("zis-operator.dev/v1alpha1".into()),
        kind: Some("ZisBearerConnection".into()),
        name: Some("conn".into()),
        namespace: Some("default".into()),
        uid: Some("uid-1".into()),
        ..ObjectReference::default()
    };
    let publish = async |event: Event| {
        recorder
            .publish(&event, &regarding)
            .await
            .unwrap_or_else(|e| panic!("publishing {}: {e}", event.reason));
    };
    publish(event("Updated", "pushed the current token")).await;
    publish(event("Updated", "pushed the current token")).await;
    publish(event("Updated", "changed the domain")).await;
    publish(event("Created", "created it")).await;

    let core: Api<CoreEvent> = Api::namespaced(client.clone(), "default");
    let mut events = core
        .list(&ListParams::default())
        .await
        .unwrap_or_else(|e| panic!("listing events: {e}"))
        .items;
    events.sort_by_key(|e| e.reason.clone());
    let summary: Vec<(Option<String>, Option<i32>, Option<i32>)> = events
        .iter()
        .map(|e| {
            (
                e.reason.clone(),
                e.count,
                e.series.as_ref().and_then(|s| s.count),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (Some("Created".into()), Some(1), None),
            (Some("Updated".into()), Some(3), Some(3)),
        ]
    );
    for event in &events {
        assert!(event.first_timestamp.is_some() && event.last_timestamp.is_some());
        assert!(event.event_time.is_some());
        assert_eq!(event.reporting_component.as_deref(), Some("zis-operator"));
        assert_eq!(event.reporting_instance.as_deref(), Some("zis-operator-0"));
        assert_eq!(event.involved_object, regarding);
    }
    let updated = &events[1];
    assert_eq!(
        updated.message.as_deref(),
        Some("pushed the current token"),
        "a repeat keeps the first note, as kube-runtime's Recorder does"
    );

    // events.k8s.io readers see the same events, the classic fields as deprecated*.
    let modern: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client, "default");
    let seen = modern
        .get(updated.metadata.name.as_deref().unwrap_or_default())
        .await
        .unwrap_or_else(|e| panic!("reading through events.k8s.io: {e}"));
    assert_eq!(seen.deprecated_count, Some(3));
    assert_eq!(seen.series.map(|s| s.count), Some(3));
    assert_eq!(seen.note.as_deref(), Some("pushed the current token"));
    sandbox.shutdown().await;
}
