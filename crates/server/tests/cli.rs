//! The real `tessera-server` binary: `serve --demo` prints working passwords and its address,
//! `user add` creates users while no server runs, invalid configuration stops it with an error
//! naming the variable, the signing key is private to its owner, and SIGTERM stops it cleanly
//! with sessions and key kept for the next start.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server_process;
mod ws_support;

use reqwest::StatusCode;
use server_process::{CLIENT, ServerProcess, me, run, sign_in};
use tessera_protocol::{Me, Role, TokenRequest, TokenResponse, paths};

#[tokio::test]
async fn demo_server_prints_passwords_that_sign_in_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), true).await;
    assert!(server.url.starts_with("http://127.0.0.1:"), "the address printed is the one bound: {}", server.url);
    assert!(!server.url.ends_with(":0"), "port 0 is replaced by the port actually bound: {}", server.url);
    let mut names: Vec<_> = server.passwords.keys().cloned().collect();
    names.sort();
    assert_eq!(names, ["alice", "bob", "carol"], "--demo creates alice, bob and carol");
    assert_eq!(server.roles["carol"], "admin", "carol is the admin");
    assert_eq!(server.roles["alice"], "agent", "alice is an agent");
    assert!(
        server.notices.iter().any(|n| n.contains("password grant on")),
        "--demo turns the password grant on and says so: {:?}",
        server.notices
    );

    let http = reqwest::Client::new();
    for (user, role) in [("alice", Role::Agent), ("carol", Role::Admin)] {
        let resp = sign_in(&http, &server.url, user, &server.passwords[user]).await;
        assert_eq!(resp.status(), StatusCode::OK, "{user} signs in with the printed password");
        let tokens: TokenResponse = resp.json().await.unwrap();
        let who: Me = me(&http, &server.url, &tokens.access_token).await.json().await.unwrap();
        assert_eq!((who.username.as_str(), who.role), (user, role), "the token is {user}'s");
    }
    let resp = sign_in(&http, &server.url, "alice", &server.passwords["carol"]).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "passwords are per user");

    let health = http.get(server.url(paths::HEALTHZ)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK, "the running binary answers /healthz");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = dir.path().join(tessera_server::keys::KEY_FILE);
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the private signing key must be readable by its owner only: {mode:o}");
    }

    let (status, stderr) = server.terminate().await;
    assert!(status.success(), "SIGTERM is a clean stop, exit 0; got {status}; stderr:\n{stderr}");
    assert!(stderr.contains("stopped"), "the server logs that it stopped: {stderr}");
}

#[tokio::test]
async fn user_added_while_no_server_runs_can_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let password = "dave's long password";
    let (status, stdout, stderr) =
        run(&["user", "add", "dave", "--password-stdin", "--data-dir", data_dir], &[], Some(&format!("{password}\n")))
            .await;
    assert!(status.success(), "user add must succeed; stderr:\n{stderr}");
    assert!(stdout.contains("user dave (agent) saved"), "user add confirms: {stdout}");
    assert!(!stdout.contains(password) && !stderr.contains(password), "the password is never echoed");

    let server = ServerProcess::start_command(server_process::serve_scripted(dir.path())).await;
    assert!(server.passwords.is_empty(), "without --demo no demo users are printed");
    assert!(server.notices.is_empty(), "nothing turned on for a demo: {:?}", server.notices);
    let http = reqwest::Client::new();
    let resp = sign_in(&http, &server.url, "dave", password).await;
    assert_eq!(resp.status(), StatusCode::OK, "dave signs in with the password given on stdin (newline stripped)");
    let resp = sign_in(&http, &server.url, "dave", &format!("{password}\n")).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "the trailing newline is not part of the password");
    let resp = sign_in(&http, &server.url, "alice", "whatever password").await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "no demo users exist without --demo");
    let (status, stderr) = server.terminate().await;
    assert!(status.success(), "clean stop; stderr:\n{stderr}");
}

#[tokio::test]
async fn user_add_refuses_a_short_password() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let (status, _, stderr) =
        run(&["user", "add", "erin", "--password-stdin", "--data-dir", data_dir], &[], Some("short\n")).await;
    assert!(!status.success(), "a 5-character password must be refused");
    assert!(stderr.contains("at least 8 characters"), "the error says why: {stderr}");
}

