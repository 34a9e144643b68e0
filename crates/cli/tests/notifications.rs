//! `tessera notifications` and `tessera watch` against the real reference server.
//!
//! The cache listing needs no keychain and no server, so its test runs in every `cargo test`;
//! the ones that restore a session from the keychain are ignored by default (run by
//! `tools/test` with an unlocked gnome-keyring), like tests/keychain.rs.

// Test scaffolding: a runtime or child process that cannot be set up should stop the test loudly.
#![allow(clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{PASSWORD, Server, Tessera, USER, lines_of, wait_line};
use tessera_protocol::DeviceInfo;
use tessera_session::{
    Account, EngineConfig, FeedMode, MemoryVault, NotificationFeed, Password, SessionEngine, SessionEvent,
};

/// Waits (failsafe limit only) for an engine event matching `pick`.
async fn wait_event(events: &mut tokio::sync::broadcast::Receiver<SessionEvent>, pick: impl Fn(&SessionEvent) -> bool) {
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(event) = events.recv().await {
            if pick(&event) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "the expected engine event never came");
}

#[test]
fn cached_notifications_are_listed_with_the_server_down_and_no_keychain() {
    let mut server = Server::start(common::config());
    let cli = Tessera::without_keychain();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    // The desktop app's engine, on the CLI's data dir, fills the cache.
    let device = DeviceInfo { name: "desk".into(), platform: "linux".into(), app_version: "0.1.0".into() };
    let config = EngineConfig::new(&server.url, cli.data_dir(), "tessera-desktop", device);
    let engine = SessionEngine::new(config, Arc::new(MemoryVault::new())).expect("engine");
    let (feed, mut events) = runtime.block_on(async {
        let mut events = engine.subscribe();
        engine.sign_in(USER, &Password::new(PASSWORD)).await.expect("sign-in");
        let feed = NotificationFeed::spawn(engine.clone()).expect("feed");
        wait_event(&mut events, |e| matches!(e, SessionEvent::FeedMode { mode: FeedMode::Live })).await;
        (feed, events)
    });
    for n in 1..=3 {
        server.publish(n);
    }
    runtime.block_on(async {
        wait_event(&mut events, |e| matches!(e, SessionEvent::Notification { notification } if notification.seq == 3))
            .await;
        feed.mark_read(2).await.expect("mark read");
    });
    feed.stop();
    let current = serde_json::json!({ "server_url": server.url, "username": USER });
    std::fs::create_dir_all(cli.config_dir()).expect("config dir");
    std::fs::write(cli.config_dir().join("current.json"), current.to_string()).expect("current.json");
    server.stop();

    let listed = cli.run(&["notifications", "--json"]);
    assert_eq!(listed.code, 0, "listing the cache needs neither server nor keychain: {listed:?}");
    let seqs: Vec<i64> = listed.json()["notifications"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|n| n["seq"].as_i64())
        .collect();
    assert_eq!(seqs, vec![3, 2, 1], "newest first, each once: {listed:?}");

    let unread = cli.run(&["notifications", "--unread"]);
    assert_eq!(unread.code, 0, "human listing works too: {unread:?}");
    assert!(
        unread.stdout.contains("note 3") && unread.stdout.contains("note 1"),
        "unread ones are shown with their text: {unread:?}"
    );
    assert!(!unread.stdout.contains("note 2"), "the one marked read is not: {unread:?}");

    let limited = cli.run(&["notifications", "--json", "--limit", "1"]);
    assert_eq!(limited.json()["notifications"].as_array().map(Vec::len), Some(1), "--limit caps the list: {limited:?}");
}

