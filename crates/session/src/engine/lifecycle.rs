//! Sign-in, restore on start, sign-out, and revocations queued while offline.

use serde::Serialize;

use super::{Held, SessionEngine, SessionStatus};
use crate::audit::AuditKind;
use crate::error::{ClientError, EngineError, ErrorClass};
use crate::lock::{AccountNote, LOCK_WAIT, RefreshLock};
use crate::secret::{Password, RefreshToken};
use crate::state::{SessionState, SignOutReason, WarningCode};
use crate::vault::{VaultKey, VaultRecord};

use super::refresh::{Cause, is_pending_only};

/// What sign-out achieved at the server. Locally the session is gone in every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignOutOutcome {
    /// The server revoked the session.
    Revoked,
    /// The server could not be reached: the revocation waits in the keychain and is sent by
    /// [`SessionEngine::flush_pending_revocations`] (and on the next start).
    RevocationQueued,
    /// The server could not be reached and the keychain could not queue the revocation: the
    /// server-side session ends on its own idle timeout.
    RevocationDropped,
    /// There was no session to sign out of.
    NotSignedIn,
}

fn is_transient(e: &ClientError) -> bool {
    matches!(e.class(), ErrorClass::Transient { .. })
}

impl SessionEngine {
    /// Signs in with a password and stores the session in the vault. A session this account
    /// still had in the vault (or a queued revocation) is revoked at the server first.
    pub async fn sign_in(&self, username: &str, password: &Password) -> Result<SessionStatus, EngineError> {
        let _gate = self.inner.gate.lock().await;
        {
            let mut cur = self.cur();
            if let Some(held) = cur.session.as_ref() {
                return Err(EngineError::AlreadySignedIn(held.record.username.clone()));
            }
            self.set_state_locked(&mut cur, SessionState::SigningIn);
        }
        let grant = match self.inner.client.sign_in(username, password).await {
            Ok(grant) => grant,
            Err(e) => {
                self.set_state(SessionState::SignedOut { reason: None });
                self.inner.metrics.error(e.code());
                self.audit(Self::audit_event(AuditKind::SignInFailed, None).detail(e.code())).await;
                return Err(e.into());
            }
        };
        let key = self.key_for(username);
        let lock = RefreshLock::acquire(&self.inner.config.data_dir, &key, LOCK_WAIT).await.ok();
        let previous = match self.inner.vault.load(&key).await {
            Ok(previous) => previous,
            Err(e) => {
                self.warn(WarningCode::VaultReadFailed, format!("could not read the keychain ({})", e.code()));
                None
            }
        };
        let mut pending = None;
        if let Some(previous) = previous {
            let mut stale: Vec<RefreshToken> = previous.pending_revocation.clone().into_iter().collect();
            if !is_pending_only(&previous) {
                stale.push(previous.refresh_token.clone());
            }
            for token in stale {
                if let Err(e) = self.inner.client.revoke(&token).await {
                    if is_transient(&e) && pending.is_none() {
                        pending = Some(token);
                    }
                }
            }
        }
        let record = VaultRecord {
            refresh_token: grant.refresh_token.clone(),
            session_id: grant.session_id.clone(),
            username: username.to_owned(),
            server_url: self.inner.config.server_url(),
            refresh_expires_at: grant.refresh_expires_at,
            session_expires_at: grant.session_expires_at,
            pending_revocation: pending,
        };
        let persisted = self.persist(&record).await;
        drop(lock);
        let note = AccountNote { server_url: record.server_url.clone(), username: username.to_owned() };
        if let Err(e) = note.store(&self.inner.config.data_dir).await {
            tracing::warn!(error = %e, "could not note the account; restore() will need the user name");
        }
        let issued = self.install(record, grant, persisted);
        self.audit(Self::audit_event(AuditKind::SignedIn, Some(&issued.session_id))).await;
        Ok(self.status())
    }

    /// Restores the account last signed in from this data directory (see
    /// [`restore_user`](Self::restore_user)); signed out when there is none.
    pub async fn restore(&self) -> Result<SessionState, EngineError> {
        match AccountNote::load(&self.inner.config.data_dir).await? {
            Some(note) if note.server_url == self.inner.config.server_url() => self.restore_user(&note.username).await,
            _ => Ok(self.state()),
        }
    }

