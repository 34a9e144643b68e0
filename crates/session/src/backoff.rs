//! Full-jitter exponential backoff ("Exponential Backoff And Jitter", AWS Architecture Blog):
//! the n-th retry waits a uniformly random time in `[0, min(cap, base · 2ⁿ)]`.
//!
//! Pure: the random source is passed in, so tests use a seeded RNG.

use std::time::Duration;

use rand::Rng;

/// Retry delays for transient failures: 0.5 s doubling up to a 60 s cap by default.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(500), Duration::from_secs(60))
    }
}

impl Backoff {
    /// Backoff starting at `base` and never waiting more than `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self { base, cap: cap.max(base), attempt: 0 }
    }

    /// The upper bound of the next delay (before jitter).
    pub fn ceiling(&self) -> Duration {
        // 2^attempt overflows u32 at 32; the cap is reached long before for any sane base.
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The delay before the next retry, and counts the attempt.
    pub fn next_delay(&mut self, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.gen_range(0..=nanos))
    }

    /// The delay before the next retry when the server asked for at least `retry_after`
    /// (HTTP `Retry-After`): never sooner than the server asked.
    pub fn next_delay_after(&mut self, rng: &mut impl Rng, retry_after: Option<Duration>) -> Duration {
        let delay = self.next_delay(rng);
        retry_after.map_or(delay, |at_least| delay.max(at_least))
    }

    /// How many delays were handed out since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Back to the first delay (after a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn ceilings_double_from_half_a_second_to_the_cap() {
        let mut backoff = Backoff::default();
        let mut rng = StdRng::seed_from_u64(7);
        let mut ceilings = Vec::new();
        for _ in 0..10 {
            ceilings.push(backoff.ceiling().as_millis());
            backoff.next_delay(&mut rng);
        }
        assert_eq!(
            ceilings,
            vec![500, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000],
            "full jitter ceilings must double from 0.5 s and stop at 60 s"
        );
    }

    #[test]
    fn delays_stay_within_the_ceiling_and_are_spread() {
        let mut rng = StdRng::seed_from_u64(42);
        let mut distinct = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let mut backoff = Backoff::default();
            for _ in 0..5 {
                backoff.next_delay(&mut rng);
            }
            let ceiling = backoff.ceiling();
            let delay = backoff.next_delay(&mut rng);
            assert!(delay <= ceiling, "a delay {delay:?} must never exceed its ceiling {ceiling:?}");
            distinct.insert(delay.as_millis());
        }
        assert!(distinct.len() > 100, "full jitter must spread retries, got {} distinct values", distinct.len());
    }

    #[test]
    fn seeded_rng_gives_reproducible_delays() {
        let run = || {
            let mut rng = StdRng::seed_from_u64(1);
            let mut backoff = Backoff::default();
            (0..6).map(|_| backoff.next_delay(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(run(), run(), "the same seed must give the same delays");
    }

    #[test]
    fn retry_after_is_a_floor_and_reset_starts_over() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut backoff = Backoff::default();
        let delay = backoff.next_delay_after(&mut rng, Some(Duration::from_secs(30)));
        assert!(delay >= Duration::from_secs(30), "Retry-After must be honoured, got {delay:?}");
        backoff.next_delay(&mut rng);
        assert_eq!(backoff.attempts(), 2, "each delay counts as an attempt");
        backoff.reset();
        assert_eq!(backoff.ceiling(), Duration::from_millis(500), "reset must start from the base again");
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow() {
        let mut rng = StdRng::seed_from_u64(9);
        let mut backoff = Backoff::default();
        for _ in 0..100 {
            backoff.next_delay(&mut rng);
        }
        assert_eq!(backoff.ceiling(), Duration::from_secs(60), "the cap must hold after many attempts");
    }
}
