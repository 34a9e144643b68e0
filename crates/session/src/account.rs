//! [`Account`]: a server and a user on it — what one session belongs to everywhere on this
//! machine. The keychain record, the refresh lock, the notification cache and the current-account
//! file ([`CurrentAccountFile`]) are all keyed by it, and its server URL is spelled by one rule
//! ([`normalize_server_url`]), so the app and the CLI always find each other's session.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::local::{LocalDirs, LocalError, write_atomically};

/// The server URL as every key spells it: trimmed, without trailing slashes.
pub fn normalize_server_url(url: &str) -> String {
    url.trim().trim_end_matches('/').to_owned()
}

/// A server and a user on it. Built only through [`Account::new`] (or read back from JSON, which
/// normalizes the same way), so two spellings of one server are one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "AccountFields")]
pub struct Account {
    server_url: String,
    username: String,
}

/// The JSON form of an [`Account`] (`{"server_url", "username"}`), normalized when read.
#[derive(Deserialize)]
struct AccountFields {
    server_url: String,
    username: String,
}

impl From<AccountFields> for Account {
    fn from(fields: AccountFields) -> Self {
        Self::new(&fields.server_url, &fields.username)
    }
}

impl Account {
    /// The account of `username` at `server_url` (both trimmed; the URL normalized).
    pub fn new(server_url: &str, username: &str) -> Self {
        Self { server_url: normalize_server_url(server_url), username: username.trim().to_owned() }
    }

    /// The server's base URL, e.g. `http://127.0.0.1:8787`.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// The login name.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The keychain "service" name: one per server, so two servers never share a record.
    pub fn keychain_service(&self) -> String {
        format!("tessera:{}", self.server_url)
    }
}

impl std::fmt::Display for Account {
    /// `alice at http://127.0.0.1:8787`, as messages name an account.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at {}", self.username, self.server_url)
    }
}

/// Which account the CLI and the app work with on this machine: `current.json` in the shared
/// config directory. Written by the engine when a session reaches the keychain, read when a
/// program starts, removed when that account signs out. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentAccountFile {
    path: PathBuf,
}

impl CurrentAccountFile {
    const FILE: &'static str = "current.json";

    /// The file every Tessera program on this machine shares.
    pub fn shared(dirs: &LocalDirs) -> Self {
        Self::in_dir(&dirs.config)
    }

    /// `current.json` in `dir` (tests, embedders with a directory of their own).
    pub fn in_dir(dir: &Path) -> Self {
        Self { path: dir.join(Self::FILE) }
    }

