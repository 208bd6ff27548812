//! Starting the operator: configured by environment variables alone, and against a cluster
//! without the CRD, where it must stop at once and say how to install it rather than retry
//! forever (that test uses a Kubernetes API sandbox of its own: the shared one has the CRD).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use serde_json::json;

use super::harness::operator::{OperatorCommand, OperatorProcess, tail};

#[tokio::test]
async fn the_operator_exits_with_install_instructions_when_the_crd_is_missing() {
    let sandbox = zis_sandbox::kube::KubeSandbox::start(
        "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
    )
    .await
    .unwrap_or_else(|e| panic!("cannot start a Kubernetes API sandbox: {e}"));
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e-logs/no-crd");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let kubeconfig = dir.join(format!("kubeconfig-{}.yaml", std::process::id()));
    sandbox
        .write_kubeconfig(&kubeconfig)
        .unwrap_or_else(|e| panic!("{}: {e}", kubeconfig.display()));
    // Valid credentials, so the CRD is the only thing missing.
    let secrets: Api<Secret> = Api::namespaced(sandbox.client().await, "default");
    let credentials: Secret = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "zis-credentials", "namespace": "default"},
        "stringData": {"access-token": "not-used-by-this-test"},
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    secrets
        .create(&PostParams::default(), &credentials)
        .await
        .unwrap_or_else(|e| panic!("creating the credentials Secret: {e}"));

    let mut operator = OperatorProcess::spawn(OperatorCommand {
        kubeconfig: &kubeconfig,
        namespace: "default",
        zendesk_url: "http://127.0.0.1:9",
        resync_interval: "2s",
        rust_log: "zis_operator=debug",
        log_path: dir.join(format!("operator-{}.log", std::process::id())),
        via_env: false,
        lease: "no-crd",
        identity: "no-crd-operator",
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = operator.exited() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the operator is still running 15 s after start without the CRD:\n{}",
            tail(&operator.log(), 40)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let log = operator.log();
    assert!(
        !status.success(),
        "exit status {status} without the CRD:\n{log}"
    );
    assert!(
        log.contains("kubectl apply -f crds/zisbearerconnections.yaml"),
        "the message does not say how to install the CRD:\n{log}"
    );
}

#[tokio::test]
async fn the_operator_runs_configured_by_environment_variables_alone() {
    let Some(mut env) = super::harness::Setup::new("env-config")
        .configured_by_env()
        .start()
        .await
    else {
        return;
    };
    let token = super::harness::random_token("conn-token");
    env.put_token("env-token", &token).await;
    env.create_ok("env-conn", env.spec("env-token")).await;
    env.wait_ready("env-conn").await;
    assert_eq!(
        env.remote("env-conn").await.unwrap_or_default()["token"],
        token.as_str()
    );
}
