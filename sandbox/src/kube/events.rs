//! core/v1 and events.k8s.io/v1 Events share one storage, as on a real server: objects are
//! stored in the core/v1 form and converted field by field when read or written through
//! events.k8s.io/v1, so `kubectl get events` and `kubectl describe` show what a kube-runtime
//! `Recorder` publishes.

use serde_json::{Map, Value};

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

/// The stored (core/v1) form of an object written through `rt`.
pub fn to_storage(rt: &ResourceType, object: Value) -> Value {
    if is_events_api(rt) && object["apiVersion"] != "v1" {
        rename(&object, true, "v1")
    } else {
        object
    }
}

/// The form of a stored object served through `rt`.
pub fn to_view(rt: &ResourceType, object: Value) -> Value {
    if is_events_api(rt) && object["apiVersion"] == "v1" {
        rename(&object, false, &rt.api_version())
    } else {
        object
    }
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
        assert_eq!(to_view(&rt, stored), new);
    }
}
