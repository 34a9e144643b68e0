//! [`IdleWatch`]: the task that turns idle time into warnings and the idle sign-out.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::suspend::{self, SystemSignal};
use super::tracker::{JUMP_MIN, Tracker, Verdict};
use super::{IdleError, IdleSource, IdleStatus};
use crate::config::check_idle_timeout;
use crate::engine::SessionEngine;
use crate::state::{SessionEvent, SignOutReason, WarningCode};

/// A reading that takes longer than this counts as a failed one (an X server that hangs).
const SOURCE_TIME_LIMIT: Duration = Duration::from_secs(5);

/// Signs the user out after the idle timeout; see the [module docs](super). Dropping it stops
/// the watch.
pub struct IdleWatch {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for IdleWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdleWatch").field("status", &self.status()).finish()
    }
}

struct Shared {
    engine: SessionEngine,
    source: Option<Arc<dyn IdleSource>>,
    tracker: Mutex<Tracker>,
    /// One look at a time (the task's and [`IdleWatch::check_now`]'s).
    looking: tokio::sync::Mutex<()>,
    wake: Notify,
    armed: AtomicBool,
    sign_out_on_lock: AtomicBool,
    /// logind's sleep signals arrive: no clock checks needed.
    logind: AtomicBool,
    source_failing: AtomicBool,
    reporting: Arc<AtomicBool>,
}

impl IdleWatch {
    /// Starts watching. `source: None` → idle "unknown": judged from [`report_activity`]
    /// calls of the app's window only; a `Warning{IdleUnknown}` says so once.
    ///
    /// On Linux it also listens to logind on the system bus (sleep, and screen lock for
    /// `sign_out_on_lock`); without one it compares clocks every `clock_check_interval`.
    /// Call it inside a Tokio runtime (it spawns a task); the other methods work from any thread.
    ///
    /// [`report_activity`]: Self::report_activity
    pub fn spawn(engine: SessionEngine, source: Option<Arc<dyn IdleSource>>) -> IdleWatch {
        Self::spawn_with_logind_bus(engine, source, None)
    }

    /// As [`spawn`](Self::spawn), with logind looked for on the bus at `address` instead of
    /// the system bus (tests run a private bus with a stand-in logind).
    pub fn spawn_with_logind_bus(
        engine: SessionEngine,
        source: Option<Arc<dyn IdleSource>>,
        address: Option<String>,
    ) -> IdleWatch {
        let config = engine.config();
        let tracker = Tracker::new(
            config.idle_timeout,
            config.idle_warning,
            config.activity_report_interval,
            Instant::now(),
            engine.now(),
        );
        let shared = Arc::new(Shared {
            sign_out_on_lock: AtomicBool::new(config.sign_out_on_lock),
            engine: engine.clone(),
            source,
            tracker: Mutex::new(tracker),
            looking: tokio::sync::Mutex::new(()),
            wake: Notify::new(),
            armed: AtomicBool::new(false),
            logind: AtomicBool::new(false),
            source_failing: AtomicBool::new(false),
            reporting: Arc::new(AtomicBool::new(false)),
        });
        let (tx, rx) = mpsc::channel(8);
        suspend::listen(address, tx);
        let events = engine.subscribe();
        let task = tokio::spawn(run(shared.clone(), events, rx));
        IdleWatch { shared, task }
    }

    /// The app's window saw input (key, pointer, focus). Cheap: call it on every event. Cancels
    /// a running warning.
    pub fn report_activity(&self) {
        let warning = {
            let mut tracker = self.shared.tracker();
            tracker.app_input(Instant::now());
            tracker.warning_active
        };
        if warning {
            self.shared.wake.notify_one();
        }
    }

    /// What the watch knows now.
    pub fn status(&self) -> IdleStatus {
        let tracker = self.shared.tracker();
        let armed = self.shared.armed.load(Ordering::Relaxed);
        IdleStatus {
            source: self.shared.source.as_ref().map_or("unknown", |s| s.name()),
            armed,
            idle_for_secs: if armed { tracker.idle_now(Instant::now()).as_secs() } else { 0 },
            timeout_secs: tracker.timeout().as_secs(),
            warning_secs: tracker.warning().as_secs(),
            warning_active: tracker.warning_active,
            server_timeout_secs: tracker.server.map(|s| s.as_secs()),
            logind: self.shared.logind.load(Ordering::Relaxed),
        }
    }

    /// Sets the idle timeout; returns the effective one (never longer than the server's idle
    /// timeout, once known). Takes effect at once.
    pub fn set_timeout(&self, timeout: Duration) -> Result<Duration, IdleError> {
        check_idle_timeout(timeout, None).map_err(|refused| IdleError::InvalidTimeout(refused.0))?;
        let effective = {
            let mut tracker = self.shared.tracker();
            tracker.requested = timeout;
            tracker.timeout()
        };
        self.shared.wake.notify_one();
        Ok(effective)
    }

