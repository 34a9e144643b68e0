//! Refresh-token rotation, the grace window for lost responses, and reuse detection.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Harness, config, expect_error};
use reqwest::StatusCode;
use tessera_protocol::{ErrorCode, TokenResponse, paths};

#[tokio::test]
async fn every_refresh_rotates_the_refresh_token() {
    let h = Harness::start(config()).await;
    let first = h.sign_in().await;
    let resp = h.refresh(&first.refresh_token).await;
    assert_eq!(resp.status(), StatusCode::OK, "a current refresh token works");
    let second: TokenResponse = resp.json().await.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token, "refresh tokens rotate on every use");
    assert_ne!(second.access_token, first.access_token, "a new access token is issued");
    assert_eq!(second.session_id, first.session_id, "same session");
    let third: TokenResponse = h.refresh(&second.refresh_token).await.json().await.unwrap();
    assert_eq!(h.get(paths::ME, &third.access_token).await.status(), StatusCode::OK, "new access token works");
    assert_eq!(h.server.refresh_count(), 2, "two refreshes served");
}

#[tokio::test]
async fn client_whose_response_was_lost_can_retry_inside_the_grace_window() {
    let h = Harness::start(config()).await;
    let first = h.sign_in().await;
    let lost: TokenResponse = h.refresh(&first.refresh_token).await.json().await.unwrap();
    h.clock.advance(Duration::from_secs(29));
    // The client never saw `lost`; it retries with the token it still has.
    let resp = h.refresh(&first.refresh_token).await;
    assert_eq!(resp.status(), StatusCode::OK, "retry with the previous token inside 30 s grace must work");
    let retried: TokenResponse = resp.json().await.unwrap();
    assert_eq!(h.refresh(&retried.refresh_token).await.status(), StatusCode::OK, "the retried chain goes on");
    assert_eq!(h.server.reuse_count(), 0, "a retry inside the grace window is not theft");
    // The token from the lost response was never used by the client; if it shows up now,
    // someone else has it.
    let resp = h.refresh(&lost.refresh_token).await;
    expect_error(resp, StatusCode::BAD_REQUEST, ErrorCode::RefreshReuseDetected).await;
}

#[tokio::test]
async fn reuse_after_the_grace_window_revokes_the_whole_session() {
    let h = Harness::start(config()).await;
    let first = h.sign_in().await;
    let second: TokenResponse = h.refresh(&first.refresh_token).await.json().await.unwrap();
    h.clock.advance(Duration::from_secs(31));

    let resp = h.refresh(&first.refresh_token).await;
    let body = expect_error(resp, StatusCode::BAD_REQUEST, ErrorCode::RefreshReuseDetected).await;
    assert_eq!(body.error, tessera_protocol::OAuthError::InvalidGrant, "RFC 6749 invalid_grant");
    assert_eq!(h.server.reuse_count(), 1, "reuse is counted");

    // The legitimate holder of the newest token is signed out too: the family is revoked.
    let resp = h.refresh(&second.refresh_token).await;
    expect_error(resp, StatusCode::BAD_REQUEST, ErrorCode::RefreshReuseDetected).await;
    let resp = h.get(paths::ME, &second.access_token).await;
    expect_error(resp, StatusCode::UNAUTHORIZED, ErrorCode::RefreshReuseDetected).await;

    let other = h.sign_in().await;
    let kinds = h.audit_kinds(&other.access_token).await;
    assert!(kinds.contains(&"refresh_token_reuse".to_owned()), "reuse is audited: {kinds:?}");
}

#[tokio::test]
async fn tokens_older_than_the_previous_one_are_reuse_even_inside_grace() {
    let h = Harness::start(config()).await;
    let t1 = h.sign_in().await;
    let t2: TokenResponse = h.refresh(&t1.refresh_token).await.json().await.unwrap();
    let _t3: TokenResponse = h.refresh(&t2.refresh_token).await.json().await.unwrap();
    let resp = h.refresh(&t1.refresh_token).await;
    expect_error(resp, StatusCode::BAD_REQUEST, ErrorCode::RefreshReuseDetected).await;
}

#[tokio::test]
async fn grace_zero_means_no_second_chance() {
    let mut c = config();
    c.refresh_grace_secs = 0;
    let h = Harness::start(c).await;
    let t1 = h.sign_in().await;
    let _t2: TokenResponse = h.refresh(&t1.refresh_token).await.json().await.unwrap();
    h.clock.advance(Duration::from_millis(1));
    let resp = h.refresh(&t1.refresh_token).await;
    expect_error(resp, StatusCode::BAD_REQUEST, ErrorCode::RefreshReuseDetected).await;
}

#[tokio::test]
async fn unknown_refresh_tokens_are_invalid_grant_without_side_effects() {
    let h = Harness::start(config()).await;
    let t = h.sign_in().await;
    let resp = h.refresh("trt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").await;
    expect_error(resp, StatusCode::BAD_REQUEST, ErrorCode::InvalidRefreshToken).await;
    assert_eq!(h.refresh(&t.refresh_token).await.status(), StatusCode::OK, "other sessions unaffected");
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_never_trigger_reuse_inside_grace() {
    let h = Harness::start(config()).await;
    let t = h.sign_in().await;
    let results = futures_join(&h, &t.refresh_token, 8).await;
    assert!(results.iter().all(|s| *s == StatusCode::OK), "all concurrent retries succeed: {results:?}");
    assert_eq!(h.server.reuse_count(), 0, "no false theft alarm");
}

async fn futures_join(h: &Harness, token: &str, n: usize) -> Vec<StatusCode> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let http = h.http.clone();
        let url = h.url(paths::TOKEN);
        let req = tessera_protocol::TokenRequest::refresh(token, common::CLIENT);
        tasks.push(tokio::spawn(async move { http.post(url).form(&req).send().await.unwrap().status() }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}
