//! What the engine is told by the app that embeds it.

use std::path::PathBuf;
use std::time::Duration;

use tessera_protocol::DeviceInfo;

use crate::account::{Account, CurrentAccountFile, normalize_server_url};
use crate::client::ClientConfig;
use crate::local::LocalDirs;

/// Environment variable: idle timeout in seconds.
pub const ENV_IDLE_TIMEOUT: &str = "TESSERA_IDLE_TIMEOUT_SECS";
/// Environment variable: idle warning in seconds.
pub const ENV_IDLE_WARNING: &str = "TESSERA_IDLE_WARNING_SECS";
/// Environment variable: sign out when the screen locks.
pub const ENV_SIGN_OUT_ON_LOCK: &str = "TESSERA_SIGN_OUT_ON_LOCK";

/// An invalid setting, naming the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The value cannot be used.
    #[error("invalid {variable}={value:?}: {message}")]
    Invalid {
        /// The environment variable.
        variable: &'static str,
        /// What it held.
        value: String,
        /// Why it was refused.
        message: String,
    },
}

impl ConfigError {
    fn invalid(variable: &'static str, value: &str, message: &str) -> Self {
        Self::Invalid { variable, value: value.to_owned(), message: message.to_owned() }
    }
}

fn parse_secs(variable: &'static str, value: &str) -> Result<u64, ConfigError> {
    value.trim().parse::<u64>().map_err(|_| ConfigError::invalid(variable, value, "expected a whole number of seconds"))
}

/// The idle-timeout rule, applied to every timeout a front end is given (settings, environment,
/// [`IdleWatch::set_timeout`](crate::IdleWatch::set_timeout)): at least a second, and never longer than the server's idle
/// timeout once that is known (`server_max`): the server would end the session first. A timeout
/// given before the server is known is clamped to it at sign-in instead, with a
/// `Warning{IdleTimeoutClamped}`. Returns the timeout when it is allowed.
pub fn check_idle_timeout(requested: Duration, server_max: Option<Duration>) -> Result<Duration, IdleTimeoutRefused> {
    if requested < MIN_IDLE_TIMEOUT {
        return Err(IdleTimeoutRefused(format!("{} is shorter than a second", span(requested))));
    }
    match server_max {
        Some(max) if requested > max => Err(IdleTimeoutRefused(format!(
            "{} is longer than the server's idle timeout ({})",
            span(requested),
            span(max)
        ))),
        _ => Ok(requested),
    }
}

/// The shortest idle timeout [`check_idle_timeout`] allows.
pub const MIN_IDLE_TIMEOUT: Duration = Duration::from_secs(1);

/// `15 minutes`, `90 s`, `500 ms`: a duration as the rule's messages say it.
fn span(d: Duration) -> String {
    match (d.as_secs(), d.subsec_millis()) {
        (0, 0) => "0 s".to_owned(),
        (0, ms) => format!("{ms} ms"),
        (60, 0) => "1 minute".to_owned(),
        (s, 0) if s % 60 == 0 => format!("{} minutes", s / 60),
        (s, _) => format!("{s} s"),
    }
}

/// Why [`check_idle_timeout`] refused a timeout, in words for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IdleTimeoutRefused(pub String);

