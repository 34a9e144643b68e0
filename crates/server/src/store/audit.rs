//! The `audit` table: sign-ins, refreshes, revocations, reuse detections. Never a secret.

use sqlx::SqliteConnection;

/// What to record.
#[derive(Debug, Clone, Default)]
pub struct AuditRecord<'a> {
    /// When (ms).
    pub at: i64,
    /// Event kind, e.g. `sign_in_success`, `refresh_token_reuse`.
    pub kind: &'a str,
    /// User concerned, if known.
    pub user_id: Option<i64>,
    /// Username as given (recorded for failed sign-ins of unknown users too).
    pub username: Option<&'a str>,
    /// Session concerned.
    pub session_id: Option<&'a str>,
    /// Client IP.
    pub ip: Option<&'a str>,
    /// Free text (no secrets).
    pub detail: Option<&'a str>,
}

/// Appends an event.
pub async fn record(conn: &mut SqliteConnection, r: AuditRecord<'_>) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO audit (at, kind, user_id, username, session_id, ip, detail) VALUES (?, ?, ?, ?, ?, ?, ?)")
        .bind(r.at)
        .bind(r.kind)
        .bind(r.user_id)
        .bind(r.username)
        .bind(r.session_id)
        .bind(r.ip)
        .bind(r.detail)
        .execute(conn)
        .await?;
    Ok(())
}

/// A stored event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    /// Id.
    pub id: i64,
    /// When (ms).
    pub at: i64,
    /// Kind.
    pub kind: String,
    /// Session.
    pub session_id: Option<String>,
    /// IP.
    pub ip: Option<String>,
    /// Detail.
    pub detail: Option<String>,
}

/// A user's most recent events, newest first.
pub async fn for_user(conn: &mut SqliteConnection, user_id: i64, limit: i64) -> sqlx::Result<Vec<AuditRow>> {
    sqlx::query_as("SELECT id, at, kind, session_id, ip, detail FROM audit WHERE user_id = ? ORDER BY id DESC LIMIT ?")
        .bind(user_id)
        .bind(limit)
        .fetch_all(conn)
        .await
}
