//! Structural-schema handling for custom resources, as the real API server does it with a CRD
//! version's `openAPIV3Schema`: pruning of unknown fields, defaulting, then validation. Pure: no
//! I/O.
//!
//! Order, as in kube-apiserver: (1) unknown fields are pruned (`x-kubernetes-preserve-unknown-fields`
//! and `additionalProperties` keep them; `apiVersion`, `kind` and `metadata` are kept at the root
//! and in `x-kubernetes-embedded-resource` objects, `metadata` losing only what ObjectMeta does not
//! have); (2) a `null` for a field that is not
//! `nullable` is replaced by the field's `default`, or dropped when there is none; (3) `default`s
//! are applied to absent fields of objects that exist, at any depth, recursively; (4) the object is
//! validated: `type` (with `nullable` and `x-kubernetes-int-or-string`), `format` (`date`,
//! `date-time`, `byte`, `uuid`, `email`, `hostname`, `ipv4`, `ipv6`, `cidr`, `mac`; others are
//! accepted as-is), `enum`, `pattern`, `minLength`/`maxLength` (characters), `minimum`/`maximum`
//! (with the exclusive flags), `multipleOf`, `minItems`/`maxItems`,
//! `minProperties`/`maxProperties`, `required`, `x-kubernetes-list-type: set|map` uniqueness and
//! `x-kubernetes-validations` CEL rules (see [`cel`] for the evaluated subset; as on the real
//! server they are skipped, with a note, once a required/enum/length/count/type error was found);
//! embedded resources must carry `apiVersion` and `kind`.
//!
//! Error causes carry the real server's reason and message, e.g. `FieldValueRequired` /
//! `Required value`, `FieldValueInvalid` / `Invalid value: "x": spec.name in body should match
//! '^[a-z]+$'`, `FieldValueTooLong` / `Too long: may not be more than 64 bytes`. Bad values are
//! printed as JSON, as kube-apiserver 1.33's `field.Error` does (`Invalid value: null`).
//!
//! Simplifications (documented for the sandbox's list): `allOf`/`anyOf`/`oneOf`/`not` are not
//! evaluated (they only further restrict structural schemas); a CEL rule that uses something
//! outside the supported subset is skipped, not rejected; CEL cost limits are not enforced; a
//! wrong type for an `x-kubernetes-int-or-string` field is reported as one `FieldValueTypeInvalid`
//! cause instead of the real server's `anyOf` pair; `metadata` at the root is only checked against
//! what the schema says about `metadata.name`/`metadata.generateName` (ObjectMeta itself is the
//! server's job).

pub mod cel;

use serde_json::{Map, Value};

/// One invalid field, shaped like a Kubernetes `StatusCause`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// Dotted path as the real server prints it, e.g. `spec.allowedDomain` or `spec.items[0].name`.
    /// Errors about the object itself use `<nil>`, as the real server does.
    pub field: String,
    /// `FieldValueRequired`, `FieldValueInvalid`, `FieldValueNotSupported`, `FieldValueTypeInvalid`,
    /// `FieldValueTooLong`, `FieldValueTooMany`, `FieldValueForbidden`...
    pub reason: String,
    /// The message the real server would give, e.g. `Required value` or
    /// `Invalid value: "a.b": spec.allowedDomain in body should match '^...$'`.
    pub message: String,
}

impl FieldError {
    /// `<field>: <message>`, the form the real server joins into a Status message.
    pub fn to_message(&self) -> String {
        format!("{}: {}", self.field, self.message)
    }
}

/// What checking an object against its schema found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchemaOutcome {
    /// Paths of fields that the schema does not know and were removed (for `fieldValidation`).
    pub pruned_fields: Vec<String>,
    pub errors: Vec<FieldError>,
}

