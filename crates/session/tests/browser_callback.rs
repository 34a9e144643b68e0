//! The loopback listener of the browser sign-in (RFC 8252 §7.3) on a real socket, answered by a
//! real HTTP client as the browser's redirect would be.

use std::time::Duration;

use tessera_protocol::loopback::LoopbackRedirect;
use tessera_session::browser::{CallbackError, CallbackListener};

const STATE: &str = "s-0123456789";
const ISSUER: &str = "http://127.0.0.1:8787";
const LIMIT: Duration = Duration::from_secs(30);

async fn listening() -> (CallbackListener, String) {
    let listener = CallbackListener::bind().await.unwrap_or_else(|e| panic!("bind: {e}"));
    let uri = listener.redirect_uri();
    (listener, uri)
}

/// What the browser shows for `url`: status and page text.
async fn visit(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

#[tokio::test]
async fn the_code_for_this_sign_in_is_taken_and_the_tab_says_so() {
    let (listener, uri) = listening().await;
    assert!(LoopbackRedirect::parse(&uri).is_ok(), "the redirect URI follows the loopback rules: {uri}");
    let waiting = tokio::spawn(async move { listener.wait(STATE, ISSUER, true, LIMIT).await });
    let (status, page) = visit(&format!("{uri}?code=c-42&state={STATE}&iss=http%3A%2F%2F127.0.0.1%3A8787")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("You are signed in to Tessera; you may close this tab."), "{page}");
    let response = waiting.await.unwrap_or_else(|e| panic!("join: {e}")).unwrap_or_else(|e| panic!("wait: {e}"));
    assert_eq!(response.code.secret(), "c-42");
    assert_eq!(response.iss.as_deref(), Some(ISSUER));
    assert_eq!(format!("{:?}", response.code), "AuthorizationCode(<redacted>)", "the code never prints");
}

#[tokio::test]
async fn an_answer_for_another_sign_in_is_refused_and_the_wait_goes_on() {
    let (listener, uri) = listening().await;
    let waiting = tokio::spawn(async move { listener.wait(STATE, ISSUER, false, LIMIT).await });
    let (status, page) = visit(&format!("{uri}?code=planted&state=someone-elses")).await;
    assert_eq!(status, 400, "another state is refused");
    assert!(page.contains("does not belong to the sign-in Tessera started"), "{page}");
    let (status, _) = visit(&format!("{}/favicon.ico", uri.trim_end_matches("/callback"))).await;
    assert_eq!(status, 404, "other paths are not the callback");
    let (status, _) = visit(&format!("{uri}?code=mine&state={STATE}")).await;
    assert_eq!(status, 200);
    let response = waiting.await.unwrap_or_else(|e| panic!("join: {e}")).unwrap_or_else(|e| panic!("wait: {e}"));
    assert_eq!(response.code.secret(), "mine", "the planted code was never taken");
}

#[tokio::test]
async fn a_refusal_ends_the_sign_in_with_its_code_and_no_markup_from_the_request() {
    let (listener, uri) = listening().await;
    let waiting = tokio::spawn(async move { listener.wait(STATE, ISSUER, false, LIMIT).await });
    let url = format!("{uri}?error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E&state={STATE}");
    let (status, page) = visit(&url).await;
    assert_eq!(status, 400);
    assert!(!page.contains("<script>"), "the description is escaped: {page}");
    assert!(page.contains("&lt;script&gt;"), "but still shown: {page}");
    let refused = waiting.await.unwrap_or_else(|e| panic!("join: {e}")).map_err(|e| e.code());
    assert_eq!(refused.err(), Some("access_denied"));
}

#[tokio::test]
async fn an_answer_from_another_issuer_or_without_the_promised_iss_is_a_mix_up() {
    let (listener, uri) = listening().await;
    let waiting = tokio::spawn(async move { listener.wait(STATE, ISSUER, true, LIMIT).await });
    visit(&format!("{uri}?code=c&state={STATE}&iss=https%3A%2F%2Fevil.example")).await;
    let outcome = waiting.await.unwrap_or_else(|e| panic!("join: {e}"));
    assert_eq!(outcome, Err(CallbackError::IssuerMismatch("https://evil.example".into())), "RFC 9207 §2.4");

    let (listener, uri) = listening().await;
    let waiting = tokio::spawn(async move { listener.wait(STATE, ISSUER, true, LIMIT).await });
    visit(&format!("{uri}?code=c&state={STATE}")).await;
    let outcome = waiting.await.unwrap_or_else(|e| panic!("join: {e}"));
    assert_eq!(outcome, Err(CallbackError::IssuerMissing), "a promised iss must be there");
}

#[tokio::test]
async fn no_answer_ends_the_wait_with_a_timeout() {
    let (listener, _uri) = listening().await;
    let limit = Duration::from_millis(200);
    let outcome = listener.wait(STATE, ISSUER, false, limit).await.map_err(|e| e.code());
    assert_eq!(outcome.err(), Some("sign_in_timeout"));
}
