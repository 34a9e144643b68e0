//! What every command needs: the config and data directories, the current account, the vault
//! (keychain or, when it is unusable, memory only) and an engine for a server.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tessera_protocol::DeviceInfo;
use tessera_session::{
    EngineConfig, KeychainVault, MemoryVault, SessionEngine, SessionEvent, SessionState, StorageTier, Vault, VaultError,
};
use tokio::sync::broadcast;

use crate::failure::{Exit, Failure};

/// OAuth client id of this program (RFC 6749 §2.2).
pub const CLIENT_ID: &str = "tessera-cli";

/// Environment variable overriding the config directory.
pub const CONFIG_DIR_ENV: &str = "TESSERA_CONFIG_DIR";
/// Environment variable overriding the data directory.
pub const DATA_DIR_ENV: &str = "TESSERA_DATA_DIR";

/// Where the CLI keeps its files. Neither ever holds a token.
#[derive(Debug, Clone)]
pub struct Dirs {
    /// `current.json` (which server and user are current).
    pub config: PathBuf,
    /// The engine's refresh lock files, account note and the audit log.
    pub data: PathBuf,
}

impl Dirs {
    /// The OS directories for Tessera (`directories`), each overridable by its variable.
    pub fn from_env() -> Result<Self, Failure> {
        let project = directories::ProjectDirs::from("dev", "tessera", "tessera");
        let pick = |var: &str, default: Option<&Path>| -> Result<PathBuf, Failure> {
            match std::env::var_os(var).filter(|v| !v.is_empty()) {
                Some(dir) => Ok(PathBuf::from(dir)),
                None => default.map(Path::to_path_buf).ok_or_else(|| {
                    Failure::new(
                        Exit::Error,
                        "no_home_directory",
                        format!("cannot find a home directory for Tessera's files; set {var}"),
                    )
                }),
            }
        };
        Ok(Self {
            config: pick(CONFIG_DIR_ENV, project.as_ref().map(|p| p.config_dir()))?,
            data: pick(DATA_DIR_ENV, project.as_ref().map(|p| p.data_dir()))?,
        })
    }
}

/// The account the CLI works with, in `<config dir>/current.json`. Not a secret: the tokens are
/// in the keychain under this server + user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentAccount {
    /// Server base URL without a trailing slash.
    pub server_url: String,
    /// Login name.
    pub username: String,
}

impl CurrentAccount {
    const FILE: &'static str = "current.json";

    fn path(dirs: &Dirs) -> PathBuf {
        dirs.config.join(Self::FILE)
    }

    /// Reads `current.json`; `None` when there is none.
    pub fn load(dirs: &Dirs) -> Result<Option<Self>, Failure> {
        let path = Self::path(dirs);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                Failure::new(Exit::Error, "config_damaged", format!("{} is damaged ({e}); delete it", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Failure::new(Exit::Error, "config_unreadable", format!("reading {}: {e}", path.display()))),
        }
    }

    /// Writes `current.json` atomically (temporary file, then rename).
    pub fn store(&self, dirs: &Dirs) -> Result<(), Failure> {
        let path = Self::path(dirs);
        let fail = |e: std::io::Error| {
            Failure::new(Exit::Error, "config_unwritable", format!("writing {}: {e}", path.display()))
        };
        std::fs::create_dir_all(&dirs.config).map_err(fail)?;
        let tmp = dirs.config.join(format!("{}.{}.tmp", Self::FILE, std::process::id()));
        let json = serde_json::to_vec_pretty(self).map_err(|e| fail(std::io::Error::other(e)))?;
        let mut file = std::fs::File::create(&tmp).map_err(fail)?;
        file.write_all(&json).and_then(|()| file.sync_all()).map_err(fail)?;
        std::fs::rename(&tmp, &path).map_err(fail)
    }

    /// Removes `current.json` (missing is fine).
    pub fn remove(dirs: &Dirs) -> Result<(), Failure> {
        let path = Self::path(dirs);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Failure::new(Exit::Error, "config_unwritable", format!("removing {}: {e}", path.display()))),
        }
    }
}

/// The vault this process uses, and why it is memory only when it is.
#[derive(Debug, Clone)]
pub struct Storage {
    /// The vault.
    pub vault: Arc<dyn Vault>,
    /// Why the keychain is not used (`None`: it is).
    pub keychain_error: Option<VaultError>,
}

impl Storage {
    /// The keychain when [`KeychainVault::probe`] succeeds; otherwise memory only, saying so on
    /// stderr. Never a plaintext file.
    pub async fn choose() -> Self {
        let keychain = KeychainVault::new();
        match keychain.probe().await {
            Ok(()) => Self { vault: Arc::new(keychain), keychain_error: None },
            Err(e) => {
                eprintln!("warning: memory only: {}: {e}", e.code());
                Self { vault: Arc::new(MemoryVault::new()), keychain_error: Some(e) }
            }
        }
    }

