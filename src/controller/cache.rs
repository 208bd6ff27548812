//! How the object cache holds each `ZisBearerConnection`: its name and namespace as metadata, the
//! whole object (trimmed, see `trim`) as JSON compressed with LZ4 against a dictionary of what
//! such objects look like, decoded again when a reconcile or the drift watch reads it. With
//! thousands of objects the typed form (four conditions of four strings each, every string its
//! own allocation: about 2.8 KiB an object) was the largest part of the operator's memory; a
//! synced object's 1.7 KB of JSON compresses to about 500 bytes, and decoding one costs
//! microseconds. What a reconcile sees is the same object either way: the JSON round trip of the
//! typed object.

use std::cell::RefCell;
use std::fmt;

use kube::api::ObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use lz4_flex::block::{
    compress_into_with_dict, decompress_into_with_dict, get_maximum_output_size,
};
use serde::{Deserialize, Deserializer};

use crate::resource::ZisBearerConnection;

type Object = ZisBearerConnection;

/// What a synced object looks like as JSON: the field names and the usual values that every
/// object repeats, so that each compresses to little more than what is its own.
const DICTIONARY: &str = concat!(
    r#"{"apiVersion":"zis-operator.dev/v1alpha1","kind":"ZisBearerConnection","#,
    r#""metadata":{"annotations":{"zis-operator.dev/reconcile-requested-at":""},"#,
    r#""creationTimestamp":"2026-01-01T00:00:00Z","deletionTimestamp":"2026-01-01T00:00:00Z","#,
    r#""finalizers":["zis-operator.dev/cleanup"],"generation":1,"#,
    r#""labels":{"app.kubernetes.io/name":"","app.kubernetes.io/instance":"","#,
    r#""app.kubernetes.io/managed-by":"Helm"},"name":"","namespace":"","resourceVersion":"","#,
    r#""uid":""},"spec":{"adoptionPolicy":"Adopt","allowedDomain":"api.example.com","#,
    r#""connectionName":"","deletionPolicy":"Delete","integration":"","suspend":false,"#,
    r#""tokenSecretRef":{"key":"token","name":"-token"}},"status":{"adopted":false,"#,
    r#""conditions":[{"lastTransitionTime":"2026-01-01T00:00:00Z","#,
    r#""message":"connection  is in sync for ","observedGeneration":1,"reason":"Synced","#,
    r#""status":"True","type":"Ready"},{"lastTransitionTime":"2026-01-01T00:00:00Z","#,
    r#""message":"in sync","observedGeneration":1,"reason":"Synced","status":"False","#,
    r#""type":"Reconciling"},{"lastTransitionTime":"2026-01-01T00:00:00Z","message":"in sync","#,
    r#""observedGeneration":1,"reason":"Synced","status":"False","type":"Stalled"},"#,
    r#"{"lastTransitionTime":"2026-01-01T00:00:00Z","#,
    r#""message":"ZIS answered the last call about this connection","observedGeneration":1,"#,
    r#""reason":"Checked","status":"True","type":"RemoteChecked"}],"#,
    r#""createdAt":"2026-01-01T00:00:00.000000Z","lastSyncTime":"2026-01-01T00:00:00Z","#,
    r#""lastHandledReconcileAt":"","observedGeneration":1,"pendingCreate":{"connectionName":"","#,
    r#""integration":"","nameTaken":false,"sentAt":"2026-01-01T00:00:00.000Z"},"#,
    r#""remote":{"allowedDomain":"","connectionName":"","integration":""},"retiring":null,"#,
    r#""secretResourceVersion":"","tokenFingerprint":"hmac-sha256:","#,
    r#""updatedAt":"2026-01-01T00:00:00.000000Z"}}"#,
);