    /// Where it lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current account; `None` when there is none.
    pub fn load(&self) -> Result<Option<Account>, LocalError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| LocalError::Damaged { path: self.path.clone(), detail: e.to_string() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(LocalError::Unreadable { path: self.path.clone(), source }),
        }
    }

    /// Makes `account` current (atomically: readers see the old file or the new one).
    pub fn store(&self, account: &Account) -> Result<(), LocalError> {
        let json = serde_json::to_vec_pretty(account).map_err(std::io::Error::other);
        json.and_then(|json| write_atomically(&self.path, &json))
            .map_err(|source| LocalError::Unwritable { path: self.path.clone(), source })
    }

    /// Forgets the current account (none is fine).
    pub fn remove(&self) -> Result<(), LocalError> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(LocalError::Unwritable { path: self.path.clone(), source: e })
            }
            _ => Ok(()),
        }
    }

    /// Forgets the current account if it is `account` (another program may have made a different
    /// one current meanwhile). A damaged file is removed too: it names no account anyone can use.
    pub fn remove_if(&self, account: &Account) -> Result<(), LocalError> {
        match self.load() {
            Ok(Some(current)) if current != *account => Ok(()),
            Ok(None) => Ok(()),
            Ok(Some(_)) | Err(LocalError::Damaged { .. }) => self.remove(),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn file(root: &Path) -> CurrentAccountFile {
        CurrentAccountFile::shared(&LocalDirs { config: root.join("config"), data: root.join("data") })
    }

    #[test]
    fn one_server_spelled_two_ways_is_one_account() {
        assert_eq!(normalize_server_url(" http://a:1/ "), "http://a:1");
        assert_eq!(normalize_server_url("https://a//"), "https://a");
        assert_eq!(Account::new("http://a:1/", " alice "), Account::new("http://a:1", "alice"), "one account");
        assert_ne!(Account::new("http://a:1", "alice"), Account::new("http://a:2", "alice"), "servers differ");
        assert_eq!(Account::new("http://a:1/", "alice").keychain_service(), "tessera:http://a:1");
        assert_eq!(Account::new("http://a:1", "alice").to_string(), "alice at http://a:1");
    }

    #[test]
    fn current_account_round_trips_and_a_missing_file_is_none() {
        let root = tempfile::tempdir().unwrap();
        let file = file(root.path());
        assert!(file.load().unwrap().is_none());
        let account = Account::new("http://127.0.0.1:8787", "alice");
        file.store(&account).unwrap();
        assert_eq!(file.load().unwrap(), Some(account));
        let dir = file.path().parent().unwrap();
        let leftovers: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(leftovers, ["current.json"], "no temporary file is left behind");
        file.remove().unwrap();
        file.remove().unwrap();
        assert!(file.load().unwrap().is_none());
    }

    #[test]
    fn the_file_reads_as_the_cli_wrote_it_and_is_normalized() {
        let root = tempfile::tempdir().unwrap();
        let file = file(root.path());
        std::fs::create_dir_all(file.path().parent().unwrap()).unwrap();
        std::fs::write(file.path(), br#"{"server_url": "http://x:1/", "username": "bob"}"#).unwrap();
        assert_eq!(file.load().unwrap(), Some(Account::new("http://x:1", "bob")), "same account, one spelling");
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(file.path()).unwrap()).unwrap();
        assert_eq!(json["username"], "bob", "the JSON shape is the pinned one");
        let written = serde_json::to_value(Account::new("http://x:1", "bob")).unwrap();
        assert_eq!(written, serde_json::json!({"server_url": "http://x:1", "username": "bob"}), "pinned shape");
    }

    #[test]
    fn only_the_named_account_is_forgotten() {
        let root = tempfile::tempdir().unwrap();
        let file = file(root.path());
        let (alice, bob) = (Account::new("http://x", "alice"), Account::new("http://x", "bob"));
        file.store(&bob).unwrap();
        file.remove_if(&alice).unwrap();
        assert_eq!(file.load().unwrap(), Some(bob.clone()), "another account stays current");
        file.remove_if(&bob).unwrap();
        assert_eq!(file.load().unwrap(), None, "the named account is forgotten");
    }

    #[test]
    fn a_damaged_file_is_an_error_naming_it() {
        let root = tempfile::tempdir().unwrap();
        let file = file(root.path());
        std::fs::create_dir_all(file.path().parent().unwrap()).unwrap();
        std::fs::write(file.path(), b"{\"server_url\": 7").unwrap();
        let e = file.load().unwrap_err();
        assert_eq!(e.code(), "config_damaged");
        assert!(e.to_string().contains("current.json"), "{e}");
    }

    #[test]
    fn an_unwritable_directory_is_an_error_and_keeps_the_old_file() {
        let root = tempfile::tempdir().unwrap();
        let file = file(root.path());
        let old = Account::new("http://old", "alice");
        file.store(&old).unwrap();
        // A regular file where the directory would be: writing fails like a full disk.
        let blocked = CurrentAccountFile::in_dir(file.path());
        let e = blocked.store(&Account::new("http://new", "bob")).unwrap_err();
        assert_eq!(e.code(), "config_unwritable");
        assert_eq!(file.load().unwrap(), Some(old), "the previous account is untouched");
    }
}
