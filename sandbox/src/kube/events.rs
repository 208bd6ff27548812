//! core/v1 and events.k8s.io/v1 Events share one storage, as on a real server: objects are
//! stored in the core/v1 form and converted field by field when read or written through
//! events.k8s.io/v1, so `kubectl get events` and `kubectl describe` show what a kube-runtime
//! `Recorder` publishes.
//!
//! As the real server's JSON, each view always carries the fields Go serializes even when unset:
//! core/v1 `source: {}`, `firstTimestamp: null`, `lastTimestamp: null`, `eventTime: null`,
//! `reportingComponent: ""`, `reportingInstance: ""`; events.k8s.io/v1 `eventTime: null`,
//! `deprecatedSource: {}`, `deprecatedFirstTimestamp: null`, `deprecatedLastTimestamp: null`.
//! kubectl relies on that: `kubectl get events --sort-by=.lastTimestamp` refuses to sort (and
//! prints "No resources found") when no listed event has the field at all.
//!
//! Also as the real server (`ValidateEventCreate`/`ValidateEventUpdate` for the events.k8s.io
//! API): a create through events.k8s.io/v1 must leave the `deprecated*` fields unset (422 `needs
//! to be unset`, on the core field names), and an update through it may not change them, nor
//! `note`, `reason`, `type` or `regarding` (422 `field is immutable`). Writes through core/v1
//! keep the old, lax rules: that is the only way to set `lastTimestamp` and `count`.

use serde_json::{Map, Value, json};

use super::error::Cause;
use super::resources::ResourceType;

