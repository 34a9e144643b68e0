//! `POST /oauth/token` (RFC 6749 §4.3 password grant and §6 refresh grant here; the
//! authorization code grant in `code_grant`, the device code grant in `device`) and
//! `POST /oauth/revoke` (RFC 7009).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tessera_protocol::{ErrorCode, RevokeRequest, TokenRequest, TokenResponse};

use crate::auth::{self, hash_token};
use crate::error::{AppError, AppResult};
use crate::extract::{ClientIp, Form};
use crate::metrics::inc;
use crate::rotation::RefreshJob;
use crate::session_end::{EndReason, Ending};
use crate::sign_in::{
    DeviceFields, KNOWN_CLIENTS, NewSignIn, SessionTimes, authenticate, limited, open_session, token_response,
};
use crate::state::{AppState, SharedState};
use crate::store::sessions::{self, SessionRow};

const MAX_REFRESH_TOKEN: usize = 256;
/// Who is asking for a grant: the connection and the public client it names.
#[derive(Clone, Copy)]
struct Caller<'a> {
    client: &'a ClientIp,
    client_id: &'a str,
}

/// `POST /oauth/token`.
pub async fn token(
    State(state): State<SharedState>,
    client: ClientIp,
    Form(req): Form<TokenRequest>,
) -> AppResult<Response> {
    let client_id = match req.client_id.as_deref() {
        None | Some("") => return Err(AppError::invalid_request("client_id is required")),
        Some(id) if KNOWN_CLIENTS.contains(&id) => id.to_owned(),
        Some(_) => return Err(AppError::invalid_client("unknown client_id")),
    };
    let caller = Caller { client: &client, client_id: &client_id };
    let response = match req.grant_type.as_str() {
        "password" if !state.config.password_grant => return Err(AppError::password_grant_disabled()),
        "password" => password_grant(&state, caller, req).await?,
        "refresh_token" => refresh_grant(&state, caller, req).await?,
        "authorization_code" => crate::routes::code_grant::exchange(&state, &client, &client_id, req).await?,
        crate::routes::device::GRANT => crate::routes::device::poll(&state, &client, &client_id, req).await?,
        "" => return Err(AppError::invalid_request("grant_type is required")),
        other => return Err(AppError::unsupported_grant_type(other)),
    };
    let mut response = Json(response).into_response();
    // RFC 6749 §5.1: token responses must not be stored by caches.
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

async fn password_grant(state: &AppState, caller: Caller<'_>, req: TokenRequest) -> AppResult<TokenResponse> {
    let Caller { client, client_id } = caller;
    let (Some(username), Some(password)) = (req.username, req.password) else {
        return Err(AppError::invalid_request("username and password are required"));
    };
    let (user, tx, now) = authenticate(state, client, &username, password).await?;
    let device = DeviceFields::new(req.device_name, req.platform, req.app_version);
    let detail = device.name.clone();
    let (session, refresh_token) = open_session(
        state,
        tx,
        NewSignIn { user: &user, client_id, ip: &client.ip, now, device, detail: &detail },
        None,
    )
    .await?;
    token_response(state, &session, refresh_token, now)
}

async fn refresh_grant(state: &AppState, caller: Caller<'_>, req: TokenRequest) -> AppResult<TokenResponse> {
    let Caller { client, client_id } = caller;
    let ip = client.ip.as_str();
    let Some(presented) = req.refresh_token.filter(|t| !t.is_empty()) else {
        return Err(AppError::invalid_request("refresh_token is required"));
    };
    limited(state, &state.limiter.refresh_ip, &client.key)?;
    if presented.len() > MAX_REFRESH_TOKEN {
        inc(&state.metrics.refresh_failures);
        return Err(AppError::invalid_grant(ErrorCode::InvalidRefreshToken, "unknown refresh token"));
    }
    let job = RefreshJob { presented, client_id: client_id.to_owned(), ip: ip.to_owned() };
    let done = state.rotator.refresh(job).await?;
    let session = SessionTimes {
        id: done.session_id,
        user_id: done.user_id,
        client_id: client_id.to_owned(),
        last_activity_at: done.now_ms,
        expires_at: done.expires_at,
    };
    token_response(state, &session, done.refresh_token, done.now_ms)
}

/// `POST /oauth/revoke`: RFC 7009. Always 200 for a well-formed request, known token or not.
/// Tessera's access tokens are bound to a session, so revoking either kind ends the session.
pub async fn revoke(
    State(state): State<SharedState>,
    ClientIp { ip, .. }: ClientIp,
    Form(req): Form<RevokeRequest>,
) -> AppResult<Response> {
    if req.token.is_empty() {
        return Err(AppError::invalid_request("token is required"));
    }
    if let Some(row) = session_of_token(&state, &req.token).await? {
        let mut conn = state.db.write.acquire().await?;
        state
            .sessions
            .end_now(
                &mut conn,
                Ending { row: &row, reason: EndReason::Revoked, ip: Some(&ip), detail: Some("token revoked") },
            )
            .await?;
    }
    Ok(([(header::CACHE_CONTROL, "no-store")], "").into_response())
}

async fn session_of_token(state: &AppState, token: &str) -> AppResult<Option<SessionRow>> {
    let mut conn = state.db.read.acquire().await?;
    if token.starts_with(auth::REFRESH_PREFIX) && token.len() <= MAX_REFRESH_TOKEN {
        return Ok(sessions::by_token_hash(&mut conn, &hash_token(token)).await?);
    }
    match state.keys.verify(token, state.clock.now_ms().div_euclid(1000)) {
        Ok(claims) => Ok(sessions::by_id(&mut conn, &claims.sid).await?),
        Err(_) => Ok(None),
    }
}
