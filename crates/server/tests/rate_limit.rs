//! Rate limits on the token endpoint: per IP and per username, 429 with Retry-After.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Harness, PASSWORD, config, expect_error};
use reqwest::StatusCode;
use tessera_protocol::{DeviceInfo, ErrorCode, TokenRequest};

fn device() -> DeviceInfo {
    DeviceInfo { name: "d".into(), platform: "linux".into(), app_version: "0".into() }
}

#[tokio::test]
async fn password_guessing_on_one_account_is_throttled() {
    let mut c = config();
    c.login_per_user_per_min = 3;
    let h = Harness::start(c).await;
    for i in 0..3 {
        let resp = h.token(&TokenRequest::password("alice", format!("guess{i}"), common::CLIENT, &device())).await;
        expect_error(resp, StatusCode::BAD_REQUEST, ErrorCode::InvalidCredentials).await;
    }
    let resp = h.token(&TokenRequest::password("alice", PASSWORD, common::CLIENT, &device())).await;
    assert_eq!(resp.headers()["retry-after"], "20", "Retry-After says when to come back (3/min)");
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited).await;
    // Other accounts are not locked out by attacks on alice.
    let resp = h.token(&TokenRequest::password("bob", PASSWORD, common::CLIENT, &device())).await;
    assert_eq!(resp.status(), StatusCode::OK, "per-username limit does not affect bob");
    h.clock.advance(Duration::from_secs(20));
    let resp = h.token(&TokenRequest::password("Alice", PASSWORD, common::CLIENT, &device())).await;
    expect_error(resp, StatusCode::BAD_REQUEST, ErrorCode::InvalidCredentials).await;
}

#[tokio::test]
async fn one_ip_cannot_spray_many_accounts() {
    let mut c = config();
    c.login_per_ip_per_min = 2;
    let h = Harness::start(c).await;
    for user in ["alice", "bob"] {
        let resp = h.token(&TokenRequest::password(user, PASSWORD, common::CLIENT, &device())).await;
        assert_eq!(resp.status(), StatusCode::OK, "inside the per-IP burst");
    }
    let resp = h.token(&TokenRequest::password("carol", PASSWORD, common::CLIENT, &device())).await;
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited).await;
}

#[tokio::test]
async fn refresh_floods_are_throttled_per_ip() {
    let mut c = config();
    c.refresh_per_ip_per_min = 2;
    let h = Harness::start(c).await;
    let t = h.sign_in().await;
    let t: tessera_protocol::TokenResponse = h.refresh(&t.refresh_token).await.json().await.unwrap();
    let t: tessera_protocol::TokenResponse = h.refresh(&t.refresh_token).await.json().await.unwrap();
    expect_error(h.refresh(&t.refresh_token).await, StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited).await;
    h.clock.advance(Duration::from_secs(30));
    assert_eq!(h.refresh(&t.refresh_token).await.status(), StatusCode::OK, "a throttled token is not burnt");
}
