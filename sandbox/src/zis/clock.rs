//! The clock that token lifetimes are measured on: real monotonic time plus an offset that the
//! admin API moves forward (`POST /_fake/clock`), so that a test sees a 30-minute access token or
//! a 30-day refresh token expire without waiting for it.
//!
//! Only token expiry reads this clock (access tokens, OAuth refresh tokens). The rate-limit
//! window, latency and timestamps of connections keep real time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The most the clock may be moved forward in total (ten years): far beyond any token lifetime,
/// and far from the overflow of `Instant` arithmetic.
pub const MAX_OFFSET: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Real time plus an offset that only grows (until a reset).
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicU64,
}

impl Clock {
    /// Now, as token lifetimes see it.
    pub fn now(&self) -> Instant {
        Instant::now() + self.offset()
    }

    /// How far the clock has been moved forward.
    pub fn offset(&self) -> Duration {
        Duration::from_millis(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Moves the clock forward by `by`; `None` (and no change) when the total would pass
    /// [`MAX_OFFSET`]. Returns the new offset.
    pub fn advance(&self, by: Duration) -> Option<Duration> {
        let by = u64::try_from(by.as_millis()).ok()?;
        let max = u64::try_from(MAX_OFFSET.as_millis()).unwrap_or(u64::MAX);
        self.offset_ms
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |current| {
                current.checked_add(by).filter(|total| *total <= max)
            })
            .ok()
            .map(|previous| Duration::from_millis(previous + by))
    }

    /// Back to real time.
    pub fn reset(&self) {
        self.offset_ms.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_now_forward_and_reset_brings_it_back() {
        let clock = Clock::default();
        let before = clock.now();
        assert_eq!(
            clock.advance(Duration::from_secs(3600)),
            Some(Duration::from_secs(3600))
        );
        assert!(clock.now() >= before + Duration::from_secs(3600));
        assert_eq!(
            clock.advance(Duration::from_secs(1)),
            Some(Duration::from_secs(3601))
        );
        clock.reset();
        assert_eq!(clock.offset(), Duration::ZERO);
    }

    #[test]
    fn the_clock_cannot_be_moved_beyond_ten_years() {
        let clock = Clock::default();
        assert_eq!(clock.advance(MAX_OFFSET + Duration::from_secs(1)), None);
        assert_eq!(clock.offset(), Duration::ZERO);
        assert_eq!(clock.advance(MAX_OFFSET), Some(MAX_OFFSET));
        assert_eq!(clock.advance(Duration::from_secs(1)), None);
    }
}
