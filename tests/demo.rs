//! The README's quick start must keep working: run the demo's walkthrough (create, rotate,
//! delete) against the real operator binary built for this test run.

use zis_sandbox::demo::{DemoArgs, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quick_start_demo_walks_a_connection_through_create_rotate_and_delete() {
    let kubeconfig =
        std::env::temp_dir().join(format!("zis-demo-test-{}.kubeconfig", std::process::id()));
    let outcome = run(DemoArgs {
        keep_running: false,
        operator_binary: Some(env!("CARGO_BIN_EXE_zis-operator").into()),
        kubeconfig_out: Some(kubeconfig.clone()),
    })
    .await;
    let _ = std::fs::remove_file(&kubeconfig);
    if let Err(error) = outcome {
        panic!("the demo failed: {error}");
    }
}
