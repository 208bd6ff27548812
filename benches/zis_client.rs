//! What the ZIS client costs per call on top of a bare reqwest request: both fetch the same
//! connection from a minimal in-process server (its own thread and runtime), sequentially and
//! with concurrent callers. Prints microseconds per call; run with `cargo bench --bench zis_client`.
//!
//! The client's extra work per call is the pacing token, the tracing span, URL building, error
//! classification and JSON decoding into typed values; the raw baseline sends the same headers
//! and reads the body without decoding it.
//!
//! Then, against the local ZIS server with network-like latency: the latency of urgent calls
//! (Secret rotations: PATCHes arriving at random, plus bursts of ten) while a background listing
//! loop walks `connections/all` page by page as fast as its share allows, at a budget of 400
//! requests a minute; and, for comparison, the same with the listing sent as urgent traffic (no
//! priorities). `ZIS_BENCH_PRIORITY_SECS` sets each run's length (default 60; 0 skips them).

use std::time::{Duration, Instant};

use axum::response::IntoResponse;
use rand::{Rng, SeedableRng};
use reqwest::header::{ACCEPT, AUTHORIZATION};
use zis_operator::secret::SecretString;
use zis_operator::zis::{
    BearerTokenUpdate, ClientConfig, IntegrationClient, PacingConfig, Priority, ZisClient,
};
use zis_sandbox::zis::{FakeZis, FakeZisConfig};

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
    priority_latency();
}

const PRIORITY_INTEGRATION: &str = "bench_priority";
const PRIORITY_ACCESS_TOKEN: &str = "bench-priority-access-token";
/// Connections in the integration: ten pages of `connections/all`.
const PRIORITY_CONNECTIONS: usize = 1_000;
/// Mean time between two rotations arriving on their own.
const ROTATION_MEAN_INTERVAL: Duration = Duration::from_secs(1);
/// Every this often, ten rotations at once (one Secret shared by ten connections).
const ROTATION_BURST_EVERY: Duration = Duration::from_secs(15);
const ROTATION_BURST: usize = 10;

/// Starts the local ZIS server on its own thread and runtime, with `PRIORITY_CONNECTIONS`
/// connections and 20 to 50 ms added to every answer; returns its URL (the server lives until
/// the process ends).
fn start_fake_zis() -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("fake runtime");
        runtime.block_on(async move {
            let fake = FakeZis::start(
                FakeZisConfig::new(PRIORITY_INTEGRATION, PRIORITY_ACCESS_TOKEN),
                "127.0.0.1:0".parse().expect("addr"),
            )
            .await
            .expect("fake zis starts");
            let admin = reqwest::Client::new();
            for i in 0..PRIORITY_CONNECTIONS {
                let response = admin
                    .post(format!("{}/_fake/connections", fake.url()))
                    .json(&serde_json::json!({"integration": PRIORITY_INTEGRATION,
                        "type": "bearer_token", "name": format!("conn_{i:04}"),
                        "allowed_domain": "api.example.com", "token": "seeded-token"}))
                    .send()
                    .await
                    .expect("seed");
                assert!(response.status().is_success());
            }
            let response = admin
                .put(format!("{}/_fake/settings", fake.url()))
                .json(&serde_json::json!({"latency_ms": 20, "latency_jitter_ms": 30}))
                .send()
                .await
                .expect("settings");
            assert!(response.status().is_success());
            tx.send(fake.url()).expect("send url");
            std::future::pending::<()>().await;
        });
    });
    rx.recv().expect("fake zis url")
}

/// What one run measured.
struct Run {
    rotations: Vec<Duration>,
    pages: usize,
    elapsed: Duration,
}

