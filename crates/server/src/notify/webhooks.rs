//! Webhook delivery: every notification of a user is POSTed to each of the user's webhooks,
//! signed with HMAC-SHA256, retried with exponential backoff, every attempt logged. Publishing
//! records the deliveries owed (`webhook_pending`, in the notification's transaction) and puts the
//! notification on a bounded queue (never waits); a worker does the rest. Each attempt's log entry
//! and the owed delivery's next due time are written in one transaction, so a server restarted in
//! the middle of a backoff resumes with the next attempt when it is due.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use tessera_protocol::{
    Notification, WEBHOOK_EVENT_HEADER, WEBHOOK_EVENT_NOTIFICATION_CREATED, WEBHOOK_SIGNATURE_HEADER, WebhookBody,
};
use tokio::sync::{Semaphore, mpsc};

use crate::clock::Clock;
use crate::config::Config;
use crate::db::Db;
use crate::metrics::{Metrics, inc};
use crate::notify::outbox;
use crate::store::webhooks::{self, Attempt, PendingRow, WebhookRow};

/// Notifications waiting for the worker; beyond this, deliveries are dropped (and logged).
const QUEUE: usize = 4096;
/// Deliveries in flight at once.
const CONCURRENCY: usize = 64;
/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Longest accepted webhook URL.
pub const MAX_URL_LEN: usize = 2048;
/// Prefix of webhook secrets.
pub const SECRET_PREFIX: &str = "whsec_";

/// Handle to the delivery worker (`None` in one-shot commands, which leave delivery to the server).
#[derive(Clone)]
pub struct WebhookQueue {
    worker: Option<(mpsc::Sender<Queued>, Arc<Worker>)>,
}

/// A notification for the webhooks of a user (by id).
type Queued = (i64, Arc<Notification>);

impl std::fmt::Debug for WebhookQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookQueue").field("delivering", &self.worker.is_some()).finish()
    }
}

struct Worker {
    db: Db,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    http: reqwest::Client,
    max_attempts: u32,
    retry_base: Duration,
}

impl WebhookQueue {
    /// Starts the worker.
    pub fn spawn(db: Db, config: &Config, clock: Arc<dyn Clock>, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.webhook_timeout_secs))
            // A redirect could lead from an allowed URL to one that is not: never follow.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Tessera-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let worker = Arc::new(Worker {
            db,
            clock,
            metrics,
            http,
            max_attempts: config.webhook_max_attempts.max(1),
            retry_base: Duration::from_millis(config.webhook_retry_base_ms),
        });
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(resume_owed(Arc::clone(&worker), None));
        tokio::spawn(run(Arc::clone(&worker), rx));
        Ok(Self { worker: Some((tx, worker)) })
    }

    /// A queue that delivers nothing: the deliveries stay owed in the database for the server.
    pub fn inert() -> Self {
        Self { worker: None }
    }

    /// Queues `notification` for the user's webhooks. Never waits.
    pub fn enqueue(&self, user_id: i64, notification: Arc<Notification>) {
        let Some((tx, _)) = &self.worker else { return };
        if let Err(e) = tx.try_send((user_id, notification)) {
            // Still owed in the database: the next start of the server delivers it.
            tracing::warn!(user_id, "webhook queue full; delivery left owed until the next start: {e}");
        }
    }

    /// Delivers what is owed for notification `seq` of `user_id`, published by another process
    /// (`tessera-server notify`).
    pub fn deliver_owed(&self, user_id: i64, seq: i64) {
        if let Some((_, worker)) = &self.worker {
            tokio::spawn(resume_owed(Arc::clone(worker), Some((user_id, seq))));
        }
    }
}

async fn run(worker: Arc<Worker>, mut rx: mpsc::Receiver<Queued>) {
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    while let Some((user_id, notification)) = rx.recv().await {
        let hooks = match worker.db.read.acquire().await {
            Ok(mut conn) => webhooks::for_user(&mut conn, user_id).await,
            Err(e) => Err(e),
        };
        let hooks = match hooks {
            Ok(hooks) => hooks,
            Err(e) => {
                tracing::error!(user_id, "reading webhooks failed: {e}");
                continue;
            }
        };
        for hook in hooks {
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else { return };
            let worker = Arc::clone(&worker);
            let notification = Arc::clone(&notification);
            tokio::spawn(async move {
                worker.deliver(&hook, &notification, 1).await;
                drop(slot);
            });
        }
    }
}

