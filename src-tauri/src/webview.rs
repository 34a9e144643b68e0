//! WebKitGTK settings Tauri does not expose.
//!
//! The UI is a few forms and lists: WebKit's GPU compositing (a GL context, layer textures and
//! glyph atlases per web process, held whether or not anything animates) buys it nothing, so the
//! main window renders on the CPU. `tools/measure-app` sees the difference in the web process's
//! memory (docs/app.md, "Memory and start-up").

use tauri::{App, Manager};

/// Applies the settings to the main window's webview. Failing is harmless: the defaults stay.
pub fn tune(app: &App) {
    let Some(window) = app.get_webview_window("main") else { return };
    #[cfg(target_os = "linux")]
    let applied = window.with_webview(|webview| {
        use webkit2gtk::{HardwareAccelerationPolicy, SettingsExt, WebViewExt};
        if let Some(settings) = webview.inner().settings() {
            settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
        }
    });
    #[cfg(not(target_os = "linux"))]
    let applied: tauri::Result<()> = {
        let _ = window;
        Ok(())
    };
    if let Err(e) = applied {
        tracing::info!(error = %e, "webview settings not applied");
    }
}
