//! The administration endpoints (`/api/admin/users/*`) on a real server: admins only, every
//! change audited on the user acted on, and a reset or disable ends every session of the user in
//! its transaction — tokens refused at once, open streams told `session.revoked`.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod ws_support;

use common::{Harness, PASSWORD, config, expect_error};
use reqwest::StatusCode;
use serde::Serialize;
use tessera_protocol::{
    AdminPasswordReset, AdminUser, AdminUserOutcome, DeviceInfo, ErrorCode, TokenRequest, TokenResponse, paths,
};

async fn admin_post(h: &Harness, path: &str, access_token: &str, body: &impl Serialize) -> reqwest::Response {
    h.http.post(h.url(path)).bearer_auth(access_token).json(body).send().await.unwrap()
}

async fn ok(resp: reqwest::Response) -> AdminUserOutcome {
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "the admin request must succeed: {text}");
    serde_json::from_str(&text).unwrap()
}

fn alice() -> AdminUser {
    AdminUser { user: "alice".into() }
}

async fn sign_in_with(h: &Harness, user: &str, password: &str) -> reqwest::Response {
    let device = DeviceInfo { name: "d".into(), platform: "linux".into(), app_version: "0".into() };
    h.token(&TokenRequest::password(user, password, common::CLIENT, &device)).await
}

/// Every token of the session is refused with `session_revoked`.
async fn assert_session_over(h: &Harness, tokens: &TokenResponse) {
    expect_error(h.get(paths::ME, &tokens.access_token).await, StatusCode::UNAUTHORIZED, ErrorCode::SessionRevoked)
        .await;
    expect_error(h.refresh(&tokens.refresh_token).await, StatusCode::BAD_REQUEST, ErrorCode::SessionRevoked).await;
}

#[tokio::test]
async fn only_admins_may_administer_users() {
    let h = Harness::start(config()).await;
    let bob = h.sign_in_as("bob", "bob's desk").await;
    let alice_session = h.sign_in().await;
    for path in [paths::ADMIN_USER_DISABLE, paths::ADMIN_USER_ENABLE, paths::ADMIN_USER_END_SESSIONS] {
        let resp = admin_post(&h, path, &bob.access_token, &alice()).await;
        expect_error(resp, StatusCode::FORBIDDEN, ErrorCode::Forbidden).await;
    }
    let reset = AdminPasswordReset { user: "alice".into(), password: "bob wants in now".into() };
    let resp = admin_post(&h, paths::ADMIN_USER_PASSWD, &bob.access_token, &reset).await;
    expect_error(resp, StatusCode::FORBIDDEN, ErrorCode::Forbidden).await;
    let resp = h.get(paths::ME, &alice_session.access_token).await;
    assert_eq!(resp.status(), StatusCode::OK, "an agent's attempts change nothing");
    assert_eq!(sign_in_with(&h, "alice", PASSWORD).await.status(), StatusCode::OK, "alice's password is unchanged");
}

#[tokio::test]
async fn an_admin_resets_a_password_and_every_session_of_the_user_ends_at_once() {
    let h = Harness::start(config()).await;
    let carol = h.sign_in_as("carol", "admin desk").await;
    let laptop = h.sign_in_as("alice", "laptop").await;
    let desk = h.sign_in_as("alice", "desk").await;
    let mut ws = ws_support::connect(&h.server.url, &laptop.access_token).await;
    ws_support::resume(&mut ws, 0, None).await;

    let reset = AdminPasswordReset { user: "alice".into(), password: "alice's new password".into() };
    let done = ok(admin_post(&h, paths::ADMIN_USER_PASSWD, &carol.access_token, &reset).await).await;
    assert_eq!(done, AdminUserOutcome { user: "alice".into(), disabled: false, sessions_ended: 2 }, "both ended");
    ws_support::expect_revoked(&mut ws, ErrorCode::SessionRevoked).await;
    assert_session_over(&h, &laptop).await;
    assert_session_over(&h, &desk).await;
    let resp = sign_in_with(&h, "alice", PASSWORD).await;
    expect_error(resp, StatusCode::BAD_REQUEST, ErrorCode::InvalidCredentials).await;
    let resp = sign_in_with(&h, "alice", "alice's new password").await;
    assert_eq!(resp.status(), StatusCode::OK, "the new password works");
    let again: TokenResponse = resp.json().await.unwrap();
    let kinds = h.audit_kinds(&again.access_token).await;
    assert!(kinds.contains(&"user_password_reset".to_owned()), "the reset is audited on alice: {kinds:?}");
    assert_eq!(kinds.iter().filter(|k| *k == "session_revoked").count(), 2, "each ended session is audited");

    let short = AdminPasswordReset { user: "alice".into(), password: "short".into() };
    let resp = admin_post(&h, paths::ADMIN_USER_PASSWD, &carol.access_token, &short).await;
    expect_error(resp, StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest).await;
    let nobody = AdminPasswordReset { user: "nobody".into(), password: "long enough password".into() };
    let resp = admin_post(&h, paths::ADMIN_USER_PASSWD, &carol.access_token, &nobody).await;
    expect_error(resp, StatusCode::NOT_FOUND, ErrorCode::NotFound).await;
}

