//! `x-kubernetes-validations`: a small CEL interpreter for the rules CRDs commonly use.
//!
//! Supported: literals (int, double, string with `'`/`"` quotes, `true`/`false`/`null`, lists
//! `[..]`, maps `{k: v}`), `self`, `oldSelf`, field selection `a.b`, indexing `a[i]`/`a['k']`,
//! `has(a.b)`, `size(x)`/`x.size()`, `x.startsWith/endsWith/contains/matches(s)`, the Kubernetes
//! strings library's `x.lowerAscii()`/`x.upperAscii()`, `x in list`/`k in
//! map`, the macros `all`, `exists`, `exists_one`; `int()`, `double()`,
//! `string()`, operators `! - * / % + - < <= > >= == != && || ?:`. `&&`/`||` short-circuit and
//! absorb errors as CEL does (`false && error` is `false`).
//!
//! As in kube-apiserver 1.33: a rule is evaluated where its schema node is, with `self` the
//! value there; a rule that mentions `oldSelf` is a transition rule and runs only on update when
//! an old value correlates (through object fields, map entries and `x-kubernetes-list-type: map`
//! keys). A rule that evaluates to false gives `FieldValueInvalid` (or the rule's `reason`) at
//! the node's path (plus `fieldPath`; map entries are `path[key]`) with
//! `Invalid value: "<schema type>": <message>`, the message being `messageExpression`'s result,
//! else `message`, else `failed rule: <rule>`. A runtime error gives
//! `Invalid value: "<type>": <error> evaluating rule: <message or rule>` (`no such overload` has
//! its own wording).
//!
//! Skipped (the rule is not evaluated, no error): anything that does not parse in this subset or
//! calls a function outside it (e.g. `quantity()`, `url()`, `optional`s, `format` library).

use std::collections::HashMap;

use serde_json::{Map, Number, Value};

use super::{
    FieldError, additional_schema, child_path, display_path, go_quote, items_schema, json_equal,
    list_map_key, list_map_keys, property_schema,
};

/// Walks `object` with its schema and evaluates every `x-kubernetes-validations` rule found.
pub(crate) fn validate_rules(
    schema: &Value,
    object: &Value,
    old: Option<&Value>,
    errors: &mut Vec<FieldError>,
) {
    walk(schema, object, old, "", errors);
}

fn walk(
    schema: &Value,
    value: &Value,
    old: Option<&Value>,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    if let Some(Value::Array(rules)) = schema.get("x-kubernetes-validations")
        && !value.is_null()
    {
        for rule in rules {
            check_rule(rule, schema, value, old, path, errors);
        }
    }
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let old_child = old.and_then(|o| o.get(key));
                // Map entries are addressed as `path[key]` by the CEL validator.
                if let Some(s) = property_schema(schema, key) {
                    walk(s, child, old_child, &child_path(path, key), errors);
                } else if let Some(s) = additional_schema(schema) {
                    walk(s, child, old_child, &format!("{path}[{key}]"), errors);
                }
            }
        }
        Value::Array(items) => {
            let Some(item_schema) = items_schema(schema) else {
                return;
            };
            let keys = list_map_keys(schema);
            for (i, item) in items.iter().enumerate() {
                // Only list-map items correlate with their old selves; other lists are atomic.
                let old_item = match (&keys, old) {
                    (Some(keys), Some(Value::Array(old_items))) => {
                        let k = list_map_key(item, keys);
                        old_items
                            .iter()
                            .find(|o| json_equal(&list_map_key(o, keys), &k))
                    }
                    _ => None,
                };
                walk(
                    item_schema,
                    item,
                    old_item,
                    &super::index_path(path, i),
                    errors,
                );
            }
        }
        _ => {}
    }
}

