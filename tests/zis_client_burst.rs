//! A burst of 500 creates against an account limited to 600 requests a minute: the client's
//! pacing spreads them under the limit, so (almost) no 429 comes back and none is lost.
//!
//! Slow by design (about 50 s: 10 at once, then 10 a second), and the only slow client test.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use zis_operator::secret::SecretString;
use zis_operator::zis::{ClientConfig, NewBearerConnection, PacingConfig, ZisClient, ZisError};
use zis_sandbox::zis::{FakeZis, FakeZisConfig};

const INTEGRATION: &str = "burst_app";
const ACCESS_TOKEN: &str = "burst-access-token-0001";
const CONNECTIONS: usize = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_500_creates_under_a_600_per_minute_limit_is_paced_not_rejected() {
    let fake = FakeZis::start(
        FakeZisConfig {
            integrations: vec![(INTEGRATION.to_owned(), ACCESS_TOKEN.to_owned())],
            patch_allowed_domain: true,
            rate_limit_per_minute: Some(600),
        },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("fake zis starts");
    let account = ZisClient::new(
        ClientConfig::for_url(&fake.url(), true)
            .with_timeouts(Duration::from_secs(2), Duration::from_secs(10))
            .with_pacing(PacingConfig {
                requests_per_minute: 600,
                burst: 10,
                max_retry_after: Duration::from_secs(60),
                ..PacingConfig::default()
            }),
    )
    .expect("client");

    let rate_limited = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|i| {
            // Every task has its own handle, as independent reconciles would.
            let client = account.integration(INTEGRATION, SecretString::new(ACCESS_TOKEN));
            let rate_limited = rate_limited.clone();
            tokio::spawn(async move {
                let new = NewBearerConnection {
                    name: format!("burst_{i:03}"),
                    token: SecretString::new(format!("burst-token-{i:03}")),
                    allowed_domain: "api.example.com".to_owned(),
                };
                // The caller's requeue, as the operator does it: the pause itself is enforced
                // by the shared bucket, so retrying right away simply waits in line.
                for _ in 0..5 {
                    match client.create_bearer(&new).await {
                        Err(ZisError::RateLimited { .. }) => {
                            rate_limited.fetch_add(1, Ordering::Relaxed);
                        }
                        other => return other,
                    }
                }
                Err(ZisError::Transient {
                    reason: "still rate limited after 5 tries".to_owned(),
                })
            })
        })
        .collect();
    let mut failures = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        if let Err(err) = task.await.expect("task") {
            failures.push((i, err));
        }
    }
    assert!(failures.is_empty(), "failed creates: {failures:?}");
    let limited = rate_limited.load(Ordering::Relaxed);
    let counters: serde_json::Value = reqwest::get(format!("{}/_fake/requests", fake.url()))
        .await
        .expect("admin")
        .json()
        .await
        .expect("admin json");
    let served_429: u64 = counters["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .filter(|r| r["status"] == 429)
        .filter_map(|r| r["count"].as_u64())
        .sum();
    println!(
        "{CONNECTIONS} creates: {limited} answers 429 seen by the client, {served_429} counted by the server"
    );
    assert!(limited <= 5, "{limited} answers were 429");
    assert_eq!(served_429, limited as u64);

    let admin: serde_json::Value = reqwest::get(format!("{}/_fake/connections", fake.url()))
        .await
        .expect("admin")
        .json()
        .await
        .expect("admin json");
    let stored = admin["connections"].as_array().expect("connections");
    for i in 0..CONNECTIONS {
        let name = format!("burst_{i:03}");
        let found = stored
            .iter()
            .find(|c| c["name"] == name.as_str() && c["integration"] == INTEGRATION)
            .unwrap_or_else(|| panic!("{name} was lost"));
        assert_eq!(found["token"], format!("burst-token-{i:03}"));
    }
    fake.shutdown().await;
}
