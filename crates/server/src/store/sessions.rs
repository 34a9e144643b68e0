//! The `sessions` and `refresh_tokens` tables.

use sqlx::SqliteConnection;
use tessera_protocol::SignOutReason;

pub(crate) const COLUMNS: &str = "s.id, s.user_id, s.client_id, s.device_name, s.platform, s.app_version, s.ip,
    s.created_at, s.last_activity_at, s.last_seen_at, s.expires_at, s.current_token_hash,
    s.previous_token_hash, s.previous_rotated_at, s.ended_at, s.end_reason";

/// A session row.
#[derive(Debug, Clone, sqlx::FromRow)]
#[allow(missing_docs)] // columns are described in migrations/0001_init.sql
pub struct SessionRow {
    pub id: String,
    pub user_id: i64,
    pub client_id: String,
    pub device_name: String,
    pub platform: String,
    pub app_version: String,
    pub ip: String,
    pub created_at: i64,
    pub last_activity_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub current_token_hash: Vec<u8>,
    pub previous_token_hash: Option<Vec<u8>>,
    pub previous_rotated_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
}

impl SessionRow {
    /// Why the session ended, as stored (see [`read_end_reason`]); `None` while it is open or
    /// when the column holds something this server never wrote.
    pub fn stored_end_reason(&self) -> Option<SignOutReason> {
        self.ended_at.and(self.end_reason.as_deref()).and_then(read_end_reason)
    }
}

/// Reads the `end_reason` column: the [`SignOutReason`] wire form this server writes, or one of
/// the strings servers wrote before the reason was shared with the client (`revoked`,
/// `reuse_detected`, `idle_timeout`, `expired`), which stay in existing databases.
pub fn read_end_reason(stored: &str) -> Option<SignOutReason> {
    match stored {
        "revoked" => Some(SignOutReason::SessionRevoked),
        "reuse_detected" => Some(SignOutReason::RefreshReuseDetected),
        "expired" => Some(SignOutReason::SessionExpired),
        // `idle_timeout` was, and is, the same string in both vocabularies.
        other => SignOutReason::from_wire(other),
    }
}

/// A session to create.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub struct NewSession<'a> {
    pub id: &'a str,
    pub user_id: i64,
    pub client_id: &'a str,
    pub device_name: &'a str,
    pub platform: &'a str,
    pub app_version: &'a str,
    pub ip: &'a str,
    pub now_ms: i64,
    pub expires_at: i64,
    pub token_hash: &'a [u8],
}

/// Inserts a session and its first refresh token.
pub async fn insert(conn: &mut SqliteConnection, s: NewSession<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, client_id, device_name, platform, app_version, ip, created_at,
             last_activity_at, last_seen_at, expires_at, current_token_hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(s.id)
    .bind(s.user_id)
    .bind(s.client_id)
    .bind(s.device_name)
    .bind(s.platform)
    .bind(s.app_version)
    .bind(s.ip)
    .bind(s.now_ms)
    .bind(s.now_ms)
    .bind(s.now_ms)
    .bind(s.expires_at)
    .bind(s.token_hash)
    .execute(&mut *conn)
    .await?;
    insert_token(conn, s.token_hash, s.id, s.now_ms).await
}

/// Remembers an issued refresh token's hash.
pub async fn insert_token(conn: &mut SqliteConnection, hash: &[u8], session_id: &str, now_ms: i64) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO refresh_tokens (hash, session_id, issued_at) VALUES (?, ?, ?)")
        .bind(hash)
        .bind(session_id)
        .bind(now_ms)
        .execute(conn)
        .await?;
    Ok(())
}

/// A session by id.
pub async fn by_id(conn: &mut SqliteConnection, id: &str) -> sqlx::Result<Option<SessionRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM sessions s WHERE s.id = ?")).bind(id).fetch_optional(conn).await
}

/// The session a refresh token (by hash) was issued to, whether current or not.
pub async fn by_token_hash(conn: &mut SqliteConnection, hash: &[u8]) -> sqlx::Result<Option<SessionRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE t.hash = ?"
    ))
    .bind(hash)
    .fetch_optional(conn)
    .await
}

