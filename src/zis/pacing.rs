//! Per-account request pacing: one scheduler shared by every caller of one ZIS account, with two
//! priority classes and a polite share of the account's rate limit.
//!
//! Zendesk limits requests per account per minute, and other apps share that limit. Rather than
//! sending as fast as work arrives and bouncing off 429s, every request first takes a token from
//! the account's pacer.
//!
//! # The budget
//!
//! A token bucket holds at most `burst` tokens and refills at `requests_per_minute / 60` tokens a
//! second, so a burst of work is spread out under the configured budget.
//!
//! # Two priorities
//!
//! - [`Priority::Urgent`] (the default: creates, rotations, deletions, anything a person or a
//!   change waits for) reserves its token the moment it asks, under a short synchronous lock. The
//!   bucket may go into debt: a caller that finds it empty is told when its token will exist and
//!   sleeps until then without holding anything. Urgent callers are served in arrival order.
//! - [`Priority::Background`] (periodic checks such as listing every connection) never reserves
//!   ahead. Background callers queue in arrival order, and the first of them gets a token only
//!   when all of these hold:
//!   1. the bucket is **full**: no urgent caller is waiting (a waiting urgent caller means
//!      debt), and the token taken is one that would otherwise have overflowed;
//!   2. its share bucket has a token: a second bucket, refilled at
//!      `background_share × requests_per_minute / 60` a second and holding at most one token;
//!   3. the account is not paused by a 429;
//!   4. the server's remaining requests are not low (below).
//!
//!   So background traffic uses at most `background_share` of the budget, and after a
//!   background request the bucket is at most one token short of where it would otherwise be:
//!   an urgent request is never delayed by background ones beyond the one already granted.
//!
//! # The server's remaining requests
//!
//! Every answer except a 429 that carries `X-Rate-Limit: L` and `X-Rate-Limit-Remaining: r` is
//! an observation of the account's window, which other apps use too. With
//! `reserve = ceil(L × reserve_share)` (10% of `L` by default), left to the other apps:
//!
//! - `r > reserve`: nothing changes (and an earlier low observation ends);
//! - `r ≤ reserve` ("low"), from that answer until a later answer says otherwise or one window
//!   (60 s) has passed:
//!   - background requests get no token at all;
//!   - the burst is off: the bucket holds at most one token;
//!   - the bucket's clock runs slower, so that it refills at most `max(r, 1)` tokens per 60 s
//!     (never faster than the budget): the remaining requests are spread over the rest of the
//!     server's minute. The client cannot see where the server's minute began, and in a sliding
//!     window a slot frees only a minute after it was used, so "the rest of the minute" is taken
//!     as a whole window from the answer.
//!
//!   Reservations already waiting follow the slower clock too, and a clock that speeds up again
//!   (a later answer with more remaining, or the end of the window) wakes them at once.
//!
//! # 429
//!
//! A 429 pauses the whole account, both priorities: the bucket runs on its own clock, which
//! stands still while a pause lasts. Every reservation still waiting is pushed back by the pause,
//! nothing refills during it, the bucket restarts empty (so callers do not all rush in the moment
//! it ends), and a low observation is forgotten: the `Retry-After` said when to come back.
//!
//! # Mechanics
//!
//! All bookkeeping happens under one short synchronous lock that is never held across an await.
//! A waiting caller sleeps until the moment it computed it may go, and wakes earlier only when
//! something it waits for changed (the clock sped up, or a background caller's turn came), so
//! nothing spins.

use std::collections::VecDeque;
use std::pin::pin;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// The window Zendesk counts an account's requests in.
pub const RATE_WINDOW: Duration = Duration::from_secs(60);

/// Longest single sleep computed from a rate (guards `Instant` arithmetic against absurd rates).
const MAX_SLEEP: Duration = Duration::from_secs(24 * 60 * 60);

/// Slack for comparing token counts that went through floating-point refills.
const EPSILON: f64 = 1e-9;

