//! The Tessera desktop app's entry point; everything is in the library (`lib.rs`).
// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    tessera_app::run();
}
