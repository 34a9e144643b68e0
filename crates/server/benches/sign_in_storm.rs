//! A storm of abandoned sign-ins against the real server (in this process, real SQLite file):
//! BENCH_STORM (160) clients, each from its own loopback source address (127.0.0.0/8, so the
//! per-IP limit does not stop them), send a password sign-in for an unknown user and close the
//! connection after BENCH_CLOSE_MS (30) ms. Prints the most argon2 hashes that ran at once and
//! the process's peak RSS during the storm (the kernel's VmHWM, reset before the storm), then a
//! second storm whose clients wait for their answers (how many were served, how many got 503).
//!
//! `cargo bench -p tessera-server --bench sign_in_storm` — knobs: BENCH_STORM (160),
//! BENCH_CLOSE_MS (30), BENCH_HASH_CONCURRENCY (0 = CPUs).
// Helpers outside #[test] functions unwrap too: in a benchmark, a failed unwrap is a failed run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tessera_protocol::paths;
use tessera_server::Config;
use tessera_server::testing::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A `/proc/self/status` field in MiB (`VmRSS:`, `VmHWM:`).
fn status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// Resets VmHWM to the current RSS (Linux: `echo 5 > /proc/self/clear_refs`).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// One sign-in for `storm{n}` from 127.0.0.`host`; with `close_after`, the connection is
/// dropped then; without, the answer's status is returned.
async fn sign_in(server: SocketAddr, n: u32, close_after: Option<Duration>) -> Option<u16> {
    let host = u8::try_from(2 + n % 250).unwrap_or(2);
    let third = u8::try_from(n / 250).unwrap_or(0);
    let socket = tokio::net::TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::from((Ipv4Addr::new(127, 0, third, host), 0))).ok()?;
    let mut stream = socket.connect(server).await.ok()?;
    let body = format!("grant_type=password&username=storm{n}&password=guess&client_id=tessera-cli");
    let request = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{body}",
        paths::TOKEN,
        body.len()
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    if let Some(after) = close_after {
        tokio::time::sleep(after).await;
        return None;
    }
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    response.split(' ').nth(1).and_then(|s| s.parse().ok())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let storm = env_num("BENCH_STORM", 160) as u32;
    let close_after = Duration::from_millis(env_num("BENCH_CLOSE_MS", 30));
    let concurrency = env_num("BENCH_HASH_CONCURRENCY", 0) as usize;
    let server = TestServer::start(Config {
        password_hash_concurrency: concurrency,
        ..tessera_server::testing::scripted_config()
    })
    .await?;
    let metrics = &server.state.metrics;
    let concurrency = server.state.hasher.concurrency();

    let baseline = status_mib("VmRSS:");
    let peak_is_exact = reset_peak();
    let started = Instant::now();
    let clients: Vec<_> = (0..storm).map(|n| tokio::spawn(sign_in(server.addr, n, Some(close_after)))).collect();
    for c in clients {
        c.await?;
    }
    drop(server.state.hasher.hold_all().await?); // every hash the storm started has finished
    let drained = started.elapsed();
    let peak = status_mib("VmHWM:");
    let max_running = metrics.password_hashes_running_max.load(Ordering::Relaxed);
    let busy = metrics.password_hash_busy.load(Ordering::Relaxed);

    let started = Instant::now();
    let clients: Vec<_> = (0..storm).map(|n| tokio::spawn(sign_in(server.addr, storm + n, None))).collect();
    let (mut answered, mut refused, mut other) = (0u32, 0u32, 0u32);
    for c in clients {
        match c.await? {
            Some(400) => answered += 1,
            Some(503) => refused += 1,
            _ => other += 1,
        }
    }
    let waited = started.elapsed();

    println!(
        "tessera-server sign-in storm (loopback, {concurrency} hash slots, queue {})",
        server.state.config.password_hash_queue
    );
    println!("  {storm} sign-ins from {storm} source addresses, each closed after {} ms:", close_after.as_millis());
    println!(
        "    hashes running max {max_running}, peak RSS {peak:.0} MiB{} (baseline {baseline:.0} MiB), {busy} refused 503, drained in {:.2} s",
        if peak_is_exact { "" } else { " (VmHWM not reset: since start)" },
        drained.as_secs_f64()
    );
    println!(
        "  {storm} sign-ins that wait for their answer: {answered} answered (wrong password), {refused} refused 503 server_busy, {other} other, in {:.2} s",
        waited.as_secs_f64()
    );
    println!(
        "    hashes running max {}, peak RSS {:.0} MiB",
        metrics.password_hashes_running_max.load(Ordering::Relaxed),
        status_mib("VmHWM:")
    );
    server.stop().await;
    Ok(())
}
