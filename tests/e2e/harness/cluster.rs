//! The Kubernetes API the whole test binary shares. The `e2e` binary runs on an in-process
//! `KubeSandbox`; `e2e_real` (the same scenarios) on the real control plane of `tests/cluster`
//! (kube-apiserver, etcd, kube-controller-manager, built from source on first use), where the
//! operator authenticates as its ServiceAccount with only the rights of `deploy/rbac.yaml`.
//! `ZIS_E2E_KUBECONFIG` points either binary at a cluster of your own instead.
//!
//! Started once, on a thread and runtime of its own, because every `#[tokio::test]` has its own
//! runtime that ends with the test; the CRDs of `crds/` are installed once and awaited until
//! Established.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::ObjectMeta;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use zis_sandbox::cluster::{ControlPlane, ControlPlaneError};

/// The environment variable that points the suite at a real cluster.
pub const REAL_CLUSTER_ENV: &str = "ZIS_E2E_KUBECONFIG";

/// The CRDs of `crds/`, by file and name.
const CRDS: &[(&str, &str)] = &[
    (
        "crds/zisbearerconnections.yaml",
        "zisbearerconnections.zis-operator.dev",
    ),
    (
        "crds/zisintegrations.yaml",
        "zisintegrations.zis-operator.dev",
    ),
];

/// Where the shared cluster is and what kind it is.
pub struct Cluster {
    /// A kubeconfig with every right, for the tests themselves.
    pub kubeconfig: PathBuf,
    /// The kubeconfig the operator processes run with (on the control plane of `tests/cluster`,
    /// its ServiceAccount's; elsewhere the same as `kubeconfig`).
    pub operator_kubeconfig: PathBuf,
    /// The kubectl to drive it with (on the control plane of `tests/cluster`, the same release).
    pub kubectl: PathBuf,
    /// True when the suite runs against a real API server.
    pub real: bool,
    /// The API server's audit log, when this harness started the control plane.
    pub audit_log: Option<PathBuf>,
}

/// Whether this test binary runs on the real API server: `tests/e2e_real.rs` and the other
/// binaries named `*_real` that use this harness.
fn on_real_api_server() -> bool {
    env!("CARGO_CRATE_NAME").ends_with("_real")
}

static CLUSTER: OnceLock<Result<Option<Cluster>, String>> = OnceLock::new();

/// The shared cluster, started (and the CRD installed) on first use.
pub fn cluster() -> &'static Cluster {
    match available() {
        Some(cluster) => cluster,
        None => panic!("the e2e Kubernetes API is not available here (see the note above)"),
    }
}

/// The shared cluster, or `None` when this binary's API server cannot run on this machine (the
/// real one without Go to build it): the scenarios then return at once, and a note says why.
pub fn available() -> Option<&'static Cluster> {
    match CLUSTER.get_or_init(start) {
        Ok(cluster) => cluster.as_ref(),
        Err(error) => panic!("the e2e Kubernetes API is not available: {error}"),
    }
}

/// A fresh client for the calling test's runtime (a kube client is bound to the runtime it was
/// made on, so clients are never shared between tests).
pub async fn client() -> Client {
    let path = &cluster().kubeconfig;
    match client_from(path).await {
        Ok(client) => client,
        Err(error) => panic!(
            "cannot build a Kubernetes client from {}: {error}",
            path.display()
        ),
    }
}

pub async fn client_from(path: &Path) -> Result<Client, String> {
    let kubeconfig = Kubeconfig::read_from(path).map_err(|e| format!("reading kubeconfig: {e}"))?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| format!("loading kubeconfig: {e}"))?;
    Client::try_from(config).map_err(|e| format!("building client: {e}"))
}

fn start() -> Result<Option<Cluster>, String> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("e2e-cluster".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    let _ = sender.send(Err(format!("cannot build the cluster runtime: {error}")));
                    return;
                }
            };
            runtime.block_on(async move {
                match serve().await {
                    Ok((cluster, server)) => {
                        let _ = sender.send(Ok(cluster));
                        // The server lives as long as the test binary.
                        let _keep = server;
                        std::future::pending::<()>().await;
                    }
                    Err(error) => {
                        let _ = sender.send(Err(error));
                    }
                }
            });
        })
        .map_err(|e| format!("cannot spawn the cluster thread: {e}"))?;
    receiver
        .recv()
        .map_err(|_| "the cluster thread ended before reporting".to_string())?
}

