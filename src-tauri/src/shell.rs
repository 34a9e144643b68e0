//! [`Shell`]: what the commands share — the vault tier, the engine for the current server, the
//! settings, and the relay that carries engine events to the webview.
//!
//! Session logic stays in `tessera-session`; this is wiring: choose the vault once, build an
//! engine per server URL (the vault key includes the URL), restore the CLI's current account at
//! start, and forward every engine's events into one bounded relay whatever engine is current.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use tessera_protocol::DeviceInfo;
use tessera_session::{
    EngineConfig, ErrorPayload, IdleStatus, IdleWatch, KeychainVault, MemoryVault, NotificationFeed, Password,
    RefreshScheduler, SessionEngine, SessionEvent, SessionState, SessionStatus, SignOutOutcome, StorageTier,
    SystemIdle, Vault, VaultError,
};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::commands::{SettingsPatch, SettingsView};
use crate::config::{CurrentAccount, Settings, SharedDirs, check_server_url};
use crate::error::{UiCode, UiError};

/// OAuth client id of the desktop app (RFC 6749 §2.2).
pub const CLIENT_ID: &str = "tessera-desktop";
/// Events the webview may fall behind by before it is told to re-read the status.
const RELAY_CAPACITY: usize = 128;
/// The shortest idle timeout the settings accept (the warning alone lasts 60 s).
const MIN_IDLE_TIMEOUT_SECS: u64 = 60;

/// What the webview receives on its event channel.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum UiEvent {
    /// An engine event, as the engine serializes it (`{"type":"state_changed",...}`).
    Session(SessionEvent),
    /// Something from the shell itself.
    Shell(ShellEvent),
}

/// Events of the shell.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ShellEvent {
    /// Events were lost (slow webview) or the engine was replaced: read `app_status` again.
    Resync,
}

/// Called for every engine event before it reaches the webview (OS notifications, tray).
pub type EventHook = Arc<dyn Fn(&SessionEvent) + Send + Sync>;

/// The vault tier chosen at start.
#[derive(Debug, Clone)]
struct Storage {
    vault: Arc<dyn Vault>,
    keychain_error: Option<VaultError>,
}

/// One engine and what lives as long as it does.
struct Live {
    engine: SessionEngine,
    feed: Option<NotificationFeed>,
    idle: IdleWatch,
    _scheduler: RefreshScheduler,
    forward: JoinHandle<()>,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.forward.abort();
        if let Some(feed) = &self.feed {
            feed.stop();
        }
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
}

/// State shared by all commands.
pub struct Shell {
    /// Directories shared with the CLI.
    pub dirs: SharedDirs,
    /// `settings.json` in the app config dir.
    pub settings_path: PathBuf,
    /// Where the rotating log files are.
    pub log_dir: PathBuf,
    device: DeviceInfo,
    hook: EventHook,
    settings: Mutex<Settings>,
    storage: tokio::sync::OnceCell<Storage>,
    live: tokio::sync::Mutex<Option<Live>>,
    restore_error: Mutex<Option<UiError>>,
    relay: broadcast::Sender<UiEvent>,
    ready: watch::Sender<bool>,
    subscription: Mutex<Option<JoinHandle<()>>>,
}

