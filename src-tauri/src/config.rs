//! Where the app keeps things and which server it talks to.
//!
//! - The engine's data dir and `current.json` are the **CLI's** ([`tessera_session::local`]):
//!   the app and `tessera` share one keychain record, one refresh lock and one audit log, so
//!   either can pick up the other's session.
//! - The app's own settings are `settings.json` in the app config dir (`dev.tessera.desktop`).
//! - Server URL: `--server URL`, then `TESSERA_SERVER_URL`, then `settings.json`, then the CLI's
//!   current account, then the demo default.

use std::path::Path;

use serde::{Deserialize, Serialize};
use tessera_session::local::write_atomically;
use tessera_session::{Account, CurrentAccountFile, LocalDirs, normalize_server_url};

use crate::error::{UiCode, UiError};

/// The server used when nothing says otherwise (`tools/demo`'s address).
pub const DEFAULT_SERVER_URL: &str = "http://127.0.0.1:8787";
/// Environment variable naming the server.
pub const SERVER_ENV: &str = "TESSERA_SERVER_URL";

/// The app's settings (`settings.json` in the app config dir). Every field optional on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Server to sign in to (the sign-in form starts with it).
    pub server_url: Option<String>,
    /// Sign out after this much inactivity, in seconds (never more than the server allows).
    pub idle_timeout_secs: Option<u64>,
    /// Show an OS notification for a new notification while the window is not focused.
    pub os_notifications: bool,
    /// Signing out also opens the server's sign-out page in the browser, ending the browser's
    /// session there (the next sign-in asks for the password again).
    pub sign_out_browser: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self { server_url: None, idle_timeout_secs: None, os_notifications: true, sign_out_browser: false }
    }
}

impl Settings {
    /// Reads `path`; defaults when it is missing, and (logged) when it is damaged.
    pub fn load(path: &Path) -> Self {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "settings file is damaged; using defaults");
                Self::default()
            }),
            Err(_) => Self::default(),
        }
    }

    /// Writes `path` atomically.
    pub fn store(&self, path: &Path) -> std::io::Result<()> {
        write_atomically(path, &serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)
    }
}

/// `--server URL` / `--server=URL` from the command line, if given.
pub fn server_from_args(args: impl IntoIterator<Item = String>) -> Option<String> {
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--server" {
            return args.next();
        }
        if let Some(url) = arg.strip_prefix("--server=") {
            return Some(url.to_owned());
        }
    }
    None
}

/// The server URL by precedence (see the module doc), normalized like the CLI's.
pub fn resolve_server(
    args: Option<String>,
    env: Option<String>,
    settings: &Settings,
    current: Option<&Account>,
) -> String {
    let url = args
        .or(env.filter(|v| !v.trim().is_empty()))
        .or_else(|| settings.server_url.clone())
        .or_else(|| current.map(|c| c.server_url().to_owned()))
        .unwrap_or_else(|| DEFAULT_SERVER_URL.to_owned());
    normalize_server_url(&url)
}

/// The CLI's current account; `None` when there is none or it cannot be read (logged: the
/// app then starts at the sign-in screen).
pub fn current_account(dirs: &LocalDirs) -> Option<Account> {
    CurrentAccountFile::shared(dirs)
        .load()
        .map_err(|e| tracing::warn!(code = e.code(), "ignoring the current account: {e}"))
        .ok()
        .flatten()
}

/// Checks a server URL the user typed.
pub fn check_server_url(url: &str) -> Result<String, UiError> {
    let url = normalize_server_url(url);
    let ok = (url.starts_with("http://") || url.starts_with("https://")) && url.len() > "https://".len();
    if ok {
        Ok(url)
    } else {
        Err(UiError::new(UiCode::InvalidInput, "The server URL must start with http:// or https://."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_url_precedence_is_args_env_settings_current_default() {
        let settings = Settings { server_url: Some("http://settings".into()), ..Settings::default() };
        let current = Account::new("http://current", "alice");
        let pick = |a: Option<&str>, e: Option<&str>, s: &Settings, c: Option<&Account>| {
            resolve_server(a.map(Into::into), e.map(Into::into), s, c)
        };
        assert_eq!(
            pick(Some("http://arg/"), Some("http://env"), &settings, Some(&current)),
            "http://arg",
            "--server wins"
        );
        assert_eq!(pick(None, Some("http://env"), &settings, Some(&current)), "http://env", "then the environment");
        assert_eq!(pick(None, Some(" "), &settings, Some(&current)), "http://settings", "a blank variable is unset");
        assert_eq!(pick(None, None, &Settings::default(), Some(&current)), "http://current", "then the CLI's account");
        assert_eq!(pick(None, None, &Settings::default(), None), DEFAULT_SERVER_URL, "then the demo default");
    }

    #[test]
    fn server_flag_is_read_in_both_spellings() {
        let args = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(server_from_args(args(&["app", "--server", "http://a"])), Some("http://a".into()), "two words");
        assert_eq!(server_from_args(args(&["app", "--server=http://b"])), Some("http://b".into()), "one word");
        assert_eq!(server_from_args(args(&["app"])), None, "absent");
    }

    #[test]
    fn settings_default_and_partial_files_load() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("settings.json");
        assert_eq!(Settings::load(&path), Settings::default(), "a missing file means defaults");
        std::fs::write(&path, r#"{"idle_timeout_secs":300}"#).expect("write");
        let s = Settings::load(&path);
        assert_eq!((s.idle_timeout_secs, s.os_notifications), (Some(300), true), "missing fields take defaults");
        s.store(&path).expect("store");
        assert_eq!(Settings::load(&path), s, "settings round-trip");
    }
}
