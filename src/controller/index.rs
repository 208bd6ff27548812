//! Who relates to whom: which objects use a Secret (for the metadata-only Secret watch), which
//! object owns a connection name when several ask for it, and which objects to wake when a name
//! is released. [`ObjectIndex`] keeps the relations up to date from the object watch's events,
//! so that each question costs the few objects it concerns, never a scan of every object (with
//! thousands of objects a scan per event made converging quadratic). No I/O.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Secret;
use kube::Resource;
use kube::ResourceExt;
use kube::api::PartialObjectMeta;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;

use super::context::Context;
use super::plan::{self, Claim, Identity};
use super::secret_versions::SecretVersions;
use super::validate::{self, Target};
use crate::digest::of as digest;
use crate::resource::ZisBearerConnection;

type Object = ZisBearerConnection;
type Key = ObjectRef<Object>;

/// The objects that use each token Secret and that ask for or hold each connection name.
#[derive(Debug, Default)]
pub struct ObjectIndex {
    state: Mutex<IndexState>,
}

/// An object's key as the index holds it: one allocation shared by every relation the object is
/// in, and without the uid and `resourceVersion` that `ObjectRef::from_obj` carries (equality
/// ignores them; with thousands of objects their copies were most of the index's memory).
type Shared = Arc<Key>;

/// What an object is indexed under (a Secret, a connection identity), as a digest: 8 bytes a
/// relation instead of its strings. The index answers with candidates: a collision only wakes an
/// object for nothing, and a claim is checked against the claiming object itself.
type Digest = u64;

fn secret_digest(namespace: &str, name: &str) -> Digest {
    digest(&(namespace, name))
}

#[derive(Debug, Default)]
struct IndexState {
    /// (namespace, Secret name) -> objects whose `tokenSecretRef` names it.
    secret_users: HashMap<Digest, HashSet<Shared>>,
    /// Connection identity -> objects that ask for it or hold it.
    claimants: HashMap<Digest, HashSet<Shared>>,
    /// Integration key (as the spec names it) -> objects.
    integration_users: HashMap<String, HashSet<Shared>>,
    /// What each object was indexed under, to unindex it when it changes or goes.
    entries: HashMap<Shared, Entry>,
    /// During a relist, the objects seen since it began: the others are gone.
    relisted: Option<HashSet<Key>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// The token Secret (in the object's namespace).
    secret: Digest,
    integration: String,
    identities: Box<[Digest]>,
}

/// The key of `object`, name and namespace only.
pub fn key_of(object: &Object) -> Key {
    key_named(&object.name_any(), object.metadata.namespace.as_deref())
}

/// The key of the object `name` in `namespace` (name and namespace only).
pub fn key_named(name: &str, namespace: Option<&str>) -> Key {
    let key = ObjectRef::new(name);
    match namespace {
        Some(namespace) => key.within(namespace),
        None => key,
    }
}

impl ObjectIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Follows one event of the object watch (apply it after the reflector's store has).
    pub fn apply_event(&self, event: &watcher::Event<Object>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            watcher::Event::Init => state.relisted = Some(HashSet::new()),
            watcher::Event::InitApply(object) => {
                let key = key_of(object);
                if let Some(seen) = state.relisted.as_mut() {
                    seen.insert(key.clone());
                }
                state.index(key, object);
            }
            watcher::Event::InitDone => {
                let Some(seen) = state.relisted.take() else {
                    return;
                };
                let gone: Vec<Shared> = state
                    .entries
                    .keys()
                    .filter(|key| !seen.contains(&***key))
                    .cloned()
                    .collect();
                for key in gone {
                    state.unindex(&key);
                }
            }
            watcher::Event::Apply(object) => state.index(key_of(object), object),
            watcher::Event::Delete(object) => state.unindex(&key_of(object)),
        }
    }

    /// The objects of `namespace` whose token Secret is `name`.
    pub fn users_of_secret(&self, namespace: &str, name: &str) -> Vec<Key> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        keys(state.secret_users.get(&secret_digest(namespace, name)))
    }

    /// The objects whose token Secret's digest is one `pick` chooses.
    fn users_of_secrets_where(&self, mut pick: impl FnMut(Digest) -> bool) -> Vec<Key> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state
            .secret_users
            .iter()
            .filter(|(secret, _)| pick(**secret))
            .flat_map(|(_, users)| users.iter().map(|key| Key::clone(key)))
            .collect()
    }

    /// The objects of `namespace`.
    pub fn users_in_namespace(&self, namespace: &str) -> Vec<Key> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state
            .entries
            .keys()
            .filter(|key| key.namespace.as_deref() == Some(namespace))
            .map(|key| Key::clone(key))
            .collect()
    }

    /// The objects whose spec names `integration` (what a change of it concerns).
    pub fn users_of_integration(&self, integration: &str) -> Vec<Key> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        keys(state.integration_users.get(integration))
    }

    /// How many objects name `integration` in their spec.
    pub fn count_of_integration(&self, integration: &str) -> usize {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state
            .integration_users
            .get(integration)
            .map_or(0, HashSet::len)
    }

    /// The objects that ask for or hold `identity` (and, rarely, another one).
    pub fn claimants_of(&self, identity: &Identity) -> Vec<Key> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        keys(state.claimants.get(&digest(identity)))
    }
}