/// Which class of work a request belongs to (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Priority {
    /// Work someone is waiting for: spec changes, new objects, Secret rotations, deletions.
    #[default]
    Urgent,
    /// Periodic checks: sent only when no urgent request waits, within `background_share`.
    Background,
}

impl Priority {
    /// `urgent` or `background`, for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Urgent => "urgent",
            Priority::Background => "background",
        }
    }
}

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
    /// Most of `requests_per_minute` that [`Priority::Background`] requests may use, above 0 and
    /// at most 1. Default 0.5.
    pub background_share: f64,
    /// Share of the server's `X-Rate-Limit` left to other apps on the account: when
    /// `X-Rate-Limit-Remaining` falls to it, this client slows down and background requests
    /// stop. From 0 (keep nothing back) to below 1. Default 0.1.
    pub reserve_share: f64,
}

impl Default for PacingConfig {
    fn default() -> Self {
        Self {
            requests_per_minute: 400,
            burst: 20,
            max_retry_after: Duration::from_secs(300),
            background_share: 0.5,
            reserve_share: 0.1,
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
        } else if !(self.background_share > 0.0 && self.background_share <= 1.0) {
            Some("background_share must be above 0 and at most 1")
        } else if !(self.reserve_share >= 0.0 && self.reserve_share < 1.0) {
            Some("reserve_share must be at least 0 and below 1")
        } else {
            None
        }
    }
}

/// The pacer of one ZIS account.
pub(crate) struct Pacer {
    /// Tokens added per second at full speed.
    rate: f64,
    /// Most tokens the bucket holds.
    capacity: f64,
    /// Tokens added per second to the background share bucket.
    background_rate: f64,
    reserve_share: f64,
    state: Mutex<State>,
    /// Woken when the bucket clock speeds up: a waiter's moment may have come earlier.
    sped_up: Notify,
    /// Woken when the first background caller changes.
    background_turn: Notify,
}

struct State {
    clock: Clock,
    /// May be negative: the tokens already promised to waiting urgent callers.
    tokens: f64,
    /// The background share bucket (at most one token).
    background_tokens: f64,
    /// Bucket-clock seconds of the last refill.
    refilled_at: f64,
    /// Real end of the latest pause.
    paused_until: Option<Instant>,
    /// While the server's remaining requests are low: when that observation lapses.
    low_until: Option<Instant>,
    /// Background callers in arrival order, by ticket.
    background: VecDeque<u64>,
    next_ticket: u64,
}

/// The bucket's own clock, in seconds: it stands still during a pause and runs slower while the
/// server's remaining requests are low.
#[derive(Clone, Copy)]
struct Clock {
    /// Real time from which the clock runs (in the future while a pause lasts).
    anchor_real: Instant,
    /// What the clock reads at `anchor_real`.
    anchor_bucket: f64,
    /// Bucket seconds per real second after `anchor_real` (above 0, at most 1).
    speed: f64,
}

impl Clock {
    fn bucket_at(&self, at: Instant) -> f64 {
        self.anchor_bucket
            + at.saturating_duration_since(self.anchor_real).as_secs_f64() * self.speed
    }

    /// The real time at which the clock reads `bucket` (if ever sooner than a day from the anchor).
    fn real_at(&self, bucket: f64) -> Instant {
        if bucket <= self.anchor_bucket {
            return self.anchor_real;
        }
        let secs = (bucket - self.anchor_bucket) / self.speed;
        let wait = Duration::try_from_secs_f64(secs).map_or(MAX_SLEEP, |d| d.min(MAX_SLEEP));
        self.anchor_real + wait
    }

    /// Runs at `speed` from `at` on (from the end of the pause, if one is in force).
    fn set_speed(&mut self, at: Instant, speed: f64) {
        if at > self.anchor_real {
            self.anchor_bucket = self.bucket_at(at);
            self.anchor_real = at;
        }
        self.speed = speed;
    }

    fn paused_at(&self, at: Instant) -> bool {
        at < self.anchor_real
    }
}