#[tokio::test]
async fn invalid_configuration_stops_the_server_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let cases = [
        ("TESSERA_SERVER_ACCESS_TOKEN_TTL_SECS", "abc", "TESSERA_SERVER_ACCESS_TOKEN_TTL_SECS"),
        ("TESSERA_SERVER_REFRESH_GRACE_SECS", "-1", "TESSERA_SERVER_REFRESH_GRACE_SECS"),
        ("TESSERA_SERVER_SESSION_IDLE_TIMEOUT_SECS", "0", "session_idle_timeout_secs"),
        ("TESSERA_SERVER_NO_SUCH_KEY", "1", "TESSERA_SERVER_NO_SUCH_KEY"),
    ];
    for (name, value, named) in cases {
        let args = ["serve", "--addr", "127.0.0.1:0", "--data-dir", data_dir];
        let (status, stdout, stderr) = run(&args, &[(name, value)], None).await;
        assert!(!status.success(), "{name}={value} must stop the server with a non-zero exit");
        assert!(stderr.contains(named), "the error must name {named} for {name}={value}: {stderr}");
        assert!(!stdout.contains("listening on"), "an invalid config must not start serving: {stdout}");
    }
}

#[tokio::test]
async fn restart_after_sigterm_keeps_sessions_and_signing_key() {
    let dir = tempfile::tempdir().unwrap();
    let first = ServerProcess::start(dir.path(), true).await;
    let http = reqwest::Client::new();
    let resp = sign_in(&http, &first.url, "bob", &first.passwords["bob"]).await;
    assert_eq!(resp.status(), StatusCode::OK, "bob signs in");
    let tokens: TokenResponse = resp.json().await.unwrap();
    let (status, stderr) = first.terminate().await;
    assert!(status.success(), "clean stop; stderr:\n{stderr}");

    let second = ServerProcess::start(dir.path(), false).await;
    let resp = me(&http, &second.url, &tokens.access_token).await;
    assert_eq!(resp.status(), StatusCode::OK, "the access token verifies after a restart: the signing key was kept");
    let refresh = TokenRequest::refresh(&tokens.refresh_token, CLIENT);
    let resp = http.post(second.url(paths::TOKEN)).form(&refresh).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "the session survives the restart: the refresh token still works");
    let (status, stderr) = second.terminate().await;
    assert!(status.success(), "clean stop; stderr:\n{stderr}");
}

#[tokio::test]
async fn notify_next_to_a_running_server_reaches_open_streams_live() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let server = ServerProcess::start(dir.path(), true).await;
    let http = reqwest::Client::new();
    let alice: TokenResponse =
        sign_in(&http, &server.url, "alice", &server.passwords["alice"]).await.json().await.unwrap();
    let mut ws = ws_support::connect(&server.url, &alice.access_token).await;
    ws_support::resume(&mut ws, 0, None).await;

    let args = ["notify", "--user", "alice", "--message", "live from the command line", "--data-dir", data_dir];
    let (status, stdout, stderr) = run(&args, &[], None).await;
    assert!(status.success(), "notify must succeed; stderr:\n{stderr}");
    assert!(stdout.contains("live through the running server"), "notify says the server was told: {stdout}");
    let notification = ws_support::next_notification(&mut ws).await;
    assert_eq!(notification.payload["message"], "live from the command line", "the open stream gets it live");
    let socket = dir.path().join(tessera_server::control::SOCKET);
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "only the data directory's owner may talk to the control socket");

    let (status, stderr) = server.terminate().await;
    assert!(status.success(), "clean stop; stderr:\n{stderr}");
    assert!(!socket.exists(), "a clean stop removes the control socket");
    let (status, stdout, _) = run(&args, &[], None).await;
    assert!(status.success() && stdout.contains("no server running"), "without a server it is only queued: {stdout}");
}

#[tokio::test]
async fn serve_on_a_non_loopback_address_without_public_url_refuses_to_start_naming_public_url() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let args = ["serve", "--addr", "0.0.0.0:0", "--data-dir", data_dir];
    let (status, stdout, stderr) = run(&args, &[], None).await;
    assert!(!status.success(), "0.0.0.0 with an empty public_url must not start; stdout: {stdout}");
    assert!(stderr.contains("public_url"), "the error must name public_url: {stderr}");
    assert!(!stdout.contains("listening on"), "it must not advertise http://0.0.0.0 as its issuer: {stdout}");

    // With the URL clients really use, the same address is fine and that URL is the issuer.
    let mut cmd = server_process::command(&args);
    cmd.env("TESSERA_SERVER_PUBLIC_URL", "https://tessera.example.test");
    let server = ServerProcess::start_command(cmd).await;
    assert_eq!(server.url, "https://tessera.example.test", "the issuer advertised is public_url");
    let (status, stderr) = server.terminate().await;
    assert!(status.success(), "clean stop; stderr:\n{stderr}");
}
