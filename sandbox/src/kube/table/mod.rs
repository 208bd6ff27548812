//! Server-side printing: `meta.k8s.io/v1` Table responses for `kubectl get`
//! (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`). Pure: no I/O.
//!
//! Columns, as kube-apiserver 1.33 chooses them:
//! - custom resources: `Name` (format `name`) followed by the CRD version's
//!   `additionalPrinterColumns`; a CRD version without any gets the logical default `Age`
//!   (`date`, `.metadata.creationTimestamp`). Cells follow the column type: `string` cells print
//!   the value as Go's `fmt` would, `integer`/`number`/`boolean` keep JSON values of that type,
//!   `date` cells are the age as kubectl shows it (`5m10s`, `3d4h`), missing values are `null`.
//! - built-in kinds served by the sandbox, from the kube-apiserver printers: Secret (`Name`,
//!   `Type`, `Data`, `Age`), ConfigMap (`Name`, `Data`, `Age`), Namespace (`Name`, `Status`,
//!   `Age`), ServiceAccount (`Name`, `Secrets`, `Age`), Lease (`Name`, `Holder`, `Age`), Event
//!   (core/v1 and events.k8s.io/v1: `Last Seen`, `Type`, `Reason`, `Object`, `Message` and the
//!   priority-1 wide columns);
//! - anything else (CustomResourceDefinition included): the default table convertor's `Name` and
//!   `Created At` (RFC 3339).
//!
//! Rows carry the object per `includeObject`: `Metadata` (default) a `PartialObjectMetadata`,
//! `Object` the whole object, `None` `null`.

mod builtin;
pub mod jsonpath;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

pub(crate) const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

pub(crate) const CREATION_TIMESTAMP_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// One column definition (`meta.k8s.io/v1` TableColumnDefinition).
pub(crate) fn column(
    name: &str,
    kind: &str,
    format: &str,
    description: &str,
    priority: i64,
) -> Value {
    json!({"name": name, "type": kind, "format": format, "description": description, "priority": priority})
}

/// Builds a Table for `objects`. `printer_columns` is a CRD version's `additionalPrinterColumns`
/// (None for built-in kinds; None or an empty array for a custom resource whose CRD version
/// declares none: objects of a non-built-in API group then get `Name` and `Age` like on a real
/// server). `include_object` is
/// the request's `includeObject` (`None`, `Metadata` (default) or `Object`). `list_meta` is the
/// list's `metadata` (resourceVersion, continue).
pub fn to_table(
    objects: &[Value],
    printer_columns: Option<&Value>,
    include_object: &str,
    list_meta: Value,
) -> Value {
    to_table_at(
        objects,
        printer_columns,
        include_object,
        list_meta,
        Utc::now(),
    )
}

