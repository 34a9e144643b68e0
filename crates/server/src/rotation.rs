//! Refresh-token rotation with group commit.
//!
//! Every rotation must be durable before its response leaves (a client that receives a token
//! the server then forgets would be signed out, or worse, flagged for reuse). An fsync costs
//! milliseconds, so one transaction per refresh caps a server at a few hundred refreshes a
//! second. Instead one writer task takes every refresh waiting in its queue, decides them in
//! order inside a single transaction, commits once, and only then answers each caller. Under
//! load, batches grow by themselves; an idle server commits each refresh on its own.

use sqlx::SqliteConnection;
use tessera_protocol::ErrorCode;
use tokio::sync::{mpsc, oneshot};

use crate::auth::{SessionPolicy, check_open, hash_token, new_refresh_token};
use crate::error::AppError;
use crate::metrics::inc;
use crate::session_end::{EndReason, Ending, SessionEnded};
use crate::store::audit::{self, AuditKind, AuditRecord};
use crate::store::{sessions, users};

/// Most refreshes decided in one transaction.
const MAX_BATCH: usize = 256;
/// Refreshes that may wait for the writer before callers are held back.
const QUEUE: usize = 1024;

/// A refresh grant to decide. `Debug` redacts the token.
pub struct RefreshJob {
    /// The presented refresh token (already length-checked).
    pub presented: String,
    /// The client asking.
    pub client_id: String,
    /// The client's IP.
    pub ip: String,
}

impl std::fmt::Debug for RefreshJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshJob")
            .field("presented", &"<redacted>")
            .field("client_id", &self.client_id)
            .field("ip", &self.ip)
            .finish()
    }
}

/// A decided, committed rotation. `Debug` redacts the new token.
pub struct Rotated {
    /// The session.
    pub session_id: String,
    /// Its user.
    pub user_id: i64,
    /// Its absolute end (ms).
    pub expires_at: i64,
    /// When the rotation happened (ms): also the new last activity.
    pub now_ms: i64,
    /// The new refresh token.
    pub refresh_token: String,
}

impl std::fmt::Debug for Rotated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rotated")
            .field("session_id", &self.session_id)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .field("now_ms", &self.now_ms)
            .field("refresh_token", &"<redacted>")
            .finish()
    }
}

type Reply = oneshot::Sender<Result<Rotated, AppError>>;

/// Handle to the writer task.
#[derive(Debug, Clone)]
pub struct Rotator {
    queue: mpsc::Sender<(RefreshJob, Reply)>,
}

impl Rotator {
    /// Starts the writer task. `grace_ms` is `refresh_grace_secs` in milliseconds. The task ends
    /// when the last handle is dropped.
    pub fn spawn(policy: SessionPolicy, grace_ms: i64) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(writer(Writer { policy, grace_ms }, rx));
        Self { queue }
    }

    /// Decides `job`; returns once the outcome is committed.
    pub async fn refresh(&self, job: RefreshJob) -> Result<Rotated, AppError> {
        let (reply, answer) = oneshot::channel();
        self.queue.send((job, reply)).await.map_err(|_| AppError::internal("rotation writer stopped"))?;
        answer.await.map_err(|_| AppError::internal("rotation writer dropped a refresh"))?
    }
}

/// What the writer task decides with.
struct Writer {
    policy: SessionPolicy,
    grace_ms: i64,
}

async fn writer(w: Writer, mut rx: mpsc::Receiver<(RefreshJob, Reply)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        match w.decide_batch(&batch).await {
            Ok((outcomes, ended)) => {
                // Committed: streams of the sessions this batch ended may hear of it now.
                w.policy.announce(ended);
                for ((_, reply), outcome) in batch.drain(..).zip(outcomes) {
                    match &outcome {
                        Ok(_) => inc(&w.policy.metrics.refreshes),
                        Err(_) => inc(&w.policy.metrics.refresh_failures),
                    }
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                let message = format!("refresh batch of {} failed: {e}", batch.len());
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(AppError::internal(&message)));
                }
            }
        }
    }
}

type Outcome = Result<Rotated, AppError>;

impl Writer {
    /// Decides every job in one transaction and commits; returns the outcomes and the sessions
    /// ended, to announce. Refusals are outcomes, not errors; an `Err` means the transaction
    /// failed and nothing was committed (nor announced).
    async fn decide_batch(&self, batch: &[(RefreshJob, Reply)]) -> sqlx::Result<(Vec<Outcome>, Vec<SessionEnded>)> {
        let mut tx = self.policy.db.write.begin().await?;
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut ended = Vec::new();
        for (job, _) in batch {
            outcomes.push(self.decide(&mut tx, job, &mut ended).await?);
        }
        tx.commit().await?;
        Ok((outcomes, ended))
    }

