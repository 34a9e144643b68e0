//! The relay: every engine's events, and the shell's own, on their way to the webview's one
//! event channel (bounded; a webview that falls behind is told to resync).

use std::sync::{Arc, PoisonError};

use serde::Serialize;
use tessera_session::SessionEvent;
use tokio::sync::broadcast;

use super::Shell;

/// What the webview receives on its event channel.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum UiEvent {
    /// An engine event, as the engine serializes it (`{"type":"state_changed",...}`).
    Session(SessionEvent),
    /// Something from the shell itself.
    Shell(ShellEvent),
}

/// Events of the shell.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ShellEvent {
    /// Events were lost (slow webview) or the engine was replaced: read `app_status` again.
    Resync,
}

/// Called for every engine event before it reaches the webview (OS notifications, tray).
pub type EventHook = Arc<dyn Fn(&SessionEvent) + Send + Sync>;

impl Shell {
    /// Streams relay events to `send` until it fails; replaces the previous subscription (one
    /// window, one listener: a reloaded page does not leave its old listener running).
    pub fn subscribe(&self, send: impl Fn(UiEvent) -> bool + Send + 'static) {
        let mut rx = self.relay.subscribe();
        let task = tokio::spawn(async move {
            loop {
                let event = match rx.recv().await {
                    Ok(event) => event,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::debug!(lost = n, "webview fell behind; asking it to resync");
                        UiEvent::Shell(ShellEvent::Resync)
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                if !send(event) {
                    break;
                }
            }
        });
        if let Some(previous) = self.subscription.lock().unwrap_or_else(PoisonError::into_inner).replace(task) {
            previous.abort();
        }
    }
}

/// Forwards one engine's events to the relay, calling the hook on each.
pub(super) async fn forward(
    mut events: broadcast::Receiver<SessionEvent>,
    relay: broadcast::Sender<UiEvent>,
    hook: EventHook,
) {
    loop {
        match events.recv().await {
            Ok(event) => {
                hook(&event);
                // No webview listening is fine.
                let _ = relay.send(UiEvent::Session(event));
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                let _ = relay.send(UiEvent::Shell(ShellEvent::Resync));
            }
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
}
