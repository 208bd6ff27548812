//! An in-memory Kubernetes API server that real kubectl and kube-rs accept (`zis-sandbox kube`
//! and in-process for tests). See `sandbox/README-kube.md` for which API behaviours are
//! simulated and which are simplified.
//!
//! Contract other work relies on (keep it): `KubeSandbox::start`, `url`, `kubeconfig_yaml`,
//! `write_kubeconfig`, `client`, `shutdown`; the pure helpers in `schema`, `patch` and `table`
//! are used by the server.

mod api;
mod builtin_schemas;
mod cli;
mod crd;
mod defaults;
mod delete;
mod discovery;
mod error;
mod events;
mod objects;
mod openapi;
mod proto;
mod read;
mod resources;
mod routing;
mod selectors;
mod store;
mod validation;
mod watch;
mod write;

pub mod patch;
pub mod schema;
pub mod table;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

pub use cli::{KubeArgs, run};
pub use store::DEFAULT_HISTORY;

use api::Api;
use serde_json::json;
use store::{EventType, Store};

/// A running in-memory Kubernetes API server.
pub struct KubeSandbox {
    addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// The real API server's request body limit.
const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Namespaces a fresh cluster has.
const INITIAL_NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

impl KubeSandbox {
    /// Starts serving on `listen` (port 0 for a free port) with namespaces `default` and
    /// `kube-system`.
    pub async fn start(listen: SocketAddr) -> std::io::Result<KubeSandbox> {
        KubeSandbox::start_with_history(listen, DEFAULT_HISTORY).await
    }

    /// Like `start`, keeping `history` events for watches (older resourceVersions get 410).
    pub async fn start_with_history(
        listen: SocketAddr,
        history: usize,
    ) -> std::io::Result<KubeSandbox> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let mut addr = listener.local_addr()?;
        if addr.ip().is_unspecified() {
            addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let api = Arc::new(Api {
            store: Store::new(history),
            addr,
            stopping: stop.subscribe(),
        });
        seed(&api);
        let app = axum::Router::new()
            .fallback(api::dispatch)
            // The real API server accepts request bodies up to 3 MiB.
            .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(api);
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            if let Err(error) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(%error, "kube sandbox server failed");
            }
        });
        Ok(KubeSandbox { addr, stop, task })
    }

    /// `http://HOST:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig (YAML) whose current context points at this server.
    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1\n\
             kind: Config\n\
             clusters:\n\
             - name: zis-sandbox\n  \
               cluster:\n    \
                 server: {url}\n\
             users:\n\
             - name: zis-sandbox\n  \
               user:\n    \
                 token: zis-sandbox-dummy-token\n\
             contexts:\n\
             - name: zis-sandbox\n  \
               context:\n    \
                 cluster: zis-sandbox\n    \
                 user: zis-sandbox\n    \
                 namespace: default\n\
             current-context: zis-sandbox\n\
             preferences: {{}}\n",
            url = self.url()
        )
    }

    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig_yaml())
    }

    /// A kube-rs client for this server.
    pub async fn client(&self) -> kube::Client {
        // The kubeconfig is generated above with a plain http URL and a static token, so
        // parsing and client construction cannot fail.
        let kubeconfig = kube::config::Kubeconfig::from_yaml(&self.kubeconfig_yaml())
            .expect("the generated kubeconfig is valid YAML");
        let config = kube::Config::from_custom_kubeconfig(
            kubeconfig,
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .expect("the generated kubeconfig has a current context");
        kube::Client::try_from(config).expect("an http client can be built for a plain URL")
    }

    /// Stops serving and waits for the server task to end.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Creates the namespaces a new cluster has.
fn seed(api: &Api) {
    let mut state = api.store.lock();
    let key = (String::new(), "namespaces".to_string());
    for name in INITIAL_NAMESPACES {
        let namespace = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "uid": objects::new_uid(),
                "creationTimestamp": objects::now(),
                "labels": {"kubernetes.io/metadata.name": name},
            },
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        });
        state.put(&key, "", name, namespace, EventType::Added);
    }
}
