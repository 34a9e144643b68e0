//! The notification feed against the real reference server on loopback (and a loopback proxy
//! or a misbehaving stream where the real server cannot misbehave): live delivery, replay across
//! a killed server, polling fallback, revocation, reset, malformed frames, offline read marks
//! and the cache.

mod common;
mod feed_support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use common::*;
use feed_support::*;
use tessera_protocol::WsClientMessage;
use tessera_server::clock::SystemClock;
use tessera_server::testing::TestServer;
use tessera_session::{
    FeedMode, MemoryVault, NotificationFeed, Password, SessionEngine, SessionEvent, SessionState, SignOutReason,
    WarningCode,
};
use tokio::sync::broadcast;

async fn signed_in_feed_engine(url: &str, dir: &std::path::Path, vault: &MemoryVault) -> SessionEngine {
    let engine = feed_engine(url, dir, vault);
    engine.sign_in(USER, &Password::new(PASSWORD)).await.unwrap_or_else(|e| panic!("sign-in must work: {e}"));
    engine
}

fn spawn_feed(engine: &SessionEngine) -> NotificationFeed {
    NotificationFeed::spawn(engine.clone()).unwrap_or_else(|e| panic!("the feed must start: {e}"))
}

/// An engine signed in as the test user, with its feed started after `events` subscribed.
struct Desk {
    engine: SessionEngine,
    feed: NotificationFeed,
    events: broadcast::Receiver<SessionEvent>,
    /// The engine's data dir (the cache).
    dir: tempfile::TempDir,
}

async fn desk(url: &str, dir: tempfile::TempDir) -> Desk {
    let engine = signed_in_feed_engine(url, dir.path(), &MemoryVault::new()).await;
    let events = engine.subscribe();
    let feed = spawn_feed(&engine);
    Desk { engine, feed, events, dir }
}

/// The reference server with the test user, on the real clock, its data in `data` so the test
/// can stop it and start it again there ([`restart_server_on`]).
async fn start_server_in(data: &Path) -> TestServer {
    let server = TestServer::start_in(data, feed_server_config(), Arc::new(SystemClock))
        .await
        .unwrap_or_else(|e| panic!("server must start: {e}"));
    add_user(&server).await;
    server
}

async fn restart_server_on(addr: &str, data: &Path) -> TestServer {
    TestServer::start_on(addr, data, feed_server_config(), Arc::new(SystemClock))
        .await
        .unwrap_or_else(|e| panic!("server must restart: {e}"))
}

async fn listed(feed: &NotificationFeed, unread_only: bool) -> Vec<i64> {
    let items = feed.list(unread_only, 100).await.unwrap_or_else(|e| panic!("the cache must list: {e}"));
    items.iter().map(|n| n.seq).collect()
}

#[tokio::test]
async fn notifications_created_while_connected_arrive_in_order_and_are_cached() {
    let server = server(feed_server_config()).await;
    let Desk { engine, feed, mut events, dir } = desk(&server.url, temp_dir()).await;
    wait_mode(&mut events, FeedMode::Live).await;
    assert_eq!(feed.mode(), FeedMode::Live, "mode() agrees with the event");

    let uid = user_id(&server, USER).await;
    for n in 1..=5 {
        publish(&server, uid, n).await;
    }
    assert_eq!(
        seqs_until(&mut events, 5).await,
        vec![1, 2, 3, 4, 5],
        "live notifications are announced once each, in order"
    );
    assert_eq!(
        listed(&feed, false).await,
        vec![5, 4, 3, 2, 1],
        "each is cached before it is announced; the list is newest first"
    );
    assert_eq!(feed.unread_count().await.ok(), Some(5), "all are unread");

    feed.mark_read(2).await.unwrap_or_else(|e| panic!("mark_read online must work: {e}"));
    assert_eq!(listed(&feed, true).await, vec![5, 4, 3, 1], "a read notification leaves the unread list at once");
    let marked = feed.mark_all_read().await.unwrap_or_else(|e| panic!("mark_all_read must work: {e}"));
    assert_eq!(marked, 4, "the four still unread were marked");
    assert_eq!(feed.unread_count().await.ok(), Some(0), "nothing unread after mark all");
    #[cfg(unix)]
    for file in ["notifications.sqlite3", "notifications.sqlite3-wal", "notifications.sqlite3-shm"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(file)).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o600), "{file} holds private messages: owner only");
    }

    engine.sign_out().await.unwrap_or_else(|e| panic!("sign-out must work: {e}"));
    eventually("the signed-out user's cache is deleted", || async { cached_rows(dir.path(), USER) == 0 }).await;
    assert!(feed.list(false, 10).await.is_err(), "a signed-out feed has no list to show");
}

