//! The ZIS client against tiny scripted servers: exact request shapes, every error class, and
//! answers no real ZIS should give (garbage, huge bodies, hangs, dropped connections).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::Instant;
use zis_operator::secret::SecretString;
use zis_operator::zis::{
    BearerConnection, BearerPage, BearerTokenUpdate, ClientConfig, IntegrationClient,
    NewBearerConnection, PacingConfig, ZisClient, ZisError,
};

const ACCESS_TOKEN: &str = "access-token-MOCK-7731";
const CONN_TOKEN: &str = "connection-token-MOCK-9902";

/// A request as the mock saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    /// Path and query exactly as sent (still percent-encoded).
    target: String,
    headers: HeaderMap,
    body: Bytes,
    at: Instant,
}

type Reply = Arc<dyn Fn(Seen) -> Pin<Box<dyn Future<Output = Response> + Send>> + Send + Sync>;

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
    F: Fn(Seen) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    let reply: Reply = Arc::new(move |seen| Box::pin(reply(seen)));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = seen.clone();
    let app = axum::Router::new().fallback(move |request: Request<Body>| {
        let reply = reply.clone();
        let recorder = recorder.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, 4 << 20)
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
                at: Instant::now(),
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

fn json(status: u16, body: &str) -> Response {
    (
        StatusCode::from_u16(status).expect("status"),
        [("content-type", "application/json")],
        body.to_owned(),
    )
        .into_response()
}

fn error_body(code: &str, title: &str) -> String {
    format!(r#"{{"errors":[{{"code":"{code}","title":"{title}"}}]}}"#)
}

const SHOW_BODY: &str = r#"{"bearer_token":{"allowed_domain":"api.example.com","created_at":"1985-04-12T23:20:50.52Z","name":"my_conn","token":"*****","updated_at":"1985-04-12T23:20:50.52Z"}}"#;

fn config(url: &str) -> ClientConfig {
    ClientConfig::for_url(url, true)
        .with_timeouts(Duration::from_secs(2), Duration::from_secs(2))
        .with_pacing(PacingConfig {
            requests_per_minute: 60_000,
            burst: 1000,
            max_retry_after: Duration::from_secs(30),
            ..PacingConfig::default()
        })
}

fn client(url: &str) -> IntegrationClient {
    ZisClient::new(config(url))
        .expect("client")
        .integration("my_integration", SecretString::new(ACCESS_TOKEN))
}

fn new_conn() -> NewBearerConnection {
    NewBearerConnection {
        name: "my_conn".to_owned(),
        token: SecretString::new(CONN_TOKEN),
        allowed_domain: "api.example.com".to_owned(),
    }
}

fn my_conn() -> BearerConnection {
    BearerConnection {
        name: "my_conn".to_owned(),
        allowed_domain: "api.example.com".to_owned(),
        created_at: "1985-04-12T23:20:50.52Z".to_owned(),
        updated_at: "1985-04-12T23:20:50.52Z".to_owned(),
    }
}

fn header<'a>(seen: &'a Seen, name: &str) -> &'a str {
    seen.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn create_posts_the_documented_body_with_auth_user_agent_and_content_type() {
    let server = mock(|_| async { json(201, SHOW_BODY) }).await;
    let created = client(&server.url)
        .create_bearer(&new_conn())
        .await
        .expect("created");
    assert_eq!(created, my_conn());
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(request.method, Method::POST);
    assert_eq!(
        request.target,
        "/api/services/zis/integrations/my_integration/connections/bearer_token"
    );
    assert_eq!(
        header(request, "authorization"),
        format!("Bearer {ACCESS_TOKEN}")
    );
    assert_eq!(header(request, "content-type"), "application/json");
    assert_eq!(
        header(request, "user-agent"),
        format!("zis-operator/{}", env!("CARGO_PKG_VERSION"))
    );
    let body: serde_json::Value = serde_json::from_slice(&request.body).expect("json body");
    assert_eq!(
        body,
        serde_json::json!({"name":"my_conn","token":CONN_TOKEN,"allowed_domain":"api.example.com"})
    );
}

#[tokio::test]
async fn get_update_and_delete_address_the_encoded_name() {
    let server = mock(|seen| async move {
        match seen.method {
            Method::GET => json(200, SHOW_BODY),
            _ => Response::builder()
                .status(204)
                .body(Body::from("null"))
                .expect("response"),
        }
    })
    .await;
    let client = client(&server.url);
    assert_eq!(client.get_bearer("my conn/x").await, Ok(my_conn()));
    let update = BearerTokenUpdate {
        token: Some(SecretString::new(CONN_TOKEN)),
        allowed_domain: None,
    };
    assert_eq!(client.update_bearer("my conn/x", &update).await, Ok(()));
    let domain_only = BearerTokenUpdate {
        token: None,
        allowed_domain: Some("b.example.com".to_owned()),
    };
    assert_eq!(
        client.update_bearer("my conn/x", &domain_only).await,
        Ok(())
    );
    assert_eq!(client.delete_bearer("my conn/x").await, Ok(()));

    let seen = server.seen();
    let path =
        "/api/services/zis/integrations/my_integration/connections/bearer_token/my%20conn%2Fx";
    let calls: Vec<_> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.target.as_str()))
        .collect();
    assert_eq!(
        calls,
        vec![
            ("GET", path),
            ("PATCH", path),
            ("PATCH", path),
            ("DELETE", path)
        ]
    );
    let body = |i: usize| serde_json::from_slice::<serde_json::Value>(&seen[i].body).expect("json");
    assert_eq!(body(1), serde_json::json!({"token": CONN_TOKEN}));
    assert_eq!(
        body(2),
        serde_json::json!({"allowed_domain": "b.example.com"})
    );
    assert_eq!(header(&seen[1], "content-type"), "application/json");
    assert!(seen[0].body.is_empty() && seen[3].body.is_empty());
}

