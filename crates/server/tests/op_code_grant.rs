//! Browser sign-in, seen by a relying party: the code from the sign-in page is exchanged with its
//! PKCE verifier for the usual tokens plus an id_token it can verify; a wrong verifier, a wrong
//! redirect URI, an expired or a replayed code are refused, and a replay revokes the session.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod oidc_rp;

use std::time::Duration;

use common::{Harness, config, expect_error};
use oidc_rp::{Authz, code_for, exchange, no_redirects, verify_id_token};
use reqwest::StatusCode;
use tessera_protocol::{Discovery, ErrorCode, TokenResponse, paths};

#[tokio::test]
async fn a_browser_sign_in_gives_a_session_and_an_id_token_the_client_can_verify() {
    let h = Harness::start(config()).await;
    let http = no_redirects();
    let authz = Authz::new();
    let code = code_for(&http, &h, &authz, "alice").await;
    assert!(code.len() >= 22, "the code carries at least 128 bits: {}", code.len());

    let resp = exchange(&h, &authz, &code).await;
    assert_eq!(resp.status(), StatusCode::OK, "the code is exchanged");
    assert_eq!(resp.headers()["cache-control"], "no-store", "token responses are not cached (RFC 6749 §5.1)");
    let tokens: TokenResponse = resp.json().await.unwrap();
    let id_token = tokens.id_token.as_deref().expect("an openid request gets an id_token");
    let claims = verify_id_token(&h, id_token, &authz).await;
    assert_eq!(claims.sid.as_deref(), Some(tokens.session_id.as_str()), "sid is the session just opened");
    assert_eq!(claims.azp.as_deref(), Some(common::CLIENT), "azp is the client");
    assert_eq!(claims.preferred_username.as_deref(), Some("alice"), "preferred_username is the login name");
    assert_eq!(claims.exp - claims.iat, 300, "an id_token lives five minutes");
    assert!(claims.auth_time <= claims.iat, "auth_time is when the password was entered, not later than iat");

    let me = h.get(paths::ME, &tokens.access_token).await;
    assert_eq!(me.status(), StatusCode::OK, "the access token works like a password-grant one");
    let refreshed = h.refresh(&tokens.refresh_token).await;
    assert_eq!(refreshed.status(), StatusCode::OK, "the refresh token rotates as usual");
    let kinds = h.audit_kinds(&tokens.access_token).await;
    assert!(kinds.iter().any(|k| k == "sign_in_success"), "the exchange is audited as a sign-in: {kinds:?}");
}

#[tokio::test]
async fn discovery_advertises_the_code_flow_with_pkce_and_rs256_id_tokens() {
    let h = Harness::start(config()).await;
    let d: Discovery = h.http.get(h.url(paths::DISCOVERY)).send().await.unwrap().json().await.unwrap();
    assert!(d.supports_browser_sign_in(), "authorization endpoint, code and S256 are advertised: {d:?}");
    assert_eq!(d.authorization_endpoint.as_deref(), Some(h.url(paths::AUTHORIZE).as_str()), "absolute URL");
    assert!(d.supports_grant("authorization_code"), "the code grant is listed");
    assert_eq!(d.id_token_signing_alg_values_supported, ["RS256"], "id_tokens are RS256");
    assert_eq!(d.code_challenge_methods_supported, ["S256"], "only S256 (plain is refused)");
    assert_eq!(d.response_modes_supported, ["query"], "the code comes back in the query");
    assert!(d.authorization_response_iss_parameter_supported, "RFC 9207 iss is sent");
    assert!(d.scopes_supported.iter().any(|s| s == "openid"), "openid scope");
}

#[tokio::test]
async fn a_wrong_verifier_is_a_pkce_mismatch() {
    let h = Harness::start(config()).await;
    let authz = Authz::new();
    let code = code_for(&no_redirects(), &h, &authz, "alice").await;
    let thief = Authz { redirect_uri: authz.redirect_uri.clone(), ..Authz::new() };
    let resp = exchange(&h, &thief, &code).await;
    expect_error(resp, StatusCode::BAD_REQUEST, ErrorCode::PkceMismatch).await;
}

#[tokio::test]
async fn the_redirect_uri_must_be_the_one_of_the_request() {
    let h = Harness::start(config()).await;
    let authz = Authz::new();
    let code = code_for(&no_redirects(), &h, &authz, "alice").await;
    let other = Authz { redirect_uri: "http://127.0.0.1:49153/callback".into(), ..authz };
    let resp = exchange(&h, &other, &code).await;
    expect_error(resp, StatusCode::BAD_REQUEST, ErrorCode::InvalidAuthorizationCode).await;
}

#[tokio::test]
async fn a_code_expires_after_sixty_seconds() {
    let h = Harness::start(config()).await;
    let authz = Authz::new();
    let code = code_for(&no_redirects(), &h, &authz, "alice").await;
    h.clock.advance(Duration::from_secs(61));
    let resp = exchange(&h, &authz, &code).await;
    expect_error(resp, StatusCode::BAD_REQUEST, ErrorCode::InvalidAuthorizationCode).await;
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_the_session_it_opened() {
    let h = Harness::start(config()).await;
    let authz = Authz::new();
    let code = code_for(&no_redirects(), &h, &authz, "alice").await;
    let first: TokenResponse = exchange(&h, &authz, &code).await.json().await.unwrap();
    let replay = exchange(&h, &authz, &code).await;
    expect_error(replay, StatusCode::BAD_REQUEST, ErrorCode::InvalidAuthorizationCode).await;
    let refresh = h.refresh(&first.refresh_token).await;
    assert_ne!(refresh.status(), StatusCode::OK, "the session the code opened is revoked (RFC 6749 §4.1.2)");
    let me = h.get(paths::ME, &first.access_token).await;
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED, "its access token no longer works");
}

#[tokio::test]
async fn an_unknown_code_is_refused() {
    let h = Harness::start(config()).await;
    let authz = Authz::new();
    let resp = exchange(&h, &authz, "not-a-code-this-server-issued").await;
    expect_error(resp, StatusCode::BAD_REQUEST, ErrorCode::InvalidAuthorizationCode).await;
}
