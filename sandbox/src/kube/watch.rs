//! WATCH: a chunked stream of `{"type": ..., "object": ...}` lines. From a resourceVersion it
//! replays the kept history after it (ERROR 410 Expired when that history is gone); without
//! one (or `0`) it starts with synthetic ADDED events for the current state. BOOKMARKs are sent
//! when the client allows them; the stream ends after `timeoutSeconds`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::api::{Api, Call, stream_response};
use super::error::ApiError;
use super::read::render;
use super::resources::ResourceType;
use super::selectors::{FieldSelector, LabelSelector};
use super::store::{EventType, StoredEvent};
use super::table;

/// Default watch length when the client gives no timeoutSeconds (the real server picks
/// 30-60 minutes).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);
/// How often an idle watch with bookmarks enabled gets one.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(15);
/// How long a woken watcher waits for more events before reading the history.
const COALESCE: Duration = Duration::from_millis(5);
/// Events read from the history per lock acquisition.
const BATCH: usize = 1000;

/// What one watch selects and how it renders.
struct Filter {
    rt: ResourceType,
    key: (String, String),
    namespace: Option<String>,
    name: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    table: bool,
    include_object: String,
}

impl Filter {
    /// Whether the watched resource is still served (a CRD's types go with it).
    fn still_served(&self, api: &Api) -> bool {
        !self.rt.custom
            || api
                .store
                .lock()
                .find_type(&self.rt.group, &self.rt.version, &self.rt.plural)
                .is_some()
    }

    fn matches(&self, object: &Value) -> bool {
        let metadata = &object["metadata"];
        self.namespace
            .as_deref()
            .is_none_or(|ns| metadata["namespace"].as_str().unwrap_or_default() == ns)
            && self
                .name
                .as_deref()
                .is_none_or(|n| metadata["name"].as_str() == Some(n))
            && self.labels.matches(object)
            && self.fields.matches(object)
    }

    fn line(&self, kind: &str, object: Value) -> Bytes {
        let object = render(&self.rt, object);
        let object = if self.table {
            table::to_table(
                &[object],
                self.rt.printer_columns.as_ref(),
                &self.include_object,
                json!({}),
            )
        } else {
            object
        };
        let mut text = json!({"type": kind, "object": object}).to_string();
        text.push('\n');
        Bytes::from(text)
    }

    /// The line of a stored event: the shared encoding when the object is sent as stored.
    fn event_line(&self, kind: &str, event: &StoredEvent) -> Bytes {
        let as_stored = !self.table
            && event.object["apiVersion"].as_str() == Some(self.rt.api_version().as_str());
        if !as_stored {
            return self.line(kind, event.object.clone());
        }
        Bytes::from(format!(
            "{{\"type\":\"{kind}\",\"object\":{}}}\n",
            event.object_json()
        ))
    }

    /// Maps a stored event to what this watcher sees: a change that moves an object into or
    /// out of the selection becomes ADDED or DELETED, as on the real server. Like the real
    /// server's, the DELETED of an object leaving the selection carries its previous content
    /// (the last one the watcher was entitled to see) with the event's resourceVersion.
    fn translate(&self, event: &StoredEvent) -> Option<Bytes> {
        if event.key != self.key {
            return None;
        }
        if let Some(ns) = &self.namespace
            && event.namespace != *ns
        {
            return None;
        }
        let now = self.matches(&event.object);
        match event.kind {
            EventType::Modified => {
                let before = event.previous.as_ref().is_some_and(|p| self.matches(p));
                match (before, now) {
                    (true, true) => Some(self.event_line("MODIFIED", event)),
                    (false, true) => Some(self.event_line("ADDED", event)),
                    (true, false) => {
                        let mut last_seen = event.previous.clone().unwrap_or_default();
                        last_seen["metadata"]["resourceVersion"] = json!(event.rv.to_string());
                        Some(self.line("DELETED", last_seen))
                    }
                    (false, false) => None,
                }
            }
            kind => now.then(|| self.event_line(kind.as_str(), event)),
        }
    }

    fn bookmark(&self, rv: u64, initial_events_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({"kind": self.rt.kind, "apiVersion": self.rt.api_version(), "metadata": metadata});
        let mut text = json!({"type": "BOOKMARK", "object": object}).to_string();
        text.push('\n');
        Bytes::from(text)
    }
}

fn expired_line(message: String) -> Bytes {
    let status = ApiError::expired(message).status();
    let mut text = json!({"type": "ERROR", "object": status}).to_string();
    text.push('\n');
    Bytes::from(text)
}