/// One cached `ZisBearerConnection`.
#[derive(Clone)]
pub struct CachedConnection {
    /// Name and namespace: what the cache and the controller key on (the uid and
    /// `resourceVersion` are in the JSON; copies here would only make every key larger).
    metadata: ObjectMeta,
    /// The whole object as JSON, compressed against [`DICTIONARY`].
    compressed: Box<[u8]>,
    /// The `Ready` condition's status and reason, for the metrics (counted at every scrape).
    ready: Option<(&'static str, Box<str>)>,
    /// The integration whose listing confirms this object (see [`Self::listed_under`]).
    listed_under: Option<Box<str>>,
    /// A digest of the `resourceVersion`, to tell the echoes of our own writes (`own_writes`).
    version: u64,
}

impl CachedConnection {
    pub fn new(object: &Object) -> Self {
        let meta = &object.metadata;
        let metadata = ObjectMeta {
            name: meta.name.clone(),
            namespace: meta.namespace.clone(),
            ..ObjectMeta::default()
        };
        let ready = object
            .status
            .as_ref()
            .and_then(super::report::ready)
            .map(|ready| (ready.status.as_str(), ready.reason.as_str().into()));
        let listed_under = object
            .status
            .as_ref()
            .and_then(|status| status.remote.as_ref())
            .filter(|_| !object.spec.suspend)
            .map(|remote| remote.integration.as_str().into());
        let version = meta
            .resource_version
            .as_deref()
            .map(super::own_writes::version_digest)
            .unwrap_or_default();
        Self {
            metadata,
            listed_under,
            compressed: compress(object),
            ready,
            version,
        }
    }

    /// The object, decoded.
    pub fn object(&self) -> Object {
        SCRATCH.with_borrow_mut(|scratch| {
            let (length, compressed) = self.compressed.split_at(4);
            let length = u32::from_le_bytes(length.try_into().unwrap_or_default()) as usize;
            scratch.json.resize(length, 0);
            let decompressed =
                decompress_into_with_dict(compressed, &mut scratch.json, DICTIONARY.as_bytes())
                    .expect("the cache holds what this process compressed");
            serde_json::from_slice(&scratch.json[..decompressed])
                .expect("the cache holds JSON made from the same type")
        })
    }

    /// The `Ready` condition's status and reason, if it has one.
    pub fn ready(&self) -> Option<(&str, &str)> {
        self.ready
            .as_ref()
            .map(|(status, reason)| (*status, &**reason))
    }

    /// The integration of the connection the status records, unless the object is suspended:
    /// the drift watch lists that integration on its behalf (no decode needed to find out).
    pub fn listed_under(&self) -> Option<&str> {
        self.listed_under.as_deref()
    }

    /// A digest of the object's `resourceVersion` (see `own_writes::version_digest`).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The object's key, name and namespace only.
    pub fn key(&self) -> ObjectRef<Object> {
        super::index::key_named(
            self.metadata.name.as_deref().unwrap_or_default(),
            self.metadata.namespace.as_deref(),
        )
    }
}

/// Buffers reused by every encode and decode of a thread: each would otherwise allocate and free
/// a few kilobytes, which at thousands of objects costs more in the allocator than the work.
#[derive(Default)]
struct Scratch {
    json: Vec<u8>,
    compressed: Vec<u8>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::default();
}

/// `object` as JSON compressed against [`DICTIONARY`], after its length (4 bytes, little endian).
fn compress(object: &Object) -> Box<[u8]> {
    SCRATCH.with_borrow_mut(|scratch| {
        scratch.json.clear();
        // Serializing a typed object cannot fail: it has no map with non-string keys.
        let _ = serde_json::to_writer(&mut scratch.json, object);
        let length = u32::try_from(scratch.json.len()).unwrap_or(u32::MAX);
        scratch
            .compressed
            .resize(get_maximum_output_size(scratch.json.len()), 0);
        let written = compress_into_with_dict(
            &scratch.json,
            &mut scratch.compressed,
            DICTIONARY.as_bytes(),
        )
        .expect("the output holds the most a compression can write");
        let mut stored = Vec::with_capacity(4 + written);
        stored.extend_from_slice(&length.to_le_bytes());
        stored.extend_from_slice(&scratch.compressed[..written]);
        stored.into_boxed_slice()
    })
}

/// The cache's key for an object the rest of the controller names.
pub fn cache_key(reference: ObjectRef<Object>) -> ObjectRef<CachedConnection> {
    reference.into_kind_unchecked(())
}

/// The cached object of `key`, decoded.
pub fn get(store: &Store<CachedConnection>, key: &ObjectRef<Object>) -> Option<Object> {
    store
        .get(&cache_key(key.clone()))
        .map(|cached| cached.object())
}

/// One event of the object watch, with its objects as the cache holds them.
pub fn cached(event: &watcher::Event<Object>) -> watcher::Event<CachedConnection> {
    match event {
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitApply(object) => {
            watcher::Event::InitApply(CachedConnection::new(object))
        }
        watcher::Event::InitDone => watcher::Event::InitDone,
        watcher::Event::Apply(object) => watcher::Event::Apply(CachedConnection::new(object)),
        watcher::Event::Delete(object) => watcher::Event::Delete(CachedConnection::new(object)),
    }
}

/// The controller needs the cached type to be deserializable; it never is deserialized other
/// than as the object it stands for.
impl<'de> Deserialize<'de> for CachedConnection {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Object::deserialize(deserializer).map(|object| Self::new(&object))
    }
}

