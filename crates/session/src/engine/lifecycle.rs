//! Sign-in, restore on start, sign-out, and revocations queued while offline.

use serde::Serialize;

use super::records::{RecordGuard, is_pending_only};
use super::refresh::Cause;
use super::{Held, SessionEngine, SessionStatus};
use crate::account::Account;
use crate::audit::AuditKind;
use crate::client::Revocation;
use crate::error::{ClientError, EngineError, ErrorClass};
use crate::secret::{Password, RefreshToken};
use crate::state::{SessionState, SignOutReason, WarningCode};
use crate::token::TokenGrant;
use crate::vault::{StorageTier, VaultRecord};

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
    /// The provider offers no revocation (no RFC 7009 endpoint, as Entra ID) or refuses it to
    /// public clients (glewlwyd): the refresh token is deleted here and stays valid there until
    /// it expires.
    #[serde(rename = "signed_out_locally")]
    LocalOnly,
}

fn is_transient(e: &ClientError) -> bool {
    matches!(e.class(), ErrorClass::Transient { .. })
}

impl SessionEngine {
    /// Signs in with a password and stores the session in the vault. A session this account
    /// still had in the vault (or a queued revocation) is revoked at the server first.
    pub async fn sign_in(&self, username: &str, password: &Password) -> Result<SessionStatus, EngineError> {
        let _gate = self.inner.gate.lock().await;
        self.begin_signing_in()?;
        match self.inner.client.sign_in(username, password).await {
            Ok(grant) => Ok(self.store_sign_in(username, grant).await),
            Err(e) => Err(self.sign_in_failed(e.into()).await),
        }
    }

    /// Refuses when signed in; else reports `SigningIn`. The caller holds the gate.
    pub(super) fn begin_signing_in(&self) -> Result<(), EngineError> {
        let mut cur = self.cur();
        refuse_held(&cur)?;
        self.set_state_locked(&mut cur, SessionState::SigningIn);
        Ok(())
    }

    /// `AlreadySignedIn` while a session is held: one account per engine, signed out first.
    pub(super) fn refuse_if_signed_in(&self) -> Result<(), EngineError> {
        refuse_held(&self.cur())
    }

    /// Back to signed out after a failed sign-in; counted and audited. Returns `e`.
    pub(super) async fn sign_in_failed(&self, e: EngineError) -> EngineError {
        if self.cur().session.is_none() {
            self.set_state(SessionState::SignedOut { reason: None });
        }
        self.inner.metrics.error(e.code());
        self.audit(Self::audit_event(AuditKind::SignInFailed, None).detail(e.code())).await;
        e
    }

