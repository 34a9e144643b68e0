//! [`MemoryVault`]: records in process memory only.
//!
//! Two uses: the explicit memory-only tier when no keychain works (the session then ends with
//! the process, and status says so), and tests, which can make every call fail with a chosen
//! [`VaultError`] to drive the engine through keychain failures.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::{StorageTier, Vault, VaultError, VaultRecord};
use crate::account::Account;

/// A [`Vault`] that keeps records in a shared in-memory map. Clones share the same records.
#[derive(Clone, Default)]
pub struct MemoryVault {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    records: HashMap<Account, VaultRecord>,
    failure: Option<VaultError>,
}

impl MemoryVault {
    /// An empty vault that works.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty vault whose every call fails with `error` (for tests of keychain failures).
    pub fn failing(error: VaultError) -> Self {
        let vault = Self::new();
        vault.set_failure(Some(error));
        vault
    }

    /// From now on, every call fails with `error`; `None` makes the vault work again. Records
    /// already stored are kept and become visible again once the failure is cleared.
    pub fn set_failure(&self, error: Option<VaultError>) {
        self.lock().failure = error;
    }

    /// How many records are stored (ignores any injected failure).
    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    /// Whether no record is stored (ignores any injected failure).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the map half-updated (every update is a
        // single insert or remove), so a poisoned lock is still safe to use.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The state, or the injected failure.
    fn working(&self) -> Result<MutexGuard<'_, State>, VaultError> {
        let state = self.lock();
        match &state.failure {
            Some(error) => Err(error.clone()),
            None => Ok(state),
        }
    }
}

#[async_trait::async_trait]
impl Vault for MemoryVault {
    async fn load(&self, key: &Account) -> Result<Option<VaultRecord>, VaultError> {
        Ok(self.working()?.records.get(key).cloned())
    }

    async fn store(&self, record: &VaultRecord) -> Result<(), VaultError> {
        self.working()?.records.insert(record.key(), record.clone());
        Ok(())
    }

    async fn delete(&self, key: &Account) -> Result<(), VaultError> {
        self.working()?.records.remove(key);
        Ok(())
    }

    fn tier(&self) -> StorageTier {
        StorageTier::Memory
    }
}

impl fmt::Debug for MemoryVault {
    /// Shows how many records there are, never their contents.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("MemoryVault").field("records", &state.records.len()).field("failure", &state.failure).finish()
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::secret::RefreshToken;

    fn record(server_url: &str, username: &str, token: &str) -> VaultRecord {
        VaultRecord {
            refresh_token: RefreshToken::new(token),
            session_id: "s-1".into(),
            client_id: Some("tessera-cli".into()),
            username: username.into(),
            server_url: server_url.into(),
            refresh_expires_at: DateTime::from_timestamp(1_900_000_000, 0).unwrap(),
            session_expires_at: DateTime::from_timestamp(1_900_040_000, 0).unwrap(),
            pending_revocation: None,
        }
    }

    #[tokio::test]
    async fn store_load_delete_round_trip() {
        let vault = MemoryVault::new();
        let rec = record("http://a", "ann", "rt-1");
        assert_eq!(vault.load(&rec.key()).await, Ok(None), "a new vault must be empty");
        vault.store(&rec).await.unwrap();
        assert_eq!(vault.load(&rec.key()).await, Ok(Some(rec.clone())), "load must return what was stored");
        vault.delete(&rec.key()).await.unwrap();
        assert_eq!(vault.load(&rec.key()).await, Ok(None), "delete must remove the record");
        assert_eq!(vault.delete(&rec.key()).await, Ok(()), "deleting a missing record is not an error");
        assert_eq!(vault.tier(), StorageTier::Memory, "a memory vault reports the memory tier");
    }

    #[tokio::test]
    async fn clones_share_records_and_keys_do_not_collide() {
        let vault = MemoryVault::new();
        let other = vault.clone();
        let a = record("http://a", "ann", "rt-a");
        let b = record("http://b", "ann", "rt-b");
        vault.store(&a).await.unwrap();
        other.store(&b).await.unwrap();
        assert_eq!(vault.len(), 2, "same user on two servers must be two records");
        assert_eq!(other.load(&a.key()).await, Ok(Some(a)), "a clone must see the original's records");
        assert_eq!(vault.load(&b.key()).await, Ok(Some(b)), "the original must see the clone's records");
    }

    #[tokio::test]
    async fn injected_failure_applies_to_every_call_until_cleared() {
        let locked = VaultError::Locked("test".into());
        let vault = MemoryVault::failing(locked.clone());
        let rec = record("http://a", "ann", "rt-1");
        assert_eq!(vault.store(&rec).await, Err(locked.clone()), "store must fail with the injected error");
        assert_eq!(vault.load(&rec.key()).await, Err(locked.clone()), "load must fail with the injected error");
        assert_eq!(vault.delete(&rec.key()).await, Err(locked), "delete must fail with the injected error");
        assert!(vault.is_empty(), "a failed store must not have stored anything");

        vault.set_failure(None);
        vault.store(&rec).await.unwrap();
        vault.set_failure(Some(VaultError::Timeout(3)));
        assert_eq!(vault.load(&rec.key()).await, Err(VaultError::Timeout(3)), "failure can be switched on later");
        vault.set_failure(None);
        assert_eq!(vault.load(&rec.key()).await, Ok(Some(rec)), "records survive a temporary failure");
    }

    #[test]
    fn debug_shows_no_record_contents() {
        let vault = MemoryVault::new();
        vault
            .lock()
            .records
            .insert(record("http://a", "ann", "rt-secret").key(), record("http://a", "ann", "rt-secret"));
        let text = format!("{vault:?}");
        assert!(!text.contains("rt-secret") && !text.contains("ann"), "Debug must not show records: {text}");
        assert!(text.contains("records: 1"), "Debug should say how many records there are: {text}");
    }
}
