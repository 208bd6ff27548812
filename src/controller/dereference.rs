//! Reads what a reconcile needs from the cluster: the object's token Secret (one GET, only the
//! token key is kept). Secrets are watched metadata-only elsewhere, so this GET is the only time
//! the operator holds a token Secret's data.

use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use super::validate::{RawToken, SecretContents};

/// Reads key `key` of Secret `name` in `namespace`.
pub async fn token_secret(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<SecretContents, kube::Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let Some(mut secret) = api.get_opt(name).await? else {
        return Ok(SecretContents::Missing);
    };
    let value = secret
        .data
        .as_mut()
        .and_then(|data| data.remove(key))
        .map(|bytes| RawToken(bytes.0));
    Ok(SecretContents::Found {
        resource_version: secret.metadata.resource_version.take(),
        value,
    })
}