#[tokio::test]
async fn no_content_answers_with_an_empty_body_succeed() {
    let server = mock(|_| async { StatusCode::NO_CONTENT.into_response() }).await;
    let client = client(&server.url);
    assert_eq!(
        client
            .update_bearer("my_conn", &BearerTokenUpdate::default())
            .await,
        Ok(())
    );
    assert_eq!(client.delete_bearer("my_conn").await, Ok(()));
}

#[tokio::test]
async fn listing_follows_cursor_pages_until_the_last() {
    let server = mock(|seen| async move {
        if seen.target.contains("page%5Bafter%5D=c2") || seen.target.contains("page[after]=c2") {
            json(
                200,
                r#"{"bearer_token":[{"name":"b3","allowed_domain":"c.example.com"}],"meta":{"has_more":false,"after":null,"before":"c2"}}"#,
            )
        } else if seen.target.contains("page%5Bafter%5D=c1") || seen.target.contains("page[after]=c1")
        {
            json(
                200,
                r#"{"api_key":[{"name":"k1","allowed_domain":"k.example.com","api_key":"*****","header_name":"x-api-key"}],"basic_auth":[],"bearer_token":[{"name":"b2","allowed_domain":"b.example.com"}],"oauth":[],"meta":{"has_more":true,"after":"c2","before":"c1"}}"#,
            )
        } else {
            json(
                200,
                r#"{"api_key":[],"basic_auth":[{"name":"u1","allowed_domain":"u.example.com"}],"bearer_token":[{"name":"b1","allowed_domain":"a.example.com"}],"oauth":[{"name":"zendesk"}],"meta":{"has_more":true,"after":"c1","before":null}}"#,
            )
        }
    })
    .await;
    let list = client(&server.url)
        .list_connections()
        .await
        .expect("listed");
    let mut names: Vec<_> = list
        .connections
        .iter()
        .map(|c| format!("{}:{}", c.kind, c.name))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "api_key:k1",
            "basic_auth:u1",
            "bearer_token:b1",
            "bearer_token:b2",
            "bearer_token:b3",
            "oauth:zendesk"
        ]
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(
        seen[0].target,
        "/api/services/zis/integrations/my_integration/connections/all?page%5Bsize%5D=100"
    );
    assert_eq!(
        seen[1].target,
        "/api/services/zis/integrations/my_integration/connections/all?page%5Bsize%5D=100&page%5Bafter%5D=c1"
    );
}

