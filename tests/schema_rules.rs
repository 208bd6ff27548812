//! The CRD's rules and the operator's own checks agree. For each value, the CRD's schema (its
//! `x-kubernetes-validations` evaluated by the Kubernetes sandbox as kube-apiserver does) and
//! `controller::validate::target` accept or refuse it alike, and where the schema's CEL rule
//! refuses, the operator gives the same words. So an object created before a CRD upgrade gets
//! the message the API server would now give.

use serde_json::{Value, json};
use zis_operator::controller::validate::{self, ValidationError};
use zis_operator::resource::{ZisBearerConnectionSpec, crd};
use zis_sandbox::kube::schema::prune_default_validate;

fn schema() -> Value {
    let crd = crd();
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .unwrap_or_else(|| panic!("the CRD has no schema"));
    serde_json::to_value(schema).unwrap_or_else(|e| panic!("schema to JSON: {e}"))
}

fn spec_with(field: &str, value: &str) -> Value {
    let mut spec = json!({
        "integration": "my_integration",
        "allowedDomain": "api.example.com",
        "tokenSecretRef": {"name": "tok"},
    });
    match field {
        "tokenSecretRef.name" => spec["tokenSecretRef"]["name"] = json!(value),
        "tokenSecretRef.key" => spec["tokenSecretRef"]["key"] = json!(value),
        other => spec[other] = json!(value),
    }
    spec
}

/// The messages of the CEL rules the schema refused `spec.<field>` with (other schema errors,
/// such as lengths, are counted but have no CEL message).
fn schema_verdict(schema: &Value, spec: &Value, field: &str) -> (usize, Vec<String>, Value) {
    let mut object = json!({
        "apiVersion": "zis-operator.dev/v1alpha1",
        "kind": "ZisBearerConnection",
        "metadata": {"name": "obj", "namespace": "shop"},
        "spec": spec,
    });
    let outcome = prune_default_validate(schema, &mut object, None);
    let path = format!("spec.{field}");
    let prefix = "Invalid value: \"string\": ";
    let cel = outcome
        .errors
        .iter()
        .filter(|e| e.field == path && e.message.starts_with(prefix))
        .map(|e| e.message[prefix.len()..].to_owned())
        .collect();
    (outcome.errors.len(), cel, object["spec"].clone())
}

#[test]
fn the_schema_and_the_operator_accept_and_refuse_the_same_values_in_the_same_words() {
    let schema = schema();
    let long_label = format!("{}.example.com", "l".repeat(64));
    let long_domain = format!("{}.com", ["abcdefghij"; 23].join("."));
    let cases: Vec<(&str, String)> = [
        ("integration", "my_integration"),
        ("integration", "a-1_b"),
        ("integration", "My App"),
        ("integration", "my.app"),
        ("integration", "-int"),
        ("integration", ""),
        ("connectionName", "Conn_1"),
        ("connectionName", "zendesk"),
        ("connectionName", "ZENDESK"),
        ("connectionName", "ZenDesk"),
        ("connectionName", "my.conn"),
        ("connectionName", "my conn"),
        ("connectionName", "ab"),
        ("allowedDomain", "api.example.com"),
        ("allowedDomain", "localhost"),
        ("allowedDomain", "xn--bcher-kva.example"),
        ("allowedDomain", "10.0.0.1"),
        ("allowedDomain", "example.123"),
        ("allowedDomain", "::1"),
        ("allowedDomain", "[::1]:443"),
        ("allowedDomain", "https://api.example.com"),
        ("allowedDomain", "https://API.example.com/v1"),
        ("allowedDomain", "api.example.com/v1"),
        ("allowedDomain", "api.example.com:443"),
        ("allowedDomain", "API.example.com"),
        ("allowedDomain", "*.example.com"),
        ("allowedDomain", "api_v1.example.com"),
        ("allowedDomain", "api.example.com."),
        ("allowedDomain", "-api.example.com"),
        ("allowedDomain", ""),
        ("tokenSecretRef.name", "payments-token"),
        ("tokenSecretRef.name", "a.b-c"),
        ("tokenSecretRef.name", "shop/x"),
        ("tokenSecretRef.name", "Bad_Name"),
        ("tokenSecretRef.name", "-x"),
        ("tokenSecretRef.name", "x."),
        ("tokenSecretRef.key", "token"),
        ("tokenSecretRef.key", "tok.en_1-2"),
        ("tokenSecretRef.key", "a/b"),
        ("tokenSecretRef.key", "a b"),
    ]
    .into_iter()
    .map(|(field, value)| (field, value.to_owned()))
    .chain([
        ("integration", "a".repeat(65)),
        ("connectionName", "c".repeat(65)),
        ("allowedDomain", long_label),
        ("allowedDomain", long_domain),
    ])
    .collect();

    let mut disagreements = Vec::new();
    for (field, value) in &cases {
        let spec = spec_with(field, value);
        let (schema_errors, cel_messages, defaulted) = schema_verdict(&schema, &spec, field);
        let typed: ZisBearerConnectionSpec = serde_json::from_value(defaulted)
            .unwrap_or_else(|e| panic!("{field}={value:?}: spec does not parse: {e}"));
        let operator = validate::target("obj", &typed);
        match (&operator, schema_errors) {
            (Ok(_), 0) => {}
            (
                Err(ValidationError::InvalidSpec {
                    field: got,
                    problem,
                }),
                n,
            ) if n > 0 => {
                if *got != format!("spec.{field}") {
                    disagreements.push(format!(
                        "{field}={value:?}: the operator names {got} ({problem})"
                    ));
                }
                for message in &cel_messages {
                    if !problem.contains(message.as_str()) {
                        disagreements.push(format!(
                            "{field}={value:?}: the schema says {message:?}, the operator {problem:?}"
                        ));
                    }
                }
            }
            (operator, n) => disagreements.push(format!(
                "{field}={value:?}: the operator says {operator:?}, the schema found {n} errors"
            )),
        }
    }
    assert!(
        disagreements.is_empty(),
        "the CRD and controller::validate disagree:\n{}",
        disagreements.join("\n")
    );
}

#[test]
fn the_values_of_the_issue_are_refused_by_the_schema_with_words_not_patterns() {
    let schema = schema();
    let cases = [
        ("allowedDomain", "10.0.0.1", "not an IP address"),
        (
            "allowedDomain",
            "https://api.example.com",
            "without a scheme",
        ),
        ("allowedDomain", "api.example.com/v1", "without a path"),
        ("allowedDomain", "api.example.com:8443", "without a port"),
        ("allowedDomain", "Api.Example.com", "in lower case"),
        (
            "tokenSecretRef.name",
            "shop/x",
            "without a namespace/ prefix",
        ),
        ("tokenSecretRef.name", "Bad_Name", "the name of a Secret"),
        ("connectionName", "ZENDESK", "zendesk is reserved by ZIS"),
    ];
    for (field, value, words) in cases {
        let (_, messages, _) = schema_verdict(&schema, &spec_with(field, value), field);
        assert!(
            messages.len() == 1 && messages[0].contains(words),
            "{field}={value:?}: expected one message with {words:?}, got {messages:?}"
        );
        assert!(
            messages[0].contains("such as") || !field.starts_with("allowed"),
            "{field}={value:?}: {messages:?}"
        );
    }
}
