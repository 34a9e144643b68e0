//! [`NotificationFeed`]: the user's notifications, live over WebSocket, polled over HTTP when
//! the WebSocket keeps failing, and cached locally for offline reading.
//!
//! - The feed follows the engine: idle while signed out, streaming while signed in, and on
//!   sign-out it stops and deletes that user's cached notifications and queued read marks
//!   (support desks are shared).
//! - Every notification is stored (with the cursor, in one transaction) before it is announced
//!   as [`SessionEvent::Notification`]; each `seq` is announced once, in order.
//! - Reconnect, heartbeat and polling rules are in the `run` module and docs/protocol.md
//!   ("Client feed").
//!
//! ```no_run
//! # async fn demo(engine: tessera_session::SessionEngine) -> Result<(), tessera_session::EngineError> {
//! use tessera_session::{NotificationFeed, SessionEvent};
//! let mut events = engine.subscribe();
//! let feed = NotificationFeed::spawn(engine.clone())?;
//! while let Ok(event) = events.recv().await {
//!     if let SessionEvent::Notification { notification } = event {
//!         println!("#{} {}", notification.seq, notification.kind);
//!         feed.mark_read(notification.seq).await?;
//!     }
//! }
//! # Ok(()) }
//! ```

mod cache;
mod marks;
mod poll;
mod run;
mod store;
mod ws;

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use tessera_protocol::Notification;
use tokio::sync::{broadcast, watch};

use crate::account::Account;
use crate::engine::SessionEngine;
use crate::error::EngineError;
use crate::state::{FeedMode, SessionEvent, SessionState};
use store::CacheHandle;

/// The notification feed of one engine. Cheap to clone; the feed stops with
/// [`stop`](Self::stop) or when the last clone is dropped.
#[derive(Clone)]
pub struct NotificationFeed {
    handle: Arc<Handle>,
}

/// Owned by the clones; dropping the last one stops the task.
struct Handle {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// What the feed task and the public calls share.
pub(crate) struct Shared {
    pub(crate) engine: SessionEngine,
    pub(crate) cache: CacheHandle,
    mode: Mutex<FeedMode>,
    /// One replay of queued read marks at a time, so they reach the server in order.
    pub(crate) marks: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for NotificationFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationFeed").field("mode", &self.mode()).finish()
    }
}

impl NotificationFeed {
    /// Opens the cache (`<data_dir>/notifications.sqlite3`) and starts the feed task (inside a
    /// Tokio runtime). A cache that cannot be opened is reported as an
    /// [`SessionEvent::Error`] with code `cache_unavailable`; the feed then streams without it.
    pub fn spawn(engine: SessionEngine) -> Result<NotificationFeed, EngineError> {
        // Opening is a little blocking file I/O, once per feed.
        let cache = CacheHandle::open(&engine.config().data_dir);
        if let Some(e) = cache.error() {
            let error = EngineError::CacheUnavailable(e.to_owned());
            engine.emit(SessionEvent::Error { code: error.code().to_owned(), message: error.to_string() });
        }
        let shared = Arc::new(Shared {
            engine: engine.clone(),
            cache,
            mode: Mutex::new(FeedMode::Offline),
            marks: tokio::sync::Mutex::new(()),
        });
        let (stop, stopped) = watch::channel(false);
        // Subscribe before the task looks at the state, so no change is missed in between.
        let events = engine.subscribe();
        tokio::spawn(supervise(shared.clone(), events, stopped));
        Ok(NotificationFeed { handle: Arc::new(Handle { shared, stop }) })
    }

    /// How notifications arrive right now (`offline` while signed out, `connecting` until the
    /// first connection of a session).
    pub fn mode(&self) -> FeedMode {
        self.handle.shared.mode()
    }

    /// Notifications from the local cache (works offline), newest first.
    pub async fn list(&self, unread_only: bool, limit: usize) -> Result<Vec<Notification>, EngineError> {
        let user = self.handle.shared.user()?;
        self.handle.shared.cache.call(move |db| db.list(&user, unread_only, limit)).await
    }

    /// Unread notifications in the local cache.
    pub async fn unread_count(&self) -> Result<u64, EngineError> {
        let user = self.handle.shared.user()?;
        self.handle.shared.cache.call(move |db| db.unread_count(&user)).await
    }

    /// Marks `seq` read: in the cache at once, at the server now, or queued and replayed in
    /// order when the server is reachable again (WebSocket or polling). A notification the
    /// server no longer has (404) is dropped from the queue.
    pub async fn mark_read(&self, seq: i64) -> Result<(), EngineError> {
        self.handle.shared.mark(Some(seq)).await.map(|_| ())
    }

    /// Marks everything read, like [`mark_read`](Self::mark_read). Returns how many cached
    /// notifications were unread (0 when there is no cache).
    pub async fn mark_all_read(&self) -> Result<u64, EngineError> {
        self.handle.shared.mark(None).await
    }

    /// Stops the feed task (the cache stays; it is deleted on sign-out only).
    pub fn stop(&self) {
        self.handle.stop.send_replace(true);
    }
}

