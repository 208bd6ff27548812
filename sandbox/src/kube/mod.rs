//! An in-memory Kubernetes API server (skeleton; filled by the Kubernetes sandbox work).
//!
//! Contract other work relies on (keep it): `KubeSandbox::start`, `url`, `kubeconfig_yaml`,
//! `write_kubeconfig`, `client`, `shutdown` as declared below; the pure helpers in `schema`,
//! `patch` and `table` are used by the server.

pub mod patch;
pub mod schema;
pub mod table;

use std::net::SocketAddr;
use std::path::Path;

/// Command-line arguments of `zis-sandbox kube`.
#[derive(Debug, clap::Args)]
pub struct KubeArgs {}

/// A running in-memory Kubernetes API server.
pub struct KubeSandbox {}

impl KubeSandbox {
    /// Starts serving on `listen` (port 0 for a free port) with namespaces `default` and
    /// `kube-system`.
    pub async fn start(listen: SocketAddr) -> std::io::Result<KubeSandbox> {
        let _ = listen;
        todo!()
    }

    /// `http://HOST:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        todo!()
    }

    /// A kubeconfig (YAML) whose current context points at this server.
    pub fn kubeconfig_yaml(&self) -> String {
        todo!()
    }

    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig_yaml())
    }

    /// A kube-rs client for this server.
    pub async fn client(&self) -> kube::Client {
        todo!()
    }

    /// Stops serving and waits for the server task to end.
    pub async fn shutdown(self) {}
}

/// Runs `zis-sandbox kube` until SIGINT or SIGTERM.
pub async fn run(args: KubeArgs) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let _ = args;
    Err("not implemented yet".into())
}