/// Names the object only: the JSON is not worth printing.
impl fmt::Debug for CachedConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedConnection")
            .field("namespace", &self.metadata.namespace)
            .field("name", &self.metadata.name)
            .finish_non_exhaustive()
    }
}

stands_for_connection!(CachedConnection, self => self.metadata);

#[cfg(test)]
mod tests {
    use super::*;

    /// An object as the demo leaves it (its JSON as the API server serves it).
    fn synced() -> Object {
        serde_json::from_str(r#"{"apiVersion":"zis-operator.dev/v1alpha1","kind":"ZisBearerConnection","metadata":{"creationTimestamp":"2026-12-02T11:18:31Z","finalizers":["zis-operator.dev/cleanup"],"generation":1,"name":"orders-api","namespace":"demo","resourceVersion":"19","uid":"b5a71873-0f24-4151-8026-fcfde07bd88a"},"spec":{"adoptionPolicy":"Adopt","allowedDomain":"api.orders.example.com","deletionPolicy":"Delete","integration":"my_integration","suspend":false,"tokenSecretRef":{"key":"token","name":"orders-token"}},"status":{"adopted":false,"conditions":[{"lastTransitionTime":"2026-12-02T11:18:31Z","message":"connection my_integration/orders-api is in sync for api.orders.example.com","observedGeneration":1,"reason":"Synced","status":"True","type":"Ready"},{"lastTransitionTime":"2026-12-02T11:18:31Z","message":"in sync","observedGeneration":1,"reason":"Synced","status":"False","type":"Reconciling"},{"lastTransitionTime":"2026-12-02T11:18:31Z","message":"in sync","observedGeneration":1,"reason":"Synced","status":"False","type":"Stalled"},{"lastTransitionTime":"2026-12-02T11:18:31Z","message":"ZIS answered the last call about this connection","observedGeneration":1,"reason":"Checked","status":"True","type":"RemoteChecked"}],"createdAt":"2026-12-02T11:18:31.779609Z","lastSyncTime":"2026-12-02T11:18:31Z","observedGeneration":1,"remote":{"allowedDomain":"api.orders.example.com","connectionName":"orders-api","integration":"my_integration"},"secretResourceVersion":"18","tokenFingerprint":"hmac-sha256:c80935200c047239597c9c477fe52430926bcc0b670a9717fec6827a0d149795","updatedAt":"2026-12-02T11:18:31.832141Z"}}"#)
            .expect("a ZisBearerConnection")
    }

    #[test]
    fn a_cached_object_decodes_to_the_object_it_was_made_from() {
        let object = synced();
        let cached = CachedConnection::new(&object);
        assert_eq!(cached.object(), object);
        assert_eq!(cached.ready(), Some(("True", "Synced")));
        assert_eq!(cached.key(), super::super::index::key_of(&object));
        assert_eq!(cache_key(cached.key()), ObjectRef::from_obj(&cached));
        assert_eq!(cached.listed_under(), Some("my_integration"));
    }

    #[test]
    fn a_synced_object_is_cached_in_a_fraction_of_its_json() {
        let object = synced();
        let json = serde_json::to_vec(&object).expect("serializes");
        let cached = CachedConnection::new(&object);
        assert!(
            cached.compressed.len() * 2 < json.len(),
            "{} bytes for {} of JSON",
            cached.compressed.len(),
            json.len()
        );
    }

    #[test]
    fn the_cached_type_deserializes_from_the_api_servers_json() {
        let json = serde_json::to_value(synced()).expect("serializes");
        let cached: CachedConnection = serde_json::from_value(json).expect("deserializes");
        assert_eq!(cached.object(), synced());
        assert_eq!(cached.metadata.name.as_deref(), Some("orders-api"));
    }
}
