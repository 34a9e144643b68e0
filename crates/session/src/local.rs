//! The files the `tessera` CLI and the desktop app share on one machine, so either can pick up
//! the session the other signed in: the config dir holds `current.json` (which server and user
//! are current), the data dir the engine's refresh locks, account notes, audit log and
//! notification cache. Neither ever holds a token: those are in the keychain under the
//! current server + user.
//!
//! Directories: `ProjectDirs("dev", "tessera", "tessera")`, each overridable by
//! `TESSERA_CONFIG_DIR` / `TESSERA_DATA_DIR`.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tessera_protocol::DeviceInfo;

/// Environment variable overriding the config directory.
pub const CONFIG_DIR_ENV: &str = "TESSERA_CONFIG_DIR";
/// Environment variable overriding the data directory.
pub const DATA_DIR_ENV: &str = "TESSERA_DATA_DIR";

/// Why a shared file or directory could not be used. Messages name the path (never a secret).
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// No home directory to derive the directories from, and the variable is unset.
    #[error("cannot find a home directory for Tessera's files; set {0}")]
    NoHome(&'static str),
    /// `current.json` is not what we wrote.
    #[error("{} is damaged ({detail}); delete it", path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        detail: String,
    },
    /// The file exists but cannot be read.
    #[error("reading {}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file cannot be written or removed (disk full, permissions).
    #[error("writing {}: {source}", path.display())]
    Unwritable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl LocalError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoHome(_) => "no_home_directory",
            Self::Damaged { .. } => "config_damaged",
            Self::Unreadable { .. } => "config_unreadable",
            Self::Unwritable { .. } => "config_unwritable",
        }
    }
}

/// The shared directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalDirs {
    /// Holds `current.json`.
    pub config: PathBuf,
    /// The engine's lock files, account notes, audit log and notification cache.
    pub data: PathBuf,
}

impl LocalDirs {
    /// The OS directories, each overridable by its variable (an empty variable is unset).
    pub fn from_env() -> Result<Self, LocalError> {
        let project = directories::ProjectDirs::from("dev", "tessera", "tessera");
        let pick = |var: &'static str, default: Option<&Path>| {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(|| default.map(Path::to_path_buf))
                .ok_or(LocalError::NoHome(var))
        };
        Ok(Self {
            config: pick(CONFIG_DIR_ENV, project.as_ref().map(|p| p.config_dir()))?,
            data: pick(DATA_DIR_ENV, project.as_ref().map(|p| p.data_dir()))?,
        })
    }
}

/// The account the CLI and the app work with, in `<config dir>/current.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentAccount {
    /// Server base URL as [`normalize_server_url`] spells it.
    pub server_url: String,
    /// Login name.
    pub username: String,
}

impl CurrentAccount {
    const FILE: &'static str = "current.json";

    /// Where it lives.
    pub fn path(dirs: &LocalDirs) -> PathBuf {
        dirs.config.join(Self::FILE)
    }

    /// Reads `current.json`; `None` when there is none.
    pub fn load(dirs: &LocalDirs) -> Result<Option<Self>, LocalError> {
        let path = Self::path(dirs);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| LocalError::Damaged { path, detail: e.to_string() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(LocalError::Unreadable { path, source }),
        }
    }

    /// Writes `current.json` atomically.
    pub fn store(&self, dirs: &LocalDirs) -> Result<(), LocalError> {
        let path = Self::path(dirs);
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other);
        json.and_then(|json| write_atomically(&path, &json)).map_err(|source| LocalError::Unwritable { path, source })
    }

    /// Removes `current.json` (missing is fine).
    pub fn remove(dirs: &LocalDirs) -> Result<(), LocalError> {
        let path = Self::path(dirs);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(LocalError::Unwritable { path, source: e }),
            _ => Ok(()),
        }
    }
}

/// The server URL as vault keys and `current.json` spell it: trimmed, no trailing slash.
pub fn normalize_server_url(url: &str) -> String {
    url.trim().trim_end_matches('/').to_owned()
}

/// This device, as the server's sessions list shows it.
pub fn this_device(app_version: &str) -> DeviceInfo {
    let name = gethostname::gethostname().to_string_lossy().trim().to_owned();
    DeviceInfo {
        name: if name.is_empty() { "unknown host".to_owned() } else { name },
        platform: std::env::consts::OS.to_owned(),
        app_version: app_version.to_owned(),
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory, synced, then
/// renamed over it: readers see the old file or the new one, never a torn one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::File::create(&tmp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    match written.and_then(|()| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            // A full disk must not leave half-written temporaries behind.
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn dirs(root: &Path) -> LocalDirs {
        LocalDirs { config: root.join("config"), data: root.join("data") }
    }

    #[test]
    fn current_account_round_trips_and_a_missing_file_is_none() {
        let root = tempfile::tempdir().unwrap();
        let dirs = dirs(root.path());
        assert!(CurrentAccount::load(&dirs).unwrap().is_none());
        let account = CurrentAccount { server_url: "http://127.0.0.1:8787".into(), username: "alice".into() };
        account.store(&dirs).unwrap();
        assert_eq!(CurrentAccount::load(&dirs).unwrap(), Some(account));
        let leftovers: Vec<_> = std::fs::read_dir(&dirs.config).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(leftovers, ["current.json"], "no temporary file is left behind");
        CurrentAccount::remove(&dirs).unwrap();
        CurrentAccount::remove(&dirs).unwrap();
        assert!(CurrentAccount::load(&dirs).unwrap().is_none());
    }

    #[test]
    fn a_damaged_file_is_an_error_naming_it() {
        let root = tempfile::tempdir().unwrap();
        let dirs = dirs(root.path());
        std::fs::create_dir_all(&dirs.config).unwrap();
        std::fs::write(CurrentAccount::path(&dirs), b"{\"server_url\": 7").unwrap();
        let e = CurrentAccount::load(&dirs).unwrap_err();
        assert_eq!(e.code(), "config_damaged");
        assert!(e.to_string().contains("current.json"), "{e}");
    }

    #[test]
    fn an_unwritable_directory_is_an_error_and_keeps_the_old_file() {
        let root = tempfile::tempdir().unwrap();
        let dirs = dirs(root.path());
        let old = CurrentAccount { server_url: "http://old".into(), username: "alice".into() };
        old.store(&dirs).unwrap();
        // A regular file where the temporary file would go: creating it fails like a full disk.
        let blocked = LocalDirs { config: CurrentAccount::path(&dirs), data: dirs.data.clone() };
        let e = CurrentAccount { server_url: "http://new".into(), username: "bob".into() }.store(&blocked).unwrap_err();
        assert_eq!(e.code(), "config_unwritable");
        assert_eq!(CurrentAccount::load(&dirs).unwrap(), Some(old), "the previous account is untouched");
    }

    #[test]
    fn server_urls_are_normalized() {
        assert_eq!(normalize_server_url(" http://a:1/ "), "http://a:1");
        assert_eq!(normalize_server_url("https://a//"), "https://a");
    }
}
