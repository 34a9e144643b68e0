//! A bare Tauri 2 window for `tools/measure-app`: one static page, no plugins, no commands.
//! `--cpu-rendering` applies the one webview setting the app makes (src-tauri/src/webview.rs).
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use tauri::Manager;

fn main() {
    let cpu_rendering = std::env::args().any(|a| a == "--cpu-rendering");
    let builder = tauri::Builder::default().setup(move |app| {
        if let (true, Some(window)) = (cpu_rendering, app.get_webview_window("main")) {
            #[cfg(target_os = "linux")]
            window.with_webview(|webview| {
                use webkit2gtk::{HardwareAccelerationPolicy, SettingsExt, WebViewExt};
                if let Some(settings) = webview.inner().settings() {
                    settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
                }
            })?;
        }
        Ok(())
    });
    if let Err(e) = builder.run(tauri::generate_context!()) {
        eprintln!("bare-tauri: {e}");
        std::process::exit(1);
    }
}
