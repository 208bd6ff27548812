//! The Kubernetes side of the benchmark: the client, the CRD, namespaces, and creating, rotating
//! and deleting the benchmark's Secrets and connections many at a time.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, ObjectMeta, Patch,
    PatchParams, PostParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::json;

use super::BenchError;

const CRD_YAML: &str = include_str!("../../../crds/zisbearerconnections.yaml");
const CRD_NAME: &str = "zisbearerconnections.zis-operator.dev";
/// The Secret key the connections name (the operator's default).
pub(super) const TOKEN_KEY: &str = "token";
/// A label on everything the benchmark creates.
const LABEL: &str = "zis-operator.dev/bench";

/// A kube-rs client from a kubeconfig file.
pub(super) async fn client_from(path: &Path) -> Result<kube::Client, BenchError> {
    let kubeconfig = Kubeconfig::read_from(path)
        .map_err(|e| BenchError::Setup(format!("reading {}: {e}", path.display())))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| BenchError::Setup(format!("loading {}: {e}", path.display())))?;
    Ok(kube::Client::try_from(config)?)
}

/// The connections of every namespace (or of one).
pub(super) fn connections(client: &kube::Client, namespace: Option<&str>) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("zis-operator.dev", "v1alpha1", "ZisBearerConnection");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "zisbearerconnections");
    match namespace {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
        None => Api::all_with(client.clone(), &resource),
    }
}

/// Installs the CRD of `crds/` unless the API server already serves it, and waits until it is
/// Established.
pub(super) async fn ensure_crd(client: &kube::Client) -> Result<(), BenchError> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    if crds.get_opt(CRD_NAME).await?.is_none() {
        let crd: CustomResourceDefinition = serde_yaml::from_str(CRD_YAML)
            .map_err(|e| BenchError::Setup(format!("the CRD of crds/ does not parse: {e}")))?;
        match crds.create(&PostParams::default(), &crd).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(error) => return Err(error.into()),
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let established = crds
            .get(CRD_NAME)
            .await?
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        if established {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(BenchError::Timeout(
                "the CRD was not Established within 30 s".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many connection objects exist in the whole cluster (one page is enough to tell).
pub(super) async fn existing_connections(client: &kube::Client) -> Result<usize, BenchError> {
    let list = connections(client, None)
        .list_metadata(&ListParams::default().limit(1))
        .await?;
    let more = list.metadata.remaining_item_count.unwrap_or(0).max(0) as usize;
    Ok(list.items.len() + more)
}

pub(super) async fn ensure_namespace(client: &kube::Client, name: &str) -> Result<(), BenchError> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some([(LABEL.to_owned(), "true".to_owned())].into()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    match namespaces.create(&PostParams::default(), &namespace).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Starts deleting a namespace and everything in it (not waited for).
pub(super) async fn delete_namespace(client: &kube::Client, name: &str) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let _ = namespaces.delete(name, &DeleteParams::default()).await;
}

/// Takes the finalizers off the connections left in `namespace` (after a failed run, when no
/// operator will remove them): otherwise they would keep the namespace `Terminating` for ever.
pub(super) async fn release_finalizers(client: &kube::Client, namespace: &str) {
    let api = connections(client, Some(namespace));
    let Ok(left) = api.list_metadata(&ListParams::default()).await else {
        return;
    };
    let patch = Patch::Merge(json!({"metadata": {"finalizers": null}}));
    for object in left.items {
        if let Some(name) = object.metadata.name {
            let _ = api.patch(&name, &PatchParams::default(), &patch).await;
        }
    }
}

/// A Secret to create.
pub(super) struct SecretSpec {
    pub namespace: String,
    pub name: String,
    pub data: BTreeMap<String, ByteString>,
}

/// Creates (or, when it exists, overwrites) one Secret.
pub(super) async fn put_secret(client: &kube::Client, spec: SecretSpec) -> Result<(), BenchError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &spec.namespace);
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(spec.name.clone()),
            labels: Some([(LABEL.to_owned(), "true".to_owned())].into()),
            ..ObjectMeta::default()
        },
        data: Some(spec.data.clone()),
        ..Secret::default()
    };
    match secrets.create(&PostParams::default(), &secret).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => {
            let patch = json!({"data": spec.data});
            secrets
                .patch(&spec.name, &PatchParams::default(), &Patch::Merge(patch))
                .await?;
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}

/// Creates `secrets` with up to `concurrency` requests in flight.
pub(super) async fn put_secrets(
    client: &kube::Client,
    secrets: impl Iterator<Item = SecretSpec>,
    concurrency: usize,
) -> Result<(), BenchError> {
    stream::iter(secrets)
        .map(|spec| put_secret(client, spec))
        .buffer_unordered(concurrency.max(1))
        .try_collect::<()>()
        .await
}

/// Writes a new token into a token Secret (a merge patch of its one key).
pub(super) async fn rotate(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    token: &str,
) -> Result<(), BenchError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let patch = json!({"data": {TOKEN_KEY: ByteString(token.as_bytes().to_vec())}});
    secrets
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await?;
    Ok(())
}

/// A connection object to create.
pub(super) struct ConnectionSpec {
    pub namespace: String,
    pub name: String,
    pub integration: String,
    pub domain: String,
    pub secret: String,
}

/// Creates the connections with up to `concurrency` requests in flight; when the first request
/// was sent.
pub(super) async fn create_connections(
    client: &kube::Client,
    specs: Vec<ConnectionSpec>,
    concurrency: usize,
) -> Result<Instant, BenchError> {
    let started = Instant::now();
    stream::iter(specs)
        .map(|spec| async move {
            let object: DynamicObject = serde_json::from_value(json!({
                "apiVersion": "zis-operator.dev/v1alpha1",
                "kind": "ZisBearerConnection",
                "metadata": {
                    "name": spec.name,
                    "namespace": spec.namespace,
                    "labels": {LABEL: "true"}
                },
                "spec": {
                    "integration": spec.integration,
                    "allowedDomain": spec.domain,
                    "tokenSecretRef": {"name": spec.secret}
                }
            }))
            .map_err(|e| BenchError::Setup(format!("building a connection object: {e}")))?;
            connections(client, Some(&spec.namespace))
                .create(&PostParams::default(), &object)
                .await?;
            Ok::<(), BenchError>(())
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect::<()>()
        .await?;
    Ok(started)
}

/// Deletes the connections `(namespace, name)` with up to `concurrency` requests in flight;
/// when the first request was sent.
pub(super) async fn delete_connections(
    client: &kube::Client,
    names: Vec<(String, String)>,
    concurrency: usize,
) -> Result<Instant, BenchError> {
    let started = Instant::now();
    stream::iter(names)
        .map(|(namespace, name)| async move {
            match connections(client, Some(&namespace))
                .delete(&name, &DeleteParams::default())
                .await
            {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
                Err(error) => Err(BenchError::from(error)),
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect::<()>()
        .await?;
    Ok(started)
}