/// Normal rotation: the current token becomes the previous one. Returns false when the current
/// token changed meanwhile (the caller re-reads).
pub async fn rotate(
    conn: &mut SqliteConnection,
    id: &str,
    expected_current: &[u8],
    new_hash: &[u8],
    now_ms: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE sessions SET previous_token_hash = current_token_hash, previous_rotated_at = ?,
             current_token_hash = ?, last_activity_at = ?, last_seen_at = ?
         WHERE id = ? AND current_token_hash = ? AND ended_at IS NULL",
    )
    .bind(now_ms)
    .bind(new_hash)
    .bind(now_ms)
    .bind(now_ms)
    .bind(id)
    .bind(expected_current)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if done {
        insert_token(conn, new_hash, id, now_ms).await?;
    }
    Ok(done)
}

/// A retry with the previous token after a lost response: a new current token replaces the
/// one whose response was lost (never presented; presenting it later is reuse); the previous
/// token and its rotation time stay as they were, so the retry window is not extended.
pub async fn regrant(conn: &mut SqliteConnection, id: &str, new_hash: &[u8], now_ms: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE sessions SET current_token_hash = ?, last_activity_at = ?, last_seen_at = ?
         WHERE id = ? AND ended_at IS NULL",
    )
    .bind(new_hash)
    .bind(now_ms)
    .bind(now_ms)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    insert_token(conn, new_hash, id, now_ms).await
}

/// Ends a session (if still open), storing `reason` in its wire form. Returns whether it was open.
pub async fn end(conn: &mut SqliteConnection, id: &str, reason: SignOutReason, now_ms: i64) -> sqlx::Result<bool> {
    Ok(sqlx::query("UPDATE sessions SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL")
        .bind(now_ms)
        .bind(reason.as_str())
        .bind(id)
        .execute(conn)
        .await?
        .rows_affected()
        == 1)
}

/// Ends every open session of `user_id` except `keep`; returns the ids ended.
pub async fn end_others(
    conn: &mut SqliteConnection,
    user_id: i64,
    keep: &str,
    reason: SignOutReason,
    now_ms: i64,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "UPDATE sessions SET ended_at = ?, end_reason = ?
         WHERE user_id = ? AND id != ? AND ended_at IS NULL RETURNING id",
    )
    .bind(now_ms)
    .bind(reason.as_str())
    .bind(user_id)
    .bind(keep)
    .fetch_all(conn)
    .await
}

/// Reported user activity: extends the idle deadline.
pub async fn touch_activity(conn: &mut SqliteConnection, id: &str, now_ms: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE sessions SET last_activity_at = ?, last_seen_at = ? WHERE id = ? AND ended_at IS NULL")
        .bind(now_ms)
        .bind(now_ms)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Any request: updates "last seen" only (not the idle deadline).
pub async fn touch_seen(conn: &mut SqliteConnection, id: &str, now_ms: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE sessions SET last_seen_at = ? WHERE id = ? AND ended_at IS NULL")
        .bind(now_ms)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Open sessions of a user, newest first (the caller filters those past a deadline).
pub async fn open_for_user(conn: &mut SqliteConnection, user_id: i64) -> sqlx::Result<Vec<SessionRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM sessions s WHERE s.user_id = ? AND s.ended_at IS NULL ORDER BY s.created_at DESC, s.rowid DESC"
    ))
    .bind(user_id)
    .fetch_all(conn)
    .await
}

/// Number of sessions that are open and inside both deadlines at `now_ms`.
pub async fn count_live(conn: &mut SqliteConnection, now_ms: i64, idle_ms: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM sessions WHERE ended_at IS NULL AND expires_at > ? AND last_activity_at > ?",
    )
    .bind(now_ms)
    .bind(now_ms - idle_ms)
    .fetch_one(conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_reasons_written_before_the_shared_vocabulary_still_read() {
        let legacy = [
            ("revoked", SignOutReason::SessionRevoked),
            ("reuse_detected", SignOutReason::RefreshReuseDetected),
            ("idle_timeout", SignOutReason::IdleTimeout),
            ("expired", SignOutReason::SessionExpired),
        ];
        for (stored, reason) in legacy {
            assert_eq!(read_end_reason(stored), Some(reason), "{stored:?} is in existing databases");
        }
        for reason in SignOutReason::ALL {
            assert_eq!(read_end_reason(reason.as_str()), Some(reason), "what this server writes reads back");
        }
        assert_eq!(read_end_reason("banana"), None, "an unknown string is not guessed at here");
    }
}
