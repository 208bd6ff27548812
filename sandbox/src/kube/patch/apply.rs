//! Server-side apply and field ownership (`metadata.managedFields`), following
//! structured-merge-diff as kube-apiserver uses it:
//!
//! - Managers are identified by (manager, operation, subresource), plus apiVersion for `Update`
//!   entries. Entries are sorted like the real server (operation, time, manager, apiVersion,
//!   subresource) and dropped once they own nothing.
//! - Apply: the applied configuration is merged into the live object (objects recursively,
//!   list-maps by key, sets by value, other lists replaced; `null` removes). Fields this applier
//!   owned before but no longer applies are removed unless another manager owns them too. A
//!   field whose value would change and that another manager owns is a conflict (409) unless
//!   `force`, which moves ownership to the applier. Applying an equal value shares ownership.
//!   An existing object without managedFields is first owned by `before-first-apply` (Update),
//!   as the real server does. For the `status` subresource only `status` is applied.
//! - Update ([`record_update`]): the writer takes the fields whose values it changed or added,
//!   other managers lose them; removed fields leave every set.
//!
//! Simplifications: no version conversion of managed fields (one apiVersion per kind); the caller
//! (the server) resets `status` on main-resource writes when the status subresource is on, before
//! calling; list-map items keep the live order with new items appended.

use serde_json::{Map, Value};

use super::PatchError;
use super::fields::{
    FieldSet, ListKind, child_schema, list_kind, lookup, object_fields, path_string, remove,
};
use crate::kube::schema::{items_schema, json_equal};

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: Option<String>,
    subresource: Option<String>,
    set: FieldSet,
}

