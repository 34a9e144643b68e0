//! Session policy: refresh tokens, deadlines, and ending sessions (with audit and metrics).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::Digest;
use sqlx::SqliteConnection;

use crate::clock::Clock;
use crate::db::Db;
use crate::error::AppError;
use crate::metrics::{Metrics, inc};
use crate::session_end::{EndAnnouncer, EndReason, Ending, SessionEnded};
use crate::store::audit::{self, AuditRecord};
use crate::store::sessions::{self, SessionRow};

/// Prefix of refresh tokens, so secret scanners and humans recognise one.
pub const REFRESH_PREFIX: &str = "trt_";

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
        return Err(EndReason::from_stored(row.stored_end_reason()));
    }
    if now_ms >= row.expires_at {
        return Err(EndReason::Expired);
    }
    if now_ms >= row.last_activity_at.saturating_add(idle_ms) {
        return Err(EndReason::IdleTimeout);
    }
    Ok(())
}

/// What deciding and ending sessions needs: storage, the clock, the counters, the idle timeout
/// and who hears that a session ended. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SessionPolicy {
    /// Storage.
    pub db: Db,
    /// Wall clock.
    pub clock: Arc<dyn Clock>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Open streams of ended sessions hear of it here, after commit.
    pub announcer: Arc<EndAnnouncer>,
    /// `session_idle_timeout_secs` in milliseconds.
    pub idle_ms: i64,
}

impl SessionPolicy {
    /// Ends a session for `reason` inside the caller's transaction `conn`, recording it once in
    /// the audit table and metrics. Returns `None` when the session had already ended; otherwise
    /// the end, which the caller announces ([`SessionPolicy::announce`]) once `conn`'s
    /// transaction has committed — never before, so no listener hears of an end that is rolled
    /// back. A caller without a transaction of its own uses [`SessionPolicy::end_now`].
    pub async fn end(&self, conn: &mut SqliteConnection, ending: Ending<'_>) -> sqlx::Result<Option<SessionEnded>> {
        let Ending { row, reason, ip, detail } = ending;
        let now = self.clock.now_ms();
        if !sessions::end(conn, &row.id, reason.sign_out_reason(), now).await? {
            return Ok(None);
        }
        let record = AuditRecord {
            user_id: Some(row.user_id),
            session_id: Some(&row.id),
            ip,
            detail,
            ..AuditRecord::new(reason.audit_kind(), now)
        };
        audit::record(conn, record).await?;
        match reason {
            EndReason::ReuseDetected => inc(&self.metrics.reuse_detections),
            EndReason::Revoked => inc(&self.metrics.revocations),
            EndReason::IdleTimeout | EndReason::Expired => {}
        }
        tracing::info!(session_id = %row.id, reason = reason.sign_out_reason().as_str(), "session ended");
        Ok(Some(SessionEnded { session_id: row.id.clone(), reason }))
    }

    /// Ends a session in a transaction of its own on `conn` (a writer connection outside any
    /// transaction), commits, and announces the end.
    pub async fn end_now(&self, conn: &mut SqliteConnection, ending: Ending<'_>) -> sqlx::Result<()> {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let ended = self.end(&mut tx, ending).await?;
        tx.commit().await?;
        self.announce(ended);
        Ok(())
    }

    /// Tells the open streams of sessions ended in a transaction that has committed.
    pub fn announce(&self, ended: impl IntoIterator<Item = SessionEnded>) {
        self.announcer.announce(ended);
    }

    /// Checks the session at `now`; a session found past a deadline is ended (and audited) now.
    pub async fn ensure_open(&self, row: &SessionRow, ip: Option<&str>) -> Result<(), AppError> {
        match check_open(row, self.clock.now_ms(), self.idle_ms) {
            Ok(()) => Ok(()),
            Err(reason) => {
                if row.ended_at.is_none() {
                    let mut conn = self.db.write.acquire().await?;
                    self.end_now(&mut conn, Ending { row, reason, ip, detail: None }).await?;
                }
                Err(AppError::invalid_token(reason.code(), reason.describe()))
            }
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
