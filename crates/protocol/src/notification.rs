//! Notifications: the per-user outbox as clients see it (HTTP polling and WebSocket), webhook
//! bodies, and the minimal ticket API whose events produce notifications.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ErrorCode;

/// WebSocket close code: the access token used on the upgrade request expired. Reconnect with a
/// fresh access token (refresh first). In the 4000–4999 range RFC 6455 §7.4.2 leaves to
/// applications.
pub const WS_CLOSE_TOKEN_EXPIRED: u16 = 4001;
/// WebSocket close code: the session ended (a `session.revoked` message precedes it). Do not
/// reconnect; the user must sign in again.
pub const WS_CLOSE_SESSION_ENDED: u16 = 4003;
/// WebSocket close code (RFC 6455 §7.4.1, 1012 "service restart"): the server is stopping;
/// reconnect with backoff and resume.
pub const WS_CLOSE_SERVER_RESTART: u16 = 1012;

/// Header of a webhook request carrying `t=<unix seconds>,v1=<hex HMAC-SHA256>`, the MAC being
/// over `"<t>.<raw body>"` with the webhook's secret as key.
pub const WEBHOOK_SIGNATURE_HEADER: &str = "tessera-signature";
/// Header of a webhook request naming the event (`notification.created`).
pub const WEBHOOK_EVENT_HEADER: &str = "tessera-event";
/// The event of every webhook delivery so far.
pub const WEBHOOK_EVENT_NOTIFICATION_CREATED: &str = "notification.created";

/// One notification of a user's outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Position in the user's stream: strictly increasing, never reused within an epoch. The
    /// cursor clients resume after.
    pub seq: i64,
    /// What happened: `comment.created`, `ticket.assigned`, `ticket.created`, `message`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Details, shaped by `type`.
    pub payload: serde_json::Value,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When the user marked it read, if they did.
    #[serde(default)]
    pub read_at: Option<DateTime<Utc>>,
}

/// `GET /api/notifications?after=SEQ&limit=N[&epoch=E]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationPage {
    /// The stream's epoch. When it differs from the one the client stored, history was reset:
    /// drop the local copy and start over from `after=0`.
    pub epoch: String,
    /// True when the client's cursor could not be honoured (unknown epoch, or the cursor is
    /// older than what the server retains): `items` then start at the oldest retained one.
    #[serde(default)]
    pub reset: bool,
    /// Notifications with `seq > after`, ascending.
    pub items: Vec<Notification>,
    /// Cursor for the next call (`after=next_after`): the last `seq` returned, or the cursor given.
    pub next_after: i64,
    /// Highest `seq` of the stream at the time of the read (more pages follow while
    /// `next_after < last_seq`).
    pub last_seq: i64,
}

/// `GET /api/notifications/unread-count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreadCount {
    /// Retained notifications not yet marked read.
    pub unread: u64,
}

/// `POST /api/notifications/read-all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadAllResponse {
    /// How many were newly marked read.
    pub marked: u64,
}

/// A message a client sends on the WebSocket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WsClientMessage {
    /// Start (or restart) the stream after `after`: the server replays what is newer, then
    /// streams live. `epoch` is the one the client stored (`None` on first use).
    Resume {
        /// Last `seq` the client has (0 for none).
        after: i64,
        /// Epoch the client's `after` belongs to.
        #[serde(default)]
        epoch: Option<String>,
    },
}

/// A message the server sends on the WebSocket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum WsServerMessage {
    /// A notification (replayed or live), in `seq` order, never twice on one connection.
    #[serde(rename = "notification")]
    Notification {
        /// The notification.
        notification: Notification,
    },
    /// The replay after a `resume` is complete; what follows is live.
    #[serde(rename = "resumed")]
    Resumed {
        /// The stream's epoch (store it with the cursor).
        epoch: String,
        /// Highest `seq` sent so far on this connection (or the client's `after`).
        last_seq: i64,
    },
    /// The client's cursor cannot be honoured (epoch changed, or older than the retention):
    /// reload over HTTP (`GET /api/notifications?after=0`), then send `resume` again with this
    /// epoch. Nothing is streamed until then.
    #[serde(rename = "reset")]
    Reset {
        /// The stream's current epoch.
        epoch: String,
        /// Highest `seq` of the stream.
        last_seq: i64,
    },
    /// The session ended; the server closes with [`WS_CLOSE_SESSION_ENDED`] next.
    #[serde(rename = "session.revoked")]
    SessionRevoked {
        /// Why: `session_revoked`, `refresh_reuse_detected`, `session_idle_timeout`,
        /// `session_expired`.
        reason: ErrorCode,
    },
}

