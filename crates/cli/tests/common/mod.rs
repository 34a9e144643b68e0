//! Helpers for the `tessera` CLI tests: a real reference server on loopback (in this process,
//! on its own runtime) and the real `tessera` binary run in private config and data dirs.
#![allow(dead_code)]
// each test file uses a different subset
// Test scaffolding: a failure to start the server or spawn the binary should stop the test loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use std::sync::Arc;
use tessera_protocol::Role;

use tessera_server::Config;
use tessera_server::clock::SystemClock;
use tessera_server::testing::TestServer;

/// The demo user every test signs in as.
pub const USER: &str = "alice";
/// Her password.
pub const PASSWORD: &str = "correct horse battery staple";

/// Server settings for CLI tests: rate limits off (tests sign in and refresh in bursts).
pub fn config() -> Config {
    tessera_server::testing::unlimited_config()
}

/// A reference server with user `alice`, running on a runtime of its own so the test thread can
/// block on child processes.
pub struct Server {
    runtime: tokio::runtime::Runtime,
    server: Option<TestServer>,
    config: Config,
    data: tempfile::TempDir,
    /// Base URL.
    pub url: String,
}

impl Server {
    /// Starts a server with `config` and adds [`USER`].
    pub fn start(config: Config) -> Self {
        Self::start_with(config, true)
    }

    /// Starts a server with `config`, with [`USER`] when `with_alice` (a server that trusts
    /// another provider makes its users from that provider's tokens).
    pub fn start_with(config: Config, with_alice: bool) -> Self {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("server runtime");
        let data = tempfile::tempdir().expect("server data dir");
        let server = runtime.block_on(async {
            let server = TestServer::start_in(data.path(), config.clone(), Arc::new(SystemClock))
                .await
                .expect("start the reference server");
            if with_alice {
                server.add_user(USER, PASSWORD, Role::Agent).await.expect("add alice");
            }
            server
        });
        let url = server.url.clone();
        Self { runtime, server: Some(server), config, data, url }
    }

