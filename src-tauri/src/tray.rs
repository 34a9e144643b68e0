//! The tray icon: unread count in its title and tooltip, a menu to show the window or quit.
//!
//! Where no tray host exists the app runs without one. On Linux the tray needs
//! libayatana-appindicator3 at run time, which tray-icon loads on first use and panics without:
//! the library is looked for first, and its absence is logged, not fatal.

use tauri::menu::{Menu, MenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{App, AppHandle};

/// The tray's id.
const TRAY_ID: &str = "main";

/// Creates the tray icon, or logs why there is none.
pub fn create(app: &App) {
    if !tray_library_present() {
        tracing::info!("no libayatana-appindicator3 / libappindicator3: running without a tray icon");
        return;
    }
    match build(app) {
        Ok(_) => tracing::info!("tray icon created"),
        Err(e) => tracing::warn!(error = %e, "no tray icon"),
    }
}

fn build(app: &App) -> tauri::Result<TrayIcon> {
    let show = MenuItem::with_id(app, "show", "Show Tessera", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&show, &quit])?;
    let mut builder = TrayIconBuilder::with_id(TRAY_ID).tooltip("Tessera").menu(&menu).on_menu_event(|app, event| {
        match event.id().as_ref() {
            "show" => crate::focus_main(app),
            "quit" => app.exit(0),
            _ => {}
        }
    });
    if let Some(icon) = app.default_window_icon().cloned() {
        builder = builder.icon(icon);
    }
    builder.build(app)
}

/// Shows the unread count (0 clears it).
pub fn set_unread(app: &AppHandle, unread: u64) {
    let Some(tray) = app.tray_by_id(TRAY_ID) else { return };
    let (title, tooltip) = match unread {
        0 => (None, "Tessera".to_owned()),
        n => (Some(n.to_string()), format!("Tessera — {n} unread")),
    };
    if let Err(e) = tray.set_title(title.as_deref()).and_then(|()| tray.set_tooltip(Some(&tooltip))) {
        tracing::debug!(error = %e, "tray update failed");
    }
}

/// Whether the tray's run-time library can be loaded (always true off Linux).
fn tray_library_present() -> bool {
    if !cfg!(target_os = "linux") {
        return true;
    }
    let names = ["libayatana-appindicator3.so.1", "libappindicator3.so.1"];
    let multiarch = format!("/usr/lib/{}-linux-gnu", std::env::consts::ARCH);
    let dirs = [multiarch.as_str(), "/usr/lib64", "/usr/lib", "/usr/local/lib", "/lib64", "/lib"];
    let extra = std::env::var("LD_LIBRARY_PATH").unwrap_or_default();
    dirs.iter()
        .copied()
        .chain(extra.split(':').filter(|d| !d.is_empty()))
        .any(|dir| names.iter().any(|name| std::path::Path::new(dir).join(name).exists()))
}