pub fn watch(api: Arc<Api>, call: Call) -> Result<Response, ApiError> {
    let labels = LabelSelector::parse(call.param("labelSelector").unwrap_or_default())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let fields = FieldSelector::parse(
        call.param("fieldSelector").unwrap_or_default(),
        &call.rt.kind,
        call.rt.custom,
    )
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let from = match call.param("resourceVersion") {
        None | Some("0") => None,
        Some(text) => Some(
            text.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {text}")))?,
        ),
    };
    let timeout = call
        .param("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    let bookmarks = call.flag("allowWatchBookmarks");
    let send_initial = match call.param("sendInitialEvents") {
        Some("true") => true,
        Some(_) => false,
        None => from.is_none(),
    };
    let filter = Filter {
        key: call.rt.storage_key(),
        rt: call.rt.clone(),
        namespace: call.namespace.clone(),
        name: call.name.clone(),
        labels,
        fields,
        table: call.wants_table(),
        include_object: call
            .param("includeObject")
            .unwrap_or("Metadata")
            .to_string(),
    };
    let explicit_initial = call.param("sendInitialEvents") == Some("true");
    let (sender, receiver) = mpsc::channel::<Bytes>(64);
    tokio::spawn(run(
        api,
        filter,
        from,
        send_initial,
        explicit_initial && bookmarks,
        timeout,
        bookmarks,
        sender,
    ));
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver
            .recv()
            .await
            .map(|chunk| (Ok::<Bytes, std::convert::Infallible>(chunk), receiver))
    });
    Ok(stream_response(Body::from_stream(stream)))
}

#[allow(clippy::too_many_arguments)]
async fn run(
    api: Arc<Api>,
    filter: Filter,
    from: Option<u64>,
    send_initial: bool,
    initial_bookmark: bool,
    timeout: Duration,
    bookmarks: bool,
    sender: mpsc::Sender<Bytes>,
) {
    let mut changes = api.store.subscribe(&filter.key);
    let mut stopping = api.stopping.clone();
    let deadline = tokio::time::Instant::now() + timeout;
    // The starting point and the initial events are taken under one lock so no write slips
    // between them.
    let start = {
        let state = api.store.lock();
        let current = state.current_rv();
        match from {
            Some(rv) if rv < state.oldest_watchable(&filter.key) => Err(format!(
                "too old resource version: {rv} ({})",
                state.oldest_watchable(&filter.key)
            )),
            _ => {
                let mut initial = Vec::new();
                if send_initial {
                    for (_, object) in state.list(&filter.key, filter.namespace.as_deref(), None) {
                        if filter.matches(object) {
                            initial.push(filter.line("ADDED", object.clone()));
                        }
                    }
                }
                let cursor = match from {
                    Some(rv) if !send_initial => rv.min(current),
                    _ => current,
                };
                Ok((cursor, initial))
            }
        }
    };
    let (mut cursor, initial) = match start {
        Ok(start) => start,
        Err(message) => {
            let _ = sender.send(expired_line(message)).await;
            return;
        }
    };
    for line in initial {
        if sender.send(line).await.is_err() {
            return;
        }
    }
    if initial_bookmark && sender.send(filter.bookmark(cursor, true)).await.is_err() {
        return;
    }
    let mut last_sent = tokio::time::Instant::now();
    loop {
        let batch = api.store.lock().events_after(&filter.key, cursor, BATCH);
        let events = match batch {
            Ok(events) => events,
            Err(expired) => {
                let _ = sender.send(expired_line(expired.to_string())).await;
                return;
            }
        };
        if let Some(last) = events.last() {
            cursor = last.rv;
        }
        let full = events.len() == BATCH;
        // One chunk per batch: fewer wake-ups and writes when many events arrive together.
        let mut chunk = Vec::new();
        for event in events {
            if let Some(line) = filter.translate(&event) {
                chunk.extend_from_slice(&line);
            }
        }
        if !chunk.is_empty() {
            if sender.send(Bytes::from(chunk)).await.is_err() {
                return;
            }
            last_sent = tokio::time::Instant::now();
        }
        if full {
            continue;
        }
        if !filter.still_served(&api) {
            // The CRD (or this version of it) is gone: end the watch as the real server does.
            return;
        }
        let bookmark_at = last_sent + BOOKMARK_INTERVAL;
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
                // Under a burst of writes, hundreds of watchers waking for every single event
                // cost more than the events; a short pause lets each wake take a batch.
                tokio::time::sleep(COALESCE).await;
            }
            _ = tokio::time::sleep_until(bookmark_at), if bookmarks => {
                // Every event up to the cursor has been delivered (or filtered out).
                if sender.send(filter.bookmark(cursor, false)).await.is_err() {
                    return;
                }
                last_sent = tokio::time::Instant::now();
            }
            _ = tokio::time::sleep_until(deadline) => return,
            _ = sender.closed() => return,
            _ = stopping.changed() => return,
        }
    }
}
