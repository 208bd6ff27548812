//! Who relates to whom, from the reflector caches: which objects use a Secret (for the
//! metadata-only Secret watch), which object owns a connection name when several ask for it,
//! and which objects to wake when a name is released. No I/O beyond the caches.

use kube::Resource;
use kube::ResourceExt;
use kube::api::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};

use super::context::Context;
use super::plan::{self, Claim, Identity};
use super::validate::{self, Target};
use crate::resource::ZisBearerConnection;

type Object = ZisBearerConnection;

/// The oldest other object that targets the same connection, if older than `object`.
pub(super) fn senior_claimant(
    object: &Object,
    target: &Target,
    store: &Store<Object>,
) -> Option<Claim> {
    let me = Claim {
        namespace: object.namespace().unwrap_or_default(),
        name: object.name_any(),
        created: object.metadata.creation_timestamp.clone(),
        identity: Identity::of_target(target),
        held: held_by(object),
        owns: owned_by(object),
        deleting: object.metadata.deletion_timestamp.is_some(),
    };
    let others: Vec<Claim> = store
        .state()
        .iter()
        // Cheap comparison first: full validation only for objects naming the same connection.
        .filter(|other| {
            let asks = other.spec.integration == target.integration
                && other.requested_connection_name() == target.connection_name;
            asks || held_by(other).contains(&Identity::of_target(target))
        })
        .filter_map(|other| claim_of(other))
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
pub(super) fn release_to_peers(ctx: &Context, released: &[Identity], except: &ObjectRef<Object>) {
    for reference in peers_of(&ctx.store, released, except) {
        // The receiver lives as long as the controller; a closed channel means shutdown.
        let _ = ctx.peers.unbounded_send(reference);
    }
}

/// The objects other than `except` that ask for one of `released`.
fn peers_of(
    store: &Store<Object>,
    released: &[Identity],
    except: &ObjectRef<Object>,
) -> Vec<ObjectRef<Object>> {
    if released.is_empty() {
        return Vec::new();
    }
    store
        .state()
        .iter()
        .filter(|other| ObjectRef::from_obj(&***other) != *except)
        .filter(|other| claim_of(other).is_some_and(|claim| released.contains(&claim.identity)))
        .map(|other| ObjectRef::from_obj(&**other))
        .collect()
}

/// The objects waiting for a connection name `deleted` (an object just removed from the cache)
/// asked for or held. Its cleanup already woke them, but possibly before it left the cache, where
/// they would still find it; the watch's delete event wakes them once it is gone.
pub fn peers_waiting_for(store: &Store<Object>, deleted: &Object) -> Vec<ObjectRef<Object>> {
    peers_of(
        store,
        &identities_of(deleted),
        &ObjectRef::from_obj(deleted),
    )
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
pub fn objects_using_secret<S: Resource>(
    store: &Store<Object>,
    secret: &PartialObjectMeta<S>,
) -> Vec<ObjectRef<Object>> {
    let (Some(namespace), Some(name)) = (&secret.metadata.namespace, &secret.metadata.name) else {
        return Vec::new();
    };
    store
        .state()
        .iter()
        .filter(|object| {
            object.metadata.namespace.as_ref() == Some(namespace)
                && object.spec.token_secret_ref.name == *name
        })
        .map(|object| ObjectRef::from_obj(&**object))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{
        AdoptionPolicy, DeletionPolicy, TokenSecretRef, ZisBearerConnectionSpec,
    };
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::ObjectMeta;
    use kube::runtime::{reflector, watcher};

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
        PartialObjectMeta {
            types: None,
            metadata: ObjectMeta {
                namespace: Some(namespace.into()),
                name: Some(name.into()),
                ..Default::default()
            },
            _phantom: std::marker::PhantomData,
        }
    }

    #[test]
    fn a_secret_event_maps_to_the_objects_of_its_namespace_that_use_it() {
        let (store, mut writer) = reflector::store::<Object>();
        for object in [
            object("ns1", "a", "tok"),
            object("ns1", "b", "tok"),
            object("ns1", "c", "other"),
            object("ns2", "d", "tok"),
        ] {
            writer.apply_watcher_event(&watcher::Event::Apply(object));
        }
        let mut names: Vec<String> = objects_using_secret(&store, &secret_meta("ns1", "tok"))
            .into_iter()
            .map(|r| r.name)
            .collect();
        names.sort();
        assert_eq!(names, ["a", "b"]);
        assert!(objects_using_secret(&store, &secret_meta("ns3", "tok")).is_empty());
    }
}
