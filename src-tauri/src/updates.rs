//! Signed updates through `tauri-plugin-updater`.
//!
//! The release's public key is embedded in the app (`plugins.updater.pubkey` in
//! `tauri.conf.json`); the plugin checks every downloaded artifact against it (minisign, Ed25519)
//! and against the version the signature was made for (`requireSignedVersion`) before anything
//! is installed. A tampered or foreign artifact fails with [`tauri_plugin_updater::Error::Minisign`]
//! ("The signature verification failed") and is never written to disk.
//!
//! For tests and local update rehearsals, **debug builds only** read `TESSERA_UPDATER_PUBKEY` (a
//! public key as `tauri signer generate` prints it) and `TESSERA_UPDATER_ENDPOINT` (a
//! `latest.json` URL). A release build ignores both and trusts only the embedded key.

use tauri::plugin::TauriPlugin;
use tauri::{AppHandle, Runtime};
use tauri_plugin_updater::UpdaterExt;

/// Replaces the embedded public key (debug builds only).
pub const PUBKEY_ENV: &str = "TESSERA_UPDATER_PUBKEY";
/// Replaces the configured `latest.json` endpoints (debug builds only).
pub const ENDPOINT_ENV: &str = "TESSERA_UPDATER_ENDPOINT";

/// The updater plugin with the embedded key, or `TESSERA_UPDATER_PUBKEY` in a debug build.
pub fn plugin<R: Runtime>() -> TauriPlugin<R, tauri_plugin_updater::Config> {
    plugin_with_pubkey(debug_override(PUBKEY_ENV))
}

/// The updater plugin trusting `pubkey` instead of the embedded key when it is `Some` (tests).
pub fn plugin_with_pubkey<R: Runtime>(pubkey: Option<String>) -> TauriPlugin<R, tauri_plugin_updater::Config> {
    let builder = tauri_plugin_updater::Builder::new();
    match pubkey {
        Some(key) => builder.pubkey(key),
        None => builder,
    }
    .build()
}

/// A newer release whose artifact was downloaded and passed signature verification.
#[derive(Debug)]
pub struct VerifiedUpdate {
    /// The running version.
    pub current_version: String,
    /// The version `latest.json` announced (and the signature vouches for).
    pub version: String,
    /// The platform key used in `latest.json` (e.g. `linux-x86_64-deb`).
    pub target: String,
    /// The verified artifact (a `.deb`, `.rpm`, `.msi`/`.exe`, `.app.tar.gz` …).
    pub artifact: Vec<u8>,
}

/// Asks the endpoints (`endpoints`, else `TESSERA_UPDATER_ENDPOINT` in a debug build, else the
/// configured ones) for a newer release, downloads it and verifies its signature. Installs
/// nothing. `Ok(None)` means up to date.
pub async fn fetch_verified<R: Runtime>(
    app: &AppHandle<R>,
    endpoints: Option<Vec<tauri::Url>>,
) -> Result<Option<VerifiedUpdate>, tauri_plugin_updater::Error> {
    let mut builder = app.updater_builder();
    let from_env = debug_override(ENDPOINT_ENV).and_then(|u| tauri::Url::parse(&u).ok()).map(|u| vec![u]);
    if let Some(endpoints) = endpoints.or(from_env) {
        builder = builder.endpoints(endpoints)?;
    }
    let Some(update) = builder.build()?.check().await? else {
        return Ok(None);
    };
    let artifact = update.download(|_, _| {}, || {}).await?;
    Ok(Some(VerifiedUpdate {
        current_version: update.current_version.clone(),
        version: update.version.clone(),
        target: update.target.clone(),
        artifact,
    }))
}

fn debug_override(name: &str) -> Option<String> {
    if cfg!(debug_assertions) { std::env::var(name).ok().filter(|v| !v.trim().is_empty()) } else { None }
}
