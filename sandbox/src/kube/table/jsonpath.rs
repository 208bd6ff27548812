//! The JSONPath subset of `additionalPrinterColumns` (k8s.io/client-go/util/jsonpath with missing
//! keys allowed): `.field`, `['field']`, `[N]` (negative counts from the end), `[*]`, `.*` and
//! filters `[?(@.a.b == "x")]` with `==`, `!=`, `<`, `<=`, `>`, `>=` against a string or number
//! literal, or `[?(@.a)]` for existence. Anything else yields no result (an empty cell), which is
//! what the real server shows for a path it cannot resolve.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(i64),
    Wildcard,
    Filter {
        path: Vec<Step>,
        op: Option<(String, Value)>,
    },
}

#[derive(Debug, PartialEq)]
struct Unsupported;

/// A parsed path; one outside the subset selects nothing.
#[derive(Debug, Clone)]
pub struct JsonPath(Option<Vec<Step>>);

impl JsonPath {
    pub fn parse(path: &str) -> JsonPath {
        let text = path.trim();
        let text = text
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or(text);
        let text = text.strip_prefix('$').unwrap_or(text);
        JsonPath(parse_steps(text).ok())
    }

    /// Every value the path selects in `root`, in document order.
    pub fn find<'a>(&self, root: &'a Value) -> Vec<&'a Value> {
        match &self.0 {
            Some(steps) => apply(vec![root], steps),
            None => Vec::new(),
        }
    }
}

/// Every value `path` selects in `root`, in document order.
pub fn find<'a>(root: &'a Value, path: &str) -> Vec<&'a Value> {
    JsonPath::parse(path).find(root)
}

fn apply<'a>(mut nodes: Vec<&'a Value>, steps: &[Step]) -> Vec<&'a Value> {
    for step in steps {
        let mut next = Vec::new();
        for node in nodes {
            match (step, node) {
                (Step::Field(f), Value::Object(m)) => next.extend(m.get(f)),
                (Step::Index(i), Value::Array(a)) => {
                    let idx = if *i < 0 { a.len() as i64 + i } else { *i };
                    if let Ok(idx) = usize::try_from(idx) {
                        next.extend(a.get(idx));
                    }
                }
                (Step::Wildcard, Value::Array(a)) => next.extend(a.iter()),
                (Step::Wildcard, Value::Object(m)) => next.extend(m.values()),
                (Step::Filter { path, op }, Value::Array(a)) => {
                    next.extend(
                        a.iter()
                            .filter(|item| filter_matches(item, path, op.as_ref())),
                    );
                }
                _ => {}
            }
        }
        nodes = next;
    }
    nodes
}

fn filter_matches(item: &Value, path: &[Step], op: Option<&(String, Value)>) -> bool {
    let found = apply(vec![item], path);
    let Some((op, literal)) = op else {
        return !found.is_empty();
    };
    found.iter().any(|v| {
        let ord = match (v, literal) {
            (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
            (Value::Number(a), Value::Number(b)) => a
                .as_f64()
                .zip(b.as_f64())
                .and_then(|(x, y)| x.partial_cmp(&y)),
            (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
            _ => None,
        };
        match (op.as_str(), ord) {
            ("==", Some(o)) => o.is_eq(),
            ("!=", Some(o)) => o.is_ne(),
            ("!=", None) => true,
            ("<", Some(o)) => o.is_lt(),
            ("<=", Some(o)) => o.is_le(),
            (">", Some(o)) => o.is_gt(),
            (">=", Some(o)) => o.is_ge(),
            _ => false,
        }
    })
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-' || c == '/'
}

fn parse_steps(text: &str) -> Result<Vec<Step>, Unsupported> {
    let chars: Vec<char> = text.chars().collect();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                i += 1;
                if chars.get(i) == Some(&'.') {
                    return Err(Unsupported);
                }
                if chars.get(i) == Some(&'*') {
                    steps.push(Step::Wildcard);
                    i += 1;
                    continue;
                }
                let start = i;
                let mut name = String::new();
                while i < chars.len() {
                    if chars[i] == '\\' && chars.get(i + 1) == Some(&'.') {
                        // `labels.app\.kubernetes\.io/name`: an escaped dot is part of the key.
                        name.push('.');
                        i += 2;
                    } else if is_ident_char(chars[i]) {
                        name.push(chars[i]);
                        i += 1;
                    } else {
                        break;
                    }
                }
                if start == i {
                    if i == chars.len() {
                        // A lone `.` selects the current node.
                        continue;
                    }
                    return Err(Unsupported);
                }
                steps.push(Step::Field(name));
            }
            '[' => {
                let close = find_bracket_end(&chars, i)?;
                let inner: String = chars[i + 1..close].iter().collect();
                steps.push(parse_bracket(inner.trim())?);
                i = close + 1;
            }
            c if c.is_whitespace() => i += 1,
            _ => return Err(Unsupported),
        }
    }
    Ok(steps)
}

