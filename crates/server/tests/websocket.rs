//! The notification stream over a real WebSocket: replay after a disconnect, a killed and
//! restarted server, revocation, token expiry, reset.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod ws_support;

use std::sync::Arc;

use common::{Harness, config};
use tessera_protocol::{ErrorCode, WS_CLOSE_SESSION_ENDED, WS_CLOSE_TOKEN_EXPIRED, WsServerMessage, paths};
use tessera_server::clock::Clock;
use tessera_server::notify::outbox;
use tessera_server::testing::TestServer;
use ws_support::{Event, connect, next_event, next_message, next_notification, resume, try_connect};

async fn user_id(server: &TestServer, name: &str) -> i64 {
    let mut conn = server.state.db.read.acquire().await.unwrap();
    tessera_server::store::users::by_name(&mut conn, name).await.unwrap().expect("user exists").id
}

async fn publish(server: &TestServer, user: i64, n: i64) {
    let payload = serde_json::json!({ "message": format!("note {n}") });
    outbox::publish(&server.state, user, "message", &payload).await.expect("publish must succeed");
}

#[tokio::test]
async fn an_agent_who_drops_off_gets_what_was_missed_on_reconnect() {
    let h = Harness::start(config()).await;
    let alice = h.sign_in().await;
    let uid = user_id(&h.server, "alice").await;

    let mut ws = connect(&h.server.url, &alice.access_token).await;
    let (replayed, epoch) = resume(&mut ws, 0, None).await;
    assert!(replayed.is_empty(), "a new user has no history");
    for n in 1..=2 {
        publish(&h.server, uid, n).await;
    }
    let live: Vec<i64> =
        [next_notification(&mut ws).await, next_notification(&mut ws).await].iter().map(|n| n.seq).collect();
    assert_eq!(live, vec![1, 2], "live notifications arrive in order");
    drop(ws);

    for n in 3..=5 {
        publish(&h.server, uid, n).await;
    }
    let mut ws = connect(&h.server.url, &alice.access_token).await;
    let (replayed, epoch_again) = resume(&mut ws, 2, Some(&epoch)).await;
    assert_eq!(epoch_again, epoch, "the stream's epoch is stable");
    let seqs: Vec<i64> = replayed.iter().map(|n| n.seq).collect();
    assert_eq!(seqs, vec![3, 4, 5], "exactly what was missed is replayed");
    assert_eq!(replayed[0].payload["message"], "note 3", "payload survives the outbox");
    publish(&h.server, uid, 6).await;
    assert_eq!(next_notification(&mut ws).await.seq, 6, "after the replay the stream is live");

    // The server notices the dropped socket on its own time: wait (with a deadline) for the gauge.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let metrics = loop {
        let text = h.http.get(h.url(paths::METRICS)).send().await.unwrap().text().await.unwrap();
        if text.contains("tessera_ws_connections_open 1\n") || tokio::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let value = |name: &str| metrics.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<u64>().ok());
    assert_eq!(value("tessera_notifications_published_total"), Some(6), "every publish is counted\n{metrics}");
    assert_eq!(value("tessera_ws_notifications_sent_total"), Some(6), "2 live + 3 replayed + 1 live, none twice");
    assert_eq!(value("tessera_ws_connections_total"), Some(2), "two streams were opened");
    assert_eq!(value("tessera_ws_connections_open"), Some(1), "the dropped one is closed, this one open");
}

#[tokio::test]
async fn a_server_killed_mid_stream_and_restarted_loses_and_duplicates_nothing() {
    let h = Harness::start(config()).await;
    let alice = h.sign_in().await;
    let uid = user_id(&h.server, "alice").await;
    let Harness { server, clock, dir, .. } = h;

    let mut ws = connect(&server.url, &alice.access_token).await;
    let (_, epoch) = resume(&mut ws, 0, None).await;
    for n in 1..=5 {
        publish(&server, uid, n).await;
    }
    let mut got = vec![next_notification(&mut ws).await.seq, next_notification(&mut ws).await.seq];
    let addr = server.addr.to_string();
    server.kill().await;
    // Whatever was already in flight may still arrive; then the connection is gone.
    while let Event::Message(WsServerMessage::Notification { notification }) = next_event(&mut ws).await {
        got.push(notification.seq);
    }

    let server = TestServer::start_on(&addr, dir.path(), config(), clock.clone() as Arc<dyn Clock>).await.unwrap();
    for n in 6..=10 {
        publish(&server, uid, n).await;
    }
    let mut ws = connect(&server.url, &alice.access_token).await;
    let last = *got.last().expect("some notifications arrived before the kill");
    let (replayed, epoch_after) = resume(&mut ws, last, Some(&epoch)).await;
    assert_eq!(epoch_after, epoch, "a restart is not a history reset");
    got.extend(replayed.iter().map(|n| n.seq));
    assert_eq!(got, (1..=10).collect::<Vec<_>>(), "every notification exactly once, in order, across the kill");
    server.stop().await;
}

#[tokio::test]
async fn signing_out_a_device_remotely_pushes_session_revoked_and_closes_its_stream() {
    let h = Harness::start(config()).await;
    let desk = h.sign_in_as("alice", "desk").await;
    let laptop = h.sign_in_as("alice", "laptop").await;
    let mut ws = connect(&h.server.url, &desk.access_token).await;
    resume(&mut ws, 0, None).await;

    let resp = h.post(paths::SESSIONS_REVOKE_OTHERS, &laptop.access_token).await;
    assert!(resp.status().is_success(), "revoke-others must succeed: {}", resp.status());
    let message = next_message(&mut ws).await;
    assert_eq!(message, WsServerMessage::SessionRevoked { reason: ErrorCode::SessionRevoked }, "the desk hears why");
    match next_event(&mut ws).await {
        Event::Closed(code) => assert_eq!(code, Some(WS_CLOSE_SESSION_ENDED), "closed with the documented code"),
        other => panic!("the stream must close after session.revoked, got {other:?}"),
    }
    let refused = try_connect(&h.server.url, &desk.access_token).await.err();
    assert_eq!(refused, Some(401), "a revoked session cannot open a new stream");
}