/// When a waiter wants to be woken: at a time, or only by a notification.
enum Wake {
    At(Instant),
    Notified,
}

impl Pacer {
    /// A full bucket. `config` must have passed [`PacingConfig::problem`].
    pub(crate) fn new(config: &PacingConfig) -> Self {
        let capacity = f64::from(config.burst.max(1));
        let rate = f64::from(config.requests_per_minute.max(1)) / 60.0;
        Self {
            rate,
            capacity,
            background_rate: rate * config.background_share.clamp(f64::MIN_POSITIVE, 1.0),
            reserve_share: config.reserve_share.clamp(0.0, 1.0),
            state: Mutex::new(State {
                clock: Clock {
                    anchor_real: Instant::now(),
                    anchor_bucket: 0.0,
                    speed: 1.0,
                },
                tokens: capacity,
                background_tokens: 1.0,
                refilled_at: 0.0,
                paused_until: None,
                low_until: None,
                background: VecDeque::new(),
                next_ticket: 0,
            }),
            sped_up: Notify::new(),
            background_turn: Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held, and the state is valid after any step anyway.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Most tokens the bucket holds now: the burst is off while remaining requests are low.
    fn cap(&self, state: &State) -> f64 {
        if state.low_until.is_some() {
            self.capacity.min(1.0)
        } else {
            self.capacity
        }
    }

    /// Adds what the bucket clock's progress up to `at` earned.
    fn refill(&self, state: &mut State, at: Instant) {
        let now = state.clock.bucket_at(at);
        let earned = (now - state.refilled_at).max(0.0);
        let cap = self.cap(state);
        state.tokens = (state.tokens + earned * self.rate).min(cap);
        state.background_tokens =
            (state.background_tokens + earned * self.background_rate).min(1.0);
        state.refilled_at = state.refilled_at.max(now);
    }

    /// Brings the state up to real time `now`: ends a lapsed low observation (at the moment it
    /// lapsed), then refills.
    fn advance(&self, state: &mut State, now: Instant) {
        if let Some(until) = state.low_until.filter(|until| *until <= now) {
            self.refill(state, until);
            state.clock.set_speed(until, 1.0);
            state.low_until = None;
        }
        self.refill(state, now);
    }

    /// Waits until this caller may send one request of `priority`, and takes the token for it.
    ///
    /// Cancel-safe: dropping the future before it completes gives back what it held (an urgent
    /// reservation's token, a background caller's place in line).
    pub(crate) async fn acquire(&self, priority: Priority) {
        match priority {
            Priority::Urgent => self.acquire_urgent().await,
            Priority::Background => self.acquire_background().await,
        }
    }

    async fn acquire_urgent(&self) {
        let due = {
            let mut state = self.state();
            let now = Instant::now();
            self.advance(&mut state, now);
            let now = state.clock.bucket_at(now);
            state.tokens -= 1.0;
            if state.tokens >= 0.0 {
                now
            } else {
                now + -state.tokens / self.rate
            }
        };
        let mut refund = Refund {
            pacer: self,
            armed: true,
        };
        loop {
            let mut sped_up = pin!(self.sped_up.notified());
            sped_up.as_mut().enable();
            let (target, lapse) = {
                let mut state = self.state();
                self.advance(&mut state, Instant::now());
                // Before the clock runs again (a pause), `real_at` gives the pause's end: a
                // reservation falling due just before a pause began still waits it out.
                (state.clock.real_at(due), state.low_until)
            };
            if target <= Instant::now() {
                refund.armed = false;
                return;
            }
            // The clock speeds up when a low observation lapses: look again then.
            let wake = lapse.map_or(target, |lapse| lapse.min(target));
            tokio::select! {
                () = tokio::time::sleep_until(wake) => {}
                () = sped_up => {}
            }
        }
    }

    async fn acquire_background(&self) {
        let ticket = {
            let mut state = self.state();
            let ticket = state.next_ticket;
            state.next_ticket += 1;
            state.background.push_back(ticket);
            ticket
        };
        let mut place = Place {
            pacer: self,
            ticket,
            armed: true,
        };
        loop {
            let mut sped_up = pin!(self.sped_up.notified());
            sped_up.as_mut().enable();
            let mut turn = pin!(self.background_turn.notified());
            turn.as_mut().enable();
            let wake = {
                let mut state = self.state();
                let now = Instant::now();
                self.advance(&mut state, now);
                if state.background.front() != Some(&ticket) {
                    Wake::Notified
                } else if let Some(lapse) = state.low_until {
                    Wake::At(lapse)
                } else {
                    let short = (self.capacity - state.tokens).max(0.0);
                    let share_short = (1.0 - state.background_tokens).max(0.0);
                    if short <= EPSILON && share_short <= EPSILON && !state.clock.paused_at(now) {
                        state.tokens -= 1.0;
                        state.background_tokens -= 1.0;
                        state.background.pop_front();
                        place.armed = false;
                        drop(state);
                        self.background_turn.notify_waiters();
                        return;
                    }
                    // When both buckets will be full if nothing else takes a token meanwhile;
                    // an urgent caller that does only makes this caller look again later.
                    let wait = (short / self.rate).max(share_short / self.background_rate);
                    let at = state.clock.bucket_at(now) + wait;
                    Wake::At(state.clock.real_at(at).max(now + Duration::from_nanos(1)))
                }
            };
            match wake {
                Wake::At(at) => tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = sped_up => {}
                    () = turn => {}
                },
                Wake::Notified => tokio::select! {
                    () = sped_up => {}
                    () = turn => {}
                },
            }
        }
    }

    /// Pauses every caller for `duration` from now (a 429's `Retry-After`). A pause never
    /// shortens one already in force.
    pub(crate) fn pause_for(&self, duration: Duration) {
        let now = Instant::now();
        let until = now + duration;
        let mut state = self.state();
        self.advance(&mut state, now);
        let current = state.clock.anchor_real.max(now);
        if until > current {
            // Freeze the clock from now (or from where a pause in force froze it) until `until`.
            if now > state.clock.anchor_real {
                state.clock.anchor_bucket = state.clock.bucket_at(now);
            }
            state.clock.anchor_real = until;
            state.paused_until = Some(until);
            // The server's window is full: start over empty, keeping the promised debt.
            state.tokens = state.tokens.min(0.0);
            state.background_tokens = state.background_tokens.min(0.0);
            // The pause says when to come back; an older word on the window no longer counts.
            if state.low_until.take().is_some() {
                state.clock.speed = 1.0;
                drop(state);
                self.sped_up.notify_waiters();
            }
        }
    }

    /// Takes note of what an answer said of the server's window: `X-Rate-Limit` and
    /// `X-Rate-Limit-Remaining` (see the module documentation for the rule).
    pub(crate) fn observe_remaining(&self, limit: u32, remaining: u32) {
        if limit == 0 {
            return;
        }
        let now = Instant::now();
        let reserve = (f64::from(limit) * self.reserve_share).ceil();
        let remaining = remaining.min(limit);
        let mut state = self.state();
        self.advance(&mut state, now);
        let before = if state.low_until.is_some() {
            state.clock.speed
        } else {
            1.0
        };
        let was_low = state.low_until.is_some();
        let after = if f64::from(remaining) > reserve {
            if !was_low {
                return;
            }
            state.low_until = None;
            1.0
        } else {
            let spread = f64::from(remaining.max(1)) / RATE_WINDOW.as_secs_f64();
            if !was_low {
                // The burst is off while low.
                state.tokens = state.tokens.min(1.0);
            }
            state.low_until = Some(now + RATE_WINDOW);
            (spread / self.rate).min(1.0)
        };
        state.clock.set_speed(now, after);
        drop(state);
        // Waiters look again when their moment may have come earlier: a faster clock, or the
        // end of a low observation (background callers wait for it).
        if after > before || (was_low && f64::from(remaining) > reserve) {
            self.sped_up.notify_waiters();
        }
    }

    /// The end of the latest pause, if any was ever asked for.
    pub(crate) fn paused_until(&self) -> Option<Instant> {
        self.state().paused_until
    }

    /// Whether the server's remaining requests were low at the latest answer (and that answer is
    /// younger than a window).
    pub(crate) fn remaining_is_low(&self) -> bool {
        self.state()
            .low_until
            .is_some_and(|until| until > Instant::now())
    }
}

/// Gives a reserved token back when its urgent caller stops waiting before sending.
struct Refund<'a> {
    pacer: &'a Pacer,
    armed: bool,
}

