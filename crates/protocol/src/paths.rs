//! Endpoint paths of the reference server. Clients should prefer the URLs found through
//! [`crate::Discovery`]; these constants are the server's defaults and what discovery advertises.

/// OpenID Connect discovery document (OpenID Connect Discovery 1.0 §4).
pub const DISCOVERY: &str = "/.well-known/openid-configuration";
/// JSON Web Key Set with the public keys that verify access tokens (RFC 7517 §5).
pub const JWKS: &str = "/.well-known/jwks.json";
/// Token endpoint (RFC 6749 §3.2): password and refresh-token grants.
pub const TOKEN: &str = "/oauth/token";
/// Token revocation endpoint (RFC 7009 §2).
pub const REVOKE: &str = "/oauth/revoke";
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
/// Liveness probe.
pub const HEALTHZ: &str = "/healthz";
/// Prometheus text metrics.
pub const METRICS: &str = "/metrics";

/// Path of one session: `/api/sessions/{id}`.
pub fn session(id: &str) -> String {
    format!("{SESSIONS}/{id}")
}
