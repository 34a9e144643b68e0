//! `tessera watch`: stays signed in (scheduled refresh), runs the notification feed and the idle
//! watch (`TESSERA_IDLE_TIMEOUT_SECS`, `TESSERA_IDLE_WARNING_SECS`) and prints every engine event
//! until Ctrl-C or SIGTERM (exit 0) or the session ends (exit 3, e.g. after the idle timeout).

use tessera_session::{Desk, SessionEngine, SessionEvent, SessionState, SystemIdle};
use tokio::sync::broadcast;

use crate::context::{self, Dirs};
use crate::failure::{Exit, Failure};
use crate::output;

pub async fn run(dirs: &Dirs, json: bool) -> Result<Exit, Failure> {
    let restored = context::restore_current_or_offline(dirs).await?;
    watch(restored.engine, json).await
}

/// The event loop over a [`Desk`] for `engine` (refresh schedule, feed, idle watch), one line
/// per event.
pub async fn watch(engine: SessionEngine, json: bool) -> Result<Exit, Failure> {
    let mut events = engine.subscribe();
    // System-wide idle (X11, GNOME); without a source the terminal cannot tell activity, so the
    // session then ends at the idle timeout unless something else reports activity — said by a
    // `idle_unknown` warning event.
    let desk = Desk::open(engine, SystemIdle::detect());
    // Kept: once signed out, the desk no longer knows whose cache to wipe.
    let account = desk.account();
    print(&SessionEvent::StateChanged { state: desk.engine().state(), reason: None }, json)?;
    let mut terminate = terminate_signal()?;
    loop {
        let event = tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(Exit::Ok),
            _ = terminate.recv() => return Ok(Exit::Ok),
            event = events.recv() => event,
        };
        match event {
            Ok(event) => {
                print(&event, json)?;
                if let SessionEvent::StateChanged { state: SessionState::SignedOut { reason }, .. } = event {
                    // This process is about to exit: the cache goes first.
                    if let Some(account) = &account {
                        desk.forget_cached(account).await;
                    }
                    return Err(match reason {
                        Some(reason) => Failure::from(tessera_session::EngineError::SignedOut(reason)),
                        None => Failure::not_signed_in(),
                    });
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                eprintln!("warning: {n} events were dropped (output too slow)")
            }
            Err(broadcast::error::RecvError::Closed) => return Ok(Exit::Ok),
        }
    }
}

#[cfg(unix)]
fn terminate_signal() -> Result<tokio::signal::unix::Signal, Failure> {
    use tokio::signal::unix::{SignalKind, signal};
    signal(SignalKind::terminate())
        .map_err(|e| Failure::new(Exit::Error, "signal", format!("cannot watch for SIGTERM: {e}")))
}

#[cfg(not(unix))]
fn terminate_signal() -> Result<NoSignal, Failure> {
    Ok(NoSignal)
}

/// Where there is no SIGTERM, a signal that never comes.
#[cfg(not(unix))]
struct NoSignal;

#[cfg(not(unix))]
impl NoSignal {
    async fn recv(&mut self) -> Option<()> {
        std::future::pending().await
    }
}

fn print(event: &SessionEvent, json: bool) -> Result<(), Failure> {
    if json {
        return output::json(event);
    }
    println!("{}", human(event));
    Ok(())
}

/// One line for people.
fn human(event: &SessionEvent) -> String {
    match event {
        SessionEvent::StateChanged { state, reason } => {
            let reason = reason.map(|r| format!(" ({})", r.as_str())).unwrap_or_default();
            format!("state: {}{reason}", state.name())
        }
        SessionEvent::Warning { code, message } => {
            let code = serde_json::to_value(code).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            format!("warning: {message} ({code})")
        }
        SessionEvent::FeedMode { mode } => format!("feed: {}", mode.as_str()),
        SessionEvent::Notification { notification } => format!(
            "notification #{} {} {}: {}",
            notification.seq,
            output::local(notification.created_at),
            notification.kind,
            output::summary(&notification.payload)
        ),
        SessionEvent::IdleWarning { seconds_left } => {
            format!("idle: signing out in {seconds_left} s unless there is input")
        }
        SessionEvent::IdleWarningCancelled => "idle: input seen, sign-out cancelled".to_owned(),
        SessionEvent::Error { code, message } => format!("error: {message} ({code})"),
    }
}
