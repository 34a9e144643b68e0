//! The `users` table.

use sqlx::SqliteConnection;
use tessera_protocol::Role;

const COLUMNS: &str = "id, username, display_name, role, password_hash, disabled_at";

/// A user row. `Debug` leaves out the password hash (an offline-guessable secret).
#[derive(Clone, sqlx::FromRow)]
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
    /// When an administrator disabled the account (ms); `None` while enabled.
    pub disabled_at: Option<i64>,
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("display_name", &self.display_name)
            .field("role", &self.role)
            .field("password_hash", &"<redacted>")
            .field("disabled_at", &self.disabled_at)
            .finish()
    }
}

impl UserRow {
    /// The role as the protocol type (unknown text reads as the least privileged role).
    pub fn role(&self) -> Role {
        if self.role == "admin" { Role::Admin } else { Role::Agent }
    }

    /// Whether an administrator disabled the account.
    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }
}

/// Finds a user by login name.
pub async fn by_name(conn: &mut SqliteConnection, username: &str) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE username = ?")).bind(username).fetch_optional(conn).await
}

/// Finds a user by id.
pub async fn by_id(conn: &mut SqliteConnection, id: i64) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = ?")).bind(id).fetch_optional(conn).await
}

/// Creates a user; `None` when the name is taken (nothing changed).
pub async fn insert(conn: &mut SqliteConnection, user: NewUser<'_>) -> sqlx::Result<Option<i64>> {
    insert_or(conn, "DO NOTHING", user).await
}

/// Creates a user, or replaces the password, display name and role of an existing one. Only for
/// seeding benchmarks: it ends no session, so operators reset passwords with
/// [`crate::admin::reset_password`] instead.
pub async fn upsert(
    conn: &mut SqliteConnection,
    username: &str,
    display_name: &str,
    role: Role,
    password_hash: &str,
    now_ms: i64,
) -> sqlx::Result<i64> {
    let user = NewUser { username, display_name, role, password_hash, now_ms };
    let on_conflict = "DO UPDATE SET display_name = excluded.display_name, role = excluded.role,
         password_hash = excluded.password_hash";
    insert_or(conn, on_conflict, user).await?.ok_or(sqlx::Error::RowNotFound)
}

/// A user to create.
#[derive(Clone, Copy)]
pub struct NewUser<'a> {
    /// Login name.
    pub username: &'a str,
    /// Name to show.
    pub display_name: &'a str,
    /// Role.
    pub role: Role,
    /// PHC-format argon2id hash (left out of `Debug`).
    pub password_hash: &'a str,
    /// Creation time (ms).
    pub now_ms: i64,
}

impl std::fmt::Debug for NewUser<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser").field("username", &self.username).field("role", &self.role).finish_non_exhaustive()
    }
}

/// `INSERT … ON CONFLICT(username) <on_conflict> RETURNING id`.
async fn insert_or(conn: &mut SqliteConnection, on_conflict: &str, user: NewUser<'_>) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(&format!(
        "INSERT INTO users (username, display_name, role, password_hash, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(username) {on_conflict} RETURNING id"
    ))
    .bind(user.username)
    .bind(user.display_name)
    .bind(user.role.as_str())
    .bind(user.password_hash)
    .bind(user.now_ms)
    .fetch_optional(conn)
    .await
}

/// Replaces a user's password hash.
pub async fn set_password_hash(conn: &mut SqliteConnection, id: i64, password_hash: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?").bind(password_hash).bind(id).execute(conn).await?;
    Ok(())
}

/// Disables (`Some(when)`) or enables (`None`) a user.
pub async fn set_disabled_at(conn: &mut SqliteConnection, id: i64, disabled_at: Option<i64>) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET disabled_at = ? WHERE id = ?").bind(disabled_at).bind(id).execute(conn).await?;
    Ok(())
}

/// Whether the user is disabled (an unknown id reads as disabled: nobody may act as it).
pub async fn is_disabled(conn: &mut SqliteConnection, id: i64) -> sqlx::Result<bool> {
    let found: Option<Option<i64>> =
        sqlx::query_scalar("SELECT disabled_at FROM users WHERE id = ?").bind(id).fetch_optional(conn).await?;
    Ok(found.is_none_or(|at| at.is_some()))
}
