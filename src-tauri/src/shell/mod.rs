//! [`Shell`]: what the commands share — the vault tier, the engine for the current server, the
//! settings, and the relay that carries engine events to the webview.
//!
//! Session logic stays in `tessera-session`; this is wiring: choose the vault once, open a
//! [`Desk`] per server URL (an account includes its server), restore the current account at
//! start, and forward every engine's events into one bounded relay whatever engine is current.

mod browser;
mod relay;
mod settings;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use tessera_protocol::DeviceInfo;
use tessera_session::{
    Desk, EngineConfig, ErrorPayload, IdleStatus, LocalDirs, NotificationFeed, Password, SessionEngine, SessionState,
    SessionStatus, SignOutOutcome, StorageTier, SystemIdle, VaultChoice,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{Settings, current_account};
use crate::error::{UiCode, UiError};
pub use browser::{BrowserStart, SIGN_IN_LIMIT};
use relay::Relay;
pub use relay::{EventHook, RelayedEvent, ShellEvent, UiEvent};

/// OAuth client id of the desktop app (RFC 6749 §2.2).
pub const CLIENT_ID: &str = "tessera-desktop";
/// Events the webview may fall behind by before it is told to re-read the status.
const RELAY_CAPACITY: usize = 128;

/// The desk of the current server and the task relaying its engine's events.
struct Live {
    desk: Arc<Desk>,
    forward: JoinHandle<()>,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.forward.abort();
    }
}

/// Where the refresh token lives and, when it is memory, why.
#[derive(Debug, Clone, Serialize)]
pub struct StorageView {
    /// `keychain` or `memory`.
    pub tier: StorageTier,
    /// Why the keychain is not used (`code` is the vault's: `keychain_locked`, …).
    pub keychain_error: Option<ErrorPayload>,
}

/// `app_status`: everything the UI needs to pick a screen. No token.
#[derive(Debug, Clone, Serialize)]
pub struct AppStatus {
    /// The server the engine talks to.
    pub server_url: String,
    /// The engine's status (state, user, expiries, storage of this session).
    pub session: SessionStatus,
    /// The vault tier of this process.
    pub storage: StorageView,
    /// Why a saved session could not be restored at start (keychain unusable, …), if so.
    pub restore_error: Option<UiError>,
    /// How notifications arrive right now (`None`: no feed).
    pub feed_mode: Option<tessera_session::FeedMode>,
    /// The number of the last event relayed before this was read (see `relay`).
    pub event_seq: u64,
}

/// State shared by all commands.
pub struct Shell {
    /// Directories shared with the CLI.
    pub dirs: LocalDirs,
    /// `settings.json` in the app config dir.
    pub settings_path: PathBuf,
    /// Where the rotating log files are.
    pub log_dir: PathBuf,
    device: DeviceInfo,
    hook: EventHook,
    settings: Mutex<Settings>,
    storage: tokio::sync::OnceCell<VaultChoice>,
    live: tokio::sync::Mutex<Option<Live>>,
    restore_error: Mutex<Option<UiError>>,
    browser: browser::Pending,
    relay: Relay,
    ready: watch::Sender<bool>,
    subscription: Mutex<Option<JoinHandle<()>>>,
}

impl Shell {
    /// A shell that is not ready until [`start`](Self::start) has run.
    pub fn new(dirs: LocalDirs, settings_path: PathBuf, log_dir: PathBuf, hook: EventHook) -> Self {
        let settings = Settings::load(&settings_path);
        Self {
            dirs,
            settings_path,
            log_dir,
            device: tessera_session::local::this_device(env!("CARGO_PKG_VERSION")),
            hook,
            settings: Mutex::new(settings),
            storage: tokio::sync::OnceCell::new(),
            live: tokio::sync::Mutex::new(None),
            restore_error: Mutex::new(None),
            browser: browser::Pending::default(),
            relay: Relay::new(RELAY_CAPACITY),
            ready: watch::channel(false).0,
            subscription: Mutex::new(None),
        }
    }

