//! `zis-sandbox bench`: what N connections on one account cost the operator (issue 9).
//!
//! Starts the local ZIS (its rate limit and latency as asked) and the Kubernetes API sandbox in
//! this process, or uses a real API server (`--kubeconfig`), and runs the real `zis-operator`
//! binary as a process of its own, so that its memory and CPU are its own. Then, each phase
//! measured apart:
//!
//! 1. **converge**: N token Secrets (and M unrelated ones, never referenced) are created, then N
//!    connections over K namespaces; timed from the first connection created until every object
//!    is `Ready=True`, seen through one watch (never a get per object);
//!    (with `--later-operator-rpm`, the operator is then restarted at that budget for the
//!    steady, rotation and restart phases, and at the first budget again to delete: N objects
//!    converge and go at a generous budget, the rest is measured at a tight one);
//! 2. **steady**: one full resync interval with nothing changing;
//! 3. **rotations**: M token rotations spread over the next resync interval, each timed from the
//!    Secret write until the local ZIS holds the new token;
//! 4. **restart**: the operator stopped (SIGTERM) and started again with everything in sync,
//!    counted until one resync interval after it is ready;
//! 5. **delete**: every connection deleted, timed until the objects are gone and ZIS holds no
//!    bearer connection.
//!
//! ZIS requests come from the local ZIS's own counters (`GET /_fake/requests`), Kubernetes writes
//! from the operator's metric `zis_operator_kube_writes_total{kind}`, CPU time and peak memory
//! from `/proc` of the operator process. The result is one JSON object ([`Report`]), explained
//! key by key in `docs/benchmark.md`. Tokens are generated here, compared, and never printed.
//!
//! [`run`] is the library entry point (`tests/bench_small.rs` runs it in CI at N=200); the
//! command line is [`BenchArgs`].

mod admin;
mod objects;
mod operator;
mod report;
mod tracker;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::ByteString;

pub use report::{KubeWrites, Report, ZisRequests};

use admin::Admin;
use objects::{ConnectionSpec, SecretSpec};
use operator::{Launch, Operator};
use report::{percentile, round1, round3};
use tracker::{Counts, Tracker};

use crate::kube::{DEFAULT_HISTORY, KubeSandbox};
use crate::zis::{FakeZis, FakeZisConfig, FakeZisOptions};

/// The integration every benchmark connection belongs to.
pub const INTEGRATION: &str = "bench_integration";
const OPERATOR_NAMESPACE: &str = "zis-system";
const CREDENTIALS_SECRET: &str = "zis-bench-credentials";
/// How long an operator may take to become ready after it starts.
const OPERATOR_READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a benchmark run failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("setting up: {0}")]
    Setup(String),
    #[error("operator: {0}")]
    Operator(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("kubernetes api: {0}")]
    Kube(#[from] kube::Error),
    #[error("local zis or the operator's metrics: {0}")]
    Http(#[from] reqwest::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The phases after converging that a run may leave out (converging and deleting always run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Phase {
    Steady,
    Rotations,
    Restart,
}

/// What to run. [`BenchConfig::new`] gives the defaults of the command line.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// N: connections (and their token Secrets).
    pub objects: usize,
    /// K: namespaces the objects are spread over (round robin).
    pub namespaces: usize,
    /// M: Secrets nobody references, spread over the same namespaces.
    pub unrelated_secrets: usize,
    /// Token rotations during the rotation phase.
    pub rotations: usize,
    /// The local ZIS's rate limit, requests per minute for the account.
    pub rpm: u32,
    /// The operator's `--requests-per-minute`; `None`: the same as `rpm`.
    pub operator_rpm: Option<u32>,
    /// The operator's `--requests-per-minute` after converging (it is restarted with it);
    /// `None`: unchanged.
    pub later_operator_rpm: Option<u32>,
    /// Milliseconds the local ZIS adds to every answer.
    pub latency_ms: u64,
    /// The operator's `--resync-interval`, and the length of the steady, rotation and restart
    /// windows.
    pub resync_interval: Duration,
    /// The operator's `--concurrency`; `None`: its default.
    pub operator_concurrency: Option<u16>,
    /// CPUs the operator may run on (`taskset -c` syntax, e.g. `1`); `None`: any.
    pub operator_cpus: Option<String>,
    /// Requests in flight while the benchmark creates and deletes objects.
    pub create_concurrency: usize,
    /// A real API server's kubeconfig (an admin's: the benchmark installs the CRD and creates
    /// namespaces); `None`: the in-process Kubernetes API sandbox.
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig the operator runs with; `None`: the same as `kubeconfig`.
    pub operator_kubeconfig: Option<PathBuf>,
    /// The `zis-operator` binary to measure.
    pub operator_binary: PathBuf,
    /// `RUST_LOG` of the operator (it must log the `metrics listening on` line, at info, of
    /// `zis_operator::runtime`).
    pub operator_log: String,
    pub skip: Vec<Phase>,
    /// How long converging may take; `None`: 2 minutes plus 5 times the rate floor.
    pub ready_timeout: Option<Duration>,
    /// Where the kubeconfig and the operator logs go; `None`: a temporary directory, removed
    /// unless the run fails.
    pub workdir: Option<PathBuf>,
}

