//! Server configuration: a checked-in defaults file, then an optional config file, then
//! `TESSERA_SERVER_*` environment variables. Every failure names the key at fault.

use std::path::Path;

use serde::Deserialize;

/// The commented defaults, compiled in so the binary needs no file beside it.
pub const DEFAULTS_TOML: &str = include_str!("../config/defaults.toml");

/// Prefix of environment overrides.
pub const ENV_PREFIX: &str = "TESSERA_SERVER_";

/// Effective configuration. See `config/defaults.toml` for what each field means.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // documented, with units, in config/defaults.toml
pub struct Config {
    pub access_token_ttl_secs: u64,
    pub refresh_grace_secs: u64,
    pub session_idle_timeout_secs: u64,
    pub session_max_age_secs: u64,
    pub password_grant: bool,
    pub login_per_ip_per_min: u32,
    pub login_per_user_per_min: u32,
    pub refresh_per_ip_per_min: u32,
    pub password_hash_concurrency: usize,
    pub max_body_bytes: usize,
    pub request_timeout_secs: u64,
    pub public_url: String,
    pub notification_retention: u64,
    pub ws_ping_interval_secs: u64,
    pub webhook_allowed_http_hosts: String,
    pub webhook_max_attempts: u32,
    pub webhook_retry_base_ms: u64,
    pub webhook_timeout_secs: u64,
    // Webhook delivery caps and sweep (issue 12).
    pub webhook_max_in_flight: usize,
    pub webhook_max_in_flight_per_user: usize,
    pub webhook_max_in_flight_per_webhook: usize,
    pub webhook_sweep_interval_secs: u64,
    // --- abuse limits (issue 12) ---
    pub password_hash_queue: usize,
    pub trusted_proxies: String,
    pub session_writes_per_min: u32,
    pub ws_max_per_session: u32,
    pub ws_max_per_user: u32,
    pub ws_max_connections: u32,
    pub ws_send_timeout_secs: u64,
    // --- an organisation's identity provider (issue 15) ---
    pub external_issuer: String,
    pub external_client_id: String,
    pub external_scopes: String,
    pub external_audience: String,
    pub external_introspection_client_id: String,
    pub external_introspection_client_secret: ConfigSecret,
    pub external_role_claim: String,
    pub external_admin_role: String,
    pub external_redirect_ports: String,
}

/// A secret config value: never in `Debug` output (the configuration is logged at start-up).
#[derive(Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(transparent)]
pub struct ConfigSecret(String);

impl ConfigSecret {
    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is empty (not set).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for ConfigSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "<redacted>" })
    }
}

impl From<&str> for ConfigSecret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl Config {
    /// The targets webhooks may reach although they are not public (`host` or `host:port`
    /// entries; plain `http://` is accepted for them too). Validated at load.
    pub fn webhook_allow_list(&self) -> crate::egress::AllowList {
        crate::egress::AllowList::parse(&self.webhook_allowed_http_hosts).unwrap_or_default()
    }
}

/// A configuration problem, naming the key (or file) at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not TOML or has a value of the wrong type.
    #[error("invalid config file {path}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's message (names the key).
        message: String,
    },
    /// A key no version of Tessera knows.
    #[error("unknown config key `{key}` in {source_name}")]
    UnknownKey {
        /// The key.
        key: String,
        /// Where it came from.
        source_name: String,
    },
    /// A value out of range or of the wrong type.
    #[error("invalid value for {key}: {message}")]
    Invalid {
        /// The key (as the user wrote it: config key or environment variable).
        key: String,
        /// What is wrong.
        message: String,
    },
}

impl Default for Config {
    fn default() -> Self {
        // The defaults file is compiled in and covered by a test; failing to parse it is a
        // build defect, not a runtime condition.
        #[allow(clippy::expect_used)]
        Self::load(None, std::iter::empty()).expect("config/defaults.toml is valid")
    }
}

