//! Network loss between the engine and the real server, through a loopback proxy the test
//! controls: offline is never a sign-out, the session comes back by itself, a sign-out made
//! offline reaches the server later, and only the session's absolute end ends it offline.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::fake_idle::FakeIdle;
use common::proxy::{Network, Proxy};
use common::*;
use tessera_session::{
    EngineConfig, IdleWatch, MemoryVault, Password, SessionEngine, SessionEvent, SessionState, SignOutOutcome,
    SignOutReason,
};
use tokio::sync::broadcast;

/// A server reached only through `proxy` (discovery advertises the proxy's address).
async fn server_behind(proxy: &Proxy, config: tessera_server::Config) -> tessera_server::testing::TestServer {
    let server = server(tessera_server::Config { public_url: proxy.url.clone(), ..config }).await;
    proxy.forward_to(server.addr);
    server
}

fn engine_with(
    url: &str,
    dir: &std::path::Path,
    vault: &MemoryVault,
    tune: impl FnOnce(&mut EngineConfig),
) -> SessionEngine {
    let mut config = engine_config(url, dir);
    tune(&mut config);
    SessionEngine::new(config, Arc::new(vault.clone())).unwrap_or_else(|e| panic!("engine must build: {e}"))
}

fn signed_out_reasons(events: &mut broadcast::Receiver<SessionEvent>) -> Vec<Option<SignOutReason>> {
    let mut reasons = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let SessionEvent::StateChanged { state: SessionState::SignedOut { reason }, .. } = event {
            reasons.push(reason);
        }
    }
    reasons
}

#[tokio::test]
async fn network_loss_keeps_the_user_signed_in_and_the_session_comes_back_by_itself() {
    let proxy = Proxy::bind().await;
    let server = server_behind(&proxy, tessera_server::Config { access_token_ttl_secs: 2, ..server_config() }).await;
    let dir = temp_dir();
    let vault = MemoryVault::new();
    let engine = engine_with(&proxy.url, dir.path(), &vault, |c| c.activity_report_interval = Duration::from_secs(1));
    let status = engine.sign_in(USER, &Password::new(PASSWORD)).await.unwrap_or_else(|e| panic!("sign-in: {e}"));
    let session_id = status.session_id.clone().unwrap_or_default();
    let expires = status.access_expires_at.unwrap_or_else(|| panic!("a fresh session has an access token"));
    let _schedule = engine.spawn_scheduler();
    // An active user: the activity mirror keeps trying to reach the server while it is away.
    let _watch = IdleWatch::spawn(engine.clone(), Some(FakeIdle::always_active()));
    let mut all = engine.subscribe();
    let mut events = engine.subscribe();

    let cut_at = chrono::Utc::now();
    proxy.set(Network::Dropping).await;
    let since = wait_for(&mut events, |e| match e {
        SessionEvent::StateChanged { state: SessionState::Offline { since }, .. } => Some(*since),
        _ => None,
    })
    .await;
    assert!(since >= cut_at, "Offline carries when it began (after the cut at {cut_at}): {since}");

    // Let the access token expire while offline.
    let left = (expires - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left + Duration::from_millis(200)).await;
    let call = engine.me().await;
    let err = call.err().unwrap_or_else(|| panic!("no network: the call cannot succeed"));
    assert!(err.is_transient(), "an unreachable server is a transient error, not a sign-out: {err}");
    assert!(
        matches!(engine.state(), SessionState::Offline { .. }),
        "an expired access token offline stays signed in: {:?}",
        engine.state()
    );

    proxy.set(Network::Refusing).await;
    let err = engine.me().await.err().unwrap_or_else(|| panic!("refused connections cannot succeed"));
    assert!(err.is_transient(), "refused connections are transient too: {err}");
    let stored = record(&vault, &proxy.url).await;
    assert_eq!(stored.map(|r| r.session_id), Some(session_id.clone()), "the keychain still holds the session");

    let refreshes = server.refresh_count();
    proxy.set(Network::Up).await;
    let back = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            match events.recv().await {
                Ok(SessionEvent::StateChanged { state: state @ SessionState::Active { .. }, .. }) => return state,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event channel: {e}"),
            }
        }
    })
    .await;
    back.unwrap_or_else(|_| panic!("the schedule's backoff must bring the session back once the network returns"));
    assert!(server.refresh_count() > refreshes, "coming back means a real refresh at the server");
    let me = engine.me().await.unwrap_or_else(|e| panic!("the session works again: {e}"));
    assert_eq!(me.session_id, session_id, "the same session, no new sign-in");
    assert_eq!(
        signed_out_reasons(&mut all),
        Vec::<Option<SignOutReason>>::new(),
        "at no point was the user signed out"
    );
}

