//! The HTTP side: the accept loop (hyper, HTTP/1.1, graceful shutdown) and the path of an API
//! request through the switches: rate limit, injected faults, random 5xx, the endpoint itself,
//! added latency, random dropped connection, counters.
//!
//! hyper is used directly (not through a router) because dropping a connection without an
//! answer needs the service to fail, which closes the connection.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::admin;
use super::faults::{self, Injected};
use super::handlers::{self, ApiRequest};
use super::rate_limit::Decision;
use super::response::{ApiError, Body};
use super::routes::{self, ApiRoute};
use super::state::State;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How long shutdown waits for requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

static X_RATE_LIMIT: HeaderName = HeaderName::from_static("x-rate-limit");
static X_RATE_LIMIT_REMAINING: HeaderName = HeaderName::from_static("x-rate-limit-remaining");

/// The service error that makes hyper close the connection without an answer.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped on purpose (fault injection)")]
pub struct Dropped;

/// Serves `listener` until `stop` changes or its sender is dropped, then lets requests in flight
/// finish (up to 5 seconds).
pub async fn serve(listener: TcpListener, state: Arc<State>, mut stop: watch::Receiver<()>) {
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    // Small JSON answers: do not wait for Nagle.
                    let _ = stream.set_nodelay(true);
                    let state = Arc::clone(&state);
                    let service = service_fn(move |request| answer(Arc::clone(&state), request));
                    // The timer enables hyper's 30 s limit on reading request headers, so idle
                    // half-open clients cannot pin connections forever.
                    let connection = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .serve_connection(TokioIo::new(stream), service);
                    let connection = graceful.watch(connection);
                    tokio::spawn(async move {
                        if let Err(error) = connection.await {
                            tracing::debug!(%error, "connection closed with an error");
                        }
                    });
                }
                Err(error) => {
                    // Typically out of file descriptors: wait a little instead of spinning.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!("requests still in flight after the shutdown grace period");
        }
    }
}

/// What became of an API request.
enum Outcome {
    Answer(Response<Body>),
    Drop,
}

/// Answers one request (admin or API).
async fn answer(state: Arc<State>, request: Request<Incoming>) -> Result<Response<Body>, Dropped> {
    if admin::is_admin(request.uri().path()) {
        let (parts, body) = request.into_parts();
        let response = match read_body(body).await {
            Ok(body) => admin::handle(
                &state,
                &parts.method,
                parts.uri.path(),
                parts.uri.query(),
                &body,
            ),
            Err(error) => error.into_response(),
        };
        return Ok(response);
    }
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let method = routes::method_name(&parts.method);
    let path = parts.uri.path();
    let route = ApiRoute::parse(path);
    let endpoint = route.template();
    let settings = state.settings();

    let decision = state.rate.check(settings.rate_limit_per_minute, started);
    let outcome = if let Decision::Limited {
        retry_after_secs, ..
    } = decision
    {
        Outcome::Answer(with_retry_after(
            ApiError::too_many_requests().into_response(),
            Some(retry_after_secs),
        ))
    } else if let Some(injected) = state.faults.take(method, path) {
        match injected {
            Injected::Status(status, retry_after) => Outcome::Answer(with_retry_after(
                ApiError::injected(status).into_response(),
                retry_after,
            )),
            Injected::Drop => Outcome::Drop,
        }
    } else if let Some(status) = faults::random_error(settings.error_rate) {
        Outcome::Answer(ApiError::injected(status).into_response())
    } else if faults::random_throttle(settings.throttle_rate) {
        Outcome::Answer(with_retry_after(
            ApiError::too_many_requests().into_response(),
            Some(1),
        ))
    } else {
        let response = match read_body(body).await {
            Ok(body) => handlers::handle(
                &state,
                &ApiRequest {
                    method: &parts.method,
                    route: &route,
                    headers: &parts.headers,
                    query: parts.uri.query(),
                    body: &body,
                },
            ),
            Err(error) => error.into_response(),
        };
        // A drop after the request took effect: the client cannot know whether it did.
        if faults::random_drop(settings.drop_rate) {
            Outcome::Drop
        } else {
            Outcome::Answer(response)
        }
    };

    // Latency models a slow network: the effect has happened, the answer is late.
    let mut latency_ms = faults::latency(settings.latency_ms, settings.latency_jitter_ms);
    if route == ApiRoute::OAuthTokens {
        latency_ms += settings.oauth_latency_ms;
    }
    if latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(latency_ms)).await;
    }
    let integration = route.integration().unwrap_or("");
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    match outcome {
        Outcome::Answer(mut response) => {
            add_rate_headers(&mut response, decision);
            let status = response.status().as_u16();
            state.counters.record(method, endpoint, status);
            tracing::debug!(
                method,
                endpoint,
                integration,
                status,
                elapsed_ms,
                "zis request"
            );
            Ok(response)
        }
        Outcome::Drop => {
            state.counters.record(method, endpoint, 0);
            tracing::debug!(
                method,
                endpoint,
                integration,
                elapsed_ms,
                "zis request dropped"
            );
            Err(Dropped)
        }
    }
}

async fn read_body(body: Incoming) -> Result<Bytes, ApiError> {
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLarge",
            format!("Body is larger than {MAX_BODY_BYTES} bytes"),
        )),
        Err(_) => Err(ApiError::invalid_body("Body could not be read")),
    }
}

fn with_retry_after(mut response: Response<Body>, seconds: Option<u64>) -> Response<Body> {
    if let Some(seconds) = seconds {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// `X-Rate-Limit` and `X-Rate-Limit-Remaining` on every API answer while a limit is set.
fn add_rate_headers(response: &mut Response<Body>, decision: Decision) {
    let (limit, remaining) = match decision {
        Decision::Unlimited => return,
        Decision::Allowed { limit, remaining } => (limit, remaining),
        Decision::Limited { limit, .. } => (limit, 0),
    };
    let headers = response.headers_mut();
    headers.insert(X_RATE_LIMIT.clone(), HeaderValue::from(limit));
    headers.insert(X_RATE_LIMIT_REMAINING.clone(), HeaderValue::from(remaining));
}
