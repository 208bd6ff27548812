//! Patch semantics of the API server: JSON merge patch (RFC 7386), JSON patch (RFC 6902,
//! including `test`), strategic merge patch (simplified) and server-side apply with
//! `managedFields`. Pure: no I/O. (Skeleton; filled by the Kubernetes sandbox work.)

use serde_json::Value;

/// Why a patch could not be applied (mapped by the server to 422, 409 or 400).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatchError {
    /// Malformed patch document (400).
    #[error("{0}")]
    Malformed(String),
    /// A JSON patch `test` failed or a path was missing (422).
    #[error("{0}")]
    Unprocessable(String),
    /// Server-side apply conflicts with other field managers (409); each entry names a field and
    /// its manager, e.g. `.spec.allowedDomain` owned by `kubectl-client-side-apply`.
    #[error("apply conflicts: {0:?}")]
    Conflict(Vec<String>),
}

/// RFC 7386 merge patch of `target` with `patch`.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let _ = (target, patch);
}

/// RFC 6902 JSON patch: all operations or none.
pub fn json_patch(target: &mut Value, operations: &Value) -> Result<(), PatchError> {
    let _ = (target, operations);
    Ok(())
}

/// Strategic merge patch, simplified: a merge patch that honours the `$patch`, `$retainKeys`,
/// `$deleteFromPrimitiveList` and `$setElementOrder` directives as far as the served kinds need.
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let _ = (target, patch);
    Ok(())
}

/// Server-side apply of `applied` (a partial object) by `manager` onto `live` (None on create).
/// Returns the new object with `metadata.managedFields` updated. `schema` is the CRD version's
/// openAPIV3Schema when known (for `x-kubernetes-list-type: map` keys).
pub fn server_side_apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    subresource: Option<&str>,
    schema: Option<&Value>,
) -> Result<Value, PatchError> {
    let _ = (live, manager, force, subresource, schema);
    Ok(applied.clone())
}
