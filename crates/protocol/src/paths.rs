//! Endpoint paths of the reference server. Clients should prefer the URLs found through
//! [`crate::Discovery`]; these constants are the server's defaults and what discovery advertises.

/// OpenID Connect discovery document (OpenID Connect Discovery 1.0 §4).
pub const DISCOVERY: &str = "/.well-known/openid-configuration";
/// JSON Web Key Set with the public keys that verify access tokens (RFC 7517 §5).
pub const JWKS: &str = "/.well-known/jwks.json";
/// Token endpoint (RFC 6749 §3.2): authorization code, device code, refresh token and (where
/// allowed) password grants.
pub const TOKEN: &str = "/oauth/token";
/// Token revocation endpoint (RFC 7009 §2).
pub const REVOKE: &str = "/oauth/revoke";
/// Authorization endpoint (RFC 6749 §3.1): the server-rendered sign-in page.
pub const AUTHORIZE: &str = "/oauth/authorize";
/// Userinfo endpoint (OpenID Connect Core §5.3).
pub const USERINFO: &str = "/oauth/userinfo";
/// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2).
pub const END_SESSION: &str = "/oauth/end_session";
/// Device authorization endpoint (RFC 8628 §3.1).
pub const DEVICE_AUTHORIZATION: &str = "/oauth/device_authorization";
/// Device verification page (RFC 8628 §3.3): enter the user code, sign in, approve.
pub const DEVICE: &str = "/device";
/// The signed-in user.
pub const ME: &str = "/api/me";
/// The session the presented access token belongs to.
pub const SESSION: &str = "/api/session";
/// Report user activity: extends the session's idle deadline.
pub const SESSION_ACTIVITY: &str = "/api/session/activity";
/// The user's sessions (devices).
pub const SESSIONS: &str = "/api/sessions";
/// Revoke every session of the user except the current one.
pub const SESSIONS_REVOKE_OTHERS: &str = "/api/sessions/revoke-others";
/// The user's own audit events.
pub const AUDIT: &str = "/api/audit";
/// What clients should sign in with (`GET`, no token): [`crate::ClientSetup`].
pub const CLIENT_CONFIG: &str = "/api/client-config";
/// Liveness probe.
pub const HEALTHZ: &str = "/healthz";
/// Prometheus text metrics.
pub const METRICS: &str = "/metrics";

/// The user's notifications (`GET ?after=SEQ&limit=N`).
pub const NOTIFICATIONS: &str = "/api/notifications";
/// Mark every notification read (`POST`).
pub const NOTIFICATIONS_READ_ALL: &str = "/api/notifications/read-all";
/// Number of unread notifications (`GET`).
pub const NOTIFICATIONS_UNREAD_COUNT: &str = "/api/notifications/unread-count";
/// The notification stream (WebSocket upgrade, access token in `Authorization: Bearer`).
pub const WS: &str = "/ws";
/// The user's webhooks (`GET`, `POST`; `DELETE /{id}`; `GET /{id}/deliveries`).
pub const WEBHOOKS: &str = "/api/webhooks";
/// Tickets (`POST`; `POST /{id}/comments`; `POST /{id}/assign`). Exists to produce events.
pub const TICKETS: &str = "/api/tickets";
/// Post a notification to a user (`POST`, admins only).
pub const ADMIN_NOTIFY: &str = "/api/admin/notify";

/// Administration (admins only; see docs/protocol.md, "Administration"): reset a user's password
/// (`POST {"user","password"}`), ending every session of the user.
pub const ADMIN_USER_PASSWD: &str = "/api/admin/users/passwd";
/// Disable a user (`POST {"user"}`): no sign-in, no refresh, every session ended.
pub const ADMIN_USER_DISABLE: &str = "/api/admin/users/disable";
/// Enable a disabled user again (`POST {"user"}`).
pub const ADMIN_USER_ENABLE: &str = "/api/admin/users/enable";
/// End every session of a user (`POST {"user"}`).
pub const ADMIN_USER_END_SESSIONS: &str = "/api/admin/users/end-sessions";

/// Path that marks one notification read: `/api/notifications/{seq}/read`.
pub fn notification_read(seq: i64) -> String {
    format!("{NOTIFICATIONS}/{seq}/read")
}

/// Path of one webhook: `/api/webhooks/{id}`.
pub fn webhook(id: &str) -> String {
    format!("{WEBHOOKS}/{id}")
}

/// Delivery log of one webhook: `/api/webhooks/{id}/deliveries`.
pub fn webhook_deliveries(id: &str) -> String {
    format!("{WEBHOOKS}/{id}/deliveries")
}

/// Comments of a ticket: `/api/tickets/{id}/comments`.
pub fn ticket_comments(id: i64) -> String {
    format!("{TICKETS}/{id}/comments")
}

/// Assignment of a ticket: `/api/tickets/{id}/assign`.
pub fn ticket_assign(id: i64) -> String {
    format!("{TICKETS}/{id}/assign")
}

/// Path of one session: `/api/sessions/{id}`.
pub fn session(id: &str) -> String {
    format!("{SESSIONS}/{id}")
}
