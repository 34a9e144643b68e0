//! The sign-in page, seen by a relying party and by an attacker: an untrusted client or redirect
//! URI gets a page and never a redirect; other request errors go back to the client with `state`
//! and `iss`; the form needs its CSRF token in the form and the cookie; a wrong password or a
//! disabled account shows the form again without echoing the password; pages are locked down.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod oidc_rp;

use common::{Harness, PASSWORD, config};
use oidc_rp::{Authz, authorize, form, no_redirects, post_form, redirected_to, submit};
use reqwest::StatusCode;
use tessera_protocol::AuthorizeParams;
use tessera_server::admin::{self, Actor};

/// Asserts an HTML error page with `status` and no redirect.
async fn expect_page(resp: reqwest::Response, status: StatusCode, why: &str) -> String {
    assert_eq!(resp.status(), status, "{why}");
    assert!(resp.headers().get("location").is_none(), "{why}: must not redirect");
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{why}: an HTML page");
    resp.text().await.unwrap()
}

#[tokio::test]
async fn an_unknown_client_or_a_foreign_redirect_uri_gets_a_page_and_never_a_redirect() {
    let h = Harness::start(config()).await;
    let http = no_redirects();
    let authz = Authz::new();
    let unknown = AuthorizeParams { client_id: Some("evil-app".into()), ..authz.params() };
    expect_page(authorize(&http, &h, &unknown).await, StatusCode::BAD_REQUEST, "unknown client").await;
    for bad in ["https://evil.example/callback", "http://127.0.0.1:5000/other", "http://localhost:5000/callback"] {
        let params = AuthorizeParams { redirect_uri: Some(bad.into()), ..authz.params() };
        expect_page(authorize(&http, &h, &params).await, StatusCode::BAD_REQUEST, bad).await;
    }
    let missing = AuthorizeParams { redirect_uri: None, ..authz.params() };
    expect_page(authorize(&http, &h, &missing).await, StatusCode::BAD_REQUEST, "no redirect_uri").await;
}

#[tokio::test]
async fn request_errors_go_back_to_the_client_with_state_and_iss() {
    let h = Harness::start(config()).await;
    let http = no_redirects();
    let authz = Authz::new();
    let cases = [
        ("no PKCE", AuthorizeParams { code_challenge: None, ..authz.params() }, "invalid_request"),
        (
            "plain PKCE",
            AuthorizeParams { code_challenge_method: Some("plain".into()), ..authz.params() },
            "invalid_request",
        ),
        ("no method", AuthorizeParams { code_challenge_method: None, ..authz.params() }, "invalid_request"),
        (
            "implicit",
            AuthorizeParams { response_type: Some("token".into()), ..authz.params() },
            "unsupported_response_type",
        ),
        ("no openid", AuthorizeParams { scope: Some("profile".into()), ..authz.params() }, "invalid_scope"),
    ];
    for (why, params, error) in cases {
        let resp = authorize(&http, &h, &params).await;
        let query = redirected_to(&resp, &authz.redirect_uri);
        assert_eq!(query.get("error").map(String::as_str), Some(error), "{why}");
        assert!(query.contains_key("error_description"), "{why}: a description (RFC 6749 §4.1.2.1)");
        assert_eq!(query.get("state"), Some(&authz.state), "{why}: state echoed");
        assert_eq!(query.get("iss"), Some(&h.server.url), "{why}: iss (RFC 9207)");
        assert!(!query.contains_key("code"), "{why}: no code");
    }
}

#[tokio::test]
async fn the_sign_in_page_is_locked_down_and_escapes_what_it_shows() {
    let h = Harness::start(config()).await;
    let http = no_redirects();
    let params = AuthorizeParams { login_hint: Some("\"><script>alert(1)</script>".into()), ..Authz::new().params() };
    let resp = authorize(&http, &h, &params).await;
    assert_eq!(resp.status(), StatusCode::OK, "the form is shown");
    let headers = resp.headers().clone();
    assert_eq!(headers["cache-control"], "no-store", "never cached");
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'none'; style-src 'unsafe-inline'; \
         form-action 'self' http://127.0.0.1:* http://[::1]:*; frame-ancestors 'none'",
        "no scripts, forms post only to us (and redirect only to loopback clients), no framing"
    );
    assert_eq!(headers["x-frame-options"], "DENY", "no framing (old browsers)");
    assert_eq!(headers["referrer-policy"], "no-referrer", "the query never leaks as a referrer");
    let cookie = headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite"),
        "the CSRF cookie is HttpOnly and SameSite: {cookie}"
    );
    let html = resp.text().await.unwrap();
    assert!(!html.contains("<script"), "the login hint is escaped, not markup: {html}");
    assert!(html.contains("&lt;script&gt;"), "the login hint is shown escaped");
}

#[tokio::test]
async fn a_form_without_its_csrf_token_or_cookie_is_refused() {
    let h = Harness::start(config()).await;
    let http = no_redirects();
    let page = form(&http, &h, &Authz::new().params()).await;
    let base = [("pending", page.pending.as_str()), ("username", "alice"), ("password", PASSWORD)];
    let wrong = "A".repeat(43);
    let forged = format!("tessera_csrf={wrong}");
    let cases: [(&str, &str, Option<&str>); 4] = [
        ("no csrf field", page.cookie.as_str(), None),
        ("wrong csrf field", page.cookie.as_str(), Some(wrong.as_str())),
        ("no cookie", "", Some(page.csrf.as_str())),
        ("cookie of another value", forged.as_str(), Some(page.csrf.as_str())),
    ];
    for (why, cookie, csrf) in cases {
        let mut fields = base.to_vec();
        if let Some(csrf) = csrf {
            fields.push(("csrf", csrf));
        }
        expect_page(post_form(&http, &h, cookie, &fields).await, StatusCode::FORBIDDEN, why).await;
    }
    let unknown = [("pending", "nope"), ("csrf", page.csrf.as_str()), ("username", "alice"), ("password", PASSWORD)];
    expect_page(post_form(&http, &h, &page.cookie, &unknown).await, StatusCode::BAD_REQUEST, "unknown pending id")
        .await;
    // The genuine form still works: the refusals above consumed nothing.
    let resp = submit(&http, &h, &page, "alice", PASSWORD).await;
    assert!(redirected_to(&resp, "http://127.0.0.1:49152/callback").contains_key("code"), "the genuine form signs in");
}