#[tokio::test]
async fn a_server_killed_and_restarted_mid_stream_loses_and_duplicates_nothing() {
    let data = temp_dir();
    let server = start_server_in(data.path()).await;
    let Desk { engine, feed, mut events, dir: _dir } = desk(&server.url, temp_dir()).await;
    wait_mode(&mut events, FeedMode::Live).await;
    let uid = user_id(&server, USER).await;

    // Publish while the server is killed under the stream.
    let addr = server.addr.to_string();
    for n in 1..=5 {
        publish(&server, uid, n).await;
    }
    server.kill().await;
    let server = restart_server_on(&addr, data.path()).await;
    for n in 6..=10 {
        publish(&server, uid, n).await;
    }
    let mut seqs = seqs_until(&mut events, 10).await;
    // One more after the replay: any duplicate of 1..=10 would show up before it.
    publish(&server, uid, 11).await;
    seqs.extend(seqs_until(&mut events, 11).await);
    assert_eq!(seqs, (1..=11).collect::<Vec<_>>(), "every notification exactly once, in order, across the kill");
    assert_eq!(listed(&feed, false).await.len(), 11, "the cache holds each once");
    assert!(engine.metrics().reconnects >= 1, "the reconnect is counted: {:?}", engine.metrics());
    server.stop().await;
}

#[tokio::test]
async fn a_refused_websocket_falls_back_to_polling_which_delivers() {
    let server = server(feed_server_config()).await;
    let proxy = Proxy::start(&server.url, WsMode::Refuse(404)).await;
    let Desk { engine: _engine, feed, mut events, dir: _dir } = desk(&proxy.url, temp_dir()).await;
    wait_mode(&mut events, FeedMode::Polling).await;

    let uid = user_id(&server, USER).await;
    for n in 1..=3 {
        publish(&server, uid, n).await;
    }
    assert_eq!(seqs_until(&mut events, 3).await, vec![1, 2, 3], "polling delivers in order, each once");
    assert_eq!(feed.mode(), FeedMode::Polling, "still polling: the proxy never upgrades");
    let before = proxy.ws_attempts.load(Ordering::SeqCst);
    eventually("the WebSocket is retried in the background", || async {
        proxy.ws_attempts.load(Ordering::SeqCst) > before
    })
    .await;
}

#[tokio::test]
async fn revoking_the_device_from_another_session_signs_it_out_through_the_stream() {
    let server = server(feed_server_config()).await;
    let Desk { engine: desk, feed: _feed, mut events, dir: desk_dir } = desk(&server.url, temp_dir()).await;
    let laptop_dir = temp_dir();
    wait_mode(&mut events, FeedMode::Live).await;
    let uid = user_id(&server, USER).await;
    publish(&server, uid, 1).await;
    seqs_until(&mut events, 1).await;
    assert!(cached_rows(desk_dir.path(), USER) > 0, "the desk cached the notification");

    let laptop = signed_in_feed_engine(&server.url, laptop_dir.path(), &MemoryVault::new()).await;
    laptop.revoke_other_sessions().await.unwrap_or_else(|e| panic!("revoke-others must work: {e}"));
    let reason = wait_for(&mut events, |e| match e {
        SessionEvent::StateChanged { state: SessionState::SignedOut { reason }, .. } => Some(*reason),
        _ => None,
    })
    .await;
    assert_eq!(reason, Some(SignOutReason::SessionRevoked), "the desk learns why from session.revoked");
    assert_eq!(
        desk.state(),
        SessionState::SignedOut { reason: Some(SignOutReason::SessionRevoked) },
        "the engine is signed out"
    );
    eventually("the revoked user's cache is deleted", || async { cached_rows(desk_dir.path(), USER) == 0 }).await;
}

#[tokio::test]
async fn a_cursor_from_an_unknown_epoch_reloads_the_cache() {
    let server = server(feed_server_config()).await;
    let dir = temp_dir();
    let vault = MemoryVault::new();
    let engine = signed_in_feed_engine(&server.url, dir.path(), &vault).await;
    let uid = user_id(&server, USER).await;
    for n in 1..=3 {
        publish(&server, uid, n).await;
    }
    let mut events = engine.subscribe();
    let feed = spawn_feed(&engine);
    assert_eq!(seqs_until(&mut events, 3).await, vec![1, 2, 3], "history is replayed on first connect");
    wait_mode(&mut events, FeedMode::Live).await;
    feed.stop();
    drop(feed);

    // The stored cursor now names an epoch the server never had, and the cache holds a stale row.
    let db =
        rusqlite::Connection::open(dir.path().join("notifications.sqlite3")).unwrap_or_else(|e| panic!("cache: {e}"));
    let changed = db.execute("UPDATE cursors SET epoch = 'bogus' WHERE username = ?1", [USER]).unwrap_or(0);
    assert_eq!(changed, 1, "the first feed stored a cursor");
    db.execute(
        "INSERT INTO notifications (server_url, username, seq, type, payload, created_at) VALUES (?1, ?2, 77, 'message', '{}', '2026-01-01T00:00:00Z')",
        [server.url.as_str(), USER],
    )
    .unwrap_or_else(|e| panic!("insert: {e}"));
    drop(db);

    let feed = spawn_feed(&engine);
    wait_for(&mut events, |e| {
        matches!(e, SessionEvent::Warning { code: WarningCode::NotificationsReset, .. }).then_some(())
    })
    .await;
    assert_eq!(listed(&feed, false).await, vec![3, 2, 1], "the cache is replaced by the server's history");
    publish(&server, uid, 4).await;
    assert_eq!(seqs_until(&mut events, 4).await, vec![4], "after the reset the stream resumes live, without repeats");
}

