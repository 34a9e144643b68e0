//! "Session ended" reaches the process's listeners (open notification streams) only once the
//! end is committed: whoever hears it finds the session ended in the database, and an end whose
//! transaction fails is never heard.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Harness, config};
use futures_util::FutureExt;
use reqwest::StatusCode;
use sqlx::{Sqlite, Transaction};
use tessera_protocol::TokenResponse;
use tessera_server::SharedState;
use tessera_server::admin::{self, Actor};
use tessera_server::notify::hub::Subscription;
use tessera_server::session_end::{EndReason, Ending, SessionEnded};
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

/// What the listener of [`on_announcement`] heard: `expected`, and at that moment the database
/// already showed the session ended, for the shared reason.
async fn heard_after_commit(listener: JoinHandle<(EndReason, SessionRow)>, expected: EndReason) {
    let (reason, seen) = listener.await.unwrap();
    assert_eq!(reason, expected, "the listener hears why");
    assert!(seen.ended_at.is_some(), "when the end of {} is heard, the database already shows it", seen.id);
    let stored = Some(expected.sign_out_reason());
    assert_eq!(seen.stored_end_reason(), stored, "the end is stored as the shared reason");
}

/// A session of alice's, ended inside a transaction that is still open, and a subscriber of its
/// end that has heard nothing yet.
struct PendingEnd {
    signed_in: TokenResponse,
    tx: Transaction<'static, Sqlite>,
    ended: Option<SessionEnded>,
    heard: Subscription<String, EndReason>,
}

async fn end_in_open_transaction(h: &Harness) -> PendingEnd {
    let state = &h.server.state;
    let signed_in = h.sign_in().await;
    let open = row(state, &signed_in.session_id).await;
    let mut heard = state.notify.sessions.subscribe(signed_in.session_id.clone());
    let mut tx = state.db.write.begin().await.unwrap();
    let ended = state
        .sessions
        .end(&mut tx, Ending { row: &open, reason: EndReason::Revoked, ip: None, detail: Some("test") })
        .await
        .unwrap();
    assert!(ended.is_some(), "the session was open, so this transaction ends it");
    assert!(heard.recv().now_or_never().is_none(), "nothing is announced while the transaction is open");
    PendingEnd { signed_in, tx, ended, heard }
}

#[tokio::test]
async fn an_end_whose_transaction_rolls_back_is_never_announced() {
    let h = Harness::start(config()).await;
    let PendingEnd { signed_in, tx, ended, mut heard } = end_in_open_transaction(&h).await;
    tx.rollback().await.unwrap();
    // What a failed transaction's caller does: it never reaches the announcement.
    drop(ended);

    assert!(heard.recv().now_or_never().is_none(), "an end that was rolled back is never announced");
    let session = row(&h.server.state, &signed_in.session_id).await;
    assert!(session.ended_at.is_none(), "and the session is still open");
    let resp = h.get(tessera_protocol::paths::ME, &signed_in.access_token).await;
    assert_eq!(resp.status(), StatusCode::OK, "its access token still works");
}

#[tokio::test]
async fn an_end_is_announced_after_its_transaction_commits() {
    let h = Harness::start(config()).await;
    let state = &h.server.state;
    let PendingEnd { signed_in, tx, ended, heard } = end_in_open_transaction(&h).await;
    drop(heard);
    let listener = on_announcement(state, &signed_in.session_id);
    tx.commit().await.unwrap();
    state.sessions.announce(ended);

    heard_after_commit(listener, EndReason::Revoked).await;
}

#[tokio::test]
async fn a_replayed_refresh_token_is_announced_once_the_revocation_is_committed() {
    let h = Harness::start(config()).await;
    let state = &h.server.state;
    let first = h.sign_in().await;
    let second: TokenResponse = h.refresh(&first.refresh_token).await.json().await.unwrap();
    let resp = h.refresh(&second.refresh_token).await;
    assert_eq!(resp.status(), StatusCode::OK, "presenting the second token makes it the previous one");
    let listener = on_announcement(state, &first.session_id);

    // The first token was replaced by a token that was presented since: presenting it is reuse.
    let resp = h.refresh(&first.refresh_token).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "the replay is refused");

    // The rotation batch that detected the reuse committed before it announced the end.
    heard_after_commit(listener, EndReason::ReuseDetected).await;
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

    // The disable committed before its ends were announced.
    for listener in listeners {
        heard_after_commit(listener, EndReason::Revoked).await;
    }
}
