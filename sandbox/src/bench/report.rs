//! What one benchmark run prints: the JSON object of `zis-sandbox bench`, and the counts it is
//! built from (ZIS requests by kind, Kubernetes writes by kind), with their differences between
//! two moments.

use serde::Serialize;

/// ZIS API requests by kind, as the local ZIS counted them (every request answered, whatever
/// its status; admin calls are never counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ZisRequests {
    /// `POST .../connections/bearer_token`.
    pub create: u64,
    /// `PATCH .../connections/bearer_token/{name}`.
    pub update: u64,
    /// `GET .../connections/bearer_token/{name}`.
    pub get: u64,
    /// `GET .../connections/all` (one per page).
    pub list: u64,
    /// `DELETE .../connections/bearer_token/{name}`.
    pub delete: u64,
    /// Anything else (other connection types, unknown paths).
    pub other: u64,
    /// Of all the above, how many were answered 429.
    pub throttled: u64,
    pub total: u64,
}

impl ZisRequests {
    /// Counts one line of `GET /_fake/requests`.
    pub(super) fn add(&mut self, method: &str, endpoint: &str, status: u16, count: u64) {
        let slot = match (method, endpoint) {
            ("POST", "bearer_token") => &mut self.create,
            ("PATCH", "bearer_token/{name}") => &mut self.update,
            ("GET", "bearer_token/{name}") => &mut self.get,
            ("GET", "all") => &mut self.list,
            ("DELETE", "bearer_token/{name}") => &mut self.delete,
            _ => &mut self.other,
        };
        *slot += count;
        if status == 429 {
            self.throttled += count;
        }
        self.total += count;
    }

    /// What was counted after `earlier`.
    pub fn since(&self, earlier: &ZisRequests) -> ZisRequests {
        ZisRequests {
            create: self.create.saturating_sub(earlier.create),
            update: self.update.saturating_sub(earlier.update),
            get: self.get.saturating_sub(earlier.get),
            list: self.list.saturating_sub(earlier.list),
            delete: self.delete.saturating_sub(earlier.delete),
            other: self.other.saturating_sub(earlier.other),
            throttled: self.throttled.saturating_sub(earlier.throttled),
            total: self.total.saturating_sub(earlier.total),
        }
    }

    /// Requests that change something at ZIS.
    pub fn writes(&self) -> u64 {
        self.create + self.update + self.delete
    }
}

/// The operator's writes to the Kubernetes API, from its metric
/// `zis_operator_kube_writes_total{kind}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KubeWrites {
    pub status: u64,
    pub finalizer: u64,
    pub event: u64,
    pub total: u64,
}

impl KubeWrites {
    /// Reads the counters from a Prometheus text rendering of the operator's `/metrics`.
    pub(super) fn from_metrics(text: &str) -> KubeWrites {
        let mut writes = KubeWrites::default();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("zis_operator_kube_writes_total{") else {
                continue;
            };
            let Some((labels, value)) = rest.split_once('}') else {
                continue;
            };
            let Ok(value) = value.trim().parse::<f64>() else {
                continue;
            };
            // Counters are whole numbers rendered as floats or integers.
            let value = value.max(0.0).round() as u64;
            let slot = match labels {
                "kind=\"status\"" => &mut writes.status,
                "kind=\"finalizer\"" => &mut writes.finalizer,
                "kind=\"event\"" => &mut writes.event,
                _ => continue,
            };
            *slot += value;
            writes.total += value;
        }
        writes
    }

    pub fn since(&self, earlier: &KubeWrites) -> KubeWrites {
        KubeWrites {
            status: self.status.saturating_sub(earlier.status),
            finalizer: self.finalizer.saturating_sub(earlier.finalizer),
            event: self.event.saturating_sub(earlier.event),
            total: self.total.saturating_sub(earlier.total),
        }
    }
}

/// How many reconciles the operator has run, whatever their outcome: the sum of
/// `zis_operator_reconciles_total{result}` in a Prometheus text rendering of its `/metrics`.
pub(super) fn reconciles_from_metrics(text: &str) -> u64 {
    text.lines()
        .filter_map(|line| line.strip_prefix("zis_operator_reconciles_total{"))
        .filter_map(|rest| rest.split_once('}'))
        .filter_map(|(_, value)| value.trim().parse::<f64>().ok())
        // Counters are whole numbers rendered as floats or integers.
        .map(|value| value.max(0.0).round() as u64)
        .sum()
}