/// The notifications cached for `account` in `data_dir`, newest first, read
/// without a session or a network (for `tessera notifications`, which runs no feed). The cache
/// of a user is deleted when they sign out.
pub async fn cached_notifications(
    data_dir: &Path,
    account: &Account,
    unread_only: bool,
    limit: usize,
) -> Result<Vec<Notification>, EngineError> {
    let user = account.clone();
    CacheHandle::open(data_dir).call(move |db| db.list(&user, unread_only, limit)).await
}

/// Deletes what is cached for a user (notifications, cursor, queued read marks): sign-out in a
/// process that runs no feed, e.g. `tessera sign-out`.
pub async fn forget_cached(data_dir: &Path, account: &Account) -> Result<(), EngineError> {
    let user = account.clone();
    CacheHandle::open(data_dir).call(move |db| db.delete_user(&user)).await
}

impl Shared {
    pub(crate) fn mode(&self) -> FeedMode {
        *self.mode.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the mode, announcing it only when it changed.
    pub(crate) fn set_mode(&self, mode: FeedMode) {
        self.change_mode(|_| true, mode);
    }

    /// Changes the mode to `to` if it is `from` (announced like [`set_mode`](Self::set_mode)).
    pub(crate) fn replace_mode(&self, from: FeedMode, to: FeedMode) {
        self.change_mode(|current| current == from, to);
    }

    fn change_mode(&self, applies: impl FnOnce(FeedMode) -> bool, mode: FeedMode) {
        // Announced under the lock, so subscribers see changes in the order they were made.
        let mut current = self.mode.lock().unwrap_or_else(PoisonError::into_inner);
        if applies(*current) && std::mem::replace(&mut *current, mode) != mode {
            tracing::info!(mode = mode.as_str(), "notification feed mode");
            self.engine.emit(SessionEvent::FeedMode { mode });
        }
    }

    /// The signed-in user whose cache rows the public calls read.
    fn user(&self) -> Result<Account, EngineError> {
        let status = self.engine.status();
        match (status.state.is_signed_in(), status.username) {
            (true, Some(username)) => Ok(Account::new(&status.server_url, &username)),
            _ => Err(match status.state {
                SessionState::SignedOut { reason: Some(reason) } => EngineError::SignedOut(reason),
                _ => EngineError::NotSignedIn,
            }),
        }
    }
}

#[cfg(test)]
impl Shared {
    /// A feed's shared state for unit tests: `engine` and a cache in `data_dir` for `user`.
    pub(crate) fn for_test(engine: SessionEngine, data_dir: &Path, user: &Account) -> Arc<Self> {
        let cache = CacheHandle::open(data_dir);
        let shared =
            Arc::new(Self { engine, cache, mode: Mutex::new(FeedMode::Offline), marks: tokio::sync::Mutex::new(()) });
        let _ = shared.cache.call_sync_for_test(|db| db.set_active(Some(user.clone())));
        shared
    }
}

/// The signed-in session the feed is running for.
struct Running {
    user: Account,
    session_id: String,
    task: tokio::task::JoinHandle<()>,
}

/// Follows the engine's state until stopped: starts a run per signed-in session, stops it on
/// sign-out and deletes that user's cache.
async fn supervise(
    shared: Arc<Shared>,
    mut events: broadcast::Receiver<SessionEvent>,
    mut stop: watch::Receiver<bool>,
) {
    let mut running: Option<Running> = None;
    loop {
        if *stop.borrow() {
            break;
        }
        follow(&shared, &mut running).await;
        tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            event = events.recv() => match event {
                Ok(SessionEvent::StateChanged { .. }) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Closed) => break,
            },
        }
    }
    if let Some(run) = running.take() {
        run.task.abort();
    }
}

async fn follow(shared: &Arc<Shared>, running: &mut Option<Running>) {
    let status = shared.engine.status();
    let now = match (status.state.is_signed_in(), status.username, status.session_id) {
        (true, Some(username), Some(session_id)) => Some((Account::new(&status.server_url, &username), session_id)),
        _ => None,
    };
    if let (Some(run), Some((user, session_id))) = (running.as_ref(), now.as_ref()) {
        if run.user == *user && run.session_id == *session_id {
            return;
        }
    }
    if let Some(run) = running.take() {
        // The session this run served is over (signed out, or replaced by a new sign-in).
        run.task.abort();
        let user = run.user;
        tracing::info!("signed out: deleting the user's cached notifications");
        if let Err(e) = shared.cache.call(move |db| db.delete_user(&user)).await {
            tracing::warn!(code = e.code(), "could not delete the signed-out user's cached notifications");
        }
        shared.set_mode(FeedMode::Offline);
    }
    if let Some((user, session_id)) = now {
        shared.cache.set_active(Some(user.clone())).await;
        shared.set_mode(FeedMode::Connecting);
        let task = tokio::spawn(run::run(shared.clone(), user.clone(), session_id.clone()));
        *running = Some(Running { user, session_id, task });
    }
}
