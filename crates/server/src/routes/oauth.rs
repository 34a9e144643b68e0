//! `POST /oauth/token` (RFC 6749 §4.3 password grant, §4.1.3 authorization code grant, §6 refresh
//! grant) and
//! `POST /oauth/revoke` (RFC 7009).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tessera_protocol::{ErrorCode, RevokeRequest, TokenRequest, TokenResponse};

use crate::auth::{self, hash_token, new_refresh_token};
use crate::error::{AppError, AppResult};
use crate::extract::{ClientIp, Form};
use crate::keys::{ACCESS_TYP, AccessClaims};
use crate::metrics::inc;
use crate::password::HashError;
use crate::ratelimit::Limit;
use crate::rotation::RefreshJob;
use crate::session_end::{EndReason, Ending};
use crate::state::{AppState, SharedState, secs_to_ms};
use crate::store::audit::{self, AuditKind, AuditRecord};
use crate::store::sessions::{self, NewSession, SessionRow};
use crate::store::users::{self, UserRow};

/// Public clients this server knows (RFC 6749 §2.1: no client secret).
pub const KNOWN_CLIENTS: &[&str] = &["tessera-desktop", "tessera-cli"];

const MAX_USERNAME: usize = 128;
const MAX_PASSWORD: usize = 1024;
const MAX_DEVICE_FIELD: usize = 100;
const MAX_REFRESH_TOKEN: usize = 256;
/// `Retry-After` when the password-hash queue is full: a queue drains in well under a second.
const BUSY_RETRY_SECS: u64 = 1;

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

/// Refuses with 429 when `key` is over `limit`.
pub(crate) fn limited(state: &AppState, limit: &Limit, key: &str) -> AppResult<()> {
    limit.check(key).map_err(|retry_after| {
        inc(&state.metrics.rate_limited);
        AppError::rate_limited(retry_after)
    })
}

fn device_field(value: Option<String>, default: &str) -> String {
    let value = value.unwrap_or_default();
    let trimmed: String = value.trim().chars().filter(|c| !c.is_control()).take(MAX_DEVICE_FIELD).collect();
    if trimmed.is_empty() { default.to_owned() } else { trimmed }
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

/// Checks a username and password (rate limited by IP and username, audited when refused). On
/// success: the user as read again inside the writer's transaction, that transaction, and now.
/// Refusals are `invalid_grant` with code `invalid_credentials` or `user_disabled`.
pub(crate) async fn authenticate(
    state: &AppState,
    client: &ClientIp,
    username: &str,
    password: String,
) -> AppResult<(UserRow, sqlx::Transaction<'static, sqlx::Sqlite>, i64)> {
    let ip = client.ip.as_str();
    if username.is_empty() || username.len() > MAX_USERNAME || password.len() > MAX_PASSWORD {
        return Err(AppError::invalid_request("username or password has an invalid length"));
    }
    limited(state, &state.limiter.login_ip, &client.key)?;
    limited(state, &state.limiter.login_user, &username.to_lowercase())?;

    let user = {
        let mut conn = state.db.read.acquire().await?;
        users::by_name(&mut conn, username).await?
    };
    let verified = match state.hasher.verify(password, user.as_ref().map(|u| u.password_hash.clone())).await {
        Ok(verified) => verified,
        Err(HashError::Busy) => return Err(AppError::server_busy("too many sign-ins at once", BUSY_RETRY_SECS)),
        Err(e) => return Err(AppError::internal(e)),
    };
    let now = state.clock.now_ms();
    let mut tx = state.db.write.begin().await?;
    // Read again inside the single writer's transaction: a password reset or a disable that
    // committed while the hash was checked wins, so no session opens with a password that was
    // just replaced or for an account that was just disabled.
    let fresh = match &user {
        Some(seen) if verified => {
            users::by_id(&mut tx, seen.id).await?.filter(|fresh| fresh.password_hash == seen.password_hash)
        }
        _ => None,
    };
    let refusal = SignInRefusal { now, username, ip };
    let Some(user) = fresh else {
        let error = AppError::invalid_grant(ErrorCode::InvalidCredentials, "wrong username or password");
        return Err(refusal.record(state, tx, user.map(|u| u.id), None, error).await);
    };
    if user.is_disabled() {
        // Said only to whoever knows the password (as Keycloak does): a guesser learns nothing.
        let error = AppError::invalid_grant(
            ErrorCode::UserDisabled,
            "this account is disabled; an administrator can enable it again",
        );
        return Err(refusal.record(state, tx, Some(user.id), Some("account disabled"), error).await);
    }
    Ok((user, tx, now))
}

/// The device a session is opened for, as the client named it (trimmed, control characters
/// dropped, defaults when empty).
pub(crate) struct DeviceFields {
    name: String,
    platform: String,
    app_version: String,
}

impl DeviceFields {
    /// From the token request's optional fields.
    pub(crate) fn new(name: Option<String>, platform: Option<String>, app_version: Option<String>) -> Self {
        Self {
            name: device_field(name, "unknown device"),
            platform: device_field(platform, "unknown"),
            app_version: device_field(app_version, "unknown"),
        }
    }

    /// The device name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

/// What a new session is opened with.
pub(crate) struct NewSignIn<'a> {
    pub(crate) user: &'a UserRow,
    pub(crate) client_id: &'a str,
    pub(crate) ip: &'a str,
    pub(crate) now: i64,
    pub(crate) device: DeviceFields,
    /// Detail of the `sign_in_success` audit event.
    pub(crate) detail: &'a str,
}

/// Opens a session in `tx` (audited `sign_in_success`, counted), commits, and returns its times
/// and first refresh token (`session_id`: an id chosen beforehand, else a new one). Every grant
/// that begins a session goes through here.
pub(crate) async fn open_session(
    state: &AppState,
    mut tx: sqlx::Transaction<'static, sqlx::Sqlite>,
    s: NewSignIn<'_>,
    session_id: Option<String>,
) -> AppResult<(SessionTimes, String)> {
    let NewSignIn { user, client_id, ip, now, device, detail } = s;
    let session_id = session_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let (refresh_token, hash) = new_refresh_token();
    let expires_at = now.saturating_add(secs_to_ms(state.config.session_max_age_secs));
    sessions::insert(
        &mut tx,
        NewSession {
            id: &session_id,
            user_id: user.id,
            client_id,
            device_name: &device.name,
            platform: &device.platform,
            app_version: &device.app_version,
            ip,
            now_ms: now,
            expires_at,
            token_hash: &hash,
        },
    )
    .await?;
    audit::record(
        &mut tx,
        AuditRecord {
            user_id: Some(user.id),
            username: Some(&user.username),
            session_id: Some(&session_id),
            ip: Some(ip),
            detail: Some(detail),
            ..AuditRecord::new(AuditKind::SignInSuccess, now)
        },
    )
    .await?;
    tx.commit().await?;
    inc(&state.metrics.sign_in_success);
    tracing::info!(user_id = user.id, session_id = %session_id, "signed in");
    Ok((SessionTimes { id: session_id, user_id: user.id, last_activity_at: now, expires_at }, refresh_token))
}

/// A refused sign-in, audited as `sign_in_failure`.
struct SignInRefusal<'a> {
    now: i64,
    username: &'a str,
    ip: &'a str,
}

