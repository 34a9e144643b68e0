//! The desktop app in its real webview (WebKitGTK through WebDriver) against the real reference
//! server on loopback. One app at a time (see `support::ONE_APP_AT_A_TIME`).
//!
//! The tests that need the system keychain (an unlocked gnome-keyring on the session bus, as
//! `tools/test` provides) are `#[ignore]`d like the engine's keychain tests; `tools/test` runs
//! them with `--include-ignored`. Screenshots of the main screens go to `docs/screenshots/`.
#![cfg(target_os = "linux")]
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test code: a failed expectation is the test failing")]

mod support;

use std::path::Path;
use std::sync::Arc;

use serde_json::json;
use support::{App, Bus, Desk, Driver, Home, ONE_APP_AT_A_TIME, Xvfb};
use tessera_protocol::{DeviceInfo, Role};
use tessera_server::testing::TestServer;
use tessera_session::{
    Account, CurrentAccountFile, EngineConfig, KeychainVault, LocalDirs, MemoryVault, Password, SessionEngine,
};

/// Creates a notification for `user` the way the server's hooks do, and returns when durable.
async fn notify(server: &TestServer, user: &str, text: &str) {
    let id = {
        let mut conn = server.state.db.read.acquire().await.expect("db connection");
        tessera_server::store::users::by_name(&mut conn, user).await.expect("query").expect("user exists").id
    };
    let payload = json!({"message": text, "from": "e2e"});
    tessera_server::notify::outbox::publish(&server.state, id, "message", &payload).await.expect("publish");
}

const BADGE_IS_ONE: &str =
    "(() => { const b = document.getElementById('unread-badge'); return !b.hidden && b.textContent === '1'; })()";
const CHIP: &str = "document.getElementById('status-chip').textContent";

const USER: &str = "alice";
const PASSWORD: &str = "correct horse battery staple";

async fn server() -> TestServer {
    let config = tessera_server::testing::unlimited_config();
    let server = TestServer::start(config).await.expect("test server starts");
    server.add_user(USER, PASSWORD, Role::Agent).await.expect("test user");
    server
}

/// X server, private dirs and a driver whose app talks to `server`.
async fn desk(server: &TestServer, bus: Bus) -> Desk {
    let x = Xvfb::start();
    let home = Home::new();
    let driver = Driver::start(&x, &home, bus, &[("TESSERA_SERVER_URL", &server.url), ("TESSERA_LOG", "debug")]).await;
    Desk { x, home, driver }
}

/// An app launched on a fresh desk against `server`, holding the one-app-at-a-time lock.
struct Running {
    _one: tokio::sync::MutexGuard<'static, ()>,
    desk: Desk,
    app: App,
}

async fn launched(server: &TestServer, bus: Bus) -> Running {
    let one = ONE_APP_AT_A_TIME.lock().await;
    let desk = desk(server, bus).await;
    let app = desk.driver.launch(&[]).await;
    Running { _one: one, desk, app }
}

/// [`launched`], signed in through the form as the test user.
async fn signed_in(server: &TestServer) -> Running {
    let running = launched(server, Bus::Inherit).await;
    running.app.sign_in(USER, PASSWORD).await;
    running.app.visible_text("user-name", "the signed-in header").await;
    running
}

