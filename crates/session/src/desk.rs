//! [`Desk`]: one engine at work — its refresh schedule, notification feed and idle watch started
//! together and stopped together, the sign-out that also forgets the user's cached notifications,
//! and the idle-timeout rule for a timeout the user picks. The desktop app and `tessera watch`
//! each run a desk; neither wires these pieces itself.
//!
//! ```no_run
//! # async fn demo(engine: tessera_session::SessionEngine) {
//! use tessera_session::{Desk, SystemIdle};
//! let desk = Desk::open(engine, SystemIdle::detect());
//! desk.report_activity(); // the window saw input
//! let _ = desk.sign_out().await; // revoked, keychain record and cached notifications gone
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use crate::account::Account;
use crate::config::{IdleTimeoutRefused, check_idle_timeout};
use crate::engine::{SessionEngine, SignOutOutcome};
use crate::error::EngineError;
use crate::feed::{self, NotificationFeed};
use crate::idle::{IdleSource, IdleStatus, IdleWatch};
use crate::schedule::RefreshScheduler;

/// An engine with its schedule, feed and idle watch; they stop when the desk is dropped.
pub struct Desk {
    engine: SessionEngine,
    feed: Option<NotificationFeed>,
    idle: IdleWatch,
    _schedule: RefreshScheduler,
}

impl std::fmt::Debug for Desk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desk").field("state", &self.engine.state().name()).field("feed", &self.feed).finish()
    }
}

impl Desk {
    /// Starts the refresh schedule, the notification feed and the idle watch (reading
    /// `idle_source`; `None`: only [`report_activity`](Self::report_activity) counts) for
    /// `engine`, signed in or not: each follows the engine's state. Inside a Tokio runtime.
    pub fn open(engine: SessionEngine, idle_source: Option<Arc<dyn IdleSource>>) -> Self {
        let schedule = engine.spawn_scheduler();
        let feed = NotificationFeed::spawn(engine.clone())
            .map_err(|e| tracing::warn!(code = e.code(), "no notification feed: {e}"))
            .ok();
        let idle = IdleWatch::spawn(engine.clone(), idle_source);
        Self { engine, feed, idle, _schedule: schedule }
    }

    /// The engine.
    pub fn engine(&self) -> &SessionEngine {
        &self.engine
    }

    /// The notification feed, when the desk has one.
    pub fn feed(&self) -> Option<&NotificationFeed> {
        self.feed.as_ref()
    }

    /// The idle watch's view (source, timeout, countdown).
    pub fn idle_status(&self) -> IdleStatus {
        self.idle.status()
    }

    /// The user touched this program's window: the idle watch resets (cancelling a warning).
    pub fn report_activity(&self) {
        self.idle.report_activity();
    }

    /// Looks at idle time now (on resume from suspend; a long suspend signs out here).
    pub async fn check_idle_now(&self) {
        self.idle.check_now().await;
    }

    /// Sets the idle timeout the user picked, by the rule ([`check_idle_timeout`]) against the
    /// server's idle timeout (`server_max`, when the server answered). Returns the effective one.
    pub fn set_idle_timeout(
        &self,
        requested: Duration,
        server_max: Option<Duration>,
    ) -> Result<Duration, IdleTimeoutRefused> {
        check_idle_timeout(requested, server_max)?;
        self.idle.set_timeout(requested).map_err(|e| IdleTimeoutRefused(e.to_string()))
    }

    /// The server's idle timeout, when the server answers (the most a user may pick).
    pub async fn server_idle_timeout(&self) -> Option<Duration> {
        self.engine.client().server_idle_timeout().await.ok()?
    }

    /// Signs out (revocation, keychain record, current account: see
    /// [`SessionEngine::sign_out`]) and deletes the user's cached notifications before it
    /// returns, so the next person at a shared desk reads nothing of theirs.
    pub async fn sign_out(&self) -> Result<SignOutOutcome, EngineError> {
        let account = self.account();
        let outcome = self.engine.sign_out().await;
        if let Some(account) = account {
            self.forget_cached(&account).await;
        }
        outcome
    }

    /// After the session ended by itself (revoked, expired, idle): makes sure the user's
    /// cached notifications are gone before the program goes on (the feed deletes them too,
    /// but a program about to exit cannot wait for it). `account` is the one that was signed in.
    pub async fn forget_cached(&self, account: &Account) {
        if let Err(e) = feed::forget_cached(&self.engine.config().data_dir, account).await {
            tracing::warn!(code = e.code(), "could not delete the cached notifications");
        }
    }

    /// The signed-in account, if any.
    pub fn account(&self) -> Option<Account> {
        self.engine.status().username.map(|user| self.engine.config().account(&user))
    }
}

impl Drop for Desk {
    fn drop(&mut self) {
        if let Some(feed) = &self.feed {
            feed.stop();
        }
    }
}
