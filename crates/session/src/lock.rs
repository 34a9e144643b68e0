//! Files in the data directory: the refresh lock shared by every Tessera process on the machine,
//! and the non-secret note of which account was last signed in.
//!
//! The lock is an advisory whole-file lock (`flock` on Unix, `LockFileEx` on Windows) through
//! `fs4`. It is released when the file handle closes, so a process killed while holding it never
//! leaves it stuck.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::error::EngineError;
use crate::vault::VaultKey;

/// How long to wait for another process's refresh before giving up (it does one HTTP request
/// with a 15 s limit and one keychain write with a 3 s limit).
pub const LOCK_WAIT: Duration = Duration::from_secs(30);

/// Held while refreshing: no other Tessera process refreshes the same record meanwhile.
#[derive(Debug)]
pub struct RefreshLock {
    _file: File,
}

impl RefreshLock {
    /// Path of the lock file for one server + user.
    pub fn path(data_dir: &Path, key: &VaultKey) -> PathBuf {
        let digest = sha2::Sha256::digest(format!("{}\n{}", key.service(), key.username).as_bytes());
        data_dir.join(format!("refresh-{}.lock", hex::encode(&digest[..8])))
    }

    /// Waits (on a blocking thread) for the lock, at most `wait`.
    pub async fn acquire(data_dir: &Path, key: &VaultKey, wait: Duration) -> Result<Self, EngineError> {
        let path = Self::path(data_dir, key);
        let dir = data_dir.to_owned();
        let task = tokio::task::spawn_blocking(move || -> std::io::Result<File> {
            std::fs::create_dir_all(&dir)?;
            let file = OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&path)?;
            fs4::fs_std::FileExt::lock_exclusive(&file)?;
            Ok(file)
        });
        // On timeout the blocking thread keeps waiting; when it gets the lock it returns the
        // file into a dropped JoinHandle, which closes it and so releases the lock at once.
        match tokio::time::timeout(wait, task).await {
            Err(_) => Err(EngineError::LockTimeout(wait.as_secs())),
            Ok(Err(join)) => Err(EngineError::DataDir(format!("lock task failed: {join}"))),
            Ok(Ok(Err(io))) => Err(EngineError::DataDir(format!("refresh lock in {}: {io}", data_dir.display()))),
            Ok(Ok(Ok(file))) => Ok(Self { _file: file }),
        }
    }
}

/// The account last signed in from this data directory: lets `restore()` find the keychain
/// record without asking. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountNote {
    /// Base URL of the server.
    pub server_url: String,
    /// Login name.
    pub username: String,
}

impl AccountNote {
    const FILE: &'static str = "account.json";

    /// Reads the note; `Ok(None)` when there is none.
    pub async fn load(data_dir: &Path) -> Result<Option<Self>, EngineError> {
        match tokio::fs::read(data_dir.join(Self::FILE)).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| EngineError::DataDir(format!("{} is damaged: {e}", data_dir.join(Self::FILE).display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(EngineError::DataDir(format!("reading {}: {e}", data_dir.join(Self::FILE).display()))),
        }
    }

    /// Writes the note atomically (temporary file, then rename).
    pub async fn store(&self, data_dir: &Path) -> Result<(), EngineError> {
        let io =
            |e: std::io::Error| EngineError::DataDir(format!("writing {}: {e}", data_dir.join(Self::FILE).display()));
        tokio::fs::create_dir_all(data_dir).await.map_err(io)?;
        let tmp = data_dir.join(format!("{}.{}.tmp", Self::FILE, uuid::Uuid::new_v4()));
        let json = serde_json::to_vec_pretty(self).map_err(|e| EngineError::DataDir(e.to_string()))?;
        tokio::fs::write(&tmp, json).await.map_err(io)?;
        tokio::fs::rename(&tmp, data_dir.join(Self::FILE)).await.map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> VaultKey {
        VaultKey { server_url: "http://127.0.0.1:1".into(), username: "alice".into() }
    }

    #[tokio::test]
    async fn a_second_holder_waits_until_the_first_releases() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let first = RefreshLock::acquire(dir.path(), &key(), LOCK_WAIT).await;
        assert!(first.is_ok(), "the first holder must get the lock: {first:?}");
        // flock locks belong to the open file, so a second open in this process contends too.
        let second = RefreshLock::acquire(dir.path(), &key(), Duration::from_millis(50)).await;
        assert!(
            matches!(second, Err(EngineError::LockTimeout(_))),
            "a held lock must not be granted twice: {second:?}"
        );
        drop(first);
        let third = RefreshLock::acquire(dir.path(), &key(), LOCK_WAIT).await;
        assert!(third.is_ok(), "dropping the holder must release the lock: {third:?}");
        let other = VaultKey { username: "bob".into(), ..key() };
        assert_ne!(RefreshLock::path(dir.path(), &key()), RefreshLock::path(dir.path(), &other), "one lock per record");
    }

    #[tokio::test]
    async fn account_note_round_trips() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let none = AccountNote::load(dir.path()).await;
        assert_eq!(none, Ok(None), "no note in a fresh data dir");
        let note = AccountNote { server_url: "http://x".into(), username: "alice".into() };
        let stored = note.store(dir.path()).await;
        assert_eq!(stored, Ok(()), "the note must be written");
        assert_eq!(AccountNote::load(dir.path()).await, Ok(Some(note)), "the note must read back");
    }
}