impl SignInRefusal<'_> {
    /// Records the failure in `tx`, commits, and returns `error` (or the storage failure).
    async fn record(
        &self,
        state: &AppState,
        mut tx: sqlx::Transaction<'_, sqlx::Sqlite>,
        user_id: Option<i64>,
        detail: Option<&str>,
        error: AppError,
    ) -> AppError {
        let record = AuditRecord {
            user_id,
            username: Some(self.username),
            ip: Some(self.ip),
            detail,
            ..AuditRecord::new(AuditKind::SignInFailure, self.now)
        };
        if let Err(e) = audit::record(&mut tx, record).await {
            return e.into();
        }
        if let Err(e) = tx.commit().await {
            return e.into();
        }
        inc(&state.metrics.sign_in_failure);
        error
    }
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
        last_activity_at: done.now_ms,
        expires_at: done.expires_at,
    };
    token_response(state, &session, done.refresh_token, done.now_ms)
}

/// A session's id, user and deadlines, for a token response.
pub(crate) struct SessionTimes {
    pub(crate) id: String,
    pub(crate) user_id: i64,
    pub(crate) last_activity_at: i64,
    pub(crate) expires_at: i64,
}

/// The token response for session `s` with `refresh_token` (no id_token).
pub(crate) fn token_response(
    state: &AppState,
    s: &SessionTimes,
    refresh_token: String,
    now: i64,
) -> AppResult<TokenResponse> {
    let idle_end = s.last_activity_at.saturating_add(state.idle_ms());
    // An access token never outlives its session's absolute end.
    let exp_ms = now.saturating_add(secs_to_ms(state.config.access_token_ttl_secs)).min(s.expires_at);
    let secs_until = |at: i64| u64::try_from((at - now).max(0) / 1000).unwrap_or(0);
    let claims = AccessClaims {
        iss: state.issuer.clone(),
        sub: s.user_id.to_string(),
        sid: s.id.clone(),
        iat: now.div_euclid(1000),
        exp: exp_ms.div_euclid(1000),
        jti: uuid::Uuid::new_v4().to_string(),
        typ: ACCESS_TYP.into(),
    };
    let access_token = state.keys.issue(&claims)?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: secs_until(exp_ms),
        refresh_token,
        refresh_expires_in: secs_until(idle_end.min(s.expires_at)),
        session_expires_in: secs_until(s.expires_at),
        session_id: s.id.clone(),
        scope: None,
        id_token: None,
    })
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
