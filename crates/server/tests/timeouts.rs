//! Idle and absolute session timeouts, enforced on refresh and on every authenticated call.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Harness, config, expect_error};
use reqwest::StatusCode;
use tessera_protocol::{ErrorCode, SessionInfo, TokenResponse, paths};

fn short() -> tessera_server::Config {
    let mut c = config();
    c.access_token_ttl_secs = 600;
    c.session_idle_timeout_secs = 300;
    c.session_max_age_secs = 900;
    c
}

#[tokio::test]
async fn idle_session_ends_even_before_the_access_token_expires() {
    let h = Harness::start(short()).await;
    let t = h.sign_in().await;
    h.clock.advance(Duration::from_secs(301));
    // The JWT is still inside its 600 s, but the session went idle at 300 s.
    let resp = h.get(paths::ME, &t.access_token).await;
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\", error_description=\"session_idle_timeout\"",
        "RFC 6750 challenge names the reason"
    );
    expect_error(resp, StatusCode::UNAUTHORIZED, ErrorCode::SessionIdleTimeout).await;
    expect_error(h.refresh(&t.refresh_token).await, StatusCode::BAD_REQUEST, ErrorCode::SessionIdleTimeout).await;
}

#[tokio::test]
async fn idle_session_cannot_be_refreshed() {
    let h = Harness::start(short()).await;
    let t = h.sign_in().await;
    h.clock.advance(Duration::from_secs(300));
    expect_error(h.refresh(&t.refresh_token).await, StatusCode::BAD_REQUEST, ErrorCode::SessionIdleTimeout).await;
    let other = h.sign_in().await;
    let kinds = h.audit_kinds(&other.access_token).await;
    assert!(kinds.contains(&"session_idle_timeout".to_owned()), "idle end is audited: {kinds:?}");
}

#[tokio::test]
async fn activity_and_refresh_keep_a_session_alive_until_the_absolute_end() {
    let h = Harness::start(short()).await;
    let t = h.sign_in().await;
    // Activity at 200 s moves the idle deadline from 300 s to 500 s.
    h.clock.advance(Duration::from_secs(200));
    let info: SessionInfo = h.post(paths::SESSION_ACTIVITY, &t.access_token).await.json().await.unwrap();
    assert_eq!((info.idle_expires_at - info.last_activity_at).num_seconds(), 300, "idle deadline moved");
    h.clock.advance(Duration::from_secs(250));
    assert_eq!(h.get(paths::ME, &t.access_token).await.status(), StatusCode::OK, "alive at 450 s thanks to activity");
    // A refresh at 450 s counts as activity too (idle deadline 750 s).
    let t: TokenResponse = h.refresh(&t.refresh_token).await.json().await.unwrap();
    assert_eq!(t.expires_in, 900 - 450, "access token capped at the session's absolute end");
    h.clock.advance(Duration::from_secs(250));
    let t: TokenResponse = h.refresh(&t.refresh_token).await.json().await.unwrap();
    assert_eq!(t.session_expires_in, 900 - 700, "the absolute end does not move");
    assert_eq!(t.refresh_expires_in, 900 - 700, "refresh works until the earlier deadline");
    // Past the absolute end nothing works, however active the user is.
    h.clock.advance(Duration::from_secs(200));
    expect_error(h.refresh(&t.refresh_token).await, StatusCode::BAD_REQUEST, ErrorCode::SessionExpired).await;
    // The access token expired with the session, so it is refused as expired.
    expect_error(h.get(paths::ME, &t.access_token).await, StatusCode::UNAUTHORIZED, ErrorCode::InvalidToken).await;
}

#[tokio::test]
async fn expired_access_token_is_refused_with_invalid_token() {
    let mut c = config();
    c.access_token_ttl_secs = 60;
    let h = Harness::start(c).await;
    let t = h.sign_in().await;
    h.clock.advance(Duration::from_secs(60));
    let body =
        expect_error(h.get(paths::ME, &t.access_token).await, StatusCode::UNAUTHORIZED, ErrorCode::InvalidToken).await;
    assert!(body.error_description.unwrap().contains("expired"), "says why");
    assert_eq!(h.refresh(&t.refresh_token).await.status(), StatusCode::OK, "refresh still works");
}
