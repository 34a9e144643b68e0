//! What the engine is told by the app that embeds it.

use std::path::PathBuf;
use std::time::Duration;

use tessera_protocol::DeviceInfo;

use crate::client::ClientConfig;

/// Settings of a [`crate::SessionEngine`]. Holds no credential.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// HTTP settings: server URL, client id (`tessera-desktop`, `tessera-cli`), device, limits.
    pub client: ClientConfig,
    /// Directory for the refresh lock and the account note (never a token).
    pub data_dir: PathBuf,
    /// Refresh this long before the access token expires (default 60 s; plus jitter).
    pub refresh_lead: Duration,
    /// Largest random extra lead, as a fraction of the token's lifetime (default 0.1) ...
    pub jitter_ratio: f64,
    /// ... and never more than this (default 30 s).
    pub max_jitter: Duration,
    /// Enter `Expiring` this long before the session's absolute end (default 5 min).
    pub expiring_warning: Duration,
    /// Sign out after this much system-wide inactivity (default 15 min; never longer than the
    /// server's idle timeout). Env `TESSERA_IDLE_TIMEOUT_SECS`.
    pub idle_timeout: Duration,
    /// Warn this long before the idle sign-out (default 60 s). Env `TESSERA_IDLE_WARNING_SECS`.
    pub idle_warning: Duration,
    /// While the user is active, tell the server at most this often (default 3 min).
    pub activity_report_interval: Duration,
    /// Poll for notifications this often while WebSocket fails (default 30 s).
    pub poll_interval: Duration,
    /// The notification stream counts as dead when no frame (message, ping or pong) arrived for
    /// the server's ping interval plus this (default 10 s).
    pub feed_heartbeat_grace: Duration,
}

impl EngineConfig {
    /// Settings with the defaults above.
    pub fn new(
        server_url: impl Into<String>,
        data_dir: impl Into<PathBuf>,
        client_id: impl Into<String>,
        device: DeviceInfo,
    ) -> Self {
        Self {
            client: ClientConfig::new(server_url, client_id, device),
            data_dir: data_dir.into(),
            refresh_lead: Duration::from_secs(60),
            jitter_ratio: 0.1,
            max_jitter: Duration::from_secs(30),
            expiring_warning: Duration::from_secs(5 * 60),
            idle_timeout: Duration::from_secs(15 * 60),
            idle_warning: Duration::from_secs(60),
            activity_report_interval: Duration::from_secs(3 * 60),
            poll_interval: Duration::from_secs(30),
            feed_heartbeat_grace: Duration::from_secs(10),
        }
    }

    /// The server's base URL without a trailing slash (how vault keys spell it).
    pub fn server_url(&self) -> String {
        self.client.server_url.trim_end_matches('/').to_owned()
    }
}
