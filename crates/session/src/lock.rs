//! The refresh lock in the data directory, shared by every Tessera process on the machine: one
//! per [`Account`].
//!
//! The lock is an advisory whole-file lock (`flock` on Unix, `LockFileEx` on Windows) through
//! `fs4`. It is released when the file handle closes, so a process killed while holding it never
//! leaves it stuck.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::Digest;

use crate::account::Account;
use crate::error::EngineError;

/// How long to wait for another process's refresh before giving up (it does one HTTP request
/// with a 15 s limit and one keychain write with a 3 s limit).
pub const LOCK_WAIT: Duration = Duration::from_secs(30);

/// Held while refreshing: no other Tessera process refreshes the same record meanwhile.
#[derive(Debug)]
pub struct RefreshLock {
    _file: File,
}

impl RefreshLock {
    /// Path of the lock file for one account.
    pub fn path(data_dir: &Path, account: &Account) -> PathBuf {
        let digest = sha2::Sha256::digest(format!("{}\n{}", account.keychain_service(), account.username()).as_bytes());
        data_dir.join(format!("refresh-{}.lock", hex::encode(&digest[..8])))
    }

    /// Waits (on a blocking thread) for the lock, at most `wait`.
    pub async fn acquire(data_dir: &Path, account: &Account, wait: Duration) -> Result<Self, EngineError> {
        let path = Self::path(data_dir, account);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Account {
        Account::new("http://127.0.0.1:1", "alice")
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
        let other = Account::new("http://127.0.0.1:1", "bob");
        assert_ne!(RefreshLock::path(dir.path(), &key()), RefreshLock::path(dir.path(), &other), "one lock per record");
    }
}
