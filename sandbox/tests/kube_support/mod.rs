//! Shared fixtures of the Kubernetes API tests: the backend, a small test CRD and a kubectl
//! runner.
//!
//! Every suite runs twice. The binaries `kube_kubectl`, `kube_client` and `kube_http` run it on
//! the in-process sandbox, a fresh one per test; `kube_kubectl_real`, `kube_client_real` and
//! `kube_http_real` (the same source, included with `#[path]`) run it on the real control plane
//! of `tests/cluster` (kube-apiserver, etcd, kube-controller-manager built from source), one
//! shared by all tests of the binary. The binary's crate name picks the backend.
//!
//! Because the real control plane is shared, each test works in a namespace of its own
//! ([`Env::ns`]), gives cluster-scoped objects names of its own ([`Env::unique`]), and the
//! Widget CRD is installed once, before the first test runs; a test that deletes a CRD makes
//! one of its own ([`widget_crd_in`]). Where the sandbox simplifies by design (its README lists
//! how), a test asks [`Env::is_real`] and asserts each backend's documented behaviour.

#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use zis_sandbox::cluster::ControlPlane;
use zis_sandbox::kube::KubeSandbox;

/// A namespaced test CRD with a status subresource, a schema with required/minimum/enum/default
/// fields, short names, a category and printer columns.
pub const WIDGET_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.test.zis.dev
spec:
  group: test.zis.dev
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wdg]
    categories: [zis]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
    additionalPrinterColumns:
    - name: Size
      type: integer
      jsonPath: .spec.size
    - name: Ready
      type: string
      jsonPath: .status.conditions[?(@.type=="Ready")].status
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size:
                type: integer
                minimum: 1
              color:
                type: string
                enum: [blue, red]
                default: blue
          status:
            type: object
            properties:
              observedGeneration:
                type: integer
              conditions:
                type: array
                items:
                  type: object
                  required: [type, status]
                  properties:
                    type: {type: string}
                    status: {type: string}
                    reason: {type: string}
"#;

/// A CRD of its own for a test that deletes it (on the shared real server it must not take the
/// common one away from the other tests): the Widget CRD as kind `Gizmo` (`gizmos`) in API
/// group `group`, without short names or categories. kubectl resolves a bare resource name
/// (`widget`, `gizmo`) in any group, so tests name these CRDs' resources fully, `gizmos.GROUP`.
pub fn gizmo_crd_in(group: &str) -> String {
    WIDGET_CRD
        .replace("    shortNames: [wdg]\n    categories: [zis]\n", "")
        .replace("test.zis.dev", group)
        .replace("widget", "gizmo")
        .replace("Widget", "Gizmo")
}

/// Whether this test binary runs on the real API server (its name ends in `_real`).
pub fn on_real_api_server() -> bool {
    env!("CARGO_CRATE_NAME").ends_with("_real")
}

/// The real control plane this binary shares between its tests, started (and the Widget CRD
/// installed) on first use; `None`, after a note, when it cannot be built here (no Go). It is
/// torn down by `cluster.sh` once the test binary has exited.
fn real_control_plane() -> Option<&'static ControlPlane> {
    static PLANE: OnceLock<Result<ControlPlane, String>> = OnceLock::new();
    if !ControlPlane::can_build() {
        eprintln!(
            "SKIPPED: go is not installed, so the real API server cannot be built (tests/cluster/build.sh)"
        );
        return None;
    }
    let plane = PLANE.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "cluster-{}-{}",
            env!("CARGO_CRATE_NAME"),
            std::process::id()
        ));
        let plane = ControlPlane::start(&dir).map_err(|e| e.to_string())?;
        let crd = plane.dir().join("widget-crd.yaml");
        std::fs::write(&crd, WIDGET_CRD).map_err(|e| format!("writing the CRD: {e}"))?;
        for args in [
            vec!["apply", "-f", crd.to_str().unwrap_or_default()],
            vec![
                "wait",
                "--for=condition=Established",
                "crd/widgets.test.zis.dev",
                "--timeout=30s",
            ],
        ] {
            let output = std::process::Command::new(plane.kubectl())
                .arg("--kubeconfig")
                .arg(plane.admin_kubeconfig())
                .args(&args)
                .output()
                .map_err(|e| format!("cannot run kubectl: {e}"))?;
            if !output.status.success() {
                return Err(format!(
                    "installing the Widget CRD (kubectl {args:?}): {}",
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
        }
        Ok(plane)
    });
    match plane {
        Ok(plane) => Some(plane),
        Err(error) => panic!("the real API server did not start: {error}"),
    }
}

