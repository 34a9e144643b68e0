//! Single sign-on through the OP's browser session: after one password entry, the next
//! authorization request from the same browser gets a code at once; `prompt=login` and an old
//! `max_age` ask for the password again; `prompt=none` without a session is `login_required`; a
//! disabled user's browser session no longer counts.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod oidc_rp;

use std::time::Duration;

use common::{Harness, PASSWORD, config};
use oidc_rp::{Authz, authorize, exchange, form, no_redirects, redirected_to, submit, verify_id_token};
use reqwest::StatusCode;
use tessera_protocol::{AuthorizeParams, TokenResponse, paths};
use tessera_server::admin::{self, Actor};

/// Signs `user` in with the password and returns the browser-session cookie (`name=value`).
async fn sign_in_once(http: &reqwest::Client, h: &Harness, user: &str) -> String {
    let authz = Authz::new();
    let page = form(http, h, &authz.params()).await;
    let resp = submit(http, h, &page, user, PASSWORD).await;
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("tessera_op="))
        .expect("a password entry opens a browser session");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"), "{cookie}");
    assert!(redirected_to(&resp, &authz.redirect_uri).contains_key("code"), "the first sign-in gives a code");
    cookie.split(';').next().unwrap().to_owned()
}

async fn authorize_with(
    http: &reqwest::Client,
    h: &Harness,
    cookie: &str,
    params: &AuthorizeParams,
) -> reqwest::Response {
    let query = serde_urlencoded::to_string(params).unwrap();
    http.get(format!("{}?{query}", h.url(paths::AUTHORIZE))).header("cookie", cookie).send().await.unwrap()
}

#[tokio::test]
async fn a_second_sign_in_from_the_same_browser_skips_the_password() {
    let h = Harness::start(config()).await;
    let http = no_redirects();
    let cookie = sign_in_once(&http, &h, "alice").await;
    let authz = Authz::new();
    let resp = authorize_with(&http, &h, &cookie, &authz.params()).await;
    let query = redirected_to(&resp, &authz.redirect_uri);
    assert_eq!(query.get("state"), Some(&authz.state), "state echoed");
    let code = query.get("code").expect("a code without the form");
    let tokens: TokenResponse = exchange(&h, &authz, code).await.json().await.unwrap();
    let claims = verify_id_token(&h, tokens.id_token.as_deref().unwrap(), &authz).await;
    assert_eq!(claims.preferred_username.as_deref(), Some("alice"), "the browser session's user");
}

#[tokio::test]
async fn prompt_login_and_an_old_max_age_ask_for_the_password_again() {
    let h = Harness::start(config()).await;
    let http = no_redirects();
    let cookie = sign_in_once(&http, &h, "alice").await;
    let authz = Authz::new();
    let login = AuthorizeParams { prompt: Some("login".into()), ..authz.params() };
    assert_eq!(
        authorize_with(&http, &h, &cookie, &login).await.status(),
        StatusCode::OK,
        "prompt=login shows the form"
    );

    h.clock.advance(Duration::from_secs(120));
    let recent = AuthorizeParams { max_age: Some(60), ..authz.params() };
    assert_eq!(
        authorize_with(&http, &h, &cookie, &recent).await.status(),
        StatusCode::OK,
        "max_age=60 after 120 s: form"
    );
    let lenient = AuthorizeParams { max_age: Some(600), ..authz.params() };
    let resp = authorize_with(&http, &h, &cookie, &lenient).await;
    assert!(redirected_to(&resp, &authz.redirect_uri).contains_key("code"), "max_age=600 after 120 s: no form");
    let silent_old = AuthorizeParams { prompt: Some("none".into()), max_age: Some(60), ..authz.params() };
    let resp = authorize_with(&http, &h, &cookie, &silent_old).await;
    let query = redirected_to(&resp, &authz.redirect_uri);
    assert_eq!(query.get("error").map(String::as_str), Some("login_required"), "prompt=none cannot show the form");
}

#[tokio::test]
async fn discovery_lists_the_prompt_values_the_server_honours() {
    let h = Harness::start(config()).await;
    let d: tessera_protocol::Discovery =
        h.http.get(h.url(paths::DISCOVERY)).send().await.unwrap().json().await.unwrap();
    assert_eq!(d.prompt_values_supported, ["none", "login"], "prompt=none and prompt=login are implemented");
}

#[tokio::test]
async fn prompt_none_without_a_browser_session_is_login_required() {
    let h = Harness::start(config()).await;
    let http = no_redirects();
    let authz = Authz::new();
    let params = AuthorizeParams { prompt: Some("none".into()), ..authz.params() };
    let query = redirected_to(&authorize(&http, &h, &params).await, &authz.redirect_uri);
    assert_eq!(query.get("error").map(String::as_str), Some("login_required"), "no session, no form allowed");
    assert_eq!(query.get("state"), Some(&authz.state), "state echoed");
    assert_eq!(query.get("iss"), Some(&h.server.url), "iss (RFC 9207)");
    let forged = authorize_with(&http, &h, "tessera_op=not-a-session", &params).await;
    let query = redirected_to(&forged, &authz.redirect_uri);
    assert_eq!(query.get("error").map(String::as_str), Some("login_required"), "a made-up cookie is no session");
}

#[tokio::test]
async fn a_disabled_users_browser_session_does_not_count() {
    let h = Harness::start(config()).await;
    let http = no_redirects();
    let cookie = sign_in_once(&http, &h, "bob").await;
    admin::disable(&h.server.state, "bob", Actor::Host).await.unwrap();
    let resp = authorize_with(&http, &h, &cookie, &Authz::new().params()).await;
    assert_eq!(resp.status(), StatusCode::OK, "the form is shown, no code is issued for a disabled user");
}
