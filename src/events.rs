//! Publishes Kubernetes Events about objects, in the form every reader shows: core/v1 Events that
//! carry the classic fields (`firstTimestamp`, `lastTimestamp`, `count`, `source`) and the new
//! ones (`eventTime`, `series`, `action`, `reportingComponent`, `reportingInstance`).
//!
//! Why not kube-runtime's `Recorder`, which writes events.k8s.io/v1 with `eventTime` only: there
//! `lastTimestamp` stays `null` in the core/v1 view that `kubectl get events` reads, so
//! `kubectl get events --sort-by=.lastTimestamp` sorts the operator's events before everything
//! else (out of time order), and a real API server refuses to set it through that API
//! (`deprecatedLastTimestamp`/`deprecatedCount` "needs to be unset" on create, immutable on
//! update). core/v1 accepts both sets of fields, and events.k8s.io readers see them too (as
//! `deprecated*`). RBAC: `create` and `patch` on `events` in the core group.
//!
//! Same behaviour as kube-runtime's `Recorder` otherwise: a repeat of an event (same type,
//! reason, action, object, related object and reporter) within six minutes of the last one
//! is counted on the first (a PATCH of `count`, `lastTimestamp` and `series`), and its note is
//! the first one's. Knows nothing of what the events are about; never sees a token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Event as CoreEvent, EventSeries, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Resource;
use kube::api::{Patch, PatchParams, PostParams};
use serde::de::IgnoredAny;
use serde_json::json;

pub use kube::runtime::events::{Event, EventType, Reporter};

/// How long after its last occurrence an event can still be counted again.
const SERIES_WINDOW: SignedDuration = SignedDuration::from_mins(6);

/// What makes two events the same event (their type, reason, action, object and related object;
/// their notes may differ), as a digest: thousands of keys are kept for six minutes, and the
/// strings they are made of were most of that memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key(u64);

impl Key {
    fn of(event: &Event, regarding: &ObjectReference) -> Self {
        Self(crate::digest::of(&(
            type_name(event.type_),
            &event.reason,
            &event.action,
            identity(regarding),
            event.secondary.as_ref().map(identity),
        )))
    }
}

fn identity(reference: &ObjectReference) -> [Option<&str>; 5] {
    [
        reference.api_version.as_deref(),
        reference.kind.as_deref(),
        reference.namespace.as_deref(),
        reference.name.as_deref(),
        reference.uid.as_deref(),
    ]
}

/// Where the events about `regarding` go (cluster-scoped objects: `default`).
fn event_namespace(regarding: &ObjectReference) -> String {
    regarding
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_owned())
}

/// The path of the core events of `namespace` (no `Api` handle needed for one request).
fn events_url(namespace: &str) -> String {
    CoreEvent::url_path(&(), Some(namespace))
}

fn type_name(type_: EventType) -> &'static str {
    match type_ {
        EventType::Normal => "Normal",
        EventType::Warning => "Warning",
    }
}

/// The event last published for a key.
#[derive(Debug, Clone)]
struct Published {
    name: String,
    count: i32,
    last: Timestamp,
}

/// The events published within the series window, by key. Expired ones are swept at most once a
/// minute: a sweep per event would cost a scan of thousands of keys per event at scale.
#[derive(Default)]
struct Series {
    by_key: HashMap<Key, Published>,
    swept: Option<Timestamp>,
}

impl Series {
    /// The event published for `key` within the window, if any.
    fn previous(&mut self, key: &Key, now: Timestamp) -> Option<Published> {
        let due = self
            .swept
            .is_none_or(|swept| swept + SignedDuration::from_mins(1) <= now);
        if due {
            self.by_key.retain(|_, p| p.last + SERIES_WINDOW > now);
            self.swept = Some(now);
        }
        self.by_key
            .get(key)
            .filter(|p| p.last + SERIES_WINDOW > now)
            .cloned()
    }
}

