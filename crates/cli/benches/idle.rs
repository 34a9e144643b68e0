//! Idle wake-ups: a `tessera debug watch` process signed in with an access token due in 10
//! minutes and the refresh schedule armed, with nothing else to do. Counts its context switches
//! (voluntary + non-voluntary, summed over all its threads in /proc/<pid>/task/*/status) over
//! BENCH_IDLE_SECS (default 60 s) after a warm-up of BENCH_IDLE_WARMUP_SECS (default 12 s, so
//! the runtime's blocking-pool threads from sign-in have retired; tokio keeps them 10 s).
//!
//!     cargo bench -p tessera-cli --bench idle
//!
//! Prints switches per second (goal: ≤ 0.2/s). Linux only (procfs).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: any failure should stop it loudly

#[path = "../../session/benches/support/wakeups.rs"]
mod wakeups;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use wakeups::{PASSWORD, USER, count_and_print, env_secs, start_server};

fn main() {
    if !cfg!(target_os = "linux") {
        println!("idle wake-up benchmark: Linux only (reads /proc); skipped");
        return;
    }
    let secs = env_secs("BENCH_IDLE_SECS", 60);
    let warmup = env_secs("BENCH_IDLE_WARMUP_SECS", 12);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let server = start_server(&rt);
    let dirs = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["debug", "watch", "--server", &server.url, "--username", USER])
        .env("TESSERA_CONFIG_DIR", dirs.path().join("config"))
        .env("TESSERA_DATA_DIR", dirs.path().join("data"))
        .env_remove("DISPLAY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut ready = String::new();
    stdout.read_line(&mut ready).unwrap();
    let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
    let pid = child.id();
    let status = &ready["status"];
    println!("idle wake-ups of `tessera debug watch` (pid {pid}), signed in to the reference server on loopback");
    println!(
        "  state {}, storage {}, access token expires {} (server TTL 600 s; refresh scheduled 60 s before, minus jitter)",
        status["state"]["state"], status["storage"], status["access_expires_at"]
    );

    count_and_print(pid, warmup, secs);

    // SIGTERM: the watcher signs out (revokes) and exits.
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut stdout, &mut rest);
    let _ = child.wait();
    rt.block_on(server.stop());
}
