//! Errors of the HTTP client ([`ClientError`]) and of the engine ([`EngineError`]), their failure
//! classes, and the one JSON shape that crosses to the webview ([`ErrorPayload`]).

use std::time::Duration;

use serde::Serialize;
use tessera_protocol::{ErrorCode, OAuthError};

use crate::state::SignOutReason;
use crate::vault::VaultError;

/// Why an HTTP exchange with the server failed, with the evidence. Never holds a token: response
/// bodies are kept only as a short, sanitized prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached (DNS, refused, reset, TLS).
    #[error("cannot reach the server: {0}")]
    Network(String),
    /// The server did not answer in time.
    #[error("the server did not answer in time")]
    Timeout,
    /// The server answered with a well-formed error body.
    #[error("the server refused the request (HTTP {status}, {}): {}", code.as_str(), description.as_deref().unwrap_or("no description"))]
    Server {
        /// HTTP status.
        status: u16,
        /// RFC 6749 §5.2 / RFC 6750 §3.1 error.
        error: OAuthError,
        /// Tessera's stable code.
        code: ErrorCode,
        /// RFC 6749 §5.2 `error_description`.
        description: Option<String>,
        /// The `X-Request-Id` sent, to find the request in server logs.
        request_id: String,
    },
    /// HTTP 429: too many requests.
    #[error("the server is rate limiting requests{}", retry_after.map(|d| format!("; retry after {} s", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// The `Retry-After` the server asked for.
        retry_after: Option<Duration>,
        /// The `X-Request-Id` sent.
        request_id: String,
    },
    /// HTTP 503 with `Retry-After`: the server is at a capacity limit (e.g. `server_busy`: every
    /// password-hash slot taken) and says when to come back.
    #[error("the server is busy{}", retry_after.map(|d| format!("; retry after {} s", d.as_secs())).unwrap_or_default())]
    Busy {
        /// The `Retry-After` the server asked for.
        retry_after: Option<Duration>,
        /// The `X-Request-Id` sent.
        request_id: String,
    },
    /// The response was not what the protocol says (HTML error page, truncated or wrong JSON).
    #[error("the server sent an unexpected response (HTTP {status}): {reason}; body starts with {body_prefix:?}")]
    Malformed {
        /// HTTP status.
        status: u16,
        /// What was wrong.
        reason: String,
        /// The first bytes of the body, control characters and token-like strings removed.
        body_prefix: String,
        /// The `X-Request-Id` sent.
        request_id: String,
    },
    /// The response body was larger than the client accepts.
    #[error("the server sent more than {limit} bytes (HTTP {status})")]
    TooLarge {
        /// HTTP status.
        status: u16,
        /// The limit in bytes.
        limit: usize,
    },
    /// The server URL or a discovered endpoint is not a usable URL.
    #[error("invalid server URL: {0}")]
    InvalidUrl(String),
    /// The access token held cannot be sent in an HTTP header (characters outside RFC 6750's
    /// `b64token`); treated like a refused token.
    #[error("the access token cannot be sent in an Authorization header")]
    UnusableToken,
    /// A server URL or discovered endpoint uses plain `http://` (or `ws://`) on a host that is
    /// not this machine (127.0.0.0/8, `::1`, `localhost`): passwords and tokens would cross the
    /// network unencrypted. Use `https://`.
    #[error("refusing {0}: plain http:// is allowed only for this machine (127.0.0.1, ::1, localhost); use https://")]
    InsecureServerUrl(String),
    /// The discovery document names another issuer than the server it was fetched from
    /// (RFC 8414 §3.3): a misconfigured `public_url`, or a document that is not this server's.
    #[error(
        "the server at {expected} says its issuer is {found}; sign in with the issuer's URL, or fix the server's public_url"
    )]
    IssuerMismatch {
        /// The server URL this client was given.
        expected: String,
        /// The `issuer` the discovery document gave.
        found: String,
    },
}

/// What a failure means for the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Retry later (network, timeout, 5xx, 429, a proxy's or captive portal's page): the user
    /// stays signed in.
    Transient {
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// The access token was refused (expired, bad signature): refresh and retry once.
    InvalidToken,
    /// The session is over; the user must sign in again.
    SessionEnded(SignOutReason),
    /// This request was refused (wrong password, not found, forbidden); the session is unaffected.
    Rejected,
}

