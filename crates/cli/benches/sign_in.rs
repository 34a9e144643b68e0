//! Time to signed in, browser sign-in next to the password sign-in it replaces, interleaved in
//! one run: `tessera login --server URL` (authorization code + PKCE over the loopback redirect,
//! the browser already signed in at the server, as a staff member's browser is after the first
//! sign-in of the day) against `tessera sign-in --username … --password-stdin` (password grant,
//! argon2id at the server). Each is the whole `tessera` process: start, discovery, (listener,
//! browser, callback, code exchange, id_token check,) keychain write, exit. Not timed: the
//! `tessera logout` after each.
//!
//! The browser is `curl` with a cookie jar (`tools/curl-browser`: it keeps the server's
//! browser-session cookie and follows the redirect to the app's callback), so the figure is
//! Tessera's and the server's cost, not a browser's start-up. Run it where the keychain is usable
//! (a D-Bus session with an unlocked gnome-keyring, as `tools/test` provides); without one the
//! CLI keeps the session in memory and says so.
//!
//!     cargo bench -p tessera-cli --bench sign_in          # BENCH_SIGN_IN_N=20 pairs by default
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: any failure should stop it loudly

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tessera_protocol::Role;
use tessera_server::testing::TestServer;

const USER: &str = "bench";
const PASSWORD: &str = "bench password 123";

/// `BROWSER` for the benchmark: curl with a cookie jar (see the script).
const BROWSER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools/curl-browser");

fn tessera(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    command
        .args(args)
        .env("TESSERA_CONFIG_DIR", dir.join("config"))
        .env("TESSERA_DATA_DIR", dir.join("data"))
        .env("BROWSER", BROWSER)
        .env("TESSERA_BENCH_JAR", dir.join("cookies"))
        .env("TESSERA_BENCH_USER", USER)
        .env("TESSERA_BENCH_PASSWORD", PASSWORD)
        .env_remove("TESSERA_LOG")
        .env_remove("DISPLAY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Runs `command` (writing `stdin` to it) and returns how long it took; panics if it failed.
fn timed(mut command: Command, stdin: Option<&str>) -> Duration {
    let started = Instant::now();
    let mut child = command.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() }).spawn().unwrap();
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let took = started.elapsed();
    assert!(out.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    took
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let n: usize = std::env::var("BENCH_SIGN_IN_N").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let server_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let config = tessera_server::testing::unlimited_config();
    let server = server_rt.block_on(async {
        let server = TestServer::start(config).await.unwrap();
        server.add_user(USER, PASSWORD, Role::Agent).await.unwrap();
        server
    });
    let dir = tempfile::tempdir().unwrap();
    let url = server.url.clone();
    let login = || tessera(dir.path(), &["login", "--server", &url, "--timeout", "30"]);
    let password = || tessera(dir.path(), &["sign-in", "--server", &url, "--username", USER, "--password-stdin"]);
    let logout = || timed(tessera(dir.path(), &["logout"]), None);
    let stdin = format!("{PASSWORD}\n");

    // Warm-up: the first browser sign-in fills the form (the browser session starts there).
    timed(login(), None);
    logout();
    timed(password(), Some(&stdin));
    logout();

    let (mut browser_ms, mut password_ms, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let (b, p) = if i % 2 == 0 {
            let b = timed(login(), None);
            logout();
            let p = timed(password(), Some(&stdin));
            logout();
            (b, p)
        } else {
            let p = timed(password(), Some(&stdin));
            logout();
            let b = timed(login(), None);
            logout();
            (b, p)
        };
        browser_ms.push(ms(b));
        password_ms.push(ms(p));
        ratios.push(ms(b) / ms(p));
    }
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    println!("time to signed in with the tessera CLI, {n} interleaved pairs after a warm-up ({cpus} CPUs, loopback)");
    println!("  browser (code + PKCE, browser signed in at the server): median {:.1} ms", median(&mut browser_ms));
    println!("  password grant (argon2id at the server):                median {:.1} ms", median(&mut password_ms));
    println!("  ratio browser/password, median of pairs: {:.2}x", median(&mut ratios));
    server_rt.block_on(server.stop());
}
