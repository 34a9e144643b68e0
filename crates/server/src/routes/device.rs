//! The device authorization grant (RFC 8628): `POST /oauth/device_authorization`, the `/device`
//! page where the user enters the code, signs in and approves or denies, and the
//! `urn:ietf:params:oauth:grant-type:device_code` poll at the token endpoint.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde::Deserialize;
use tessera_protocol::{
    DeviceAuthorizationRequest, DeviceAuthorizationResponse, ErrorCode, TokenRequest, TokenResponse, paths, pkce,
};

use crate::auth::hash_token;
use crate::error::{AppError, AppResult};
use crate::extract::{ClientIp, Form};
use crate::routes::authorize::{cookie, set_cookie};
use crate::routes::code_grant::{IdToken, id_token};
use crate::routes::pages;
use crate::sign_in::{
    DeviceFields, KNOWN_CLIENTS, NewSignIn, authenticate, limited, open_session, page_refusal, token_response,
};
use crate::state::{AppState, SharedState};
use crate::store::{device_codes, users};

/// The grant type of a poll (RFC 8628 §3.4).
pub const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Letters of a user code: no vowels (no words), no look-alikes (RFC 8628 §6.1).
const ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Lifetime of a request (seconds).
pub const EXPIRES_IN: u64 = 600;
/// Seconds between polls at first.
pub const INTERVAL: u64 = 5;
/// Cookie with the device page's CSRF token.
const CSRF_COOKIE: &str = "tessera_device_csrf";

fn user_code() -> String {
    let mut rng = rand::rngs::OsRng;
    let c: String = (0..8).map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())])).collect();
    format!("{}-{}", &c[..4], &c[4..])
}

/// The code as typed: case and separators do not matter.
fn normalize(typed: &str) -> String {
    let letters: String = typed.chars().filter(char::is_ascii_alphabetic).map(|c| c.to_ascii_uppercase()).collect();
    if letters.len() == 8 { format!("{}-{}", &letters[..4], &letters[4..]) } else { letters }
}

/// `POST /oauth/device_authorization` (RFC 8628 §3.1–3.2).
pub async fn authorization(
    State(state): State<SharedState>,
    client: ClientIp,
    Form(req): Form<DeviceAuthorizationRequest>,
) -> AppResult<Response> {
    if !KNOWN_CLIENTS.contains(&req.client_id.as_str()) {
        return Err(AppError::invalid_client("unknown client_id"));
    }
    if req.scope.as_deref().is_some_and(|s| !s.split(' ').any(|s| s == "openid")) {
        return Err(AppError::invalid_request("scope must include openid"));
    }
    limited(&state, &state.limiter.login_ip, &client.key)?;
    let now = state.clock.now_ms();
    let device_code = pkce::random_urlsafe(32);
    let expires_at = now.saturating_add(i64::try_from(EXPIRES_IN * 1000).unwrap_or(i64::MAX));
    let mut conn = state.db.write.acquire().await?;
    let mut code = user_code();
    // 20^8 codes: a collision among open requests is rare; try a few times.
    for _ in 0..5 {
        let interval = i64::try_from(INTERVAL).unwrap_or(5);
        if device_codes::insert(&mut conn, &hash_token(&device_code), &code, &req.client_id, expires_at, interval, now)
            .await?
        {
            let verification_uri = format!("{}{}", state.issuer, paths::DEVICE);
            let body = DeviceAuthorizationResponse {
                verification_uri_complete: Some(format!("{verification_uri}?user_code={code}")),
                device_code,
                user_code: code,
                verification_uri,
                expires_in: EXPIRES_IN,
                interval: INTERVAL,
            };
            return Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response());
        }
        code = user_code();
    }
    Err(AppError::internal(anyhow::anyhow!("no free user code")))
}

/// Query of `GET /device`.
#[derive(Debug, Default, Deserialize)]
pub struct DeviceQuery {
    #[serde(default)]
    user_code: Option<String>,
}

/// `GET /device`: the page, with the code prefilled from `verification_uri_complete`.
pub async fn show(State(state): State<SharedState>, Query(q): Query<DeviceQuery>) -> AppResult<Response> {
    let csrf = pkce::random_urlsafe(32);
    let code = q.user_code.as_deref().map(normalize).unwrap_or_default();
    let mut response = pages::device(StatusCode::OK, paths::DEVICE, &csrf, &code, None);
    set_cookie(
        &state,
        &mut response,
        format!("{CSRF_COOKIE}={csrf}; HttpOnly; SameSite=Strict; Path={}", paths::DEVICE),
    )?;
    Ok(response)
}

/// The fields of the device page.
#[derive(Deserialize)]
pub struct DeviceFieldsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    user_code: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    decision: String,
}

impl std::fmt::Debug for DeviceFieldsForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceFieldsForm").field("username", &self.username).finish_non_exhaustive()
    }
}

