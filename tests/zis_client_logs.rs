//! Every log line the process writes at TRACE level, from this crate and from reqwest, hyper and
//! rustls and the in-process fake ZIS, while the client creates, reads, updates and deletes a
//! connection (against a scripted server, a closed port and the fake): neither the connection
//! token nor the access token may appear. Its own test binary because it installs the
//! process-wide subscriber.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;
use zis_operator::secret::SecretString;
use zis_operator::zis::{
    BearerTokenUpdate, ClientConfig, NewBearerConnection, PacingConfig, ZisClient, ZisError,
};

const ACCESS_TOKEN: &str = "ACCESS-tok-5f2b9c1e-never-log";
const CONN_TOKEN: &str = "CONN-tok-8d41aa07-never-log";
const NEW_CONN_TOKEN: &str = "CONN-tok-rotated-3e9f-never-log";

/// A writer appending to a shared buffer.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// A ZIS stand-in answering like the reference page, echoing nothing.
async fn server() -> String {
    let show = r#"{"bearer_token":{"allowed_domain":"api.example.com","created_at":"1985-04-12T23:20:50.52Z","name":"log_conn","token":"*****","updated_at":"1985-04-12T23:20:50.52Z"}}"#;
    let app = axum::Router::new().fallback(move |request: Request<Body>| async move {
        let method = request.method().clone();
        let _ = axum::body::to_bytes(request.into_body(), 1 << 20).await;
        let response: Response = match method.as_str() {
            "POST" => (axum::http::StatusCode::CREATED, show).into_response(),
            "GET" => (axum::http::StatusCode::OK, show).into_response(),
            _ => axum::http::StatusCode::NO_CONTENT.into_response(),
        };
        response
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_logs_of_a_full_connection_lifecycle_never_contain_a_token() {
    let capture = Capture::default();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
        .with_span_events(FmtSpan::FULL)
        .with_ansi(false)
        .with_writer(capture.clone())
        .try_init()
        .expect("the only subscriber of this test binary");

    let url = server().await;
    let account = ZisClient::new(
        ClientConfig::for_url(&url, true)
            .with_timeouts(Duration::from_secs(2), Duration::from_secs(5))
            .with_pacing(PacingConfig {
                requests_per_minute: 6000,
                burst: 100,
                max_retry_after: Duration::from_secs(5),
                ..PacingConfig::default()
            }),
    )
    .expect("client");
    let client = account.integration("log_integration", SecretString::new(ACCESS_TOKEN));
    let new = NewBearerConnection {
        name: "log_conn".to_owned(),
        token: SecretString::new(CONN_TOKEN),
        allowed_domain: "api.example.com".to_owned(),
    };
    client.create_bearer(&new).await.expect("create");
    client.get_bearer("log_conn").await.expect("get");
    client
        .update_bearer(
            "log_conn",
            &BearerTokenUpdate {
                token: Some(SecretString::new(NEW_CONN_TOKEN)),
                allowed_domain: Some("api2.example.com".to_owned()),
            },
        )
        .await
        .expect("update");
    client.delete_bearer("log_conn").await.expect("delete");
    // A failing call logs too: nobody listens on port 9 of this address.
    let unreachable = ZisClient::new(ClientConfig::for_url("http://127.0.0.1:9", true))
        .expect("client")
        .integration("log_integration", SecretString::new(ACCESS_TOKEN));
    assert!(matches!(
        unreachable.create_bearer(&new).await,
        Err(ZisError::Transient { .. })
    ));
    // The same lifecycle against the fake ZIS (in this process, so its logs are captured too).
    let fake = zis_sandbox::zis::FakeZis::start(
        zis_sandbox::zis::FakeZisConfig {
            integrations: vec![("log_integration".to_owned(), ACCESS_TOKEN.to_owned())],
            ..Default::default()
        },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("fake zis");
    let against_fake = ZisClient::new(ClientConfig::for_url(&fake.url(), true))
        .expect("client")
        .integration("log_integration", SecretString::new(ACCESS_TOKEN));
    against_fake.create_bearer(&new).await.expect("create");
    against_fake.get_bearer("log_conn").await.expect("get");
    against_fake
        .update_bearer(
            "log_conn",
            &BearerTokenUpdate {
                token: Some(SecretString::new(NEW_CONN_TOKEN)),
                allowed_domain: None,
            },
        )
        .await
        .expect("update");
    against_fake
        .delete_bearer("log_conn")
        .await
        .expect("delete");
    fake.shutdown().await;
    // Formatting everything a caller might log.
    tracing::info!(?account, ?client, ?new, "caller logs its client");

    let logs = capture.text();
    // The capture really holds the request spans and the HTTP stack's own trace output.
    assert!(logs.contains("zis_request"), "{logs}");
    assert!(logs.contains("bearer_token/{name}"), "{logs}");
    assert!(logs.contains("status=204"), "{logs}");
    assert!(logs.contains("duration_ms"), "{logs}");
    assert!(
        logs.lines()
            .any(|l| l.contains("reqwest") || l.contains("hyper")),
        "no HTTP stack logs captured: {logs}"
    );
    for secret in [ACCESS_TOKEN, CONN_TOKEN, NEW_CONN_TOKEN] {
        assert!(
            !logs.contains(secret),
            "{secret} leaked into the logs:\n{logs}"
        );
    }
}
