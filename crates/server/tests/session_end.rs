//! "Session ended" reaches the process's listeners (open notification streams) only once the
//! end is committed: whoever hears it finds the session ended in the database, and an end whose
//! transaction fails is never heard.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Harness, config};
use futures_util::FutureExt;
use reqwest::StatusCode;
use tessera_protocol::SignOutReason;
use tessera_server::SharedState;
use tessera_server::admin::{self, Actor};
use tessera_server::session_end::EndReason;
use tessera_server::store::sessions::{self, SessionRow};
use tokio::task::JoinHandle;

async fn row(state: &SharedState, session_id: &str) -> SessionRow {
    let mut conn = state.db.read.acquire().await.unwrap();
    sessions::by_id(&mut conn, session_id).await.unwrap().expect("the session exists")
}

/// Waits for the announced end of `session_id`, then reads the session through a reader
/// connection at once: what a listener would find at the moment it hears.
fn on_announcement(state: &SharedState, session_id: &str) -> JoinHandle<(EndReason, SessionRow)> {
    let mut heard = state.notify.sessions.subscribe(session_id.to_owned());
    let (state, session_id) = (state.clone(), session_id.to_owned());
    tokio::spawn(async move {
        let reason = heard.recv().await.expect("the end is announced");
        (reason, row(&state, &session_id).await)
    })
}

#[tokio::test]
async fn an_end_whose_transaction_rolls_back_is_never_announced() {
    let h = Harness::start(config()).await;
    let state = &h.server.state;
    let session = h.sign_in().await.session_id;
    let open = row(state, &session).await;
    let mut heard = state.notify.sessions.subscribe(session.clone());

    let mut tx = state.db.write.begin().await.unwrap();
    let ended = state.sessions.end(&mut tx, &open, EndReason::Revoked, None, Some("test")).await.unwrap();
    assert!(ended.is_some(), "the session was open, so this transaction ends it");
    assert!(heard.recv().now_or_never().is_none(), "nothing is announced while the transaction is open");
    tx.rollback().await.unwrap();
    // What a failed transaction's caller does: it never reaches the announcement.
    drop(ended);

    assert!(heard.recv().now_or_never().is_none(), "an end that was rolled back is never announced");
    assert!(row(state, &session).await.ended_at.is_none(), "and the session is still open");
    let resp = h.get(tessera_protocol::paths::ME, &h.sign_in().await.access_token).await;
    assert_eq!(resp.status(), StatusCode::OK, "the server goes on serving after the rollback");
}

#[tokio::test]
async fn an_end_is_announced_after_its_transaction_commits() {
    let h = Harness::start(config()).await;
    let state = &h.server.state;
    let session = h.sign_in().await.session_id;
    let open = row(state, &session).await;
    let listener = on_announcement(state, &session);
    let mut early = state.notify.sessions.subscribe(session.clone());

    let mut tx = state.db.write.begin().await.unwrap();
    let ended = state.sessions.end(&mut tx, &open, EndReason::Revoked, None, Some("test")).await.unwrap();
    assert!(early.recv().now_or_never().is_none(), "nothing is announced before the commit");
    tx.commit().await.unwrap();
    state.sessions.announce(ended);

    let (reason, seen) = listener.await.unwrap();
    assert_eq!(reason, EndReason::Revoked, "the listener hears why");
    assert!(seen.ended_at.is_some(), "when the end is heard, the database already shows it");
    assert_eq!(seen.stored_end_reason(), Some(SignOutReason::SessionRevoked), "stored as the shared reason");
}

#[tokio::test]
async fn a_replayed_refresh_token_is_announced_once_the_revocation_is_committed() {
    let h = Harness::start(config()).await;
    let state = &h.server.state;
    let first = h.sign_in().await;
    let second: tessera_protocol::TokenResponse = h.refresh(&first.refresh_token).await.json().await.unwrap();
    let resp = h.refresh(&second.refresh_token).await;
    assert_eq!(resp.status(), StatusCode::OK, "presenting the second token makes it the previous one");
    let listener = on_announcement(state, &first.session_id);

    // The first token was replaced by a token that was presented since: presenting it is reuse.
    let resp = h.refresh(&first.refresh_token).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "the replay is refused");

    let (reason, seen) = listener.await.unwrap();
    assert_eq!(reason, EndReason::ReuseDetected, "the rotation writer announces the reuse");
    assert!(seen.ended_at.is_some(), "the rotation batch committed before the end was announced");
    assert_eq!(seen.stored_end_reason(), Some(SignOutReason::RefreshReuseDetected), "stored as the shared reason");
}

#[tokio::test]
async fn sessions_ended_by_an_administrator_are_announced_after_the_change_commits() {
    let h = Harness::start(config()).await;
    let state = &h.server.state;
    let listeners: Vec<_> = [h.sign_in().await.session_id, h.sign_in().await.session_id]
        .iter()
        .map(|session| on_announcement(state, session))
        .collect();

    let outcome = admin::disable(state, "alice", Actor::Host).await.unwrap();
    assert_eq!(outcome.ended.len(), 2, "disabling ends both sessions");

    for listener in listeners {
        let (reason, seen) = listener.await.unwrap();
        assert_eq!(reason, EndReason::Revoked, "an administrator's end is a revocation");
        assert!(seen.ended_at.is_some(), "the disable committed before its ends were announced");
    }
}
