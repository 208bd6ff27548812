//! RFC 6902 JSON patch over RFC 6901 JSON pointers. The operations run on a copy that replaces
//! the target only when all succeed. Messages follow evanphx/json-patch (what kube-apiserver uses
//! and returns verbatim with 422), e.g. `testing value /spec/x failed: test failed`.

use serde_json::Value;

use super::PatchError;

fn unprocessable(msg: String) -> PatchError {
    PatchError::Unprocessable(msg)
}

/// Applies `operations` (a JSON array of operation objects) to `target`, all or nothing.
pub fn apply(target: &mut Value, operations: &Value) -> Result<(), PatchError> {
    let Value::Array(ops) = operations else {
        return Err(PatchError::Malformed(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
            go_json_kind(operations)
        )));
    };
    let mut doc = target.clone();
    for op in ops {
        let Value::Object(fields) = op else {
            return Err(PatchError::Malformed(format!(
                "json: cannot unmarshal {} into Go value of type jsonpatch.Operation",
                go_json_kind(op)
            )));
        };
        let kind = fields
            .get("op")
            .and_then(Value::as_str)
            .unwrap_or("unknown");
        let path = || -> Result<Vec<String>, PatchError> {
            let p = fields.get("path").and_then(Value::as_str).ok_or_else(|| {
                unprocessable(format!(
                    "{kind} operation missing path field: missing value"
                ))
            })?;
            parse_pointer(p).ok_or_else(|| unprocessable(format!("invalid JSON pointer: {p:?}")))
        };
        let raw_path = fields.get("path").and_then(Value::as_str).unwrap_or("");
        let value = || {
            fields.get("value").cloned().ok_or_else(|| {
                unprocessable(format!(
                    "{kind} operation missing value field: missing value"
                ))
            })
        };
        let from = || -> Result<(String, Vec<String>), PatchError> {
            let p = fields.get("from").and_then(Value::as_str).ok_or_else(|| {
                unprocessable(format!(
                    "{kind} operation missing from field: missing value"
                ))
            })?;
            let parsed = parse_pointer(p)
                .ok_or_else(|| unprocessable(format!("invalid JSON pointer: {p:?}")))?;
            Ok((p.to_string(), parsed))
        };
        match kind {
            "add" => add(&mut doc, &path()?, value()?, raw_path)?,
            "remove" => {
                remove(&mut doc, &path()?, raw_path)?;
            }
            "replace" => {
                let tokens = path()?;
                let v = value()?;
                if tokens.is_empty() {
                    doc = v;
                    continue;
                }
                if !parent_exists(&doc, &tokens) {
                    return Err(unprocessable(format!(
                        "replace operation does not apply: doc is missing path: {raw_path}: missing value"
                    )));
                }
                let slot = get_mut(&mut doc, &tokens).ok_or_else(|| {
                    unprocessable(format!(
                        "replace operation does not apply: doc is missing key: {raw_path}: missing value"
                    ))
                })?;
                *slot = v;
            }
            "move" => {
                let (raw_from, from_tokens) = from()?;
                let to = path()?;
                let moved = take_source(&mut doc, &from_tokens, &raw_from, "move", true)?;
                if !parent_exists(&doc, &to) {
                    return Err(unprocessable(format!(
                        "move operation does not apply: doc is missing destination path: {raw_path}: missing value"
                    )));
                }
                add(&mut doc, &to, moved, raw_path)?;
            }
            "copy" => {
                let (raw_from, from_tokens) = from()?;
                let to = path()?;
                let copied = take_source(&mut doc, &from_tokens, &raw_from, "copy", false)?;
                if !parent_exists(&doc, &to) {
                    return Err(unprocessable(format!(
                        "copy operation does not apply: doc is missing destination path: {raw_path}: missing value"
                    )));
                }
                add(&mut doc, &to, copied, raw_path)?;
            }
            "test" => {
                let tokens = path()?;
                if !tokens.is_empty() && !parent_exists(&doc, &tokens) {
                    return Err(unprocessable(format!(
                        "test operation does not apply: is missing path: {raw_path}: missing value"
                    )));
                }
                let expected = fields.get("value").cloned().unwrap_or(Value::Null);
                let ok = match get(&doc, &tokens) {
                    Some(actual) => super::super::schema::json_equal(actual, &expected),
                    None => expected.is_null(),
                };
                if !ok {
                    return Err(unprocessable(format!(
                        "testing value {raw_path} failed: test failed"
                    )));
                }
            }
            other => {
                return Err(unprocessable(format!(
                    "Unexpected kind: {other}: unknown object type"
                )));
            }
        }
    }
    *target = doc;
    Ok(())
}

/// Whether the container of the last token exists and is an object or array.
fn parent_exists(doc: &Value, tokens: &[String]) -> bool {
    match tokens.split_last() {
        Some((_, parent)) => get(doc, parent).is_some_and(|p| p.is_object() || p.is_array()),
        None => false,
    }
}

