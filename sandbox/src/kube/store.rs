//! In-memory object storage with a global resourceVersion counter and a bounded event history.
//!
//! Every write takes the next resourceVersion, stores the object and appends an event to the
//! history; watchers replay the history from their resourceVersion and then follow it. Events
//! older than the kept history are compacted away, which is what makes old resourceVersions
//! answer `410 Gone` as on a real server.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;

use super::resources::{self, ResourceType};

/// How many events the history keeps (the real server's watch cache keeps a similar window).
pub const DEFAULT_HISTORY: usize = 10_000;

/// A watch event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change in the history.
#[derive(Debug)]
pub struct StoredEvent {
    pub rv: u64,
    /// (group, plural) of the object.
    pub key: (String, String),
    pub namespace: String,
    pub kind: EventType,
    pub object: Value,
    /// The object before a MODIFIED change (watchers with selectors need it to turn a change
    /// that leaves or enters their selection into DELETED or ADDED).
    pub previous: Option<Value>,
    /// The object's JSON, encoded once and shared by every watcher that sends it as stored.
    pub encoded: std::sync::OnceLock<String>,
}

impl StoredEvent {
    /// The stored object as JSON text (encoded on first use).
    pub fn object_json(&self) -> &str {
        self.encoded.get_or_init(|| self.object.to_string())
    }
}

/// The requested resourceVersion is older than the kept history.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("too old resource version: {requested} ({oldest})")]
pub struct Expired {
    pub requested: u64,
    pub oldest: u64,
}

type Objects = BTreeMap<(String, String), Value>;

/// The mutable state, accessed under the store's lock.
pub struct State {
    rv: u64,
    objects: HashMap<(String, String), Objects>,
    log: VecDeque<Arc<StoredEvent>>,
    history: usize,
    /// Per resource: events with a resourceVersion up to this one were dropped from the history
    /// (like the real server's per-resource watch caches, a busy resource does not expire the
    /// watches of a quiet one).
    compacted: HashMap<(String, String), u64>,
    builtin_types: Vec<ResourceType>,
    custom_types: Vec<ResourceType>,
    /// Resources written since watchers were last signalled.
    touched: std::collections::HashSet<(String, String)>,
}

/// The storage shared by all requests.
pub struct Store {
    state: Mutex<State>,
    /// One change signal per resource, so a write wakes only the watchers of its resource.
    signals: Mutex<HashMap<(String, String), tokio::sync::watch::Sender<u64>>>,
}

impl Store {
    pub fn new(history: usize) -> Store {
        Store {
            state: Mutex::new(State {
                rv: 1,
                objects: HashMap::new(),
                log: VecDeque::new(),
                history: history.max(1),
                compacted: HashMap::new(),
                builtin_types: resources::builtins(),
                custom_types: Vec::new(),
                touched: Default::default(),
            }),
            signals: Mutex::new(HashMap::new()),
        }
    }

    /// Locks the state. A panic while holding the lock cannot leave the maps half-written in a
    /// way later requests could not handle, so a poisoned lock is used as is.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Tells the watchers of every resource written since the last call that the history grew
    /// (call after releasing the state lock).
    pub fn notify(&self, rv: u64) {
        let touched = std::mem::take(&mut self.lock().touched);
        let signals = self
            .signals
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for key in touched {
            if let Some(signal) = signals.get(&key) {
                signal.send_replace(rv);
            }
        }
    }

    /// A receiver that changes whenever objects of the resource `key` are written.
    pub fn subscribe(&self, key: &(String, String)) -> tokio::sync::watch::Receiver<u64> {
        let mut signals = self
            .signals
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        signals
            .entry(key.clone())
            .or_insert_with(|| tokio::sync::watch::channel(0).0)
            .subscribe()
    }
}

impl State {
    /// The resourceVersion of the last write.
    pub fn current_rv(&self) -> u64 {
        self.rv
    }

    pub fn get(&self, key: &(String, String), namespace: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(key)?
            .get(&(namespace.to_string(), name.to_string()))
    }

