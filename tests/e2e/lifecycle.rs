//! Creating a connection and changing its spec: the remote follows the object.

use serde_json::{Value, json};

use super::harness::{
    DOMAIN, FINALIZER, INTEGRATION, Setup, assert_no_secret, check_condition, random_token,
};

fn same_instant(a: &Value, b: &Value) -> bool {
    let parse = |v: &Value| {
        v.as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
    };
    matches!((parse(a), parse(b)), (Some(a), Some(b)) if a == b)
}

#[tokio::test]
async fn creating_a_connection_creates_it_remotely_and_reports_it_synced() {
    let Some(mut env) = Setup::new("create").start().await else {
        return;
    };
    let token = random_token("conn-token");
    env.put_token("create-token", &token).await;
    env.create_ok("create-conn", env.spec("create-token")).await;

    let object = env.wait_ready("create-conn").await;

    let remote = env
        .remote("create-conn")
        .await
        .unwrap_or_else(|| panic!("no remote connection create-conn"));
    assert_eq!(remote["token"], token.as_str(), "the remote token");
    assert_eq!(remote["allowed_domain"], DOMAIN, "the remote domain");
    assert_eq!(env.admin.bearer_connections().await.len(), 1);

    let status = &object["status"];
    assert_eq!(
        status["remote"],
        json!({"integration": INTEGRATION, "connectionName": "create-conn", "allowedDomain": DOMAIN}),
        "status.remote"
    );
    assert_eq!(
        status["observedGeneration"],
        object["metadata"]["generation"]
    );
    assert_eq!(status["adopted"], false, "status.adopted");
    let fingerprint = status["tokenFingerprint"].as_str().unwrap_or_default();
    let hex = fingerprint
        .strip_prefix("hmac-sha256:")
        .unwrap_or_else(|| panic!("tokenFingerprint {fingerprint:?} is not hmac-sha256:<hex>"));
    assert!(
        hex.len() >= 32 && hex.chars().all(|c| c.is_ascii_hexdigit()),
        "tokenFingerprint {fingerprint:?} is not hmac-sha256:<hex>"
    );
    assert!(
        same_instant(&status["createdAt"], &remote["created_at"]),
        "status.createdAt {} is not the remote created_at {}",
        status["createdAt"],
        remote["created_at"]
    );
    assert!(
        status["lastSyncTime"]
            .as_str()
            .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok()),
        "status.lastSyncTime {} is not RFC 3339",
        status["lastSyncTime"]
    );
    let secret = env
        .secrets
        .get("create-token")
        .await
        .unwrap_or_else(|e| panic!("reading the token Secret: {e}"));
    assert_eq!(
        status["secretResourceVersion"].as_str(),
        secret.metadata.resource_version.as_deref(),
        "status.secretResourceVersion"
    );
    for (type_, expected) in [("Reconciling", "False"), ("Stalled", "False")] {
        let found = super::harness::condition(&object, type_)
            .unwrap_or_else(|| panic!("no {type_} condition in {status}"));
        assert_eq!(found["status"], expected, "{type_} condition {found}");
    }
    let finalizers = object["metadata"]["finalizers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        finalizers.iter().any(|f| f == FINALIZER),
        "finalizer {FINALIZER} missing: {finalizers:?}"
    );
    assert_no_secret(
        &object.to_string(),
        &[&token, &env.access_token],
        "the object",
    );

    let event = env.wait_event("create-conn", "Created").await;
    assert_eq!(event.type_, "Normal");
    assert_no_secret(&event.message, &[&token], "the Created event");
    assert_no_secret(
        &env.all_events_text().await,
        &[&token, &env.access_token],
        "the events",
    );
    let requests = env.admin.requests().await;
    assert_eq!(
        requests.count(|r| r.method == "POST" && r.status == 201),
        1,
        "one create: {requests:?}"
    );
}

