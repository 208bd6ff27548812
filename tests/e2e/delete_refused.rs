//! A deletion ZIS refuses for good says how to get out: the `DeleteFailed` status and event name
//! `spec.deletionPolicy: Orphan`, and setting it lets the object go at once, leaving the remote
//! connection in place.

use serde_json::json;

use super::harness::{Setup, condition, random_token};

#[tokio::test]
async fn a_deletion_refused_for_good_names_the_orphan_policy_and_setting_it_lets_the_object_go() {
    let Some(mut env) = Setup::new("delete-refused").resync("10m").start().await else {
        return;
    };
    env.put_token("refused-token", &random_token("conn-token"))
        .await;
    env.create_ok("refused-conn", env.spec("refused-token"))
        .await;
    env.wait_ready("refused-conn").await;
    // ZIS refuses every delete: a token without the write scope would look like this.
    env.admin.fault("DELETE", "bearer_token", 403, 100).await;

    env.delete("refused-conn").await;
    let object = env
        .wait_condition("refused-conn", "Ready", "False", "DeleteFailed")
        .await;
    let message = condition(&object, "Ready")
        .and_then(|ready| ready["message"].as_str())
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("403") && message.contains("set spec.deletionPolicy: Orphan"),
        "the DeleteFailed message: {message}"
    );
    let event = env.wait_event("refused-conn", "DeleteFailed").await;
    assert_eq!(event.type_, "Warning");
    assert!(
        event.message.contains("spec.deletionPolicy: Orphan"),
        "the DeleteFailed event: {}",
        event.message
    );

    env.patch_spec_ok("refused-conn", json!({"deletionPolicy": "Orphan"}))
        .await;
    env.wait_gone("refused-conn").await;
    assert!(
        env.remote("refused-conn").await.is_some(),
        "the remote connection stays under Orphan"
    );
}
