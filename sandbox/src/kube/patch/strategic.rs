//! Strategic merge patch, simplified to what the served kinds need. The real server decides the
//! strategy of each list from the Go struct tags of built-in types (and refuses strategic merge
//! patches for custom resources with 415); here the strategy comes from the field name:
//!
//! - lists of objects merged by key: `conditions` by `type`; `ownerReferences` by `uid`;
//!   `containers`, `initContainers`, `ephemeralContainers`, `env`, `volumes`, `volumeMounts`,
//!   `imagePullSecrets` and `secrets` (ServiceAccount) by `name`;
//! - lists of scalars merged as a set: `finalizers`;
//! - every other list is replaced, as in a JSON merge patch.
//!
//! Directives honoured: `$patch: replace` (on a map or as a list item: replace instead of merge),
//! `$patch: delete` (on a map: delete it; as a list item: delete the item with that key),
//! `$patch: merge`, `$retainKeys` (keys not listed are cleared after the merge),
//! `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>`. Other `$`-keys are dropped.

use serde_json::{Map, Value};

use super::PatchError;

/// How a list field is merged.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ListStrategy {
    Replace,
    MergeByKey(&'static str),
    PrimitiveSet,
}

fn list_strategy(field: &str) -> ListStrategy {
    match field {
        "conditions" => ListStrategy::MergeByKey("type"),
        "ownerReferences" => ListStrategy::MergeByKey("uid"),
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "volumeMounts"
        | "imagePullSecrets"
        | "secrets" => ListStrategy::MergeByKey("name"),
        "finalizers" => ListStrategy::PrimitiveSet,
        _ => ListStrategy::Replace,
    }
}

/// Applies a strategic merge patch to `target`.
pub fn apply(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let Value::Object(patch_map) = patch else {
        return Err(PatchError::Malformed(
            "json: cannot unmarshal a non-object into Go value of type map[string]interface {}"
                .to_string(),
        ));
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target
        && merge_map(t, patch_map)? == Outcome::Delete
    {
        t.clear();
    }
    Ok(())
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Keep,
    Delete,
}

fn directive(map: &Map<String, Value>) -> Option<&str> {
    map.get("$patch").and_then(Value::as_str)
}

/// A patch value with every directive removed (what ends up stored when nothing is merged).
fn strip(value: &Value) -> Value {
    match value {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, v)| !k.starts_with('$') && !v.is_null())
                .map(|(k, v)| (k.clone(), strip(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|v| !matches!(v, Value::Object(m) if directive(m).is_some()))
                .map(strip)
                .collect(),
        ),
        other => other.clone(),
    }
}

fn merge_map(
    target: &mut Map<String, Value>,
    patch: &Map<String, Value>,
) -> Result<Outcome, PatchError> {
    match directive(patch) {
        Some("delete") => return Ok(Outcome::Delete),
        Some("replace") => {
            if let Value::Object(m) = strip(&Value::Object(patch.clone())) {
                *target = m;
            }
            return Ok(Outcome::Keep);
        }
        Some("merge") | None => {}
        Some(other) => {
            return Err(PatchError::Malformed(format!(
                "Unknown patch type: {other} in map: {}",
                serde_json::to_string(patch).unwrap_or_default()
            )));
        }
    }
    let mut orders: Vec<(&str, &Vec<Value>)> = Vec::new();
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix("$setElementOrder/") {
            if let Value::Array(order) = value {
                orders.push((field, order));
            }
            continue;
        }
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Value::Array(gone)) = (target.get_mut(field), value) {
                list.retain(|item| !gone.contains(item));
            }
            continue;
        }
        if key.starts_with('$') {
            continue;
        }
        match value {
            Value::Null => {
                target.remove(key);
            }
            Value::Object(child_patch) => {
                let slot = target
                    .entry(key.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                let outcome = match slot {
                    Value::Object(child) => merge_map(child, child_patch)?,
                    _ => Outcome::Keep,
                };
                if outcome == Outcome::Delete {
                    target.remove(key);
                }
            }
            Value::Array(items) => {
                let merged = merge_list(target.get(key), items, list_strategy(key))?;
                target.insert(key.clone(), merged);
            }
            scalar => {
                target.insert(key.clone(), scalar.clone());
            }
        }
    }
    for (field, order) in orders {
        if let Some(Value::Array(list)) = target.get_mut(field) {
            reorder(list, order, list_strategy(field));
        }
    }
    if let Some(Value::Array(retain)) = patch.get("$retainKeys") {
        let keep: Vec<&str> = retain.iter().filter_map(Value::as_str).collect();
        target.retain(|k, _| keep.contains(&k.as_str()));
    }
    Ok(Outcome::Keep)
}

fn item_key<'a>(item: &'a Value, key: &str) -> Option<&'a Value> {
    item.as_object().and_then(|m| m.get(key))
}

