//! The operator binary's metrics server end to end: an in-process Kubernetes API sandbox and
//! fake ZIS, the real `zis-operator` process with `--metrics-addr 127.0.0.1:0`, one connection
//! created through it; then `/metrics`, `/healthz` and `/readyz` are read over HTTP.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use zis_operator::resource::ZisBearerConnection;
use zis_sandbox::kube::KubeSandbox;
use zis_sandbox::zis::{FakeZis, FakeZisConfig};

const NAMESPACE: &str = "metrics-e2e";
const INTEGRATION: &str = "metrics-app";
const WAIT: Duration = Duration::from_secs(30);

/// The operator process; killed when dropped so a failing test leaves nothing behind.
struct Operator {
    child: Child,
    log: PathBuf,
}

impl Operator {
    fn spawn(args: &[&str], kubeconfig: &Path, log: PathBuf) -> Operator {
        let file = std::fs::File::create(&log).expect("log file");
        let err = file.try_clone().expect("log file handle");
        let child = Command::new(env!("CARGO_BIN_EXE_zis-operator"))
            .arg("run")
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info")
            .env_remove("ZIS_METRICS_ADDR")
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("starts zis-operator");
        Operator { child, log }
    }

    fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    /// Waits for the process to end by itself.
    async fn exit_within(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the operator did not exit; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The address from the "metrics listening on ..." log line.
    async fn metrics_addr(&mut self) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let log = self.log();
            if let Some(addr) = log
                .lines()
                .find_map(|line| line.split("metrics listening on ").nth(1))
                .and_then(|rest| rest.split_whitespace().next())
            {
                return addr.to_owned();
            }
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("the operator exited ({status}) before listening; log:\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "no metrics address logged:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_path(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("metrics-test");
    std::fs::create_dir_all(&dir).expect("log dir");
    dir.join(format!("{name}-{}.log", std::process::id()))
}

fn secret(name: &str, data: &[(&str, &str)]) -> Secret {
    let mut secret = Secret::default();
    secret.metadata.name = Some(name.to_owned());
    secret.data = Some(
        data.iter()
            .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
            .collect(),
    );
    secret
}

async fn http_get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.expect("metrics server answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

async fn install_crd(client: &kube::Client) {
    let yaml = zis_operator::resource::crd_yaml().expect("crd yaml");
    let crd: CustomResourceDefinition = serde_yaml::from_str(&yaml).expect("crd");
    Api::<CustomResourceDefinition>::all(client.clone())
        .create(&PostParams::default(), &crd)
        .await
        .expect("crd installed");
}

/// The value of the first sample line starting with `series` (labels included).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series))
        .and_then(|rest| rest.trim().parse().ok())
}

#[tokio::test]
async fn metrics_count_reconciles_and_zis_requests_without_any_token() {
    let sandbox = KubeSandbox::start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("kube sandbox");
    let kubeconfig = log_path("kubeconfig").with_extension("yaml");
    sandbox.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let client = sandbox.client().await;
    install_crd(&client).await;

    let access_token = "zis-access-metrics-test-3f9a1c7d5e2b4a68";
    let connection_token = "connection-token-metrics-test-8e1d2c3b4a5f6071";
    let fake = FakeZis::start(
        FakeZisConfig::new(INTEGRATION, access_token),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("fake zis");

    let namespace: Namespace =
        serde_json::from_value(json!({"metadata": {"name": NAMESPACE}})).expect("namespace");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .expect("namespace created");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NAMESPACE);
    for s in [
        secret("zis-credentials", &[("access-token", access_token)]),
        secret("webhook-token", &[("token", connection_token)]),
    ] {
        secrets
            .create(&PostParams::default(), &s)
            .await
            .expect("secret created");
    }

    let credentials = format!("{NAMESPACE}/zis-credentials");
    let url = fake.url();
    let mut operator = Operator::spawn(
        &[
            "--namespace",
            NAMESPACE,
            "--zendesk-url",
            &url,
            "--allow-http",
            "--credentials-secret",
            &credentials,
            "--metrics-addr",
            "127.0.0.1:0",
        ],
        &kubeconfig,
        log_path("operator"),
    );
    let base = format!("http://{}", operator.metrics_addr().await);
    assert_eq!(http_get(&format!("{base}/healthz")).await.0, 200);

    let objects: Api<ZisBearerConnection> = Api::namespaced(client.clone(), NAMESPACE);
    let object: ZisBearerConnection = serde_json::from_value(json!({
        "apiVersion": "zis-operator.dev/v1alpha1",
        "kind": "ZisBearerConnection",
        "metadata": {"name": "webhook"},
        "spec": {
            "integration": INTEGRATION,
            "allowedDomain": "api.example.com",
            "tokenSecretRef": {"name": "webhook-token"},
        },
    }))
    .expect("object");
    objects
        .create(&PostParams::default(), &object)
        .await
        .expect("object created");

    // Synced: the gauge of objects by Ready condition says so.
    let deadline = Instant::now() + WAIT;
    let text = loop {
        let (status, text) = http_get(&format!("{base}/metrics")).await;
        assert_eq!(status, 200);
        if sample(
            &text,
            "zis_operator_connections{ready=\"True\",reason=\"Synced\"}",
        ) == Some(1.0)
        {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "not synced in time; metrics:\n{text}\nlog:\n{}",
            operator.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let deadline = Instant::now() + WAIT;
    while http_get(&format!("{base}/readyz")).await.0 != 200 {
        assert!(
            Instant::now() < deadline,
            "never ready; log:\n{}",
            operator.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let ok = sample(&text, "zis_operator_reconciles_total{result=\"ok\"}").unwrap_or(0.0);
    assert!(ok >= 1.0, "no successful reconcile counted:\n{text}");
    assert_eq!(
        sample(
            &text,
            "zis_operator_zis_requests_total{method=\"POST\",endpoint=\"bearer_token\",status=\"2xx\",outcome=\"success\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        text.contains("zis_operator_zis_pacer_wait_seconds_count"),
        "{text}"
    );
    for secret in [access_token, connection_token] {
        assert!(!text.contains(secret), "a token is in the metrics:\n{text}");
    }
    // Bounded labels: no object, namespace, connection or integration name.
    for name in [NAMESPACE, INTEGRATION, "webhook"] {
        assert!(!text.contains(name), "{name} is in the metrics:\n{text}");
    }

    // SIGTERM stops the operator and its metrics server with it.
    let pid = operator.child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = operator.exit_within(WAIT).await;
    assert!(status.success(), "exit {status}; log:\n{}", operator.log());
    assert!(reqwest::get(format!("{base}/healthz")).await.is_err());
    fake.shutdown().await;
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_operator_exits_at_once_when_its_metrics_address_is_taken() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let addr = taken.local_addr().expect("bound").to_string();
    let mut operator = Operator::spawn(
        &[
            "--zendesk-url",
            "http://127.0.0.1:9",
            "--allow-http",
            "--credentials-secret",
            "ns/zis-credentials",
            "--metrics-addr",
            &addr,
        ],
        Path::new("/nonexistent/kubeconfig"),
        log_path("taken"),
    );
    let status = operator.exit_within(WAIT).await;
    assert!(!status.success());
    let log = operator.log();
    assert!(
        log.contains(&format!("cannot listen for metrics on {addr}")),
        "{log}"
    );
}