    /// Objects of a resource in key order (namespace, name), optionally in one namespace, starting
    /// after `after` (a continue position).
    pub fn list<'a>(
        &'a self,
        key: &(String, String),
        namespace: Option<&'a str>,
        after: Option<(String, String)>,
    ) -> Box<dyn Iterator<Item = (&'a (String, String), &'a Value)> + 'a> {
        let Some(objects) = self.objects.get(key) else {
            return Box::new(std::iter::empty());
        };
        let start = match (&after, namespace) {
            (Some(after), _) => std::ops::Bound::Excluded(after.clone()),
            (None, Some(ns)) => std::ops::Bound::Included((ns.to_string(), String::new())),
            (None, None) => std::ops::Bound::Unbounded,
        };
        let iter = objects
            .range((start, std::ops::Bound::Unbounded))
            .take_while(move |((ns, _), _)| namespace.is_none_or(|wanted| wanted == ns));
        Box::new(iter)
    }

    /// Whether any object of any resource lives in `namespace`.
    pub fn namespace_has_objects(&self, namespace: &str) -> bool {
        self.objects
            .values()
            .any(|objects| objects.keys().any(|(ns, _)| ns == namespace))
    }

    /// Every (key, name) of objects living in `namespace`.
    pub fn objects_in_namespace(&self, namespace: &str) -> Vec<((String, String), String)> {
        let mut found = Vec::new();
        for (key, objects) in &self.objects {
            for (ns, name) in objects.keys() {
                if ns == namespace {
                    found.push((key.clone(), name.clone()));
                }
            }
        }
        found
    }

    /// Stores `object` (created or modified) with the next resourceVersion; returns it as stored.
    pub fn put(
        &mut self,
        key: &(String, String),
        namespace: &str,
        name: &str,
        mut object: Value,
        kind: EventType,
    ) -> Value {
        self.rv += 1;
        object["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        let previous = self
            .objects
            .entry(key.clone())
            .or_default()
            .insert((namespace.to_string(), name.to_string()), object.clone());
        self.record(key, namespace, kind, object.clone(), previous);
        object
    }

    /// Removes an object; the DELETED event carries a new resourceVersion, as on a real server.
    pub fn remove(&mut self, key: &(String, String), namespace: &str, name: &str) -> Option<Value> {
        let mut object = self
            .objects
            .get_mut(key)?
            .remove(&(namespace.to_string(), name.to_string()))?;
        self.rv += 1;
        object["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        self.record(key, namespace, EventType::Deleted, object.clone(), None);
        Some(object)
    }

    fn record(
        &mut self,
        key: &(String, String),
        namespace: &str,
        kind: EventType,
        object: Value,
        previous: Option<Value>,
    ) {
        self.touched.insert(key.clone());
        self.log.push_back(Arc::new(StoredEvent {
            rv: self.rv,
            key: key.clone(),
            namespace: namespace.to_string(),
            kind,
            object,
            previous,
            encoded: std::sync::OnceLock::new(),
        }));
        while self.log.len() > self.history {
            if let Some(dropped) = self.log.pop_front() {
                self.compacted.insert(dropped.key.clone(), dropped.rv);
            }
        }
    }

    /// Events after `rv` (exclusive), at most `max`, or `Expired` when events of resource
    /// `key` after `rv` may have been dropped.
    pub fn events_after(
        &self,
        key: &(String, String),
        rv: u64,
        max: usize,
    ) -> Result<Vec<Arc<StoredEvent>>, Expired> {
        let oldest = self.oldest_watchable(key);
        if rv < oldest {
            return Err(Expired {
                requested: rv,
                oldest,
            });
        }
        let start = self.log.partition_point(|event| event.rv <= rv);
        Ok(self.log.range(start..).take(max).cloned().collect())
    }

    /// The oldest resourceVersion a watch of resource `key` may still start from.
    pub fn oldest_watchable(&self, key: &(String, String)) -> u64 {
        self.compacted.get(key).copied().unwrap_or(0)
    }

    /// All served types: built-ins, then CRD-defined ones.
    pub fn types(&self) -> impl Iterator<Item = &ResourceType> {
        self.builtin_types.iter().chain(self.custom_types.iter())
    }

    /// The type served at group/version/plural.
    pub fn find_type(&self, group: &str, version: &str, plural: &str) -> Option<ResourceType> {
        self.types()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
            .cloned()
    }

    /// Recomputes the CRD-defined types from the stored CRDs.
    pub fn refresh_custom_types(&mut self) {
        let key = (
            "apiextensions.k8s.io".to_string(),
            "customresourcedefinitions".to_string(),
        );
        let mut types = Vec::new();
        if let Some(crds) = self.objects.get(&key) {
            for crd in crds.values() {
                types.extend(resources::from_crd(crd));
            }
        }
        // Watchers of a type that is no longer served are woken so that they can end, as the
        // real server closes them when it removes the type's storage.
        for gone in self.custom_types.iter().filter(|t| !types.contains(t)) {
            self.touched.insert(gone.storage_key());
        }
        self.custom_types = types;
    }
}
