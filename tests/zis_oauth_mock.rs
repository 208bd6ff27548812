//! The OAuth client (`zis::oauth`) against tiny scripted servers: the exact request, and answers
//! the local ZIS server never gives (garbage, HTML 5xx, HTTP-date Retry-After, echoed secrets,
//! huge bodies, hangs, redirects), plus every log line at TRACE level.

use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;
use zis_operator::secret::SecretString;
use zis_operator::zis::oauth::{Grant, OAuthClient, OAuthError};
use zis_operator::zis::{ClientConfig, PacingConfig};

const CLIENT_SECRET: &str = "client-secret-MOCK-5521";
const REFRESH: &str = "refresh-token-MOCK-7730";
const NEW_ACCESS: &str = "access-token-MOCK-1180";
const NEW_REFRESH: &str = "refresh-token-MOCK-2291";

/// A request as the mock saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    target: String,
    headers: HeaderMap,
    body: Bytes,
}

struct Mock {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Mock {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

/// Starts a server answering every request with `reply`.
async fn mock<F, Fut>(reply: F) -> Mock
where
    F: Fn(Seen) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = seen.clone();
    let app = axum::Router::new().fallback(move |request: Request<Body>| {
        let reply = reply.clone();
        let recorder = recorder.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20)
                .await
                .unwrap_or_default();
            let seen = Seen {
                method: parts.method,
                target: parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_default(),
                headers: parts.headers,
                body,
            };
            recorder.lock().expect("lock").push(seen.clone());
            reply(seen).await
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Mock {
        url: format!("http://{addr}"),
        seen,
    }
}

fn answer(status: u16, content_type: &str, body: impl Into<String>) -> Response {
    (
        StatusCode::from_u16(status).expect("status"),
        [("content-type", content_type.to_owned())],
        body.into(),
    )
        .into_response()
}

fn json(status: u16, body: serde_json::Value) -> Response {
    answer(status, "application/json", body.to_string())
}

fn oauth(url: &str) -> OAuthClient {
    OAuthClient::new(
        &ClientConfig::for_url(url, true)
            .with_timeouts(Duration::from_secs(2), Duration::from_millis(500))
            .with_pacing(PacingConfig {
                max_retry_after: Duration::from_secs(120),
                ..PacingConfig::default()
            }),
    )
    .expect("oauth client")
}

async fn refresh(url: &str) -> Result<Grant, OAuthError> {
    oauth(url)
        .refresh(
            "zis_mock",
            &SecretString::new(CLIENT_SECRET),
            &SecretString::new(REFRESH),
            Duration::from_secs(1800),
            Duration::from_secs(604_800),
        )
        .await
}

fn rotated() -> serde_json::Value {
    serde_json::json!({"access_token": NEW_ACCESS, "token_type": "bearer", "scope": "read write",
        "expires_in": 1800, "refresh_token": NEW_REFRESH, "refresh_token_expires_in": 604_800})
}

fn header<'a>(seen: &'a Seen, name: &str) -> &'a str {
    seen.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn a_refresh_is_one_json_post_to_oauth_tokens_with_every_parameter_and_no_bearer() {
    let server = mock(|_| async { json(200, rotated()) }).await;
    let grant = refresh(&server.url).await.expect("granted");
    assert_eq!(grant.access_token.expose(), NEW_ACCESS);
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.target, "/oauth/tokens");
    assert_eq!(header(request, "content-type"), "application/json");
    assert_eq!(header(request, "accept"), "application/json");
    assert_eq!(
        header(request, "user-agent"),
        format!("zis-operator/{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(header(request, "authorization"), "");
    let body: serde_json::Value = serde_json::from_slice(&request.body).expect("json body");
    assert_eq!(
        body,
        serde_json::json!({"grant_type": "refresh_token", "client_id": "zis_mock",
            "client_secret": CLIENT_SECRET, "refresh_token": REFRESH, "expires_in": 1800,
            "refresh_token_expires_in": 604_800})
    );
}

#[tokio::test]
async fn client_credentials_send_the_scope_and_no_refresh_parameters() {
    let server = mock(|_| async {
        json(
            200,
            serde_json::json!({"access_token": NEW_ACCESS, "token_type": "bearer",
                "scope": "read write", "expires_in": 300}),
        )
    })
    .await;
    let grant = oauth(&server.url)
        .client_credentials(
            "zis_mock",
            &SecretString::new(CLIENT_SECRET),
            "read write",
            Duration::from_secs(300),
        )
        .await
        .expect("granted");
    assert_eq!(grant.refresh_token, None);
    let body: serde_json::Value =
        serde_json::from_slice(&server.seen()[0].body).expect("json body");
    assert_eq!(
        body,
        serde_json::json!({"grant_type": "client_credentials", "client_id": "zis_mock",
            "client_secret": CLIENT_SECRET, "scope": "read write", "expires_in": 300})
    );
}

#[tokio::test]
async fn garbage_success_bodies_are_transient_and_may_have_spent_the_token() {
    for body in [
        "",
        "<html>ok</html>",
        "{\"access_token\":",
        "{}",
        "{\"refresh_token\":\"r\"}",
    ] {
        let server = mock(move |_| async move { answer(200, "application/json", body) }).await;
        let error = refresh(&server.url).await.expect_err("unusable");
        assert!(
            matches!(
                error,
                OAuthError::Transient {
                    maybe_applied: true,
                    ..
                }
            ),
            "{body:?}: {error:?}"
        );
    }
}

#[tokio::test]
async fn a_success_with_numbers_as_strings_and_a_capitalised_bearer_is_accepted() {
    let server = mock(|_| async {
        answer(
            200,
            "application/json; charset=utf-8",
            format!(
                r#"{{"access_token":"{NEW_ACCESS}","token_type":"Bearer","expires_in":"600",
                    "refresh_token":"{NEW_REFRESH}","refresh_token_expires_in":"604800"}}"#
            ),
        )
    })
    .await;
    let grant = refresh(&server.url).await.expect("granted");
    assert_eq!(grant.expires_in, Some(Duration::from_secs(600)));
    assert_eq!(
        grant.refresh_token_expires_in,
        Some(Duration::from_secs(604_800))
    );
    // No scope in the answer: an empty scope, for the caller to read as "as asked".
    assert_eq!(grant.scope, "");
}

