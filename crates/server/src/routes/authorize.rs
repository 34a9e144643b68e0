//! `GET /oauth/authorize` shows the sign-in form, `POST /oauth/authorize` submits it
//! (RFC 6749 §4.1.1–4.1.2, OpenID Connect Core §3.1.2, RFC 9207 `iss`).
//!
//! A request whose `client_id` or `redirect_uri` cannot be trusted gets an error page and is never
//! redirected (RFC 6749 §4.1.2.1); every other error goes back to the redirect URI as `error`,
//! `error_description`, `state` and `iss`. The form carries an opaque pending-request id and a
//! CSRF token that must also come back in a cookie; both are stored hashed.
//!
//! A successful password entry also opens the OP's own browser session (cookie [`SSO_COOKIE`]):
//! a later request with it gets a code without the form, unless `prompt=login` or a `max_age`
//! older than the sign-in asks for the password again; `prompt=none` without one is answered
//! `login_required` (OpenID Connect Core §3.1.2.1, §3.1.2.6).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tessera_protocol::loopback::LoopbackRedirect;
use tessera_protocol::pkce::{self, CodeChallenge};
use tessera_protocol::{AuthorizeParams, paths};

use crate::auth::hash_token;
use crate::error::{AppError, AppResult};
use crate::extract::{ClientIp, Form};
use crate::routes::pages::{self, SignInForm};
use crate::sign_in::{KNOWN_CLIENTS, authenticate, page_refusal};
use crate::state::{AppState, SharedState, secs_to_ms};
use crate::store::oidc::{self, NewCode};

/// Cookie holding the OP's browser session (single sign-on).
pub const SSO_COOKIE: &str = "tessera_op";
/// Cookie holding the CSRF token of the form on screen.
pub const CSRF_COOKIE: &str = "tessera_csrf";
/// Lifetime of an authorization code (ms).
pub const CODE_TTL_MS: i64 = 60_000;
/// How long a sign-in form stays usable (ms).
const PENDING_TTL_MS: i64 = 600_000;

/// A request that passed every check.
struct Valid {
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    nonce: Option<String>,
    challenge: String,
}

