//! Authorization codes and pending sign-in forms of the OpenID Provider (migration 0006).

use sqlx::SqliteConnection;

/// A stored authorization code.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CodeRow {
    /// The client the code was issued to.
    pub client_id: String,
    /// The redirect URI of the authorization request (RFC 6749 §4.1.3: must be sent again).
    pub redirect_uri: String,
    /// The PKCE S256 challenge.
    pub code_challenge: String,
    /// The request's `nonce`, copied into the id_token.
    pub nonce: Option<String>,
    /// Who signed in.
    pub user_id: i64,
    /// When they entered their password (ms).
    pub auth_time: i64,
    /// Deadline (ms).
    pub expires_at: i64,
    /// When it was exchanged (ms), `None` while unused.
    pub used_at: Option<i64>,
    /// The session its exchange opened.
    pub session_id: Option<String>,
}

/// A new authorization code.
#[derive(Debug)]
pub struct NewCode<'a> {
    /// SHA-256 of the code.
    pub hash: &'a [u8],
    /// See [`CodeRow`].
    pub client_id: &'a str,
    /// See [`CodeRow`].
    pub redirect_uri: &'a str,
    /// See [`CodeRow`].
    pub code_challenge: &'a str,
    /// See [`CodeRow`].
    pub nonce: Option<&'a str>,
    /// See [`CodeRow`].
    pub user_id: i64,
    /// See [`CodeRow`].
    pub auth_time: i64,
    /// See [`CodeRow`].
    pub expires_at: i64,
}

/// Stores a code, and forgets codes that expired a while ago.
pub async fn insert_code(conn: &mut SqliteConnection, c: NewCode<'_>, now_ms: i64) -> sqlx::Result<()> {
    // Expired for ten minutes: long enough that a replay right after expiry still finds its row.
    sqlx::query("DELETE FROM authorization_codes WHERE expires_at < ?")
        .bind(now_ms - 600_000)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO authorization_codes (code_hash, client_id, redirect_uri, code_challenge, nonce, user_id, \
         auth_time, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(c.hash)
    .bind(c.client_id)
    .bind(c.redirect_uri)
    .bind(c.code_challenge)
    .bind(c.nonce)
    .bind(c.user_id)
    .bind(c.auth_time)
    .bind(c.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The code with this hash.
pub async fn code_by_hash(conn: &mut SqliteConnection, hash: &[u8]) -> sqlx::Result<Option<CodeRow>> {
    sqlx::query_as(
        "SELECT client_id, redirect_uri, code_challenge, nonce, user_id, auth_time, expires_at, used_at, session_id \
         FROM authorization_codes WHERE code_hash = ?",
    )
    .bind(hash)
    .fetch_optional(conn)
    .await
}

/// Marks an unused code used by `session_id`; false when it was already used (a race lost).
pub async fn consume_code(
    conn: &mut SqliteConnection,
    hash: &[u8],
    session_id: &str,
    now_ms: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE authorization_codes SET used_at = ?, session_id = ? WHERE code_hash = ? AND used_at IS NULL",
    )
    .bind(now_ms)
    .bind(session_id)
    .bind(hash)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Stores a pending sign-in form, and forgets expired ones.
pub async fn insert_pending(
    conn: &mut SqliteConnection,
    id_hash: &[u8],
    csrf_hash: &[u8],
    params: &str,
    expires_at: i64,
    now_ms: i64,
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM pending_authorizations WHERE expires_at < ?").bind(now_ms).execute(&mut *conn).await?;
    sqlx::query("INSERT INTO pending_authorizations (id_hash, csrf_hash, params, expires_at) VALUES (?, ?, ?, ?)")
        .bind(id_hash)
        .bind(csrf_hash)
        .bind(params)
        .bind(expires_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// The CSRF hash and parameters of a pending form still open at `now_ms`.
pub async fn pending(
    conn: &mut SqliteConnection,
    id_hash: &[u8],
    now_ms: i64,
) -> sqlx::Result<Option<(Vec<u8>, String)>> {
    sqlx::query_as("SELECT csrf_hash, params FROM pending_authorizations WHERE id_hash = ? AND expires_at > ?")
        .bind(id_hash)
        .bind(now_ms)
        .fetch_optional(conn)
        .await
}

/// Forgets a pending form (it was used).
pub async fn delete_pending(conn: &mut SqliteConnection, id_hash: &[u8]) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM pending_authorizations WHERE id_hash = ?").bind(id_hash).execute(conn).await?;
    Ok(())
}

/// Stores a browser session, and forgets expired ones.
pub async fn insert_browser_session(
    conn: &mut SqliteConnection,
    id_hash: &[u8],
    user_id: i64,
    auth_time: i64,
    expires_at: i64,
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM op_browser_sessions WHERE expires_at < ?").bind(auth_time).execute(&mut *conn).await?;
    sqlx::query("INSERT INTO op_browser_sessions (id_hash, user_id, auth_time, expires_at) VALUES (?, ?, ?, ?)")
        .bind(id_hash)
        .bind(user_id)
        .bind(auth_time)
        .bind(expires_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// The user id and sign-in time of a browser session open at `now_ms` whose user is enabled.
pub async fn browser_session(
    conn: &mut SqliteConnection,
    id_hash: &[u8],
    now_ms: i64,
) -> sqlx::Result<Option<(i64, i64)>> {
    sqlx::query_as(
        "SELECT b.user_id, b.auth_time FROM op_browser_sessions b JOIN users u ON u.id = b.user_id \
         WHERE b.id_hash = ? AND b.expires_at > ? AND u.disabled_at IS NULL",
    )
    .bind(id_hash)
    .bind(now_ms)
    .fetch_optional(conn)
    .await
}

/// Ends a browser session.
pub async fn delete_browser_session(conn: &mut SqliteConnection, id_hash: &[u8]) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM op_browser_sessions WHERE id_hash = ?").bind(id_hash).execute(conn).await?;
    Ok(())
}
