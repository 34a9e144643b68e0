//! The app's "Sign in with your browser" in its real webview (WebKitWebDriver) against the real
//! reference server, with a real system browser: `BROWSER` is `tools/chromium-sign-in`, which
//! signs in at the server's page in headless Chromium. The server is as deployed: no password
//! grant, so the browser is the only way in.
//!
//! Ignored by default (they need chromium and chromedriver, which `tools/setup` installs);
//! `tools/test` runs them.
#![cfg(target_os = "linux")]
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test code: a failed expectation is the test failing")]

mod support;

use std::path::PathBuf;

use serde_json::json;
use support::{App, Bus, Desk, Driver, Home, ONE_APP_AT_A_TIME, Xvfb};
use tessera_protocol::Role;
use tessera_server::Config;
use tessera_server::testing::TestServer;

const USER: &str = "alice";
const PASSWORD: &str = "correct horse battery staple";
const SIGNED_IN: &str = "document.getElementById('app').hidden === false";
const WAITING: &str = "document.getElementById('signin-waiting').hidden === false";

async fn server() -> TestServer {
    let config = Config { password_grant: false, ..tessera_server::testing::unlimited_config() };
    let server = TestServer::start(config).await.expect("test server starts");
    server.add_user(USER, PASSWORD, Role::Agent).await.expect("test user");
    server
}

/// The system browser of one desk: one Chromium profile (so its session at the server lasts
/// between sign-ins) and a file that says what it does with the next address it is given.
struct Browser {
    dir: tempfile::TempDir,
}

impl Browser {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("browser dir") }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `sign-in`, `deny` or `none` (open the page and leave it) for the next address.
    fn will(&self, action: &str) {
        std::fs::write(self.path("action"), action).expect("write the browser's action");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("browser.log")).unwrap_or_default()
    }

    /// The log once it says `text` `times` times (the script may still be reading the page
    /// after the app is done), or as it is after 30 s.
    async fn log_when(&self, text: &str, times: usize) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while self.log().matches(text).count() < times && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        self.log()
    }

    /// The app's environment: this browser as `BROWSER`, the server, alice's password to type.
    fn env(&self, server: &TestServer) -> Vec<(String, String)> {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tools/chromium-sign-in");
        let path = |name: &str| self.path(name).display().to_string();
        vec![
            ("TESSERA_SERVER_URL".into(), server.url.clone()),
            ("TESSERA_LOG".into(), "debug".into()),
            ("BROWSER".into(), script.into()),
            ("TESSERA_TEST_BROWSER_PROFILE".into(), path("profile")),
            ("TESSERA_TEST_BROWSER_LOG".into(), path("browser.log")),
            ("TESSERA_TEST_BROWSER_ACTION_FILE".into(), path("action")),
            ("TESSERA_TEST_USER".into(), USER.into()),
            ("TESSERA_TEST_PASSWORD".into(), PASSWORD.into()),
        ]
    }
}

async fn desk(server: &TestServer, browser: &Browser) -> Desk {
    let x = Xvfb::start();
    let home = Home::new();
    let env = browser.env(server);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let driver = Driver::start(&x, &home, Bus::Inherit, &env).await;
    Desk { x, home, driver }
}

