//! Token endpoint throughput on loopback: refresh grants/s with p50/p99 latency under concurrent
//! clients, and password sign-ins/s (argon2id-bound). The server runs in this process with its
//! real SQLite file on disk (WAL, synchronous=FULL: every rotation is durable before the reply).
//!
//! `cargo bench -p tessera-server` — knobs: BENCH_CLIENTS (32), BENCH_SECS (10),
//! BENCH_SIGN_INS (24).
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use tessera_protocol::{DeviceInfo, Role, TokenRequest, TokenResponse, paths};
use tessera_server::Config;
use tessera_server::testing::TestServer;

const CLIENT: &str = "tessera-cli";
const PASSWORD: &str = "bench password 123";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let clients = env_num("BENCH_CLIENTS", 32) as usize;
    let secs = env_num("BENCH_SECS", 10);
    let sign_ins = env_num("BENCH_SIGN_INS", 24) as usize;

    // Limits stay on (the code path is measured) but high enough for one loopback IP.
    let config = Config {
        refresh_per_ip_per_min: u32::MAX,
        login_per_ip_per_min: u32::MAX,
        login_per_user_per_min: u32::MAX,
        ..tessera_server::testing::scripted_config()
    };
    let server = TestServer::start(config).await?;
    server.add_user("bench", PASSWORD, Role::Agent).await?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(clients).build()?;
    let token_url = format!("{}{}", server.url, paths::TOKEN);
    let device = DeviceInfo { name: "bench".into(), platform: "linux".into(), app_version: "0".into() };

    // Sign-ins: argon2id (19 MiB, t=2) dominates; the server bounds concurrent hashes to the CPUs.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..sign_ins.max(clients) {
        let (http, url) = (http.clone(), token_url.clone());
        let req = TokenRequest::password("bench", PASSWORD, CLIENT, &device);
        tasks.push(tokio::spawn(async move {
            let t0 = Instant::now();
            let resp: TokenResponse = http.post(url).form(&req).send().await?.error_for_status()?.json().await?;
            anyhow::Ok((resp, t0.elapsed()))
        }));
    }
    let mut sessions = Vec::new();
    let mut sign_in_lat = Vec::new();
    for t in tasks {
        let (resp, lat) = t.await??;
        sessions.push(resp.refresh_token);
        sign_in_lat.push(lat);
    }
    let sign_in_elapsed = started.elapsed();
    sign_in_lat.sort();

    // Refreshes: each client rotates its own session's token in a loop.
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for mut token in sessions.into_iter().take(clients) {
        let (http, url) = (http.clone(), token_url.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(8192);
            while Instant::now() < deadline {
                let t0 = Instant::now();
                let req = TokenRequest::refresh(&token, CLIENT);
                let resp: TokenResponse = http.post(&url).form(&req).send().await?.error_for_status()?.json().await?;
                lat.push(t0.elapsed());
                token = resp.refresh_token;
            }
            anyhow::Ok(lat)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    let elapsed = started.elapsed();
    lat.sort();
    assert_eq!(server.reuse_count(), 0, "the benchmark must not trip reuse detection");
    assert_eq!(server.refresh_count(), lat.len() as u64, "every measured refresh was served");

    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    println!("tessera-server token endpoint (loopback, {cpus} CPUs, server and clients in one process)");
    println!("  storage: SQLite WAL, synchronous=FULL (each rotation fsync'd before the reply)");
    println!(
        "  sign-ins:  {} in {:.2} s = {:.1}/s   p50 {:.1} ms  p99 {:.1} ms",
        sign_in_lat.len(),
        sign_in_elapsed.as_secs_f64(),
        sign_in_lat.len() as f64 / sign_in_elapsed.as_secs_f64(),
        ms(percentile(&sign_in_lat, 0.5)),
        ms(percentile(&sign_in_lat, 0.99)),
    );
    println!(
        "  refreshes: {} in {:.2} s with {clients} clients = {:.0}/s   p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        lat.len(),
        elapsed.as_secs_f64(),
        lat.len() as f64 / elapsed.as_secs_f64(),
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(lat.last().copied().unwrap_or_default()),
    );
    server.stop().await;
    Ok(())
}
