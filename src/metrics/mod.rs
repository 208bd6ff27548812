//! What the operator measures and how it is rendered for Prometheus.
//!
//! Every series has bounded labels: results, stable `Ready` reasons, HTTP methods, endpoint
//! templates, status classes. Never a namespace, an object or connection name, an integration
//! key or a token: those would make the cardinality unbounded or leak secrets. [`server`] serves
//! the rendering over HTTP together with the health endpoints.

pub mod server;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::controller::cache::CachedConnection;
use crate::controller::report;
use crate::resource::ZisIntegration;
use crate::zis::{RequestObserver, RequestRecord};

/// Prefix of every series.
const PREFIX: &str = "zis_operator";

/// How a token renewal can end: `ok`, refused for good (the OAuth error), or `failed` (retried).
pub const TOKEN_RENEWAL_RESULTS: [&str; 6] = [
    "ok",
    "invalid_grant",
    "invalid_client",
    "unauthorized_client",
    "invalid",
    "failed",
];

/// How one reconcile ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconcileOutcome {
    /// Nothing left to do, or the object's state was reported without a failure.
    Ok,
    /// A failure with its stable reason (a `Ready` reason, or one of the
    /// `controller::Error` reasons for failures that could not be reported in the status).
    Failed(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

/// A write the operator makes to the Kubernetes API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KubeWrite {
    /// A status patch of a connection.
    Status,
    /// Adding or removing the finalizer.
    Finalizer,
    /// Creating an Event, or counting a repeat of one.
    Event,
}

impl KubeWrite {
    fn label(self) -> &'static str {
        match self {
            KubeWrite::Status => "status",
            KubeWrite::Finalizer => "finalizer",
            KubeWrite::Event => "event",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    endpoint: &'static str,
    status: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct EndpointLabels {
    method: String,
    endpoint: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, EncodeLabelSet)]
struct ReadyLabels {
    ready: String,
    reason: String,
}

/// Counts of objects by their `Ready` condition: `(status, reason) -> count`.
pub type ReadyCounts = BTreeMap<(String, String), i64>;

type ReadySource = Box<dyn Fn() -> ReadyCounts + Send + Sync>;

/// The operator's metrics. Shared (`Arc`) by the controller, the ZIS client and the server.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ResultLabels, Counter>,
    reconcile_duration: Histogram,
    failures: Family<ReasonLabels, Counter>,
    kube_writes: Family<KindLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    request_duration: Family<EndpointLabels, Histogram>,
    pacer_wait: Histogram,
    token_renewals: Family<ResultLabels, Counter>,
    ready_source: Arc<OnceLock<ReadySource>>,
    integrations_source: Arc<OnceLock<ReadySource>>,
    ready: AtomicBool,
    role: AtomicU8,
    leader: Gauge,
}