/// Resumes owed deliveries (each when it is due): all of them (those a previous run of the
/// server still owed), or those of one notification.
async fn resume_owed(worker: Arc<Worker>, only: Option<(i64, i64)>) {
    let owed = match worker.db.read.acquire().await {
        Ok(mut conn) => match only {
            None => webhooks::pending(&mut conn).await,
            Some((user_id, seq)) => webhooks::pending_for(&mut conn, user_id, seq).await,
        },
        Err(e) => Err(e),
    };
    let owed = match owed {
        Ok(owed) => owed,
        Err(e) => return tracing::error!("reading owed webhook deliveries failed: {e}"),
    };
    if !owed.is_empty() {
        tracing::info!(count = owed.len(), "resuming owed webhook deliveries");
    }
    for row in owed {
        let worker = Arc::clone(&worker);
        tokio::spawn(async move { worker.resume(row).await });
    }
}

impl Worker {
    /// One owed delivery from a previous run: waits until it is due, then goes on from its next
    /// attempt.
    async fn resume(&self, row: PendingRow) {
        let found = match self.db.read.acquire().await {
            Ok(mut conn) => {
                let hook = webhooks::by_id(&mut conn, &row.webhook_id).await;
                let notification = outbox::read_one(&mut conn, row.user_id, row.seq).await;
                hook.and_then(|hook| notification.map(|n| (hook, n)))
            }
            Err(e) => Err(e),
        };
        let (hook, notification) = match found {
            Ok((Some(hook), Some(notification))) => (hook, notification),
            Ok((None, _)) => return, // the webhook was deleted (its owed rows went with it)
            Ok((Some(_), None)) => {
                tracing::info!(webhook_id = %row.webhook_id, seq = row.seq, "owed notification no longer retained; dropping the delivery");
                if let Ok(mut conn) = self.db.write.acquire().await {
                    let _ = webhooks::drop_pending(&mut conn, &row.webhook_id, row.seq).await;
                }
                return;
            }
            Err(e) => return tracing::error!(webhook_id = %row.webhook_id, "reading an owed delivery failed: {e}"),
        };
        let wait = u64::try_from(row.due_at - self.clock.now_ms()).unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let next = u32::try_from(row.attempts).unwrap_or(u32::MAX).saturating_add(1);
        self.deliver(&hook, &notification, next).await;
    }

    /// The wait after failed attempt `attempt` (1-based): the base, doubled per attempt, capped.
    fn backoff_after(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.retry_base.saturating_mul(1 << doublings).min(MAX_BACKOFF)
    }

