//! Invalid specs: the CRD schema rejects what it can express (422 from the API server, before the
//! operator sees anything); what it cannot (a `metadata.name` that is no valid connection name)
//! the operator reports as InvalidSpec without ever calling ZIS.

use std::time::Duration;

use serde_json::{Value, json};

use super::harness::{DOMAIN, INTEGRATION, Setup, random_token};

#[tokio::test]
async fn the_schema_rejects_each_invalid_spec_with_422() {
    let Some(env) = Setup::new("schema").without_operator().start().await else {
        return;
    };
    let base = env.spec("some-token");
    let with = |field: &str, value: Value| {
        let mut spec = base.clone();
        spec[field] = value;
        spec
    };
    let without = |field: &str| {
        let mut spec = base.clone();
        if let Some(map) = spec.as_object_mut() {
            map.remove(field);
        }
        spec
    };
    let cases: Vec<(&str, Value)> = vec![
        (
            "integration with upper case and a space",
            with("integration", json!("My App")),
        ),
        ("empty integration", with("integration", json!(""))),
        (
            "integration of 65 characters",
            with("integration", json!("a".repeat(65))),
        ),
        (
            "integration with a dot",
            with("integration", json!("my.app")),
        ),
        ("missing integration", without("integration")),
        (
            "connectionName of 2 characters",
            with("connectionName", json!("ab")),
        ),
        (
            "connectionName with a dot",
            with("connectionName", json!("my.conn")),
        ),
        (
            "connectionName with a space",
            with("connectionName", json!("my conn")),
        ),
        (
            "connectionName of 65 characters",
            with("connectionName", json!("c".repeat(65))),
        ),
        (
            "allowedDomain with a scheme",
            with("allowedDomain", json!("https://api.example.com")),
        ),
        (
            "allowedDomain with a port",
            with("allowedDomain", json!("api.example.com:443")),
        ),
        (
            "allowedDomain with a path",
            with("allowedDomain", json!("api.example.com/v1")),
        ),
        ("empty allowedDomain", with("allowedDomain", json!(""))),
        ("missing allowedDomain", without("allowedDomain")),
        (
            "tokenSecretRef without a name",
            with("tokenSecretRef", json!({"key": "token"})),
        ),
        (
            "unknown deletionPolicy",
            with("deletionPolicy", json!("Maybe")),
        ),
        (
            "unknown adoptionPolicy",
            with("adoptionPolicy", json!("Sometimes")),
        ),
        (
            "suspend that is not a boolean",
            with("suspend", json!("yes")),
        ),
    ];
    let mut wrong = Vec::new();
    for (index, (case, spec)) in cases.iter().enumerate() {
        match env.create(&format!("invalid-{index}"), spec.clone()).await {
            Err(kube::Error::Api(status)) if status.code == 422 => {}
            Err(error) => wrong.push(format!("{case}: expected 422, got error {error}")),
            Ok(_) => wrong.push(format!("{case}: accepted {spec}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "specs the schema let through or mishandled:\n{}",
        wrong.join("\n")
    );

    // The valid base spec itself is accepted, so the rejections above are about their field.
    env.create("valid-base", base.clone())
        .await
        .unwrap_or_else(|e| panic!("the valid spec {base} was rejected: {e}"));
}

#[tokio::test]
async fn a_metadata_name_that_is_no_valid_connection_name_is_invalid_spec_with_no_remote_call() {
    let Some(mut env) = Setup::new("bad-name").start().await else {
        return;
    };
    env.put_token("name-token", &random_token("conn-token"))
        .await;
    for name in ["dotted.name", "ab"] {
        env.create_ok(name, env.spec("name-token")).await;
    }
    for name in ["dotted.name", "ab"] {
        env.wait_condition(name, "Ready", "False", "InvalidSpec")
            .await;
        env.wait_condition(name, "Stalled", "True", "InvalidSpec")
            .await;
    }
    // Not a 400 loop: nothing reaches ZIS, past a resync either.
    env.holds(
        "no request reaches ZIS",
        Duration::from_secs(3),
        async |env| {
            let requests = env.admin.requests().await;
            if requests.total == 0 {
                Ok(())
            } else {
                Err(format!("requests reached ZIS: {requests:?}"))
            }
        },
    )
    .await;

    // Naming the connection explicitly fixes it.
    env.patch_spec_ok("dotted.name", json!({"connectionName": "dotted-name"}))
        .await;
    env.wait_ready("dotted.name").await;
    let remote = env.remote("dotted-name").await.unwrap_or_default();
    assert_eq!(remote["allowed_domain"], DOMAIN);
    assert_eq!(remote["integration"], INTEGRATION);
}

#[tokio::test]
async fn the_reserved_connection_name_zendesk_is_refused_before_reaching_zis() {
    let Some(mut env) = Setup::new("reserved").start().await else {
        return;
    };
    env.put_token("reserved-token", &random_token("conn-token"))
        .await;
    let mut spec = env.spec("reserved-token");
    spec["connectionName"] = json!("zendesk");
    // Either the schema refuses it (422) or the operator reports InvalidSpec.
    match env.create("reserved-conn", spec).await {
        Err(kube::Error::Api(status)) if status.code == 422 => {}
        Err(error) => panic!("creating with connectionName zendesk: {error}"),
        Ok(_) => {
            env.wait_condition("reserved-conn", "Ready", "False", "InvalidSpec")
                .await;
        }
    }
    // metadata.name zendesk with no connectionName cannot be refused by the schema.
    env.create_ok("zendesk", env.spec("reserved-token")).await;
    env.wait_condition("zendesk", "Ready", "False", "InvalidSpec")
        .await;
    let requests = env.admin.requests().await;
    assert_eq!(requests.total, 0, "no request reaches ZIS: {requests:?}");
}
