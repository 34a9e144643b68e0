//! Single-flight refresh, the cross-process lock with vault re-read, crash-safe rotation.
//!
//! Order inside one refresh, all under the in-process gate:
//! 1. take the lock file for this server + user (other Tessera processes wait);
//! 2. re-read the vault: if another process rotated the refresh token (or signed out, or signed
//!    in anew), adopt that instead of replaying ours, which the server would treat as reuse;
//! 3. send the refresh grant;
//! 4. store the new refresh token in the vault; only then
//! 5. release the lock, install the new tokens, report the new state.
//!
//! A crash between 3 and 4 leaves the previous token in the vault, which the server accepts once
//! more within its grace window. A vault write that fails is reported (warning event, status
//! `storage: memory`) and the session goes on in memory; it is never silently dropped.

use chrono::{DateTime, Utc};

use super::records::{RecordGuard, is_pending_only};
use super::{Held, SessionEngine};
use crate::audit::AuditKind;
use crate::error::{ClientError, EngineError, ErrorClass};
use crate::schedule::{RefreshOutcome, ScheduleTarget};
use crate::secret::AccessToken;
use crate::state::{SessionEvent, SessionState, SignOutReason, WarningCode};
use crate::token::{SessionTerms, TokenGrant};
use crate::vault::VaultRecord;

/// Why a refresh was asked for (for logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    /// The access token expired by the local clock.
    Expired,
    /// The server refused the access token (401 invalid_token).
    Rejected,
    /// The schedule said so.
    Scheduled,
    /// The user or app asked (e.g. "stay signed in").
    Forced,
    /// Restoring a session from the vault.
    Restore,
}

/// An access token and the engine epoch it belongs to.
pub(crate) struct Issued {
    pub(crate) token: AccessToken,
    pub(crate) epoch: u64,
    pub(crate) session_id: String,
}

impl SessionEngine {
    /// A valid access token, refreshing first (single-flight) when it has expired.
    ///
    /// This is what `tessera token` prints. Prefer [`authorized`](Self::authorized) for calls:
    /// it also handles a token the server refuses.
    pub async fn access_token(&self) -> Result<AccessToken, EngineError> {
        self.token_for_call().await.map(|issued| issued.token)
    }

    /// Refreshes now, whatever the token's expiry ("stay signed in"). The session's absolute end
    /// cannot be extended; the idle deadline is.
    pub async fn refresh_now(&self) -> Result<(), EngineError> {
        let epoch = self.cur().epoch;
        self.refresh_shared(epoch, Cause::Forced).await.map(|_| ())
    }

    /// The current access token, or a refreshed one when it has expired by the local clock.
    pub(crate) async fn token_for_call(&self) -> Result<Issued, EngineError> {
        let now = self.now();
        let epoch = {
            let cur = self.cur();
            let Some(held) = cur.session.as_ref() else { return Err(Self::no_session_error(&cur)) };
            if let Some(token) = valid_access(held, now) {
                return Ok(Issued { token, epoch: cur.epoch, session_id: held.record.session_id.clone() });
            }
            cur.epoch
        };
        self.refresh_shared(epoch, Cause::Expired).await
    }

    /// Single flight: callers that saw epoch `seen` and wait for the gate share the outcome of
    /// whichever attempt completed meanwhile; only a caller with nothing newer refreshes.
    pub(crate) async fn refresh_shared(&self, seen: u64, cause: Cause) -> Result<Issued, EngineError> {
        let _gate = self.inner.gate.lock().await;
        {
            let cur = self.cur();
            if cur.epoch != seen {
                if let Some(failure) = &cur.last_failure {
                    return Err(failure.clone());
                }
                let Some(held) = cur.session.as_ref() else { return Err(Self::no_session_error(&cur)) };
                if let Some(token) = valid_access(held, self.now()) {
                    return Ok(Issued { token, epoch: cur.epoch, session_id: held.record.session_id.clone() });
                }
            }
        }
        self.refresh_locked(cause).await
    }

