//! Refresh round trip on loopback: the session engine's `refresh_now` (lock file, vault re-read,
//! refresh grant, vault write, audit append) against a bare reqwest refresh grant, interleaved
//! so both see the same machine. Once with a `MemoryVault` (network + engine cost only) and once
//! with the real keychain when one is available.
//!
//!     cargo bench -p tessera-cli --bench refresh          # BENCH_REFRESH_N=500 by default
//!
//! Prints p50/p99/mean per variant and the engine/bare ratio (goal: ≤ 1.2×).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: any failure should stop it loudly

use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_protocol::{DeviceInfo, Role, TokenRequest, TokenResponse, paths};
use tessera_server::testing::TestServer;
use tessera_session::lock::{LOCK_WAIT, RefreshLock};
use tessera_session::{
    Account, AuditEvent, AuditKind, AuditLog, EngineConfig, KeychainVault, MemoryVault, Password, SessionEngine, Vault,
};

const USER: &str = "bench";
const PASSWORD: &str = "bench password";
const WARMUP: usize = 30;

fn main() {
    let n: usize = std::env::var("BENCH_REFRESH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(500);
    // The server gets its own runtime (two workers); the client side runs on one thread, as in
    // the CLI.
    let server_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let config = tessera_server::testing::unlimited_config();
    let server = server_rt.block_on(async {
        let server = TestServer::start(config).await.unwrap();
        server.add_user(USER, PASSWORD, Role::Agent).await.unwrap();
        server
    });
    let client_rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let data = tempfile::tempdir().unwrap();
    println!("refresh round trip on loopback, {n} interleaved pairs after {WARMUP} warm-up each");
    println!("server: reference server in-process (2 worker threads), {}; client: one thread", server.url);
    println!("engine data dir (lock files, audit log): {}", data.path().display());

    client_rt.block_on(async {
        let memory: Arc<dyn Vault> = Arc::new(MemoryVault::new());
        run_variant("MemoryVault", &server.url, &data.path().join("memory"), memory, n).await;
        // The same engine with its audit log unopenable (a directory where the file should be):
        // the engine then runs without one, which isolates what the audit append costs.
        let no_audit = data.path().join("memory-no-audit");
        std::fs::create_dir_all(no_audit.join(tessera_session::audit::FILE_NAME)).unwrap();
        let memory: Arc<dyn Vault> = Arc::new(MemoryVault::new());
        run_variant("MemoryVault, audit log disabled", &server.url, &no_audit, memory, n).await;
        breakdown(&data.path().join("breakdown"), n).await;
        let keychain = KeychainVault::new();
        match keychain.probe().await {
            Ok(()) => {
                let n_keychain = (n / 2).max(50);
                run_variant(
                    "KeychainVault (real Secret Service)",
                    &server.url,
                    &data.path().join("keychain"),
                    Arc::new(keychain),
                    n_keychain,
                )
                .await;
            }
            Err(e) => println!("\nKeychainVault: skipped, no usable keychain here ({}: {e})", e.code()),
        }
    });
    server_rt.block_on(server.stop());
}

async fn run_variant(name: &str, url: &str, data_dir: &std::path::Path, vault: Arc<dyn Vault>, n: usize) {
    let device =
        DeviceInfo { name: "bench".into(), platform: std::env::consts::OS.into(), app_version: "bench".into() };
    let engine =
        SessionEngine::new(EngineConfig::new(url, data_dir, "tessera-cli", device.clone()), vault.clone()).unwrap();
    engine.sign_in(USER, &Password::new(PASSWORD)).await.unwrap();
    let bare = BareClient::sign_in(url, &device).await;
    let mut bare = bare;

    for _ in 0..WARMUP {
        engine.refresh_now().await.unwrap();
        bare.refresh().await;
    }
    let mut engine_times = Vec::with_capacity(n);
    let mut bare_times = Vec::with_capacity(n);
    for i in 0..n {
        // Alternate which goes first so neither always runs on a warmer cache.
        if i % 2 == 0 {
            engine_times.push(time_engine(&engine).await);
            bare_times.push(bare.refresh().await);
        } else {
            bare_times.push(bare.refresh().await);
            engine_times.push(time_engine(&engine).await);
        }
    }
    let (e, b) = (Stats::of(&mut engine_times), Stats::of(&mut bare_times));
    println!("\n{name} (vault tier: {:?})", vault.tier());
    println!("  engine refresh_now : p50 {:>7.3} ms  p99 {:>7.3} ms  mean {:>7.3} ms", e.p50, e.p99, e.mean);
    println!("  bare reqwest grant : p50 {:>7.3} ms  p99 {:>7.3} ms  mean {:>7.3} ms", b.p50, b.p99, b.mean);
    println!(
        "  ratio engine/bare  : p50 {:.2}x  p99 {:.2}x  mean {:.2}x  (goal <= 1.2x)",
        e.p50 / b.p50,
        e.p99 / b.p99,
        e.mean / b.mean
    );
    let m = engine.metrics();
    println!(
        "  engine's own metrics (grant + vault write, no lock/audit): p50 {:?} ms, p99 {:?} ms over the last 256",
        m.refresh_latency_p50_ms, m.refresh_latency_p99_ms
    );
    engine.sign_out().await.unwrap();
}

/// Where the engine's extra time goes: the two pieces of `refresh_now` that a bare grant does
/// not have, each timed alone the way the engine runs it (on the blocking pool).
async fn breakdown(data_dir: &std::path::Path, n: usize) {
    let key = Account::new("http://bench.invalid", USER);
    let mut lock_times = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let lock = RefreshLock::acquire(data_dir, &key, LOCK_WAIT).await.unwrap();
        drop(lock);
        lock_times.push(start.elapsed());
    }
    let log = AuditLog::open(&data_dir.join("breakdown")).unwrap();
    let mut audit_times = Vec::with_capacity(n);
    for _ in 0..n {
        let log = log.clone();
        let start = Instant::now();
        tokio::task::spawn_blocking(move || {
            log.append(chrono::Utc::now(), &AuditEvent::new(AuditKind::Refreshed).session("bench"))
        })
        .await
        .unwrap()
        .unwrap();
        audit_times.push(start.elapsed());
    }
    let (l, a) = (Stats::of(&mut lock_times), Stats::of(&mut audit_times));
    println!("\nbreakdown of the engine's extra work per refresh ({n} each, alone):");
    println!(
        "  refresh lock file (open + flock, blocking pool): p50 {:>7.3} ms  p99 {:>7.3} ms  mean {:>7.3} ms",
        l.p50, l.p99, l.mean
    );
    println!(
        "  audit append (tail read + write)               : p50 {:>7.3} ms  p99 {:>7.3} ms  mean {:>7.3} ms",
        a.p50, a.p99, a.mean
    );
}

