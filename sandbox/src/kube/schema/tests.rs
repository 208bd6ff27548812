use super::*;
use serde_json::json;

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "required": ["integration"],
                "properties": {
                    "integration": {"type": "string", "maxLength": 8},
                    "name": {"type": "string", "pattern": "^[a-z]+$", "minLength": 2},
                    "policy": {"type": "string", "enum": ["Delete", "Orphan"], "default": "Delete"},
                    "replicas": {"type": "integer", "minimum": 1, "maximum": 5},
                    "ratio": {"type": "number", "exclusiveMaximum": true, "maximum": 1},
                    "enabled": {"type": "boolean"},
                    "port": {"x-kubernetes-int-or-string": true},
                    "note": {"type": "string", "nullable": true},
                    "when": {"type": "string", "format": "date-time"},
                    "tags": {
                        "type": "array", "maxItems": 2, "minItems": 1,
                        "x-kubernetes-list-type": "set",
                        "items": {"type": "string"}
                    },
                    "ports": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {
                            "type": "object",
                            "properties": {
                                "name": {"type": "string"},
                                "port": {"type": "integer", "default": 80}
                            }
                        }
                    },
                    "labels": {
                        "type": "object", "maxProperties": 1,
                        "additionalProperties": {"type": "string"}
                    },
                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "nested": {
                        "type": "object",
                        "default": {},
                        "properties": {"level": {"type": "integer", "default": 3}}
                    }
                }
            },
            "status": {
                "type": "object",
                "properties": {"ready": {"type": "boolean"}}
            }
        }
    })
}

fn check(spec: Value) -> SchemaOutcome {
    let mut obj =
        json!({"apiVersion": "x.io/v1", "kind": "K", "metadata": {"name": "n"}, "spec": spec});
    prune_default_validate(&schema(), &mut obj, None)
}

fn single_error(spec: Value) -> (String, String, String) {
    let out = check(spec.clone());
    assert_eq!(out.errors.len(), 1, "for {spec}: {:?}", out.errors);
    let e = &out.errors[0];
    (e.field.clone(), e.reason.clone(), e.message.clone())
}

#[test]
fn each_violated_rule_gives_the_real_servers_cause() {
    let cases: Vec<(Value, &str, &str, &str)> = vec![
        (
            json!({}),
            "spec.integration",
            "FieldValueRequired",
            "Required value",
        ),
        (
            json!({"integration": "a", "name": "Abc"}),
            "spec.name",
            "FieldValueInvalid",
            "Invalid value: \"Abc\": spec.name in body should match '^[a-z]+$'",
        ),
        (
            json!({"integration": "a", "name": "a"}),
            "spec.name",
            "FieldValueInvalid",
            "Invalid value: \"a\": spec.name in body should be at least 2 chars long",
        ),
        (
            json!({"integration": "abcdefghi"}),
            "spec.integration",
            "FieldValueTooLong",
            "Too long: may not be more than 8 bytes",
        ),
        (
            json!({"integration": "a", "policy": "Foo"}),
            "spec.policy",
            "FieldValueNotSupported",
            "Unsupported value: \"Foo\": supported values: \"Delete\", \"Orphan\"",
        ),
        (
            json!({"integration": "a", "replicas": "string"}),
            "spec.replicas",
            "FieldValueTypeInvalid",
            "Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\"",
        ),
        (
            json!({"integration": "a", "replicas": 1.5}),
            "spec.replicas",
            "FieldValueTypeInvalid",
            "Invalid value: \"number\": spec.replicas in body must be of type integer: \"number\"",
        ),
        (
            json!({"integration": "a", "replicas": 0}),
            "spec.replicas",
            "FieldValueInvalid",
            "Invalid value: 0: spec.replicas in body should be greater than or equal to 1",
        ),
        (
            json!({"integration": "a", "replicas": 6}),
            "spec.replicas",
            "FieldValueInvalid",
            "Invalid value: 6: spec.replicas in body should be less than or equal to 5",
        ),
        (
            json!({"integration": "a", "ratio": 1}),
            "spec.ratio",
            "FieldValueInvalid",
            "Invalid value: 1: spec.ratio in body should be less than 1",
        ),
        (
            json!({"integration": "a", "enabled": "yes"}),
            "spec.enabled",
            "FieldValueTypeInvalid",
            "Invalid value: \"string\": spec.enabled in body must be of type boolean: \"string\"",
        ),
        (
            json!({"integration": "a", "port": true}),
            "spec.port",
            "FieldValueTypeInvalid",
            "Invalid value: \"boolean\": spec.port in body must be of type integer,string: \"boolean\"",
        ),
        (
            json!({"integration": "a", "when": "yesterday"}),
            "spec.when",
            "FieldValueTypeInvalid",
            "Invalid value: \"yesterday\": spec.when in body must be of type date-time: \"yesterday\"",
        ),
        (
            json!({"integration": "a", "tags": ["a", "b", "c"]}),
            "spec.tags",
            "FieldValueTooMany",
            "Too many: 3: must have at most 2 items",
        ),
        (
            json!({"integration": "a", "tags": []}),
            "spec.tags",
            "FieldValueInvalid",
            "Invalid value: 0: spec.tags in body should have at least 1 items",
        ),
        (
            json!({"integration": "a", "tags": ["a", "a"]}),
            "spec.tags[1]",
            "FieldValueDuplicate",
            "Duplicate value: \"a\"",
        ),
        (
            json!({"integration": "a", "ports": [{"name": "x"}, {"name": "x"}]}),
            "spec.ports[1]",
            "FieldValueDuplicate",
            "Duplicate value: {\"name\":\"x\"}",
        ),
        (
            json!({"integration": "a", "labels": {"a": "1", "b": "2"}}),
            "spec.labels",
            "FieldValueTooMany",
            "Too many: 2: must have at most 1 item",
        ),
        (
            json!({"integration": "a", "labels": {"a": 1}}),
            "spec.labels.a",
            "FieldValueTypeInvalid",
            "Invalid value: \"integer\": spec.labels.a in body must be of type string: \"integer\"",
        ),
        (
            json!({"integration": "a", "tags": [null]}),
            "spec.tags[0]",
            "FieldValueTypeInvalid",
            "Invalid value: \"null\": spec.tags[0] in body must be of type string: \"null\"",
        ),
    ];
    for (spec, field, reason, message) in cases {
        assert_eq!(
            single_error(spec),
            (field.to_string(), reason.to_string(), message.to_string())
        );
    }
}