impl BenchConfig {
    pub fn new(objects: usize, operator_binary: PathBuf) -> BenchConfig {
        BenchConfig {
            objects,
            namespaces: 10,
            unrelated_secrets: 0,
            rotations: objects.min(100),
            rpm: 6000,
            operator_rpm: None,
            later_operator_rpm: None,
            latency_ms: 20,
            resync_interval: Duration::from_secs(60),
            operator_concurrency: None,
            operator_cpus: None,
            create_concurrency: 32,
            kubeconfig: None,
            operator_kubeconfig: None,
            operator_binary,
            operator_log: DEFAULT_OPERATOR_LOG.to_owned(),
            skip: Vec::new(),
            ready_timeout: None,
            workdir: None,
        }
    }

    fn runs(&self, phase: Phase) -> bool {
        !self.skip.contains(&phase)
    }

    fn operator_rpm(&self) -> u32 {
        self.operator_rpm.unwrap_or(self.rpm)
    }

    /// The least time the account's limit allows for the requests converging needs (one create
    /// per connection) at its sustained rate.
    pub fn rate_floor_seconds(&self) -> f64 {
        self.objects as f64 * 60.0 / f64::from(self.rpm)
    }

    fn check(&self) -> Result<(), BenchError> {
        let problem = if self.objects == 0 {
            Some("--objects must be at least 1")
        } else if self.namespaces == 0 {
            Some("--namespaces must be at least 1")
        } else if self.rpm == 0
            || self.operator_rpm == Some(0)
            || self.later_operator_rpm == Some(0)
        {
            Some("--rpm, --operator-rpm and --later-operator-rpm must be at least 1")
        } else if self.rotations > self.objects {
            Some("--rotations cannot exceed --objects (each rotation uses its own connection)")
        } else if self.resync_interval.is_zero() {
            Some("--resync-interval must be more than 0")
        } else {
            None
        };
        match problem {
            Some(problem) => Err(BenchError::Config(problem.to_owned())),
            None => Ok(()),
        }
    }
}

const DEFAULT_OPERATOR_LOG: &str = "warn,zis_operator::runtime=info";

/// Command-line arguments of `zis-sandbox bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// N: connections to create (each with its own token Secret).
    #[arg(long, default_value_t = 1000)]
    pub objects: usize,
    /// The local ZIS's rate limit (requests per minute for the account); the operator's
    /// --requests-per-minute too unless --operator-rpm is given.
    #[arg(long, default_value_t = 6000)]
    pub rpm: u32,
    /// The operator's --requests-per-minute, when it should differ from --rpm.
    #[arg(long)]
    pub operator_rpm: Option<u32>,
    /// The operator's --requests-per-minute after converging: it is restarted with it before
    /// the steady phase, so that the steady, rotation and restart phases run at this budget.
    #[arg(long)]
    pub later_operator_rpm: Option<u32>,
    /// Milliseconds the local ZIS adds to every answer.
    #[arg(long, default_value_t = 20)]
    pub latency_ms: u64,
    /// M: Secrets nobody references, created besides the token Secrets.
    #[arg(long, default_value_t = 0)]
    pub unrelated_secrets: usize,
    /// The operator's --resync-interval, and the length of the steady, rotation and restart
    /// windows (500ms, 30s, 10m, 1h).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub resync_interval: Duration,
    /// Token rotations during the rotation phase (default: N, at most 100).
    #[arg(long)]
    pub rotations: Option<usize>,
    /// K: namespaces the objects are spread over.
    #[arg(long, default_value_t = 10)]
    pub namespaces: usize,
    /// The operator's --concurrency (default: the operator's default).
    #[arg(long)]
    pub concurrency: Option<u16>,
    /// Run the operator on these CPUs only (`taskset -c` syntax, e.g. `1`; run the benchmark
    /// itself under `taskset -c 0`), so that its CPU time does not depend on the benchmark's
    /// own servers sharing its cores.
    #[arg(long)]
    pub operator_cpus: Option<String>,
    /// Requests in flight while the benchmark creates or deletes objects.
    #[arg(long, default_value_t = 32)]
    pub create_concurrency: usize,
    /// Use the real API server of this (admin) kubeconfig instead of the in-process sandbox.
    /// It must hold no ZisBearerConnection (they would be reconciled and counted too).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig the operator runs with (default: --kubeconfig).
    #[arg(long, requires = "kubeconfig")]
    pub operator_kubeconfig: Option<PathBuf>,
    /// Path of the `zis-operator` binary; default: next to this binary (built first when run
    /// through cargo).
    #[arg(long)]
    pub operator_binary: Option<PathBuf>,
    /// Also write the JSON object to this file.
    #[arg(long)]
    pub json_out: Option<PathBuf>,
    /// Phases to leave out (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub skip: Vec<Phase>,
    /// How long converging may take (default: 2 minutes plus 5 times the rate floor).
    #[arg(long, value_parser = parse_duration)]
    pub ready_timeout: Option<Duration>,
    /// RUST_LOG of the operator.
    #[arg(long, default_value = DEFAULT_OPERATOR_LOG)]
    pub operator_log: String,
    /// Keep the kubeconfig and operator logs in this directory (default: a temporary one,
    /// removed unless the run fails).
    #[arg(long)]
    pub workdir: Option<PathBuf>,
}

