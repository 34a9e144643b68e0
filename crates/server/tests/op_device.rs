//! The device authorization grant (RFC 8628) as a device and its user see it: a user code to type
//! on the /device page, polls answered authorization_pending or slow_down until the user approves,
//! then tokens and an id_token once; a denial, an expiry and a forged page are refused.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod oidc_rp;

use std::time::Duration;

use common::{CLIENT, Harness, PASSWORD, config, expect_error};
use oidc_rp::{device, hidden, no_redirects};
use reqwest::StatusCode;
use tessera_protocol::{DeviceAuthorizationResponse, Discovery, ErrorCode, TokenRequest, TokenResponse, paths};

async fn start_device(h: &Harness) -> DeviceAuthorizationResponse {
    let resp = h
        .http
        .post(h.url(paths::DEVICE_AUTHORIZATION))
        .form(&[("client_id", CLIENT), ("scope", "openid profile")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "a device authorization is granted");
    resp.json().await.unwrap()
}

async fn poll(h: &Harness, device_code: &str) -> reqwest::Response {
    h.token(&TokenRequest::device_code(device_code, CLIENT, &device())).await
}

/// Opens the page for `code` and submits it with `decision`.
async fn decide(h: &Harness, code: &str, user: &str, password: &str, decision: &str) -> reqwest::Response {
    let http = no_redirects();
    let resp = http.get(format!("{}?user_code={code}", h.url(paths::DEVICE))).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "the device page is shown");
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let html = resp.text().await.unwrap();
    assert!(
        html.contains(&format!("value=\"{}\"", code.to_uppercase())),
        "the code from verification_uri_complete is prefilled"
    );
    let csrf = hidden(&html, "csrf").unwrap();
    let fields = [
        ("csrf", csrf.as_str()),
        ("user_code", code),
        ("username", user),
        ("password", password),
        ("decision", decision),
    ];
    http.post(h.url(paths::DEVICE)).header("cookie", cookie).form(&fields).send().await.unwrap()
}

#[tokio::test]
async fn a_device_is_signed_in_once_the_user_approves_its_code() {
    let h = Harness::start(config()).await;
    let d = start_device(&h).await;
    let (a, b) = d.user_code.split_once('-').expect("XXXX-XXXX");
    assert!(a.len() == 4 && b.len() == 4, "two groups of four: {}", d.user_code);
    assert!(d.user_code.chars().filter(|c| *c != '-').all(|c| "BCDFGHJKLMNPQRSTVWXZ".contains(c)), "{}", d.user_code);
    assert_eq!(d.verification_uri, h.url(paths::DEVICE), "verification_uri is the issuer's /device");
    assert_eq!(d.verification_uri_complete, Some(format!("{}?user_code={}", d.verification_uri, d.user_code)));
    assert_eq!((d.expires_in, d.interval), (600, 5), "ten minutes, five-second polls");

    expect_error(poll(&h, &d.device_code).await, StatusCode::BAD_REQUEST, ErrorCode::AuthorizationPending).await;
    expect_error(poll(&h, &d.device_code).await, StatusCode::BAD_REQUEST, ErrorCode::SlowDown).await;

    let wrong = decide(&h, &d.user_code, "alice", "guess-123456", "approve").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "a wrong password does not approve");
    assert!(!wrong.text().await.unwrap().contains("guess-123456"), "the password is never echoed");
    h.clock.advance(Duration::from_secs(11));
    expect_error(poll(&h, &d.device_code).await, StatusCode::BAD_REQUEST, ErrorCode::AuthorizationPending).await;

    let ok = decide(&h, &d.user_code.to_lowercase(), "alice", PASSWORD, "approve").await;
    assert_eq!(ok.status(), StatusCode::OK, "approved (the code is accepted in any case)");
    h.clock.advance(Duration::from_secs(11));
    let resp = poll(&h, &d.device_code).await;
    assert_eq!(resp.status(), StatusCode::OK, "tokens after approval");
    let tokens: TokenResponse = resp.json().await.unwrap();
    let id_token = tokens.id_token.expect("an id_token");
    let header = jsonwebtoken::decode_header(&id_token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256, "RS256 id_token");
    assert_eq!(h.get(paths::ME, &tokens.access_token).await.status(), StatusCode::OK, "the access token works");
    h.clock.advance(Duration::from_secs(11));
    expect_error(poll(&h, &d.device_code).await, StatusCode::BAD_REQUEST, ErrorCode::InvalidAuthorizationCode).await;

    let disc: Discovery = h.http.get(h.url(paths::DISCOVERY)).send().await.unwrap().json().await.unwrap();
    assert_eq!(disc.device_authorization_endpoint, Some(h.url(paths::DEVICE_AUTHORIZATION)), "in discovery");
    assert!(disc.supports_grant("urn:ietf:params:oauth:grant-type:device_code"), "grant listed");
}

#[tokio::test]
async fn a_denied_request_is_access_denied() {
    let h = Harness::start(config()).await;
    let d = start_device(&h).await;
    assert_eq!(decide(&h, &d.user_code, "", "", "deny").await.status(), StatusCode::OK, "denied");
    expect_error(poll(&h, &d.device_code).await, StatusCode::BAD_REQUEST, ErrorCode::AccessDenied).await;
}

#[tokio::test]
async fn an_unused_request_expires_after_ten_minutes() {
    let h = Harness::start(config()).await;
    let d = start_device(&h).await;
    h.clock.advance(Duration::from_secs(601));
    expect_error(poll(&h, &d.device_code).await, StatusCode::BAD_REQUEST, ErrorCode::ExpiredToken).await;
    let late = decide(&h, &d.user_code, "alice", PASSWORD, "approve").await;
    assert_eq!(late.status(), StatusCode::BAD_REQUEST, "an expired code cannot be approved");
}

#[tokio::test]
async fn the_device_page_refuses_a_form_without_its_csrf_cookie() {
    let h = Harness::start(config()).await;
    let d = start_device(&h).await;
    let fields = [
        ("csrf", "x"),
        ("user_code", d.user_code.as_str()),
        ("username", "alice"),
        ("password", PASSWORD),
        ("decision", "approve"),
    ];
    let resp = no_redirects().post(h.url(paths::DEVICE)).form(&fields).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "a cross-site post cannot approve a device");
    expect_error(poll(&h, &d.device_code).await, StatusCode::BAD_REQUEST, ErrorCode::AuthorizationPending).await;
}