#[test]
fn valid_objects_pass_without_errors() {
    let out = check(json!({
        "integration": "abc", "name": "ab", "policy": "Orphan", "replicas": 3, "ratio": 0.5,
        "enabled": true, "port": "http", "note": null, "when": "2024-01-02T03:04:05Z",
        "tags": ["a", "b"], "ports": [{"name": "a"}, {"name": "b"}], "labels": {"x": "y"}
    }));
    assert_eq!(out, SchemaOutcome::default());
    assert!(
        check(json!({"integration": "a", "port": 8080}))
            .errors
            .is_empty()
    );
}

#[test]
fn unknown_fields_are_pruned_and_reported_except_where_preserved() {
    let mut obj = json!({
        "apiVersion": "x.io/v1", "kind": "K",
        "metadata": {"name": "n", "labels": {"a": "b"}},
        "spec": {
            "integration": "a", "bogus": 1,
            "ports": [{"name": "a", "weird": true}],
            "extra": {"anything": {"goes": 1}},
            "labels": {"free": "form"}
        },
        "status": {"ready": true, "unknown": 2},
        "topLevel": "x"
    });
    obj["metadata"]["bogusMeta"] = json!(1);
    let out = prune_default_validate(&schema(), &mut obj, None);
    assert_eq!(
        out.pruned_fields,
        vec![
            "metadata.bogusMeta",
            "spec.bogus",
            "spec.ports[0].weird",
            "status.unknown",
            "topLevel"
        ]
    );
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(obj["metadata"]["labels"], json!({"a": "b"}));
    assert_eq!(obj["spec"]["extra"], json!({"anything": {"goes": 1}}));
    assert_eq!(obj["spec"]["labels"], json!({"free": "form"}));
    assert!(obj.get("topLevel").is_none());
}

#[test]
fn defaults_fill_absent_fields_of_existing_objects_recursively() {
    let mut obj = json!({"apiVersion": "x.io/v1", "kind": "K", "metadata": {}, "spec": {
        "integration": "a", "ports": [{"name": "a"}, {"name": "b", "port": 8080}]
    }});
    let out = prune_default_validate(&schema(), &mut obj, None);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(obj["spec"]["policy"], json!("Delete"));
    assert_eq!(
        obj["spec"]["ports"],
        json!([{"name": "a", "port": 80}, {"name": "b", "port": 8080}])
    );
    // The defaulted `nested: {}` gets its own properties' defaults.
    assert_eq!(obj["spec"]["nested"], json!({"level": 3}));
    // No default is invented for an absent parent object.
    assert!(obj.get("status").is_none());
}

