//! The audit log's anchor: the sequence number and hash of its newest record, kept outside the
//! file (in the keychain), so that removing lines at the end of the log or replacing the file
//! shows at verification.
//!
//! One anchor per log file, independent of any session: signing out deletes the session record
//! but never the anchor, because the log outlives sessions. See docs/security.md ("Audit log
//! anchor").

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::VaultError;

/// The head of an audit log's hash chain, as last appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditAnchor {
    /// `seq` of the newest record.
    pub seq: u64,
    /// SHA-256 (hex) of that record's line, without its newline (what the next line's `prev` is).
    pub sha256: String,
}

/// Compact keychain form.
#[derive(Serialize, Deserialize)]
struct WireAnchor {
    v: u8,
    seq: u64,
    sha256: String,
}

impl AuditAnchor {
    /// Serializes for the keychain.
    pub fn to_payload(&self) -> String {
        let wire = WireAnchor { v: 1, seq: self.seq, sha256: self.sha256.clone() };
        // A struct of an integer and strings always serializes.
        serde_json::to_string(&wire).unwrap_or_default()
    }

    /// Parses what [`to_payload`](Self::to_payload) wrote.
    pub fn from_payload(payload: &str) -> Result<Self, VaultError> {
        let wire: WireAnchor = serde_json::from_str(payload)
            .map_err(|e| VaultError::Corrupt(format!("audit anchor is not valid JSON: {e}")))?;
        if wire.v != 1 {
            return Err(VaultError::Corrupt(format!("unsupported audit anchor version {}", wire.v)));
        }
        if wire.sha256.len() != 64 || !wire.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(VaultError::Corrupt("audit anchor hash is not 64 hex digits".into()));
        }
        Ok(Self { seq: wire.seq, sha256: wire.sha256 })
    }
}

/// Where audit anchors are kept. The calls **block** (the log calls them under its file lock, on
/// a thread that may block): never call them from an async thread.
///
/// `log` names the log file (its canonical path): one anchor per file.
pub trait AnchorStore: Send + Sync + fmt::Debug {
    /// The anchor of `log`; `Ok(None)` when none was ever stored.
    fn load_anchor(&self, log: &Path) -> Result<Option<AuditAnchor>, VaultError>;
    /// Replaces the anchor of `log`.
    fn store_anchor(&self, log: &Path, anchor: &AuditAnchor) -> Result<(), VaultError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_and_garbage_is_corrupt() {
        let anchor = AuditAnchor { seq: 42, sha256: "ab".repeat(32) };
        assert_eq!(AuditAnchor::from_payload(&anchor.to_payload()), Ok(anchor), "the anchor must round-trip");
        for bad in ["", "{}", r#"{"v":2,"seq":1,"sha256":""}"#, r#"{"v":1,"seq":1,"sha256":"zz"}"#] {
            let err = AuditAnchor::from_payload(bad).expect_err("must be refused");
            assert_eq!(err.code(), "keychain_corrupt", "{bad:?} must be keychain_corrupt, not trusted: {err}");
        }
    }
}
