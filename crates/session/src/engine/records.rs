//! The session's keychain record as the engine changes it: under the cross-process refresh lock,
//! always re-read first, and changed only while it still belongs to this session — another
//! Tessera process may have rotated it, signed out or signed in anew meanwhile.
//!
//! [`RecordGuard`] is that discipline in one place: the engine's other files say what changes
//! (adopt, replace, queue a revocation, remove), never how the record is fetched and compared.

use std::sync::Arc;

use super::SessionEngine;
use crate::account::Account;
use crate::error::EngineError;
use crate::lock::{LOCK_WAIT, RefreshLock};
use crate::secret::RefreshToken;
use crate::state::WarningCode;
use crate::vault::{Vault, VaultError, VaultRecord};

/// A record that only carries a revocation to send (the user signed out while offline).
pub(crate) fn is_pending_only(record: &VaultRecord) -> bool {
    record.pending_revocation.as_ref() == Some(&record.refresh_token)
}

/// One account's record, held under the refresh lock (when it could be taken) until dropped.
pub(crate) struct RecordGuard {
    vault: Arc<dyn Vault>,
    account: Account,
    _lock: Option<RefreshLock>,
}

impl SessionEngine {
    /// Takes `account`'s refresh lock, waiting for another process's refresh. Only a lock that
    /// was never released in time is an error; a data directory that cannot hold a lock file is
    /// logged and the change goes on unlocked (the vault re-read still applies).
    pub(crate) async fn lock_record(&self, account: &Account) -> Result<RecordGuard, EngineError> {
        let lock = match RefreshLock::acquire(&self.inner.config.data_dir, account, LOCK_WAIT).await {
            Ok(lock) => Some(lock),
            Err(e @ EngineError::LockTimeout(_)) => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "changing the keychain record without the cross-process lock");
                None
            }
        };
        Ok(self.record_guard(account, lock))
    }

    /// [`lock_record`](Self::lock_record) for changes that must happen even when another
    /// process holds the lock too long (sign-in, sign-out, a session the server ended).
    pub(crate) async fn lock_record_anyway(&self, account: &Account) -> RecordGuard {
        match self.lock_record(account).await {
            Ok(guard) => guard,
            Err(e) => {
                tracing::warn!(error = %e, "going on without the cross-process lock");
                self.record_guard(account, None)
            }
        }
    }

    /// Makes the guarded account current on this machine, for the other Tessera programs (only
    /// a session in the keychain is offered: they could not reach one in this process's memory).
    pub(crate) fn make_current(&self, guard: &RecordGuard) {
        if let Err(e) = self.inner.config.current_account.store(&guard.account) {
            let message = format!("other Tessera programs will not see this session ({}): {e}", e.code());
            self.warn(WarningCode::CurrentAccountNotSaved, message);
        }
    }

    /// Forgets the guarded account as the current one once the keychain holds nothing of it (no
    /// session, no queued revocation). Under the guard, so a sign-in elsewhere, which makes its
    /// account current under the same lock, is never undone.
    pub(crate) async fn forget_current_if_gone(&self, guard: &RecordGuard) {
        if !matches!(guard.load().await, Ok(None)) {
            return;
        }
        if let Err(e) = self.inner.config.current_account.remove_if(&guard.account) {
            tracing::warn!(code = e.code(), "could not forget the current account: {e}");
        }
    }

    fn record_guard(&self, account: &Account, lock: Option<RefreshLock>) -> RecordGuard {
        RecordGuard { vault: Arc::clone(&self.inner.vault), account: account.clone(), _lock: lock }
    }
}

impl RecordGuard {
    /// The record as stored now.
    pub(crate) async fn load(&self) -> Result<Option<VaultRecord>, VaultError> {
        self.vault.load(&self.account).await
    }

    /// The stored record if it is still `session_id`'s live one: not replaced by a newer
    /// sign-in, not reduced to a queued revocation by a sign-out elsewhere.
    pub(crate) async fn load_ours(&self, session_id: &str) -> Result<Option<VaultRecord>, VaultError> {
        Ok(self.load().await?.filter(|stored| stored.session_id == session_id && !is_pending_only(stored)))
    }

    /// `record` as stored now when it is still ours (another process may have rotated its
    /// token), else `record` itself: the freshest copy to revoke.
    pub(crate) async fn freshest(&self, record: &VaultRecord) -> VaultRecord {
        match self.load_ours(&record.session_id).await {
            Ok(Some(stored)) => stored,
            _ => record.clone(),
        }
    }