/// Prunes unknown fields from `object`, applies defaults, then validates it against `schema`
/// (a CRD version's `openAPIV3Schema`). `old` is the stored object on update (for transition
/// rules such as `self == oldSelf`). `metadata`, `apiVersion` and `kind` are not pruned.
pub fn prune_default_validate(
    schema: &Value,
    object: &mut Value,
    old: Option<&Value>,
) -> SchemaOutcome {
    let mut outcome = SchemaOutcome::default();
    prune(object, schema, "", true, &mut outcome.pruned_fields);
    outcome.pruned_fields.sort();
    default_nulls_and_absent(object, schema);
    validate(object, schema, "", true, &mut outcome.errors);
    validate_list_types(object, schema, "", &mut outcome.errors);
    if has_rules(schema) {
        // As kube-apiserver: CEL rules only run on an object whose structure is sound.
        let blocking = outcome.errors.iter().any(|e| {
            matches!(
                e.reason.as_str(),
                "FieldValueNotSupported"
                    | "FieldValueRequired"
                    | "FieldValueTooLong"
                    | "FieldValueTooMany"
                    | "FieldValueTypeInvalid"
            )
        });
        if blocking {
            outcome.errors.push(FieldError {
                field: display_path(""),
                reason: "FieldValueInvalid".to_string(),
                message: "Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation".to_string(),
            });
        } else {
            cel::validate_rules(schema, object, old, &mut outcome.errors);
        }
    }
    outcome
}

/// Whether any node of the schema carries `x-kubernetes-validations`.
fn has_rules(schema: &Value) -> bool {
    match schema {
        Value::Object(m) => {
            m.get("x-kubernetes-validations")
                .and_then(Value::as_array)
                .is_some_and(|r| !r.is_empty())
                || ["properties"]
                    .iter()
                    .filter_map(|k| m.get(*k).and_then(Value::as_object))
                    .any(|props| props.values().any(has_rules))
                || ["items", "additionalProperties"]
                    .iter()
                    .filter_map(|k| m.get(*k))
                    .any(has_rules)
        }
        _ => false,
    }
}

/// Only the pruning step (kube-apiserver does it for every write, including status writes).
pub fn prune_unknown_fields(schema: &Value, object: &mut Value) -> Vec<String> {
    let mut pruned = Vec::new();
    prune(object, schema, "", true, &mut pruned);
    pruned.sort();
    pruned
}

/// Only the defaulting step (kube-apiserver also applies it when reading stored objects).
pub fn apply_defaults(schema: &Value, object: &mut Value) {
    default_nulls_and_absent(object, schema);
}

// ---------------------------------------------------------------------------------------------
// Schema accessors

pub(crate) fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

pub(crate) fn index_path(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

/// How the real server prints a path: the root is `<nil>`.
pub(crate) fn display_path(path: &str) -> String {
    if path.is_empty() {
        "<nil>".to_string()
    } else {
        path.to_string()
    }
}

fn flag(schema: &Value, name: &str) -> bool {
    schema.get(name).and_then(Value::as_bool).unwrap_or(false)
}

fn schema_type(schema: &Value) -> Option<&str> {
    schema.get("type").and_then(Value::as_str)
}

pub(crate) fn property_schema<'a>(schema: &'a Value, key: &str) -> Option<&'a Value> {
    schema.get("properties").and_then(|p| p.get(key))
}

/// The schema of map values when `additionalProperties` is a schema (`true` means "any value").
pub(crate) fn additional_schema(schema: &Value) -> Option<&Value> {
    match schema.get("additionalProperties") {
        Some(Value::Object(s)) if !s.is_empty() => schema.get("additionalProperties"),
        _ => None,
    }
}

pub(crate) fn items_schema(schema: &Value) -> Option<&Value> {
    schema.get("items").filter(|s| s.is_object())
}

fn preserves_unknown(schema: &Value) -> bool {
    flag(schema, "x-kubernetes-preserve-unknown-fields")
        || schema.get("additionalProperties") == Some(&Value::Bool(true))
        || matches!(schema.get("additionalProperties"), Some(Value::Object(m)) if m.is_empty())
}

fn is_embedded(schema: &Value) -> bool {
    flag(schema, "x-kubernetes-embedded-resource")
}

