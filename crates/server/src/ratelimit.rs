//! Token-bucket rate limits keyed by text (an IP, a username), on the injected clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::clock::Clock;

/// Above this many tracked keys, full buckets are forgotten.
const PRUNE_AT: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: i64,
}

/// Buckets of `per_min` tokens refilled continuously at `per_min` per minute.
#[derive(Debug)]
pub struct RateLimiter {
    clock: Arc<dyn Clock>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// A limiter on `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one token for `key` from a bucket of size `per_min`. `Err(secs)` says how long until
    /// a token is available. `per_min == 0` means no limit.
    pub fn check(&self, key: &str, per_min: u32) -> Result<(), u64> {
        if per_min == 0 {
            return Ok(());
        }
        let now = self.clock.now_ms();
        let capacity = f64::from(per_min);
        let per_ms = capacity / 60_000.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= PRUNE_AT {
            buckets.retain(|_, b| b.tokens + (now - b.at_ms) as f64 * per_ms < capacity);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket { tokens: capacity, at_ms: now });
        let elapsed = (now - bucket.at_ms).max(0) as f64;
        bucket.tokens = (bucket.tokens + elapsed * per_ms).min(capacity);
        bucket.at_ms = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait_ms = (1.0 - bucket.tokens) / per_ms;
            Err((wait_ms / 1000.0).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn allows_a_burst_then_refills() {
        let clock = Arc::new(ManualClock::starting_now());
        let limiter = RateLimiter::new(clock.clone());
        for i in 0..3 {
            assert!(limiter.check("ip", 3).is_ok(), "attempt {i} is inside the burst");
        }
        let wait = limiter.check("ip", 3).unwrap_err();
        assert_eq!(wait, 20, "one token per 20 s at 3/min");
        assert!(limiter.check("other", 3).is_ok(), "keys are independent");
        clock.advance(Duration::from_secs(20));
        assert!(limiter.check("ip", 3).is_ok(), "a token is back after 20 s");
        assert!(limiter.check("ip", 0).is_ok(), "0 means unlimited");
    }
}
