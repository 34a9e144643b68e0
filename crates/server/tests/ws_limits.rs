//! Notification streams have limits: connection caps per session, per user and per server
//! (refused upgrades get 429 `too_many_connections` or 503 `server_busy`, with `Retry-After`),
//! opening a stream does not queue on the single writer connection, and a client that stops
//! reading is closed after `ws_send_timeout_secs` instead of freezing its stream's task.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod ws_support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{Harness, config};
use futures_util::StreamExt;
use tessera_protocol::{ErrorBody, ErrorCode, WsClientMessage, paths};
use tessera_server::Config;
use tessera_server::notify::outbox;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use ws_support::{DEADLINE, Ws, connect, resume, ws_url};

/// An upgrade the server refused: HTTP status, error body, Retry-After.
#[derive(Debug)]
struct Refusal {
    status: u16,
    body: ErrorBody,
    retry_after: Option<String>,
}

async fn open(server_url: &str, token: &str) -> Result<Ws, Refusal> {
    let mut req = ws_url(server_url).into_client_request().unwrap();
    req.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let body = resp.body().clone().unwrap_or_default();
            let body: ErrorBody = serde_json::from_slice(&body)
                .unwrap_or_else(|e| panic!("a refused upgrade carries an ErrorBody ({e}): {body:?}"));
            let retry_after = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            Err(Refusal { status: resp.status().as_u16(), body, retry_after })
        }
        Err(e) => panic!("websocket connect failed: {e}"),
    }
}

/// Waits (up to the test deadline) until `done` holds; the server updates its counts when a
/// stream's task ends, a moment after the client saw the close.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "{what} did not happen before the deadline");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn one_token_cannot_open_sixty_streams() {
    let h = Harness::start(config()).await;
    let t = h.sign_in().await;
    let (mut open_streams, mut refusals) = (Vec::new(), Vec::new());
    for _ in 0..60 {
        match open(&h.server.url, &t.access_token).await {
            Ok(ws) => open_streams.push(ws),
            Err(refusal) => refusals.push(refusal),
        }
    }
    assert_eq!((open_streams.len(), refusals.len()), (4, 56), "ws_max_per_session = 4 by default");
    let first = &refusals[0];
    assert_eq!(first.status, 429, "a per-session cap is a client's excess: 429");
    assert_eq!(first.body.code, ErrorCode::TooManyConnections, "stable code: {:?}", first.body);
    assert_eq!(first.retry_after.as_deref(), Some("30"), "Retry-After says when to try again");
    // Closing a stream gives its place back.
    let mut ws = open_streams.pop().unwrap();
    ws.close(None).await.unwrap();
    while ws.next().await.is_some() {}
    let slots = &h.server.state.ws_slots;
    eventually("the closed stream's slot coming back", || slots.open() == 3).await;
    assert!(open(&h.server.url, &t.access_token).await.is_ok(), "a freed place can be taken again");
}

#[tokio::test]
async fn user_and_server_caps_refuse_with_clear_codes() {
    let c = Config { ws_max_per_session: 2, ws_max_per_user: 3, ws_max_connections: 4, ..config() };
    let h = Harness::start(c).await;
    let (a1, a2, b) = (h.sign_in().await, h.sign_in_as("alice", "laptop").await, h.sign_in_as("bob", "desk").await);
    let _held = [
        connect(&h.server.url, &a1.access_token).await,
        connect(&h.server.url, &a1.access_token).await,
        connect(&h.server.url, &a2.access_token).await,
    ];
    let refusal = open(&h.server.url, &a2.access_token).await.unwrap_err();
    assert_eq!((refusal.status, refusal.body.code), (429, ErrorCode::TooManyConnections), "per-user cap (3)");
    let _bob = connect(&h.server.url, &b.access_token).await;
    let refusal = open(&h.server.url, &b.access_token).await.unwrap_err();
    assert_eq!((refusal.status, refusal.body.code), (503, ErrorCode::ServerBusy), "server cap (4): the server is full");
    assert!(refusal.retry_after.is_some(), "503 carries Retry-After");
    let text = h.http.get(h.url(paths::METRICS)).send().await.unwrap().text().await.unwrap();
    for line in ["tessera_ws_refused_total{cap=\"user\"} 1", "tessera_ws_refused_total{cap=\"server\"} 1"] {
        assert!(text.contains(line), "refusals are counted by cap ({line}):\n{text}");
    }
}

#[tokio::test]
async fn a_stream_opens_while_the_single_writer_is_busy() {
    let h = Harness::start(config()).await;
    let t = h.sign_in().await;
    let me: tessera_protocol::Me = h.get(paths::ME, &t.access_token).await.json().await.unwrap();
    let uid: i64 = me.user_id.parse().unwrap();
    outbox::publish(&h.server.state, uid, "message", &serde_json::json!({"message": "hi"})).await.unwrap();
    // Someone holds the one write connection (a long transaction, a burst of rotations).
    let writer = h.server.state.db.write.acquire().await.unwrap();
    let mut ws = connect(&h.server.url, &t.access_token).await;
    let (replayed, _) = resume(&mut ws, 0, None).await;
    assert_eq!(replayed.len(), 1, "the stream opened and replayed without waiting for the writer");
    drop(writer);
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_instead_of_freezing_its_stream() {
    let h = Harness::start(Config { ws_send_timeout_secs: 1, ..config() }).await;
    let t = h.sign_in().await;
    let me: tessera_protocol::Me = h.get(paths::ME, &t.access_token).await.json().await.unwrap();
    let uid: i64 = me.user_id.parse().unwrap();
    // A client with a tiny receive buffer that resumes and then never reads again.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(h.server.addr).await.unwrap();
    let mut req = ws_url(&h.server.url).into_client_request().unwrap();
    req.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Bearer {}", t.access_token)).unwrap());
    let (mut ws, _) = tokio_tungstenite::client_async(req, stream).await.unwrap();
    let resume = serde_json::to_string(&WsClientMessage::Resume { after: 0, epoch: None }).unwrap();
    futures_util::SinkExt::send(&mut ws, tokio_tungstenite::tungstenite::Message::text(resume)).await.unwrap();
    // Publish until the server's sends to it stall long enough to give up.
    let metrics = &h.server.state.metrics;
    let body = "x".repeat(2000);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while metrics.ws_send_timeouts.load(Ordering::Relaxed) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the stalled stream was never given up: its task is frozen");
        for _ in 0..20 {
            outbox::publish(&h.server.state, uid, "message", &serde_json::json!({ "message": body })).await.unwrap();
        }
        tokio::task::yield_now().await;
    }
    let slots = &h.server.state.ws_slots;
    eventually("the stalled stream's slot coming back", || slots.open() == 0).await;
    // Reading now drains what was buffered, then the connection ends.
    let drained = tokio::time::timeout(DEADLINE, async { while let Some(Ok(_)) = ws.next().await {} }).await;
    assert!(drained.is_ok(), "the server closed the connection of the client that stopped reading");
}