/// The schema that governs `key` in an object governed by `schema`.
pub(crate) fn field_schema<'a>(schema: &'a Value, key: &str) -> Option<&'a Value> {
    property_schema(schema, key).or_else(|| additional_schema(schema))
}

/// The JSON type name kube-openapi reports for a value.
pub(crate) fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// JSON text of a value (for enum values, which the real server JSON-encodes before quoting).
pub(crate) fn json_text(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| e.to_string())
}

/// A bad value as kube-apiserver 1.33's `field.Error` prints it: JSON (`"x"`, `5`, `null`,
/// `{"name":"x"}`).
pub(crate) fn bad_value_text(value: &Value) -> String {
    json_text(value)
}

/// Go's `strconv.Quote`.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%v` for a float64: shortest form, exponent form outside [1e-4, 1e21).
pub(crate) fn go_float(f: f64) -> String {
    let exp = if f == 0.0 {
        0
    } else {
        f.abs().log10().floor() as i32
    };
    if f != 0.0 && !(-4..21).contains(&exp) {
        let s = format!("{f:e}");
        // Rust prints `1e21`, Go `1e+21`.
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e:0>2}"),
            Some((m, e)) => format!("{m}e-{:0>2}", e.trim_start_matches('-')),
            None => s,
        }
    } else {
        format!("{f}")
    }
}

// ---------------------------------------------------------------------------------------------
// Pruning

fn prune(value: &mut Value, schema: &Value, path: &str, root: bool, pruned: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            let keeps_meta = root || is_embedded(schema);
            let preserve = preserves_unknown(schema);
            let mut removed = Vec::new();
            for (key, child) in map.iter_mut() {
                if keeps_meta && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                    // ObjectMeta is decoded by the server's own codec, not by the CRD schema:
                    // only fields ObjectMeta does not have are dropped from it.
                    if key == "metadata" {
                        prune_object_meta(child, &child_path(path, key), pruned);
                    }
                    continue;
                }
                match field_schema(schema, key) {
                    Some(s) => prune(child, s, &child_path(path, key), false, pruned),
                    None if preserve => {}
                    None => removed.push(key.clone()),
                }
            }
            for key in removed {
                map.remove(&key);
                pruned.push(child_path(path, &key));
            }
        }
        Value::Array(items) => {
            if let Some(s) = items_schema(schema) {
                for (i, item) in items.iter_mut().enumerate() {
                    prune(item, s, &index_path(path, i), false, pruned);
                }
            }
        }
        _ => {}
    }
}