/// Copies of the keys in `set`, if any.
fn keys(set: Option<&HashSet<Shared>>) -> Vec<Key> {
    set.map(|keys| keys.iter().map(|key| Key::clone(key)).collect())
        .unwrap_or_default()
}

impl IndexState {
    fn index(&mut self, key: Key, object: &Object) {
        let namespace = key.namespace.as_deref().unwrap_or_default();
        let entry = Entry {
            secret: secret_digest(namespace, &object.spec.token_secret_ref.name),
            integration: object.spec.integration.clone(),
            identities: identities_of(object).iter().map(digest).collect(),
        };
        if self.entries.get(&key) == Some(&entry) {
            return;
        }
        self.unindex(&key);
        let shared = Arc::new(key);
        self.secret_users
            .entry(entry.secret)
            .or_default()
            .insert(shared.clone());
        for identity in &entry.identities {
            self.claimants
                .entry(*identity)
                .or_default()
                .insert(shared.clone());
        }
        self.integration_users
            .entry(entry.integration.clone())
            .or_default()
            .insert(shared.clone());
        self.entries.insert(shared, entry);
    }

    fn unindex(&mut self, key: &Key) {
        let Some(entry) = self.entries.remove(key) else {
            return;
        };
        remove_from(&mut self.secret_users, &entry.secret, key);
        for identity in &entry.identities {
            remove_from(&mut self.claimants, identity, key);
        }
        remove_from(&mut self.integration_users, &entry.integration, key);
    }
}

/// Removes `key` from the set under `group`, and the set once it is empty.
fn remove_from<G, Q>(map: &mut HashMap<G, HashSet<Shared>>, group: &Q, key: &Key)
where
    G: std::borrow::Borrow<Q> + Hash + Eq,
    Q: Hash + Eq + ?Sized,
{
    if let Some(keys) = map.get_mut(group) {
        keys.remove(key);
        if keys.is_empty() {
            map.remove(group);
        }
    }
}

/// The other object that comes first for the connection `object` asks for, if any (see
/// `plan::senior_claimant`): only the objects that ask for or hold that name are looked at.
pub(super) fn senior_claimant(object: &Object, target: &Target, ctx: &Context) -> Option<Claim> {
    let wanted = Identity::of_target(target);
    let me = Claim {
        namespace: object.namespace().unwrap_or_default(),
        name: object.name_any(),
        created: object.metadata.creation_timestamp.clone(),
        identity: wanted.clone(),
        held: held_by(object),
        owns: owned_by(object),
        deleting: object.metadata.deletion_timestamp.is_some(),
    };
    let myself = key_of(object);
    let others: Vec<Claim> = ctx
        .index
        .claimants_of(&wanted)
        .into_iter()
        .filter(|key| *key != myself)
        .filter_map(|key| super::cache::get(&ctx.store, &key))
        .filter_map(|other| claim_of(&other))
        .collect();
    plan::senior_claimant(&me, others.iter()).cloned()
}

pub(super) fn claim_of(object: &Object) -> Option<Claim> {
    let target = validate::target(&object.name_any(), &object.spec).ok()?;
    Some(Claim {
        namespace: object.namespace().unwrap_or_default(),
        name: object.name_any(),
        created: object.metadata.creation_timestamp.clone(),
        identity: Identity::of_target(&target),
        held: held_by(object),
        owns: owned_by(object),
        deleting: object.metadata.deletion_timestamp.is_some(),
    })
}

/// The connection `object`'s status records as existing and its own.
fn owned_by(object: &Object) -> Option<Identity> {
    object
        .status
        .as_ref()?
        .remote
        .as_ref()
        .map(Identity::of_remote)
}

