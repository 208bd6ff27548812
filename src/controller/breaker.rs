//! One breaker per integration for the operator's own credentials. When ZIS refuses the access
//! token of an integration (401, 403), every connection of that integration would otherwise fail
//! on its own, report it, and retry with the others. Instead the first refusal trips the breaker:
//! the other connections wait without calling ZIS, one probe request goes out now and then
//! (jittered, backing off), and a change of the credentials Secret (a new epoch) resets it at
//! once. No I/O here: reconciles ask it before their remote calls and tell it how they went.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::context::jitter_up_to;
use super::outcome::Failure;

/// The first wait before a probe; it doubles with every refused probe, up to [`MAX_PROBE_WAIT`].
const FIRST_PROBE_WAIT: Duration = Duration::from_secs(30);
const MAX_PROBE_WAIT: Duration = Duration::from_secs(300);
/// How long a probe may take before another reconcile may probe instead.
const PROBE_LEASE: Duration = Duration::from_secs(60);

/// What a reconcile may do about an integration's remote calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Nothing is known to be wrong: go ahead.
    Go,
    /// The breaker is open and this reconcile is its probe: go ahead, and report how it went.
    Probe,
    /// The breaker is open: make no call; the refusal that tripped it, and when to look again.
    Wait {
        failure: Failure,
        retry_in: Duration,
    },
}

#[derive(Debug)]
struct Trip {
    /// The credentials epoch the refusal was for; a new epoch resets the breaker.
    epoch: u64,
    failure: Failure,
    next_probe: Instant,
    probing_until: Option<Instant>,
    refusals: u32,
}

/// The breakers of every integration.
#[derive(Debug, Default)]
pub struct Breakers {
    trips: Mutex<HashMap<String, Trip>>,
}

impl Breakers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a reconcile may call ZIS for `integration` under credentials `epoch`.
    pub fn admit(&self, integration: &str, epoch: u64) -> Admission {
        let mut trips = self.trips.lock().unwrap_or_else(|e| e.into_inner());
        let Some(trip) = trips.get_mut(integration) else {
            return Admission::Go;
        };
        if trip.epoch != epoch {
            trips.remove(integration);
            return Admission::Go;
        }
        let now = Instant::now();
        let probing = trip.probing_until.is_some_and(|until| until > now);
        if now >= trip.next_probe && !probing {
            trip.probing_until = Some(now + PROBE_LEASE);
            return Admission::Probe;
        }
        let retry_in =
            trip.next_probe.saturating_duration_since(now) + jitter_up_to(Duration::from_secs(5));
        Admission::Wait {
            failure: trip.failure.clone(),
            retry_in,
        }
    }

    /// Reports a refusal of the credentials (401/403) for `integration` under `epoch`. Returns
    /// true when this trips the breaker (the first refusal): only then is it worth an event.
    pub fn refused(&self, integration: &str, epoch: u64, failure: &Failure) -> bool {
        let mut trips = self.trips.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match trips.get_mut(integration) {
            Some(trip) if trip.epoch == epoch => {
                trip.refusals = trip.refusals.saturating_add(1);
                let wait = FIRST_PROBE_WAIT
                    .saturating_mul(2u32.saturating_pow(trip.refusals.min(10) - 1))
                    .min(MAX_PROBE_WAIT);
                trip.next_probe = now + wait / 2 + jitter_up_to(wait / 2);
                trip.probing_until = None;
                trip.failure = failure.clone();
                false
            }
            _ => {
                trips.insert(
                    integration.to_owned(),
                    Trip {
                        epoch,
                        failure: failure.clone(),
                        next_probe: now + FIRST_PROBE_WAIT / 2 + jitter_up_to(FIRST_PROBE_WAIT / 2),
                        probing_until: None,
                        refusals: 1,
                    },
                );
                true
            }
        }
    }

    /// Reports that ZIS accepted the credentials of `integration`: the breaker closes.
    pub fn accepted(&self, integration: &str) {
        let mut trips = self.trips.lock().unwrap_or_else(|e| e.into_inner());
        trips.remove(integration);
    }

    /// How many integrations have their credentials refused, for the metrics.
    pub fn open(&self) -> usize {
        self.trips.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Whether `failure` is ZIS refusing the operator's credentials.
pub fn is_refusal(failure: &Failure) -> bool {
    matches!(failure.reason, "Unauthorized" | "Forbidden")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unauthorized() -> Failure {
        Failure::stalled("Unauthorized", "401")
    }

    #[test]
    fn the_first_refusal_trips_the_breaker_and_the_others_wait() {
        let breakers = Breakers::new();
        assert_eq!(breakers.admit("int", 1), Admission::Go);
        assert!(breakers.refused("int", 1, &unauthorized()), "tripped");
        assert!(!breakers.refused("int", 1, &unauthorized()), "already open");
        for _ in 0..10 {
            assert!(matches!(breakers.admit("int", 1), Admission::Wait { .. }));
        }
        assert_eq!(breakers.admit("other", 1), Admission::Go, "per integration");
        assert_eq!(breakers.open(), 1);
    }

    #[test]
    fn new_credentials_reset_the_breaker() {
        let breakers = Breakers::new();
        breakers.refused("int", 1, &unauthorized());
        assert_eq!(breakers.admit("int", 2), Admission::Go);
        assert_eq!(breakers.open(), 0);
    }

    #[test]
    fn once_due_exactly_one_reconcile_probes() {
        let breakers = Breakers::new();
        breakers.refused("int", 1, &unauthorized());
        {
            let mut trips = breakers.trips.lock().expect("lock");
            trips.get_mut("int").expect("trip").next_probe = Instant::now();
        }
        assert_eq!(breakers.admit("int", 1), Admission::Probe);
        assert!(matches!(breakers.admit("int", 1), Admission::Wait { .. }));
        breakers.accepted("int");
        assert_eq!(breakers.admit("int", 1), Admission::Go);
    }

    #[test]
    fn a_refused_probe_backs_off() {
        let breakers = Breakers::new();
        breakers.refused("int", 1, &unauthorized());
        for _ in 0..6 {
            breakers.refused("int", 1, &unauthorized());
        }
        let Admission::Wait { retry_in, .. } = breakers.admit("int", 1) else {
            panic!("waits");
        };
        assert!(retry_in >= MAX_PROBE_WAIT / 2, "{retry_in:?}");
    }
}
