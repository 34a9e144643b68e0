//! `/api/admin/users/*`: the administration commands as admin-only endpoints (see
//! [`crate::admin`] and docs/protocol.md, "Administration"). Each is audited on the user acted on,
//! naming the admin and its session.

use axum::Json;
use axum::extract::State;
use tessera_protocol::{AdminPasswordReset, AdminUser, AdminUserOutcome, Role};

use crate::admin::{self, Actor, AdminError, AdminOutcome};
use crate::error::{AppError, AppResult};
use crate::extract::{Authenticated, JsonBody};
use crate::state::{AppState, SharedState};
use crate::store::users::{self, UserRow};

impl From<AdminError> for AppError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::NoSuchUser(_) => AppError::not_found("no such user"),
            AdminError::Exists(_) | AdminError::Invalid(_) => AppError::invalid_request(e.to_string()),
            AdminError::Busy => AppError::server_busy("too many password hashes at once", 1),
            AdminError::Internal(e) => AppError::from(e),
        }
    }
}

/// The caller's user row if it is an admin; 403 otherwise.
async fn admin_of(state: &AppState, auth: &Authenticated) -> AppResult<UserRow> {
    let mut conn = state.db.read.acquire().await?;
    users::by_id(&mut conn, auth.user_id())
        .await?
        .filter(|u| u.role() == Role::Admin)
        .ok_or_else(|| AppError::forbidden("only admins may administer users"))
}

fn actor<'a>(admin: &'a UserRow, auth: &'a Authenticated) -> Actor<'a> {
    Actor::Admin { username: &admin.username, session_id: &auth.session.id, ip: &auth.ip }
}

fn outcome(done: AdminOutcome) -> Json<AdminUserOutcome> {
    Json(AdminUserOutcome {
        user: done.username,
        disabled: done.disabled,
        sessions_ended: u64::try_from(done.ended.len()).unwrap_or(u64::MAX),
    })
}

/// `POST /api/admin/users/passwd`: new password; every session of the user ends.
pub async fn passwd(
    State(state): State<SharedState>,
    auth: Authenticated,
    JsonBody(req): JsonBody<AdminPasswordReset>,
) -> AppResult<Json<AdminUserOutcome>> {
    let admin = admin_of(&state, &auth).await?;
    Ok(outcome(admin::reset_password(&state, &req.user, &req.password, actor(&admin, &auth)).await?))
}

/// `POST /api/admin/users/disable`: no sign-in, no refresh; every session of the user ends.
pub async fn disable(
    State(state): State<SharedState>,
    auth: Authenticated,
    JsonBody(req): JsonBody<AdminUser>,
) -> AppResult<Json<AdminUserOutcome>> {
    let admin = admin_of(&state, &auth).await?;
    if admin.username == req.user {
        // An admin locking itself out by mistake would need the host to undo it.
        return Err(AppError::invalid_request(
            "an admin cannot disable its own account; ask another admin or run `tessera-server user disable` on the host",
        ));
    }
    Ok(outcome(admin::disable(&state, &req.user, actor(&admin, &auth)).await?))
}

/// `POST /api/admin/users/enable`.
pub async fn enable(
    State(state): State<SharedState>,
    auth: Authenticated,
    JsonBody(req): JsonBody<AdminUser>,
) -> AppResult<Json<AdminUserOutcome>> {
    let admin = admin_of(&state, &auth).await?;
    Ok(outcome(admin::enable(&state, &req.user, actor(&admin, &auth)).await?))
}

/// `POST /api/admin/users/end-sessions`: every session of the user ends; the account stays usable.
pub async fn end_sessions(
    State(state): State<SharedState>,
    auth: Authenticated,
    JsonBody(req): JsonBody<AdminUser>,
) -> AppResult<Json<AdminUserOutcome>> {
    let admin = admin_of(&state, &auth).await?;
    Ok(outcome(admin::end_sessions(&state, &req.user, actor(&admin, &auth)).await?))
}