fn merge_list(
    target: Option<&Value>,
    patch: &[Value],
    strategy: ListStrategy,
) -> Result<Value, PatchError> {
    let replace_all = patch
        .iter()
        .any(|i| matches!(i, Value::Object(m) if directive(m) == Some("replace")));
    let existing = match target {
        Some(Value::Array(a)) if !replace_all => a.clone(),
        _ => Vec::new(),
    };
    match strategy {
        _ if replace_all => Ok(strip(&Value::Array(patch.to_vec()))),
        ListStrategy::Replace => Ok(strip(&Value::Array(patch.to_vec()))),
        ListStrategy::PrimitiveSet => {
            let mut out = existing;
            for item in patch {
                if !out.contains(item) {
                    out.push(item.clone());
                }
            }
            Ok(Value::Array(out))
        }
        ListStrategy::MergeByKey(key) => {
            let mut out = existing;
            for item in patch {
                let Value::Object(item_patch) = item else {
                    out.push(item.clone());
                    continue;
                };
                let Some(k) = item_patch.get(key) else {
                    return Err(PatchError::Malformed(format!(
                        "map: {} does not contain declared merge key: {key}",
                        serde_json::to_string(item).unwrap_or_default()
                    )));
                };
                let pos = out.iter().position(|o| item_key(o, key) == Some(k));
                if directive(item_patch) == Some("delete") {
                    out.retain(|o| item_key(o, key) != Some(k));
                    continue;
                }
                match pos {
                    Some(p) => {
                        if let Value::Object(existing_item) = &mut out[p]
                            && merge_map(existing_item, item_patch)? == Outcome::Delete
                        {
                            out.remove(p);
                        }
                    }
                    None => out.push(strip(item)),
                }
            }
            Ok(Value::Array(out))
        }
    }
}

/// `$setElementOrder`: listed items first, in the listed order, then the others as they were.
fn reorder(list: &mut Vec<Value>, order: &[Value], strategy: ListStrategy) {
    let identity = |v: &Value| -> Value {
        match strategy {
            ListStrategy::MergeByKey(k) => item_key(v, k).cloned().unwrap_or(Value::Null),
            _ => v.clone(),
        }
    };
    let wanted: Vec<Value> = order.iter().map(identity).collect();
    let mut rest = std::mem::take(list);
    for w in &wanted {
        if let Some(p) = rest.iter().position(|v| identity(v) == *w) {
            list.push(rest.remove(p));
        }
    }
    list.extend(rest);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn smp(target: Value, patch: Value) -> Value {
        let mut t = target;
        apply(&mut t, &patch)
            .map(|_| t)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn maps_merge_and_null_deletes_like_a_merge_patch() {
        assert_eq!(
            smp(
                json!({"data": {"a": "1", "b": "2"}}),
                json!({"data": {"b": null, "c": "3"}})
            ),
            json!({"data": {"a": "1", "c": "3"}})
        );
    }

    #[test]
    fn conditions_merge_by_type_and_other_lists_replace() {
        let target = json!({"status": {"conditions": [
            {"type": "Ready", "status": "False"}, {"type": "Synced", "status": "True"}
        ], "list": [1, 2]}});
        let patch =
            json!({"status": {"conditions": [{"type": "Ready", "status": "True"}], "list": [3]}});
        assert_eq!(
            smp(target, patch),
            json!({"status": {"conditions": [
                {"type": "Ready", "status": "True"}, {"type": "Synced", "status": "True"}
            ], "list": [3]}})
        );
    }

    #[test]
    fn finalizers_merge_as_a_set_and_delete_from_primitive_list_removes() {
        let target = json!({"metadata": {"finalizers": ["a", "b"]}});
        assert_eq!(
            smp(
                target.clone(),
                json!({"metadata": {"finalizers": ["b", "c"]}})
            ),
            json!({"metadata": {"finalizers": ["a", "b", "c"]}})
        );
        assert_eq!(
            smp(
                target,
                json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}})
            ),
            json!({"metadata": {"finalizers": ["b"]}})
        );
    }

    #[test]
    fn patch_directives_replace_delete_and_retain() {
        let target =
            json!({"spec": {"a": 1, "b": {"c": 2}}, "secrets": [{"name": "x"}, {"name": "y"}]});
        assert_eq!(
            smp(
                target.clone(),
                json!({"spec": {"$patch": "replace", "z": 1}})
            ),
            json!({"spec": {"z": 1}, "secrets": [{"name": "x"}, {"name": "y"}]})
        );
        assert_eq!(
            smp(target.clone(), json!({"spec": {"b": {"$patch": "delete"}}})),
            json!({"spec": {"a": 1}, "secrets": [{"name": "x"}, {"name": "y"}]})
        );
        assert_eq!(
            smp(
                target.clone(),
                json!({"secrets": [{"name": "x", "$patch": "delete"}]})
            ),
            json!({"spec": {"a": 1, "b": {"c": 2}}, "secrets": [{"name": "y"}]})
        );
        assert_eq!(
            smp(
                target.clone(),
                json!({"secrets": [{"$patch": "replace"}, {"name": "z"}]})
            ),
            json!({"spec": {"a": 1, "b": {"c": 2}}, "secrets": [{"name": "z"}]})
        );
        assert_eq!(
            smp(target, json!({"spec": {"$retainKeys": ["a", "d"], "d": 4}})),
            json!({"spec": {"a": 1, "d": 4}, "secrets": [{"name": "x"}, {"name": "y"}]})
        );
    }

    #[test]
    fn set_element_order_reorders_merged_items() {
        let target = json!({"secrets": [{"name": "x"}, {"name": "y"}]});
        let patch = json!({"$setElementOrder/secrets": [{"name": "z"}, {"name": "y"}, {"name": "x"}],
                           "secrets": [{"name": "z"}]});
        assert_eq!(
            smp(target, patch),
            json!({"secrets": [{"name": "z"}, {"name": "y"}, {"name": "x"}]})
        );
    }

    #[test]
    fn keyed_items_without_their_key_are_malformed() {
        let mut t = json!({});
        let r = apply(&mut t, &json!({"secrets": [{"noname": 1}]}));
        assert!(matches!(r, Err(PatchError::Malformed(_))));
    }
}
