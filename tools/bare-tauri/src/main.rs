//! A bare Tauri 2 window for `tools/measure-app`: one static page, no plugins, no commands.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    if let Err(e) = tauri::Builder::default().run(tauri::generate_context!()) {
        eprintln!("bare-tauri: {e}");
        std::process::exit(1);
    }
}