#[tokio::test]
async fn one_bearer_page_is_asked_for_with_its_size_and_cursor_and_keeps_no_token() {
    let server = mock(|seen| async move {
        if seen.target.contains("page%5Bafter%5D=") {
            json(
                200,
                r#"{"api_key":[],"basic_auth":[],"bearer_token":[],"oauth":[],"meta":{"has_more":false,"after":null,"before":"c1"}}"#,
            )
        } else {
            // A careless server that shows a token: the page must not keep it.
            json(
                200,
                r#"{"api_key":[{"name":"k1","allowed_domain":"k.example.com","api_key":"*****"}],"bearer_token":[{"name":"b1","allowed_domain":"a.example.com","token":"connection-token-MOCK-9902","created_at":"1985-04-12T23:20:50.52Z","updated_at":"1985-04-12T23:20:50.52Z"}],"meta":{"has_more":true,"after":"c1","before":null}}"#,
            )
        }
    })
    .await;
    let client = client(&server.url);
    let first = client.list_bearer_page(None).await.expect("first page");
    assert_eq!(
        first.connections,
        vec![BearerConnection {
            name: "b1".to_owned(),
            allowed_domain: "a.example.com".to_owned(),
            ..my_conn()
        }]
    );
    assert_eq!(first.next_cursor.as_deref(), Some("c1"));
    assert!(!format!("{first:?}").contains(CONN_TOKEN));
    let last = client
        .list_bearer_page(first.next_cursor.as_deref())
        .await
        .expect("last page");
    assert_eq!(last, BearerPage::default());
    let seen = server.seen();
    assert_eq!(
        seen.iter().map(|s| s.target.as_str()).collect::<Vec<_>>(),
        [
            "/api/services/zis/integrations/my_integration/connections/all?page%5Bsize%5D=100",
            "/api/services/zis/integrations/my_integration/connections/all?page%5Bsize%5D=100&page%5Bafter%5D=c1",
        ]
    );
    assert!(seen.iter().all(|s| s.method == Method::GET));
}

