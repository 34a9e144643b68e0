//! Tauri's build step. App commands are listed here so tauri-build generates an `allow-<command>`
//! permission for each; the webview may call only those its capability (capabilities/main.json)
//! grants. A command missing from this list cannot be allowed at all.

#[path = "build/updater_key.rs"]
mod updater_key;

fn main() {
    refuse_dev_updater_key_in_release();
    let manifest = tauri_build::AppManifest::new().commands(tessera_commands());
    if let Err(e) = tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest)) {
        // A build script reports failure by panicking; there is no other channel.
        panic!("tauri-build failed: {e:#}");
    }
}

/// A release build (`PROFILE=release`, or debug assertions off) must not embed the development
/// updater key unless `TESSERA_ALLOW_DEV_UPDATER_KEY=1` (see `build/updater_key.rs`).
fn refuse_dev_updater_key_in_release() {
    for file in ["tauri.conf.json", "tauri.linux.conf.json", "tauri.windows.conf.json", "tauri.macos.conf.json"] {
        println!("cargo:rerun-if-changed={file}");
    }
    println!("cargo:rerun-if-changed=updater-dev.key.pub");
    println!("cargo:rerun-if-changed=build/updater_key.rs");
    println!("cargo:rerun-if-env-changed=TAURI_CONFIG");
    println!("cargo:rerun-if-env-changed={}", updater_key::ALLOW_DEV_KEY_ENV);
    let env = |name: &str| std::env::var(name).ok();
    let release = env("PROFILE").as_deref() == Some("release") || env("CARGO_CFG_DEBUG_ASSERTIONS").is_none();
    let allow_dev = env(updater_key::ALLOW_DEV_KEY_ENV).as_deref() == Some("1");
    let manifest_dir = std::path::PathBuf::from(env("CARGO_MANIFEST_DIR").unwrap_or_else(|| ".".into()));
    let target_os = env("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let checked =
        updater_key::check_build(&manifest_dir, &target_os, env("TAURI_CONFIG").as_deref(), release, allow_dev);
    if let Err(e) = checked {
        // A build script reports failure by panicking; there is no other channel.
        panic!("{e}");
    }
}

/// Every command in `src/commands.rs` (kept in the same order as `generate_handler!`).
fn tessera_commands() -> &'static [&'static str] {
    &[
        "app_status",
        "subscribe",
        "sign_in",
        "browser_sign_in_begin",
        "browser_sign_in_finish",
        "browser_sign_in_cancel",
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
