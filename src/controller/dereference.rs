//! Reads what a reconcile needs from the cluster: the object's token Secret (one GET, only the
//! token key is kept). Secrets are watched metadata-only elsewhere, so this GET is the only time
//! the operator holds a token Secret's data.
//!
//! Errors of Secret reads never carry what the API server sent: a parse error's text can quote
//! the value it choked on, and that value may be the token.

use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use super::validate::{RawToken, SecretContents};

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
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let found = api
        .get_opt(name)
        .await
        .map_err(|source| SecretReadError::Api {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            source,
        })?;
    let Some(mut secret) = found else {
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

#[cfg(test)]
mod tests {
    use super::*;

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