#[tokio::test]
async fn an_admin_disables_a_user_who_is_signed_out_and_cannot_sign_in_until_enabled() {
    let h = Harness::start(config()).await;
    let carol = h.sign_in_as("carol", "admin desk").await;
    let alice_session = h.sign_in().await;
    let mut ws = ws_support::connect(&h.server.url, &alice_session.access_token).await;
    ws_support::resume(&mut ws, 0, None).await;

    let done = ok(admin_post(&h, paths::ADMIN_USER_DISABLE, &carol.access_token, &alice()).await).await;
    assert_eq!(done, AdminUserOutcome { user: "alice".into(), disabled: true, sessions_ended: 1 }, "disabled");
    ws_support::expect_revoked(&mut ws, ErrorCode::SessionRevoked).await;
    assert_session_over(&h, &alice_session).await;
    let resp = sign_in_with(&h, "alice", PASSWORD).await;
    expect_error(resp, StatusCode::BAD_REQUEST, ErrorCode::UserDisabled).await;
    let resp = sign_in_with(&h, "alice", "a wrong password").await;
    expect_error(resp, StatusCode::BAD_REQUEST, ErrorCode::InvalidCredentials).await;

    let resp =
        admin_post(&h, paths::ADMIN_USER_DISABLE, &carol.access_token, &AdminUser { user: "carol".into() }).await;
    expect_error(resp, StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest).await;
    assert_eq!(h.get(paths::ME, &carol.access_token).await.status(), StatusCode::OK, "no admin locks itself out");

    let done = ok(admin_post(&h, paths::ADMIN_USER_ENABLE, &carol.access_token, &alice()).await).await;
    assert_eq!(done, AdminUserOutcome { user: "alice".into(), disabled: false, sessions_ended: 0 }, "enabled");
    let resp = sign_in_with(&h, "alice", PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::OK, "alice signs in again once enabled");
    let again: TokenResponse = resp.json().await.unwrap();
    let kinds = h.audit_kinds(&again.access_token).await;
    for kind in ["user_disabled", "user_enabled", "session_revoked", "sign_in_failure"] {
        assert!(kinds.contains(&kind.to_owned()), "{kind} is in alice's audit: {kinds:?}");
    }
}

#[tokio::test]
async fn an_admin_ends_every_session_of_a_user_who_may_sign_in_again() {
    let h = Harness::start(config()).await;
    let carol = h.sign_in_as("carol", "admin desk").await;
    let first = h.sign_in().await;
    let second = h.sign_in().await;
    let bob = h.sign_in_as("bob", "bob's desk").await;
    let done = ok(admin_post(&h, paths::ADMIN_USER_END_SESSIONS, &carol.access_token, &alice()).await).await;
    assert_eq!(done.sessions_ended, 2, "both of alice's sessions end");
    assert_session_over(&h, &first).await;
    assert_session_over(&h, &second).await;
    assert_eq!(h.get(paths::ME, &bob.access_token).await.status(), StatusCode::OK, "bob's session is untouched");
    h.sign_in().await;
}
