//! The `webhooks` and `webhook_deliveries` tables.

use sqlx::SqliteConnection;

/// A registered webhook, secret included (the server signs with it).
#[derive(Clone, sqlx::FromRow)]
pub struct WebhookRow {
    /// Id.
    pub id: String,
    /// Owner.
    pub user_id: i64,
    /// Target.
    pub url: String,
    /// HMAC key. Never log it.
    pub secret: String,
    /// Registered (ms).
    pub created_at: i64,
}

impl std::fmt::Debug for WebhookRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookRow")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Registers a webhook.
pub async fn insert(conn: &mut SqliteConnection, row: &WebhookRow) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO webhooks (id, user_id, url, secret, created_at) VALUES (?, ?, ?, ?, ?)")
        .bind(&row.id)
        .bind(row.user_id)
        .bind(&row.url)
        .bind(&row.secret)
        .bind(row.created_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// The user's webhooks, oldest first.
pub async fn for_user(conn: &mut SqliteConnection, user_id: i64) -> sqlx::Result<Vec<WebhookRow>> {
    sqlx::query_as(
        "SELECT id, user_id, url, secret, created_at FROM webhooks WHERE user_id = ? ORDER BY created_at, id",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await
}

/// Whether `id` is one of the user's webhooks.
pub async fn owned(conn: &mut SqliteConnection, user_id: i64, id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT COUNT(*) FROM webhooks WHERE id = ? AND user_id = ?")
        .bind(id)
        .bind(user_id)
        .fetch_one(conn)
        .await
        .map(|n: i64| n > 0)
}

/// Deletes one of the user's webhooks. Returns whether it existed.
pub async fn delete(conn: &mut SqliteConnection, user_id: i64, id: &str) -> sqlx::Result<bool> {
    sqlx::query("DELETE FROM webhooks WHERE id = ? AND user_id = ?")
        .bind(id)
        .bind(user_id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected() == 1)
}

/// One attempt to record.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub struct Attempt<'a> {
    pub webhook_id: &'a str,
    pub seq: i64,
    pub attempt: u32,
    pub at: i64,
    pub status: Option<u16>,
    pub outcome: &'a str,
    pub error: Option<&'a str>,
}

/// Appends to the delivery log (ignored if the webhook was deleted meanwhile).
pub async fn record_attempt(conn: &mut SqliteConnection, a: Attempt<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO webhook_deliveries (webhook_id, seq, attempt, at, status, outcome, error)
         SELECT ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = ?)",
    )
    .bind(a.webhook_id)
    .bind(a.seq)
    .bind(a.attempt)
    .bind(a.at)
    .bind(a.status)
    .bind(a.outcome)
    .bind(a.error)
    .bind(a.webhook_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// A logged attempt.
#[derive(Debug, Clone, sqlx::FromRow)]
#[allow(missing_docs)]
pub struct DeliveryRow {
    pub id: i64,
    pub seq: i64,
    pub attempt: i64,
    pub at: i64,
    pub status: Option<i64>,
    pub outcome: String,
    pub error: Option<String>,
}

/// The delivery log of a webhook, newest first.
pub async fn deliveries(conn: &mut SqliteConnection, webhook_id: &str, limit: i64) -> sqlx::Result<Vec<DeliveryRow>> {
    sqlx::query_as(
        "SELECT id, seq, attempt, at, status, outcome, error FROM webhook_deliveries
         WHERE webhook_id = ? ORDER BY id DESC LIMIT ?",
    )
    .bind(webhook_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Records that notification `seq` of `user_id` is owed to each of the user's webhooks (inside
/// the transaction that appends it).
pub async fn add_pending(conn: &mut SqliteConnection, user_id: i64, seq: i64, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT OR IGNORE INTO webhook_pending (webhook_id, user_id, seq, attempts, due_at)
         SELECT id, user_id, ?, 0, ? FROM webhooks WHERE user_id = ?",
    )
    .bind(seq)
    .bind(now)
    .bind(user_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Logs an attempt and moves the owed delivery on in one transaction: the next attempt is due at
/// `next_due`, or (`None`) the delivery is settled (delivered or given up) and no longer owed.
pub async fn settle_attempt(conn: &mut SqliteConnection, a: Attempt<'_>, next_due: Option<i64>) -> sqlx::Result<()> {
    let mut tx = sqlx::Connection::begin(conn).await?;
    record_attempt(&mut tx, a.clone()).await?;
    match next_due {
        Some(due_at) => {
            sqlx::query("UPDATE webhook_pending SET attempts = ?, due_at = ? WHERE webhook_id = ? AND seq = ?")
                .bind(a.attempt)
                .bind(due_at)
                .bind(a.webhook_id)
                .bind(a.seq)
                .execute(&mut *tx)
                .await?
        }
        None => {
            sqlx::query("DELETE FROM webhook_pending WHERE webhook_id = ? AND seq = ?")
                .bind(a.webhook_id)
                .bind(a.seq)
                .execute(&mut *tx)
                .await?
        }
    };
    tx.commit().await
}

/// Forgets an owed delivery that can no longer be made (its notification was pruned).
pub async fn drop_pending(conn: &mut SqliteConnection, webhook_id: &str, seq: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM webhook_pending WHERE webhook_id = ? AND seq = ?")
        .bind(webhook_id)
        .bind(seq)
        .execute(conn)
        .await?;
    Ok(())
}

/// An owed delivery that is due, with what the attempt needs of its webhook.
#[derive(Clone, sqlx::FromRow)]
#[allow(missing_docs)]
pub struct DueRow {
    pub webhook_id: String,
    pub user_id: i64,
    pub seq: i64,
    pub attempts: i64,
    pub url: String,
    /// HMAC key. Never log it.
    pub secret: String,
}

impl std::fmt::Debug for DueRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DueRow")
            .field("webhook_id", &self.webhook_id)
            .field("user_id", &self.user_id)
            .field("seq", &self.seq)
            .field("attempts", &self.attempts)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Owed deliveries due at `now`, the earliest first: at most `per_webhook` of each webhook and
/// `per_user` of each user (so one user's backlog cannot fill the batch), `limit` in all.
pub async fn due(
    conn: &mut SqliteConnection,
    now: i64,
    per_webhook: i64,
    per_user: i64,
    limit: i64,
) -> sqlx::Result<Vec<DueRow>> {
    sqlx::query_as(
        "WITH by_hook AS (
             SELECT p.webhook_id, p.user_id, p.seq, p.attempts, p.due_at, w.url, w.secret,
                    ROW_NUMBER() OVER (PARTITION BY p.webhook_id ORDER BY p.due_at, p.seq) AS n_hook
             FROM webhook_pending p JOIN webhooks w ON w.id = p.webhook_id
             WHERE p.due_at <= ?
         ), by_user AS (
             SELECT *, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY due_at, seq) AS n_user
             FROM by_hook WHERE n_hook <= ?
         )
         SELECT webhook_id, user_id, seq, attempts, url, secret FROM by_user
         WHERE n_user <= ? ORDER BY due_at, seq LIMIT ?",
    )
    .bind(now)
    .bind(per_webhook)
    .bind(per_user)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// When the next owed delivery not yet due at `now` is due.
pub async fn next_due_after(conn: &mut SqliteConnection, now: i64) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT MIN(due_at) FROM webhook_pending WHERE due_at > ?").bind(now).fetch_one(conn).await
}