impl ClientError {
    /// What the failure means for the session.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Network(_) | Self::Timeout | Self::Malformed { .. } | Self::TooLarge { .. } => {
                // A body we cannot read is most likely not from our server (proxy, captive portal).
                ErrorClass::Transient { retry_after: None }
            }
            Self::RateLimited { retry_after, .. } | Self::Busy { retry_after, .. } => {
                ErrorClass::Transient { retry_after: *retry_after }
            }
            Self::InvalidUrl(_) | Self::InsecureServerUrl(_) | Self::IssuerMismatch { .. } => ErrorClass::Rejected,
            Self::UnusableToken => ErrorClass::InvalidToken,
            Self::Server { status, error, code, .. } => {
                if let Some(reason) = SignOutReason::from_code(*code) {
                    ErrorClass::SessionEnded(reason)
                } else if *status >= 500 || *code == ErrorCode::Internal {
                    ErrorClass::Transient { retry_after: None }
                } else if *status == 401 && matches!(code, ErrorCode::InvalidToken | ErrorCode::Unknown) {
                    ErrorClass::InvalidToken
                } else if *error == OAuthError::InvalidGrant && *code == ErrorCode::Unknown {
                    // A standard OAuth server: invalid_grant without Tessera's code.
                    ErrorClass::SessionEnded(SignOutReason::SessionExpired)
                } else {
                    ErrorClass::Rejected
                }
            }
        }
    }

    /// A stable code for the UI and `--json` output.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Network(_) => "network",
            Self::Timeout => "timeout",
            Self::Server { code, .. } => code.as_str(),
            Self::RateLimited { .. } => "rate_limited",
            Self::Busy { .. } => "server_busy",
            Self::Malformed { .. } => "malformed_response",
            Self::TooLarge { .. } => "response_too_large",
            Self::InvalidUrl(_) => "invalid_url",
            Self::UnusableToken => "invalid_token",
            Self::InsecureServerUrl(_) => "insecure_server_url",
            Self::IssuerMismatch { .. } => "issuer_mismatch",
        }
    }
}

/// Why an engine operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// There is no session: sign in first.
    #[error("not signed in")]
    NotSignedIn,
    /// Already signed in: sign out first.
    #[error("already signed in as {0}")]
    AlreadySignedIn(String),
    /// The session ended (during or before this call).
    #[error("signed out: {}", .0.as_str())]
    SignedOut(SignOutReason),
    /// Talking to the server failed; see [`ClientError::class`].
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The keychain failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The data directory or its refresh lock file failed.
    #[error("data directory: {0}")]
    DataDir(String),
    /// Another Tessera process held the refresh lock for too long.
    #[error("another Tessera process held the refresh lock for more than {0} s")]
    LockTimeout(u64),
    /// The local notification cache cannot be opened or written (the feed still streams).
    #[error("notification cache unavailable: {0}")]
    CacheUnavailable(String),
    /// A browser or device sign-in did not complete.
    #[error(transparent)]
    SignIn(#[from] crate::browser::SignInError),
}

impl EngineError {
    /// A stable code for the UI and `--json` output.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotSignedIn => "not_signed_in",
            Self::AlreadySignedIn(_) => "already_signed_in",
            Self::SignedOut(_) => "signed_out",
            Self::Client(e) => e.code(),
            Self::Vault(e) => e.code(),
            Self::DataDir(_) => "data_dir",
            Self::LockTimeout(_) => "lock_timeout",
            Self::CacheUnavailable(_) => "cache_unavailable",
            Self::SignIn(e) => e.code(),
        }
    }

    /// True when retrying later may succeed (the user stays signed in).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Client(e) => matches!(e.class(), ErrorClass::Transient { .. }),
            Self::LockTimeout(_) => true,
            _ => false,
        }
    }

    /// The `{code, message}` shape the webview and `--json` output get.
    pub fn to_payload(&self) -> ErrorPayload {
        ErrorPayload { code: self.code().to_owned(), message: self.to_string() }
    }
}

/// The one error shape that crosses to the UI: switch on `code`, show `message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorPayload {
    /// Stable code.
    pub code: String,
    /// Human-readable text.
    pub message: String,
}

