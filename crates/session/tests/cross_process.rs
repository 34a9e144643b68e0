//! Two OS processes on one keychain record, and processes killed mid-refresh.
//!
//! The child processes are this test binary again, running the ignored `child_refresher` test
//! with its orders in environment variables; they share the record through the test-only
//! `FileVault` and the refresh lock through the shared data directory, like the desktop app and
//! the CLI share the OS keychain and the data dir.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use common::file_vault::FileVault;
use common::*;
use rand::Rng;
use tessera_session::{Password, SessionEngine, SessionState, SignOutReason};

const CHILD: &str = "TESSERA_TEST_CHILD_URL";

fn file_engine(url: &str, dir: &Path) -> SessionEngine {
    let vault = FileVault::new(dir.join("vault"));
    SessionEngine::new(engine_config(url, &dir.join("data")), Arc::new(vault))
        .unwrap_or_else(|e| panic!("engine must build: {e}"))
}

/// Not a test of its own: the body of a child process (see the module doc).
#[tokio::test]
#[ignore = "run only as a child process of the tests below"]
async fn child_refresher() {
    let (Ok(url), Ok(dir), Ok(rounds)) =
        (std::env::var(CHILD), std::env::var("TESSERA_TEST_CHILD_DIR"), std::env::var("TESSERA_TEST_CHILD_ROUNDS"))
    else {
        return;
    };
    let rounds: u64 = rounds.parse().unwrap_or(0);
    let engine = file_engine(&url, Path::new(&dir));
    let state = engine.restore().await.unwrap_or_else(|e| panic!("child restore failed: {e}"));
    assert!(state.is_signed_in(), "the child must pick up the shared session: {state:?}");
    let mut done = 0;
    while rounds == 0 || done < rounds {
        engine.refresh_now().await.unwrap_or_else(|e| panic!("child refresh {done} failed: {e}"));
        done += 1;
    }
    println!("child refreshed {done} times");
}

fn child(url: &str, dir: &Path, rounds: u64) -> tokio::process::Command {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("the test binary's path: {e}"));
    let mut cmd = tokio::process::Command::new(exe);
    cmd.args(["child_refresher", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD, url)
        .env("TESSERA_TEST_CHILD_DIR", dir)
        .env("TESSERA_TEST_CHILD_ROUNDS", rounds.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_refreshing_at_once_both_stay_signed_in_without_a_reuse_alarm() {
    let mut config = server_config();
    config.refresh_grace_secs = 0;
    let server = server(config).await;
    let dir = temp_dir();
    let engine = file_engine(&server.url, dir.path());
    engine.sign_in(USER, &Password::new(PASSWORD)).await.unwrap_or_else(|e| panic!("sign-in: {e}"));
    drop(engine);
    let before = server.refresh_count();

    let rounds = 15;
    let (a, b) =
        tokio::join!(child(&server.url, dir.path(), rounds).output(), child(&server.url, dir.path(), rounds).output());
    for (name, out) in [("first", a), ("second", b)] {
        let out = out.unwrap_or_else(|e| panic!("{name} child must run: {e}"));
        assert!(
            out.status.success(),
            "{name} child must stay signed in through every refresh: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        server.reuse_count(),
        0,
        "with grace 0 any replayed token would be reuse: the lock and re-read prevent it"
    );
    assert_eq!(
        server.refresh_count() - before,
        2 * (rounds + 1),
        "every refresh (plus each restore) reached the server once"
    );

    let after = file_engine(&server.url, dir.path());
    let state = after.restore().await.unwrap_or_else(|e| panic!("restore after both: {e}"));
    assert!(matches!(state, SessionState::Active { .. }), "the shared record is still good: {state:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_process_mid_refresh_never_triggers_reuse_revocation() {
    // The server's default grace window: a token rotated by a refresh whose response died with
    // the process may be presented once more.
    let server = server(server_config()).await;
    let dir = temp_dir();
    let first = file_engine(&server.url, dir.path());
    first.sign_in(USER, &Password::new(PASSWORD)).await.unwrap_or_else(|e| panic!("sign-in: {e}"));
    drop(first);

    let (mut restored, mut asked_to_sign_in) = (0, 0);
    for trial in 0..50 {
        let mut proc =
            child(&server.url, dir.path(), 0).spawn().unwrap_or_else(|e| panic!("trial {trial}: spawn: {e}"));
        let wait = rand::thread_rng().gen_range(0..300);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        proc.kill().await.unwrap_or_else(|e| panic!("trial {trial}: SIGKILL: {e}"));

        let next = file_engine(&server.url, dir.path());
        match next.restore().await {
            Ok(SessionState::Active { .. } | SessionState::Expiring { .. }) => restored += 1,
            Ok(SessionState::SignedOut { reason }) => {
                assert_ne!(
                    reason,
                    Some(SignOutReason::RefreshReuseDetected),
                    "trial {trial}: a crash must never look like theft"
                );
                asked_to_sign_in += 1;
                next.sign_in(USER, &Password::new(PASSWORD))
                    .await
                    .unwrap_or_else(|e| panic!("trial {trial}: sign-in: {e}"));
            }
            other => panic!("trial {trial}: the next start must restore or ask to sign in, got {other:?}"),
        }
    }
    assert_eq!(server.reuse_count(), 0, "no trial may trigger a reuse revocation");
    assert_eq!(restored + asked_to_sign_in, 50, "every trial ended in one of the two clean outcomes");
    println!("restored {restored} of 50, asked to sign in {asked_to_sign_in}");
}
