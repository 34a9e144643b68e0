//! Stored notifications as the wire type, and the rules for resuming from them. Nothing here
//! writes or announces: that is [`super::publisher`].

use rand::RngCore;
use sqlx::SqliteConnection;
use tessera_protocol::Notification;

use crate::clock::to_datetime;
use crate::store::notifications::{self, NotificationRow, StreamRow};

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
