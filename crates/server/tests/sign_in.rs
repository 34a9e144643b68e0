//! Signing in, discovery, JWKS and the access token itself.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine;
use common::{Harness, PASSWORD, config, expect_error};
use reqwest::StatusCode;
use tessera_protocol::{DeviceInfo, Discovery, ErrorCode, Me, OAuthError, TokenRequest, paths};

fn device() -> DeviceInfo {
    DeviceInfo { name: "Front desk".into(), platform: "linux".into(), app_version: "0.1.0".into() }
}

#[tokio::test]
async fn agent_signs_in_and_sees_who_they_are() {
    let h = Harness::start(config()).await;
    let tokens = h.sign_in().await;
    assert_eq!(tokens.token_type, "Bearer", "RFC 6750 bearer tokens");
    assert_eq!(tokens.expires_in, 600, "default access-token lifetime");
    assert_eq!(tokens.refresh_expires_in, 1800, "refresh works until the idle timeout");
    assert_eq!(tokens.session_expires_in, 43200, "absolute session lifetime");
    assert!(tokens.refresh_token.starts_with("trt_") && tokens.refresh_token.len() == 47, "opaque 256-bit token");

    let me: Me = h.get(paths::ME, &tokens.access_token).await.json().await.unwrap();
    assert_eq!(me.username, "alice", "the token is alice's");
    assert_eq!(me.session_id, tokens.session_id, "me names the session of the token");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer() {
    let h = Harness::start(config()).await;
    let wrong = h.token(&TokenRequest::password("alice", "not it", common::CLIENT, &device())).await;
    let wrong = expect_error(wrong, StatusCode::BAD_REQUEST, ErrorCode::InvalidCredentials).await;
    assert_eq!(wrong.error, OAuthError::InvalidGrant, "RFC 6749 §5.2 invalid_grant");
    let unknown = h.token(&TokenRequest::password("mallory", PASSWORD, common::CLIENT, &device())).await;
    let unknown = expect_error(unknown, StatusCode::BAD_REQUEST, ErrorCode::InvalidCredentials).await;
    assert_eq!(wrong, unknown, "unknown users must be indistinguishable from wrong passwords");

    let tokens = h.sign_in().await;
    let kinds = h.audit_kinds(&tokens.access_token).await;
    assert!(kinds.contains(&"sign_in_failure".to_owned()), "failed sign-in is audited: {kinds:?}");
    assert!(kinds.contains(&"sign_in_success".to_owned()), "sign-in is audited: {kinds:?}");
}

#[tokio::test]
async fn unknown_clients_and_grants_are_refused() {
    let h = Harness::start(config()).await;
    let req = TokenRequest::password("alice", PASSWORD, "evil-client", &device());
    expect_error(h.token(&req).await, StatusCode::UNAUTHORIZED, ErrorCode::InvalidClient).await;
    let mut req = TokenRequest::password("alice", PASSWORD, common::CLIENT, &device());
    req.grant_type = "client_credentials".into();
    expect_error(h.token(&req).await, StatusCode::BAD_REQUEST, ErrorCode::UnsupportedGrantType).await;
    req.grant_type = "password".into();
    req.password = None;
    expect_error(h.token(&req).await, StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest).await;
}

#[tokio::test]
async fn discovery_and_jwks_describe_the_server() {
    let h = Harness::start(config()).await;
    let d: Discovery = h.http.get(h.url(paths::DISCOVERY)).send().await.unwrap().json().await.unwrap();
    assert_eq!(d.issuer, h.server.url, "issuer is the server's base URL");
    assert_eq!(d.token_endpoint, h.url(paths::TOKEN), "absolute token endpoint");
    assert_eq!(d.tessera.as_ref().unwrap().session_idle_timeout_secs, 1800, "clients learn the idle limit");

    let jwks: serde_json::Value = h.http.get(&d.jwks_uri).send().await.unwrap().json().await.unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "OKP", "Ed25519 keys are OKP (RFC 8037)");
    assert_eq!(key["alg"], "EdDSA", "asymmetric signing");

    // The access token's header names that key; its claims are those the issue lists.
    let tokens = h.sign_in().await;
    let mut parts = tokens.access_token.split('.');
    let decode = |p: &str| -> serde_json::Value {
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
    };
    let header = decode(parts.next().unwrap());
    let claims = decode(parts.next().unwrap());
    assert_eq!(header["alg"], "EdDSA", "EdDSA signature");
    assert_eq!(header["kid"], key["kid"], "header names the published key");
    for claim in ["sub", "sid", "iat", "exp", "jti", "iss"] {
        assert!(claims.get(claim).is_some(), "claim {claim} must be present: {claims}");
    }
    assert_eq!(claims["typ"], "access", "typ claim");
    assert_eq!(claims["sid"], tokens.session_id.as_str(), "sid is the session");
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 600, "lifetime");
}

#[tokio::test]
async fn responses_carry_request_ids_and_no_store() {
    let h = Harness::start(config()).await;
    let resp = h.http.get(h.url(paths::HEALTHZ)).header("x-request-id", "trace-me-42").send().await.unwrap();
    assert_eq!(resp.headers()["x-request-id"], "trace-me-42", "a client's request id is echoed");
    let resp = h.http.get(h.url(paths::HEALTHZ)).send().await.unwrap();
    let generated = resp.headers().get("x-request-id").expect("a request id is generated when missing");
    assert_eq!(generated.len(), 36, "generated ids are UUIDs");

    let device = device();
    let resp = h.token(&TokenRequest::password("alice", PASSWORD, common::CLIENT, &device)).await;
    assert_eq!(resp.headers()["cache-control"], "no-store", "RFC 6749 §5.1");
}

#[tokio::test]
async fn the_password_grant_is_off_by_default_refused_and_not_advertised() {
    // RFC 9700 §2.4: the password grant must not be used; only a deployment that asks for it
    // (password_grant = true) gets it.
    let h = Harness::start(tessera_server::Config { password_grant: false, ..config() }).await;
    let d: Discovery = h.http.get(h.url(paths::DISCOVERY)).send().await.unwrap().json().await.unwrap();
    assert!(!d.supports_grant("password"), "absent from discovery: {:?}", d.grant_types_supported);
    for grant in ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"] {
        assert!(d.supports_grant(grant), "{grant} stays advertised");
    }
    let refused = h.token(&TokenRequest::password("alice", PASSWORD, common::CLIENT, &device())).await;
    let body = expect_error(refused, StatusCode::BAD_REQUEST, ErrorCode::PasswordGrantDisabled).await;
    assert_eq!(body.error, OAuthError::UnsupportedGrantType, "RFC 6749 §5.2 unsupported_grant_type");
    assert!(!body.error_description.unwrap_or_default().contains(PASSWORD), "the password is never echoed");

    let on = Harness::start(config()).await;
    let d: Discovery = on.http.get(on.url(paths::DISCOVERY)).send().await.unwrap().json().await.unwrap();
    assert!(d.supports_grant("password"), "advertised when turned on");
}
