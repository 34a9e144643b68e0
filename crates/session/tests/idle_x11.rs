//! The idle sign-out against a real X server's idle counter (our own `Xvfb -noreset`, driven
//! with xdotool) and the real reference server on loopback.
//!
//! `user-idle` reads `$DISPLAY` from the process environment, which a test cannot set safely
//! in-process; so each test re-runs itself as a child process with `DISPLAY` set to its own
//! Xvfb (the parent starts and stops it). The child runs the scenario and its exit status is
//! the verdict.

mod common;

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::child::{as_child, is_child};
use common::*;
use tessera_session::{
    IdleWatch, MemoryVault, SessionEngine, SessionEvent, SessionState, SignOutReason, SystemIdle, WarningCode,
};

/// An Xvfb of our own on a display it picks itself (`-displayfd`: no race with other tests).
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start() -> Xvfb {
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "640x480x24", "-nolisten", "tcp", "-noreset"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("Xvfb must be installed (tools/setup installs it): {e}"));
        let mut line = String::new();
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("Xvfb stdout"));
        BufReader::new(stdout).read_line(&mut line).unwrap_or_else(|e| panic!("Xvfb display number: {e}"));
        let number = line.trim();
        assert!(
            !number.is_empty() && number.chars().all(|c| c.is_ascii_digit()),
            "Xvfb must report its display number: {line:?}"
        );
        Xvfb { child, display: format!(":{number}") }
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `body` in a child process whose `DISPLAY` is an Xvfb of its own (started by the parent).
fn under_xvfb<F, Fut>(name: &str, body: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    if is_child() {
        let display = std::env::var("DISPLAY").unwrap_or_else(|_| panic!("the parent sets DISPLAY"));
        as_child(name, &[], &[], || body(display));
        return;
    }
    let xvfb = Xvfb::start();
    as_child(name, &[("DISPLAY", xvfb.display.clone())], &[], || async { unreachable!("parent") });
    drop(xvfb);
}

async fn xdotool(display: &str, args: &[&str]) {
    let status = tokio::process::Command::new("xdotool").args(args).env("DISPLAY", display).status().await;
    let status = status.unwrap_or_else(|e| panic!("xdotool must be installed (tools/setup installs it): {e}"));
    assert!(status.success(), "xdotool {args:?} on {display} must work: {status}");
}

fn idle_engine(url: &str, dir: &std::path::Path, vault: &MemoryVault, timeout: u64, warning: u64) -> SessionEngine {
    let mut config = engine_config(url, dir);
    config.idle_timeout = Duration::from_secs(timeout);
    config.idle_warning = Duration::from_secs(warning);
    SessionEngine::new(config, Arc::new(vault.clone())).unwrap_or_else(|e| panic!("engine must build: {e}"))
}

async fn sign_in(engine: &SessionEngine) -> String {
    let status = engine.sign_in(USER, &tessera_session::Password::new(PASSWORD)).await;
    let status = status.unwrap_or_else(|e| panic!("sign-in must work: {e}"));
    status.session_id.unwrap_or_else(|| panic!("a signed-in status has a session id"))
}

/// The server's list of the user's sessions, as another device sees it.
async fn server_session_ids(url: &str) -> Vec<String> {
    let dir = temp_dir();
    let vault = MemoryVault::new();
    let other = signed_in(url, dir.path(), &vault).await;
    let list = other.sessions().await.unwrap_or_else(|e| panic!("sessions list must work: {e}"));
    let _ = other.sign_out().await;
    list.sessions.into_iter().filter(|s| !s.current).map(|s| s.id).collect()
}

async fn next_idle_event(events: &mut tokio::sync::broadcast::Receiver<SessionEvent>) -> SessionEvent {
    wait_for(events, |e| match e {
        SessionEvent::IdleWarning { .. } | SessionEvent::IdleWarningCancelled => Some(e.clone()),
        SessionEvent::StateChanged { state: SessionState::SignedOut { .. }, .. } => Some(e.clone()),
        _ => None,
    })
    .await
}

#[test]
fn signed_in_user_is_warned_then_signed_out_after_system_idle() {
    under_xvfb("signed_in_user_is_warned_then_signed_out_after_system_idle", |display| async move {
        let server = server(server_config()).await;
        let dir = temp_dir();
        let vault = MemoryVault::new();
        let engine = idle_engine(&server.url, dir.path(), &vault, 6, 3);
        let session_id = sign_in(&engine).await;
        let source = SystemIdle::detect()
            .unwrap_or_else(|| panic!("with a reachable Xvfb on {display}, X11 idle time must be found"));
        assert_eq!(source.name(), "x11", "DISPLAY set and no Wayland: the X11 source");
        xdotool(&display, &["mousemove", "17", "23"]).await;

        let mut events = engine.subscribe();
        let watch = IdleWatch::spawn(engine.clone(), Some(source));
        let first = next_idle_event(&mut events).await;
        let SessionEvent::IdleWarning { seconds_left } = first else {
            panic!("a warning must come before the sign-out: {first:?}")
        };
        assert!((1..=3).contains(&seconds_left), "the countdown starts within the 3 s warning: {seconds_left}");
        assert!(watch.status().warning_active, "status shows the running warning");
        let reason = wait_for(&mut events, |e| match e {
            SessionEvent::StateChanged { state: SessionState::SignedOut { reason }, .. } => Some(*reason),
            _ => None,
        })
        .await;
        assert_eq!(reason, Some(SignOutReason::IdleTimeout), "the session ends for inactivity");
        assert!(record(&vault, &server.url).await.is_none(), "the keychain record is gone after the idle sign-out");
        let remaining = server_session_ids(&server.url).await;
        assert!(!remaining.contains(&session_id), "the server must have revoked the idle session: {remaining:?}");
        assert_eq!(watch.status().source, "x11", "status names the source");
    });
}

