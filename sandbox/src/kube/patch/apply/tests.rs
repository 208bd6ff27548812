use super::*;
use serde_json::json;

fn entries_of(obj: &Value) -> Vec<Value> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn entry<'a>(entries: &'a [Value], manager: &str, op: &str) -> Option<&'a Value> {
    entries
        .iter()
        .find(|e| e["manager"] == json!(manager) && e["operation"] == json!(op))
}

fn cm(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}, "data": data})
}

#[test]
fn applying_on_create_records_an_apply_entry_in_fields_v1() {
    let obj = server_side_apply(None, &cm(json!({"a": "1"})), "kubectl", false, None, None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(obj["data"], json!({"a": "1"}));
    let entries = entries_of(&obj);
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(e["manager"], "kubectl");
    assert_eq!(e["operation"], "Apply");
    assert_eq!(e["apiVersion"], "v1");
    assert_eq!(e["fieldsType"], "FieldsV1");
    assert_eq!(e["fieldsV1"], json!({"f:data": {"f:a": {}}}));
    assert!(e["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert!(e.get("subresource").is_none());
}

#[test]
fn fields_no_longer_applied_are_removed_unless_someone_else_owns_them() {
    let first = server_side_apply(
        None,
        &cm(json!({"a": "1", "b": "2"})),
        "m1",
        false,
        None,
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let second = server_side_apply(
        Some(&first),
        &cm(json!({"a": "1"})),
        "m1",
        false,
        None,
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(second["data"], json!({"a": "1"}));

    // m2 applies the same value for b: shared ownership keeps b when m1 drops it.
    let shared = server_side_apply(
        Some(&first),
        &cm(json!({"b": "2"})),
        "m2",
        false,
        None,
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let dropped = server_side_apply(
        Some(&shared),
        &cm(json!({"a": "1"})),
        "m1",
        false,
        None,
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(dropped["data"], json!({"a": "1", "b": "2"}));
    let entries = entries_of(&dropped);
    assert_eq!(
        entry(&entries, "m1", "Apply").map(|e| &e["fieldsV1"]),
        Some(&json!({"f:data": {"f:a": {}}}))
    );
    assert_eq!(
        entry(&entries, "m2", "Apply").map(|e| &e["fieldsV1"]),
        Some(&json!({"f:data": {"f:b": {}}}))
    );
}

#[test]
fn changing_a_field_owned_by_another_manager_conflicts_unless_forced() {
    let first = server_side_apply(None, &cm(json!({"a": "1"})), "owner", false, None, None)
        .unwrap_or_else(|e| panic!("{e}"));
    let result = server_side_apply(
        Some(&first),
        &cm(json!({"a": "2"})),
        "intruder",
        false,
        None,
        None,
    );
    assert_eq!(
        result,
        Err(PatchError::Conflict(vec![
            // An Apply manager is named without its API version (Update managers have one).
            "conflict with \"owner\": .data.a".to_string()
        ]))
    );
    let forced = server_side_apply(
        Some(&first),
        &cm(json!({"a": "2"})),
        "intruder",
        true,
        None,
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(forced["data"], json!({"a": "2"}));
    let entries = entries_of(&forced);
    assert!(
        entry(&entries, "owner", "Apply").is_none(),
        "owner lost its only field: {entries:?}"
    );
    assert_eq!(
        entry(&entries, "intruder", "Apply").map(|e| &e["fieldsV1"]),
        Some(&json!({"f:data": {"f:a": {}}}))
    );
}

#[test]
fn conflict_messages_are_worded_like_the_real_server() {
    assert_eq!(
        conflict_status_message(&["conflict with \"m\" using v1: .data.a".to_string()]),
        "Apply failed with 1 conflict: conflict with \"m\" using v1: .data.a"
    );
    assert_eq!(
        conflict_status_message(&[
            "conflict with \"m\" using v1: .data.a".to_string(),
            "conflict with \"m\" using v1: .data.b".to_string(),
        ]),
        "Apply failed with 2 conflicts: conflicts with \"m\" using v1:\n- .data.a\n- .data.b"
    );
}

#[test]
fn an_object_without_managed_fields_is_owned_by_before_first_apply() {
    let live = cm(json!({"a": "1"}));
    let result = server_side_apply(
        Some(&live),
        &cm(json!({"a": "2"})),
        "kubectl",
        false,
        None,
        None,
    );
    match result {
        Err(PatchError::Conflict(c)) => {
            assert_eq!(c.len(), 1);
            assert_eq!(
                c[0],
                "conflict with \"before-first-apply\" using v1: .data.a"
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[test]
fn status_apply_merges_conditions_by_type_and_records_the_subresource() {
    let live = json!({"apiVersion": "x.io/v1", "kind": "K", "metadata": {"name": "k"},
        "spec": {"a": 1},
        "status": {"conditions": [{"type": "Synced", "status": "True"}]}});
    let applied = json!({"apiVersion": "x.io/v1", "kind": "K", "metadata": {"name": "k"},
        "spec": {"a": 2},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    let out = server_side_apply(Some(&live), &applied, "op", false, Some("status"), None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out["spec"],
        json!({"a": 1}),
        "status apply must not touch spec"
    );
    assert_eq!(
        out["status"]["conditions"],
        json!([{"type": "Synced", "status": "True"}, {"type": "Ready", "status": "True"}])
    );
    let entries = entries_of(&out);
    let mine = entry(&entries, "op", "Apply").unwrap_or_else(|| panic!("{entries:?}"));
    assert_eq!(mine["subresource"], "status");
    assert_eq!(
        mine["fieldsV1"],
        json!({"f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": {".": {}, "f:type": {}, "f:status": {}}}}})
    );
}

#[test]
fn list_maps_from_the_schema_merge_by_key_and_drop_given_up_items() {
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                  "items": {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}}
    }}}});
    let obj = |ports: Value| json!({"apiVersion": "x.io/v1", "kind": "K", "metadata": {"name": "k"}, "spec": {"ports": ports}});
    let a = server_side_apply(
        None,
        &obj(json!([{"name": "a", "port": 1}])),
        "ma",
        false,
        None,
        Some(&schema),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let b = server_side_apply(
        Some(&a),
        &obj(json!([{"name": "b", "port": 2}])),
        "mb",
        false,
        None,
        Some(&schema),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        b["spec"]["ports"],
        json!([{"name": "a", "port": 1}, {"name": "b", "port": 2}])
    );
    let c = server_side_apply(Some(&b), &obj(json!([])), "ma", false, None, Some(&schema))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c["spec"]["ports"], json!([{"name": "b", "port": 2}]));
    let conflict = server_side_apply(
        Some(&c),
        &obj(json!([{"name": "b", "port": 3}])),
        "ma",
        false,
        None,
        Some(&schema),
    );
    assert_eq!(
        conflict,
        Err(PatchError::Conflict(vec![
            "conflict with \"mb\": .spec.ports[name=\"b\"].port".to_string()
        ]))
    );
}

#[test]
fn updates_take_changed_fields_from_other_managers() {
    let applied = server_side_apply(
        None,
        &cm(json!({"a": "1", "b": "2"})),
        "applier",
        false,
        None,
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut updated = applied.clone();
    updated["data"]["a"] = json!("changed");
    updated["data"]["c"] = json!("new");
    updated["metadata"]["labels"] = json!({"x": "y"});
    record_update(Some(&applied), &mut updated, "kubectl-edit", None);
    let entries = entries_of(&updated);
    assert_eq!(
        entry(&entries, "applier", "Apply").map(|e| &e["fieldsV1"]),
        Some(&json!({"f:data": {"f:b": {}}}))
    );
    let editor = entry(&entries, "kubectl-edit", "Update").unwrap_or_else(|| panic!("{entries:?}"));
    assert_eq!(
        editor["fieldsV1"],
        json!({"f:data": {"f:a": {}, "f:c": {}}, "f:metadata": {"f:labels": {"f:x": {}}}})
    );
    // Apply entries sort before Update entries.
    assert_eq!(entries[0]["operation"], "Apply");

    // Removing a field drops it from every set; an unchanged write adds no entry.
    let mut removed = updated.clone();
    if let Some(m) = removed["data"].as_object_mut() {
        m.remove("b");
    }
    record_update(Some(&updated), &mut removed, "other", None);
    let entries = entries_of(&removed);
    assert!(entry(&entries, "applier", "Apply").is_none());
    assert!(entry(&entries, "other", "Update").is_none());
}

#[test]
fn creating_with_an_update_owns_every_field_but_server_metadata() {
    let mut obj = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "s", "namespace": "d", "uid": "u", "resourceVersion": "1", "finalizers": ["x/y"]},
        "type": "Opaque", "data": {"token": "c2VjcmV0"}});
    record_update(None, &mut obj, "kubectl-create", None);
    let entries = entries_of(&obj);
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0]["fieldsV1"],
        json!({"f:data": {"f:token": {}}, "f:metadata": {"f:finalizers": {"v:\"x/y\"": {}}}, "f:type": {}})
    );
}

#[test]
fn main_resource_apply_ignores_status_when_it_is_a_subresource() {
    let applied = json!({"apiVersion": "x.io/v1", "kind": "K", "metadata": {"name": "k"},
        "spec": {"a": 1}, "status": {"phase": "Ready"}});
    let out = server_side_apply_with_status_subresource(None, &applied, "m", false, None, None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.get("status").is_none());
    assert_eq!(
        entries_of(&out)[0]["fieldsV1"],
        json!({"f:spec": {"f:a": {}}})
    );
    let plain =
        server_side_apply(None, &applied, "m", false, None, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plain["status"], json!({"phase": "Ready"}));
}
