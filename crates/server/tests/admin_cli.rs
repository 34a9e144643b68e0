//! `tessera-server user passwd|disable|enable|end-sessions` run next to a running server (the
//! real binary, a real WebSocket): every session of the user ends in the command's transaction,
//! its tokens are refused at once, and its open stream hears `session.revoked` through the
//! control socket and closes. `user add` never overwrites a user.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(unix)]

mod server_process;
mod ws_support;

use reqwest::StatusCode;
use server_process::{CLIENT, ServerProcess, me, run, sign_in};
use tessera_protocol::{ErrorBody, ErrorCode, TokenRequest, TokenResponse, paths};

async fn signed_in(server: &ServerProcess, user: &str) -> TokenResponse {
    let resp = sign_in(&reqwest::Client::new(), &server.url, user, &server.passwords[user]).await;
    assert_eq!(resp.status(), StatusCode::OK, "{user} signs in with the demo password");
    resp.json().await.unwrap()
}

async fn refresh(server: &ServerProcess, refresh_token: &str) -> reqwest::Response {
    let req = TokenRequest::refresh(refresh_token, CLIENT);
    reqwest::Client::new().post(server.url(paths::TOKEN)).form(&req).send().await.unwrap()
}

/// Status and stable code of an error response.
async fn refusal(resp: reqwest::Response) -> (StatusCode, ErrorCode) {
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let body: ErrorBody = serde_json::from_str(&text).unwrap_or_else(|e| panic!("an error body ({e}): {text}"));
    (status, body.code)
}

/// Runs `tessera-server user ARGS --data-dir DIR`, which must succeed; returns its stdout.
async fn user_command(server_dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> String {
    let mut all = vec!["user"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--data-dir", server_dir.to_str().unwrap()]);
    let (status, stdout, stderr) = run(&all, &[], stdin).await;
    assert!(status.success(), "`user {}` must succeed; stderr:\n{stderr}", args.join(" "));
    stdout
}

/// The session of `tokens` is over: its access token and its refresh token are refused.
async fn assert_session_over(server: &ServerProcess, tokens: &TokenResponse, why: &str) {
    let (status, code) = refusal(me(&reqwest::Client::new(), &server.url, &tokens.access_token).await).await;
    assert_eq!((status, code), (StatusCode::UNAUTHORIZED, ErrorCode::SessionRevoked), "{why}: access token refused");
    let (status, code) = refusal(refresh(server, &tokens.refresh_token).await).await;
    assert_eq!((status, code), (StatusCode::BAD_REQUEST, ErrorCode::SessionRevoked), "{why}: refresh refused");
}

#[tokio::test]
async fn passwd_next_to_a_running_server_ends_every_session_and_closes_its_open_stream() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), true).await;
    let laptop = signed_in(&server, "alice").await;
    let desk = signed_in(&server, "alice").await;
    let mut ws = ws_support::connect(&server.url, &laptop.access_token).await;
    ws_support::resume(&mut ws, 0, None).await;

    let new_password = "a brand new password for alice";
    let stdout =
        user_command(dir.path(), &["passwd", "alice", "--password-stdin"], Some(&format!("{new_password}\n"))).await;
    assert!(stdout.contains("password reset; 2 session(s) ended"), "both sessions end with the reset: {stdout}");
    assert!(stdout.contains("told through the running server"), "the running server was told: {stdout}");
    assert!(!stdout.contains(new_password), "the password is never echoed: {stdout}");

    ws_support::expect_revoked(&mut ws, ErrorCode::SessionRevoked).await;
    assert_session_over(&server, &laptop, "the laptop session after the reset").await;
    assert_session_over(&server, &desk, "the desk session after the reset").await;
    let http = reqwest::Client::new();
    let old = refusal(sign_in(&http, &server.url, "alice", &server.passwords["alice"]).await).await;
    assert_eq!(old, (StatusCode::BAD_REQUEST, ErrorCode::InvalidCredentials), "the old password no longer works");
    let resp = sign_in(&http, &server.url, "alice", new_password).await;
    assert_eq!(resp.status(), StatusCode::OK, "the new password works");
    let (status, stderr) = server.terminate().await;
    assert!(status.success(), "clean stop; stderr:\n{stderr}");
}