/// Keeps a short, printable prefix of a response body with token-like runs removed, for errors.
///
/// Any run of 24 or more characters from the token alphabets (base64url, JWT dots) is replaced,
/// so neither an opaque refresh token nor a JWT can end up in an error, a log or an event.
pub(crate) fn sanitize_body(body: &[u8]) -> String {
    const SCAN: usize = 4096;
    const KEEP: usize = 200;
    let text = String::from_utf8_lossy(&body[..body.len().min(SCAN)]);
    let mut out = String::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.chars().count() >= 24 {
            out.push_str("<redacted>");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '+' | '/' | '=') {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(if c.is_control() { ' ' } else { c });
        }
    }
    flush(&mut run, &mut out);
    let mut kept: String = out.chars().take(KEEP).collect();
    if out.chars().count() > KEEP {
        kept.push('…');
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(status: u16, error: OAuthError, code: ErrorCode) -> ClientError {
        ClientError::Server { status, error, code, description: None, request_id: "r".into() }
    }

    #[test]
    fn transient_failures_never_end_the_session() {
        for e in [
            ClientError::Network("refused".into()),
            ClientError::Timeout,
            server(503, OAuthError::ServerError, ErrorCode::Internal),
            ClientError::RateLimited { retry_after: Some(Duration::from_secs(3)), request_id: "r".into() },
            ClientError::Busy { retry_after: Some(Duration::from_secs(2)), request_id: "r".into() },
            ClientError::Malformed {
                status: 500,
                reason: "html".into(),
                body_prefix: String::new(),
                request_id: "r".into(),
            },
            ClientError::TooLarge { status: 200, limit: 1 },
        ] {
            assert!(matches!(e.class(), ErrorClass::Transient { .. }), "{e} must be transient, not {:?}", e.class());
        }
    }

    #[test]
    fn session_ending_codes_map_to_reasons() {
        let cases = [
            (ErrorCode::RefreshReuseDetected, SignOutReason::RefreshReuseDetected),
            (ErrorCode::SessionRevoked, SignOutReason::SessionRevoked),
            (ErrorCode::SessionIdleTimeout, SignOutReason::IdleTimeout),
            (ErrorCode::SessionExpired, SignOutReason::SessionExpired),
            (ErrorCode::InvalidRefreshToken, SignOutReason::SessionExpired),
        ];
        for (code, reason) in cases {
            assert_eq!(
                server(400, OAuthError::InvalidGrant, code).class(),
                ErrorClass::SessionEnded(reason),
                "{code:?} from the token endpoint must end the session"
            );
            assert_eq!(
                server(401, OAuthError::InvalidToken, code).class(),
                ErrorClass::SessionEnded(reason),
                "{code:?} on an API call must end the session too"
            );
        }
        assert_eq!(
            server(400, OAuthError::InvalidGrant, ErrorCode::Unknown).class(),
            ErrorClass::SessionEnded(SignOutReason::SessionExpired),
            "a standard server's bare invalid_grant ends the session"
        );
    }

    #[test]
    fn invalid_token_asks_for_a_refresh_and_wrong_password_is_rejected() {
        assert_eq!(
            server(401, OAuthError::InvalidToken, ErrorCode::InvalidToken).class(),
            ErrorClass::InvalidToken,
            "expired JWT: refresh"
        );
        assert_eq!(
            server(400, OAuthError::InvalidGrant, ErrorCode::InvalidCredentials).class(),
            ErrorClass::Rejected,
            "bad password is not a session end"
        );
        assert_eq!(
            server(404, OAuthError::RequestRefused, ErrorCode::NotFound).class(),
            ErrorClass::Rejected,
            "not found is per request"
        );
    }

    #[test]
    fn sanitized_bodies_hold_no_tokens() {
        let body = br#"{"access_token":"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJl","refresh_token":"trt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","tok"#;
        let clean = sanitize_body(body);
        assert!(!clean.contains("eyJ"), "a JWT must not survive sanitizing: {clean}");
        assert!(!clean.contains("trt_"), "a refresh token must not survive sanitizing: {clean}");
        assert!(clean.contains("access_token"), "field names stay as evidence: {clean}");
        let html = sanitize_body(b"<html>\r\n<h1>502 Bad Gateway</h1>\0</html>");
        assert_eq!(html, "<html>  <h1>502 Bad Gateway</h1> </html>", "control characters become spaces");
        let long = sanitize_body(&b"ab ".repeat(1000));
        assert!(long.chars().count() <= 201, "the prefix is short: {} chars", long.chars().count());
    }

    #[test]
    fn error_payload_json_is_pinned() {
        let json = serde_json::to_string(&EngineError::SignedOut(SignOutReason::SessionRevoked).to_payload())
            .unwrap_or_default();
        assert_eq!(
            json, r#"{"code":"signed_out","message":"signed out: session_revoked"}"#,
            "the UI parses this shape"
        );
    }
}
