//! The `authorization_code` grant (RFC 6749 §4.1.3 with PKCE, RFC 7636 §4.6) and the id_token it
//! returns (OpenID Connect Core §3.1.3.3). A session begins when the code is exchanged.

use tessera_protocol::{ErrorCode, IdTokenClaims, TokenRequest, TokenResponse, pkce};

use crate::auth::hash_token;
use crate::error::{AppError, AppResult};
use crate::extract::ClientIp;
use crate::session_end::{EndReason, Ending};
use crate::sign_in::{DeviceFields, NewSignIn, open_session, token_response};
use crate::state::AppState;
use crate::store::users::UserRow;
use crate::store::{oidc, sessions, users};

/// Lifetime of an id_token (seconds): it proves a sign-in, it is not a credential to keep.
pub const ID_TOKEN_TTL_SECS: i64 = 300;
/// Longest code accepted (ours are 43 characters).
const MAX_CODE: usize = 128;

fn bad_code() -> AppError {
    AppError::invalid_grant(ErrorCode::InvalidAuthorizationCode, "unknown, expired or already used authorization code")
}

/// Exchanges a code for tokens (+ id_token). A code presented a second time revokes the session
/// its first exchange opened (RFC 6749 §4.1.2: "the authorization server MUST deny the request and
/// SHOULD revoke all tokens previously issued based on that authorization code").
pub async fn exchange(
    state: &AppState,
    client: &ClientIp,
    client_id: &str,
    req: TokenRequest,
) -> AppResult<TokenResponse> {
    let (Some(code), Some(redirect_uri), Some(verifier)) = (req.code, req.redirect_uri, req.code_verifier) else {
        return Err(AppError::invalid_request("code, redirect_uri and code_verifier are required"));
    };
    crate::sign_in::limited(state, &state.limiter.refresh_ip, &client.key)?;
    if code.is_empty() || code.len() > MAX_CODE {
        return Err(bad_code());
    }
    let hash = hash_token(&code);
    let now = state.clock.now_ms();
    let mut tx = state.db.write.begin().await?;
    let Some(row) = oidc::code_by_hash(&mut tx, &hash).await? else {
        return Err(bad_code());
    };
    if row.used_at.is_some() {
        drop(tx);
        revoke_replayed(state, &row, &client.ip).await?;
        return Err(bad_code());
    }
    if now >= row.expires_at || row.client_id != client_id || row.redirect_uri != redirect_uri {
        return Err(bad_code());
    }
    if let Err(e) = pkce::verify(Some(pkce::METHOD), &row.code_challenge, &verifier) {
        return Err(AppError::invalid_grant(ErrorCode::PkceMismatch, e.to_string()));
    }
    let Some(user) = users::by_id(&mut tx, row.user_id).await?.filter(|u| !u.is_disabled()) else {
        return Err(AppError::invalid_grant(ErrorCode::UserDisabled, "this account is disabled"));
    };
    let device = DeviceFields::new(req.device_name, req.platform, req.app_version);
    let detail = format!("browser sign-in; {}", device.name());
    // The code is consumed in the same transaction that opens the session.
    let session_id = uuid::Uuid::new_v4().to_string();
    if !oidc::consume_code(&mut tx, &hash, &session_id, now).await? {
        return Err(bad_code());
    }
    let sign_in = NewSignIn { user: &user, client_id, ip: &client.ip, now, device, detail: &detail };
    let (session, refresh) = open_session(state, tx, sign_in, Some(session_id)).await?;
    let mut response = token_response(state, &session, refresh, now)?;
    let signed =
        IdToken { user: &user, client_id, session_id: &session.id, auth_time: row.auth_time, nonce: row.nonce };
    response.id_token = Some(id_token(state, signed, now)?);
    Ok(response)
}

/// What an id_token says.
pub(crate) struct IdToken<'a> {
    pub(crate) user: &'a UserRow,
    pub(crate) client_id: &'a str,
    pub(crate) session_id: &'a str,
    /// When the user entered their password (ms).
    pub(crate) auth_time: i64,
    pub(crate) nonce: Option<String>,
}

/// Signs an id_token (OIDC Core §2) issued at `now` (ms), valid [`ID_TOKEN_TTL_SECS`].
pub(crate) fn id_token(state: &AppState, t: IdToken<'_>, now: i64) -> AppResult<String> {
    let claims = IdTokenClaims {
        iss: state.issuer.clone(),
        sub: t.user.id.to_string(),
        aud: t.client_id.to_owned(),
        exp: now.div_euclid(1000) + ID_TOKEN_TTL_SECS,
        iat: now.div_euclid(1000),
        auth_time: t.auth_time.div_euclid(1000),
        nonce: t.nonce,
        sid: Some(t.session_id.to_owned()),
        azp: Some(t.client_id.to_owned()),
        preferred_username: Some(t.user.username.clone()),
        name: Some(t.user.display_name.clone()),
    };
    Ok(state.id_keys.sign(&claims)?)
}

async fn revoke_replayed(state: &AppState, row: &oidc::CodeRow, ip: &str) -> AppResult<()> {
    let Some(session_id) = &row.session_id else { return Ok(()) };
    let mut conn = state.db.write.acquire().await?;
    if let Some(session) = sessions::by_id(&mut conn, session_id).await? {
        tracing::warn!(session_id = %session_id, "authorization code replayed; revoking its session");
        let ending = Ending {
            row: &session,
            reason: EndReason::Revoked,
            ip: Some(ip),
            detail: Some("authorization code replayed"),
        };
        state.sessions.end_now(&mut conn, ending).await?;
    }
    Ok(())
}
