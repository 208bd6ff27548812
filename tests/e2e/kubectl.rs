//! What a person sees with real kubectl: `kubectl wait --for=condition=Ready` works on the status
//! the operator writes, and `kubectl get` shows the printer columns and the `zis` category.
//! Skipped (with a note) where no `kubectl` is installed.

use std::process::Command;

use super::harness::cluster::cluster;
use super::harness::{DOMAIN, INTEGRATION, Setup, random_token};

fn kubectl_available() -> bool {
    Command::new(&cluster().kubectl)
        .args(["version", "--client"])
        .output()
        .is_ok_and(|out| out.status.success())
}

fn kubectl(ns: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(&cluster().kubectl)
        .env("KUBECONFIG", &cluster().kubeconfig)
        .arg("--namespace")
        .arg(ns)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run kubectl: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn kubectl_waits_for_ready_and_shows_the_printer_columns() {
    let Some(env) = Setup::new("kubectl").start().await else {
        return;
    };
    if !kubectl_available() {
        eprintln!("kubectl is not installed: skipping");
        return;
    }
    env.put_token("kubectl-token", &random_token("conn-token"))
        .await;
    env.create_ok("kubectl-conn", env.spec("kubectl-token"))
        .await;
    let ns = env.ns.clone();

    // kubectl blocks; run it off the test's runtime so the fake ZIS keeps serving.
    let wait_ns = ns.clone();
    let (waited, output) = tokio::task::spawn_blocking(move || {
        kubectl(
            &wait_ns,
            &[
                "wait",
                "--for=condition=Ready",
                "zbc/kubectl-conn",
                "--timeout=20s",
            ],
        )
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(waited, "kubectl wait failed: {output}");

    let (listed, table) = tokio::task::spawn_blocking(move || kubectl(&ns, &["get", "zbc"]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(listed, "kubectl get zbc failed: {table}");
    let mut lines = table.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "INTEGRATION",
            "CONNECTION",
            "DOMAIN",
            "READY",
            "REASON",
            "AGE"
        ],
        "columns of kubectl get:\n{table}"
    );
    let row: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        row.get(..6),
        Some(
            &[
                "kubectl-conn",
                INTEGRATION,
                "kubectl-conn",
                DOMAIN,
                "True",
                "Synced"
            ][..]
        ),
        "the row of kubectl get:\n{table}"
    );
}
