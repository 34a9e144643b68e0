//! A release build must not embed the development updater key (`updater-dev.key.pub`, whose
//! private half is in the repository): anyone could sign "updates" that build would install.
//!
//! Compared by **minisign key id**, not by string: a Tauri updater key is base64 of the minisign
//! `.pub` text, whose second line is base64 of `"Ed"` + the 8-byte key id + the 32-byte public
//! key. Rewrapping, another comment line or other whitespace does not change the id.
//!
//! Used by `build.rs` (which fails the build) and by `tests/release_config.rs`.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The switch that lets a release-profile build embed the development key (local measurements,
/// demos, a manual workflow run without the release key). Never set for a shipped build.
pub const ALLOW_DEV_KEY_ENV: &str = "TESSERA_ALLOW_DEV_UPDATER_KEY";

/// The minisign key id of a Tauri updater public key (base64 of the minisign `.pub` text).
pub fn key_id(tauri_pubkey: &str) -> Result<[u8; 8], String> {
    let compact: String = tauri_pubkey.chars().filter(|c| !c.is_whitespace()).collect();
    let text = STANDARD.decode(compact).map_err(|e| format!("not base64: {e}"))?;
    let text = String::from_utf8(text).map_err(|_| "not minisign text".to_owned())?;
    // The key line is the one after the `untrusted comment:` line (or the only line).
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
        .ok_or_else(|| "no key line".to_owned())?;
    let raw = STANDARD.decode(line).map_err(|e| format!("key line is not base64: {e}"))?;
    if raw.len() != 42 || !raw.starts_with(b"Ed") {
        return Err(format!("not an Ed25519 minisign public key ({} bytes)", raw.len()));
    }
    let mut id = [0; 8];
    id.copy_from_slice(&raw[2..10]);
    Ok(id)
}

/// The key id as minisign prints it (`minisign public key: F10056B46A2A3B41`).
pub fn key_id_hex(id: &[u8; 8]) -> String {
    id.iter().rev().map(|b| format!("{b:02X}")).collect()
}

/// `plugins.updater.pubkey` as the build sees it: `tauri.conf.json`, then the platform file,
/// then `TAURI_CONFIG` (what `tauri build --config` passes), the last one setting it winning.
pub fn embedded_pubkey(configs: &[serde_json::Value]) -> Option<String> {
    configs.iter().rev().find_map(|c| c["plugins"]["updater"]["pubkey"].as_str().map(str::to_owned))
}

/// Refuses a `release` build whose `embedded` key has the id of `dev`, unless `allow_dev`.
pub fn refuse_dev_key(embedded: Option<&str>, dev: &str, release: bool, allow_dev: bool) -> Result<(), String> {
    let (Some(embedded), true) = (embedded, release) else { return Ok(()) };
    let dev_id = key_id(dev).map_err(|e| format!("updater-dev.key.pub: {e}"))?;
    let id = key_id(embedded).map_err(|e| format!("plugins.updater.pubkey is not a minisign public key: {e}"))?;
    if id != dev_id || allow_dev {
        return Ok(());
    }
    Err(format!(
        "this release build would embed the development updater key (key id {}, src-tauri/updater-dev.key.pub, \
         private half in the repository): pass the release key (TESSERA_RELEASE_PUBKEY through tools/package or \
         the release workflow), or set {ALLOW_DEV_KEY_ENV}=1 for a build that is never shipped (docs/release.md)",
        key_id_hex(&id)
    ))
}

/// The whole check for the crate in `manifest_dir` building for `target_os`.
pub fn check_build(
    manifest_dir: &Path,
    target_os: &str,
    tauri_config_env: Option<&str>,
    release: bool,
    allow_dev: bool,
) -> Result<(), String> {
    if !release {
        return Ok(());
    }
    let read = |name: &str| -> Result<Option<serde_json::Value>, String> {
        match std::fs::read_to_string(manifest_dir.join(name)) {
            Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| format!("{name}: {e}")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{name}: {e}")),
        }
    };
    let mut configs = Vec::new();
    configs.extend(read("tauri.conf.json")?);
    configs.extend(read(&format!("tauri.{target_os}.conf.json"))?);
    if let Some(env) = tauri_config_env {
        configs.push(serde_json::from_str(env).map_err(|e| format!("TAURI_CONFIG: {e}"))?);
    }
    let dev = std::fs::read_to_string(manifest_dir.join("updater-dev.key.pub"))
        .map_err(|e| format!("updater-dev.key.pub: {e}"))?;
    refuse_dev_key(embedded_pubkey(&configs).as_deref(), &dev, release, allow_dev)
}
