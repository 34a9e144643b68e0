//! The commands the webview may call (each allowed in `capabilities/main.json` and listed in
//! `build.rs`). Each converts arguments and calls the engine or the shell; none returns a token
//! (`tests/no_token_in_outputs.rs` serializes every output type to check).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tauri::State;
use tauri::ipc::Channel;
use tessera_protocol::{AuditList, Me, RevokeOthersResponse, SessionList};
use tessera_session::{AuditEntry, AuditLog, MetricsSnapshot, Password, SignOutOutcome};

use crate::config::check_server_url;
use crate::error::{UiCode, UiError};
use crate::shell::{AppStatus, BrowserStart, RelayedEvent, Shell, StorageView};

type Shared<'a> = State<'a, Arc<Shell>>;

/// Everything the UI needs to choose a screen; waits until the saved session is restored.
#[tauri::command]
pub async fn app_status(shell: Shared<'_>) -> Result<AppStatus, UiError> {
    Ok(shell.status().await)
}

/// Streams engine events to the webview over `on_event` until the page goes away.
#[tauri::command]
pub async fn subscribe(shell: Shared<'_>, on_event: Channel<RelayedEvent>) -> Result<(), UiError> {
    // Async so the forwarding task is spawned on the runtime, not the main thread.
    shell.subscribe(move |event| on_event.send(event).is_ok());
    Ok(())
}

/// Password sign-in. The password goes to the engine and no further.
#[tauri::command]
pub async fn sign_in(
    shell: Shared<'_>,
    server_url: String,
    username: String,
    password: String,
) -> Result<AppStatus, UiError> {
    let server_url = check_server_url(&server_url)?;
    let username = username.trim();
    if username.is_empty() {
        return Err(UiError::new(UiCode::InvalidInput, "Enter your user name."));
    }
    shell.sign_in(&server_url, username, &Password::new(password)).await
}

/// Begins a sign-in through the system browser and opens it; returns the address to show.
/// `fresh`: ask for the password even if the browser is signed in at the server.
#[tauri::command]
pub async fn browser_sign_in_begin(
    shell: Shared<'_>,
    server_url: String,
    fresh: bool,
) -> Result<BrowserStart, UiError> {
    let server_url = check_server_url(&server_url)?;
    shell.begin_browser_sign_in(&server_url, fresh).await
}

/// Waits for the browser to come back from the sign-in begun last (at most five minutes). The
/// code, the PKCE verifier and the tokens stay in Rust.
#[tauri::command]
pub async fn browser_sign_in_finish(shell: Shared<'_>) -> Result<AppStatus, UiError> {
    shell.finish_browser_sign_in().await
}

/// Cancels the browser sign-in under way (its `finish` answers `cancelled`).
#[tauri::command]
pub async fn browser_sign_in_cancel(shell: Shared<'_>) -> Result<(), UiError> {
    shell.cancel_browser_sign_in();
    Ok(())
}

/// Signs out here and at the server.
#[tauri::command]
pub async fn sign_out(shell: Shared<'_>) -> Result<SignOutOutcome, UiError> {
    shell.sign_out().await
}

/// The signed-in user as the server knows them.
#[tauri::command]
pub async fn me(shell: Shared<'_>) -> Result<Me, UiError> {
    Ok(shell.engine().await?.me().await?)
}

/// The user touched the window (the UI sends this at most every 10 s).
#[tauri::command]
pub async fn report_activity(shell: Shared<'_>) -> Result<(), UiError> {
    shell.report_activity().await
}

/// One notification as the UI lists it.
#[derive(Debug, Clone, Serialize)]
pub struct NotificationList {
    /// Newest first.
    pub items: Vec<tessera_protocol::Notification>,
    /// Unread, retained notifications.
    pub unread: u64,
    /// The number of the last event relayed before this was read (see `shell::relay`).
    pub event_seq: u64,
}

/// Notifications, newest first (from the local cache, so they show offline too).
#[tauri::command]
pub async fn notifications_list(
    app: tauri::AppHandle,
    shell: Shared<'_>,
    unread_only: bool,
    limit: u32,
) -> Result<NotificationList, UiError> {
    let feed = shell.feed().await?;
    let event_seq = shell.event_seq(); // before the read, which then reflects every event up to it
    let items = feed.list(unread_only, limit.clamp(1, 500) as usize).await?;
    let unread = feed.unread_count().await?;
    crate::tray::set_unread(&app, unread);
    Ok(NotificationList { items, unread, event_seq })
}

/// Marks one notification read (queued while offline).
#[tauri::command]
pub async fn notifications_mark_read(shell: Shared<'_>, seq: i64) -> Result<(), UiError> {
    Ok(shell.feed().await?.mark_read(seq).await?)
}

/// Marks every notification read; returns how many were newly marked.
#[tauri::command]
pub async fn notifications_mark_all_read(shell: Shared<'_>) -> Result<u64, UiError> {
    Ok(shell.feed().await?.mark_all_read().await?)
}

