//! The real Kubernetes control plane of `tests/cluster/cluster.sh` (kube-apiserver, etcd and
//! kube-controller-manager built from their Go modules), started from Rust for tests and the
//! benchmark. Unlike [`crate::kube::KubeSandbox`] it is the real thing: real validation, real
//! authorization (the operator runs as its ServiceAccount under `deploy/rbac.yaml`), real
//! namespace deletion and garbage collection.
//!
//! The processes outlive a panicking test but not the process that started them: `cluster.sh`
//! is told this process's pid and tears everything down once it is gone (test binaries exit
//! without running destructors of statics). Dropping a [`ControlPlane`] stops it at once.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Why the control plane is not available.
#[derive(Debug, thiserror::Error)]
pub enum ControlPlaneError {
    /// Go is not installed, so the binaries cannot be built: the suites that need them skip.
    #[error(
        "go is not installed: the real API server is built from its Go modules (Go 1.26 or newer, then `tests/cluster/build.sh`)"
    )]
    GoMissing,
    #[error("tests/cluster/cluster.sh up failed: {0}")]
    Failed(String),
}

/// A running control plane; stopped (processes killed, data removed) on drop.
#[derive(Debug)]
pub struct ControlPlane {
    dir: PathBuf,
}

impl ControlPlane {
    /// `tests/cluster/cluster.sh` of this checkout.
    pub fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/cluster/cluster.sh")
    }

    /// Whether the binaries can be built (or were given through `ZIS_CLUSTER_BIN_DIR`).
    pub fn can_build() -> bool {
        std::env::var_os("ZIS_CLUSTER_BIN_DIR").is_some()
            || Command::new("go")
                .arg("version")
                .output()
                .is_ok_and(|out| out.status.success())
    }

    /// Builds what is missing (minutes, the first time only), starts the control plane with its
    /// data in `dir` and waits until it is ready. Blocking.
    pub fn start(dir: &Path) -> Result<ControlPlane, ControlPlaneError> {
        if !Self::can_build() {
            return Err(ControlPlaneError::GoMissing);
        }
        let output = Command::new("bash")
            .arg(Self::script())
            .arg("up")
            .arg(dir)
            .env("ZIS_CLUSTER_OWNER_PID", std::process::id().to_string())
            .output()
            .map_err(|e| ControlPlaneError::Failed(format!("cannot run bash: {e}")))?;
        // Build progress and the reason of a failure come on stderr.
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            let reason = stderr.lines().last().unwrap_or("no message").to_owned();
            return Err(ControlPlaneError::Failed(reason));
        }
        if !stderr.trim().is_empty() {
            eprint!("{stderr}");
        }
        Ok(ControlPlane {
            dir: std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned()),
        })
    }

    /// A kubeconfig with every right (`system:masters`), for tests to set up and inspect.
    pub fn admin_kubeconfig(&self) -> PathBuf {
        self.dir.join("admin.kubeconfig")
    }

    /// A kubeconfig of the ServiceAccount `zis-system/zis-operator`, which has exactly the rights
    /// `deploy/rbac.yaml` grants.
    pub fn operator_kubeconfig(&self) -> PathBuf {
        self.dir.join("operator.kubeconfig")
    }

    /// kubectl of the same release as the API server.
    pub fn kubectl(&self) -> PathBuf {
        self.dir.join("kubectl")
    }

    /// The PEM files a client other than kubectl or kube-rs needs to speak TLS to the API server:
    /// the CA that signed its certificate, and the admin's client certificate and key (the
    /// identity of [`ControlPlane::admin_kubeconfig`]).
    pub fn admin_tls_files(&self) -> AdminTlsFiles {
        let pki = self.dir.join("pki");
        AdminTlsFiles {
            ca_certificate: pki.join("ca.crt"),
            client_certificate: pki.join("admin.crt"),
            client_key: pki.join("admin.key"),
        }
    }

    /// The API server's URL, `https://127.0.0.1:PORT`, as the kubeconfigs name it.
    pub fn url(&self) -> Result<String, ControlPlaneError> {
        let kubeconfig = std::fs::read_to_string(self.admin_kubeconfig())
            .map_err(|e| ControlPlaneError::Failed(format!("reading admin.kubeconfig: {e}")))?;
        kubeconfig
            .lines()
            .find_map(|line| line.trim().strip_prefix("server: "))
            .map(str::to_owned)
            .ok_or_else(|| ControlPlaneError::Failed("admin.kubeconfig names no server".into()))
    }

    /// The API server's audit log (JSON lines, metadata level: who, what, which answer).
    pub fn audit_log(&self) -> PathBuf {
        self.dir.join("audit.log")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// See [`ControlPlane::admin_tls_files`].
#[derive(Debug, Clone)]
pub struct AdminTlsFiles {
    pub ca_certificate: PathBuf,
    pub client_certificate: PathBuf,
    pub client_key: PathBuf,
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(Self::script())
            .arg("down")
            .arg(&self.dir)
            .output();
    }
}
