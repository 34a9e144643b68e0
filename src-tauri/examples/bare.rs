//! A bare Tauri 2 window for comparison measurements (`tools/measure-app`): the same Tauri,
//! webview and build profile as the app, with one static page (`ui/bare.html`), no plugins, no
//! commands, no engine.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use tauri::{WebviewUrl, WebviewWindowBuilder};

fn main() {
    let mut context = tauri::generate_context!();
    // Not the app's window (it would load the app's UI): one of our own below.
    context.config_mut().app.windows.clear();
    let result = tauri::Builder::default()
        .setup(|app| {
            WebviewWindowBuilder::new(app, "main", WebviewUrl::App("bare.html".into())).title("bare").build()?;
            Ok(())
        })
        .run(context);
    if let Err(e) = result {
        eprintln!("bare: {e}");
        std::process::exit(1);
    }
}
