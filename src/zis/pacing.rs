//! Per-account request pacing: a token bucket shared by every caller of one ZIS account.
//!
//! Zendesk limits requests per account per minute. Rather than sending as fast as work arrives
//! and bouncing off 429s, every request first takes a token from the account's bucket. The bucket
//! holds at most `burst` tokens and refills at `requests_per_minute / 60` tokens a second, so a
//! burst of work is spread out under the limit.
//!
//! Waiters queue on a FIFO-fair `tokio::sync::Mutex`: the caller at the head of the queue holds
//! the lock while it sleeps until its token is due, so callers are served in arrival order and
//! nobody spins. A 429 answer pauses the whole bucket (every caller) until its `Retry-After`
//! has passed; the pause is stored in an atomic so recording it never waits behind the queue.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// How fast the client may call one ZIS account.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacingConfig {
    /// Sustained requests per minute (Zendesk plans allow 200 to 2,500).
    pub requests_per_minute: u32,
    /// How many requests may go at once after a quiet period.
    pub burst: u32,
    /// Longest a pause asked for by `Retry-After` is honoured (guards against absurd values).
    pub max_retry_after: Duration,
}

impl Default for PacingConfig {
    fn default() -> Self {
        Self {
            requests_per_minute: 400,
            burst: 20,
            max_retry_after: Duration::from_secs(300),
        }
    }
}

impl PacingConfig {
    /// Why this configuration cannot pace anything, if it cannot.
    pub(crate) fn problem(&self) -> Option<&'static str> {
        if self.requests_per_minute == 0 {
            Some("requests_per_minute must be at least 1")
        } else if self.burst == 0 {
            Some("burst must be at least 1")
        } else {
            None
        }
    }
}

/// The token bucket of one ZIS account.
pub(crate) struct Pacer {
    /// Tokens added per second.
    rate: f64,
    /// Most tokens the bucket holds.
    capacity: f64,
    /// Reference point for `paused_until_nanos`.
    epoch: Instant,
    /// End of the current pause in nanoseconds after `epoch`; 0 when never paused.
    paused_until_nanos: AtomicU64,
    bucket: Mutex<Bucket>,
}

struct Bucket {
    tokens: f64,
    /// When `tokens` was last brought up to date.
    refilled_at: Instant,
}

impl Pacer {
    /// A full bucket. `config` must have passed [`PacingConfig::problem`].
    pub(crate) fn new(config: &PacingConfig) -> Self {
        let capacity = f64::from(config.burst.max(1));
        let now = Instant::now();
        Self {
            rate: f64::from(config.requests_per_minute.max(1)) / 60.0,
            capacity,
            epoch: now,
            paused_until_nanos: AtomicU64::new(0),
            bucket: Mutex::new(Bucket {
                tokens: capacity,
                refilled_at: now,
            }),
        }
    }

    /// Waits until this caller may send one request, and takes the token for it.
    ///
    /// Cancel-safe: dropping the future gives up the place in the queue without taking a token.
    pub(crate) async fn acquire(&self) {
        let mut bucket = self.bucket.lock().await;
        loop {
            let now = Instant::now();
            if let Some(until) = self.paused_until().filter(|until| *until > now) {
                // The server's window is exhausted: nothing accrues during the pause, and the
                // bucket restarts empty so callers do not all rush in the moment it ends.
                bucket.tokens = bucket.tokens.min(0.0);
                bucket.refilled_at = until;
                tokio::time::sleep_until(until).await;
                continue;
            }
            let elapsed = now.saturating_duration_since(bucket.refilled_at);
            bucket.tokens = (bucket.tokens + elapsed.as_secs_f64() * self.rate).min(self.capacity);
            bucket.refilled_at = bucket.refilled_at.max(now);
            if bucket.tokens >= 1.0 {
                bucket.tokens -= 1.0;
                return;
            }
            let missing = 1.0 - bucket.tokens;
            let wait = Duration::from_secs_f64(missing / self.rate);
            // Loop afterwards rather than taking the token blindly: a 429 may have paused the
            // bucket while this caller slept.
            tokio::time::sleep(wait).await;
        }
    }

