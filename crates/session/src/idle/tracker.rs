//! The idle arithmetic, without I/O: given the clocks and a reading, how idle is the user, is a
//! warning or the sign-out due, should the server hear of activity, and when to look again.
//!
//! Two clocks: the monotonic one (tokio's `Instant`, which stands still during suspend on
//! Linux, as does the X server's idle counter) and the wall clock. What the wall clock gains
//! over the monotonic one between two looks is time the machine slept (or the system time was
//! moved forward, which is treated the same way: the safe side). That time is added to the idle
//! time as *credit* until the next input.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// Wall-clock gains smaller than this are drift and scheduling noise, not a suspend.
pub(crate) const JUMP_MIN: Duration = Duration::from_secs(2);

/// Two readings of "last input" closer than this are the same input (X reports milliseconds;
/// the blocking read takes a little time).
const SAME_INPUT: Duration = Duration::from_millis(500);

/// What one look decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Idle for the whole timeout: sign out now.
    SignOut,
    /// In the warning window. `announce`: the number of seconds changed since the last event.
    Warn { seconds_left: u64, announce: bool },
    /// Not idle enough. `cancelled`: a warning was running and input ended it.
    Fine { cancelled: bool },
}

/// The outcome of [`Tracker::evaluate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Evaluation {
    /// Effective idle time (monotonic idle plus suspend credit).
    pub(crate) idle: Duration,
    /// Set when the machine slept (or the clock jumped forward) since the last look: by how much.
    pub(crate) resumed: Option<Duration>,
    pub(crate) verdict: Verdict,
    /// Tell the server the user is active now.
    pub(crate) report_activity: bool,
    /// Look again after this long (`None` after a sign-out verdict).
    pub(crate) next: Option<Duration>,
}

/// Idle state of one signed-in session.
#[derive(Debug)]
pub(crate) struct Tracker {
    /// The timeout the app or config asked for.
    pub(crate) requested: Duration,
    /// The warning the app or config asked for.
    pub(crate) warning: Duration,
    /// The server's idle timeout, once known: the effective timeout never exceeds it.
    pub(crate) server: Option<Duration>,
    /// While the user is active, report to the server at most this often.
    pub(crate) report_interval: Duration,
    /// Last input the app's own window saw.
    last_app_input: Instant,
    /// Slept time since the input at `credit_anchor`.
    credit: Duration,
    credit_anchor: Option<Instant>,
    /// The clocks at the last look (or clock check).
    last_mono: Instant,
    last_wall: DateTime<Utc>,
    /// Effective idle when logind said the machine is about to sleep.
    idle_at_sleep: Option<Duration>,
    pub(crate) warning_active: bool,
    last_seconds_left: Option<u64>,
    /// When the server last heard of activity from us (or of the sign-in).
    last_report: Instant,
    /// Idle time at the last look, and when that was (for status).
    last_idle: Duration,
    last_look: Instant,
}