/// What this replica does, for `/readyz` and the `leader` gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Role {
    /// Not connected to the cluster yet.
    Starting = 0,
    /// Waiting for the leader lease: healthy, ready to take over.
    Standby = 1,
    /// Holds the lease (or runs without leader election) and reconciles.
    Leader = 2,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("ready", &self.is_ready())
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn request_duration_histogram() -> Histogram {
    // 5 ms to about 40 s: ZIS answers in tens of milliseconds, timeouts are 30 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix(PREFIX);
        let reconciles = Family::<ResultLabels, Counter>::default();
        // Both results exist from the start, at 0, so rates and ratios work before any failure.
        for result in ["ok", "error"] {
            drop(reconciles.get_or_create(&ResultLabels { result }));
        }
        registry.register(
            "reconciles",
            "Reconciles of ZisBearerConnection objects, by result (ok or error)",
            reconciles.clone(),
        );
        // 1 ms to about 65 s: a reconcile that only reads the cache, up to one paced by a 429.
        let reconcile_duration = Histogram::new(exponential_buckets(0.001, 2.0, 17));
        registry.register_with_unit(
            "reconcile_duration",
            "How long one reconcile took, including waits for the ZIS pacer",
            Unit::Seconds,
            reconcile_duration.clone(),
        );
        let failures = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "reconcile_failures",
            "Reconciles that ended in a failure, by stable reason (the Ready condition reason)",
            failures.clone(),
        );
        let kube_writes = Family::<KindLabels, Counter>::default();
        for write in [KubeWrite::Status, KubeWrite::Finalizer, KubeWrite::Event] {
            drop(kube_writes.get_or_create(&KindLabels {
                kind: write.label(),
            }));
        }
        registry.register(
            "kube_writes",
            "Writes to the Kubernetes API, by kind (status, finalizer, event)",
            kube_writes.clone(),
        );
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "zis_requests",
            "Requests sent to ZIS, by method, endpoint template, status class and outcome",
            requests.clone(),
        );
        let request_duration = Family::<EndpointLabels, Histogram>::new_with_constructor(
            request_duration_histogram as fn() -> Histogram,
        );
        registry.register_with_unit(
            "zis_request_duration",
            "How long ZIS took to answer, by method and endpoint template (pacer wait excluded)",
            Unit::Seconds,
            request_duration.clone(),
        );
        // 1 ms to about 65 s: zero when the bucket has tokens, up to a Retry-After pause.
        let pacer_wait = Histogram::new(exponential_buckets(0.001, 2.0, 17));
        registry.register_with_unit(
            "zis_pacer_wait",
            "How long requests waited for the account's rate-limit pacer before being sent",
            Unit::Seconds,
            pacer_wait.clone(),
        );
        let token_renewals = Family::<ResultLabels, Counter>::default();
        for result in TOKEN_RENEWAL_RESULTS {
            drop(token_renewals.get_or_create(&ResultLabels { result }));
        }
        registry.register(
            "token_renewals",
            "Access token renewals of ZisIntegrations at Zendesk's token endpoint, by result",
            token_renewals.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the leader lease (or runs without leader election), else 0",
            leader.clone(),
        );
        let ready_source = Arc::new(OnceLock::new());
        registry.register_collector(Box::new(ReadyCollector {
            name: "connections",
            help: "ZisBearerConnection objects in the cache, by Ready condition status and reason",
            source: ready_source.clone(),
        }));
        let integrations_source = Arc::new(OnceLock::new());
        registry.register_collector(Box::new(ReadyCollector {
            name: "integrations",
            help: "ZisIntegration objects this operator serves, by Ready condition status and reason",
            source: integrations_source.clone(),
        }));
        Self {
            registry,
            reconciles,
            reconcile_duration,
            failures,
            kube_writes,
            requests,
            request_duration,
            pacer_wait,
            token_renewals,
            ready_source,
            integrations_source,
            ready: AtomicBool::new(false),
            role: AtomicU8::new(Role::Starting as u8),
            leader,
        }
    }

    /// Records one finished reconcile.
    pub fn reconciled(&self, duration: Duration, outcome: ReconcileOutcome) {
        self.reconcile_duration.observe(duration.as_secs_f64());
        let result = match outcome {
            ReconcileOutcome::Ok => "ok",
            ReconcileOutcome::Failed(reason) => {
                self.failures.get_or_create(&ReasonLabels { reason }).inc();
                "error"
            }
        };
        self.reconciles
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    /// Counts one write to the Kubernetes API.
    pub fn kube_write(&self, write: KubeWrite) {
        self.kube_writes
            .get_or_create(&KindLabels {
                kind: write.label(),
            })
            .inc();
    }

    /// Counts one renewal of an integration's access token; `result` is one of
    /// [`TOKEN_RENEWAL_RESULTS`].
    pub fn token_renewed(&self, result: &'static str) {
        debug_assert!(TOKEN_RENEWAL_RESULTS.contains(&result), "{result}");
        self.token_renewals
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    /// Sets where the `connections` gauge reads its counts from at each scrape (the first call
    /// wins). Until then the gauge is absent.
    pub fn count_objects_with(&self, source: impl Fn() -> ReadyCounts + Send + Sync + 'static) {
        // A second source is ignored: the operator has one object cache.
        let _ = self.ready_source.set(Box::new(source));
    }

    /// Likewise for the `integrations` gauge, from the ZisIntegration cache.
    pub fn count_integrations_with(
        &self,
        source: impl Fn() -> ReadyCounts + Send + Sync + 'static,
    ) {
        // A second source is ignored: the operator has one integration cache.
        let _ = self.integrations_source.set(Box::new(source));
    }

    /// Says what this replica does.
    pub fn set_role(&self, role: Role) {
        self.role.store(role as u8, Ordering::Release);
        self.leader.set(i64::from(role == Role::Leader));
    }

    pub fn role(&self) -> Role {
        match self.role.load(Ordering::Acquire) {
            1 => Role::Standby,
            2 => Role::Leader,
            _ => Role::Starting,
        }
    }

    /// Marks the operator ready (caches synced, controller running) or not.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Every series in the Prometheus text format (OpenMetrics 1.0, ending with `# EOF`).
    pub fn render(&self) -> Result<String, fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

impl RequestObserver for Metrics {
    fn observe(&self, request: &RequestRecord<'_>) {
        self.requests
            .get_or_create(&RequestLabels {
                method: request.method.to_owned(),
                endpoint: request.endpoint,
                status: request.status_class(),
                outcome: request.outcome.as_str(),
            })
            .inc();
        if request.status.is_some() {
            self.request_duration
                .get_or_create(&EndpointLabels {
                    method: request.method.to_owned(),
                    endpoint: request.endpoint,
                })
                .observe(request.duration.as_secs_f64());
        }
        self.pacer_wait.observe(request.paced.as_secs_f64());
    }
}

/// Counts `objects` by the status and reason of their `Ready` condition (`Unknown`/`None` for an
/// object without one yet).
pub fn count_by_ready<'a>(objects: impl IntoIterator<Item = &'a CachedConnection>) -> ReadyCounts {
    tally(objects.into_iter().map(CachedConnection::ready))
}

/// Likewise for `ZisIntegration`s.
pub fn count_integrations_by_ready<'a>(
    objects: impl IntoIterator<Item = &'a ZisIntegration>,
) -> ReadyCounts {
    tally(objects.into_iter().map(|object| {
        let status = object.status.as_ref()?;
        let ready = status
            .conditions
            .iter()
            .find(|c| c.type_ == report::READY)?;
        Some((ready.status.as_str(), ready.reason.as_str()))
    }))
}