async fn click_sign_in_with_browser(app: &App) {
    app.visible_text("signin-title", "the sign-in screen").await;
    app.click("#sign-in-browser").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver; run tools/test"]
async fn sign_in_with_the_browser_single_sign_on_and_signing_the_browser_out_too() {
    let _one = ONE_APP_AT_A_TIME.lock().await;
    let server = server().await;
    let browser = Browser::new();
    browser.will("sign-in");
    let desk = desk(&server, &browser).await;
    let app = desk.driver.launch(&[]).await;

    click_sign_in_with_browser(&app).await;
    app.wait_within(std::time::Duration::from_secs(60), SIGNED_IN, "signed in through the browser").await;
    assert_eq!(app.visible_text("user-name", "the signed-in header").await, USER, "the account is alice's");
    let log = browser.log_when("callback reached", 1).await;
    assert!(log.contains("submitted the sign-in form"), "the password was typed at the server's page: {log}");
    assert!(log.contains("You are signed in"), "the browser came back to the app's page: {log}");
    let status = app.invoke("app_status", json!({})).await;
    assert_eq!(status["ok"]["session"]["state"]["state"], "active", "{status}");

    // Sign out, then in again: the browser still has its session at the server, so no form.
    app.click("#sign-out").await;
    click_sign_in_with_browser(&app).await;
    app.wait_within(std::time::Duration::from_secs(60), SIGNED_IN, "signed in again by single sign-on").await;
    assert_eq!(app.visible_text("user-name", "the signed-in header").await, USER);
    let log = browser.log_when("callback reached", 2).await;
    assert_eq!(log.matches("submitted the sign-in form").count(), 1, "no password the second time: {log}");
    assert_eq!(log.matches("callback reached").count(), 2, "{log}");

    // With "sign out of the browser session too", signing out sends the browser to the server's
    // sign-out page (the user confirms there), so the next sign-in asks for the password again.
    let set = app.invoke("settings_set", json!({"patch": {"sign_out_browser": true}})).await;
    assert_eq!(set["ok"]["sign_out_browser"], true, "{set}");
    browser.will("sign-out");
    app.click("#sign-out").await;
    let log = browser.log_when("browser closed (sign-out)", 1).await;
    assert!(log.contains("/oauth/end_session"), "the browser was sent to end_session: {log}");
    browser.will("sign-in");
    click_sign_in_with_browser(&app).await;
    app.wait_within(std::time::Duration::from_secs(60), SIGNED_IN, "signed in with the password again").await;
    let log = browser.log_when("callback reached", 3).await;
    assert_eq!(log.matches("submitted the sign-in form").count(), 2, "the browser session had ended: {log}");
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver; run tools/test"]
async fn waiting_shows_the_address_cancel_stops_it_and_a_refusal_is_explained() {
    let _one = ONE_APP_AT_A_TIME.lock().await;
    let server = server().await;
    let browser = Browser::new();
    let desk = desk(&server, &browser).await;
    let app = desk.driver.launch(&[]).await;

    // A browser that opens the page and leaves it: the app waits, showing the address.
    browser.will("none");
    click_sign_in_with_browser(&app).await;
    app.wait_for(WAITING, "the waiting state").await;
    let url = app.js("return document.getElementById('signin-url').value", json!([])).await;
    let url = url.as_str().unwrap_or_default().to_owned();
    assert!(url.starts_with(&format!("{}/oauth/authorize?", server.url)), "the address to copy: {url}");
    assert!(url.contains("code_challenge_method=S256"), "PKCE S256: {url}");
    assert!(!url.contains("code_verifier"), "the verifier stays in Rust: {url}");
    let disabled = app.js("return document.getElementById('sign-in-browser').disabled", json!([])).await;
    assert_eq!(disabled, json!(true), "one sign-in at a time");
    // One browser at a time on one profile: let this one finish before the next is started.
    browser.log_when("browser closed (none)", 1).await;
    app.screenshot("sign-in-browser").await;
    app.click("#sign-in-cancel").await;
    app.wait_for("document.getElementById('signin-waiting').hidden", "the waiting state to close").await;
    let error = app.js("return document.getElementById('signin-error').hidden", json!([])).await;
    assert_eq!(error, json!(true), "cancelling is not an error");
    let callback = url.split("redirect_uri=").nth(1).and_then(|r| r.split('&').next()).unwrap_or_default();
    let callback = callback.replace("%3A", ":").replace("%2F", "/");
    let closed = reqwest::get(format!("{callback}?code=x&state=y")).await;
    assert!(closed.is_err(), "after Cancel nothing listens at {callback} any more");

    // Cancelled at the server's page: the app says so and stays on the sign-in screen.
    browser.will("deny");
    click_sign_in_with_browser(&app).await;
    let log = browser.log_when("browser closed (deny)", 1).await;
    assert!(log.contains("pressed Deny"), "Cancel pressed at the page: {log}");
    let error = app.visible_text("signin-error", "the refusal").await;
    assert_eq!(error, "The sign-in was refused in the browser.", "from access_denied");

    // This server takes no passwords: the form says to use the browser.
    app.sign_in(USER, PASSWORD).await;
    app.wait_for(
        "document.getElementById('signin-error').textContent.includes('sign in with your browser')",
        "the password refusal",
    )
    .await;
    let signed_out = app.js("return document.getElementById('app').hidden", json!([])).await;
    assert_eq!(signed_out, json!(true), "no sign-in happened");
    app.close().await;
}

/// `tessera_active_sessions` of `server`'s `/metrics`.
async fn active_sessions(server: &TestServer) -> i64 {
    let text = reqwest::get(format!("{}{}", server.url, tessera_protocol::paths::METRICS)).await.unwrap();
    let text = text.text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix("tessera_active_sessions ")).and_then(|v| v.trim().parse().ok()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver; run tools/test"]
async fn signs_in_at_the_provider_the_server_trusts_and_signing_out_revokes_there() {
    let _one = ONE_APP_AT_A_TIME.lock().await;
    let idp = server().await;
    let external = Config {
        external_issuer: idp.url.clone(),
        external_client_id: "tessera-desktop".into(),
        ..tessera_server::testing::unlimited_config()
    };
    let rs = TestServer::start(external).await.expect("the resource server starts");
    let browser = Browser::new();
    browser.will("none");
    let desk = desk(&rs, &browser).await;
    let app = desk.driver.launch(&[]).await;

    // The app was given only the Tessera server: the browser goes to the provider it names.
    click_sign_in_with_browser(&app).await;
    app.wait_for(WAITING, "the waiting state").await;
    let url = app.js("return document.getElementById('signin-url').value", json!([])).await;
    assert!(url.as_str().unwrap_or_default().starts_with(&format!("{}/oauth/authorize?", idp.url)), "{url}");
    browser.log_when("browser closed (none)", 1).await;
    app.click("#sign-in-cancel").await;
    app.wait_for("document.getElementById('signin-waiting').hidden", "the waiting state to close").await;

    browser.will("sign-in");
    click_sign_in_with_browser(&app).await;
    app.wait_within(std::time::Duration::from_secs(60), SIGNED_IN, "signed in at the provider").await;
    assert_eq!(app.visible_text("user-name", "the signed-in header").await, USER);
    assert_eq!(active_sessions(&idp).await, 1, "the session is the provider's");
    let devices = app.invoke("sessions_list", json!({})).await;
    let listed = devices["ok"]["sessions"].as_array().map(Vec::len);
    assert_eq!(listed, Some(1), "the server lists this desktop as a device: {devices}");

    app.click("#sign-out").await;
    app.visible_text("signin-title", "the sign-in screen").await;
    assert_eq!(active_sessions(&idp).await, 0, "signing out revoked the session at the provider");
    app.close().await;
}
