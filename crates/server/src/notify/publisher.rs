//! Publishing to a user's outbox: the row is committed first, then live subscribers hear of it,
//! then webhooks are queued (the deliveries owed are recorded in the same transaction as the row,
//! so a restart resumes them). Nothing here waits for a subscriber or a webhook.

use std::sync::Arc;

use sqlx::Connection;
use tessera_protocol::Notification;

use crate::clock::Clock;
use crate::db::Db;
use crate::metrics::{Metrics, inc};
use crate::notify::hub::Hub;
use crate::notify::stored::{new_epoch, to_notification};
use crate::notify::webhooks::WebhookQueue;
use crate::store::notifications::{self, StreamRow};
use crate::store::webhooks;

/// What publishing needs: storage, the clock, the counters, the live fan-out and the webhook
/// queue. Cheap to clone; this is what domain-event handlers receive.
#[derive(Debug, Clone)]
pub struct Publisher {
    /// Storage.
    pub db: Db,
    /// Wall clock.
    pub clock: Arc<dyn Clock>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Notifications kept per user (`notification_retention`).
    pub retention: i64,
    /// Live notifications by user id, sent after commit.
    pub fanout: Arc<Hub<i64, Arc<Notification>>>,
    /// Webhook delivery.
    pub webhooks: WebhookQueue,
}

impl Publisher {
    /// Appends a notification for `user_id` and announces it. Returns it once it is durable.
    pub async fn publish(
        &self,
        user_id: i64,
        kind: &str,
        payload: &serde_json::Value,
    ) -> anyhow::Result<Arc<Notification>> {
        let payload = payload.to_string();
        let now = self.clock.now_ms();
        // The writer connection is held until subscribers were told: with one writer, that makes
        // live announcements leave in commit (= seq) order for every user.
        let mut conn = self.db.write.acquire().await?;
        let mut tx = conn.begin().await?;
        let (_, row) =
            notifications::append(&mut tx, user_id, &new_epoch(), kind, &payload, now, self.retention).await?;
        webhooks::add_pending(&mut tx, user_id, row.seq, now).await?;
        tx.commit().await?;
        inc(&self.metrics.notifications_published);
        let notification = Arc::new(to_notification(row));
        self.fanout.send(&user_id, Arc::clone(&notification));
        drop(conn);
        self.webhooks.enqueue(user_id, Arc::clone(&notification));
        tracing::debug!(user_id, seq = notification.seq, kind, "notification published");
        Ok(notification)
    }

    /// The user's stream, created if the user has none yet.
    pub async fn stream(&self, user_id: i64) -> sqlx::Result<StreamRow> {
        let existing = {
            let mut conn = self.db.read.acquire().await?;
            notifications::stream(&mut conn, user_id).await?
        };
        match existing {
            Some(stream) => Ok(stream),
            None => {
                let mut conn = self.db.write.acquire().await?;
                notifications::stream_or_create(&mut conn, user_id, &new_epoch()).await
            }
        }
    }
}