impl Shell {
    /// A shell that is not ready until [`start`](Self::start) has run.
    pub fn new(dirs: SharedDirs, settings_path: PathBuf, log_dir: PathBuf, hook: EventHook) -> Self {
        let settings = Settings::load(&settings_path);
        let (relay, _) = broadcast::channel(RELAY_CAPACITY);
        Self {
            dirs,
            settings_path,
            log_dir,
            device: device(),
            hook,
            settings: Mutex::new(settings),
            storage: tokio::sync::OnceCell::new(),
            live: tokio::sync::Mutex::new(None),
            restore_error: Mutex::new(None),
            relay,
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
            let Some(account) = CurrentAccount::load(&self.dirs).filter(|a| a.server_url == server_url) else {
                return Ok(());
            };
            if let Some(e) = &storage.keychain_error {
                return Err(UiError::new(
                    UiCode::Keychain,
                    format!("The saved session of {} could not be opened: {e}", account.username),
                ));
            }
            let state = engine.restore_user(&account.username).await?;
            tracing::info!(state = state.name(), user = %account.username, "restored at start");
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

    async fn storage(&self) -> &Storage {
        self.storage
            .get_or_init(|| async {
                let keychain = KeychainVault::new();
                match keychain.probe().await {
                    Ok(()) => Storage { vault: Arc::new(keychain), keychain_error: None },
                    Err(e) => {
                        tracing::warn!(code = e.code(), "keychain unusable; sessions are kept in memory only: {e}");
                        Storage { vault: Arc::new(MemoryVault::new()), keychain_error: Some(e) }
                    }
                }
            })
            .await
    }

    /// The current engine (after start).
    pub async fn engine(&self) -> Result<SessionEngine, UiError> {
        self.ready().await;
        self.live.lock().await.as_ref().map(|l| l.engine.clone()).ok_or_else(|| {
            UiError::new(UiCode::InvalidInput, "No usable server URL is configured; enter one on the sign-in screen.")
        })
    }

    /// The engine for `server_url`: the current one when it matches, else a new one (only while
    /// signed out: a session is tied to its server).
    async fn engine_for(&self, server_url: &str) -> Result<SessionEngine, UiError> {
        let mut live = self.live.lock().await;
        if let Some(current) = live.as_ref() {
            if current.engine.config().server_url() == server_url {
                return Ok(current.engine.clone());
            }
            if current.engine.state().is_signed_in() {
                return Err(UiError::new(UiCode::InvalidInput, "Sign out before switching servers."));
            }
        }
        let storage = self.storage().await;
        let mut config = EngineConfig::new(server_url, self.dirs.data.clone(), CLIENT_ID, self.device.clone());
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
        let engine = SessionEngine::new(config, storage.vault.clone())?;
        let forward = tokio::spawn(forward(engine.subscribe(), self.relay.clone(), self.hook.clone()));
        let scheduler = engine.spawn_scheduler();
        let feed = NotificationFeed::spawn(engine.clone())
            .map_err(|e| tracing::warn!(code = e.code(), "no notification feed: {e}"))
            .ok();
        let idle = IdleWatch::spawn(engine.clone(), SystemIdle::detect());
        *live = Some(Live { engine: engine.clone(), feed, idle, _scheduler: scheduler, forward });
        let _ = self.relay.send(UiEvent::Shell(ShellEvent::Resync));
        tracing::info!(server = %server_url, "engine ready");
        Ok(engine)
    }

    /// Password sign-in on `server_url`; notes the account for the CLI when the session is in
    /// the keychain (a memory-only session cannot be picked up by anyone else).
    pub async fn sign_in(&self, server_url: &str, username: &str, password: &Password) -> Result<AppStatus, UiError> {
        self.ready().await;
        let engine = self.engine_for(server_url).await?;
        let status = engine.sign_in(username, password).await?;
        *self.restore_error.lock().unwrap_or_else(PoisonError::into_inner) = None;
        if status.storage == StorageTier::Keychain {
            let account = CurrentAccount { server_url: status.server_url.clone(), username: username.to_owned() };
            if let Err(e) = account.store(&self.dirs) {
                tracing::warn!(error = %e, "could not write current.json; the CLI will not see this session");
            }
        }
        self.update_settings(|s| s.server_url = Some(server_url.to_owned()))?;
        Ok(self.status().await)
    }

    /// Signs out here and at the server, and forgets the CLI's current account.
    pub async fn sign_out(&self) -> Result<SignOutOutcome, UiError> {
        let engine = self.engine().await?;
        let outcome = engine.sign_out().await?;
        if let Err(e) = CurrentAccount::remove(&self.dirs) {
            tracing::warn!(error = %e, "could not remove current.json");
        }
        Ok(outcome)
    }

    /// Signs out a session that lives in memory only (at exit: nobody could resume it).
    pub async fn end_memory_session(&self) {
        let engine = self.live.lock().await.as_ref().map(|l| l.engine.clone());
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
        let storage = self.storage().await;
        let live = self.live.lock().await;
        let settings_url = self.settings().server_url.unwrap_or_default();
        let session = live.as_ref().map(|l| l.engine.status()).unwrap_or_else(|| SessionStatus {
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
        let feed_mode = live.as_ref().and_then(|l| l.feed.as_ref()).map(NotificationFeed::mode);
        AppStatus {
            feed_mode,
            server_url: session.server_url.clone(),
            session,
            storage: self.storage_view(storage),
            restore_error: self.restore_error.lock().unwrap_or_else(PoisonError::into_inner).clone(),
        }
    }

    fn storage_view(&self, storage: &Storage) -> StorageView {
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

    /// A copy of the settings.
    pub fn settings(&self) -> Settings {
        self.settings.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Changes the settings and writes them to disk.
    pub fn update_settings(&self, change: impl FnOnce(&mut Settings)) -> Result<Settings, UiError> {
        let mut settings = self.settings.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = settings.clone();
        change(&mut next);
        next.store(&self.settings_path).map_err(|e| {
            UiError::new(UiCode::Internal, format!("could not save {}: {e}", self.settings_path.display()))
        })?;
        *settings = next.clone();
        Ok(next)
    }

    /// Streams relay events to `send` until it fails; replaces the previous subscription (one
    /// window, one listener: a reloaded page does not leave its old listener running).
    pub fn subscribe(&self, send: impl Fn(UiEvent) -> bool + Send + 'static) {
        let mut rx = self.relay.subscribe();
        let task = tokio::spawn(async move {
            loop {
                let event = match rx.recv().await {
                    Ok(event) => event,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::debug!(lost = n, "webview fell behind; asking it to resync");
                        UiEvent::Shell(ShellEvent::Resync)
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                if !send(event) {
                    break;
                }
            }
        });
        if let Some(previous) = self.subscription.lock().unwrap_or_else(PoisonError::into_inner).replace(task) {
            previous.abort();
        }
    }
}

impl Shell {
    /// The window saw input: the idle watch resets (cancelling a warning) and mirrors activity
    /// to the server at most every `activity_report_interval`.
    pub async fn report_activity(&self) -> Result<(), UiError> {
        self.ready().await;
        let live = self.live.lock().await;
        let live = live.as_ref().ok_or_else(|| UiError::new(UiCode::NotSignedIn, "You are not signed in."))?;
        live.idle.report_activity();
        Ok(())
    }

    /// The notification feed of the current engine.
    pub async fn feed(&self) -> Result<NotificationFeed, UiError> {
        self.ready().await;
        let live = self.live.lock().await;
        live.as_ref().and_then(|l| l.feed.clone()).ok_or_else(|| {
            UiError::new(UiCode::Unavailable, "Notifications are not available (the local cache could not be opened).")
        })
    }

    /// The idle watch's view (source, timeout, countdown).
    pub async fn idle_status(&self) -> Option<IdleStatus> {
        self.ready().await;
        self.live.lock().await.as_ref().map(|l| l.idle.status())
    }

    /// The server's idle timeout (the most the app may allow), when the server answers.
    async fn idle_timeout_max(&self, engine: &SessionEngine) -> Option<u64> {
        engine.client().discovery().await.ok().map(|d| d.tessera.session_idle_timeout_secs)
    }

    /// The settings as the Settings screen shows them.
    pub async fn settings_view(&self) -> Result<SettingsView, UiError> {
        let engine = self.engine().await?;
        let settings = self.settings();
        let max = self.idle_timeout_max(&engine).await;
        let configured = settings.idle_timeout_secs.unwrap_or(engine.config().idle_timeout.as_secs());
        Ok(SettingsView {
            server_url: settings.server_url.unwrap_or_else(|| engine.config().server_url()),
            idle_timeout_secs: max.map_or(configured, |m| configured.min(m)),
            idle_timeout_max_secs: max,
            os_notifications: settings.os_notifications,
        })
    }

    /// Validates and saves a settings change.
    pub async fn apply_settings(&self, patch: SettingsPatch) -> Result<(), UiError> {
        let engine = self.engine().await?;
        let server_url = match patch.server_url.as_deref() {
            Some(url) => {
                let url = check_server_url(url)?;
                if url != engine.config().server_url() && engine.state().is_signed_in() {
                    return Err(UiError::new(UiCode::InvalidInput, "Sign out before switching servers."));
                }
                Some(url)
            }
            None => None,
        };
        if let Some(secs) = patch.idle_timeout_secs {
            let max = self.idle_timeout_max(&engine).await;
            if secs < MIN_IDLE_TIMEOUT_SECS || max.is_some_and(|m| secs > m) {
                let most = max.map_or_else(|| "the server's limit".to_owned(), |m| format!("{} minutes", m / 60));
                return Err(UiError::new(
                    UiCode::InvalidInput,
                    format!("The idle timeout must be between 1 minute and {most}."),
                ));
            }
        }
        if let Some(secs) = patch.idle_timeout_secs
            && let Some(live) = self.live.lock().await.as_ref()
        {
            let effective = live.idle.set_timeout(std::time::Duration::from_secs(secs));
            tracing::info!(requested = secs, effective = ?effective, "idle timeout set");
        }
        self.update_settings(|s| {
            if let Some(url) = server_url {
                s.server_url = Some(url);
            }
            if let Some(secs) = patch.idle_timeout_secs {
                s.idle_timeout_secs = Some(secs);
            }
            if let Some(on) = patch.os_notifications {
                s.os_notifications = on;
            }
        })?;
        Ok(())
    }
}

/// Forwards one engine's events to the relay, calling the hook on each.
async fn forward(mut events: broadcast::Receiver<SessionEvent>, relay: broadcast::Sender<UiEvent>, hook: EventHook) {
    loop {
        match events.recv().await {
            Ok(event) => {
                hook(&event);
                // No webview listening is fine.
                let _ = relay.send(UiEvent::Session(event));
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                let _ = relay.send(UiEvent::Shell(ShellEvent::Resync));
            }
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
}

/// This device, as the server's sessions list shows it.
fn device() -> DeviceInfo {
    let name = gethostname::gethostname().to_string_lossy().trim().to_owned();
    DeviceInfo {
        name: if name.is_empty() { "unknown host".to_owned() } else { name },
        platform: std::env::consts::OS.to_owned(),
        app_version: env!("CARGO_PKG_VERSION").to_owned(),
    }
}
