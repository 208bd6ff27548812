//! Label and field selectors of list and watch requests, parsed and matched as the real API
//! server does (`=`, `==`, `!=`, `in`, `notin`, existence, `!key`, `>`/`<` for labels; a few
//! known fields for field selectors).

use serde_json::Value;

use super::validation;

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

/// A token of the label selector language (`k8s.io/apimachinery/pkg/labels` lexer).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Token {
    Error,
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn keyword(text: &str) -> Option<Token> {
    Some(match text {
        ")" => Token::ClosedPar,
        "," => Token::Comma,
        "!" => Token::DoesNotExist,
        "==" => Token::DoubleEquals,
        "=" => Token::Equals,
        ">" => Token::GreaterThan,
        "in" => Token::In,
        "<" => Token::LessThan,
        "!=" => Token::NotEquals,
        "notin" => Token::NotIn,
        "(" => Token::OpenPar,
        _ => return None,
    })
}

fn is_whitespace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(c: u8) -> bool {
    matches!(c, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// Splits a selector into tokens as the real server's lexer does, ending with EndOfString.
fn lex(text: &str) -> Vec<(Token, String)> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    let mut items = Vec::new();
    loop {
        while pos < bytes.len() && is_whitespace(bytes[pos]) {
            pos += 1;
        }
        if pos >= bytes.len() {
            items.push((Token::EndOfString, String::new()));
            return items;
        }
        let start = pos;
        if is_special(bytes[pos]) {
            // The longest run of special characters that is still an operator.
            let mut last: Option<(Token, usize)> = None;
            while pos < bytes.len() && is_special(bytes[pos]) {
                pos += 1;
                match keyword(&text[start..pos]) {
                    Some(token) => last = Some((token, pos)),
                    None if last.is_some() => {
                        pos -= 1;
                        break;
                    }
                    None => {}
                }
            }
            match last {
                Some((token, end)) => {
                    pos = end;
                    items.push((token, text[start..end].to_string()));
                }
                None => items.push((
                    Token::Error,
                    format!("error expected: keyword found '{}'", &text[start..pos]),
                )),
            }
        } else {
            while pos < bytes.len() && !is_special(bytes[pos]) && !is_whitespace(bytes[pos]) {
                pos += 1;
            }
            let word = &text[start..pos];
            let token = match keyword(word) {
                Some(token @ (Token::In | Token::NotIn)) => token,
                _ => Token::Identifier,
            };
            items.push((token, word.to_string()));
        }
    }
}

/// Where a token is read: values turn the keywords `in` and `notin` into identifiers.
#[derive(Clone, Copy, PartialEq)]
enum Context {
    KeyAndOperator,
    Values,
}

/// The real server's recursive-descent parser over the tokens of [`lex`].
struct Parser {
    items: Vec<(Token, String)>,
    position: usize,
}

impl Parser {
    fn lookahead(&self, context: Context) -> (Token, String) {
        let (token, literal) = self.items[self.position.min(self.items.len() - 1)].clone();
        match token {
            Token::In | Token::NotIn if context == Context::Values => (Token::Identifier, literal),
            _ => (token, literal),
        }
    }

    fn consume(&mut self, context: Context) -> (Token, String) {
        let item = self.lookahead(context);
        self.position += 1;
        item
    }

    fn parse(&mut self) -> Result<Vec<(String, LabelOp)>, String> {
        let mut requirements = Vec::new();
        loop {
            let (token, literal) = self.lookahead(Context::Values);
            match token {
                Token::Identifier | Token::DoesNotExist => {
                    let requirement = self
                        .requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    requirements.push(requirement);
                    let (token, literal) = self.consume(Context::Values);
                    match token {
                        Token::EndOfString => return Ok(requirements),
                        Token::Comma => {
                            let (next, literal) = self.lookahead(Context::Values);
                            if next != Token::Identifier && next != Token::DoesNotExist {
                                return Err(format!(
                                    "found '{literal}', expected: identifier after ','"
                                ));
                            }
                        }
                        _ => {
                            return Err(format!(
                                "found '{literal}', expected: ',' or 'end of string'"
                            ));
                        }
                    }
                }
                Token::EndOfString => return Ok(requirements),
                _ => {
                    return Err(format!(
                        "found '{literal}', expected: !, identifier, or 'end of string'"
                    ));
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<(String, LabelOp), String> {
        let (mut token, mut key) = self.consume(Context::Values);
        let negated = token == Token::DoesNotExist;
        if negated {
            (token, key) = self.consume(Context::Values);
        }
        if token != Token::Identifier {
            return Err(format!("found '{key}', expected: identifier"));
        }
        let key_errors = validation::label_key_errors(&key);
        if !key_errors.is_empty() {
            // The parser has no field path: it prints as `<nil>`.
            return Err(format!(
                "<nil>: {}: {}",
                validation::invalid_value(&Value::String(key)),
                key_errors.join("; ")
            ));
        }
        let (next, _) = self.lookahead(Context::Values);
        if negated {
            return Ok((key, LabelOp::NotExists));
        }
        if matches!(next, Token::EndOfString | Token::Comma) {
            return Ok((key, LabelOp::Exists));
        }
        let (operator, literal) = self.consume(Context::KeyAndOperator);
        let values = match operator {
            Token::In | Token::NotIn => self.values()?,
            Token::Equals
            | Token::DoubleEquals
            | Token::NotEquals
            | Token::GreaterThan
            | Token::LessThan => self.exact_value()?,
            _ => {
                return Err(format!(
                    "found '{literal}', expected: in, notin, =, ==, !=, gt, lt"
                ));
            }
        };
        let mut errors = Vec::new();
        if matches!(operator, Token::GreaterThan | Token::LessThan) {
            for (i, value) in values.iter().enumerate() {
                if value.parse::<i64>().is_err() {
                    errors.push(format!(
                        "values[{i}]: {}: for 'Gt', 'Lt' operators, the value must be an integer",
                        validation::invalid_value(&Value::String(value.clone()))
                    ));
                }
            }
        }
        for (i, value) in values.iter().enumerate() {
            let value_errors = validation::label_value_errors(value);
            if !value_errors.is_empty() {
                errors.push(format!(
                    "values[{i}][{key}]: {}: {}",
                    validation::invalid_value(&Value::String(value.clone())),
                    value_errors.join("; ")
                ));
            }
        }
        match errors.len() {
            0 => {}
            1 => return Err(errors.remove(0)),
            _ => return Err(format!("[{}]", errors.join(", "))),
        }
        let first = values.first().cloned().unwrap_or_default();
        let op = match operator {
            Token::In => LabelOp::In(values),
            Token::NotIn => LabelOp::NotIn(values),
            Token::NotEquals => LabelOp::NotEquals(first),
            Token::GreaterThan => LabelOp::GreaterThan(first.parse().unwrap_or_default()),
            Token::LessThan => LabelOp::LessThan(first.parse().unwrap_or_default()),
            _ => LabelOp::Equals(first),
        };
        Ok((key, op))
    }

    /// `( v1, v2, ... )`, as a sorted set (an empty entry where commas leave a gap).
    fn values(&mut self) -> Result<Vec<String>, String> {
        let (token, literal) = self.consume(Context::Values);
        if token != Token::OpenPar {
            return Err(format!("found '{literal}' expected: '('"));
        }
        let (token, literal) = self.lookahead(Context::Values);
        let mut set = std::collections::BTreeSet::new();
        match token {
            Token::Identifier | Token::Comma => {
                loop {
                    let (token, literal) = self.consume(Context::Values);
                    match token {
                        Token::Identifier => {
                            set.insert(literal);
                            let (next, literal) = self.lookahead(Context::Values);
                            match next {
                                Token::Comma => continue,
                                Token::ClosedPar => break,
                                _ => {
                                    return Err(format!("found '{literal}', expected: ',' or ')'"));
                                }
                            }
                        }
                        Token::Comma => {
                            if set.is_empty() {
                                set.insert(String::new());
                            }
                            let (next, _) = self.lookahead(Context::Values);
                            if next == Token::ClosedPar {
                                set.insert(String::new());
                                break;
                            }
                            if next == Token::Comma {
                                set.insert(String::new());
                            }
                        }
                        _ => {
                            return Err(format!("found '{literal}', expected: ',', or identifier"));
                        }
                    }
                }
                let (token, _) = self.consume(Context::Values);
                if token != Token::ClosedPar {
                    return Err(format!("found '{literal}', expected: ')'"));
                }
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                set.insert(String::new());
            }
            _ => {
                return Err(format!(
                    "found '{literal}', expected: ',', ')' or identifier"
                ));
            }
        }
        Ok(set.into_iter().collect())
    }

    /// The single value after `=`, `==`, `!=`, `>` or `<` (empty when none follows).
    fn exact_value(&mut self) -> Result<Vec<String>, String> {
        let (token, _) = self.lookahead(Context::Values);
        if matches!(token, Token::EndOfString | Token::Comma) {
            return Ok(vec![String::new()]);
        }
        let (token, literal) = self.consume(Context::Values);
        if token == Token::Identifier {
            Ok(vec![literal])
        } else {
            Err(format!("found '{literal}', expected: identifier"))
        }
    }
}

impl LabelSelector {
    /// Parses a selector with the real server's grammar and messages.
    pub fn parse(text: &str) -> Result<LabelSelector, SelectorError> {
        let mut parser = Parser {
            items: lex(text),
            position: 0,
        };
        let requirements = parser.parse().map_err(SelectorError)?;
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
    /// Parses `text` for a list of `kind` (`custom` for custom resources).
    pub fn parse(text: &str, kind: &str, custom: bool) -> Result<FieldSelector, SelectorError> {
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
                // Kinds with field selectors of their own, and custom resources, keep the older
                // wording; the others answer with the metadata fields they support.
                return Err(SelectorError(
                    if custom || !extra_fields(kind).is_empty() || kind == "Service" {
                        format!("field label not supported: {field}")
                    } else {
                        format!(
                            "\"{field}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
                        )
                    },
                ));
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

    /// Each message as kube-apiserver 1.37 answers the same selector.
    #[test]
    fn malformed_label_selectors_are_refused_with_the_real_servers_messages() {
        let key_rule = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
        let value_rule = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
        for (selector, message) in [
            ("a===b", "unable to parse requirement: found '=', expected: identifier".to_string()),
            ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt".into()),
            ("Key!", "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt".into()),
            ("a=b c", "found 'c', expected: ',' or 'end of string'".into()),
            ("a in b", "unable to parse requirement: found 'b' expected: '('".into()),
            ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'".into()),
            ("a in (b c)", "unable to parse requirement: found 'c', expected: ',' or ')'".into()),
            ("=b", "found '=', expected: !, identifier, or 'end of string'".into()),
            ("!a=b", "found '=', expected: ',' or 'end of string'".into()),
            ("a,,b", "found ',', expected: identifier after ','".into()),
            ("a=b,", "found '', expected: identifier after ','".into()),
            ("a=(b)", "unable to parse requirement: found '(', expected: identifier".into()),
            ("a>x", "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer".into()),
            ("a=-b", format!("unable to parse requirement: values[0][a]: Invalid value: \"-b\": {value_rule}")),
            ("-a=b", format!("unable to parse requirement: <nil>: Invalid value: \"-a\": {key_rule}")),
        ] {
            assert_eq!(
                LabelSelector::parse(selector),
                Err(SelectorError(message)),
                "{selector}"
            );
        }
        for selector in [
            "a in ()",
            "a notin ()",
            "a=",
            "a.b/c=d",
            " a = b , c in (d,e) ",
        ] {
            assert!(LabelSelector::parse(selector).is_ok(), "{selector}");
        }
    }

    #[test]
    fn field_selectors_accept_only_supported_fields() {
        let o = obj(json!({}));
        let s = FieldSelector::parse(
            "metadata.name=a,metadata.namespace!=other",
            "ConfigMap",
            false,
        )
        .expect("parses");
        assert!(s.matches(&o));
        assert_eq!(
            FieldSelector::parse("spec.foo=1", "ConfigMap", false),
            Err(SelectorError(
                r#""spec.foo" is not a known field selector: only "metadata.name", "metadata.namespace""#.into()
            ))
        );
        assert_eq!(
            FieldSelector::parse("spec.foo=1", "Widget", true),
            Err(SelectorError("field label not supported: spec.foo".into()))
        );
    }
}