    /// Stops the server (its port and data stay for [`restart`](Self::restart)).
    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            self.runtime.block_on(server.stop());
        }
    }

    /// Starts the server again on the same port and data.
    pub fn restart(&mut self) {
        let addr = self.url.trim_start_matches("http://").to_owned();
        let server = self
            .runtime
            .block_on(TestServer::start_on(&addr, self.data.path(), self.config.clone(), Arc::new(SystemClock)))
            .expect("restart the reference server on its port");
        self.server = Some(server);
    }

    fn inner(&self) -> &TestServer {
        self.server.as_ref().expect("server running")
    }

    /// Refresh grants served so far.
    pub fn refresh_count(&self) -> u64 {
        self.inner().refresh_count()
    }

    /// Refresh-token reuse detections so far.
    pub fn reuse_count(&self) -> u64 {
        self.inner().reuse_count()
    }

    /// Signs alice in from "another device" over plain HTTP.
    pub fn sign_in_elsewhere(&self) -> tessera_protocol::TokenResponse {
        self.sign_in_elsewhere_as("tessera-desktop")
    }

    /// [`sign_in_elsewhere`](Self::sign_in_elsewhere) as `client_id`.
    pub fn sign_in_elsewhere_as(&self, client_id: &str) -> tessera_protocol::TokenResponse {
        let url = format!("{}{}", self.url, tessera_protocol::paths::TOKEN);
        let device = tessera_protocol::DeviceInfo {
            name: "other-laptop".into(),
            platform: "windows".into(),
            app_version: "0.1.0".into(),
        };
        let form = tessera_protocol::TokenRequest::password(USER, PASSWORD, client_id, &device);
        self.runtime.block_on(async {
            let response = reqwest::Client::new().post(url).form(&form).send().await.expect("sign-in request");
            assert!(response.status().is_success(), "the second device must be able to sign in: {}", response.status());
            response.json().await.expect("token response")
        })
    }

    /// The status of `GET path` with `access_token`.
    pub fn status_of(&self, path: &str, access_token: &str) -> u16 {
        let url = format!("{}{path}", self.url);
        self.runtime.block_on(async {
            let response = reqwest::Client::new().get(url).bearer_auth(access_token).send().await;
            response.expect("request").status().as_u16()
        })
    }

    /// Revokes session `id` with another session's `access_token` (`DELETE /api/sessions/{id}`).
    pub fn revoke_with(&self, access_token: &str, id: &str) -> u16 {
        let url = format!("{}{}/{id}", self.url, tessera_protocol::paths::SESSIONS);
        self.runtime.block_on(async {
            let response = reqwest::Client::new().delete(url).bearer_auth(access_token).send().await;
            response.expect("revoke request").status().as_u16()
        })
    }

    /// How many refreshes the server granted to a token replayed inside the grace window (a
    /// client that lost the rotated token), from alice's server-side audit.
    pub fn grace_retries(&self, access_token: &str) -> usize {
        let url = format!("{}{}?limit=500", self.url, tessera_protocol::paths::AUDIT);
        let list: tessera_protocol::AuditList = self.runtime.block_on(async {
            let response = reqwest::Client::new().get(url).bearer_auth(access_token).send().await;
            response.expect("audit request").json().await.expect("audit list")
        });
        list.events.iter().filter(|e| e.detail.as_deref().is_some_and(|d| d.contains("grace window"))).count()
    }

    /// The server's `tessera_active_sessions` gauge (from `/metrics`).
    pub fn active_sessions(&self) -> i64 {
        let url = format!("{}{}", self.url, tessera_protocol::paths::METRICS);
        let text = self
            .runtime
            .block_on(async { reqwest::get(url).await.expect("metrics request").text().await.expect("metrics body") });
        text.lines()
            .find_map(|l| l.strip_prefix("tessera_active_sessions "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("/metrics must have tessera_active_sessions: {text}"))
    }

    /// HTTP status of a refresh grant with `refresh_token` (200: the session lives).
    pub fn refresh_status(&self, refresh_token: &str) -> u16 {
        let url = format!("{}{}", self.url, tessera_protocol::paths::TOKEN);
        let form = tessera_protocol::TokenRequest::refresh(refresh_token, "tessera-desktop");
        self.runtime.block_on(async {
            reqwest::Client::new().post(url).form(&form).send().await.expect("refresh request").status().as_u16()
        })
    }
}

impl Server {
    /// Publishes notification `n` (`{"message":"note n"}`) to alice's outbox.
    pub fn publish(&self, n: i64) {
        self.publish_to(USER, n);
    }

    /// [`publish`](Self::publish) to user `name`.
    pub fn publish_to(&self, name: &str, n: i64) {
        let server = self.inner();
        self.runtime.block_on(async {
            let mut conn = server.state.db.read.acquire().await.expect("server database");
            let user = tessera_server::store::users::by_name(&mut conn, name)
                .await
                .expect("user lookup")
                .expect("the user exists");
            drop(conn);
            let payload = serde_json::json!({ "message": format!("note {n}") });
            tessera_server::notify::outbox::publish(&server.state, user.id, "message", &payload)
                .await
                .expect("publish");
        });
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.runtime.block_on(server.stop());
        }
    }
}

/// The result of one `tessera` run.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Stdout.
    pub stdout: String,
    /// Stderr.
    pub stderr: String,
}

impl Run {
    pub fn from_output(output: Output) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Stdout parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| panic!("stdout must be JSON ({e}): {self:?}"))
    }
}

/// The `tessera` binary with its own config and data dirs.
pub struct Tessera {
    dir: tempfile::TempDir,
    /// Run without any keychain (no D-Bus session bus).
    no_keychain: bool,
}