/// `zis-sandbox bench`: runs the benchmark, prints the JSON object on stdout (progress on
/// stderr). Ctrl-C or SIGTERM stops it, the operator process with it.
pub async fn run_cli(args: BenchArgs) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let stop = crate::demo::stop_signal()?;
    let operator_binary = match args.operator_binary {
        Some(path) => path,
        None => crate::demo::locate_operator_binary(progress)?,
    };
    let mut config = BenchConfig::new(args.objects, operator_binary);
    config.namespaces = args.namespaces;
    config.unrelated_secrets = args.unrelated_secrets;
    config.rotations = args.rotations.unwrap_or(args.objects.min(100));
    config.rpm = args.rpm;
    config.operator_rpm = args.operator_rpm;
    config.later_operator_rpm = args.later_operator_rpm;
    config.latency_ms = args.latency_ms;
    config.resync_interval = args.resync_interval;
    config.operator_concurrency = args.concurrency;
    config.operator_cpus = args.operator_cpus;
    config.create_concurrency = args.create_concurrency;
    config.kubeconfig = args.kubeconfig;
    config.operator_kubeconfig = args.operator_kubeconfig;
    config.operator_log = args.operator_log;
    config.skip = args.skip;
    config.ready_timeout = args.ready_timeout;
    config.workdir = args.workdir;
    let report = tokio::select! {
        report = run(config) => report?,
        () = stop => return Err("interrupted".into()),
    };
    let json = serde_json::to_string_pretty(&report)?;
    if let Some(path) = &args.json_out {
        std::fs::write(path, format!("{json}\n"))?;
    }
    println!("{json}");
    Ok(())
}

fn progress(line: &str) {
    eprintln!("bench: {line}");
}

/// Runs the benchmark once.
pub async fn run(config: BenchConfig) -> Result<Report, BenchError> {
    config.check()?;
    let mut workdir = Workdir::create(config.workdir.clone())?;
    let result = Run::execute(&config, &workdir.path).await;
    if result.is_err() && workdir.temporary {
        workdir.keep = true;
        progress(&format!(
            "the operator logs and the kubeconfig stay in {} (remove it when done)",
            workdir.path.display()
        ));
    }
    result
}

/// What one run holds while it runs.
struct Run<'a> {
    config: &'a BenchConfig,
    client: kube::Client,
    admin: Admin,
    http: reqwest::Client,
    launch: Launch,
    workdir: &'a Path,
    tracker: Tracker,
    /// (namespace, connection name, token Secret name) of each connection.
    connections: Vec<(String, String, String)>,
    operator_runs: usize,
}

/// The kube side: dropped at the end of the run.
enum KubeSide {
    Sandbox(KubeSandbox),
    External,
}

impl<'a> Run<'a> {
    /// Waits until all `n` objects are present and Ready, reading the operator's CPU time each
    /// time another tenth of them is: see [`cpu_ms_per_object`].
    async fn wait_ready_by_tenths(
        &self,
        operator: &mut Operator,
        n: usize,
        timeout: Duration,
        cpu_before: operator::CpuTime,
    ) -> (Result<Counts, Counts>, Vec<f64>) {
        let deadline = Instant::now() + timeout;
        let mut samples = vec![(0, cpu_before)];
        let mut reached = self.tracker.counts();
        for tenth in 1..=10 {
            let threshold = (n * tenth).div_ceil(10);
            let left = deadline.saturating_duration_since(Instant::now());
            let last = tenth == 10;
            let counts = self
                .tracker
                .wait_until(left, poll_every(n), |c| {
                    c.ready >= threshold && (!last || c.present == n)
                })
                .await;
            reached = match counts {
                Ok(counts) => counts,
                Err(counts) => return (Err(counts), cpu_ms_per_object(&samples)),
            };
            operator.sample();
            samples.push((reached.ready, operator.cpu_time()));
        }
        (Ok(reached), cpu_ms_per_object(&samples))
    }