    /// Chooses the vault, builds the engine for `server_url`, restores the CLI's current account
    /// when it is on that server, and marks the shell ready. Never fails: what went wrong is in
    /// [`AppStatus::restore_error`].
    pub async fn start(&self, server_url: String) {
        let storage = self.storage().await;
        let result = async {
            let engine = self.engine_for(&server_url).await?;
            let Some(account) = current_account(&self.dirs).filter(|a| a.server_url() == server_url) else {
                return Ok(());
            };
            if let Some(e) = &storage.keychain_error {
                return Err(UiError::new(
                    UiCode::Keychain,
                    format!("The saved session of {} could not be opened: {e}", account.username()),
                ));
            }
            let state = engine.restore_user(account.username()).await?;
            tracing::info!(state = state.name(), user = %account.username(), "restored at start");
            Ok::<(), UiError>(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(code = ?e.code, "restore at start failed: {}", e.message);
            *self.restore_error.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
        }
        self.ready.send_replace(true);
    }

    /// Waits until [`start`](Self::start) is done.
    pub async fn ready(&self) {
        let mut rx = self.ready.subscribe();
        // The sender lives in `self`, so this cannot fail while we are borrowed.
        let _ = rx.wait_for(|ready| *ready).await;
    }

    async fn storage(&self) -> &VaultChoice {
        self.storage.get_or_init(VaultChoice::choose).await
    }

    /// The current engine (after start).
    pub async fn engine(&self) -> Result<SessionEngine, UiError> {
        Ok(self.desk().await?.engine().clone())
    }

    /// The current desk (after start).
    async fn desk(&self) -> Result<Arc<Desk>, UiError> {
        self.ready().await;
        self.live.lock().await.as_ref().map(|l| l.desk.clone()).ok_or_else(|| {
            UiError::new(UiCode::InvalidInput, "No usable server URL is configured; enter one on the sign-in screen.")
        })
    }

    /// The engine for `server_url`: the current one when it matches, else a new one (only while
    /// signed out: a session is tied to its server).
    async fn engine_for(&self, server_url: &str) -> Result<SessionEngine, UiError> {
        let mut live = self.live.lock().await;
        if let Some(current) = live.as_ref() {
            let engine = current.desk.engine();
            if engine.config().server_url() == server_url {
                return Ok(engine.clone());
            }
            if engine.state().is_signed_in() {
                return Err(UiError::new(UiCode::InvalidInput, "Sign out before switching servers."));
            }
        }
        let storage = self.storage().await;
        let mut config = EngineConfig::for_dirs(server_url, &self.dirs, CLIENT_ID, self.device.clone());
        if let Some(secs) = self.settings().idle_timeout_secs {
            config.idle_timeout = std::time::Duration::from_secs(secs);
        }
        // TESSERA_IDLE_* override the settings file, as for the CLI; an invalid value is
        // logged and ignored rather than keeping the app from starting.
        let config = match config.clone().with_env_overrides() {
            Ok(config) => config,
            Err(e) => {
                tracing::warn!("ignoring the environment's idle settings: {e}");
                config
            }
        };
        // Sign in where the server says (its client-config), as the CLI does.
        let config = config.with_server_setup(&tessera_session::SetupOverrides::from_env()).await;
        let engine = SessionEngine::new(config, storage.vault.clone())?;
        let forward = tokio::spawn(relay::forward(engine.subscribe(), self.relay.clone(), self.hook.clone()));
        let desk = Arc::new(Desk::open(engine.clone(), SystemIdle::detect()));
        *live = Some(Live { desk, forward });
        self.relay.send(UiEvent::Shell(ShellEvent::Resync));
        tracing::info!(server = %server_url, "engine ready");
        Ok(engine)
    }

    /// Password sign-in on `server_url`. The engine makes the account current for the CLI when
    /// the session is in the keychain (a memory-only session cannot be picked up by anyone else).
    pub async fn sign_in(&self, server_url: &str, username: &str, password: &Password) -> Result<AppStatus, UiError> {
        self.ready().await;
        let engine = self.engine_for(server_url).await?;
        engine.sign_in(username, password).await?;
        self.signed_in(server_url).await
    }

    /// After any sign-in on `server_url`: no restore error to show, the server remembered.
    async fn signed_in(&self, server_url: &str) -> Result<AppStatus, UiError> {
        *self.restore_error.lock().unwrap_or_else(PoisonError::into_inner) = None;
        self.update_settings(|s| s.server_url = Some(server_url.to_owned()))?;
        Ok(self.status().await)
    }

    /// Signs out here and at the server, forgetting the current account and the cached
    /// notifications; with `sign_out_browser` on, then opens the server's sign-out page in the
    /// browser (found before signing out; not reachable: the sign-out here still happens).
    pub async fn sign_out(&self) -> Result<SignOutOutcome, UiError> {
        let desk = self.desk().await?;
        let end_session = match self.settings().sign_out_browser {
            true => desk.engine().end_session_url().await.unwrap_or_else(|e| {
                tracing::warn!(code = e.code(), "the browser is not signed out: {e}");
                None
            }),
            false => None,
        };
        let outcome = desk.sign_out().await?;
        if let Some(url) = end_session {
            browser::open_detached(&url, "the sign-out page");
        }
        Ok(outcome)
    }

    /// Signs out a session that lives in memory only (at exit: nobody could resume it).
    pub async fn end_memory_session(&self) {
        let engine = self.live.lock().await.as_ref().map(|l| l.desk.engine().clone());
        if let Some(engine) = engine.filter(|e| e.state().is_signed_in() && e.status().storage == StorageTier::Memory) {
            match engine.sign_out().await {
                Ok(outcome) => tracing::info!(?outcome, "memory-only session signed out at exit"),
                Err(e) => tracing::warn!(code = e.code(), "memory-only session not signed out at exit"),
            }
        }
    }

    /// The status for the UI.
    pub async fn status(&self) -> AppStatus {
        self.ready().await;
        // Taken before the read, so the read reflects every event up to it.
        let event_seq = self.relay.last_seq();
        let storage = self.storage().await;
        let live = self.live.lock().await;
        let settings_url = self.settings().server_url.unwrap_or_default();
        let session = live.as_ref().map(|l| l.desk.engine().status()).unwrap_or_else(|| SessionStatus {
            state: SessionState::SignedOut { reason: None },
            server_url: settings_url.clone(),
            username: None,
            session_id: None,
            storage: storage.vault.tier(),
            access_expires_at: None,
            refresh_expires_at: None,
            session_expires_at: None,
            clock_skew_ms: None,
            pending_revocation: false,
        });
        let feed_mode = live.as_ref().and_then(|l| l.desk.feed()).map(NotificationFeed::mode);
        AppStatus {
            feed_mode,
            event_seq,
            server_url: session.server_url.clone(),
            session,
            storage: self.storage_view(storage),
            restore_error: self.restore_error.lock().unwrap_or_else(PoisonError::into_inner).clone(),
        }
    }

    fn storage_view(&self, storage: &VaultChoice) -> StorageView {
        StorageView {
            tier: storage.vault.tier(),
            keychain_error: storage
                .keychain_error
                .as_ref()
                .map(|e| ErrorPayload { code: e.code().to_owned(), message: e.to_string() }),
        }
    }

    /// The vault tier and why (for diagnostics).
    pub async fn storage_status(&self) -> StorageView {
        let storage = self.storage().await;
        self.storage_view(storage)
    }
}

impl Shell {
    /// The window saw input: the idle watch resets (cancelling a warning) and mirrors activity
    /// to the server at most every `activity_report_interval`.
    pub async fn report_activity(&self) -> Result<(), UiError> {
        self.ready().await;
        let live = self.live.lock().await;
        let live = live.as_ref().ok_or_else(|| UiError::new(UiCode::NotSignedIn, "You are not signed in."))?;
        live.desk.report_activity();
        Ok(())
    }

    /// The notification feed of the current engine.
    pub async fn feed(&self) -> Result<NotificationFeed, UiError> {
        self.ready().await;
        let live = self.live.lock().await;
        live.as_ref().and_then(|l| l.desk.feed().cloned()).ok_or_else(|| {
            UiError::new(UiCode::Unavailable, "Notifications are not available (the local cache could not be opened).")
        })
    }

    /// The idle watch's view (source, timeout, countdown).
    pub async fn idle_status(&self) -> Option<IdleStatus> {
        self.ready().await;
        self.live.lock().await.as_ref().map(|l| l.desk.idle_status())
    }
}
