//! Request counters per method, endpoint template and status, for `GET /_fake/requests`.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use serde::Serialize;

/// One counter line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestCount {
    pub method: String,
    /// Path template relative to `.../connections/`, e.g. `bearer_token/{name}`.
    pub endpoint: &'static str,
    /// HTTP status answered; 0 when the connection was dropped without an answer.
    pub status: u16,
    pub count: u64,
}

/// Counts of the API requests answered (admin requests are not counted).
#[derive(Debug, Default)]
pub struct Counters {
    counts: Mutex<HashMap<(&'static str, &'static str, u16), u64>>,
}

impl Counters {
    /// Counts one answer; `method` is static (see `routes::method_name`) so counting never
    /// allocates.
    pub fn record(&self, method: &'static str, endpoint: &'static str, status: u16) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.entry((method, endpoint, status)).or_insert(0) += 1;
    }

    /// Every counter, sorted by endpoint, method and status, and their total.
    pub fn snapshot(&self) -> (u64, Vec<RequestCount>) {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let mut lines: Vec<RequestCount> = counts
            .iter()
            .map(|((method, endpoint, status), count)| RequestCount {
                method: (*method).to_owned(),
                endpoint,
                status: *status,
                count: *count,
            })
            .collect();
        drop(counts);
        lines.sort_by(|a, b| {
            (a.endpoint, &a.method, a.status).cmp(&(b.endpoint, &b.method, b.status))
        });
        let total = lines.iter().map(|l| l.count).sum();
        (total, lines)
    }

    pub fn reset(&self) {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_per_method_endpoint_and_status() {
        let counters = Counters::default();
        counters.record("POST", "bearer_token", 201);
        counters.record("POST", "bearer_token", 201);
        counters.record("POST", "bearer_token", 409);
        counters.record("GET", "bearer_token/{name}", 200);
        let (total, lines) = counters.snapshot();
        assert_eq!(total, 4);
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0],
            RequestCount {
                method: "POST".into(),
                endpoint: "bearer_token",
                status: 201,
                count: 2
            }
        );
        counters.reset();
        assert_eq!(counters.snapshot().0, 0);
    }
}