#[test]
#[ignore = "needs an unlocked Secret Service; run tools/test"]
fn watch_prints_notifications_as_json_lines_until_sigterm_then_until_the_session_is_revoked() {
    let server = Server::start(common::config());
    let cli = Tessera::new();
    assert_eq!(cli.login(&server).code, 0, "login");

    let mut watch = cli.spawn(&["watch", "--json"]);
    let lines = lines_of(&mut watch);
    wait_line(&lines, "the live feed mode", |v| v["type"] == "feed_mode" && v["mode"] == "live");
    server.publish(1);
    let note = wait_line(&lines, "notification 1", |v| v["type"] == "notification");
    assert_eq!(note["notification"]["seq"], 1, "the notification event is the engine's, as is: {note}");
    assert_eq!(note["notification"]["payload"]["message"], "note 1", "with its payload: {note}");

    let listed = cli.run(&["notifications", "--json", "--unread"]);
    assert_eq!(listed.json()["notifications"][0]["seq"], 1, "the watch cached it for `notifications`: {listed:?}");
    let read = cli.run(&["notifications", "read", "1"]);
    assert_eq!(read.code, 0, "marking read works: {read:?}");
    let listed = cli.run(&["notifications", "--json", "--unread"]);
    assert_eq!(
        listed.json()["notifications"].as_array().map(Vec::len),
        Some(0),
        "nothing unread after marking: {listed:?}"
    );

    let term =
        std::process::Command::new("kill").args(["-TERM", &watch.id().to_string()]).status().expect("kill -TERM");
    assert!(term.success(), "SIGTERM sent");
    let status = watch.wait().expect("watch exits");
    assert_eq!(status.code(), Some(0), "SIGTERM is a normal end of `watch`");

    let mut watch = cli.spawn(&["watch", "--json"]);
    let lines = lines_of(&mut watch);
    wait_line(&lines, "the live feed mode", |v| v["type"] == "feed_mode" && v["mode"] == "live");
    let other = server.sign_in_elsewhere();
    let status = cli.run(&["status", "--json"]);
    let id = status.json()["session_id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(server.revoke_with(&other.access_token, &id), 204, "the other device signs this one out");
    let ended =
        wait_line(&lines, "the sign-out", |v| v["type"] == "state_changed" && v["state"]["state"] == "signed_out");
    assert_eq!(ended["reason"], "session_revoked", "watch prints why: {ended}");
    let status = watch.wait().expect("watch exits");
    assert_eq!(status.code(), Some(3), "a session that ended exits with the signed-out code");
    let after = cli.run(&["notifications", "--json"]);
    assert_eq!(after.code, 3, "the ended session's account is no longer current: {after:?}");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let account = Account::new(&server.url, USER);
    let cached = runtime.block_on(tessera_session::feed::cached_notifications(&cli.data_dir(), &account, false, 100));
    assert_eq!(cached.map(|c| c.len()).ok(), Some(0), "the revoked user's cache is gone");
}

#[test]
#[ignore = "needs an unlocked Secret Service; run tools/test"]
fn watch_honours_the_idle_settings_and_signs_out_an_unattended_terminal() {
    let server = Server::start(common::config());
    let cli = Tessera::new();
    assert_eq!(cli.login(&server).code, 0, "login");
    let status = cli.run(&["status", "--json"]);
    let id = status.json()["session_id"].as_str().unwrap_or_default().to_owned();

    // No display here (the harness removes DISPLAY): idle is unknown, so only activity reported
    // by an app window would count — and a terminal reports none.
    let mut watch = cli
        .command(&["watch", "--json"])
        .env("TESSERA_IDLE_TIMEOUT_SECS", "4")
        .env("TESSERA_IDLE_WARNING_SECS", "2")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn tessera watch");
    let lines = lines_of(&mut watch);
    let unknown = wait_line(&lines, "the idle_unknown warning", |v| v["type"] == "warning");
    assert_eq!(unknown["code"], "idle_unknown", "watch says idle cannot be measured here: {unknown}");
    let warning = wait_line(&lines, "the idle countdown", |v| v["type"] == "idle_warning");
    assert!(warning["seconds_left"].as_u64().is_some_and(|s| s <= 2), "the countdown starts at the warning: {warning}");
    let ended =
        wait_line(&lines, "the idle sign-out", |v| v["type"] == "state_changed" && v["state"]["state"] == "signed_out");
    assert_eq!(ended["reason"], "idle_timeout", "signed out for inactivity: {ended}");
    assert_eq!(watch.wait().expect("watch exits").code(), Some(3), "an ended session exits 3");

    let other = server.sign_in_elsewhere();
    assert_eq!(server.revoke_with(&other.access_token, &id), 404, "the server no longer knows the idle session");
}

#[test]
fn commands_refuse_an_invalid_idle_setting_naming_the_variable() {
    let cli = Tessera::new();
    let mut command =
        cli.command(&["login", "--server", "http://127.0.0.1:9", "--username", "alice", "--password-stdin"]);
    command.env("TESSERA_IDLE_TIMEOUT_SECS", "soon").stdin(std::process::Stdio::piped());
    let mut child =
        command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().expect("run");
    let _ = std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), b"a password\n");
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "a bad setting is a usage error: {stderr}");
    assert!(stderr.contains("TESSERA_IDLE_TIMEOUT_SECS"), "the message names the variable: {stderr}");
}