fn find_bracket_end(chars: &[char], open: usize) -> Result<usize, Unsupported> {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    for (j, c) in chars.iter().enumerate().skip(open) {
        match (quote, c) {
            (Some(q), c) if *c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(*c),
            (None, '[') => depth += 1,
            (None, ']') => {
                depth -= 1;
                if depth == 0 {
                    return Ok(j);
                }
            }
            _ => {}
        }
    }
    Err(Unsupported)
}

fn unquote(s: &str) -> Option<String> {
    let s = s.trim();
    for q in ['\'', '"'] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return Some(inner.replace("\\.", "."));
        }
    }
    None
}

fn parse_bracket(inner: &str) -> Result<Step, Unsupported> {
    if inner == "*" {
        return Ok(Step::Wildcard);
    }
    if let Some(name) = unquote(inner) {
        return Ok(Step::Field(name));
    }
    if let Ok(i) = inner.parse::<i64>() {
        return Ok(Step::Index(i));
    }
    let expr = inner
        .strip_prefix("?(")
        .and_then(|r| r.strip_suffix(')'))
        .ok_or(Unsupported)?
        .trim();
    for op in ["==", "!=", "<=", ">=", "<", ">"] {
        if let Some((lhs, rhs)) = expr.split_once(op) {
            let path = filter_path(lhs.trim())?;
            let rhs = rhs.trim();
            let literal = match unquote(rhs) {
                Some(s) => Value::String(s),
                None => match rhs {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => serde_json::from_str::<Value>(rhs)
                        .ok()
                        .filter(Value::is_number)
                        .ok_or(Unsupported)?,
                },
            };
            return Ok(Step::Filter {
                path,
                op: Some((op.to_string(), literal)),
            });
        }
    }
    Ok(Step::Filter {
        path: filter_path(expr)?,
        op: None,
    })
}

fn filter_path(expr: &str) -> Result<Vec<Step>, Unsupported> {
    let rest = expr.strip_prefix('@').ok_or(Unsupported)?;
    parse_steps(rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn printer_column_paths_select_like_kubectl_jsonpath() {
        let obj = json!({
            "metadata": {"name": "n", "labels": {"app.kubernetes.io/name": "z"}},
            "spec": {"x": 3, "list": [{"n": 1}, {"n": 2}]},
            "status": {"conditions": [
                {"type": "Synced", "status": "False"},
                {"type": "Ready", "status": "True", "observedGeneration": 4}
            ]}
        });
        let cases: &[(&str, Vec<Value>)] = &[
            (".spec.x", vec![json!(3)]),
            ("{.spec.x}", vec![json!(3)]),
            (".spec.list[1].n", vec![json!(2)]),
            (".spec.list[-1].n", vec![json!(2)]),
            (".spec.list[*].n", vec![json!(1), json!(2)]),
            (
                ".status.conditions[?(@.type==\"Ready\")].status",
                vec![json!("True")],
            ),
            (
                ".status.conditions[?(@.type=='Synced')].status",
                vec![json!("False")],
            ),
            (
                ".status.conditions[?(@.observedGeneration >= 4)].type",
                vec![json!("Ready")],
            ),
            (
                ".status.conditions[?(@.observedGeneration)].type",
                vec![json!("Ready")],
            ),
            (
                ".metadata.labels['app\\.kubernetes\\.io/name']",
                vec![json!("z")],
            ),
            (
                ".metadata.labels.app\\.kubernetes\\.io/name",
                vec![json!("z")],
            ),
            (".spec.missing", vec![]),
            (".spec..x", vec![]),
        ];
        for (path, want) in cases {
            let got: Vec<Value> = find(&obj, path).into_iter().cloned().collect();
            assert_eq!(&got, want, "path {path}");
        }
    }
}
