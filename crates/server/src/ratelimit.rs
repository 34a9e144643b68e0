//! Token-bucket rate limits on the injected clock: one [`Limit`] (and one map) per limit.
//!
//! A bucket holds `per_min` tokens and refills at `per_min` per minute, so a bucket untouched for a
//! minute is full again — the same as no bucket. Each map is therefore kept in two generations
//! that swap every minute: a key is looked up in the current one, then the previous one (and
//! moved forward), and a whole generation is dropped when it is a minute old. Forgetting is O(1)
//! under the lock (a swap), never a scan of the map, and loses nothing. A map that reaches
//! [`MAX_KEYS`] keys in one minute swaps early (a flood of distinct keys may then reset some
//! buckets less than a minute old; it cannot grow memory without bound).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::clock::Clock;
use crate::config::Config;

/// Keys one generation of a limit's map holds before it is swapped out early.
pub const MAX_KEYS: usize = 50_000;
/// A full refill: after this long an untouched bucket is full.
const WINDOW_MS: i64 = 60_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: i64,
}

#[derive(Debug, Default)]
struct Generations {
    current: HashMap<String, Bucket>,
    previous: HashMap<String, Bucket>,
    swapped_at_ms: i64,
}

/// One rate limit: buckets of `per_min` tokens by key.
#[derive(Debug)]
pub struct Limit {
    per_min: u32,
    clock: Arc<dyn Clock>,
    maps: Mutex<Generations>,
}

impl Limit {
    /// A limit of `per_min` per key (0 = no limit) on `clock`.
    pub fn new(per_min: u32, clock: Arc<dyn Clock>) -> Self {
        let swapped_at_ms = clock.now_ms();
        Self { per_min, clock, maps: Mutex::new(Generations { swapped_at_ms, ..Default::default() }) }
    }

    /// Takes one token for `key`. `Err(secs)` says how long until a token is available.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        if self.per_min == 0 {
            return Ok(());
        }
        let now = self.clock.now_ms();
        let capacity = f64::from(self.per_min);
        let per_ms = capacity / WINDOW_MS as f64;
        let mut maps = self.maps.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Dropped after the lock is released: freeing a big map is not done under the mutex.
        let mut stale = None;
        let age = now - maps.swapped_at_ms;
        if age >= 2 * WINDOW_MS {
            stale = Some((std::mem::take(&mut maps.current), std::mem::take(&mut maps.previous)));
            maps.swapped_at_ms = now;
        } else if age >= WINDOW_MS || maps.current.len() >= MAX_KEYS {
            let current = std::mem::take(&mut maps.current);
            stale = Some((std::mem::replace(&mut maps.previous, current), HashMap::new()));
            maps.swapped_at_ms = now;
        }
        let carried = if maps.current.contains_key(key) { None } else { maps.previous.remove(key) };
        let fresh = Bucket { tokens: capacity, at_ms: now };
        let bucket = maps.current.entry(key.to_owned()).or_insert(carried.unwrap_or(fresh));
        let elapsed = (now - bucket.at_ms).max(0) as f64;
        bucket.tokens = (bucket.tokens + elapsed * per_ms).min(capacity);
        bucket.at_ms = now;
        let verdict = if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait_ms = (1.0 - bucket.tokens) / per_ms;
            Err((wait_ms / 1000.0).ceil().max(1.0) as u64)
        };
        drop(maps);
        drop(stale);
        verdict
    }

    /// Keys tracked now (both generations), for tests and diagnostics.
    pub fn tracked(&self) -> usize {
        let maps = self.maps.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        maps.current.len() + maps.previous.len()
    }
}

/// Every rate limit of the server, each with its own map.
#[derive(Debug)]
pub struct RateLimiter {
    /// Password sign-ins per client address (IPv4, or IPv6 /64).
    pub login_ip: Limit,
    /// Password sign-ins per user name (lower case).
    pub login_user: Limit,
    /// Refresh grants per client address.
    pub refresh_ip: Limit,
    /// Authenticated writes per session.
    pub session_writes: Limit,
}

impl RateLimiter {
    /// The limits `config` sets, on `clock`.
    pub fn new(config: &Config, clock: Arc<dyn Clock>) -> Self {
        Self {
            login_ip: Limit::new(config.login_per_ip_per_min, clock.clone()),
            login_user: Limit::new(config.login_per_user_per_min, clock.clone()),
            refresh_ip: Limit::new(config.refresh_per_ip_per_min, clock.clone()),
            session_writes: Limit::new(config.session_writes_per_min, clock),
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
        let limit = Limit::new(3, clock.clone());
        for i in 0..3 {
            assert!(limit.check("ip").is_ok(), "attempt {i} is inside the burst");
        }
        let wait = limit.check("ip").unwrap_err();
        assert_eq!(wait, 20, "one token per 20 s at 3/min");
        assert!(limit.check("other").is_ok(), "keys are independent");
        clock.advance(Duration::from_secs(20));
        assert!(limit.check("ip").is_ok(), "a token is back after 20 s");
        assert!(Limit::new(0, clock).check("ip").is_ok(), "0 means unlimited");
    }

    #[test]
    fn old_buckets_are_forgotten_by_age_without_losing_a_limit() {
        let clock = Arc::new(ManualClock::starting_now());
        let limit = Limit::new(3, clock.clone());
        for key in ["a", "a", "a", "b", "c"] {
            limit.check(key).unwrap();
        }
        assert!(limit.check("a").is_err(), "a's burst is spent");
        clock.advance(Duration::from_secs(50));
        assert!(limit.check("a").is_ok(), "2.5 tokens back after 50 s (3/min); 1.5 left");
        // At 61 s the generations swap; "a" is carried forward: 1.5 + 0.55 = 2.05 tokens.
        clock.advance(Duration::from_secs(11));
        assert!(limit.check("a").is_ok() && limit.check("a").is_ok(), "two tokens carried over");
        assert!(limit.check("a").is_err(), "not three: the bucket was carried over, not reset to full");
        // Two minutes without "b" and "c": they are gone, with the generation that held them.
        clock.advance(Duration::from_secs(121));
        limit.check("a").unwrap();
        assert_eq!(limit.tracked(), 1, "untouched keys are dropped by age, only a remains");
    }

    #[test]
    fn a_flood_of_keys_cannot_grow_the_map_without_bound() {
        let clock = Arc::new(ManualClock::starting_now());
        let limit = Limit::new(5, clock);
        for i in 0..(3 * MAX_KEYS) {
            limit.check(&format!("k{i}")).unwrap();
        }
        assert!(limit.tracked() <= 2 * MAX_KEYS, "two generations at most: {}", limit.tracked());
    }
}