/// Publishes events (see the module documentation). Cheap to clone: clones share the series.
#[derive(Clone)]
pub struct Recorder {
    client: kube::Client,
    reporter: Reporter,
    published: Arc<Mutex<Series>>,
    /// Told after every successful write (for the metrics).
    on_write: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl Recorder {
    pub fn new(client: kube::Client, reporter: Reporter) -> Self {
        Self {
            client,
            reporter,
            published: Arc::default(),
            on_write: None,
        }
    }

    /// The same recorder, calling `on_write` after every event it writes.
    pub fn with_write_counter(mut self, on_write: Arc<dyn Fn() + Send + Sync>) -> Self {
        self.on_write = Some(on_write);
        self
    }

    fn wrote(&self) {
        if let Some(on_write) = &self.on_write {
            on_write();
        }
    }

    fn instance(&self) -> String {
        self.reporter
            .instance
            .clone()
            .unwrap_or_else(|| self.reporter.controller.clone())
    }

    /// Publishes `event` about `regarding`: creates an Event, or counts a repeat on the one
    /// published for the same event within the last six minutes.
    pub async fn publish(
        &self,
        event: &Event,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let key = Key::of(event, regarding);
        let previous = {
            // A poisoned lock only means a panic elsewhere mid-update of this map.
            let mut published = self.published.lock().unwrap_or_else(|e| e.into_inner());
            published.previous(&key, now)
        };
        if let Some(previous) = previous {
            let count = previous.count.saturating_add(1);
            let namespace = event_namespace(regarding);
            let patch = json!({
                "count": count,
                "lastTimestamp": Time(now),
                "series": EventSeries {
                    count: Some(count),
                    last_observed_time: Some(MicroTime(now)),
                },
            });
            let request = kube::core::Request::new(events_url(&namespace))
                .patch(
                    &previous.name,
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .map_err(kube::Error::BuildRequest)?;
            // The answer (the whole event, managed fields included) is skipped unparsed.
            match self.client.request::<IgnoredAny>(request).await {
                Ok(_) => {
                    self.wrote();
                    self.remember(
                        key,
                        Published {
                            count,
                            last: now,
                            ..previous
                        },
                    );
                    return Ok(());
                }
                // Gone (expired, deleted): start a new one.
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(error) => return Err(error),
            }
        }
        let created = self.new_event(event, regarding, now);
        let namespace = created.metadata.namespace.as_deref().unwrap_or_default();
        let body = serde_json::to_vec(&created).map_err(kube::Error::SerdeError)?;
        let request = kube::core::Request::new(events_url(namespace))
            .create(&PostParams::default(), body)
            .map_err(kube::Error::BuildRequest)?;
        self.client.request::<IgnoredAny>(request).await?;
        self.wrote();
        self.remember(
            key,
            Published {
                name: created.metadata.name.unwrap_or_default(),
                count: 1,
                last: now,
            },
        );
        Ok(())
    }

    fn remember(&self, key: Key, published: Published) {
        let mut all = self.published.lock().unwrap_or_else(|e| e.into_inner());
        all.by_key.insert(key, published);
    }

    /// The first occurrence of `event`, named like client-go's events (`<object>.<nanos hex>`).
    fn new_event(&self, event: &Event, regarding: &ObjectReference, now: Timestamp) -> CoreEvent {
        let namespace = event_namespace(regarding);
        let object = regarding
            .name
            .clone()
            .unwrap_or_else(|| self.reporter.controller.clone());
        CoreEvent {
            metadata: ObjectMeta {
                name: Some(format!("{object}.{:x}", now.as_nanosecond())),
                namespace: Some(namespace),
                ..ObjectMeta::default()
            },
            involved_object: regarding.clone(),
            related: event.secondary.clone(),
            type_: Some(type_name(event.type_).to_owned()),
            reason: Some(event.reason.clone()),
            message: event.note.clone(),
            action: Some(event.action.clone()),
            source: Some(EventSource {
                component: Some(self.reporter.controller.clone()),
                host: self.reporter.instance.clone(),
            }),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            count: Some(1),
            event_time: Some(MicroTime(now)),
            series: None,
            reporting_component: Some(self.reporter.controller.clone()),
            reporting_instance: Some(self.instance()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_new_event_carries_the_classic_and_the_new_fields() {
        let client = kube::Client::try_from(kube::Config::new(
            "http://127.0.0.1:1".parse().expect("a url"),
        ))
        .expect("a client");
        let recorder = Recorder::new(
            client,
            Reporter {
                controller: "zis-operator".into(),
                instance: None,
            },
        );
        let regarding = ObjectReference {
            kind: Some("ZisBearerConnection".into()),
            name: Some("conn".into()),
            namespace: Some("shop".into()),
            ..ObjectReference::default()
        };
        let event = Event {
            type_: EventType::Warning,
            reason: "Forbidden".into(),
            note: Some("no scope".into()),
            action: "Reconcile".into(),
            secondary: None,
        };
        let now = Timestamp::now();
        let created = recorder.new_event(&event, &regarding, now);
        assert_eq!(created.metadata.namespace.as_deref(), Some("shop"));
        assert!(
            created
                .metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with("conn."))
        );
        assert_eq!(created.first_timestamp, Some(Time(now)));
        assert_eq!(created.last_timestamp, Some(Time(now)));
        assert_eq!(created.count, Some(1));
        assert_eq!(created.event_time, Some(MicroTime(now)));
        assert_eq!(created.type_.as_deref(), Some("Warning"));
        assert_eq!(created.reporting_instance.as_deref(), Some("zis-operator"));
        assert_eq!(
            created.source.and_then(|s| s.component).as_deref(),
            Some("zis-operator")
        );
    }
}