impl Tessera {
    /// A CLI on the keychain of this test's environment.
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("temp dir"), no_keychain: false }
    }

    /// A CLI that finds no keychain: its session bus address points nowhere.
    pub fn without_keychain() -> Self {
        Self { no_keychain: true, ..Self::new() }
    }

    /// The config dir (`current.json`).
    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    /// The data dir (locks, audit log).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A command for `args`, environment set, stdio not yet.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
        command
            .args(args)
            .env("TESSERA_CONFIG_DIR", self.config_dir())
            .env("TESSERA_DATA_DIR", self.data_dir())
            .env_remove("TESSERA_SERVER")
            .env_remove("TESSERA_USERNAME")
            .env_remove("TESSERA_LOG")
            // A locked keyring would try to prompt on a display and hang.
            .env_remove("DISPLAY");
        if self.no_keychain {
            command.env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/tessera-test-bus");
        }
        command
    }

    /// Runs `args` to completion with `stdin` as standard input.
    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tessera");
        if let Some(mut input) = child.stdin.take() {
            // The child may exit without reading (e.g. usage errors): a broken pipe is fine.
            let _ = input.write_all(stdin.as_bytes());
        }
        Run::from_output(child.wait_with_output().expect("wait for tessera"))
    }

    /// Runs `args` to completion with empty stdin.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, "")
    }

    /// Spawns `args` with piped stdio.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tessera")
    }

    /// `tessera sign-in` as alice with the password on stdin.
    pub fn login(&self, server: &Server) -> Run {
        self.run_with_stdin(
            &["sign-in", "--server", &server.url, "--username", USER, "--password-stdin"],
            &format!("{PASSWORD}\n"),
        )
    }

    /// The audit log file.
    pub fn audit_log(&self) -> PathBuf {
        self.data_dir().join("audit.jsonl")
    }
}

/// A real system browser for sign-in tests: `BROWSER` set to `tools/chromium-sign-in`, which
/// signs in at the server's page in headless Chromium. One profile per `Chromium`, so a second
/// sign-in finds the browser session at the server (single sign-on).
pub struct Chromium {
    profile: tempfile::TempDir,
    log: PathBuf,
}

impl Chromium {
    /// A browser with a fresh profile.
    pub fn new() -> Self {
        let profile = tempfile::tempdir().expect("browser profile dir");
        let log = profile.path().join("browser.log");
        Self { profile, log }
    }

    /// Sets the environment of `command` so the CLI's browser is this one; `types_password`:
    /// whether it knows alice's password to type at the sign-in page.
    pub fn drive(&self, command: &mut Command, action: &str, types_password: bool) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools/chromium-sign-in");
        command
            .env("BROWSER", script)
            .env("TESSERA_TEST_BROWSER_PROFILE", self.profile.path().join("profile"))
            .env("TESSERA_TEST_BROWSER_LOG", &self.log)
            .env("TESSERA_TEST_BROWSER_ACTION", action)
            .env("TESSERA_TEST_USER", USER)
            .env("TESSERA_TEST_PASSWORD", if types_password { PASSWORD } else { "" });
    }

    /// Waits up to 20 s for the browser script to log `text` (it may still be reading the page
    /// after the CLI is done); the log as it then is.
    pub fn log_when(&self, text: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !self.log().contains(text) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        self.log()
    }

    /// What the browser script did so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Tessera {
    /// Runs `args` with `browser` as the system browser.
    pub fn run_with_browser(&self, args: &[&str], browser: &Chromium, action: &str, types_password: bool) -> Run {
        let mut command = self.command(args);
        browser.drive(&mut command, action, types_password);
        let output = command.stdin(Stdio::null()).output().expect("run tessera");
        Run::from_output(output)
    }
}

/// Reads the child's stdout lines on a thread.
pub fn lines_of(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits (failsafe limit only) for a JSON line matching `pick`.
pub fn wait_line(
    lines: &std::sync::mpsc::Receiver<String>,
    what: &str,
    pick: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    loop {
        let line = lines
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("`tessera watch` never printed {what}"));
        let value: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("every line is JSON ({e}): {line}"));
        if pick(&value) {
            return value;
        }
    }
}
