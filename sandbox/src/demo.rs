//! `zis-sandbox demo`: the whole lifecycle on a laptop, with no cluster and no Zendesk account.
//!
//! Starts the Kubernetes API sandbox and the fake ZIS server in this process, runs the real
//! `zis-operator` binary against them, and walks a `ZisBearerConnection` through create, token
//! rotation and delete, reading the fake's admin API to show what reached "Zendesk". Tokens are
//! demo values, but they are still only compared, never printed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, PostParams};
use kube::core::ObjectMeta;
use serde_json::{Value, json};

use crate::kube::KubeSandbox;
use crate::zis::{FakeZis, FakeZisConfig};

type DemoError = Box<dyn std::error::Error + Send + Sync>;

const CRD_YAML: &str = include_str!("../../crds/zisbearerconnections.yaml");
const INTEGRATION: &str = "demo_integration";
const ACCESS_TOKEN: &str = "demo-access-token-not-a-real-secret";
const NAMESPACE: &str = "demo";
const OPERATOR_NAMESPACE: &str = "zis-system";
const CONNECTION: &str = "payments-api";
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// Command-line arguments of `zis-sandbox demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// After the walkthrough, keep everything running (with a connection applied) and print the
    /// kubeconfig path so you can try kubectl; stop with Ctrl-C.
    #[arg(long)]
    pub keep_running: bool,
    /// Path of the `zis-operator` binary; default: next to this binary (built first when run
    /// through cargo).
    #[arg(long)]
    pub operator_binary: Option<PathBuf>,
    /// Where to write the kubeconfig of the sandbox; default: a temporary directory.
    #[arg(long)]
    pub kubeconfig_out: Option<PathBuf>,
}

/// Runs the demo.
pub async fn run(args: DemoArgs) -> Result<(), DemoError> {
    let operator_binary = match args.operator_binary {
        Some(path) => path,
        None => locate_operator_binary()?,
    };
    let workdir = std::env::temp_dir().join(format!("zis-demo-{}", std::process::id()));
    std::fs::create_dir_all(&workdir)?;
    let kubeconfig = args
        .kubeconfig_out
        .unwrap_or_else(|| workdir.join("kubeconfig"));

    let loopback: SocketAddr = "127.0.0.1:0".parse()?;
    let kube = KubeSandbox::start(loopback).await?;
    kube.write_kubeconfig(&kubeconfig)?;
    say(&format!(
        "Kubernetes API sandbox listening on {}",
        kube.url()
    ));

    let zis = FakeZis::start(
        FakeZisConfig {
            integrations: vec![(INTEGRATION.to_owned(), ACCESS_TOKEN.to_owned())],
            patch_allowed_domain: true,
            rate_limit_per_minute: Some(400),
        },
        loopback,
    )
    .await?;
    say(&format!(
        "fake ZIS listening on {} (integration {INTEGRATION})",
        zis.url()
    ));

    let client = kube.client().await;
    install_crd(&client).await?;
    create_namespace(&client, OPERATOR_NAMESPACE).await?;
    create_namespace(&client, NAMESPACE).await?;
    put_secret(
        &client,
        OPERATOR_NAMESPACE,
        "zis-credentials",
        "access-token",
        ACCESS_TOKEN,
    )
    .await?;
    say("installed the CRD and the operator's credentials Secret zis-system/zis-credentials");

    let log_path = workdir.join("operator.log");
    let mut operator = start_operator(&operator_binary, &kubeconfig, &zis.url(), &log_path)?;
    say(&format!(
        "started {} (log: {})",
        operator_binary.display(),
        log_path.display()
    ));

    let outcome = walkthrough(&client, &zis.url(), args.keep_running).await;
    if outcome.is_ok() && args.keep_running {
        say(&format!(
            "everything keeps running. Try:\n    export KUBECONFIG={}\n    kubectl get zbc -n {NAMESPACE}\n    kubectl get zbc {CONNECTION} -n {NAMESPACE} -o yaml\n    curl -s {}/_fake/connections\n  Ctrl-C to stop.",
            kubeconfig.display(),
            zis.url()
        ));
        tokio::signal::ctrl_c().await?;
    }
    let _ = operator.start_kill();
    let _ = operator.wait().await;
    zis.shutdown().await;
    kube.shutdown().await;
    if outcome.is_err() {
        eprintln!("--- last lines of the operator log ---");
        eprintln!("{}", tail(&log_path, 30));
    }
    outcome
}

