//! Reliability: a client is forcibly disconnected 1,000 times while notifications keep being
//! published (every 100th disconnect is a server kill and restart on the same data dir and
//! port); after each it reconnects and resumes from the last seq it holds. At the end, every
//! published seq is compared with what the client received: lost and duplicated counts.
//!
//! `cargo bench -p tessera-server --bench ws_reliability` — knobs: BENCH_DISCONNECTS (1000),
//! BENCH_RESTART_EVERY (100; 0 = never).
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "ws_common/mod.rs"]
mod ws_common;

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::Rng;
use tessera_protocol::WsServerMessage;
use tessera_server::clock::{Clock, SystemClock};
use tessera_server::notify::outbox;
use tessera_server::testing::TestServer;
use tessera_server::{Config, SharedState};
use tokio::sync::oneshot;
use ws_common::{connect, env_num, next, resume};

/// Publishes until told to stop; returns how many it published.
fn start_publisher(state: SharedState, user: i64) -> (oneshot::Sender<()>, tokio::task::JoinHandle<u64>) {
    let (stop, mut stopped) = oneshot::channel();
    let task = tokio::spawn(async move {
        let payload = serde_json::json!({ "message": "flow" });
        let mut count = 0;
        loop {
            if stopped.try_recv().is_ok() {
                return count;
            }
            match outbox::publish(&state, user, "message", &payload).await {
                Ok(_) => count += 1,
                Err(e) => {
                    eprintln!("publish failed: {e:#}");
                    return count;
                }
            }
            tokio::task::yield_now().await;
        }
    });
    (stop, task)
}

/// Connection caps off: this measures delivery across reconnects, and a reconnect may arrive
/// before the server has noticed the dropped stream.
fn uncapped() -> Config {
    Config { ws_max_per_session: 0, ws_max_per_user: 0, ..tessera_server::testing::scripted_config() }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let disconnects = env_num("BENCH_DISCONNECTS", 1000);
    let restart_every = env_num("BENCH_RESTART_EVERY", 100);
    let dir = tempfile::tempdir()?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut server = TestServer::start_in(dir.path(), uncapped(), clock.clone()).await?;
    let addr = server.addr.to_string();
    let user = ws_common::mint_users(&server.state, 1).await?[0];
    let token = ws_common::mint_tokens(&server.state, &[user]).await?.remove(0);

    let mut received: BTreeMap<i64, u32> = BTreeMap::new();
    let mut order_violations = 0u64;
    let mut last = 0i64;
    let mut epoch: Option<String> = None;
    let mut published = 0u64;
    let (mut stop, mut publisher) = start_publisher(server.state.clone(), user);
    let mut rng = rand::thread_rng();
    let started = std::time::Instant::now();
    for cycle in 1..=disconnects {
        let mut ws = connect(&server.url, &token).await?;
        let (replayed, e) = resume(&mut ws, last, epoch.as_deref()).await?;
        epoch = Some(e);
        let mut take = |seq: i64| {
            if seq <= last {
                order_violations += 1;
            }
            last = last.max(seq);
            *received.entry(seq).or_default() += 1;
        };
        replayed.into_iter().for_each(&mut take);
        let live = rng.gen_range(1..=5);
        for _ in 0..live {
            match next(&mut ws).await {
                Some(WsServerMessage::Notification { notification }) => take(notification.seq),
                Some(other) => anyhow::bail!("unexpected {other:?}"),
                None => break,
            }
        }
        if restart_every > 0 && cycle % restart_every == 0 {
            // Killed while the client is connected and frames may be in flight.
            let _ = stop.send(());
            published += publisher.await?;
            server.kill().await;
            drop(ws);
            server = TestServer::start_on(&addr, dir.path(), uncapped(), clock.clone()).await?;
            (stop, publisher) = start_publisher(server.state.clone(), user);
        } else {
            drop(ws); // forced disconnect: no close handshake
        }
    }
    let _ = stop.send(());
    published += publisher.await?;
    // Collect the tail with one last resume.
    let mut ws = connect(&server.url, &token).await?;
    let (tail, _) = resume(&mut ws, last, epoch.as_deref()).await?;
    for seq in tail {
        *received.entry(seq).or_default() += 1;
    }
    let published = i64::try_from(published)?;
    let lost = (1..=published).filter(|s| !received.contains_key(s)).count();
    let duplicated: u32 = received.values().map(|n| n - 1).sum();
    let unknown = received.keys().filter(|s| **s > published || **s < 1).count();
    println!(
        "ws_reliability: {disconnects} forced disconnects ({} server kills/restarts) in {:.1} s, {published} published: lost={lost} duplicated={duplicated} out_of_order={order_violations} unknown={unknown}",
        disconnects.checked_div(restart_every).unwrap_or(0),
        started.elapsed().as_secs_f64(),
    );
    server.stop().await;
    Ok(())
}
