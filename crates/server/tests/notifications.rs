//! Polling the outbox over HTTP with the WebSocket's cursor; read state; admin notifications.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod ws_support;

use common::{Harness, config, expect_error};
use reqwest::StatusCode;
use tessera_protocol::{
    AdminNotify, Discovery, ErrorCode, Notification, NotificationPage, ReadAllResponse, UnreadCount, paths,
};

async fn admin_notify(h: &Harness, admin_token: &str, user: &str, message: &str) -> reqwest::Response {
    let body = AdminNotify { user: user.into(), message: message.into() };
    h.http.post(h.url(paths::ADMIN_NOTIFY)).bearer_auth(admin_token).json(&body).send().await.unwrap()
}

async fn page(h: &Harness, token: &str, query: &str) -> NotificationPage {
    let resp = h.get(&format!("{}?{query}", paths::NOTIFICATIONS), token).await;
    assert_eq!(resp.status(), StatusCode::OK, "polling must succeed");
    resp.json().await.unwrap()
}

#[tokio::test]
async fn polling_pages_through_with_the_same_cursor_as_the_stream() {
    let h = Harness::start(config()).await;
    let carol = h.sign_in_as("carol", "admin desk").await;
    let alice = h.sign_in().await;
    for text in ["one", "two", "three"] {
        let resp = admin_notify(&h, &carol.access_token, "alice", text).await;
        assert_eq!(resp.status(), StatusCode::CREATED, "an admin may notify");
    }
    let first = page(&h, &alice.access_token, "after=0&limit=2").await;
    let seqs: Vec<i64> = first.items.iter().map(|n| n.seq).collect();
    assert_eq!((seqs, first.next_after, first.last_seq), (vec![1, 2], 2, 3), "first page and its cursor");
    assert_eq!(first.items[0].kind, "message", "admin notes have type message");
    assert_eq!(first.items[0].payload["message"], "one", "payload carries the text");
    let second = page(&h, &alice.access_token, &format!("after={}&epoch={}", first.next_after, first.epoch)).await;
    assert_eq!(
        second.items.iter().map(|n| n.seq).collect::<Vec<_>>(),
        vec![3],
        "the next page continues after the cursor"
    );
    assert!(!second.reset, "a cursor of the current epoch is honoured");

    let mut ws = ws_support::connect(&h.server.url, &alice.access_token).await;
    let (replayed, epoch) = ws_support::resume(&mut ws, 1, Some(&first.epoch)).await;
    assert_eq!(epoch, first.epoch, "stream and polling share the epoch");
    let over_ws: Vec<Notification> = replayed;
    assert_eq!(
        over_ws,
        first.items[1..].iter().chain(&second.items).cloned().collect::<Vec<_>>(),
        "same cursor, same items"
    );

    let other = page(&h, &alice.access_token, "after=1&epoch=stale").await;
    assert!(other.reset && other.items.len() == 3, "a stale epoch resets to everything retained");
}

async fn unread(h: &Harness, token: &str) -> u64 {
    h.get(paths::NOTIFICATIONS_UNREAD_COUNT, token).await.json::<UnreadCount>().await.unwrap().unread
}

#[tokio::test]
async fn marking_read_one_or_all_updates_the_unread_count() {
    let h = Harness::start(config()).await;
    let carol = h.sign_in_as("carol", "admin desk").await;
    let alice = h.sign_in().await;
    for text in ["a", "b", "c"] {
        admin_notify(&h, &carol.access_token, "alice", text).await;
    }
    assert_eq!(unread(&h, &alice.access_token).await, 3, "three new notifications");
    assert_eq!(
        h.post(&paths::notification_read(2), &alice.access_token).await.status(),
        StatusCode::NO_CONTENT,
        "mark one read"
    );
    assert_eq!(unread(&h, &alice.access_token).await, 2, "one fewer unread");
    let read = page(&h, &alice.access_token, "after=1&limit=1").await;
    assert!(read.items[0].read_at.is_some(), "read time is shown");
    let all: ReadAllResponse = h.post(paths::NOTIFICATIONS_READ_ALL, &alice.access_token).await.json().await.unwrap();
    assert_eq!(all.marked, 2, "the two remaining are marked");
    assert_eq!(unread(&h, &alice.access_token).await, 0, "nothing unread");
    expect_error(
        h.post(&paths::notification_read(99), &alice.access_token).await,
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
    )
    .await;
    let bob = h.sign_in_as("bob", "desk").await;
    assert!(page(&h, &bob.access_token, "after=0").await.items.is_empty(), "bob never sees alice's notifications");
}

#[tokio::test]
async fn only_admins_may_post_notifications() {
    let h = Harness::start(config()).await;
    let bob = h.sign_in_as("bob", "desk").await;
    expect_error(admin_notify(&h, &bob.access_token, "alice", "hi").await, StatusCode::FORBIDDEN, ErrorCode::Forbidden)
        .await;
    let carol = h.sign_in_as("carol", "admin desk").await;
    expect_error(
        admin_notify(&h, &carol.access_token, "nobody", "hi").await,
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
    )
    .await;
    expect_error(
        admin_notify(&h, &carol.access_token, "alice", "  ").await,
        StatusCode::BAD_REQUEST,
        ErrorCode::InvalidRequest,
    )
    .await;
    let alice = h.sign_in().await;
    assert!(page(&h, &alice.access_token, "after=0").await.items.is_empty(), "refused posts leave nothing behind");
    expect_error(
        h.get(&format!("{}?limit=0", paths::NOTIFICATIONS), &alice.access_token).await,
        StatusCode::BAD_REQUEST,
        ErrorCode::InvalidRequest,
    )
    .await;
}

#[tokio::test]
async fn discovery_advertises_the_notification_endpoints() {
    let h = Harness::start(config()).await;
    let d: Discovery = h.http.get(h.url(paths::DISCOVERY)).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        d.tessera.as_ref().unwrap().notifications_endpoint,
        Some(h.url(paths::NOTIFICATIONS)),
        "polling endpoint advertised"
    );
    assert_eq!(
        d.tessera.as_ref().unwrap().notifications_ws_endpoint,
        Some(ws_support::ws_url(&h.server.url)),
        "ws endpoint advertised"
    );
    assert_eq!(d.tessera.as_ref().unwrap().ws_ping_interval_secs, Some(25), "ping interval advertised");
}

#[tokio::test]
async fn the_notify_command_writes_to_a_users_outbox() {
    let h = Harness::start(config()).await;
    let alice = h.sign_in().await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tessera-server"))
        .args(["notify", "--user", "alice", "--message", "from the shell", "--data-dir"])
        .arg(h.dir.path())
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "notify must succeed: {}", String::from_utf8_lossy(&out.stderr));
    let got = page(&h, &alice.access_token, "after=0").await;
    assert_eq!(got.items.len(), 1, "the running server serves what the command wrote");
    assert_eq!(got.items[0].payload["message"], "from the shell", "text kept");
    let missing = tokio::process::Command::new(env!("CARGO_BIN_EXE_tessera-server"))
        .args(["notify", "--user", "nobody", "--message", "x", "--data-dir"])
        .arg(h.dir.path())
        .output()
        .await
        .unwrap();
    assert!(!missing.status.success(), "an unknown user is an error");
}
