//! Connection objects parsed without their managed fields: as the watch delivers them, as the
//! answers to the finalizer's writes, and as read again before a deletion (with [`get_parsed`],
//! which the token Secret's read shares).
//!
//! Every write to an object (the finalizer, each status write) comes back through the watch as
//! the whole object, managed fields included: a tree of field names per writer that nothing in
//! the operator reads. Parsed into `serde_json::Value`s they were a good part of the allocations
//! of each watch event; here they are skipped unparsed, and the object is what the trimmed one
//! was (`trim::keep_what_reconciles_read`).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::runtime::watcher;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::trim;
use crate::resource::{ZisBearerConnection, ZisBearerConnectionSpec, ZisBearerConnectionStatus};

type Object = ZisBearerConnection;

/// A connection object, managed fields skipped while parsing.
#[derive(Clone, Debug)]
pub struct LeanConnection(Object);

impl LeanConnection {
    pub fn into_object(self) -> Object {
        self.0
    }
}

impl From<Object> for LeanConnection {
    fn from(object: Object) -> Self {
        Self(object)
    }
}

/// Written as the object it holds (the finalizer helper needs it serializable).
impl Serialize for LeanConnection {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// The object `name` in `namespace` as stored now, parsed like a watch event; `None` when it is
/// gone.
pub async fn get(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Option<Object>, kube::Error> {
    use kube::Resource;
    let url = Object::url_path(&(), Some(namespace));
    let object: Option<LeanConnection> = get_parsed(client, url, name).await?;
    Ok(object.map(LeanConnection::into_object))
}

/// `GET {url}/{name}` parsed as `T` (a type that reads only what its caller needs and skips the
/// rest unparsed); `None` on 404.
pub async fn get_parsed<T: serde::de::DeserializeOwned>(
    client: &kube::Client,
    url: String,
    name: &str,
) -> Result<Option<T>, kube::Error> {
    let request = kube::core::Request::new(url)
        .get(name, &kube::api::GetParams::default())
        .map_err(kube::Error::BuildRequest)?;
    match client.request::<T>(request).await {
        Ok(parsed) => Ok(Some(parsed)),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
        Err(error) => Err(error),
    }
}

/// The events of the watch, with the objects they carry.
pub fn objects(event: watcher::Event<LeanConnection>) -> watcher::Event<Object> {
    match event {
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitApply(object) => watcher::Event::InitApply(object.into_object()),
        watcher::Event::InitDone => watcher::Event::InitDone,
        watcher::Event::Apply(object) => watcher::Event::Apply(object.into_object()),
        watcher::Event::Delete(object) => watcher::Event::Delete(object.into_object()),
    }
}

/// `ObjectMeta` without `managedFields`: unknown fields, that one included, are skipped.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    annotations: Option<BTreeMap<String, String>>,
    creation_timestamp: Option<Time>,
    deletion_grace_period_seconds: Option<i64>,
    deletion_timestamp: Option<Time>,
    finalizers: Option<Vec<String>>,
    generate_name: Option<String>,
    generation: Option<i64>,
    labels: Option<BTreeMap<String, String>>,
    name: Option<String>,
    namespace: Option<String>,
    owner_references: Option<Vec<OwnerReference>>,
    resource_version: Option<String>,
    self_link: Option<String>,
    uid: Option<String>,
}

#[derive(Deserialize)]
struct Lean {
    metadata: Metadata,
    spec: ZisBearerConnectionSpec,
    status: Option<ZisBearerConnectionStatus>,
}

impl<'de> Deserialize<'de> for LeanConnection {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Lean {
            metadata: m,
            spec,
            status,
        } = Lean::deserialize(deserializer)?;
        let mut object = Object {
            metadata: ObjectMeta {
                annotations: m.annotations,
                creation_timestamp: m.creation_timestamp,
                deletion_grace_period_seconds: m.deletion_grace_period_seconds,
                deletion_timestamp: m.deletion_timestamp,
                finalizers: m.finalizers,
                generate_name: m.generate_name,
                generation: m.generation,
                labels: m.labels,
                managed_fields: None,
                name: m.name,
                namespace: m.namespace,
                owner_references: m.owner_references,
                resource_version: m.resource_version,
                self_link: m.self_link,
                uid: m.uid,
            },
            spec,
            status,
        };
        trim::keep_what_reconciles_read(&mut object);
        Ok(Self(object))
    }
}