/// The fields of `ObjectMeta` (meta.k8s.io/v1); anything else under `metadata` is unknown, for
/// every kind.
pub(crate) const OBJECT_META_FIELDS: [&str; 15] = [
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

fn prune_object_meta(meta: &mut Value, path: &str, pruned: &mut Vec<String>) {
    if let Value::Object(map) = meta {
        let unknown: Vec<String> = map
            .keys()
            .filter(|k| !OBJECT_META_FIELDS.contains(&k.as_str()))
            .cloned()
            .collect();
        for key in unknown {
            map.remove(&key);
            pruned.push(child_path(path, &key));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Defaulting

fn is_non_nullable_null(value: &Value, schema: &Value) -> bool {
    value.is_null() && !flag(schema, "nullable")
}

fn default_nulls_and_absent(value: &mut Value, schema: &Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(props)) = schema.get("properties") {
                for (key, prop) in props {
                    let Some(default) = prop.get("default") else {
                        continue;
                    };
                    let needs = match map.get(key) {
                        None => true,
                        Some(v) => is_non_nullable_null(v, prop),
                    };
                    if needs {
                        map.insert(key.clone(), default.clone());
                    }
                }
            }
            // A null for a non-nullable field without default is dropped before validation.
            let mut dropped = Vec::new();
            for (key, child) in map.iter_mut() {
                let Some(s) = field_schema(schema, key) else {
                    continue;
                };
                if is_non_nullable_null(child, s) {
                    match s.get("default") {
                        Some(d) => *child = d.clone(),
                        None => {
                            dropped.push(key.clone());
                            continue;
                        }
                    }
                }
                default_nulls_and_absent(child, s);
            }
            for key in dropped {
                map.remove(&key);
            }
        }
        Value::Array(items) => {
            if let Some(s) = items_schema(schema) {
                for item in items.iter_mut() {
                    if is_non_nullable_null(item, s)
                        && let Some(d) = s.get("default")
                    {
                        *item = d.clone();
                    }
                    default_nulls_and_absent(item, s);
                }
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Validation (the kube-openapi validator as the CRD handler maps its errors)

fn push(errors: &mut Vec<FieldError>, path: &str, reason: &str, message: String) {
    errors.push(FieldError {
        field: display_path(path),
        reason: reason.to_string(),
        message,
    });
}

fn invalid(errors: &mut Vec<FieldError>, path: &str, bad: &Value, detail: String) {
    push(
        errors,
        path,
        "FieldValueInvalid",
        format!("Invalid value: {}: {detail}", bad_value_text(bad)),
    );
}

fn type_invalid(errors: &mut Vec<FieldError>, path: &str, bad: &Value, detail: String) {
    push(
        errors,
        path,
        "FieldValueTypeInvalid",
        format!("Invalid value: {}: {detail}", bad_value_text(bad)),
    );
}

fn too_many(errors: &mut Vec<FieldError>, path: &str, actual: usize, max: u64) {
    let noun = if max == 1 { "item" } else { "items" };
    push(
        errors,
        path,
        "FieldValueTooMany",
        format!("Too many: {actual}: must have at most {max} {noun}"),
    );
}

/// kube-openapi prints numbers with Go's `%v` of a float64.
fn number_text(n: &Value) -> String {
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{}", f as i64),
        Some(f) => format!("{f}"),
        None => n.to_string(),
    }
}

fn type_matches(value: &Value, schema: &Value) -> bool {
    if flag(schema, "x-kubernetes-int-or-string") {
        return matches!(value, Value::String(_)) || is_integer(value);
    }
    match schema_type(schema) {
        None => true,
        Some("string") => value.is_string(),
        Some("integer") => is_integer(value),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some(_) => true,
    }
}

fn is_integer(value: &Value) -> bool {
    match value {
        Value::Number(n) if n.is_i64() || n.is_u64() => true,
        // A JSON number such as 3.0 decodes as an integral value, as in Go.
        Value::Number(n) => n.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => false,
    }
}

fn expected_type_name(schema: &Value) -> String {
    if flag(schema, "x-kubernetes-int-or-string") {
        return "integer,string".to_string();
    }
    schema_type(schema).unwrap_or("object").to_string()
}

fn validate(value: &Value, schema: &Value, path: &str, root: bool, errors: &mut Vec<FieldError>) {
    let body_path = display_path(path);
    if value.is_null() {
        let typed = schema_type(schema).is_some() || flag(schema, "x-kubernetes-int-or-string");
        if typed && !flag(schema, "nullable") {
            let detail = format!(
                "{body_path} in body must be of type {}: \"null\"",
                expected_type_name(schema)
            );
            type_invalid(errors, path, &Value::from("null"), detail);
        }
        return;
    }
    if !type_matches(value, schema) {
        let actual = json_type_name(value);
        let detail = format!(
            "{body_path} in body must be of type {}: \"{actual}\"",
            expected_type_name(schema)
        );
        type_invalid(errors, path, &Value::from(actual), detail);
        return;
    }
    if let Value::String(s) = value {
        validate_string(s, value, schema, path, &body_path, errors);
    }
    if value.is_number() {
        validate_number(value, schema, path, &body_path, errors);
    }
    match value {
        Value::Array(items) => validate_array(items, schema, path, &body_path, errors),
        Value::Object(map) => validate_object(map, schema, path, &body_path, root, errors),
        _ => {}
    }
    validate_enum(value, schema, path, errors);
}

fn validate_string(
    s: &str,
    value: &Value,
    schema: &Value,
    path: &str,
    body_path: &str,
    errors: &mut Vec<FieldError>,
) {
    let chars = s.chars().count() as u64;
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && chars > max
    {
        let noun = if max == 1 { "byte" } else { "bytes" };
        push(
            errors,
            path,
            "FieldValueTooLong",
            format!("Too long: may not be more than {max} {noun}"),
        );
    }
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
        && chars < min
    {
        let detail = format!("{body_path} in body should be at least {min} chars long");
        invalid(errors, path, value, detail);
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        // A pattern the regex crate cannot compile would have been rejected at CRD creation by
        // the real server; here it is skipped rather than failing every object.
        if let Some(re) = cached_regex(pattern)
            && !re.is_match(s)
        {
            let detail = format!("{body_path} in body should match '{pattern}'");
            invalid(errors, path, value, detail);
        }
    }
    if let Some(format) = schema.get("format").and_then(Value::as_str)
        && !format_ok(format, s)
    {
        let detail = format!(
            "{body_path} in body must be of type {format}: {}",
            go_quote(s)
        );
        type_invalid(errors, path, value, detail);
    }
}

fn validate_number(
    value: &Value,
    schema: &Value,
    path: &str,
    body_path: &str,
    errors: &mut Vec<FieldError>,
) {
    let Some(v) = value.as_f64() else { return };
    if let Some(m) = schema.get("multipleOf").filter(|m| m.is_number())
        && let Some(mf) = m.as_f64().filter(|mf| *mf > 0.0)
    {
        let q = v / mf;
        if (q - q.round()).abs() > 1e-9 {
            let detail = format!(
                "{body_path} in body should be a multiple of {}",
                number_text(m)
            );
            invalid(errors, path, value, detail);
        }
    }
    if let Some(max) = schema.get("maximum").filter(|m| m.is_number()) {
        let limit = max.as_f64().unwrap_or(f64::INFINITY);
        if flag(schema, "exclusiveMaximum") {
            if v >= limit {
                let detail = format!(
                    "{body_path} in body should be less than {}",
                    number_text(max)
                );
                invalid(errors, path, value, detail);
            }
        } else if v > limit {
            let detail = format!(
                "{body_path} in body should be less than or equal to {}",
                number_text(max)
            );
            invalid(errors, path, value, detail);
        }
    }
    if let Some(min) = schema.get("minimum").filter(|m| m.is_number()) {
        let limit = min.as_f64().unwrap_or(f64::NEG_INFINITY);
        if flag(schema, "exclusiveMinimum") {
            if v <= limit {
                let detail = format!(
                    "{body_path} in body should be greater than {}",
                    number_text(min)
                );
                invalid(errors, path, value, detail);
            }
        } else if v < limit {
            let detail = format!(
                "{body_path} in body should be greater than or equal to {}",
                number_text(min)
            );
            invalid(errors, path, value, detail);
        }
    }
}

fn validate_array(
    items: &[Value],
    schema: &Value,
    path: &str,
    body_path: &str,
    errors: &mut Vec<FieldError>,
) {
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
        && (items.len() as u64) < min
    {
        let detail = format!("{body_path} in body should have at least {min} items");
        invalid(errors, path, &Value::from(items.len()), detail);
    }
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
        && items.len() as u64 > max
    {
        too_many(errors, path, items.len(), max);
    }
    if let Some(s) = items_schema(schema) {
        for (i, item) in items.iter().enumerate() {
            validate(item, s, &index_path(path, i), false, errors);
        }
    }
}

fn validate_object(
    map: &Map<String, Value>,
    schema: &Value,
    path: &str,
    body_path: &str,
    root: bool,
    errors: &mut Vec<FieldError>,
) {
    if let Some(min) = schema.get("minProperties").and_then(Value::as_u64)
        && (map.len() as u64) < min
    {
        let detail = format!("{body_path} in body should have at least {min} properties");
        invalid(errors, path, &Value::from(map.len()), detail);
    }
    if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64)
        && map.len() as u64 > max
    {
        too_many(errors, path, map.len(), max);
    }
    if let Some(Value::Array(required)) = schema.get("required") {
        for name in required.iter().filter_map(Value::as_str) {
            if !map.contains_key(name) {
                push(
                    errors,
                    &child_path(path, name),
                    "FieldValueRequired",
                    "Required value".to_string(),
                );
            }
        }
    }
    let keeps_meta = root || is_embedded(schema);
    if !root && is_embedded(schema) {
        validate_embedded_type_meta(map, path, errors);
    }
    for (key, child) in map {
        if keeps_meta && key == "metadata" {
            validate_metadata(child, schema, path, errors);
            continue;
        }
        if let Some(s) = field_schema(schema, key) {
            validate(child, s, &child_path(path, key), false, errors);
        }
    }
}

/// An `x-kubernetes-embedded-resource` object needs its own `apiVersion` and `kind`.
fn validate_embedded_type_meta(map: &Map<String, Value>, path: &str, errors: &mut Vec<FieldError>) {
    for key in ["apiVersion", "kind"] {
        let field = child_path(path, key);
        match map.get(key) {
            None => push(
                errors,
                &field,
                "FieldValueRequired",
                "Required value: must not be empty".to_string(),
            ),
            Some(Value::String(s)) if s.is_empty() => invalid(
                errors,
                &field,
                &Value::from(""),
                "must not be empty".to_string(),
            ),
            Some(Value::String(_)) => {}
            Some(other) => invalid(errors, &field, other, "must be a string".to_string()),
        }
    }
}

/// Only `metadata.name` and `metadata.generateName` constraints are allowed in a CRD schema.
fn validate_metadata(meta: &Value, schema: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let Some(meta_schema) = property_schema(schema, "metadata") else {
        return;
    };
    let meta_path = child_path(path, "metadata");
    for key in ["name", "generateName"] {
        if let (Some(v), Some(s)) = (meta.get(key), property_schema(meta_schema, key)) {
            validate(v, s, &child_path(&meta_path, key), false, errors);
        }
    }
}

fn validate_enum(value: &Value, schema: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let Some(Value::Array(allowed)) = schema.get("enum") else {
        return;
    };
    if allowed.iter().any(|a| json_equal(a, value)) {
        return;
    }
    let supported: Vec<String> = allowed
        .iter()
        .map(|a| match a {
            Value::String(s) => go_quote(s),
            other => go_quote(&json_text(other)),
        })
        .collect();
    push(
        errors,
        path,
        "FieldValueNotSupported",
        format!(
            "Unsupported value: {}: supported values: {}",
            bad_value_text(value),
            supported.join(", ")
        ),
    );
}

/// JSON equality where 1 and 1.0 are equal, as after Go's JSON decoding.
pub(crate) fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// A compiled regex, cached: schemas are checked on every write with the same few patterns.
/// None for a pattern the regex crate cannot compile.
pub(crate) fn cached_regex(pattern: &str) -> Option<regex::Regex> {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};
    static CACHE: LazyLock<Mutex<HashMap<String, Option<regex::Regex>>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    // A poisoned lock only means another thread panicked mid-insert; the map is still usable.
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(hit) = cache.get(pattern) {
        return hit.clone();
    }
    if cache.len() >= 4096 {
        cache.clear();
    }
    let compiled = regex::Regex::new(pattern).ok();
    cache.insert(pattern.to_string(), compiled.clone());
    compiled
}

fn format_ok(format: &str, s: &str) -> bool {
    use std::sync::LazyLock;
    static UUID: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
        regex::Regex::new(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
            .ok()
    });
    static BASE64: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
        regex::Regex::new(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$").ok()
    });
    static HOSTNAME: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
        regex::Regex::new(
            r"^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$",
        )
        .ok()
    });
    static EMAIL: LazyLock<Option<regex::Regex>> =
        LazyLock::new(|| regex::Regex::new(r"^[^@\s]+@[^@\s]+$").ok());
    static MAC: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
        regex::Regex::new(
            r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$|^([0-9A-Fa-f]{4}\.){2}[0-9A-Fa-f]{4}$",
        )
        .ok()
    });
    let matches = |re: &LazyLock<Option<regex::Regex>>| re.as_ref().is_none_or(|r| r.is_match(s));
    match format {
        "date" => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
        "date-time" | "datetime" => date_time_ok(s),
        "uuid" => matches(&UUID),
        "byte" => matches(&BASE64),
        "hostname" => s.len() <= 255 && matches(&HOSTNAME),
        "email" => matches(&EMAIL),
        "ipv4" => s.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => s.parse::<std::net::Ipv6Addr>().is_ok(),
        "cidr" => cidr_ok(s),
        "mac" => matches(&MAC),
        _ => true,
    }
}

