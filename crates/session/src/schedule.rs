//! [`RefreshScheduler`]: refreshes the access token shortly before it expires, with one sleep.
//!
//! The task sleeps once until the earliest of: the refresh moment (`expiry − lead − jitter`, never
//! before half the token's lifetime), the start of the `Expiring` warning, and the session's
//! absolute end. A new token (through a `watch` channel) re-arms it. Nothing polls.
//!
//! Sleeps run on tokio's monotonic clock; every deadline is a wall-clock date from the injected
//! [`Clock`], recomputed on each wake. So a wall-clock jump is handled the moment the task wakes,
//! and [`RefreshScheduler::recheck`] (which the app calls on resume from suspend, where the
//! monotonic clock may have stood still) makes it wake and recompute at once.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::backoff::Backoff;
use crate::clock::{Clock, until};

/// The dates of the current token that the schedule depends on (local clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenTimes {
    /// When the access token arrived.
    pub issued_at: DateTime<Utc>,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// The session's absolute end.
    pub session_expires_at: DateTime<Utc>,
}

/// What the engine publishes for the scheduler: a new `generation` for every new token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScheduleInput {
    /// Changes whenever the token (or the session) changes.
    pub generation: u64,
    /// `None` when signed out: nothing to schedule.
    pub times: Option<TokenTimes>,
}

/// When to refresh and warn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SchedulePolicy {
    /// Refresh this long before expiry.
    pub lead: Duration,
    /// Random extra lead, as a fraction of the token lifetime ...
    pub jitter_ratio: f64,
    /// ... capped at this.
    pub max_jitter: Duration,
    /// Warn (state `Expiring`) this long before the session's absolute end.
    pub expiring_warning: Duration,
}

impl SchedulePolicy {
    /// The refresh moment for a token, with `jitter_unit` in `[0, 1)` scaling the random extra
    /// lead. Never earlier than half the token's lifetime, so a token shorter than the lead is
    /// not refreshed in a tight loop.
    pub fn refresh_at(&self, times: &TokenTimes, jitter_unit: f64) -> DateTime<Utc> {
        let lifetime = (times.expires_at - times.issued_at).max(chrono::Duration::zero());
        let lifetime_std = lifetime.to_std().unwrap_or_default();
        let jitter = lifetime_std
            .mul_f64(self.jitter_ratio.clamp(0.0, 1.0))
            .min(self.max_jitter)
            .mul_f64(jitter_unit.clamp(0.0, 1.0));
        let lead = chrono::Duration::from_std(self.lead + jitter).unwrap_or(chrono::Duration::MAX);
        let by_lead = times.expires_at.checked_sub_signed(lead).unwrap_or(times.issued_at);
        by_lead.max(times.issued_at + lifetime / 2)
    }

    /// When the `Expiring` warning starts.
    pub fn expiring_at(&self, times: &TokenTimes) -> DateTime<Utc> {
        let warning = chrono::Duration::from_std(self.expiring_warning).unwrap_or(chrono::Duration::MAX);
        times.session_expires_at.checked_sub_signed(warning).unwrap_or(times.issued_at)
    }
}

/// How a scheduled refresh went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// A new token was installed (a new generation follows on the watch channel).
    Refreshed,
    /// A transient failure: try again after backoff, and not before `retry_after`.
    Retry {
        /// The server's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// The session is over; nothing more to do until a new one.
    Ended,
}

/// What the scheduler drives (the engine; a fake in tests).
#[async_trait::async_trait]
pub trait ScheduleTarget: Send + Sync + 'static {
    /// Refresh now.
    async fn refresh(&self) -> RefreshOutcome;
    /// A warning or end date passed: update the state (`Expiring`, or signed out at the end).
    async fn reassess(&self);
}

/// The running schedule. Dropping it stops the task.
#[derive(Debug)]
pub struct RefreshScheduler {
    task: JoinHandle<()>,
    recheck: Arc<Notify>,
}

impl RefreshScheduler {
    /// Starts the schedule for `target`, fed by `input`.
    pub fn spawn<T: ScheduleTarget>(
        target: T,
        input: watch::Receiver<ScheduleInput>,
        policy: SchedulePolicy,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self::spawn_with_rng(target, input, policy, clock, StdRng::from_entropy())
    }

