//! Request extractors whose rejections are proper [`ErrorBody`](tessera_protocol::ErrorBody)
//! responses, and the bearer-token authentication every `/api` handler uses.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use tessera_protocol::ErrorCode;

use crate::client_ip;
use crate::error::AppError;
use crate::keys::{AccessClaims, TokenRejection};
use crate::state::{AppState, SharedState};
use crate::store::sessions::{self, SessionRow};

/// The body of a request whose `Content-Type` is `mime` (parameters such as `charset` allowed):
/// 415 for another type, 413 past the body limit.
async fn body_of_type<S: Send + Sync>(req: Request, state: &S, mime: &str) -> Result<Bytes, AppError> {
    let matches = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(mime));
    if !matches {
        return Err(AppError::unsupported_media_type(mime));
    }
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            AppError::payload_too_large()
        } else {
            AppError::invalid_request("could not read the request body")
        }
    })
}

/// A form body (`application/x-www-form-urlencoded`), as OAuth endpoints take.
#[derive(Debug)]
pub struct Form<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Form<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_of_type(req, state, "application/x-www-form-urlencoded").await?;
        serde_urlencoded::from_bytes(&bytes)
            .map(Form)
            .map_err(|e| AppError::invalid_request(format!("malformed form body: {e}")))
    }
}

/// A JSON body (`application/json`) whose rejections are [`ErrorBody`](tessera_protocol::ErrorBody)
/// responses (axum's own `Json` answers in plain text).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_of_type(req, state, "application/json").await?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| AppError::invalid_request(format!("malformed JSON body: {e}")))
    }
}

/// A query string (`axum::extract::Query`) whose rejection is an [`ErrorBody`](tessera_protocol::ErrorBody):
/// axum's own rejection is a plain-text 400 no client can parse.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub struct Query<T>(pub T);

impl From<QueryRejection> for AppError {
    fn from(rejection: QueryRejection) -> Self {
        AppError::invalid_request(rejection.body_text())
    }
}

/// Path parameters (`axum::extract::Path`) whose rejection is an
/// [`ErrorBody`](tessera_protocol::ErrorBody), e.g. for an id that is not valid UTF-8.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct Path<T>(pub T);

impl From<PathRejection> for AppError {
    fn from(rejection: PathRejection) -> Self {
        if rejection.status().is_server_error() {
            // A route/extractor mismatch: our bug, not the client's.
            AppError::internal(rejection.body_text())
        } else {
            AppError::invalid_request(rejection.body_text())
        }
    }
}

/// The client's address: the TCP peer, or the `X-Forwarded-For` client when the peer is a
/// trusted proxy (see [`crate::client_ip`]).
#[derive(Debug, Clone)]
pub struct ClientIp {
    /// The address as text (`unknown` when the server was not started with connect info).
    pub ip: String,
    /// Its rate-limit key (the IPv4 address, or the IPv6 /64).
    pub key: String,
}

impl FromRequestParts<SharedState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, Self::Rejection> {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            return Ok(Self { ip: "unknown".into(), key: "unknown".into() });
        };
        let forwarded = parts.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
        let ip = client_ip::resolve(peer.ip(), forwarded, &state.trusted_proxies);
        Ok(Self { ip: ip.to_string(), key: client_ip::rate_key(ip) })
    }
}

/// A request with a valid access token whose session is open.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The verified claims.
    pub claims: AccessClaims,
    /// The session row (as read at the start of the request).
    pub session: SessionRow,
    /// Client IP.
    pub ip: String,
}

impl Authenticated {
    /// The user's id.
    pub fn user_id(&self) -> i64 {
        self.session.user_id
    }

    /// Takes one token from this session's write budget (`session_writes_per_min`): activity,
    /// read marks, tickets, comments and webhooks call it first; past the budget, 429
    /// `rate_limited` with `Retry-After`.
    pub fn limit_write(&self, state: &AppState) -> Result<(), AppError> {
        state.limiter.session_writes.check(&self.session.id).map_err(|retry_after| {
            crate::metrics::inc(&state.metrics.rate_limited);
            AppError::rate_limited(retry_after)
        })
    }
}

/// "Last seen" is written at most this often per session, to keep reads cheap.
const SEEN_RESOLUTION_MS: i64 = 60_000;

impl FromRequestParts<SharedState> for Authenticated {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, Self::Rejection> {
        let ClientIp { ip, .. } = ClientIp::from_request_parts(parts, state).await.unwrap_or_else(|e| match e {});
        let token = bearer_token(parts)?;
        let (claims, session) = match &state.external {
            Some(provider) => crate::external::authenticate(state, provider, token, &parts.headers, &ip).await?,
            None => own_session(state, token, &ip).await?,
        };
        let now = state.clock.now_ms();
        if now - session.last_seen_at >= SEEN_RESOLUTION_MS {
            let mut conn = state.db.write.acquire().await?;
            if state.external.is_some() {
                // The provider refreshes, not this server: using the API is the activity seen.
                sessions::touch_activity(&mut conn, &session.id, now).await?;
            } else {
                sessions::touch_seen(&mut conn, &session.id, now).await?;
            }
        }
        Ok(Self { claims, session, ip })
    }
}

/// One of this server's own access tokens and its open session.
async fn own_session(state: &AppState, token: &str, ip: &str) -> Result<(AccessClaims, SessionRow), AppError> {
    let now = state.clock.now_ms();
    let claims = state.keys.verify(token, now.div_euclid(1000)).map_err(|e| match e {
        TokenRejection::Expired => AppError::invalid_token(ErrorCode::InvalidToken, "the access token has expired"),
        TokenRejection::Invalid => AppError::invalid_token(ErrorCode::InvalidToken, e.to_string()),
    })?;
    let session = {
        let mut conn = state.db.read.acquire().await?;
        sessions::by_id(&mut conn, &claims.sid).await?
    };
    let Some(session) = session.filter(|s| s.user_id.to_string() == claims.sub) else {
        return Err(AppError::invalid_token(ErrorCode::SessionRevoked, "the session no longer exists"));
    };
    state.sessions.ensure_open(&session, Some(ip)).await?;
    Ok((claims, session))
}

fn bearer_token(parts: &Parts) -> Result<&str, AppError> {
    let missing =
        || AppError::invalid_token(ErrorCode::InvalidToken, "an Authorization: Bearer access token is required");
    let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(AppError::unauthenticated)?;
    let value = value.to_str().map_err(|_| missing())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(missing());
    }
    Ok(token.trim())
}