/// The value at `from` for a move (removed) or copy (cloned), with evanphx's errors.
fn take_source(
    doc: &mut Value,
    tokens: &[String],
    raw: &str,
    op: &str,
    take: bool,
) -> Result<Value, PatchError> {
    if !parent_exists(doc, tokens) {
        return Err(unprocessable(format!(
            "{op} operation does not apply: doc is missing from path: {raw}: missing value"
        )));
    }
    let key = tokens.last().map(String::as_str).unwrap_or_default();
    let context = if op == "move" {
        format!("error in move for path: '{key}'")
    } else {
        format!("error in copy for from: '{raw}'")
    };
    let Some(found) = get(doc, tokens).cloned() else {
        let parent_is_array = tokens
            .split_last()
            .and_then(|(_, p)| get(doc, p))
            .is_some_and(Value::is_array);
        let why = if parent_is_array {
            format!("Unable to access invalid index: {key}: invalid index referenced")
        } else {
            format!("unable to get nonexistent key: {key}: missing value")
        };
        return Err(unprocessable(format!("{context}: {why}")));
    };
    if take {
        remove(doc, tokens, raw)?;
    }
    Ok(found)
}

fn go_json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// RFC 6901: `""` is the whole document; otherwise `/`-separated tokens with `~1` → `/` and
/// `~0` → `~` (in that order).
pub fn parse_pointer(p: &str) -> Option<Vec<String>> {
    if p.is_empty() {
        return Some(Vec::new());
    }
    let rest = p.strip_prefix('/')?;
    Some(
        rest.split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect(),
    )
}

/// An array index token: digits without leading zeros.
fn array_index(token: &str) -> Option<usize> {
    if token.is_empty() || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    if !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    token.parse().ok()
}

fn get<'a>(doc: &'a Value, tokens: &[String]) -> Option<&'a Value> {
    tokens.iter().try_fold(doc, |cur, t| match cur {
        Value::Object(m) => m.get(t),
        Value::Array(a) => array_index(t).and_then(|i| a.get(i)),
        _ => None,
    })
}

fn get_mut<'a>(doc: &'a mut Value, tokens: &[String]) -> Option<&'a mut Value> {
    tokens.iter().try_fold(doc, |cur, t| match cur {
        Value::Object(m) => m.get_mut(t),
        Value::Array(a) => array_index(t).and_then(|i| a.get_mut(i)),
        _ => None,
    })
}

fn add(doc: &mut Value, tokens: &[String], value: Value, raw: &str) -> Result<(), PatchError> {
    let Some((last, parent_tokens)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    let missing = || {
        unprocessable(format!(
            "add operation does not apply: doc is missing path: \"{raw}\": missing value"
        ))
    };
    match get_mut(doc, parent_tokens).ok_or_else(missing)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(a) => {
            let idx = if last == "-" {
                a.len()
            } else {
                array_index(last).ok_or_else(|| invalid_index(raw, last, "add"))?
            };
            if idx > a.len() {
                return Err(invalid_index(raw, last, "add"));
            }
            a.insert(idx, value);
            Ok(())
        }
        _ => Err(missing()),
    }
}

fn invalid_index(raw: &str, token: &str, op: &str) -> PatchError {
    unprocessable(format!(
        "error in {op} for path: '{raw}': Unable to access invalid index: {token}: invalid index referenced"
    ))
}

