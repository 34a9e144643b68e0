//! `GET /ws`: the live notification stream of the signed-in user.
//!
//! The connection subscribes to the user's live fan-out *before* it reads the outbox, so nothing
//! committed in between is missed; live items at or below the last seq sent are skipped, so
//! nothing is sent twice; a live item that skips ahead (or a lagging subscriber) is caught up
//! from the database. See docs/protocol.md, "Notifications".

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use tessera_protocol::{
    Notification, WS_CLOSE_SERVER_RESTART, WS_CLOSE_SESSION_ENDED, WS_CLOSE_TOKEN_EXPIRED, WsClientMessage,
    WsServerMessage,
};
use tokio::sync::broadcast::error::RecvError;

use crate::auth::check_open;
use crate::error::AppError;
use crate::extract::Authenticated;
use crate::metrics::inc;
use crate::notify::outbox;
use crate::notify::{ShutdownMode, StreamEnd};
use crate::session_end::{EndReason, Ending};
use crate::state::SharedState;
use crate::store::sessions;

/// Bytes read from the socket at once. Client messages are tiny; tungstenite's default (128 KiB)
/// is what makes an idle connection expensive.
const READ_BUFFER: usize = 1024;
/// Largest client message or frame accepted; larger ones close the connection (1009).
pub const MAX_CLIENT_MESSAGE: usize = 4096;
/// Most bytes queued for a slow client before sends fail (the connection then ends).
const MAX_WRITE_BUFFER: usize = 256 * 1024;
/// Notifications read from the outbox per query while replaying.
const REPLAY_PAGE: i64 = 256;
/// Malformed client messages tolerated on one connection before it is closed (1008).
const MAX_MALFORMED: u32 = 16;

/// RFC 6455 §7.4.1: policy violation.
const CLOSE_POLICY: u16 = 1008;
/// RFC 6455 §7.4.1: message too big.
const CLOSE_TOO_BIG: u16 = 1009;

/// `GET /ws`: upgrades an authenticated request, if the connection caps leave room (429
/// `too_many_connections` for the session and user caps, 503 `server_busy` for the server's).
pub async fn upgrade(
    State(state): State<SharedState>,
    auth: Authenticated,
    ws: WebSocketUpgrade,
) -> Result<Response, AppError> {
    // Held by the stream's task; dropped with it, or here if the upgrade never happens.
    let slot = state.ws_slots.take(&auth.session.id, auth.user_id())?;
    Ok(ws
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_failed_upgrade(|e| tracing::debug!("websocket upgrade failed: {e}"))
        .on_upgrade(move |socket| async move {
            let _slot = slot;
            let session_id = auth.session.id.clone();
            let metrics = Arc::clone(&state.metrics);
            inc(&metrics.ws_opened);
            let end = Connection::new(state, auth, socket).run().await;
            inc(&metrics.ws_closed);
            tracing::debug!(session_id = %session_id, ?end, "websocket closed");
        }))
}

/// When `row` ends unless there is activity: the earlier of its idle and absolute deadlines (ms).
fn session_deadline(row: &sessions::SessionRow, idle_ms: i64) -> i64 {
    row.expires_at.min(row.last_activity_at.saturating_add(idle_ms))
}

fn period_ms(period: Duration) -> i64 {
    i64::try_from(period.as_millis()).unwrap_or(i64::MAX)
}

/// Why the send failed: the connection is gone.
#[derive(Debug)]
struct Gone;

/// What a stream needs to know about its caller (not the whole session row: idle connections
/// should be small).
struct Caller {
    user_id: i64,
    session_id: String,
    ip: String,
    /// Access token `exp` (seconds).
    exp: i64,
    /// When the session ends unless there is activity: its idle or absolute deadline (ms).
    deadline_ms: i64,
}

struct Connection {
    state: SharedState,
    who: Caller,
    socket: WebSocket,
    /// Last seq sent; `None` until the client resumed (nothing live is sent before).
    last: Option<i64>,
    malformed: u32,
    /// Longest one send may wait for the client to read (`ws_send_timeout_secs`).
    send_timeout: Duration,
    /// A send timed out: the client stopped reading; nothing more is sent (not even a close).
    stalled: bool,
}

impl Connection {
    fn new(state: SharedState, auth: Authenticated, socket: WebSocket) -> Self {
        let deadline_ms = session_deadline(&auth.session, state.idle_ms());
        let who = Caller {
            user_id: auth.user_id(),
            session_id: auth.session.id,
            ip: auth.ip,
            exp: auth.claims.exp,
            deadline_ms,
        };
        let send_timeout = Duration::from_secs(state.config.ws_send_timeout_secs);
        Self { state, who, socket, last: None, malformed: 0, send_timeout, stalled: false }
    }

