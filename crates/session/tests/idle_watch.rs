//! The idle watch with the real reference server: suspend (a wall-clock jump, as after a
//! sleep, while the monotonic clock stood still), logind's signals on a private bus, the
//! activity mirror and the server's own idle timeout.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::fake_idle::FakeIdle;
use common::*;
use tessera_session::{
    EngineError, IdleWatch, ManualClock, MemoryVault, Password, SessionEngine, SessionEvent, SessionState,
    SignOutReason, WarningCode,
};
use tokio::sync::broadcast;

/// A bus address where nothing listens: no logind, so the watch relies on clock checks.
const NO_LOGIND: &str = "unix:path=/nonexistent/tessera-no-bus";

struct Setup {
    server: tessera_server::testing::TestServer,
    _dir: tempfile::TempDir,
    vault: MemoryVault,
    clock: Arc<ManualClock>,
    engine: SessionEngine,
    session_id: String,
}

async fn setup(server_config: tessera_server::Config, tune: impl FnOnce(&mut tessera_session::EngineConfig)) -> Setup {
    let server = server(server_config).await;
    let dir = temp_dir();
    let vault = MemoryVault::new();
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let mut config = engine_config(&server.url, dir.path());
    tune(&mut config);
    let engine = SessionEngine::with_clock(config, Arc::new(vault.clone()), clock.clone());
    let engine = engine.unwrap_or_else(|e| panic!("engine must build: {e}"));
    let status =
        engine.sign_in(USER, &Password::new(PASSWORD)).await.unwrap_or_else(|e| panic!("sign-in must work: {e}"));
    let session_id = status.session_id.unwrap_or_default();
    Setup { server, _dir: dir, vault, clock, engine, session_id }
}

/// Waits (failsafe limit only) until `done` holds.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let waited = tokio::time::timeout(Duration::from_secs(60), async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    waited.unwrap_or_else(|_| panic!("never happened: {what}"));
}

async fn first_state(events: &mut broadcast::Receiver<SessionEvent>) -> SessionState {
    wait_for(events, |e| match e {
        SessionEvent::StateChanged { state, .. } => Some(state.clone()),
        _ => None,
    })
    .await
}

/// Session ids the server still has for the user, as another device sees them.
async fn server_session_ids(url: &str) -> Vec<String> {
    let dir = temp_dir();
    let vault = MemoryVault::new();
    let other = signed_in(url, dir.path(), &vault).await;
    let list = other.sessions().await.unwrap_or_else(|e| panic!("sessions list must work: {e}"));
    let _ = other.sign_out().await;
    list.sessions.into_iter().filter(|s| !s.current).map(|s| s.id).collect()
}

fn minutes(n: i64) -> chrono::Duration {
    chrono::Duration::minutes(n)
}

#[tokio::test]
async fn waking_after_a_sleep_longer_than_the_timeout_signs_out_before_anything_else() {
    let s = setup(server_config(), |_| {}).await;
    let _schedule = s.engine.spawn_scheduler();
    let source = FakeIdle::new();
    let watch = IdleWatch::spawn_with_logind_bus(s.engine.clone(), Some(source.clone()), Some(NO_LOGIND.into()));
    until("the watch is armed", || watch.status().armed).await;
    let refreshes = s.server.refresh_count();
    let mut events = s.engine.subscribe();

    // 20 minutes asleep: the wall clock moved, the monotonic clock (and the idle counter) did
    // not; the user presses a key on wake and the app calls check_now().
    s.clock.jump(minutes(20));
    source.touch();
    watch.check_now().await;

    let state = first_state(&mut events).await;
    assert_eq!(
        state,
        SessionState::SignedOut { reason: Some(SignOutReason::IdleTimeout) },
        "the first thing after the wake is the idle sign-out"
    );
    assert_eq!(
        s.server.refresh_count(),
        refreshes,
        "the expired access token must not be refreshed before the sign-out"
    );
    assert!(record(&s.vault, &s.server.url).await.is_none(), "the keychain record is gone");
    let remaining = server_session_ids(&s.server.url).await;
    assert!(!remaining.contains(&s.session_id), "the server must have revoked the session: {remaining:?}");
}

#[tokio::test]
async fn a_sleep_is_noticed_without_the_app_by_comparing_clocks() {
    let s = setup(server_config(), |c| c.clock_check_interval = Duration::from_secs(1)).await;
    let source = FakeIdle::new();
    let watch = IdleWatch::spawn_with_logind_bus(s.engine.clone(), Some(source.clone()), Some(NO_LOGIND.into()));
    until("the watch is armed", || watch.status().armed).await;
    assert!(!watch.status().logind, "no logind on this bus");
    let mut events = s.engine.subscribe();
    s.clock.jump(minutes(16));
    source.touch();
    let state = first_state(&mut events).await;
    assert_eq!(
        state,
        SessionState::SignedOut { reason: Some(SignOutReason::IdleTimeout) },
        "a periodic clock check notices the 16 min sleep"
    );
}

