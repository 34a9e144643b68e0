//! Webhooks: every notification of a user is POSTed to each of the user's webhooks, signed
//! with HMAC-SHA256, retried with exponential backoff, every attempt logged. Publishing records
//! the deliveries owed (`webhook_pending`, in the notification's transaction) and wakes the
//! scheduler ([`super::delivery`]), which never waits on the publisher. Each attempt's log entry
//! and the owed delivery's next due time are written in one transaction, so a server restarted
//! in the middle of a backoff resumes with the next attempt when it is due. Targets are checked
//! at registration ([`check_url`]) and again when connecting ([`super::guard`]).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use tessera_protocol::Notification;
use tokio::sync::mpsc;

use crate::clock::Clock;
use crate::config::Config;
use crate::db::Db;
use crate::egress::{AllowList, Target, is_localhost_name, judge};
use crate::metrics::Metrics;
use crate::notify::delivery::{self, Limits, Worker};
use crate::notify::guard::{Clients, NameLookup, SystemLookup};
pub use crate::notify::signing::{mac, signature_header};

/// Longest accepted webhook URL.
pub const MAX_URL_LEN: usize = 2048;
/// Prefix of webhook secrets.
pub const SECRET_PREFIX: &str = "whsec_";

/// Handle to the delivery scheduler (`None` in one-shot commands, which leave delivery to the
/// server).
#[derive(Clone)]
pub struct WebhookQueue {
    wake: Option<mpsc::Sender<()>>,
}

impl std::fmt::Debug for WebhookQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookQueue").field("delivering", &self.wake.is_some()).finish()
    }
}

impl WebhookQueue {
    /// Starts the scheduler, resolving names with the system resolver. It first delivers what
    /// a previous run still owed (as many at once as the caps allow).
    pub fn spawn(db: Db, config: &Config, clock: Arc<dyn Clock>, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        Self::spawn_with_lookup(db, config, clock, metrics, Arc::new(SystemLookup))
    }

    /// [`WebhookQueue::spawn`] with another name resolver (tests: names that resolve to loopback).
    pub fn spawn_with_lookup(
        db: Db,
        config: &Config,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        lookup: Arc<dyn NameLookup>,
    ) -> anyhow::Result<Self> {
        let allow = AllowList::parse(&config.webhook_allowed_http_hosts)
            .map_err(|e| anyhow::anyhow!("invalid value for webhook_allowed_http_hosts: {e}"))?;
        let worker = Worker {
            db,
            clock,
            metrics,
            clients: Clients::new(Duration::from_secs(config.webhook_timeout_secs), lookup)?,
            allow,
            max_attempts: config.webhook_max_attempts.max(1),
            retry_base: Duration::from_millis(config.webhook_retry_base_ms),
        };
        let limits = Limits {
            global: config.webhook_max_in_flight,
            per_user: config.webhook_max_in_flight_per_user,
            per_webhook: config.webhook_max_in_flight_per_webhook,
            sweep: Duration::from_secs(config.webhook_sweep_interval_secs),
        };
        Ok(Self { wake: Some(delivery::spawn(worker, limits)) })
    }

    /// A queue that delivers nothing: the deliveries stay owed in the database for the server.
    pub fn inert() -> Self {
        Self { wake: None }
    }

    /// Tells the scheduler that `notification` of `user_id` was published (its deliveries are
    /// already recorded as owed). Never waits.
    pub fn enqueue(&self, user_id: i64, notification: Arc<Notification>) {
        tracing::trace!(user_id, seq = notification.seq, "webhook deliveries owed");
        self.wake();
    }

    /// Delivers what is owed for notification `seq` of `user_id`, published by another process
    /// (`tessera-server notify`).
    pub fn deliver_owed(&self, user_id: i64, seq: i64) {
        tracing::trace!(user_id, seq, "webhook deliveries owed by another process");
        self.wake();
    }

    fn wake(&self) {
        if let Some(wake) = &self.wake {
            // Full: a wake is pending already, which covers this one too.
            let _ = wake.try_send(());
        }
    }
}

