//! Benchmark of the local ZIS server (`cargo bench -p zis-sandbox --bench zis_server`): requests a
//! second it sustains for create and for show with concurrent clients, and the time to walk all
//! connections page by page. Client and server share the machine, so the figures are a floor.
//!
//! `ZIS_BENCH_CONNECTIONS` (default 100000) sets how many connections are created,
//! `ZIS_BENCH_CLIENTS` (default 32) how many clients run concurrently.

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use zis_sandbox::zis::{FakeZis, FakeZisConfig};

type BenchResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

const INTEGRATION: &str = "bench_integration";
const TOKEN: &str = "bench-access-token";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `total` requests over `clients` tasks; `request(i)` makes the i-th. Returns the elapsed
/// time; fails if any request fails.
async fn run_concurrently<F, Fut>(total: usize, clients: usize, request: F) -> BenchResult<Duration>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = BenchResult<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let request = Arc::new(request);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let next = Arc::clone(&next);
        let request = Arc::clone(&request);
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return Ok::<(), Box<dyn Error + Send + Sync>>(());
                }
                request(i).await?;
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(started.elapsed())
}

fn report(what: &str, count: usize, clients: usize, elapsed: Duration) {
    println!(
        "{what:<8} {count:>7} requests, {clients:>3} concurrent clients: {:>6.2} s, {:>8.0} requests/s",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64()
    );
}

async fn bench() -> BenchResult<()> {
    let connections = env_usize("ZIS_BENCH_CONNECTIONS", 100_000);
    let clients = env_usize("ZIS_BENCH_CLIENTS", 32);
    let server = FakeZis::start(
        FakeZisConfig::new(INTEGRATION, TOKEN),
        "127.0.0.1:0".parse()?,
    )
    .await?;
    let base = format!(
        "{}/api/services/zis/integrations/{INTEGRATION}/connections",
        server.url()
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;

    let (client, url) = (http.clone(), base.clone());
    let elapsed = run_concurrently(connections, clients, move |i| {
        let (client, url) = (client.clone(), format!("{url}/bearer_token"));
        async move {
            let response = client
                .post(url)
                .bearer_auth(TOKEN)
                .json(&serde_json::json!({
                    "name": format!("conn_{i:07}"),
                    "token": format!("secret-{i}"),
                    "allowed_domain": "api.example.com",
                }))
                .send()
                .await?;
            if response.status() != 201 {
                return Err(format!("create answered {}", response.status()).into());
            }
            Ok(())
        }
    })
    .await?;
    report("create", connections, clients, elapsed);

    let gets = connections.min(50_000);
    let (client, url) = (http.clone(), base.clone());
    let elapsed = run_concurrently(gets, clients, move |i| {
        let name = format!("conn_{:07}", (i * 7919) % connections);
        let (client, url) = (client.clone(), format!("{url}/bearer_token/{name}"));
        async move {
            let response = client.get(url).bearer_auth(TOKEN).send().await?;
            if response.status() != 200 {
                return Err(format!("show answered {}", response.status()).into());
            }
            response.bytes().await?;
            Ok(())
        }
    })
    .await?;
    report("get", gets, clients, elapsed);

    let started = Instant::now();
    let mut seen = 0;
    let mut pages = 0;
    let mut after: Option<String> = None;
    loop {
        let mut request = http
            .get(format!("{base}/all"))
            .bearer_auth(TOKEN)
            .query(&[("page[size]", "100")]);
        if let Some(cursor) = &after {
            request = request.query(&[("page[after]", cursor.as_str())]);
        }
        let body: serde_json::Value = request.send().await?.json().await?;
        pages += 1;
        seen += body["bearer_token"].as_array().map_or(0, Vec::len);
        if body["meta"]["has_more"] != true {
            break;
        }
        after = body["meta"]["after"].as_str().map(str::to_owned);
    }
    let elapsed = started.elapsed();
    if seen != connections {
        return Err(format!("listed {seen} connections, expected {connections}").into());
    }
    println!(
        "list all {seen:>7} connections in {pages} pages of 100, one client: {:.2} s, {:.2} ms/page",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / pages as f64
    );
    server.shutdown().await;
    Ok(())
}

fn main() -> BenchResult<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(bench())
}
