//! What `zis-operator run` says when it cannot start: the real binary, its exit status and
//! stderr. No cluster needed.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The operator's environment variables, removed so the developer's shell never leaks in.
const OPERATOR_ENV: &[&str] = &[
    "ZIS_ZENDESK_URL",
    "ZIS_SUBDOMAIN",
    "ZIS_CREDENTIALS_SECRET",
    "ZIS_ALLOW_HTTP",
    "ZIS_NAMESPACE",
    "ZIS_METRICS_ADDR",
];

fn run_operator(args: &[&str], kubeconfig: Option<&PathBuf>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_zis-operator"));
    for name in OPERATOR_ENV {
        command.env_remove(name);
    }
    command.arg("run").args(args).env("RUST_LOG", "info");
    if let Some(kubeconfig) = kubeconfig {
        command.env("KUBECONFIG", kubeconfig);
    }
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start zis-operator: {e}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("zis-operator {args:?} did not exit within 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("zis-operator output: {e}"))
}

#[test]
fn without_a_zendesk_account_the_error_names_both_flags_and_their_environment_variables() {
    let out = run_operator(
        &["--credentials-secret", "ops/zis", "--metrics-addr", "off"],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started without a Zendesk account");
    for needle in [
        "--subdomain",
        "ZIS_SUBDOMAIN",
        "--zendesk-url",
        "ZIS_ZENDESK_URL",
    ] {
        assert!(stderr.contains(needle), "{needle} missing from: {stderr}");
    }
}

#[test]
fn an_unreachable_cluster_is_named_by_its_url_with_the_cause() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let kubeconfig = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("unreachable-{}.kubeconfig", std::process::id()));
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster: {server: 'http://127.0.0.1:1'}\n\
         users:\n- name: u\n  user: {}\ncontexts:\n- name: gone\n  context: {cluster: gone, user: u}\n\
         current-context: gone\n",
    )
    .unwrap_or_else(|e| panic!("writing the kubeconfig: {e}"));
    let out = run_operator(
        &[
            "--zendesk-url",
            "http://127.0.0.1:2",
            "--allow-http",
            "--credentials-secret",
            "ops/zis",
            "--metrics-addr",
            "off",
        ],
        Some(&kubeconfig),
    );
    let _ = std::fs::remove_file(&kubeconfig);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started without a cluster: {stderr}");
    assert!(
        stderr.contains("Kubernetes API server at http://127.0.0.1:1"),
        "the API server's URL is not named: {stderr}"
    );
    assert!(
        stderr.to_lowercase().contains("connection refused"),
        "the cause is not given: {stderr}"
    );
}
