//! The small HTTP server on `--metrics-addr`: `/metrics` (Prometheus text format), `/healthz`
//! (liveness: 200 while the process serves) and `/readyz` (200 once the caches have synced and
//! the controller runs, or while the replica stands by for the leader lease; 503 before and while
//! shutting down).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use super::{Metrics, Role};

/// The content type of the OpenMetrics text format `prometheus-client` renders.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The metrics server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen for metrics on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A bound, not yet serving, metrics listener. Binding first lets the operator fail at startup
/// when the address is taken, before it touches the cluster.
#[derive(Debug)]
pub struct MetricsServer {
    listener: TcpListener,
}

impl MetricsServer {
    pub async fn bind(addr: SocketAddr) -> Result<Self, ServerError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        Ok(Self { listener })
    }

    /// The address actually bound (the port is chosen by the system for port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn serve(
        self,
        metrics: Arc<Metrics>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(self.listener, router(metrics))
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// The routes, separate from the listener so they can be tested without a socket.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readiness))
        .with_state(metrics)
}

async fn render(State(metrics): State<Arc<Metrics>>) -> Response {
    match metrics.render() {
        Ok(text) => ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot render the metrics\n",
        )
            .into_response(),
    }
}

/// 200 for a leader whose caches synced ("leader") and for a standby replica, which is ready to
/// take over ("standby"); 503 otherwise. The body says which.
async fn readiness(State(metrics): State<Arc<Metrics>>) -> Response {
    match (metrics.role(), metrics.is_ready()) {
        (Role::Leader, true) => (StatusCode::OK, "ok: leader\n").into_response(),
        (Role::Standby, _) => {
            (StatusCode::OK, "ok: standby (another replica leads)\n").into_response()
        }
        (Role::Leader, false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "leader; caches not synced yet\n",
        )
            .into_response(),
        (Role::Starting, _) => (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("writes");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("reads");
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status line");
        (status, answer)
    }

    #[tokio::test]
    async fn readyz_answers_503_until_ready_and_healthz_always_200() {
        let metrics = Arc::new(Metrics::new());
        let server = MetricsServer::bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("binds");
        let addr = server.local_addr().expect("bound");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(metrics.clone(), async {
            let _ = stopped.await;
        }));
        assert_eq!(get(addr, "/healthz").await.0, 200);
        assert_eq!(get(addr, "/readyz").await.0, 503);
        metrics.set_role(Role::Leader);
        assert_eq!(
            get(addr, "/readyz").await.0,
            503,
            "a leader whose caches did not sync"
        );
        metrics.set_ready(true);
        let (status, body) = get(addr, "/readyz").await;
        assert_eq!(status, 200);
        assert!(body.ends_with("ok: leader\n"), "{body}");
        let (status, body) = get(addr, "/metrics").await;
        assert_eq!(status, 200);
        assert!(body.contains("application/openmetrics-text"), "{body}");
        assert!(
            body.contains("# TYPE zis_operator_reconciles counter"),
            "{body}"
        );
        assert_eq!(get(addr, "/nope").await.0, 404);
        stop.send(()).expect("server still running");
        task.await.expect("joins").expect("serves cleanly");
    }

    #[tokio::test]
    async fn a_standby_replica_is_ready_and_says_so_and_the_leader_gauge_follows_the_role() {
        let metrics = Arc::new(Metrics::new());
        let server = MetricsServer::bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("binds");
        let addr = server.local_addr().expect("bound");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(metrics.clone(), async {
            let _ = stopped.await;
        }));
        metrics.set_role(Role::Standby);
        let (status, body) = get(addr, "/readyz").await;
        assert_eq!(status, 200);
        assert!(body.contains("standby"), "{body}");
        assert!(
            get(addr, "/metrics")
                .await
                .1
                .contains("zis_operator_leader 0\n")
        );
        metrics.set_role(Role::Leader);
        assert!(
            get(addr, "/metrics")
                .await
                .1
                .contains("zis_operator_leader 1\n")
        );
        stop.send(()).expect("server still running");
        task.await.expect("joins").expect("serves cleanly");
    }

    #[tokio::test]
    async fn binding_a_taken_address_fails_loudly() {
        let first = MetricsServer::bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("binds");
        let addr = first.local_addr().expect("bound");
        let error = MetricsServer::bind(addr)
            .await
            .expect_err("address is taken");
        assert!(error.to_string().contains(&addr.to_string()), "{error}");
    }
}
