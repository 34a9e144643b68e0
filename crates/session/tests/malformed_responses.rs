//! What a broken server, proxy or captive portal can send, from a small mock (the reference
//! server never sends these): each must end in a clear error that keeps the evidence, never a
//! panic, never an unbounded read, never a token in the error.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use common::{USER, device, temp_dir};
use tessera_session::{
    AccessToken, AuthClient, ClientConfig, ClientError, EngineConfig, ErrorClass, MemoryVault, RefreshToken,
    SessionEngine, SessionState, SystemClock, Vault, VaultRecord,
};

const JWT: &str = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1MSIsImV4cCI6OTk5OTk5OTk5OX0.c2lnbmF0dXJlc2lnbmF0dXJl";

async fn discovery(State(base): State<Arc<String>>, Path(scenario): Path<String>) -> Response {
    if scenario == "html-discovery" {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>Please log in to the Wi-Fi</body></html>",
        )
            .into_response();
    }
    let at = |p: &str| format!("{base}/{scenario}{p}");
    // RFC 8414 §3.3: the issuer is the URL the client was given (the scenario's prefix).
    let issuer = match scenario.as_str() {
        "foreign-issuer" => "https://tessera.example.com".to_owned(),
        _ => at(""),
    };
    let token_endpoint = match scenario.as_str() {
        "downgrade" => "http://tessera.example.com/token".to_owned(),
        _ => at("/token"),
    };
    axum::Json(serde_json::json!({
        "issuer": issuer,
        "token_endpoint": token_endpoint,
        "revocation_endpoint": at("/revoke"),
        "jwks_uri": at("/jwks"),
        "grant_types_supported": ["password", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["none"],
        "access_token_signing_alg_values_supported": ["EdDSA"],
        "tessera": {
            "me_endpoint": at("/me"),
            "session_endpoint": at("/session"),
            "activity_endpoint": at("/activity"),
            "sessions_endpoint": at("/sessions"),
            "revoke_others_endpoint": at("/revoke-others"),
            "audit_endpoint": at("/audit"),
            "session_idle_timeout_secs": 1800,
            "session_max_age_secs": 43200
        }
    }))
    .into_response()
}

