//! User administration (OWASP ASVS 5.0 §7.4): reset a password, disable or enable an account,
//! end a user's sessions — from the command line on the server's host (`tessera-server user
//! passwd|disable|enable|end-sessions`) or through the admin-only API (`/api/admin/users/*`).
//!
//! A password reset, a disable and an end-sessions end every open session of the user **in the
//! same transaction** as the change, each audited as `session_revoked`, so no session outlives
//! the credential it was opened with. Open WebSocket streams hear it once that transaction has
//! committed: in the server process through [`crate::auth::SessionPolicy::announce`]; from a
//! command, the caller tells the running server the ids returned here over the control socket
//! ([`crate::control::tell_sessions_ended`]).

use tessera_protocol::Role;

use crate::session_end::{EndReason, Ending, SessionEnded};
use crate::state::AppState;
use crate::store::audit::{self, AuditKind, AuditRecord};
use crate::store::sessions;
use crate::store::users::{self, UserRow};
use crate::user_rules::{capitalize, check_password, check_username};

/// Who asks.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// `tessera-server user …` on the server's host: whoever may read the data dir.
    Host,
    /// An admin through the API.
    Admin {
        /// The admin's login name.
        username: &'a str,
        /// The admin's session.
        session_id: &'a str,
        /// The admin's IP.
        ip: &'a str,
    },
}

impl<'a> Actor<'a> {
    fn describe(self) -> String {
        match self {
            Self::Host => "the server command line".to_owned(),
            Self::Admin { username, session_id, .. } => format!("admin {username} (session {session_id})"),
        }
    }

    fn ip(self) -> Option<&'a str> {
        match self {
            Self::Host => None,
            Self::Admin { ip, .. } => Some(ip),
        }
    }
}

/// Why an administration request was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No user has that login name.
    #[error("no user named {0:?}")]
    NoSuchUser(String),
    /// `user add` of a name that exists.
    #[error(
        "a user named {0:?} already exists; to reset its password use `tessera-server user passwd {0} --password-stdin`"
    )]
    Exists(String),
    /// A malformed name or a password that is too short or too long.
    #[error("{0}")]
    Invalid(String),
    /// Every password-hash slot is busy and the wait queue is full: retry later.
    #[error("the server is busy hashing passwords; try again in a moment")]
    Busy,
    /// Storage or hashing failed.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<crate::password::HashError> for AdminError {
    fn from(e: crate::password::HashError) -> Self {
        match e {
            crate::password::HashError::Busy => Self::Busy,
            crate::password::HashError::Failed(why) => Self::Internal(anyhow::anyhow!(why)),
        }
    }
}

impl From<sqlx::Error> for AdminError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(e.into())
    }
}

/// What a request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminOutcome {
    /// The user acted on.
    pub user_id: i64,
    /// Its login name.
    pub username: String,
    /// Whether it is disabled now.
    pub disabled: bool,
    /// Ids of the sessions this request ended.
    pub ended: Vec<String>,
}

/// The change made, besides ending sessions.
#[derive(Debug, Clone, Copy)]
enum Change<'a> {
    Password { hash: &'a str },
    Disable,
    Enable,
    EndSessions,
}

impl Change<'_> {
    /// Audit kind of the change.
    fn audit_kind(self) -> AuditKind {
        match self {
            Self::Password { .. } => AuditKind::UserPasswordReset,
            Self::Disable => AuditKind::UserDisabled,
            Self::Enable => AuditKind::UserEnabled,
            Self::EndSessions => AuditKind::UserSessionsEnded,
        }
    }

    /// Whether the user's sessions end with it (not on enable: there are none).
    fn ends_sessions(self) -> bool {
        !matches!(self, Self::Enable)
    }
}

/// Creates a user; refuses a name that exists (a password reset must end sessions: that is
/// [`reset_password`]).
pub async fn create_user(state: &AppState, username: &str, password: &str, role: Role) -> Result<i64, AdminError> {
    check_username(username).map_err(AdminError::Invalid)?;
    check_password(password).map_err(AdminError::Invalid)?;
    let hash = state.hasher.hash(password.to_owned()).await?;
    let now = state.clock.now_ms();
    let mut tx = state.db.write.begin().await?;
    let display_name = capitalize(username);
    let user = users::NewUser { username, display_name: &display_name, role, password_hash: &hash, now_ms: now };
    let Some(id) = users::insert(&mut tx, user).await? else {
        return Err(AdminError::Exists(username.to_owned()));
    };
    let detail = format!("created as {} by {}", role.as_str(), Actor::Host.describe());
    let record = AuditRecord {
        user_id: Some(id),
        username: Some(username),
        detail: Some(&detail),
        ..AuditRecord::new(AuditKind::UserCreated, now)
    };
    audit::record(&mut tx, record).await?;
    tx.commit().await?;
    Ok(id)
}

