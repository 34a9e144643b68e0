//! Tauri's build step. App commands are listed here so tauri-build generates an `allow-<command>`
//! permission for each; the webview may call only those its capability (capabilities/main.json)
//! grants. A command missing from this list cannot be allowed at all.

fn main() {
    let manifest = tauri_build::AppManifest::new().commands(tessera_commands());
    if let Err(e) = tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest)) {
        // A build script reports failure by panicking; there is no other channel.
        panic!("tauri-build failed: {e:#}");
    }
}

/// Every command in `src/commands.rs` (kept in the same order as `generate_handler!`).
fn tessera_commands() -> &'static [&'static str] {
    &[
        "app_status",
        "subscribe",
        "sign_in",
        "sign_out",
        "me",
        "report_activity",
        "notifications_list",
        "notifications_mark_read",
        "notifications_mark_all_read",
        "sessions_list",
        "session_revoke",
        "sessions_revoke_others",
        "audit_local",
        "audit_server",
        "settings_get",
        "settings_set",
        "diagnostics",
    ]
}