/// `POST /device`: approve (with the password) or deny the request with this user code.
pub async fn submit(
    State(state): State<SharedState>,
    client: ClientIp,
    headers: HeaderMap,
    Form(f): Form<DeviceFieldsForm>,
) -> AppResult<Response> {
    if f.csrf.is_empty() || cookie(&headers, CSRF_COOKIE) != Some(f.csrf.as_str()) {
        return Ok(pages::error(StatusCode::FORBIDDEN, "This form was not sent from the device page. Open it again."));
    }
    let code = normalize(&f.user_code);
    let again = |status, message| pages::device(status, paths::DEVICE, &f.csrf, &code, Some(message));
    let now = state.clock.now_ms();
    let row = {
        let mut conn = state.db.read.acquire().await?;
        device_codes::pending_by_user_code(&mut conn, &code, now).await?
    };
    let Some(row) = row else {
        return Ok(again(
            StatusCode::BAD_REQUEST,
            "That code is unknown or has expired. Check the code on your device.",
        ));
    };
    if f.decision == "deny" {
        let mut conn = state.db.write.acquire().await?;
        device_codes::set_status(&mut conn, &row.device_hash, "pending", "denied", None).await?;
        return Ok(pages::notice("Device denied", "The device was not signed in. You can close this page."));
    }
    let (user, mut tx, now) = match authenticate(&state, &client, &f.username, f.password.clone()).await {
        Ok(ok) => ok,
        Err(e) => {
            return Ok(match page_refusal(&e) {
                Some((status, message)) => again(status, message),
                None => e.into_response(),
            });
        }
    };
    device_codes::set_status(&mut tx, &row.device_hash, "pending", "approved", Some((user.id, now))).await?;
    tx.commit().await?;
    Ok(pages::notice("Device signed in", "Your device is signed in. You can close this page."))
}

/// The device-code poll (RFC 8628 §3.4–3.5).
pub async fn poll(state: &AppState, client: &ClientIp, client_id: &str, req: TokenRequest) -> AppResult<TokenResponse> {
    let Some(device_code) = req.device_code.filter(|c| !c.is_empty() && c.len() <= 128) else {
        return Err(AppError::invalid_request("device_code is required"));
    };
    let hash = hash_token(&device_code);
    let now = state.clock.now_ms();
    let mut tx = state.db.write.begin().await?;
    let row = device_codes::by_hash(&mut tx, &hash).await?.filter(|r| r.client_id == client_id);
    let Some(row) = row else {
        return Err(AppError::invalid_grant(ErrorCode::InvalidAuthorizationCode, "unknown device_code"));
    };
    if row.status == "used" {
        return Err(AppError::invalid_grant(ErrorCode::InvalidAuthorizationCode, "this device_code was already used"));
    }
    if now >= row.expires_at {
        return Err(AppError::device_poll(ErrorCode::ExpiredToken, "the device code has expired; start again"));
    }
    let too_soon = row.last_poll_at.is_some_and(|at| now - at < row.interval_secs.saturating_mul(1000));
    let interval = if too_soon { row.interval_secs + 5 } else { row.interval_secs };
    device_codes::polled(&mut tx, &hash, now, interval).await?;
    let refusal = match row.status.as_str() {
        _ if too_soon => Some((ErrorCode::SlowDown, format!("polling too fast; wait {interval} s between polls"))),
        "denied" => Some((ErrorCode::AccessDenied, "the user denied the request".to_owned())),
        "approved" => None,
        _ => Some((ErrorCode::AuthorizationPending, "the user has not approved yet".to_owned())),
    };
    if let Some((code, description)) = refusal {
        tx.commit().await?;
        return Err(AppError::device_poll(code, description));
    }
    let (Some(user_id), Some(auth_time)) = (row.user_id, row.auth_time) else {
        return Err(AppError::internal(anyhow::anyhow!("approved device code without a user")));
    };
    let Some(user) = users::by_id(&mut tx, user_id).await?.filter(|u| !u.is_disabled()) else {
        return Err(AppError::invalid_grant(ErrorCode::UserDisabled, "this account is disabled"));
    };
    if !device_codes::set_status(&mut tx, &hash, "approved", "used", None).await? {
        return Err(AppError::invalid_grant(ErrorCode::InvalidAuthorizationCode, "this device_code was already used"));
    }
    let device = DeviceFields::new(req.device_name, req.platform, req.app_version);
    let detail = format!("device sign-in; {}", device.name());
    let sign_in = NewSignIn { user: &user, client_id, ip: &client.ip, now, device, detail: &detail };
    let (session, refresh) = open_session(state, tx, sign_in, None).await?;
    let mut response = token_response(state, &session, refresh, now)?;
    let signed = IdToken { user: &user, client_id, session_id: &session.id, auth_time, nonce: None };
    response.id_token = Some(id_token(state, signed, now)?);
    Ok(response)
}