/// Why a request is refused.
enum Refusal {
    /// Shown as a page: the redirect target is not trusted.
    Page(String),
    /// Sent back to the (trusted) redirect URI.
    Redirect { to: String, state: Option<String>, error: &'static str, description: String },
}

fn check(params: &AuthorizeParams) -> Result<Valid, Refusal> {
    let client_id = params.client_id.as_deref().unwrap_or_default();
    if !KNOWN_CLIENTS.contains(&client_id) {
        return Err(Refusal::Page("The application asking you to sign in is not known to this server.".into()));
    }
    let redirect_uri = params.redirect_uri.clone().unwrap_or_default();
    if let Err(e) = LoopbackRedirect::parse(&redirect_uri) {
        return Err(Refusal::Page(format!("The application's redirect address is not allowed: {e}")));
    }
    let refuse = |error, description: String| Refusal::Redirect {
        to: redirect_uri.clone(),
        state: params.state.clone(),
        error,
        description,
    };
    if params.response_type.as_deref() != Some("code") {
        return Err(refuse("unsupported_response_type", "response_type must be code".into()));
    }
    if !params.scope.as_deref().unwrap_or_default().split(' ').any(|s| s == "openid") {
        return Err(refuse("invalid_scope", "scope must include openid".into()));
    }
    let challenge = CodeChallenge::parse(params.code_challenge.as_deref(), params.code_challenge_method.as_deref())
        .map_err(|e| refuse("invalid_request", e.to_string()))?;
    Ok(Valid {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.clone(),
        state: params.state.clone(),
        nonce: params.nonce.clone(),
        challenge: challenge.as_str().to_owned(),
    })
}

/// A 303 to `to` with `pairs` and our `iss` appended (RFC 9207), with the pages' headers.
pub(crate) fn redirect(state: &AppState, to: &str, pairs: &[(&str, &str)]) -> Response {
    let Ok(mut url) = url::Url::parse(to) else {
        return pages::error(StatusCode::BAD_REQUEST, "The redirect address is not a URL.");
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in pairs {
            query.append_pair(k, v);
        }
        query.append_pair("iss", &state.issuer);
    }
    pages::protect(Redirect::to(url.as_str()).into_response())
}

fn refused(state: &AppState, refusal: Refusal) -> Response {
    match refusal {
        Refusal::Page(message) => pages::error(StatusCode::BAD_REQUEST, &message),
        Refusal::Redirect { to, state: st, error, description } => {
            let mut pairs = vec![("error", error), ("error_description", description.as_str())];
            if let Some(st) = st.as_deref() {
                pairs.push(("state", st));
            }
            redirect(state, &to, &pairs)
        }
    }
}

/// `GET /oauth/authorize`: checks the request and shows the sign-in form.
pub async fn show(
    State(state): State<SharedState>,
    client: ClientIp,
    headers: HeaderMap,
    Query(params): Query<AuthorizeParams>,
) -> AppResult<Response> {
    let valid = match check(&params) {
        Ok(valid) => valid,
        Err(refusal) => return Ok(refused(&state, refusal)),
    };
    // Every request below writes a row (a pending form or a code): a flood from one network is
    // stopped like a flood of grants (`refresh_per_ip_per_min`), with a page a person can read.
    if let Err(retry_after) = state.limiter.refresh_ip.check(&client.key) {
        crate::metrics::inc(&state.metrics.rate_limited);
        let message = format!("Too many sign-in requests from your network. Try again in {retry_after} s.");
        let mut page = pages::error(StatusCode::TOO_MANY_REQUESTS, &message);
        page.headers_mut().insert(header::RETRY_AFTER, retry_after.into());
        return Ok(page);
    }
    let prompts: Vec<&str> = params.prompt.as_deref().unwrap_or_default().split(' ').collect();
    if !prompts.contains(&"login") {
        let now = state.clock.now_ms();
        let fresh = |auth_time: i64| params.max_age.is_none_or(|age| now.saturating_sub(auth_time) <= secs_to_ms(age));
        if let Some((user_id, auth_time)) = browser_session(&state, &headers, now).await? {
            if fresh(auth_time) {
                let tx = state.db.write.begin().await?;
                return issue_code(&state, tx, &valid, user_id, auth_time, None).await;
            }
        }
        if prompts.contains(&"none") {
            let description = "the user must sign in (prompt=none)".to_owned();
            let refusal =
                Refusal::Redirect { to: valid.redirect_uri, state: valid.state, error: "login_required", description };
            return Ok(refused(&state, refusal));
        }
    }
    let pending = pkce::random_urlsafe(32);
    let csrf = pkce::random_urlsafe(32);
    let now = state.clock.now_ms();
    let stored = serde_json::to_string(&params).map_err(AppError::internal)?;
    {
        let mut conn = state.db.write.acquire().await?;
        let expires = now.saturating_add(PENDING_TTL_MS);
        oidc::insert_pending(&mut conn, &hash_token(&pending), &hash_token(&csrf), &stored, expires, now).await?;
    }
    let form = SignInForm {
        action: paths::AUTHORIZE,
        pending: &pending,
        csrf: &csrf,
        client_id: &valid.client_id,
        username: params.login_hint.as_deref().unwrap_or_default(),
        message: None,
    };
    let mut response = pages::sign_in(StatusCode::OK, &form);
    let cookie = format!("{CSRF_COOKIE}={csrf}; HttpOnly; SameSite=Strict; Path={}", paths::AUTHORIZE);
    set_cookie(&state, &mut response, cookie)?;
    Ok(response)
}

/// Appends a `Set-Cookie` (with `Secure` when the issuer is https).
pub(crate) fn set_cookie(state: &AppState, response: &mut Response, cookie: String) -> AppResult<()> {
    let secure = if state.issuer.starts_with("https://") { "; Secure" } else { "" };
    let value = HeaderValue::from_str(&format!("{cookie}{secure}")).map_err(AppError::internal)?;
    response.headers_mut().append(header::SET_COOKIE, value);
    Ok(())
}

/// The user and sign-in time of the request's browser session, if it has a valid one.
async fn browser_session(state: &AppState, headers: &HeaderMap, now: i64) -> AppResult<Option<(i64, i64)>> {
    let Some(id) = cookie(headers, SSO_COOKIE) else { return Ok(None) };
    let mut conn = state.db.read.acquire().await?;
    Ok(oidc::browser_session(&mut conn, &hash_token(id), now).await?)
}

/// Stores a code for `user_id` in `tx` (with a new browser session when `sso` holds its id),
/// commits, and redirects to the client with it.
async fn issue_code(
    state: &AppState,
    mut tx: sqlx::Transaction<'static, sqlx::Sqlite>,
    valid: &Valid,
    user_id: i64,
    auth_time: i64,
    sso: Option<&str>,
) -> AppResult<Response> {
    let now = state.clock.now_ms();
    let code = pkce::random_urlsafe(32);
    let new = NewCode {
        hash: &hash_token(&code),
        client_id: &valid.client_id,
        redirect_uri: &valid.redirect_uri,
        code_challenge: &valid.challenge,
        nonce: valid.nonce.as_deref(),
        user_id,
        auth_time,
        expires_at: now.saturating_add(CODE_TTL_MS),
    };
    oidc::insert_code(&mut tx, new, now).await?;
    let max_age_ms = secs_to_ms(state.config.session_max_age_secs);
    if let Some(id) = sso {
        oidc::insert_browser_session(&mut tx, &hash_token(id), user_id, auth_time, now.saturating_add(max_age_ms))
            .await?;
    }
    tx.commit().await?;
    let mut pairs = vec![("code", code.as_str())];
    if let Some(st) = valid.state.as_deref() {
        pairs.push(("state", st));
    }
    let mut response = redirect(state, &valid.redirect_uri, &pairs);
    if let Some(id) = sso {
        let cookie = format!("{SSO_COOKIE}={id}; HttpOnly; SameSite=Lax; Path=/; Max-Age={}", max_age_ms / 1000);
        set_cookie(state, &mut response, cookie)?;
    }
    Ok(response)
}

/// The fields of the sign-in form.
#[derive(Deserialize)]
pub struct SignInFields {
    #[serde(default)]
    pending: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    /// `cancel` when the user pressed Cancel instead of Sign in.
    #[serde(default)]
    decision: String,
}

impl std::fmt::Debug for SignInFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInFields").field("username", &self.username).finish_non_exhaustive()
    }
}