/// The layouts go-openapi's `strfmt` accepts for `date-time`: RFC 3339 (with or without a colon
/// in the offset, any fraction), ISO 8601 local time, reduced precision and the sortable form.
fn date_time_ok(s: &str) -> bool {
    if chrono::DateTime::parse_from_rfc3339(s).is_ok()
        || chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z").is_ok()
        || chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M%#z").is_ok()
    {
        return true;
    }
    let naive = s.strip_suffix('Z').unwrap_or(s);
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
    ]
    .iter()
    .any(|layout| chrono::NaiveDateTime::parse_from_str(naive, layout).is_ok())
}

fn cidr_ok(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    let Ok(bits) = bits.parse::<u8>() else {
        return false;
    };
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => bits <= 32,
        Ok(std::net::IpAddr::V6(_)) => bits <= 128,
        Err(_) => false,
    }
}

// ---------------------------------------------------------------------------------------------
// x-kubernetes-list-type

/// The key values of a list-map item, as a JSON object in the order of `x-kubernetes-list-map-keys`.
pub(crate) fn list_map_key(item: &Value, keys: &[&str]) -> Value {
    let mut key = Map::new();
    for k in keys {
        if let Some(v) = item.get(*k) {
            key.insert((*k).to_string(), v.clone());
        }
    }
    Value::Object(key)
}

