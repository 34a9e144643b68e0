//! Session policy: refresh tokens, deadlines, and ending sessions (with audit and metrics).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::Digest;
use sqlx::SqliteConnection;
use tessera_protocol::ErrorCode;

use crate::metrics::inc;
use crate::state::AppState;
use crate::store::audit::{self, AuditRecord};
use crate::store::sessions::{self, SessionRow};

/// Prefix of refresh tokens, so secret scanners and humans recognise one.
pub const REFRESH_PREFIX: &str = "trt_";

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// Signed out, or revoked from another device.
    Revoked,
    /// A rotated refresh token was replayed.
    ReuseDetected,
    /// No activity for the idle timeout.
    IdleTimeout,
    /// Absolute lifetime reached.
    Expired,
}

impl EndReason {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Revoked => "revoked",
            Self::ReuseDetected => "reuse_detected",
            Self::IdleTimeout => "idle_timeout",
            Self::Expired => "expired",
        }
    }

    /// Parses the stored form (anything unknown reads as revoked: the session is over either way).
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("reuse_detected") => Self::ReuseDetected,
            Some("idle_timeout") => Self::IdleTimeout,
            Some("expired") => Self::Expired,
            _ => Self::Revoked,
        }
    }

    /// The error code clients see.
    pub fn code(self) -> ErrorCode {
        match self {
            Self::Revoked => ErrorCode::SessionRevoked,
            Self::ReuseDetected => ErrorCode::RefreshReuseDetected,
            Self::IdleTimeout => ErrorCode::SessionIdleTimeout,
            Self::Expired => ErrorCode::SessionExpired,
        }
    }

    /// Human text for error descriptions.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Revoked => "the session was revoked",
            Self::ReuseDetected => "a refresh token was reused; the session was revoked to protect the account",
            Self::IdleTimeout => "the session ended after a period of inactivity",
            Self::Expired => "the session reached its maximum lifetime",
        }
    }

    /// Audit kind recorded when a session ends this way.
    pub fn audit_kind(self) -> &'static str {
        match self {
            Self::Revoked => "session_revoked",
            Self::ReuseDetected => "refresh_token_reuse",
            Self::IdleTimeout => "session_idle_timeout",
            Self::Expired => "session_expired",
        }
    }
}

/// A new refresh token: 256 random bits, base64url, prefixed. Returns the token and its hash.
pub fn new_refresh_token() -> (String, [u8; 32]) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = format!("{REFRESH_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash_token(&token);
    (token, hash)
}

/// SHA-256 of a token. A plain fast hash is right here: the input has 256 bits of entropy.
pub fn hash_token(token: &str) -> [u8; 32] {
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// Whether the session is still open at `now`; if not, why.
pub fn check_open(row: &SessionRow, now_ms: i64, idle_ms: i64) -> Result<(), EndReason> {
    if row.ended_at.is_some() {
        return Err(EndReason::parse(row.end_reason.as_deref()));
    }
    if now_ms >= row.expires_at {
        return Err(EndReason::Expired);
    }
    if now_ms >= row.last_activity_at.saturating_add(idle_ms) {
        return Err(EndReason::IdleTimeout);
    }
    Ok(())
}

/// Ends a session for `reason`, recording it once in the audit table and metrics.
pub async fn end_session(
    state: &AppState,
    conn: &mut SqliteConnection,
    row: &SessionRow,
    reason: EndReason,
    ip: Option<&str>,
    detail: Option<&str>,
) -> sqlx::Result<()> {
    let now = state.clock.now_ms();
    if sessions::end(conn, &row.id, reason.as_str(), now).await? {
        match reason {
            EndReason::ReuseDetected => inc(&state.metrics.reuse_detections),
            EndReason::Revoked => inc(&state.metrics.revocations),
            EndReason::IdleTimeout | EndReason::Expired => {}
        }
        tracing::info!(session_id = %row.id, reason = reason.as_str(), "session ended");
        // Open notification streams of the session hear of it (and confirm after commit).
        state.notify.sessions.send(&row.id, reason);
        audit::record(
            conn,
            AuditRecord {
                at: now,
                kind: reason.audit_kind(),
                user_id: Some(row.user_id),
                session_id: Some(&row.id),
                ip,
                detail,
                ..Default::default()
            },
        )
        .await?;
    }
    Ok(())
}

/// Checks the session at `now`; a session found past a deadline is ended (and audited) now.
pub async fn ensure_open(state: &AppState, row: &SessionRow, ip: Option<&str>) -> Result<(), crate::error::AppError> {
    match check_open(row, state.clock.now_ms(), state.idle_ms()) {
        Ok(()) => Ok(()),
        Err(reason) => {
            if row.ended_at.is_none() {
                let mut conn = state.db.write.acquire().await?;
                end_session(state, &mut conn, row, reason, ip, None).await?;
            }
            Err(crate::error::AppError::invalid_token(reason.code(), reason.describe()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_have_256_bits_and_differ() {
        let (a, ha) = new_refresh_token();
        let (b, _) = new_refresh_token();
        assert_ne!(a, b, "tokens must be random");
        assert_eq!(a.len(), REFRESH_PREFIX.len() + 43, "32 bytes base64url = 43 chars");
        assert_eq!(ha, hash_token(&a), "hash must be deterministic");
    }
}
