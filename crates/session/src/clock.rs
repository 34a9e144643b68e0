//! Wall-clock time, passed in so tests can move it.
//!
//! The engine measures *durations* with tokio's monotonic clock (which tests pause and advance)
//! and reads *dates* (token expiry, session deadlines) from a [`Clock`]. Nothing in the engine
//! calls `SystemTime::now()` or `Utc::now()` directly.

use std::fmt;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// A source of wall-clock time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current wall-clock time.
    fn now(&self) -> DateTime<Utc>;
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A test clock that follows tokio's (pausable) clock from a fixed start, plus explicit jumps.
///
/// With `tokio::time::pause()`, `tokio::time::advance(d)` moves this clock by `d` too, so timers
/// and dates stay consistent; [`jump`](Self::jump) moves only the wall clock, as a suspend or a
/// user changing the system time does.
pub struct ManualClock {
    start_wall: DateTime<Utc>,
    start_mono: tokio::time::Instant,
    jumped: Mutex<chrono::Duration>,
}

impl ManualClock {
    /// A clock reading `start` now and moving with tokio time from here on.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            start_wall: start,
            start_mono: tokio::time::Instant::now(),
            jumped: Mutex::new(chrono::Duration::zero()),
        }
    }

    /// Moves the wall clock by `by` (negative: backwards) without moving tokio time.
    pub fn jump(&self, by: chrono::Duration) {
        let mut jumped = self.jumped.lock().unwrap_or_else(|p| p.into_inner());
        *jumped += by;
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock").field("now", &self.now()).finish()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = chrono::Duration::from_std(self.start_mono.elapsed()).unwrap_or(chrono::Duration::MAX);
        let jumped = *self.jumped.lock().unwrap_or_else(|p| p.into_inner());
        self.start_wall + elapsed + jumped
    }
}

/// `a - b` as a std duration, zero when `a` is not after `b`.
pub(crate) fn until(a: DateTime<Utc>, b: DateTime<Utc>) -> std::time::Duration {
    (a - b).to_std().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn manual_clock_follows_tokio_time_and_jumps() {
        let start = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let clock = ManualClock::new(start);
        tokio::time::advance(std::time::Duration::from_secs(10)).await;
        assert_eq!(clock.now(), start + chrono::Duration::seconds(10), "wall time must follow paused tokio time");
        clock.jump(chrono::Duration::hours(1));
        assert_eq!(clock.now(), start + chrono::Duration::seconds(3610), "a jump moves only the wall clock");
    }

    #[test]
    fn until_never_goes_negative() {
        let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        assert_eq!(until(t, t + chrono::Duration::seconds(5)), std::time::Duration::ZERO, "past deadlines are due now");
        assert_eq!(
            until(t + chrono::Duration::seconds(5), t),
            std::time::Duration::from_secs(5),
            "future deadlines wait"
        );
    }
}
