//! The directories the `tessera` CLI and the desktop app share on one machine, so either can pick
//! up the session the other signed in: the config dir holds `current.json` (which account is
//! current, [`crate::CurrentAccountFile`]), the data dir the engine's refresh locks, audit log
//! and notification cache. Neither ever holds a token: those are in the keychain under the
//! current account.
//!
//! Directories: `ProjectDirs("dev", "tessera", "tessera")`, each overridable by
//! `TESSERA_CONFIG_DIR` / `TESSERA_DATA_DIR`.

use std::io::Write;
use std::path::{Path, PathBuf};

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
    /// A file is not what we wrote.
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
    /// The engine's lock files, audit log and notification cache.
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
/// renamed over it: readers see the old file or the new one, never a torn one. A missing
/// directory is created private to the user (0700 on Unix).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
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
