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

async fn sign_in_via(h: &Harness, user: &str, forwarded_for: &str) -> reqwest::Response {
    let req = TokenRequest::password(user, PASSWORD, common::CLIENT, &device());
    h.http
        .post(h.url(tessera_protocol::paths::TOKEN))
        .header("x-forwarded-for", forwarded_for)
        .form(&req)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn forwarded_for_cannot_dodge_the_per_ip_limit_unless_the_proxy_is_trusted() {
    let mut c = config();
    c.login_per_ip_per_min = 1;
    let h = Harness::start(c).await;
    assert_eq!(sign_in_via(&h, "alice", "203.0.113.1").await.status(), StatusCode::OK, "first sign-in");
    // Not a trusted proxy: a made-up X-Forwarded-For does not make a new client.
    let resp = sign_in_via(&h, "bob", "203.0.113.2").await;
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited).await;

    let mut c = config();
    c.login_per_ip_per_min = 1;
    c.trusted_proxies = "127.0.0.1/32".into();
    let h = Harness::start(c).await;
    assert_eq!(sign_in_via(&h, "alice", "203.0.113.1").await.status(), StatusCode::OK, "client 1 behind the proxy");
    let resp = sign_in_via(&h, "bob", "203.0.113.2").await;
    assert_eq!(resp.status(), StatusCode::OK, "behind a trusted proxy, another client has its own bucket");
    let resp = sign_in_via(&h, "carol", "2001:db8:1:2::1").await;
    assert_eq!(resp.status(), StatusCode::OK, "an IPv6 client has its own bucket");
    let resp = sign_in_via(&h, "carol", "2001:db8:1:2:ffff::9").await;
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited).await;
    let t: tessera_protocol::TokenResponse = resp_json(sign_in_via(&h, "alice", "198.51.100.7").await).await;
    let list: tessera_protocol::SessionList =
        h.get(tessera_protocol::paths::SESSIONS, &t.access_token).await.json().await.unwrap();
    let ips: Vec<_> = list.sessions.iter().map(|s| s.ip.as_str()).collect();
    assert!(ips.contains(&"198.51.100.7"), "the sessions list shows the forwarded client, not the proxy: {ips:?}");
}

async fn resp_json<T: serde::de::DeserializeOwned>(resp: reqwest::Response) -> T {
    assert_eq!(resp.status(), StatusCode::OK, "expected a successful answer");
    resp.json().await.unwrap()
}
