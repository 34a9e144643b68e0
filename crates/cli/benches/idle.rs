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

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use tessera_protocol::Role;
use tessera_server::testing::TestServer;

const USER: &str = "idle";
const PASSWORD: &str = "idle password";

fn main() {
    if !cfg!(target_os = "linux") {
        println!("idle wake-up benchmark: Linux only (reads /proc); skipped");
        return;
    }
    let secs = env_secs("BENCH_IDLE_SECS", 60);
    let warmup = env_secs("BENCH_IDLE_WARMUP_SECS", 12);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // "A token due in 10 minutes."
    let config = tessera_server::Config { access_token_ttl_secs: 600, ..Default::default() };
    let server = rt.block_on(async {
        let server = TestServer::start(config).await.unwrap();
        server.add_user(USER, PASSWORD, Role::Agent).await.unwrap();
        server
    });
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

    std::thread::sleep(Duration::from_secs(warmup));
    let start = sample(pid);
    std::thread::sleep(Duration::from_secs(secs));
    let end = sample(pid);

    let mut total = 0u64;
    let mut rows = Vec::new();
    for (tid, (name, after)) in &end {
        let before = start.get(tid).map_or(0, |(_, n)| *n);
        let delta = after.saturating_sub(before);
        total += delta;
        rows.push(format!(
            "    thread {tid:<8} {name:<24} {delta} switches{}",
            if start.contains_key(tid) { "" } else { " (new)" }
        ));
    }
    let gone: Vec<_> = start.keys().filter(|t| !end.contains_key(t)).collect();
    println!(
        "  after a {warmup} s warm-up, over {secs} s: {} threads at start, {} at end, {} exited meanwhile (their switches are not counted)",
        start.len(),
        end.len(),
        gone.len()
    );
    for row in rows {
        println!("{row}");
    }
    println!("  total {total} context switches = {:.3}/s (goal <= 0.2/s)", total as f64 / secs as f64);

    // SIGTERM: the watcher signs out (revokes) and exits.
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut stdout, &mut rest);
    let _ = child.wait();
    rt.block_on(server.stop());
}

fn env_secs(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Per thread: name and voluntary + non-voluntary context switches so far.
fn sample(pid: u32) -> BTreeMap<u32, (String, u64)> {
    let mut threads = BTreeMap::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap().flatten() {
        let Ok(tid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(text) = std::fs::read_to_string(entry.path().join("status")) else { continue };
        let field =
            |key: &str| text.lines().find_map(|l| l.strip_prefix(key)).map(|v| v.trim().to_owned()).unwrap_or_default();
        let switches = field("voluntary_ctxt_switches:").parse::<u64>().unwrap_or(0)
            + field("nonvoluntary_ctxt_switches:").parse::<u64>().unwrap_or(0);
        threads.insert(tid, (field("Name:"), switches));
    }
    threads
}