/// A new webhook secret: 256 random bits, base64url, prefixed.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Why a webhook URL is refused at registration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlProblem {
    /// Malformed, not https, or carrying credentials (`invalid_request`).
    #[error("{0}")]
    Invalid(String),
    /// Its host is an address (or a loopback name) the server must not reach
    /// (`webhook_target_forbidden`).
    #[error("{0}")]
    Forbidden(String),
}

/// Checks a webhook URL: `https` (or `http` to an allow-listed host), no credentials, and a
/// host that is not a refused IP literal or loopback name unless the allow-list names it. Other
/// names are checked when connecting (their addresses may change).
pub fn check_url(raw: &str, allow: &AllowList) -> Result<url::Url, UrlProblem> {
    let invalid = |m: String| Err(UrlProblem::Invalid(m));
    if raw.len() > MAX_URL_LEN {
        return invalid(format!("url is longer than {MAX_URL_LEN} characters"));
    }
    let url = url::Url::parse(raw).map_err(|e| UrlProblem::Invalid(format!("url is not valid: {e}")))?;
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    if host.is_empty() {
        return invalid("url has no host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return invalid("url must not contain credentials".into());
    }
    let target = match judge(&url, allow) {
        Target::Checked if is_localhost_name(&host) => Target::Refused(format!("{host} is a loopback name")),
        target => target,
    };
    match (url.scheme(), &target) {
        ("https", _) | ("http", Target::Allowed) => {}
        ("http", _) => {
            return invalid(format!(
                "url must use https (http is allowed only for hosts in webhook_allowed_http_hosts; {host} is not)"
            ));
        }
        (other, _) => return invalid(format!("url scheme {other:?} is not supported; use https")),
    }
    match target {
        Target::Refused(reason) => Err(UrlProblem::Forbidden(format!(
            "webhook target refused: {reason}; webhooks must reach a public address \
             (an operator can allow a local receiver with webhook_allowed_http_hosts)"
        ))),
        Target::Allowed | Target::Checked => Ok(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_unless_allowlisted() {
        let allow = AllowList::parse("127.0.0.1").unwrap();
        let none = AllowList::default();
        assert!(check_url("https://example.com/hook", &none).is_ok(), "https to a name is fine");
        assert!(check_url("http://example.com/hook", &allow).is_err(), "http to another host is refused");
        assert!(check_url("http://127.0.0.1:9/hook", &allow).is_ok(), "http to an allowlisted host is fine");
        assert!(
            matches!(check_url("http://127.0.0.1:9/hook", &none), Err(UrlProblem::Invalid(_))),
            "no allowlist, no http"
        );
        assert!(check_url("ftp://example.com/", &allow).is_err(), "other schemes are refused");
        assert!(check_url("https://u:p@example.com/", &allow).is_err(), "credentials in URLs are refused");
    }

    #[test]
    fn internal_targets_are_forbidden_unless_allowlisted() {
        let none = AllowList::default();
        for raw in [
            "https://127.0.0.1:8443/h",
            "https://localhost/h",
            "https://a.localhost/h",
            "https://[::1]/h",
            "https://[::ffff:127.0.0.1]/h",
            "https://10.0.0.8/h",
            "https://169.254.169.254/latest/meta-data/",
            "https://[fd00::1]/h",
            "https://[2002:7f00:1::1]/h",
            "https://[64:ff9b::7f00:1]/h",
        ] {
            assert!(matches!(check_url(raw, &none), Err(UrlProblem::Forbidden(_))), "{raw} must be forbidden");
        }
        let allow = AllowList::parse("localhost:8443").unwrap();
        assert!(check_url("https://localhost:8443/h", &allow).is_ok(), "the allow-list applies to https too");
        assert!(
            matches!(check_url("https://localhost:8444/h", &allow), Err(UrlProblem::Forbidden(_))),
            "a host:port entry allows that port only"
        );
    }
}
