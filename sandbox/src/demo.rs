//! `zis-sandbox demo`: the whole lifecycle on a laptop, with no cluster and no Zendesk account.
//!
//! Starts the Kubernetes API sandbox and the fake ZIS server in this process, runs the real
//! `zis-operator` binary against them, and walks a `ZisBearerConnection` through create, token
//! rotation and delete, reading the fake's admin API to show what reached "Zendesk". Connection
//! tokens are demo values, but they are still only compared, never printed.
//!
//! The demo agrees with `examples/`: its local ZIS serves the examples' integration
//! (`my_integration`) and accepts the placeholder access token that
//! `examples/operator-credentials.yaml` ships with, so with `--keep-running` the examples apply
//! unchanged (the walk-through in `examples/README.md`, which `tests/demo.rs` runs as written).
//! That placeholder is printed: it is public, and only this local server accepts it. The demo's
//! own object uses another name (`orders-api`) so that it never competes with `payments-api`.
//!
//! Files (kubeconfig, operator log) go to a directory of their own under the system's temporary
//! directory, removed when the demo ends: done, Ctrl-C, SIGTERM. Only a failed walkthrough keeps
//! it, and says so, for the operator's log.
//!
//! The operator binary is built through cargo when the demo itself runs under `cargo run`; that
//! inner build must not inherit the variables cargo sets for the program it runs (see
//! [`scrub_cargo_env`]), or it and the outer build undo each other's work on every run.

use std::ffi::{OsStr, OsString};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, PostParams};
use kube::core::ObjectMeta;
use serde_json::{Value, json};

use crate::kube::KubeSandbox;
use crate::zis::{FakeZis, FakeZisConfig};

type DemoError = Box<dyn std::error::Error + Send + Sync>;

const CRD_YAML: &str = include_str!("../../crds/zisbearerconnections.yaml");
/// The integration `examples/` use.
pub const INTEGRATION: &str = "my_integration";
/// The placeholder of `examples/operator-credentials.yaml`, which the demo's local ZIS accepts:
/// applying that example in the demo changes nothing.
pub const ACCESS_TOKEN: &str = "replace-with-your-zis-oauth-access-token";
const NAMESPACE: &str = "demo";
const OPERATOR_NAMESPACE: &str = "zis-system";
const CREDENTIALS_SECRET: &str = "zis-credentials";
/// Not `payments-api`: that is the examples' connection, which a user applies next to it.
const CONNECTION: &str = "orders-api";
const TOKEN_SECRET: &str = "orders-token";
const DOMAIN: &str = "api.orders.example.com";
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// Command-line arguments of `zis-sandbox demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// After the walkthrough, keep everything running (with a connection applied) and print the
    /// kubeconfig path so you can try kubectl and the examples; stop with Ctrl-C.
    #[arg(long)]
    pub keep_running: bool,
    /// Path of the `zis-operator` binary; default: next to this binary (built first when run
    /// through cargo).
    #[arg(long)]
    pub operator_binary: Option<PathBuf>,
    /// Where to write the kubeconfig of the sandbox (left in place at the end); default: the
    /// demo's temporary directory.
    #[arg(long)]
    pub kubeconfig_out: Option<PathBuf>,
}

/// What a demo that finished its walkthrough serves (see [`run_with`]).
#[derive(Debug, Clone)]
pub struct Running {
    pub kubeconfig: PathBuf,
    /// Base URL of the local ZIS (its admin API is under `/_fake/`).
    pub zis_url: String,
    /// The demo's temporary directory (removed when the demo ends).
    pub workdir: PathBuf,
}

/// A stop request: SIGINT (Ctrl-C) or SIGTERM.
pub(crate) type Stop = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs the demo until it is done or (with `--keep-running`) until Ctrl-C or SIGTERM.
pub async fn run(args: DemoArgs) -> Result<(), DemoError> {
    // Registered before anything is started: from here on a signal stops the demo through its
    // cleanup instead of killing the process.
    let stop = stop_signal()?;
    run_with(args, stop, |_| {}).await
}

