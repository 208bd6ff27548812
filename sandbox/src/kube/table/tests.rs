use super::*;
use serde_json::json;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-01-01T01:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn conn(name: &str, ready: &str) -> Value {
    json!({
        "apiVersion": "zis.example.com/v1", "kind": "ZisBearerConnection",
        "metadata": {"name": name, "namespace": "default", "creationTimestamp": "2025-01-01T00:55:00Z"},
        "spec": {"integration": "int", "replicas": 2, "ratio": 0.5, "flag": true, "tags": ["a", "b"]},
        "status": {"conditions": [{"type": "Ready", "status": ready}]}
    })
}

fn columns() -> Value {
    json!([
        {"name": "Integration", "type": "string", "jsonPath": ".spec.integration"},
        {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas", "priority": 1},
        {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio"},
        {"name": "Flag", "type": "boolean", "jsonPath": ".spec.flag"},
        {"name": "Tags", "type": "string", "jsonPath": ".spec.tags"},
        {"name": "Missing", "type": "string", "jsonPath": ".spec.nothing", "description": "gone"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    ])
}

#[test]
fn printer_columns_give_typed_cells_after_the_name() {
    let objects = vec![conn("a", "True"), conn("b", "False")];
    let cols = columns();
    let table = to_table_at(
        &objects,
        Some(&cols),
        "Metadata",
        json!({"resourceVersion": "7"}),
        now(),
    );
    assert_eq!(table["kind"], "Table");
    assert_eq!(table["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(table["metadata"], json!({"resourceVersion": "7"}));
    let defs = table["columnDefinitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = defs.iter().filter_map(|d| d["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "Name",
            "Integration",
            "Ready",
            "Replicas",
            "Ratio",
            "Flag",
            "Tags",
            "Missing",
            "Age"
        ]
    );
    assert_eq!(defs[0]["format"], "name");
    assert_eq!(
        defs[1]["description"],
        "Custom resource definition column (in JSONPath format): .spec.integration"
    );
    assert_eq!(defs[3]["priority"], 1);
    assert_eq!(defs[7]["description"], "gone");
    assert_eq!(
        table["rows"][0]["cells"],
        json!(["a", "int", "True", 2, 0.5, true, "[a b]", null, "5m"])
    );
    assert_eq!(table["rows"][1]["cells"][2], "False");
    assert_eq!(
        table["rows"][0]["object"],
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": objects[0]["metadata"]})
    );
}

#[test]
fn include_object_selects_what_rows_carry() {
    let objects = vec![conn("a", "True")];
    let cols = columns();
    let full = to_table_at(&objects, Some(&cols), "Object", json!({}), now());
    assert_eq!(full["rows"][0]["object"], objects[0]);
    let none = to_table_at(&objects, Some(&cols), "None", json!({}), now());
    assert_eq!(none["rows"][0]["object"], Value::Null);
}

#[test]
fn a_custom_resource_without_printer_columns_shows_name_and_age() {
    let table = to_table_at(
        &[conn("a", "True")],
        Some(&json!([])),
        "Metadata",
        json!({}),
        now(),
    );
    let names: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .map(|d| d.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["Name", "Age"]);
    assert_eq!(table["columnDefinitions"][1]["type"], "date");
    assert_eq!(table["rows"][0]["cells"], json!(["a", "5m"]));
    let without = to_table_at(&[conn("a", "True")], None, "Metadata", json!({}), now());
    assert_eq!(without["columnDefinitions"], table["columnDefinitions"]);
    assert_eq!(without["rows"], table["rows"]);
}

#[test]
fn kinds_without_a_printer_use_name_and_created_at() {
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "x.example.com", "creationTimestamp": "2024-05-06T07:08:09Z"}});
    let table = to_table_at(&[crd], None, "Metadata", json!({}), now());
    assert_eq!(table["columnDefinitions"][1]["name"], "Created At");
    assert_eq!(table["columnDefinitions"][1]["type"], "date");
    assert_eq!(
        table["rows"][0]["cells"],
        json!(["x.example.com", "2024-05-06T07:08:09Z"])
    );
}

#[test]
fn built_in_kinds_use_the_real_printers() {
    let created = "2024-12-31T01:00:00Z";
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": "s", "creationTimestamp": created}, "data": {"a": "", "b": ""}});
    let t = to_table_at(&[secret], None, "Metadata", json!({}), now());
    assert_eq!(t["rows"][0]["cells"], json!(["s", "Opaque", 2, "24h"]));

    let ns = json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "default", "creationTimestamp": created}, "status": {"phase": "Active"}});
    let t = to_table_at(&[ns], None, "Metadata", json!({}), now());
    assert_eq!(t["rows"][0]["cells"], json!(["default", "Active", "24h"]));

    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "l"}, "spec": {"holderIdentity": "me"}});
    let t = to_table_at(&[lease], None, "Metadata", json!({}), now());
    assert_eq!(t["rows"][0]["cells"], json!(["l", "me", "<unknown>"]));

    let event = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e.1"},
        "type": "Warning", "reason": "Failed", "message": " boom ",
        "involvedObject": {"kind": "ZisBearerConnection", "name": "c"},
        "source": {"component": "zis-operator"},
        "firstTimestamp": "2025-01-01T00:00:00Z", "lastTimestamp": "2025-01-01T00:59:00Z", "count": 3});
    let t = to_table_at(&[event], None, "Metadata", json!({}), now());
    assert_eq!(
        t["rows"][0]["cells"],
        json!([
            "60s",
            "Warning",
            "Failed",
            "zisbearerconnection/c",
            "",
            "zis-operator",
            "boom",
            "60m",
            3,
            "e.1"
        ])
    );
}

#[test]
fn ages_read_like_kubectl() {
    let cases = [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (150, "2m30s"),
        (600, "10m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 60, "3h1m"),
        (9 * 3600, "9h"),
        (50 * 3600, "2d2h"),
        (10 * 86400, "10d"),
        (800 * 86400, "2y70d"),
        (9 * 365 * 86400, "9y"),
    ];
    for (secs, want) in cases {
        assert_eq!(
            human_duration(chrono::TimeDelta::seconds(secs)),
            want,
            "{secs}s"
        );
    }
}

#[test]
fn string_cells_print_bad_value_texts() {
    assert_eq!(
        go_text(&json!({"b": 1, "a": [true, null]})),
        "map[a:[true <nil>] b:1]"
    );
    assert_eq!(go_text(&json!(1.5)), "1.5");
    assert_eq!(go_text(&json!(1e21)), "1e+21");
}
