//! TEST-ONLY vault: one file per record in a directory, so two OS processes share records the
//! way the desktop app and the CLI share a keychain entry. The product has deliberately no
//! plaintext vault; this exists only because a `MemoryVault` cannot cross a process boundary and
//! CI has no keychain daemon. Writes are atomic (temporary file + rename), like a keychain write
//! either happens or not.

use std::path::PathBuf;

use sha2::Digest;
use tessera_session::{Account, StorageTier, Vault, VaultError, VaultRecord};

#[derive(Debug, Clone)]
pub struct FileVault {
    dir: PathBuf,
}

impl FileVault {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn path(&self, key: &Account) -> PathBuf {
        let digest = sha2::Sha256::digest(format!("{}\n{}", key.keychain_service(), key.username()).as_bytes());
        self.dir.join(format!("{}.json", hex::encode(&digest[..8])))
    }
}

fn failed(e: std::io::Error) -> VaultError {
    VaultError::Failed(e.to_string())
}

#[async_trait::async_trait]
impl Vault for FileVault {
    async fn load(&self, key: &Account) -> Result<Option<VaultRecord>, VaultError> {
        match std::fs::read_to_string(self.path(key)) {
            Ok(payload) => VaultRecord::from_payload(&payload).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(failed(e)),
        }
    }

    async fn store(&self, record: &VaultRecord) -> Result<(), VaultError> {
        std::fs::create_dir_all(&self.dir).map_err(failed)?;
        let path = self.path(&record.key());
        let tmp = path.with_extension(format!("{}.tmp", uuid::Uuid::new_v4()));
        std::fs::write(&tmp, record.to_payload()).map_err(failed)?;
        std::fs::rename(&tmp, &path).map_err(failed)
    }

    async fn delete(&self, key: &Account) -> Result<(), VaultError> {
        match std::fs::remove_file(self.path(key)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(failed(e)),
            _ => Ok(()),
        }
    }

    fn tier(&self) -> StorageTier {
        StorageTier::Keychain
    }
}
