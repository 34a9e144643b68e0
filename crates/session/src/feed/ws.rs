//! The WebSocket side of the feed: the upgrade with the access token, `resume`, and the message
//! loop. The loop is written over any `Stream` + `Sink` of tungstenite messages.
//!
//! Heartbeat: the server pings every `ws_ping_interval_secs`; any frame (message, ping, pong)
//! is proof of life, and the connection counts as dead after the ping interval plus
//! `EngineConfig::feed_heartbeat_grace` without one.

use std::time::Duration;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tessera_protocol::{ErrorBody, WS_CLOSE_SESSION_ENDED, WS_CLOSE_TOKEN_EXPIRED, WsClientMessage, WsServerMessage};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::http::{HeaderValue, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::run::{End, Run, ends_session};
use crate::state::{FeedMode, SignOutReason};

/// Largest message or frame accepted from the server (a notification is a few KiB at most).
pub(crate) const MAX_MESSAGE_BYTES: usize = 256 * 1024;

impl Run {
    /// Connects, resumes and streams until the connection ends.
    pub(crate) async fn connect_and_stream(&mut self) -> End {
        let client = self.shared.engine.client().clone();
        let (url, ping) = match client.notifications_stream().await {
            Ok(found) => found,
            Err(e) => {
                tracing::info!(code = e.code(), "notification stream endpoint unavailable");
                return End::Lost { resumed: false };
            }
        };
        let token = match self.shared.engine.access_token().await {
            Ok(token) => token,
            Err(e) if ends_session(&e) => return End::SessionEnded,
            Err(e) => {
                tracing::info!(code = e.code(), "no access token for the notification stream");
                return End::Lost { resumed: false };
            }
        };
        let Ok(mut request) = url.as_str().into_client_request() else {
            tracing::warn!("the notification stream URL is not a WebSocket URL");
            return End::Refused(0);
        };
        let Ok(mut bearer) = HeaderValue::from_str(&format!("Bearer {}", token.secret())) else {
            return End::TokenRefused { resumed: false };
        };
        bearer.set_sensitive(true);
        request.headers_mut().insert(AUTHORIZATION, bearer);
        for (name, value) in client.device_headers() {
            if let Ok(value) = HeaderValue::from_str(&value) {
                request.headers_mut().insert(name, value);
            }
        }
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE_BYTES))
            .max_frame_size(Some(MAX_MESSAGE_BYTES));
        let limit = client.config().connect_timeout + client.config().request_timeout;
        let connected =
            tokio::time::timeout(limit, tokio_tungstenite::connect_async_with_config(request, Some(config), true))
                .await;
        let mut socket = match connected {
            Ok(Ok((socket, _))) => socket,
            Ok(Err(WsError::Http(response))) => return self.refused(&response).await,
            Ok(Err(e)) => {
                tracing::info!(error = %e, "could not open the notification stream");
                return End::Lost { resumed: false };
            }
            Err(_) => {
                tracing::info!("opening the notification stream timed out");
                return End::Lost { resumed: false };
            }
        };
        if self.connections > 0 {
            self.shared.engine.note_reconnect();
        }
        let silence = ping + self.shared.engine.config().feed_heartbeat_grace;
        let end = self.stream(&mut socket, silence).await;
        // Best effort: the server may already be gone.
        let _ = tokio::time::timeout(Duration::from_secs(1), socket.close(None)).await;
        end
    }

    /// A non-101 answer to the upgrade: 401 means the token (or the session) was refused,
    /// anything else that the stream is not available here (a proxy, an old server).
    async fn refused(&self, response: &Response<Option<Vec<u8>>>) -> End {
        let status = response.status().as_u16();
        if status != 401 {
            return End::Refused(status);
        }
        let code = response.body().as_deref().and_then(|b| serde_json::from_slice::<ErrorBody>(b).ok()).map(|b| b.code);
        match code.and_then(SignOutReason::from_code) {
            Some(reason) => {
                self.shared.engine.end_session_if(&self.session_id, reason).await;
                End::SessionEnded
            }
            None => End::TokenRefused { resumed: false },
        }
    }

    /// Sends `resume`, then handles messages until the connection ends or goes silent.
    pub(crate) async fn stream<S>(&mut self, socket: &mut S, silence: Duration) -> End
    where
        S: Stream<Item = Result<Message, WsError>> + Sink<Message, Error = WsError> + Unpin,
    {
        let mut resumed = false;
        if self.send_resume(socket).await.is_err() {
            return End::Lost { resumed };
        }
        loop {
            let message = match tokio::time::timeout(silence, socket.next()).await {
                Err(_) => {
                    tracing::info!(
                        silence_ms = silence.as_millis() as u64,
                        "no frame from the server: the stream is dead"
                    );
                    return End::Lost { resumed };
                }
                Ok(None) => return End::Lost { resumed },
                Ok(Some(Err(e))) => {
                    // Oversized messages, protocol violations, resets: reconnect.
                    tracing::info!(error = %e, "the notification stream failed");
                    return End::Lost { resumed };
                }
                Ok(Some(Ok(message))) => message,
            };
            match message {
                Message::Text(text) => match serde_json::from_str::<WsServerMessage>(text.as_str()) {
                    Ok(message) => {
                        if let Some(end) = self.on_message(message, socket, &mut resumed).await {
                            return end;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, bytes = text.len(), "ignoring a malformed stream message"),
                },
                Message::Binary(data) => tracing::warn!(bytes = data.len(), "ignoring a binary stream message"),
                Message::Close(frame) => return self.on_close(frame.map(|f| u16::from(f.code)), resumed).await,
                // Pings are answered by tungstenite; every frame counts as proof of life.
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    }

    async fn send_resume<S>(&self, socket: &mut S) -> Result<(), WsError>
    where
        S: Sink<Message, Error = WsError> + Unpin,
    {
        let resume = WsClientMessage::Resume { after: self.cursor.last_seq, epoch: self.cursor.epoch.clone() };
        let text = serde_json::to_string(&resume).unwrap_or_default();
        socket.send(Message::text(text)).await
    }

    async fn on_message<S>(&mut self, message: WsServerMessage, socket: &mut S, resumed: &mut bool) -> Option<End>
    where
        S: Sink<Message, Error = WsError> + Unpin,
    {
        match message {
            WsServerMessage::Notification { notification } => self.accept(vec![notification]).await,
            WsServerMessage::Resumed { epoch, .. } => {
                if self.cursor.epoch.as_deref() != Some(epoch.as_str()) {
                    self.cursor.epoch = Some(epoch);
                    self.save_cursor().await;
                }
                if !*resumed {
                    *resumed = true;
                    self.connections += 1;
                    self.shared.set_mode(FeedMode::Live);
                    self.spawn_mark_replay();
                }
            }
            WsServerMessage::Reset { .. } => {
                tracing::info!("the server reset the notification stream; reloading");
                match self.reload().await {
                    Ok(()) => {}
                    Err(e) if ends_session(&e) => return Some(End::SessionEnded),
                    Err(e) => {
                        tracing::info!(code = e.code(), "reloading notifications failed");
                        return Some(End::Lost { resumed: *resumed });
                    }
                }
                if self.send_resume(socket).await.is_err() {
                    return Some(End::Lost { resumed: *resumed });
                }
            }
            WsServerMessage::SessionRevoked { reason } => {
                let reason = SignOutReason::from_code(reason).unwrap_or(SignOutReason::SessionRevoked);
                tracing::info!(reason = reason.as_str(), session_id = %self.session_id, "the server ended the session");
                self.shared.engine.end_session_if(&self.session_id, reason).await;
                return Some(End::SessionEnded);
            }
        }
        None
    }

    async fn on_close(&self, code: Option<u16>, resumed: bool) -> End {
        tracing::info!(?code, "the server closed the notification stream");
        match code {
            Some(WS_CLOSE_TOKEN_EXPIRED) => End::TokenRefused { resumed },
            Some(WS_CLOSE_SESSION_ENDED) => {
                // The reason came (or was lost) with `session.revoked`; ask the server through the
                // engine, which signs out with the reason it gets.
                match self.shared.engine.current_session().await {
                    Err(e) if ends_session(&e) => End::SessionEnded,
                    _ => End::Lost { resumed },
                }
            }
            // 1012 (the server restarts) and anything else: reconnect with backoff.
            _ => End::Lost { resumed },
        }
    }
}

#[cfg(test)]
mod tests {
    //! The message loop over an in-memory socket, on tokio's paused clock.

    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll};

    use futures_util::stream::{self, BoxStream};
    use tessera_protocol::DeviceInfo;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    use super::*;
    use crate::account::Account;
    use crate::config::EngineConfig;
    use crate::engine::SessionEngine;
    use crate::feed::Shared;
    use crate::feed::cache::Cursor;
    use crate::state::SessionEvent;
    use crate::vault::MemoryVault;

    /// Plays `incoming` (then stays silent forever) and records what the client sends.
    struct FakeSocket {
        incoming: BoxStream<'static, Result<Message, WsError>>,
        sent: Vec<Message>,
    }

    impl FakeSocket {
        fn new(incoming: Vec<Message>) -> Self {
            let items = stream::iter(incoming.into_iter().map(Ok)).chain(stream::pending());
            Self { incoming: Box::pin(items), sent: Vec::new() }
        }
    }

    impl Stream for FakeSocket {
        type Item = Result<Message, WsError>;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.incoming.as_mut().poll_next(cx)
        }
    }

    impl Sink<Message> for FakeSocket {
        type Error = WsError;
        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), WsError>> {
            Poll::Ready(Ok(()))
        }
        fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), WsError> {
            self.sent.push(item);
            Ok(())
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), WsError>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), WsError>> {
            Poll::Ready(Ok(()))
        }
    }

    fn run_for_test(dir: &std::path::Path) -> (Run, SessionEngine) {
        let device = DeviceInfo { name: "t".into(), platform: "linux".into(), app_version: "0".into() };
        let config = EngineConfig::new("http://127.0.0.1:9", dir, "tessera-cli", device);
        let engine = SessionEngine::new(config, Arc::new(MemoryVault::new()))
            .unwrap_or_else(|e| panic!("engine must build: {e}"));
        let user = Account::new("http://127.0.0.1:9", "alice");
        let shared = Shared::for_test(engine.clone(), dir, &user);
        let run = Run { shared, user, session_id: "s1".into(), cursor: Cursor::default(), connections: 0 };
        (run, engine)
    }

    fn note(seq: i64) -> Message {
        let json = serde_json::json!({"type": "notification", "notification": {
            "seq": seq, "type": "message", "payload": {}, "created_at": "2026-11-22T20:31:07Z"}});
        Message::text(json.to_string())
    }

    #[tokio::test(start_paused = true)]
    async fn garbage_is_ignored_repeats_are_dropped_and_silence_ends_the_connection() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let (mut run, engine) = run_for_test(dir.path());
        let mut events = engine.subscribe();
        let mut socket = FakeSocket::new(vec![
            Message::text("not json"),
            Message::binary(vec![1u8, 2, 3]),
            Message::text(r#"{"type":"mystery"}"#),
            Message::text(r#"{"type":"resumed","epoch":"e1","last_seq":0}"#),
            note(1),
            note(2),
            note(2),
            note(1),
            Message::Ping(Default::default()),
            note(3),
        ]);
        // On the paused clock the silence elapses at once once nothing else can run.
        let end = run.stream(&mut socket, Duration::from_secs(35)).await;
        assert!(matches!(end, End::Lost { resumed: true }), "a silent stream is dead after the limit: {end:?}");
        let resume: Option<WsClientMessage> = match socket.sent.first() {
            Some(Message::Text(t)) => serde_json::from_str(t.as_str()).ok(),
            _ => None,
        };
        assert_eq!(resume, Some(WsClientMessage::Resume { after: 0, epoch: None }), "the client resumes first");
        assert_eq!(run.cursor, Cursor { epoch: Some("e1".into()), last_seq: 3 }, "the cursor follows what was kept");
        let mut seqs = Vec::new();
        let mut live = false;
        while let Ok(event) = events.try_recv() {
            match event {
                SessionEvent::Notification { notification } => seqs.push(notification.seq),
                SessionEvent::FeedMode { mode: FeedMode::Live } => live = true,
                _ => {}
            }
        }
        assert_eq!(seqs, vec![1, 2, 3], "each seq announced once, in order, garbage skipped");
        assert!(live, "resumed makes the feed live");
    }

    #[tokio::test(start_paused = true)]
    async fn close_4001_asks_for_a_fresh_token_and_1012_for_a_reconnect() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let (mut run, _engine) = run_for_test(dir.path());
        let close = |code: u16| Message::Close(Some(CloseFrame { code: CloseCode::from(code), reason: "".into() }));
        let end = run.stream(&mut FakeSocket::new(vec![close(WS_CLOSE_TOKEN_EXPIRED)]), Duration::from_secs(35)).await;
        assert!(matches!(end, End::TokenRefused { resumed: false }), "4001 means refresh and reconnect: {end:?}");
        let end = run.stream(&mut FakeSocket::new(vec![close(1012)]), Duration::from_secs(35)).await;
        assert!(matches!(end, End::Lost { resumed: false }), "1012 means reconnect with backoff: {end:?}");
    }
}