/// Settings of a [`crate::SessionEngine`]. Holds no credential.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// HTTP settings: server URL, client id (`tessera-desktop`, `tessera-cli`), device, limits.
    pub client: ClientConfig,
    /// Directory for the refresh lock, the audit log and the notification cache (never a token).
    pub data_dir: PathBuf,
    /// Which account is current on this machine: written when a session reaches the keychain,
    /// read by [`restore`](crate::SessionEngine::restore), forgotten when the keychain holds nothing
    /// of it any more (signed out, session ended). Shared by the
    /// app and the CLI ([`EngineConfig::for_dirs`]); `current.json` in `data_dir` otherwise.
    pub current_account: CurrentAccountFile,
    /// Refresh this long before the access token expires (default 60 s; plus jitter).
    pub refresh_lead: Duration,
    /// Largest random extra lead, as a fraction of the token's lifetime (default 0.1) ...
    pub jitter_ratio: f64,
    /// ... and never more than this (default 30 s).
    pub max_jitter: Duration,
    /// Enter `Expiring` this long before the session's absolute end (default 5 min).
    pub expiring_warning: Duration,
    /// Sign out after this much system-wide inactivity (default 15 min). Never longer than the
    /// server's idle timeout: a longer one is clamped to the server's at sign-in, with a
    /// `Warning{IdleTimeoutClamped}`. Env `TESSERA_IDLE_TIMEOUT_SECS`.
    pub idle_timeout: Duration,
    /// Warn this long before the idle sign-out (default 60 s; half the timeout when not shorter
    /// than it). Env `TESSERA_IDLE_WARNING_SECS`.
    pub idle_warning: Duration,
    /// While the user is active, tell the server at most this often (default 3 min).
    pub activity_report_interval: Duration,
    /// Sign out when the screen locks (logind `Lock`; default false). Env
    /// `TESSERA_SIGN_OUT_ON_LOCK` (`true`/`false`/`1`/`0`).
    pub sign_out_on_lock: bool,
    /// Without logind's sleep signals, the idle watch compares the wall clock with the
    /// monotonic clock this often to notice a resume from suspend (default 30 s).
    pub clock_check_interval: Duration,
    /// Poll for notifications this often while WebSocket fails (default 30 s).
    pub poll_interval: Duration,
    /// The notification stream counts as dead when no frame (message, ping or pong) arrived for
    /// the server's ping interval plus this (default 10 s).
    pub feed_heartbeat_grace: Duration,
}

impl EngineConfig {
    /// Settings with the defaults above, keeping every file in `data_dir`.
    pub fn new(
        server_url: impl Into<String>,
        data_dir: impl Into<PathBuf>,
        client_id: impl Into<String>,
        device: DeviceInfo,
    ) -> Self {
        let data_dir = data_dir.into();
        Self {
            client: ClientConfig::new(server_url, client_id, device),
            current_account: CurrentAccountFile::in_dir(&data_dir),
            data_dir,
            refresh_lead: Duration::from_secs(60),
            jitter_ratio: 0.1,
            max_jitter: Duration::from_secs(30),
            expiring_warning: Duration::from_secs(5 * 60),
            idle_timeout: Duration::from_secs(15 * 60),
            idle_warning: Duration::from_secs(60),
            activity_report_interval: Duration::from_secs(3 * 60),
            sign_out_on_lock: false,
            clock_check_interval: Duration::from_secs(30),
            poll_interval: Duration::from_secs(30),
            feed_heartbeat_grace: Duration::from_secs(10),
        }
    }

    /// Settings with the defaults above on the directories every Tessera program on this machine
    /// shares, so the app and the CLI pick up each other's session.
    pub fn for_dirs(server_url: &str, dirs: &LocalDirs, client_id: impl Into<String>, device: DeviceInfo) -> Self {
        let mut config = Self::new(normalize_server_url(server_url), dirs.data.clone(), client_id, device);
        config.current_account = CurrentAccountFile::shared(dirs);
        config
    }

    /// These settings with `TESSERA_IDLE_TIMEOUT_SECS`, `TESSERA_IDLE_WARNING_SECS` and
    /// `TESSERA_SIGN_OUT_ON_LOCK` from the environment applied. An invalid value is an error
    /// naming the variable. (The server's idle timeout, known only after sign-in, caps the
    /// timeout later; see [`EngineConfig::idle_timeout`].)
    pub fn with_env_overrides(self) -> Result<Self, ConfigError> {
        self.with_overrides_from(|name| std::env::var(name).ok())
    }

