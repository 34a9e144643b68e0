//! `/api/notifications*` (polling with the WebSocket's cursor, mark read, unread count) and
//! `POST /api/admin/notify`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use tessera_protocol::{AdminNotify, Notification, NotificationPage, ReadAllResponse, Role, UnreadCount};

use crate::error::{AppError, AppResult};
use crate::extract::{Authenticated, JsonBody, Path, Query};
use crate::notify::outbox;
use crate::state::SharedState;
use crate::store::{notifications, users};

/// Most items per page.
pub const MAX_LIMIT: i64 = 500;
/// Longest admin message, in characters.
pub const MAX_MESSAGE: usize = 2000;

/// Query of `GET /api/notifications`.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    /// Cursor: items with `seq > after` (default 0).
    after: Option<i64>,
    /// Page size, 1..=500 (default 100).
    limit: Option<i64>,
    /// The epoch the cursor belongs to (optional; a different one means `reset`).
    epoch: Option<String>,
}

/// `GET /api/notifications?after=SEQ&limit=N[&epoch=E]`.
pub async fn list(
    State(state): State<SharedState>,
    auth: Authenticated,
    Query(query): Query<PageQuery>,
) -> AppResult<Json<NotificationPage>> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AppError::invalid_request(format!("limit must be between 1 and {MAX_LIMIT}")));
    }
    let after = query.after.unwrap_or(0);
    let stream = outbox::stream(&state, auth.user_id()).await?;
    // Without an epoch the cursor is taken on trust (a plain poller), unless it is out of range.
    let epoch = query.epoch.as_deref().or(Some(stream.epoch.as_str()));
    let reset = !outbox::can_resume(&stream, after, epoch);
    let from = if reset { 0 } else { after };
    let items = {
        let mut conn = state.db.read.acquire().await?;
        outbox::read_after(&mut conn, auth.user_id(), from, limit).await?
    };
    let next_after = items.last().map_or(from, |n: &Notification| n.seq);
    Ok(Json(NotificationPage { epoch: stream.epoch, reset, items, next_after, last_seq: stream.last_seq }))
}

/// `POST /api/notifications/{seq}/read`.
pub async fn mark_read(
    State(state): State<SharedState>,
    auth: Authenticated,
    Path(seq): Path<i64>,
) -> AppResult<StatusCode> {
    auth.limit_write(&state)?;
    let mut conn = state.db.write.acquire().await?;
    if notifications::mark_read(&mut conn, auth.user_id(), seq, state.clock.now_ms()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found("no such notification"))
    }
}

/// `POST /api/notifications/read-all`.
pub async fn read_all(State(state): State<SharedState>, auth: Authenticated) -> AppResult<Json<ReadAllResponse>> {
    auth.limit_write(&state)?;
    let mut conn = state.db.write.acquire().await?;
    let marked = notifications::mark_all_read(&mut conn, auth.user_id(), state.clock.now_ms()).await?;
    Ok(Json(ReadAllResponse { marked }))
}

/// `GET /api/notifications/unread-count`.
pub async fn unread_count(State(state): State<SharedState>, auth: Authenticated) -> AppResult<Json<UnreadCount>> {
    let mut conn = state.db.read.acquire().await?;
    let unread = notifications::unread_count(&mut conn, auth.user_id()).await?;
    Ok(Json(UnreadCount { unread: u64::try_from(unread).unwrap_or(0) }))
}

/// `POST /api/admin/notify`: an admin posts a `message` notification to a user.
pub async fn admin_notify(
    State(state): State<SharedState>,
    auth: Authenticated,
    JsonBody(req): JsonBody<AdminNotify>,
) -> AppResult<(StatusCode, Json<Notification>)> {
    let (admin, recipient) = {
        let mut conn = state.db.read.acquire().await?;
        (users::by_id(&mut conn, auth.user_id()).await?, users::by_name(&mut conn, &req.user).await?)
    };
    let admin = admin
        .filter(|u| u.role() == Role::Admin)
        .ok_or_else(|| AppError::forbidden("only admins may post notifications"))?;
    let recipient = recipient.ok_or_else(|| AppError::not_found("no such user"))?;
    let message = check_message(&req.message)?;
    let payload = serde_json::json!({ "message": message, "from": admin.username });
    let notification = outbox::publish(&state, recipient.id, "message", &payload).await?;
    Ok((StatusCode::CREATED, Json(Notification::clone(&notification))))
}

/// A message's text: non-empty, bounded, without control characters other than newlines.
pub fn check_message(text: &str) -> AppResult<String> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_MESSAGE {
        return Err(AppError::invalid_request(format!("message must be 1 to {MAX_MESSAGE} characters")));
    }
    Ok(text.chars().filter(|c| *c == '\n' || !c.is_control()).collect())
}
