//! Notifications: the durable per-user outbox ([`outbox`]), live fan-out to WebSocket streams
//! ([`ws`]), domain-event handlers ([`hooks`]) and signed webhooks ([`webhooks`]).
//!
//! Order on publish: commit the outbox row, tell live subscribers, queue webhooks. A client that
//! reconnects resumes from its last seq; the outbox, not the fan-out, is the source of truth.

pub mod delivery;
pub mod guard;
pub mod hooks;
pub mod hub;
pub mod outbox;
pub mod webhooks;
pub mod ws;
pub mod ws_slots;

use std::sync::Arc;

use tessera_protocol::Notification;
use tokio::sync::watch;

use crate::auth::EndReason;
use crate::clock::Clock;
use crate::config::Config;
use crate::db::Db;
use hooks::Hooks;
use hub::Hub;
use webhooks::WebhookQueue;

use crate::metrics::Metrics;

/// Live items buffered per user before a slow stream lags (and then catches up from the outbox).
const FANOUT_CAPACITY: usize = 16;

/// Session ends remembered for streams that subscribe just after one (see
/// [`ws`]'s initial session check): far more than can be in flight while one transaction runs.
const RECENT_SESSION_ENDS: usize = 4096;

/// How open streams should end when the server stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownMode {
    /// Not stopping.
    Running,
    /// Close each stream with 1012 (service restart).
    Graceful,
    /// Drop each connection without a close frame, as a killed process would.
    Abrupt,
}

/// Why a stream ended (for logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The client closed or the connection broke.
    ClientGone,
    /// The client sent something unacceptable.
    ClientError,
    /// The session ended; `session.revoked` was sent.
    SessionEnded,
    /// The access token expired; closed with 4001.
    TokenExpired,
    /// The server is stopping.
    ServerStopped,
}

/// Everything notification-related a running server holds.
#[derive(Debug)]
pub struct Notifier {
    /// Live notifications by user id, sent after commit.
    pub fanout: Arc<Hub<i64, Arc<Notification>>>,
    /// Session ends by session id (sent from [`crate::auth::end_session`], before commit: the
    /// receiver confirms through the writer connection).
    pub sessions: Arc<Hub<String, EndReason>>,
    /// Tells open streams that the server stops.
    pub shutdown: watch::Sender<ShutdownMode>,
    /// Domain-event handlers.
    pub hooks: Hooks,
    /// Webhook delivery.
    pub webhooks: WebhookQueue,
}

impl Notifier {
    /// Starts the webhook worker (unless `deliver_webhooks` is false: a one-shot command leaves
    /// delivery to the server); registers the built-in hooks.
    pub fn new(
        db: Db,
        config: &Config,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        deliver_webhooks: bool,
    ) -> anyhow::Result<Self> {
        let webhooks =
            if deliver_webhooks { WebhookQueue::spawn(db, config, clock, metrics)? } else { WebhookQueue::inert() };
        Ok(Self {
            fanout: Hub::new(FANOUT_CAPACITY),
            sessions: Hub::remembering(1, RECENT_SESSION_ENDS),
            shutdown: watch::Sender::new(ShutdownMode::Running),
            hooks: Hooks::with_builtin(),
            webhooks,
        })
    }

    /// Ends every open stream.
    pub fn shutdown(&self, mode: ShutdownMode) {
        self.shutdown.send_replace(mode);
    }
}