/// The demo, stopped early (and cleaned up) when `stop` completes. `on_ready` is called once the
/// walkthrough is done, before the demo waits for `stop` (with `keep_running`) or ends.
pub async fn run_with(
    args: DemoArgs,
    stop: impl Future<Output = ()>,
    on_ready: impl FnOnce(&Running),
) -> Result<(), DemoError> {
    let operator_binary = match args.operator_binary {
        Some(path) => path,
        None => locate_operator_binary(say)?,
    };
    let mut workdir = Workdir::create()?;
    let kubeconfig = args
        .kubeconfig_out
        .unwrap_or_else(|| workdir.path.join("kubeconfig"));

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
        "local ZIS listening on {} (integration {INTEGRATION})",
        zis.url()
    ));

    let client = kube.client().await;
    install_crd(&client).await?;
    create_namespace(&client, OPERATOR_NAMESPACE).await?;
    create_namespace(&client, NAMESPACE).await?;
    put_secret(
        &client,
        OPERATOR_NAMESPACE,
        CREDENTIALS_SECRET,
        "access-token",
        ACCESS_TOKEN,
    )
    .await?;
    say(&format!(
        "installed the CRD and the operator's credentials: Secret \
         {OPERATOR_NAMESPACE}/{CREDENTIALS_SECRET}, key access-token = {ACCESS_TOKEN:?}, the \
         placeholder of examples/operator-credentials.yaml, which this local ZIS accepts for \
         {INTEGRATION} (a real account needs a ZIS OAuth access token: README, \"Getting a ZIS \
         access token\")"
    ));

    let log_path = workdir.path.join("operator.log");
    let mut operator = start_operator(&operator_binary, &kubeconfig, &zis.url(), &log_path)?;
    say(&format!(
        "started {} (log: {})",
        operator_binary.display(),
        log_path.display()
    ));

    let running = Running {
        kubeconfig: kubeconfig.clone(),
        zis_url: zis.url(),
        workdir: workdir.path.clone(),
    };
    tokio::pin!(stop);
    let walked = tokio::select! {
        outcome = walkthrough(&client, &running.zis_url, args.keep_running) => Some(outcome),
        () = &mut stop => None,
    };
    let outcome = match walked {
        Some(Ok(())) => {
            if args.keep_running {
                say(&format!(
                    "everything keeps running. Try:\n    export KUBECONFIG={}\n    kubectl get zbc -A\n    curl -s {}/_fake/connections\n  and the walk-through of examples/README.md (kubectl create namespace shop; kubectl apply -n shop -f examples/connection.yaml; ...).\n  Ctrl-C stops everything and removes {}.",
                    kubeconfig.display(),
                    zis.url(),
                    workdir.path.display()
                ));
                on_ready(&running);
                stop.await;
                say("stopping");
            } else {
                on_ready(&running);
            }
            Ok(())
        }
        Some(Err(error)) => {
            workdir.keep = true;
            Err(error)
        }
        None => Err("interrupted before the walkthrough finished".into()),
    };
    let _ = operator.start_kill();
    let _ = operator.wait().await;
    zis.shutdown().await;
    kube.shutdown().await;
    if outcome.is_err() && workdir.keep {
        eprintln!("--- last lines of the operator log ---");
        eprintln!("{}", tail(&log_path, 30));
        eprintln!(
            "--- the operator's full log and the kubeconfig stay in {} (remove it when done) ---",
            workdir.path.display()
        );
    }
    outcome
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM; the handlers are installed when this is called.
pub(crate) fn stop_signal() -> std::io::Result<Stop> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(Box::pin(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        }))
    }
    #[cfg(not(unix))]
    {
        Ok(Box::pin(async {
            let _ = tokio::signal::ctrl_c().await;
        }))
    }
}

/// The demo's temporary directory, removed on drop unless `keep` is set.
struct Workdir {
    path: PathBuf,
    keep: bool,
}

impl Workdir {
    fn create() -> std::io::Result<Self> {
        // Several demos may run in one process (tests): each gets its own directory.
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let run = RUNS.fetch_add(1, Ordering::Relaxed);
        let mut name = format!("zis-demo-{}", std::process::id());
        if run > 0 {
            name.push_str(&format!("-{run}"));
        }
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path)?;
        Ok(Self { path, keep: false })
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The lifecycle: apply, rotate, delete; each step waits for the remote side to follow.
async fn walkthrough(
    client: &kube::Client,
    zis_url: &str,
    keep_running: bool,
) -> Result<(), DemoError> {
    let admin = Admin::new(zis_url);
    let connections = connection_api(client);

    put_secret(client, NAMESPACE, TOKEN_SECRET, "token", "token-v1-demo").await?;
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "zis-operator.dev/v1alpha1",
        "kind": "ZisBearerConnection",
        "metadata": {"name": CONNECTION, "namespace": NAMESPACE},
        "spec": {
            "integration": INTEGRATION,
            "allowedDomain": DOMAIN,
            "tokenSecretRef": {"name": TOKEN_SECRET}
        }
    }))?;
    let started = Instant::now();
    connections.create(&PostParams::default(), &object).await?;
    say(&format!(
        "applied Secret {NAMESPACE}/{TOKEN_SECRET} and ZisBearerConnection {NAMESPACE}/{CONNECTION}"
    ));
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
    put_secret(client, NAMESPACE, TOKEN_SECRET, "token", "token-v2-rotated").await?;
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