#[tokio::test]
async fn the_rate_limit_headers_of_each_answer_pace_the_account() {
    // The server tells how much of its 600-a-minute window is left: 60 (the 10% reserve) for
    // the first three answers, then plenty. A 429 says 0 but only its Retry-After counts.
    let answered = Arc::new(Mutex::new(0_usize));
    let server = mock({
        let answered = answered.clone();
        move |_| {
            let answered = answered.clone();
            async move {
                let n = {
                    let mut answered = answered.lock().expect("lock");
                    *answered += 1;
                    *answered
                };
                let (status, body, remaining) = match n {
                    1..=3 => (200, SHOW_BODY.to_owned(), "60"),
                    4 => (429, error_body("TooManyRequests", "Too many requests"), "0"),
                    _ => (200, SHOW_BODY.to_owned(), "400"),
                };
                let mut response = json(status, &body);
                let headers = response.headers_mut();
                headers.insert("x-rate-limit", "600".parse().expect("header"));
                headers.insert("x-rate-limit-remaining", remaining.parse().expect("header"));
                if status == 429 {
                    headers.insert("retry-after", "1".parse().expect("header"));
                }
                response
            }
        }
    })
    .await;
    let account = ZisClient::new(config(&server.url)).expect("client");
    let client = account.integration("my_integration", SecretString::new(ACCESS_TOKEN));
    assert!(!account.remaining_is_low());
    client.get_bearer("my_conn").await.expect("first");
    assert!(account.remaining_is_low());
    // Low: no burst, and 60 requests spread over a minute, one a second.
    client.get_bearer("my_conn").await.expect("second");
    client.get_bearer("my_conn").await.expect("third");
    let seen = server.seen();
    let gap = seen[2].at - seen[1].at;
    assert!(
        gap >= Duration::from_millis(950) && gap < Duration::from_millis(1_500),
        "{gap:?}"
    );
    // A 429 pauses for its Retry-After and forgets the low word.
    assert!(matches!(
        client.get_bearer("my_conn").await,
        Err(ZisError::RateLimited { .. })
    ));
    assert!(!account.remaining_is_low());
    client.get_bearer("my_conn").await.expect("after the pause");
    assert!(!account.remaining_is_low());
    // Plenty left: the configured budget's pace again (60,000 a minute, a burst of 1,000).
    let start = Instant::now();
    for _ in 0..5 {
        client.get_bearer("my_conn").await.expect("fast");
    }
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_listing_whose_cursor_repeats_fails_instead_of_looping() {
    let server = mock(|_| async {
        json(
            200,
            r#"{"bearer_token":[{"name":"b1","allowed_domain":"a.example.com"}],"meta":{"has_more":true,"after":"same"}}"#,
        )
    })
    .await;
    let result = client(&server.url).list_connections().await;
    assert!(
        matches!(result, Err(ZisError::Transient { .. })),
        "{result:?}"
    );
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn every_error_status_is_classified_by_what_the_caller_must_do() {
    let server = mock(|seen| async move {
        let name = seen.target.rsplit('/').next().unwrap_or("").to_owned();
        match name.as_str() {
            "s400" => json(
                400,
                &error_body("InvalidIntegration", "Specified integration is not valid"),
            ),
            "s401" => json(
                401,
                &error_body("InvalidCredentials", "Token length is invalid"),
            ),
            "s403" => json(
                403,
                &error_body(
                    "Forbidden",
                    "Cannot access this resource. Missing scope write",
                ),
            ),
            "s404" => json(404, &error_body("NotFound", "Connection does not exist")),
            "s409" => json(409, &error_body("Conflict", "Resource conflict")),
            "s422" => json(422, &error_body("UnprocessableEntity", "name is invalid")),
            "s418" => (StatusCode::IM_A_TEAPOT, "<html>short and stout</html>").into_response(),
            "s500" => json(500, "{\"oops\""),
            "s503" => (StatusCode::SERVICE_UNAVAILABLE, "\u{0}\u{1}\u{2}").into_response(),
            "s302" => Response::builder()
                .status(302)
                .header("location", "https://elsewhere.example.com/")
                .body(Body::empty())
                .expect("response"),
            _ => json(200, "this is not json"),
        }
    })
    .await;
    let client = client(&server.url);
    let get = |name: &'static str| {
        let client = client.clone();
        async move { client.get_bearer(name).await }
    };
    assert_eq!(
        get("s400").await,
        Err(ZisError::Invalid {
            code: "InvalidIntegration".to_owned(),
            title: "Specified integration is not valid".to_owned()
        })
    );
    assert_eq!(get("s401").await, Err(ZisError::Unauthorized));
    assert_eq!(
        get("s403").await,
        Err(ZisError::Forbidden {
            title: "Cannot access this resource. Missing scope write".to_owned()
        })
    );
    assert_eq!(get("s404").await, Err(ZisError::NotFound));
    assert_eq!(get("s409").await, Err(ZisError::Conflict));
    assert_eq!(
        get("s422").await,
        Err(ZisError::Invalid {
            code: "UnprocessableEntity".to_owned(),
            title: "name is invalid".to_owned()
        })
    );
    assert_eq!(
        get("s418").await,
        Err(ZisError::Invalid {
            code: "Http418".to_owned(),
            title: "<html>short and stout</html>".to_owned()
        })
    );
    for name in ["s500", "s503", "garbage"] {
        let result = get(name).await;
        assert!(
            matches!(result, Err(ZisError::Transient { .. })),
            "{name}: {result:?}"
        );
    }
    assert!(matches!(
        get("s302").await,
        Err(ZisError::Invalid { code, .. }) if code == "UnexpectedRedirect"
    ));
    // The redirect was reported, not followed.
    assert!(
        server
            .seen()
            .iter()
            .all(|s| s.target.starts_with("/api/services/zis/"))
    );
}

#[tokio::test]
async fn a_429_reports_its_retry_after_in_seconds_or_as_a_date() {
    let server = mock(|seen| async move {
        let retry_after = if seen.target.ends_with("/secs") {
            Some("3".to_owned())
        } else if seen.target.ends_with("/date") {
            Some(httpdate::fmt_http_date(
                std::time::SystemTime::now() + Duration::from_secs(20),
            ))
        } else if seen.target.ends_with("/huge") {
            Some("999999".to_owned())
        } else {
            None
        };
        let mut response = json(429, &error_body("TooManyRequests", "Too many requests"));
        if let Some(value) = retry_after {
            response
                .headers_mut()
                .insert("retry-after", value.parse().expect("header"));
        }
        response
    })
    .await;
    // Each case gets its own account: a 429 pauses the whole account.
    let fresh = || client(&server.url);
    assert_eq!(
        fresh().get_bearer("secs").await,
        Err(ZisError::RateLimited {
            retry_after: Duration::from_secs(3)
        })
    );
    match fresh().get_bearer("date").await {
        Err(ZisError::RateLimited { retry_after }) => assert!(
            retry_after > Duration::from_secs(17) && retry_after <= Duration::from_secs(20),
            "{retry_after:?}"
        ),
        other => panic!("unexpected {other:?}"),
    }
    // Capped at the configured max_retry_after (30 s here).
    assert_eq!(
        fresh().get_bearer("huge").await,
        Err(ZisError::RateLimited {
            retry_after: Duration::from_secs(30)
        })
    );
    assert_eq!(
        fresh().get_bearer("none").await,
        Err(ZisError::RateLimited {
            retry_after: Duration::from_secs(1)
        })
    );
}

#[tokio::test]
async fn a_retry_after_pauses_every_caller_of_the_account() {
    let first = Arc::new(Mutex::new(true));
    let server = mock(move |_| {
        let first = first.clone();
        async move {
            let was_first = std::mem::replace(&mut *first.lock().expect("lock"), false);
            if was_first {
                let mut response = json(429, &error_body("TooManyRequests", "Too many requests"));
                response
                    .headers_mut()
                    .insert("retry-after", "2".parse().expect("header"));
                response
            } else {
                json(200, SHOW_BODY)
            }
        }
    })
    .await;
    let account = ZisClient::new(config(&server.url)).expect("client");
    let one = account.integration("my_integration", SecretString::new(ACCESS_TOKEN));
    // Another integration and a clone of the client: same account, same bucket.
    let other = account
        .clone()
        .integration("other_integration", SecretString::new("other-access-token"));
    let limited_at = Instant::now();
    assert_eq!(
        one.get_bearer("my_conn").await,
        Err(ZisError::RateLimited {
            retry_after: Duration::from_secs(2)
        })
    );
    assert!(account.paused_until().is_some());
    let (a, b) = tokio::join!(other.get_bearer("my_conn"), one.get_bearer("my_conn"));
    assert_eq!(a, Ok(my_conn()));
    assert_eq!(b, Ok(my_conn()));
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    for later in &seen[1..] {
        let gap = later.at - limited_at;
        assert!(gap >= Duration::from_millis(1950), "sent after {gap:?}");
    }
}

#[tokio::test]
async fn bodies_larger_than_the_cap_are_transient_not_buffered() {
    let server = mock(|seen| async move {
        let huge = format!(
            r#"{{"bearer_token":{{"name":"{}","allowed_domain":"a"}}}}"#,
            "x".repeat(2 << 20)
        );
        if seen.target.ends_with("/chunked") {
            // No content-length: the cap must hold while streaming.
            let stream = futures::stream::iter(
                huge.into_bytes()
                    .chunks(64 * 1024)
                    .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
                    .collect::<Vec<_>>(),
            );
            Response::builder()
                .status(200)
                .body(Body::from_stream(stream))
                .expect("response")
        } else {
            json(200, &huge)
        }
    })
    .await;
    let client = client(&server.url);
    for name in ["sized", "chunked"] {
        let result = client.get_bearer(name).await;
        assert!(
            matches!(&result, Err(ZisError::Transient { reason }) if reason.contains("larger")),
            "{name}: {result:?}"
        );
    }
}

#[tokio::test]
async fn a_server_that_hangs_gives_a_transient_timeout() {
    let server = mock(|_| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        json(200, SHOW_BODY)
    })
    .await;
    let client = ZisClient::new(
        config(&server.url).with_timeouts(Duration::from_secs(1), Duration::from_millis(300)),
    )
    .expect("client")
    .integration("my_integration", SecretString::new(ACCESS_TOKEN));
    let started = Instant::now();
    let result = client.get_bearer("my_conn").await;
    assert!(
        matches!(&result, Err(ZisError::Transient { reason }) if reason.contains("timed out")),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A raw TCP server that answers every connection with `reply` bytes and then closes it.
async fn raw_server(reply: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(reply).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn dropped_and_cut_off_connections_are_transient() {
    let dropped = raw_server(b"").await;
    let cut_off =
        raw_server(b"HTTP/1.1 200 OK\r\ncontent-length: 500\r\n\r\n{\"bearer_token\":").await;
    let garbage = raw_server(b"\x00\x01 not http at all \xff\r\n\r\n").await;
    for addr in [dropped, cut_off, garbage] {
        let result = client(&format!("http://{addr}"))
            .get_bearer("my_conn")
            .await;
        assert!(
            matches!(result, Err(ZisError::Transient { .. })),
            "{addr}: {result:?}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_server_is_transient() {
    // Bind then drop to get a port nobody listens on.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("addr");
    let result = client(&format!("http://{addr}"))
        .create_bearer(&new_conn())
        .await;
    assert!(
        matches!(&result, Err(ZisError::Transient { reason }) if reason.contains("connect")),
        "{result:?}"
    );
}

#[tokio::test]
async fn an_access_token_that_cannot_be_a_header_is_refused_without_a_request() {
    let server = mock(|_| async { json(200, SHOW_BODY) }).await;
    let client = ZisClient::new(config(&server.url))
        .expect("client")
        .integration("my_integration", SecretString::new("bad\ntoken"));
    assert_eq!(
        client.get_bearer("my_conn").await,
        Err(ZisError::Unauthorized)
    );
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn errors_never_repeat_tokens_the_server_echoes() {
    let server = mock(|seen| async move {
        let echoed = String::from_utf8_lossy(&seen.body).replace('"', "'");
        let auth = header(&seen, "authorization").to_owned();
        json(
            400,
            &error_body("Invalid", &format!("you sent {echoed} with {auth}")),
        )
    })
    .await;
    let err = client(&server.url)
        .create_bearer(&new_conn())
        .await
        .expect_err("400");
    let text = format!("{err} {err:?}");
    assert!(!text.contains(CONN_TOKEN), "{text}");
    assert!(!text.contains(ACCESS_TOKEN), "{text}");
    assert!(text.contains("<redacted>"), "{text}");
}
