//! Server memory per idle, authenticated WebSocket connection: 10,000 streams (100 users × 100
//! sessions), each resumed and then idle. The clients run in a child process (this binary
//! re-executed with `clients`), so only the server's memory is in the figure: the RSS and PSS
//! growth of this process (`/proc/self/status`, `/proc/self/smaps_rollup`) divided by the number
//! of connections. Each process needs ~10,000 descriptors: raise `ulimit -n` first if needed.
//!
//! `cargo bench -p tessera-server --bench ws_memory` — knob: BENCH_CONNECTIONS (10000).
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "ws_common/mod.rs"]
mod ws_common;

use std::io::Write;
use std::process::Stdio;

use futures_util::StreamExt;
use tessera_server::Config;
use tessera_server::testing::TestServer;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("clients") {
        let (url, tokens) = (args.get(2).cloned().unwrap_or_default(), args.get(3).cloned().unwrap_or_default());
        return runtime.block_on(clients(url, tokens));
    }
    runtime.block_on(server())
}

/// `(VmRSS, Pss)` of this process in KiB.
fn memory_kib() -> (u64, u64) {
    let field = |text: &str, name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default();
    (field(&status, "VmRSS:"), field(&rollup, "Pss:"))
}

async fn server() -> anyhow::Result<()> {
    let connections = ws_common::env_num("BENCH_CONNECTIONS", 10_000) as usize;
    let users = (connections / 100).max(1);
    // 100 streams per user, past the default per-user cap (32): the cap is off for this figure.
    let server = TestServer::start(Config { ws_max_per_user: 0, ..tessera_server::testing::scripted_config() }).await?;
    let user_ids = ws_common::mint_users(&server.state, users).await?;
    let owners: Vec<i64> = (0..connections).map(|i| user_ids[i % users]).collect();
    let tokens = ws_common::mint_tokens(&server.state, &owners).await?;
    let mut file = tempfile::NamedTempFile::new()?;
    for t in &tokens {
        writeln!(file, "{t}")?;
    }
    file.flush()?;

    let before = memory_kib();
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .arg("clients")
        .arg(&server.url)
        .arg(file.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("child stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let mut connected = 0usize;
    while let Some(line) = lines.next_line().await? {
        if let Some(n) = line.strip_prefix("ready ") {
            connected = n.trim().parse()?;
            break;
        }
        println!("clients: {line}");
    }
    let after = memory_kib();
    drop(child.stdin.take()); // the child exits at EOF
    child.wait().await?;

    anyhow::ensure!(connected > 0, "no client connected");
    let per = |a: u64, b: u64| (a.saturating_sub(b) as f64) * 1024.0 / connected as f64;
    println!(
        "ws_memory: {connected} idle authenticated connections: RSS {} → {} KiB ({:.0} B/conn), PSS {} → {} KiB ({:.0} B/conn)",
        before.0,
        after.0,
        per(after.0, before.0),
        before.1,
        after.1,
        per(after.1, before.1),
    );
    Ok(())
}

async fn clients(url: String, tokens_path: String) -> anyhow::Result<()> {
    let tokens: Vec<String> = std::fs::read_to_string(&tokens_path)?.lines().map(str::to_owned).collect();
    let streams: Vec<_> = futures_util::stream::iter(tokens)
        .map(|token| {
            let url = url.clone();
            async move {
                let mut ws = ws_common::connect(&url, &token).await?;
                ws_common::resume(&mut ws, 0, None).await?;
                anyhow::Ok(ws)
            }
        })
        .buffer_unordered(200)
        .collect()
        .await;
    let failures = streams.iter().filter(|r| r.is_err()).count();
    if let Some(Err(e)) = streams.iter().find(|r| r.is_err()) {
        println!("{failures} connections failed, e.g. {e:#}");
    }
    println!("ready {}", streams.len() - failures);
    let mut sink = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    drop(streams);
    Ok(())
}
