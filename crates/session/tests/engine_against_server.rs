//! The session engine against the real reference server on loopback: sign-in, restore, the
//! schedule, single-flight refresh, session-ending answers and a server that goes away.

mod common;

use std::sync::Arc;

use common::file_vault::FileVault;
use common::*;
use tessera_server::testing::TestServer;
use tessera_session::{
    AuditKind, AuditLog, EngineError, MemoryVault, Password, RefreshToken, SessionEngine, SessionEvent, SessionState,
    SignOutReason, StorageTier, Vault, VaultError, VaultRecord, WarningCode,
};

#[tokio::test]
async fn user_signs_in_and_the_engine_reports_it() {
    let server = server(server_config()).await;
    let dir = temp_dir();
    let vault = MemoryVault::new();
    let engine = engine(&server.url, dir.path(), &vault);
    let mut events = engine.subscribe();

    let status = engine.sign_in(USER, &Password::new(PASSWORD)).await;
    let status = status.unwrap_or_else(|e| panic!("sign-in with the right password must work: {e}"));
    assert!(is_active(&status.state), "a fresh sign-in is Active: {:?}", status.state);
    assert_eq!(status.username.as_deref(), Some(USER), "status names the user");
    assert_eq!(status.storage, StorageTier::Memory, "a MemoryVault is the memory tier");
    assert!(
        matches!(events.try_recv(), Ok(SessionEvent::StateChanged { state: SessionState::SigningIn, .. })),
        "SigningIn is announced first"
    );
    assert!(
        matches!(events.try_recv(), Ok(SessionEvent::StateChanged { state: SessionState::Active { .. }, .. })),
        "then Active"
    );

    let stored = record(&vault, &server.url).await;
    assert_eq!(stored.as_ref().map(|r| r.session_id.clone()), status.session_id, "the vault holds this session");
    let me = engine.me().await.unwrap_or_else(|e| panic!("me() must work when signed in: {e}"));
    assert_eq!(me.username, USER, "the server sees the signed-in user");
    let sessions = engine.sessions().await.unwrap_or_else(|e| panic!("sessions() must work: {e}"));
    assert!(
        sessions.sessions.iter().any(|s| s.current && Some(&s.id) == status.session_id.as_ref()),
        "our session is listed as current"
    );
    let json = serde_json::to_string(&engine.status()).unwrap_or_default();
    let secret = stored.map(|r| r.refresh_token.secret().to_owned()).unwrap_or_default();
    assert!(!secret.is_empty() && !json.contains(&secret), "status JSON must never hold the refresh token");

    let log = AuditLog::open(dir.path()).unwrap_or_else(|e| panic!("audit log must open: {e}"));
    let recent = log.read_recent(10).unwrap_or_default();
    assert!(recent.iter().any(|e| e.kind == AuditKind::SignedIn), "sign-in is audited: {recent:?}");
}

#[tokio::test]
async fn wrong_password_is_refused_and_nothing_is_stored() {
    let server = server(server_config()).await;
    let dir = temp_dir();
    let vault = MemoryVault::new();
    let engine = engine(&server.url, dir.path(), &vault);
    let err = engine.sign_in(USER, &Password::new("wrong")).await;
    let err = err.err().unwrap_or_else(|| panic!("a wrong password must not sign in"));
    assert_eq!(err.code(), "invalid_credentials", "the server's code reaches the caller: {err}");
    assert_eq!(
        engine.state(),
        SessionState::SignedOut { reason: None },
        "still signed out, with no session-ending reason"
    );
    assert!(vault.is_empty(), "nothing may be stored for a failed sign-in");
}

#[tokio::test]
async fn next_start_restores_the_session_without_a_password() {
    let server = server(server_config()).await;
    let dir = temp_dir();
    let vault = MemoryVault::new();
    let first = signed_in(&server.url, dir.path(), &vault).await;
    let session_id = first.status().session_id;
    drop(first);

    let before = server.refresh_count();
    let second = engine(&server.url, dir.path(), &vault);
    let state = second.restore_user(USER).await.unwrap_or_else(|e| panic!("restore must work: {e}"));
    assert!(is_active(&state), "a stored session restores to Active: {state:?}");
    assert_eq!(server.refresh_count(), before + 1, "restoring costs exactly one refresh");
    assert_eq!(second.status().session_id, session_id, "it is the same server-side session");
    let me = second.me().await.unwrap_or_else(|e| panic!("the restored session must be usable: {e}"));
    assert_eq!(me.session_id, session_id.unwrap_or_default(), "the server agrees on the session");
}

