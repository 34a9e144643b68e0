//! The real `tessera-server` binary as a child process: start `serve` and read its address,
//! run one-shot commands, stop with SIGTERM. Shared by the tests that drive the binary.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code, missing_docs)]

use std::collections::HashMap;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tessera_protocol::{DeviceInfo, TokenRequest, paths};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

pub const BIN: &str = env!("CARGO_BIN_EXE_tessera-server");
pub const CLIENT: &str = "tessera-cli";

/// Deadline for the process to say something or to exit. Only there so a hung child fails the
/// test with a message instead of hanging it; it is not a performance threshold.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// The binary with a clean environment: no inherited `TESSERA_SERVER_*` overrides or log filter.
pub fn command(args: &[&str]) -> Command {
    clean(Command::new(BIN), args)
}

/// The binary started by `sh` under `umask` (e.g. `000`), with the environment of [`command`].
pub fn with_umask(umask: &str, args: &[&str]) -> Command {
    let mut shell = Command::new("sh");
    shell.arg("-c").arg(format!("umask {umask} && exec \"$0\" \"$@\"")).arg(BIN);
    clean(shell, args)
}

fn clean(mut cmd: Command, args: &[&str]) -> Command {
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

/// `serve` on a free loopback port with `data_dir` (and `--demo`).
pub fn serve_args(data_dir: &Path, demo: bool) -> Vec<&str> {
    let mut args = vec!["serve", "--addr", "127.0.0.1:0", "--data-dir", data_dir.to_str().unwrap()];
    if demo {
        args.push("--demo");
    }
    args
}

/// `serve` without `--demo` but with the password grant on, as scripted use turns it on (it is
/// off by default): for tests that sign in with a password to reach what they are about.
pub fn serve_scripted(data_dir: &Path) -> Command {
    let mut cmd = command(&serve_args(data_dir, false));
    cmd.env("TESSERA_SERVER_PASSWORD_GRANT", "true");
    cmd
}

/// Collects a child's stderr in the background (so the pipe never fills and blocks it).
pub fn drain(stream: impl AsyncRead + Unpin + Send + 'static) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        let mut text = String::new();
        let mut reader = BufReader::new(stream);
        let _ = reader.read_to_string(&mut text).await;
        text
    })
}

/// A running `tessera-server serve`.
pub struct ServerProcess {
    pub child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Option<tokio::task::JoinHandle<String>>,
    pub url: String,
    /// Demo passwords printed at start, by user name.
    pub passwords: HashMap<String, String>,
    /// Role printed for each demo user.
    pub roles: HashMap<String, String>,
    /// `demo: …` lines: what `--demo` turned on.
    pub notices: Vec<String>,
}

impl ServerProcess {
    /// Starts `serve` on a free port and reads stdout up to `listening on ...`.
    pub async fn start(data_dir: &Path, demo: bool) -> Self {
        Self::start_command(command(&serve_args(data_dir, demo))).await
    }

    /// Starts a prepared `serve` command (see [`serve_args`], [`with_umask`]).
    pub async fn start_command(mut cmd: Command) -> Self {
        let mut child = cmd.spawn().expect("the server binary must start");
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let stderr = Some(drain(child.stderr.take().unwrap()));
        let mut passwords = HashMap::new();
        let mut roles = HashMap::new();
        let mut notices = Vec::new();
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
            if let Some(notice) = line.strip_prefix("demo: ") {
                notices.push(notice.to_owned());
            }
            // `demo user alice (agent) password: X`
            if let Some(rest) = line.strip_prefix("demo user ") {
                let (name, rest) = rest.split_once(' ').unwrap();
                let (role, password) = rest.split_once(" password: ").unwrap();
                roles.insert(name.to_owned(), role.trim_matches(['(', ')']).to_owned());
                passwords.insert(name.to_owned(), password.to_owned());
            }
        };
        Self { child, stdout, stderr, url, passwords, roles, notices }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Sends SIGTERM and waits for the process to end; returns its status and stderr.
    pub async fn terminate(mut self) -> (ExitStatus, String) {
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
pub async fn run(args: &[&str], envs: &[(&str, &str)], stdin: Option<&str>) -> (ExitStatus, String, String) {
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

pub async fn sign_in(http: &reqwest::Client, url: &str, user: &str, password: &str) -> reqwest::Response {
    let device = DeviceInfo { name: "cli test".into(), platform: "linux".into(), app_version: "0.1.0".into() };
    let req = TokenRequest::password(user, password, CLIENT, &device);
    http.post(format!("{url}{}", paths::TOKEN)).form(&req).send().await.unwrap()
}

pub async fn me(http: &reqwest::Client, url: &str, access_token: &str) -> reqwest::Response {
    http.get(format!("{url}{}", paths::ME)).bearer_auth(access_token).send().await.unwrap()
}
