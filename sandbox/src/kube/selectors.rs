//! Label and field selectors of list and watch requests, parsed and matched as the real API
//! server does (`=`, `==`, `!=`, `in`, `notin`, existence, `!key`, `>`/`<` for labels; a few
//! known fields for field selectors).

use serde_json::Value;

/// A selector that could not be parsed (answered with 400).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(pub String);

#[derive(Debug, Clone, PartialEq)]
enum LabelOp {
    Exists,
    NotExists,
    Equals(String),
    NotEquals(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    GreaterThan(i64),
    LessThan(i64),
}

/// A parsed label selector: all requirements must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector {
    requirements: Vec<(String, LabelOp)>,
}

/// Splits at commas that are not inside parentheses.
fn split_requirements(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '(' => {
                depth += 1;
                current.push(c);
            }
            ')' => {
                depth = depth.saturating_sub(1);
                current.push(c);
            }
            ',' if depth == 0 => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 317
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn parse_set(rest: &str, whole: &str) -> Result<Vec<String>, SelectorError> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| {
            SelectorError(format!(
                "unable to parse requirement: found '{whole}', expected: '('"
            ))
        })?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

impl LabelSelector {
    pub fn parse(text: &str) -> Result<LabelSelector, SelectorError> {
        let mut requirements = Vec::new();
        for part in split_requirements(text) {
            let invalid = || {
                SelectorError(format!(
                    "unable to parse requirement: invalid label key \"{part}\""
                ))
            };
            let requirement = if let Some(key) = part.strip_prefix('!') {
                (key.trim().to_string(), LabelOp::NotExists)
            } else if let Some((key, value)) = part.split_once("!=") {
                (
                    key.trim().to_string(),
                    LabelOp::NotEquals(value.trim().to_string()),
                )
            } else if let Some((key, value)) = part.split_once("==") {
                (
                    key.trim().to_string(),
                    LabelOp::Equals(value.trim().to_string()),
                )
            } else if let Some((key, value)) = part.split_once('=') {
                (
                    key.trim().to_string(),
                    LabelOp::Equals(value.trim().to_string()),
                )
            } else if let Some((key, value)) = part.split_once('>') {
                let n = value.trim().parse().map_err(|_| invalid())?;
                (key.trim().to_string(), LabelOp::GreaterThan(n))
            } else if let Some((key, value)) = part.split_once('<') {
                let n = value.trim().parse().map_err(|_| invalid())?;
                (key.trim().to_string(), LabelOp::LessThan(n))
            } else if let Some((key, rest)) = part.split_once(" notin ") {
                (
                    key.trim().to_string(),
                    LabelOp::NotIn(parse_set(rest, &part)?),
                )
            } else if let Some((key, rest)) = part.split_once(" in ") {
                (key.trim().to_string(), LabelOp::In(parse_set(rest, &part)?))
            } else {
                (part.trim().to_string(), LabelOp::Exists)
            };
            if !valid_key(&requirement.0) {
                return Err(invalid());
            }
            requirements.push(requirement);
        }
        Ok(LabelSelector { requirements })
    }

    /// Whether an object's labels satisfy every requirement.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = &object["metadata"]["labels"];
        self.requirements.iter().all(|(key, op)| {
            let value = labels.get(key).and_then(Value::as_str);
            match op {
                LabelOp::Exists => value.is_some(),
                LabelOp::NotExists => value.is_none(),
                LabelOp::Equals(v) => value == Some(v.as_str()),
                LabelOp::NotEquals(v) => value != Some(v.as_str()),
                LabelOp::In(set) => value.is_some_and(|v| set.iter().any(|s| s == v)),
                LabelOp::NotIn(set) => value.is_none_or(|v| !set.iter().any(|s| s == v)),
                LabelOp::GreaterThan(n) => value
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v > *n),
                LabelOp::LessThan(n) => value
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v < *n),
            }
        })
    }
}

/// A parsed field selector: `path=value` / `path!=value` terms on supported fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector {
    terms: Vec<(String, bool, String)>,
}

/// Fields the real server supports in field selectors, per kind, beyond metadata.name and
/// metadata.namespace.
fn extra_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "Event" => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        "Secret" => &["type"],
        "Namespace" => &["status.phase"],
        _ => &[],
    }
}

impl FieldSelector {
    pub fn parse(text: &str, kind: &str) -> Result<FieldSelector, SelectorError> {
        let mut terms = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, negated, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, false, v)
            } else {
                return Err(SelectorError(format!(
                    "invalid selector: '{text}'; can't understand '{part}'"
                )));
            };
            // events.k8s.io names of core/v1 Event fields (Events are stored in the core form).
            let field = match (kind, field.trim()) {
                ("Event", f) if f.starts_with("regarding.") => {
                    f.replacen("regarding.", "involvedObject.", 1)
                }
                ("Event", "reportingController") => "reportingComponent".to_string(),
                (_, f) => f.to_string(),
            };
            let field = field.as_str();
            if field != "metadata.name"
                && field != "metadata.namespace"
                && !extra_fields(kind).contains(&field)
            {
                return Err(SelectorError(format!("field label not supported: {field}")));
            }
            terms.push((field.to_string(), negated, value.trim().to_string()));
        }
        Ok(FieldSelector { terms })
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.terms.iter().all(|(field, negated, wanted)| {
            let mut node = object;
            for segment in field.split('.') {
                node = &node[segment];
            }
            let actual = match node {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                Value::Object(map) if field == "source" => map
                    .get("component")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                other => other.to_string(),
            };
            (actual == *wanted) != *negated
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "a", "namespace": "ns", "labels": labels}})
    }

    #[test]
    fn label_selectors_support_every_operator() {
        let o = obj(json!({"app": "web", "tier": "front", "n": "5"}));
        for (selector, expected) in [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app in (web, db)", true),
            ("app notin (web,db)", false),
            ("tier", true),
            ("!tier", false),
            ("!missing", true),
            ("missing notin (x)", true),
            ("app=web,tier in (back)", false),
            ("n>4", true),
            ("n<4", false),
        ] {
            let parsed = LabelSelector::parse(selector).expect("parses");
            assert_eq!(parsed.matches(&o), expected, "{selector}");
        }
    }

    #[test]
    fn field_selectors_accept_only_supported_fields() {
        let o = obj(json!({}));
        let s = FieldSelector::parse("metadata.name=a,metadata.namespace!=other", "ConfigMap")
            .expect("parses");
        assert!(s.matches(&o));
        assert!(FieldSelector::parse("spec.foo=1", "ConfigMap").is_err());
    }
}