fn remove(doc: &mut Value, tokens: &[String], raw: &str) -> Result<Value, PatchError> {
    let Some((last, parent_tokens)) = tokens.split_last() else {
        return Err(unprocessable(format!(
            "remove operation does not apply: doc is missing path: \"{raw}\": missing value"
        )));
    };
    let missing = || {
        unprocessable(format!(
            "remove operation does not apply: doc is missing path: \"{raw}\": missing value"
        ))
    };
    match get_mut(doc, parent_tokens).ok_or_else(missing)? {
        Value::Object(m) => m.remove(last).ok_or_else(|| {
            unprocessable(format!(
                "error in remove for path: '{raw}': Unable to remove nonexistent key: {last}: missing value"
            ))
        }),
        Value::Array(a) => {
            let idx = array_index(last)
                .filter(|i| *i < a.len())
                .ok_or_else(|| invalid_index(raw, last, "remove"))?;
            Ok(a.remove(idx))
        }
        _ => Err(missing()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(doc: Value, ops: Value) -> Result<Value, PatchError> {
        let mut d = doc;
        apply(&mut d, &ops).map(|_| d)
    }

    #[test]
    fn each_operation_applies_as_rfc_6902_says() {
        let doc = json!({"a": {"b": 1}, "l": [1, 2], "x/y": {"~t": 0}});
        let cases = [
            (
                json!([{"op": "add", "path": "/a/c", "value": 2}]),
                json!({"a": {"b": 1, "c": 2}, "l": [1, 2], "x/y": {"~t": 0}}),
            ),
            (
                json!([{"op": "add", "path": "/l/-", "value": 3}]),
                json!({"a": {"b": 1}, "l": [1, 2, 3], "x/y": {"~t": 0}}),
            ),
            (
                json!([{"op": "add", "path": "/l/0", "value": 0}]),
                json!({"a": {"b": 1}, "l": [0, 1, 2], "x/y": {"~t": 0}}),
            ),
            (
                json!([{"op": "remove", "path": "/l/0"}]),
                json!({"a": {"b": 1}, "l": [2], "x/y": {"~t": 0}}),
            ),
            (
                json!([{"op": "replace", "path": "/x~1y/~0t", "value": 9}]),
                json!({"a": {"b": 1}, "l": [1, 2], "x/y": {"~t": 9}}),
            ),
            (
                json!([{"op": "move", "from": "/a/b", "path": "/z"}]),
                json!({"a": {}, "l": [1, 2], "x/y": {"~t": 0}, "z": 1}),
            ),
            (
                json!([{"op": "copy", "from": "/l", "path": "/a/l"}]),
                json!({"a": {"b": 1, "l": [1, 2]}, "l": [1, 2], "x/y": {"~t": 0}}),
            ),
            (
                json!([{"op": "test", "path": "/a/b", "value": 1}, {"op": "remove", "path": "/a"}]),
                json!({"l": [1, 2], "x/y": {"~t": 0}}),
            ),
            (
                json!([{"op": "replace", "path": "", "value": {"new": true}}]),
                json!({"new": true}),
            ),
        ];
        for (ops, want) in cases {
            assert_eq!(run(doc.clone(), ops.clone()), Ok(want), "{ops}");
        }
    }

    #[test]
    fn failures_are_unprocessable_and_leave_the_document_untouched() {
        let doc = json!({"a": {"b": 1}, "l": [1]});
        let cases = [
            (
                json!([{"op": "remove", "path": "/a/b"}, {"op": "test", "path": "/a/b", "value": 1}]),
                "testing value /a/b failed: test failed",
            ),
            (
                json!([{"op": "test", "path": "/a/b", "value": 2}]),
                "testing value /a/b failed: test failed",
            ),
            (
                json!([{"op": "replace", "path": "/a/x", "value": 2}]),
                "replace operation does not apply: doc is missing key: /a/x: missing value",
            ),
            (
                json!([{"op": "remove", "path": "/a/x"}]),
                "error in remove for path: '/a/x': Unable to remove nonexistent key: x: missing value",
            ),
            (
                json!([{"op": "add", "path": "/q/r", "value": 1}]),
                "add operation does not apply: doc is missing path: \"/q/r\": missing value",
            ),
            (
                json!([{"op": "add", "path": "/l/5", "value": 1}]),
                "error in add for path: '/l/5': Unable to access invalid index: 5: invalid index referenced",
            ),
            (
                json!([{"op": "move", "from": "/x/y", "path": "/b"}]),
                "move operation does not apply: doc is missing from path: /x/y: missing value",
            ),
            (
                json!([{"op": "move", "from": "/nope", "path": "/b"}]),
                "error in move for path: 'nope': unable to get nonexistent key: nope: missing value",
            ),
            (
                json!([{"op": "move", "from": "/a", "path": "/q/r"}]),
                "move operation does not apply: doc is missing destination path: /q/r: missing value",
            ),
            (
                json!([{"op": "copy", "from": "/nope", "path": "/b"}]),
                "error in copy for from: '/nope': unable to get nonexistent key: nope: missing value",
            ),
            (
                json!([{"op": "copy", "from": "/l/3", "path": "/b"}]),
                "error in copy for from: '/l/3': Unable to access invalid index: 3: invalid index referenced",
            ),
            (
                json!([{"op": "copy", "from": "/a", "path": "/q/r"}]),
                "copy operation does not apply: doc is missing destination path: /q/r: missing value",
            ),
            (
                json!([{"op": "replace", "path": "/q/r", "value": 1}]),
                "replace operation does not apply: doc is missing path: /q/r: missing value",
            ),
            (
                json!([{"op": "test", "path": "/q/r", "value": 1}]),
                "test operation does not apply: is missing path: /q/r: missing value",
            ),
            (
                json!([{"op": "frob", "path": "/a"}]),
                "Unexpected kind: frob: unknown object type",
            ),
        ];
        for (ops, msg) in cases {
            let mut d = doc.clone();
            assert_eq!(
                apply(&mut d, &ops),
                Err(PatchError::Unprocessable(msg.to_string())),
                "{ops}"
            );
            assert_eq!(d, doc);
        }
    }

    #[test]
    fn a_patch_that_is_not_an_array_is_malformed() {
        let mut d = json!({});
        assert!(matches!(
            apply(&mut d, &json!({"op": "add"})),
            Err(PatchError::Malformed(_))
        ));
    }
}