/// The lifecycle: apply, rotate, delete; each step waits for the remote side to follow.
async fn walkthrough(
    client: &kube::Client,
    zis_url: &str,
    keep_running: bool,
) -> Result<(), DemoError> {
    let admin = Admin::new(zis_url);
    let connections = connection_api(client);

    put_secret(
        client,
        NAMESPACE,
        "payments-token",
        "token",
        "token-v1-demo",
    )
    .await?;
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "zis-operator.dev/v1alpha1",
        "kind": "ZisBearerConnection",
        "metadata": {"name": CONNECTION, "namespace": NAMESPACE},
        "spec": {
            "integration": INTEGRATION,
            "allowedDomain": "api.payments.example.com",
            "tokenSecretRef": {"name": "payments-token"}
        }
    }))?;
    let started = Instant::now();
    connections.create(&PostParams::default(), &object).await?;
    say("applied Secret demo/payments-token and ZisBearerConnection demo/payments-api");
    wait_until(
        "the remote connection to exist with the Secret's token",
        || async { Ok(admin.remote_token().await? == Some("token-v1-demo".to_owned())) },
    )
    .await?;
    wait_until("the object to be Ready", || async {
        ready_status(&connections)
            .await
            .map(|s| s.as_deref() == Some("True"))
    })
    .await?;
    let remote = admin.remote().await?.unwrap_or(Value::Null);
    say(&format!(
        "remote connection {CONNECTION} created for domain {} in {} ms; Ready=True",
        remote["allowed_domain"].as_str().unwrap_or("?"),
        started.elapsed().as_millis()
    ));
    if let Some(object) = connections.get_opt(CONNECTION).await? {
        let status = &object.data["status"];
        say(&format!(
            "status records remote {}/{} created_at {}, token fingerprint {} (never the token)",
            status["remote"]["integration"].as_str().unwrap_or("?"),
            status["remote"]["connectionName"].as_str().unwrap_or("?"),
            status["createdAt"].as_str().unwrap_or("?"),
            status["tokenFingerprint"].as_str().unwrap_or("?"),
        ));
    }

    let started = Instant::now();
    put_secret(
        client,
        NAMESPACE,
        "payments-token",
        "token",
        "token-v2-rotated",
    )
    .await?;
    wait_until("the remote token to follow the rotation", || async {
        Ok(admin.remote_token().await? == Some("token-v2-rotated".to_owned()))
    })
    .await?;
    say(&format!(
        "rotated the Secret: the remote token followed in {} ms",
        started.elapsed().as_millis()
    ));

    if keep_running {
        return Ok(());
    }
    let started = Instant::now();
    connections
        .delete(CONNECTION, &DeleteParams::default())
        .await?;
    wait_until("the remote connection to be deleted", || async {
        Ok(admin.remote().await?.is_none())
    })
    .await?;
    wait_until("the object to be gone", || async {
        Ok(connections.get_opt(CONNECTION).await?.is_none())
    })
    .await?;
    say(&format!(
        "deleted the object: the finalizer removed the remote connection in {} ms",
        started.elapsed().as_millis()
    ));
    say("demo complete: create, rotate and delete all reached ZIS");
    Ok(())
}

fn say(line: &str) {
    println!("==> {line}");
}

/// The operator binary next to this one; when run through cargo, built first so it is current.
fn locate_operator_binary() -> Result<PathBuf, DemoError> {
    let own = std::env::current_exe()?;
    let dir = own.parent().ok_or("cannot tell where zis-sandbox lives")?;
    let candidate = dir.join(format!("zis-operator{}", std::env::consts::EXE_SUFFIX));
    if let Ok(cargo) = std::env::var("CARGO") {
        let release = dir.file_name().is_some_and(|name| name == "release");
        let mut build = std::process::Command::new(cargo);
        build.args([
            "build",
            "--bin",
            "zis-operator",
            "--package",
            "zis-operator",
        ]);
        if release {
            build.arg("--release");
        }
        say(&format!(
            "building zis-operator (cargo build --bin zis-operator{})",
            if release { " --release" } else { "" }
        ));
        let status = build.status()?;
        if !status.success() {
            return Err("building zis-operator failed".into());
        }
    }
    if candidate.exists() {
        Ok(candidate)
    } else {
        Err(format!(
            "{} not found: run `cargo build --release` first or pass --operator-binary",
            candidate.display()
        )
        .into())
    }
}

