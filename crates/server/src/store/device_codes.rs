//! Device authorization requests (RFC 8628, migration 0008).

use sqlx::SqliteConnection;

/// A stored device authorization request.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeviceRow {
    /// SHA-256 of the device code.
    pub device_hash: Vec<u8>,
    /// The client that asked.
    pub client_id: String,
    /// Deadline (ms).
    pub expires_at: i64,
    /// Minimum seconds between polls (grows by 5 on each `slow_down`).
    pub interval_secs: i64,
    /// Last poll (ms).
    pub last_poll_at: Option<i64>,
    /// `pending`, `approved`, `denied` or `used`.
    pub status: String,
    /// Who approved.
    pub user_id: Option<i64>,
    /// When they entered their password (ms).
    pub auth_time: Option<i64>,
}

const COLUMNS: &str = "device_hash, client_id, expires_at, interval_secs, last_poll_at, status, user_id, auth_time";

/// Stores a new request, and forgets ones expired for ten minutes.
pub async fn insert(
    conn: &mut SqliteConnection,
    device_hash: &[u8],
    user_code: &str,
    client_id: &str,
    expires_at: i64,
    interval_secs: i64,
    now_ms: i64,
) -> sqlx::Result<bool> {
    sqlx::query("DELETE FROM device_codes WHERE expires_at < ?").bind(now_ms - 600_000).execute(&mut *conn).await?;
    let done = sqlx::query(
        "INSERT OR IGNORE INTO device_codes (device_hash, user_code, client_id, expires_at, interval_secs) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(device_hash)
    .bind(user_code)
    .bind(client_id)
    .bind(expires_at)
    .bind(interval_secs)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The request with this device code hash.
pub async fn by_hash(conn: &mut SqliteConnection, hash: &[u8]) -> sqlx::Result<Option<DeviceRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM device_codes WHERE device_hash = ?"))
        .bind(hash)
        .fetch_optional(conn)
        .await
}

/// The pending request with this user code, open at `now_ms`.
pub async fn pending_by_user_code(
    conn: &mut SqliteConnection,
    user_code: &str,
    now_ms: i64,
) -> sqlx::Result<Option<DeviceRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM device_codes WHERE user_code = ? AND status = 'pending' AND expires_at > ?"
    ))
    .bind(user_code)
    .bind(now_ms)
    .fetch_optional(conn)
    .await
}

/// Records a poll (and a new interval).
pub async fn polled(conn: &mut SqliteConnection, hash: &[u8], now_ms: i64, interval_secs: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE device_codes SET last_poll_at = ?, interval_secs = ? WHERE device_hash = ?")
        .bind(now_ms)
        .bind(interval_secs)
        .bind(hash)
        .execute(conn)
        .await?;
    Ok(())
}

/// Moves a request from `from` to `to` (with who and when, for an approval); false if it was
/// no longer in `from`.
pub async fn set_status(
    conn: &mut SqliteConnection,
    hash: &[u8],
    from: &str,
    to: &str,
    user: Option<(i64, i64)>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE device_codes SET status = ?, user_id = COALESCE(?, user_id), auth_time = COALESCE(?, auth_time) \
         WHERE device_hash = ? AND status = ?",
    )
    .bind(to)
    .bind(user.map(|u| u.0))
    .bind(user.map(|u| u.1))
    .bind(hash)
    .bind(from)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
