//! Fault injection: "fail the next N requests matching this method and path with this status"
//! rules, and the random 5xx answers and dropped connections of the settings.

use std::sync::{Mutex, PoisonError};

use hyper::StatusCode;
use rand::Rng;
use serde::Serialize;

/// One rule: the next `remaining` API requests whose method and path match fail with `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaultRule {
    /// Method to match (upper case), `None` for any.
    pub method: Option<String>,
    /// Substring of the request path to match (raw, without query), `None` for any.
    pub path_contains: Option<String>,
    /// Status to answer with; 0 closes the connection without an answer.
    pub status: u16,
    /// How many more requests this rule fails.
    pub count: u32,
    /// `Retry-After` seconds sent with an injected 429 or 503.
    pub retry_after: Option<u64>,
}

impl FaultRule {
    fn matches(&self, method: &str, path: &str) -> bool {
        self.count > 0
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p))
    }
}

/// What an injected fault does to a request, decided before the request takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injected {
    /// Answer with this status and an error body (`Retry-After` when given).
    Status(StatusCode, Option<u64>),
    /// Close the connection without an answer.
    Drop,
}

/// The pending fault rules, oldest first.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<Vec<FaultRule>>,
}

impl Faults {
    pub fn add(&self, rule: FaultRule) {
        self.rules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(rule);
    }

    pub fn list(&self) -> Vec<FaultRule> {
        self.rules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn clear(&self) {
        self.rules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Consumes one use of the oldest rule matching the request, if any.
    pub fn take(&self, method: &str, path: &str) -> Option<Injected> {
        let mut rules = self.rules.lock().unwrap_or_else(PoisonError::into_inner);
        let index = rules.iter().position(|r| r.matches(method, path))?;
        let rule = &mut rules[index];
        rule.count -= 1;
        let injected = match StatusCode::from_u16(rule.status) {
            Ok(status) => Injected::Status(status, rule.retry_after),
            Err(_) => Injected::Drop,
        };
        if rule.count == 0 {
            rules.remove(index);
        }
        Some(injected)
    }
}

/// The statuses a random server error is drawn from (what a real service and its load
/// balancers answer).
const RANDOM_ERRORS: [StatusCode; 4] = [
    StatusCode::INTERNAL_SERVER_ERROR,
    StatusCode::BAD_GATEWAY,
    StatusCode::SERVICE_UNAVAILABLE,
    StatusCode::GATEWAY_TIMEOUT,
];

/// With probability `error_rate`, a random 5xx status.
pub fn random_error(error_rate: f64) -> Option<StatusCode> {
    if error_rate <= 0.0 {
        return None;
    }
    let mut rng = rand::rng();
    if rng.random_bool(error_rate.min(1.0)) {
        Some(RANDOM_ERRORS[rng.random_range(0..RANDOM_ERRORS.len())])
    } else {
        None
    }
}

/// True with probability `throttle_rate`.
pub fn random_throttle(throttle_rate: f64) -> bool {
    throttle_rate > 0.0 && rand::rng().random_bool(throttle_rate.min(1.0))
}

/// `latency_ms` plus up to `jitter_ms` more, at random.
pub fn latency(latency_ms: u64, jitter_ms: u64) -> u64 {
    if jitter_ms == 0 {
        return latency_ms;
    }
    latency_ms + rand::rng().random_range(0..=jitter_ms)
}

/// True with probability `drop_rate`.
pub fn random_drop(drop_rate: f64) -> bool {
    drop_rate > 0.0 && rand::rng().random_bool(drop_rate.min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(method: Option<&str>, path: Option<&str>, status: u16, count: u32) -> FaultRule {
        FaultRule {
            method: method.map(str::to_owned),
            path_contains: path.map(str::to_owned),
            status,
            count,
            retry_after: None,
        }
    }

    #[test]
    fn a_rule_fails_exactly_the_next_n_matching_requests() {
        let faults = Faults::default();
        faults.add(rule(Some("POST"), Some("bearer_token"), 503, 2));
        assert_eq!(faults.take("GET", "/x/bearer_token"), None);
        assert_eq!(faults.take("POST", "/x/api_key"), None);
        let expected = Some(Injected::Status(StatusCode::SERVICE_UNAVAILABLE, None));
        assert_eq!(faults.take("post", "/x/bearer_token"), expected);
        assert_eq!(faults.take("POST", "/x/bearer_token"), expected);
        assert_eq!(faults.take("POST", "/x/bearer_token"), None);
        assert!(faults.list().is_empty());
    }

    #[test]
    fn status_zero_drops_the_connection_and_rules_apply_oldest_first() {
        let faults = Faults::default();
        faults.add(rule(None, None, 0, 1));
        faults.add(rule(None, None, 500, 1));
        assert_eq!(faults.take("GET", "/"), Some(Injected::Drop));
        assert_eq!(
            faults.take("GET", "/"),
            Some(Injected::Status(StatusCode::INTERNAL_SERVER_ERROR, None))
        );
    }

    #[test]
    fn random_faults_follow_their_probabilities_at_the_extremes() {
        assert_eq!(random_error(0.0), None);
        assert!(random_error(1.0).is_some_and(|s| s.is_server_error()));
        assert!(!random_drop(0.0));
        assert!(random_drop(1.0));
    }
}
