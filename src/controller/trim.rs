//! What the operator keeps of the objects it watches. Of Secrets: identity and version only (and
//! only the version is cached, see `secret_versions`). The watch asks for metadata alone, but
//! metadata still carries annotations (a Secret made with `kubectl apply` keeps its whole
//! manifest, token included, in `kubectl.kubernetes.io/last-applied-configuration`) and managed
//! fields (which name every key). Both are dropped as the event arrives, before anything else
//! sees it. The cached connection objects lose their managed fields and `kubectl apply`'s copy of
//! themselves too: nothing reads them, and with thousands of objects they would be most of the
//! operator's memory.

use k8s_openapi::api::core::v1::Secret;
use kube::api::PartialObjectMeta;

/// Drops everything of `meta` the operator does not use.
pub fn keep_identity_only(meta: &mut PartialObjectMeta<Secret>) {
    meta.metadata.annotations = None;
    meta.metadata.managed_fields = None;
    meta.metadata.labels = None;
    meta.metadata.owner_references = None;
    meta.metadata.finalizers = None;
}

/// Drops from a cached namespace everything but its identity and labels.
pub fn keep_labels_only(meta: &mut PartialObjectMeta<k8s_openapi::api::core::v1::Namespace>) {
    meta.metadata.annotations = None;
    meta.metadata.managed_fields = None;
    meta.metadata.owner_references = None;
    meta.metadata.finalizers = None;
}

/// Drops from a cached connection object what no reconcile reads.
pub fn keep_what_reconciles_read(object: &mut crate::resource::ZisBearerConnection) {
    object.metadata.managed_fields = None;
    if let Some(annotations) = object.metadata.annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

#[cfg(test)]
mod tests {
    use kube::api::ObjectMeta;

    use super::*;

    #[test]
    fn cached_secret_metadata_keeps_no_annotation_or_managed_field() {
        let last_applied =
            r#"{"apiVersion":"v1","kind":"Secret","stringData":{"token":"the-token"}}"#;
        let mut meta: PartialObjectMeta<Secret> = PartialObjectMeta {
            types: None,
            metadata: ObjectMeta {
                name: Some("payments-token".into()),
                namespace: Some("shop".into()),
                resource_version: Some("42".into()),
                uid: Some("u-1".into()),
                annotations: Some(
                    [(
                        "kubectl.kubernetes.io/last-applied-configuration".to_owned(),
                        last_applied.to_owned(),
                    )]
                    .into(),
                ),
                managed_fields: Some(vec![Default::default()]),
                ..Default::default()
            },
            _phantom: std::marker::PhantomData,
        };
        keep_identity_only(&mut meta);
        let cached = serde_json::to_string(&meta).expect("serializes");
        assert!(!cached.contains("the-token"), "{cached}");
        assert_eq!(meta.metadata.annotations, None);
        assert_eq!(meta.metadata.managed_fields, None);
        assert_eq!(meta.metadata.name.as_deref(), Some("payments-token"));
        assert_eq!(meta.metadata.namespace.as_deref(), Some("shop"));
        assert_eq!(meta.metadata.resource_version.as_deref(), Some("42"));
    }
}