    /// Which tier the vault is.
    pub fn tier(&self) -> StorageTier {
        self.vault.tier()
    }
}

/// This device, as the server's sessions list shows it.
pub fn device() -> DeviceInfo {
    let name = gethostname::gethostname().to_string_lossy().trim().to_owned();
    DeviceInfo {
        name: if name.is_empty() { "unknown host".to_owned() } else { name },
        platform: std::env::consts::OS.to_owned(),
        app_version: env!("CARGO_PKG_VERSION").to_owned(),
    }
}

/// The server URL as vault keys and `current.json` spell it.
pub fn normalize_server(url: &str) -> String {
    url.trim().trim_end_matches('/').to_owned()
}

/// An engine for `server_url` on `storage`, with a listener that prints its warnings.
pub fn engine(dirs: &Dirs, server_url: &str, storage: &Storage) -> Result<(SessionEngine, Warnings), Failure> {
    let config = EngineConfig::new(normalize_server(server_url), dirs.data.clone(), CLIENT_ID, device())
        .with_env_overrides()
        .map_err(|e| Failure::new(Exit::Usage, "invalid_config", e.to_string()))?;
    let engine = SessionEngine::new(config, storage.vault.clone()).map_err(Failure::from)?;
    let warnings = Warnings { events: engine.subscribe() };
    Ok((engine, warnings))
}

/// Collects the engine's warnings during a command, to print them on stderr at its end.
#[derive(Debug)]
pub struct Warnings {
    events: broadcast::Receiver<SessionEvent>,
}

impl Warnings {
    /// Prints the warnings broadcast so far as `warning: …` lines on stderr.
    pub fn print(&mut self) {
        loop {
            match self.events.try_recv() {
                Ok(SessionEvent::Warning { code, message }) => {
                    let code = serde_json::to_value(code).ok().and_then(|v| v.as_str().map(str::to_owned));
                    eprintln!("warning: {message} ({})", code.unwrap_or_default());
                }
                Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => {}
                Err(broadcast::error::TryRecvError::Empty | broadcast::error::TryRecvError::Closed) => break,
            }
        }
    }
}

/// A restored session of the current account.
pub struct Restored {
    /// The engine holding it.
    pub engine: SessionEngine,
    /// Its warnings.
    pub warnings: Warnings,
    /// The account.
    pub account: CurrentAccount,
}

/// Restores the current account's session from the keychain (one refresh, no password).
///
/// Not signed in (no current account, no record, the session ended) → exit 3; server
/// unreachable → exit 4 (the session stays in the keychain for the next try); keychain unusable
/// while an account is current → exit 5.
pub async fn restore_current(dirs: &Dirs) -> Result<Restored, Failure> {
    restore(dirs, false).await
}

/// [`restore_current`], but a server that cannot be reached is fine: the engine stays signed in
/// (`Offline`) and retries (for `tessera watch`).
pub async fn restore_current_or_offline(dirs: &Dirs) -> Result<Restored, Failure> {
    restore(dirs, true).await
}

async fn restore(dirs: &Dirs, allow_offline: bool) -> Result<Restored, Failure> {
    let Some(account) = CurrentAccount::load(dirs)? else { return Err(Failure::not_signed_in()) };
    let storage = Storage::choose().await;
    if let Some(e) = &storage.keychain_error {
        return Err(keychain_unusable(&account, e));
    }
    let (engine, mut warnings) = engine(dirs, &account.server_url, &storage)?;
    let state = engine.restore_user(&account.username).await;
    warnings.print();
    match state.map_err(Failure::from)? {
        SessionState::SignedOut { reason: Some(reason) } => {
            Err(Failure::from(tessera_session::EngineError::SignedOut(reason)))
        }
        SessionState::SignedOut { reason: None } | SessionState::SigningIn => Err(Failure::not_signed_in()),
        SessionState::Offline { .. } if !allow_offline => Err(offline(&engine, &account)),
        SessionState::Offline { .. } => Ok(Restored { engine, warnings, account }),
        SessionState::Active { .. } | SessionState::Refreshing | SessionState::Expiring { .. } => {
            Ok(Restored { engine, warnings, account })
        }
    }
}

/// The failure for "the account's session may be in the keychain, but the keychain is unusable"
/// (exit 5): not "not signed in", which would send the user to sign in for nothing.
pub fn keychain_unusable(account: &CurrentAccount, e: &VaultError) -> Failure {
    Failure::new(
        Exit::Keychain,
        e.code(),
        format!(
            "cannot open the system keychain that holds the session of {} at {}: {e}",
            account.username, account.server_url
        ),
    )
}

/// The failure for "signed in, but the server cannot be reached".
pub fn offline(engine: &SessionEngine, account: &CurrentAccount) -> Failure {
    let code = engine.metrics().last_error_code.unwrap_or_else(|| "offline".to_owned());
    Failure::new(
        Exit::Offline,
        code,
        format!("cannot reach {}; still signed in as {}, try again later", account.server_url, account.username),
    )
}
