//! What every command needs: the config and data directories, the current account, the vault
//! (keychain or, when it is unusable, memory only) and an engine for a server.

use tessera_session::local::this_device;
use tessera_session::{
    Account, CurrentAccountFile, EngineConfig, LocalDirs, LocalError, SessionEngine, SessionEvent, SessionState,
    SetupOverrides, VaultChoice, VaultError,
};
use tokio::sync::broadcast;

use crate::failure::{Exit, Failure};

/// OAuth client id of this program (RFC 6749 §2.2).
pub const CLIENT_ID: &str = "tessera-cli";

/// Where the CLI keeps its files (shared with the app). Neither ever holds a token.
pub type Dirs = LocalDirs;

impl From<LocalError> for Failure {
    fn from(e: LocalError) -> Self {
        Failure::new(Exit::Error, e.code(), e.to_string())
    }
}

/// The vault this process uses, and why it is memory only when it is.
pub type Storage = VaultChoice;

/// [`VaultChoice::choose`], saying on stderr when it is memory only.
pub async fn storage() -> Storage {
    let storage = VaultChoice::choose().await;
    if let Some(e) = &storage.keychain_error {
        eprintln!("warning: memory only: {}: {e}", e.code());
    }
    storage
}

/// An engine for `server_url` on `storage`, signing in where the server says (its
/// client-config; `TESSERA_ISSUER` and the like, then `flags`, on top), with a listener that
/// prints its warnings.
pub async fn engine(
    dirs: &Dirs,
    server_url: &str,
    storage: &Storage,
    flags: SetupOverrides,
) -> Result<(SessionEngine, Warnings), Failure> {
    let config = EngineConfig::for_dirs(server_url, dirs, CLIENT_ID, this_device(env!("CARGO_PKG_VERSION")))
        .with_env_overrides()
        .map_err(|e| Failure::new(Exit::Usage, "invalid_config", e.to_string()))?
        .with_server_setup(&SetupOverrides::from_env().or(flags))
        .await;
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
    pub account: Account,
}

/// The account current on this machine (`current.json`, shared with the app), if any.
pub fn current_account(dirs: &Dirs) -> Result<Option<Account>, Failure> {
    Ok(CurrentAccountFile::shared(dirs).load()?)
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
    let Some(account) = current_account(dirs)? else { return Err(Failure::not_signed_in()) };
    let storage = storage().await;
    if let Some(e) = &storage.keychain_error {
        return Err(keychain_unusable(&account, e));
    }
    let (engine, mut warnings) = engine(dirs, account.server_url(), &storage, SetupOverrides::default()).await?;
    let state = engine.restore_user(account.username()).await;
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
pub fn keychain_unusable(account: &Account, e: &VaultError) -> Failure {
    Failure::new(
        Exit::Keychain,
        e.code(),
        format!("cannot open the system keychain that holds the session of {account}: {e}"),
    )
}

/// The failure for "signed in, but the server cannot be reached".
pub fn offline(engine: &SessionEngine, account: &Account) -> Failure {
    let code = engine.metrics().last_error_code.unwrap_or_else(|| "offline".to_owned());
    Failure::new(
        Exit::Offline,
        code,
        format!("cannot reach {}; still signed in as {}, try again later", account.server_url(), account.username()),
    )
}
