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
    pub notifications_published: AtomicU64,
    pub ws_opened: AtomicU64,
    pub ws_closed: AtomicU64,
    pub ws_notifications_sent: AtomicU64,
    pub webhook_delivered: AtomicU64,
    pub webhook_retried: AtomicU64,
    pub webhook_failed: AtomicU64,
    /// Deliveries not attempted: the target is not a public address.
    pub webhook_refused: AtomicU64,
    // --- abuse limits (issue 12); the first three are gauges ---
    pub password_hashes_running: AtomicU64,
    pub password_hashes_running_max: AtomicU64,
    pub password_hashes_queued: AtomicU64,
    pub password_hash_busy: AtomicU64,
    pub ws_refused_session: AtomicU64,
    pub ws_refused_user: AtomicU64,
    pub ws_refused_server: AtomicU64,
    pub ws_send_timeouts: AtomicU64,
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
            &[
                ("{result=\"success\"}", get(&self.sign_in_success)),
                ("{result=\"failure\"}", get(&self.sign_in_failure)),
            ],
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
        counter(
            "tessera_notifications_published_total",
            "Notifications appended to outboxes.",
            &[("", get(&self.notifications_published))],
        );
        counter("tessera_ws_connections_total", "WebSocket streams opened.", &[("", get(&self.ws_opened))]);
        counter(
            "tessera_ws_notifications_sent_total",
            "Notifications sent on WebSocket streams (replayed or live).",
            &[("", get(&self.ws_notifications_sent))],
        );
        counter(
            "tessera_webhook_attempts_total",
            "Webhook delivery attempts by outcome.",
            &[
                ("{outcome=\"delivered\"}", get(&self.webhook_delivered)),
                ("{outcome=\"retrying\"}", get(&self.webhook_retried)),
                ("{outcome=\"failed\"}", get(&self.webhook_failed)),
            ],
        );
        counter(
            "tessera_webhook_refused_total",
            "Webhook deliveries not attempted because the target is not a public address.",
            &[("", get(&self.webhook_refused))],
        );
        let open = get(&self.ws_opened).saturating_sub(get(&self.ws_closed));
        let _ = writeln!(
            out,
            "# HELP tessera_ws_connections_open WebSocket streams open now.\n# TYPE tessera_ws_connections_open gauge\ntessera_ws_connections_open {open}"
        );
        let _ = writeln!(
            out,
            "# HELP tessera_active_sessions Sessions open and inside their deadlines.\n# TYPE tessera_active_sessions gauge\ntessera_active_sessions {active_sessions}"
        );
        self.render_limits(&mut out);
        out
    }

    /// The abuse-limit gauges and counters (issue 12).
    fn render_limits(&self, out: &mut String) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let gauge = "gauge";
        metric(
            "tessera_password_hashes_running",
            gauge,
            "Password hashes computing now.",
            &[("", get(&self.password_hashes_running))],
        );
        metric(
            "tessera_password_hashes_running_max",
            gauge,
            "Most password hashes computing at once since start.",
            &[("", get(&self.password_hashes_running_max))],
        );
        metric(
            "tessera_password_hashes_queued",
            gauge,
            "Sign-ins waiting for a password-hash slot now.",
            &[("", get(&self.password_hashes_queued))],
        );
        metric(
            "tessera_password_hash_busy_total",
            "counter",
            "Sign-ins refused with 503 server_busy because the hash queue was full.",
            &[("", get(&self.password_hash_busy))],
        );
        metric(
            "tessera_ws_refused_total",
            "counter",
            "WebSocket upgrades refused by a connection cap.",
            &[
                ("{cap=\"session\"}", get(&self.ws_refused_session)),
                ("{cap=\"user\"}", get(&self.ws_refused_user)),
                ("{cap=\"server\"}", get(&self.ws_refused_server)),
            ],
        );
        metric(
            "tessera_ws_send_timeouts_total",
            "counter",
            "WebSocket streams closed because the client stopped reading.",
            &[("", get(&self.ws_send_timeouts))],
        );
    }
}