/// Rotations (urgent PATCHes) at random moments and in bursts for `length`, while a listing
/// loop sends pages in `listing` priority.
async fn run_rotations_during_a_listing(url: &str, listing: Priority, length: Duration) -> Run {
    let account = ZisClient::new(ClientConfig::for_url(url, true).with_pacing(PacingConfig {
        requests_per_minute: 400,
        burst: 20,
        ..PacingConfig::default()
    }))
    .expect("client");
    let client = account.integration(
        PRIORITY_INTEGRATION,
        SecretString::new(PRIORITY_ACCESS_TOKEN),
    );
    let start = tokio::time::Instant::now();
    let end = start + length;

    let lister = client.with_priority(listing);
    let listing = tokio::spawn(async move {
        let mut pages = 0;
        let mut cursor: Option<String> = None;
        while tokio::time::Instant::now() < end {
            // `list_bearer_page` is always background; the comparison run needs the same request
            // as urgent traffic, which `list_connections` of an urgent handle gives page by page.
            let page = if lister.priority() == Priority::Background {
                lister
                    .list_bearer_page(cursor.as_deref())
                    .await
                    .map(|page| page.next_cursor)
            } else {
                lister.list_connections().await.map(|_| None)
            };
            match page {
                Ok(next) => cursor = next,
                Err(err) => panic!("listing failed: {err}"),
            }
            pages += 1;
        }
        pages
    });

    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let mut arrivals = Vec::new();
    let mut at = Duration::ZERO;
    loop {
        let u: f64 = rng.random();
        at += ROTATION_MEAN_INTERVAL.mul_f64(-(1.0 - u).ln());
        if at >= length {
            break;
        }
        arrivals.push(at);
    }
    let mut burst_at = ROTATION_BURST_EVERY / 2;
    while burst_at < length {
        arrivals.extend(std::iter::repeat_n(burst_at, ROTATION_BURST));
        burst_at += ROTATION_BURST_EVERY;
    }
    arrivals.sort_unstable();

    let mut rotations = Vec::new();
    for (i, at) in arrivals.into_iter().enumerate() {
        tokio::time::sleep_until(start + at).await;
        let client = client.clone();
        rotations.push(tokio::spawn(async move {
            let asked = tokio::time::Instant::now();
            let update = BearerTokenUpdate {
                token: Some(SecretString::new(format!("rotated-token-{i}"))),
                allowed_domain: None,
            };
            client
                .update_bearer(
                    &format!("conn_{:04}", (i * 37) % PRIORITY_CONNECTIONS),
                    &update,
                )
                .await
                .expect("rotation");
            asked.elapsed()
        }));
    }
    let mut latencies = Vec::new();
    for rotation in rotations {
        latencies.push(rotation.await.expect("rotation task"));
    }
    let pages = listing.await.expect("listing task");
    Run {
        rotations: latencies,
        pages,
        elapsed: start.elapsed(),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1e3
}

fn priority_latency() {
    let seconds: u64 = std::env::var("ZIS_BENCH_PRIORITY_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    if seconds == 0 {
        return;
    }
    let length = Duration::from_secs(seconds);
    let url = start_fake_zis();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    println!(
        "rotation latency while a listing loop runs ({PRIORITY_CONNECTIONS} connections, 10 pages; \
         budget 400/min, burst 20, background share 0.5; server latency 20-50 ms; rotations at \
         random, 1 a second on average, plus {ROTATION_BURST} at once every {}s; {seconds}s a run)",
        ROTATION_BURST_EVERY.as_secs()
    );
    for (label, listing) in [
        ("listing as background (priorities)", Priority::Background),
        ("listing as urgent (no priorities)", Priority::Urgent),
    ] {
        let run = runtime.block_on(run_rotations_during_a_listing(&url, listing, length));
        let mut sorted = run.rotations.clone();
        sorted.sort_unstable();
        let minutes = run.elapsed.as_secs_f64() / 60.0;
        // The comparison run lists whole integrations: ten pages per listing.
        let pages = if listing == Priority::Background {
            run.pages
        } else {
            run.pages * PRIORITY_CONNECTIONS.div_ceil(100)
        };
        println!(
            "  {label}: {} rotations, latency ms p50 {:.0}, p90 {:.0}, p99 {:.0}, max {:.0}; \
             listing {:.0} pages/min",
            sorted.len(),
            percentile(&sorted, 0.50),
            percentile(&sorted, 0.90),
            percentile(&sorted, 0.99),
            percentile(&sorted, 1.0),
            pages as f64 / minutes,
        );
    }
}
