//! Publishing to a user's outbox: the row is committed first, then live subscribers hear of it,
//! then webhooks are queued (the deliveries owed are recorded in the same transaction as the row,
//! so a restart resumes them). Nothing here waits for a subscriber or a webhook.

use std::sync::Arc;

use rand::RngCore;
use sqlx::{Connection, SqliteConnection};
use tessera_protocol::Notification;

use crate::clock::to_datetime;
use crate::state::AppState;
use crate::store::notifications::{self, NotificationRow, StreamRow};
use crate::store::webhooks;

/// A new random stream epoch (128 bits, hex).
pub fn new_epoch() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A stored row as the wire type (a payload that is somehow not JSON is passed as a string).
pub fn to_notification(row: NotificationRow) -> Notification {
    let payload = serde_json::from_str(&row.payload).unwrap_or(serde_json::Value::String(row.payload));
    Notification {
        seq: row.seq,
        kind: row.kind,
        payload,
        created_at: to_datetime(row.created_at),
        read_at: row.read_at.map(to_datetime),
    }
}

/// Appends a notification for `user_id` and announces it. Returns it once it is durable.
pub async fn publish(
    state: &AppState,
    user_id: i64,
    kind: &str,
    payload: &serde_json::Value,
) -> anyhow::Result<Arc<Notification>> {
    let retention = i64::try_from(state.config.notification_retention).unwrap_or(i64::MAX);
    let payload = payload.to_string();
    let now = state.clock.now_ms();
    // The writer connection is held until subscribers were told: with one writer, that makes
    // live announcements leave in commit (= seq) order for every user.
    let mut conn = state.db.write.acquire().await?;
    let mut tx = conn.begin().await?;
    let (_, row) = notifications::append(&mut tx, user_id, &new_epoch(), kind, &payload, now, retention).await?;
    webhooks::add_pending(&mut tx, user_id, row.seq, now).await?;
    tx.commit().await?;
    crate::metrics::inc(&state.metrics.notifications_published);
    let notification = Arc::new(to_notification(row));
    state.notify.fanout.send(&user_id, Arc::clone(&notification));
    drop(conn);
    state.notify.webhooks.enqueue(user_id, Arc::clone(&notification));
    tracing::debug!(user_id, seq = notification.seq, kind, "notification published");
    Ok(notification)
}

/// The user's stream, created if the user has none yet.
pub async fn stream(state: &AppState, user_id: i64) -> sqlx::Result<StreamRow> {
    let existing = {
        let mut conn = state.db.read.acquire().await?;
        notifications::stream(&mut conn, user_id).await?
    };
    match existing {
        Some(stream) => Ok(stream),
        None => {
            let mut conn = state.db.write.acquire().await?;
            notifications::stream_or_create(&mut conn, user_id, &new_epoch()).await
        }
    }
}

/// Whether a client at `after` of `epoch` can be served from the outbox, or must start over.
pub fn can_resume(stream: &StreamRow, after: i64, epoch: Option<&str>) -> bool {
    let epoch_matches = match epoch.filter(|e| !e.is_empty()) {
        Some(e) => e == stream.epoch,
        // A new client (no epoch, nothing yet) gets whatever is retained: it cannot have missed
        // anything it knew of. One claiming a cursor without an epoch is lost.
        None if after == 0 => return true,
        None => false,
    };
    epoch_matches && (0..=stream.last_seq).contains(&after) && after >= stream.pruned_through
}

/// Up to `limit` notifications after `after`, ascending.
pub async fn read_after(
    conn: &mut SqliteConnection,
    user_id: i64,
    after: i64,
    limit: i64,
) -> sqlx::Result<Vec<Notification>> {
    Ok(notifications::after(conn, user_id, after, limit).await?.into_iter().map(to_notification).collect())
}

/// Notification `seq` of `user_id`, if it is still retained.
pub async fn read_one(conn: &mut SqliteConnection, user_id: i64, seq: i64) -> sqlx::Result<Option<Notification>> {
    Ok(read_after(conn, user_id, seq - 1, 1).await?.into_iter().find(|n| n.seq == seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_rules() {
        let s = StreamRow { epoch: "e".into(), last_seq: 10, pruned_through: 4 };
        assert!(can_resume(&s, 4, Some("e")), "cursor right at the pruned edge still has 5.. retained");
        assert!(!can_resume(&s, 3, Some("e")), "seq 4 is gone: reset");
        assert!(!can_resume(&s, 7, Some("other")), "another epoch: reset");
        assert!(!can_resume(&s, 11, Some("e")), "a cursor ahead of the stream: reset");
        assert!(!can_resume(&s, 5, None), "a cursor without epoch: reset");
        assert!(can_resume(&s, 0, None), "a new client gets what is retained");
        assert!(!can_resume(&s, 0, Some("e")), "a client of this epoch at 0 has missed pruned items");
    }
}