    /// One refresh attempt. The caller holds the gate.
    pub(crate) async fn refresh_locked(&self, cause: Cause) -> Result<Issued, EngineError> {
        let (mut record, persisted) = {
            let mut cur = self.cur();
            let Some(held) = cur.session.as_ref() else { return Err(Self::no_session_error(&cur)) };
            let snapshot = (held.record.clone(), cur.persisted);
            if matches!(cur.state, SessionState::Active { .. } | SessionState::Expiring { .. }) {
                self.set_state_locked(&mut cur, SessionState::Refreshing);
            }
            snapshot
        };
        tracing::debug!(?cause, session_id = %record.session_id, "refreshing");
        let guard = match self.lock_record(&record.key()).await {
            Ok(guard) => guard,
            Err(e) => return self.refresh_failed(e),
        };
        if persisted {
            match guard.load().await {
                Ok(None) => return self.signed_out_elsewhere(&record.session_id),
                Ok(Some(stored)) if is_pending_only(&stored) => return self.signed_out_elsewhere(&record.session_id),
                Ok(Some(stored)) => {
                    if stored.refresh_token != record.refresh_token {
                        tracing::info!(
                            session_id = %stored.session_id,
                            same_session = stored.session_id == record.session_id,
                            "another process rotated the refresh token; adopting it"
                        );
                    }
                    record = stored;
                }
                Err(e) => self.warn(
                    WarningCode::VaultReadFailed,
                    format!(
                        "could not re-read the keychain before refreshing ({}); using the token in memory",
                        e.code()
                    ),
                ),
            }
        }

        let started = tokio::time::Instant::now();
        match self.inner.client.refresh(&record.refresh_token, record.client_id.as_deref()).await {
            Ok(grant) => {
                let terms = grant.terms(Some(&SessionTerms {
                    session_id: record.session_id.clone(),
                    refresh_expires_at: record.refresh_expires_at,
                    session_expires_at: record.session_expires_at,
                }));
                let rotated = VaultRecord {
                    refresh_token: grant.refresh_token.clone(),
                    session_id: terms.session_id,
                    client_id: record.client_id.clone(),
                    username: record.username.clone(),
                    server_url: record.server_url.clone(),
                    refresh_expires_at: terms.refresh_expires_at,
                    session_expires_at: terms.session_expires_at,
                    pending_revocation: record.pending_revocation.clone(),
                };
                // Crash-safe rotation: the vault has the new token before anyone hears of it.
                let persisted = self.persist(&guard, &rotated).await;
                drop(guard);
                self.inner.metrics.refresh_succeeded(started.elapsed());
                let issued = self.install(rotated, grant, persisted);
                self.audit(Self::audit_event(AuditKind::Refreshed, Some(&issued.session_id))).await;
                Ok(issued)
            }
            Err(e) => {
                self.inner.metrics.refresh_failed(e.code());
                self.audit(Self::audit_event(AuditKind::RefreshFailed, Some(&record.session_id)).detail(e.code()))
                    .await;
                match (e.class(), &e) {
                    (ErrorClass::SessionEnded(reason), _) => {
                        self.end_locked(reason, Some(guard)).await;
                        Err(EngineError::SignedOut(reason))
                    }
                    (ErrorClass::InvalidToken | ErrorClass::Rejected, ClientError::Server { .. }) => {
                        self.end_locked(SignOutReason::ServerRejected, Some(guard)).await;
                        Err(EngineError::SignedOut(SignOutReason::ServerRejected))
                    }
                    // Offline past the refresh token's end: no refresh or reported activity reached
                    // the server in time, so the server has ended the session (idle or absolute).
                    _ if self.refresh_deadline_passed(&record) => {
                        let reason = if record.refresh_expires_at >= record.session_expires_at {
                            SignOutReason::SessionExpired
                        } else {
                            SignOutReason::IdleTimeout
                        };
                        tracing::info!(code = e.code(), ?reason, "offline past the refresh token's end");
                        self.end_locked(reason, Some(guard)).await;
                        Err(EngineError::SignedOut(reason))
                    }
                    // Network, 5xx, 429, unreadable bodies, a bad discovered URL: keep the session.
                    _ => self.refresh_failed(e.into()),
                }
            }
        }
    }

    /// Writes `record` to the vault; on failure warns and reports the memory tier.
    pub(crate) async fn persist(&self, guard: &RecordGuard, record: &VaultRecord) -> bool {
        match guard.replace(record).await {
            Ok(()) => true,
            Err(e) => {
                self.warn(
                    WarningCode::VaultWriteFailed,
                    format!(
                        "the new session could not be saved to the keychain ({}): it lasts until Tessera quits",
                        e.code()
                    ),
                );
                self.inner.metrics.error(e.code());
                self.audit(Self::audit_event(AuditKind::KeychainError, Some(&record.session_id)).detail(e.code()))
                    .await;
                // A stale record would be replayed by the next start (or another process) and
                // could trip reuse detection; without it, the next start simply asks to sign in.
                if let Err(e) = guard.remove().await {
                    tracing::warn!(code = e.code(), "could not remove the stale keychain record either");
                }
                false
            }
        }
    }

    /// Installs fresh tokens and reports the settled state.
    pub(crate) fn install(&self, record: VaultRecord, grant: TokenGrant, persisted: bool) -> Issued {
        let mut cur = self.cur();
        let held = Held {
            record,
            access: Some(grant.access_token.clone()),
            issued_at: grant.issued_at,
            expires_at: grant.expires_at,
        };
        let state = self.settled_state(&held, self.now());
        let session_id = held.record.session_id.clone();
        self.replace_session(&mut cur, Some(held), persisted, state);
        Issued { token: grant.access_token, epoch: cur.epoch, session_id }
    }