pub(crate) fn list_map_keys(schema: &Value) -> Option<Vec<&str>> {
    if schema.get("x-kubernetes-list-type").and_then(Value::as_str) != Some("map") {
        return None;
    }
    let keys: Vec<&str> = schema
        .get("x-kubernetes-list-map-keys")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    Some(keys)
}

fn validate_list_types(value: &Value, schema: &Value, path: &str, errors: &mut Vec<FieldError>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if let Some(s) = field_schema(schema, key) {
                    validate_list_types(child, s, &child_path(path, key), errors);
                }
            }
        }
        Value::Array(items) => {
            let list_type = schema.get("x-kubernetes-list-type").and_then(Value::as_str);
            let not_object = items.iter().position(|i| !i.is_object() && !i.is_null());
            if let (Some("map"), Some(i)) = (list_type, not_object) {
                invalid(
                    errors,
                    &index_path(path, i),
                    &items[i],
                    "must be an object for an array of list-type map".to_string(),
                );
                return;
            }
            let mut seen: Vec<Value> = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let identity = match list_type {
                    Some("set") => Some(item.clone()),
                    // A null item has no key values, like an item without its key fields.
                    Some("map") => list_map_keys(schema).map(|keys| list_map_key(item, &keys)),
                    _ => None,
                };
                if let Some(identity) = identity {
                    if seen.iter().any(|s| json_equal(s, &identity)) {
                        push(
                            errors,
                            &index_path(path, i),
                            "FieldValueDuplicate",
                            format!("Duplicate value: {}", bad_value_text(&identity)),
                        );
                    } else {
                        seen.push(identity);
                    }
                }
            }
            if let Some(s) = items_schema(schema) {
                for (i, item) in items.iter().enumerate() {
                    validate_list_types(item, s, &index_path(path, i), errors);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