    /// Stores a fresh grant as `username`'s session (revoking what the account still had) and
    /// makes it this engine's. The caller holds the gate and called `begin_signing_in`.
    pub(super) async fn store_sign_in(&self, username: &str, grant: TokenGrant) -> SessionStatus {
        let account = self.inner.config.account(username);
        let guard = self.lock_record_anyway(&account).await;
        let previous = match guard.load().await {
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
                if let Err(e) = self.inner.client.revoke(&token, previous.client_id.as_deref()).await {
                    if is_transient(&e) && pending.is_none() {
                        pending = Some(token);
                    }
                }
            }
        }
        let terms = grant.terms(None);
        let record = VaultRecord {
            refresh_token: grant.refresh_token.clone(),
            session_id: terms.session_id,
            client_id: Some(self.inner.client.client_id().to_owned()),
            username: account.username().to_owned(),
            server_url: account.server_url().to_owned(),
            refresh_expires_at: terms.refresh_expires_at,
            session_expires_at: terms.session_expires_at,
            pending_revocation: pending,
        };
        let persisted = self.persist(&guard, &record).await;
        if persisted && self.inner.vault.tier() == StorageTier::Keychain {
            self.make_current(&guard);
        }
        drop(guard);
        let issued = self.install(record, grant, persisted);
        self.audit(Self::audit_event(AuditKind::SignedIn, Some(&issued.session_id))).await;
        self.status()
    }

    /// Restores the current account ([`EngineConfig::current_account`](crate::EngineConfig)) when
    /// it is on this engine's server (see [`restore_user`](Self::restore_user)); signed out when
    /// there is none.
    pub async fn restore(&self) -> Result<SessionState, EngineError> {
        match self.current_account()? {
            Some(account) => self.restore_user(account.username()).await,
            None => Ok(self.state()),
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
        let account = self.inner.config.account(username);
        let record = match self.inner.vault.load(&account).await {
            Ok(Some(record)) => record,
            Ok(None) => return Ok(self.state()),
            Err(e) => {
                self.warn(WarningCode::VaultReadFailed, format!("could not read the keychain ({})", e.code()));
                return Err(e.into());
            }
        };
        if is_pending_only(&record) {
            if let Err(e) = self.flush_pending_locked(&account).await {
                tracing::info!(code = e.code(), "queued revocation still pending");
            }
            return Ok(self.state());
        }
        let has_pending = record.pending_revocation.is_some();
        let session_id = record.session_id.clone();
        let now = self.now();
        let expired = record.session_expires_at <= now;
        let held = Held { record, access: None, issued_at: now, expires_at: now };
        self.replace_session(&mut self.cur(), Some(held), true, SessionState::Refreshing);
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
            if let Err(e) = self.flush_pending_locked(&account).await {
                tracing::info!(code = e.code(), "queued revocation still pending");
            }
        }
        Ok(self.state())
    }

    /// Signs out: revokes the session at the server (RFC 7009), deletes the vault record, clears
    /// memory and forgets the current account. When the server cannot be reached, signs out
    /// locally anyway and queues the revocation in the keychain (the account stays current, so a
    /// later start sends it). Works in a fresh process too (e.g. `tessera sign-out`): without a
    /// session in memory it signs out the current account.
    pub async fn sign_out(&self) -> Result<SignOutOutcome, EngineError> {
        self.sign_out_because(SignOutReason::UserSignedOut).await
    }

    /// [`sign_out`](Self::sign_out) for another reason (the idle watch signs out with
    /// [`SignOutReason::IdleTimeout`], a locked screen with [`SignOutReason::ScreenLocked`]):
    /// the same revocation, the reason in the event and the audit log.
    pub async fn sign_out_because(&self, reason: SignOutReason) -> Result<SignOutOutcome, EngineError> {
        let _gate = self.inner.gate.lock().await;
        let in_memory = self.cur().session.as_ref().map(|h| h.record.clone());
        let account = match &in_memory {
            Some(record) => record.key(),
            None => match self.current_account()? {
                Some(account) => account,
                None => return Ok(SignOutOutcome::NotSignedIn),
            },
        };
        let guard = self.lock_record_anyway(&account).await;
        // Without a session in memory (a fresh process), the record as stored now, under the lock.
        let record = match in_memory {
            Some(record) => Some(record),
            None => guard.load().await?.filter(|r| !is_pending_only(r)),
        };
        let outcome = match record {
            Some(record) => self.revoke_and_remove(&guard, &record, reason).await,
            None => SignOutOutcome::NotSignedIn,
        };
        // A queued revocation keeps the account current: whichever program starts next sends it
        // (and this engine remembers it too, for when the network returns).
        self.forget_current_if_gone(&guard).await;
        if outcome == SignOutOutcome::RevocationQueued {
            self.cur().queued_for = Some(account);
        }
        Ok(outcome)
    }

    /// Revokes `record`'s session at the server and removes it here. The caller holds the gate
    /// and `guard` (the record's account).
    async fn revoke_and_remove(
        &self,
        guard: &RecordGuard,
        record: &VaultRecord,
        reason: SignOutReason,
    ) -> SignOutOutcome {
        let VaultRecord { refresh_token: token, pending_revocation: older, .. } = guard.freshest(record).await;
        let mut outcome = match self.inner.client.revoke(&token, record.client_id.as_deref()).await {
            Err(e) if is_transient(&e) => {
                tracing::info!(code = e.code(), "server unreachable at sign-out; queueing the revocation");
                self.queue_revocation(guard, record, token).await
            }
            Ok(unrevoked @ (Revocation::NotOffered | Revocation::Refused)) => {
                let why = if unrevoked == Revocation::NotOffered {
                    "offers no revocation"
                } else {
                    "does not let this app revoke its tokens"
                };
                self.warn(
                    WarningCode::RevocationUnsupported,
                    format!(
                        "signed out here; the identity provider {why}, so the refresh token stays valid there \
                         until it expires"
                    ),
                );
                self.delete_record(guard).await;
                SignOutOutcome::LocalOnly
            }
            // RFC 7009: any other answer means the server will not take this token again.
            _ => SignOutOutcome::Revoked,
        };
        if outcome == SignOutOutcome::Revoked {
            match older {
                Some(older) => match self.inner.client.revoke(&older, record.client_id.as_deref()).await {
                    Err(e) if is_transient(&e) => outcome = self.queue_revocation(guard, record, older).await,
                    _ => self.delete_record(guard).await,
                },
                None => self.delete_record(guard).await,
            }
        }
        self.clear_memory(reason);
        self.audit(Self::audit_event(AuditKind::SignedOut, Some(&record.session_id)).reason(reason.as_str())).await;
        outcome
    }

    /// Sends a revocation queued by an offline sign-out. Returns how many were sent (0 or 1);
    /// a transient failure leaves it queued and returns the error. Call on start and when the
    /// network comes back.
    pub async fn flush_pending_revocations(&self) -> Result<usize, EngineError> {
        let _gate = self.inner.gate.lock().await;
        let known = {
            let cur = self.cur();
            cur.session.as_ref().map(|h| h.record.key()).or_else(|| cur.queued_for.clone())
        };
        let account = match known {
            Some(account) => Some(account),
            None => self.current_account()?,
        };
        match account {
            Some(account) => self.flush_pending_locked(&account).await,
            None => Ok(0),
        }
    }

    /// The caller holds the gate.
    async fn flush_pending_locked(&self, account: &Account) -> Result<usize, EngineError> {
        let guard = self.lock_record_anyway(account).await;
        let Some(stored) = guard.load().await? else { return Ok(0) };
        let Some(pending) = stored.pending_revocation.clone() else { return Ok(0) };
        if let Err(e) = self.inner.client.revoke(&pending, stored.client_id.as_deref()).await {
            if is_transient(&e) {
                return Err(e.into());
            }
        }
        guard.clear_revocation(&stored).await?;
        self.forget_current_if_gone(&guard).await;
        self.cur().queued_for.take_if(|queued| queued == account);
        drop(guard);
        if let Some(held) = self.cur().session.as_mut().filter(|h| h.record.session_id == stored.session_id) {
            held.record.pending_revocation = None;
        }
        self.audit(Self::audit_event(AuditKind::RevocationSent, Some(&stored.session_id))).await;
        Ok(1)
    }

    /// Writes a record that only carries `token` for revocation.
    async fn queue_revocation(&self, guard: &RecordGuard, record: &VaultRecord, token: RefreshToken) -> SignOutOutcome {
        match guard.queue_revocation(record, token).await {
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

    async fn delete_record(&self, guard: &RecordGuard) {
        if let Err(e) = guard.remove().await {
            self.warn(
                WarningCode::VaultWriteFailed,
                format!("could not delete the session from the keychain ({})", e.code()),
            );
        }
    }

    /// The current account, when it is on this engine's server.
    fn current_account(&self) -> Result<Option<Account>, EngineError> {
        let current = self.inner.config.current_account.load().map_err(|e| EngineError::DataDir(e.to_string()))?;
        Ok(current.filter(|account| account.server_url() == self.inner.config.server_url()))
    }
}

fn refuse_held(cur: &super::Current) -> Result<(), EngineError> {
    match cur.session.as_ref() {
        Some(held) => Err(EngineError::AlreadySignedIn(held.record.username.clone())),
        None => Ok(()),
    }
}