    /// Pauses every caller for `duration` from now (a 429's `Retry-After`). A pause never
    /// shortens one already in force.
    pub(crate) fn pause_for(&self, duration: Duration) {
        let until = Instant::now() + duration;
        let nanos = until.saturating_duration_since(self.epoch).as_nanos();
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX).max(1);
        self.paused_until_nanos.fetch_max(nanos, Ordering::AcqRel);
    }

    /// The end of the latest pause, if any was ever asked for.
    pub(crate) fn paused_until(&self) -> Option<Instant> {
        match self.paused_until_nanos.load(Ordering::Acquire) {
            0 => None,
            nanos => Some(self.epoch + Duration::from_nanos(nanos)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn pacer(requests_per_minute: u32, burst: u32) -> Arc<Pacer> {
        Arc::new(Pacer::new(&PacingConfig {
            requests_per_minute,
            burst,
            max_retry_after: Duration::from_secs(300),
        }))
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_bucket_lets_a_burst_through_at_once() {
        let pacer = pacer(60, 5);
        let start = Instant::now();
        for _ in 0..5 {
            pacer.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn requests_beyond_the_burst_are_spread_at_the_refill_rate() {
        // 120 a minute = one every 500 ms once the 2-token burst is spent.
        let pacer = pacer(120, 2);
        let start = Instant::now();
        for _ in 0..6 {
            pacer.acquire().await;
        }
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(2000) && elapsed < Duration::from_millis(2100),
            "{elapsed:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_bucket() {
        let pacer = pacer(600, 10);
        let start = Instant::now();
        let tasks: Vec<_> = (0..40)
            .map(|_| {
                let pacer = pacer.clone();
                tokio::spawn(async move {
                    pacer.acquire().await;
                    Instant::now()
                })
            })
            .collect();
        let mut last = start;
        for task in tasks {
            let at = task.await.expect("task panicked");
            last = last.max(at);
        }
        // 10 at once, then 30 more at 10 a second.
        let elapsed = last - start;
        assert!(
            elapsed >= Duration::from_millis(2900) && elapsed < Duration::from_millis(3200),
            "{elapsed:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_caller_until_it_ends() {
        let pacer = pacer(6000, 100);
        let start = Instant::now();
        pacer.pause_for(Duration::from_secs(3));
        pacer.acquire().await;
        assert!(start.elapsed() >= Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_reaches_callers_already_waiting_for_a_token() {
        // One token a second and an empty bucket: the second caller waits about a second, but a
        // 429 arriving meanwhile holds it for the whole pause.
        let pacer = pacer(60, 1);
        pacer.acquire().await;
        let start = Instant::now();
        let waiter = {
            let pacer = pacer.clone();
            tokio::spawn(async move {
                pacer.acquire().await;
                Instant::now()
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        pacer.pause_for(Duration::from_secs(5));
        let at = waiter.await.expect("task panicked");
        assert!(
            at - start >= Duration::from_millis(5100),
            "{:?}",
            at - start
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_bucket_restarts_empty_after_a_pause() {
        let pacer = pacer(60, 10);
        pacer.pause_for(Duration::from_secs(2));
        let start = Instant::now();
        pacer.acquire().await;
        pacer.acquire().await;
        // The first caller waits out the pause and then one refill interval; the second another.
        assert!(
            start.elapsed() >= Duration::from_secs(4),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn a_shorter_pause_never_cuts_a_longer_one_short() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let pacer = pacer(60, 1);
            pacer.pause_for(Duration::from_secs(60));
            let long = pacer.paused_until().expect("paused");
            pacer.pause_for(Duration::from_secs(1));
            assert_eq!(pacer.paused_until(), Some(long));
        });
    }

    #[test]
    fn zero_rates_are_reported_as_problems() {
        let mut config = PacingConfig::default();
        assert_eq!(config.problem(), None);
        config.burst = 0;
        assert!(config.problem().is_some());
        config = PacingConfig {
            requests_per_minute: 0,
            ..PacingConfig::default()
        };
        assert!(config.problem().is_some());
    }
}