/// Counts (`Ready` status, reason) pairs; `None` is an object without a `Ready` condition.
fn tally<'a>(ready: impl Iterator<Item = Option<(&'a str, &'a str)>>) -> ReadyCounts {
    let mut counts = ReadyCounts::new();
    for condition in ready {
        let key = match condition {
            Some((status, reason)) => (status.to_owned(), reason.to_owned()),
            None => ("Unknown".to_owned(), "None".to_owned()),
        };
        *counts.entry(key).or_default() += 1;
    }
    counts
}

/// Renders `connections{ready, reason}` (or `integrations{...}`) from a cache at each scrape, so
/// the gauge can never drift from what the cache holds.
struct ReadyCollector {
    name: &'static str,
    help: &'static str,
    source: Arc<OnceLock<ReadySource>>,
}

impl fmt::Debug for ReadyCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadyCollector").finish_non_exhaustive()
    }
}

impl Collector for ReadyCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let Some(source) = self.source.get() else {
            return Ok(());
        };
        let family = Family::<ReadyLabels, Gauge>::default();
        for ((ready, reason), count) in source() {
            family
                .get_or_create(&ReadyLabels { ready, reason })
                .set(count);
        }
        let metric = encoder.encode_descriptor(self.name, self.help, None, family.metric_type())?;
        family.encode(metric)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zis::RequestOutcome;

    fn record(status: Option<u16>, outcome: RequestOutcome) -> RequestRecord<'static> {
        RequestRecord {
            method: "POST",
            endpoint: "bearer_token",
            status,
            outcome,
            paced: Duration::from_millis(3),
            duration: Duration::from_millis(20),
        }
    }

    #[test]
    fn a_failed_reconcile_counts_as_error_and_under_its_reason() {
        let metrics = Metrics::new();
        metrics.reconciled(Duration::from_millis(5), ReconcileOutcome::Ok);
        metrics.reconciled(
            Duration::from_millis(5),
            ReconcileOutcome::Failed("Unauthorized"),
        );
        metrics.reconciled(
            Duration::from_millis(5),
            ReconcileOutcome::Failed("Unauthorized"),
        );
        let text = metrics.render().expect("renders");
        assert!(
            text.contains("zis_operator_reconciles_total{result=\"ok\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("zis_operator_reconciles_total{result=\"error\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("zis_operator_reconcile_failures_total{reason=\"Unauthorized\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("zis_operator_reconcile_duration_seconds_count 3\n"),
            "{text}"
        );
    }

    #[test]
    fn a_successful_reconcile_counts_no_failure() {
        let metrics = Metrics::new();
        metrics.reconciled(Duration::from_millis(5), ReconcileOutcome::Ok);
        let text = metrics.render().expect("renders");
        assert!(
            !text.contains("zis_operator_reconcile_failures_total{"),
            "{text}"
        );
        assert!(
            text.contains("zis_operator_reconciles_total{result=\"ok\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("zis_operator_reconciles_total{result=\"error\"} 0\n"),
            "{text}"
        );
    }

    #[test]
    fn zis_requests_are_labelled_by_method_endpoint_status_class_and_outcome_only() {
        let metrics = Metrics::new();
        metrics.observe(&record(Some(201), RequestOutcome::Success));
        metrics.observe(&record(Some(429), RequestOutcome::RateLimited));
        metrics.observe(&record(None, RequestOutcome::Transient));
        let text = metrics.render().expect("renders");
        for series in [
            "zis_operator_zis_requests_total{method=\"POST\",endpoint=\"bearer_token\",status=\"2xx\",outcome=\"success\"} 1\n",
            "zis_operator_zis_requests_total{method=\"POST\",endpoint=\"bearer_token\",status=\"4xx\",outcome=\"rate_limited\"} 1\n",
            "zis_operator_zis_requests_total{method=\"POST\",endpoint=\"bearer_token\",status=\"none\",outcome=\"transient\"} 1\n",
            "zis_operator_zis_pacer_wait_seconds_count 3\n",
            // Only answered requests have a duration.
            "zis_operator_zis_request_duration_seconds_count{method=\"POST\",endpoint=\"bearer_token\"} 2\n",
        ] {
            assert!(text.contains(series), "missing {series:?} in\n{text}");
        }
    }

    #[test]
    fn histograms_and_counters_have_help_type_and_unit() {
        let text = Metrics::new().render().expect("renders");
        assert!(text.contains("# TYPE zis_operator_reconcile_duration_seconds histogram"));
        assert!(text.contains("# UNIT zis_operator_reconcile_duration_seconds seconds"));
        assert!(text.contains("# TYPE zis_operator_reconciles counter"));
        assert!(text.contains("# HELP zis_operator_zis_pacer_wait_seconds "));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn the_connections_gauge_reads_its_source_at_every_scrape() {
        let metrics = Metrics::new();
        assert!(
            !metrics
                .render()
                .expect("renders")
                .contains("zis_operator_connections")
        );
        let counts = Arc::new(std::sync::Mutex::new(ReadyCounts::new()));
        let source = counts.clone();
        metrics.count_objects_with(move || source.lock().map(|c| c.clone()).unwrap_or_default());
        counts
            .lock()
            .expect("lock")
            .insert(("True".into(), "Synced".into()), 3);
        let text = metrics.render().expect("renders");
        assert!(
            text.contains("zis_operator_connections{ready=\"True\",reason=\"Synced\"} 3\n"),
            "{text}"
        );
        counts
            .lock()
            .expect("lock")
            .insert(("True".into(), "Synced".into()), 1);
        let text = metrics.render().expect("renders");
        assert!(
            text.contains("zis_operator_connections{ready=\"True\",reason=\"Synced\"} 1\n"),
            "{text}"
        );
    }

    #[test]
    fn readiness_starts_false() {
        let metrics = Metrics::new();
        assert!(!metrics.is_ready());
        metrics.set_ready(true);
        assert!(metrics.is_ready());
    }
}