/// The value of cookie `name`, if the request carries exactly one.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut found = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(name)?.strip_prefix('='));
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

/// `POST /oauth/authorize`: checks the CSRF token and the password; on success redirects with a
/// code, otherwise shows the form again with a message (the password is never echoed).
pub async fn submit(
    State(state): State<SharedState>,
    client: ClientIp,
    headers: HeaderMap,
    Form(fields): Form<SignInFields>,
) -> AppResult<Response> {
    let now = state.clock.now_ms();
    let pending_hash = hash_token(&fields.pending);
    let found = {
        let mut conn = state.db.read.acquire().await?;
        oidc::pending(&mut conn, &pending_hash, now).await?
    };
    let Some((csrf_hash, stored)) = found else {
        return Ok(pages::error(StatusCode::BAD_REQUEST, "This sign-in form has expired. Start again from the app."));
    };
    let csrf_ok = !fields.csrf.is_empty()
        && hash_token(&fields.csrf).as_slice() == csrf_hash.as_slice()
        && cookie(&headers, CSRF_COOKIE) == Some(fields.csrf.as_str());
    if !csrf_ok {
        return Ok(pages::error(
            StatusCode::FORBIDDEN,
            "This form was not sent from the sign-in page. Start again from the app.",
        ));
    }
    let params: AuthorizeParams = serde_json::from_str(&stored).map_err(AppError::internal)?;
    let valid = match check(&params) {
        Ok(valid) => valid,
        Err(refusal) => return Ok(refused(&state, refusal)),
    };
    if fields.decision == "cancel" {
        // OIDC Core §3.1.2.6: the user said no; the app hears access_denied at once rather than
        // waiting for its time limit. The form is used up.
        let mut tx = state.db.write.begin().await?;
        oidc::delete_pending(&mut tx, &pending_hash).await?;
        tx.commit().await?;
        let description = "the user cancelled the sign-in".to_owned();
        let refusal =
            Refusal::Redirect { to: valid.redirect_uri, state: valid.state, error: "access_denied", description };
        return Ok(refused(&state, refusal));
    }
    let again = |status, message| {
        let form = SignInForm {
            action: paths::AUTHORIZE,
            pending: &fields.pending,
            csrf: &fields.csrf,
            client_id: &valid.client_id,
            username: &fields.username,
            message: Some(message),
        };
        pages::sign_in(status, &form)
    };
    let (user, mut tx, now) = match authenticate(&state, &client, &fields.username, fields.password.clone()).await {
        Ok(ok) => ok,
        Err(e) => {
            return Ok(match page_refusal(&e) {
                Some((status, message)) => again(status, message),
                None => e.into_response(),
            });
        }
    };
    oidc::delete_pending(&mut tx, &pending_hash).await?;
    let sso = pkce::random_urlsafe(32);
    issue_code(&state, tx, &valid, user.id, now, Some(&sso)).await
}
