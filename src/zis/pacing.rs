//! Per-account request pacing: a token bucket shared by every caller of one ZIS account.
//!
//! Zendesk limits requests per account per minute. Rather than sending as fast as work arrives
//! and bouncing off 429s, every request first takes a token from the account's bucket. The bucket
//! holds at most `burst` tokens and refills at `requests_per_minute / 60` tokens a second, so a
//! burst of work is spread out under the limit.
//!
//! Taking a token is a reservation made under a short synchronous lock: the bucket may go into
//! debt, and a caller that finds it empty is told when its token will exist and sleeps until then
//! without holding anything. Callers are therefore served in arrival order, nothing spins, and
//! nobody queues behind a sleeping lock holder.
//!
//! A 429 pauses the whole bucket: the bucket runs on its own clock, which stands still while a
//! pause lasts (the pause is added to the clock's lag behind real time). Every reservation still
//! waiting is pushed back by the pause, nothing refills during it, and the bucket restarts
//! empty, so callers do not all rush in the moment the pause ends.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// How fast the client may call one ZIS account.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacingConfig {
    /// Sustained requests per minute (Zendesk plans allow 200 to 2,500). Zendesk counts a
    /// sliding minute and the burst comes on top of this rate, so set it a little below the
    /// account's limit when other clients share the account or the burst is large.
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
    /// Real time at which the bucket's clock read zero.
    epoch: Instant,
    state: Mutex<State>,
}

struct State {
    /// May be negative: the tokens already promised to waiting callers.
    tokens: f64,
    /// Bucket-clock time of the last refill.
    refilled_at: Duration,
    /// How far the bucket clock lags real time: the sum of all pauses.
    lag: Duration,
    /// Real end of the latest pause.
    paused_until: Option<Instant>,
}

impl Pacer {
    /// A full bucket. `config` must have passed [`PacingConfig::problem`].
    pub(crate) fn new(config: &PacingConfig) -> Self {
        let capacity = f64::from(config.burst.max(1));
        Self {
            rate: f64::from(config.requests_per_minute.max(1)) / 60.0,
            capacity,
            epoch: Instant::now(),
            state: Mutex::new(State {
                tokens: capacity,
                refilled_at: Duration::ZERO,
                lag: Duration::ZERO,
                paused_until: None,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Nothing panics while the lock is held, and the state is valid after any step anyway.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bucket-clock time at real time `now`.
    fn bucket_time(&self, state: &State, now: Instant) -> Duration {
        now.saturating_duration_since(self.epoch)
            .saturating_sub(state.lag)
    }

    /// Waits until this caller may send one request, and takes the token for it.
    ///
    /// Cancel-safe: dropping the future before it completes gives the token back.
    pub(crate) async fn acquire(&self) {
        let due = {
            let mut state = self.state();
            let now = self.bucket_time(&state, Instant::now());
            let elapsed = now.saturating_sub(state.refilled_at);
            state.tokens = (state.tokens + elapsed.as_secs_f64() * self.rate).min(self.capacity);
            state.refilled_at = state.refilled_at.max(now);
            state.tokens -= 1.0;
            if state.tokens >= 0.0 {
                now
            } else {
                now + Duration::from_secs_f64(-state.tokens / self.rate)
            }
        };
        let mut refund = Refund {
            pacer: self,
            armed: true,
        };
        loop {
            let target = {
                let state = self.state();
                let target = self.epoch + due + state.lag;
                // A reservation falling due just before a pause began must still wait it out.
                state.paused_until.map_or(target, |until| target.max(until))
            };
            if target <= Instant::now() {
                refund.armed = false;
                return;
            }
            // Loop afterwards: a 429 may have paused the bucket while this caller slept.
            tokio::time::sleep_until(target).await;
        }
    }

    /// Pauses every caller for `duration` from now (a 429's `Retry-After`). A pause never
    /// shortens one already in force.
    pub(crate) fn pause_for(&self, duration: Duration) {
        let now = Instant::now();
        let until = now + duration;
        let mut state = self.state();
        let current = state.paused_until.map_or(now, |end| end.max(now));
        if until > current {
            state.lag += until - current;
            state.paused_until = Some(until);
            // The server's window is full: start over empty, keeping the promised debt.
            state.tokens = state.tokens.min(0.0);
        }
    }

    /// The end of the latest pause, if any was ever asked for.
    pub(crate) fn paused_until(&self) -> Option<Instant> {
        self.state().paused_until
    }
}

/// Gives a reserved token back when its caller stops waiting before sending.
struct Refund<'a> {
    pacer: &'a Pacer,
    armed: bool,
}

impl Drop for Refund<'_> {
    fn drop(&mut self) {
        if self.armed {
            let mut state = self.pacer.state();
            state.tokens = (state.tokens + 1.0).min(self.pacer.capacity);
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

    #[tokio::test(start_paused = true)]
    async fn a_caller_that_gives_up_returns_its_token() {
        let pacer = pacer(60, 1);
        pacer.acquire().await;
        // Wait a while for the next token, then give up.
        let gave_up = tokio::time::timeout(Duration::from_millis(500), pacer.acquire()).await;
        assert!(gave_up.is_err());
        // The abandoned reservation does not push this caller back: one second after the first.
        let start = Instant::now();
        pacer.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_millis(500));
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
