//! Shared state of a running server.

use std::sync::Arc;

use axum::extract::FromRef;

use crate::auth::SessionPolicy;
use crate::client_ip::Cidr;
use crate::clock::Clock;
use crate::config::Config;
use crate::db::Db;
use crate::external::Provider;
use crate::id_token::IdTokenKey;
use crate::keys::SigningKeys;
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::notify::ws_slots::WsSlots;
use crate::password::PasswordHasher;
use crate::ratelimit::RateLimiter;
use crate::rotation::Rotator;

/// Everything handlers need.
#[derive(Debug)]
pub struct AppState {
    /// Storage.
    pub db: Db,
    /// Effective configuration.
    pub config: Config,
    /// Wall clock.
    pub clock: Arc<dyn Clock>,
    /// Access-token signing key.
    pub keys: SigningKeys,
    /// id_token signing key (RS256).
    pub id_keys: IdTokenKey,
    /// Password hashing pool.
    pub hasher: PasswordHasher,
    /// Rate limits.
    pub limiter: RateLimiter,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Base URL (`iss`, discovery), without a trailing slash.
    pub issuer: String,
    /// Ending sessions (audited, counted, announced after commit).
    pub sessions: SessionPolicy,
    /// The refresh-rotation writer (group commit).
    pub rotator: Rotator,
    /// Outbox fan-out, session-end signals, hooks, webhooks.
    pub notify: Notifier,
    /// Caps on open notification streams.
    pub ws_slots: Arc<WsSlots>,
    /// Networks whose `X-Forwarded-For` is believed (`trusted_proxies`).
    pub trusted_proxies: Vec<Cidr>,
    /// The organisation's identity provider whose tokens are trusted (`external_issuer`);
    /// `None` when this server signs users in itself.
    pub external: Option<Arc<Provider>>,
}

/// What handlers receive.
pub type SharedState = Arc<AppState>;

/// Handlers that only touch storage take `State<Db>`.
impl FromRef<SharedState> for Db {
    fn from_ref(state: &SharedState) -> Self {
        state.db.clone()
    }
}

/// Handlers that end sessions (and nothing else) take `State<SessionPolicy>`.
impl FromRef<SharedState> for SessionPolicy {
    fn from_ref(state: &SharedState) -> Self {
        state.sessions.clone()
    }
}

impl AppState {
    /// Opens storage and keys in `data_dir` for serving: webhooks are delivered, including those a
    /// previous run still owed.
    pub async fn open(
        config: Config,
        data_dir: &std::path::Path,
        clock: Arc<dyn Clock>,
        issuer: String,
    ) -> anyhow::Result<SharedState> {
        Self::open_with(config, data_dir, clock, issuer, true).await
    }

    /// Opens storage for a one-shot command (`user add`, `notify`) next to a server that may be
    /// running: webhooks owed are recorded but left to the server to deliver.
    pub async fn open_for_tool(config: Config, data_dir: &std::path::Path) -> anyhow::Result<SharedState> {
        Self::open_with(config, data_dir, Arc::new(crate::clock::SystemClock), String::new(), false).await
    }

    async fn open_with(
        config: Config,
        data_dir: &std::path::Path,
        clock: Arc<dyn Clock>,
        issuer: String,
        deliver_webhooks: bool,
    ) -> anyhow::Result<SharedState> {
        crate::private_files::prepare_data_dir(data_dir)?;
        let db = Db::open(data_dir).await?;
        let keys = SigningKeys::load_or_create(data_dir)?;
        let id_keys = IdTokenKey::load_or_create(data_dir)?;
        let metrics = Arc::new(Metrics::default());
        let hasher =
            PasswordHasher::new(config.password_hash_concurrency, config.password_hash_queue, Arc::clone(&metrics))?;
        let trusted_proxies = config.trusted_proxy_nets().map_err(|e| anyhow::anyhow!("trusted_proxies: {e}"))?;
        let ws_slots = WsSlots::new(&config, Arc::clone(&metrics));
        let notify = Notifier::new(db.clone(), &config, clock.clone(), Arc::clone(&metrics), deliver_webhooks)?;
        let issuer = if config.public_url.is_empty() { issuer } else { config.public_url.clone() };
        let external = Provider::from_config(&config)?.map(Arc::new);
        let sessions = SessionPolicy {
            db: db.clone(),
            clock: clock.clone(),
            metrics: Arc::clone(&metrics),
            announcer: Arc::clone(&notify.sessions),
            idle_ms: secs_to_ms(config.session_idle_timeout_secs),
        };
        Ok(Arc::new(Self {
            rotator: Rotator::spawn(sessions.clone(), secs_to_ms(config.refresh_grace_secs)),
            sessions,
            notify,
            db,
            limiter: RateLimiter::new(&config, clock.clone()),
            ws_slots,
            trusted_proxies,
            external,
            clock,
            keys,
            id_keys,
            hasher,
            metrics,
            issuer: issuer.trim_end_matches('/').to_owned(),
            config,
        }))
    }

    /// Idle timeout in milliseconds.
    pub fn idle_ms(&self) -> i64 {
        secs_to_ms(self.config.session_idle_timeout_secs)
    }
}

/// The issuer a server bound to `bound` advertises: `public_url` when set; otherwise
/// `http://<bound address>`, which is only honest on a loopback address. On any other address
/// (`0.0.0.0`, a LAN address) clients usually reach the server through a name or a TLS proxy, so
/// advertising `http://<address>` would tell them to send passwords in the clear to an address
/// they never used: refused, naming `public_url`.
pub fn issuer_for(config: &Config, bound: std::net::SocketAddr) -> anyhow::Result<String> {
    if !config.public_url.is_empty() {
        return Ok(config.public_url.trim_end_matches('/').to_owned());
    }
    anyhow::ensure!(
        bound.ip().is_loopback(),
        "public_url is empty but the server listens on {bound}, which is not a loopback address: it would \
         advertise http://{bound} as its issuer and clients would send passwords there in plain HTTP. \
         Set public_url (or TESSERA_SERVER_PUBLIC_URL) to the URL clients use, e.g. https://tessera.example.com"
    );
    Ok(format!("http://{bound}"))
}

/// Seconds to milliseconds, saturating.
pub fn secs_to_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_loopback_address_may_advertise_itself_as_the_issuer() {
        let config = Config::default();
        let issuer = |addr: &str| issuer_for(&config, addr.parse().unwrap());
        assert_eq!(issuer("127.0.0.1:8787").unwrap(), "http://127.0.0.1:8787", "loopback is honest");
        assert_eq!(issuer("[::1]:8787").unwrap(), "http://[::1]:8787", "IPv6 loopback is honest");
        for addr in ["0.0.0.0:8787", "[::]:8787", "192.168.1.10:8787"] {
            let err = issuer(addr).unwrap_err().to_string();
            assert!(err.contains("public_url"), "{addr} without public_url is refused naming the key: {err}");
        }
        let config = Config { public_url: "https://tessera.example.com/".into(), ..Config::default() };
        let issuer = issuer_for(&config, "0.0.0.0:8787".parse().unwrap()).unwrap();
        assert_eq!(issuer, "https://tessera.example.com", "public_url is the issuer, without a trailing slash");
    }
}
