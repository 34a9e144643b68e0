//! Discovery, JWKS, health and metrics.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use tessera_protocol::{ClientSetup, Discovery, TesseraEndpoints, oidc, paths};

use crate::db::Db;
use crate::error::AppResult;
use crate::state::SharedState;
use crate::store::sessions;

/// `GET /api/client-config` (no token): where the desktop app and the CLI sign in: the
/// organisation's provider (`external_issuer`) or this server, with its built-in client ids.
pub async fn client_config(State(state): State<SharedState>) -> Json<ClientSetup> {
    Json(match &state.external {
        Some(provider) => provider.client_setup(),
        None => ClientSetup {
            issuer: state.issuer.clone(),
            client_id: None,
            scopes: oidc::SCOPES.into(),
            audience: None,
            external: false,
            redirect_ports: Vec::new(),
        },
    })
}

/// `GET /.well-known/openid-configuration`.
pub async fn discovery(State(state): State<SharedState>) -> Json<Discovery> {
    let url = |path: &str| format!("{}{path}", state.issuer);
    Json(Discovery {
        issuer: state.issuer.clone(),
        authorization_endpoint: Some(url(paths::AUTHORIZE)),
        token_endpoint: url(paths::TOKEN),
        userinfo_endpoint: Some(url(paths::USERINFO)),
        jwks_uri: url(paths::JWKS),
        end_session_endpoint: Some(url(paths::END_SESSION)),
        revocation_endpoint: Some(url(paths::REVOKE)),
        device_authorization_endpoint: Some(url(paths::DEVICE_AUTHORIZATION)),
        response_types_supported: strings(&["code"]),
        response_modes_supported: strings(&["query"]),
        grant_types_supported: grant_types(state.config.password_grant),
        subject_types_supported: strings(&["public"]),
        id_token_signing_alg_values_supported: strings(&["RS256"]),
        access_token_signing_alg_values_supported: strings(&["EdDSA"]),
        scopes_supported: strings(&["openid", "profile", "email"]),
        claims_supported: strings(&[
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "sid",
            "azp",
            "preferred_username",
            "name",
        ]),
        token_endpoint_auth_methods_supported: strings(&["none"]),
        code_challenge_methods_supported: strings(&[tessera_protocol::pkce::METHOD]),
        prompt_values_supported: strings(&["none", "login"]),
        authorization_response_iss_parameter_supported: true,
        tessera: Some(TesseraEndpoints {
            me_endpoint: url(paths::ME),
            session_endpoint: url(paths::SESSION),
            activity_endpoint: url(paths::SESSION_ACTIVITY),
            sessions_endpoint: url(paths::SESSIONS),
            revoke_others_endpoint: url(paths::SESSIONS_REVOKE_OTHERS),
            audit_endpoint: url(paths::AUDIT),
            session_idle_timeout_secs: state.config.session_idle_timeout_secs,
            session_max_age_secs: state.config.session_max_age_secs,
            notifications_endpoint: Some(url(paths::NOTIFICATIONS)),
            notifications_read_all_endpoint: Some(url(paths::NOTIFICATIONS_READ_ALL)),
            notifications_unread_count_endpoint: Some(url(paths::NOTIFICATIONS_UNREAD_COUNT)),
            notifications_ws_endpoint: Some(ws_url(&state.issuer)),
            webhooks_endpoint: Some(url(paths::WEBHOOKS)),
            ws_ping_interval_secs: Some(state.config.ws_ping_interval_secs),
        }),
    })
}

/// The grants the token endpoint takes; `password` only when `password_grant` is on.
fn grant_types(password_grant: bool) -> Vec<String> {
    let standard = ["authorization_code", "refresh_token", crate::routes::device::GRANT];
    let password = password_grant.then_some("password");
    standard.into_iter().chain(password).map(str::to_owned).collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// The WebSocket URL on the issuer's origin (`https` → `wss`, `http` → `ws`).
fn ws_url(issuer: &str) -> String {
    let rest = issuer
        .strip_prefix("https://")
        .map(|r| ("wss://", r))
        .or_else(|| issuer.strip_prefix("http://").map(|r| ("ws://", r)));
    match rest {
        Some((scheme, rest)) => format!("{scheme}{rest}{}", paths::WS),
        None => format!("{issuer}{}", paths::WS),
    }
}

/// `GET /.well-known/jwks.json`: the access-token key (EdDSA) and the id_token key (RS256).
pub async fn jwks(State(state): State<SharedState>) -> impl IntoResponse {
    let keys = serde_json::json!({ "keys": [state.keys.jwk(), state.id_keys.jwk()] });
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(keys))
}

/// `GET /healthz`: 200 when the database answers.
pub async fn healthz(State(db): State<Db>) -> AppResult<&'static str> {
    sqlx::query("SELECT 1").execute(&db.read).await?;
    Ok("ok\n")
}

/// `GET /metrics`: Prometheus text format 0.0.4.
pub async fn metrics(State(state): State<SharedState>) -> AppResult<impl IntoResponse> {
    let live = {
        let mut conn = state.db.read.acquire().await?;
        sessions::count_live(&mut conn, state.clock.now_ms(), state.idle_ms()).await?
    };
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render(live)))
}
