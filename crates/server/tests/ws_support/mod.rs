//! A WebSocket client for the notification stream, over real sockets (tokio-tungstenite).
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code, missing_docs)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tessera_protocol::{Notification, WsClientMessage, WsServerMessage, paths};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a test waits for the server before calling it a failure (a deadline, not a pause).
pub const DEADLINE: Duration = Duration::from_secs(20);

/// What the stream produced next.
#[derive(Debug)]
pub enum Event {
    Message(WsServerMessage),
    /// Closed by the server, with its close code (if it sent one).
    Closed(Option<u16>),
}

pub fn ws_url(server_url: &str) -> String {
    format!("{}{}", server_url.replacen("http://", "ws://", 1), paths::WS)
}

/// Opens `/ws` with the access token; `Err` carries the HTTP status of a refused upgrade.
pub async fn try_connect(server_url: &str, access_token: &str) -> Result<Ws, u16> {
    try_connect_with(server_url, access_token, &[]).await
}

/// [`try_connect`] with extra request headers (a device-session id, say).
pub async fn try_connect_with(
    server_url: &str,
    access_token: &str,
    headers: &[(&'static str, &str)],
) -> Result<Ws, u16> {
    let mut req = ws_url(server_url).into_client_request().expect("valid ws url");
    let value = HeaderValue::from_str(&format!("Bearer {access_token}")).expect("token is header-safe");
    req.headers_mut().insert("authorization", value);
    for (name, value) in headers {
        req.headers_mut().insert(*name, HeaderValue::from_str(value).expect("header-safe value"));
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("websocket connect failed: {e}"),
    }
}

pub async fn connect(server_url: &str, access_token: &str) -> Ws {
    try_connect(server_url, access_token).await.unwrap_or_else(|status| panic!("upgrade refused with HTTP {status}"))
}

pub async fn send(ws: &mut Ws, message: &WsClientMessage) {
    let text = serde_json::to_string(message).expect("client messages serialize");
    ws.send(Message::text(text)).await.expect("sending to the server");
}

pub async fn send_resume(ws: &mut Ws, after: i64, epoch: Option<&str>) {
    send(ws, &WsClientMessage::Resume { after, epoch: epoch.map(str::to_owned) }).await;
}

/// The next server message (pings skipped), or the close.
pub async fn next_event(ws: &mut Ws) -> Event {
    loop {
        let item = tokio::time::timeout(DEADLINE, ws.next()).await.expect("the server must answer before the deadline");
        match item {
            None | Some(Err(_)) => return Event::Closed(None),
            Some(Ok(Message::Close(frame))) => return Event::Closed(frame.map(|f| u16::from(f.code))),
            Some(Ok(Message::Text(text))) => {
                let message = serde_json::from_str(text.as_str())
                    .unwrap_or_else(|e| panic!("server sent an unknown message ({e}): {text}"));
                return Event::Message(message);
            }
            Some(Ok(_)) => continue,
        }
    }
}

pub async fn next_message(ws: &mut Ws) -> WsServerMessage {
    match next_event(ws).await {
        Event::Message(m) => m,
        Event::Closed(code) => panic!("stream closed ({code:?}) while a message was expected"),
    }
}

/// Sends `resume` and collects the replay up to `resumed`; returns (replayed, epoch).
pub async fn resume(ws: &mut Ws, after: i64, epoch: Option<&str>) -> (Vec<Notification>, String) {
    send_resume(ws, after, epoch).await;
    let mut replayed = Vec::new();
    loop {
        match next_message(ws).await {
            WsServerMessage::Notification { notification } => replayed.push(notification),
            WsServerMessage::Resumed { epoch, last_seq } => {
                assert_eq!(last_seq, replayed.last().map_or(after, |n| n.seq), "resumed reports the last seq sent");
                return (replayed, epoch);
            }
            other => panic!("unexpected message during replay: {other:?}"),
        }
    }
}

/// The next live notification.
pub async fn next_notification(ws: &mut Ws) -> Notification {
    match next_message(ws).await {
        WsServerMessage::Notification { notification } => notification,
        other => panic!("expected a notification, got {other:?}"),
    }
}

/// Asserts the stream says `session.revoked` with `reason` and then closes with
/// [`WS_CLOSE_SESSION_ENDED`](tessera_protocol::WS_CLOSE_SESSION_ENDED).
pub async fn expect_revoked(ws: &mut Ws, reason: tessera_protocol::ErrorCode) {
    let message = next_message(ws).await;
    assert_eq!(message, WsServerMessage::SessionRevoked { reason }, "the open stream hears that its session ended");
    match next_event(ws).await {
        Event::Closed(code) => {
            assert_eq!(code, Some(tessera_protocol::WS_CLOSE_SESSION_ENDED), "closed with the documented code")
        }
        other => panic!("the stream must close after session.revoked, got {other:?}"),
    }
}