    /// Delivers from attempt `first` on (1 for a new notification).
    async fn deliver(&self, hook: &WebhookRow, notification: &Notification, first: u32) {
        let body = WebhookBody { event: WEBHOOK_EVENT_NOTIFICATION_CREATED.into(), notification: notification.clone() };
        let body = match serde_json::to_vec(&body) {
            Ok(body) => body,
            Err(e) => return tracing::error!(webhook_id = %hook.id, "serializing webhook body: {e}"),
        };
        for attempt in first.max(1)..=self.max_attempts.max(first) {
            let t = self.clock.now_ms().div_euclid(1000);
            let result = self
                .http
                .post(&hook.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(WEBHOOK_EVENT_HEADER, WEBHOOK_EVENT_NOTIFICATION_CREATED)
                .header(WEBHOOK_SIGNATURE_HEADER, signature_header(&hook.secret, t, &body))
                .body(body.clone())
                .send()
                .await;
            let (status, error) = match result {
                Ok(resp) if resp.status().is_success() => (Some(resp.status().as_u16()), None),
                Ok(resp) => (Some(resp.status().as_u16()), Some(format!("HTTP {}", resp.status()))),
                Err(e) => (None, Some(describe(&e))),
            };
            let outcome = match (&error, attempt >= self.max_attempts) {
                (None, _) => "delivered",
                (Some(_), false) => "retrying",
                (Some(_), true) => "failed",
            };
            let record = Attempt {
                webhook_id: &hook.id,
                seq: notification.seq,
                attempt,
                at: self.clock.now_ms(),
                status,
                outcome,
                error: error.as_deref(),
            };
            inc(match outcome {
                "delivered" => &self.metrics.webhook_delivered,
                "retrying" => &self.metrics.webhook_retried,
                _ => &self.metrics.webhook_failed,
            });
            let backoff = self.backoff_after(attempt);
            let next_due = (outcome == "retrying")
                .then(|| self.clock.now_ms().saturating_add(i64::try_from(backoff.as_millis()).unwrap_or(i64::MAX)));
            if let Err(e) = self.record(record, next_due).await {
                tracing::error!(webhook_id = %hook.id, "recording a webhook delivery failed: {e}");
            }
            match (outcome, error) {
                ("retrying", Some(error)) => {
                    tracing::info!(webhook_id = %hook.id, seq = notification.seq, attempt, "webhook delivery failed ({error}); retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                }
                ("failed", Some(error)) => {
                    tracing::warn!(webhook_id = %hook.id, seq = notification.seq, attempt, "webhook delivery gave up: {error}");
                    return;
                }
                _ => return,
            }
        }
    }

    async fn record(&self, attempt: Attempt<'_>, next_due: Option<i64>) -> sqlx::Result<()> {
        let mut conn = self.db.write.acquire().await?;
        webhooks::settle_attempt(&mut conn, attempt, next_due).await
    }
}

/// A transport error in words, without the URL (which may carry a token in its query).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else if e.is_redirect() {
        "redirects are not followed".into()
    } else {
        "request failed".into()
    }
}

/// The `Tessera-Signature` value: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature_header(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", hex::encode(mac(secret, t, body)))
}

/// HMAC-SHA256 over `"<t>.<body>"`.
pub fn mac(secret: &str, t: i64, body: &[u8]) -> Vec<u8> {
    #[allow(clippy::expect_used)] // HMAC takes keys of any length: this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// A new webhook secret: 256 random bits, base64url, prefixed.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Checks a webhook URL: `https`, or `http` to an allowlisted host; no credentials in it.
pub fn check_url(raw: &str, allowed_http_hosts: &[String]) -> Result<url::Url, String> {
    if raw.len() > MAX_URL_LEN {
        return Err(format!("url is longer than {MAX_URL_LEN} characters"));
    }
    let url = url::Url::parse(raw).map_err(|e| format!("url is not valid: {e}"))?;
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    if host.is_empty() {
        return Err("url has no host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("url must not contain credentials".into());
    }
    let host_bare = host.trim_start_matches('[').trim_end_matches(']');
    match url.scheme() {
        "https" => Ok(url),
        "http" if allowed_http_hosts.iter().any(|h| h == host_bare || *h == host) => Ok(url),
        "http" => Err(format!(
            "url must use https (http is allowed only for hosts in webhook_allowed_http_hosts; {host} is not)"
        )),
        other => Err(format!("url scheme {other:?} is not supported; use https")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_unless_allowlisted() {
        let allow = vec!["127.0.0.1".to_owned()];
        assert!(check_url("https://example.com/hook", &[]).is_ok(), "https is always fine");
        assert!(check_url("http://example.com/hook", &allow).is_err(), "http to another host is refused");
        assert!(check_url("http://127.0.0.1:9/hook", &allow).is_ok(), "http to an allowlisted host is fine");
        assert!(check_url("http://127.0.0.1:9/hook", &[]).is_err(), "no allowlist, no http");
        assert!(check_url("ftp://example.com/", &allow).is_err(), "other schemes are refused");
        assert!(check_url("https://u:p@example.com/", &allow).is_err(), "credentials in URLs are refused");
    }

    #[test]
    fn signature_is_hmac_sha256_over_timestamp_dot_body() {
        // Known answer computed independently (Python hmac): HMAC-SHA256("key", "1.{}").
        let header = signature_header("key", 1, b"{}");
        assert_eq!(
            header, "t=1,v1=1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224",
            "receivers verify exactly this construction"
        );
        assert_ne!(signature_header("key", 2, b"{}"), header, "the timestamp is covered");
    }
}
