//! Refresh-token rotation, retries after lost responses (inside the grace window and, while the
//! replacing token was never presented, up to the idle timeout), and reuse detection.
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
async fn reuse_of_a_token_whose_replacement_was_presented_revokes_the_whole_session() {
    let h = Harness::start(config()).await;
    let first = h.sign_in().await;
    let second: TokenResponse = h.refresh(&first.refresh_token).await.json().await.unwrap();
    // The client went on with the second token: the first one is now history, not a lost response.
    let third: TokenResponse = h.refresh(&second.refresh_token).await.json().await.unwrap();
    h.clock.advance(Duration::from_secs(31));

    let resp = h.refresh(&first.refresh_token).await;
    let body = expect_error(resp, StatusCode::BAD_REQUEST, ErrorCode::RefreshReuseDetected).await;
    assert_eq!(body.error, tessera_protocol::OAuthError::InvalidGrant, "RFC 6749 invalid_grant");
    assert_eq!(h.server.reuse_count(), 1, "reuse is counted");

    // The legitimate holder of the newest token is signed out too: the family is revoked.
    let resp = h.refresh(&third.refresh_token).await;
    expect_error(resp, StatusCode::BAD_REQUEST, ErrorCode::RefreshReuseDetected).await;
    let resp = h.get(paths::ME, &third.access_token).await;
    expect_error(resp, StatusCode::UNAUTHORIZED, ErrorCode::RefreshReuseDetected).await;

    let other = h.sign_in().await;
    let kinds = h.audit_kinds(&other.access_token).await;
    assert!(kinds.contains(&"refresh_token_reuse".to_owned()), "reuse is audited: {kinds:?}");
}

#[tokio::test]
async fn client_whose_response_was_lost_can_retry_after_the_grace_window_while_the_new_token_is_unused() {
    let h = Harness::start(config()).await;
    let first = h.sign_in().await;
    let _lost: TokenResponse = h.refresh(&first.refresh_token).await.json().await.unwrap();
    // The laptop slept with the request in flight: 20 minutes, past the 30 s grace, inside the
    // 30 min idle timeout. Nobody ever presented `lost`.
    h.clock.advance(Duration::from_secs(20 * 60));
    let resp = h.refresh(&first.refresh_token).await;
    assert_eq!(resp.status(), StatusCode::OK, "the previous token works while its replacement was never presented");
    let retried: TokenResponse = resp.json().await.unwrap();
    assert_eq!(retried.session_id, first.session_id, "same session");
    assert_eq!(h.server.reuse_count(), 0, "a lost response is not theft");
    let next: TokenResponse = h.refresh(&retried.refresh_token).await.json().await.unwrap();
    assert_eq!(h.get(paths::ME, &next.access_token).await.status(), StatusCode::OK, "the retried chain goes on");
}

#[tokio::test]
async fn a_lost_token_presented_after_its_predecessor_was_retried_is_reuse() {
    let h = Harness::start(config()).await;
    let first = h.sign_in().await;
    let lost: TokenResponse = h.refresh(&first.refresh_token).await.json().await.unwrap();
    h.clock.advance(Duration::from_secs(5 * 60));
    let retried: TokenResponse = h.refresh(&first.refresh_token).await.json().await.unwrap();
    // The retry retired `lost`: the client never had it, so whoever shows it now took it.
    let resp = h.refresh(&lost.refresh_token).await;
    expect_error(resp, StatusCode::BAD_REQUEST, ErrorCode::RefreshReuseDetected).await;
    let resp = h.refresh(&retried.refresh_token).await;
    expect_error(resp, StatusCode::BAD_REQUEST, ErrorCode::RefreshReuseDetected).await;
    assert_eq!(h.server.reuse_count(), 1, "one detection, the whole session revoked");
}

#[tokio::test]
async fn the_lost_response_retry_ends_one_idle_timeout_after_the_rotation() {
    let mut c = config();
    c.access_token_ttl_secs = 3 * 3600; // the first access token keeps the session active meanwhile
    let h = Harness::start(c).await;
    let first = h.sign_in().await;
    let _lost: TokenResponse = h.refresh(&first.refresh_token).await.json().await.unwrap();
    // Activity keeps the session open past the idle timeout without any refresh.
    for _ in 0..2 {
        h.clock.advance(Duration::from_secs(20 * 60));
        let resp = h.post(paths::SESSION_ACTIVITY, &first.access_token).await;
        assert_eq!(resp.status(), StatusCode::OK, "activity keeps the session open");
    }
    // 40 minutes after the rotation: more than the 30 min idle timeout bounding a retry.
    let resp = h.refresh(&first.refresh_token).await;
    expect_error(resp, StatusCode::BAD_REQUEST, ErrorCode::RefreshReuseDetected).await;
}

#[tokio::test]
async fn a_thief_replaying_an_old_token_is_caught_at_the_victims_next_refresh() {
    let h = Harness::start(config()).await;
    let stolen = h.sign_in().await; // copied from a backup before the victim refreshed
    let victim: TokenResponse = h.refresh(&stolen.refresh_token).await.json().await.unwrap();
    h.clock.advance(Duration::from_secs(60));
    // The victim has not used its token yet, so the thief's replay looks like a lost response.
    let thief: TokenResponse = h.refresh(&stolen.refresh_token).await.json().await.unwrap();
    // The victim goes on: its token was retired by the thief's retry. Reuse: the family dies.
    let resp = h.refresh(&victim.refresh_token).await;
    expect_error(resp, StatusCode::BAD_REQUEST, ErrorCode::RefreshReuseDetected).await;
    let resp = h.refresh(&thief.refresh_token).await;
    expect_error(resp, StatusCode::BAD_REQUEST, ErrorCode::RefreshReuseDetected).await;
    let resp = h.get(paths::ME, &thief.access_token).await;
    expect_error(resp, StatusCode::UNAUTHORIZED, ErrorCode::RefreshReuseDetected).await;
}

#[tokio::test]
async fn a_thief_with_the_current_token_is_caught_when_both_go_on() {
    let h = Harness::start(config()).await;
    let shared = h.sign_in().await; // the thief copied the victim's current token
    let thief: TokenResponse = h.refresh(&shared.refresh_token).await.json().await.unwrap();
    h.clock.advance(Duration::from_secs(60));
    // The victim refreshes with the same token: it is the previous one and the thief's
    // replacement is unused, so the victim gets a fresh token and the thief's is retired.
    let victim: TokenResponse = h.refresh(&shared.refresh_token).await.json().await.unwrap();
    let resp = h.refresh(&thief.refresh_token).await;
    expect_error(resp, StatusCode::BAD_REQUEST, ErrorCode::RefreshReuseDetected).await;
    let resp = h.refresh(&victim.refresh_token).await;
    expect_error(resp, StatusCode::BAD_REQUEST, ErrorCode::RefreshReuseDetected).await;
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
