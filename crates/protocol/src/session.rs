//! Users, sessions (devices), discovery and audit bodies.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a client says about the device it runs on; shown in the sessions list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// A human name for the device (host name by default).
    pub name: String,
    /// Operating system: `linux`, `windows`, `macos`, ...
    pub platform: String,
    /// Version of the client application.
    pub app_version: String,
}

/// A user's role at the support desk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A support agent.
    Agent,
    /// An administrator (may post notifications to others).
    Admin,
}

impl Role {
    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Admin => "admin",
        }
    }
}

/// `GET /api/me`: the signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    /// Stable user id (the access token's `sub`).
    pub user_id: String,
    /// Login name.
    pub username: String,
    /// Name to show.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Id of the session the access token belongs to.
    pub session_id: String,
}

/// One session (one signed-in device) of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// Session id.
    pub id: String,
    /// The device that signed in.
    pub device: DeviceInfo,
    /// Client id used to sign in.
    pub client_id: String,
    /// IP address the session was created from.
    pub ip: String,
    /// When the user signed in.
    pub created_at: DateTime<Utc>,
    /// Last refresh or reported user activity (what the idle timeout counts from).
    pub last_activity_at: DateTime<Utc>,
    /// Last request of any kind seen from this session.
    pub last_seen_at: DateTime<Utc>,
    /// When the session ends unless there is activity before then.
    pub idle_expires_at: DateTime<Utc>,
    /// Absolute end of the session, whatever the activity.
    pub expires_at: DateTime<Utc>,
    /// True for the session of the access token that asked.
    pub current: bool,
}

impl SessionInfo {
    /// The earlier of the idle and absolute deadlines.
    pub fn ends_at(&self) -> DateTime<Utc> {
        self.idle_expires_at.min(self.expires_at)
    }
}

/// `GET /api/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionList {
    /// Active sessions, newest first.
    pub sessions: Vec<SessionInfo>,
}

/// `POST /api/sessions/revoke-others`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeOthersResponse {
    /// How many sessions were revoked.
    pub revoked: u64,
}

/// Tessera's own endpoints, advertised in discovery under `tessera`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TesseraEndpoints {
    /// `GET`: the signed-in user.
    pub me_endpoint: String,
    /// `GET`: the current session.
    pub session_endpoint: String,
    /// `POST`: report user activity.
    pub activity_endpoint: String,
    /// `GET`: the user's sessions; `DELETE {sessions_endpoint}/{id}` revokes one.
    pub sessions_endpoint: String,
    /// `POST`: revoke all sessions but the current one.
    pub revoke_others_endpoint: String,
    /// `GET`: the user's audit events.
    pub audit_endpoint: String,
    /// Server's idle timeout in seconds (clients must not allow longer inactivity).
    pub session_idle_timeout_secs: u64,
    /// Server's absolute session lifetime in seconds.
    pub session_max_age_secs: u64,
    /// `GET ?after=SEQ&limit=N`: the user's notifications (absent on servers without them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications_endpoint: Option<String>,
    /// `POST`: mark every notification read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications_read_all_endpoint: Option<String>,
    /// `GET`: unread count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications_unread_count_endpoint: Option<String>,
    /// `ws://` or `wss://` URL of the notification stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications_ws_endpoint: Option<String>,
    /// `GET`, `POST`: the user's webhooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhooks_endpoint: Option<String>,
    /// Seconds between the server's WebSocket pings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ws_ping_interval_secs: Option<u64>,
}

/// One audit event of the signed-in user (`GET /api/audit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Increasing id.
    pub id: i64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened: `sign_in_success`, `sign_in_failure`, `refresh`, `refresh_token_reuse`,
    /// `session_revoked`, `session_idle_timeout`, `session_expired`.
    pub kind: String,
    /// Session concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Client IP, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Free-form detail (never a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// `GET /api/audit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditList {
    /// Events, newest first.
    pub events: Vec<AuditEntry>,
}