#[test]
fn input_during_the_warning_cancels_it_and_the_session_stays() {
    under_xvfb("input_during_the_warning_cancels_it_and_the_session_stays", |display| async move {
        let server = server(server_config()).await;
        let dir = temp_dir();
        let vault = MemoryVault::new();
        let engine = idle_engine(&server.url, dir.path(), &vault, 8, 5);
        let session_id = sign_in(&engine).await;
        let source = SystemIdle::detect().unwrap_or_else(|| panic!("X11 idle time must be found on {display}"));
        let mut events = engine.subscribe();
        let watch = IdleWatch::spawn(engine.clone(), Some(source));

        for input in [&["key", "shift"][..], &["mousemove", "101", "202"][..]] {
            let warning = next_idle_event(&mut events).await;
            assert!(
                matches!(warning, SessionEvent::IdleWarning { .. }),
                "idle grows into a warning first: {warning:?}"
            );
            xdotool(&display, input).await;
            let after = wait_for(&mut events, |e| match e {
                SessionEvent::IdleWarningCancelled => Some(e.clone()),
                SessionEvent::StateChanged { state: SessionState::SignedOut { .. }, .. } => Some(e.clone()),
                _ => None,
            })
            .await;
            assert_eq!(
                after,
                SessionEvent::IdleWarningCancelled,
                "xdotool {input:?} during the warning must cancel it"
            );
        }
        drop(watch);
        assert!(
            engine.state().is_signed_in(),
            "after cancelled warnings the user stays signed in: {:?}",
            engine.state()
        );
        let me = engine.me().await.unwrap_or_else(|e| panic!("the session must still work at the server: {e}"));
        assert_eq!(me.session_id, session_id, "the same session");
    });
}

/// A display number nobody serves.
fn unused_display() -> String {
    let taken = |n: u32| {
        std::path::Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
            || std::path::Path::new(&format!("/tmp/.X{n}-lock")).exists()
    };
    let n = (200..400).find(|n| !taken(*n)).unwrap_or(399);
    format!(":{n}")
}

#[test]
fn without_a_display_or_bus_idle_is_unknown_and_judged_from_the_app_window() {
    let display = unused_display();
    as_child(
        "without_a_display_or_bus_idle_is_unknown_and_judged_from_the_app_window",
        &[("DISPLAY", display.clone())],
        &["DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR"],
        || async move {
            let x11 = tessera_session::idle::X11Idle::from_env();
            assert!(x11.is_err(), "no X server on {display}: the X11 source must refuse, not crash");
            assert!(SystemIdle::detect().is_none(), "no display and no session bus: idle time is unknown");

            let server = server(server_config()).await;
            let dir = temp_dir();
            let vault = MemoryVault::new();
            let engine = idle_engine(&server.url, dir.path(), &vault, 6, 3);
            sign_in(&engine).await;
            let mut events = engine.subscribe();
            let watch = IdleWatch::spawn(engine.clone(), None);
            let code = wait_for(&mut events, |e| match e {
                SessionEvent::Warning { code, .. } => Some(*code),
                _ => None,
            })
            .await;
            assert_eq!(code, WarningCode::IdleUnknown, "the user is told idle time is unknown here");
            assert_eq!(watch.status().source, "unknown", "status says so too");
            let warning = next_idle_event(&mut events).await;
            assert!(
                matches!(warning, SessionEvent::IdleWarning { .. }),
                "no window input: the warning comes: {warning:?}"
            );
            watch.report_activity();
            let after = wait_for(&mut events, |e| match e {
                SessionEvent::IdleWarningCancelled => Some(e.clone()),
                SessionEvent::StateChanged { state: SessionState::SignedOut { .. }, .. } => Some(e.clone()),
                _ => None,
            })
            .await;
            assert_eq!(after, SessionEvent::IdleWarningCancelled, "input in the app window cancels the warning");
            let reason = wait_for(&mut events, |e| match e {
                SessionEvent::StateChanged { state: SessionState::SignedOut { reason }, .. } => Some(*reason),
                _ => None,
            })
            .await;
            assert_eq!(reason, Some(SignOutReason::IdleTimeout), "with no more input the session ends for inactivity");
        },
    );
}
