//! Shared by the idle wake-up benchmarks of tessera-session (`idle_watch`) and tessera-cli
//! (`idle`, which includes this file by path): the reference server they sign in to, and the
//! count of a process's context switches (voluntary + non-voluntary, summed over all its
//! threads in /proc/<pid>/task/*/status). Linux only.

use std::collections::BTreeMap;
use std::time::Duration;

use tessera_protocol::Role;
use tessera_server::testing::TestServer;

/// The benchmark user.
pub const USER: &str = "idle";
/// Their password.
pub const PASSWORD: &str = "idle password";

/// `name` parsed as seconds, or `default`.
pub fn env_secs(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The reference server on loopback with [`USER`], issuing access tokens due in 10 minutes.
pub fn start_server(rt: &tokio::runtime::Runtime) -> TestServer {
    let config = tessera_server::Config { access_token_ttl_secs: 600, ..tessera_server::testing::scripted_config() };
    rt.block_on(async {
        let server = TestServer::start(config).await.unwrap();
        server.add_user(USER, PASSWORD, Role::Agent).await.unwrap();
        server
    })
}

/// Waits `warmup` seconds, counts `pid`'s context switches over `secs` seconds and prints them
/// per thread and in total, against the goal of 0.2 per second.
pub fn count_and_print(pid: u32, warmup: u64, secs: u64) {
    std::thread::sleep(Duration::from_secs(warmup));
    let start = sample(pid);
    std::thread::sleep(Duration::from_secs(secs));
    let end = sample(pid);

    let mut total = 0u64;
    for (tid, (name, after)) in &end {
        let before = start.get(tid).map_or(0, |(_, n)| *n);
        let delta = after.saturating_sub(before);
        total += delta;
        let new = if start.contains_key(tid) { "" } else { " (new)" };
        println!("    thread {tid:<8} {name:<24} {delta} switches{new}");
    }
    let gone = start.keys().filter(|t| !end.contains_key(t)).count();
    println!(
        "  after a {warmup} s warm-up, over {secs} s: {} threads at start, {} at end, {gone} exited meanwhile \
         (their switches are not counted)",
        start.len(),
        end.len()
    );
    println!("  total {total} context switches = {:.3}/s (goal <= 0.2/s)", total as f64 / secs as f64);
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
