//! Notifications: the durable per-user outbox ([`publisher`], [`stored`], [`outbox`]), live
//! fan-out to WebSocket streams ([`ws`]), domain-event handlers ([`hooks`]) and signed webhooks
//! ([`webhooks`]).
//!
//! Order on publish: commit the outbox row, tell live subscribers, queue webhooks. A client that
//! reconnects resumes from its last seq; the outbox, not the fan-out, is the source of truth.

pub mod delivery;
pub mod guard;
pub mod hooks;
pub mod hub;
pub mod outbox;
pub mod publisher;
pub mod signing;
pub mod stored;
pub mod webhooks;
pub mod ws;
pub mod ws_slots;

use std::sync::Arc;

use tessera_protocol::Notification;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::Config;
use crate::db::Db;
use crate::metrics::Metrics;
use crate::session_end::EndAnnouncer;
use hooks::{DomainEvent, Hooks};
use hub::Hub;
use publisher::Publisher;
use webhooks::WebhookQueue;

/// Live items buffered per user before a slow stream lags (and then catches up from the outbox).
const FANOUT_CAPACITY: usize = 16;

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
    /// Session ends by session id, announced after the transaction that ended the session
    /// committed (see [`crate::session_end`]).
    pub sessions: Arc<EndAnnouncer>,
    /// Tells open streams that the server stops.
    pub shutdown: watch::Sender<ShutdownMode>,
    /// Domain-event handlers.
    pub hooks: Hooks,
    /// Webhook delivery.
    pub webhooks: WebhookQueue,
    /// Publishing to outboxes (shares `fanout` and `webhooks`).
    pub publisher: Publisher,
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
        let webhooks = if deliver_webhooks {
            WebhookQueue::spawn(db.clone(), config, clock.clone(), Arc::clone(&metrics))?
        } else {
            WebhookQueue::inert()
        };
        let fanout = Hub::new(FANOUT_CAPACITY);
        let retention = i64::try_from(config.notification_retention).unwrap_or(i64::MAX);
        let publisher =
            Publisher { db, clock, metrics, retention, fanout: Arc::clone(&fanout), webhooks: webhooks.clone() };
        Ok(Self {
            fanout,
            sessions: EndAnnouncer::new(),
            shutdown: watch::Sender::new(ShutdownMode::Running),
            hooks: Hooks::with_builtin(),
            webhooks,
            publisher,
        })
    }

    /// Runs every registered handler on `event` (see [`Hooks::dispatch`]).
    pub async fn dispatch(&self, event: DomainEvent) {
        self.hooks.dispatch(&self.publisher, event).await;
    }

    /// Ends every open stream.
    pub fn shutdown(&self, mode: ShutdownMode) {
        self.shutdown.send_replace(mode);
    }
}