    /// [`with_env_overrides`](Self::with_env_overrides) reading variables through `lookup`.
    pub fn with_overrides_from(mut self, lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        if let Some(value) = lookup(ENV_IDLE_TIMEOUT) {
            let timeout = Duration::from_secs(parse_secs(ENV_IDLE_TIMEOUT, &value)?);
            self.idle_timeout = check_idle_timeout(timeout, None)
                .map_err(|IdleTimeoutRefused(why)| ConfigError::invalid(ENV_IDLE_TIMEOUT, &value, &why))?;
        }
        if let Some(value) = lookup(ENV_IDLE_WARNING) {
            self.idle_warning = Duration::from_secs(parse_secs(ENV_IDLE_WARNING, &value)?);
            if self.idle_warning >= self.idle_timeout {
                let timeout = self.idle_timeout.as_secs();
                return Err(ConfigError::invalid(
                    ENV_IDLE_WARNING,
                    &value,
                    &format!("must be shorter than the idle timeout ({timeout} s)"),
                ));
            }
        }
        if let Some(value) = lookup(ENV_SIGN_OUT_ON_LOCK) {
            self.sign_out_on_lock = match value.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => return Err(ConfigError::invalid(ENV_SIGN_OUT_ON_LOCK, &value, "expected true or false")),
            };
        }
        Ok(self)
    }

    /// The server's base URL as every [`Account`] spells it.
    pub fn server_url(&self) -> String {
        normalize_server_url(&self.client.server_url)
    }

    /// The account of `username` on this engine's server.
    pub fn account(&self, username: &str) -> Account {
        Account::new(&self.client.server_url, username)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> EngineConfig {
        let device = DeviceInfo { name: "d".into(), platform: "linux".into(), app_version: "0".into() };
        EngineConfig::new("http://127.0.0.1:1", "/tmp", "tessera-cli", device)
    }

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn a_timeout_is_at_least_a_second_and_at_most_the_servers() {
        let s = Duration::from_secs;
        assert_eq!(check_idle_timeout(s(1), None), Ok(s(1)), "one second is the shortest");
        assert_eq!(check_idle_timeout(s(3600), None), Ok(s(3600)), "any length while the server's is unknown");
        assert_eq!(check_idle_timeout(s(1800), Some(s(1800))), Ok(s(1800)), "exactly the server's");
        let short = check_idle_timeout(Duration::from_millis(500), None).map_err(|e| e.to_string());
        assert_eq!(short, Err("500 ms is shorter than a second".into()));
        let long = check_idle_timeout(s(1860), Some(s(1800))).map_err(|e| e.to_string());
        let why = "31 minutes is longer than the server's idle timeout (30 minutes)";
        assert_eq!(long, Err(why.into()), "the message names both");
        assert_eq!(span(s(60)), "1 minute");
        assert_eq!(span(s(90)), "90 s");
    }

    #[test]
    fn idle_settings_come_from_the_environment() {
        let c = config().with_overrides_from(env(&[
            (ENV_IDLE_TIMEOUT, "300"),
            (ENV_IDLE_WARNING, "30"),
            (ENV_SIGN_OUT_ON_LOCK, "true"),
        ]));
        let c = c.unwrap_or_else(|e| panic!("valid values must be accepted: {e}"));
        assert_eq!(c.idle_timeout, Duration::from_secs(300), "the timeout variable sets the timeout");
        assert_eq!(c.idle_warning, Duration::from_secs(30), "the warning variable sets the warning");
        assert!(c.sign_out_on_lock, "the lock variable turns sign-out on lock on");
        let unchanged = config().with_overrides_from(env(&[])).unwrap_or_else(|e| panic!("no variables is fine: {e}"));
        assert_eq!(unchanged.idle_timeout, Duration::from_secs(900), "defaults stay without variables");
    }

    #[test]
    fn invalid_idle_settings_name_the_variable() {
        for (pairs, variable) in [
            (vec![(ENV_IDLE_TIMEOUT, "15m")], ENV_IDLE_TIMEOUT),
            (vec![(ENV_IDLE_TIMEOUT, "0")], ENV_IDLE_TIMEOUT),
            (vec![(ENV_IDLE_WARNING, "-1")], ENV_IDLE_WARNING),
            (vec![(ENV_IDLE_TIMEOUT, "60"), (ENV_IDLE_WARNING, "60")], ENV_IDLE_WARNING),
            (vec![(ENV_SIGN_OUT_ON_LOCK, "maybe")], ENV_SIGN_OUT_ON_LOCK),
        ] {
            let err = config().with_overrides_from(env(&pairs)).err();
            let text = err.map(|e| e.to_string()).unwrap_or_default();
            assert!(text.contains(variable), "{pairs:?} must be refused naming {variable}: {text:?}");
        }
    }
}
