//! Sign-out after system-wide inactivity, with a warning countdown, aware of suspend and lock.
//!
//! - [`IdleSource`]: how long since the user last touched keyboard or mouse *anywhere* on the
//!   desktop. [`SystemIdle::detect`] picks one: X11 (XScreenSaver, through `user-idle`, after an
//!   X handshake of our own because `user-idle` crashes without a reachable display), GNOME's
//!   Mutter idle monitor over D-Bus on Wayland, `user-idle` on Windows and macOS. `None` means
//!   "unknown": only the app's own window input counts.
//! - [`IdleWatch`]: follows the engine's events and, while signed in, sleeps until the earliest
//!   moment the timeout could fire (`timeout − warning − idle`), never on a fixed poll. In the
//!   warning window it emits [`SessionEvent::IdleWarning`](crate::SessionEvent::IdleWarning)
//!   once a second; input cancels it; at the deadline it signs out with
//!   [`SignOutReason::IdleTimeout`](crate::SignOutReason::IdleTimeout) (revoking the session).
//! - Activity mirror: while the user is active the watch tells the server
//!   (`POST /api/session/activity`) at most once per `activity_report_interval`, and never while
//!   idle, so the server's own idle timeout ends the session of a client that crashed.
//! - Suspend: tokio's clock (CLOCK_MONOTONIC) stands still during suspend, the wall clock does
//!   not. Time the wall clock gained over the monotonic clock counts as idle time. On Linux,
//!   logind's `PrepareForSleep` signals wake the watch at once; elsewhere the watch compares the
//!   clocks every `clock_check_interval`, and the app can call [`IdleWatch::check_now`] on resume.
//!   A wake after longer than the timeout signs out before anything else, then the refresh
//!   schedule re-checks.
//! - Lock: with `sign_out_on_lock`, logind's `Lock` signal for this session signs out
//!   ([`SignOutReason::ScreenLocked`](crate::SignOutReason::ScreenLocked)).
//!
//! ```no_run
//! # async fn demo(engine: tessera_session::SessionEngine) {
//! use tessera_session::idle::{IdleWatch, SystemIdle};
//! let watch = IdleWatch::spawn(engine.clone(), SystemIdle::detect());
//! watch.report_activity(); // from the app window's input events
//! println!("{}", serde_json::to_string(&watch.status()).unwrap_or_default());
//! # }
//! ```

#[cfg(target_os = "linux")]
mod mutter;
#[cfg(any(target_os = "windows", target_os = "macos"))]
mod platform;
mod source;
mod suspend;
mod tracker;
mod watch;
#[cfg(target_os = "linux")]
mod x11;

use serde::Serialize;

#[cfg(target_os = "linux")]
pub use mutter::MutterIdle;
#[cfg(any(target_os = "windows", target_os = "macos"))]
pub use platform::PlatformIdle;
pub use source::{IdleSource, SystemIdle};
pub use watch::IdleWatch;
#[cfg(target_os = "linux")]
pub use x11::X11Idle;

/// Why idle time could not be read, or a setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdleError {
    /// This source does not work here (no display, no session bus, no idle monitor).
    #[error("{source_name} idle time is unavailable: {reason}")]
    Unavailable {
        /// The source (`x11`, `mutter`, ...).
        source_name: &'static str,
        /// Why.
        reason: String,
    },
    /// The source answered with an error.
    #[error("{source_name} idle query failed: {reason}")]
    Query {
        /// The source.
        source_name: &'static str,
        /// The error.
        reason: String,
    },
    /// A timeout the idle-timeout rule ([`crate::config::check_idle_timeout`]) refuses.
    #[error("invalid idle timeout: {0}")]
    InvalidTimeout(String),
}

/// What the idle watch knows, for the UI and `--json` output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdleStatus {
    /// Where idle time comes from: `x11`, `mutter`, `windows`, `macos`, or `unknown` (the app's
    /// own window only).
    pub source: &'static str,
    /// True while signed in (the watch only runs then).
    pub armed: bool,
    /// Seconds without input, as of the watch's last look plus the time since (the app's own
    /// input counts at once).
    pub idle_for_secs: u64,
    /// Effective idle timeout in seconds (the setting, never longer than the server's).
    pub timeout_secs: u64,
    /// Seconds of warning before the sign-out.
    pub warning_secs: u64,
    /// True while the warning countdown runs.
    pub warning_active: bool,
    /// The server's idle timeout, once known (discovery `session_idle_timeout_secs`).
    pub server_timeout_secs: Option<u64>,
    /// True when logind's sleep signals are heard (else suspend is noticed by clock checks).
    pub logind: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{SessionEvent, WarningCode};

    #[test]
    fn idle_status_and_idle_events_json_is_pinned() {
        let status = IdleStatus {
            source: "x11",
            armed: true,
            idle_for_secs: 42,
            timeout_secs: 900,
            warning_secs: 60,
            warning_active: false,
            server_timeout_secs: Some(1800),
            logind: false,
        };
        assert_eq!(
            serde_json::to_string(&status).unwrap_or_default(),
            r#"{"source":"x11","armed":true,"idle_for_secs":42,"timeout_secs":900,"warning_secs":60,"warning_active":false,"server_timeout_secs":1800,"logind":false}"#,
            "the UI and `--json` read this exact shape"
        );
        let events = [
            SessionEvent::IdleWarning { seconds_left: 59 },
            SessionEvent::IdleWarningCancelled,
            SessionEvent::Warning { code: WarningCode::IdleTimeoutClamped, message: "m".into() },
        ];
        let json: Vec<String> = events.iter().map(|e| serde_json::to_string(e).unwrap_or_default()).collect();
        assert_eq!(
            json,
            [
                r#"{"type":"idle_warning","seconds_left":59}"#,
                r#"{"type":"idle_warning_cancelled"}"#,
                r#"{"type":"warning","code":"idle_timeout_clamped","message":"m"}"#,
            ],
            "the UI switches on these event shapes"
        );
    }
}
