//! Field sets in the `FieldsV1` format of `metadata.managedFields` (structured-merge-diff):
//! path elements `f:<field>`, `k:<json of the key fields>` (items of a list-map), `v:<json>`
//! (items of a set), `i:<index>`; `.` marks a node that is itself owned when it also has owned
//! children; an owned leaf is `{}`.
//!
//! Which lists are keyed: the CRD schema's `x-kubernetes-list-type` (`map` with
//! `x-kubernetes-list-map-keys`, `set`, `atomic`) where a schema node exists; where there is none
//! (built-in kinds, ObjectMeta, preserved unknown fields), `metadata.finalizers` is a set,
//! `ownerReferences` a map keyed by `uid` and `conditions` a map keyed by `type`, as in the
//! built-in types; other lists are atomic.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::kube::schema::{additional_schema, items_schema, json_equal, property_schema};

/// A set of field paths, as a tree of `FieldsV1` path elements.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSet {
    /// This node itself is in the set.
    pub member: bool,
    pub children: BTreeMap<String, FieldSet>,
}

/// How a list's items are identified.
#[derive(Debug, Clone, PartialEq)]
pub enum ListKind {
    Atomic,
    Set,
    Map(Vec<String>),
}

impl FieldSet {
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(FieldSet::is_empty)
    }

    pub fn insert(&mut self, path: &[String]) {
        match path.split_first() {
            None => self.member = true,
            Some((first, rest)) => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    pub fn contains(&self, path: &[String]) -> bool {
        match path.split_first() {
            None => self.member,
            Some((first, rest)) => self.children.get(first).is_some_and(|c| c.contains(rest)),
        }
    }

    pub fn union(&mut self, other: &FieldSet) {
        self.member |= other.member;
        for (k, v) in &other.children {
            self.children.entry(k.clone()).or_default().union(v);
        }
    }

    /// `self` without the members of `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && !other.member,
            children: BTreeMap::new(),
        };
        for (k, v) in &self.children {
            let child = match other.children.get(k) {
                Some(o) => v.difference(o),
                None => v.clone(),
            };
            if !child.is_empty() {
                out.children.insert(k.clone(), child);
            }
        }
        out
    }

    /// The members of both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && other.member,
            children: BTreeMap::new(),
        };
        for (k, v) in &self.children {
            if let Some(o) = other.children.get(k) {
                let child = v.intersection(o);
                if !child.is_empty() {
                    out.children.insert(k.clone(), child);
                }
            }
        }
        out
    }

    /// Every member path, parents before children.
    pub fn members(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        self.collect_members(&mut Vec::new(), &mut out);
        out
    }

    fn collect_members(&self, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        if self.member {
            out.push(prefix.clone());
        }
        for (k, v) in &self.children {
            prefix.push(k.clone());
            v.collect_members(prefix, out);
            prefix.pop();
        }
    }

    /// The `fieldsV1` JSON of this set.
    pub fn to_fields_v1(&self) -> Value {
        let mut map = Map::new();
        if self.member && !self.children.is_empty() {
            map.insert(".".to_string(), Value::Object(Map::new()));
        }
        for (k, v) in &self.children {
            if !v.is_empty() {
                map.insert(k.clone(), v.to_fields_v1());
            }
        }
        Value::Object(map)
    }

    /// Parses `fieldsV1` JSON (the root is never a member itself).
    pub fn from_fields_v1(value: &Value) -> FieldSet {
        let mut set = Self::parse_node(value);
        set.member = false;
        set
    }

    fn parse_node(value: &Value) -> FieldSet {
        let Value::Object(map) = value else {
            return FieldSet::default();
        };
        let mut set = FieldSet {
            member: map.is_empty() || map.contains_key("."),
            children: BTreeMap::new(),
        };
        for (k, v) in map {
            if k != "." {
                set.children.insert(k.clone(), Self::parse_node(v));
            }
        }
        set
    }
}