    /// Picks up `username`'s session from the vault and refreshes it, without a password:
    /// `Active` on success; `Offline` (still signed in, retrying) when the server is unreachable;
    /// `SignedOut{reason}` with the record deleted when the server says the session is over.
    /// A queued revocation found on the way is sent.
    pub async fn restore_user(&self, username: &str) -> Result<SessionState, EngineError> {
        let _gate = self.inner.gate.lock().await;
        if self.cur().session.is_some() {
            return Ok(self.state());
        }
        let key = self.key_for(username);
        let record = match self.inner.vault.load(&key).await {
            Ok(Some(record)) => record,
            Ok(None) => return Ok(self.state()),
            Err(e) => {
                self.warn(WarningCode::VaultReadFailed, format!("could not read the keychain ({})", e.code()));
                return Err(e.into());
            }
        };
        if is_pending_only(&record) {
            if let Err(e) = self.flush_pending_locked(&key).await {
                tracing::info!(code = e.code(), "queued revocation still pending");
            }
            return Ok(self.state());
        }
        let has_pending = record.pending_revocation.is_some();
        let session_id = record.session_id.clone();
        let now = self.now();
        let expired = record.session_expires_at <= now;
        {
            let mut cur = self.cur();
            cur.session = Some(Held { record, access: None, issued_at: now, expires_at: now });
            cur.persisted = true;
            cur.epoch += 1;
            cur.token_generation += 1;
            cur.last_failure = None;
            self.set_state_locked(&mut cur, SessionState::Refreshing);
            self.publish_schedule(&cur);
        }
        if expired {
            self.end_locked(SignOutReason::SessionExpired, None).await;
            return Ok(self.state());
        }
        self.audit(Self::audit_event(AuditKind::SessionRestored, Some(&session_id))).await;
        match self.refresh_locked(Cause::Restore).await {
            Ok(_) => {}
            // Offline (still signed in, the schedule retries) or signed out with the reason.
            Err(e) if e.is_transient() || matches!(e, EngineError::SignedOut(_)) => {}
            Err(e) => return Err(e),
        }
        if has_pending && self.cur().session.is_some() {
            if let Err(e) = self.flush_pending_locked(&key).await {
                tracing::info!(code = e.code(), "queued revocation still pending");
            }
        }
        Ok(self.state())
    }

    /// Signs out: revokes the session at the server (RFC 7009), deletes the vault record, clears
    /// memory. When the server cannot be reached, signs out locally anyway and queues the
    /// revocation in the keychain. Works in a fresh process too (e.g. `tessera logout`): without
    /// a session in memory it signs out the account noted in the data directory.
    pub async fn sign_out(&self) -> Result<SignOutOutcome, EngineError> {
        self.sign_out_because(SignOutReason::UserSignedOut).await
    }

    /// [`sign_out`](Self::sign_out) for another reason (the idle watch signs out with
    /// [`SignOutReason::IdleTimeout`], a locked screen with [`SignOutReason::ScreenLocked`]):
    /// the same revocation, the reason in the event and the audit log.
    pub async fn sign_out_because(&self, reason: SignOutReason) -> Result<SignOutOutcome, EngineError> {
        let _gate = self.inner.gate.lock().await;
        let in_memory = self.cur().session.as_ref().map(|h| h.record.clone());
        let record = match in_memory {
            Some(record) => Some(record),
            None => match self.noted_key().await? {
                Some(key) => self.inner.vault.load(&key).await?.filter(|r| !is_pending_only(r)),
                None => None,
            },
        };
        let Some(record) = record else { return Ok(SignOutOutcome::NotSignedIn) };
        let key = record.key();
        let lock = RefreshLock::acquire(&self.inner.config.data_dir, &key, LOCK_WAIT).await.ok();
        // Revoke the freshest token: another process may have rotated ours.
        let (token, older) = match self.inner.vault.load(&key).await {
            Ok(Some(stored)) if stored.session_id == record.session_id && !is_pending_only(&stored) => {
                (stored.refresh_token.clone(), stored.pending_revocation.clone())
            }
            _ => (record.refresh_token.clone(), record.pending_revocation.clone()),
        };
        let mut outcome = match self.inner.client.revoke(&token).await {
            Err(e) if is_transient(&e) => {
                tracing::info!(code = e.code(), "server unreachable at sign-out; queueing the revocation");
                self.queue_revocation(&record, token).await
            }
            // RFC 7009: any other answer means the server will not take this token again.
            _ => SignOutOutcome::Revoked,
        };
        if outcome == SignOutOutcome::Revoked {
            match older {
                Some(older) => match self.inner.client.revoke(&older).await {
                    Err(e) if is_transient(&e) => outcome = self.queue_revocation(&record, older).await,
                    _ => self.delete_record(&key).await,
                },
                None => self.delete_record(&key).await,
            }
        }
        drop(lock);
        self.clear_memory(reason);
        self.audit(Self::audit_event(AuditKind::SignedOut, Some(&record.session_id)).reason(reason.as_str())).await;
        Ok(outcome)
    }

