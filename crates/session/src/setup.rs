//! Where a server's staff sign in: the server's `GET /api/client-config` ([`ClientSetup`]),
//! so a user types only the server's URL, remembered for starts while the server cannot be
//! reached, with `TESSERA_ISSUER`, `TESSERA_CLIENT_ID`, `TESSERA_SCOPES` and `TESSERA_AUDIENCE`
//! on top for a provider the server does not name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tessera_protocol::ClientSetup;

use crate::client::{AuthClient, ClientConfig};
use crate::clock::SystemClock;
use crate::config::EngineConfig;
use crate::error::ClientError;
use crate::local::write_atomically;

/// Environment variable: the OpenID provider's issuer to sign in at.
pub const ENV_ISSUER: &str = "TESSERA_ISSUER";
/// Environment variable: the client id registered at that provider.
pub const ENV_CLIENT_ID: &str = "TESSERA_CLIENT_ID";
/// Environment variable: the scopes to ask for (space-separated).
pub const ENV_SCOPES: &str = "TESSERA_SCOPES";
/// Environment variable: the `audience` / `resource` to ask tokens for.
pub const ENV_AUDIENCE: &str = "TESSERA_AUDIENCE";

/// The file in the data dir that remembers each server's last answer (not a secret).
pub const SETUP_FILE: &str = "client-config.json";

/// What to change in a [`ClientSetup`]: the CLI's `--issuer`, `--client-id`, `--scope`,
/// `--audience`, or the environment variables above.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetupOverrides {
    /// Sign in at this issuer instead.
    pub issuer: Option<String>,
    /// With this client id.
    pub client_id: Option<String>,
    /// Asking for these scopes.
    pub scopes: Option<String>,
    /// For this audience.
    pub audience: Option<String>,
}

impl SetupOverrides {
    /// The overrides the environment sets (empty values count as unset).
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Self {
            issuer: var(ENV_ISSUER),
            client_id: var(ENV_CLIENT_ID),
            scopes: var(ENV_SCOPES),
            audience: var(ENV_AUDIENCE),
        }
    }

    /// `self`, with what `other` sets taking precedence.
    pub fn or(self, other: Self) -> Self {
        Self {
            issuer: other.issuer.or(self.issuer),
            client_id: other.client_id.or(self.client_id),
            scopes: other.scopes.or(self.scopes),
            audience: other.audience.or(self.audience),
        }
    }

    fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    fn apply(&self, setup: Option<ClientSetup>, server_url: &str) -> Option<ClientSetup> {
        if self.is_empty() {
            return setup;
        }
        let mut setup = setup.unwrap_or_else(|| ClientSetup {
            issuer: server_url.to_owned(),
            client_id: None,
            scopes: tessera_protocol::oidc::SCOPES.to_owned(),
            audience: None,
            external: false,
            redirect_ports: Vec::new(),
        });
        if let Some(issuer) = &self.issuer {
            setup.issuer.clone_from(issuer);
        }
        setup.client_id = self.client_id.clone().or(setup.client_id);
        if let Some(scopes) = &self.scopes {
            setup.scopes.clone_from(scopes);
        }
        setup.audience = self.audience.clone().or(setup.audience);
        Some(setup)
    }
}

impl EngineConfig {
    /// These settings signing in where the server says ([`server_setup`]), with `overrides`
    /// on top.
    pub async fn with_server_setup(mut self, overrides: &SetupOverrides) -> Self {
        let server_url = self.server_url();
        let known = server_setup(&self.client, &self.data_dir).await;
        if let Some(setup) = overrides.apply(known, &server_url) {
            self.client = self.client.signing_in_as(&setup);
        }
        self
    }
}

/// The server's sign-in setup: its `GET /api/client-config` answer (remembered in
/// [`SETUP_FILE`] in `data_dir`), the remembered answer while the server cannot be reached, and
/// `None` when it has no such endpoint (an older server: it signs in itself) or has never
/// answered.
pub async fn server_setup(client: &ClientConfig, data_dir: &Path) -> Option<ClientSetup> {
    let file = data_dir.join(SETUP_FILE);
    let server_url = crate::account::normalize_server_url(&client.server_url);
    let mut quick = client.clone();
    quick.issuer = None;
    quick.connect_timeout = quick.connect_timeout.min(Duration::from_secs(3));
    quick.request_timeout = quick.request_timeout.min(Duration::from_secs(5));
    let asked = match AuthClient::new(quick, Arc::new(SystemClock)) {
        Ok(http) => http.client_setup().await,
        Err(e) => Err(e),
    };
    let mut remembered = read(&file);
    match asked {
        Ok(setup) => {
            if remembered.get(&server_url) != Some(&setup) {
                remembered.insert(server_url, setup.clone());
                remember(&file, &remembered);
            }
            Some(setup)
        }
        Err(ClientError::Server { status: 404, .. }) => None,
        Err(e) => {
            tracing::info!(code = e.code(), "client-config unavailable; using the remembered one if any");
            remembered.remove(&server_url)
        }
    }
}

fn read(file: &PathBuf) -> BTreeMap<String, ClientSetup> {
    std::fs::read(file).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default()
}

fn remember(file: &Path, all: &BTreeMap<String, ClientSetup>) {
    let written =
        serde_json::to_vec_pretty(all).map_err(std::io::Error::other).and_then(|b| write_atomically(file, &b));
    if let Err(e) = written {
        tracing::warn!(file = %file.display(), "could not remember the server's client-config: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(issuer: &str) -> ClientSetup {
        ClientSetup {
            issuer: issuer.into(),
            client_id: Some("tessera".into()),
            scopes: "openid offline_access".into(),
            audience: None,
            external: true,
            redirect_ports: Vec::new(),
        }
    }

    #[test]
    fn overrides_change_only_what_they_name() {
        let none = SetupOverrides::default();
        assert_eq!(none.apply(Some(setup("https://idp")), "https://s"), Some(setup("https://idp")));
        assert_eq!(none.apply(None, "https://s"), None, "nothing known, nothing changed: the server signs in");
        let some = SetupOverrides { client_id: Some("mine".into()), ..SetupOverrides::default() };
        let changed = some.apply(Some(setup("https://idp")), "https://s").unwrap_or_else(|| setup("x"));
        assert_eq!((changed.issuer.as_str(), changed.client_id.as_deref()), ("https://idp", Some("mine")));
        let issuer = SetupOverrides { issuer: Some("https://kc/realms/r".into()), ..SetupOverrides::default() };
        let from_nothing = issuer.apply(None, "https://s").unwrap_or_else(|| setup("x"));
        assert_eq!(from_nothing.issuer, "https://kc/realms/r");
        assert_eq!(from_nothing.scopes, tessera_protocol::oidc::SCOPES);
        let merged = issuer.clone().or(some);
        assert_eq!((merged.issuer, merged.client_id), (issuer.issuer, Some("mine".into())), "both kept");
    }

    #[tokio::test]
    async fn an_unreachable_server_falls_back_to_its_remembered_answer() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let device =
            tessera_protocol::DeviceInfo { name: "d".into(), platform: "linux".into(), app_version: "0".into() };
        let client = ClientConfig::new("http://127.0.0.1:9", "tessera-cli", device);
        assert_eq!(server_setup(&client, dir.path()).await, None, "never answered: nothing known");
        let mut all = BTreeMap::new();
        all.insert("http://127.0.0.1:9".to_owned(), setup("https://idp.example"));
        remember(&dir.path().join(SETUP_FILE), &all);
        assert_eq!(server_setup(&client, dir.path()).await, Some(setup("https://idp.example")));
    }
}