/// The result of `zis-sandbox bench`, printed as one JSON object. Durations in seconds unless
/// the name says `_ms`; `null` for a phase that was skipped. `docs/benchmark.md` explains every
/// key.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    // What was run.
    pub objects: usize,
    pub namespaces: usize,
    pub unrelated_secrets: usize,
    pub rotations: usize,
    /// The local ZIS's limit (requests per minute, sliding window).
    pub rpm: u32,
    /// The operator's `--requests-per-minute`.
    pub operator_rpm: u32,
    /// The operator's `--requests-per-minute` in the phases after converging (it was restarted
    /// with it), when it differs from `operator_rpm`.
    pub later_operator_rpm: Option<u32>,
    pub latency_ms: u64,
    pub resync_interval_seconds: f64,
    /// The operator's `--concurrency`, when set (else its default).
    pub operator_concurrency: Option<u16>,
    /// The CPUs the operator was kept to (`--operator-cpus`), when it was.
    pub operator_cpus: Option<String>,
    /// `sandbox` (the in-process Kubernetes API sandbox) or `kubeconfig` (a real API server).
    pub kube: &'static str,
    /// CPUs this machine offers (`available_parallelism`).
    pub cpus: usize,

    // Converging.
    /// Creating the token Secrets and the unrelated Secrets (before the clock of `ready_seconds`).
    pub setup_seconds: f64,
    /// Creating the N connection objects (part of `ready_seconds`).
    pub create_seconds: f64,
    /// From the first connection object created until every object is `Ready=True`.
    pub ready_seconds: f64,
    /// The least time the rate limit allows for `rate_floor_requests` at `operator_rpm`.
    pub rate_floor_seconds: f64,
    /// The requests converging needs at least: one create per connection.
    pub rate_floor_requests: u64,
    /// From the first connection object created until the last object got its first status.
    pub first_reconcile_max_seconds: f64,
    /// ZIS requests while converging (first create until all Ready).
    pub zis_requests: ZisRequests,
    /// ZIS answers 429 over the whole run.
    pub zis_429: u64,
    /// Kubernetes writes while converging.
    pub kube_writes: KubeWrites,
    /// Reconciles the operator ran while converging (an object's first sync takes two: the
    /// finalizer, then the create; the echoes of its status writes wake none).
    pub converge_reconciles: u64,
    /// The operator's CPU time while converging, and its user and system (kernel) parts.
    pub converge_cpu_seconds: f64,
    pub converge_cpu_user_seconds: f64,
    pub converge_cpu_system_seconds: f64,
    /// The operator's CPU per object (ms) in each tenth of the objects to become Ready (tenths
    /// Ready within one look of the benchmark are merged): flat when an object costs the same
    /// with thousands converged as with few.
    pub converge_cpu_ms_per_object_by_tenth: Vec<f64>,

    // One resync interval with nothing changing.
    pub steady_zis_requests: Option<ZisRequests>,
    pub steady_kube_writes: Option<KubeWrites>,

    // Rotations during the next resync interval.
    pub rotation_p50_ms: Option<f64>,
    pub rotation_p99_ms: Option<f64>,
    pub rotation_max_ms: Option<f64>,
    /// Rotations whose token did not reach ZIS within the rotation timeout (counted at the
    /// timeout in the percentiles).
    pub rotations_timed_out: Option<usize>,
    pub rotation_zis_requests: Option<ZisRequests>,
    pub rotation_kube_writes: Option<KubeWrites>,

    // Restart with everything in sync.
    /// From starting the new operator process until its `/readyz` answered 200.
    pub restart_ready_seconds: Option<f64>,
    /// From starting the new process until one resync interval after it was ready.
    pub restart_zis_requests: Option<ZisRequests>,
    pub restart_kube_writes: Option<KubeWrites>,

    // Deleting everything.
    /// From the first delete until every object is gone and ZIS holds no bearer connection.
    pub delete_seconds: f64,
    pub delete_zis_requests: ZisRequests,

    // The operator processes.
    /// The largest VmHWM of the operator processes.
    pub peak_rss_mib: f64,
    /// User + system CPU time of all operator processes, whole run.
    pub cpu_seconds: f64,
}

/// The `q` quantile (0 < q <= 1) of `samples` by nearest rank; `None` when empty.
pub(super) fn percentile(samples: &[f64], q: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Rounds to milliseconds (seconds) or tenths (milliseconds, MiB) so the JSON stays readable.
pub(super) fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

pub(super) fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_classified_by_method_and_endpoint_template() {
        let mut counts = ZisRequests::default();
        counts.add("POST", "bearer_token", 201, 5);
        counts.add("POST", "bearer_token", 429, 1);
        counts.add("PATCH", "bearer_token/{name}", 204, 2);
        counts.add("GET", "bearer_token/{name}", 200, 3);
        counts.add("GET", "all", 200, 4);
        counts.add("DELETE", "bearer_token/{name}", 204, 6);
        counts.add("GET", "api_key/{name}", 404, 7);
        assert_eq!(
            counts,
            ZisRequests {
                create: 6,
                update: 2,
                get: 3,
                list: 4,
                delete: 6,
                other: 7,
                throttled: 1,
                total: 28,
            }
        );
        assert_eq!(counts.writes(), 14);
        let later = ZisRequests {
            create: 10,
            total: 32,
            ..counts
        };
        assert_eq!(
            later.since(&counts),
            ZisRequests {
                create: 4,
                total: 4,
                ..ZisRequests::default()
            }
        );
    }

    #[test]
    fn kube_writes_are_read_from_the_operators_metrics() {
        let text = "# HELP zis_operator_kube_writes Writes\n\
                    # TYPE zis_operator_kube_writes counter\n\
                    zis_operator_kube_writes_total{kind=\"status\"} 12\n\
                    zis_operator_kube_writes_total{kind=\"finalizer\"} 3\n\
                    zis_operator_kube_writes_total{kind=\"event\"} 7\n\
                    zis_operator_reconciles_total{result=\"ok\"} 99\n";
        assert_eq!(
            KubeWrites::from_metrics(text),
            KubeWrites {
                status: 12,
                finalizer: 3,
                event: 7,
                total: 22
            }
        );
    }

    #[test]
    fn reconciles_of_every_outcome_are_summed() {
        let text = "# TYPE zis_operator_reconciles_total counter\n\
                    zis_operator_reconciles_total{result=\"ok\"} 99\n\
                    zis_operator_reconciles_total{result=\"error\"} 4\n\
                    zis_operator_reconcile_failures_total{reason=\"Conflict\"} 4\n\
                    zis_operator_kube_writes_total{kind=\"status\"} 12\n";
        assert_eq!(reconciles_from_metrics(text), 103);
        assert_eq!(reconciles_from_metrics(""), 0);
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&samples, 0.5), Some(50.0));
        assert_eq!(percentile(&samples, 0.99), Some(99.0));
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 0.5), Some(2.0));
        assert_eq!(percentile(&[7.0], 0.99), Some(7.0));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
