//! Where the long-lived part of a session lives: one small record per server + user.
//!
//! [`KeychainVault`] is the real store (the OS keychain through the `keyring` crate);
//! [`MemoryVault`] is for tests and for the explicit memory-only tier when no keychain works.
//! There is deliberately no plaintext-file vault.

mod anchor;
mod keychain;
mod memory;
mod worker;

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use anchor::{AnchorStore, AuditAnchor};
pub use keychain::KeychainVault;
pub use memory::MemoryVault;

use crate::account::Account;
use crate::secret::RefreshToken;

/// What survives a restart: enough to refresh without a password. Kept under 1 KiB serialized
/// so it fits Windows Credential Manager's 2,560-byte limit with room to spare.
#[derive(Clone, PartialEq, Eq)]
pub struct VaultRecord {
    /// The current refresh token.
    pub refresh_token: RefreshToken,
    /// Server-side session id.
    pub session_id: String,
    /// The OAuth client the refresh token was issued to (`tessera-cli`, `tessera-desktop`). The
    /// server binds a token to its client, so whichever program picks the session up (the app
    /// restoring a `tessera sign-in`, the CLI using the app's session) refreshes and revokes it as
    /// this client. `None` only in records written before the field existed: the engine's own
    /// client id is used.
    pub client_id: Option<String>,
    /// Login name.
    pub username: String,
    /// Base URL of the server.
    pub server_url: String,
    /// When the refresh token stops working (idle or absolute deadline, whichever is first).
    pub refresh_expires_at: DateTime<Utc>,
    /// Absolute end of the session.
    pub session_expires_at: DateTime<Utc>,
    /// A revocation that has not reached the server yet (sign-out while offline): the token to
    /// revoke stays in the keychain, never on disk, until the server confirms.
    pub pending_revocation: Option<RefreshToken>,
}

impl VaultRecord {
    /// The account this record belongs to: its key in the vault.
    pub fn key(&self) -> Account {
        Account::new(&self.server_url, &self.username)
    }

    /// Serializes for the keychain. The only place a `RefreshToken` is turned into bytes.
    pub fn to_payload(&self) -> String {
        let wire = WireRecord {
            v: 1,
            rt: self.refresh_token.secret().to_owned(),
            sid: self.session_id.clone(),
            cid: self.client_id.clone(),
            user: self.username.clone(),
            url: self.server_url.clone(),
            rexp: self.refresh_expires_at.timestamp(),
            sexp: self.session_expires_at.timestamp(),
            revoke: self.pending_revocation.as_ref().map(|t| t.secret().to_owned()),
        };
        // Serializing a struct of strings and integers cannot fail.
        serde_json::to_string(&wire).unwrap_or_default()
    }

    /// Parses what [`to_payload`](Self::to_payload) wrote.
    pub fn from_payload(payload: &str) -> Result<Self, VaultError> {
        let wire: WireRecord = serde_json::from_str(payload)
            .map_err(|e| VaultError::Corrupt(format!("keychain record is not valid JSON: {e}")))?;
        if wire.v != 1 {
            return Err(VaultError::Corrupt(format!("unsupported keychain record version {}", wire.v)));
        }
        let time = |secs: i64, field: &str| {
            DateTime::from_timestamp(secs, 0)
                .ok_or_else(|| VaultError::Corrupt(format!("keychain record field {field} is out of range")))
        };
        Ok(Self {
            refresh_token: RefreshToken::new(wire.rt),
            session_id: wire.sid,
            client_id: wire.cid,
            username: wire.user,
            server_url: wire.url,
            refresh_expires_at: time(wire.rexp, "rexp")?,
            session_expires_at: time(wire.sexp, "sexp")?,
            pending_revocation: wire.revoke.map(RefreshToken::new),
        })
    }
}

impl fmt::Debug for VaultRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultRecord")
            .field("refresh_token", &self.refresh_token)
            .field("session_id", &self.session_id)
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("server_url", &self.server_url)
            .field("refresh_expires_at", &self.refresh_expires_at)
            .field("session_expires_at", &self.session_expires_at)
            .field("pending_revocation", &self.pending_revocation)
            .finish()
    }
}

/// Compact keychain form (short keys keep the payload small).
#[derive(Serialize, Deserialize)]
struct WireRecord {
    v: u8,
    rt: String,
    sid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cid: Option<String>,
    user: String,
    url: String,
    rexp: i64,
    sexp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revoke: Option<String>,
}

/// Why the vault failed. Each variant has a stable code (see [`VaultError::code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// No keychain service: no session bus, no Secret Service provider, no platform store.
    #[error("the system keychain is not available: {0}")]
    Unavailable(String),
    /// The keychain exists but is locked and could not be unlocked.
    #[error("the system keychain is locked: {0}")]
    Locked(String),
    /// The keychain did not answer within the time limit.
    #[error("the system keychain did not answer within {0} s")]
    Timeout(u64),
    /// The stored record cannot be read (damaged, or written by an incompatible version).
    #[error("the stored session is unreadable: {0}")]
    Corrupt(String),
    /// The keychain refused the record (too large, bad attributes) or failed otherwise.
    #[error("the system keychain failed: {0}")]
    Failed(String),
}