impl Config {
    /// Loads defaults, then `file` (if any), then overrides from `env` (name, value) pairs.
    pub fn load(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let mut table: toml::Table = DEFAULTS_TOML.parse().map_err(|e: toml::de::Error| ConfigError::Syntax {
            path: "config/defaults.toml".into(),
            message: e.to_string(),
        })?;
        if let Some(path) = file {
            let name = path.display().to_string();
            let text =
                std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: name.clone(), source })?;
            let overrides: toml::Table = text
                .parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax { path: name.clone(), message: e.to_string() })?;
            merge(&mut table, overrides, &name)?;
        }
        for (name, value) in env {
            let Some(key) = name.strip_prefix(ENV_PREFIX) else { continue };
            let key = key.to_ascii_lowercase();
            let Some(default) = table.get(&key) else {
                return Err(ConfigError::UnknownKey { key: name, source_name: "the environment".into() });
            };
            let parsed =
                parse_like(default, &value).map_err(|message| ConfigError::Invalid { key: name.clone(), message })?;
            table.insert(key, parsed);
        }
        let config: Config = toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| {
            ConfigError::Syntax { path: "merged config".into(), message: e.to_string() }
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Loads from the process environment.
    pub fn from_env(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load(file, std::env::vars())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("access_token_ttl_secs", self.access_token_ttl_secs),
            ("session_idle_timeout_secs", self.session_idle_timeout_secs),
            ("session_max_age_secs", self.session_max_age_secs),
            ("max_body_bytes", self.max_body_bytes as u64),
            ("request_timeout_secs", self.request_timeout_secs),
            ("notification_retention", self.notification_retention),
            ("ws_ping_interval_secs", self.ws_ping_interval_secs),
            ("webhook_max_attempts", u64::from(self.webhook_max_attempts)),
            ("webhook_timeout_secs", self.webhook_timeout_secs),
            ("webhook_max_in_flight", self.webhook_max_in_flight as u64),
            ("webhook_max_in_flight_per_user", self.webhook_max_in_flight_per_user as u64),
            ("webhook_max_in_flight_per_webhook", self.webhook_max_in_flight_per_webhook as u64),
            ("webhook_sweep_interval_secs", self.webhook_sweep_interval_secs),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(ConfigError::Invalid { key: key.into(), message: "must be greater than 0".into() });
            }
        }
        if self.session_max_age_secs > 366 * 86_400 {
            return Err(ConfigError::Invalid {
                key: "session_max_age_secs".into(),
                message: "must be at most a year".into(),
            });
        }
        if let Err(message) = crate::egress::AllowList::parse(&self.webhook_allowed_http_hosts) {
            return Err(ConfigError::Invalid { key: "webhook_allowed_http_hosts".into(), message });
        }
        let has_scheme = self.public_url.starts_with("http://") || self.public_url.starts_with("https://");
        if !self.public_url.is_empty() && !has_scheme {
            return Err(ConfigError::Invalid {
                key: "public_url".into(),
                message: format!("must start with http:// or https://, got {:?}", self.public_url),
            });
        }
        self.validate_limits()
    }

    /// Checks the abuse-limit keys (issue 12).
    fn validate_limits(&self) -> Result<(), ConfigError> {
        if self.ws_send_timeout_secs == 0 {
            return Err(ConfigError::Invalid {
                key: "ws_send_timeout_secs".into(),
                message: "must be greater than 0".into(),
            });
        }
        self.trusted_proxy_nets()
            .map(|_| ())
            .map_err(|message| ConfigError::Invalid { key: "trusted_proxies".into(), message })?;
        self.validate_external()
    }

    /// Whether this server trusts an organisation's provider instead of signing users in.
    pub fn is_external(&self) -> bool {
        !self.external_issuer.is_empty()
    }

    /// Checks the `external_*` keys (issue 15).
    fn validate_external(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| Err(ConfigError::Invalid { key: key.into(), message });
        let introspection =
            [self.external_introspection_client_id.is_empty(), self.external_introspection_client_secret.is_empty()];
        if introspection[0] != introspection[1] {
            return invalid(
                "external_introspection_client_id",
                "external_introspection_client_id and external_introspection_client_secret go together".into(),
            );
        }
        if !self.is_external() {
            return Ok(());
        }
        if let Err(message) = check_issuer_url(&self.external_issuer) {
            return invalid("external_issuer", message);
        }
        if self.external_client_id.trim().is_empty() {
            return invalid("external_client_id", "is required with external_issuer".into());
        }
        if let Err(message) = tessera_protocol::parse_ports(&self.external_redirect_ports) {
            return invalid("external_redirect_ports", message);
        }
        if !self.external_scopes.split_whitespace().any(|s| s == "openid") {
            return invalid("external_scopes", format!("must include openid, got {:?}", self.external_scopes));
        }
        Ok(())
    }

    /// The networks whose `X-Forwarded-For` is believed (`trusted_proxies`, comma-separated CIDRs).
    pub fn trusted_proxy_nets(&self) -> Result<Vec<crate::client_ip::Cidr>, String> {
        self.trusted_proxies.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::parse).collect()
    }
}