/// Sets a new password and ends every session of the user, in one transaction.
pub async fn reset_password(
    state: &AppState,
    username: &str,
    password: &str,
    actor: Actor<'_>,
) -> Result<AdminOutcome, AdminError> {
    check_password(password).map_err(AdminError::Invalid)?;
    // The hash is computed before the transaction: the single writer never waits for argon2.
    let hash = state.hasher.hash(password.to_owned()).await?;
    apply(state, username, Change::Password { hash: &hash }, actor).await
}

/// Disables the user (no sign-in, no refresh) and ends every session of it, in one transaction.
pub async fn disable(state: &AppState, username: &str, actor: Actor<'_>) -> Result<AdminOutcome, AdminError> {
    apply(state, username, Change::Disable, actor).await
}

/// Enables a disabled user (it signs in again with its password; no session comes back).
pub async fn enable(state: &AppState, username: &str, actor: Actor<'_>) -> Result<AdminOutcome, AdminError> {
    apply(state, username, Change::Enable, actor).await
}

/// Ends every open session of the user (the account stays usable: it may sign in again).
pub async fn end_sessions(state: &AppState, username: &str, actor: Actor<'_>) -> Result<AdminOutcome, AdminError> {
    apply(state, username, Change::EndSessions, actor).await
}

async fn apply(
    state: &AppState,
    username: &str,
    change: Change<'_>,
    actor: Actor<'_>,
) -> Result<AdminOutcome, AdminError> {
    let now = state.clock.now_ms();
    let mut tx = state.db.write.begin().await?;
    let user = users::by_name(&mut tx, username).await?.ok_or_else(|| AdminError::NoSuchUser(username.to_owned()))?;
    let disabled = match change {
        Change::Password { hash } => {
            users::set_password_hash(&mut tx, user.id, hash).await?;
            user.is_disabled()
        }
        Change::Disable => {
            // Disabling twice keeps the first time.
            users::set_disabled_at(&mut tx, user.id, Some(user.disabled_at.unwrap_or(now))).await?;
            true
        }
        Change::Enable => {
            users::set_disabled_at(&mut tx, user.id, None).await?;
            false
        }
        Change::EndSessions => user.is_disabled(),
    };
    let by = actor.describe();
    let kind = change.audit_kind().as_str();
    let ended = if change.ends_sessions() {
        let why = format!("{} by {by}", kind.trim_start_matches("user_").replace('_', " "));
        end_all(state, &mut tx, &user, &why, actor).await?
    } else {
        Vec::new()
    };
    let detail = format!("by {by}; {} session(s) ended", ended.len());
    let record = AuditRecord {
        user_id: Some(user.id),
        username: Some(&user.username),
        ip: actor.ip(),
        detail: Some(&detail),
        ..AuditRecord::new(change.audit_kind(), now)
    };
    audit::record(&mut tx, record).await?;
    tx.commit().await?;
    let ids: Vec<String> = ended.iter().map(|end| end.session_id.clone()).collect();
    state.sessions.announce(ended);
    tracing::info!(user_id = user.id, action = kind, sessions_ended = ids.len(), "{by}");
    Ok(AdminOutcome { user_id: user.id, username: user.username, disabled, ended: ids })
}

/// Ends every open session of `user` inside `tx` (each audited); returns the ends, to announce
/// to their streams in this process once `tx` has committed.
async fn end_all(
    state: &AppState,
    tx: &mut sqlx::SqliteConnection,
    user: &UserRow,
    why: &str,
    actor: Actor<'_>,
) -> sqlx::Result<Vec<SessionEnded>> {
    let ip = actor.ip();
    let open = sessions::open_for_user(tx, user.id).await?;
    let mut ended = Vec::with_capacity(open.len());
    for row in open {
        ended.extend(
            state.sessions.end(tx, Ending { row: &row, reason: EndReason::Revoked, ip, detail: Some(why) }).await?,
        );
    }
    Ok(ended)
}