#[tokio::test]
async fn a_disabled_user_is_signed_out_everywhere_cannot_sign_in_and_comes_back_when_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), true).await;
    let bob = signed_in(&server, "bob").await;
    let mut ws = ws_support::connect(&server.url, &bob.access_token).await;
    ws_support::resume(&mut ws, 0, None).await;

    let stdout = user_command(dir.path(), &["disable", "bob"], None).await;
    assert!(stdout.contains("disabled; 1 session(s) ended"), "the disable ends bob's session: {stdout}");
    ws_support::expect_revoked(&mut ws, ErrorCode::SessionRevoked).await;
    assert_session_over(&server, &bob, "bob's session after the disable").await;

    let http = reqwest::Client::new();
    let right = refusal(sign_in(&http, &server.url, "bob", &server.passwords["bob"]).await).await;
    assert_eq!(right, (StatusCode::BAD_REQUEST, ErrorCode::UserDisabled), "the right password hears: disabled");
    let wrong = refusal(sign_in(&http, &server.url, "bob", "not bob's password").await).await;
    assert_eq!(
        wrong,
        (StatusCode::BAD_REQUEST, ErrorCode::InvalidCredentials),
        "a wrong password learns nothing about the account's state"
    );

    let stdout = user_command(dir.path(), &["enable", "bob"], None).await;
    assert!(stdout.contains("enabled; 0 session(s) ended"), "enable ends nothing: {stdout}");
    let resp = sign_in(&http, &server.url, "bob", &server.passwords["bob"]).await;
    assert_eq!(resp.status(), StatusCode::OK, "bob signs in again once enabled");
    let (status, stderr) = server.terminate().await;
    assert!(status.success(), "clean stop; stderr:\n{stderr}");
}

#[tokio::test]
async fn end_sessions_signs_the_user_out_everywhere_and_leaves_the_account_usable() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), true).await;
    let carol = signed_in(&server, "carol").await;
    let alice = signed_in(&server, "alice").await;
    let mut ws = ws_support::connect(&server.url, &carol.access_token).await;
    ws_support::resume(&mut ws, 0, None).await;

    let stdout = user_command(dir.path(), &["end-sessions", "carol"], None).await;
    assert!(stdout.contains("sessions ended; 1 session(s) ended"), "carol's session ends: {stdout}");
    ws_support::expect_revoked(&mut ws, ErrorCode::SessionRevoked).await;
    assert_session_over(&server, &carol, "carol's session").await;
    let resp = me(&reqwest::Client::new(), &server.url, &alice.access_token).await;
    assert_eq!(resp.status(), StatusCode::OK, "another user's session is untouched");
    signed_in(&server, "carol").await;
    let (status, stderr) = server.terminate().await;
    assert!(status.success(), "clean stop; stderr:\n{stderr}");
}

#[tokio::test]
async fn user_add_of_an_existing_name_is_refused_pointing_at_passwd_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let server = ServerProcess::start(dir.path(), true).await;
    let alice = signed_in(&server, "alice").await;
    let args = ["user", "add", "alice", "--password-stdin", "--data-dir", data_dir];
    let (status, stdout, stderr) = run(&args, &[], Some("a password that must not win\n")).await;
    assert!(!status.success(), "adding an existing name must fail; stdout: {stdout}");
    assert!(stderr.contains("already exists") && stderr.contains("user passwd alice"), "points at passwd: {stderr}");
    let resp = me(&reqwest::Client::new(), &server.url, &alice.access_token).await;
    assert_eq!(resp.status(), StatusCode::OK, "alice's session is untouched");
    signed_in(&server, "alice").await;

    let (status, _, stderr) = run(&["user", "disable", "nobody", "--data-dir", data_dir], &[], None).await;
    assert!(!status.success() && stderr.contains("no user named \"nobody\""), "an unknown name is an error: {stderr}");
    let (status, stderr) = server.terminate().await;
    assert!(status.success(), "clean stop; stderr:\n{stderr}");
}