#[tokio::test]
async fn malformed_stream_messages_are_ignored_and_the_feed_carries_on() {
    let server = server(feed_server_config()).await;
    let proxy = Proxy::start(&server.url, WsMode::Misbehave).await;
    let Desk { engine: _engine, feed, mut events, dir: _dir } = desk(&proxy.url, temp_dir()).await;

    assert_eq!(
        seqs_until(&mut events, 2).await,
        vec![1, 2],
        "valid notifications get through garbage, once each, across the reconnect"
    );
    assert!(proxy.ws_attempts.load(Ordering::SeqCst) >= 2, "the oversized message made the feed reconnect");
    let resumes = proxy.resumes.lock().map(|r| r.clone()).unwrap_or_default();
    assert_eq!(
        resumes.get(1),
        Some(&WsClientMessage::Resume { after: 1, epoch: Some("fake".into()) }),
        "the reconnect resumes after what was stored: {resumes:?}"
    );
    assert_eq!(listed(&feed, false).await, vec![2, 1], "the cache holds what was announced");
    // The later connections say nothing after their script and the proxy never pings: the
    // heartbeat rule (ping interval + grace without a frame) must declare them dead.
    let seen = proxy.ws_attempts.load(Ordering::SeqCst);
    eventually("a silent stream is declared dead and replaced", || async {
        proxy.ws_attempts.load(Ordering::SeqCst) > seen
    })
    .await;
    assert_eq!(listed(&feed, false).await, vec![2, 1], "replays of 1 and 2 on new connections are not stored twice");
}

#[tokio::test]
async fn an_expired_token_closes_the_stream_and_the_feed_refreshes_and_carries_on() {
    let server = server(tessera_server::Config { access_token_ttl_secs: 2, ..feed_server_config() }).await;
    let Desk { engine, feed: _feed, mut events, dir: _dir } = desk(&server.url, temp_dir()).await;
    wait_mode(&mut events, FeedMode::Live).await;
    let before = server.refresh_count();
    // No scheduler runs and nothing else calls the server: only the feed refreshes, on 4001.
    eventually("the feed refreshes after close 4001", || async { server.refresh_count() > before }).await;
    let uid = user_id(&server, USER).await;
    publish(&server, uid, 1).await;
    assert_eq!(seqs_until(&mut events, 1).await, vec![1], "the stream goes on with the new token");
    assert!(engine.state().is_signed_in(), "an expired access token is not a sign-out");
}

#[tokio::test]
async fn a_corrupt_cache_is_reported_and_the_feed_streams_without_it() {
    let server = server(feed_server_config()).await;
    let dir = temp_dir();
    std::fs::write(dir.path().join("notifications.sqlite3"), vec![0x5a_u8; 4096])
        .unwrap_or_else(|e| panic!("write: {e}"));
    let Desk { engine, feed, mut events, dir: _dir } = desk(&server.url, dir).await;
    let code = wait_for(&mut events, |e| match e {
        SessionEvent::Error { code, .. } => Some(code.clone()),
        _ => None,
    })
    .await;
    assert_eq!(code, "cache_unavailable", "the UI is told, with a stable code");
    let uid = user_id(&server, USER).await;
    publish(&server, uid, 1).await;
    assert_eq!(seqs_until(&mut events, 1).await, vec![1], "notifications still arrive as events");
    let err = feed.list(false, 10).await.err().map(|e| e.code());
    assert_eq!(err, Some("cache_unavailable"), "listing says why it cannot");
    feed.mark_read(1).await.unwrap_or_else(|e| panic!("without a cache a mark goes straight to the server: {e}"));
    let client = engine.client().clone();
    let page = engine
        .authorized(|t| {
            let c = client.clone();
            async move { c.notifications(&t, 0, 10, None).await }
        })
        .await
        .unwrap_or_else(|e| panic!("page: {e}"));
    assert!(page.items.iter().any(|n| n.seq == 1 && n.read_at.is_some()), "the server has the mark");
}

