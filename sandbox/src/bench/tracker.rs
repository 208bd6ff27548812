//! Follows every `ZisBearerConnection` through one watch (a list, then changes; never a get per
//! object) and remembers, for each, when it was first seen with a status and when it was first
//! `Ready=True` for its current generation. The benchmark reads it to time convergence and
//! deletion to the moment the API server reported them.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::watcher;
use serde_json::Value;

/// What is known of one object.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    ready: bool,
    /// First time a status with conditions was seen (the operator's first reconcile).
    first_status_at: Option<Instant>,
    /// Most recent time the object turned `Ready=True`.
    ready_at: Option<Instant>,
}

#[derive(Debug, Default)]
struct State {
    objects: HashMap<String, Seen>,
    ready: usize,
    /// During a relist: the keys listed so far.
    relisting: Option<HashSet<String>>,
    /// When the last object left (the set became empty).
    emptied_at: Option<Instant>,
    watch_errors: u64,
}

impl State {
    fn apply(&mut self, key: String, object: &DynamicObject, now: Instant) {
        let has_status = object.data["status"]["conditions"]
            .as_array()
            .is_some_and(|c| !c.is_empty());
        let ready = is_ready(object);
        let seen = self.objects.entry(key).or_default();
        if has_status && seen.first_status_at.is_none() {
            seen.first_status_at = Some(now);
        }
        if ready != seen.ready {
            if ready {
                seen.ready_at = Some(now);
                self.ready += 1;
            } else {
                self.ready -= 1;
            }
            seen.ready = ready;
        }
    }

    fn remove(&mut self, key: &str, now: Instant) {
        if let Some(seen) = self.objects.remove(key) {
            if seen.ready {
                self.ready -= 1;
            }
            if self.objects.is_empty() {
                self.emptied_at = Some(now);
            }
        }
    }
}

/// `Ready=True` for the object's current generation (a condition computed for an older
/// generation does not count).
fn is_ready(object: &DynamicObject) -> bool {
    let generation = object.metadata.generation;
    object.data["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|condition: &Value| {
            condition["type"] == "Ready"
                && condition["status"] == "True"
                && match (generation, condition["observedGeneration"].as_i64()) {
                    (Some(generation), Some(observed)) => observed == generation,
                    _ => true,
                }
        })
}

fn key_of(object: &DynamicObject) -> String {
    format!(
        "{}/{}",
        object.metadata.namespace.as_deref().unwrap_or_default(),
        object.metadata.name.as_deref().unwrap_or_default()
    )
}

/// A summary of the objects at one moment.
#[derive(Debug, Clone, Copy)]
pub(super) struct Counts {
    pub present: usize,
    pub ready: usize,
    /// The latest moment an object turned ready (of those present).
    pub last_ready_at: Option<Instant>,
    /// The latest first status of those present, and how many have one.
    pub last_first_status_at: Option<Instant>,
    pub with_status: usize,
    pub emptied_at: Option<Instant>,
    pub watch_errors: u64,
}

/// The watch and what it has seen; the watch stops when this is dropped.
pub(super) struct Tracker {
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Tracker {
    pub fn start(api: Api<DynamicObject>) -> Tracker {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            let mut events = std::pin::pin!(watcher(api, watcher::Config::default()));
            while let Some(event) = events.next().await {
                let now = Instant::now();
                let mut state = shared.lock().unwrap_or_else(PoisonError::into_inner);
                match event {
                    Ok(watcher::Event::Apply(object)) => state.apply(key_of(&object), &object, now),
                    Ok(watcher::Event::Delete(object)) => state.remove(&key_of(&object), now),
                    Ok(watcher::Event::Init) => state.relisting = Some(HashSet::new()),
                    Ok(watcher::Event::InitApply(object)) => {
                        let key = key_of(&object);
                        if let Some(listed) = state.relisting.as_mut() {
                            listed.insert(key.clone());
                        }
                        state.apply(key, &object, now);
                    }
                    Ok(watcher::Event::InitDone) => {
                        if let Some(listed) = state.relisting.take() {
                            let gone: Vec<String> = state
                                .objects
                                .keys()
                                .filter(|key| !listed.contains(*key))
                                .cloned()
                                .collect();
                            for key in gone {
                                state.remove(&key, now);
                            }
                        }
                    }
                    Err(_) => state.watch_errors += 1,
                }
            }
        });
        Tracker { state, task }
    }

    pub fn counts(&self) -> Counts {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut counts = Counts {
            present: state.objects.len(),
            ready: state.ready,
            last_ready_at: None,
            last_first_status_at: None,
            with_status: 0,
            emptied_at: state.emptied_at,
            watch_errors: state.watch_errors,
        };
        for seen in state.objects.values() {
            if seen.ready {
                counts.last_ready_at = counts.last_ready_at.max(seen.ready_at);
            }
            if seen.first_status_at.is_some() {
                counts.with_status += 1;
                counts.last_first_status_at = counts.last_first_status_at.max(seen.first_status_at);
            }
        }
        counts
    }

    /// Waits until `done` holds for the counts, checking every `every`; the counts then, or
    /// the last ones seen when `timeout` passed.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        every: Duration,
        mut done: impl FnMut(&Counts) -> bool,
    ) -> Result<Counts, Counts> {
        let deadline = Instant::now() + timeout;
        loop {
            let counts = self.counts();
            if done(&counts) {
                return Ok(counts);
            }
            if Instant::now() > deadline {
                return Err(counts);
            }
            tokio::time::sleep(every).await;
        }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(generation: i64, conditions: Value) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "zis-operator.dev/v1alpha1",
            "kind": "ZisBearerConnection",
            "metadata": {"name": "c", "namespace": "n", "generation": generation},
            "spec": {},
            "status": {"conditions": conditions}
        }))
        .expect("valid object")
    }

    #[test]
    fn an_object_is_ready_only_for_the_generation_its_condition_describes() {
        let ready = json!([{"type": "Ready", "status": "True", "observedGeneration": 2}]);
        assert!(is_ready(&object(2, ready.clone())));
        assert!(!is_ready(&object(3, ready)));
        let progressing = json!([{"type": "Ready", "status": "Unknown", "observedGeneration": 1}]);
        assert!(!is_ready(&object(1, progressing)));
        assert!(!is_ready(&object(1, json!([]))));
    }

    #[test]
    fn counts_follow_objects_turning_ready_and_leaving() {
        let mut state = State::default();
        let now = Instant::now();
        let first = object(
            1,
            json!([{"type": "Ready", "status": "Unknown", "observedGeneration": 1}]),
        );
        state.apply("n/c".into(), &first, now);
        assert_eq!((state.objects.len(), state.ready), (1, 0));
        assert_eq!(state.objects["n/c"].first_status_at, Some(now));
        let later = now + Duration::from_secs(1);
        let ready = object(
            1,
            json!([{"type": "Ready", "status": "True", "observedGeneration": 1}]),
        );
        state.apply("n/c".into(), &ready, later);
        state.apply("n/c".into(), &ready, later + Duration::from_secs(1));
        assert_eq!(state.ready, 1);
        assert_eq!(state.objects["n/c"].ready_at, Some(later));
        assert_eq!(state.objects["n/c"].first_status_at, Some(now));
        state.remove("n/c", later);
        assert_eq!((state.objects.len(), state.ready), (0, 0));
        assert_eq!(state.emptied_at, Some(later));
    }
}
