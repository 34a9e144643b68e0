//! Userinfo answers for the access token's user; end_session checks its id_token_hint and
//! return address, ends the browser session (so single sign-on stops) and says so.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod oidc_rp;

use common::{Harness, PASSWORD, config};
use oidc_rp::{Authz, exchange, form, no_redirects, redirected_to, submit, verify_id_token};
use reqwest::StatusCode;
use tessera_protocol::{AuthorizeParams, Role, TokenResponse, UserInfo, paths};

/// A full browser sign-in: the browser-session cookie and the tokens.
async fn browser_sign_in(http: &reqwest::Client, h: &Harness, authz: &Authz) -> (String, TokenResponse) {
    let page = form(http, h, &authz.params()).await;
    let resp = submit(http, h, &page, "alice", PASSWORD).await;
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("tessera_op="))
        .expect("a browser session cookie");
    let code = redirected_to(&resp, &authz.redirect_uri)["code"].clone();
    let tokens: TokenResponse = exchange(h, authz, &code).await.json().await.unwrap();
    (cookie, tokens)
}

#[tokio::test]
async fn userinfo_describes_the_access_tokens_user_by_get_and_post() {
    let h = Harness::start(config()).await;
    let http = no_redirects();
    let authz = Authz::new();
    let (_, tokens) = browser_sign_in(&http, &h, &authz).await;
    let claims = verify_id_token(&h, tokens.id_token.as_deref().unwrap(), &authz).await;
    for resp in
        [h.get(paths::USERINFO, &tokens.access_token).await, h.post(paths::USERINFO, &tokens.access_token).await]
    {
        assert_eq!(resp.status(), StatusCode::OK, "userinfo answers GET and POST (OIDC Core §5.3.1)");
        let info: UserInfo = resp.json().await.unwrap();
        assert_eq!(info.sub, claims.sub, "sub is the id_token's (OIDC Core §5.3.2)");
        assert_eq!(info.preferred_username.as_deref(), Some("alice"), "login name");
        assert_eq!(info.role, Some(Role::Agent), "role");
        assert_eq!(info.email, None, "no email: the server knows none");
    }
    let anonymous = h.http.get(h.url(paths::USERINFO)).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "a bearer token is required");
}

#[tokio::test]
async fn end_session_ends_the_browser_session_and_returns_with_state() {
    let h = Harness::start(config()).await;
    let http = no_redirects();
    let authz = Authz::new();
    let (cookie, tokens) = browser_sign_in(&http, &h, &authz).await;
    let query = serde_urlencoded::to_string([
        ("id_token_hint", tokens.id_token.as_deref().unwrap()),
        ("post_logout_redirect_uri", authz.redirect_uri.as_str()),
        ("state", "bye-42"),
    ])
    .unwrap();
    let resp =
        http.get(format!("{}?{query}", h.url(paths::END_SESSION))).header("cookie", &cookie).send().await.unwrap();
    let cleared = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    let back = redirected_to(&resp, &authz.redirect_uri);
    assert_eq!(back.get("state").map(String::as_str), Some("bye-42"), "state echoed");
    assert!(cleared.starts_with("tessera_op=;") && cleared.contains("Max-Age=0"), "the cookie is cleared: {cleared}");

    let silent = AuthorizeParams { prompt: Some("none".into()), ..authz.params() };
    let query = serde_urlencoded::to_string(&silent).unwrap();
    let resp = http.get(format!("{}?{query}", h.url(paths::AUTHORIZE))).header("cookie", &cookie).send().await.unwrap();
    let answer = redirected_to(&resp, &authz.redirect_uri);
    assert_eq!(answer.get("error").map(String::as_str), Some("login_required"), "the old cookie no longer signs in");
}

#[tokio::test]
async fn end_session_refuses_foreign_hints_and_return_addresses_and_otherwise_shows_a_page() {
    let h = Harness::start(config()).await;
    let http = no_redirects();
    let get = |query: String| {
        let http = http.clone();
        let url = format!("{}?{query}", h.url(paths::END_SESSION));
        async move { http.get(url).send().await.unwrap() }
    };
    let bad_uri = get("post_logout_redirect_uri=https%3A%2F%2Fevil.example%2Fcallback".into()).await;
    assert_eq!(bad_uri.status(), StatusCode::BAD_REQUEST, "a non-loopback return address is refused");
    assert!(bad_uri.headers().get("location").is_none(), "and never followed");
    let forged = get("id_token_hint=eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.".into()).await;
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST, "an id_token_hint we did not sign is refused");
    let plain = get(String::new()).await;
    assert_eq!(plain.status(), StatusCode::OK, "without a return address: a page");
    assert!(plain.text().await.unwrap().contains("Sign out of Tessera in this browser?"), "that asks first");
    let confirmed = http.post(h.url(paths::END_SESSION)).form(&[("state", "")]).send().await.unwrap();
    assert_eq!(confirmed.status(), StatusCode::OK, "confirmed without a return address: a page");
    assert!(confirmed.text().await.unwrap().contains("You are signed out"), "the page says so");
}

#[tokio::test]
async fn end_session_without_a_hint_asks_first_and_only_a_same_site_post_signs_the_browser_out() {
    let h = Harness::start(config()).await;
    let http = no_redirects();
    let authz = Authz::new();
    let (cookie, _tokens) = browser_sign_in(&http, &h, &authz).await;
    let query =
        serde_urlencoded::to_string([("post_logout_redirect_uri", authz.redirect_uri.as_str()), ("state", "s1")])
            .unwrap();
    // A link anyone could put on a page: the browser session survives it.
    let asked =
        http.get(format!("{}?{query}", h.url(paths::END_SESSION))).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(asked.status(), StatusCode::OK, "RP-Initiated Logout §2: the OP asks the user");
    assert!(asked.headers().get("set-cookie").is_none(), "nothing is cleared by the GET");
    let page = asked.text().await.unwrap();
    assert!(page.contains("Sign out of Tessera in this browser?") && page.contains("method=\"post\""), "{page}");
    assert!(page.contains("value=\"s1\""), "state is carried through the form: {page}");
    let silent = AuthorizeParams { prompt: Some("none".into()), ..authz.params() };
    let silent = serde_urlencoded::to_string(&silent).unwrap();
    let still =
        http.get(format!("{}?{silent}", h.url(paths::AUTHORIZE))).header("cookie", &cookie).send().await.unwrap();
    assert!(redirected_to(&still, &authz.redirect_uri).contains_key("code"), "still signed in at the OP");

    // The user presses Sign out: the same-site post carries the cookie and ends the session.
    let form = [("post_logout_redirect_uri", authz.redirect_uri.as_str()), ("state", "s1")];
    let done = http.post(h.url(paths::END_SESSION)).header("cookie", &cookie).form(&form).send().await.unwrap();
    assert_eq!(redirected_to(&done, &authz.redirect_uri).get("state").map(String::as_str), Some("s1"));
    let after =
        http.get(format!("{}?{silent}", h.url(paths::AUTHORIZE))).header("cookie", &cookie).send().await.unwrap();
    let answer = redirected_to(&after, &authz.redirect_uri);
    assert_eq!(answer.get("error").map(String::as_str), Some("login_required"), "signed out at the OP");
    let bad = [("post_logout_redirect_uri", "https://evil.example/callback")];
    let bad = http.post(h.url(paths::END_SESSION)).form(&bad).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST, "the post follows the return-address rules too");
}
