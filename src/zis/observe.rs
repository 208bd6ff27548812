//! A hook to watch every ZIS request the client sends, for metrics. The client calls the
//! [`RequestObserver`] once per request that reached the network, with only bounded,
//! non-secret facts: the method, the endpoint template (never a name or a token), the status
//! and how the answer was classified, and the time spent waiting for the pacer and on the wire.

use std::time::Duration;

use super::ZisError;

/// Told about every request sent to ZIS. Implementations must be quick and must not block.
pub trait RequestObserver: Send + Sync {
    fn observe(&self, request: &RequestRecord<'_>);
}

/// One request sent to ZIS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord<'a> {
    /// `GET`, `POST`, `PATCH`, `DELETE`.
    pub method: &'a str,
    /// The endpoint without values: `bearer_token`, `bearer_token/{name}`, `all`.
    pub endpoint: &'static str,
    /// The HTTP status, when an answer arrived.
    pub status: Option<u16>,
    pub outcome: RequestOutcome,
    /// How long the request waited for the account's pacer before it was sent.
    pub paced: Duration,
    /// From sending to the end of the answer (or the failure).
    pub duration: Duration,
}

impl RequestRecord<'_> {
    /// `2xx`, `3xx`, `4xx`, `5xx`, or `none` when no answer arrived.
    pub fn status_class(&self) -> &'static str {
        match self.status {
            Some(200..=299) => "2xx",
            Some(300..=399) => "3xx",
            Some(400..=499) => "4xx",
            Some(500..=599) => "5xx",
            Some(_) => "other",
            None => "none",
        }
    }
}

/// How a request ended, as the client classified it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestOutcome {
    Success,
    NotFound,
    Conflict,
    RateLimited,
    Unauthorized,
    Forbidden,
    Invalid,
    /// 5xx, timeouts, connection failures, answers that do not parse.
    Transient,
}

impl RequestOutcome {
    /// The outcome of a call that returned `error` (or succeeded, for `None`).
    pub fn of(error: Option<&ZisError>) -> Self {
        match error {
            None => RequestOutcome::Success,
            Some(ZisError::NotFound) => RequestOutcome::NotFound,
            Some(ZisError::Conflict) => RequestOutcome::Conflict,
            Some(ZisError::RateLimited { .. }) => RequestOutcome::RateLimited,
            Some(ZisError::Unauthorized) => RequestOutcome::Unauthorized,
            Some(ZisError::Forbidden { .. }) => RequestOutcome::Forbidden,
            Some(ZisError::Invalid { .. }) => RequestOutcome::Invalid,
            // Never sent, so never observed; classed with the failures that leave no answer.
            Some(ZisError::Transient { .. } | ZisError::NotPermitted) => RequestOutcome::Transient,
        }
    }

    /// A stable snake_case name, for metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestOutcome::Success => "success",
            RequestOutcome::NotFound => "not_found",
            RequestOutcome::Conflict => "conflict",
            RequestOutcome::RateLimited => "rate_limited",
            RequestOutcome::Unauthorized => "unauthorized",
            RequestOutcome::Forbidden => "forbidden",
            RequestOutcome::Invalid => "invalid",
            RequestOutcome::Transient => "transient",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::http::StatusCode;
    use axum::routing::get;

    use crate::secret::SecretString;
    use crate::zis::{ClientConfig, ZisClient};

    /// Method, endpoint, status, outcome.
    type Seen = (String, &'static str, Option<u16>, RequestOutcome);

    /// Keeps what it is told.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<Seen>>);

    impl RequestObserver for Recorder {
        fn observe(&self, request: &RequestRecord<'_>) {
            let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
            seen.push((
                request.method.to_owned(),
                request.endpoint,
                request.status,
                request.outcome,
            ));
        }
    }

    #[tokio::test]
    async fn the_client_tells_the_observer_about_each_request_by_endpoint_template() {
        let app = Router::new().route(
            "/api/services/zis/integrations/{integration}/connections/bearer_token/{name}",
            get(|| async { (StatusCode::NOT_FOUND, "{}") })
                .delete(|| async { StatusCode::NO_CONTENT }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("bound");
        let server = tokio::spawn(async move { axum::serve(listener, app).await });

        let recorder = Arc::new(Recorder::default());
        let config =
            ClientConfig::for_url(&format!("http://{addr}"), true).with_observer(recorder.clone());
        let client = ZisClient::new(config)
            .expect("client")
            .integration("some-integration", SecretString::new("access-token-value"));
        assert!(client.get_bearer("some-connection").await.is_err());
        client
            .delete_bearer("some-connection")
            .await
            .expect("deleted");
        server.abort();

        let seen = recorder.0.lock().expect("lock").clone();
        assert_eq!(
            seen,
            vec![
                (
                    "GET".to_owned(),
                    "bearer_token/{name}",
                    Some(404),
                    RequestOutcome::NotFound
                ),
                (
                    "DELETE".to_owned(),
                    "bearer_token/{name}",
                    Some(204),
                    RequestOutcome::Success
                ),
            ]
        );
    }

    #[test]
    fn statuses_are_reduced_to_their_class() {
        let mut record = RequestRecord {
            method: "GET",
            endpoint: "all",
            status: Some(404),
            outcome: RequestOutcome::NotFound,
            paced: Duration::ZERO,
            duration: Duration::ZERO,
        };
        assert_eq!(record.status_class(), "4xx");
        record.status = Some(503);
        assert_eq!(record.status_class(), "5xx");
        record.status = None;
        assert_eq!(record.status_class(), "none");
    }

    #[test]
    fn errors_map_to_their_outcome() {
        assert_eq!(RequestOutcome::of(None).as_str(), "success");
        assert_eq!(
            RequestOutcome::of(Some(&ZisError::RateLimited {
                retry_after: Duration::from_secs(1)
            }))
            .as_str(),
            "rate_limited"
        );
        assert_eq!(
            RequestOutcome::of(Some(&ZisError::Transient {
                reason: "503".into()
            })),
            RequestOutcome::Transient
        );
    }
}