impl VaultError {
    /// Stable code for the UI and `status --json`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "keychain_unavailable",
            Self::Locked(_) => "keychain_locked",
            Self::Timeout(_) => "keychain_timeout",
            Self::Corrupt(_) => "keychain_corrupt",
            Self::Failed(_) => "keychain_failed",
        }
    }
}

/// The long-lived session store. Implementations are cheap to clone and safe to share.
///
/// Calls are async because real keychains block (D-Bus round trips, OS prompts): implementations
/// run them off the async threads with a time limit, and in the order they were made (a call
/// that timed out never takes effect after a later one).
#[async_trait::async_trait]
pub trait Vault: Send + Sync + fmt::Debug {
    /// Reads the record for `key`; `Ok(None)` when there is none.
    async fn load(&self, key: &Account) -> Result<Option<VaultRecord>, VaultError>;
    /// Writes (creates or replaces) the record. Returns only once it is durably stored.
    async fn store(&self, record: &VaultRecord) -> Result<(), VaultError>;
    /// Deletes the record; deleting a missing record is not an error.
    async fn delete(&self, key: &Account) -> Result<(), VaultError>;
    /// Which storage tier this is, for status displays.
    fn tier(&self) -> StorageTier;
    /// Where the audit log's anchor is kept, when this vault can keep one beyond the process
    /// (the keychain can; memory cannot, so the default is none).
    fn anchor_store(&self) -> Option<Arc<dyn AnchorStore>> {
        None
    }
}

/// Where the session's long-lived secret lives, as status shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageTier {
    /// The OS keychain: survives restarts.
    Keychain,
    /// Memory only: the session ends with the process (no usable keychain).
    Memory,
}

/// The vault a process uses: the keychain when [`KeychainVault::probe`] works, otherwise memory
/// only, with the keychain's error to say why. Never a plaintext file.
#[derive(Debug, Clone)]
pub struct VaultChoice {
    /// The vault.
    pub vault: Arc<dyn Vault>,
    /// Why the keychain is not used (`None`: it is).
    pub keychain_error: Option<VaultError>,
}

impl VaultChoice {
    /// Probes the keychain and picks the tier (the memory tier is logged as a warning).
    pub async fn choose() -> Self {
        let keychain = KeychainVault::new();
        match keychain.probe().await {
            Ok(()) => Self { vault: Arc::new(keychain), keychain_error: None },
            Err(e) => {
                tracing::warn!(code = e.code(), "keychain unusable; sessions are kept in memory only: {e}");
                Self { vault: Arc::new(MemoryVault::new()), keychain_error: Some(e) }
            }
        }
    }

    /// Which tier was chosen.
    pub fn tier(&self) -> StorageTier {
        self.vault.tier()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(token_len: usize) -> VaultRecord {
        VaultRecord {
            refresh_token: RefreshToken::new("t".repeat(token_len)),
            session_id: "0f8fad5b-d9cb-469f-a165-70867728950e".into(),
            client_id: Some("tessera-desktop".into()),
            username: "a-rather-long-user-name@support.example.com".into(),
            server_url: "https://tessera.support.example.com:8443/some/prefix".into(),
            refresh_expires_at: DateTime::from_timestamp(1_900_000_000, 0).unwrap(),
            session_expires_at: DateTime::from_timestamp(1_900_040_000, 0).unwrap(),
            pending_revocation: Some(RefreshToken::new("t".repeat(token_len))),
        }
    }

    #[test]
    fn payload_round_trips() {
        let r = record(47);
        assert_eq!(VaultRecord::from_payload(&r.to_payload()).unwrap(), r, "payload must round-trip");
    }

    #[test]
    fn payload_fits_windows_credential_manager() {
        // The reference server's refresh tokens are 47 characters; allow generous 128-char
        // tokens from other identity providers, with a pending revocation as well.
        let payload = record(128).to_payload();
        assert!(payload.len() <= 1024, "record must stay ≤ 1 KiB, was {} bytes", payload.len());
        // Windows stores the blob as UTF-16 when written as a password: 2 bytes per char.
        assert!(payload.len() * 2 <= 2560, "UTF-16 payload must fit the 2,560-byte limit");
    }

    #[test]
    fn corrupt_payload_is_a_clear_error() {
        let err = VaultRecord::from_payload("not json").unwrap_err();
        assert_eq!(err.code(), "keychain_corrupt", "garbage must map to keychain_corrupt: {err}");
        let err =
            VaultRecord::from_payload(r#"{"v":9,"rt":"","sid":"","user":"","url":"","rexp":0,"sexp":0}"#).unwrap_err();
        assert_eq!(err.code(), "keychain_corrupt", "future versions must be refused, not misread");
    }

    #[test]
    fn record_without_client_id_still_reads() {
        let old = r#"{"v":1,"rt":"abc","sid":"s","user":"u","url":"http://x","rexp":1900000000,"sexp":1900000000}"#;
        let r = VaultRecord::from_payload(old).expect("a record from before client ids must still read");
        assert_eq!(r.client_id, None, "no cid means no known client, not a made-up one");
        assert!(!VaultRecord { client_id: None, ..record(5) }.to_payload().contains("cid"), "None is not written");
    }

    #[test]
    fn debug_hides_tokens() {
        let text = format!("{:?}", record(10));
        assert!(!text.contains("tttttttttt"), "VaultRecord Debug must redact tokens: {text}");
    }
}