/// A path printed as structured-merge-diff prints it: `.spec.ports[name="http"].port`.
pub fn path_string(path: &[String]) -> String {
    let mut out = String::new();
    for el in path {
        if let Some(f) = el.strip_prefix("f:") {
            out.push('.');
            out.push_str(f);
        } else if let Some(k) = el.strip_prefix("k:") {
            let parts: Vec<String> = match serde_json::from_str::<Value>(k) {
                Ok(Value::Object(m)) => m.iter().map(|(n, v)| format!("{n}={v}")).collect(),
                _ => vec![k.to_string()],
            };
            out.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(v) = el.strip_prefix("v:") {
            out.push_str(&format!("[={v}]"));
        } else if let Some(i) = el.strip_prefix("i:") {
            out.push_str(&format!("[{i}]"));
        }
    }
    out
}

fn field_el(name: &str) -> String {
    format!("f:{name}")
}

fn key_el(item: &Value, keys: &[String]) -> String {
    let mut m = Map::new();
    for k in keys {
        if let Some(v) = item.get(k) {
            m.insert(k.clone(), v.clone());
        }
    }
    format!("k:{}", Value::Object(m))
}

/// The list kind at a node: from the schema node when there is one, else from the field name.
pub fn list_kind(
    schema: Option<&Value>,
    field: Option<&str>,
    parent_is_metadata: bool,
) -> ListKind {
    if let Some(s) = schema {
        return match s.get("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("set") => ListKind::Set,
            Some("map") => ListKind::Map(
                s.get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            _ => ListKind::Atomic,
        };
    }
    match field {
        Some("finalizers") if parent_is_metadata => ListKind::Set,
        Some("ownerReferences") if parent_is_metadata => ListKind::Map(vec!["uid".to_string()]),
        Some("conditions") => ListKind::Map(vec!["type".to_string()]),
        _ => ListKind::Atomic,
    }
}

/// Child schema of an object node for `key`.
pub fn child_schema<'a>(schema: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    schema.and_then(|s| property_schema(s, key).or_else(|| additional_schema(s)))
}

/// The set of all fields of `object` (server-owned metadata excluded), as managedFields count them.
pub fn object_fields(object: &Value, schema: Option<&Value>) -> FieldSet {
    let mut set = FieldSet::default();
    let Value::Object(map) = object else {
        return set;
    };
    for (k, v) in map {
        match k.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" => {
                let mut meta = FieldSet::default();
                if let Value::Object(m) = v {
                    for (mk, mv) in m {
                        if matches!(
                            mk.as_str(),
                            "name"
                                | "namespace"
                                | "creationTimestamp"
                                | "selfLink"
                                | "uid"
                                | "clusterName"
                                | "generation"
                                | "managedFields"
                                | "resourceVersion"
                        ) {
                            continue;
                        }
                        meta.children
                            .insert(field_el(mk), node_fields(mv, None, Some(mk), true));
                    }
                }
                if !meta.is_empty() {
                    set.children.insert(field_el("metadata"), meta);
                }
            }
            _ => {
                set.children.insert(
                    field_el(k),
                    node_fields(v, child_schema(schema, k), Some(k), false),
                );
            }
        }
    }
    set
}

/// The set for a value at a field: a leaf (member) for scalars, empty maps and atomic lists;
/// otherwise its children (items for sets and list-maps).
fn node_fields(
    value: &Value,
    schema: Option<&Value>,
    field: Option<&str>,
    in_metadata: bool,
) -> FieldSet {
    match value {
        Value::Object(map) if !map.is_empty() => {
            let mut set = FieldSet::default();
            for (k, v) in map {
                set.children.insert(
                    field_el(k),
                    node_fields(v, child_schema(schema, k), Some(k), false),
                );
            }
            set
        }
        Value::Array(items) => {
            let item_schema = schema.and_then(items_schema);
            match list_kind(schema, field, in_metadata) {
                // An empty set or list-map owns nothing (no item), as structured-merge-diff has it.
                ListKind::Atomic => FieldSet {
                    member: true,
                    children: BTreeMap::new(),
                },
                ListKind::Set => FieldSet {
                    member: false,
                    children: items
                        .iter()
                        .map(|i| {
                            (
                                format!("v:{i}"),
                                FieldSet {
                                    member: true,
                                    ..Default::default()
                                },
                            )
                        })
                        .collect(),
                },
                ListKind::Map(keys) => {
                    let mut set = FieldSet::default();
                    for item in items {
                        let mut item_set = node_fields(item, item_schema, None, false);
                        item_set.member = true;
                        set.children.insert(key_el(item, &keys), item_set);
                    }
                    set
                }
            }
        }
        _ => FieldSet {
            member: true,
            children: BTreeMap::new(),
        },
    }
}

/// Whether a list item matches a `k:`/`v:` element.
fn item_matches(item: &Value, el: &str) -> bool {
    if let Some(k) = el.strip_prefix("k:") {
        let Ok(Value::Object(key)) = serde_json::from_str::<Value>(k) else {
            return false;
        };
        key.iter()
            .all(|(n, v)| item.get(n).is_some_and(|iv| json_equal(iv, v)))
    } else if let Some(v) = el.strip_prefix("v:") {
        serde_json::from_str::<Value>(v).is_ok_and(|want| json_equal(item, &want))
    } else {
        false
    }
}