    /// Writes `record` over whatever is stored.
    pub(crate) async fn replace(&self, record: &VaultRecord) -> Result<(), VaultError> {
        self.vault.store(record).await
    }

    /// Deletes the record, whoever's it is.
    pub(crate) async fn remove(&self) -> Result<(), VaultError> {
        self.vault.delete(&self.account).await
    }

    /// Leaves only `token` in the record, to be revoked when the server is reachable.
    pub(crate) async fn queue_revocation(&self, record: &VaultRecord, token: RefreshToken) -> Result<(), VaultError> {
        self.replace(&VaultRecord { refresh_token: token.clone(), pending_revocation: Some(token), ..record.clone() })
            .await
    }

    /// The queued revocation of `stored` reached the server: drop it (and the record, when it
    /// held nothing else).
    pub(crate) async fn clear_revocation(&self, stored: &VaultRecord) -> Result<(), VaultError> {
        if is_pending_only(stored) {
            self.remove().await
        } else {
            self.replace(&VaultRecord { pending_revocation: None, ..stored.clone() }).await
        }
    }

    /// Removes `session_id`'s record if it is still ours, keeping a revocation an older sign-out
    /// queued in it. Another session's record (a sign-in elsewhere meanwhile) is left alone.
    pub(crate) async fn remove_ours(&self, session_id: &str) -> Result<(), VaultError> {
        let Some(stored) = self.load_ours(session_id).await? else { return Ok(()) };
        match stored.pending_revocation.clone() {
            Some(pending) => self.queue_revocation(&stored, pending).await,
            None => self.remove().await,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use chrono::Utc;

    use super::*;
    use crate::vault::MemoryVault;

    fn record(session_id: &str, token: &str) -> VaultRecord {
        VaultRecord {
            refresh_token: RefreshToken::new(token.to_owned()),
            session_id: session_id.into(),
            client_id: Some("tessera-cli".into()),
            username: "alice".into(),
            server_url: "http://127.0.0.1:1".into(),
            refresh_expires_at: Utc::now(),
            session_expires_at: Utc::now(),
            pending_revocation: None,
        }
    }

    fn guard(vault: &MemoryVault) -> RecordGuard {
        RecordGuard {
            vault: Arc::new(vault.clone()),
            account: Account::new("http://127.0.0.1:1", "alice"),
            _lock: None,
        }
    }

    #[tokio::test]
    async fn another_sessions_record_is_never_removed() {
        let vault = MemoryVault::new();
        let newer = record("s2", "rt-newer");
        vault.store(&newer).await.unwrap();
        guard(&vault).remove_ours("s1").await.unwrap();
        assert_eq!(vault.load(&newer.key()).await.unwrap(), Some(newer), "a sign-in elsewhere keeps its record");
    }

    #[tokio::test]
    async fn removing_ours_keeps_an_older_queued_revocation() {
        let vault = MemoryVault::new();
        let older = RefreshToken::new("rt-older".to_owned());
        let ours = VaultRecord { pending_revocation: Some(older.clone()), ..record("s1", "rt-ours") };
        vault.store(&ours).await.unwrap();
        let guard = guard(&vault);
        guard.remove_ours("s1").await.unwrap();
        let left = vault.load(&ours.key()).await.unwrap().expect("the queued revocation stays");
        assert!(is_pending_only(&left), "only the revocation is left: {left:?}");
        assert_eq!(left.refresh_token, older, "and it is the older token");
        assert_eq!(guard.load_ours("s1").await.unwrap(), None, "a pending-only record is no longer a session");
        guard.clear_revocation(&left).await.unwrap();
        assert_eq!(vault.load(&ours.key()).await.unwrap(), None, "sent, nothing is left");
    }

    #[tokio::test]
    async fn a_sent_revocation_leaves_the_live_session_in_place() {
        let vault = MemoryVault::new();
        let live =
            VaultRecord { pending_revocation: Some(RefreshToken::new("rt-old".to_owned())), ..record("s3", "rt") };
        vault.store(&live).await.unwrap();
        guard(&vault).clear_revocation(&live).await.unwrap();
        let left = vault.load(&live.key()).await.unwrap().expect("the live session stays");
        assert_eq!(left, VaultRecord { pending_revocation: None, ..live }, "only the queued revocation goes");
    }
}