    async fn execute(config: &'a BenchConfig, workdir: &'a Path) -> Result<Report, BenchError> {
        let n = config.objects;
        let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
        let (kube_side, client, operator_kubeconfig) = match &config.kubeconfig {
            None => {
                // Every object is written a few times; a watch that falls further behind than
                // the history relists, which the benchmark would measure instead.
                let history = DEFAULT_HISTORY.max(8 * (n + config.unrelated_secrets) + 1000);
                let sandbox = KubeSandbox::start_with_history(loopback, history).await?;
                let path = workdir.join("kubeconfig");
                sandbox.write_kubeconfig(&path)?;
                let client = sandbox.client().await;
                progress(&format!("Kubernetes API sandbox on {}", sandbox.url()));
                (KubeSide::Sandbox(sandbox), client, path)
            }
            Some(path) => {
                let client = objects::client_from(path).await?;
                progress(&format!("real API server of {}", path.display()));
                let operator = config.operator_kubeconfig.clone().unwrap_or(path.clone());
                (KubeSide::External, client, operator)
            }
        };
        objects::ensure_crd(&client).await?;
        let existing = objects::existing_connections(&client).await?;
        if existing > 0 {
            return Err(BenchError::Setup(format!(
                "the cluster already has {existing} ZisBearerConnection objects; the benchmark needs none (the operator would reconcile them too)"
            )));
        }

        let access_token = random_token("access");
        let zis = FakeZis::start_with(
            FakeZisConfig {
                integrations: vec![(INTEGRATION.to_owned(), access_token.clone())],
                patch_allowed_domain: true,
                rate_limit_per_minute: Some(config.rpm),
            },
            FakeZisOptions {
                latency_ms: config.latency_ms,
                ..FakeZisOptions::default()
            },
            loopback,
        )
        .await?;
        progress(&format!(
            "local ZIS on {} ({} requests a minute, {} ms latency)",
            zis.url(),
            config.rpm,
            config.latency_ms
        ));
        objects::ensure_namespace(&client, OPERATOR_NAMESPACE).await?;
        objects::put_secret(
            &client,
            SecretSpec {
                namespace: OPERATOR_NAMESPACE.to_owned(),
                name: CREDENTIALS_SECRET.to_owned(),
                data: [(
                    "access-token".to_owned(),
                    ByteString(access_token.into_bytes()),
                )]
                .into(),
            },
        )
        .await?;

        let http = reqwest::Client::new();
        let run_id = format!("{:04x}", rand::random::<u16>());
        let namespaces: Vec<String> = (0..config.namespaces)
            .map(|k| format!("zis-bench-{run_id}-{k}"))
            .collect();
        for namespace in &namespaces {
            objects::ensure_namespace(&client, namespace).await?;
        }
        let connections = (0..n)
            .map(|i| {
                (
                    namespaces[i % namespaces.len()].clone(),
                    format!("conn-{i:05}"),
                    format!("token-{i:05}"),
                )
            })
            .collect();
        let mut run = Run {
            config,
            tracker: Tracker::start(objects::connections(&client, None)),
            client: client.clone(),
            admin: Admin::new(http.clone(), &zis.url(), INTEGRATION),
            http,
            launch: Launch {
                binary: config.operator_binary.clone(),
                kubeconfig: operator_kubeconfig,
                zendesk_url: zis.url(),
                credentials_secret: format!("{OPERATOR_NAMESPACE}/{CREDENTIALS_SECRET}"),
                resync_interval: config.resync_interval,
                requests_per_minute: config.operator_rpm(),
                concurrency: config.operator_concurrency,
                rust_log: config.operator_log.clone(),
                cpus: config.operator_cpus.clone(),
            },
            workdir,
            connections,
            operator_runs: 0,
        };
        let result = run.phases(&namespaces).await;
        drop(run);
        if matches!(kube_side, KubeSide::External) {
            // Whatever the outcome: a real cluster keeps what it is given. After a failure the
            // operator is gone (it ended with `phases`), and finalizers it left would hold the
            // namespaces.
            for namespace in &namespaces {
                if result.is_err() {
                    objects::release_finalizers(&client, namespace).await;
                }
                objects::delete_namespace(&client, namespace).await;
            }
        }
        zis.shutdown().await;
        if let KubeSide::Sandbox(sandbox) = kube_side {
            sandbox.shutdown().await;
        }
        result
    }

    async fn start_operator(&mut self) -> Result<(Operator, Duration), BenchError> {
        self.operator_runs += 1;
        let log = self
            .workdir
            .join(format!("operator-{}.log", self.operator_runs));
        let mut operator = Operator::spawn(&self.launch, &log)?;
        let ready = operator
            .wait_ready(&self.http, OPERATOR_READY_TIMEOUT)
            .await?;
        progress(&format!(
            "operator ready in {:.1} s (log: {})",
            ready.as_secs_f64(),
            operator.log_path().display()
        ));
        Ok((operator, ready))
    }

    /// Stops `operator` and starts it again at `rpm` requests a minute.
    async fn restart_at(
        &mut self,
        operator: &mut Operator,
        spent: &mut Spent,
        rpm: u32,
        why: &str,
    ) -> Result<(), BenchError> {
        progress(&format!(
            "restarting the operator at {rpm} requests a minute {why}"
        ));
        operator.stop().await?;
        spent.add(operator);
        self.launch.requests_per_minute = rpm;
        (*operator, _) = self.start_operator().await?;
        Ok(())
    }

