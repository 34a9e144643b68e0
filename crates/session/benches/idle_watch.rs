//! Idle wake-ups of a signed-in engine with the refresh schedule AND the idle watch armed,
//! nothing due: a child process (this binary again) signs in to the reference server on
//! loopback (access token due in 10 minutes), starts the schedule and an `IdleWatch` over an
//! idle source that always reports 0 s (an active user: the watch sleeps until the warning
//! could start, 14 min away, and mirrors activity every 3 min), with the default settings (no
//! logind here: a clock comparison every 30 s). The parent counts the child's context switches
//! (voluntary + non-voluntary, all threads, /proc/<pid>/task/*/status) over BENCH_IDLE_SECS
//! (default 60 s) after BENCH_IDLE_WARMUP_SECS (default 12 s: tokio retires the blocking-pool
//! threads of the sign-in after 10 s).
//!
//!     cargo bench -p tessera-session --bench idle_watch
//!
//! Prints switches per second (goal: ≤ 0.2/s). Linux only (procfs).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: any failure should stop it loudly

#[path = "support/wakeups.rs"]
mod wakeups;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tessera_protocol::DeviceInfo;
use tessera_session::{EngineConfig, IdleError, IdleSource, IdleWatch, MemoryVault, Password, SessionEngine};
use wakeups::{PASSWORD, USER, count_and_print, env_secs, start_server};

const CHILD: &str = "TESSERA_BENCH_IDLE_WATCH_SERVER";

/// An always-active user.
struct ZeroIdle;

impl IdleSource for ZeroIdle {
    fn name(&self) -> &'static str {
        "zero"
    }
    fn idle_time(&self) -> Result<Duration, IdleError> {
        Ok(Duration::ZERO)
    }
}

fn main() {
    if let Ok(url) = std::env::var(CHILD) {
        child(&url);
        return;
    }
    if !cfg!(target_os = "linux") {
        println!("idle-watch wake-up benchmark: Linux only (reads /proc); skipped");
        return;
    }
    let secs = env_secs("BENCH_IDLE_SECS", 60);
    let warmup = env_secs("BENCH_IDLE_WARMUP_SECS", 12);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let server = start_server(&rt);
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD, &server.url)
        .env("TESSERA_BENCH_DATA", data.path())
        .env_remove("DISPLAY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut ready = String::new();
    stdout.read_line(&mut ready).unwrap();
    let pid = child.id();
    println!(
        "idle wake-ups of a signed-in engine with schedule + idle watch (pid {pid}), reference server on loopback"
    );
    println!("  {}", ready.trim());

    count_and_print(pid, warmup, secs);

    drop(child.stdin.take()); // the child exits when its stdin closes
    let mut rest = String::new();
    let _ = stdout.read_to_string(&mut rest);
    let _ = child.wait();
    rt.block_on(server.stop());
}

fn child(url: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let data = std::env::var("TESSERA_BENCH_DATA").unwrap();
        let device = DeviceInfo { name: "bench".into(), platform: "linux".into(), app_version: "0".into() };
        let config = EngineConfig::new(url, data, "tessera-desktop", device);
        let engine = SessionEngine::new(config, Arc::new(MemoryVault::new())).unwrap();
        engine.sign_in(USER, &Password::new(PASSWORD)).await.unwrap();
        let _schedule = engine.spawn_scheduler();
        let watch = IdleWatch::spawn(engine.clone(), Some(Arc::new(ZeroIdle)));
        tokio::time::sleep(Duration::from_millis(500)).await;
        println!("ready: state {}, idle {}", engine.state().name(), serde_json::to_string(&watch.status()).unwrap());
        // Wait for the parent to close stdin, off the runtime's threads.
        tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        })
        .await
        .unwrap();
        drop(watch);
    });
}
