//! The account's rate limit: at most N API requests in any sliding one-minute window, like
//! Zendesk's per-account limits. Refused requests do not count against the window.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The window length.
pub const WINDOW: Duration = Duration::from_secs(60);

/// The outcome of one request against the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// No limit is configured.
    Unlimited,
    /// Accepted; `remaining` more requests fit in the current window.
    Allowed { limit: u32, remaining: u32 },
    /// Refused; the oldest request leaves the window in `retry_after_secs` (at least 1).
    Limited { limit: u32, retry_after_secs: u64 },
}

/// The times of the accepted requests of the last minute (at most `limit` of them).
#[derive(Debug, Default)]
pub struct RateLimiter {
    accepted: Mutex<VecDeque<Instant>>,
}

impl RateLimiter {
    /// Counts a request made at `now` against `limit` requests per minute.
    pub fn check(&self, limit: Option<u32>, now: Instant) -> Decision {
        let Some(limit) = limit.filter(|l| *l > 0) else {
            return Decision::Unlimited;
        };
        let mut accepted = self.accepted.lock().unwrap_or_else(PoisonError::into_inner);
        while accepted
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) >= WINDOW)
        {
            accepted.pop_front();
        }
        let capacity = limit as usize;
        if accepted.len() >= capacity {
            // The limit may have been lowered at run time: the request that frees a slot is the
            // one `capacity` places from the newest.
            let freeing = accepted[accepted.len() - capacity];
            let wait = (freeing + WINDOW).saturating_duration_since(now);
            let retry_after_secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Decision::Limited {
                limit,
                retry_after_secs: retry_after_secs.max(1),
            };
        }
        accepted.push_back(now);
        Decision::Allowed {
            limit,
            remaining: limit - accepted.len() as u32,
        }
    }

    /// Forgets every request.
    pub fn reset(&self) {
        self.accepted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_beyond_the_limit_in_a_minute_are_refused_until_the_oldest_leaves() {
        let limiter = RateLimiter::default();
        let start = Instant::now();
        assert_eq!(
            limiter.check(Some(2), start),
            Decision::Allowed {
                limit: 2,
                remaining: 1
            }
        );
        assert_eq!(
            limiter.check(Some(2), start + Duration::from_secs(10)),
            Decision::Allowed {
                limit: 2,
                remaining: 0
            }
        );
        assert_eq!(
            limiter.check(Some(2), start + Duration::from_millis(20_500)),
            Decision::Limited {
                limit: 2,
                retry_after_secs: 40
            }
        );
        assert_eq!(
            limiter.check(Some(2), start + Duration::from_secs(60)),
            Decision::Allowed {
                limit: 2,
                remaining: 0
            }
        );
    }

    #[test]
    fn no_limit_means_every_request_is_accepted() {
        let limiter = RateLimiter::default();
        assert_eq!(limiter.check(None, Instant::now()), Decision::Unlimited);
        assert_eq!(limiter.check(Some(0), Instant::now()), Decision::Unlimited);
    }

    #[test]
    fn lowering_the_limit_applies_at_once() {
        let limiter = RateLimiter::default();
        let start = Instant::now();
        for _ in 0..5 {
            limiter.check(Some(10), start);
        }
        assert!(matches!(
            limiter.check(Some(3), start + Duration::from_secs(1)),
            Decision::Limited {
                retry_after_secs: 59,
                ..
            }
        ));
    }
}