    async fn phases(&mut self, namespaces: &[String]) -> Result<Report, BenchError> {
        let config = self.config;
        let n = config.objects;
        let resync = config.resync_interval;
        let (mut operator, _) = self.start_operator().await?;
        let mut spent = Spent::default();

        // Converge.
        let setup_started = Instant::now();
        let tokens: Vec<String> = (0..n).map(|i| random_token(&format!("v0-{i}"))).collect();
        let token_secrets =
            self.connections
                .iter()
                .zip(&tokens)
                .map(|((namespace, _, secret), token)| SecretSpec {
                    namespace: namespace.clone(),
                    name: secret.clone(),
                    data: [(
                        objects::TOKEN_KEY.to_owned(),
                        ByteString(token.as_bytes().to_vec()),
                    )]
                    .into(),
                });
        let unrelated = (0..config.unrelated_secrets).map(|j| SecretSpec {
            namespace: namespaces[j % namespaces.len()].clone(),
            name: format!("unrelated-{j:05}"),
            data: unrelated_data(j),
        });
        objects::put_secrets(
            &self.client,
            token_secrets.chain(unrelated),
            config.create_concurrency,
        )
        .await?;
        let setup_seconds = setup_started.elapsed().as_secs_f64();
        progress(&format!(
            "created {n} token Secrets and {} unrelated Secrets in {setup_seconds:.1} s",
            config.unrelated_secrets
        ));

        operator.sample();
        let cpu_before = operator.cpu_time();
        let zis_before = self.admin.requests().await?;
        let writes_before = operator.kube_writes(&self.http).await?;
        let reconciles_before = operator.reconciles(&self.http).await?;
        let specs = self
            .connections
            .iter()
            .map(|(namespace, name, secret)| ConnectionSpec {
                namespace: namespace.clone(),
                name: name.clone(),
                integration: INTEGRATION.to_owned(),
                domain: format!("{name}.bench.example.com"),
                secret: secret.clone(),
            })
            .collect();
        let started =
            objects::create_connections(&self.client, specs, config.create_concurrency).await?;
        let create_seconds = started.elapsed().as_secs_f64();
        progress(&format!(
            "created {n} connections over {} namespaces in {create_seconds:.1} s; waiting for Ready (rate floor {:.1} s)",
            namespaces.len(),
            config.rate_floor_seconds()
        ));
        let timeout = config.ready_timeout.unwrap_or_else(|| {
            Duration::from_secs(120) + Duration::from_secs_f64(5.0 * config.rate_floor_seconds())
        });
        let (counts, by_tenth) = self
            .wait_ready_by_tenths(&mut operator, n, timeout, cpu_before)
            .await;
        let counts = match counts {
            Ok(counts) => counts,
            Err(c) => {
                let zis = self.admin.requests().await?.since(&zis_before);
                return Err(BenchError::Timeout(format!(
                    "{} of {n} connections Ready ({} present, {} with a status) {timeout:?} after the first was created; ZIS requests meanwhile: {} creates, {} gets, {} updates, {} lists, {} answered 429; operator log: {}",
                    c.ready,
                    c.present,
                    c.with_status,
                    zis.create,
                    zis.get,
                    zis.update,
                    zis.list,
                    zis.throttled,
                    operator.log_path().display()
                )));
            }
        };
        let ready_seconds = since(started, counts.last_ready_at);
        let first_reconcile_max_seconds = since(started, counts.last_first_status_at);
        operator.sample();
        let converge_cpu = operator.cpu_time().since(cpu_before);
        let converge_cpu_seconds = converge_cpu.total();
        let zis_converged = self.admin.requests().await?;
        let writes_converged = operator.kube_writes(&self.http).await?;
        let converge_reconciles = operator
            .reconciles(&self.http)
            .await?
            .saturating_sub(reconciles_before);
        let zis_requests = zis_converged.since(&zis_before);
        let kube_writes = writes_converged.since(&writes_before);
        progress(&format!(
            "all {n} Ready after {ready_seconds:.2} s: {} ZIS requests ({} creates, {} 429), {} kube writes, {converge_reconciles} reconciles, {converge_cpu_seconds:.2} CPU s",
            zis_requests.total, zis_requests.create, zis_requests.throttled, kube_writes.total
        ));
        progress(&format!(
            "operator CPU ms an object, by tenth of the objects Ready: {by_tenth:?}"
        ));

        // A tighter budget for what follows: a restart with everything in sync.
        if let Some(rpm) = config.later_operator_rpm {
            self.restart_at(&mut operator, &mut spent, rpm, "for the later phases")
                .await?;
        }

        // Steady.
        let (steady_zis_requests, steady_kube_writes) = if config.runs(Phase::Steady) {
            progress(&format!(
                "steady state: one resync interval ({resync:?}) with nothing changing"
            ));
            let zis_start = self.admin.requests().await?;
            let writes_start = operator.kube_writes(&self.http).await?;
            tokio::time::sleep(resync).await;
            let zis = self.admin.requests().await?.since(&zis_start);
            let writes = operator.kube_writes(&self.http).await?.since(&writes_start);
            progress(&format!(
                "steady: {} ZIS requests ({} writes), {} kube writes",
                zis.total,
                zis.writes(),
                writes.total
            ));
            (Some(zis), Some(writes))
        } else {
            (None, None)
        };

        // Rotations.
        let mut rotation = RotationResult::default();
        if config.runs(Phase::Rotations) && config.rotations > 0 {
            rotation = self.rotations(&operator).await?;
        }

        // Restart.
        let (mut restart_ready_seconds, mut restart_zis_requests, mut restart_kube_writes) =
            (None, None, None);
        if config.runs(Phase::Restart) {
            progress("restart: stopping the operator (SIGTERM)");
            operator.stop().await?;
            spent.add(&operator);
            let zis_start = self.admin.requests().await?;
            let (restarted, ready) = self.start_operator().await?;
            operator = restarted;
            tokio::time::sleep(resync).await;
            let zis = self.admin.requests().await?.since(&zis_start);
            // A new process counts from zero: everything it wrote since it started.
            let writes = operator.kube_writes(&self.http).await?;
            progress(&format!(
                "restart: {} ZIS requests ({} writes), {} kube writes until one resync after ready",
                zis.total,
                zis.writes(),
                writes.total
            ));
            restart_ready_seconds = Some(round3(ready.as_secs_f64()));
            restart_zis_requests = Some(zis);
            restart_kube_writes = Some(writes);
        }

        // Delete, at the converging budget again: deleting is one request per connection too.
        if config.later_operator_rpm.is_some() {
            let rpm = config.operator_rpm();
            self.restart_at(&mut operator, &mut spent, rpm, "to delete")
                .await?;
        }
        progress(&format!("deleting the {n} connections"));
        let zis_start = self.admin.requests().await?;
        let names = self
            .connections
            .iter()
            .map(|(namespace, name, _)| (namespace.clone(), name.clone()))
            .collect();
        let started =
            objects::delete_connections(&self.client, names, config.create_concurrency).await?;
        let timeout =
            Duration::from_secs(120) + Duration::from_secs_f64(5.0 * config.rate_floor_seconds());
        let counts = self
            .tracker
            .wait_until(timeout, poll_every(n), |c| c.present == 0)
            .await
            .map_err(|c| {
                BenchError::Timeout(format!(
                    "{} of {n} connections still exist {timeout:?} after they were deleted; operator log: {}",
                    c.present,
                    operator.log_path().display()
                ))
            })?;
        let objects_gone = counts.emptied_at.unwrap_or_else(Instant::now);
        let remote_gone = self.wait_remote_empty(started + timeout).await?;
        let delete_seconds = objects_gone.max(remote_gone).duration_since(started);
        let zis_end = self.admin.requests().await?;
        let delete_zis_requests = zis_end.since(&zis_start);
        progress(&format!(
            "deleted in {:.2} s ({} ZIS deletes)",
            delete_seconds.as_secs_f64(),
            delete_zis_requests.delete
        ));
        operator.stop().await?;
        spent.add(&operator);
        if counts.watch_errors > 0 {
            progress(&format!(
                "note: the benchmark's own watch failed {} times (and relisted)",
                counts.watch_errors
            ));
        }

        Ok(Report {
            objects: n,
            namespaces: namespaces.len(),
            unrelated_secrets: config.unrelated_secrets,
            rotations: rotation.samples_ms.len(),
            rpm: config.rpm,
            operator_rpm: config.operator_rpm(),
            later_operator_rpm: config.later_operator_rpm,
            latency_ms: config.latency_ms,
            resync_interval_seconds: round3(resync.as_secs_f64()),
            operator_concurrency: config.operator_concurrency,
            operator_cpus: config.operator_cpus.clone(),
            kube: match config.kubeconfig {
                None => "sandbox",
                Some(_) => "kubeconfig",
            },
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            setup_seconds: round3(setup_seconds),
            create_seconds: round3(create_seconds),
            ready_seconds: round3(ready_seconds),
            rate_floor_seconds: round3(config.rate_floor_seconds()),
            rate_floor_requests: n as u64,
            first_reconcile_max_seconds: round3(first_reconcile_max_seconds),
            zis_requests,
            zis_429: zis_end.throttled,
            kube_writes,
            converge_reconciles,
            converge_cpu_seconds: round3(converge_cpu_seconds),
            converge_cpu_user_seconds: round3(converge_cpu.user),
            converge_cpu_system_seconds: round3(converge_cpu.system),
            converge_cpu_ms_per_object_by_tenth: by_tenth,
            steady_zis_requests,
            steady_kube_writes,
            rotation_p50_ms: percentile(&rotation.samples_ms, 0.5).map(round1),
            rotation_p99_ms: percentile(&rotation.samples_ms, 0.99).map(round1),
            rotation_max_ms: percentile(&rotation.samples_ms, 1.0).map(round1),
            rotations_timed_out: rotation.ran.then_some(rotation.timed_out),
            rotation_zis_requests: rotation.zis_requests,
            rotation_kube_writes: rotation.kube_writes,
            restart_ready_seconds,
            restart_zis_requests,
            restart_kube_writes,
            delete_seconds: round3(delete_seconds.as_secs_f64()),
            delete_zis_requests,
            peak_rss_mib: round1(spent.peak_rss_kib as f64 / 1024.0),
            cpu_seconds: round3(spent.cpu_seconds),
        })
    }

