//! The real `tessera-server` binary: `serve --demo` prints working passwords and its address,
//! `user add` creates users while no server runs, invalid configuration stops it with an error
//! naming the variable, the signing key is private to its owner, and SIGTERM stops it cleanly
//! with sessions and key kept for the next start.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ws_support;

use std::collections::HashMap;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use tessera_protocol::{DeviceInfo, Me, Role, TokenRequest, TokenResponse, paths};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const BIN: &str = env!("CARGO_BIN_EXE_tessera-server");
const CLIENT: &str = "tessera-cli";

/// Deadline for the process to say something or to exit. Only there so a hung child fails the
/// test with a message instead of hanging it; it is not a performance threshold.
const DEADLINE: Duration = Duration::from_secs(120);

/// The binary with a clean environment: no inherited `TESSERA_SERVER_*` overrides or log filter.
fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TESSERA_SERVER_") {
            cmd.env_remove(&name);
        }
    }
    cmd.env_remove("RUST_LOG");
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // The guard: a test that fails half-way must not leave a server running.
    cmd.kill_on_drop(true);
    cmd
}

/// Collects a child's stderr in the background (so the pipe never fills and blocks it).
fn drain(stream: impl AsyncRead + Unpin + Send + 'static) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        let mut text = String::new();
        let mut reader = BufReader::new(stream);
        let _ = reader.read_to_string(&mut text).await;
        text
    })
}

/// A running `tessera-server serve`.
struct ServerProcess {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Option<tokio::task::JoinHandle<String>>,
    url: String,
    /// Demo passwords printed at start, by user name.
    passwords: HashMap<String, String>,
    /// Role printed for each demo user.
    roles: HashMap<String, String>,
}

impl ServerProcess {
    /// Starts `serve` on a free port and reads stdout up to `listening on ...`.
    async fn start(data_dir: &Path, demo: bool) -> Self {
        let dir = data_dir.to_str().unwrap();
        let mut args = vec!["serve", "--addr", "127.0.0.1:0", "--data-dir", dir];
        if demo {
            args.push("--demo");
        }
        let mut child = command(&args).spawn().expect("the server binary must start");
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let stderr = Some(drain(child.stderr.take().unwrap()));
        let mut passwords = HashMap::new();
        let mut roles = HashMap::new();
        let url = loop {
            let line = match tokio::time::timeout(DEADLINE, stdout.next_line()).await {
                Ok(Ok(Some(line))) => line,
                other => {
                    let _ = child.start_kill();
                    let stderr = match stderr {
                        Some(task) => task.await.unwrap_or_default(),
                        None => String::new(),
                    };
                    panic!("the server must print `listening on`, got {other:?}; stderr:\n{stderr}");
                }
            };
            if let Some(url) = line.strip_prefix("listening on ") {
                break url.trim().to_owned();
            }
            // `demo user alice (agent) password: X`
            if let Some(rest) = line.strip_prefix("demo user ") {
                let (name, rest) = rest.split_once(' ').unwrap();
                let (role, password) = rest.split_once(" password: ").unwrap();
                roles.insert(name.to_owned(), role.trim_matches(['(', ')']).to_owned());
                passwords.insert(name.to_owned(), password.to_owned());
            }
        };
        Self { child, stdout, stderr, url, passwords, roles }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Sends SIGTERM and waits for the process to end; returns its status and stderr.
    async fn terminate(mut self) -> (ExitStatus, String) {
        let pid = self.child.id().expect("the server is still running").to_string();
        let kill = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(kill.success(), "kill -TERM {pid} must deliver the signal");
        let status = tokio::time::timeout(DEADLINE, self.child.wait())
            .await
            .expect("the server must exit after SIGTERM")
            .unwrap();
        let rest = tokio::time::timeout(DEADLINE, async {
            let mut out = Vec::new();
            while let Ok(Some(line)) = self.stdout.next_line().await {
                out.push(line);
            }
            out
        })
        .await
        .unwrap_or_default();
        assert!(rest.is_empty(), "nothing is printed to stdout after `listening on`: {rest:?}");
        let stderr = self.stderr.take().unwrap().await.unwrap();
        (status, stderr)
    }
}

/// Runs a one-shot command to the end with `stdin`; returns status, stdout, stderr.
async fn run(args: &[&str], envs: &[(&str, &str)], stdin: Option<&str>) -> (ExitStatus, String, String) {
    let mut cmd = command(args);
    cmd.envs(envs.iter().copied());
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().expect("the binary must start");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input.as_bytes()).await.unwrap();
        drop(pipe);
    }
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let status = tokio::time::timeout(DEADLINE, child.wait())
        .await
        .unwrap_or_else(|_| panic!("`tessera-server {}` must finish", args.join(" ")))
        .unwrap();
    (status, stdout.await.unwrap(), stderr.await.unwrap())
}

async fn sign_in(http: &reqwest::Client, url: &str, user: &str, password: &str) -> reqwest::Response {
    let device = DeviceInfo { name: "cli test".into(), platform: "linux".into(), app_version: "0.1.0".into() };
    let req = TokenRequest::password(user, password, CLIENT, &device);
    http.post(format!("{url}{}", paths::TOKEN)).form(&req).send().await.unwrap()
}

async fn me(http: &reqwest::Client, url: &str, access_token: &str) -> reqwest::Response {
    http.get(format!("{url}{}", paths::ME)).bearer_auth(access_token).send().await.unwrap()
}

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

    let server = ServerProcess::start(dir.path(), false).await;
    assert!(server.passwords.is_empty(), "without --demo no demo users are printed");
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