#[tokio::test]
async fn a_wrong_password_shows_the_form_again_without_echoing_it() {
    let h = Harness::start(config()).await;
    let http = no_redirects();
    let authz = Authz::new();
    let page = form(&http, &h, &authz.params()).await;
    let guess = "my-secret-guess-1234";
    let resp = submit(&http, &h, &page, "alice", guess).await;
    let html = expect_page(resp, StatusCode::UNAUTHORIZED, "wrong password").await;
    assert!(html.contains("Wrong username or password"), "says why: {html}");
    assert!(!html.contains(guess), "the password is never echoed");
    assert!(html.contains("value=\"alice\""), "the username is kept");
    let again = oidc_rp::FormPage { html, ..page };
    let resp = submit(&http, &h, &again, "alice", PASSWORD).await;
    assert!(redirected_to(&resp, &authz.redirect_uri).contains_key("code"), "the right password then signs in");
}

#[tokio::test]
async fn a_disabled_user_is_refused_with_a_message() {
    let h = Harness::start(config()).await;
    admin::disable(&h.server.state, "bob", Actor::Host).await.unwrap();
    let http = no_redirects();
    let page = form(&http, &h, &Authz::new().params()).await;
    let html = expect_page(submit(&http, &h, &page, "bob", PASSWORD).await, StatusCode::FORBIDDEN, "disabled").await;
    assert!(html.contains("disabled"), "says the account is disabled: {html}");
}

#[tokio::test]
async fn the_form_is_rate_limited_like_the_token_endpoint() {
    let h = Harness::start(tessera_server::Config { login_per_user_per_min: 2, ..config() }).await;
    let http = no_redirects();
    let page = form(&http, &h, &Authz::new().params()).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(submit(&http, &h, &page, "alice", "wrong").await.status());
    }
    assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS), "guessing is limited per user: {statuses:?}");
}

#[tokio::test]
async fn a_flood_of_authorization_requests_from_one_network_gets_a_429_page_and_writes_nothing() {
    let h = Harness::start(tessera_server::Config { refresh_per_ip_per_min: 3, ..config() }).await;
    let http = no_redirects();
    let params = Authz::new().params();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(authorize(&http, &h, &params).await);
    }
    let codes: Vec<StatusCode> = statuses.iter().map(reqwest::Response::status).collect();
    assert_eq!(&codes[..3], [StatusCode::OK; 3], "the first three are forms: {codes:?}");
    let refused = statuses.pop().unwrap();
    assert!(refused.headers().contains_key("retry-after"), "Retry-After tells when");
    let html = expect_page(refused, StatusCode::TOO_MANY_REQUESTS, "then a page, not a redirect").await;
    assert!(html.contains("Too many sign-in requests"), "{html}");
    let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pending_authorizations")
        .fetch_one(&h.server.state.db.read)
        .await
        .unwrap();
    assert_eq!(pending, 3, "a refused request stores no pending form");
}

#[tokio::test]
async fn cancel_on_the_form_goes_back_to_the_client_as_access_denied_and_uses_the_form_up() {
    let h = Harness::start(config()).await;
    let http = no_redirects();
    let authz = Authz::new();
    let page = form(&http, &h, &authz.params()).await;
    assert!(page.html.contains("value=\"cancel\""), "the form offers Cancel: {}", page.html);
    let fields = [("pending", page.pending.as_str()), ("csrf", &page.csrf), ("decision", "cancel")];
    let resp = post_form(&http, &h, &page.cookie, &fields).await;
    let query = redirected_to(&resp, &authz.redirect_uri);
    assert_eq!(query.get("error").map(String::as_str), Some("access_denied"), "OIDC Core §3.1.2.6: {query:?}");
    assert_eq!(query.get("state"), Some(&authz.state), "state echoed");
    assert_eq!(query.get("iss"), Some(&h.server.url), "RFC 9207 iss");
    assert!(!query.contains_key("code"), "no code: {query:?}");

    let resp = submit(&http, &h, &page, "alice", PASSWORD).await;
    let html = expect_page(resp, StatusCode::BAD_REQUEST, "a cancelled form cannot sign in afterwards").await;
    assert!(html.contains("expired"), "{html}");

    // A cross-site Cancel (no CSRF token) is refused like a cross-site sign-in, and ends nothing.
    let other = form(&http, &h, &authz.params()).await;
    let forged = [("pending", other.pending.as_str()), ("csrf", "forged"), ("decision", "cancel")];
    let resp = post_form(&http, &h, &other.cookie, &forged).await;
    expect_page(resp, StatusCode::FORBIDDEN, "Cancel needs the form's CSRF token").await;
    let resp = submit(&http, &h, &other, "alice", PASSWORD).await;
    assert!(redirected_to(&resp, &authz.redirect_uri).contains_key("code"), "that form still signs in");
}