#[tokio::test]
async fn html_5xx_pages_are_transient_with_a_short_excerpt_and_no_secret() {
    let server = mock(|_| async {
        answer(
            502,
            "text/html",
            format!(
                "<html><body>Bad gateway\n{}\n{CLIENT_SECRET} {REFRESH}</body></html>",
                "x".repeat(5000)
            ),
        )
    })
    .await;
    let error = refresh(&server.url).await.expect_err("502");
    let OAuthError::Transient {
        reason,
        maybe_applied,
    } = &error
    else {
        panic!("not transient: {error:?}");
    };
    assert!(maybe_applied);
    assert!(
        reason.contains("502") && reason.contains("Bad gateway"),
        "{reason}"
    );
    assert!(reason.chars().count() < 300, "{reason}");
    let text = format!("{error} {error:?}");
    assert!(!text.contains(CLIENT_SECRET) && !text.contains(REFRESH));
}

#[tokio::test]
async fn a_429_waits_its_retry_after_in_seconds_or_as_a_date() {
    let server = mock(|_| async {
        (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "42")],
            "{\"error\":\"too_many_requests\"}",
        )
            .into_response()
    })
    .await;
    assert_eq!(
        refresh(&server.url).await,
        Err(OAuthError::RateLimited {
            retry_after: Duration::from_secs(42)
        })
    );
    let in_a_minute =
        httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(61));
    let server = mock(move |_| {
        let date = in_a_minute.clone();
        async move { (StatusCode::TOO_MANY_REQUESTS, [("retry-after", date)], "").into_response() }
    })
    .await;
    match refresh(&server.url).await {
        Err(OAuthError::RateLimited { retry_after }) => assert!(
            retry_after > Duration::from_secs(55) && retry_after <= Duration::from_secs(61),
            "{retry_after:?}"
        ),
        other => panic!("not rate limited: {other:?}"),
    }
}

