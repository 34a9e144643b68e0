//! The `notification_streams` and `notifications` tables (the outbox).

use sqlx::SqliteConnection;

/// A user's stream.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StreamRow {
    /// Random id of the stream's history; changes when history is reset.
    pub epoch: String,
    /// Highest seq issued.
    pub last_seq: i64,
    /// Highest seq removed by retention.
    pub pruned_through: i64,
}

/// A stored notification.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NotificationRow {
    /// Sequence in the user's stream.
    pub seq: i64,
    /// Type.
    #[sqlx(rename = "type")]
    pub kind: String,
    /// JSON payload text.
    pub payload: String,
    /// Created (ms).
    pub created_at: i64,
    /// Read (ms).
    pub read_at: Option<i64>,
}

/// The user's stream, if it has one.
pub async fn stream(conn: &mut SqliteConnection, user_id: i64) -> sqlx::Result<Option<StreamRow>> {
    sqlx::query_as("SELECT epoch, last_seq, pruned_through FROM notification_streams WHERE user_id = ?")
        .bind(user_id)
        .fetch_optional(conn)
        .await
}

/// The user's stream, created with `new_epoch` if missing.
pub async fn stream_or_create(conn: &mut SqliteConnection, user_id: i64, new_epoch: &str) -> sqlx::Result<StreamRow> {
    sqlx::query("INSERT INTO notification_streams (user_id, epoch, last_seq) VALUES (?, ?, 0) ON CONFLICT DO NOTHING")
        .bind(user_id)
        .bind(new_epoch)
        .execute(&mut *conn)
        .await?;
    sqlx::query_as("SELECT epoch, last_seq, pruned_through FROM notification_streams WHERE user_id = ?")
        .bind(user_id)
        .fetch_one(conn)
        .await
}

/// Appends a notification (next seq) and prunes beyond `retention`. Call inside a transaction.
pub async fn append(
    conn: &mut SqliteConnection,
    user_id: i64,
    new_epoch: &str,
    kind: &str,
    payload: &str,
    now_ms: i64,
    retention: i64,
) -> sqlx::Result<(StreamRow, NotificationRow)> {
    let mut stream = stream_or_create(conn, user_id, new_epoch).await?;
    let seq = stream.last_seq + 1;
    sqlx::query("INSERT INTO notifications (user_id, seq, type, payload, created_at) VALUES (?, ?, ?, ?, ?)")
        .bind(user_id)
        .bind(seq)
        .bind(kind)
        .bind(payload)
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    let prune_through = (seq - retention).max(stream.pruned_through);
    if prune_through > stream.pruned_through {
        sqlx::query("DELETE FROM notifications WHERE user_id = ? AND seq <= ?")
            .bind(user_id)
            .bind(prune_through)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("UPDATE notification_streams SET last_seq = ?, pruned_through = ? WHERE user_id = ?")
        .bind(seq)
        .bind(prune_through)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    stream.last_seq = seq;
    stream.pruned_through = prune_through;
    let row =
        NotificationRow { seq, kind: kind.to_owned(), payload: payload.to_owned(), created_at: now_ms, read_at: None };
    Ok((stream, row))
}

/// Notifications with `seq > after`, ascending, at most `limit`.
pub async fn after(
    conn: &mut SqliteConnection,
    user_id: i64,
    after: i64,
    limit: i64,
) -> sqlx::Result<Vec<NotificationRow>> {
    sqlx::query_as(
        "SELECT seq, type, payload, created_at, read_at FROM notifications
         WHERE user_id = ? AND seq > ? ORDER BY seq LIMIT ?",
    )
    .bind(user_id)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Marks one notification read (keeps the first read time). Returns whether it exists.
pub async fn mark_read(conn: &mut SqliteConnection, user_id: i64, seq: i64, now_ms: i64) -> sqlx::Result<bool> {
    sqlx::query("UPDATE notifications SET read_at = COALESCE(read_at, ?) WHERE user_id = ? AND seq = ?")
        .bind(now_ms)
        .bind(user_id)
        .bind(seq)
        .execute(conn)
        .await
        .map(|r| r.rows_affected() == 1)
}

/// Marks every unread notification read; returns how many.
pub async fn mark_all_read(conn: &mut SqliteConnection, user_id: i64, now_ms: i64) -> sqlx::Result<u64> {
    sqlx::query("UPDATE notifications SET read_at = ? WHERE user_id = ? AND read_at IS NULL")
        .bind(now_ms)
        .bind(user_id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
}

/// Unread notifications retained.
pub async fn unread_count(conn: &mut SqliteConnection, user_id: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM notifications WHERE user_id = ? AND read_at IS NULL")
        .bind(user_id)
        .fetch_one(conn)
        .await
}