/// The value at a field path, if present.
pub fn lookup<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(value, |cur, el| {
        if let Some(f) = el.strip_prefix("f:") {
            cur.as_object()?.get(f)
        } else if let Some(i) = el.strip_prefix("i:") {
            cur.as_array()?.get(i.parse::<usize>().ok()?)
        } else {
            cur.as_array()?.iter().find(|item| item_matches(item, el))
        }
    })
}

/// Removes the field or list item at `path`; nothing happens when it is absent.
pub fn remove(value: &mut Value, path: &[String]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let mut cur = value;
    for el in parent_path {
        let next = if let Some(f) = el.strip_prefix("f:") {
            cur.as_object_mut().and_then(|m| m.get_mut(f))
        } else if let Some(i) = el.strip_prefix("i:") {
            let idx = i.parse::<usize>().ok();
            cur.as_array_mut()
                .and_then(|a| idx.and_then(|i| a.get_mut(i)))
        } else {
            cur.as_array_mut()
                .and_then(|a| a.iter_mut().find(|item| item_matches(item, el)))
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    if let Some(f) = last.strip_prefix("f:") {
        if let Some(m) = cur.as_object_mut() {
            m.remove(f);
        }
    } else if let Some(a) = cur.as_array_mut() {
        if let Some(i) = last.strip_prefix("i:") {
            if let Ok(idx) = i.parse::<usize>()
                && idx < a.len()
            {
                a.remove(idx);
            }
        } else {
            a.retain(|item| !item_matches(item, last));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn object_fields_use_the_fields_v1_format() {
        let obj = json!({
            "apiVersion": "v1", "kind": "X",
            "metadata": {"name": "n", "uid": "u", "labels": {"a": "b"}, "finalizers": ["f1"]},
            "spec": {"x": 1, "list": [1, 2], "empty": {}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        });
        let set = object_fields(&obj, None);
        assert_eq!(
            set.to_fields_v1(),
            json!({
                "f:metadata": {"f:labels": {"f:a": {}}, "f:finalizers": {"v:\"f1\"": {}}},
                "f:spec": {"f:x": {}, "f:list": {}, "f:empty": {}},
                "f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": {
                    ".": {}, "f:type": {}, "f:status": {}
                }}}
            })
        );
        assert_eq!(FieldSet::from_fields_v1(&set.to_fields_v1()), set);
    }

    #[test]
    fn schema_list_types_decide_item_identity() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "ports": {"type": "array", "x-kubernetes-list-type": "map",
                      "x-kubernetes-list-map-keys": ["name", "proto"],
                      "items": {"type": "object"}},
            "conditions": {"type": "array", "items": {"type": "object"}}
        }}}});
        let obj = json!({"spec": {"ports": [{"name": "a", "proto": "TCP", "p": 1}],
                                  "conditions": [{"type": "Ready"}]}});
        let set = object_fields(&obj, Some(&schema));
        let el = "k:{\"name\":\"a\",\"proto\":\"TCP\"}".to_string();
        let path = vec![
            "f:spec".to_string(),
            "f:ports".to_string(),
            el,
            "f:p".to_string(),
        ];
        assert!(set.contains(&path));
        assert_eq!(
            path_string(&path),
            ".spec.ports[name=\"a\",proto=\"TCP\"].p"
        );
        // A schema list without a list type is atomic, even when named `conditions`.
        assert!(set.contains(&["f:spec".to_string(), "f:conditions".to_string()]));
        assert_eq!(lookup(&obj, &path), Some(&json!(1)));
    }

    #[test]
    fn set_algebra_and_removal_work_on_paths() {
        let mut a = FieldSet::default();
        let p1 = vec!["f:spec".to_string(), "f:a".to_string()];
        let p2 = vec!["f:spec".to_string(), "f:b".to_string()];
        a.insert(&p1);
        a.insert(&p2);
        let mut b = FieldSet::default();
        b.insert(&p2);
        assert_eq!(a.difference(&b).members(), vec![p1.clone()]);
        assert_eq!(a.intersection(&b).members(), vec![p2.clone()]);
        let mut obj = json!({"spec": {"a": 1, "b": 2}, "l": [{"type": "x"}, {"type": "y"}]});
        remove(&mut obj, &p1);
        remove(
            &mut obj,
            &["f:l".to_string(), "k:{\"type\":\"x\"}".to_string()],
        );
        assert_eq!(obj, json!({"spec": {"b": 2}, "l": [{"type": "y"}]}));
    }
}