    /// As [`spawn`](Self::spawn), with a given random source (tests: a seeded one).
    pub fn spawn_with_rng<T: ScheduleTarget>(
        target: T,
        input: watch::Receiver<ScheduleInput>,
        policy: SchedulePolicy,
        clock: Arc<dyn Clock>,
        rng: StdRng,
    ) -> Self {
        let recheck = Arc::new(Notify::new());
        let task = tokio::spawn(run(target, input, policy, clock, rng, recheck.clone()));
        Self { task, recheck }
    }

    /// Wake now and recompute every deadline from the wall clock (call on resume from suspend,
    /// on network-up, or when the system clock was changed).
    pub fn recheck(&self) {
        self.recheck.notify_one();
    }

    /// True while the task runs.
    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }
}

impl Drop for RefreshScheduler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A wall-clock jump larger than this (between a sleep's monotonic and wall durations) is logged.
const JUMP_NOTICE: Duration = Duration::from_secs(2);

enum Wake {
    Refresh,
    Reassess,
}

async fn run<T: ScheduleTarget>(
    target: T,
    mut input: watch::Receiver<ScheduleInput>,
    policy: SchedulePolicy,
    clock: Arc<dyn Clock>,
    mut rng: StdRng,
    recheck: Arc<Notify>,
) {
    let mut generation = None;
    let mut jitter_unit = 0.0;
    let mut retry_at: Option<DateTime<Utc>> = None;
    let mut backoff = Backoff::default();
    let mut warned_for: Option<DateTime<Utc>> = None;
    loop {
        let current = *input.borrow_and_update();
        if generation != Some(current.generation) {
            generation = Some(current.generation);
            jitter_unit = rng.r#gen::<f64>();
            retry_at = None;
        }
        let now = clock.now();
        let next = current.times.map(|times| {
            let refresh = (retry_at.unwrap_or_else(|| policy.refresh_at(&times, jitter_unit)), Wake::Refresh);
            let reassess_at = if warned_for == Some(times.session_expires_at) {
                times.session_expires_at
            } else {
                policy.expiring_at(&times)
            };
            if reassess_at < refresh.0 { (reassess_at, Wake::Reassess) } else { refresh }
        });
        match next {
            Some((at, wake)) if at <= now => match wake {
                Wake::Refresh => match target.refresh().await {
                    RefreshOutcome::Refreshed if input.borrow().generation != current.generation => backoff.reset(),
                    // "Refreshed" without a new token would otherwise spin: back off instead.
                    RefreshOutcome::Refreshed | RefreshOutcome::Retry { retry_after: None } => {
                        retry_at = Some(clock.now() + chrono_of(backoff.next_delay(&mut rng)));
                    }
                    RefreshOutcome::Retry { retry_after } => {
                        retry_at = Some(clock.now() + chrono_of(backoff.next_delay_after(&mut rng, retry_after)));
                    }
                    RefreshOutcome::Ended => {
                        retry_at = None;
                        // Nothing to do until the engine publishes a new session.
                        let unchanged = input.borrow().generation == current.generation;
                        if unchanged && input.changed().await.is_err() {
                            return;
                        }
                    }
                },
                Wake::Reassess => {
                    if let Some(times) = current.times {
                        warned_for = Some(times.session_expires_at);
                    }
                    target.reassess().await;
                    if input.borrow().generation == current.generation
                        && current.times.is_some_and(|t| t.session_expires_at <= clock.now())
                    {
                        // The target did not end the session at its end: wait for news, do not spin.
                        if input.changed().await.is_err() {
                            return;
                        }
                    }
                }
            },
            next => {
                let armed_wall = now;
                let armed_mono = tokio::time::Instant::now();
                let sleep = async {
                    match next {
                        Some((at, _)) => tokio::time::sleep(until(at, now)).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    () = sleep => {
                        let wall = (clock.now() - armed_wall).num_milliseconds();
                        let mono = i64::try_from(armed_mono.elapsed().as_millis()).unwrap_or(i64::MAX);
                        if (wall - mono).unsigned_abs() > JUMP_NOTICE.as_millis() as u64 {
                            tracing::info!(jump_ms = wall - mono, "wall clock jumped while sleeping; re-checking the schedule");
                        }
                    }
                    changed = input.changed() => if changed.is_err() { return },
                    () = recheck.notified() => {}
                }
            }
        }
    }
}

fn chrono_of(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
