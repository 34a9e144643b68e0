//! The shell against the real reference server on loopback: its own rules (one server while
//! signed in, the idle-timeout setting within the server's limit, the settings file), over a
//! desk it opened itself. The vault is whatever this machine offers (the keychain under
//! `tools/test`, memory elsewhere); nothing here depends on which.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use tessera_protocol::Role;
use tessera_server::testing::TestServer;
use tessera_session::{LocalDirs, Password, SignOutOutcome};

use super::Shell;
use crate::commands::SettingsPatch;
use crate::error::UiCode;

const USER: &str = "alice";
const PASSWORD: &str = "correct horse battery staple";

async fn server() -> TestServer {
    let config = tessera_server::testing::unlimited_config();
    let server = TestServer::start(config).await.expect("server");
    server.add_user(USER, PASSWORD, Role::Agent).await.expect("user");
    server
}

async fn started(server: &TestServer, dir: &std::path::Path) -> Shell {
    let dirs = LocalDirs { config: dir.join("config"), data: dir.join("data") };
    let shell = Shell::new(dirs, dir.join("settings.json"), dir.join("logs"), Arc::new(|_| {}));
    shell.start(server.url.clone()).await;
    shell
}

fn server_change(url: &str) -> SettingsPatch {
    SettingsPatch { server_url: Some(url.to_owned()), ..SettingsPatch::default() }
}

#[tokio::test]
async fn a_signed_in_shell_keeps_its_server_until_the_user_signs_out() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let shell = started(&server, dir.path()).await;
    let status = shell.status().await;
    assert!(!status.session.state.is_signed_in(), "nothing to restore: signed out");
    assert_eq!(status.server_url, server.url, "the engine is for the start-up server");

    let status = shell.sign_in(&server.url, USER, &Password::new(PASSWORD)).await.expect("sign-in");
    assert_eq!(status.session.username.as_deref(), Some(USER), "signed in");
    assert_eq!(shell.settings().server_url, Some(server.url.clone()), "the server is remembered for next time");

    let elsewhere = "http://127.0.0.1:1";
    let switch = shell.sign_in(elsewhere, USER, &Password::new(PASSWORD)).await.map_err(|e| e.code);
    assert_eq!(switch.err(), Some(UiCode::InvalidInput), "no second server while signed in");
    let setting = shell.apply_settings(server_change(elsewhere)).await.map_err(|e| e.message);
    assert_eq!(setting, Err("Sign out before switching servers.".to_owned()), "nor through the settings");

    assert_eq!(shell.sign_out().await.expect("sign-out"), SignOutOutcome::Revoked, "revoked at the server");
    assert!(!shell.status().await.session.state.is_signed_in(), "signed out");
    shell.apply_settings(server_change(elsewhere)).await.expect("signed out, the server may change");
    assert_eq!(shell.settings().server_url.as_deref(), Some(elsewhere), "and the change is saved");
}

#[tokio::test]
async fn an_idle_timeout_beyond_the_servers_is_refused_with_the_reason() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let shell = started(&server, dir.path()).await;
    shell.sign_in(&server.url, USER, &Password::new(PASSWORD)).await.expect("sign-in");
    let max = shell.settings_view().await.expect("settings").idle_timeout_max_secs.expect("the server's limit");

    let patch = |secs| SettingsPatch { idle_timeout_secs: Some(secs), ..SettingsPatch::default() };
    let refused = shell.apply_settings(patch(max + 60)).await.expect_err("longer than the server's");
    assert_eq!(refused.code, UiCode::InvalidInput);
    assert!(refused.message.contains("longer than the server's idle timeout"), "says why: {}", refused.message);
    assert_eq!(shell.settings().idle_timeout_secs, None, "a refused value is not saved");

    shell.apply_settings(patch(120)).await.expect("two minutes is within the limit");
    assert_eq!(shell.settings().idle_timeout_secs, Some(120), "saved");
    assert_eq!(shell.idle_status().await.map(|s| s.timeout_secs), Some(120), "and the idle watch runs with it");
    assert_eq!(shell.settings_view().await.expect("settings").idle_timeout_secs, 120, "the screen shows it");
    shell.sign_out().await.expect("sign-out");
}