#[tokio::test]
async fn short_sleeps_add_up_until_the_user_touches_something() {
    let s = setup(server_config(), |_| {}).await;
    let source = FakeIdle::new();
    let watch = IdleWatch::spawn_with_logind_bus(s.engine.clone(), Some(source.clone()), Some(NO_LOGIND.into()));
    until("the watch is armed", || watch.status().armed).await;

    s.clock.jump(minutes(5));
    watch.check_now().await;
    assert!(s.engine.state().is_signed_in(), "5 min asleep is below the 15 min timeout");
    assert!(watch.status().idle_for_secs >= 300, "but counts as idle time: {:?}", watch.status());

    // Input (a second later, so it is clearly new), then 11 min asleep: the earlier sleep no
    // longer counts.
    tokio::time::sleep(Duration::from_secs(1)).await;
    source.touch();
    s.clock.jump(minutes(11));
    watch.check_now().await;
    assert!(s.engine.state().is_signed_in(), "input between the sleeps restarts idle time: {:?}", watch.status());

    // 5 more minutes asleep without input: 16 min in all.
    let mut events = s.engine.subscribe();
    s.clock.jump(minutes(5));
    watch.check_now().await;
    let state = first_state(&mut events).await;
    assert_eq!(
        state,
        SessionState::SignedOut { reason: Some(SignOutReason::IdleTimeout) },
        "11 + 5 min asleep without input reach the timeout"
    );
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn logind_resume_signal_triggers_the_check_and_lock_signs_out_when_asked() {
    let logind = common::fake_bus::FakeLogind::start();
    // Clock checks effectively off: only logind's signals can notice the sleep.
    let s = setup(server_config(), |c| c.clock_check_interval = Duration::from_secs(3600)).await;
    let source = FakeIdle::new();
    let watch = IdleWatch::spawn_with_logind_bus(s.engine.clone(), Some(source.clone()), Some(logind.address.clone()));
    until("the watch hears logind", || watch.status().logind && watch.status().armed).await;

    let mut events = s.engine.subscribe();
    logind.prepare_for_sleep(true);
    s.clock.jump(minutes(30));
    logind.prepare_for_sleep(false);
    let state = first_state(&mut events).await;
    assert_eq!(
        state,
        SessionState::SignedOut { reason: Some(SignOutReason::IdleTimeout) },
        "PrepareForSleep(false) after 30 min asleep signs out"
    );
    drop(watch);

    // Sign in again; with sign-out on lock, logind's Lock for our session signs out.
    s.engine.sign_in(USER, &Password::new(PASSWORD)).await.unwrap_or_else(|e| panic!("second sign-in: {e}"));
    let watch = IdleWatch::spawn_with_logind_bus(s.engine.clone(), Some(source.clone()), Some(logind.address.clone()));
    watch.set_sign_out_on_lock(true);
    until("the watch hears logind again", || watch.status().logind && watch.status().armed).await;
    let mut events = s.engine.subscribe();
    logind.lock();
    let state = first_state(&mut events).await;
    assert_eq!(
        state,
        SessionState::SignedOut { reason: Some(SignOutReason::ScreenLocked) },
        "Lock signs out with screen_locked"
    );
}

#[tokio::test]
async fn the_servers_idle_timeout_ends_the_session_of_a_client_that_stops_reporting() {
    let config = server_config_with_idle(5);
    let s = setup(config, |c| c.activity_report_interval = Duration::from_secs(1)).await;
    let mut events = s.engine.subscribe();
    let watch =
        IdleWatch::spawn_with_logind_bus(s.engine.clone(), Some(FakeIdle::always_active()), Some(NO_LOGIND.into()));
    let code = wait_for(&mut events, |e| match e {
        SessionEvent::Warning { code, .. } => Some(*code),
        _ => None,
    })
    .await;
    assert_eq!(
        code,
        WarningCode::IdleTimeoutClamped,
        "a 15 min timeout is clamped to the server's 5 s, and the user is told"
    );
    let status = watch.status();
    assert_eq!(
        (status.timeout_secs, status.server_timeout_secs),
        (5, Some(5)),
        "the engine learned the server's idle timeout"
    );

    // An active user: the mirror keeps the session alive past its first idle deadline.
    let refresh_end = s.engine.status().refresh_expires_at;
    let first = s.engine.current_session().await.unwrap_or_else(|e| panic!("session info: {e}"));
    let outlived = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now =
                s.engine.current_session().await.unwrap_or_else(|e| panic!("an active user's session must stay: {e}"));
            if now.last_activity_at > first.idle_expires_at {
                return now;
            }
        }
    })
    .await;
    let outlived = outlived.unwrap_or_else(|_| panic!("activity reports never moved the server's idle deadline"));
    assert!(outlived.idle_expires_at > first.idle_expires_at, "reported activity moves the server's idle deadline");
    assert!(s.engine.status().refresh_expires_at > refresh_end, "and the engine notes the refresh token's later end");

    // The client "crashes": no more reports. The server ends the session on its own.
    drop(watch);
    let ended = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            match s.engine.me().await {
                Ok(_) => continue,
                Err(e) => return e,
            }
        }
    })
    .await;
    let ended = ended.unwrap_or_else(|_| panic!("the server never ended the silent session"));
    assert!(
        matches!(ended, EngineError::SignedOut(SignOutReason::IdleTimeout)),
        "the server's idle timeout ends it: {ended}"
    );
    assert_eq!(
        s.engine.state(),
        SessionState::SignedOut { reason: Some(SignOutReason::IdleTimeout) },
        "and the engine learns why"
    );
}

fn server_config_with_idle(idle_secs: u64) -> tessera_server::Config {
    tessera_server::Config { session_idle_timeout_secs: idle_secs, ..server_config() }
}