/// The operator binary next to this one; when run through cargo, built first so it is current
/// (`progress` says so: the demo on stdout, the benchmark on stderr).
pub(crate) fn locate_operator_binary(progress: fn(&str)) -> Result<PathBuf, DemoError> {
    let own = std::env::current_exe()?;
    let dir = own.parent().ok_or("cannot tell where zis-sandbox lives")?;
    let candidate = dir.join(format!("zis-operator{}", std::env::consts::EXE_SUFFIX));
    if let Some(cargo) = std::env::var_os("CARGO") {
        let release = dir.file_name().is_some_and(|name| name == "release");
        progress(&format!(
            "building zis-operator (cargo build --bin zis-operator{}): the first run compiles \
             everything, about 12 minutes on 2 cores; later runs take seconds",
            if release { " --release" } else { "" }
        ));
        let status = operator_build_command(&cargo, release).status()?;
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

/// `cargo build --bin zis-operator --package zis-operator [--release]`, in an environment
/// without the variables cargo set for this program (see [`scrub_cargo_env`]).
pub fn operator_build_command(cargo: &OsStr, release: bool) -> std::process::Command {
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
    scrub_cargo_env(&mut build);
    build
}

/// Variables cargo sets for the program it runs (`cargo run`, `cargo test`), describing that
/// program's package, besides the prefixes in [`CARGO_RUN_PREFIXES`].
const CARGO_RUN_VARIABLES: [&str; 9] = [
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_MANIFEST_LINKS",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
    "OUT_DIR",
];
/// Prefixes of the variables cargo sets for the program it runs (`CARGO_PKG_NAME`,
/// `CARGO_BIN_EXE_<name>`, ...) or for build scripts (`CARGO_CFG_*`).
const CARGO_RUN_PREFIXES: [&str; 3] = ["CARGO_PKG_", "CARGO_BIN_EXE_", "CARGO_CFG_"];

/// Whether cargo sets `name` for the program it runs (so a cargo started by that program must not
/// inherit it).
pub fn is_set_by_cargo_for_its_program(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    CARGO_RUN_VARIABLES.contains(&name) || CARGO_RUN_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Removes from `command`'s environment (inherited or set on it) every variable cargo sets for
/// the program it runs. Build scripts watch some of them (`ring`'s reruns when
/// `CARGO_MANIFEST_DIR` or `CARGO_PKG_NAME` changes, and with it everything above `ring`), and
/// under `cargo run` they describe `zis-sandbox`, while the user's own `cargo` invocations have
/// none: left in place, the demo's inner build and the user's next `cargo run` would each find
/// the other's build stale and compile again. Variables the user sets for cargo
/// (`CARGO_TARGET_DIR`, `CARGO_HOME`, `CARGO_BUILD_*`, `RUSTFLAGS`...) are kept.
pub fn scrub_cargo_env(command: &mut std::process::Command) {
    let explicit: Vec<OsString> = command
        .get_envs()
        .map(|(name, _)| name.to_os_string())
        .collect();
    let inherited = std::env::vars_os().map(|(name, _)| name);
    for name in explicit.into_iter().chain(inherited) {
        if is_set_by_cargo_for_its_program(&name) {
            command.env_remove(name);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inner_build_inherits_none_of_the_variables_cargo_sets_for_the_demo() {
        // `cargo test` sets these for this test binary as `cargo run` does for the demo.
        for name in ["CARGO_MANIFEST_DIR", "CARGO_PKG_NAME"] {
            assert!(std::env::var_os(name).is_some(), "{name} is not set");
        }
        let mut command = std::process::Command::new("cargo");
        command.env("CARGO_PKG_VERSION_PRE", "set-on-the-command");
        scrub_cargo_env(&mut command);
        let removed: Vec<&OsStr> = command
            .get_envs()
            .filter(|(_, value)| value.is_none())
            .map(|(name, _)| name)
            .collect();
        for name in [
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION",
            "CARGO_PKG_VERSION_PRE",
        ] {
            assert!(removed.contains(&OsStr::new(name)), "{name} is inherited");
        }
        let build = operator_build_command(OsStr::new("cargo"), true);
        assert!(
            build
                .get_envs()
                .any(|(name, value)| name == "CARGO_MANIFEST_DIR" && value.is_none())
        );
        let args: Vec<&OsStr> = build.get_args().collect();
        assert_eq!(
            args,
            [
                "build",
                "--bin",
                "zis-operator",
                "--package",
                "zis-operator",
                "--release"
            ]
        );
    }

    #[test]
    fn the_users_own_cargo_settings_reach_the_inner_build() {
        for name in [
            "CARGO",
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_JOBS",
            "CARGO_TERM_COLOR",
            "CARGO_PROFILE_RELEASE_LTO",
            "CARGO_INCREMENTAL",
            "RUSTFLAGS",
            "RUSTC_WRAPPER",
        ] {
            assert!(
                !is_set_by_cargo_for_its_program(OsStr::new(name)),
                "{name} would be dropped"
            );
        }
    }
}
