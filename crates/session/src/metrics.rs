//! Counters the engine keeps about itself, for the diagnostics page and `status --json`.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

/// How many recent refresh latencies the percentiles are computed over.
const LATENCY_WINDOW: usize = 256;

/// Live counters. Cheap to update from any task.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    refreshes: u64,
    refresh_failures: u64,
    latencies: VecDeque<Duration>,
    reconnects: u64,
    last_error_code: Option<String>,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MetricsSnapshot {
    /// Successful refreshes since start.
    pub refresh_count: u64,
    /// Failed refresh attempts since start.
    pub refresh_failures: u64,
    /// Median refresh round trip over the recent window, in milliseconds.
    pub refresh_latency_p50_ms: Option<u64>,
    /// 99th-percentile refresh round trip over the recent window, in milliseconds.
    pub refresh_latency_p99_ms: Option<u64>,
    /// Notification feed reconnects (counted by the feed).
    pub reconnects: u64,
    /// Code of the last error, if any.
    pub last_error_code: Option<String>,
}

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut Counters) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// A refresh succeeded after `latency`.
    pub fn refresh_succeeded(&self, latency: Duration) {
        self.with(|c| {
            c.refreshes += 1;
            if c.latencies.len() == LATENCY_WINDOW {
                c.latencies.pop_front();
            }
            c.latencies.push_back(latency);
        });
    }

    /// A refresh failed with `code`.
    pub fn refresh_failed(&self, code: &str) {
        self.with(|c| {
            c.refresh_failures += 1;
            c.last_error_code = Some(code.to_owned());
        });
    }

    /// Another operation failed with `code`.
    pub fn error(&self, code: &str) {
        self.with(|c| c.last_error_code = Some(code.to_owned()));
    }

    /// The notification feed reconnected.
    pub fn reconnected(&self) {
        self.with(|c| c.reconnects += 1);
    }

    /// The counters now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        self.with(|c| {
            let mut sorted: Vec<Duration> = c.latencies.iter().copied().collect();
            sorted.sort_unstable();
            MetricsSnapshot {
                refresh_count: c.refreshes,
                refresh_failures: c.refresh_failures,
                refresh_latency_p50_ms: percentile(&sorted, 50),
                refresh_latency_p99_ms: percentile(&sorted, 99),
                reconnects: c.reconnects,
                last_error_code: c.last_error_code.clone(),
            }
        })
    }
}

/// Nearest-rank percentile of sorted values, in milliseconds.
fn percentile(sorted: &[Duration], p: usize) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).clamp(1, sorted.len());
    sorted.get(rank - 1).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank_over_a_bounded_window() {
        let m = Metrics::default();
        for ms in 1..=100 {
            m.refresh_succeeded(Duration::from_millis(ms));
        }
        let s = m.snapshot();
        assert_eq!(s.refresh_latency_p50_ms, Some(50), "median of 1..=100 ms is 50 ms");
        assert_eq!(s.refresh_latency_p99_ms, Some(99), "p99 of 1..=100 ms is 99 ms");
        for _ in 0..1000 {
            m.refresh_succeeded(Duration::from_millis(7));
        }
        let s = m.snapshot();
        assert_eq!(s.refresh_latency_p99_ms, Some(7), "old latencies must leave the window");
        assert_eq!(s.refresh_count, 1100, "every success counts");
    }

    #[test]
    fn failures_keep_the_last_code() {
        let m = Metrics::default();
        assert_eq!(m.snapshot().refresh_latency_p50_ms, None, "no refresh, no latency");
        m.refresh_failed("network");
        m.refresh_failed("timeout");
        m.reconnected();
        let s = m.snapshot();
        assert_eq!((s.refresh_failures, s.reconnects), (2, 1), "failures and reconnects are counted");
        assert_eq!(s.last_error_code.as_deref(), Some("timeout"), "the last error code is kept");
        let json = serde_json::to_value(&s).unwrap_or_default();
        assert!(json.get("refresh_latency_p99_ms").is_some(), "snapshot serializes for --json: {json}");
    }
}