#[tokio::test]
async fn restoring_a_session_the_server_forgot_signs_out_and_deletes_the_record() {
    let server = server(server_config()).await;
    let dir = temp_dir();
    let vault = MemoryVault::new();
    let now = chrono::Utc::now();
    let bogus = VaultRecord {
        refresh_token: RefreshToken::new("trt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        session_id: "gone".into(),
        client_id: Some("tessera-cli".into()),
        username: USER.into(),
        server_url: server.url.clone(),
        refresh_expires_at: now + chrono::Duration::hours(1),
        session_expires_at: now + chrono::Duration::hours(8),
        pending_revocation: None,
    };
    vault.store(&bogus).await.unwrap_or_else(|e| panic!("memory vault store: {e}"));
    let engine = engine(&server.url, dir.path(), &vault);
    let state = engine.restore_user(USER).await.unwrap_or_else(|e| panic!("restore reports, it does not fail: {e}"));
    assert_eq!(
        state,
        SessionState::SignedOut { reason: Some(SignOutReason::SessionExpired) },
        "an unknown refresh token means the session is over"
    );
    assert!(vault.is_empty(), "the dead record must be deleted so the next start asks for sign-in");
}

#[tokio::test]
async fn scheduled_refresh_reaches_the_server_before_the_token_expires() {
    let mut config = server_config();
    config.access_token_ttl_secs = 3;
    let server = server(config).await;
    let dir = temp_dir();
    let vault = MemoryVault::new();
    let engine = signed_in(&server.url, dir.path(), &vault).await;
    let mut events = engine.subscribe();
    let before = server.refresh_count();
    let scheduler = engine.spawn_scheduler();
    for _ in 0..2 {
        wait_for(&mut events, |e| match e {
            SessionEvent::StateChanged { state: SessionState::Active { .. }, .. } => Some(()),
            _ => None,
        })
        .await;
    }
    assert!(scheduler.is_running(), "the scheduler keeps running");
    assert!(server.refresh_count() >= before + 2, "each scheduled refresh is a real refresh grant at the server");
    assert_eq!(
        engine.metrics().refresh_count,
        server.refresh_count() - before,
        "engine metrics count the same refreshes"
    );
    assert!(engine.metrics().refresh_latency_p50_ms.is_some(), "latency is measured");
    let me = engine.me().await.unwrap_or_else(|e| panic!("the refreshed token must work: {e}"));
    assert_eq!(me.username, USER, "still the same user");
}

async fn thousand_concurrent_me(engine: &tessera_session::SessionEngine) -> usize {
    let calls = (0..1000).map(|_| {
        let engine = engine.clone();
        tokio::spawn(async move { engine.me().await })
    });
    let results = futures_util::future::join_all(calls).await;
    results.into_iter().filter(|r| matches!(r, Ok(Ok(_)))).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_calls_with_a_refused_token_share_one_refresh() {
    let server_dir = temp_dir();
    let clock = Arc::new(tessera_server::clock::ManualClock::starting_now());
    let server = TestServer::start_in(server_dir.path(), server_config(), clock.clone()).await;
    let server = server.unwrap_or_else(|e| panic!("test server must start: {e}"));
    add_user(&server).await;
    let dir = temp_dir();
    let vault = MemoryVault::new();
    let engine = signed_in(&server.url, dir.path(), &vault).await;
    // The server's clock moves past the access token's exp; ours does not: every call is refused.
    clock.advance(std::time::Duration::from_secs(700));
    let before = server.refresh_count();
    let ok = thousand_concurrent_me(&engine).await;
    assert_eq!(ok, 1000, "every call must succeed after the shared refresh");
    assert_eq!(server.refresh_count() - before, 1, "1,000 callers refused at once must share exactly one refresh");
    assert_eq!(server.reuse_count(), 0, "a single refresh never looks like reuse");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_calls_with_a_locally_expired_token_share_one_refresh() {
    let server = server(server_config()).await;
    let dir = temp_dir();
    let vault = MemoryVault::new();
    let clock = Arc::new(tessera_session::ManualClock::new(chrono::Utc::now()));
    let engine = tessera_session::SessionEngine::with_clock(
        engine_config(&server.url, dir.path()),
        Arc::new(vault.clone()),
        clock.clone(),
    );
    let engine = engine.unwrap_or_else(|e| panic!("engine must build: {e}"));
    engine.sign_in(USER, &Password::new(PASSWORD)).await.unwrap_or_else(|e| panic!("sign-in: {e}"));
    // Our clock passes the token's expiry (suspend, say): callers refresh before calling.
    clock.jump(chrono::Duration::seconds(700));
    let before = server.refresh_count();
    let ok = thousand_concurrent_me(&engine).await;
    assert_eq!(ok, 1000, "every call must succeed after the shared refresh");
    assert_eq!(
        server.refresh_count() - before,
        1,
        "1,000 callers with an expired token must share exactly one refresh"
    );
}

#[tokio::test]
async fn a_replayed_refresh_token_signs_out_with_reuse_detected() {
    let mut config = server_config();
    config.refresh_grace_secs = 0;
    let server = server(config).await;
    let dir = temp_dir();
    let vault = MemoryVault::new();
    let engine = signed_in(&server.url, dir.path(), &vault).await;
    let stale = record(&vault, &server.url).await.unwrap_or_else(|| panic!("signed in, so a record exists"));
    engine.refresh_now().await.unwrap_or_else(|e| panic!("refresh must work: {e}"));

    // A stale copy of the record (an old backup, a buggy second client) is replayed elsewhere.
    let other_vault = MemoryVault::new();
    other_vault.store(&stale).await.unwrap_or_else(|e| panic!("memory vault store: {e}"));
    let other_dir = temp_dir();
    let replayer = engine_for(&server.url, other_dir.path(), &other_vault);
    let state = replayer.restore_user(USER).await.unwrap_or_else(|e| panic!("restore reports, it does not fail: {e}"));
    assert_eq!(
        state,
        SessionState::SignedOut { reason: Some(SignOutReason::RefreshReuseDetected) },
        "the replayer learns why"
    );
    assert_eq!(server.reuse_count(), 1, "the server detected the reuse");

    // The legitimate engine learns on its next call that the whole session is gone.
    let mut events = engine.subscribe();
    let err = engine.me().await.err();
    assert!(matches!(err, Some(EngineError::SignedOut(_))), "the revoked session must end here too: {err:?}");
    let reason = wait_for(&mut events, |e| match e {
        SessionEvent::StateChanged { reason: Some(reason), .. } => Some(*reason),
        _ => None,
    })
    .await;
    assert!(
        matches!(reason, SignOutReason::RefreshReuseDetected | SignOutReason::SessionRevoked),
        "the reason is the server's: {reason:?}"
    );
    assert!(vault.is_empty(), "the dead session's record is deleted");
}

fn engine_for(url: &str, dir: &std::path::Path, vault: &MemoryVault) -> tessera_session::SessionEngine {
    engine(url, dir, vault)
}

#[tokio::test]
async fn a_session_revoked_from_another_device_signs_out_with_session_revoked() {
    let server = server(server_config()).await;
    let (dir_a, dir_b) = (temp_dir(), temp_dir());
    let (vault_a, vault_b) = (MemoryVault::new(), MemoryVault::new());
    let laptop = signed_in(&server.url, dir_a.path(), &vault_a).await;
    let desk = signed_in(&server.url, dir_b.path(), &vault_b).await;
    let laptop_session = laptop.status().session_id.unwrap_or_default();
    desk.revoke_session(&laptop_session).await.unwrap_or_else(|e| panic!("revoking another device must work: {e}"));

    let err = laptop.me().await.err();
    assert_eq!(err, Some(EngineError::SignedOut(SignOutReason::SessionRevoked)), "the revoked device is told why");
    assert_eq!(
        laptop.state(),
        SessionState::SignedOut { reason: Some(SignOutReason::SessionRevoked) },
        "state carries the reason"
    );
    assert!(vault_a.is_empty(), "the revoked session's record is deleted");
    assert!(desk.me().await.is_ok(), "the device that revoked stays signed in");
}

#[tokio::test]
async fn server_down_means_offline_and_still_signed_in_then_active_after_restart() {
    let server_dir = temp_dir();
    let clock: Arc<dyn tessera_server::clock::Clock> = Arc::new(tessera_server::clock::SystemClock);
    let server = TestServer::start_in(server_dir.path(), server_config(), clock.clone()).await;
    let server = server.unwrap_or_else(|e| panic!("test server must start: {e}"));
    add_user(&server).await;
    let (url, addr) = (server.url.clone(), server.addr);
    let dir = temp_dir();
    let vault = MemoryVault::new();
    let engine = signed_in(&url, dir.path(), &vault).await;
    server.stop().await;

    let err = engine.refresh_now().await.err();
    assert!(err.as_ref().is_some_and(EngineError::is_transient), "an unreachable server is transient: {err:?}");
    assert!(matches!(engine.state(), SessionState::Offline { .. }), "Offline, not signed out: {:?}", engine.state());
    assert!(engine.status().session_id.is_some(), "the session is kept");
    assert!(record(&vault, &url).await.is_some(), "the vault record is kept");
    let restarted = engine_for(&url, dir.path(), &vault);
    let state = restarted
        .restore_user(USER)
        .await
        .unwrap_or_else(|e| panic!("restore while offline reports, it does not fail: {e}"));
    assert!(
        matches!(state, SessionState::Offline { .. }),
        "a start without network is Offline and signed in: {state:?}"
    );

    let server = TestServer::start_on(&addr.to_string(), server_dir.path(), server_config(), clock).await;
    let server = server.unwrap_or_else(|e| panic!("the server must restart on its data dir and port: {e}"));
    engine.refresh_now().await.unwrap_or_else(|e| panic!("refresh must work again once the server is back: {e}"));
    assert!(is_active(&engine.state()), "back to Active: {:?}", engine.state());
    let me = engine.me().await.unwrap_or_else(|e| panic!("calls work again: {e}"));
    assert_eq!(me.username, USER, "same user after the outage");
    drop(server);
}

#[tokio::test]
async fn sign_out_while_the_server_is_down_is_revoked_once_it_is_back() {
    let server_dir = temp_dir();
    let clock: Arc<dyn tessera_server::clock::Clock> = Arc::new(tessera_server::clock::SystemClock);
    let server = TestServer::start_in(server_dir.path(), server_config(), clock.clone()).await;
    let server = server.unwrap_or_else(|e| panic!("test server must start: {e}"));
    add_user(&server).await;
    let (url, addr) = (server.url.clone(), server.addr);
    let dir = temp_dir();
    // A vault that outlives the engine, as the keychain does (so the account is current).
    let vault = Arc::new(FileVault::new(dir.path().join("vault")));
    let stored = || async { vault.load(&key(&url)).await.unwrap_or_else(|e| panic!("file vault: {e}")) };
    let on_the_vault =
        || SessionEngine::new(engine_config(&url, dir.path()), vault.clone()).unwrap_or_else(|e| panic!("engine: {e}"));
    let engine = on_the_vault();
    engine.sign_in(USER, &Password::new(PASSWORD)).await.unwrap_or_else(|e| panic!("sign-in: {e}"));
    let token = stored().await.map(|r| r.refresh_token).unwrap_or_else(|| panic!("signed in, so a record exists"));
    server.stop().await;

    let mut events = engine.subscribe();
    let outcome = engine.sign_out().await.unwrap_or_else(|e| panic!("sign-out never fails for want of network: {e}"));
    assert_eq!(outcome, tessera_session::SignOutOutcome::RevocationQueued, "the revocation is queued");
    assert_eq!(
        engine.state(),
        SessionState::SignedOut { reason: Some(SignOutReason::UserSignedOut) },
        "signed out locally at once"
    );
    let warned = wait_for(&mut events, |e| match e {
        SessionEvent::Warning { code, .. } => Some(*code),
        _ => None,
    })
    .await;
    assert_eq!(warned, WarningCode::RevocationPending, "the user is told the server does not know yet");
    let queued = stored().await.unwrap_or_else(|| panic!("the queued revocation lives in the vault"));
    assert_eq!(queued.pending_revocation.as_ref(), Some(&token), "the token to revoke is kept in the keychain");

    let server = TestServer::start_on(&addr.to_string(), server_dir.path(), server_config(), clock).await;
    let server = server.unwrap_or_else(|e| panic!("the server must restart: {e}"));
    let next_start = on_the_vault();
    let flushed =
        next_start.flush_pending_revocations().await.unwrap_or_else(|e| panic!("flush must work online: {e}"));
    assert_eq!(flushed, 1, "one queued revocation was sent");
    assert!(stored().await.is_none(), "nothing is left in the vault afterwards");
    let current = tessera_session::CurrentAccountFile::in_dir(dir.path()).load();
    assert_eq!(current.ok(), Some(None), "and the account is no longer current");
    let replay = next_start.client().refresh(&token, None).await;
    assert!(replay.is_err(), "the server must have ended the session: the old token no longer refreshes");
    drop(server);
}

/// The desktop app's engine: same as the CLI's but for the OAuth client id.
fn desktop_engine(url: &str, dir: &std::path::Path, vault: &MemoryVault) -> tessera_session::SessionEngine {
    let config = tessera_session::EngineConfig::new(url, dir, "tessera-desktop", device("test desk"));
    tessera_session::SessionEngine::new(config, Arc::new(vault.clone()))
        .unwrap_or_else(|e| panic!("engine must build: {e}"))
}

#[tokio::test]
async fn two_engines_sharing_a_record_adopt_each_others_rotations() {
    let mut config = server_config();
    config.refresh_grace_secs = 0;
    let server = server(config).await;
    let dir = temp_dir();
    let vault = MemoryVault::new();
    // `tessera sign-in`, then the desktop app: same data dir (lock file), same keychain record,
    // separate memory, different OAuth clients. The server binds the token to the CLI's client.
    let cli = signed_in(&server.url, dir.path(), &vault).await;
    let desktop = desktop_engine(&server.url, dir.path(), &vault);
    let state = desktop.restore_user(USER).await.unwrap_or_else(|e| panic!("the app restores the CLI's session: {e}"));
    assert!(is_active(&state), "restored: {state:?}");
    for round in 0..3 {
        desktop
            .refresh_now()
            .await
            .unwrap_or_else(|e| panic!("round {round}: desktop refresh must adopt the CLI's rotation: {e}"));
        cli.refresh_now()
            .await
            .unwrap_or_else(|e| panic!("round {round}: CLI refresh must adopt the desktop's rotation: {e}"));
    }
    let (a, b) = tokio::join!(desktop.refresh_now(), cli.refresh_now());
    assert!(a.is_ok() && b.is_ok(), "concurrent refreshes from both must succeed: {a:?} {b:?}");
    assert_eq!(server.reuse_count(), 0, "with grace 0, any replay would be reuse: there must be none");
    assert!(desktop.me().await.is_ok() && cli.me().await.is_ok(), "both stay signed in");
    let sessions = desktop.sessions().await.unwrap_or_else(|e| panic!("sessions: {e}"));
    let clients: Vec<_> = sessions.sessions.iter().map(|s| s.client_id.as_str()).collect();
    assert_eq!(clients, ["tessera-cli"], "one session, still the CLI's: {clients:?}");
    desktop.sign_out().await.unwrap_or_else(|e| panic!("the app signs the shared session out: {e}"));
    assert!(vault.is_empty(), "the record is gone for both");
    let after = cli.refresh_now().await;
    assert!(after.is_err(), "the server ended the session the app revoked: {after:?}");
}

#[tokio::test]
async fn a_keychain_that_cannot_write_keeps_the_session_in_memory_and_says_so() {
    let server = server(server_config()).await;
    let dir = temp_dir();
    let vault = MemoryVault::new();
    let engine = signed_in(&server.url, dir.path(), &vault).await;
    let mut events = engine.subscribe();
    vault.set_failure(Some(VaultError::Locked("test".into())));
    engine.refresh_now().await.unwrap_or_else(|e| panic!("a keychain failure must not fail the refresh: {e}"));
    let warned = wait_for(&mut events, |e| match e {
        SessionEvent::Warning { code, .. } => Some(*code),
        _ => None,
    })
    .await;
    assert_eq!(warned, WarningCode::VaultReadFailed, "the failed re-read is reported first");
    let warned = wait_for(&mut events, |e| match e {
        SessionEvent::Warning { code, .. } => Some(*code),
        _ => None,
    })
    .await;
    assert_eq!(warned, WarningCode::VaultWriteFailed, "the failed write of the rotated token is reported");
    assert_eq!(engine.status().storage, StorageTier::Memory, "status says the session is memory-only");
    assert!(engine.me().await.is_ok(), "the session goes on in memory");
    vault.set_failure(None);
    engine.refresh_now().await.unwrap_or_else(|e| panic!("refresh after the keychain recovers: {e}"));
    assert_eq!(
        record(&vault, &server.url).await.map(|r| r.session_id),
        engine.status().session_id,
        "the next refresh stores the session again"
    );
}

#[tokio::test]
async fn near_the_absolute_end_the_session_is_expiring_with_a_warning() {
    let mut config = server_config();
    config.session_max_age_secs = 120;
    let server = server(config).await;
    let dir = temp_dir();
    let vault = MemoryVault::new();
    let engine = engine(&server.url, dir.path(), &vault);
    let mut events = engine.subscribe();
    engine.sign_in(USER, &Password::new(PASSWORD)).await.unwrap_or_else(|e| panic!("sign-in: {e}"));
    assert!(
        matches!(engine.state(), SessionState::Expiring { .. }),
        "2 min left < 5 min warning: {:?}",
        engine.state()
    );
    let warned = wait_for(&mut events, |e| match e {
        SessionEvent::Warning { code, .. } => Some(*code),
        _ => None,
    })
    .await;
    assert_eq!(warned, WarningCode::SessionExpiring, "the UI gets the 'session ends soon' warning");
    engine.refresh_now().await.unwrap_or_else(|e| panic!("'stay signed in' refreshes: {e}"));
    assert!(
        matches!(engine.state(), SessionState::Expiring { .. }),
        "the absolute end cannot be extended: still Expiring"
    );
}

#[tokio::test]
async fn the_schedule_rides_out_an_outage_and_comes_back_active_by_itself() {
    let server_dir = temp_dir();
    let clock: Arc<dyn tessera_server::clock::Clock> = Arc::new(tessera_server::clock::SystemClock);
    let mut config = server_config();
    config.access_token_ttl_secs = 3;
    let server = TestServer::start_in(server_dir.path(), config.clone(), clock.clone()).await;
    let server = server.unwrap_or_else(|e| panic!("test server must start: {e}"));
    add_user(&server).await;
    let (url, addr) = (server.url.clone(), server.addr);
    let dir = temp_dir();
    let vault = MemoryVault::new();
    let engine = signed_in(&url, dir.path(), &vault).await;
    let mut events = engine.subscribe();
    let _scheduler = engine.spawn_scheduler();
    server.stop().await;

    wait_for(&mut events, |e| match e {
        SessionEvent::StateChanged { state: SessionState::Offline { .. }, .. } => Some(()),
        _ => None,
    })
    .await;
    assert!(engine.status().session_id.is_some(), "an outage never signs the user out");

    let server = TestServer::start_on(&addr.to_string(), server_dir.path(), config, clock).await;
    let server = server.unwrap_or_else(|e| panic!("the server must restart: {e}"));
    wait_for(&mut events, |e| match e {
        SessionEvent::StateChanged { state: SessionState::Active { .. }, .. } => Some(()),
        _ => None,
    })
    .await;
    assert!(engine.me().await.is_ok(), "the backoff retries found the server again without any help");
    assert!(engine.metrics().refresh_failures >= 1, "the failed attempts are counted");
    drop(server);
}

#[tokio::test]
async fn at_the_absolute_end_the_session_signs_out_as_expired() {
    let server = server(server_config()).await;
    let dir = temp_dir();
    let vault = MemoryVault::new();
    let clock = Arc::new(tessera_session::ManualClock::new(chrono::Utc::now()));
    let engine = tessera_session::SessionEngine::with_clock(
        engine_config(&server.url, dir.path()),
        Arc::new(vault.clone()),
        clock.clone(),
    );
    let engine = engine.unwrap_or_else(|e| panic!("engine must build: {e}"));
    engine.sign_in(USER, &Password::new(PASSWORD)).await.unwrap_or_else(|e| panic!("sign-in: {e}"));
    // 12 h later (the default absolute lifetime) the schedule's last wake-up reassesses.
    clock.jump(chrono::Duration::hours(13));
    engine.reassess().await;
    assert_eq!(
        engine.state(),
        SessionState::SignedOut { reason: Some(SignOutReason::SessionExpired) },
        "the absolute end signs out"
    );
    assert!(vault.is_empty(), "an expired session leaves nothing in the vault");
}

#[tokio::test]
async fn a_busy_server_says_when_to_come_back_and_the_engine_keeps_it() {
    // One password-hash slot and nobody may wait: sign-ins that arrive together are answered
    // 503 server_busy with Retry-After (RFC 9110 §10.2.3), which the engine must not flatten.
    let config = tessera_server::Config { password_hash_concurrency: 1, password_hash_queue: 0, ..server_config() };
    let server = server(config).await;
    let dirs: Vec<_> = (0..6).map(|_| temp_dir()).collect();
    let engines: Vec<_> = dirs.iter().map(|d| engine(&server.url, d.path(), &MemoryVault::new())).collect();
    let password = Password::new(PASSWORD);
    let results = futures_util::future::join_all(engines.iter().map(|e| e.sign_in(USER, &password))).await;
    let busy: Vec<_> = results
        .iter()
        .filter_map(|r| match r {
            Err(EngineError::Client(e)) if e.code() == "server_busy" => Some(e),
            _ => None,
        })
        .collect();
    assert!(results.iter().any(Result::is_ok), "the sign-in that got the slot succeeds");
    assert!(!busy.is_empty(), "six at once on one slot and no queue: some are told the server is busy");
    for e in busy {
        let tessera_session::ErrorClass::Transient { retry_after } = e.class() else {
            panic!("busy is transient, not {:?}", e.class());
        };
        assert!(retry_after.is_some_and(|d| d.as_secs() >= 1), "Retry-After is kept: {e}");
    }
}

#[tokio::test]
async fn a_current_json_that_cannot_be_written_is_a_warning_not_a_silent_log_line() {
    let server = server(server_config()).await;
    let dir = temp_dir();
    // The config "directory" is a file: current.json cannot be written under it.
    let blocked = dir.path().join("config-is-a-file");
    std::fs::write(&blocked, b"not a directory").unwrap_or_else(|e| panic!("{e}"));
    let mut config = engine_config(&server.url, dir.path());
    config.current_account = tessera_session::CurrentAccountFile::in_dir(&blocked);
    let vault = Arc::new(FileVault::new(dir.path().join("vault")));
    let engine = SessionEngine::new(config, vault).unwrap_or_else(|e| panic!("engine: {e}"));
    let mut events = engine.subscribe();
    engine.sign_in(USER, &Password::new(PASSWORD)).await.unwrap_or_else(|e| panic!("the sign-in itself works: {e}"));
    let mut warned = None;
    while let Ok(event) = events.try_recv() {
        if let SessionEvent::Warning { code: WarningCode::CurrentAccountNotSaved, message } = event {
            warned = Some(message);
        }
    }
    let message = warned.unwrap_or_else(|| panic!("the user is told the other programs will not see the session"));
    assert!(message.contains("other Tessera programs"), "{message}");
    assert!(engine.state().is_signed_in(), "and stays signed in");
}
