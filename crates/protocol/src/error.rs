//! Error bodies and the stable error codes both sides switch on.

use serde::{Deserialize, Serialize};

/// The OAuth 2.0 error code of an error response (RFC 6749 §5.2; RFC 6750 §3.1 for bearer-token
/// errors on resource endpoints). Tessera's finer-grained reason is in [`ErrorBody::code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OAuthError {
    /// RFC 6749 §5.2: the request is missing a parameter, repeats one or is otherwise malformed.
    InvalidRequest,
    /// RFC 6749 §5.2: client authentication failed (unknown or malformed `client_id`).
    InvalidClient,
    /// RFC 6749 §5.2: the credentials or refresh token are invalid, expired or revoked.
    InvalidGrant,
    /// RFC 6749 §5.2: the client may not use this grant type.
    UnauthorizedClient,
    /// RFC 6749 §5.2: the grant type is not supported by the server.
    UnsupportedGrantType,
    /// RFC 6750 §3.1: the access token is expired, revoked, malformed or invalid.
    InvalidToken,
    /// RFC 7009 §2.2.1: the server does not support revoking this token type.
    UnsupportedTokenType,
    /// RFC 6749 §4.1.2.1 / RFC 8628 §3.5: the user (or the server) refused the authorization.
    AccessDenied,
    /// RFC 8628 §3.5: the user has not finished the device authorization yet; poll again.
    AuthorizationPending,
    /// RFC 8628 §3.5: polling too fast; add 5 seconds to the interval.
    SlowDown,
    /// RFC 8628 §3.5: the device code expired; start again.
    ExpiredToken,
    /// OpenID Connect Core §3.1.2.6: `prompt=none` but the user has no session at the provider.
    LoginRequired,
    /// RFC 6749 §4.1.2.1: the authorization server does not support this `response_type`.
    UnsupportedResponseType,
    /// RFC 6749 §4.1.2.1: the requested scope is invalid or unknown.
    InvalidScope,
    /// Not an OAuth error: the request was refused for another reason (see the code).
    RequestRefused,
    /// Not an OAuth error: the server failed; retry later.
    ServerError,
    /// A value this client version does not know.
    #[serde(other)]
    Unknown,
}

/// Stable, machine-readable error codes. Clients switch on these, never on messages; a new code
/// deserializes as [`ErrorCode::Unknown`] in older clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request body or parameters are malformed or incomplete.
    InvalidRequest,
    /// The body is larger than the server accepts.
    PayloadTooLarge,
    /// The body has the wrong `Content-Type`.
    UnsupportedMediaType,
    /// Unknown or malformed client id.
    InvalidClient,
    /// `grant_type` is not one the server supports.
    UnsupportedGrantType,
    /// Wrong username or password (never says which).
    InvalidCredentials,
    /// The refresh token is unknown (never issued, or its session was deleted).
    InvalidRefreshToken,
    /// An already-rotated refresh token was replayed: the whole session was revoked.
    RefreshReuseDetected,
    /// The session was revoked (signed out, or signed out from another device).
    SessionRevoked,
    /// The session ended because it saw no activity for the idle timeout.
    SessionIdleTimeout,
    /// The session reached its absolute lifetime.
    SessionExpired,
    /// The access token is missing, malformed, forged or past its `exp`: refresh and retry.
    InvalidToken,
    /// Too many requests; retry after the `Retry-After` header.
    RateLimited,
    /// The signed-in user may not do this.
    Forbidden,
    /// No such resource (or not yours).
    NotFound,
    /// The HTTP method is not allowed on this path.
    MethodNotAllowed,
    /// The server gave up on the request after its time limit; it may be retried.
    RequestTimeout,
    /// The server failed; the request may be retried.
    Internal,
    /// A webhook URL names an address the server must not reach (loopback, private, link-local,
    /// ...) and the operator's allow-list does not name it.
    WebhookTargetForbidden,
    // --- abuse limits (issue 12) ---
    /// The server is at a capacity limit (e.g. the password-hash queue is full, or every
    /// WebSocket slot is taken): HTTP 503; retry after the `Retry-After` header.
    ServerBusy,
    /// Too many notification streams are open for this session or user: the WebSocket upgrade
    /// was refused (HTTP 429); close another stream or retry after the `Retry-After` header.
    TooManyConnections,
    /// The password was right but an administrator disabled the account: signing in again will
    /// not help until it is enabled. Only said to someone who gave the right password, so it
    /// reveals nothing to a guesser (a wrong password for a disabled account is
    /// `invalid_credentials`).
    UserDisabled,
    // --- browser sign-in (issue 14) ---
    /// The authorization code is unknown, expired, already used, or was issued to another
    /// client or redirect URI; a replayed code also revoked what it had issued.
    InvalidAuthorizationCode,
    /// The PKCE `code_verifier` does not match the `code_challenge` of the authorization.
    PkceMismatch,
    /// The user refused the sign-in (or the device authorization) in the browser.
    AccessDenied,
    /// Device flow: the user has not approved yet; poll again after the interval.
    AuthorizationPending,
    /// Device flow: polling faster than the interval; wait 5 seconds longer between polls.
    SlowDown,
    /// Device flow: the device code expired before the user approved; start again.
    ExpiredToken,
    /// `prompt=none` and the browser holds no session at the provider.
    LoginRequired,
    /// The password grant is turned off on this server (`password_grant = false`): sign in
    /// through the browser.
    PasswordGrantDisabled,
    /// This server signs nobody in: it trusts an organisation's identity provider (issue 15).
    /// Sign in there; `GET /api/client-config` names it.
    SignInElsewhere,
    /// The organisation's identity provider (its keys or its introspection endpoint) could not
    /// be reached to check the access token: HTTP 503, retry later. Not a sign-out.
    ProviderUnavailable,
    /// A code this client version does not know.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The snake_case wire form of the code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::InvalidClient => "invalid_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidCredentials => "invalid_credentials",
            Self::InvalidRefreshToken => "invalid_refresh_token",
            Self::RefreshReuseDetected => "refresh_reuse_detected",
            Self::SessionRevoked => "session_revoked",
            Self::SessionIdleTimeout => "session_idle_timeout",
            Self::SessionExpired => "session_expired",
            Self::InvalidToken => "invalid_token",
            Self::RateLimited => "rate_limited",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::RequestTimeout => "request_timeout",
            Self::Internal => "internal",
            Self::WebhookTargetForbidden => "webhook_target_forbidden",
            Self::ServerBusy => "server_busy",
            Self::TooManyConnections => "too_many_connections",
            Self::UserDisabled => "user_disabled",
            Self::InvalidAuthorizationCode => "invalid_authorization_code",
            Self::PkceMismatch => "pkce_mismatch",
            Self::AccessDenied => "access_denied",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::LoginRequired => "login_required",
            Self::PasswordGrantDisabled => "password_grant_disabled",
            Self::SignInElsewhere => "sign_in_elsewhere",
            Self::ProviderUnavailable => "provider_unavailable",
            Self::Unknown => "unknown",
        }
    }

    /// True when the code means the session is over and the user must sign in again.
    pub fn ends_session(self) -> bool {
        matches!(
            self,
            Self::InvalidRefreshToken
                | Self::RefreshReuseDetected
                | Self::SessionRevoked
                | Self::SessionIdleTimeout
                | Self::SessionExpired
        )
    }
}

