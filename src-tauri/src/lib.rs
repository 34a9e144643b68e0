//! Tessera's desktop app: a thin Tauri 2 shell over the `tessera-session` engine.
//!
//! - [`commands`]: the commands the webview may call (≈10 lines each over the engine);
//! - [`shell`]: the state they share (vault tier, engine per server, event relay);
//! - [`error`]: the `{code, message}` shape and its closed set of codes;
//! - [`config`]: settings file, server URL precedence, the directories shared with the CLI;
//! - plugins: single instance (a second launch focuses the first), OS notifications, window
//!   state; a tray icon where the desktop has a tray host;
//! - [`updates`]: signed updates (tauri-plugin-updater, embedded public key).
//!
//! The webview never receives a token: no command returns one, the event relay carries the
//! engine's token-free events, and the CSP (`tauri.conf.json`) allows no remote origin.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod commands;
pub mod config;
pub mod error;
pub mod launch;
mod logging;
pub mod shell;
mod tray;
pub mod updates;
mod webview;

use std::sync::Arc;

use tauri::{App, AppHandle, Manager};
use tauri_plugin_notification::NotificationExt;
use tessera_session::SessionEvent;

use tessera_session::LocalDirs;

use crate::config::{SERVER_ENV, Settings, current_account};
use crate::shell::{EventHook, Shell};

/// Builds and runs the app; returns when it exits. `--help`, `--version` and a missing display
/// end the process first, with a line and a status instead of a window (see [`launch`]).
pub fn run() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let launch::Launch::Exit { code, text } = launch::decide(&args, launch::display_usable) {
        if code == 0 {
            print!("{text}");
        } else {
            eprint!("{text}");
        }
        std::process::exit(code);
    }
    let app = tauri::Builder::default()
        // First, as its docs ask: a second launch hands over to the first and exits.
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| focus_main(app)))
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .plugin(tauri_plugin_notification::init())
        .plugin(updates::plugin())
        .setup(|app| setup(app).map_err(Into::into))
        .invoke_handler(tauri::generate_handler![
            commands::app_status,
            commands::subscribe,
            commands::sign_in,
            commands::browser_sign_in_begin,
            commands::browser_sign_in_finish,
            commands::browser_sign_in_cancel,
            commands::sign_out,
            commands::me,
            commands::report_activity,
            commands::notifications_list,
            commands::notifications_mark_read,
            commands::notifications_mark_all_read,
            commands::sessions_list,
            commands::session_revoke,
            commands::sessions_revoke_others,
            commands::audit_local,
            commands::audit_server,
            commands::settings_get,
            commands::settings_set,
            commands::diagnostics,
        ])
        .build(tauri::generate_context!());
    match app {
        Ok(app) => app.run(|handle, event| {
            if let tauri::RunEvent::Exit = event
                && let Some(shell) = handle.try_state::<Arc<Shell>>()
            {
                let shell = shell.inner().clone();
                // A memory-only session cannot outlive the app: revoke it rather than leave
                // an unreachable session in the devices list (bounded: the server may be gone).
                tauri::async_runtime::block_on(async move {
                    let limit = std::time::Duration::from_secs(3);
                    let _ = tokio::time::timeout(limit, shell.end_memory_session()).await;
                });
            }
        }),
        Err(e) => {
            eprintln!("tessera: cannot start the app: {e}");
            std::process::exit(1);
        }
    }
}

/// Logging, the shell, start-up restore and the tray.
fn setup(app: &mut App) -> Result<(), String> {
    let paths = app.path();
    let log_dir = paths.app_log_dir().map_err(|e| format!("no log directory: {e}"))?;
    let config_dir = paths.app_config_dir().map_err(|e| format!("no config directory: {e}"))?;
    match logging::init(&log_dir) {
        Ok(guard) => {
            app.manage(guard);
        }
        Err(e) => eprintln!("tessera: logging disabled: {e}"),
    }
    tracing::info!(version = env!("CARGO_PKG_VERSION"), log_dir = %log_dir.display(), "starting");
    let dirs = LocalDirs::from_env().map_err(|e| e.to_string())?;
    let settings_path = config_dir.join("settings.json");
    let server_url = config::resolve_server(
        config::server_from_args(std::env::args().skip(1)),
        std::env::var(SERVER_ENV).ok(),
        &Settings::load(&settings_path),
        current_account(&dirs).as_ref(),
    );
    let shell = Arc::new(Shell::new(dirs, settings_path, log_dir, event_hook(app.handle().clone())));
    app.manage(shell.clone());
    tauri::async_runtime::spawn(async move { shell.start(server_url).await });
    tray::create(app);
    webview::tune(app);
    Ok(())
}

/// What the shell does with engine events besides forwarding them: an OS notification for a new
/// notification while the window is not focused (if enabled).
fn event_hook(app: AppHandle) -> EventHook {
    Arc::new(move |event: &SessionEvent| {
        if let SessionEvent::Notification { notification } = event {
            if let Some(shell) = app.try_state::<Arc<Shell>>() {
                let (shell, app) = (shell.inner().clone(), app.clone());
                tauri::async_runtime::spawn(async move {
                    let unread = match shell.feed().await {
                        Ok(feed) => feed.unread_count().await.ok(),
                        Err(_) => None,
                    };
                    if let Some(unread) = unread {
                        tray::set_unread(&app, unread);
                    }
                });
            }
            let enabled = app.try_state::<Arc<Shell>>().is_some_and(|s| s.settings().os_notifications);
            let focused = app.get_webview_window("main").and_then(|w| w.is_focused().ok()).unwrap_or(false);
            if enabled && !focused {
                let body = notification_text(notification);
                if let Err(e) = app.notification().builder().title("Tessera").body(body).show() {
                    tracing::info!(error = %e, "OS notification not shown");
                }
            }
        }
    })
}

/// One line for an OS notification: the payload's `title` or `text`, else the type.
fn notification_text(n: &tessera_protocol::Notification) -> String {
    ["title", "message", "text", "body"]
        .iter()
        .find_map(|k| n.payload.get(*k).and_then(|v| v.as_str()))
        .map_or_else(|| n.kind.replace(['.', '_'], " "), str::to_owned)
}

/// Shows, unminimizes and focuses the main window.
pub(crate) fn focus_main(app: &AppHandle) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
    }
}
