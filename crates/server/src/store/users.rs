//! The `users` table.

use sqlx::SqliteConnection;
use tessera_protocol::Role;

/// A user row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    /// Id (the token `sub`).
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Name to show.
    pub display_name: String,
    /// `agent` or `admin`.
    pub role: String,
    /// PHC-format argon2id hash.
    pub password_hash: String,
}

impl UserRow {
    /// The role as the protocol type (unknown text reads as the least privileged role).
    pub fn role(&self) -> Role {
        if self.role == "admin" { Role::Admin } else { Role::Agent }
    }
}

/// Finds a user by login name.
pub async fn by_name(conn: &mut SqliteConnection, username: &str) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as("SELECT id, username, display_name, role, password_hash FROM users WHERE username = ?")
        .bind(username)
        .fetch_optional(conn)
        .await
}

/// Finds a user by id.
pub async fn by_id(conn: &mut SqliteConnection, id: i64) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as("SELECT id, username, display_name, role, password_hash FROM users WHERE id = ?")
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Creates a user, or replaces the password, display name and role of an existing one.
pub async fn upsert(
    conn: &mut SqliteConnection,
    username: &str,
    display_name: &str,
    role: Role,
    password_hash: &str,
    now_ms: i64,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO users (username, display_name, role, password_hash, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(username) DO UPDATE SET display_name = excluded.display_name,
             role = excluded.role, password_hash = excluded.password_hash
         RETURNING id",
    )
    .bind(username)
    .bind(display_name)
    .bind(role.as_str())
    .bind(password_hash)
    .bind(now_ms)
    .fetch_one(conn)
    .await
}
