//! The `audit` table: sign-ins, refreshes, revocations, reuse detections. Never a secret.

use sqlx::SqliteConnection;

/// What an audit event records. The stored (and `GET /api/audit`) form is [`AuditKind::as_str`];
/// those strings are part of the API and never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditKind {
    /// A password grant opened a session.
    SignInSuccess,
    /// A password grant was refused (wrong credentials, disabled account).
    SignInFailure,
    /// A refresh token was rotated (or re-granted to a retry after a lost response).
    Refresh,
    /// A session was signed out, revoked from another device or by an administrator.
    SessionRevoked,
    /// A rotated refresh token was replayed; the session was revoked.
    RefreshTokenReuse,
    /// A session ended after its idle timeout.
    SessionIdleTimeout,
    /// A session reached its absolute lifetime.
    SessionExpired,
    /// `tessera-server user add` (or `--demo`) created a user.
    UserCreated,
    /// An administrator reset a user's password.
    UserPasswordReset,
    /// An administrator disabled a user.
    UserDisabled,
    /// An administrator enabled a user again.
    UserEnabled,
    /// An administrator ended every session of a user.
    UserSessionsEnded,
}

impl AuditKind {
    /// Every kind, in declaration order.
    pub const ALL: [Self; 12] = [
        Self::SignInSuccess,
        Self::SignInFailure,
        Self::Refresh,
        Self::SessionRevoked,
        Self::RefreshTokenReuse,
        Self::SessionIdleTimeout,
        Self::SessionExpired,
        Self::UserCreated,
        Self::UserPasswordReset,
        Self::UserDisabled,
        Self::UserEnabled,
        Self::UserSessionsEnded,
    ];

    /// The stored form, as `GET /api/audit` shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignInSuccess => "sign_in_success",
            Self::SignInFailure => "sign_in_failure",
            Self::Refresh => "refresh",
            Self::SessionRevoked => "session_revoked",
            Self::RefreshTokenReuse => "refresh_token_reuse",
            Self::SessionIdleTimeout => "session_idle_timeout",
            Self::SessionExpired => "session_expired",
            Self::UserCreated => "user_created",
            Self::UserPasswordReset => "user_password_reset",
            Self::UserDisabled => "user_disabled",
            Self::UserEnabled => "user_enabled",
            Self::UserSessionsEnded => "user_sessions_ended",
        }
    }
}

/// What to record.
#[derive(Debug, Clone)]
pub struct AuditRecord<'a> {
    /// When (ms).
    pub at: i64,
    /// Event kind.
    pub kind: AuditKind,
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

impl AuditRecord<'_> {
    /// An event of `kind` at `at` (ms) with nothing else known yet; fill in the rest with
    /// `AuditRecord { user_id: Some(id), ..AuditRecord::new(kind, at) }`.
    pub fn new(kind: AuditKind, at: i64) -> Self {
        Self { at, kind, user_id: None, username: None, session_id: None, ip: None, detail: None }
    }
}

/// Appends an event.
pub async fn record(conn: &mut SqliteConnection, r: AuditRecord<'_>) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO audit (at, kind, user_id, username, session_id, ip, detail) VALUES (?, ?, ?, ?, ?, ?, ?)")
        .bind(r.at)
        .bind(r.kind.as_str())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_kinds_keep_their_stored_strings() {
        // These strings are in every existing database and in `GET /api/audit` answers.
        let pinned = [
            (AuditKind::SignInSuccess, "sign_in_success"),
            (AuditKind::SignInFailure, "sign_in_failure"),
            (AuditKind::Refresh, "refresh"),
            (AuditKind::SessionRevoked, "session_revoked"),
            (AuditKind::RefreshTokenReuse, "refresh_token_reuse"),
            (AuditKind::SessionIdleTimeout, "session_idle_timeout"),
            (AuditKind::SessionExpired, "session_expired"),
            (AuditKind::UserCreated, "user_created"),
            (AuditKind::UserPasswordReset, "user_password_reset"),
            (AuditKind::UserDisabled, "user_disabled"),
            (AuditKind::UserEnabled, "user_enabled"),
            (AuditKind::UserSessionsEnded, "user_sessions_ended"),
        ];
        assert_eq!(pinned.len(), AuditKind::ALL.len(), "every kind is pinned here");
        for (kind, stored) in pinned {
            assert_eq!(kind.as_str(), stored, "{kind:?} must keep its stored form");
        }
        for (i, kind) in AuditKind::ALL.into_iter().enumerate() {
            assert_eq!(kind, pinned[i].0, "ALL lists every kind once, in order");
        }
    }
}
