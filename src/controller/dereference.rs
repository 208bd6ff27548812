//! Reads what a reconcile needs from the cluster: the object's token Secret (one GET, only its
//! version and the token key are kept). Secrets are watched metadata-only elsewhere, so this GET is the only time
//! the operator holds a token Secret's data.
//!
//! Errors of Secret reads never carry what the API server sent: a parse error's text can quote
//! the value it choked on, and that value may be the token.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Resource;
use serde::Deserialize;

use super::lean::get_parsed;
use super::validate::{RawToken, SecretContents};

/// A Secret as this read needs it: its version and data. Everything else (managed fields,
/// annotations, labels) is skipped unparsed: this runs at every sync of every object.
#[derive(Deserialize)]
struct TokenSecret {
    metadata: Version,
    data: Option<BTreeMap<String, ByteString>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Version {
    resource_version: Option<String>,
}

/// Why a Secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretReadError {
    #[error("reading Secret {namespace}/{name}: {}", describe_kube_error(source))]
    Api {
        namespace: String,
        name: String,
        source: kube::Error,
    },
}

/// A kube error for a log line or a message: everything but the text of a parse error.
pub fn describe_kube_error(error: &kube::Error) -> String {
    match error {
        kube::Error::SerdeError(_) => "the API server's answer could not be parsed".to_owned(),
        other => other.to_string(),
    }
}

/// A watcher error for a log line, with [`describe_kube_error`]'s care.
pub fn describe_watch_error(error: &kube::runtime::watcher::Error) -> String {
    use kube::runtime::watcher::Error as W;
    match error {
        W::InitialListFailed(e) => format!("listing failed: {}", describe_kube_error(e)),
        W::WatchStartFailed(e) => format!("starting the watch failed: {}", describe_kube_error(e)),
        W::WatchFailed(e) => format!("the watch failed: {}", describe_kube_error(e)),
        other => other.to_string(),
    }
}

/// Reads key `key` of Secret `name` in `namespace`.
pub async fn token_secret(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<SecretContents, SecretReadError> {
    let failed = |source| SecretReadError::Api {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        source,
    };
    let url = Secret::url_path(&(), Some(namespace));
    let found: Option<TokenSecret> = get_parsed(client, url, name).await.map_err(failed)?;
    let Some(secret) = found else {
        return Ok(SecretContents::Missing);
    };
    let value = secret
        .data
        .and_then(|mut data| data.remove(key))
        .map(|bytes| RawToken(bytes.0));
    Ok(SecretContents::Found {
        resource_version: secret.metadata.resource_version,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_read_for_its_version_and_data_only() {
        let served = serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {
                "name": "payments-token", "namespace": "shop", "resourceVersion": "42",
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
                "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:data": {"f:token": {}}}}]
            },
            "data": {"token": "dG9rZW4=", "other": "eA=="},
            "type": "Opaque"
        });
        let secret: TokenSecret = serde_json::from_value(served).expect("parses");
        assert_eq!(secret.metadata.resource_version.as_deref(), Some("42"));
        let data = secret.data.expect("data");
        assert_eq!(data["token"].0, b"token");
        let empty: TokenSecret =
            serde_json::from_value(serde_json::json!({"metadata": {}})).expect("parses");
        assert!(empty.data.is_none() && empty.metadata.resource_version.is_none());
    }

    #[test]
    fn a_secret_that_cannot_be_parsed_is_reported_without_its_content() {
        let token = "c2VjcmV0LXRva2Vu-not-base64!";
        let parse =
            serde_json::from_str::<Secret>(&format!(r#"{{"data":{{"token":7,"x":"{token}"}}}}"#))
                .expect_err("not a Secret");
        let error = SecretReadError::Api {
            namespace: "shop".into(),
            name: "payments-token".into(),
            source: kube::Error::SerdeError(parse),
        };
        let text = error.to_string();
        assert!(!text.contains(token), "{text}");
        assert!(text.contains("shop/payments-token"), "{text}");
    }
}
