//! Counters exported at `/metrics` in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Process-wide counters (monotonic since start).
#[derive(Debug, Default)]
#[allow(missing_docs)]
pub struct Metrics {
    pub sign_in_success: AtomicU64,
    pub sign_in_failure: AtomicU64,
    pub refreshes: AtomicU64,
    pub refresh_failures: AtomicU64,
    pub reuse_detections: AtomicU64,
    pub revocations: AtomicU64,
    pub rate_limited: AtomicU64,
}

/// Adds one.
pub fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Metrics {
    /// Renders the counters plus the `active_sessions` gauge.
    pub fn render(&self, active_sessions: i64) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        counter(
            "tessera_sign_ins_total",
            "Password sign-in attempts by result.",
            &[("{result=\"success\"}", get(&self.sign_in_success)), ("{result=\"failure\"}", get(&self.sign_in_failure))],
        );
        counter("tessera_refreshes_total", "Refresh grants served.", &[("", get(&self.refreshes))]);
        counter("tessera_refresh_failures_total", "Refresh grants refused.", &[("", get(&self.refresh_failures))]);
        counter(
            "tessera_refresh_reuse_total",
            "Replayed refresh tokens detected (session revoked).",
            &[("", get(&self.reuse_detections))],
        );
        counter("tessera_revocations_total", "Sessions revoked.", &[("", get(&self.revocations))]);
        counter("tessera_rate_limited_total", "Requests refused by rate limits.", &[("", get(&self.rate_limited))]);
        let _ = writeln!(
            out,
            "# HELP tessera_active_sessions Sessions open and inside their deadlines.\n# TYPE tessera_active_sessions gauge\ntessera_active_sessions {active_sessions}"
        );
        out
    }
}
