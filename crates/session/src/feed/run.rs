//! One signed-in session's feed: WebSocket first, polling when it keeps failing.
//!
//! Rules (also in docs/protocol.md, "Client feed"):
//! - reconnect after full-jitter backoff from 0.5 s up to 20 s; the backoff starts over after a
//!   connection that reached `resumed`;
//! - close 4001 (token expired) or a 401 on the upgrade: refresh, reconnect at once (once; a
//!   second time in a row waits like any failure);
//! - after 3 failed connections in a row, or an upgrade the server (or a proxy) refuses with a
//!   status other than 101/401, poll every `poll_interval` (all pages) while retrying the
//!   WebSocket with the backoff; mode `polling` while polls work, `offline` when they fail;
//! - mode `connecting` from sign-in until the first connection reaches `resumed` (mode `live`),
//!   and again from the loss of a live connection until the next one (or a poll) works.

use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use tessera_protocol::Notification;
use tokio::time::Instant;

use super::Shared;
use super::cache::Cursor;
use crate::account::Account;
use crate::backoff::Backoff;
use crate::error::EngineError;
use crate::state::{FeedMode, SessionEvent};

/// Failed connections in a row before polling starts.
pub(crate) const FAILURES_BEFORE_POLLING: u32 = 3;
/// First reconnect delay ceiling.
const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// Largest reconnect delay.
const BACKOFF_CAP: Duration = Duration::from_secs(20);

/// How a WebSocket attempt ended.
#[derive(Debug)]
pub(crate) enum End {
    /// The session is over (revoked, or the engine is signed out): stop.
    SessionEnded,
    /// Close 4001 or a 401 on the upgrade: refresh and reconnect.
    TokenRefused {
        /// Whether the connection had reached `resumed`.
        resumed: bool,
    },
    /// The server (or a proxy) refused the upgrade with this status.
    Refused(u16),
    /// Could not connect, or the connection was lost (dead heartbeat, close, protocol error).
    Lost {
        /// Whether the connection had reached `resumed`.
        resumed: bool,
    },
}

/// The state of one session's feed.
pub(crate) struct Run {
    pub(crate) shared: Arc<Shared>,
    pub(crate) user: Account,
    pub(crate) session_id: String,
    /// What the cache holds (kept in memory too, so the feed works without a cache).
    pub(crate) cursor: Cursor,
    /// Connections that reached `resumed` so far (reconnects are counted in the metrics).
    pub(crate) connections: u64,
}

/// The feed of one session, until it ends (or the supervisor aborts it).
pub(crate) async fn run(shared: Arc<Shared>, user: Account, session_id: String) {
    let cursor = match shared.cache.cursor(&user).await {
        Ok(cursor) => cursor,
        Err(e) => {
            tracing::warn!(code = e.code(), "no stored cursor; starting from the beginning");
            Cursor::default()
        }
    };
    let mut run = Run { shared, user, session_id, cursor, connections: 0 };
    run.main().await;
}

impl Run {
    async fn main(&mut self) {
        let poll_interval = self.shared.engine.config().poll_interval;
        let mut backoff = Backoff::new(BACKOFF_BASE, BACKOFF_CAP);
        let mut rng = StdRng::from_entropy();
        let mut failures = 0u32;
        let mut polling = false;
        let mut refreshed = false;
        let mut next_poll = Instant::now();
        loop {
            let end = self.connect_and_stream().await;
            tracing::debug!(?end, "notification stream ended");
            let resumed = matches!(end, End::Lost { resumed: true } | End::TokenRefused { resumed: true });
            if resumed {
                backoff.reset();
                failures = 0;
                polling = false;
                refreshed = false;
            }
            match end {
                End::SessionEnded => return,
                End::TokenRefused { .. } if !refreshed => {
                    refreshed = true;
                    match self.shared.engine.refresh_now().await {
                        Ok(()) => continue,
                        Err(e) if ends_session(&e) => return,
                        Err(e) => {
                            tracing::info!(code = e.code(), "refresh for the notification stream failed");
                            failures += 1;
                        }
                    }
                }
                End::TokenRefused { .. } | End::Lost { resumed: false } => failures += 1,
                End::Refused(status) => {
                    tracing::info!(status, "the notification stream upgrade was refused; polling");
                    failures += 1;
                    polling = true;
                }
                End::Lost { resumed: true } => {}
            }
            if failures >= FAILURES_BEFORE_POLLING {
                polling = true;
            }
            // Waiting to reconnect: not live any more until the next connection (or a poll) works.
            self.shared.replace_mode(FeedMode::Live, FeedMode::Connecting);
            let retry_at = Instant::now() + backoff.next_delay(&mut rng);
            if !polling {
                tokio::time::sleep_until(retry_at).await;
                continue;
            }
            while Instant::now() < retry_at {
                if Instant::now() >= next_poll {
                    match self.poll().await {
                        Ok(()) => {
                            self.shared.set_mode(FeedMode::Polling);
                            self.spawn_mark_replay();
                        }
                        Err(e) if ends_session(&e) => return,
                        Err(e) => {
                            tracing::info!(code = e.code(), "polling for notifications failed");
                            self.shared.set_mode(FeedMode::Offline);
                        }
                    }
                    next_poll = Instant::now() + poll_interval;
                }
                tokio::time::sleep_until(next_poll.min(retry_at)).await;
            }
        }
    }

    /// Stores the notifications newer than the cursor (with the new cursor, in one transaction),
    /// then announces them in `seq` order. Older ones and repeats are dropped.
    pub(crate) async fn accept(&mut self, items: Vec<Notification>) {
        let mut fresh: Vec<Notification> = items.into_iter().filter(|n| n.seq > self.cursor.last_seq).collect();
        fresh.sort_by_key(|n| n.seq);
        fresh.dedup_by_key(|n| n.seq);
        let Some(last) = fresh.last().map(|n| n.seq) else { return };
        let cursor = Cursor { epoch: self.cursor.epoch.clone(), last_seq: last };
        let (user, stored, to_store) = (self.user.clone(), cursor.clone(), fresh.clone());
        if let Err(e) = self.shared.cache.call(move |db| db.store(&user, &to_store, &stored)).await {
            tracing::warn!(code = e.code(), "could not cache notifications; announcing them anyway");
        }
        self.cursor = cursor;
        for notification in fresh {
            self.shared.engine.emit(SessionEvent::Notification { notification });
        }
    }

    /// Stores the cursor (after `resumed` brought the epoch).
    pub(crate) async fn save_cursor(&self) {
        let (user, cursor) = (self.user.clone(), self.cursor.clone());
        if let Err(e) = self.shared.cache.call(move |db| db.set_cursor(&user, &cursor)).await {
            tracing::warn!(code = e.code(), "could not store the notification cursor");
        }
    }

    /// Replays queued read marks in the background (the connection is back).
    pub(crate) fn spawn_mark_replay(&self) {
        let (shared, user) = (self.shared.clone(), self.user.clone());
        tokio::spawn(async move {
            if let Err(e) = shared.flush_marks(&user).await {
                tracing::info!(code = e.code(), "queued read marks not sent yet");
            }
        });
    }
}

/// The session is over: no point retrying.
pub(crate) fn ends_session(e: &EngineError) -> bool {
    matches!(e, EngineError::SignedOut(_) | EngineError::NotSignedIn)
}