impl Entry {
    fn from_json(v: &Value) -> Option<Entry> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(String::from);
        Some(Entry {
            manager: s("manager").unwrap_or_default(),
            operation: s("operation")?,
            api_version: s("apiVersion").unwrap_or_default(),
            time: s("time"),
            subresource: s("subresource").filter(|s| !s.is_empty()),
            set: v
                .get("fieldsV1")
                .map(FieldSet::from_fields_v1)
                .unwrap_or_default(),
        })
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), Value::from(self.manager.as_str()));
        m.insert("operation".into(), Value::from(self.operation.as_str()));
        m.insert("apiVersion".into(), Value::from(self.api_version.as_str()));
        if let Some(t) = &self.time {
            m.insert("time".into(), Value::from(t.as_str()));
        }
        m.insert("fieldsType".into(), Value::from("FieldsV1"));
        m.insert("fieldsV1".into(), self.set.to_fields_v1());
        if let Some(s) = &self.subresource {
            m.insert("subresource".into(), Value::from(s.as_str()));
        }
        Value::Object(m)
    }

    /// How conflict messages name this manager, as the real server's `printManager` does from
    /// the manager's identifier (which has no time): the API version only for Update managers.
    fn describe(&self) -> String {
        let mut out = format!("{:?}", self.manager);
        if let Some(s) = &self.subresource {
            out.push_str(&format!(" with subresource {s:?}"));
        }
        if self.operation == "Update" {
            out.push_str(&format!(" using {}", self.api_version));
        }
        out
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn read_entries(object: Option<&Value>) -> Vec<Entry> {
    object
        .and_then(|o| o.pointer("/metadata/managedFields"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Entry::from_json).collect())
        .unwrap_or_default()
}

fn write_entries(object: &mut Value, mut entries: Vec<Entry>) {
    entries.retain(|e| !e.set.is_empty());
    entries.sort_by(|p, q| {
        p.operation
            .cmp(&q.operation)
            .then_with(|| time_secs(p).cmp(&time_secs(q)))
            .then_with(|| p.manager.cmp(&q.manager))
            .then_with(|| p.api_version.cmp(&q.api_version))
            .then_with(|| p.subresource.cmp(&q.subresource))
    });
    let list: Vec<Value> = entries.iter().map(Entry::to_json).collect();
    if let Value::Object(root) = object {
        let meta = root
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = meta {
            if list.is_empty() {
                m.remove("managedFields");
            } else {
                m.insert("managedFields".into(), Value::Array(list));
            }
        }
    }
}

fn time_secs(e: &Entry) -> i64 {
    e.time
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

/// Members of `candidates` whose values differ between `before` and `after` (list items count as
/// changed when they appear or disappear).
fn changed_fields(candidates: &FieldSet, before: Option<&Value>, after: &Value) -> FieldSet {
    let mut changed = FieldSet::default();
    for path in candidates.members() {
        let old = before.and_then(|b| lookup(b, &path));
        let new = lookup(after, &path);
        let is_item = path
            .last()
            .is_some_and(|el| el.starts_with("k:") || el.starts_with("v:"));
        let differs = if is_item && candidates.children_of(&path) {
            old.is_some() != new.is_some()
        } else {
            match (old, new) {
                (Some(o), Some(n)) => !json_equal(o, n),
                (None, None) => false,
                _ => true,
            }
        };
        if differs {
            changed.insert(&path);
        }
    }
    changed
}

impl FieldSet {
    /// Whether the node at `path` has children in this set (then its own value is not compared).
    fn children_of(&self, path: &[String]) -> bool {
        let mut cur = self;
        for el in path {
            match cur.children.get(el) {
                Some(c) => cur = c,
                None => return false,
            }
        }
        !cur.children.is_empty()
    }
}

/// Merges an applied configuration into `live`.
fn merge_applied(
    live: &mut Value,
    applied: &Value,
    schema: Option<&Value>,
    field: Option<&str>,
    in_meta: bool,
) {
    match applied {
        Value::Object(a) => {
            if !live.is_object() {
                *live = Value::Object(Map::new());
            }
            let Value::Object(l) = live else { return };
            for (k, v) in a {
                if v.is_null() {
                    l.remove(k);
                    continue;
                }
                let slot = l.entry(k.clone()).or_insert(Value::Null);
                let meta_child = field.is_none() && k == "metadata";
                let s = if meta_child {
                    None
                } else {
                    child_schema(schema, k)
                };
                merge_applied(slot, v, s, Some(k), meta_child);
            }
        }
        Value::Array(items) => {
            let kind = list_kind(schema, field, in_meta);
            let Value::Array(existing) = live else {
                *live = applied.clone();
                return;
            };
            match kind {
                ListKind::Atomic => *live = applied.clone(),
                ListKind::Set => {
                    // Items the applier no longer lists are removed by the ownership step.
                    for item in items {
                        if !existing.iter().any(|e| json_equal(e, item)) {
                            existing.push(item.clone());
                        }
                    }
                }
                ListKind::Map(keys) => {
                    let item_schema = schema.and_then(items_schema);
                    for item in items {
                        let same_key = |e: &Value| {
                            keys.iter().all(|k| match (e.get(k), item.get(k)) {
                                (Some(x), Some(y)) => json_equal(x, y),
                                (None, None) => true,
                                _ => false,
                            })
                        };
                        match existing.iter_mut().find(|e| same_key(e)) {
                            Some(e) => merge_applied(e, item, item_schema, None, false),
                            None => existing.push(item.clone()),
                        }
                    }
                }
            }
        }
        scalar => *live = scalar.clone(),
    }
}

/// The applied configuration restricted to what a write to `subresource` may change.
fn applied_for_subresource(applied: &Value, subresource: Option<&str>) -> Value {
    let mut out = applied.clone();
    if let Some(Value::Object(meta)) = out.get_mut("metadata") {
        meta.remove("managedFields");
        meta.remove("resourceVersion");
    }
    if subresource == Some("status")
        && let Value::Object(m) = &mut out
    {
        m.retain(|k, _| matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status"));
        if let Some(Value::Object(meta)) = m.get_mut("metadata") {
            meta.retain(|k, _| k == "name" || k == "namespace");
        }
    }
    out
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
    apply_inner(live, applied, manager, force, subresource, schema, false)
}

/// [`server_side_apply`] for a kind whose status is a subresource: an apply to the main resource
/// then neither changes nor owns `status`, as on the real server (its "reset fields").
pub fn server_side_apply_with_status_subresource(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    subresource: Option<&str>,
    schema: Option<&Value>,
) -> Result<Value, PatchError> {
    apply_inner(live, applied, manager, force, subresource, schema, true)
}

fn apply_inner(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    subresource: Option<&str>,
    schema: Option<&Value>,
    status_is_subresource: bool,
) -> Result<Value, PatchError> {
    if !applied.is_object() {
        return Err(PatchError::Malformed(
            "error decoding YAML: the applied configuration must be an object".to_string(),
        ));
    }
    if manager.is_empty() {
        return Err(PatchError::Malformed(
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
                .to_string(),
        ));
    }
    let mut applied = applied_for_subresource(applied, subresource);
    if status_is_subresource
        && subresource.is_none()
        && let Value::Object(m) = &mut applied
    {
        m.remove("status");
    }
    let api_version = applied
        .get("apiVersion")
        .or_else(|| live.and_then(|l| l.get("apiVersion")))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut entries = read_entries(live);
    if let Some(l) = live
        && entries.is_empty()
    {
        entries.push(Entry {
            manager: "before-first-apply".into(),
            operation: "Update".into(),
            api_version: l
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
            time: Some(now()),
            subresource: None,
            set: object_fields(l, schema),
        });
    }
    let is_me = |e: &Entry| {
        e.manager == manager && e.operation == "Apply" && e.subresource.as_deref() == subresource
    };
    let applied_set = object_fields(&applied, schema);
    let previous = entries
        .iter()
        .find(|e| is_me(e))
        .map(|e| e.set.clone())
        .unwrap_or_default();

    let mut merged = live.cloned().unwrap_or_else(|| Value::Object(Map::new()));
    if let Some(Value::Object(meta)) = merged.get_mut("metadata") {
        meta.remove("managedFields");
    }
    merge_applied(&mut merged, &applied, schema, None, false);

    // Fields given up by this applier and owned by nobody else are removed.
    let mut others = FieldSet::default();
    for e in entries.iter().filter(|e| !is_me(e)) {
        others.union(&e.set);
    }
    let given_up = previous.difference(&applied_set).difference(&others);
    // Parents first: removing a list item takes its fields with it.
    for path in given_up.members().iter() {
        if others.children_of(path) {
            // Another manager still owns something inside: keep the container.
            continue;
        }
        remove(&mut merged, path);
    }

    let changed = changed_fields(&applied_set, live, &merged);
    let mut conflicts = Vec::new();
    for e in entries.iter().filter(|e| !is_me(e)) {
        for path in e.set.intersection(&changed).members() {
            conflicts.push(format!(
                "conflict with {}: {}",
                e.describe(),
                path_string(&path)
            ));
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(PatchError::Conflict(conflicts));
    }
    for e in entries.iter_mut().filter(|e| !is_me(e)) {
        e.set = e.set.difference(&changed);
    }
    let time = Some(now());
    match entries.iter_mut().find(|e| is_me(e)) {
        Some(e) => {
            e.set = applied_set;
            e.api_version = api_version;
            e.time = time;
        }
        None => entries.push(Entry {
            manager: manager.to_string(),
            operation: "Apply".into(),
            api_version,
            time,
            subresource: subresource.map(String::from),
            set: applied_set,
        }),
    }
    write_entries(&mut merged, entries);
    Ok(merged)
}

/// The Status message of a 409 from apply conflicts, as the real server words it.
pub fn conflict_status_message(conflicts: &[String]) -> String {
    if let [only] = conflicts {
        return format!("Apply failed with 1 conflict: {only}");
    }
    // Group by manager: "conflicts with <manager>:\n- <path>" lines.
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for c in conflicts {
        let body = c.strip_prefix("conflict with ").unwrap_or(c);
        let (who, path) = body.rsplit_once(": ").unwrap_or((body, ""));
        match groups.iter_mut().find(|(w, _)| w == who) {
            Some((_, paths)) => paths.push(path.to_string()),
            None => groups.push((who.to_string(), vec![path.to_string()])),
        }
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    let mut lines = Vec::new();
    for (who, paths) in groups {
        lines.push(format!("conflicts with {who}:"));
        lines.extend(paths.into_iter().map(|p| format!("- {p}")));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// Tracks ownership for a non-apply write (create, update, patch) by `manager`: operation
/// `Update` entries as the real server keeps them. `old` is the stored object (None on create).
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
) {
    record_update_with_schema(old, new, manager, subresource, None);
}

/// [`record_update`] with the CRD version's schema (for list-map keys and set lists).
pub fn record_update_with_schema(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
    schema: Option<&Value>,
) {
    // A client may send managedFields: a changed list replaces the stored one (an empty list
    // resets ownership), an absent or unchanged one keeps it.
    let sent = new.pointer("/metadata/managedFields").cloned();
    let stored = old
        .and_then(|o| o.pointer("/metadata/managedFields"))
        .cloned();
    let mut entries = match (&sent, &stored) {
        (Some(s), st) if Some(s) != st.as_ref() => read_entries(Some(new)),
        _ => read_entries(old),
    };
    if let Some(Value::Object(meta)) = new.get_mut("metadata") {
        meta.remove("managedFields");
    }
    let api_version = new
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let new_set = object_fields(new, schema);
    let changed = changed_fields(&new_set, old, new);
    let is_me = |e: &Entry| {
        e.manager == manager
            && e.operation == "Update"
            && e.api_version == api_version
            && e.subresource.as_deref() == subresource
    };
    for e in entries.iter_mut() {
        e.set = e.set.intersection(&new_set);
        if !is_me(e) {
            e.set = e.set.difference(&changed);
        }
    }
    if !changed.is_empty() {
        let time = Some(now());
        match entries.iter_mut().find(|e| is_me(e)) {
            Some(e) => {
                e.set.union(&changed);
                e.time = time;
            }
            None => entries.push(Entry {
                manager: manager.to_string(),
                operation: "Update".into(),
                api_version,
                time,
                subresource: subresource.map(String::from),
                set: changed,
            }),
        }
    }
    write_entries(new, entries);
}

#[cfg(test)]
mod tests;