#[tokio::test]
async fn an_error_body_echoing_the_refresh_token_and_secret_is_redacted() {
    let server = mock(|_| async {
        json(
            400,
            serde_json::json!({"error": "invalid_grant",
                "error_description": format!("refresh_token {REFRESH} (client_secret {CLIENT_SECRET}) is expired")}),
        )
    })
    .await;
    let error = refresh(&server.url).await.expect_err("refused");
    assert!(error.needs_reauthorization());
    let text = format!("{error} {error:?}");
    assert!(
        !text.contains(REFRESH) && !text.contains(CLIENT_SECRET),
        "{text}"
    );
    assert!(text.contains("<redacted>"), "{text}");
}

#[tokio::test]
async fn a_bare_401_is_invalid_client_and_an_unknown_code_is_invalid() {
    let server = mock(|_| async { answer(401, "text/plain", "") }).await;
    assert!(matches!(
        refresh(&server.url).await,
        Err(OAuthError::InvalidClient { .. })
    ));
    let server = mock(|_| async {
        json(
            400,
            serde_json::json!({"error": "unsupported_grant_type", "error_description": "no"}),
        )
    })
    .await;
    assert_eq!(
        refresh(&server.url).await,
        Err(OAuthError::Invalid {
            code: "unsupported_grant_type".to_owned(),
            description: "no".to_owned()
        })
    );
}

#[tokio::test]
async fn a_hanging_server_times_out_as_transient_that_may_have_been_applied() {
    let server = mock(|_| async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        json(200, rotated())
    })
    .await;
    let error = refresh(&server.url).await.expect_err("timed out");
    assert!(
        matches!(&error, OAuthError::Transient { maybe_applied: true, reason }
            if reason.contains("timed out")),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_redirect_is_reported_and_not_followed() {
    let elsewhere = mock(|_| async { json(200, rotated()) }).await;
    let target = format!("{}/oauth/tokens", elsewhere.url);
    let server = mock(move |_| {
        let target = target.clone();
        async move { (StatusCode::TEMPORARY_REDIRECT, [("location", target)], "").into_response() }
    })
    .await;
    let error = refresh(&server.url).await.expect_err("redirect");
    assert!(
        matches!(&error, OAuthError::Invalid { code, .. } if code == "UnexpectedRedirect"),
        "{error:?}"
    );
    assert!(elsewhere.seen().is_empty(), "the secret went elsewhere");
}

#[tokio::test]
async fn an_oversized_answer_is_transient() {
    let server = mock(|_| async { answer(200, "application/json", "x".repeat(2 << 20)) }).await;
    assert!(matches!(
        refresh(&server.url).await,
        Err(OAuthError::Transient { .. })
    ));
}

/// A writer appending to a shared buffer.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

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

// A current-thread runtime: the thread's default subscriber sees the client, reqwest, hyper
// and the mock, without a process-wide subscriber.
#[tokio::test]
async fn no_token_or_secret_reaches_the_logs_at_trace_level() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
        .with_span_events(FmtSpan::FULL)
        .with_ansi(false)
        .with_writer(capture.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let granted = mock(|_| async { json(200, rotated()) }).await;
    refresh(&granted.url).await.expect("granted");
    let refused = mock(|_| async {
        json(
            400,
            serde_json::json!({"error": "invalid_grant", "error_description": REFRESH}),
        )
    })
    .await;
    refresh(&refused.url).await.expect_err("refused");
    let logs = String::from_utf8_lossy(&capture.0.lock().expect("lock")).into_owned();
    assert!(logs.contains("zis_oauth_request"), "{logs}");
    for secret in [CLIENT_SECRET, REFRESH, NEW_ACCESS, NEW_REFRESH] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
}