#[test]
fn non_nullable_nulls_take_the_default_or_are_dropped() {
    let mut obj = json!({"apiVersion": "x.io/v1", "kind": "K", "metadata": {}, "spec": {
        "integration": "a", "policy": null, "replicas": null, "note": null
    }});
    let out = prune_default_validate(&schema(), &mut obj, None);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(obj["spec"]["policy"], json!("Delete"));
    assert!(obj["spec"].get("replicas").is_none());
    assert_eq!(obj["spec"]["note"], Value::Null);
}

#[test]
fn a_required_field_sent_as_null_is_reported_missing() {
    let out = check(json!({"integration": null}));
    assert_eq!(out.errors.len(), 1);
    assert_eq!(out.errors[0].reason, "FieldValueRequired");
}

#[test]
fn metadata_name_constraints_of_the_schema_apply() {
    let schema = json!({"type": "object", "properties": {
        "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 3}}}
    }});
    let mut obj = json!({"metadata": {"name": "toolong"}});
    let out = prune_default_validate(&schema, &mut obj, None);
    assert_eq!(out.errors.len(), 1);
    assert_eq!(out.errors[0].field, "metadata.name");
    assert_eq!(out.errors[0].reason, "FieldValueTooLong");
}

fn cel_schema() -> Value {
    json!({"type": "object", "properties": {"spec": {
        "type": "object",
        "x-kubernetes-validations": [
            {"rule": "has(self.a) || has(self.b)", "message": "a or b must be set"},
            {"rule": "!has(self.c) || self.c.size() <= 3"},
            {"rule": "self.a == oldSelf.a", "messageExpression": "'a is immutable, was ' + oldSelf.a"},
            {"rule": "quantity(self.a).isGreaterThan(1)", "message": "skipped"},
            {"rule": "self.b == 'x'", "message": "b must be x", "reason": "FieldValueForbidden",
             "fieldPath": ".b"}
        ],
        "properties": {
            "a": {"type": "string"},
            "b": {"type": "string"},
            "c": {"type": "string"},
            "id": {"type": "string", "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "Value is immutable"}
            ]},
            "items": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": {"type": "object", "properties": {
                    "name": {"type": "string"},
                    "v": {"type": "integer", "x-kubernetes-validations": [
                        {"rule": "self >= oldSelf", "message": "may not decrease"}
                    ]}
                }}
            }
        }
    }}})
}

fn cel_errors(spec: Value, old_spec: Option<Value>) -> Vec<(String, String, String)> {
    let mut obj = json!({"spec": spec});
    let old = old_spec.map(|s| json!({"spec": s}));
    prune_default_validate(&cel_schema(), &mut obj, old.as_ref())
        .errors
        .into_iter()
        .map(|e| (e.field, e.reason, e.message))
        .collect()
}

fn err(field: &str, reason: &str, message: &str) -> (String, String, String) {
    (field.to_string(), reason.to_string(), message.to_string())
}

#[test]
fn cel_rules_report_their_message_or_the_failed_rule() {
    assert_eq!(cel_errors(json!({"a": "1", "b": "x"}), None), vec![]);
    assert_eq!(
        cel_errors(json!({"c": "long", "b": "y"}), None),
        vec![
            err(
                "spec",
                "FieldValueInvalid",
                "Invalid value: \"object\": failed rule: !has(self.c) || self.c.size() <= 3"
            ),
            err("spec.b", "FieldValueForbidden", "Forbidden: b must be x"),
        ]
    );
    assert_eq!(
        cel_errors(json!({"c": "ok"}), None),
        vec![
            err(
                "spec",
                "FieldValueInvalid",
                "Invalid value: \"object\": a or b must be set"
            ),
            err(
                "spec",
                "FieldValueInvalid",
                "Invalid value: \"object\": no such key: b evaluating rule: b must be x"
            ),
        ]
    );
}

#[test]
fn transition_rules_run_only_on_update_with_an_old_value() {
    let spec = json!({"a": "2", "b": "x", "id": "new"});
    assert_eq!(cel_errors(spec.clone(), None), vec![]);
    assert_eq!(
        cel_errors(spec.clone(), Some(json!({"a": "1", "b": "x", "id": "old"}))),
        vec![
            err(
                "spec",
                "FieldValueInvalid",
                "Invalid value: \"object\": a is immutable, was 1"
            ),
            err(
                "spec.id",
                "FieldValueInvalid",
                "Invalid value: \"string\": Value is immutable"
            ),
        ]
    );
    // A field absent before has no old value: its transition rule does not run.
    assert_eq!(cel_errors(spec, Some(json!({"a": "2", "b": "x"}))), vec![]);
}