    /// The rotation rules (see docs/protocol.md, "Refresh-token rotation"). Sessions it ends
    /// are added to `ended`.
    async fn decide(
        &self,
        conn: &mut SqliteConnection,
        job: &RefreshJob,
        ended: &mut Vec<SessionEnded>,
    ) -> sqlx::Result<Outcome> {
        let refused = |code: ErrorCode, text: &str| Ok(Err(AppError::invalid_grant(code, text)));
        let policy = &self.policy;
        let presented_hash = hash_token(&job.presented);
        let now = policy.clock.now_ms();
        let Some(row) = sessions::by_token_hash(conn, &presented_hash).await? else {
            return refused(ErrorCode::InvalidRefreshToken, "unknown refresh token");
        };
        if let Err(reason) = check_open(&row, now, policy.idle_ms) {
            ended.extend(policy.end(conn, Ending { row: &row, reason, ip: Some(&job.ip), detail: None }).await?);
            return refused(reason.code(), reason.describe());
        }
        if row.client_id != job.client_id {
            return refused(ErrorCode::InvalidRefreshToken, "the refresh token was issued to another client");
        }
        if users::is_disabled(conn, row.user_id).await? {
            // Disabling ends every session in its transaction; this only guards against a row
            // edited by hand.
            let reason = EndReason::Revoked;
            ended.extend(
                policy
                    .end(conn, Ending { row: &row, reason, ip: Some(&job.ip), detail: Some("account disabled") })
                    .await?,
            );
            return refused(reason.code(), "the account is disabled");
        }
        let (refresh_token, new_hash) = new_refresh_token();
        let is_current = row.current_token_hash == presented_hash;
        let retry = match (row.previous_token_hash.as_deref(), row.previous_rotated_at) {
            (Some(previous), Some(at)) if previous == &presented_hash[..] => self.lost_response_retry(now - at),
            _ => None,
        };
        let detail = if is_current {
            // Cannot lose: the row was read inside this transaction on the only writer.
            sessions::rotate(conn, &row.id, &presented_hash, &new_hash, now).await?;
            None
        } else if let Some(kind) = retry {
            sessions::regrant(conn, &row.id, &new_hash, now).await?;
            Some(kind)
        } else {
            tracing::warn!(session_id = %row.id, "refresh token reuse detected; revoking the session");
            let reason = EndReason::ReuseDetected;
            ended.extend(
                policy
                    .end(conn, Ending { row: &row, reason, ip: Some(&job.ip), detail: Some("replayed refresh token") })
                    .await?,
            );
            return refused(reason.code(), reason.describe());
        };
        let record = AuditRecord {
            user_id: Some(row.user_id),
            session_id: Some(&row.id),
            ip: Some(&job.ip),
            detail,
            ..AuditRecord::new(AuditKind::Refresh, now)
        };
        audit::record(conn, record).await?;
        let rotated = Rotated {
            session_id: row.id,
            user_id: row.user_id,
            expires_at: row.expires_at,
            now_ms: now,
            refresh_token,
        };
        Ok(Ok(rotated))
    }

    /// Whether the session's previous token, presented `since_rotation_ms` after the rotation that
    /// replaced it, is a client retrying after a lost response (`Some(audit detail)`) or reuse.
    ///
    /// Presenting the current token always makes it the previous one, so when the presented token is
    /// the previous one, no token issued after it (the one that replaced it, or a retry's) has ever
    /// been presented: nobody went on from it, and the retry is accepted for as long as the session
    /// could have stayed idle (`session_idle_timeout_secs`, or `refresh_grace_secs` if longer),
    /// counted from that rotation and never extended by retries. `refresh_grace_secs = 0` turns
    /// retries off. The proof that theft is still detected is in docs/security.md.
    fn lost_response_retry(&self, since_rotation_ms: i64) -> Option<&'static str> {
        let grace_ms = self.grace_ms;
        if grace_ms == 0 {
            None
        } else if since_rotation_ms <= grace_ms {
            Some("retry with the previous token inside the grace window")
        } else if since_rotation_ms <= grace_ms.max(self.policy.idle_ms) {
            Some("retry with the previous token after the grace window; the token that replaced it was never presented")
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_job_and_rotation_debug_hide_the_tokens() {
        let job =
            RefreshJob { presented: "trt_presented-secret".into(), client_id: "tessera-cli".into(), ip: "::1".into() };
        let done = Rotated {
            session_id: "s".into(),
            user_id: 1,
            expires_at: 2,
            now_ms: 3,
            refresh_token: "trt_new-secret".into(),
        };
        let shown = format!("{job:?} {done:?}");
        assert!(!shown.contains("secret"), "Debug must never print a refresh token: {shown}");
        assert!(shown.contains("tessera-cli") && shown.contains("session_id"), "the rest stays visible: {shown}");
    }
}