async fn scenario(Path(scenario): Path<String>) -> Response {
    match scenario.as_str() {
        "html500" => (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/html")], "<html>\r\n<h1>500 Internal Server Error</h1></html>").into_response(),
        "truncated" => (StatusCode::OK, format!(r#"{{"access_token":"{JWT}","token_type":"Bearer","refresh_token":"trt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","expi"#)).into_response(),
        "missing" => (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], format!(r#"{{"access_token":"{JWT}","expires_in":300}}"#)).into_response(),
        "huge-streamed" => {
            let chunks = futures_util::stream::iter((0..50).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'a'; 1 << 20]))));
            (StatusCode::OK, Body::from_stream(chunks)).into_response()
        }
        "huge-declared" => (StatusCode::OK, vec![b'{'; 50 << 20]).into_response(),
        "slow" => std::future::pending().await,
        "limited" => (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "7")], r#"{"error":"request_refused","code":"rate_limited"}"#).into_response(),
        "unauthorized" => (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, r#"Bearer error="invalid_token""#)], "").into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn mock() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind: {e}"));
    let base = format!("http://{}", listener.local_addr().unwrap_or_else(|e| panic!("addr: {e}")));
    let app = Router::new()
        .route("/{scenario}/.well-known/openid-configuration", get(discovery))
        .route("/{scenario}/token", post(scenario))
        .route("/{scenario}/me", get(scenario))
        .with_state(Arc::new(base.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

fn client(base: &str, scenario: &str) -> AuthClient {
    let mut config = ClientConfig::new(format!("{base}/{scenario}"), "tessera-cli", device("mock desk"));
    config.request_timeout = Duration::from_millis(300);
    AuthClient::new(config, Arc::new(SystemClock)).unwrap_or_else(|e| panic!("client: {e}"))
}

async fn refresh_error(base: &str, scenario: &str) -> ClientError {
    match client(base, scenario).refresh(&RefreshToken::new("trt_x"), None).await {
        Ok(_) => panic!("scenario {scenario} must fail"),
        Err(e) => e,
    }
}

fn assert_no_token(e: &ClientError) {
    let text = format!("{e} {e:?}");
    assert!(!text.contains("eyJ") && !text.contains("trt_A"), "errors must never carry a token: {text}");
}

#[tokio::test]
async fn an_html_error_page_is_a_transient_malformed_response_with_evidence() {
    let base = mock().await;
    let e = refresh_error(&base, "html500").await;
    assert!(
        matches!(&e, ClientError::Malformed { status: 500, body_prefix, request_id, .. } if body_prefix.contains("500 Internal Server Error") && !request_id.is_empty()),
        "status, a sanitized prefix and the request id are kept: {e:?}"
    );
    assert!(matches!(e.class(), ErrorClass::Transient { .. }), "a proxy's error page must not sign anyone out");
}

#[tokio::test]
async fn truncated_json_is_malformed_and_leaks_no_token() {
    let base = mock().await;
    let e = refresh_error(&base, "truncated").await;
    assert!(matches!(&e, ClientError::Malformed { status: 200, .. }), "truncated JSON is malformed: {e:?}");
    assert_no_token(&e);
}

#[tokio::test]
async fn a_response_missing_fields_names_the_field() {
    let base = mock().await;
    let e = refresh_error(&base, "missing").await;
    assert!(
        matches!(&e, ClientError::Malformed { reason, .. } if reason.contains("missing field")),
        "the missing field is named: {e:?}"
    );
    assert_no_token(&e);
}

#[tokio::test]
async fn fifty_megabytes_are_refused_without_reading_them_all() {
    let base = mock().await;
    for scenario in ["huge-streamed", "huge-declared"] {
        let e = refresh_error(&base, scenario).await;
        assert_eq!(e, ClientError::TooLarge { status: 200, limit: 1024 * 1024 }, "{scenario}: the body cap must hold");
    }
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let base = mock().await;
    let e = refresh_error(&base, "slow").await;
    assert_eq!(e, ClientError::Timeout, "a hung server is a timeout");
    assert!(matches!(e.class(), ErrorClass::Transient { .. }), "and transient");
}

#[tokio::test]
async fn rate_limiting_keeps_retry_after() {
    let base = mock().await;
    let e = refresh_error(&base, "limited").await;
    assert_eq!(
        e.class(),
        ErrorClass::Transient { retry_after: Some(Duration::from_secs(7)) },
        "Retry-After is honoured: {e:?}"
    );
}

#[tokio::test]
async fn a_captive_portal_instead_of_discovery_is_malformed() {
    let base = mock().await;
    let e = refresh_error(&base, "html-discovery").await;
    assert!(
        matches!(&e, ClientError::Malformed { status: 200, body_prefix, .. } if body_prefix.contains("Wi-Fi")),
        "the portal page is the evidence: {e:?}"
    );
}

#[tokio::test]
async fn a_bare_401_means_refresh_the_access_token() {
    let base = mock().await;
    let e = client(&base, "unauthorized").me(&AccessToken::new(JWT)).await.err();
    let class = e.as_ref().map(ClientError::class);
    assert_eq!(class, Some(ErrorClass::InvalidToken), "RFC 6750: a 401 without a body asks for a new token: {e:?}");
}

#[tokio::test]
async fn restoring_against_a_broken_server_stays_signed_in_offline() {
    let base = mock().await;
    let dir = temp_dir();
    let vault = MemoryVault::new();
    let url = format!("{base}/html500");
    let now = chrono::Utc::now();
    let record = VaultRecord {
        refresh_token: RefreshToken::new("trt_x"),
        session_id: "s".into(),
        client_id: Some("tessera-cli".into()),
        username: USER.into(),
        server_url: url.clone(),
        refresh_expires_at: now + chrono::Duration::hours(1),
        session_expires_at: now + chrono::Duration::hours(8),
        pending_revocation: None,
    };
    vault.store(&record).await.unwrap_or_else(|e| panic!("memory vault store: {e}"));
    let engine =
        SessionEngine::new(EngineConfig::new(&url, dir.path(), "tessera-cli", device("d")), Arc::new(vault.clone()));
    let engine = engine.unwrap_or_else(|e| panic!("engine: {e}"));
    let state = engine.restore_user(USER).await.unwrap_or_else(|e| panic!("restore reports, it does not fail: {e}"));
    assert!(matches!(state, SessionState::Offline { .. }), "a broken server is Offline, still signed in: {state:?}");
    assert_eq!(vault.len(), 1, "the record is kept for the retry");
    assert_eq!(
        engine.metrics().last_error_code.as_deref(),
        Some("malformed_response"),
        "metrics keep the last error code"
    );
}

#[tokio::test]
async fn discovery_naming_another_issuer_is_refused_before_any_token_request() {
    let base = mock().await;
    let err = refresh_error(&base, "foreign-issuer").await;
    assert_eq!(err.code(), "issuer_mismatch", "RFC 8414 §3.3: the issuer must be the server asked: {err}");
    assert!(err.to_string().contains("https://tessera.example.com"), "the message names the issuer found: {err}");
    assert_eq!(err.class(), ErrorClass::Rejected, "a wrong issuer is not a transient failure: {err:?}");
}

#[tokio::test]
async fn discovery_cannot_downgrade_the_token_endpoint_to_plain_http() {
    let base = mock().await;
    let err = refresh_error(&base, "downgrade").await;
    assert_eq!(err.code(), "insecure_server_url", "a token endpoint on plain http elsewhere is refused: {err}");
    assert_no_token(&err);
}

#[test]
fn a_plain_http_server_that_is_not_this_machine_is_refused() {
    for url in ["http://tessera.example.com", "http://10.1.2.3:8787", "http://0.0.0.0:8787"] {
        let made = AuthClient::new(ClientConfig::new(url, "tessera-cli", device("desk")), Arc::new(SystemClock));
        let err = made.expect_err("plain http to another machine must be refused");
        assert_eq!(err.code(), "insecure_server_url", "{url} must be insecure_server_url: {err}");
    }
    let local =
        AuthClient::new(ClientConfig::new("http://localhost:8787", "tessera-cli", device("d")), Arc::new(SystemClock));
    assert!(local.is_ok(), "plain http to this machine stays allowed (development, tests)");
}