#[tokio::test]
async fn a_sign_out_made_offline_reaches_the_server_when_the_network_returns() {
    let proxy = Proxy::bind().await;
    let _server = server_behind(&proxy, server_config()).await;
    let dir = temp_dir();
    let vault = MemoryVault::new();
    let engine = signed_in(&proxy.url, dir.path(), &vault).await;
    let session_id = engine.status().session_id.unwrap_or_default();

    proxy.set(Network::Refusing).await;
    let outcome = engine.sign_out().await.unwrap_or_else(|e| panic!("sign-out works offline: {e}"));
    assert_eq!(outcome, SignOutOutcome::RevocationQueued, "the revocation waits for the network");
    assert!(!engine.state().is_signed_in(), "signed out here at once");
    assert!(
        record(&vault, &proxy.url).await.is_some_and(|r| r.pending_revocation.is_some()),
        "the queued revocation is in the keychain"
    );

    proxy.set(Network::Up).await;
    let sent = engine.flush_pending_revocations().await.unwrap_or_else(|e| panic!("the network is back: {e}"));
    assert_eq!(sent, 1, "the queued revocation is sent once");
    assert!(record(&vault, &proxy.url).await.is_none(), "and removed from the keychain");
    let other_dir = temp_dir();
    let other_vault = MemoryVault::new();
    // Through the proxy: the server's issuer is the proxy's URL, and a client refuses a
    // server whose discovery names another issuer (RFC 8414 §3.3).
    let other = signed_in(&proxy.url, other_dir.path(), &other_vault).await;
    let sessions = other.sessions().await.unwrap_or_else(|e| panic!("sessions list: {e}"));
    assert!(!sessions.sessions.iter().any(|s| s.id == session_id), "the server no longer has the signed-out session");
}

/// Signs `engine` in (with its schedule), drops every connection through `proxy`, and waits for
/// the sign-out: the states it went through before, and its reason.
async fn signed_in_then_cut_off(engine: &SessionEngine, proxy: &Proxy) -> (Vec<&'static str>, Option<SignOutReason>) {
    engine.sign_in(USER, &Password::new(PASSWORD)).await.unwrap_or_else(|e| panic!("sign-in: {e}"));
    let _schedule = engine.spawn_scheduler();
    let mut events = engine.subscribe();
    proxy.set(Network::Dropping).await;
    let mut seen = Vec::new();
    let reason = wait_for(&mut events, |e| match e {
        SessionEvent::StateChanged { state: SessionState::SignedOut { reason }, .. } => Some(*reason),
        SessionEvent::StateChanged { state, .. } => {
            seen.push(state.name());
            None
        }
        _ => None,
    })
    .await;
    (seen, reason)
}

#[tokio::test]
async fn offline_the_session_lasts_until_its_absolute_end_and_not_longer() {
    let proxy = Proxy::bind().await;
    let config = tessera_server::Config { access_token_ttl_secs: 2, session_max_age_secs: 6, ..server_config() };
    let _server = server_behind(&proxy, config).await;
    let dir = temp_dir();
    let vault = MemoryVault::new();
    let engine = engine_with(&proxy.url, dir.path(), &vault, |c| c.expiring_warning = Duration::from_secs(1));
    let (seen, reason) = signed_in_then_cut_off(&engine, &proxy).await;
    assert!(seen.contains(&"offline"), "the session was offline before it ended: {seen:?}");
    assert_eq!(reason, Some(SignOutReason::SessionExpired), "offline, only the absolute end signs out");
}

#[tokio::test]
async fn offline_past_the_refresh_tokens_end_the_session_is_over() {
    let proxy = Proxy::bind().await;
    let config = tessera_server::Config { access_token_ttl_secs: 2, session_idle_timeout_secs: 4, ..server_config() };
    let _server = server_behind(&proxy, config).await;
    let dir = temp_dir();
    let vault = MemoryVault::new();
    let engine = engine_with(&proxy.url, dir.path(), &vault, |_| {});
    let (seen, reason) = signed_in_then_cut_off(&engine, &proxy).await;
    assert!(seen.contains(&"offline"), "the session was offline (still signed in) first: {seen:?}");
    assert_eq!(reason, Some(SignOutReason::IdleTimeout), "no refresh reached the server within its idle timeout");
    assert!(record(&vault, &proxy.url).await.is_none(), "the dead session is removed from the keychain");
}