#[test]
fn transition_rules_correlate_list_map_items_by_key() {
    let old = json!({"a": "1", "b": "x", "items": [{"name": "p", "v": 5}, {"name": "q", "v": 1}]});
    let new = json!({"a": "1", "b": "x", "items": [{"name": "q", "v": 2}, {"name": "p", "v": 4}, {"name": "r", "v": 0}]});
    assert_eq!(
        cel_errors(new, Some(old)),
        vec![err(
            "spec.items[1].v",
            "FieldValueInvalid",
            "Invalid value: \"integer\": may not decrease"
        )]
    );
}

#[test]
fn embedded_resources_keep_their_type_meta_and_must_have_it() {
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                     "properties": {"data": {"type": "object", "additionalProperties": {"type": "string"}}}}
    }}}});
    let mut ok = json!({"spec": {"template": {"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "x", "nope": 1}, "data": {"a": "b"}, "extra": 1}}});
    let out = prune_default_validate(&schema, &mut ok, None);
    assert_eq!(
        out.pruned_fields,
        vec!["spec.template.extra", "spec.template.metadata.nope"]
    );
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(ok["spec"]["template"]["kind"], "ConfigMap");

    let mut bad = json!({"spec": {"template": {"kind": ""}}});
    let errors: Vec<(String, String)> = prune_default_validate(&schema, &mut bad, None)
        .errors
        .into_iter()
        .map(|e| (e.field, e.message))
        .collect();
    assert_eq!(
        errors,
        vec![
            (
                "spec.template.apiVersion".to_string(),
                "Required value: must not be empty".to_string()
            ),
            (
                "spec.template.kind".to_string(),
                "Invalid value: \"\": must not be empty".to_string()
            ),
        ]
    );
}

#[test]
fn a_scalar_in_a_list_map_is_both_mistyped_and_not_an_object() {
    let out = check(json!({"integration": "a", "ports": [{"name": "x"}, 1]}));
    let messages: Vec<&str> = out.errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        messages,
        vec![
            "Invalid value: \"integer\": spec.ports[1] in body must be of type object: \"integer\"",
            "Invalid value: 1: must be an object for an array of list-type map",
        ]
    );
}

#[test]
fn cel_errors_under_maps_use_key_paths_and_overload_errors_name_the_rule() {
    let schema = json!({"type": "object", "properties": {"spec": {
        "type": "object",
        "x-kubernetes-validations": [{"rule": "self.n + 1 == 2"}],
        "properties": {
            "n": {"x-kubernetes-int-or-string": true},
            "labels": {"type": "object", "additionalProperties": {
                "type": "string",
                "x-kubernetes-validations": [{"rule": "self.size() < 3", "message": "short values only"}]
            }}
        }
    }}});
    let mut obj = json!({"spec": {"n": "one", "labels": {"ok": "ab", "bad": "abcd"}}});
    let errors: Vec<(String, String)> = prune_default_validate(&schema, &mut obj, None)
        .errors
        .into_iter()
        .map(|e| (e.field, e.message))
        .collect();
    assert_eq!(
        errors,
        vec![
            (
                "spec".to_string(),
                "Invalid value: \"object\": 'no such overload': call arguments did not match a supported operator, function or macro signature for rule: self.n + 1 == 2".to_string()
            ),
            ("spec.labels[bad]".to_string(), "Invalid value: \"string\": short values only".to_string()),
        ]
    );
}

#[test]
fn bad_values_print_as_json() {
    let cases = [
        (json!("a\"b"), "\"a\\\"b\""),
        (json!(null), "null"),
        (json!(5), "5"),
        (json!(true), "true"),
        (json!({"name": "x"}), "{\"name\":\"x\"}"),
    ];
    for (value, want) in cases {
        assert_eq!(bad_value_text(&value), want, "{value}");
    }
}

#[test]
fn structural_errors_block_cel_rules_with_a_note() {
    let blocked = cel_errors(json!({"a": "1", "b": 5}), None);
    assert_eq!(
        blocked,
        vec![
            err(
                "spec.b",
                "FieldValueTypeInvalid",
                "Invalid value: \"integer\": spec.b in body must be of type string: \"integer\""
            ),
            err(
                "<nil>",
                "FieldValueInvalid",
                "Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation"
            ),
        ]
    );
}

#[test]
fn date_time_accepts_the_layouts_strfmt_accepts() {
    for ok in [
        "2024-01-02T03:04:05Z",
        "2024-01-02T03:04:05.123456789+02:00",
        "2024-01-02T03:04:05+0200",
        "2024-01-02T03:04:05",
        "2024-01-02T03:04Z",
        "2024-01-02 03:04:05",
    ] {
        assert!(date_time_ok(ok), "{ok}");
    }
    for bad in [
        "yesterday",
        "2024-01-02",
        "2024-13-02T03:04:05Z",
        "03:04:05",
    ] {
        assert!(!date_time_ok(bad), "{bad}");
    }
}
