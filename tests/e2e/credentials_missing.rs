//! A missing credentials Secret is a warning worth reading: logged at WARN, naming the Secret,
//! once when it is found missing (at start, or deleted later), not at every retry.

use std::time::Duration;

use super::harness::env::TestEnv;
use super::harness::{CREDENTIALS_SECRET, Setup, random_token};

/// The operator's log lines that warn about the missing credentials Secret.
fn missing_warnings(env: &TestEnv) -> Vec<String> {
    env.operator_output()
        .lines()
        .filter(|line| {
            // The operator's own line, not each object's "not in sync" (once per object).
            line.contains("WARN zis_operator::runtime")
                && line.contains(&format!("{}/{CREDENTIALS_SECRET}", env.ns))
                && line.contains("does not exist")
        })
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn a_missing_credentials_secret_is_a_warning_once_until_it_is_created() {
    let Some(mut env) = Setup::new("creds-missing").without_operator().start().await else {
        return;
    };
    env.delete_secret(CREDENTIALS_SECRET).await;
    env.start_operator();
    env.put_token("missing-token", &random_token("conn-token"))
        .await;
    env.create_ok("missing-conn", env.spec("missing-token"))
        .await;
    env.wait_condition("missing-conn", "Ready", "False", "CredentialsMissing")
        .await;
    // Past a few resyncs (2 s) and retries: still one warning.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let warnings = missing_warnings(&env);
    assert_eq!(
        warnings.len(),
        1,
        "expected one WARN about the missing credentials secret, got: {warnings:#?}\n{}",
        env.operator_output()
    );

    let access_token = env.access_token.clone();
    env.put_credentials(&access_token).await;
    env.wait_ready("missing-conn").await;

    // Deleted later: warned again, once.
    env.delete_secret(CREDENTIALS_SECRET).await;
    env.eventually(
        "a second warning after the deletion",
        Duration::from_secs(10),
        async |env| match missing_warnings(env).len() {
            2 => Ok(()),
            n => Err(format!("{n} warnings")),
        },
    )
    .await;
}
