//! The relay: every engine's events, and the shell's own, on their way to the webview's one
//! event channel (bounded; a webview that falls behind is told to resync).
//!
//! Events and command replies reach the webview separately, so a reply can be older than an
//! event that arrived before it. The relay numbers every event it sends (`seq`: 1, 2, 3, … per
//! app run) and the replies of the commands that read what events change (`app_status`,
//! `sign_in`, `notifications_list`) carry `event_seq`, the number of the last event sent before
//! the read began ([`Shell::event_seq`]). Every event is sent after what it announces is in
//! place, so a reply reflects every event up to its `event_seq`; the UI discards a reply older
//! than an event it has already applied (`ui/js/state.js`, docs/app.md "Events").

use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use tessera_session::SessionEvent;
use tokio::sync::broadcast;

use super::Shell;

/// An event as the webview receives it: the relay's number, then the event's own fields
/// (`{"seq":7,"type":"feed_mode","mode":"live"}`).
#[derive(Debug, Clone, Serialize)]
pub struct RelayedEvent {
    /// 1 for the first event the relay sent, then one more for each event, in sending order.
    pub seq: u64,
    /// The event.
    #[serde(flatten)]
    pub event: UiEvent,
}

/// What the relay carries.
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

/// One bounded broadcast whose events are numbered as they are sent.
#[derive(Clone)]
pub(super) struct Relay {
    /// The number of the last event sent; held while sending so numbers follow sending order.
    sent: Arc<Mutex<u64>>,
    tx: broadcast::Sender<RelayedEvent>,
}

impl Relay {
    /// A relay that keeps up to `capacity` events for a listener that falls behind.
    pub(super) fn new(capacity: usize) -> Self {
        Self { sent: Arc::new(Mutex::new(0)), tx: broadcast::channel(capacity).0 }
    }

    /// Numbers `event` and sends it (no webview listening is fine).
    pub(super) fn send(&self, event: UiEvent) {
        let mut sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
        *sent += 1;
        let _ = self.tx.send(RelayedEvent { seq: *sent, event });
    }

    /// The number of the last event sent (0: none yet).
    pub(super) fn last_seq(&self) -> u64 {
        *self.sent.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A listener, and the number of the last event it will not see.
    fn listen(&self) -> (u64, broadcast::Receiver<RelayedEvent>) {
        let sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
        (*sent, self.tx.subscribe())
    }
}

/// The next event for a listener whose last event was `*last`: a listener that fell behind gets
/// one `resync` numbered as the last event it lost, so the numbers it sees keep rising by one.
/// `None` once the relay is gone.
async fn next_for(rx: &mut broadcast::Receiver<RelayedEvent>, last: &mut u64) -> Option<RelayedEvent> {
    let event = match rx.recv().await {
        Ok(event) => event,
        Err(broadcast::error::RecvError::Lagged(lost)) => {
            tracing::debug!(lost, "webview fell behind; asking it to resync");
            RelayedEvent { seq: *last + lost, event: UiEvent::Shell(ShellEvent::Resync) }
        }
        Err(broadcast::error::RecvError::Closed) => return None,
    };
    *last = event.seq;
    Some(event)
}

impl Shell {
    /// Streams relay events to `send` until it fails; replaces the previous subscription (one
    /// window, one listener: a reloaded page does not leave its old listener running).
    pub fn subscribe(&self, send: impl Fn(RelayedEvent) -> bool + Send + 'static) {
        let (mut last, mut rx) = self.relay.listen();
        let task = tokio::spawn(async move {
            while let Some(event) = next_for(&mut rx, &mut last).await {
                if !send(event) {
                    break;
                }
            }
        });
        if let Some(previous) = self.subscription.lock().unwrap_or_else(PoisonError::into_inner).replace(task) {
            previous.abort();
        }
    }

    /// The number of the last event relayed so far: a reply stamped with it, taken before its
    /// read, reflects every event up to that number.
    pub fn event_seq(&self) -> u64 {
        self.relay.last_seq()
    }
}

/// Forwards one engine's events to the relay, calling the hook on each.
pub(super) async fn forward(mut events: broadcast::Receiver<SessionEvent>, relay: Relay, hook: EventHook) {
    loop {
        match events.recv().await {
            Ok(event) => {
                hook(&event);
                relay.send(UiEvent::Session(event));
            }
            Err(broadcast::error::RecvError::Lagged(_)) => relay.send(UiEvent::Shell(ShellEvent::Resync)),
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_session::FeedMode;

    fn feed_mode(mode: FeedMode) -> UiEvent {
        UiEvent::Session(SessionEvent::FeedMode { mode })
    }

    #[test]
    fn relayed_event_json_is_pinned() {
        let live = RelayedEvent { seq: 7, event: feed_mode(FeedMode::Live) };
        assert_eq!(
            serde_json::to_string(&live).unwrap_or_default(),
            r#"{"seq":7,"type":"feed_mode","mode":"live"}"#,
            "ui/js/state.js reads `seq` next to the event's own fields"
        );
        let resync = RelayedEvent { seq: 8, event: UiEvent::Shell(ShellEvent::Resync) };
        assert_eq!(
            serde_json::to_string(&resync).unwrap_or_default(),
            r#"{"seq":8,"type":"resync"}"#,
            "the shell's own events are numbered like the engine's"
        );
    }

    #[tokio::test]
    async fn events_are_numbered_in_sending_order_and_replies_see_the_last_number() {
        let relay = Relay::new(8);
        let (mut last, mut rx) = relay.listen();
        assert_eq!((last, relay.last_seq()), (0, 0), "nothing sent yet, so nothing to be older than");
        for mode in [FeedMode::Connecting, FeedMode::Live, FeedMode::Polling] {
            relay.send(feed_mode(mode));
        }
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(next_for(&mut rx, &mut last).await.map(|e| e.seq));
        }
        assert_eq!(seen, [Some(1), Some(2), Some(3)], "every event gets the next number, in order");
        assert_eq!(relay.last_seq(), 3, "a read taken now reflects every event up to the third");
    }

    #[tokio::test]
    async fn webview_that_fell_behind_gets_one_resync_numbered_as_the_last_event_it_lost() {
        let relay = Relay::new(2);
        relay.send(feed_mode(FeedMode::Connecting));
        let (mut last, mut rx) = relay.listen();
        assert_eq!(last, 1, "the listener starts after the first event");
        for _ in 0..5 {
            relay.send(feed_mode(FeedMode::Live)); // numbers 2..=6; only 5 and 6 are kept
        }
        let resync = next_for(&mut rx, &mut last).await.expect("the relay is open");
        assert!(
            matches!(resync.event, UiEvent::Shell(ShellEvent::Resync)) && resync.seq == 4,
            "events 2..=4 were lost: one resync stands for them, numbered 4, got {resync:?}"
        );
        let next = next_for(&mut rx, &mut last).await.map(|e| e.seq);
        assert_eq!(next, Some(5), "after the resync the numbers keep rising by one");
    }
}