    /// Sign out when the screen locks (logind `Lock` for this session), or not.
    pub fn set_sign_out_on_lock(&self, on: bool) {
        self.shared.sign_out_on_lock.store(on, Ordering::Relaxed);
    }

    /// Looks now: call on resume from suspend (and, cheaply, when the window regains focus).
    /// A suspend longer than the idle timeout signs out here, before anything else; after any
    /// resume the refresh schedule re-checks.
    pub async fn check_now(&self) {
        if let Some(next) = self.shared.look().await {
            tracing::debug!(?next, "checked");
        }
        self.shared.wake.notify_one();
    }
}

impl Drop for IdleWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Shared {
    fn tracker(&self) -> MutexGuard<'_, Tracker> {
        // Updates are a few assignments: a panic cannot leave the tracker half-updated.
        self.tracker.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new session: reset the idle state, learn the server's idle timeout.
    async fn arm(&self) {
        let server = match self.engine.client().server_idle_timeout().await {
            Ok(timeout) => timeout,
            Err(e) => {
                tracing::info!(code = e.code(), "server idle timeout unknown for now");
                None
            }
        };
        let clamped = {
            let mut tracker = self.tracker();
            tracker.arm(Instant::now(), self.engine.now());
            if server.is_some() {
                tracker.server = server;
            }
            server.filter(|s| tracker.requested > *s)
        };
        if let Some(server) = clamped {
            self.engine.warn(
                WarningCode::IdleTimeoutClamped,
                format!(
                    "the idle timeout is the server's {} s, shorter than the {} s configured",
                    server.as_secs(),
                    self.tracker().requested.as_secs()
                ),
            );
        }
        self.armed.store(true, Ordering::Relaxed);
    }

    fn disarm(&self) {
        self.armed.store(false, Ordering::Relaxed);
        self.tracker().warning_active = false;
    }

    /// One look at idle time; acts on it. Returns when to look again (`None`: signed out).
    async fn look(&self) -> Option<Duration> {
        let _one = self.looking.lock().await;
        if !self.engine.state().is_signed_in() {
            return None;
        }
        let reading = self.read_source().await;
        let evaluation = self.tracker().evaluate(Instant::now(), self.engine.now(), reading);
        if let Some(slept) = evaluation.resumed {
            tracing::info!(
                slept_secs = slept.as_secs(),
                idle_secs = evaluation.idle.as_secs(),
                "woke after a suspend (or a clock jump)"
            );
        }
        match evaluation.verdict {
            Verdict::SignOut => {
                tracing::info!(idle_secs = evaluation.idle.as_secs(), "idle timeout reached: signing out");
                match self.engine.sign_out_because(SignOutReason::IdleTimeout).await {
                    Ok(outcome) => tracing::info!(?outcome, "signed out after the idle timeout"),
                    Err(e) => tracing::warn!(code = e.code(), "idle sign-out failed"),
                }
            }
            Verdict::Warn { seconds_left, announce: true } => {
                self.engine.emit(SessionEvent::IdleWarning { seconds_left })
            }
            Verdict::Fine { cancelled: true } => self.engine.emit(SessionEvent::IdleWarningCancelled),
            Verdict::Warn { .. } | Verdict::Fine { .. } => {}
        }
        if evaluation.resumed.is_some() {
            self.engine.recheck_schedule();
        }
        if evaluation.report_activity {
            self.mirror_activity();
        }
        evaluation.next
    }

    /// The source's reading; `None` without a source or when it fails (announced once).
    async fn read_source(&self) -> Option<Duration> {
        let source = self.source.clone()?;
        let name = source.name();
        let read = tokio::task::spawn_blocking(move || source.idle_time());
        let failure = match tokio::time::timeout(SOURCE_TIME_LIMIT, read).await {
            Ok(Ok(Ok(idle))) => {
                if self.source_failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(source = name, "system idle time readable again");
                }
                return Some(idle);
            }
            Ok(Ok(Err(e))) => e.to_string(),
            Ok(Err(e)) => format!("{name} idle read failed: {e}"),
            Err(_) => format!("{name} idle read took longer than {SOURCE_TIME_LIMIT:?}"),
        };
        if !self.source_failing.swap(true, Ordering::Relaxed) {
            self.engine.warn(
                WarningCode::IdleUnknown,
                format!(
                    "system idle time unreadable ({failure}): only input in this window counts until it works again"
                ),
            );
        }
        None
    }

    /// Tells the server the user is active, in the background (one at a time). A failure is
    /// not a sign-out: the engine goes `Offline` and the next report tries again.
    fn mirror_activity(&self) {
        if self.reporting.swap(true, Ordering::AcqRel) {
            return;
        }
        let engine = self.engine.clone();
        let reporting = self.reporting.clone();
        tokio::spawn(async move {
            if let Err(e) = engine.report_activity().await {
                tracing::info!(code = e.code(), "could not report activity to the server");
            }
            reporting.store(false, Ordering::Release);
        });
    }

    /// logind: the screen locked.
    async fn on_lock(&self) {
        if self.sign_out_on_lock.load(Ordering::Relaxed) && self.engine.state().is_signed_in() {
            tracing::info!("screen locked: signing out");
            if let Err(e) = self.engine.sign_out_because(SignOutReason::ScreenLocked).await {
                tracing::warn!(code = e.code(), "sign-out on lock failed");
            }
        }
    }
}