    /// M rotations spread evenly over one resync interval, each on its own connection, each
    /// timed from the Secret write until the local ZIS holds the new token.
    async fn rotations(&self, operator: &Operator) -> Result<RotationResult, BenchError> {
        let config = self.config;
        let (n, m) = (config.objects, config.rotations);
        let resync = config.resync_interval;
        let timeout = (resync * 2).max(Duration::from_secs(30));
        progress(&format!(
            "rotations: {m} token rotations over one resync interval ({resync:?})"
        ));
        let zis_start = self.admin.requests().await?;
        let writes_start = operator.kube_writes(&self.http).await?;
        let start = tokio::time::Instant::now();
        let mut tasks = Vec::with_capacity(m);
        for k in 0..m {
            let (namespace, name, secret) = self.connections[k * n / m].clone();
            let at = start + resync.mul_f64(k as f64 / m as f64);
            let client = self.client.clone();
            let admin = self.admin.clone();
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep_until(at).await;
                time_rotation(&client, &admin, (&namespace, &name, &secret), k, timeout).await
            }));
        }
        let mut result = RotationResult {
            ran: true,
            ..RotationResult::default()
        };
        for task in tasks {
            let outcome = task
                .await
                .map_err(|e| BenchError::Setup(format!("a rotation task failed: {e}")))??;
            let elapsed = match outcome {
                Some(elapsed) => elapsed,
                None => {
                    result.timed_out += 1;
                    timeout
                }
            };
            result.samples_ms.push(elapsed.as_secs_f64() * 1000.0);
        }
        // The window is the whole interval even when the last rotation was quick.
        tokio::time::sleep_until(start + resync).await;
        let zis = self.admin.requests().await?.since(&zis_start);
        let writes = operator.kube_writes(&self.http).await?.since(&writes_start);
        progress(&format!(
            "rotations: p50 {:.0} ms, p99 {:.0} ms, {} timed out; {} ZIS requests, {} kube writes",
            percentile(&result.samples_ms, 0.5).unwrap_or_default(),
            percentile(&result.samples_ms, 0.99).unwrap_or_default(),
            result.timed_out,
            zis.total,
            writes.total
        ));
        result.zis_requests = Some(zis);
        result.kube_writes = Some(writes);
        // The next phase starts from everything in sync.
        let settled = self
            .tracker
            .wait_until(timeout, poll_every(n), |c| c.ready == n)
            .await;
        if let Err(counts) = settled {
            progress(&format!(
                "note: only {} of {n} connections Ready after the rotations",
                counts.ready
            ));
        }
        Ok(result)
    }

    /// Waits until the local ZIS holds no bearer connection of the integration; when it was
    /// first seen empty.
    async fn wait_remote_empty(&self, deadline: Instant) -> Result<Instant, BenchError> {
        loop {
            let left = self.admin.bearer_connections().await?;
            if left == 0 {
                return Ok(Instant::now());
            }
            if Instant::now() > deadline {
                return Err(BenchError::Timeout(format!(
                    "{left} bearer connections are still at ZIS after every object was deleted"
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Writes a new token into one connection's Secret and waits until the local ZIS holds it; how
/// long that took from just before the write, or `None` after `timeout`.
async fn time_rotation(
    client: &kube::Client,
    admin: &Admin,
    (namespace, name, secret): (&str, &str, &str),
    k: usize,
    timeout: Duration,
) -> Result<Option<Duration>, BenchError> {
    let token = random_token(&format!("v1-{k}"));
    let written = Instant::now();
    objects::rotate(client, namespace, secret, &token).await?;
    loop {
        if admin.holds_token(name, &token).await? {
            return Ok(Some(written.elapsed()));
        }
        let waited = written.elapsed();
        if waited > timeout {
            return Ok(None);
        }
        // Fine steps where the target lies (under a second), coarser after, so that slow
        // rotations do not flood the local ZIS with reads.
        let step = if waited < Duration::from_secs(1) {
            10
        } else {
            100
        };
        tokio::time::sleep(Duration::from_millis(step)).await;
    }
}

/// What the operator processes of a run used, added up as each stops.
#[derive(Debug, Default)]
struct Spent {
    cpu_seconds: f64,
    peak_rss_kib: u64,
}

impl Spent {
    /// Adds a stopped operator process.
    fn add(&mut self, operator: &Operator) {
        self.cpu_seconds += operator.cpu_seconds();
        self.peak_rss_kib = self.peak_rss_kib.max(operator.peak_rss_kib());
    }
}

#[derive(Debug, Default)]
struct RotationResult {
    ran: bool,
    samples_ms: Vec<f64>,
    timed_out: usize,
    zis_requests: Option<ZisRequests>,
    kube_writes: Option<KubeWrites>,
}

/// Seconds from `start` to `end` (0 when `end` is unknown or earlier).
fn since(start: Instant, end: Option<Instant>) -> f64 {
    end.map_or(0.0, |end| {
        end.saturating_duration_since(start).as_secs_f64()
    })
}

/// The CPU (ms) an object between consecutive `(objects Ready, CPU time)` readings: within one
/// run, so free of the machine's drift between runs, it shows whether an object costs more once
/// thousands are converged. A reading with no more objects Ready than the one before (two
/// tenths reached within one look) adds to the next.
fn cpu_ms_per_object(samples: &[(usize, operator::CpuTime)]) -> Vec<f64> {
    let mut per_object = Vec::new();
    let Some(mut before) = samples.first().copied() else {
        return per_object;
    };
    for &(ready, cpu) in &samples[1..] {
        if ready > before.0 {
            let objects = (ready - before.0) as f64;
            per_object.push(round3(cpu.since(before.1).total() * 1000.0 / objects));
            before = (ready, cpu);
        }
    }
    per_object
}

/// How often to look at the watched objects: often for a few, less for many (every look walks
/// them all).
fn poll_every(objects: usize) -> Duration {
    Duration::from_millis(if objects <= 2000 { 10 } else { 50 })
}

/// A token nobody else uses (never printed).
fn random_token(label: &str) -> String {
    format!("bench-{label}-{:016x}", rand::random::<u64>())
}

/// What an unrelated Secret holds: a few keys of the size a typical application Secret has.
fn unrelated_data(j: usize) -> BTreeMap<String, ByteString> {
    [
        ("username", format!("app-user-{j}")),
        ("password", random_token("unrelated")),
        (
            "config.yaml",
            format!("endpoint: https://svc-{j}.internal\n").repeat(8),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), ByteString(v.into_bytes())))
    .collect()
}

/// Parses `500ms`, `30s`, `10m`, `1h` (a whole number and one unit), as the operator does.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let err = || format!("invalid duration {value:?}: use a number with ms, s, m or h (30s, 10m)");
    let trimmed = value.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(err)?;
    let (number, unit) = trimmed.split_at(split);
    let number: u64 = number.parse().map_err(|_| err())?;
    let millis = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(err()),
    };
    number
        .checked_mul(millis)
        .filter(|millis| *millis > 0)
        .map(Duration::from_millis)
        .ok_or_else(err)
}

/// The run's directory: the given one (kept), or a temporary one removed unless `keep`.
struct Workdir {
    path: PathBuf,
    temporary: bool,
    keep: bool,
}

impl Workdir {
    fn create(given: Option<PathBuf>) -> std::io::Result<Workdir> {
        if let Some(path) = given {
            std::fs::create_dir_all(&path)?;
            return Ok(Workdir {
                path,
                temporary: false,
                keep: true,
            });
        }
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let run = RUNS.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("zis-bench-{}-{run}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(Workdir {
            path,
            temporary: true,
            keep: false,
        })
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_an_object_is_read_between_tenths_and_a_tenth_reached_in_the_same_look_is_merged() {
        let cpu = |user: f64, system: f64| operator::CpuTime { user, system };
        let samples = [
            (0, cpu(1.0, 0.5)),
            (100, cpu(1.1, 0.6)),
            // Two tenths Ready within one look: the second reading adds nothing...
            (300, cpu(1.3, 0.8)),
            (300, cpu(1.3, 0.8)),
            // ...and the CPU until the next one is spread over the objects since the last.
            (400, cpu(1.35, 0.85)),
        ];
        assert_eq!(cpu_ms_per_object(&samples), vec![2.0, 2.0, 1.0]);
        assert!(cpu_ms_per_object(&samples[..1]).is_empty());
    }

    #[test]
    fn the_rate_floor_is_one_create_per_connection_at_the_sustained_rate() {
        let mut config = BenchConfig::new(1000, PathBuf::from("zis-operator"));
        config.rpm = 6000;
        assert_eq!(config.rate_floor_seconds(), 10.0);
        config.objects = 10_000;
        config.rpm = 400;
        assert_eq!(config.rate_floor_seconds(), 1500.0);
    }

    #[test]
    fn durations_take_the_operators_syntax() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        for bad in ["10", "0s", "1d", ""] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_configuration_that_cannot_run_is_refused_before_anything_starts() {
        let base = BenchConfig::new(10, PathBuf::from("zis-operator"));
        assert!(base.check().is_ok());
        let mut config = base.clone();
        config.rotations = 11;
        assert!(config.check().is_err());
        let mut config = base.clone();
        config.rpm = 0;
        assert!(config.check().is_err());
        let mut config = base;
        config.objects = 0;
        assert!(config.check().is_err());
    }
}