/// The connections `object`'s status records as existing or possibly created.
fn held_by(object: &Object) -> Vec<Identity> {
    let Some(status) = &object.status else {
        return Vec::new();
    };
    let remote = status.remote.as_ref().map(Identity::of_remote);
    let retiring = status.retiring.as_ref().map(Identity::of_remote);
    let pending = status.pending_create.as_ref().map(Identity::of_pending);
    remote.into_iter().chain(retiring).chain(pending).collect()
}

/// Asks the other objects that want one of `released` to try again (the name is free now).
pub(super) fn release_to_peers(ctx: &Context, released: &[Identity], except: &Key) {
    for reference in peers_of(&ctx.index, released, except) {
        // The receiver lives as long as the controller; a closed channel means shutdown.
        let _ = ctx.peers.unbounded_send(reference);
    }
}

/// The objects other than `except` that ask for or hold one of `released`.
fn peers_of(index: &ObjectIndex, released: &[Identity], except: &Key) -> Vec<Key> {
    let mut peers: Vec<Key> = released
        .iter()
        .flat_map(|identity| index.claimants_of(identity))
        .filter(|key| key != except)
        .collect();
    peers.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    peers.dedup();
    peers
}

/// The objects waiting for a connection name `deleted` (an object just removed from the cache)
/// asked for or held. Its cleanup already woke them, but possibly before it left the cache, where
/// they would still find it; the watch's delete event wakes them once it is gone.
pub fn peers_waiting_for(index: &ObjectIndex, deleted: &Object) -> Vec<Key> {
    peers_of(index, &identities_of(deleted), &key_of(deleted))
}

/// Every connection identity `object` claims or holds.
pub(super) fn identities_of(object: &Object) -> Vec<Identity> {
    let mut identities: Vec<Identity> = Vec::new();
    let wanted = claim_of(object).map(|c| c.identity);
    for identity in wanted.into_iter().chain(held_by(object)) {
        if !identities.contains(&identity) {
            identities.push(identity);
        }
    }
    identities
}

/// The objects whose token Secret is `secret` (metadata from the Secret watch).
fn objects_using_secret<S: Resource>(
    index: &ObjectIndex,
    secret: &PartialObjectMeta<S>,
) -> Vec<Key> {
    let (Some(namespace), Some(name)) = (&secret.metadata.namespace, &secret.metadata.name) else {
        return Vec::new();
    };
    index.users_of_secret(namespace, name)
}

/// The objects a Secret watch event concerns (ask after `SecretVersions` followed the event).
pub fn objects_for_secret_event(
    index: &ObjectIndex,
    versions: &SecretVersions,
    event: &watcher::Event<PartialObjectMeta<Secret>>,
) -> Vec<Key> {
    match event {
        watcher::Event::InitDone => objects_missing_their_secret(index, versions),
        event => touched_secret(event)
            .map(|secret| objects_using_secret(index, secret))
            .unwrap_or_default(),
    }
}

/// The Secret a watch event applies or deletes, if any.
fn touched_secret(
    event: &watcher::Event<PartialObjectMeta<Secret>>,
) -> Option<&PartialObjectMeta<Secret>> {
    match event {
        watcher::Event::Apply(secret)
        | watcher::Event::InitApply(secret)
        | watcher::Event::Delete(secret) => Some(secret),
        watcher::Event::Init | watcher::Event::InitDone => None,
    }
}