stands_for_connection!(LeanConnection, self => self.0.metadata);

#[cfg(test)]
mod tests {
    use kube::ResourceExt;
    use serde_json::json;

    use super::*;

    /// An object as the API server sends it after `kubectl apply` and the operator's writes.
    fn as_served() -> serde_json::Value {
        json!({
            "apiVersion": "zis-operator.dev/v1alpha1",
            "kind": "ZisBearerConnection",
            "metadata": {
                "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration": "{\"spec\":{}}",
                    "team": "orders",
                    "zis-operator.dev/reconcile-requested-at": "1"
                },
                "creationTimestamp": "2026-12-02T11:18:31Z",
                "deletionGracePeriodSeconds": 0,
                "deletionTimestamp": "2026-12-02T12:00:00Z",
                "finalizers": ["zis-operator.dev/cleanup"],
                "generateName": "orders-",
                "generation": 3,
                "labels": {"app": "orders"},
                "managedFields": [
                    {"apiVersion": "zis-operator.dev/v1alpha1", "fieldsType": "FieldsV1",
                     "fieldsV1": {"f:spec": {".": {}, "f:allowedDomain": {}}},
                     "manager": "kubectl", "operation": "Update",
                     "time": "2026-12-02T11:18:31Z"},
                    {"apiVersion": "zis-operator.dev/v1alpha1", "fieldsType": "FieldsV1",
                     "fieldsV1": {"f:status": {"f:conditions": {}}},
                     "manager": "zis-operator", "operation": "Update",
                     "subresource": "status", "time": "2026-12-02T11:18:32Z"}
                ],
                "name": "orders-api",
                "namespace": "demo",
                "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
                                     "uid": "0b7f7a42-0000-4000-8000-000000000001"}],
                "resourceVersion": "19",
                "selfLink": "/apis/zis-operator.dev/v1alpha1/namespaces/demo/zisbearerconnections/orders-api",
                "uid": "b5a71873-0f24-4151-8026-fcfde07bd88a"
            },
            "spec": {
                "integration": "my_integration",
                "allowedDomain": "api.orders.example.com",
                "tokenSecretRef": {"name": "orders-token", "key": "token"}
            },
            "status": {
                "observedGeneration": 3,
                "remote": {"integration": "my_integration", "connectionName": "orders-api",
                           "allowedDomain": "api.orders.example.com"}
            }
        })
    }

    #[test]
    fn a_watched_object_is_the_trimmed_object() {
        let served = as_served();
        let mut trimmed: Object = serde_json::from_value(served.clone()).expect("an object");
        assert!(trimmed.metadata.managed_fields.is_some());
        trim::keep_what_reconciles_read(&mut trimmed);

        let watched: LeanConnection = serde_json::from_value(served).expect("watched");
        let object = watched.into_object();
        assert_eq!(object, trimmed);
        assert_eq!(object.metadata.managed_fields, None);
        assert_eq!(
            object
                .annotations()
                .get("zis-operator.dev/reconcile-requested-at"),
            Some(&"1".to_owned())
        );
    }

    #[test]
    fn an_object_without_status_or_optional_metadata_parses() {
        let watched: LeanConnection = serde_json::from_value(json!({
            "metadata": {"name": "bare", "namespace": "demo"},
            "spec": {"integration": "i", "allowedDomain": "d.example.com",
                     "tokenSecretRef": {"name": "s"}}
        }))
        .expect("watched");
        let object = watched.into_object();
        assert_eq!(object.metadata.name.as_deref(), Some("bare"));
        assert!(object.status.is_none());
    }
}
