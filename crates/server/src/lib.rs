//! Tessera's reference server: OAuth-shaped password sign-in, rotating refresh tokens with reuse
//! detection, idle and absolute session timeouts, revocation and a devices list, and durable
//! per-user notifications (outbox, WebSocket with resume, polling, hooks, signed webhooks), over
//! SQLite.
//!
//! [`app`] builds the router from state and [`serve`] runs it on a listener the caller bound,
//! so tests bind `127.0.0.1:0` and never wait for start-up:
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use std::sync::Arc;
//! use tessera_server::{AppState, Config, clock::SystemClock};
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let issuer = format!("http://{}", listener.local_addr()?);
//! let state = AppState::open(Config::default(), "data".as_ref(), Arc::new(SystemClock), issuer).await?;
//! tessera_server::serve(listener, tessera_server::app(state), std::future::pending()).await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod admin;
pub mod auth;
pub mod client_ip;
pub mod clock;
pub mod config;
pub mod control;
pub mod db;
pub mod egress;
pub mod error;
pub mod external;
pub mod extract;
pub mod id_token;
pub mod keys;
pub mod metrics;
pub mod notify;
pub mod password;
pub mod private_files;
pub mod ratelimit;
pub mod rotation;
pub mod routes;
pub mod session_end;
pub mod sign_in;
pub mod state;
pub mod store;
pub mod testing;
pub mod user_rules;
pub mod users;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Request, header};
use axum::routing::{delete, get, post};
use tessera_protocol::paths;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;

pub use config::Config;
pub use error::AppError;
pub use state::{AppState, SharedState};