/// The body of a webhook request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookBody {
    /// Always `notification.created` so far.
    pub event: String,
    /// The notification.
    pub notification: Notification,
}

/// `POST /api/webhooks` (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewWebhook {
    /// Where to POST notifications: `https://...` (plain `http` only for hosts the server
    /// allowlists).
    pub url: String,
}

/// A registered webhook (`GET /api/webhooks`). The secret is shown only once, at registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookInfo {
    /// Id.
    pub id: String,
    /// Target URL.
    pub url: String,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
}

/// `POST /api/webhooks` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookCreated {
    /// The webhook.
    #[serde(flatten)]
    pub webhook: WebhookInfo,
    /// The signing secret (`whsec_...`). Shown only here: store it to verify signatures.
    pub secret: String,
}

/// `GET /api/webhooks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookList {
    /// The user's webhooks.
    pub webhooks: Vec<WebhookInfo>,
}

/// One delivery attempt (`GET /api/webhooks/{id}/deliveries`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    /// Increasing id.
    pub id: i64,
    /// Notification delivered.
    pub seq: i64,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// When the attempt finished.
    pub at: DateTime<Utc>,
    /// HTTP status received, if any.
    #[serde(default)]
    pub status: Option<u16>,
    /// `delivered`, `retrying` or `failed`.
    pub outcome: String,
    /// Why it failed (timeout, connection refused, ...), if it did.
    #[serde(default)]
    pub error: Option<String>,
}

/// `GET /api/webhooks/{id}/deliveries`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDeliveryList {
    /// Attempts, newest first.
    pub deliveries: Vec<WebhookDelivery>,
}

/// `POST /api/admin/notify` (JSON; admins only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminNotify {
    /// Login name of the recipient.
    pub user: String,
    /// Text of the notification.
    pub message: String,
}

/// `POST /api/tickets` (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTicket {
    /// Subject line.
    pub subject: String,
    /// Login name of the agent to assign, if any.
    #[serde(default)]
    pub assignee: Option<String>,
}

/// A ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// Id.
    pub id: i64,
    /// Subject line.
    pub subject: String,
    /// Login name of who opened it.
    pub requester: String,
    /// Login name of the assigned agent.
    #[serde(default)]
    pub assignee: Option<String>,
}

/// `POST /api/tickets/{id}/comments` (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewComment {
    /// Text.
    pub body: String,
}

/// A comment on a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    /// Id.
    pub id: i64,
    /// The ticket.
    pub ticket_id: i64,
    /// Login name of the author.
    pub author: String,
    /// Text.
    pub body: String,
}

/// `POST /api/tickets/{id}/assign` (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignTicket {
    /// Login name of the agent to assign.
    pub assignee: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_messages_json_is_pinned() {
        let resume: WsClientMessage = serde_json::from_str(r#"{"type":"resume","after":7,"epoch":"e1"}"#).unwrap();
        assert_eq!(resume, WsClientMessage::Resume { after: 7, epoch: Some("e1".into()) }, "client resume shape");
        let revoked = WsServerMessage::SessionRevoked { reason: ErrorCode::SessionRevoked };
        assert_eq!(
            serde_json::to_string(&revoked).unwrap(),
            r#"{"type":"session.revoked","reason":"session_revoked"}"#,
            "clients switch on this exact shape"
        );
        let reset = WsServerMessage::Reset { epoch: "e2".into(), last_seq: 3 };
        assert_eq!(
            serde_json::to_string(&reset).unwrap(),
            r#"{"type":"reset","epoch":"e2","last_seq":3}"#,
            "reset shape"
        );
    }
}