/// Another device of the same user: an engine with its own memory vault and data dir.
async fn other_device(server: &TestServer, dir: &Path) -> SessionEngine {
    let device = DeviceInfo { name: "front desk".into(), platform: "linux".into(), app_version: "test".into() };
    let config = EngineConfig::new(&server.url, dir, "tessera-cli", device);
    let engine = SessionEngine::new(config, Arc::new(MemoryVault::new())).expect("engine");
    engine.sign_in(USER, &Password::new(PASSWORD)).await.expect("the other device signs in");
    engine
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_signs_in_and_sees_their_name_and_devices() {
    let server = server().await;
    let Running { _one, desk: _desk, app } = launched(&server, Bus::Inherit).await;
    app.visible_text("signin-title", "the sign-in screen").await;
    let url = app.js("return document.getElementById('server-url').value", json!([])).await;
    assert_eq!(url, json!(server.url), "the sign-in form must start with TESSERA_SERVER_URL");
    app.screenshot("sign-in").await;

    app.sign_in(USER, PASSWORD).await;
    assert_eq!(app.visible_text("user-name", "the signed-in header").await, USER, "the header names the user");
    assert_eq!(app.visible_text("home-display-name", "the home screen").await, "Alice", "home greets by display name");
    app.screenshot("home").await;

    let other = tempfile::tempdir().expect("temp dir");
    let _front_desk = other_device(&server, other.path()).await;
    app.click("#nav-devices").await;
    app.wait_for("document.querySelectorAll('#device-list li').length === 2", "both devices listed").await;
    let current = app.visible_text("device-list", "the devices list").await;
    assert!(current.contains("This device"), "this device must be marked: {current}");
    app.screenshot("devices").await;
    app.click("#revoke-others").await;
    let msg = app.visible_text("devices-message", "the revoke-others result").await;
    assert_eq!(msg, "1 other device signed out.", "exactly the other device is signed out");
    app.wait_for("document.querySelectorAll('#device-list li').length === 1", "only this device left").await;

    app.click("#nav-notifications").await;
    app.visible_text("notifications-title", "the notifications screen").await;
    app.click("#nav-settings").await;
    app.wait_for("document.getElementById('settings-idle-minutes').value !== ''", "settings loaded").await;
    app.screenshot("settings").await;
    app.click("#nav-activity").await;
    app.wait_for("document.querySelectorAll('#audit-local li').length > 0", "local audit entries").await;
    let audit = app.visible_text("audit-local", "the local audit log").await;
    assert!(audit.contains("signed in"), "the local audit log must show the sign-in: {audit}");
    app.click("#nav-diagnostics").await;
    let diag = app.visible_text("diagnostics", "diagnostics").await;
    assert!(diag.contains(&server.url), "diagnostics name the server: {diag}");
    app.screenshot("diagnostics").await;
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_refused_with_a_message() {
    let server = server().await;
    let Running { _one, desk: _desk, app } = launched(&server, Bus::Inherit).await;
    app.sign_in(USER, "not the password").await;
    let error = app.visible_text("signin-error", "the sign-in error").await;
    assert_eq!(error, "Wrong user name or password.", "a wrong password must say so, from code invalid_credentials");
    let still = app.js("return document.getElementById('app').hidden", json!([])).await;
    assert_eq!(still, json!(true), "a refused sign-in must not show the app");
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_out_from_another_device_is_told_why() {
    let server = server().await;
    let Running { _one, desk: _desk, app } = signed_in(&server).await;

    let other = tempfile::tempdir().expect("temp dir");
    let front_desk = other_device(&server, other.path()).await;
    let revoked = front_desk.revoke_other_sessions().await.expect("revoke others");
    assert_eq!(revoked.revoked, 1, "the app's session is the one other session");

    // The notification feed's WebSocket carries `session.revoked`: no click needed.
    let notice = app.visible_text("signin-notice", "the signed-out notice").await;
    assert!(notice.contains("signed out from another device"), "the sign-in screen must say why: {notice}");
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_command_hands_the_webview_a_token() {
    let server = server().await;
    let Running { _one, desk: _desk, app } = signed_in(&server).await;
    let mut seen = String::new();
    for (command, args) in [
        ("app_status", json!({})),
        ("me", json!({})),
        ("sessions_list", json!({})),
        ("audit_local", json!({"limit": 50})),
        ("audit_server", json!({})),
        ("settings_get", json!({})),
        ("diagnostics", json!({})),
    ] {
        let out = app.invoke(command, args).await;
        assert!(out.get("ok").is_some(), "{command} must succeed when signed in: {out}");
        seen.push_str(&out.to_string());
    }
    assert!(!seen.contains("eyJ"), "no JWT may reach the webview: {seen}");
    assert!(!seen.contains("trt_"), "no refresh token may reach the webview: {seen}");
    assert!(!seen.contains("token\":\""), "no token field may reach the webview: {seen}");
    let denied = app.invoke("plugin:notification|notify", json!({"options": {"title": "x"}})).await;
    assert!(denied.get("error").is_some(), "plugin commands the UI does not use must be denied: {denied}");
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs gnome-keyring and dbus-run-session; run tools/test"]
async fn locked_keychain_means_a_memory_only_session_and_says_so() {
    let server = server().await;
    let Running { _one, desk, app } = launched(&server, Bus::LockedKeyring).await;
    let banner = app.visible_text("storage-banner", "the keychain banner").await;
    assert!(banner.contains("keychain_locked"), "the banner must name the cause: {banner}");
    assert!(banner.contains("memory only"), "the banner must say where the session lives: {banner}");
    app.sign_in(USER, PASSWORD).await;
    assert_eq!(app.visible_text("user-name", "the signed-in header").await, USER, "sign-in still works");
    let storage = app.visible_text("home-storage", "the storage line").await;
    assert!(storage.starts_with("memory only"), "home must say memory only: {storage}");
    app.screenshot("memory-only").await;
    app.close().await;
    let current = desk.home.shared_config().join("current.json");
    assert!(!current.exists(), "a memory-only session is not offered to the CLI");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs an unlocked Secret Service; run tools/test"]
async fn restarted_app_is_signed_in_again_without_a_password() {
    let server = server().await;
    let Running { _one, desk, app } = signed_in(&server).await;
    let storage = app.visible_text("home-storage", "the storage line").await;
    assert_eq!(storage, "the system keychain", "with an unlocked keyring the session must be in the keychain");
    app.close().await;
    let current =
        std::fs::read_to_string(desk.home.shared_config().join("current.json")).expect("current.json for the CLI");
    assert!(current.contains(USER), "the account is noted for the CLI: {current}");

    let app = desk.driver.launch(&[]).await;
    assert_eq!(app.visible_text("user-name", "the restored session").await, USER, "restored from the keychain");
    let form = app.js("return document.getElementById('signin').hidden", json!([])).await;
    assert_eq!(form, json!(true), "no sign-in form after a restore");
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs an unlocked Secret Service; run tools/test"]
async fn app_opens_signed_in_to_the_session_tessera_sign_in_made() {
    let server = server().await;
    let _one = ONE_APP_AT_A_TIME.lock().await;
    let desk = desk(&server, Bus::Inherit).await;
    // What `tessera sign-in` does: sign in as the CLI's OAuth client, keep the refresh token in the
    // keychain, note the account in the shared config and data dirs.
    let dirs = LocalDirs { config: desk.home.shared_config(), data: desk.home.shared_data() };
    let device = DeviceInfo { name: "this desk".into(), platform: "linux".into(), app_version: "cli".into() };
    let config = EngineConfig::new(&server.url, &dirs.data, "tessera-cli", device);
    let cli = SessionEngine::new(config, Arc::new(KeychainVault::new())).expect("engine");
    cli.sign_in(USER, &Password::new(PASSWORD)).await.expect("the CLI signs in");
    CurrentAccountFile::shared(&dirs).store(&Account::new(&server.url, USER)).expect("current.json");

    let app = desk.driver.launch(&[]).await;
    assert_eq!(app.visible_text("user-name", "the CLI's session").await, USER, "opened signed in, no password");
    app.click("#nav-devices").await;
    app.wait_for("document.querySelectorAll('#device-list li').length === 1", "one device listed").await;
    let devices = app.visible_text("device-list", "the devices list").await;
    assert!(devices.contains("this desk"), "one session, the CLI's, shared by both: {devices}");
    assert!(devices.contains("This device"), "and it is this device: {devices}");
    app.close().await;
    cli.refresh_now().await.expect("the CLI's session goes on after the app rotated its token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_from_the_server_appears_and_the_badge_counts_it() {
    let server = server().await;
    let Running { _one, desk: _desk, app } = signed_in(&server).await;
    app.wait_for(&format!("{CHIP} === 'Live'"), "the feed to connect (chip Live)").await;
    let started = std::time::Instant::now();
    notify(&server, USER, "Ticket 42: new comment from Bob").await;
    app.wait_for(BADGE_IS_ONE, "the unread badge to show 1").await;
    eprintln!("notification created → badge updated in {} ms", started.elapsed().as_millis());
    // Through the real IPC, the replies the UI's state module dates carry the relay's number.
    for (command, args) in [("app_status", json!({})), ("notifications_list", json!({"unreadOnly": false, "limit": 5}))]
    {
        let out = app.invoke(command, args).await;
        let event_seq = out["ok"]["event_seq"].as_u64().unwrap_or_default();
        assert!(event_seq >= 1, "{command} read after the notification event names the events before it: {out}");
    }
    app.click("#nav-notifications").await;
    let list = app.visible_text("notification-list", "the notification list").await;
    assert!(list.contains("Ticket 42: new comment from Bob"), "the new notification is listed: {list}");
    app.screenshot("notifications").await;
    app.click("#mark-all-read").await;
    app.wait_for("document.getElementById('unread-badge').hidden", "the badge to clear after mark all read").await;
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_gone_shows_offline_with_cached_notifications_and_live_again_when_back() {
    let _one = ONE_APP_AT_A_TIME.lock().await;
    let data = tempfile::tempdir().expect("server data dir");
    let config = tessera_server::testing::unlimited_config();
    let clock = Arc::new(tessera_server::clock::SystemClock);
    let server = TestServer::start_in(data.path(), config.clone(), clock.clone()).await.expect("server");
    server.add_user(USER, PASSWORD, Role::Agent).await.expect("user");
    let addr = server.addr.to_string();
    let desk = desk(&server, Bus::Inherit).await;
    let app = desk.driver.launch(&[]).await;
    app.sign_in(USER, PASSWORD).await;
    app.wait_for(&format!("{CHIP} === 'Live'"), "the feed to connect (chip Live)").await;
    notify(&server, USER, "Cached while online").await;
    app.wait_for(BADGE_IS_ONE, "the notification to arrive").await;

    server.stop().await;
    app.wait_within(std::time::Duration::from_secs(60), &format!("{CHIP} === 'Offline'"), "the Offline chip").await;
    app.click("#nav-notifications").await;
    let list = app.visible_text("notification-list", "the cached list").await;
    assert!(list.contains("Cached while online"), "cached notifications must stay readable offline: {list}");

    let _back = TestServer::start_on(&addr, data.path(), config, clock).await.expect("server restarts on its address");
    app.wait_within(std::time::Duration::from_secs(90), &format!("{CHIP} === 'Live'"), "Live again").await;
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_user_is_warned_and_stays_with_input_or_is_signed_out_without() {
    let _one = ONE_APP_AT_A_TIME.lock().await;
    let server = server().await;
    let x = Xvfb::start();
    let home = Home::new();
    let env = [
        ("TESSERA_SERVER_URL", server.url.as_str()),
        ("TESSERA_IDLE_TIMEOUT_SECS", "12"),
        ("TESSERA_IDLE_WARNING_SECS", "6"),
    ];
    let driver = Driver::start(&x, &home, Bus::Inherit, &env).await;
    let app = driver.launch(&[]).await;
    app.sign_in(USER, PASSWORD).await;
    app.visible_text("user-name", "the signed-in header").await;
    // X input resets the system idle counter (Xvfb has had none since it started).
    let _ = std::process::Command::new("xdotool").args(["mousemove", "20", "20"]).env("DISPLAY", &x.display).status();
    app.wait_within(
        std::time::Duration::from_secs(40),
        "document.getElementById('idle-dialog').open",
        "the idle warning",
    )
    .await;
    app.click("#still-here").await;
    app.wait_for("!document.getElementById('idle-dialog').open", "the warning to close on input").await;
    let signed_in = app.js("return document.getElementById('app').hidden", json!([])).await;
    assert_eq!(signed_in, json!(false), "input during the warning keeps the user signed in");

    app.wait_within(
        std::time::Duration::from_secs(40),
        "document.getElementById('idle-dialog').open",
        "the next warning",
    )
    .await;
    let notice = app.visible_text("signin-notice", "the idle sign-out notice").await;
    assert!(notice.contains("inactivity"), "without input the user is signed out for inactivity: {notice}");
    app.close().await;
    drop(driver);
}
