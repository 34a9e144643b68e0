//! What every way of signing in shares, whatever the grant or page: the known public clients,
//! the password check (rate limited, audited, through the bounded hash queue), opening a session
//! with this device's description, and the token response. The token endpoint
//! (`routes::oauth`), the sign-in page (`routes::authorize`), the code exchange
//! (`routes::code_grant`) and the device flow (`routes::device`) all go through here.

use tessera_protocol::{ErrorCode, TokenResponse};

use crate::auth::new_refresh_token;
use crate::error::{AppError, AppResult};
use crate::extract::ClientIp;
use crate::keys::{ACCESS_TYP, AccessClaims};
use crate::metrics::inc;
use crate::password::HashError;
use crate::ratelimit::Limit;
use crate::state::{AppState, secs_to_ms};
use crate::store::audit::{self, AuditKind, AuditRecord};
use crate::store::sessions::{self, NewSession};
use crate::store::users::{self, UserRow};

/// Public clients this server knows (RFC 6749 §2.1: no client secret).
pub const KNOWN_CLIENTS: &[&str] = &["tessera-desktop", "tessera-cli"];

const MAX_USERNAME: usize = 128;
const MAX_PASSWORD: usize = 1024;
const MAX_DEVICE_FIELD: usize = 100;
/// `Retry-After` when the password-hash queue is full: a queue drains in well under a second.
const BUSY_RETRY_SECS: u64 = 1;

/// What a sign-in page (the authorization form, the device page) says when [`authenticate`]
/// refuses: the status and the words for the form shown again. `None`: not the user's doing,
/// answered as an error.
pub(crate) fn page_refusal(e: &AppError) -> Option<(axum::http::StatusCode, &'static str)> {
    use axum::http::StatusCode;
    match e.code() {
        ErrorCode::InvalidCredentials | ErrorCode::InvalidRequest => {
            Some((StatusCode::UNAUTHORIZED, "Wrong username or password."))
        }
        ErrorCode::UserDisabled => {
            Some((StatusCode::FORBIDDEN, "This account is disabled; an administrator can enable it again."))
        }
        ErrorCode::RateLimited => {
            Some((StatusCode::TOO_MANY_REQUESTS, "Too many sign-in attempts. Wait a minute and try again."))
        }
        _ => None,
    }
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
    pub(crate) name: String,
    pub(crate) platform: String,
    pub(crate) app_version: String,
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
    let times = SessionTimes {
        id: session_id,
        user_id: user.id,
        client_id: client_id.to_owned(),
        last_activity_at: now,
        expires_at,
    };
    Ok((times, refresh_token))
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

/// A session's id, user and deadlines, for a token response.
pub(crate) struct SessionTimes {
    pub(crate) id: String,
    pub(crate) user_id: i64,
    pub(crate) client_id: String,
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
        aud: Some(state.issuer.clone()),
        client_id: Some(s.client_id.clone()),
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
