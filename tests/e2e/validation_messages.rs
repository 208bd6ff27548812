//! What the API server answers to the specs a new user tried (issue 12): values the operator
//! could never sync are refused at once with 422, and the answer says in words what is wrong,
//! not a regular expression.

use serde_json::{Value, json};

use super::harness::Setup;

#[tokio::test]
async fn specs_the_operator_cannot_sync_are_refused_in_words() {
    let Some(env) = Setup::new("schema-words").without_operator().start().await else {
        return;
    };
    let base = env.spec("some-token");
    let with = |field: &str, value: Value| {
        let mut spec = base.clone();
        spec[field] = value;
        spec
    };
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "an IP address as the domain",
            with("allowedDomain", json!("10.0.0.1")),
            "spec.allowedDomain",
            "not an IP address",
        ),
        (
            "a URL as the domain",
            with("allowedDomain", json!("https://api.example.com/hook")),
            "spec.allowedDomain",
            "without a scheme such as https://",
        ),
        (
            "a domain with a path",
            with("allowedDomain", json!("api.example.com/hook")),
            "spec.allowedDomain",
            "without a path",
        ),
        (
            "a domain with a port",
            with("allowedDomain", json!("api.example.com:8443")),
            "spec.allowedDomain",
            "without a port",
        ),
        (
            "a domain with capitals",
            with("allowedDomain", json!("Api.Example.com")),
            "spec.allowedDomain",
            "in lower case",
        ),
        (
            "a Secret in another namespace",
            with("tokenSecretRef", json!({"name": "shop/x"})),
            "spec.tokenSecretRef.name",
            "without a namespace/ prefix",
        ),
        (
            "a Secret name that is no Secret name",
            with("tokenSecretRef", json!({"name": "Bad_Name"})),
            "spec.tokenSecretRef.name",
            "must be the name of a Secret",
        ),
        (
            "the reserved connection name in capitals",
            with("connectionName", json!("ZENDESK")),
            "spec.connectionName",
            "zendesk is reserved by ZIS",
        ),
    ];
    let mut wrong = Vec::new();
    for (index, (case, spec, field, words)) in cases.iter().enumerate() {
        match env.create(&format!("words-{index}"), spec.clone()).await {
            Err(kube::Error::Api(status)) if status.code == 422 => {
                let message = &status.message;
                if !message.contains(field) || !message.contains(words) {
                    wrong.push(format!("{case}: no {field} and {words:?} in: {message}"));
                }
                if message.contains("should match") {
                    wrong.push(format!("{case}: a regular expression in: {message}"));
                }
            }
            Err(error) => wrong.push(format!("{case}: expected 422, got error {error}")),
            Ok(_) => wrong.push(format!("{case}: accepted {spec}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
