//! `/api/*`: the signed-in user, the current session, the user's sessions (devices), audit.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use tessera_protocol::{AuditEntry, AuditList, DeviceInfo, Me, RevokeOthersResponse, SessionInfo, SessionList};

use crate::auth::{SessionPolicy, check_open};
use crate::clock::to_datetime;
use crate::error::{AppError, AppResult};
use crate::extract::{Authenticated, Path, Query};
use crate::session_end::{EndReason, Ending};
use crate::state::{AppState, SharedState};
use crate::store::sessions::{self, SessionRow};
use crate::store::{audit, users};

/// `GET /api/me`.
pub async fn me(State(state): State<SharedState>, auth: Authenticated) -> AppResult<Json<Me>> {
    let mut conn = state.db.read.acquire().await?;
    let user = users::by_id(&mut conn, auth.user_id())
        .await?
        .ok_or_else(|| AppError::not_found("the user no longer exists"))?;
    Ok(Json(Me {
        user_id: user.id.to_string(),
        role: user.role(),
        username: user.username,
        display_name: user.display_name,
        session_id: auth.session.id,
    }))
}

fn session_info(state: &AppState, row: SessionRow, current_id: &str) -> SessionInfo {
    let idle_expires_at = row.last_activity_at.saturating_add(state.idle_ms());
    SessionInfo {
        current: row.id == current_id,
        device: DeviceInfo { name: row.device_name, platform: row.platform, app_version: row.app_version },
        id: row.id,
        client_id: row.client_id,
        ip: row.ip,
        created_at: to_datetime(row.created_at),
        last_activity_at: to_datetime(row.last_activity_at),
        last_seen_at: to_datetime(row.last_seen_at),
        idle_expires_at: to_datetime(idle_expires_at.min(row.expires_at)),
        expires_at: to_datetime(row.expires_at),
    }
}

/// `GET /api/session`: the current session.
pub async fn current(State(state): State<SharedState>, auth: Authenticated) -> Json<SessionInfo> {
    let id = auth.session.id.clone();
    Json(session_info(&state, auth.session, &id))
}

/// Activity reports closer together than this are coalesced: the later ones are answered from
/// the session as it is, without a database write (the idle deadline moves by at most this much
/// less than the client might expect). Never more than a tenth of the idle timeout, so a client
/// that reports often enough always keeps its session (a short idle timeout, as in tests, would
/// otherwise end between two recorded reports).
pub const ACTIVITY_RESOLUTION_MS: i64 = 5_000;

fn activity_resolution_ms(idle_ms: i64) -> i64 {
    ACTIVITY_RESOLUTION_MS.min(idle_ms / 10)
}

/// `POST /api/session/activity`: the user is active; extends the idle deadline.
pub async fn activity(State(state): State<SharedState>, auth: Authenticated) -> AppResult<Json<SessionInfo>> {
    auth.limit_write(&state)?;
    let now = state.clock.now_ms();
    if now - auth.session.last_activity_at < activity_resolution_ms(state.idle_ms()) {
        let id = auth.session.id.clone();
        return Ok(Json(session_info(&state, auth.session, &id)));
    }
    let mut conn = state.db.write.acquire().await?;
    sessions::touch_activity(&mut conn, &auth.session.id, now).await?;
    let row = sessions::by_id(&mut conn, &auth.session.id)
        .await?
        .ok_or_else(|| AppError::not_found("the session no longer exists"))?;
    Ok(Json(session_info(&state, row, &auth.session.id)))
}

/// `GET /api/sessions`: the user's open sessions, newest first.
pub async fn list(State(state): State<SharedState>, auth: Authenticated) -> AppResult<Json<SessionList>> {
    let rows = {
        let mut conn = state.db.read.acquire().await?;
        sessions::open_for_user(&mut conn, auth.user_id()).await?
    };
    let now = state.clock.now_ms();
    let sessions = rows
        .into_iter()
        .filter(|row| check_open(row, now, state.idle_ms()).is_ok())
        .map(|row| session_info(&state, row, &auth.session.id))
        .collect();
    Ok(Json(SessionList { sessions }))
}

/// `DELETE /api/sessions/{id}`: signs out one of the user's devices (the current one included).
pub async fn revoke_one(
    State(policy): State<SessionPolicy>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let mut conn = policy.db.write.acquire().await?;
    let row = sessions::by_id(&mut conn, &id)
        .await?
        .filter(|row| row.user_id == auth.user_id() && row.ended_at.is_none())
        .ok_or_else(|| AppError::not_found("no such session"))?;
    let detail = format!("revoked from session {}", auth.session.id);
    policy
        .end_now(&mut conn, Ending { row: &row, reason: EndReason::Revoked, ip: Some(&auth.ip), detail: Some(&detail) })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/sessions/revoke-others`: signs out every other device of the user.
pub async fn revoke_others(
    State(policy): State<SessionPolicy>,
    auth: Authenticated,
) -> AppResult<Json<RevokeOthersResponse>> {
    let mut tx = policy.db.write.begin().await?;
    let others: Vec<SessionRow> = sessions::open_for_user(&mut tx, auth.user_id())
        .await?
        .into_iter()
        .filter(|row| row.id != auth.session.id)
        .collect();
    let detail = format!("revoked from session {}", auth.session.id);
    let mut ended = Vec::with_capacity(others.len());
    for row in &others {
        ended.extend(
            policy
                .end(&mut tx, Ending { row, reason: EndReason::Revoked, ip: Some(&auth.ip), detail: Some(&detail) })
                .await?,
        );
    }
    tx.commit().await?;
    policy.announce(ended);
    Ok(Json(RevokeOthersResponse { revoked: others.len() as u64 }))
}

/// Query of `GET /api/audit`.
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    /// At most this many events (1..=500, default 100).
    limit: Option<i64>,
}

/// `GET /api/audit`: the user's own events, newest first.
pub async fn audit_list(
    State(state): State<SharedState>,
    auth: Authenticated,
    Query(query): Query<AuditQuery>,
) -> AppResult<Json<AuditList>> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(AppError::invalid_request("limit must be between 1 and 500"));
    }
    let mut conn = state.db.read.acquire().await?;
    let events = audit::for_user(&mut conn, auth.user_id(), limit)
        .await?
        .into_iter()
        .map(|r| AuditEntry {
            id: r.id,
            at: to_datetime(r.at),
            kind: r.kind,
            session_id: r.session_id,
            ip: r.ip,
            detail: r.detail,
        })
        .collect();
    Ok(Json(AuditList { events }))
}