#[tokio::test]
async fn a_token_under_a_custom_key_is_the_one_pushed() {
    let Some(mut env) = Setup::new("custom-key").start().await else {
        return;
    };
    let token = random_token("conn-token");
    let decoy = random_token("decoy");
    env.put_secret(
        "keyed-token",
        &[("token", decoy.as_bytes()), ("bearer", token.as_bytes())],
    )
    .await;
    let mut spec = env.spec("keyed-token");
    spec["tokenSecretRef"]["key"] = json!("bearer");
    env.create_ok("keyed-conn", spec).await;
    env.wait_ready("keyed-conn").await;
    let remote = env.remote("keyed-conn").await.unwrap_or_default();
    assert_eq!(
        remote["token"],
        token.as_str(),
        "the token under key bearer"
    );
}

#[tokio::test]
async fn a_new_allowed_domain_is_pushed_with_one_patch_when_the_server_accepts_it() {
    let Some(mut env) = Setup::new("domain-patch").start().await else {
        return;
    };
    let token = random_token("conn-token");
    env.put_token("domain-token", &token).await;
    env.create_ok("domain-conn", env.spec("domain-token")).await;
    env.wait_ready("domain-conn").await;
    let before = env.remote("domain-conn").await.unwrap_or_default();
    let patches_before = env.admin.requests().await.with_method("PATCH");

    env.patch_spec_ok("domain-conn", json!({"allowedDomain": "new.example.com"}))
        .await;
    let object = env.wait_ready("domain-conn").await;

    assert_eq!(
        object["status"]["remote"]["allowedDomain"],
        "new.example.com"
    );
    let after = env.remote("domain-conn").await.unwrap_or_default();
    assert_eq!(after["allowed_domain"], "new.example.com");
    assert_eq!(after["token"], token.as_str());
    assert_eq!(
        after["created_at"], before["created_at"],
        "the same connection"
    );
    let requests = env.admin.requests().await;
    assert_eq!(
        requests.with_method("PATCH") - patches_before,
        1,
        "one PATCH for the domain change: {requests:?}"
    );
    assert_eq!(requests.with_method("DELETE"), 0, "no DELETE: {requests:?}");
    assert_eq!(env.admin.bearer_connections().await.len(), 1);
}

#[tokio::test]
async fn a_new_allowed_domain_is_recreated_when_the_server_refuses_to_patch_it() {
    let Some(mut env) = Setup::new("domain-recreate").start().await else {
        return;
    };
    let token = random_token("conn-token");
    env.put_token("domain-token", &token).await;
    env.create_ok("domain-conn", env.spec("domain-token")).await;
    env.wait_ready("domain-conn").await;
    let before = env.remote("domain-conn").await.unwrap_or_default();
    env.admin
        .settings(json!({"patch_allowed_domain": false}))
        .await;

    env.patch_spec_ok("domain-conn", json!({"allowedDomain": "new.example.com"}))
        .await;
    let object = env.wait_ready("domain-conn").await;

    assert_eq!(
        object["status"]["remote"]["allowedDomain"],
        "new.example.com"
    );
    let after = env.remote("domain-conn").await.unwrap_or_default();
    assert_eq!(after["allowed_domain"], "new.example.com");
    assert_eq!(after["token"], token.as_str());
    assert_ne!(
        after["created_at"], before["created_at"],
        "a new connection"
    );
    assert_eq!(env.admin.bearer_connections().await.len(), 1);
    let event = env.wait_event("domain-conn", "Recreated").await;
    assert_eq!(event.type_, "Normal");
}

