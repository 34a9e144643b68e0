//! The one error type handlers return. Every error leaves the server as a [`ErrorBody`]; internal
//! causes are logged (without secrets) and hidden from clients.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tessera_protocol::{ErrorBody, ErrorCode, OAuthError};

/// `Retry-After` of a `provider_unavailable` answer (seconds).
pub const PROVIDER_RETRY_SECS: u64 = 5;

/// A client-facing error.
#[derive(Debug)]
pub struct AppError {
    status: StatusCode,
    error: OAuthError,
    code: ErrorCode,
    description: String,
    retry_after_secs: Option<u64>,
    /// RFC 6750 §3.1: a request without any credentials gets a challenge without an error code.
    bare_challenge: bool,
}

impl AppError {
    fn new(status: StatusCode, error: OAuthError, code: ErrorCode, description: impl Into<String>) -> Self {
        Self { status, error, code, description: description.into(), retry_after_secs: None, bare_challenge: false }
    }

    /// 400 `invalid_request`: malformed or incomplete input.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, OAuthError::InvalidRequest, ErrorCode::InvalidRequest, description)
    }

    /// 400 `invalid_request` with code `webhook_target_forbidden`: the URL names an address the
    /// server must not reach.
    pub fn webhook_target_forbidden(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, OAuthError::InvalidRequest, ErrorCode::WebhookTargetForbidden, description)
    }

    /// 400 `invalid_grant` with Tessera's reason.
    pub fn invalid_grant(code: ErrorCode, description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, OAuthError::InvalidGrant, code, description)
    }

    /// 401 `invalid_client`.
    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, OAuthError::InvalidClient, ErrorCode::InvalidClient, description)
    }

    /// 400 `unsupported_grant_type`, code `password_grant_disabled`: `password_grant = false`.
    pub fn password_grant_disabled() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            OAuthError::UnsupportedGrantType,
            ErrorCode::PasswordGrantDisabled,
            "this server does not accept passwords at the token endpoint; sign in through the browser",
        )
    }

    /// 400 `unsupported_grant_type`.
    pub fn unsupported_grant_type(grant: &str) -> Self {
        let shown: String = grant.chars().take(40).collect();
        Self::new(
            StatusCode::BAD_REQUEST,
            OAuthError::UnsupportedGrantType,
            ErrorCode::UnsupportedGrantType,
            format!("grant_type {shown:?} is not supported; see grant_types_supported in discovery"),
        )
    }

    /// 401 `invalid_token` (RFC 6750 §3.1) with Tessera's reason.
    pub fn invalid_token(code: ErrorCode, description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, OAuthError::InvalidToken, code, description)
    }

    /// 503 `provider_unavailable`: the organisation's identity provider could not be asked
    /// about the token (retry shortly; not a sign-out).
    pub fn provider_unavailable(description: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            OAuthError::ServerError,
            ErrorCode::ProviderUnavailable,
            description,
        );
        e.retry_after_secs = Some(PROVIDER_RETRY_SECS);
        e
    }

    /// 404 `sign_in_elsewhere`: an OpenID endpoint of a server that trusts another provider.
    pub fn sign_in_elsewhere(issuer: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            OAuthError::InvalidRequest,
            ErrorCode::SignInElsewhere,
            format!("this server signs nobody in: sign in at {issuer} (GET /api/client-config says how)"),
        )
    }

    /// 401 for a request that carried no credentials at all (RFC 6750 §3.1: the challenge then
    /// names no error).
    pub fn unauthenticated() -> Self {
        let mut e = Self::invalid_token(ErrorCode::InvalidToken, "an Authorization: Bearer access token is required");
        e.bare_challenge = true;
        e
    }

    /// 408: the request took longer than the server allows.
    pub fn request_timeout() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            OAuthError::ServerError,
            ErrorCode::RequestTimeout,
            "the request took too long; retry",
        )
    }

    /// 400 answer to a device-code poll (RFC 8628 §3.5): `authorization_pending`, `slow_down`,
    /// `access_denied` or `expired_token`, with the matching Tessera code.
    pub fn device_poll(code: ErrorCode, description: impl Into<String>) -> Self {
        let error = match code {
            ErrorCode::SlowDown => OAuthError::SlowDown,
            ErrorCode::AccessDenied => OAuthError::AccessDenied,
            ErrorCode::ExpiredToken => OAuthError::ExpiredToken,
            _ => OAuthError::AuthorizationPending,
        };
        Self::new(StatusCode::BAD_REQUEST, error, code, description)
    }

    /// 429 with `Retry-After`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            OAuthError::RequestRefused,
            ErrorCode::RateLimited,
            format!("too many attempts; retry in {retry_after_secs} s"),
        );
        e.retry_after_secs = Some(retry_after_secs);
        e
    }

    /// 503 `server_busy` with `Retry-After`: a capacity limit (password-hash queue, WebSocket
    /// slots) is reached; `what` says which, for developers.
    pub fn server_busy(what: &str, retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            OAuthError::ServerError,
            ErrorCode::ServerBusy,
            format!("the server is busy ({what}); retry in {retry_after_secs} s"),
        );
        e.retry_after_secs = Some(retry_after_secs);
        e
    }

    /// 429 `too_many_connections` with `Retry-After`: a per-session or per-user WebSocket cap.
    pub fn too_many_connections(what: &str, retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            OAuthError::RequestRefused,
            ErrorCode::TooManyConnections,
            format!("too many notification streams {what}; close one or retry in {retry_after_secs} s"),
        );
        e.retry_after_secs = Some(retry_after_secs);
        e
    }

    /// 404.
    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, OAuthError::RequestRefused, ErrorCode::NotFound, description)
    }

    /// 403.
    pub fn forbidden(description: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, OAuthError::RequestRefused, ErrorCode::Forbidden, description)
    }

    /// 405.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            OAuthError::InvalidRequest,
            ErrorCode::MethodNotAllowed,
            "method not allowed on this path",
        )
    }

    /// 413.
    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            OAuthError::InvalidRequest,
            ErrorCode::PayloadTooLarge,
            "request body is too large",
        )
    }

    /// 415.
    pub fn unsupported_media_type(expected: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            OAuthError::InvalidRequest,
            ErrorCode::UnsupportedMediaType,
            format!("expected Content-Type: {expected}"),
        )
    }

    /// 500: logs `cause` and tells the client nothing about it.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            OAuthError::ServerError,
            ErrorCode::Internal,
            "internal server error",
        )
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        Self::internal(format!("database: {e}"))
    }
}

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        Self::internal(format!("{e:#}"))
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: self.error, error_description: Some(self.description), code: self.code };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        // RFC 6749 §5.1/§5.2: token responses must not be cached; harmless elsewhere.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED && self.error == OAuthError::InvalidToken {
            // RFC 6750 §3: the challenge names the error; the code is a token, no quoting issues.
            let challenge = if self.bare_challenge {
                "Bearer realm=\"tessera\"".to_owned()
            } else {
                format!("Bearer error=\"invalid_token\", error_description=\"{}\"", self.code.as_str())
            };
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                headers.insert(header::WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}

/// Result alias for handlers.
pub type AppResult<T> = Result<T, AppError>;