enum Backend {
    Sandbox(KubeSandbox),
    Real(&'static ControlPlane),
}

/// One test's API server: a sandbox of its own, or its namespace on the shared real server;
/// plus a scratch directory (kubectl's home), a kubeconfig whose context namespace is
/// [`Env::ns`], and kubectl.
pub struct Env {
    backend: Backend,
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    /// The namespace this test works in: `default` on its own sandbox, a fresh one on the real
    /// server. kubectl and [`Env::client`] use it when no namespace is named.
    pub ns: String,
    /// kubectl for this test (the control plane's own release on the real server).
    pub kubectl: Kubectl,
    id: usize,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh scratch directory under the system temp dir.
pub fn scratch_dir(tag: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!(
        "zis-kube-{tag}-{}-{n}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

impl Env {
    /// This binary's backend for one test, or `None` (after a SKIPPED note) when the real API
    /// server cannot be built here.
    pub async fn start(tag: &str) -> Option<Env> {
        Env::start_with_history(tag, zis_sandbox::kube::DEFAULT_HISTORY).await
    }

    /// Like [`Env::start`]; a sandbox keeps `history` watch events (a sandbox-only knob: the
    /// real server's watch cache and etcd compaction are not set from a test).
    pub async fn start_with_history(tag: &str, history: usize) -> Option<Env> {
        let id = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = scratch_dir(tag);
        let kubeconfig = dir.join("kubeconfig");
        let env = if on_real_api_server() {
            let plane = real_control_plane()?;
            let ns = format!("{tag}-{id}");
            let mut config: serde_yaml::Value = serde_yaml::from_str(
                &std::fs::read_to_string(plane.admin_kubeconfig()).expect("admin kubeconfig"),
            )
            .expect("admin kubeconfig is YAML");
            config["contexts"][0]["context"]["namespace"] = ns.clone().into();
            std::fs::write(
                &kubeconfig,
                serde_yaml::to_string(&config).expect("kubeconfig YAML"),
            )
            .expect("write kubeconfig");
            let env = Env {
                backend: Backend::Real(plane),
                kubectl: Kubectl {
                    binary: plane.kubectl(),
                    kubeconfig: kubeconfig.clone(),
                    home: dir.clone(),
                },
                dir,
                kubeconfig,
                ns,
                id,
            };
            let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
                kube::Api::all(env.client().await);
            let namespace = serde_json::from_value(
                serde_json::json!({"metadata": {"name": env.ns, "labels": {"zis.dev/test": tag}}}),
            )
            .expect("namespace");
            namespaces
                .create(&Default::default(), &namespace)
                .await
                .expect("the test's namespace is created");
            env
        } else {
            let sandbox =
                KubeSandbox::start_with_history("127.0.0.1:0".parse().expect("addr"), history)
                    .await
                    .expect("sandbox starts");
            sandbox.write_kubeconfig(&kubeconfig).expect("kubeconfig");
            Env {
                backend: Backend::Sandbox(sandbox),
                kubectl: Kubectl {
                    binary: PathBuf::from("kubectl"),
                    kubeconfig: kubeconfig.clone(),
                    home: dir.clone(),
                },
                dir,
                kubeconfig,
                ns: "default".into(),
                id,
            }
        };
        Some(env)
    }

    /// Like [`Env::start`], with the Widget CRD installed and Established.
    pub async fn with_widgets(tag: &str) -> Option<Env> {
        Env::with_widgets_and_history(tag, zis_sandbox::kube::DEFAULT_HISTORY).await
    }

    pub async fn with_widgets_and_history(tag: &str, history: usize) -> Option<Env> {
        let env = Env::start_with_history(tag, history).await?;
        // On the real server it was installed once, when the control plane started.
        if !env.is_real() {
            let crd: kube::api::DynamicObject =
                serde_yaml::from_str(WIDGET_CRD).expect("crd yaml parses");
            env.crds()
                .await
                .create(&Default::default(), &crd)
                .await
                .expect("crd created");
            env.crd_established("widgets.test.zis.dev").await;
        }
        Some(env)
    }

    /// Whether this is the real API server (else the sandbox).
    pub fn is_real(&self) -> bool {
        matches!(self.backend, Backend::Real(_))
    }

    /// `base` made unique on the shared real server (for cluster-scoped objects and namespaces).
    pub fn unique(&self, base: &str) -> String {
        format!("{base}-{}", self.id)
    }

    /// The API server's URL (`http://` for the sandbox, `https://` for the real one).
    pub fn url(&self) -> String {
        match &self.backend {
            Backend::Sandbox(sandbox) => sandbox.url(),
            Backend::Real(plane) => plane.url().expect("the control plane's URL"),
        }
    }

    /// The user the kubeconfig authenticates as.
    pub fn username(&self) -> &'static str {
        match self.backend {
            Backend::Sandbox(_) => "zis-sandbox",
            // The CN of the admin certificate tests/cluster/cluster.sh issues.
            Backend::Real(_) => "zis-test-admin",
        }
    }

    /// A kube-rs client with every right; its default namespace is [`Env::ns`]. A client is
    /// bound to the runtime it was made on, so make one per test.
    pub async fn client(&self) -> kube::Client {
        match &self.backend {
            Backend::Sandbox(sandbox) => sandbox.client().await,
            Backend::Real(_) => {
                let kubeconfig =
                    kube::config::Kubeconfig::read_from(&self.kubeconfig).expect("kubeconfig");
                let config = kube::Config::from_custom_kubeconfig(
                    kubeconfig,
                    &kube::config::KubeConfigOptions::default(),
                )
                .await
                .expect("kubeconfig loads");
                kube::Client::try_from(config).expect("client")
            }
        }
    }

    /// A plain HTTP client for [`Env::url`] (TLS with the admin's certificate on the real
    /// server) and the bearer token to send, if any.
    pub fn http(&self) -> reqwest::Client {
        match &self.backend {
            Backend::Sandbox(_) => reqwest::Client::new(),
            Backend::Real(plane) => {
                let files = plane.admin_tls_files();
                let read = |path: &Path| std::fs::read(path).expect("TLS file");
                let mut identity = read(&files.client_certificate);
                identity.extend(read(&files.client_key));
                reqwest::Client::builder()
                    .add_root_certificate(
                        reqwest::Certificate::from_pem(&read(&files.ca_certificate)).expect("CA"),
                    )
                    .identity(reqwest::Identity::from_pem(&identity).expect("identity"))
                    .build()
                    .expect("TLS client")
            }
        }
    }

    /// `apiextensions.k8s.io/v1` CustomResourceDefinitions, dynamically typed.
    pub fn crds_with(client: kube::Client) -> kube::Api<kube::api::DynamicObject> {
        kube::Api::all_with(
            client,
            &kube::api::ApiResource::from_gvk_with_plural(
                &kube::api::GroupVersionKind::gvk(
                    "apiextensions.k8s.io",
                    "v1",
                    "CustomResourceDefinition",
                ),
                "customresourcedefinitions",
            ),
        )
    }

    async fn crds(&self) -> kube::Api<kube::api::DynamicObject> {
        Env::crds_with(self.client().await)
    }

    /// Waits until the CRD `name` is Established (at once on the sandbox, which serves a CRD's
    /// kinds as soon as it is created; shortly after on the real server).
    pub async fn crd_established(&self, name: &str) {
        let crds = self.crds().await;
        self.settles(&format!("CRD {name} is Established"), || async {
            crds.get_opt(name).await.ok().flatten().is_some_and(|crd| {
                crd.data["status"]["conditions"]
                    .as_array()
                    .is_some_and(|c| {
                        c.iter()
                            .any(|c| c["type"] == "Established" && c["status"] == "True")
                    })
            })
        })
        .await;
    }

    /// Checks something a controller brings about after a request: the real server's
    /// controllers act shortly after the request, so there it is polled for up to 30 s; the
    /// sandbox acts inside the request (a documented simplification), so there it must already
    /// hold.
    pub async fn settles<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        if !self.is_real() {
            assert!(check().await, "at once on the sandbox: {what}");
            return;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !check().await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "within 30 s on the real API server: {what}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, content).expect("write manifest");
        path
    }

    /// Runs `kubectl --kubeconfig ... ARGS`; returns (success, stdout, stderr).
    pub async fn kubectl(&self, args: &[&str]) -> (bool, String, String) {
        self.kubectl.run(args).await
    }

    /// Runs kubectl and fails the test when it fails.
    pub async fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.kubectl(args).await;
        assert!(ok, "kubectl {args:?} failed: {err}\n{out}");
        out
    }

    /// Stops the sandbox and removes the scratch directory (kubectl's cache, manifests). On the
    /// real server the test's namespace is left to the teardown of the whole control plane
    /// (deleting dozens of namespaces would only load the shared server while tests still run).
    pub async fn finish(self) {
        if let Backend::Sandbox(sandbox) = self.backend {
            sandbox.shutdown().await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Applies the test CRD and waits until it is Established.
    pub async fn install_widgets(&self) {
        let crd = self.write("crd.yaml", WIDGET_CRD);
        self.ok(&["apply", "-f", crd.to_str().expect("utf8")]).await;
        self.ok(&[
            "wait",
            "--for=condition=Established",
            "crd/widgets.test.zis.dev",
            "--timeout=10s",
        ])
        .await;
    }
}

/// kubectl with a kubeconfig and a home of its own (its discovery cache); cheap to clone into a
/// spawned task.
#[derive(Clone)]
pub struct Kubectl {
    binary: PathBuf,
    kubeconfig: PathBuf,
    home: PathBuf,
}

impl Kubectl {
    /// kubectl from the PATH.
    pub fn from_path(kubeconfig: &Path, home: &Path) -> Kubectl {
        Kubectl {
            binary: PathBuf::from("kubectl"),
            kubeconfig: kubeconfig.to_owned(),
            home: home.to_owned(),
        }
    }

    /// Runs `kubectl --kubeconfig ... ARGS`; returns (success, stdout, stderr).
    pub async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let output = tokio::process::Command::new(&self.binary)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .env("HOME", &self.home)
            .env_remove("KUBECONFIG")
            .output()
            .await
            .expect("kubectl runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

pub fn widget(name: &str, size: i64, labels: &str) -> String {
    format!(
        "apiVersion: test.zis.dev/v1\nkind: Widget\nmetadata:\n  name: {name}\n  labels: {labels}\nspec:\n  size: {size}\n"
    )
}

/// A Gizmo manifest of the CRD [`gizmo_crd_in`] `group`.
pub fn gizmo_in(group: &str, name: &str, size: i64) -> String {
    format!(
        "apiVersion: {group}/v1\nkind: Gizmo\nmetadata:\n  name: {name}\nspec:\n  size: {size}\n"
    )
}
