//! Patch semantics of the API server: JSON merge patch (RFC 7386), JSON patch (RFC 6902,
//! including `test`), strategic merge patch (simplified) and server-side apply with
//! `managedFields`. Pure: no I/O.
//!
//! - [`merge_patch`]: RFC 7386 exactly (`null` deletes, objects merge, everything else replaces).
//! - [`json_patch`]: RFC 6902 with RFC 6901 pointers (`~0`, `~1`, `-`); all operations apply or
//!   none; failures are [`PatchError::Unprocessable`] with evanphx/json-patch's wording, as the
//!   real server returns them with 422.
//! - [`strategic_merge_patch`]: see [`strategic`] for the directives honoured and the merge keys.
//! - [`server_side_apply`] and [`record_update`]: field ownership in the real `FieldsV1` format;
//!   see [`apply`] for the exact rules and simplifications.

pub mod apply;
pub mod fields;
pub mod json_patch;
pub mod strategic;

pub use apply::{
    conflict_status_message, record_update, record_update_with_schema, server_side_apply,
    server_side_apply_with_status_subresource,
};

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
    /// its manager as the real server's Status causes do:
    /// `conflict with "kubectl-client-side-apply" using v1: .spec.allowedDomain`.
    /// [`conflict_status_message`] builds the Status message from them.
    #[error("apply conflicts: {0:?}")]
    Conflict(Vec<String>),
}

/// RFC 7386 merge patch of `target` with `patch`.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(target_map) = target {
        for (key, value) in patch_map {
            if value.is_null() {
                target_map.remove(key);
            } else {
                merge_patch(target_map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// RFC 6902 JSON patch: all operations or none.
pub fn json_patch(target: &mut Value, operations: &Value) -> Result<(), PatchError> {
    json_patch::apply(target, operations)
}

/// Strategic merge patch, simplified: a merge patch that honours the `$patch`, `$retainKeys`,
/// `$deleteFromPrimitiveList` and `$setElementOrder` directives as far as the served kinds need.
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    strategic::apply(target, patch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_the_rfc_7386_examples() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (target, patch, want) in cases {
            let mut got = target.clone();
            merge_patch(&mut got, &patch);
            assert_eq!(got, want, "{target} + {patch}");
        }
    }
}