impl Drop for Refund<'_> {
    fn drop(&mut self) {
        if self.armed {
            let mut state = self.pacer.state();
            let cap = self.pacer.cap(&state);
            state.tokens = (state.tokens + 1.0).min(cap);
        }
    }
}

/// A background caller's place in line, given up when it stops waiting.
struct Place<'a> {
    pacer: &'a Pacer,
    ticket: u64,
    armed: bool,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if self.armed {
            let mut state = self.pacer.state();
            let was_first = state.background.front() == Some(&self.ticket);
            state.background.retain(|ticket| *ticket != self.ticket);
            drop(state);
            if was_first {
                self.pacer.background_turn.notify_waiters();
            }
        }
    }
}
#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn pacer(requests_per_minute: u32, burst: u32) -> Arc<Pacer> {
        shared_pacer(requests_per_minute, burst, 0.5)
    }

    fn shared_pacer(requests_per_minute: u32, burst: u32, background_share: f64) -> Arc<Pacer> {
        Arc::new(Pacer::new(&PacingConfig {
            requests_per_minute,
            burst,
            background_share,
            ..PacingConfig::default()
        }))
    }

    /// Takes a token of `priority` on its own task; resolves to when it got it.
    fn spawn_acquire(pacer: &Arc<Pacer>, priority: Priority) -> tokio::task::JoinHandle<Instant> {
        let pacer = pacer.clone();
        tokio::spawn(async move {
            pacer.acquire(priority).await;
            Instant::now()
        })
    }

    /// Takes tokens of `priority` one after another until `end`; the times it got them.
    fn spawn_loop(
        pacer: &Arc<Pacer>,
        priority: Priority,
        end: Instant,
    ) -> tokio::task::JoinHandle<Vec<Instant>> {
        let pacer = pacer.clone();
        tokio::spawn(async move {
            let mut granted = Vec::new();
            while let Ok(()) = tokio::time::timeout_at(end, pacer.acquire(priority)).await {
                granted.push(Instant::now());
            }
            granted
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_bucket_lets_a_burst_through_at_once() {
        let pacer = pacer(60, 5);
        let start = Instant::now();
        for _ in 0..5 {
            pacer.acquire(Priority::Urgent).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn requests_beyond_the_burst_are_spread_at_the_refill_rate() {
        // 120 a minute = one every 500 ms once the 2-token burst is spent.
        let pacer = pacer(120, 2);
        let start = Instant::now();
        for _ in 0..6 {
            pacer.acquire(Priority::Urgent).await;
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
                    pacer.acquire(Priority::Urgent).await;
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
        pacer.acquire(Priority::Urgent).await;
        assert!(start.elapsed() >= Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_reaches_callers_already_waiting_for_a_token() {
        // One token a second and an empty bucket: the second caller waits about a second, but a
        // 429 arriving meanwhile holds it for the whole pause.
        let pacer = pacer(60, 1);
        pacer.acquire(Priority::Urgent).await;
        let start = Instant::now();
        let waiter = {
            let pacer = pacer.clone();
            tokio::spawn(async move {
                pacer.acquire(Priority::Urgent).await;
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
        pacer.acquire(Priority::Urgent).await;
        pacer.acquire(Priority::Urgent).await;
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
        pacer.acquire(Priority::Urgent).await;
        // Wait a while for the next token, then give up.
        let gave_up =
            tokio::time::timeout(Duration::from_millis(500), pacer.acquire(Priority::Urgent)).await;
        assert!(gave_up.is_err());
        // The abandoned reservation does not push this caller back: one second after the first.
        let start = Instant::now();
        pacer.acquire(Priority::Urgent).await;
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
        for background_share in [0.0, -0.5, 1.5, f64::NAN] {
            config = PacingConfig {
                background_share,
                ..PacingConfig::default()
            };
            assert!(config.problem().is_some(), "{background_share}");
        }
        for reserve_share in [-0.1, 1.0, f64::NAN] {
            config = PacingConfig {
                reserve_share,
                ..PacingConfig::default()
            };
            assert!(config.problem().is_some(), "{reserve_share}");
        }
    }

    #[test]
    fn the_defaults_give_background_work_half_the_budget_and_keep_a_tenth_for_other_apps() {
        let config = PacingConfig::default();
        assert_eq!(config.problem(), None);
        assert_eq!(config.background_share, 0.5);
        assert_eq!(config.reserve_share, 0.1);
        assert_eq!(Priority::default(), Priority::Urgent);
    }

    #[tokio::test(start_paused = true)]
    async fn urgent_callers_overtake_background_callers_already_waiting() {
        // One token a second, and the bucket is empty: everyone waits.
        let pacer = pacer(60, 1);
        pacer.acquire(Priority::Urgent).await;
        let start = Instant::now();
        let background: Vec<_> = (0..3)
            .map(|_| spawn_acquire(&pacer, Priority::Background))
            .collect();
        tokio::time::sleep(Duration::from_millis(10)).await;
        let urgent: Vec<_> = (0..3)
            .map(|_| spawn_acquire(&pacer, Priority::Urgent))
            .collect();
        let mut urgent_at = Vec::new();
        for task in urgent {
            urgent_at.push(task.await.expect("task") - start);
        }
        let mut background_at = Vec::new();
        for task in background {
            background_at.push(task.await.expect("task") - start);
        }
        // The urgent ones take the next three tokens, in their order.
        assert_eq!(
            urgent_at,
            [1, 2, 3].map(Duration::from_secs).to_vec(),
            "{urgent_at:?}"
        );
        // Then the background ones, in theirs: each needs a full bucket (one second) and its
        // half share (one every two seconds).
        assert_eq!(
            background_at,
            [4, 6, 8].map(Duration::from_secs).to_vec(),
            "{background_at:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn background_callers_never_exceed_their_share() {
        // 600 a minute, a quarter for background: 150 a minute at most.
        let pacer = shared_pacer(600, 10, 0.25);
        let start = Instant::now();
        let end = start + Duration::from_secs(60);
        let loops: Vec<_> = (0..4)
            .map(|_| spawn_loop(&pacer, Priority::Background, end))
            .collect();
        let mut granted = Vec::new();
        for task in loops {
            granted.extend(task.await.expect("task"));
        }
        assert!(
            (149..=151).contains(&granted.len()),
            "{} background requests in a minute",
            granted.len()
        );
        granted.sort_unstable();
        for pair in granted.windows(2) {
            assert!(pair[1] - pair[0] >= Duration::from_millis(399), "{pair:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn background_callers_get_nothing_while_urgent_work_uses_the_whole_budget() {
        let pacer = shared_pacer(600, 10, 0.5);
        let end = Instant::now() + Duration::from_secs(30);
        let urgent = spawn_loop(&pacer, Priority::Urgent, end);
        let background = spawn_loop(&pacer, Priority::Background, end);
        let urgent = urgent.await.expect("task");
        let background = background.await.expect("task");
        assert!(background.is_empty(), "{} background", background.len());
        // The burst, then ten a second.
        assert!((309..=311).contains(&urgent.len()), "{}", urgent.len());
    }

    #[tokio::test(start_paused = true)]
    async fn background_takes_the_budget_urgent_work_leaves_within_its_share() {
        // Urgent work at a quarter of the budget leaves three quarters; background may use half.
        let pacer = shared_pacer(600, 10, 0.5);
        let start = Instant::now();
        let end = start + Duration::from_secs(60);
        let background = spawn_loop(&pacer, Priority::Background, end);
        let mut urgent_waits = Vec::new();
        let mut next = start;
        while next < end {
            tokio::time::sleep_until(next).await;
            let asked = Instant::now();
            pacer.acquire(Priority::Urgent).await;
            urgent_waits.push(asked.elapsed());
            next += Duration::from_millis(400);
        }
        let background = background.await.expect("task");
        assert!(
            (290..=301).contains(&background.len()),
            "{} background requests",
            background.len()
        );
        assert!(
            urgent_waits
                .iter()
                .all(|wait| *wait <= Duration::from_millis(100)),
            "{urgent_waits:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn urgent_requests_wait_at_most_one_token_behind_background_traffic() {
        // 100 ms a token, a burst of 5, background saturating its half.
        let pacer = shared_pacer(600, 5, 0.5);
        let start = Instant::now();
        let end = start + Duration::from_secs(20);
        let background = spawn_loop(&pacer, Priority::Background, end);
        // Bursts of four urgent requests at awkward moments: they all go at once, since the
        // bucket is never more than one token short.
        let mut at = start + Duration::from_millis(1_337);
        while at < end {
            tokio::time::sleep_until(at).await;
            let burst: Vec<_> = (0..4)
                .map(|_| spawn_acquire(&pacer, Priority::Urgent))
                .collect();
            for task in burst {
                let granted = task.await.expect("task");
                assert!(
                    granted - at <= Duration::from_millis(100),
                    "an urgent request waited {:?}",
                    granted - at
                );
            }
            at += Duration::from_millis(2_171);
        }
        assert!(!background.await.expect("task").is_empty());
    }

    /// When each urgent request of a fixed schedule of bursts got its token, with or without a
    /// background loop saturating its share meanwhile.
    async fn urgent_schedule(with_background: bool) -> Vec<Duration> {
        // 100 ms a token, a burst of 5.
        let pacer = shared_pacer(600, 5, 0.5);
        let start = Instant::now();
        let background = with_background.then(|| {
            spawn_loop(
                &pacer,
                Priority::Background,
                start + Duration::from_secs(10),
            )
        });
        let bursts = [
            (0, 5),
            (450, 4),
            (900, 3),
            (2_000, 6),
            (2_050, 2),
            (2_730, 1),
            (5_000, 5),
            (5_310, 5),
            (9_000, 4),
        ];
        let mut tasks = Vec::new();
        for (at, count) in bursts {
            tokio::time::sleep_until(start + Duration::from_millis(at)).await;
            tasks.extend((0..count).map(|_| spawn_acquire(&pacer, Priority::Urgent)));
        }
        let mut granted = Vec::new();
        for task in tasks {
            granted.push(task.await.expect("task") - start);
        }
        if let Some(background) = background {
            assert!(!background.await.expect("task").is_empty());
        }
        granted
    }

    #[tokio::test(start_paused = true)]
    async fn background_traffic_delays_urgent_requests_by_at_most_one_token() {
        let alone = urgent_schedule(false).await;
        let shared = urgent_schedule(true).await;
        for (i, (alone, shared)) in alone.iter().zip(&shared).enumerate() {
            assert!(
                *shared <= *alone + Duration::from_millis(100),
                "urgent request {i}: {shared:?} with background traffic, {alone:?} without"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_background_callers_too() {
        let pacer = pacer(6000, 10);
        let start = Instant::now();
        pacer.pause_for(Duration::from_secs(3));
        let urgent = spawn_acquire(&pacer, Priority::Urgent);
        let background = spawn_acquire(&pacer, Priority::Background);
        let urgent = urgent.await.expect("task") - start;
        let background = background.await.expect("task") - start;
        assert!(urgent >= Duration::from_secs(3), "{urgent:?}");
        // The bucket restarts empty, and background waits for it to be full again.
        assert!(background >= Duration::from_millis(3_100), "{background:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_background_caller_that_gives_up_leaves_the_line() {
        let pacer = pacer(60, 1);
        pacer.acquire(Priority::Urgent).await;
        let start = Instant::now();
        let gave_up = tokio::time::timeout(
            Duration::from_millis(500),
            pacer.acquire(Priority::Background),
        );
        let behind = spawn_acquire(&pacer, Priority::Background);
        assert!(gave_up.await.is_err());
        // The one behind goes when the bucket is full again, as the first would have.
        assert_eq!(behind.await.expect("task") - start, Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn low_remaining_spreads_urgent_requests_over_the_window() {
        // A budget of 100 a second, but the server says 5 of its 100 a minute remain: the
        // reserve (10) is reached, so the 5 are spread over a minute, one every 12 s.
        let pacer = pacer(6000, 10);
        pacer.observe_remaining(100, 5);
        assert!(pacer.remaining_is_low());
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..3 {
            pacer.acquire(Priority::Urgent).await;
            at.push(start.elapsed());
        }
        assert_eq!(at[0], Duration::ZERO, "the burst is off, one token is left");
        assert!(
            (Duration::from_millis(11_990)..Duration::from_millis(12_010)).contains(&at[1]),
            "{at:?}"
        );
        assert!(
            (Duration::from_millis(23_990)..Duration::from_millis(24_010)).contains(&at[2]),
            "{at:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn low_remaining_stops_background_requests_for_a_window() {
        let pacer = pacer(6000, 10);
        let start = Instant::now();
        pacer.observe_remaining(100, 10);
        pacer.acquire(Priority::Background).await;
        assert!(
            start.elapsed() >= RATE_WINDOW,
            "background went after {:?}",
            start.elapsed()
        );
        assert!(!pacer.remaining_is_low());
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_answer_with_room_lifts_the_slowdown_at_once() {
        let pacer = pacer(6000, 10);
        pacer.observe_remaining(100, 0);
        pacer.acquire(Priority::Urgent).await;
        let start = Instant::now();
        let urgent = spawn_acquire(&pacer, Priority::Urgent);
        let background = spawn_acquire(&pacer, Priority::Background);
        tokio::time::sleep(Duration::from_secs(1)).await;
        // Other apps stopped: a new answer shows room again.
        pacer.observe_remaining(100, 60);
        let urgent = urgent.await.expect("task") - start;
        let background = background.await.expect("task") - start;
        assert!(urgent < Duration::from_millis(1_100), "{urgent:?}");
        assert!(background < Duration::from_millis(1_200), "{background:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn remaining_above_the_reserve_changes_nothing() {
        let pacer = pacer(600, 10);
        pacer.observe_remaining(100, 11);
        assert!(!pacer.remaining_is_low());
        let start = Instant::now();
        for _ in 0..10 {
            pacer.acquire(Priority::Urgent).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_budget_slower_than_the_spread_is_not_slowed_further() {
        // 60 a minute, and 90 of 1000 remain (reserve 100): spreading 90 over a minute is
        // faster than the budget, so the budget's pace stays, but the burst is off.
        let pacer = pacer(60, 10);
        pacer.observe_remaining(1000, 90);
        assert!(pacer.remaining_is_low());
        let start = Instant::now();
        for _ in 0..3 {
            pacer.acquire(Priority::Urgent).await;
        }
        assert!(
            (Duration::from_millis(1_990)..Duration::from_millis(2_010)).contains(&start.elapsed()),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_forgets_a_low_observation() {
        let pacer = pacer(6000, 10);
        pacer.observe_remaining(100, 1);
        pacer.pause_for(Duration::from_secs(2));
        assert!(!pacer.remaining_is_low());
        let start = Instant::now();
        pacer.acquire(Priority::Urgent).await;
        pacer.acquire(Priority::Urgent).await;
        // The pause, then the budget's pace (10 ms a token), not one a minute.
        assert!(
            start.elapsed() < Duration::from_millis(2_100),
            "{:?}",
            start.elapsed()
        );
    }
}