fn merge(table: &mut toml::Table, overrides: toml::Table, source_name: &str) -> Result<(), ConfigError> {
    for (key, value) in overrides {
        if !table.contains_key(&key) {
            return Err(ConfigError::UnknownKey { key, source_name: source_name.into() });
        }
        table.insert(key, value);
    }
    Ok(())
}

/// Parses an environment value as the same TOML type as the default.
fn parse_like(default: &toml::Value, raw: &str) -> Result<toml::Value, String> {
    let raw = raw.trim();
    match default {
        toml::Value::Integer(_) => raw
            .parse::<u64>()
            .ok()
            .and_then(|n| i64::try_from(n).ok())
            .map(toml::Value::Integer)
            .ok_or_else(|| format!("expected a whole number ≥ 0, got {raw:?}")),
        toml::Value::Boolean(_) => match raw {
            "true" | "1" => Ok(toml::Value::Boolean(true)),
            "false" | "0" => Ok(toml::Value::Boolean(false)),
            _ => Err(format!("expected true or false, got {raw:?}")),
        },
        _ => Ok(toml::Value::String(raw.to_owned())),
    }
}

/// Checks an `external_issuer` value: an absolute https:// URL without query or fragment
/// (OIDC Discovery §4.3), or http:// on a loopback address.
pub(crate) fn check_issuer_url(raw: &str) -> Result<(), String> {
    let url = url::Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL: {e}"))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{raw:?} must not have a query or fragment (OpenID Connect Discovery §4.3)"));
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => crate::egress::is_localhost_name(name),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(format!("{raw:?} must use https:// (plain http only on a loopback address)")),
        other => Err(format!("{raw:?}: scheme {other} is not http(s)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_match_the_documented_values() {
        let c = Config::default();
        assert_eq!(c.access_token_ttl_secs, 600, "documented default");
        assert_eq!(c.refresh_grace_secs, 30, "documented default");
        assert_eq!(c.session_idle_timeout_secs, 1800, "documented default");
        assert_eq!(c.session_max_age_secs, 43200, "documented default");
        assert!(!c.password_grant, "the password grant is off unless asked for (RFC 9700 §2.4)");
        let on = Config::load(None, env(&[("TESSERA_SERVER_PASSWORD_GRANT", "true")])).unwrap();
        assert!(on.password_grant, "TESSERA_SERVER_PASSWORD_GRANT=true turns it on");
    }

    #[test]
    fn env_overrides_apply() {
        let c = Config::load(None, env(&[("TESSERA_SERVER_ACCESS_TOKEN_TTL_SECS", "5"), ("OTHER", "x")])).unwrap();
        assert_eq!(c.access_token_ttl_secs, 5, "env must override the default");
    }

    #[test]
    fn invalid_values_name_the_key() {
        let err = Config::load(None, env(&[("TESSERA_SERVER_REFRESH_GRACE_SECS", "soon")])).unwrap_err();
        assert!(err.to_string().contains("TESSERA_SERVER_REFRESH_GRACE_SECS"), "error must name the variable: {err}");
        let err = Config::load(None, env(&[("TESSERA_SERVER_SESSION_IDLE_TIMEOUT_SECS", "0")])).unwrap_err();
        assert!(err.to_string().contains("session_idle_timeout_secs"), "error must name the key: {err}");
        let err = Config::load(None, env(&[("TESSERA_SERVER_NO_SUCH_THING", "1")])).unwrap_err();
        assert!(err.to_string().contains("TESSERA_SERVER_NO_SUCH_THING"), "unknown keys are refused: {err}");
    }

    #[test]
    fn webhook_allow_list_entries_are_checked_at_load() {
        let err =
            Config::load(None, env(&[("TESSERA_SERVER_WEBHOOK_ALLOWED_HTTP_HOSTS", "ok, bad:port")])).unwrap_err();
        assert!(err.to_string().contains("webhook_allowed_http_hosts"), "the key is named: {err}");
        assert!(err.to_string().contains("bad:port"), "the entry is named: {err}");
        let c =
            Config::load(None, env(&[("TESSERA_SERVER_WEBHOOK_ALLOWED_HTTP_HOSTS", "127.0.0.1:8080, [::1]")])).unwrap();
        assert!(c.webhook_allow_list().allows("127.0.0.1", Some(8080)), "host:port entries are accepted");
        let err = Config::load(None, env(&[("TESSERA_SERVER_WEBHOOK_MAX_IN_FLIGHT_PER_USER", "0")])).unwrap_err();
        assert!(err.to_string().contains("webhook_max_in_flight_per_user"), "a zero cap is refused: {err}");
    }

    #[test]
    fn limit_keys_are_checked_and_named() {
        let c = Config::default();
        assert_eq!((c.password_hash_queue, c.ws_max_per_session), (64, 4), "documented defaults");
        assert!(c.trusted_proxy_nets().unwrap().is_empty(), "no proxy is trusted by default");
        let c = Config::load(None, env(&[("TESSERA_SERVER_TRUSTED_PROXIES", "10.0.0.0/8, ::1")])).unwrap();
        assert_eq!(c.trusted_proxy_nets().unwrap().len(), 2, "a CIDR and a bare address are both accepted");
        for bad in ["10.0.0.0/33", "not-an-ip", "::1/129", "10.0.0.0/8/8"] {
            let err = Config::load(None, env(&[("TESSERA_SERVER_TRUSTED_PROXIES", bad)])).unwrap_err();
            assert!(err.to_string().contains("trusted_proxies"), "a bad CIDR ({bad}) must name the key: {err}");
        }
        let err = Config::load(None, env(&[("TESSERA_SERVER_WS_SEND_TIMEOUT_SECS", "0")])).unwrap_err();
        assert!(err.to_string().contains("ws_send_timeout_secs"), "a zero send timeout must name the key: {err}");
    }

    #[test]
    fn external_provider_keys_are_checked_and_the_secret_never_shows() {
        assert!(!Config::default().is_external(), "the server is its own provider by default");
        let issuer = ("TESSERA_SERVER_EXTERNAL_ISSUER", "https://login.example.com/realms/support");
        let err = Config::load(None, env(&[issuer])).unwrap_err();
        assert!(err.to_string().contains("external_client_id"), "a client id is required: {err}");
        let client = ("TESSERA_SERVER_EXTERNAL_CLIENT_ID", "tessera");
        let c = Config::load(None, env(&[issuer, client])).unwrap();
        assert!(c.is_external());
        assert_eq!(c.external_scopes, "openid profile email offline_access", "documented default");
        for bad in ["http://login.example.com", "ftp://x", "login.example.com", "https://x/?q=1", "https://x/#f"] {
            let err = Config::load(None, env(&[("TESSERA_SERVER_EXTERNAL_ISSUER", bad), client])).unwrap_err();
            assert!(err.to_string().contains("external_issuer"), "{bad} must be refused naming the key: {err}");
        }
        let local = ("TESSERA_SERVER_EXTERNAL_ISSUER", "http://127.0.0.1:8080");
        assert!(Config::load(None, env(&[local, client])).is_ok(), "plain http is fine on loopback");
        let secret = ("TESSERA_SERVER_EXTERNAL_INTROSPECTION_CLIENT_SECRET", "s3cret-value");
        let err = Config::load(None, env(&[issuer, client, secret])).unwrap_err();
        assert!(err.to_string().contains("external_introspection_client_id"), "both or neither: {err}");
        let id = ("TESSERA_SERVER_EXTERNAL_INTROSPECTION_CLIENT_ID", "tessera-server");
        let c = Config::load(None, env(&[issuer, client, secret, id])).unwrap();
        assert_eq!(c.external_introspection_client_secret.expose(), "s3cret-value");
        assert!(!format!("{c:?}").contains("s3cret-value"), "Debug must not show the secret");
        let err = Config::load(None, env(&[issuer, client, ("TESSERA_SERVER_EXTERNAL_SCOPES", "profile")]));
        assert!(err.unwrap_err().to_string().contains("external_scopes"), "openid is required");
    }

    #[test]
    fn config_file_overrides_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.toml");
        std::fs::write(&path, "refresh_grace_secs = 0\n").unwrap();
        let c = Config::load(Some(&path), env(&[])).unwrap();
        assert_eq!(c.refresh_grace_secs, 0, "file must override the default");
        std::fs::write(&path, "refresh_grace = 0\n").unwrap();
        let err = Config::load(Some(&path), env(&[])).unwrap_err();
        assert!(err.to_string().contains("refresh_grace"), "unknown key must be named: {err}");
        std::fs::write(&path, "refresh_grace_secs = \"x\"\n").unwrap();
        let err = Config::load(Some(&path), env(&[])).unwrap_err();
        assert!(err.to_string().contains("refresh_grace_secs"), "type errors must name the key: {err}");
    }
}