enum Next {
    /// Keep waiting for the same deadline.
    Wait,
    /// logind: about to sleep.
    Sleep,
    /// logind: woke up.
    Resumed,
    /// Look now.
    Look,
    /// The session ended: wait for the next one.
    Disarm,
    /// The engine is gone.
    Stop,
}

async fn run(
    shared: Arc<Shared>,
    mut events: broadcast::Receiver<SessionEvent>,
    mut signals: mpsc::Receiver<SystemSignal>,
) {
    let mut signals_open = true;
    let mut announced_unknown = false;
    loop {
        // Signed out: no timers at all, only events.
        while !shared.engine.state().is_signed_in() {
            shared.disarm();
            tokio::select! {
                event = events.recv() => if matches!(event, Err(broadcast::error::RecvError::Closed)) { return },
                signal = signals.recv(), if signals_open => match signal {
                    Some(SystemSignal::Listening) => shared.logind.store(true, Ordering::Relaxed),
                    Some(_) => {}
                    None => signals_open = false,
                },
                () = shared.wake.notified() => {}
            }
        }
        shared.arm().await;
        if shared.source.is_none() && !announced_unknown {
            announced_unknown = true;
            shared.engine.warn(
                WarningCode::IdleUnknown,
                "system idle time is unknown here: only input in this window counts toward the idle sign-out".into(),
            );
        }
        let mut deadline = match shared.look().await {
            Some(next) => Instant::now() + next,
            None => continue,
        };
        let clock_check = shared.engine.config().clock_check_interval.max(Duration::from_secs(1));
        let mut check_at = Instant::now() + clock_check;
        loop {
            let checking = !shared.logind.load(Ordering::Relaxed);
            let next = tokio::select! {
                () = tokio::time::sleep_until(deadline) => Next::Look,
                () = tokio::time::sleep_until(check_at), if checking => {
                    check_at = Instant::now() + clock_check;
                    let jumped = shared.tracker().clock_check(Instant::now(), shared.engine.now());
                    if jumped { Next::Look } else { Next::Wait }
                }
                () = shared.wake.notified() => Next::Look,
                event = events.recv() => match event {
                    Ok(SessionEvent::StateChanged { state, .. }) if !state.is_signed_in() => Next::Disarm,
                    Ok(_) => Next::Wait,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        if shared.engine.state().is_signed_in() { Next::Wait } else { Next::Disarm }
                    }
                    Err(broadcast::error::RecvError::Closed) => Next::Stop,
                },
                signal = signals.recv(), if signals_open => match signal {
                    Some(SystemSignal::Listening) => {
                        shared.logind.store(true, Ordering::Relaxed);
                        Next::Wait
                    }
                    Some(SystemSignal::PreparingForSleep) => Next::Sleep,
                    Some(SystemSignal::Resumed) => Next::Resumed,
                    Some(SystemSignal::Locked) => {
                        shared.on_lock().await;
                        Next::Look
                    }
                    None => {
                        signals_open = false;
                        Next::Wait
                    }
                },
            };
            match next {
                Next::Wait => {}
                Next::Sleep => match shared.look().await {
                    Some(next) => {
                        // How idle the user is as the machine goes to sleep.
                        shared.tracker().preparing_for_sleep();
                        deadline = Instant::now() + next;
                    }
                    None => break,
                },
                Next::Resumed => {
                    if shared.tracker().pending_jump(Instant::now(), shared.engine.now()) < JUMP_MIN {
                        // Woke without a measurable sleep: only the schedule needs a re-check.
                        shared.tracker().forget_sleep();
                        shared.engine.recheck_schedule();
                    }
                    match shared.look().await {
                        Some(next) => deadline = Instant::now() + next,
                        None => break,
                    }
                }
                Next::Look => match shared.look().await {
                    Some(next) => deadline = Instant::now() + next,
                    None => break,
                },
                Next::Disarm => break,
                Next::Stop => return,
            }
        }
    }
}