fn check_rule(
    rule: &Value,
    schema: &Value,
    value: &Value,
    old: Option<&Value>,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    let Some(text) = rule.get("rule").and_then(Value::as_str) else {
        return;
    };
    let Ok(expr) = parse(text) else {
        return;
    };
    let transition = expr.mentions("oldSelf");
    if transition && old.is_none() {
        return;
    }
    let mut env = Env::default();
    env.vars.insert("self".to_string(), value.clone());
    if let Some(o) = old {
        env.vars.insert("oldSelf".to_string(), o.clone());
    }
    let schema_type = schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let type_text = go_quote(schema_type);
    // What the real server names the rule by in error texts: its message, else its expression.
    let rule_name = match rule.get("message").and_then(Value::as_str) {
        Some(m) if !m.trim().is_empty() => m.trim(),
        _ => text.trim(),
    };
    let detail = match eval(&expr, &mut env) {
        Ok(Value::Bool(false)) => failure_message(rule, text, &mut env),
        Ok(_) | Err(EvalError::Unsupported) => return,
        Err(EvalError::Runtime(e)) => {
            // Runtime errors are reported at the rule's node, without its reason or fieldPath.
            let why = if e.starts_with("no such overload") {
                format!(
                    "'no such overload': call arguments did not match a supported operator, function or macro signature for rule: {rule_name}"
                )
            } else {
                format!("{e} evaluating rule: {rule_name}")
            };
            errors.push(FieldError {
                field: display_path(path),
                reason: "FieldValueInvalid".to_string(),
                message: format!("Invalid value: {type_text}: {why}"),
            });
            return;
        }
    };
    let mut field = path.to_string();
    if let Some(fp) = rule.get("fieldPath").and_then(Value::as_str) {
        for part in fp
            .trim_start_matches('.')
            .split('.')
            .filter(|p| !p.is_empty())
        {
            field = child_path(&field, part);
        }
    }
    let reason = rule
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or("FieldValueInvalid");
    // kube-apiserver 1.33 prints the schema type where the value would go (later versions print
    // the value).
    let message = match reason {
        "FieldValueRequired" => format!("Required value: {detail}"),
        "FieldValueForbidden" => format!("Forbidden: {detail}"),
        "FieldValueDuplicate" => format!("Duplicate value: {type_text}"),
        _ => format!("Invalid value: {type_text}: {detail}"),
    };
    errors.push(FieldError {
        field: display_path(&field),
        reason: reason.to_string(),
        message,
    });
}

fn failure_message(rule: &Value, text: &str, env: &mut Env) -> String {
    if let Some(me) = rule.get("messageExpression").and_then(Value::as_str)
        && let Ok(expr) = parse(me)
        && let Ok(Value::String(s)) = eval(&expr, env)
        && !s.trim().is_empty()
        && !s.contains('\n')
    {
        return s.trim().to_string();
    }
    match rule.get("message").and_then(Value::as_str) {
        Some(m) if !m.trim().is_empty() => m.trim().to_string(),
        _ => format!("failed rule: {}", text.trim()),
    }
}

// ---------------------------------------------------------------------------------------------
// Syntax

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Int(i64),
    Double(f64),
    Str(String),
    Ident(String),
    Op(&'static str),
}

#[derive(Debug, PartialEq)]
struct Unsupported;

fn lex(src: &str) -> Result<Vec<Tok>, Unsupported> {
    const OPS: [&str; 24] = [
        "&&", "||", "==", "!=", "<=", ">=", "<", ">", "!", "+", "-", "*", "/", "%", "?", ":", ".",
        ",", "(", ")", "[", "]", "{", "}",
    ];
    let chars: Vec<char> = src.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    'outer: while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            if i < chars.len() && (chars[i] == 'u' || chars[i] == 'U') {
                i += 1;
            }
            if text.contains('.') {
                toks.push(Tok::Double(text.parse().map_err(|_| Unsupported)?));
            } else {
                toks.push(Tok::Int(text.parse().map_err(|_| Unsupported)?));
            }
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            toks.push(Tok::Ident(chars[start..i].iter().collect()));
            continue;
        }
        if c == '"' || c == '\'' {
            i += 1;
            let mut s = String::new();
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    i += 1;
                    s.push(match chars[i] {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        other => other,
                    });
                } else {
                    s.push(chars[i]);
                }
                i += 1;
            }
            if i >= chars.len() {
                return Err(Unsupported);
            }
            i += 1;
            toks.push(Tok::Str(s));
            continue;
        }
        for op in OPS {
            let len = op.chars().count();
            if i + len <= chars.len() && chars[i..i + len].iter().copied().eq(op.chars()) {
                toks.push(Tok::Op(op));
                i += len;
                continue 'outer;
            }
        }
        return Err(Unsupported);
    }
    Ok(toks)
}