/// Every error response of the server has this body: RFC 6749 §5.2 fields plus Tessera's `code`.
///
/// ```json
/// {"error":"invalid_grant","error_description":"the session was revoked","code":"session_revoked"}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// RFC 6749 §5.2 `error`: the OAuth error code.
    pub error: OAuthError,
    /// RFC 6749 §5.2 `error_description`: human-readable text for developers, not for switching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// Tessera's stable error code.
    #[serde(default = "unknown_code")]
    pub code: ErrorCode,
}

fn unknown_code() -> ErrorCode {
    ErrorCode::Unknown
}

/// "outer: inner: innermost" — an HTTP client's own message alone hides the useful cause
/// (refused, timed out, which certificate). Never put an error that may carry a secret here.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_json_is_pinned() {
        let body = ErrorBody {
            error: OAuthError::InvalidGrant,
            error_description: Some("the session was revoked".into()),
            code: ErrorCode::SessionRevoked,
        };
        let json = serde_json::to_string(&body).unwrap();
        assert_eq!(
            json, r#"{"error":"invalid_grant","error_description":"the session was revoked","code":"session_revoked"}"#,
            "clients parse this exact shape"
        );
    }

    #[test]
    fn webhook_target_forbidden_json_is_pinned() {
        let json = serde_json::to_string(&ErrorCode::WebhookTargetForbidden).unwrap();
        assert_eq!(json, r#""webhook_target_forbidden""#, "clients switch on this exact code");
    }

    #[test]
    fn unknown_codes_do_not_break_old_clients() {
        let body: ErrorBody = serde_json::from_str(r#"{"error":"brand_new","code":"also_new"}"#).unwrap();
        assert_eq!(body.error, OAuthError::Unknown, "unknown OAuth errors must still parse");
        assert_eq!(body.code, ErrorCode::Unknown, "unknown codes must still parse");
        let plain: ErrorBody = serde_json::from_str(r#"{"error":"invalid_grant"}"#).unwrap();
        assert_eq!(plain.code, ErrorCode::Unknown, "a standard OAuth server sends no code");
    }

    #[test]
    fn as_str_matches_serde() {
        for code in [
            ErrorCode::InvalidRequest,
            ErrorCode::PayloadTooLarge,
            ErrorCode::UnsupportedMediaType,
            ErrorCode::InvalidClient,
            ErrorCode::UnsupportedGrantType,
            ErrorCode::InvalidCredentials,
            ErrorCode::InvalidRefreshToken,
            ErrorCode::RefreshReuseDetected,
            ErrorCode::SessionRevoked,
            ErrorCode::SessionIdleTimeout,
            ErrorCode::SessionExpired,
            ErrorCode::InvalidToken,
            ErrorCode::RateLimited,
            ErrorCode::Forbidden,
            ErrorCode::NotFound,
            ErrorCode::MethodNotAllowed,
            ErrorCode::RequestTimeout,
            ErrorCode::Internal,
            ErrorCode::WebhookTargetForbidden,
            ErrorCode::ServerBusy,
            ErrorCode::TooManyConnections,
            ErrorCode::InvalidAuthorizationCode,
            ErrorCode::PkceMismatch,
            ErrorCode::AccessDenied,
            ErrorCode::AuthorizationPending,
            ErrorCode::SlowDown,
            ErrorCode::ExpiredToken,
            ErrorCode::LoginRequired,
            ErrorCode::PasswordGrantDisabled,
            ErrorCode::SignInElsewhere,
            ErrorCode::ProviderUnavailable,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()), "as_str must equal the wire form");
        }
    }

    #[test]
    fn user_disabled_wire_form_is_pinned() {
        let json = serde_json::to_string(&ErrorCode::UserDisabled).unwrap();
        assert_eq!(json, "\"user_disabled\"", "clients switch on this exact code");
        assert_eq!(ErrorCode::UserDisabled.as_str(), "user_disabled", "as_str must equal the wire form");
    }
}