    /// The refresh token's end (the later of the vault's and memory's, which reported activity
    /// moves) has passed by the local clock.
    fn refresh_deadline_passed(&self, record: &VaultRecord) -> bool {
        let in_memory = self.cur().session.as_ref().map(|h| h.record.refresh_expires_at);
        let deadline = in_memory.map_or(record.refresh_expires_at, |m| m.max(record.refresh_expires_at));
        deadline <= self.now()
    }

    /// A transient failure: offline, still signed in; waiting callers share this error.
    fn refresh_failed(&self, error: EngineError) -> Result<Issued, EngineError> {
        let now = self.now();
        let mut cur = self.cur();
        cur.epoch += 1;
        cur.last_failure = Some(error.clone());
        if cur.session.is_some() {
            let since = *cur.offline_since.get_or_insert(now);
            self.set_state_locked(&mut cur, SessionState::Offline { since });
        }
        drop(cur);
        self.emit(SessionEvent::Error { code: error.code().to_owned(), message: error.to_string() });
        Err(error)
    }

    /// Another process signed out (the record is gone or only holds a pending revocation).
    fn signed_out_elsewhere(&self, session_id: &str) -> Result<Issued, EngineError> {
        tracing::info!(%session_id, "the session was signed out by another Tessera process");
        self.clear_memory(SignOutReason::UserSignedOut);
        Err(EngineError::SignedOut(SignOutReason::UserSignedOut))
    }

    /// Ends the session: removes our vault record (keeping any queued revocation), clears memory,
    /// reports `SignedOut{reason}`. The caller holds the gate, and the record's guard if it has it.
    pub(crate) async fn end_locked(&self, reason: SignOutReason, guard: Option<RecordGuard>) {
        let Some(record) = self.cur().session.as_ref().map(|h| h.record.clone()) else { return };
        let guard = match guard {
            Some(guard) => guard,
            None => self.lock_record_anyway(&record.key()).await,
        };
        if self.inner.client.is_external() {
            // The server that ended the session does not issue its tokens: give the refresh
            // token back to the provider (RFC 7009) so it cannot outlive the session there.
            let token = guard.freshest(&record).await.refresh_token;
            match self.inner.client.revoke(&token, record.client_id.as_deref()).await {
                Ok(outcome) => tracing::info!(?outcome, "ended session's refresh token returned to the provider"),
                Err(e) => tracing::info!(code = e.code(), "could not revoke the ended session at the provider"),
            }
        }
        // Only our own record goes: another process may have signed in anew meanwhile.
        if let Err(e) = guard.remove_ours(&record.session_id).await {
            tracing::warn!(code = e.code(), "could not remove the ended session from the keychain");
        }
        self.forget_current_if_gone(&guard).await;
        drop(guard);
        self.clear_memory(reason);
        self.audit(Self::audit_event(AuditKind::SignedOut, Some(&record.session_id)).reason(reason.as_str())).await;
    }

    /// Forgets the session in memory and reports `SignedOut{reason}`.
    pub(crate) fn clear_memory(&self, reason: SignOutReason) {
        self.replace_session(&mut self.cur(), None, false, SessionState::SignedOut { reason: Some(reason) });
    }

    /// A warning or end date passed: `Expiring` near the end, signed out at it.
    pub async fn reassess(&self) {
        let now = self.now();
        let ended = {
            let mut cur = self.cur();
            match cur.session.as_ref() {
                None => return,
                Some(held) if held.record.session_expires_at <= now => Some(held.record.session_id.clone()),
                Some(held) => {
                    if matches!(cur.state, SessionState::Active { .. } | SessionState::Expiring { .. })
                        && held.access.is_some()
                    {
                        let state = self.settled_state(held, now);
                        self.set_state_locked(&mut cur, state);
                    }
                    None
                }
            }
        };
        if let Some(session_id) = ended {
            self.end_session_if(&session_id, SignOutReason::SessionExpired).await;
        }
    }
}

fn valid_access(held: &Held, now: DateTime<Utc>) -> Option<AccessToken> {
    held.access.as_ref().filter(|_| held.expires_at > now).cloned()
}

#[async_trait::async_trait]
impl ScheduleTarget for SessionEngine {
    async fn refresh(&self) -> RefreshOutcome {
        let epoch = self.cur().epoch;
        match self.refresh_shared(epoch, Cause::Scheduled).await {
            Ok(_) => RefreshOutcome::Refreshed,
            // 429 and a busy 503 say when to come back: never sooner.
            Err(EngineError::Client(e)) => match e.class() {
                ErrorClass::Transient { retry_after } => RefreshOutcome::Retry { retry_after },
                _ => RefreshOutcome::Retry { retry_after: None },
            },
            Err(EngineError::SignedOut(_) | EngineError::NotSignedIn) => RefreshOutcome::Ended,
            Err(_) => RefreshOutcome::Retry { retry_after: None },
        }
    }

    async fn reassess(&self) {
        SessionEngine::reassess(self).await;
    }
}
