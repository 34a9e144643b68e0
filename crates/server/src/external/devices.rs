//! A valid provider token → the local user it stands for and the session of the desktop it came
//! from.
//!
//! Users are found by `(issuer, sub)` and created on first sight (a login name from the token,
//! made unique; no password). Each desktop's session is keyed by the issuer, the subject, the
//! client's device-session id ([`DEVICE_SESSION_HEADER`], new at every sign-in, shared by the
//! app and the CLI through the keychain record) and the provider's `sid` when the token has one.
//! Once that session is ended (signed out from the devices list, by an administrator, idle or
//! past its absolute lifetime), every later token with the same key is refused. A token without
//! a device-session id (a script using `tessera token`) gets a session of its own per provider
//! session; without `sid` either, only tokens issued before the end are refused.

use axum::http::HeaderMap;
use sha2::Digest;
use tessera_protocol::{
    DEVICE_APP_VERSION_HEADER, DEVICE_NAME_HEADER, DEVICE_PLATFORM_HEADER, DEVICE_SESSION_HEADER, ErrorCode,
    decode_header_text,
};

use super::ProviderClaims;
use crate::auth::new_refresh_token;
use crate::error::AppError;
use crate::keys::{ACCESS_TYP, AccessClaims};
use crate::sign_in::DeviceFields;
use crate::state::AppState;
use crate::store::audit::{self, AuditKind, AuditRecord};
use crate::store::sessions::{self, NewSession, SessionRow};
use crate::store::{external, users};

/// Checks `token` with the provider and returns the session it belongs to, opening one for a
/// new device. The claims are shaped like this server's own, so handlers need not care.
pub async fn authenticate(
    state: &AppState,
    provider: &super::Provider,
    token: &str,
    headers: &HeaderMap,
    ip: &str,
) -> Result<(AccessClaims, SessionRow), AppError> {
    let now = state.clock.now_ms();
    let mut claims = provider.verify(token, now.div_euclid(1000)).await?;
    let known = {
        let mut conn = state.db.read.acquire().await?;
        external::user_for(&mut conn, provider.issuer(), &claims.sub).await?
    };
    if known.is_none() {
        provider.complete_profile(token, &mut claims).await;
    }
    let user_id = user_for(state, provider.issuer(), &claims, known).await?;
    let device = DeviceSession::from_headers(headers)?;
    let key = device_key(provider.issuer(), &claims, device.id.as_deref());
    let session = session_for(state, user_id, &claims, &device, &key, ip).await?;
    let access = AccessClaims {
        iss: provider.issuer().to_owned(),
        sub: user_id.to_string(),
        sid: session.id.clone(),
        iat: claims.iat.unwrap_or(now.div_euclid(1000)),
        exp: claims.exp,
        jti: String::new(),
        typ: ACCESS_TYP.into(),
        aud: None,
        client_id: claims.client_id.clone(),
    };
    Ok((access, session))
}

/// The local user for the provider's subject, created on first sight; its role and display
/// name follow the provider's latest token. A user an administrator disabled here is refused.
async fn user_for(
    state: &AppState,
    issuer: &str,
    claims: &ProviderClaims,
    known: Option<i64>,
) -> Result<i64, AppError> {
    // Tokens without names (the userinfo filled them in at creation) leave the stored one alone.
    let said = claims.name.as_deref().or(claims.username.as_deref());
    let display_name = said.unwrap_or(&claims.sub).to_owned();
    if let Some(id) = known {
        // The common case, without the writer: a known user whose profile has not changed.
        let mut conn = state.db.read.acquire().await?;
        let user = users::by_id(&mut conn, id).await?;
        if let Some(user) = user.filter(|u| u.role() == claims.role && said.is_none_or(|s| s == u.display_name)) {
            return if user.is_disabled() { Err(disabled()) } else { Ok(id) };
        }
    }
    let mut tx = state.db.write.begin().await?;
    let user_id = match known {
        Some(id) => id,
        None => match external::user_for(&mut tx, issuer, &claims.sub).await? {
            Some(id) => id,
            None => create_user(&mut tx, issuer, claims, &display_name, state.clock.now_ms()).await?,
        },
    };
    let user = users::by_id(&mut tx, user_id).await?.ok_or_else(|| AppError::internal("linked user is missing"))?;
    if user.is_disabled() {
        return Err(disabled());
    }
    let display_name = if said.is_some() { display_name } else { user.display_name.clone() };
    if user.display_name != display_name || user.role() != claims.role {
        external::update_profile(&mut tx, user_id, &display_name, claims.role).await?;
    }
    tx.commit().await?;
    Ok(user_id)
}

fn disabled() -> AppError {
    AppError::invalid_token(
        ErrorCode::UserDisabled,
        "this account is disabled here; an administrator can enable it again",
    )
}