async fn time_engine(engine: &SessionEngine) -> Duration {
    let start = Instant::now();
    engine.refresh_now().await.unwrap();
    start.elapsed()
}

/// The least a client can do: POST the refresh grant, parse the JSON, keep the new token.
struct BareClient {
    http: reqwest::Client,
    token_url: String,
    refresh_token: String,
}

impl BareClient {
    async fn sign_in(url: &str, device: &DeviceInfo) -> Self {
        let http = reqwest::Client::new();
        let token_url = format!("{url}{}", paths::TOKEN);
        let form = TokenRequest::password(USER, PASSWORD, "tessera-cli", device);
        let body: TokenResponse = http.post(&token_url).form(&form).send().await.unwrap().json().await.unwrap();
        Self { http, token_url, refresh_token: body.refresh_token }
    }

    async fn refresh(&mut self) -> Duration {
        let start = Instant::now();
        let form = TokenRequest::refresh(self.refresh_token.clone(), "tessera-cli");
        let response = self.http.post(&self.token_url).form(&form).send().await.unwrap();
        assert!(response.status().is_success(), "bare refresh failed: {}", response.status());
        let body: TokenResponse = response.json().await.unwrap();
        self.refresh_token = body.refresh_token;
        start.elapsed()
    }
}

struct Stats {
    p50: f64,
    p99: f64,
    mean: f64,
}

impl Stats {
    fn of(times: &mut [Duration]) -> Self {
        times.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let rank = |p: usize| times[((p * times.len()).div_ceil(100)).clamp(1, times.len()) - 1];
        let mean = times.iter().map(|d| ms(*d)).sum::<f64>() / times.len() as f64;
        Self { p50: ms(rank(50)), p99: ms(rank(99)), mean }
    }
}
