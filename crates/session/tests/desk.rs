//! A [`Desk`] against the real reference server on loopback: its feed follows a sign-in, its
//! sign-out leaves nothing of the user behind, and a picked idle timeout follows the rule.

mod common;
mod feed_support;

use std::sync::Arc;
use std::time::Duration;

use common::file_vault::FileVault;
use common::*;
use feed_support::*;
use tessera_session::{
    Account, CurrentAccountFile, Desk, FeedMode, Password, SessionEngine, SignOutOutcome, SignOutReason, Vault,
};

/// An engine on a vault that counts as the keychain (so the account becomes current).
fn keychain_engine(url: &str, dir: &std::path::Path) -> SessionEngine {
    let mut config = engine_config(url, dir);
    config.poll_interval = Duration::from_millis(300);
    let vault = Arc::new(FileVault::new(dir.join("vault")));
    SessionEngine::new(config, vault).unwrap_or_else(|e| panic!("engine must build: {e}"))
}

#[tokio::test]
async fn a_desk_opened_signed_out_streams_once_the_user_signs_in() {
    let server = server(feed_server_config()).await;
    let dir = temp_dir();
    let desk = Desk::open(keychain_engine(&server.url, dir.path()), None);
    let mut events = desk.engine().subscribe();
    assert_eq!(desk.feed().map(|f| f.mode()), Some(FeedMode::Offline), "nothing to stream while signed out");
    assert!(!desk.idle_status().armed, "the idle watch waits for a session");

    desk.engine().sign_in(USER, &Password::new(PASSWORD)).await.unwrap_or_else(|e| panic!("sign-in: {e}"));
    wait_mode(&mut events, FeedMode::Live).await;
    let uid = user_id(&server, USER).await;
    publish(&server, uid, 1).await;
    assert_eq!(seqs_until(&mut events, 1).await, vec![1], "the notification arrives on the desk's feed");
    eventually("the idle watch arms", || async { desk.idle_status().armed }).await;
}

#[tokio::test]
async fn signing_out_at_a_desk_leaves_nothing_of_the_user_behind() {
    let server = server(feed_server_config()).await;
    let dir = temp_dir();
    let engine = keychain_engine(&server.url, dir.path());
    engine.sign_in(USER, &Password::new(PASSWORD)).await.unwrap_or_else(|e| panic!("sign-in: {e}"));
    let current = CurrentAccountFile::in_dir(dir.path());
    assert_eq!(current.load().ok().flatten(), Some(Account::new(&server.url, USER)), "the account is current");
    let mut events = engine.subscribe();
    let desk = Desk::open(engine, None);
    wait_mode(&mut events, FeedMode::Live).await;
    let uid = user_id(&server, USER).await;
    for n in 1..=3 {
        publish(&server, uid, n).await;
    }
    seqs_until(&mut events, 3).await;
    assert_eq!(cached_rows(dir.path(), USER), 3, "the feed cached what arrived");

    let outcome = desk.sign_out().await.unwrap_or_else(|e| panic!("sign-out: {e}"));
    assert_eq!(outcome, SignOutOutcome::Revoked, "revoked at the server");
    // Checked at once: the desk waited for the cache, unlike the feed's own clean-up.
    assert_eq!(cached_rows(dir.path(), USER), 0, "the user's cached notifications are gone on return");
    assert_eq!(current.load().ok().flatten(), None, "the account is no longer current");
    let stored = FileVault::new(dir.path().join("vault")).load(&Account::new(&server.url, USER)).await;
    assert_eq!(stored, Ok(None), "the keychain record is gone");
    let state = desk.engine().state();
    assert_eq!(state, tessera_session::SessionState::SignedOut { reason: Some(SignOutReason::UserSignedOut) });
}

#[tokio::test]
async fn a_picked_idle_timeout_is_refused_beyond_the_servers_and_applied_within_it() {
    let server = server(feed_server_config()).await;
    let dir = temp_dir();
    let engine = keychain_engine(&server.url, dir.path());
    engine.sign_in(USER, &Password::new(PASSWORD)).await.unwrap_or_else(|e| panic!("sign-in: {e}"));
    let desk = Desk::open(engine, None);
    let max = desk.server_idle_timeout().await.unwrap_or_else(|| panic!("the server publishes its idle timeout"));

    let refused = desk.set_idle_timeout(max + Duration::from_secs(60), Some(max));
    assert!(refused.is_err(), "longer than the server's is refused: {refused:?}");
    let effective = desk.set_idle_timeout(Duration::from_secs(120), Some(max));
    assert_eq!(effective, Ok(Duration::from_secs(120)), "within the server's limit it applies");
    assert_eq!(desk.idle_status().timeout_secs, 120, "the idle watch runs with it at once");
    let zero = desk.set_idle_timeout(Duration::ZERO, Some(max)).map_err(|e| e.to_string());
    assert_eq!(zero, Err("0 s is shorter than a second".to_owned()), "too short, said why");
}