impl Tracker {
    pub(crate) fn new(
        requested: Duration,
        warning: Duration,
        report_interval: Duration,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Self {
        Self {
            requested,
            warning,
            server: None,
            report_interval,
            last_app_input: now,
            credit: Duration::ZERO,
            credit_anchor: None,
            last_mono: now,
            last_wall: wall,
            idle_at_sleep: None,
            warning_active: false,
            last_seconds_left: None,
            last_report: now,
            last_idle: Duration::ZERO,
            last_look: now,
        }
    }

    /// A new session starts: sign-in (or restore) counts as input and as reported activity.
    pub(crate) fn arm(&mut self, now: Instant, wall: DateTime<Utc>) {
        *self =
            Self { server: self.server, ..Self::new(self.requested, self.warning, self.report_interval, now, wall) };
    }

    /// The effective timeout: the requested one, never longer than the server's.
    pub(crate) fn timeout(&self) -> Duration {
        let timeout = self.server.map_or(self.requested, |server| self.requested.min(server));
        timeout.max(Duration::from_secs(1))
    }

    /// The effective warning: as asked when shorter than the timeout, else half the timeout
    /// (a warning as long as the timeout would start at the first idle second).
    pub(crate) fn warning(&self) -> Duration {
        let timeout = self.timeout();
        if self.warning < timeout { self.warning } else { timeout / 2 }
    }

    /// The app's window saw input.
    pub(crate) fn app_input(&mut self, now: Instant) {
        self.last_app_input = self.last_app_input.max(now);
    }

    /// logind: the machine is about to sleep; remember how idle the user is now.
    pub(crate) fn preparing_for_sleep(&mut self) {
        self.idle_at_sleep = Some(self.last_idle);
    }

    /// logind: the machine woke up. A wake without a measurable jump forgets the sleep note.
    pub(crate) fn forget_sleep(&mut self) {
        self.idle_at_sleep = None;
    }

    /// How far the wall clock ran ahead of the monotonic clock since the last look, without
    /// consuming it.
    pub(crate) fn pending_jump(&self, now: Instant, wall: DateTime<Utc>) -> Duration {
        let mono = now.saturating_duration_since(self.last_mono);
        let wall = (wall - self.last_wall).to_std().unwrap_or_default();
        wall.saturating_sub(mono)
    }

    /// A cheap clock comparison between looks: true when a full look is needed.
    pub(crate) fn clock_check(&mut self, now: Instant, wall: DateTime<Utc>) -> bool {
        if self.pending_jump(now, wall) >= JUMP_MIN {
            return true;
        }
        self.last_mono = now;
        self.last_wall = wall;
        false
    }

    /// One look. `system_idle`: the idle source's reading, `None` when there is none or it
    /// failed (then only the app's own input counts).
    pub(crate) fn evaluate(&mut self, now: Instant, wall: DateTime<Utc>, system_idle: Option<Duration>) -> Evaluation {
        let jump = self.pending_jump(now, wall);
        self.last_mono = now;
        self.last_wall = wall;

        let app_idle = now.saturating_duration_since(self.last_app_input);
        let mono_idle = system_idle.map_or(app_idle, |s| s.min(app_idle));
        let input_at = now.checked_sub(mono_idle);
        // Input after the moment the credit was counted from ends the credit.
        if let (Some(at), Some(anchor)) = (input_at, self.credit_anchor) {
            if at > anchor + SAME_INPUT {
                self.credit = Duration::ZERO;
                self.credit_anchor = None;
            }
        }
        let resumed = (jump >= JUMP_MIN).then_some(jump);
        if let Some(jump) = resumed {
            // Nobody typed while the machine slept. If input came right after the wake we only
            // know the sleep itself; logind's note says how idle the user was before it.
            let counted = mono_idle + self.credit + jump;
            let noted = self.idle_at_sleep.take().map_or(Duration::ZERO, |before| before + jump);
            self.credit = counted.max(noted) - mono_idle;
            self.credit_anchor = Some(input_at.unwrap_or(now));
        }
        let idle = mono_idle + self.credit;
        self.last_idle = idle;
        self.last_look = now;

        let timeout = self.timeout();
        let warning = self.warning();
        if idle >= timeout {
            self.warning_active = false;
            self.last_seconds_left = None;
            return Evaluation { idle, resumed, verdict: Verdict::SignOut, report_activity: false, next: None };
        }
        let left = timeout - idle;
        let (verdict, mut next) = if left <= warning {
            let seconds_left = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            let announce = self.last_seconds_left != Some(seconds_left);
            self.warning_active = true;
            self.last_seconds_left = Some(seconds_left);
            // Wake when the whole number of seconds left drops by one.
            let next = left.saturating_sub(Duration::from_secs(seconds_left.saturating_sub(1)));
            (Verdict::Warn { seconds_left, announce }, next)
        } else {
            let cancelled = std::mem::take(&mut self.warning_active);
            self.last_seconds_left = None;
            (Verdict::Fine { cancelled }, left - warning)
        };

        // Activity mirror: input the server has not heard of, at most once per interval.
        let unreported = self.credit.is_zero() && input_at.is_some_and(|at| at > self.last_report);
        let mut report_activity = false;
        if unreported {
            let allowed_at = self.last_report + self.report_interval;
            if now >= allowed_at {
                report_activity = true;
                self.last_report = now;
            } else {
                next = next.min(allowed_at - now);
            }
        }
        Evaluation { idle, resumed, verdict, report_activity, next: Some(next.max(Duration::from_millis(1))) }
    }

    /// Idle time now, from the last look plus the time since (the app's own input at once).
    pub(crate) fn idle_now(&self, now: Instant) -> Duration {
        if self.last_app_input > self.last_look {
            now.saturating_duration_since(self.last_app_input)
        } else {
            self.last_idle + now.saturating_duration_since(self.last_look)
        }
    }
}

#[cfg(test)]
#[path = "tracker_tests.rs"]
mod tests;