/// Once the Secret watch has listed (at start, or again after a gap): the objects whose token
/// Secret the listing lacks. A Secret deleted before the first listing or while the watch was
/// down sends no delete event; without this, an object synced from a fresh read just before
/// would go on as if its Secret were there until the next resync.
fn objects_missing_their_secret(index: &ObjectIndex, versions: &SecretVersions) -> Vec<Key> {
    let mut listed = HashSet::new();
    versions.for_each_secret(|namespace, name| {
        listed.insert(secret_digest(namespace, name));
    });
    index.users_of_secrets_where(|secret| !listed.contains(&secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{
        AdoptionPolicy, DeletionPolicy, TokenSecretRef, ZisBearerConnectionSpec,
    };
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::ObjectMeta;
    use kube::core::PartialObjectMetaExt;

    fn object(namespace: &str, name: &str, secret: &str) -> Object {
        let mut object = Object::new(
            name,
            ZisBearerConnectionSpec {
                integration: "int".into(),
                connection_name: None,
                allowed_domain: "example.com".into(),
                token_secret_ref: TokenSecretRef {
                    name: secret.into(),
                    key: "token".into(),
                },
                deletion_policy: DeletionPolicy::Delete,
                adoption_policy: AdoptionPolicy::Adopt,
                suspend: false,
            },
        );
        object.metadata.namespace = Some(namespace.into());
        object
    }

    fn secret_meta(namespace: &str, name: &str) -> PartialObjectMeta<Secret> {
        ObjectMeta {
            namespace: Some(namespace.into()),
            name: Some(name.into()),
            ..Default::default()
        }
        .into_response_partial()
    }

    /// An index that has seen `objects` applied.
    fn index_of(objects: impl IntoIterator<Item = Object>) -> ObjectIndex {
        let index = ObjectIndex::new();
        for object in objects {
            index.apply_event(&watcher::Event::Apply(object));
        }
        index
    }

    fn names(keys: Vec<Key>) -> Vec<String> {
        let mut names: Vec<String> = keys.into_iter().map(|key| key.name).collect();
        names.sort();
        names
    }

    #[test]
    fn a_secret_event_maps_to_the_objects_of_its_namespace_that_use_it() {
        let index = index_of([
            object("ns1", "a", "tok"),
            object("ns1", "b", "tok"),
            object("ns1", "c", "other"),
            object("ns2", "d", "tok"),
        ]);
        let names = names(objects_using_secret(&index, &secret_meta("ns1", "tok")));
        assert_eq!(names, ["a", "b"]);
        assert!(objects_using_secret(&index, &secret_meta("ns3", "tok")).is_empty());
    }

    #[test]
    fn a_listing_of_secrets_wakes_the_objects_whose_secret_it_lacks() {
        let index = index_of([
            object("ns1", "kept-user", "kept"),
            object("ns1", "gone-user", "gone"),
            object("ns2", "other-namespace", "kept"),
        ]);
        let versions = SecretVersions::new();
        let secret = |namespace: &str, name: &str| {
            let mut meta = secret_meta(namespace, name);
            meta.metadata.resource_version = Some("1".into());
            meta
        };
        let follow = |event: watcher::Event<PartialObjectMeta<Secret>>| {
            versions.apply_event(&event);
            names(objects_for_secret_event(&index, &versions, &event))
        };
        // The first listing: `gone` was deleted before it, and ns2 has no `kept`.
        assert!(follow(watcher::Event::Init).is_empty());
        assert_eq!(
            follow(watcher::Event::InitApply(secret("ns1", "kept"))),
            ["kept-user"]
        );
        assert_eq!(
            follow(watcher::Event::InitApply(secret("ns1", "unused"))),
            [] as [&str; 0]
        );
        assert_eq!(
            follow(watcher::Event::InitDone),
            ["gone-user", "other-namespace"]
        );
        // Both appear, then `kept` is deleted while the watch is down: the relist says so.
        assert_eq!(
            follow(watcher::Event::Apply(secret("ns1", "gone"))),
            ["gone-user"]
        );
        assert_eq!(
            follow(watcher::Event::Apply(secret("ns2", "kept"))),
            ["other-namespace"]
        );
        follow(watcher::Event::Init);
        follow(watcher::Event::InitApply(secret("ns1", "gone")));
        follow(watcher::Event::InitApply(secret("ns2", "kept")));
        assert_eq!(follow(watcher::Event::InitDone), ["kept-user"]);
        // A delete seen by the watch wakes the users as before.
        assert_eq!(
            follow(watcher::Event::Delete(secret("ns1", "gone"))),
            ["gone-user"]
        );
    }

    #[test]
    fn a_changed_or_deleted_object_leaves_the_index_and_a_relist_forgets_the_vanished() {
        let index = ObjectIndex::new();
        index.apply_event(&watcher::Event::Apply(object("ns1", "alpha", "tok")));
        index.apply_event(&watcher::Event::Apply(object("ns1", "bravo", "tok")));
        // alpha now uses another Secret.
        index.apply_event(&watcher::Event::Apply(object("ns1", "alpha", "new")));
        assert_eq!(index.users_of_secret("ns1", "tok").len(), 1);
        assert_eq!(index.users_of_secret("ns1", "new").len(), 1);
        let a_wants = Identity {
            integration: "int".into(),
            connection_name: "alpha".into(),
        };
        assert_eq!(index.claimants_of(&a_wants).len(), 1);
        index.apply_event(&watcher::Event::Delete(object("ns1", "alpha", "new")));
        assert!(index.users_of_secret("ns1", "new").is_empty());
        assert!(index.claimants_of(&a_wants).is_empty());
        // bravo vanished while the watch was down: the relist does not mention it.
        index.apply_event(&watcher::Event::Init);
        index.apply_event(&watcher::Event::InitApply(object("ns1", "charlie", "tok")));
        index.apply_event(&watcher::Event::InitDone);
        let users: Vec<String> = index
            .users_of_secret("ns1", "tok")
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(users, ["charlie"]);
    }
}
