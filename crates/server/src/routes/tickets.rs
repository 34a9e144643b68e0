//! `/api/tickets*`: a minimal support desk. It exists to produce real domain events
//! (`ticket.created`, `comment.created`, `ticket.assigned`) for the hooks registry; every
//! signed-in user may open, comment on and assign tickets.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use tessera_protocol::{AssignTicket, Comment, NewComment, NewTicket, Ticket};

use crate::error::{AppError, AppResult};
use crate::extract::{Authenticated, JsonBody, Path};
use crate::notify::hooks::DomainEvent;
use crate::state::{AppState, SharedState};
use crate::store::tickets::{self, TicketRow};
use crate::store::users::{self, UserRow};

const MAX_SUBJECT: usize = 200;
const MAX_COMMENT: usize = 4000;

fn ticket(row: &TicketRow) -> Ticket {
    Ticket {
        id: row.id,
        subject: row.subject.clone(),
        requester: row.requester.clone(),
        assignee: row.assignee.clone(),
    }
}

fn text(value: &str, max: usize, what: &str) -> AppResult<String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max {
        return Err(AppError::invalid_request(format!("{what} must be 1 to {max} characters")));
    }
    Ok(value.to_owned())
}

async fn user(state: &AppState, id: i64) -> AppResult<UserRow> {
    let mut conn = state.db.read.acquire().await?;
    users::by_id(&mut conn, id).await?.ok_or_else(|| AppError::not_found("the user no longer exists"))
}

async fn user_named(state: &AppState, name: &str) -> AppResult<UserRow> {
    let mut conn = state.db.read.acquire().await?;
    users::by_name(&mut conn, name).await?.ok_or_else(|| AppError::invalid_request("no such assignee"))
}

async fn ticket_row(state: &AppState, id: i64) -> AppResult<TicketRow> {
    let mut conn = state.db.read.acquire().await?;
    tickets::by_id(&mut conn, id).await?.ok_or_else(|| AppError::not_found("no such ticket"))
}

/// `POST /api/tickets`: opens a ticket (the caller is the requester).
pub async fn create(
    State(state): State<SharedState>,
    auth: Authenticated,
    JsonBody(req): JsonBody<NewTicket>,
) -> AppResult<(StatusCode, Json<Ticket>)> {
    auth.limit_write(&state)?;
    let subject = text(&req.subject, MAX_SUBJECT, "subject")?;
    let assignee = match req.assignee.as_deref() {
        Some(name) => Some(user_named(&state, name).await?.id),
        None => None,
    };
    let id = {
        let mut conn = state.db.write.acquire().await?;
        tickets::insert(&mut conn, &subject, auth.user_id(), assignee, state.clock.now_ms()).await?
    };
    let row = ticket_row(&state, id).await?;
    state.notify.dispatch(DomainEvent::TicketCreated { ticket: row.clone() }).await;
    Ok((StatusCode::CREATED, Json(ticket(&row))))
}

/// `POST /api/tickets/{id}/comments`.
pub async fn comment(
    State(state): State<SharedState>,
    auth: Authenticated,
    Path(id): Path<i64>,
    JsonBody(req): JsonBody<NewComment>,
) -> AppResult<(StatusCode, Json<Comment>)> {
    auth.limit_write(&state)?;
    let body = text(&req.body, MAX_COMMENT, "body")?;
    let row = ticket_row(&state, id).await?;
    let author = user(&state, auth.user_id()).await?;
    let comment_id = {
        let mut conn = state.db.write.acquire().await?;
        tickets::add_comment(&mut conn, id, author.id, &body, state.clock.now_ms()).await?
    };
    let comment = Comment { id: comment_id, ticket_id: id, author: author.username.clone(), body: body.clone() };
    let event =
        DomainEvent::CommentCreated { ticket: row, comment_id, author_id: author.id, author: author.username, body };
    state.notify.dispatch(event).await;
    Ok((StatusCode::CREATED, Json(comment)))
}

/// `POST /api/tickets/{id}/assign`.
pub async fn assign(
    State(state): State<SharedState>,
    auth: Authenticated,
    Path(id): Path<i64>,
    JsonBody(req): JsonBody<AssignTicket>,
) -> AppResult<Json<Ticket>> {
    auth.limit_write(&state)?;
    let assignee = user_named(&state, &req.assignee).await?;
    let by = user(&state, auth.user_id()).await?;
    let found = {
        let mut conn = state.db.write.acquire().await?;
        tickets::assign(&mut conn, id, assignee.id).await?
    };
    if !found {
        return Err(AppError::not_found("no such ticket"));
    }
    let row = ticket_row(&state, id).await?;
    state.notify.dispatch(DomainEvent::TicketAssigned { ticket: row.clone(), by_id: by.id, by: by.username }).await;
    Ok(Json(ticket(&row)))
}