fn start_operator(
    binary: &Path,
    kubeconfig: &Path,
    zis_url: &str,
    log_path: &Path,
) -> Result<tokio::process::Child, DemoError> {
    let log = std::fs::File::create(log_path)?;
    let child = tokio::process::Command::new(binary)
        .args([
            "run",
            "--zendesk-url",
            zis_url,
            "--allow-http",
            "--credentials-secret",
            &format!("{OPERATOR_NAMESPACE}/zis-credentials"),
            "--resync-interval",
            "30s",
            // Any free port: the demo must not collide with whatever already uses 8080.
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .env("KUBECONFIG", kubeconfig)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()?;
    Ok(child)
}

async fn install_crd(client: &kube::Client) -> Result<(), DemoError> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crd: CustomResourceDefinition = serde_yaml::from_str(CRD_YAML)?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &crd).await?;
    let name = crd.metadata.name.clone().unwrap_or_default();
    wait_until("the CRD to be established", || async {
        let current = crds.get(&name).await?;
        Ok(current
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True"))
    })
    .await
}

async fn create_namespace(client: &kube::Client, name: &str) -> Result<(), DemoError> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    namespaces
        .create(&PostParams::default(), &namespace)
        .await?;
    Ok(())
}

/// Creates or replaces a one-key Secret.
async fn put_secret(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    key: &str,
    value: &str,
) -> Result<(), DemoError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        string_data: Some([(key.to_owned(), value.to_owned())].into()),
        ..Secret::default()
    };
    match secrets.get_opt(name).await? {
        None => {
            secrets.create(&PostParams::default(), &secret).await?;
        }
        Some(existing) => {
            secret.metadata.resource_version = existing.metadata.resource_version;
            secret.data = Some(
                [(
                    key.to_owned(),
                    k8s_openapi::ByteString(value.as_bytes().to_vec()),
                )]
                .into(),
            );
            secret.string_data = None;
            secrets
                .replace(name, &PostParams::default(), &secret)
                .await?;
        }
    }
    Ok(())
}

fn connection_api(client: &kube::Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("zis-operator.dev", "v1alpha1", "ZisBearerConnection");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "zisbearerconnections");
    Api::namespaced_with(client.clone(), NAMESPACE, &resource)
}

async fn ready_status(connections: &Api<DynamicObject>) -> Result<Option<String>, DemoError> {
    let Some(object) = connections.get_opt(CONNECTION).await? else {
        return Ok(None);
    };
    let conditions = object.data["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Ok(conditions
        .iter()
        .find(|c| c["type"] == "Ready")
        .and_then(|c| c["status"].as_str())
        .map(str::to_owned))
}

async fn wait_until<F, Fut>(what: &str, mut check: F) -> Result<(), DemoError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, DemoError>>,
{
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        if check().await.unwrap_or(false) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("timed out after {STEP_TIMEOUT:?} waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The fake's admin API, which shows the true remote state (a test facility).
struct Admin {
    http: reqwest::Client,
    url: String,
}

impl Admin {
    fn new(zis_url: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: format!("{zis_url}/_fake/connections"),
        }
    }

    async fn remote(&self) -> Result<Option<Value>, DemoError> {
        let body: Value = self.http.get(&self.url).send().await?.json().await?;
        Ok(body["connections"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| {
                c["integration"] == INTEGRATION
                    && c["type"] == "bearer_token"
                    && c["name"] == CONNECTION
            })
            .cloned())
    }

    async fn remote_token(&self) -> Result<Option<String>, DemoError> {
        Ok(self
            .remote()
            .await?
            .and_then(|c| c["token"].as_str().map(str::to_owned)))
    }
}