#[tokio::test]
async fn marks_made_offline_are_queued_and_reach_the_server_when_it_returns() {
    let data = temp_dir();
    let server = start_server_in(data.path()).await;
    let Desk { engine, feed, mut events, dir: _dir } = desk(&server.url, temp_dir()).await;
    wait_mode(&mut events, FeedMode::Live).await;
    let uid = user_id(&server, USER).await;
    for n in 1..=3 {
        publish(&server, uid, n).await;
    }
    seqs_until(&mut events, 3).await;

    let addr = server.addr.to_string();
    server.stop().await;
    assert_eq!(listed(&feed, false).await, vec![3, 2, 1], "the cache lists with the server gone");
    feed.mark_read(2).await.unwrap_or_else(|e| panic!("marking offline is queued, not an error: {e}"));
    assert_eq!(listed(&feed, true).await, vec![3, 1], "the mark shows locally at once");
    assert_eq!(feed.unread_count().await.ok(), Some(2), "the unread count counts it too");

    let server = restart_server_on(&addr, data.path()).await;
    let client = engine.client().clone();
    eventually("the queued mark reaches the server", || {
        let (engine, client) = (engine.clone(), client.clone());
        async move {
            let page = engine
                .authorized(|t| {
                    let c = client.clone();
                    async move { c.notifications(&t, 0, 10, None).await }
                })
                .await;
            page.is_ok_and(|p| p.items.iter().any(|n| n.seq == 2 && n.read_at.is_some()))
        }
    })
    .await;
    let page = engine
        .authorized(|t| {
            let c = client.clone();
            async move { c.notifications(&t, 0, 10, None).await }
        })
        .await
        .unwrap_or_else(|e| panic!("page: {e}"));
    let read: Vec<i64> = page.items.iter().filter(|n| n.read_at.is_some()).map(|n| n.seq).collect();
    assert_eq!(read, vec![2], "only the marked notification is read at the server");
    server.stop().await;
}

#[tokio::test]
async fn the_feed_goes_offline_while_the_server_is_gone_and_live_when_it_returns() {
    let data = temp_dir();
    let server = start_server_in(data.path()).await;
    let Desk { engine, feed, mut events, dir: _dir } = desk(&server.url, temp_dir()).await;
    assert_eq!(modes_until(&mut events, FeedMode::Live).await, [FeedMode::Connecting, FeedMode::Live]);

    let addr = server.addr.to_string();
    server.stop().await;
    // Not live from the moment the stream is lost; offline after three failed connections and
    // a poll that fails too.
    assert_eq!(modes_until(&mut events, FeedMode::Offline).await, [FeedMode::Connecting, FeedMode::Offline]);
    assert!(engine.state().is_signed_in(), "an unreachable server never signs the user out");
    let server = restart_server_on(&addr, data.path()).await;
    wait_mode(&mut events, FeedMode::Live).await;
    let uid = user_id(&server, USER).await;
    publish(&server, uid, 1).await;
    assert_eq!(seqs_until(&mut events, 1).await, vec![1], "live again after the server returned");
    assert_eq!(feed.mode(), FeedMode::Live, "mode() agrees");
    server.stop().await;
}

#[tokio::test]
async fn the_next_user_of_a_shared_desk_never_sees_the_previous_users_notifications() {
    let server = server(feed_server_config()).await;
    server
        .add_user("bob", PASSWORD, tessera_protocol::Role::Agent)
        .await
        .unwrap_or_else(|e| panic!("bob must be created: {e}"));
    let Desk { engine, feed, mut events, dir } = desk(&server.url, temp_dir()).await;
    wait_mode(&mut events, FeedMode::Live).await;
    publish(&server, user_id(&server, USER).await, 1).await;
    seqs_until(&mut events, 1).await;

    engine.sign_out().await.unwrap_or_else(|e| panic!("sign-out: {e}"));
    engine.sign_in("bob", &Password::new(PASSWORD)).await.unwrap_or_else(|e| panic!("bob signs in: {e}"));
    let bob = user_id(&server, "bob").await;
    publish(&server, bob, 1).await;
    publish(&server, bob, 2).await;
    assert_eq!(seqs_until(&mut events, 2).await, vec![1, 2], "bob's own stream, from his first notification");
    let items = feed.list(false, 10).await.unwrap_or_else(|e| panic!("list: {e}"));
    let texts: Vec<String> =
        items.iter().map(|n| n.payload["message"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(texts, vec!["note 2", "note 1"], "only bob's notifications are listed");
    assert_eq!(cached_rows(dir.path(), USER), 0, "alice's rows were deleted when she signed out");
}
