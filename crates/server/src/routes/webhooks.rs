//! `/api/webhooks`: register, list and delete the user's webhooks; read a delivery log.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use tessera_protocol::{NewWebhook, WebhookCreated, WebhookDelivery, WebhookDeliveryList, WebhookInfo, WebhookList};

use crate::clock::to_datetime;
use crate::error::{AppError, AppResult};
use crate::extract::{Authenticated, JsonBody, Path};
use crate::notify::webhooks::{UrlProblem, check_url, new_secret};
use crate::state::SharedState;
use crate::store::webhooks::{self, WebhookRow};

/// Most webhooks per user.
pub const MAX_PER_USER: usize = 10;
/// Delivery attempts listed.
const LOG_LIMIT: i64 = 200;

fn info(row: WebhookRow) -> WebhookInfo {
    WebhookInfo { id: row.id, url: row.url, created_at: to_datetime(row.created_at) }
}

/// `POST /api/webhooks`: registers a URL; the answer carries the signing secret, once.
pub async fn create(
    State(state): State<SharedState>,
    auth: Authenticated,
    JsonBody(req): JsonBody<NewWebhook>,
) -> AppResult<(StatusCode, Json<WebhookCreated>)> {
    auth.limit_write(&state)?;
    let url = check_url(req.url.trim(), &state.config.webhook_allow_list()).map_err(|problem| match problem {
        UrlProblem::Invalid(m) => AppError::invalid_request(m),
        UrlProblem::Forbidden(m) => AppError::webhook_target_forbidden(m),
    })?;
    let mut conn = state.db.write.acquire().await?;
    if webhooks::for_user(&mut conn, auth.user_id()).await?.len() >= MAX_PER_USER {
        return Err(AppError::invalid_request(format!("at most {MAX_PER_USER} webhooks per user")));
    }
    let row = WebhookRow {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: auth.user_id(),
        url: url.to_string(),
        secret: new_secret(),
        created_at: state.clock.now_ms(),
    };
    webhooks::insert(&mut conn, &row).await?;
    tracing::info!(webhook_id = %row.id, user_id = row.user_id, "webhook registered");
    let secret = row.secret.clone();
    Ok((StatusCode::CREATED, Json(WebhookCreated { webhook: info(row), secret })))
}

/// `GET /api/webhooks`.
pub async fn list(State(state): State<SharedState>, auth: Authenticated) -> AppResult<Json<WebhookList>> {
    let mut conn = state.db.read.acquire().await?;
    let rows = webhooks::for_user(&mut conn, auth.user_id()).await?;
    Ok(Json(WebhookList { webhooks: rows.into_iter().map(info).collect() }))
}

/// `DELETE /api/webhooks/{id}`.
pub async fn delete(
    State(state): State<SharedState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let mut conn = state.db.write.acquire().await?;
    if webhooks::delete(&mut conn, auth.user_id(), &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found("no such webhook"))
    }
}

/// `GET /api/webhooks/{id}/deliveries`: the delivery log, newest first.
pub async fn deliveries(
    State(state): State<SharedState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<WebhookDeliveryList>> {
    let mut conn = state.db.read.acquire().await?;
    if !webhooks::owned(&mut conn, auth.user_id(), &id).await? {
        return Err(AppError::not_found("no such webhook"));
    }
    let deliveries = webhooks::deliveries(&mut conn, &id, LOG_LIMIT)
        .await?
        .into_iter()
        .map(|r| WebhookDelivery {
            id: r.id,
            seq: r.seq,
            attempt: u32::try_from(r.attempt).unwrap_or(0),
            at: to_datetime(r.at),
            status: r.status.and_then(|s| u16::try_from(s).ok()),
            outcome: r.outcome,
            error: r.error,
        })
        .collect();
    Ok(Json(WebhookDeliveryList { deliveries }))
}
