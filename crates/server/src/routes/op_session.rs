//! `GET|POST /oauth/userinfo` (OpenID Connect Core §5.3) and `GET /oauth/end_session`
//! and `POST /oauth/end_session` (OpenID Connect RP-Initiated Logout 1.0 §2), which end the OP's
//! browser session.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tessera_protocol::loopback::LoopbackRedirect;
use tessera_protocol::{UserInfo, paths};

use crate::auth::hash_token;
use crate::error::{AppError, AppResult};
use crate::extract::{Authenticated, Form};
use crate::routes::authorize::{SSO_COOKIE, cookie, redirect, set_cookie};
use crate::routes::pages;
use crate::state::{AppState, SharedState};
use crate::store::{oidc, users};

/// `GET|POST /oauth/userinfo` with the Bearer access token: `sub`, `name`, `preferred_username`,
/// `role` (no `email`: the server keeps none).
pub async fn userinfo(State(state): State<SharedState>, auth: Authenticated) -> AppResult<Response> {
    let user = {
        let mut conn = state.db.read.acquire().await?;
        users::by_id(&mut conn, auth.user_id())
            .await?
            .ok_or_else(|| AppError::not_found("the user no longer exists"))?
    };
    let info = UserInfo {
        sub: user.id.to_string(),
        role: Some(user.role()),
        name: Some(user.display_name),
        preferred_username: Some(user.username),
        email: None,
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(info)).into_response())
}

/// Query of `GET /oauth/end_session`.
#[derive(Debug, Default, Deserialize)]
pub struct EndSessionParams {
    #[serde(default)]
    id_token_hint: Option<String>,
    #[serde(default)]
    post_logout_redirect_uri: Option<String>,
    #[serde(default)]
    state: Option<String>,
}

/// `GET /oauth/end_session`: checks `id_token_hint` (our RS256 signature; expired is fine) and
/// `post_logout_redirect_uri` (the loopback rules). With a valid hint it ends the browser session
/// (row and cookie) and redirects with `state`, or shows "You are signed out". Without one, any
/// site could sign the browser out with a link, so it asks first (RP-Initiated Logout 1.0 §2:
/// the OP should ask the user): a page whose form posts to [`end_session_confirmed`].
pub async fn end_session(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(params): Query<EndSessionParams>,
) -> AppResult<Response> {
    let hint = params.id_token_hint.as_deref().filter(|h| !h.is_empty());
    if let Some(hint) = hint {
        if state.id_keys.verify_ignoring_expiry(hint).is_none_or(|claims| claims.iss != state.issuer) {
            return Ok(pages::error(
                StatusCode::BAD_REQUEST,
                "The sign-out request names an id_token this server did not issue.",
            ));
        }
    }
    let target = match return_address(&params) {
        Ok(target) => target,
        Err(why) => return Ok(pages::error(StatusCode::BAD_REQUEST, &why)),
    };
    if hint.is_none() {
        return Ok(pages::confirm_sign_out(paths::END_SESSION, target, params.state.as_deref()));
    }
    sign_out_browser(&state, &headers, target, params.state.as_deref()).await
}

/// `POST /oauth/end_session`: the user confirmed on the page. The browser-session cookie is
/// `SameSite=Lax`, so a post from another site carries none and ends nothing.
pub async fn end_session_confirmed(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Form(params): Form<EndSessionParams>,
) -> AppResult<Response> {
    let target = match return_address(&params) {
        Ok(target) => target,
        Err(why) => return Ok(pages::error(StatusCode::BAD_REQUEST, &why)),
    };
    sign_out_browser(&state, &headers, target, params.state.as_deref()).await
}

/// The `post_logout_redirect_uri`, if any, when it follows the loopback rules; else why not.
fn return_address(params: &EndSessionParams) -> Result<Option<&str>, String> {
    let target = params.post_logout_redirect_uri.as_deref().filter(|u| !u.is_empty());
    if let Some(uri) = target {
        LoopbackRedirect::parse(uri).map_err(|e| format!("The address to return to is not allowed: {e}"))?;
    }
    Ok(target)
}

/// Ends the browser session of the request's cookie, clears the cookie, and returns to `target`
/// with `state` or says so on a page.
async fn sign_out_browser(
    state: &AppState,
    headers: &HeaderMap,
    target: Option<&str>,
    return_state: Option<&str>,
) -> AppResult<Response> {
    if let Some(id) = cookie(headers, SSO_COOKIE) {
        let mut conn = state.db.write.acquire().await?;
        oidc::delete_browser_session(&mut conn, &hash_token(id)).await?;
    }
    let mut response = match target {
        Some(uri) => {
            let pairs: Vec<(&str, &str)> = return_state.map(|s| ("state", s)).into_iter().collect();
            redirect(state, uri, &pairs)
        }
        None => pages::notice("You are signed out", "You are signed out of Tessera in this browser."),
    };
    set_cookie(state, &mut response, format!("{SSO_COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0"))?;
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