/// [`to_table`] with the time ages are computed against.
pub fn to_table_at(
    objects: &[Value],
    printer_columns: Option<&Value>,
    include_object: &str,
    list_meta: Value,
    now: DateTime<Utc>,
) -> Value {
    let (columns, rows): (Vec<Value>, Vec<Vec<Value>>) = match printer_columns {
        Some(cols) => custom_resource_table(objects, cols, now),
        None => {
            let kind = objects
                .first()
                .and_then(|o| o.get("kind"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let api_version = objects
                .first()
                .and_then(|o| o.get("apiVersion"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            if is_custom_group(api_version) {
                custom_resource_table(objects, &Value::Array(Vec::new()), now)
            } else {
                builtin::table(kind, api_version, objects, now)
                    .unwrap_or_else(|| default_table(objects))
            }
        }
    };
    let rows: Vec<Value> = objects
        .iter()
        .zip(rows)
        .map(|(obj, cells)| json!({"cells": cells, "object": row_object(obj, include_object)}))
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

/// Whether an `apiVersion` belongs to a custom resource rather than a built-in API group (the
/// core group, `*.k8s.io` groups and the legacy dot-less groups such as `apps`).
fn is_custom_group(api_version: &str) -> bool {
    match api_version.split_once('/') {
        Some((group, _)) => group.contains('.') && !group.ends_with(".k8s.io"),
        None => false,
    }
}

fn row_object(obj: &Value, include_object: &str) -> Value {
    match include_object {
        "None" => Value::Null,
        "Object" => obj.clone(),
        _ => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata").cloned().unwrap_or_else(|| Value::Object(Map::new())),
        }),
    }
}

pub(crate) fn name_of(obj: &Value) -> Value {
    Value::from(
        obj.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    )
}

/// The default table convertor of the generic registry: `Name` and `Created At`.
fn default_table(objects: &[Value]) -> (Vec<Value>, Vec<Vec<Value>>) {
    let columns = vec![
        column("Name", "string", "name", NAME_DESCRIPTION, 0),
        column("Created At", "date", "", CREATION_TIMESTAMP_DESCRIPTION, 0),
    ];
    let rows = objects
        .iter()
        .map(|o| {
            let created = o
                .pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
            // A zero time prints as Go's zero time, as the real convertor does.
            let text = if created == DateTime::<Utc>::UNIX_EPOCH {
                "0001-01-01T00:00:00Z".to_string()
            } else {
                created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            };
            vec![name_of(o), Value::from(text)]
        })
        .collect();
    (columns, rows)
}

fn custom_resource_table(
    objects: &[Value],
    printer_columns: &Value,
    now: DateTime<Utc>,
) -> (Vec<Value>, Vec<Vec<Value>>) {
    let mut declared: Vec<Value> = printer_columns.as_array().cloned().unwrap_or_default();
    if declared.is_empty() {
        declared.push(json!({
            "name": "Age", "type": "date", "description": CREATION_TIMESTAMP_DESCRIPTION,
            "jsonPath": ".metadata.creationTimestamp"
        }));
    }
    let text = |c: &Value, k: &str| {
        c.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut columns = vec![column("Name", "string", "name", NAME_DESCRIPTION, 0)];
    for c in &declared {
        let path = text(c, "jsonPath");
        let description = match text(c, "description") {
            d if d.is_empty() => {
                format!("Custom resource definition column (in JSONPath format): {path}")
            }
            d => d,
        };
        columns.push(column(
            &text(c, "name"),
            &text(c, "type"),
            &text(c, "format"),
            &description,
            c.get("priority").and_then(Value::as_i64).unwrap_or(0),
        ));
    }
    let compiled: Vec<(jsonpath::JsonPath, String)> = declared
        .iter()
        .map(|c| {
            (
                jsonpath::JsonPath::parse(&text(c, "jsonPath")),
                text(c, "type"),
            )
        })
        .collect();
    let rows = objects
        .iter()
        .map(|obj| {
            let mut cells = vec![name_of(obj)];
            for (path, kind) in &compiled {
                cells.push(match path.find(obj).first() {
                    Some(v) => cell_for(kind, v, now),
                    None => Value::Null,
                });
            }
            cells
        })
        .collect();
    (columns, rows)
}

/// A cell for a JSON value under a column type, as the CRD table convertor makes it.
fn cell_for(column_type: &str, value: &Value, now: DateTime<Utc>) -> Value {
    match (column_type, value) {
        (_, Value::Null) => Value::Null,
        ("string", v) => Value::from(go_text(v)),
        ("integer", Value::Number(n)) => match n.as_i64() {
            Some(i) => Value::from(i),
            None => Value::from(n.as_f64().unwrap_or(0.0).trunc() as i64),
        },
        ("number", Value::Number(n)) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        ("boolean", Value::Bool(b)) => Value::Bool(*b),
        ("date", Value::String(s)) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) => Value::from(human_duration(
                now.signed_duration_since(t.with_timezone(&Utc)),
            )),
            Err(_) => Value::from("<invalid>"),
        },
        _ => Value::Null,
    }
}

/// How Go's `fmt.Fprint` prints a decoded JSON value (what the jsonpath printer does).
fn go_text(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => crate::kube::schema::go_float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_text).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", go_text(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// k8s.io/apimachinery `duration.HumanDuration`: the age format of `kubectl get`.
pub fn human_duration(d: chrono::TimeDelta) -> String {
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// The age of an RFC 3339 timestamp, `<unknown>` when absent, as the built-in printers show it.
pub(crate) fn age(timestamp: Option<&str>, now: DateTime<Utc>) -> String {
    match timestamp.and_then(|t| DateTime::parse_from_rfc3339(t).ok()) {
        Some(t) => human_duration(now.signed_duration_since(t.with_timezone(&Utc))),
        None => "<unknown>".to_string(),
    }
}

#[cfg(test)]
mod tests;