#[tokio::test]
async fn refresh_token_reuse_revokes_the_session_and_its_stream_hears_it() {
    let mut c = config();
    c.refresh_grace_secs = 0;
    let h = Harness::start(c).await;
    let t = h.sign_in().await;
    let mut ws = connect(&h.server.url, &t.access_token).await;
    resume(&mut ws, 0, None).await;
    assert!(h.refresh(&t.refresh_token).await.status().is_success(), "first refresh rotates");
    h.clock.advance(std::time::Duration::from_secs(1));
    let replay = h.refresh(&t.refresh_token).await;
    assert!(replay.status().is_client_error(), "the old refresh token is refused");
    let message = next_message(&mut ws).await;
    assert_eq!(
        message,
        WsServerMessage::SessionRevoked { reason: ErrorCode::RefreshReuseDetected },
        "reuse detection reaches the open stream with its reason"
    );
}

/// A server on the system clock (deadlines fire in real time) and alice's tokens.
async fn alice_on_a_real_clock(c: tessera_server::Config) -> (TestServer, tessera_protocol::TokenResponse) {
    let server = TestServer::start(c).await.unwrap();
    server.add_user("alice", common::PASSWORD, tessera_protocol::Role::Agent).await.unwrap();
    let http = reqwest::Client::new();
    let device = tessera_protocol::DeviceInfo { name: "d".into(), platform: "linux".into(), app_version: "0".into() };
    let req = tessera_protocol::TokenRequest::password("alice", common::PASSWORD, common::CLIENT, &device);
    let t: tessera_protocol::TokenResponse =
        http.post(format!("{}{}", server.url, paths::TOKEN)).form(&req).send().await.unwrap().json().await.unwrap();
    (server, t)
}

#[tokio::test]
async fn an_expired_access_token_closes_the_stream_with_4001() {
    let mut c = config();
    c.access_token_ttl_secs = 1;
    let (server, t) = alice_on_a_real_clock(c).await;
    let mut ws = connect(&server.url, &t.access_token).await;
    ws_support::send_resume(&mut ws, 0, None).await;
    loop {
        match next_event(&mut ws).await {
            Event::Message(WsServerMessage::Resumed { .. }) => continue,
            Event::Closed(code) => {
                assert_eq!(code, Some(WS_CLOSE_TOKEN_EXPIRED), "token expiry closes with 4001 so the client refreshes");
                break;
            }
            Event::Message(other) => panic!("unexpected message before expiry: {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_idle_session_ends_its_open_stream_at_the_idle_deadline_not_at_the_next_ping() {
    let mut c = config();
    c.session_idle_timeout_secs = 2;
    c.ws_ping_interval_secs = 3600; // a ping check would come far too late for the deadline below
    let (server, t) = alice_on_a_real_clock(c).await;
    let mut ws = connect(&server.url, &t.access_token).await;
    resume(&mut ws, 0, None).await;
    // ws_support's DEADLINE (20 s) bounds this wait; the ping would come after an hour.
    let message = next_message(&mut ws).await;
    assert_eq!(
        message,
        WsServerMessage::SessionRevoked { reason: ErrorCode::SessionIdleTimeout },
        "the stream hears why"
    );
    match next_event(&mut ws).await {
        Event::Closed(code) => assert_eq!(code, Some(WS_CLOSE_SESSION_ENDED), "closed with the documented code"),
        other => panic!("the stream must close after session.revoked, got {other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn a_cursor_from_another_epoch_or_beyond_retention_is_told_to_reset() {
    let mut c = config();
    c.notification_retention = 3;
    let h = Harness::start(c).await;
    let alice = h.sign_in().await;
    let uid = user_id(&h.server, "alice").await;
    for n in 1..=6 {
        publish(&h.server, uid, n).await;
    }
    let mut ws = connect(&h.server.url, &alice.access_token).await;
    let (replayed, epoch) = resume(&mut ws, 0, None).await;
    let seqs: Vec<i64> = replayed.iter().map(|n| n.seq).collect();
    assert_eq!(seqs, vec![4, 5, 6], "a new client gets what is retained");

    let mut ws = connect(&h.server.url, &alice.access_token).await;
    ws_support::send_resume(&mut ws, 1, Some(&epoch)).await;
    let reset = WsServerMessage::Reset { epoch: epoch.clone(), last_seq: 6 };
    assert_eq!(next_message(&mut ws).await, reset, "seq 2 and 3 are gone: the client must reload");
    ws_support::send_resume(&mut ws, 5, Some("another-epoch")).await;
    assert_eq!(next_message(&mut ws).await, reset, "a cursor of another epoch means nothing here");
    let (replayed, _) = resume(&mut ws, 4, Some(&epoch)).await;
    let seqs: Vec<i64> = replayed.iter().map(|n| n.seq).collect();
    assert_eq!(seqs, vec![5, 6], "after a reset the same connection resumes from the reloaded cursor");
}

#[tokio::test]
async fn an_upgrade_without_a_valid_access_token_is_refused() {
    let h = Harness::start(config()).await;
    assert_eq!(try_connect(&h.server.url, "not-a-token").await.err(), Some(401), "a forged token cannot open a stream");
}
