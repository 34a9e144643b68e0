//! The `external_identities` table and the sessions keyed by `device_key` (issue 15).

use sqlx::SqliteConnection;

use super::sessions::{COLUMNS, SessionRow};

/// The local user a provider's subject is, if it was seen before.
pub async fn user_for(conn: &mut SqliteConnection, issuer: &str, subject: &str) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT user_id FROM external_identities WHERE issuer = ? AND subject = ?")
        .bind(issuer)
        .bind(subject)
        .fetch_optional(conn)
        .await
}

/// Links a provider's subject to a local user; false when the subject is linked already.
pub async fn link(conn: &mut SqliteConnection, issuer: &str, subject: &str, user_id: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO external_identities (issuer, subject, user_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
    )
    .bind(issuer)
    .bind(subject)
    .bind(user_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The newest session with this device key (open or ended).
pub async fn newest_session(conn: &mut SqliteConnection, device_key: &str) -> sqlx::Result<Option<SessionRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM sessions s WHERE s.device_key = ? ORDER BY s.created_at DESC, s.rowid DESC LIMIT 1"
    ))
    .bind(device_key)
    .fetch_optional(conn)
    .await
}

/// Marks a just-inserted session as the one for `device_key`; false when another request opened
/// one for the key first (the caller then deletes its own and uses that one).
pub async fn claim_device_key(conn: &mut SqliteConnection, session_id: &str, device_key: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE OR IGNORE sessions SET device_key = ? WHERE id = ?")
        .bind(device_key)
        .bind(session_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Sets a user's role (`agent` / `admin`) and display name as the provider last said.
pub async fn update_profile(
    conn: &mut SqliteConnection,
    user_id: i64,
    display_name: &str,
    role: tessera_protocol::Role,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET display_name = ?, role = ? WHERE id = ? AND (display_name != ? OR role != ?)")
        .bind(display_name)
        .bind(role.as_str())
        .bind(user_id)
        .bind(display_name)
        .bind(role.as_str())
        .execute(conn)
        .await?;
    Ok(())
}
