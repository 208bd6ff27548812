//! The account's rate limit: at most N API requests in any sliding one-minute window, like
//! Zendesk's per-account limits. Refused requests do not count against the window.
//!
//! Other apps on the account can be simulated (`other_apps_per_minute`): they send requests
//! evenly spaced in time, which count against the same window (and are refused like anyone's
//! when it is full), so `X-Rate-Limit-Remaining` shows them. Their requests are played lazily,
//! each at its scheduled instant, whenever the window is looked at: no task, no timer.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;

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

/// What the simulated other apps got since the counters were last reset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OtherApps {
    /// Requests of other apps the window took.
    pub accepted: u64,
    /// Requests of other apps refused because the window was full (429 for them).
    pub refused: u64,
}

/// The times of the accepted requests of the last minute (at most `limit` of them).
#[derive(Debug, Default)]
pub struct RateLimiter {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    accepted: VecDeque<Instant>,
    schedule: Option<Schedule>,
    others: OtherApps,
}

/// When the other apps send: the `k`-th request (from 1) at `since + k × interval`.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    since: Instant,
    interval: Duration,
    /// How many of the scheduled requests were played.
    played: u64,
}

impl Inner {
    /// Drops what left the window by `now`.
    fn evict(&mut self, now: Instant) {
        while self
            .accepted
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) >= WINDOW)
        {
            self.accepted.pop_front();
        }
    }

    /// Plays the other apps' requests scheduled up to `now`, each against the window as it was
    /// at its own instant.
    fn catch_up(&mut self, limit: Option<u32>, now: Instant) {
        let Some(mut schedule) = self.schedule else {
            return;
        };
        // Integer nanoseconds, so that a request scheduled exactly at `now` is played.
        let interval = schedule.interval.as_nanos().max(1);
        let elapsed = now.saturating_duration_since(schedule.since);
        let due = u64::try_from(elapsed.as_nanos() / interval).unwrap_or(u64::MAX);
        // Requests older than a window no longer matter to any answer: counted, not played.
        let window_start = elapsed.saturating_sub(WINDOW).as_nanos();
        let first_in_window = u64::try_from(window_start.div_ceil(interval)).unwrap_or(u64::MAX);
        let skip_to = first_in_window.saturating_sub(1).min(due);
        if skip_to > schedule.played {
            self.others.accepted += skip_to - schedule.played;
            schedule.played = skip_to;
        }
        while schedule.played < due {
            schedule.played += 1;
            let offset = u64::try_from(interval * u128::from(schedule.played)).unwrap_or(u64::MAX);
            let at = schedule.since + Duration::from_nanos(offset);
            match limit.filter(|l| *l > 0) {
                None => self.others.accepted += 1,
                Some(limit) => {
                    self.evict(at);
                    if self.accepted.len() < limit as usize {
                        self.accepted.push_back(at);
                        self.others.accepted += 1;
                    } else {
                        self.others.refused += 1;
                    }
                }
            }
        }
        self.schedule = Some(schedule);
    }
}

impl RateLimiter {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a request made at `now` against `limit` requests per minute.
    pub fn check(&self, limit: Option<u32>, now: Instant) -> Decision {
        let mut inner = self.inner();
        inner.catch_up(limit, now);
        let Some(limit) = limit.filter(|l| *l > 0) else {
            return Decision::Unlimited;
        };
        inner.evict(now);
        let accepted = &mut inner.accepted;
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

    /// From `now` on, other apps send `per_minute` requests a minute (0: none) against `limit`.
    /// What they sent before `now` at the previous pace is played first.
    pub fn set_other_apps(&self, per_minute: u32, limit: Option<u32>, now: Instant) {
        let mut inner = self.inner();
        inner.catch_up(limit, now);
        inner.schedule = (per_minute > 0).then(|| Schedule {
            since: now,
            interval: WINDOW / per_minute,
            played: 0,
        });
    }

    /// What the other apps got so far (their requests up to `now` played against `limit`).
    pub fn other_apps(&self, limit: Option<u32>, now: Instant) -> OtherApps {
        let mut inner = self.inner();
        inner.catch_up(limit, now);
        inner.others
    }

    /// Zeroes what the other apps got (their pace and the window stay).
    pub fn reset_counts(&self) {
        self.inner().others = OtherApps::default();
    }

    /// Forgets every request, and the other apps stop.
    pub fn reset(&self) {
        *self.inner() = Inner::default();
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
    fn other_apps_use_the_window_at_their_pace_and_are_refused_when_it_is_full() {
        let limiter = RateLimiter::default();
        let start = Instant::now();
        // 30 a minute: one every 2 s, counted against a limit of 10.
        limiter.set_other_apps(30, Some(10), start);
        assert_eq!(
            limiter.check(Some(10), start + Duration::from_millis(4_500)),
            Decision::Allowed {
                limit: 10,
                remaining: 7
            },
            "the requests at 2 s and 4 s took two slots"
        );
        // At 20 s ten of theirs and one of ours fill the window: their 10th is refused.
        assert_eq!(
            limiter.check(Some(10), start + Duration::from_millis(20_500)),
            Decision::Limited {
                limit: 10,
                retry_after_secs: 42
            }
        );
        assert_eq!(
            limiter.other_apps(Some(10), start + Duration::from_millis(20_500)),
            OtherApps {
                accepted: 9,
                refused: 1
            }
        );
        limiter.set_other_apps(0, Some(10), start + Duration::from_secs(21));
        limiter.reset_counts();
        assert_eq!(
            limiter.other_apps(Some(10), start + Duration::from_secs(50)),
            OtherApps::default()
        );
    }

    #[test]
    fn other_apps_idle_for_long_are_counted_without_replaying_every_request() {
        let limiter = RateLimiter::default();
        let start = Instant::now();
        limiter.set_other_apps(600, Some(1000), start);
        // An hour later: 36,000 sent, the last minute's 600 still in the window.
        let later = start + Duration::from_secs(3_600);
        assert_eq!(
            limiter.check(Some(1000), later),
            Decision::Allowed {
                limit: 1000,
                remaining: 399
            }
        );
        assert_eq!(
            limiter.other_apps(Some(1000), later),
            OtherApps {
                accepted: 36_000,
                refused: 0
            }
        );
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