/// (events.k8s.io/v1 field, core/v1 field) pairs that differ in name.
const RENAMED: [(&str, &str); 7] = [
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

/// Whether `rt` is events.k8s.io Events (stored in the core/v1 form).
pub fn is_events_api(rt: &ResourceType) -> bool {
    rt.group == "events.k8s.io" && rt.plural == "events"
}

fn rename(object: &Value, from_new: bool, api_version: &str) -> Value {
    let Some(map) = object.as_object() else {
        return object.clone();
    };
    let mut out = Map::new();
    for (key, value) in map {
        let renamed = RENAMED.iter().find_map(|(new, old)| {
            if from_new && key == new {
                Some(*old)
            } else if !from_new && key == old {
                Some(*new)
            } else {
                None
            }
        });
        out.insert(renamed.unwrap_or(key).to_string(), value.clone());
    }
    out.insert("apiVersion".into(), Value::String(api_version.into()));
    out.insert("kind".into(), Value::String("Event".into()));
    Value::Object(out)
}

/// Whether `rt` is core/v1 Events.
fn is_core_events(rt: &ResourceType) -> bool {
    rt.group.is_empty() && rt.plural == "events"
}

/// Fields the core/v1 JSON always carries, with their value when unset.
fn core_defaults() -> [(&'static str, Value); 6] {
    [
        ("source", json!({})),
        ("firstTimestamp", Value::Null),
        ("lastTimestamp", Value::Null),
        ("eventTime", Value::Null),
        ("reportingComponent", json!("")),
        ("reportingInstance", json!("")),
    ]
}

/// Fields the events.k8s.io/v1 JSON always carries, with their value when unset.
fn events_api_defaults() -> [(&'static str, Value); 4] {
    [
        ("eventTime", Value::Null),
        ("deprecatedSource", json!({})),
        ("deprecatedFirstTimestamp", Value::Null),
        ("deprecatedLastTimestamp", Value::Null),
    ]
}

fn fill(object: &mut Value, defaults: &[(&'static str, Value)]) {
    if let Some(map) = object.as_object_mut() {
        for (key, value) in defaults {
            map.entry(*key).or_insert_with(|| value.clone());
        }
    }
}

/// The stored (core/v1) form of an object written through `rt`: unset fields are left out.
pub fn to_storage(rt: &ResourceType, object: Value) -> Value {
    let mut stored = if is_events_api(rt) && object["apiVersion"] != "v1" {
        rename(&object, true, "v1")
    } else {
        object
    };
    if (is_events_api(rt) || is_core_events(rt))
        && let Some(map) = stored.as_object_mut()
    {
        for (key, unset) in core_defaults() {
            if map.get(key) == Some(&unset) || map.get(key) == Some(&Value::Null) {
                map.remove(key);
            }
        }
        if map.get("count") == Some(&json!(0)) {
            map.remove("count");
        }
    }
    stored
}

/// The form of a stored object served through `rt`.
pub fn to_view(rt: &ResourceType, object: Value) -> Value {
    if is_events_api(rt) && object["apiVersion"] == "v1" {
        let mut view = rename(&object, false, &rt.api_version());
        fill(&mut view, &events_api_defaults());
        view
    } else if is_core_events(rt) {
        let mut view = object;
        fill(&mut view, &core_defaults());
        view
    } else {
        object
    }
}

/// A time, count or source set: what `ValidateEventCreate` calls "set" for these fields.
fn is_set(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Number(n)) => n.as_i64() != Some(0),
        Some(Value::Object(m)) => m
            .values()
            .any(|v| v.as_str().is_some_and(|s| !s.is_empty())),
        Some(_) => true,
    }
}

/// The causes a create through `rt` gets for its `deprecated*` fields (events.k8s.io only).
pub fn validate_create(rt: &ResourceType, object: &Value) -> Vec<Cause> {
    if !is_events_api(rt) {
        return Vec::new();
    }
    [
        ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"),
        ("deprecatedCount", "count"),
        ("deprecatedSource", "source"),
    ]
    .into_iter()
    .filter(|(field, _)| is_set(object.get(*field)))
    .map(|(_, core)| Cause {
        reason: "FieldValueInvalid".into(),
        field: core.into(),
        message: "Invalid value: \"\": needs to be unset".into(),
    })
    .collect()
}

/// The causes an update through `rt` gets for changing what events.k8s.io keeps immutable.
/// `current` and `new` are both in `rt`'s form.
pub fn validate_update(rt: &ResourceType, current: &Value, new: &Value) -> Vec<Cause> {
    if !is_events_api(rt) {
        return Vec::new();
    }
    let mut causes = Vec::new();
    let unset = |v: Option<&Value>| !is_set(v);
    for (field, core) in [
        ("regarding", "involvedObject"),
        ("reason", "reason"),
        ("note", "message"),
        ("deprecatedSource", "source"),
        ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"),
        ("deprecatedCount", "count"),
        ("type", "type"),
    ] {
        let (old, now) = (current.get(field), new.get(field));
        if old == now || (unset(old) && unset(now)) {
            continue;
        }
        causes.push(Cause {
            reason: "FieldValueInvalid".into(),
            field: core.into(),
            message: format!(
                "Invalid value: {}: field is immutable",
                super::schema::bad_value_text(now.unwrap_or(&Value::Null))
            ),
        });
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_convert_between_the_two_apis_without_loss() {
        let rt = super::super::resources::builtins()
            .into_iter()
            .find(is_events_api)
            .expect("events.k8s.io is built in");
        let new = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e", "namespace": "default"},
            "regarding": {"kind": "Widget", "name": "w"}, "note": "hello",
            "reportingController": "zis", "reason": "Synced", "type": "Normal",
            "series": {"count": 2, "lastObservedTime": "2026-01-01T00:00:00.000000Z"}
        });
        let stored = to_storage(&rt, new.clone());
        assert_eq!(stored["apiVersion"], "v1");
        assert_eq!(stored["involvedObject"]["name"], "w");
        assert_eq!(stored["message"], "hello");
        assert_eq!(stored["reportingComponent"], "zis");
        let mut expected = new.clone();
        expected["eventTime"] = Value::Null;
        expected["deprecatedSource"] = json!({});
        expected["deprecatedFirstTimestamp"] = Value::Null;
        expected["deprecatedLastTimestamp"] = Value::Null;
        assert_eq!(to_view(&rt, stored.clone()), expected);
        // Stored again from that view, nothing of the unset fields is kept.
        assert_eq!(to_storage(&rt, to_view(&rt, stored.clone())), stored);
    }

    fn core_rt() -> ResourceType {
        super::super::resources::builtins()
            .into_iter()
            .find(|rt| rt.group.is_empty() && rt.plural == "events")
            .expect("core events are built in")
    }

    fn events_rt() -> ResourceType {
        super::super::resources::builtins()
            .into_iter()
            .find(is_events_api)
            .expect("events.k8s.io is built in")
    }

    #[test]
    fn the_core_view_carries_unset_times_as_null_as_the_real_server_does() {
        let stored = to_storage(
            &events_rt(),
            json!({
                "apiVersion": "events.k8s.io/v1", "kind": "Event",
                "metadata": {"name": "e", "namespace": "default"},
                "eventTime": "2026-01-01T00:00:00.000000Z", "reason": "Synced",
                "regarding": {"kind": "Widget", "name": "w"}, "note": "n", "type": "Normal",
                "reportingController": "zis", "reportingInstance": "zis-1", "action": "Sync"
            }),
        );
        let core = to_view(&core_rt(), stored);
        assert_eq!(core["firstTimestamp"], Value::Null);
        assert_eq!(core["lastTimestamp"], Value::Null);
        assert!(core.get("lastTimestamp").is_some(), "the key is present");
        assert_eq!(core["source"], json!({}));
        assert_eq!(core["reportingComponent"], "zis");
        let legacy = to_view(
            &core_rt(),
            json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "l"},
                   "involvedObject": {"kind": "X"}, "reason": "R", "count": 1,
                   "firstTimestamp": "2026-01-01T00:00:00Z",
                   "lastTimestamp": "2026-01-01T00:00:00Z"}),
        );
        assert_eq!(legacy["eventTime"], Value::Null);
        assert_eq!(legacy["reportingComponent"], "");
        assert_eq!(legacy["lastTimestamp"], "2026-01-01T00:00:00Z");
    }

    #[test]
    fn events_k8s_io_refuses_deprecated_fields_on_create_and_changes_on_update() {
        let new = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e", "namespace": "default"},
            "eventTime": "2026-01-01T00:00:00.000000Z", "reason": "Synced", "note": "n",
            "deprecatedFirstTimestamp": "2026-01-01T00:00:00Z",
            "deprecatedLastTimestamp": "2026-01-01T00:00:00Z",
            "deprecatedCount": 2, "deprecatedSource": {"component": "x"}
        });
        let causes = validate_create(&events_rt(), &new);
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            ["firstTimestamp", "lastTimestamp", "count", "source"]
        );
        assert!(
            causes
                .iter()
                .all(|c| c.message == "Invalid value: \"\": needs to be unset")
        );
        // Unset (absent, null, zero, empty) is fine, and core/v1 may set them.
        let unset = json!({"deprecatedFirstTimestamp": null, "deprecatedCount": 0,
                           "deprecatedSource": {}});
        assert!(validate_create(&events_rt(), &unset).is_empty());
        assert!(validate_create(&core_rt(), &new).is_empty());

        let current = to_view(
            &events_rt(),
            json!({"apiVersion": "v1", "reason": "Synced",
                                                   "message": "n"}),
        );
        let mut changed = current.clone();
        changed["note"] = json!("other");
        changed["series"] = json!({"count": 2});
        let causes = validate_update(&events_rt(), &current, &changed);
        assert_eq!(causes.len(), 1, "{causes:?}");
        assert_eq!(causes[0].field, "message");
        assert_eq!(
            causes[0].message,
            "Invalid value: \"other\": field is immutable"
        );
        let mut series_only = current.clone();
        series_only["series"] = json!({"count": 2});
        assert!(validate_update(&events_rt(), &current, &series_only).is_empty());
    }
}