/// What keeps the shared API server running for as long as the test binary runs.
#[allow(dead_code)] // held, never read: dropping it stops the server
enum Server {
    Sandbox(zis_sandbox::kube::KubeSandbox),
    ControlPlane(ControlPlane),
    External,
}

async fn serve() -> Result<(Option<Cluster>, Server), String> {
    let kubectl = PathBuf::from("kubectl");
    let (cluster, server) = match std::env::var_os(REAL_CLUSTER_ENV) {
        Some(path) if !path.is_empty() => (
            Cluster {
                kubeconfig: PathBuf::from(&path),
                operator_kubeconfig: PathBuf::from(path),
                kubectl,
                real: true,
                audit_log: None,
            },
            Server::External,
        ),
        _ if on_real_api_server() => {
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("cluster-{}", std::process::id()));
            let started = tokio::task::spawn_blocking(move || ControlPlane::start(&dir))
                .await
                .map_err(|e| format!("starting the control plane: {e}"))?;
            let plane = match started {
                Ok(plane) => plane,
                Err(ControlPlaneError::GoMissing) => {
                    eprintln!(
                        "SKIPPED: the scenarios on the real API server need Go 1.26 or newer to build it (tests/cluster/build.sh); they return at once here"
                    );
                    return Ok((None, Server::External));
                }
                Err(error) => return Err(error.to_string()),
            };
            (
                Cluster {
                    kubeconfig: plane.admin_kubeconfig(),
                    operator_kubeconfig: plane.operator_kubeconfig(),
                    kubectl: plane.kubectl(),
                    real: true,
                    audit_log: Some(plane.audit_log()),
                },
                Server::ControlPlane(plane),
            )
        }
        _ => {
            let listen = "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?;
            let sandbox = zis_sandbox::kube::KubeSandbox::start(listen)
                .await
                .map_err(|e| format!("cannot start the Kubernetes API sandbox: {e}"))?;
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e");
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let kubeconfig = dir.join(format!("kubeconfig-{}.yaml", std::process::id()));
            sandbox
                .write_kubeconfig(&kubeconfig)
                .map_err(|e| format!("writing {}: {e}", kubeconfig.display()))?;
            (
                Cluster {
                    operator_kubeconfig: kubeconfig.clone(),
                    kubeconfig,
                    kubectl,
                    real: false,
                    audit_log: None,
                },
                Server::Sandbox(sandbox),
            )
        }
    };
    let client = client_from(&cluster.kubeconfig).await?;
    ensure_lease_namespace(client.clone()).await?;
    for (file, name) in CRDS {
        install_crd(client.clone(), file, name).await?;
    }
    Ok((Some(cluster), server))
}

/// The namespace of the operators' Leases (`deploy/rbac.yaml` creates it on a real cluster).
async fn ensure_lease_namespace(client: Client) -> Result<(), String> {
    let api: Api<Namespace> = Api::all(client);
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(super::operator::LEASE_NAMESPACE.to_owned()),
            ..Default::default()
        },
        ..Default::default()
    };
    match api.create(&PostParams::default(), &namespace).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(error) => Err(format!("creating the lease namespace: {error}")),
    }
}

async fn install_crd(client: Client, file: &str, name: &str) -> Result<(), String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let crd: CustomResourceDefinition =
        serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let api: Api<CustomResourceDefinition> = Api::all(client);
    match api.create(&PostParams::default(), &crd).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {
            // Left by an earlier run (real cluster): bring it up to date.
            let existing = api
                .get(name)
                .await
                .map_err(|e| format!("reading the installed CRD: {e}"))?;
            let mut updated = crd.clone();
            updated.metadata.resource_version = existing.metadata.resource_version;
            api.replace(name, &PostParams::default(), &updated)
                .await
                .map_err(|e| format!("updating the installed CRD: {e}"))?;
        }
        Err(error) => return Err(format!("installing the CRD: {error}")),
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let current = api
            .get(name)
            .await
            .map_err(|e| format!("reading the CRD: {e}"))?;
        let established = current
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|conditions| {
                conditions
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            });
        if established {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the CRD was not Established within 30s: {:?}",
                current.status
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