#[tokio::test]
async fn renaming_a_connection_removes_the_old_remote_and_creates_the_new_one() {
    let Some(mut env) = Setup::new("rename").start().await else {
        return;
    };
    let token = random_token("conn-token");
    env.put_token("rename-token", &token).await;
    let mut spec = env.spec("rename-token");
    spec["connectionName"] = json!("first-name");
    env.create_ok("rename-conn", spec).await;
    env.wait_ready("rename-conn").await;
    assert!(env.remote("first-name").await.is_some());

    env.patch_spec_ok("rename-conn", json!({"connectionName": "second-name"}))
        .await;
    let object = env.wait_ready("rename-conn").await;

    assert_eq!(object["status"]["remote"]["connectionName"], "second-name");
    let renamed = env.remote("second-name").await.unwrap_or_default();
    assert_eq!(renamed["token"], token.as_str());
    assert_eq!(renamed["allowed_domain"], DOMAIN);
    assert!(
        env.remote("first-name").await.is_none(),
        "the old remote connection leaked: {:?}",
        env.admin.bearer_connections().await
    );
    assert_eq!(env.admin.bearer_connections().await.len(), 1);
    check_condition(&object, "Ready", "True", "Synced").unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn a_new_generation_reads_progressing_not_ready_until_it_is_synced() {
    // No resync: a resync read in flight (slowed below) would delay the new generation's turn.
    let Some(mut env) = Setup::new("progressing").resync("10m").start().await else {
        return;
    };
    env.put_token("gen-token", &random_token("conn-token"))
        .await;
    env.create_ok("gen-conn", env.spec("gen-token")).await;
    env.wait_ready("gen-conn").await;
    // Slow answers keep the new generation in flight long enough to observe.
    env.admin.settings(json!({"latency_ms": 3000})).await;

    env.patch_spec_ok("gen-conn", json!({"allowedDomain": "next.example.com"}))
        .await;

    let object = env
        .eventually(
            "Ready=Unknown and Reconciling=True, reason Progressing, for generation 2",
            std::time::Duration::from_millis(2500),
            async |env| {
                let object = env.get_ok("gen-conn").await;
                check_condition(&object, "Ready", "Unknown", "Progressing")?;
                check_condition(&object, "Reconciling", "True", "Progressing")?;
                Ok(object)
            },
        )
        .await;
    assert_eq!(object["metadata"]["generation"], 2);
    env.admin.settings(json!({"latency_ms": 0})).await;
    let synced = env.wait_ready("gen-conn").await;
    assert_eq!(
        synced["status"]["remote"]["allowedDomain"],
        "next.example.com"
    );
}

#[tokio::test]
async fn connections_are_reconciled_in_parallel() {
    let Some(mut env) = Setup::new("parallel").resync("10m").start().await else {
        return;
    };
    // Each create takes 1.5 s to answer: four in a row would need 6 s.
    env.admin.settings(json!({"latency_ms": 1500})).await;
    let names = ["par-a", "par-b", "par-c", "par-d"];
    for name in names {
        env.put_token(name, &random_token("conn-token")).await;
    }
    let started = std::time::Instant::now();
    for name in names {
        env.create_ok(name, env.spec(name)).await;
    }
    for name in names {
        env.wait_ready(name).await;
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < std::time::Duration::from_millis(4500),
        "four slow creates took {elapsed:?}: they were not run in parallel"
    );
}

#[tokio::test]
async fn a_new_integration_moves_the_connection_using_that_integrations_own_credentials() {
    let Some(mut env) = Setup::new("move-integration").start().await else {
        return;
    };
    let token = random_token("conn-token");
    env.put_token("move-token", &token).await;
    env.create_ok("move-conn", env.spec("move-token")).await;
    env.wait_ready("move-conn").await;
    // Another integration, with an access token of its own under a key named after it.
    let other_access = random_token("other-access");
    env.admin
        .add_access_token("e2e-other", &other_access, &["read", "write"])
        .await;
    let access_token = env.access_token.clone();
    env.put_secret(
        super::harness::CREDENTIALS_SECRET,
        &[
            ("access-token", access_token.as_bytes()),
            ("e2e-other", other_access.as_bytes()),
        ],
    )
    .await;

    env.patch_spec_ok("move-conn", json!({"integration": "e2e-other"}))
        .await;
    let object = env.wait_ready("move-conn").await;

    assert_eq!(object["status"]["remote"]["integration"], "e2e-other");
    let moved = env
        .admin
        .bearer("e2e-other", "move-conn")
        .await
        .unwrap_or_else(|| panic!("no connection under e2e-other"));
    assert_eq!(moved["token"], token.as_str());
    assert!(
        env.remote("move-conn").await.is_none(),
        "the connection under the old integration leaked"
    );
}

#[tokio::test]
async fn renaming_an_orphan_policy_connection_leaves_the_old_remote_in_place() {
    let Some(mut env) = Setup::new("rename-orphan").start().await else {
        return;
    };
    let token = random_token("conn-token");
    env.put_token("rename-token", &token).await;
    let mut spec = env.spec("rename-token");
    spec["connectionName"] = json!("old-name");
    spec["deletionPolicy"] = json!("Orphan");
    env.create_ok("rename-conn", spec).await;
    env.wait_ready("rename-conn").await;

    env.patch_spec_ok("rename-conn", json!({"connectionName": "new-name"}))
        .await;
    let object = env.wait_ready("rename-conn").await;

    assert_eq!(object["status"]["remote"]["connectionName"], "new-name");
    assert!(
        env.remote("new-name").await.is_some(),
        "the new connection exists"
    );
    let old = env.remote("old-name").await.unwrap_or_default();
    assert_eq!(
        old["token"],
        token.as_str(),
        "the old connection is left in place"
    );
    let requests = env.admin.requests().await;
    assert_eq!(requests.with_method("DELETE"), 0, "no DELETE: {requests:?}");
}

#[tokio::test]
async fn a_domain_change_refused_for_an_unknown_reason_stalls_and_keeps_the_connection() {
    let Some(mut env) = Setup::new("domain-400").resync("10m").start().await else {
        return;
    };
    env.put_token("domain-token", &random_token("conn-token"))
        .await;
    env.create_ok("domain-conn", env.spec("domain-token")).await;
    env.wait_ready("domain-conn").await;
    let before = env.remote("domain-conn").await.unwrap_or_default();

    // ZIS refuses the PATCH with a 400 that does not say the domain is the problem; the same
    // PATCH without the domain is refused as well, so nothing proves the domain is the cause.
    env.admin
        .fault("PATCH", "bearer_token/domain-conn", 400, 2)
        .await;
    env.patch_spec_ok("domain-conn", json!({"allowedDomain": "new.example.com"}))
        .await;
    env.wait_condition("domain-conn", "Stalled", "True", "InvalidRequest")
        .await;

    let after = env.remote("domain-conn").await.unwrap_or_default();
    assert_eq!(
        after["created_at"], before["created_at"],
        "the connection is the same one"
    );
    assert_eq!(after["allowed_domain"], DOMAIN, "left as it was");
    let requests = env.admin.requests().await;
    assert_eq!(
        requests.with_method("DELETE"),
        0,
        "deleted on a guess: {requests:?}"
    );
    assert_eq!(
        requests.with_method("POST"),
        1,
        "created again: {requests:?}"
    );
}

#[tokio::test]
async fn a_rename_onto_a_name_taken_remotely_keeps_the_old_connection_working() {
    let Some(mut env) = Setup::new("rename-taken").resync("10m").start().await else {
        return;
    };
    let token = random_token("conn-token");
    env.put_token("rename-token", &token).await;
    let mut spec = env.spec("rename-token");
    spec["connectionName"] = json!("working-name");
    spec["adoptionPolicy"] = json!("Never");
    env.create_ok("rename-conn", spec).await;
    env.wait_ready("rename-conn").await;
    let working = env.remote("working-name").await.unwrap_or_default();
    env.admin
        .seed_bearer(
            INTEGRATION,
            "taken-name",
            &random_token("theirs"),
            "theirs.example.com",
        )
        .await;
    let theirs = env.remote("taken-name").await.unwrap_or_default();

    // The new name is taken and may not be adopted: the old connection must still be there.
    env.patch_spec_ok("rename-conn", json!({"connectionName": "taken-name"}))
        .await;
    env.wait_condition("rename-conn", "Stalled", "True", "Conflict")
        .await;
    assert_eq!(
        env.remote("working-name").await.unwrap_or_default(),
        working,
        "the working connection was removed before its replacement existed"
    );
    assert_eq!(env.remote("taken-name").await.unwrap_or_default(), theirs);

    // Back to the old name: the same connection serves again, nothing is created.
    env.patch_spec_ok("rename-conn", json!({"connectionName": "working-name"}))
        .await;
    let object = env.wait_ready("rename-conn").await;
    assert_eq!(object["status"]["remote"]["connectionName"], "working-name");
    assert_eq!(
        env.remote("working-name").await.unwrap_or_default()["created_at"],
        working["created_at"]
    );
    assert_eq!(env.admin.requests().await.with_method("DELETE"), 0);
}
