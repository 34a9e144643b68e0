//! Publish → receive latency with 1,000 WebSocket clients on loopback (one user each), server in
//! this process on a real SQLite file (WAL, synchronous=FULL).
//!
//! Two figures: end to end (the publish call, which commits durably, until the client has the
//! frame) and fan-out only (a live item handed to the user's fan-out after commit, until the
//! client has it).
//!
//! `cargo bench -p tessera-server --bench ws_latency` — knobs: BENCH_CLIENTS (1000),
//! BENCH_PUBLISHES (2000).
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "ws_common/mod.rs"]
mod ws_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_protocol::{Notification, WsServerMessage};
use tessera_server::notify::outbox;
use tessera_server::testing::TestServer;
use tokio::sync::mpsc;
use ws_common::{connect, env_num, next, percentile, resume, us};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let clients = env_num("BENCH_CLIENTS", 1000) as usize;
    let publishes = env_num("BENCH_PUBLISHES", 2000) as usize;
    let server = TestServer::start(tessera_server::testing::scripted_config()).await?;
    let users = ws_common::mint_users(&server.state, clients).await?;
    let tokens = ws_common::mint_tokens(&server.state, &users).await?;

    let (tx, mut received) = mpsc::channel::<(usize, i64, Instant)>(clients * 2);
    let (ready_tx, mut ready) = mpsc::channel::<()>(clients);
    for (i, token) in tokens.iter().enumerate() {
        let mut ws = connect(&server.url, token).await?;
        let (tx, ready_tx) = (tx.clone(), ready_tx.clone());
        tokio::spawn(async move {
            if resume(&mut ws, 0, None).await.is_err() {
                return;
            }
            let _ = ready_tx.send(()).await;
            while let Some(message) = next(&mut ws).await {
                if let WsServerMessage::Notification { notification } = message {
                    if tx.send((i, notification.seq, Instant::now())).await.is_err() {
                        return;
                    }
                }
            }
        });
    }
    for _ in 0..clients {
        ready.recv().await;
    }
    println!("ws_latency: {clients} clients connected and resumed");

    let payload = serde_json::json!({ "message": "bench" });
    let mut end_to_end = Vec::with_capacity(publishes);
    let mut last_seq = vec![0i64; clients];
    for n in 0..publishes {
        let i = n % clients;
        let start = Instant::now();
        let published = outbox::publish(&server.state, users[i], "message", &payload).await?;
        let (who, seq, at) = received.recv().await.ok_or_else(|| anyhow::anyhow!("clients gone"))?;
        anyhow::ensure!(who == i && seq == published.seq, "client {who} got seq {seq}, expected {i}/{}", published.seq);
        last_seq[i] = seq;
        end_to_end.push(at - start);
    }

    // Fan-out only: what happens after the commit, without the fsync.
    let mut fanout = Vec::with_capacity(publishes);
    for n in 0..publishes {
        let i = n % clients;
        last_seq[i] += 1;
        let item = Arc::new(Notification {
            seq: last_seq[i],
            kind: "message".into(),
            payload: payload.clone(),
            created_at: chrono_now(),
            read_at: None,
        });
        let start = Instant::now();
        server.state.notify.fanout.send(&users[i], item);
        let (who, seq, at) = received.recv().await.ok_or_else(|| anyhow::anyhow!("clients gone"))?;
        anyhow::ensure!(who == i && seq == last_seq[i], "fan-out reached the wrong client");
        fanout.push(at - start);
    }
    report("end to end (durable publish → client)", &mut end_to_end);
    report("fan-out only (after commit → client)", &mut fanout);
    Ok(())
}

fn chrono_now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

fn report(label: &str, samples: &mut [Duration]) {
    samples.sort();
    println!(
        "ws_latency {label}: n={} p50={:.0} µs p99={:.0} µs max={:.0} µs",
        samples.len(),
        us(percentile(samples, 0.50)),
        us(percentile(samples, 0.99)),
        us(percentile(samples, 1.0)),
    );
}