#[derive(Debug, Clone)]
enum Expr {
    Lit(Value),
    Var(String),
    List(Vec<Expr>),
    MapLit(Vec<(Expr, Expr)>),
    Select(Box<Expr>, String),
    Index(Box<Expr>, Box<Expr>),
    Call(Option<Box<Expr>>, String, Vec<Expr>),
    Unary(&'static str, Box<Expr>),
    Binary(&'static str, Box<Expr>, Box<Expr>),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
}

impl Expr {
    fn mentions(&self, var: &str) -> bool {
        match self {
            Expr::Lit(_) => false,
            Expr::Var(v) => v == var,
            Expr::List(items) => items.iter().any(|e| e.mentions(var)),
            Expr::MapLit(entries) => entries
                .iter()
                .any(|(k, v)| k.mentions(var) || v.mentions(var)),
            Expr::Select(e, _) | Expr::Unary(_, e) => e.mentions(var),
            Expr::Index(a, b) | Expr::Binary(_, a, b) => a.mentions(var) || b.mentions(var),
            Expr::Call(target, _, args) => {
                target.as_ref().is_some_and(|t| t.mentions(var))
                    || args.iter().any(|a| a.mentions(var))
            }
            Expr::Cond(a, b, c) => a.mentions(var) || b.mentions(var) || c.mentions(var),
        }
    }
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

fn parse(src: &str) -> Result<Expr, Unsupported> {
    let mut p = Parser {
        toks: lex(src)?,
        pos: 0,
    };
    let e = p.expr()?;
    if p.pos != p.toks.len() {
        return Err(Unsupported);
    }
    Ok(e)
}

impl Parser {
    fn peek_op(&self, op: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Op(o)) if *o == op)
    }

    fn eat_op(&mut self, op: &str) -> bool {
        if self.peek_op(op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_op(&mut self, op: &str) -> Result<(), Unsupported> {
        if self.eat_op(op) {
            Ok(())
        } else {
            Err(Unsupported)
        }
    }

    fn expr(&mut self) -> Result<Expr, Unsupported> {
        let cond = self.or()?;
        if self.eat_op("?") {
            let a = self.expr()?;
            self.expect_op(":")?;
            let b = self.expr()?;
            return Ok(Expr::Cond(Box::new(cond), Box::new(a), Box::new(b)));
        }
        Ok(cond)
    }

    fn or(&mut self) -> Result<Expr, Unsupported> {
        let mut left = self.and()?;
        while self.eat_op("||") {
            left = Expr::Binary("||", Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, Unsupported> {
        let mut left = self.rel()?;
        while self.eat_op("&&") {
            left = Expr::Binary("&&", Box::new(left), Box::new(self.rel()?));
        }
        Ok(left)
    }

    fn rel(&mut self) -> Result<Expr, Unsupported> {
        let mut left = self.add()?;
        loop {
            let op = match self.toks.get(self.pos) {
                Some(Tok::Op(o)) if matches!(*o, "==" | "!=" | "<" | "<=" | ">" | ">=") => *o,
                Some(Tok::Ident(i)) if i == "in" => "in",
                _ => return Ok(left),
            };
            self.pos += 1;
            left = Expr::Binary(op, Box::new(left), Box::new(self.add()?));
        }
    }

    fn add(&mut self) -> Result<Expr, Unsupported> {
        let mut left = self.mul()?;
        loop {
            let op = if self.eat_op("+") {
                "+"
            } else if self.eat_op("-") {
                "-"
            } else {
                return Ok(left);
            };
            left = Expr::Binary(op, Box::new(left), Box::new(self.mul()?));
        }
    }

    fn mul(&mut self) -> Result<Expr, Unsupported> {
        let mut left = self.unary()?;
        loop {
            let op = if self.eat_op("*") {
                "*"
            } else if self.eat_op("/") {
                "/"
            } else if self.eat_op("%") {
                "%"
            } else {
                return Ok(left);
            };
            left = Expr::Binary(op, Box::new(left), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr, Unsupported> {
        if self.eat_op("!") {
            return Ok(Expr::Unary("!", Box::new(self.unary()?)));
        }
        if self.eat_op("-") {
            return Ok(Expr::Unary("-", Box::new(self.unary()?)));
        }
        self.member()
    }

    fn member(&mut self) -> Result<Expr, Unsupported> {
        let mut e = self.primary()?;
        loop {
            if self.eat_op(".") {
                let Some(Tok::Ident(name)) = self.toks.get(self.pos).cloned() else {
                    return Err(Unsupported);
                };
                self.pos += 1;
                if self.eat_op("(") {
                    let args = self.args(")")?;
                    e = Expr::Call(Some(Box::new(e)), name, args);
                } else {
                    e = Expr::Select(Box::new(e), name);
                }
            } else if self.eat_op("[") {
                let idx = self.expr()?;
                self.expect_op("]")?;
                e = Expr::Index(Box::new(e), Box::new(idx));
            } else {
                return Ok(e);
            }
        }
    }

    fn args(&mut self, close: &str) -> Result<Vec<Expr>, Unsupported> {
        let mut args = Vec::new();
        if self.eat_op(close) {
            return Ok(args);
        }
        loop {
            args.push(self.expr()?);
            if self.eat_op(close) {
                return Ok(args);
            }
            self.expect_op(",")?;
        }
    }

    fn primary(&mut self) -> Result<Expr, Unsupported> {
        let tok = self.toks.get(self.pos).cloned().ok_or(Unsupported)?;
        self.pos += 1;
        match tok {
            Tok::Int(i) => Ok(Expr::Lit(Value::from(i))),
            Tok::Double(d) => Number::from_f64(d)
                .map(|n| Expr::Lit(Value::Number(n)))
                .ok_or(Unsupported),
            Tok::Str(s) => Ok(Expr::Lit(Value::String(s))),
            Tok::Ident(name) => match name.as_str() {
                "true" => Ok(Expr::Lit(Value::Bool(true))),
                "false" => Ok(Expr::Lit(Value::Bool(false))),
                "null" => Ok(Expr::Lit(Value::Null)),
                _ if self.eat_op("(") => Ok(Expr::Call(None, name, self.args(")")?)),
                _ => Ok(Expr::Var(name)),
            },
            Tok::Op("(") => {
                let e = self.expr()?;
                self.expect_op(")")?;
                Ok(e)
            }
            Tok::Op("[") => Ok(Expr::List(self.args("]")?)),
            Tok::Op("{") => {
                let mut entries = Vec::new();
                if !self.eat_op("}") {
                    loop {
                        let k = self.expr()?;
                        self.expect_op(":")?;
                        let v = self.expr()?;
                        entries.push((k, v));
                        if self.eat_op("}") {
                            break;
                        }
                        self.expect_op(",")?;
                    }
                }
                Ok(Expr::MapLit(entries))
            }
            Tok::Op(_) => Err(Unsupported),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

#[derive(Debug, Clone, PartialEq)]
enum EvalError {
    /// Outside the supported subset: the rule is skipped.
    Unsupported,
    /// A CEL runtime error the real server would report.
    Runtime(String),
}

#[derive(Default)]
struct Env {
    vars: HashMap<String, Value>,
}

fn runtime(msg: impl Into<String>) -> EvalError {
    EvalError::Runtime(msg.into())
}

fn no_overload(op: &str) -> EvalError {
    runtime(format!("no such overload: {op}"))
}

fn eval(e: &Expr, env: &mut Env) -> Result<Value, EvalError> {
    match e {
        Expr::Lit(v) => Ok(v.clone()),
        Expr::Var(name) => env.vars.get(name).cloned().ok_or(EvalError::Unsupported),
        Expr::List(items) => Ok(Value::Array(
            items
                .iter()
                .map(|i| eval(i, env))
                .collect::<Result<_, _>>()?,
        )),
        Expr::MapLit(entries) => {
            let mut m = Map::new();
            for (k, v) in entries {
                let Value::String(k) = eval(k, env)? else {
                    return Err(EvalError::Unsupported);
                };
                m.insert(k, eval(v, env)?);
            }
            Ok(Value::Object(m))
        }
        Expr::Select(target, field) => match eval(target, env)? {
            Value::Object(m) => m
                .get(field)
                .cloned()
                .ok_or_else(|| runtime(format!("no such key: {field}"))),
            _ => Err(no_overload("_._")),
        },
        Expr::Index(target, idx) => {
            let t = eval(target, env)?;
            let i = eval(idx, env)?;
            match (t, i) {
                (Value::Array(a), Value::Number(n)) => {
                    let len = a.len();
                    n.as_i64()
                        .and_then(|i| usize::try_from(i).ok())
                        .and_then(|i| a.get(i).cloned())
                        .ok_or_else(|| runtime(format!("index out of range: {n} (size {len})")))
                }
                (Value::Object(m), Value::String(k)) => m
                    .get(&k)
                    .cloned()
                    .ok_or_else(|| runtime(format!("no such key: {k}"))),
                _ => Err(no_overload("_[_]")),
            }
        }
        Expr::Unary(op, inner) => {
            let v = eval(inner, env)?;
            match (*op, v) {
                ("!", Value::Bool(b)) => Ok(Value::Bool(!b)),
                ("-", Value::Number(n)) => match n.as_i64() {
                    Some(i) => Ok(Value::from(-i)),
                    None => number(-n.as_f64().unwrap_or(0.0)),
                },
                _ => Err(no_overload(op)),
            }
        }
        Expr::Cond(c, a, b) => match eval(c, env)? {
            Value::Bool(true) => eval(a, env),
            Value::Bool(false) => eval(b, env),
            _ => Err(no_overload("_?_:_")),
        },
        Expr::Binary(op, a, b) => eval_binary(op, a, b, env),
        Expr::Call(target, name, args) => eval_call(target.as_deref(), name, args, env),
    }
}

fn number(f: f64) -> Result<Value, EvalError> {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| runtime("numeric overflow"))
}

fn eval_binary(op: &str, a: &Expr, b: &Expr, env: &mut Env) -> Result<Value, EvalError> {
    if op == "&&" || op == "||" {
        // CEL's commutative logic: a definite result on either side wins over an error.
        let short = op == "||";
        let left = eval(a, env);
        if left == Ok(Value::Bool(short)) {
            return Ok(Value::Bool(short));
        }
        let right = eval(b, env);
        if right == Ok(Value::Bool(short)) {
            return Ok(Value::Bool(short));
        }
        return match (left?, right?) {
            (Value::Bool(_), Value::Bool(_)) => Ok(Value::Bool(!short)),
            _ => Err(no_overload(op)),
        };
    }
    let x = eval(a, env)?;
    let y = eval(b, env)?;
    match op {
        "==" => Ok(Value::Bool(json_equal(&x, &y))),
        "!=" => Ok(Value::Bool(!json_equal(&x, &y))),
        "<" | "<=" | ">" | ">=" => {
            let ord = compare(&x, &y).ok_or_else(|| no_overload(op))?;
            Ok(Value::Bool(match op {
                "<" => ord.is_lt(),
                "<=" => ord.is_le(),
                ">" => ord.is_gt(),
                _ => ord.is_ge(),
            }))
        }
        "in" => match y {
            Value::Array(items) => Ok(Value::Bool(items.iter().any(|i| json_equal(i, &x)))),
            Value::Object(m) => match x {
                Value::String(k) => Ok(Value::Bool(m.contains_key(&k))),
                _ => Err(no_overload("in")),
            },
            _ => Err(no_overload("in")),
        },
        "+" => match (x, y) {
            (Value::String(s), Value::String(t)) => Ok(Value::String(s + &t)),
            (Value::Array(mut s), Value::Array(t)) => {
                s.extend(t);
                Ok(Value::Array(s))
            }
            (Value::Number(m), Value::Number(n)) => arith(op, &m, &n),
            _ => Err(no_overload(op)),
        },
        _ => match (x, y) {
            (Value::Number(m), Value::Number(n)) => arith(op, &m, &n),
            _ => Err(no_overload(op)),
        },
    }
}

fn arith(op: &str, m: &Number, n: &Number) -> Result<Value, EvalError> {
    if let (Some(i), Some(j)) = (m.as_i64(), n.as_i64()) {
        let r = match op {
            "+" => i.checked_add(j),
            "-" => i.checked_sub(j),
            "*" => i.checked_mul(j),
            "/" if j == 0 => return Err(runtime("division by zero")),
            "/" => i.checked_div(j),
            "%" if j == 0 => return Err(runtime("modulus by zero")),
            "%" => i.checked_rem(j),
            _ => return Err(no_overload(op)),
        };
        return r
            .map(Value::from)
            .ok_or_else(|| runtime("integer overflow"));
    }
    let (f, g) = (m.as_f64().unwrap_or(0.0), n.as_f64().unwrap_or(0.0));
    match op {
        "+" => number(f + g),
        "-" => number(f - g),
        "*" => number(f * g),
        "/" => number(f / g),
        _ => Err(no_overload(op)),
    }
}

fn compare(x: &Value, y: &Value) -> Option<std::cmp::Ordering> {
    match (x, y) {
        (Value::Number(m), Value::Number(n)) => match (m.as_i64(), n.as_i64()) {
            (Some(i), Some(j)) => Some(i.cmp(&j)),
            _ => m.as_f64()?.partial_cmp(&n.as_f64()?),
        },
        (Value::String(s), Value::String(t)) => Some(s.cmp(t)),
        (Value::Bool(s), Value::Bool(t)) => Some(s.cmp(t)),
        _ => None,
    }
}

fn size_of(v: &Value) -> Result<Value, EvalError> {
    match v {
        Value::String(s) => Ok(Value::from(s.chars().count())),
        Value::Array(a) => Ok(Value::from(a.len())),
        Value::Object(m) => Ok(Value::from(m.len())),
        _ => Err(no_overload("size")),
    }
}

fn eval_call(
    target: Option<&Expr>,
    name: &str,
    args: &[Expr],
    env: &mut Env,
) -> Result<Value, EvalError> {
    match (target, name, args) {
        (None, "has", [Expr::Select(obj, field)]) => match eval(obj, env)? {
            Value::Object(m) => Ok(Value::Bool(m.contains_key(field))),
            _ => Err(no_overload("has")),
        },
        (None, "size", [arg]) => size_of(&eval(arg, env)?),
        (Some(t), "size", []) => size_of(&eval(t, env)?),
        (None, "int", [arg]) => match eval(arg, env)? {
            Value::Number(n) => match n.as_i64() {
                Some(i) => Ok(Value::from(i)),
                None => Ok(Value::from(n.as_f64().unwrap_or(0.0).trunc() as i64)),
            },
            Value::String(s) => s
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| runtime(format!("cannot convert {s:?} to int"))),
            _ => Err(no_overload("int")),
        },
        (None, "double", [arg]) => match eval(arg, env)? {
            Value::Number(n) => number(n.as_f64().unwrap_or(0.0)),
            Value::String(s) => s
                .parse::<f64>()
                .map_err(|_| runtime(format!("cannot convert {s:?} to double")))
                .and_then(number),
            _ => Err(no_overload("double")),
        },
        (None, "string", [arg]) => match eval(arg, env)? {
            Value::String(s) => Ok(Value::String(s)),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            Value::Bool(b) => Ok(Value::String(b.to_string())),
            _ => Err(no_overload("string")),
        },
        (Some(t), "startsWith" | "endsWith" | "contains" | "matches", [arg]) => {
            let (Value::String(s), Value::String(p)) = (eval(t, env)?, eval(arg, env)?) else {
                return Err(no_overload(name));
            };
            Ok(Value::Bool(match name {
                "startsWith" => s.starts_with(&p),
                "endsWith" => s.ends_with(&p),
                "contains" => s.contains(&p),
                _ => super::cached_regex(&p)
                    .ok_or_else(|| runtime(format!("invalid regex: {p}")))?
                    .is_match(&s),
            }))
        }
        // Kubernetes' strings library: ASCII letters only change case, everything else stays.
        (Some(t), "lowerAscii" | "upperAscii", []) => match eval(t, env)? {
            Value::String(s) if name == "lowerAscii" => Ok(Value::String(s.to_ascii_lowercase())),
            Value::String(s) => Ok(Value::String(s.to_ascii_uppercase())),
            _ => Err(no_overload(name)),
        },
        (Some(t), "all" | "exists" | "exists_one", [Expr::Var(var), pred]) => {
            let elements: Vec<Value> = match eval(t, env)? {
                Value::Array(a) => a,
                Value::Object(m) => m.keys().cloned().map(Value::String).collect(),
                _ => return Err(no_overload(name)),
            };
            let saved = env.vars.get(var).cloned();
            let (mut trues, mut falses) = (0usize, 0usize);
            let mut first_error = None;
            for el in elements {
                env.vars.insert(var.clone(), el);
                match eval(pred, env) {
                    Ok(Value::Bool(true)) => trues += 1,
                    Ok(Value::Bool(false)) => falses += 1,
                    Ok(_) => first_error = first_error.or(Some(no_overload(name))),
                    Err(EvalError::Unsupported) => {
                        first_error = Some(EvalError::Unsupported);
                        break;
                    }
                    Err(e) => first_error = first_error.or(Some(e)),
                }
            }
            match saved {
                Some(v) => env.vars.insert(var.clone(), v),
                None => env.vars.remove(var),
            };
            // Like CEL's macros: a definite answer wins over an error in another element.
            match (name, first_error) {
                (_, Some(EvalError::Unsupported)) => Err(EvalError::Unsupported),
                ("all", _) if falses > 0 => Ok(Value::Bool(false)),
                ("exists", _) if trues > 0 => Ok(Value::Bool(true)),
                (_, Some(e)) => Err(e),
                ("all", None) => Ok(Value::Bool(true)),
                ("exists", None) => Ok(Value::Bool(false)),
                (_, None) => Ok(Value::Bool(trues == 1)),
            }
        }
        _ => Err(EvalError::Unsupported),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(rule: &str, this: Value, old: Option<Value>) -> Result<Value, EvalError> {
        let expr = parse(rule).map_err(|_| EvalError::Unsupported)?;
        let mut env = Env::default();
        env.vars.insert("self".into(), this);
        if let Some(o) = old {
            env.vars.insert("oldSelf".into(), o);
        }
        eval(&expr, &mut env)
    }

    #[test]
    fn expressions_in_the_subset_evaluate_like_cel() {
        let obj = json!({"a": 1, "b": "xyz", "list": [1, 2, 3], "m": {"k": "v"}});
        let cases: &[(&str, Value)] = &[
            ("self.a == 1", json!(true)),
            ("has(self.a) && !has(self.z)", json!(true)),
            ("size(self.b) <= 3 && self.b.size() == 3", json!(true)),
            (
                "self.b.startsWith('x') && self.b.endsWith(\"z\")",
                json!(true),
            ),
            ("self.b.matches('^[a-z]+$')", json!(true)),
            ("self.list.all(x, x > 0)", json!(true)),
            ("self.list.exists(x, x == 2)", json!(true)),
            ("self.list.exists_one(x, x > 1)", json!(false)),
            ("'k' in self.m && 2 in self.list", json!(true)),
            ("self.a + 2 * 3", json!(7)),
            ("self.a > 0 ? 'pos' : 'neg'", json!("pos")),
            ("self.list[1]", json!(2)),
            ("self.m['k']", json!("v")),
            ("false && self.missing == 1", json!(false)),
            ("true || self.missing == 1", json!(true)),
            ("'n=' + string(self.a)", json!("n=1")),
            ("'ZenDesk'.lowerAscii() == 'zendesk'", json!(true)),
            ("'Straße Ä1'.upperAscii()", json!("STRAßE Ä1")),
            ("'ÀB'.lowerAscii()", json!("Àb")),
            ("self.b.upperAscii().lowerAscii() == self.b", json!(true)),
        ];
        for (rule, want) in cases {
            assert_eq!(
                run(rule, obj.clone(), None),
                Ok(want.clone()),
                "rule {rule}"
            );
        }
    }

    #[test]
    fn missing_fields_are_runtime_errors_and_unknown_functions_are_unsupported() {
        let obj = json!({"a": 1});
        assert_eq!(
            run("self.z == 1", obj.clone(), None),
            Err(runtime("no such key: z"))
        );
        assert_eq!(
            run("quantity(self.a) > 1", obj.clone(), None),
            Err(EvalError::Unsupported)
        );
        assert_eq!(
            run("self.a.lowerAscii()", obj.clone(), None),
            Err(runtime("no such overload: lowerAscii"))
        );
        assert!(parse("self.a ==").is_err());
        assert!(parse("self.a =~ 1").is_err());
    }

    #[test]
    fn transition_rules_compare_with_the_old_value() {
        assert_eq!(
            run("self == oldSelf", json!("a"), Some(json!("a"))),
            Ok(json!(true))
        );
        assert_eq!(
            run("self == oldSelf", json!("a"), Some(json!("b"))),
            Ok(json!(false))
        );
        assert!(parse("self.x == oldSelf.x").is_ok_and(|e| e.mentions("oldSelf")));
        assert!(parse("self.x == 1").is_ok_and(|e| !e.mentions("oldSelf")));
    }
}