    /// The connection's loop. Everything but the idle wait is boxed, so an idle connection's
    /// task holds only the small select state (database futures are large).
    async fn run(mut self) -> StreamEnd {
        let user_id = self.who.user_id;
        let notify = &self.state.notify;
        let mut live = notify.fanout.subscribe(user_id);
        let mut ended = notify.sessions.subscribe(self.who.session_id.clone());
        let mut shutdown = notify.shutdown.subscribe();
        // Re-check now that announced ends reach us: one committed before would otherwise be missed.
        if let Some(reason) = Box::pin(self.session_end()).await {
            return Box::pin(self.revoked(reason)).await;
        }
        let expiry = tokio::time::sleep(self.until_ms(self.who.exp.saturating_mul(1000)));
        tokio::pin!(expiry);
        // The idle or absolute end reaches an open stream when it happens, not at the next ping.
        let deadline = tokio::time::sleep(self.until_ms(self.who.deadline_ms));
        tokio::pin!(deadline);
        let period = Duration::from_secs(self.state.config.ws_ping_interval_secs);
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            tokio::select! {
                biased;
                changed = shutdown.changed() => {
                    let mode = if changed.is_ok() { *shutdown.borrow() } else { ShutdownMode::Abrupt };
                    match mode {
                        ShutdownMode::Running => continue,
                        ShutdownMode::Abrupt => return StreamEnd::ServerStopped,
                        ShutdownMode::Graceful => {
                            self.close(WS_CLOSE_SERVER_RESTART, "server restarting").await;
                            return StreamEnd::ServerStopped;
                        }
                    }
                }
                _ = ended.recv() => {
                    if let Some(reason) = Box::pin(self.session_end()).await {
                        return Box::pin(self.revoked(reason)).await;
                    }
                }
                () = &mut expiry => {
                    self.close(WS_CLOSE_TOKEN_EXPIRED, "access token expired").await;
                    return StreamEnd::TokenExpired;
                }
                () = &mut deadline => {
                    match Box::pin(self.check_deadline()).await {
                        Err(reason) => return Box::pin(self.revoked(reason)).await,
                        // Activity moved the deadline (or the database was busy: look again at the next ping).
                        Ok(next) => {
                            let next = next.unwrap_or_else(|| self.state.clock.now_ms().saturating_add(period_ms(period)));
                            deadline.as_mut().reset(tokio::time::Instant::now() + self.until_ms(next));
                        }
                    }
                }
                _ = ping.tick() => {
                    if let Err(reason) = Box::pin(self.check_deadline()).await {
                        return Box::pin(self.revoked(reason)).await;
                    }
                    if self.send_frame(Message::Ping(Default::default())).await.is_err() {
                        return StreamEnd::ClientGone;
                    }
                }
                incoming = self.socket.recv() => {
                    if let Err(end) = Box::pin(self.on_client(incoming)).await {
                        return end;
                    }
                }
                item = live.recv(), if self.last.is_some() => {
                    let sent = match item {
                        Ok(notification) => Box::pin(self.on_live(&notification)).await,
                        Err(RecvError::Lagged(missed)) => {
                            tracing::debug!(user_id, missed, "live stream lagged; catching up from the outbox");
                            Box::pin(self.replay()).await
                        }
                        Err(RecvError::Closed) => return StreamEnd::ServerStopped,
                    };
                    if sent.is_err() {
                        return StreamEnd::ClientGone;
                    }
                }
            }
        }
    }

    fn until_ms(&self, at_ms: i64) -> Duration {
        Duration::from_millis(u64::try_from(at_ms - self.state.clock.now_ms()).unwrap_or(0))
    }

    async fn on_client(&mut self, incoming: Option<Result<Message, axum::Error>>) -> Result<(), StreamEnd> {
        let text = match incoming {
            None | Some(Ok(Message::Close(_))) => return Err(StreamEnd::ClientGone),
            Some(Err(e)) => {
                // Oversized frames, protocol errors, resets: say why if the socket still can.
                tracing::info!(session_id = %self.who.session_id, "websocket read failed: {e}");
                self.close(CLOSE_TOO_BIG, "message too big or malformed").await;
                return Err(StreamEnd::ClientError);
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => return Ok(()),
            Some(Ok(Message::Binary(_))) => return self.malformed("binary frame").await,
            Some(Ok(Message::Text(text))) => text,
        };
        match serde_json::from_str::<WsClientMessage>(text.as_str()) {
            Ok(WsClientMessage::Resume { after, epoch }) => {
                self.resume(after, epoch.as_deref()).await.map_err(|Gone| StreamEnd::ClientGone)
            }
            Err(e) => self.malformed(&format!("not a client message: {e}")).await,
        }
    }

    async fn malformed(&mut self, what: &str) -> Result<(), StreamEnd> {
        self.malformed += 1;
        tracing::info!(session_id = %self.who.session_id, count = self.malformed, "ignored a malformed websocket message: {what}");
        if self.malformed > MAX_MALFORMED {
            self.close(CLOSE_POLICY, "too many malformed messages").await;
            return Err(StreamEnd::ClientError);
        }
        Ok(())
    }

    async fn resume(&mut self, after: i64, epoch: Option<&str>) -> Result<(), Gone> {
        let stream = outbox::stream(&self.state, self.who.user_id).await.map_err(|e| self.internal(e))?;
        if !outbox::can_resume(&stream, after, epoch) {
            self.last = None;
            return self.send(&WsServerMessage::Reset { epoch: stream.epoch, last_seq: stream.last_seq }).await;
        }
        self.last = Some(after);
        self.replay().await?;
        let last_seq = self.last.unwrap_or(after);
        self.send(&WsServerMessage::Resumed { epoch: stream.epoch, last_seq }).await
    }

    /// Sends everything committed after the last seq sent.
    async fn replay(&mut self) -> Result<(), Gone> {
        let Some(mut last) = self.last else { return Ok(()) };
        loop {
            let page = {
                let mut conn = self.state.db.read.acquire().await.map_err(|e| self.internal(e))?;
                outbox::read_after(&mut conn, self.who.user_id, last, REPLAY_PAGE)
                    .await
                    .map_err(|e| self.internal(e))?
            };
            let full = page.len() as i64 == REPLAY_PAGE;
            for notification in page {
                last = notification.seq;
                self.send(&WsServerMessage::Notification { notification }).await?;
                inc(&self.state.metrics.ws_notifications_sent);
                self.last = Some(last);
            }
            if !full {
                return Ok(());
            }
        }
    }

    async fn on_live(&mut self, notification: &Arc<Notification>) -> Result<(), Gone> {
        let Some(last) = self.last else { return Ok(()) };
        if notification.seq <= last {
            return Ok(()); // already sent by the replay
        }
        if notification.seq > last + 1 {
            return self.replay().await; // a gap: the outbox has everything up to this one
        }
        self.send(&WsServerMessage::Notification { notification: Notification::clone(notification) }).await?;
        inc(&self.state.metrics.ws_notifications_sent);
        self.last = Some(notification.seq);
        Ok(())
    }

    /// Whether the session ended, as committed. Ends are announced only after their transaction
    /// committed, so a stream that hears one (or subscribed just after one) reads it here; a
    /// message relayed from another process that names an open session reads as open.
    async fn session_end(&mut self) -> Option<EndReason> {
        let mut conn = self.state.db.read.acquire().await.ok()?;
        let row = sessions::by_id(&mut conn, &self.who.session_id).await.ok()??;
        row.ended_at.map(|_| EndReason::from_stored(row.stored_end_reason()))
    }

    /// A session past its idle or absolute deadline ends now (with audit), as on any request.
    /// Otherwise says when it would end next (`None` when the database could not tell).
    async fn check_deadline(&mut self) -> Result<Option<i64>, EndReason> {
        let row = {
            let Ok(mut conn) = self.state.db.read.acquire().await else { return Ok(None) };
            match sessions::by_id(&mut conn, &self.who.session_id).await {
                Ok(Some(row)) => row,
                _ => return Ok(None),
            }
        };
        let idle_ms = self.state.idle_ms();
        if let Err(reason) = check_open(&row, self.state.clock.now_ms(), idle_ms) {
            if row.ended_at.is_none() {
                if let Ok(mut conn) = self.state.db.write.acquire().await {
                    let ending = self
                        .state
                        .sessions
                        .end_now(&mut conn, Ending { row: &row, reason, ip: Some(&self.who.ip), detail: None });
                    if let Err(e) = ending.await {
                        tracing::warn!(session_id = %self.who.session_id, "could not record the session's end: {e}");
                    }
                }
            }
            return Err(reason);
        }
        Ok(Some(session_deadline(&row, idle_ms)))
    }

    async fn revoked(&mut self, reason: EndReason) -> StreamEnd {
        let _ = self.send(&WsServerMessage::SessionRevoked { reason: reason.code() }).await;
        self.close(WS_CLOSE_SESSION_ENDED, reason.code().as_str()).await;
        StreamEnd::SessionEnded
    }

    async fn send(&mut self, message: &WsServerMessage) -> Result<(), Gone> {
        let text = serde_json::to_string(message).map_err(|e| self.internal(e))?;
        self.send_frame(Message::Text(text.into())).await
    }

    /// Sends one frame within the send time limit. A client that stops reading fills the
    /// socket's buffers and would freeze this task (past its token's and session's end) in the
    /// send; after the limit the stream is given up instead.
    async fn send_frame(&mut self, frame: Message) -> Result<(), Gone> {
        if self.stalled {
            return Err(Gone);
        }
        match tokio::time::timeout(self.send_timeout, self.socket.send(frame)).await {
            Ok(sent) => sent.map_err(|_| Gone),
            Err(_) => {
                self.stalled = true;
                inc(&self.state.metrics.ws_send_timeouts);
                tracing::info!(session_id = %self.who.session_id, "websocket client stopped reading; closing");
                Err(Gone)
            }
        }
    }

    async fn close(&mut self, code: u16, reason: &str) {
        let frame = CloseFrame { code, reason: reason.into() };
        let _ = self.send_frame(Message::Close(Some(frame))).await;
    }

    fn internal(&self, e: impl std::fmt::Display) -> Gone {
        tracing::error!(session_id = %self.who.session_id, "websocket stream failed: {e}");
        Gone
    }
}