/// Creates the user for a new subject: the token's login name when it is free (never taken
/// over: a provider may let people choose it), else that name with a suffix from the subject.
async fn create_user(
    tx: &mut sqlx::SqliteConnection,
    issuer: &str,
    claims: &ProviderClaims,
    display_name: &str,
    now: i64,
) -> Result<i64, AppError> {
    let base = login_name(claims.username.as_deref().unwrap_or(&claims.sub));
    let suffix = hex::encode(&sha2::Sha256::digest(format!("{issuer}\n{}", claims.sub))[..4]);
    let role = claims.role;
    for name in [base.clone(), format!("{base}-{suffix}")] {
        let user = users::NewUser { username: &name, display_name, role, password_hash: "!", now_ms: now };
        if let Some(id) = users::insert(tx, user).await? {
            external::link(tx, issuer, &claims.sub, id).await?;
            let detail = format!("from the identity provider {issuer}");
            let record = AuditRecord {
                user_id: Some(id),
                username: Some(&name),
                detail: Some(&detail),
                ..AuditRecord::new(AuditKind::UserCreated, now)
            };
            audit::record(tx, record).await?;
            tracing::info!(user_id = id, username = %name, role = role.as_str(), "created a user from the identity provider");
            return Ok(id);
        }
    }
    Err(AppError::internal("no free login name for the provider's user"))
}

/// A login name from what the provider calls the user: at most 64 characters, no control
/// characters or spaces.
fn login_name(raw: &str) -> String {
    let name: String = raw.chars().filter(|c| !c.is_control() && !c.is_whitespace()).take(64).collect();
    if name.is_empty() { "user".into() } else { name }
}

/// What the client said about its device.
struct DeviceSession {
    id: Option<String>,
    fields: DeviceFields,
}

impl DeviceSession {
    fn from_headers(headers: &HeaderMap) -> Result<Self, AppError> {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(decode_header_text);
        let id = text(DEVICE_SESSION_HEADER);
        if let Some(id) = &id {
            if !crate::is_safe_request_id(id.as_bytes()) {
                return Err(AppError::invalid_request(format!(
                    "{DEVICE_SESSION_HEADER} must be 1 to 128 characters of [A-Za-z0-9._-]"
                )));
            }
        }
        let fields =
            DeviceFields::new(text(DEVICE_NAME_HEADER), text(DEVICE_PLATFORM_HEADER), text(DEVICE_APP_VERSION_HEADER));
        Ok(Self { id, fields })
    }
}

fn device_key(issuer: &str, claims: &ProviderClaims, device: Option<&str>) -> String {
    let parts = [issuer, &claims.sub, device.unwrap_or(""), claims.sid.as_deref().unwrap_or("")];
    let mut hash = sha2::Sha256::new();
    for part in parts {
        hash.update(part.len().to_be_bytes());
        hash.update(part.as_bytes());
    }
    hex::encode(hash.finalize())
}

/// The open session for `key`, or a new one; an ended one refuses (see the module's rules).
async fn session_for(
    state: &AppState,
    user_id: i64,
    claims: &ProviderClaims,
    device: &DeviceSession,
    key: &str,
    ip: &str,
) -> Result<SessionRow, AppError> {
    let newest = {
        let mut conn = state.db.read.acquire().await?;
        external::newest_session(&mut conn, key).await?
    };
    if let Some(row) = newest.filter(|row| row.user_id == user_id) {
        let ended_for_good = device.id.is_some() || claims.sid.is_some();
        let issued_before_end = row.ended_at.is_some_and(|end| claims.iat.is_none_or(|iat| iat * 1000 <= end));
        if row.ended_at.is_none() || ended_for_good || issued_before_end {
            // Refuses with the stored reason, or ends it now when it is past a deadline.
            state.sessions.ensure_open(&row, Some(ip)).await?;
            return Ok(row);
        }
    }
    open_session(state, user_id, claims, device, key, ip).await
}

async fn open_session(
    state: &AppState,
    user_id: i64,
    claims: &ProviderClaims,
    device: &DeviceSession,
    key: &str,
    ip: &str,
) -> Result<SessionRow, AppError> {
    let now = state.clock.now_ms();
    let mut tx = state.db.write.begin().await?;
    // The single writer: a request that opened this key's session meanwhile is seen here.
    if let Some(row) = external::newest_session(&mut tx, key).await?.filter(|r| r.ended_at.is_none()) {
        return Ok(row);
    }
    let id = uuid::Uuid::new_v4().to_string();
    // Never presented anywhere: the provider refreshes, this server does not.
    let (_, unused_hash) = new_refresh_token();
    let client_id = claims.client_id.as_deref().unwrap_or("unknown");
    let fields = &device.fields;
    let session = NewSession {
        id: &id,
        user_id,
        client_id,
        device_name: &fields.name,
        platform: &fields.platform,
        app_version: &fields.app_version,
        ip,
        now_ms: now,
        expires_at: now.saturating_add(crate::state::secs_to_ms(state.config.session_max_age_secs)),
        token_hash: &unused_hash,
    };
    sessions::insert(&mut tx, session).await?;
    external::claim_device_key(&mut tx, &id, key).await?;
    let detail = format!("tokens of {} ({client_id})", state.config.external_issuer);
    let record = AuditRecord {
        user_id: Some(user_id),
        session_id: Some(&id),
        ip: Some(ip),
        detail: Some(&detail),
        ..AuditRecord::new(AuditKind::SignInSuccess, now)
    };
    audit::record(&mut tx, record).await?;
    let row = sessions::by_id(&mut tx, &id).await?.ok_or_else(|| AppError::internal("new session is missing"))?;
    tx.commit().await?;
    crate::metrics::inc(&state.metrics.sign_in_success);
    tracing::info!(user_id, session_id = %id, "opened a session for a provider's token");
    Ok(row)
}