/// The router with every endpoint and the middleware stack (request ids, tracing without
/// secrets, body limit, timeout).
pub fn app(state: SharedState) -> Router {
    use routes::{admin, api, authorize, device, meta, notifications, oauth, op_session, tickets, webhooks};
    let body_limit = state.config.max_body_bytes;
    // Requests taking longer than this are answered 408 `request_timeout`.
    let request_timeout = Duration::from_secs(state.config.request_timeout_secs);
    let provider = if let Some(external) = &state.external {
        // Trusting another provider: its own OpenID endpoints say where to sign in instead.
        let issuer = external.issuer().to_owned();
        let elsewhere = move || {
            let issuer = issuer.clone();
            async move { AppError::sign_in_elsewhere(&issuer) }
        };
        OP_PATHS.iter().fold(Router::new(), |router, path| router.route(path, axum::routing::any(elsewhere.clone())))
    } else {
        Router::new()
            .route(paths::DISCOVERY, get(meta::discovery))
            .route(paths::JWKS, get(meta::jwks))
            .route(paths::AUTHORIZE, get(authorize::show).post(authorize::submit))
            .route(paths::TOKEN, post(oauth::token))
            .route(paths::USERINFO, get(op_session::userinfo).post(op_session::userinfo))
            .route(paths::END_SESSION, get(op_session::end_session).post(op_session::end_session_confirmed))
            .route(paths::DEVICE_AUTHORIZATION, post(device::authorization))
            .route(paths::DEVICE, get(device::show).post(device::submit))
            .route(paths::REVOKE, post(oauth::revoke))
    };
    provider
        .route(paths::CLIENT_CONFIG, get(meta::client_config))
        .route(paths::ME, get(api::me))
        .route(paths::SESSION, get(api::current))
        .route(paths::SESSION_ACTIVITY, post(api::activity))
        .route(paths::SESSIONS, get(api::list))
        .route(paths::SESSIONS_REVOKE_OTHERS, post(api::revoke_others))
        .route(&format!("{}/{{id}}", paths::SESSIONS), delete(api::revoke_one))
        .route(paths::AUDIT, get(api::audit_list))
        .route(paths::NOTIFICATIONS, get(notifications::list))
        .route(paths::NOTIFICATIONS_READ_ALL, post(notifications::read_all))
        .route(paths::NOTIFICATIONS_UNREAD_COUNT, get(notifications::unread_count))
        .route(&format!("{}/{{seq}}/read", paths::NOTIFICATIONS), post(notifications::mark_read))
        .route(paths::ADMIN_NOTIFY, post(notifications::admin_notify))
        .route(paths::ADMIN_USER_PASSWD, post(admin::passwd))
        .route(paths::ADMIN_USER_DISABLE, post(admin::disable))
        .route(paths::ADMIN_USER_ENABLE, post(admin::enable))
        .route(paths::ADMIN_USER_END_SESSIONS, post(admin::end_sessions))
        .route(paths::WS, get(notify::ws::upgrade))
        .route(paths::WEBHOOKS, get(webhooks::list).post(webhooks::create))
        .route(&format!("{}/{{id}}", paths::WEBHOOKS), delete(webhooks::delete))
        .route(&format!("{}/{{id}}/deliveries", paths::WEBHOOKS), get(webhooks::deliveries))
        .route(paths::TICKETS, post(tickets::create))
        .route(&format!("{}/{{id}}/comments", paths::TICKETS), post(tickets::comment))
        .route(&format!("{}/{{id}}/assign", paths::TICKETS), post(tickets::assign))
        .route(paths::HEALTHZ, get(meta::healthz))
        .route(paths::METRICS, get(meta::metrics))
        .fallback(|| async { AppError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async { AppError::method_not_allowed() })
        .layer(
            ServiceBuilder::new()
                .layer(axum::middleware::map_request(drop_unsafe_request_id))
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(SetSensitiveRequestHeadersLayer::new([header::AUTHORIZATION, header::COOKIE]))
                .layer(TraceLayer::new_for_http().make_span_with(request_span))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(axum::error_handling::HandleErrorLayer::new(|_: tower::BoxError| async {
                    AppError::request_timeout()
                }))
                .layer(tower::timeout::TimeoutLayer::new(request_timeout))
                .layer(DefaultBodyLimit::max(body_limit)),
        )
        .with_state(state)
}

/// The endpoints of this server as an OpenID provider (off when it trusts another one).
pub const OP_PATHS: &[&str] = &[
    paths::DISCOVERY,
    paths::JWKS,
    paths::AUTHORIZE,
    paths::TOKEN,
    paths::USERINFO,
    paths::END_SESSION,
    paths::DEVICE_AUTHORIZATION,
    paths::DEVICE,
    paths::REVOKE,
];

/// Longest client-chosen `X-Request-Id` kept.
pub const MAX_REQUEST_ID: usize = 128;

/// A client's `X-Request-Id` is kept only when it is 1 to [`MAX_REQUEST_ID`] characters of
/// `[A-Za-z0-9._-]`; otherwise it is removed, so the next layer generates one (a 5,000-byte or
/// control-character id must not be echoed or copied into every log line).
async fn drop_unsafe_request_id(mut req: axum::extract::Request) -> axum::extract::Request {
    let header = tessera_protocol::REQUEST_ID_HEADER;
    let values = req.headers().get_all(header);
    let mut iter = values.iter();
    let safe = match (iter.next(), iter.next()) {
        (Some(value), None) => is_safe_request_id(value.as_bytes()),
        (None, _) => true,
        _ => false, // several: none is believed
    };
    if !safe {
        req.headers_mut().remove(header);
    }
    req
}

/// `[A-Za-z0-9._-]{1,128}`.
pub fn is_safe_request_id(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID).contains(&id.len())
        && id.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// One span per request: method, path (never the query string, which could carry secrets) and
/// the request id.
fn request_span<B>(req: &Request<B>) -> tracing::Span {
    let request_id =
        req.headers().get(tessera_protocol::REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("-");
    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %request_id)
}

/// Serves `router` on `listener` until `shutdown` completes, with client addresses available to
/// handlers (rate limits, sessions list).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
