//! Password hashing stays bounded when sign-ins are cancelled: a storm of sign-ins from many
//! loopback source addresses (127.0.0.0/8), each closed by its client 30 ms after sending, never
//! runs more argon2 hashes at once than `password_hash_concurrency`; a full wait queue is
//! answered 503 `server_busy` with `Retry-After`.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{Harness, expect_error};
use reqwest::StatusCode;
use tessera_protocol::{ErrorCode, paths};
use tessera_server::Config;
use tokio::io::AsyncWriteExt;

const STORM: u8 = 160;
/// How long each attacking client keeps its request open before closing it (the attack's shape,
/// not a wait for the server).
const CLOSE_AFTER: Duration = Duration::from_millis(30);

/// One sign-in for an unknown user (hashed against the dummy hash), sent from 127.0.0.`host`
/// and abandoned after [`CLOSE_AFTER`].
async fn abandoned_sign_in(server: SocketAddr, host: u8, n: u8) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((Ipv4Addr::new(127, 0, 0, host), 0))).unwrap();
    let mut stream = socket.connect(server).await.unwrap();
    let body = format!("grant_type=password&username=storm{n}&password=guess&client_id=tessera-cli");
    let request = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{body}",
        paths::TOKEN,
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(CLOSE_AFTER).await;
    drop(stream);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_sign_ins_from_many_addresses_never_run_more_hashes_than_allowed() {
    // Default rate limits stay on: one request per source address keeps under them.
    let config = Config { password_hash_concurrency: 2, ..tessera_server::testing::scripted_config() };
    let h = Harness::start(config).await;
    let metrics = &h.server.state.metrics;
    let storm: Vec<_> =
        (0..STORM).map(|n| tokio::spawn(abandoned_sign_in(h.server.addr, n.wrapping_add(2), n))).collect();
    for client in storm {
        client.await.unwrap();
    }
    // Holding every slot means every hash the storm started has finished (and none runs).
    let hold = h.server.state.hasher.hold_all().await.unwrap();
    let running = metrics.password_hashes_running.load(Ordering::Relaxed);
    assert_eq!(running, 0, "with every slot held no hash may run: the count must follow the slots");
    drop(hold);
    let max = metrics.password_hashes_running_max.load(Ordering::Relaxed);
    assert!(max >= 1, "the storm must have reached the hasher (max running {max})");
    assert!(max <= 2, "cancelled sign-ins must keep their hash slot until the hash ends: {max} ran at once, 2 allowed");
    let text = h.http.get(h.url(paths::METRICS)).send().await.unwrap().text().await.unwrap();
    assert!(text.contains(&format!("tessera_password_hashes_running_max {max}")), "the gauge is exported:\n{text}");
    h.sign_in().await; // the server still signs people in
}

#[tokio::test]
async fn a_full_hash_queue_is_answered_503_with_retry_after() {
    let config = Config { password_hash_concurrency: 1, password_hash_queue: 0, ..common::config() };
    let h = Harness::start(config).await;
    // Every hash slot busy (as during a storm), nobody may wait.
    let hold = h.server.state.hasher.hold_all().await.unwrap();
    let device = tessera_protocol::DeviceInfo { name: "d".into(), platform: "linux".into(), app_version: "0".into() };
    let req = tessera_protocol::TokenRequest::password("alice", common::PASSWORD, common::CLIENT, &device);
    let resp = h.token(&req).await;
    assert_eq!(resp.headers()["retry-after"], "1", "Retry-After tells the client when to come back");
    expect_error(resp, StatusCode::SERVICE_UNAVAILABLE, ErrorCode::ServerBusy).await;
    let busy = h.server.state.metrics.password_hash_busy.load(Ordering::Relaxed);
    assert_eq!(busy, 1, "the refusal is counted for /metrics");
    drop(hold);
    assert_eq!(h.token(&req).await.status(), StatusCode::OK, "with a free slot the same sign-in succeeds");
}