    /// Sends a revocation queued by an offline sign-out. Returns how many were sent (0 or 1);
    /// a transient failure leaves it queued and returns the error. Call on start and when the
    /// network comes back.
    pub async fn flush_pending_revocations(&self) -> Result<usize, EngineError> {
        let _gate = self.inner.gate.lock().await;
        let in_memory = self.cur().session.as_ref().map(|h| h.record.key());
        let key = match in_memory {
            Some(key) => Some(key),
            None => self.noted_key().await?,
        };
        match key {
            Some(key) => self.flush_pending_locked(&key).await,
            None => Ok(0),
        }
    }

    /// The caller holds the gate.
    async fn flush_pending_locked(&self, key: &VaultKey) -> Result<usize, EngineError> {
        let lock = RefreshLock::acquire(&self.inner.config.data_dir, key, LOCK_WAIT).await.ok();
        let Some(stored) = self.inner.vault.load(key).await? else { return Ok(0) };
        let Some(pending) = stored.pending_revocation.clone() else { return Ok(0) };
        if let Err(e) = self.inner.client.revoke(&pending).await {
            if is_transient(&e) {
                return Err(e.into());
            }
        }
        if is_pending_only(&stored) {
            self.inner.vault.delete(key).await?;
        } else {
            self.inner.vault.store(&VaultRecord { pending_revocation: None, ..stored.clone() }).await?;
        }
        drop(lock);
        if let Some(held) = self.cur().session.as_mut().filter(|h| h.record.session_id == stored.session_id) {
            held.record.pending_revocation = None;
        }
        self.audit(Self::audit_event(AuditKind::RevocationSent, Some(&stored.session_id))).await;
        Ok(1)
    }

    /// Writes a record that only carries `token` for revocation.
    async fn queue_revocation(&self, record: &VaultRecord, token: RefreshToken) -> SignOutOutcome {
        let queued = VaultRecord { refresh_token: token.clone(), pending_revocation: Some(token), ..record.clone() };
        match self.inner.vault.store(&queued).await {
            Ok(()) => {
                self.warn(
                    WarningCode::RevocationPending,
                    "signed out here; the server could not be told yet and will be when it is reachable".into(),
                );
                self.audit(Self::audit_event(AuditKind::RevocationPending, Some(&record.session_id))).await;
                SignOutOutcome::RevocationQueued
            }
            Err(e) => {
                self.warn(
                    WarningCode::VaultWriteFailed,
                    format!("signed out here, but the revocation could not be queued in the keychain ({})", e.code()),
                );
                SignOutOutcome::RevocationDropped
            }
        }
    }

    async fn delete_record(&self, key: &VaultKey) {
        if let Err(e) = self.inner.vault.delete(key).await {
            self.warn(
                WarningCode::VaultWriteFailed,
                format!("could not delete the session from the keychain ({})", e.code()),
            );
        }
    }

    /// The vault key of the account noted in the data directory, for this server.
    async fn noted_key(&self) -> Result<Option<VaultKey>, EngineError> {
        Ok(AccountNote::load(&self.inner.config.data_dir)
            .await?
            .filter(|n| n.server_url == self.inner.config.server_url())
            .map(|n| self.key_for(&n.username)))
    }
}
