//! What the ZIS client costs per call on top of a bare reqwest request: both fetch the same
//! connection from a minimal in-process server (its own thread and runtime), sequentially and
//! with concurrent callers. Prints microseconds per call; run with `cargo bench --bench zis_client`.
//!
//! The client's extra work per call is the pacing token, the tracing span, URL building, error
//! classification and JSON decoding into typed values; the raw baseline sends the same headers
//! and reads the body without decoding it.

use std::time::{Duration, Instant};

use axum::response::IntoResponse;
use reqwest::header::{ACCEPT, AUTHORIZATION};
use zis_operator::secret::SecretString;
use zis_operator::zis::{ClientConfig, IntegrationClient, PacingConfig, ZisClient};

const SHOW_BODY: &str = r#"{"bearer_token":{"allowed_domain":"api.example.com","created_at":"1985-04-12T23:20:50.52Z","name":"bench_conn","token":"*****","updated_at":"1985-04-12T23:20:50.52Z"}}"#;
const ACCESS_TOKEN: &str = "bench-access-token";
const SEQUENTIAL_CALLS: usize = 5_000;
const CONCURRENT_CALLERS: usize = 16;
const CONCURRENT_CALLS_EACH: usize = 500;

/// Serves SHOW_BODY for every request on its own thread; returns the base URL.
fn start_server() -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("server runtime");
        runtime.block_on(async move {
            let app = axum::Router::new().fallback(|| async {
                ([("content-type", "application/json")], SHOW_BODY).into_response()
            });
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr"))
                .expect("send addr");
            axum::serve(listener, app).await.expect("serve");
        });
    });
    format!("http://{}", rx.recv().expect("server address"))
}

fn per_call_us(elapsed: Duration, calls: usize) -> f64 {
    elapsed.as_secs_f64() * 1e6 / calls as f64
}

async fn raw_get(http: &reqwest::Client, url: &str) {
    let response = http
        .get(url)
        .header(AUTHORIZATION, format!("Bearer {ACCESS_TOKEN}"))
        .header(ACCEPT, "application/json")
        .send()
        .await
        .expect("raw get");
    assert!(response.status().is_success());
    let body = response.bytes().await.expect("raw body");
    assert!(!body.is_empty());
}

async fn client_get(client: &IntegrationClient) {
    let connection = client.get_bearer("bench_conn").await.expect("client get");
    assert_eq!(connection.name, "bench_conn");
}

/// Mean and median microseconds per call of `samples`.
fn summary(samples: &mut [Duration]) -> (f64, f64) {
    samples.sort_unstable();
    let mean = per_call_us(samples.iter().sum(), samples.len());
    let median = samples[samples.len() / 2].as_secs_f64() * 1e6;
    (mean, median)
}

/// Calls interleaved one by one (bare reqwest, reqwest configured like the client, the client),
/// so load changes on the machine hit all three alike. Returns (mean, median) per variant.
async fn sequential(
    bare: &reqwest::Client,
    configured: &reqwest::Client,
    url: &str,
    client: &IntegrationClient,
) -> [(f64, f64); 3] {
    let mut samples = [
        Vec::with_capacity(SEQUENTIAL_CALLS),
        Vec::with_capacity(SEQUENTIAL_CALLS),
        Vec::with_capacity(SEQUENTIAL_CALLS),
    ];
    for _ in 0..SEQUENTIAL_CALLS {
        let start = Instant::now();
        raw_get(bare, url).await;
        samples[0].push(start.elapsed());
        let start = Instant::now();
        raw_get(configured, url).await;
        samples[1].push(start.elapsed());
        let start = Instant::now();
        client_get(client).await;
        samples[2].push(start.elapsed());
    }
    samples.map(|mut s| summary(&mut s))
}

/// `CONCURRENT_CALLERS` tasks at once, each alternating a bare reqwest call and a client call,
/// timing each. Returns (mean, median) per variant, and calls a second overall.
async fn concurrent(
    http: &reqwest::Client,
    url: &str,
    client: &IntegrationClient,
) -> [(f64, f64); 2] {
    let tasks: Vec<_> = (0..CONCURRENT_CALLERS)
        .map(|_| {
            let http = http.clone();
            let url = url.to_owned();
            let client = client.clone();
            tokio::spawn(async move {
                let mut raw = Vec::with_capacity(CONCURRENT_CALLS_EACH);
                let mut ours = Vec::with_capacity(CONCURRENT_CALLS_EACH);
                for _ in 0..CONCURRENT_CALLS_EACH {
                    let start = Instant::now();
                    raw_get(&http, &url).await;
                    raw.push(start.elapsed());
                    let start = Instant::now();
                    client_get(&client).await;
                    ours.push(start.elapsed());
                }
                (raw, ours)
            })
        })
        .collect();
    let mut raw = Vec::new();
    let mut ours = Vec::new();
    for task in tasks {
        let (r, o) = task.await.expect("bench task");
        raw.extend(r);
        ours.extend(o);
    }
    [summary(&mut raw), summary(&mut ours)]
}

fn main() {
    let base = start_server();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    runtime.block_on(async {
        // Pacing set far above what one machine can send, so only its bookkeeping is measured.
        let pacing = PacingConfig {
            requests_per_minute: u32::MAX,
            burst: u32::MAX,
            max_retry_after: Duration::from_secs(1),
            ..PacingConfig::default()
        };
        let client = ZisClient::new(ClientConfig::for_url(&base, true).with_pacing(pacing))
            .expect("client")
            .integration("bench_integration", SecretString::new(ACCESS_TOKEN));
        let http = reqwest::Client::builder().build().expect("raw client");
        let configured = reqwest::Client::builder()
            .user_agent("zis-operator-bench")
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("configured client");
        let url =
            format!("{base}/api/services/zis/integrations/bench_integration/connections/bearer_token/bench_conn");

        // Warm up connection pools and allocators.
        for _ in 0..500 {
            raw_get(&http, &url).await;
            raw_get(&configured, &url).await;
            client_get(&client).await;
        }

        println!("zis client overhead per call (in-process server, loopback, single-threaded runtime)");
        for round in 1..=3 {
            let [(bare, bare_median), (configured, configured_median), (ours, ours_median)] =
                sequential(&http, &configured, &url, &client).await;
            println!(
                "  sequential round {round} ({SEQUENTIAL_CALLS} interleaved calls each), mean/median us per call: \
                 bare reqwest {bare:.1}/{bare_median:.1}, reqwest with the client's settings \
                 {configured:.1}/{configured_median:.1}, zis client {ours:.1}/{ours_median:.1}; \
                 overhead vs bare {:+.1}/{:+.1}",
                ours - bare,
                ours_median - bare_median
            );
        }
        for round in 1..=3 {
            let [(raw, raw_median), (ours, ours_median)] = concurrent(&http, &url, &client).await;
            println!(
                "  {CONCURRENT_CALLERS} concurrent callers round {round}, latency mean/median us per call: \
                 bare reqwest {raw:.1}/{raw_median:.1}, zis client {ours:.1}/{ours_median:.1}; \
                 overhead {:+.1}/{:+.1}",
                ours - raw,
                ours_median - raw_median
            );
        }
    });
}