/// The user's sessions (devices); `current` marks this one.
#[tauri::command]
pub async fn sessions_list(shell: Shared<'_>) -> Result<SessionList, UiError> {
    Ok(shell.engine().await?.sessions().await?)
}

/// Signs one device out (this one too, if it is its id).
#[tauri::command]
pub async fn session_revoke(shell: Shared<'_>, session_id: String) -> Result<(), UiError> {
    Ok(shell.engine().await?.revoke_session(&session_id).await?)
}

/// Signs every other device out.
#[tauri::command]
pub async fn sessions_revoke_others(shell: Shared<'_>) -> Result<RevokeOthersResponse, UiError> {
    Ok(shell.engine().await?.revoke_other_sessions().await?)
}

/// The newest `limit` lines of this machine's audit log (shared with the CLI).
#[tauri::command]
pub async fn audit_local(shell: Shared<'_>, limit: u32) -> Result<Vec<AuditEntry>, UiError> {
    let data = shell.dirs.data.clone();
    let read =
        tauri::async_runtime::spawn_blocking(move || AuditLog::open(&data)?.read_recent(limit.clamp(1, 500) as usize));
    let entries = read.await.map_err(|e| UiError::new(UiCode::Internal, e.to_string()))?;
    entries.map_err(|e| UiError::new(UiCode::Internal, format!("audit log: {e}")))
}

/// The user's audit events kept by the server.
#[tauri::command]
pub async fn audit_server(shell: Shared<'_>) -> Result<AuditList, UiError> {
    Ok(shell.engine().await?.server_audit().await?)
}

/// Settings as the Settings screen shows them.
#[derive(Debug, Clone, Serialize)]
pub struct SettingsView {
    /// Server to sign in to.
    pub server_url: String,
    /// Idle sign-out after this many seconds.
    pub idle_timeout_secs: u64,
    /// The server's idle timeout: the most the app may allow (`None`: server not reachable).
    pub idle_timeout_max_secs: Option<u64>,
    /// OS notifications while the window is not focused.
    pub os_notifications: bool,
    /// Signing out signs the browser out at the server too.
    pub sign_out_browser: bool,
}

/// A change from the Settings screen; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SettingsPatch {
    /// New server URL (only while signed out).
    pub server_url: Option<String>,
    /// New idle timeout in seconds (the UI picks whole minutes; at most the server's limit).
    pub idle_timeout_secs: Option<u64>,
    /// OS notifications on or off.
    pub os_notifications: Option<bool>,
    /// Sign the browser out at the server too when signing out.
    pub sign_out_browser: Option<bool>,
}

/// The settings.
#[tauri::command]
pub async fn settings_get(shell: Shared<'_>) -> Result<SettingsView, UiError> {
    shell.settings_view().await
}

/// Changes the settings (validated) and returns them.
#[tauri::command]
pub async fn settings_set(shell: Shared<'_>, patch: SettingsPatch) -> Result<SettingsView, UiError> {
    shell.apply_settings(patch).await?;
    shell.settings_view().await
}

/// What the Diagnostics screen shows. No token.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnostics {
    /// Tessera's version.
    pub app_version: String,
    /// Tauri's version.
    pub tauri_version: String,
    /// `linux`, `windows`, `macos`.
    pub os: String,
    /// The server.
    pub server_url: String,
    /// Session state name.
    pub state: String,
    /// Vault tier and why.
    pub storage: StorageView,
    /// Refresh counters.
    pub metrics: MetricsSnapshot,
    /// Server clock minus local clock.
    pub clock_skew_ms: Option<i64>,
    /// The idle watch: source (`x11`, `mutter`, `unknown`), timeout, countdown.
    pub idle: Option<tessera_session::IdleStatus>,
    /// How notifications arrive (`live`, `polling`, `offline`).
    pub feed_mode: Option<tessera_session::FeedMode>,
    /// Directory of the rotating log files.
    pub log_dir: String,
    /// The engine's data dir (audit log, lock files).
    pub data_dir: String,
    /// The app's settings file.
    pub settings_path: String,
}

/// Versions, counters and paths.
#[tauri::command]
pub async fn diagnostics(shell: Shared<'_>) -> Result<Diagnostics, UiError> {
    let engine = shell.engine().await?;
    let status = engine.status();
    Ok(Diagnostics {
        app_version: env!("CARGO_PKG_VERSION").to_owned(),
        tauri_version: tauri::VERSION.to_owned(),
        os: std::env::consts::OS.to_owned(),
        server_url: status.server_url,
        state: status.state.name().to_owned(),
        storage: shell.storage_status().await,
        metrics: engine.metrics(),
        clock_skew_ms: status.clock_skew_ms,
        idle: shell.idle_status().await,
        feed_mode: shell.feed().await.ok().map(|f| f.mode()),
        log_dir: shell.log_dir.display().to_string(),
        data_dir: shell.dirs.data.display().to_string(),
        settings_path: shell.settings_path.display().to_string(),
    })
}
